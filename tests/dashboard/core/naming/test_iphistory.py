"""IpHistory: tenures by time, overlap rules, depth bound and pruning."""

from __future__ import annotations

import pytest

from dashboard.core.naming.iphistory import IpHistory


def spans(history: IpHistory[str], key: str) -> list[tuple[str, int, int | None]]:
    return [(h.holder, h.start, h.end) for h in history.holdings(key)]


def test_lookup_by_time_with_a_gap() -> None:
    history: IpHistory[str] = IpHistory()
    history.claim("10.0.0.1", "a", 100)
    history.release("10.0.0.1", "a", 200)
    history.claim("10.0.0.1", "b", 300)

    assert [history.holder_at("10.0.0.1", t) for t in (50, 100, 199, 200, 299, 300, 10**12)] == [
        "a",
        "a",
        "a",
        None,
        None,
        "b",
        "b",
    ]
    assert history.holder_at("10.0.0.2", 150) is None


def test_tenures_never_overlap() -> None:
    history: IpHistory[str] = IpHistory()
    history.claim("ip", "a", 100)
    history.claim("ip", "b", 300)  # a's deletion not seen yet: b's start ends it
    history.claim("ip", "c", 320, 380)  # a finished tenure listed late: it ends b
    history.claim("ip", "d", 450)

    assert spans(history, "ip") == [
        ("a", 100, 300),
        ("b", 300, 320),
        ("c", 320, 380),
        ("d", 450, None),
    ]


def test_new_holder_starts_after_a_late_seen_end() -> None:
    history: IpHistory[str] = IpHistory()
    history.claim("ip", "a", 100)
    history.release("ip", "a", 500)
    history.claim("ip", "b", 450)  # its start time is before a's deletion was seen

    assert spans(history, "ip") == [("a", 100, 500), ("b", 500, None)]


def test_claim_is_once_per_holder_and_release_of_nothing_is_a_no_op() -> None:
    history: IpHistory[str] = IpHistory()
    history.claim("ip", "a", 100)
    history.claim("ip", "a", 150)
    history.release("ip", "z", 120)

    assert spans(history, "ip") == [("a", 100, None)]


def test_depth_keeps_the_newest_tenures() -> None:
    history: IpHistory[str] = IpHistory(depth=2)
    for n, holder in enumerate("abc"):
        history.claim("ip", holder, n * 100)

    assert [h for h, _, _ in spans(history, "ip")] == ["b", "c"]
    with pytest.raises(ValueError, match="at least 1"):
        IpHistory(depth=0)


def test_prune_drops_ended_tenures_and_reports_forgotten_holders() -> None:
    history: IpHistory[str] = IpHistory()
    history.claim("ip1", "a", 100, 200)
    history.claim(("ip2", 80), "a", 100)
    history.claim("ip3", "b", 100, 200)

    forgotten = history.prune(1_000)

    assert forgotten == {"b"}
    assert "ip1" not in history
    assert "ip3" not in history
    assert len(history) == 1
