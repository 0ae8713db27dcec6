"""Which views a batch of entries can match, without running every view's filter on every entry.

Many sessions filter on the same few fields (``src.namespace == "shop" and ...``). KFL tells,
for each compiled filter, the field values it cannot match without (``Filter.required``). A
:class:`ViewIndex` files each view under one of them, the most selective, and groups each batch
of entries by their value of each filed field: only the views filed under a value run their
filter, on that value's group alone, and those whose filter is nothing but that requirement
(``Filter.exact``) take the whole group without running it. Views whose filter requires nothing
run it on every entry; the match-everything views take every entry without running anything.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

from dashboard.core.store.entrystore import Stored
from kfl import Filter
from kfl.access import Getter, getter
from kfl.lookup import FieldKeys


class IndexedView(Hashable, Protocol):
    """What the index needs of a view: its filter, and whether it takes every entry."""

    @property
    def filter(self) -> Filter:
        """The view's compiled filter."""

    @property
    def matches_everything(self) -> bool:
        """True for a view that takes every entry without running its filter."""


View = TypeVar("View", bound=IndexedView)

ENDPOINTS = frozenset({"src", "dst"})
NAME_FIELDS = frozenset({"namespace", "name", "pod", "workload", "service", "ip"})


def selectivity(keys: FieldKeys, values: frozenset[Hashable]) -> tuple[int, int]:
    """Sort key of a requirement: fewer allowed values first, then an endpoint's names before its
    port before the rest (a protocol or TCP event is shared by a large part of the traffic)."""
    on_endpoint = keys[0] in ENDPOINTS and len(keys) == 2
    rank = 0 if on_endpoint and keys[1] in NAME_FIELDS else 1 if on_endpoint else 2
    return (len(values), rank)


class ViewIndex(Generic[View]):
    """Views filed by one required field value each (see the module docstring)."""

    def __init__(self, views: Iterable[View]) -> None:
        self.everything: list[View] = []
        self.scanned: list[View] = []
        filed: dict[FieldKeys, dict[Hashable, list[View]]] = {}
        for view in views:
            if view.matches_everything:
                self.everything.append(view)
                continue
            required: Mapping[FieldKeys, frozenset[Hashable]] = view.filter.required
            if not required:
                self.scanned.append(view)
                continue
            keys = min(required, key=lambda k: selectivity(k, required[k]))
            table = filed.setdefault(keys, {})
            for value in required[keys]:
                table.setdefault(value, []).append(view)
        self.filed = [(getter(keys), table) for keys, table in filed.items()]

    def matches(self, added: Sequence[Stored]) -> dict[View, list[Stored]]:
        """The entries of ``added`` each view matches, in store order (views matching none are
        left out)."""
        result: dict[View, list[Stored]] = {}
        if not added:
            return result
        for view in self.everything:
            result[view] = list(added)
        for view in self.scanned:
            predicate = view.filter
            matched = [stored for stored in added if predicate(stored.wire)]
            if matched:
                result[view] = matched
        for get, table in self.filed:
            for value, group in _grouped(get, added).items():
                for view in table.get(value, ()):
                    flt = view.filter
                    # exact: the value decides; else the filter runs on the group only
                    matched = list(group) if flt.exact else [s for s in group if flt(s.wire)]
                    if not matched:
                        continue
                    found = result.get(view)
                    if found is None:
                        result[view] = matched
                    else:  # a view filed under several values: keep store order
                        found += matched
                        found.sort(key=_seq)
        return result


def _grouped(get: Getter, added: Sequence[Stored]) -> dict[Hashable, list[Stored]]:
    """The entries of ``added`` by their value of one field, each group in store order (entries
    whose value is unhashable, an object where a string was filed, are left out)."""
    groups: dict[Hashable, list[Stored]] = {}
    for stored in added:
        try:
            value = get(stored.wire)
            group = groups.get(value)
        except TypeError:
            continue
        if group is None:
            groups[value] = [stored]
        else:
            group.append(stored)
    return groups


def _seq(stored: Stored) -> int:
    return stored.seq
