"""A static cluster source for offline use: ``--cluster-snapshot FILE`` into a ClusterIndex.

The file is what ``kubectl get pods,services,nodes,endpointslices,replicasets,deployments -A
-o yaml`` (or ``-o json``) prints: a ``kind: List`` with ``items``; several YAML documents, typed
lists (``PodList``) and bare objects are accepted too. Objects of kinds the index does not use
(ConfigMaps, ...) are counted in the report, not fatal; malformed objects are counted by the
index. A pcap taken from a cluster can then be analysed with names on any laptop.

Exception hierarchy (classes in :mod:`dashboard.errors`)::

    DashboardError, ValueError
     └── SnapshotError    an unreadable file, or one that holds no Kubernetes objects
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dashboard.core.naming.index import ClusterIndex
from dashboard.core.naming.resources import INDEXED_KINDS, TOP_OWNER_KINDS
from dashboard.errors import SnapshotError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class SnapshotReport:
    """What a snapshot held: objects loaded per kind, skipped (unused kinds), invalid ones."""

    loaded: dict[str, int]
    skipped: dict[str, int]
    invalid: int


def load_snapshot(path: str | Path, index: ClusterIndex) -> SnapshotReport:
    """Load a ``kubectl get ... -o yaml|json`` file into ``index``; raise SnapshotError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"cannot read cluster snapshot {path}: {exc}") from None
    by_kind: defaultdict[str, list[Any]] = defaultdict(list)
    skipped: Counter[str] = Counter()
    invalid = 0
    for obj in _objects(_documents(text, path), path):
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if not isinstance(kind, str):
            invalid += 1
        elif kind in INDEXED_KINDS or kind in TOP_OWNER_KINDS:
            by_kind[kind].append(obj)
        else:
            skipped[kind] += 1
    if not by_kind and not skipped and not invalid:
        raise SnapshotError(f"cluster snapshot {path} holds no Kubernetes objects")
    loaded = {kind: index.replace(kind, objs) for kind, objs in sorted(by_kind.items())}
    invalid += sum(len(by_kind[kind]) - count for kind, count in loaded.items())
    return SnapshotReport(loaded=loaded, skipped=dict(skipped), invalid=invalid)


def _documents(text: str, path: str | Path) -> list[Any]:
    if text.lstrip().startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except ValueError as exc:
            raise SnapshotError(f"cluster snapshot {path} is not valid JSON: {exc}") from None
    try:
        return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]
    except yaml.YAMLError as exc:
        raise SnapshotError(f"cluster snapshot {path} is not valid YAML: {exc}") from None


def _objects(documents: list[Any], path: str | Path) -> Iterator[Any]:
    """Every object of every document: the items of a List, or the document itself."""
    for number, doc in enumerate(documents, 1):
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
            raise SnapshotError(f"{path}: document {number} is not a Kubernetes object or List")
        if "items" not in doc:
            yield doc
            continue
        items = doc["items"]
        if not isinstance(items, list):
            raise SnapshotError(f"{path}: document {number}: items is not a list")
        item_kind = doc["kind"].removesuffix("List") if doc["kind"] != "List" else ""
        for item in items:
            if item_kind and isinstance(item, dict):
                item.setdefault("kind", item_kind)
            yield item
