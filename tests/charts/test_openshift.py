"""The optional OpenShift SecurityContextConstraints: exactly what the worker's pod spec asks."""

from __future__ import annotations

from tests.charts.helm import NAMESPACE, failure, render

SCC = ("SecurityContextConstraints", f"{NAMESPACE}-podscope-worker")
WORKER = ("DaemonSet", "podscope-worker")


def test_no_constraints_unless_asked() -> None:
    assert render().find(*SCC) is None


def test_constraints_admit_the_worker_and_only_it() -> None:
    manifest = render(sets=("openshift.securityContextConstraints=true",))
    scc = manifest.get(*SCC)
    spec = manifest.pod_spec(*WORKER)
    container = manifest.container(*WORKER)
    assert scc["apiVersion"] == "security.openshift.io/v1"
    assert scc["users"] == [f"system:serviceaccount:{NAMESPACE}:{spec['serviceAccountName']}"]
    assert manifest.get("ServiceAccount", spec["serviceAccountName"])
    assert scc["allowHostNetwork"] is spec["hostNetwork"] is True
    assert scc["allowedCapabilities"] == container["securityContext"]["capabilities"]["add"]
    assert scc["allowPrivilegedContainer"] is False
    assert scc["allowPrivilegeEscalation"] is False
    assert scc["runAsUser"] == {"type": "RunAsAny"}  # the worker runs as root in its container
    volume_types = {key for volume in spec["volumes"] for key in volume if key != "name"}
    assert volume_types == set(scc["volumes"]) == {"emptyDir"}
    assert scc["seccompProfiles"] == ["runtime/default"]
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_constraints_need_the_workers_own_service_account() -> None:
    error = failure(
        sets=("openshift.securityContextConstraints=true", "serviceAccount.create=false")
    )
    assert "needs serviceAccount.create" in error
    spec = render(sets=("serviceAccount.create=false", "serviceAccount.name=x")).pod_spec(*WORKER)
    assert "serviceAccountName" not in spec
