"""The map for Grafana's Node Graph panel, through the Node Graph API datasource plugin.

The plugin (``hamedkarbasi93-nodegraphapi-datasource``, as k8spacket uses it) asks three
routes: ``/api/health`` (any 200), ``/api/graph/fields`` (the field list, :func:`fields`) and
``/api/graph/data`` (nodes and edges, :func:`data`). Field names follow Grafana's node graph
data API: ``title``, ``subTitle``, ``mainStat``, ``secondaryStat``, ``arc__*`` (fractions that
sum to 1, drawn as the node's ring) and ``detail__*`` (shown on click).

Nodes: title is the label, sub-title the kind and namespace, main stat the connections, the
ring the share of failed connections (red) and the rest (green). Edges: main stat the
connections, secondary stat the bytes each way.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from contract.formatting import human_bytes

_STRING = "string"
_NUMBER = "number"

NODE_FIELDS: tuple[dict[str, str], ...] = (
    {"field_name": "id", "type": _STRING},
    {"field_name": "title", "type": _STRING},
    {"field_name": "subTitle", "type": _STRING},
    {"field_name": "mainStat", "type": _STRING},
    {"field_name": "secondaryStat", "type": _STRING},
    {"field_name": "arc__failed", "type": _NUMBER, "color": "red", "displayName": "Failed"},
    {"field_name": "arc__passed", "type": _NUMBER, "color": "green", "displayName": "Passed"},
    {"field_name": "detail__kind", "type": _STRING, "displayName": "Kind"},
    {"field_name": "detail__namespace", "type": _STRING, "displayName": "Namespace"},
    {"field_name": "detail__connections", "type": _NUMBER, "displayName": "Connections"},
    {"field_name": "detail__failed", "type": _NUMBER, "displayName": "Failed connections"},
    {"field_name": "detail__requestBytes", "type": _NUMBER, "displayName": "Request bytes"},
    {"field_name": "detail__responseBytes", "type": _NUMBER, "displayName": "Response bytes"},
)
EDGE_FIELDS: tuple[dict[str, str], ...] = (
    {"field_name": "id", "type": _STRING},
    {"field_name": "source", "type": _STRING},
    {"field_name": "target", "type": _STRING},
    {"field_name": "mainStat", "type": _STRING},
    {"field_name": "secondaryStat", "type": _STRING},
    {"field_name": "detail__connections", "type": _NUMBER, "displayName": "Connections"},
    {"field_name": "detail__failed", "type": _NUMBER, "displayName": "Failed connections"},
    {"field_name": "detail__requestBytes", "type": _NUMBER, "displayName": "Request bytes"},
    {"field_name": "detail__responseBytes", "type": _NUMBER, "displayName": "Response bytes"},
    {"field_name": "detail__lastSeen", "type": _STRING, "displayName": "Last seen"},
    {"field_name": "detail__protocols", "type": _STRING, "displayName": "Protocols"},
)


def health() -> dict[str, Any]:
    """Body of ``/api/health`` (the plugin only checks for a 200)."""
    return {"status": "ok"}


def fields() -> dict[str, Any]:
    """Body of ``/api/graph/fields``: ``{"nodes_fields": [...], "edges_fields": [...]}``."""
    return {
        "nodes_fields": [dict(field) for field in NODE_FIELDS],
        "edges_fields": [dict(field) for field in EDGE_FIELDS],
    }


def data(graph: Mapping[str, Any]) -> dict[str, Any]:
    """Body of ``/api/graph/data`` from ``ConnectivityGraph.to_dict()``.

    Raise ValueError if ``graph`` is not a map of that shape.
    """
    try:
        nodes = [_node(node) for node in graph["nodes"]]
        edges = [_edge(edge) for edge in graph["edges"]]
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"not a connectivity map: {exc!r}") from None
    return {"nodes": nodes, "edges": edges}


def _node(node: Mapping[str, Any]) -> dict[str, Any]:
    connections, failed = int(node["connections"]), int(node["failed"])
    failed_share = min(failed / max(connections, failed), 1.0) if failed else 0.0
    namespace = str(node["namespace"])
    kind = str(node["kind"])
    return {
        "id": str(node["id"]),
        "title": str(node["label"]),
        "subTitle": f"{kind} in {namespace}" if namespace and kind != "namespace" else kind,
        "mainStat": f"{connections} conn, {failed} failed",
        "secondaryStat": _bytes(node),
        "arc__failed": failed_share,
        "arc__passed": 1.0 - failed_share,
        "detail__kind": kind,
        "detail__namespace": namespace,
        "detail__connections": connections,
        "detail__failed": failed,
        "detail__requestBytes": int(node["requestBytes"]),
        "detail__responseBytes": int(node["responseBytes"]),
    }


def _edge(edge: Mapping[str, Any]) -> dict[str, Any]:
    last_seen = datetime.datetime.fromtimestamp(int(edge["lastSeen"]) / 1000, datetime.UTC)
    return {
        "id": str(edge["id"]),
        "source": str(edge["source"]),
        "target": str(edge["target"]),
        "mainStat": f"{int(edge['connections'])} conn, {int(edge['failed'])} failed",
        "secondaryStat": _bytes(edge),
        "detail__connections": int(edge["connections"]),
        "detail__failed": int(edge["failed"]),
        "detail__requestBytes": int(edge["requestBytes"]),
        "detail__responseBytes": int(edge["responseBytes"]),
        "detail__lastSeen": last_seen.isoformat(timespec="milliseconds"),
        "detail__protocols": ", ".join(str(name) for name in edge["protocols"]),
    }


def _bytes(item: Mapping[str, Any]) -> str:
    request, response = int(item["requestBytes"]), int(item["responseBytes"])
    return f"{human_bytes(request)} / {human_bytes(response)}"
