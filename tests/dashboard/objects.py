"""Realistic Kubernetes resource JSON for tests, shaped like ``kubectl get -o json`` output."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def iso(ms: int) -> str:
    """RFC 3339 text of a time in ms since epoch, as the API server writes it."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_ref(kind: str, name: str, api_version: str = "apps/v1") -> Obj:
    """A controlling ownerReferences entry."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": str(uuid.uuid4()),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod(
    name: str,
    namespace: str = "default",
    ip: str | None = "10.244.1.10",
    *,
    node: str = "node-1",
    host_ip: str = "172.18.0.2",
    owner: Obj | None = None,
    template_hash: str = "",
    ports: tuple[int, ...] = (8080,),
    host_ports: tuple[int, ...] = (),
    host_network: bool = False,
    phase: str = "Running",
    start_ms: int = T0_MS,
    finished_ms: int | None = None,
    uid: str | None = None,
    extra_ips: tuple[str, ...] = (),
) -> Obj:
    """A pod as the API server returns it (status filled in by the kubelet)."""
    labels = {"app": name.rsplit("-", 2)[0]}
    if template_hash:
        labels["pod-template-hash"] = template_hash
    container_ports = [
        {"containerPort": port, "name": f"p{port}", "protocol": "TCP"} for port in ports
    ]
    for port, host_port in zip(ports, host_ports, strict=False):
        for entry in container_ports:
            if entry["containerPort"] == port:
                entry["hostPort"] = host_port
    state: Obj = {"running": {"startedAt": iso(start_ms)}}
    if finished_ms is not None:
        state = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": iso(start_ms),
                "finishedAt": iso(finished_ms),
            }
        }
    status: Obj = {
        "phase": phase,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": iso(start_ms),
        "qosClass": "BestEffort",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": iso(start_ms)}],
        "containerStatuses": [
            {
                "name": "main",
                "image": "registry.k8s.io/e2e-test-images/agnhost:2.39",
                "ready": phase == "Running",
                "restartCount": 0,
                "started": phase == "Running",
                "state": state,
            }
        ],
    }
    if ip is not None:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}, *({"ip": extra} for extra in extra_ips)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or str(uuid.uuid4()),
            "resourceVersion": "1",
            "creationTimestamp": iso(start_ms - 1000),
            "labels": labels,
            "ownerReferences": [owner] if owner else [],
        },
        "spec": {
            "nodeName": node,
            "hostNetwork": host_network,
            "restartPolicy": "Always",
            "serviceAccountName": "default",
            "containers": [
                {
                    "name": "main",
                    "image": "registry.k8s.io/e2e-test-images/agnhost:2.39",
                    "ports": container_ports,
                }
            ],
        },
        "status": status,
    }


def service(
    name: str,
    namespace: str = "default",
    cluster_ip: str = "10.96.0.10",
    *,
    port: int = 80,
    created_ms: int = T0_MS - 60_000,
    load_balancer_ip: str = "",
) -> Obj:
    """A Service; ``cluster_ip="None"`` makes a headless one."""
    status: Obj = {"loadBalancer": {}}
    if load_balancer_ip:
        status["loadBalancer"] = {"ingress": [{"ip": load_balancer_ip, "ipMode": "VIP"}]}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "1",
            "creationTimestamp": iso(created_ms),
            "labels": {"app": name},
        },
        "spec": {
            "type": "LoadBalancer" if load_balancer_ip else "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ipFamilies": ["IPv6" if ":" in cluster_ip else "IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": 8080}],
            "selector": {"app": name},
            "sessionAffinity": "None",
        },
        "status": status,
    }


def endpoint_slice(
    service_name: str,
    namespace: str,
    pods: list[tuple[str, str]],
    *,
    suffix: str = "abcde",
) -> Obj:
    """An EndpointSlice of ``service_name`` listing ``(pod name, pod IP)`` endpoints."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "metadata": {
            "name": f"{service_name}-{suffix}",
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "1",
            "generateName": f"{service_name}-",
            "labels": {
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "kubernetes.io/service-name": service_name,
            },
            "ownerReferences": [owner_ref("Service", service_name, "v1")],
        },
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "name": name, "namespace": namespace},
            }
            for name, ip in pods
        ],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def node(
    name: str,
    internal_ip: str,
    pod_cidr: str = "",
    *,
    created_ms: int = T0_MS - 3_600_000,
) -> Obj:
    """A Node with its InternalIP and hostname addresses."""
    spec: Obj = {}
    if pod_cidr:
        spec = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "1",
            "creationTimestamp": iso(created_ms),
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "spec": spec,
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": internal_ip},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def namespace(name: str) -> Obj:
    """A Namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "1",
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def replica_set(name: str, namespace: str, deployment: str) -> Obj:
    """A ReplicaSet owned by a Deployment."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "1",
            "ownerReferences": [owner_ref("Deployment", deployment)],
        },
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": deployment}}},
        "status": {"replicas": 1, "readyReplicas": 1},
    }


def job(name: str, namespace: str, cronjob: str | None = None) -> Obj:
    """A Job, owned by a CronJob when ``cronjob`` is given."""
    owners = [owner_ref("CronJob", cronjob, "batch/v1")] if cronjob else []
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "1",
            "ownerReferences": owners,
        },
        "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6},
        "status": {"succeeded": 1},
    }


def deployment(name: str, namespace: str) -> Obj:
    """A Deployment (an owner at the top of a chain)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "1",
        },
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}},
    }
