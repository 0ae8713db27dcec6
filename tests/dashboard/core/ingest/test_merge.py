from __future__ import annotations

import msgspec

from contract.schema import TcpInfo
from dashboard.core.ingest.merge import Merger, event_key
from tests.dashboard.hubentries import T0, dns_entry, tcp_entry


def test_a_redelivered_id_is_a_duplicate() -> None:
    merger = Merger()
    entry = tcp_entry(1)
    assert not merger.is_duplicate(entry)
    assert merger.is_duplicate(entry)
    assert merger.stats.to_dict() == {"redelivered": 1, "merged": 0}


def test_the_same_event_from_another_worker_within_the_window_is_merged() -> None:
    merger = Merger(window_ms=2000)
    assert not merger.is_duplicate(tcp_entry(1, worker="w1", timestamp=T0))
    assert merger.is_duplicate(tcp_entry(7, worker="w2", timestamp=T0 + 1500))
    assert merger.stats.merged == 1


def test_another_worker_outside_the_window_is_a_new_connection() -> None:
    merger = Merger(window_ms=2000)
    assert not merger.is_duplicate(tcp_entry(1, worker="w1", timestamp=T0))
    assert not merger.is_duplicate(tcp_entry(2, worker="w2", timestamp=T0 + 2001))


def test_reports_of_one_worker_are_never_merged() -> None:
    merger = Merger()
    assert not merger.is_duplicate(tcp_entry(1, event="ongoing"))
    assert not merger.is_duplicate(tcp_entry(2, event="ongoing"))


def test_different_events_ports_or_queries_are_different() -> None:
    merger = Merger()
    assert not merger.is_duplicate(tcp_entry(1, worker="w1", event="connect"))
    assert not merger.is_duplicate(tcp_entry(1, worker="w2", event="close"))
    assert not merger.is_duplicate(tcp_entry(2, worker="w2", src=("10.244.1.10", 40001)))
    assert not merger.is_duplicate(dns_entry(3, "a.example", "1.2.3.4", worker="w1"))
    assert not merger.is_duplicate(dns_entry(3, "b.example", "1.2.3.5", worker="w2"))
    assert merger.is_duplicate(dns_entry(4, "a.example", "1.2.3.4", worker="w2"))


def test_memory_is_bounded() -> None:
    merger = Merger(memory=10)
    for number in range(100):
        merger.is_duplicate(tcp_entry(number, src=("10.0.0.1", 1000 + number)))
    assert not merger.is_duplicate(tcp_entry(0, src=("10.0.0.1", 1000)))  # forgotten


def test_ids_and_events_outlive_half_the_memory_and_never_all_of_it() -> None:
    merger = Merger(memory=10)

    def others(first: int, count: int) -> None:
        for number in range(first, first + count):
            assert not merger.is_duplicate(tcp_entry(number, src=("10.0.0.1", 1000 + number)))

    others(100, 4)  # the one remembered is the last of the first generation
    assert not merger.is_duplicate(tcp_entry(1, worker="w1", timestamp=T0))
    others(200, 4)  # not yet half the memory later
    assert merger.is_duplicate(tcp_entry(1, worker="w1", timestamp=T0))  # the id
    assert merger.is_duplicate(tcp_entry(2, worker="w2", timestamp=T0))  # the event
    others(300, 10)  # the whole memory later
    assert not merger.is_duplicate(tcp_entry(1, worker="w1", timestamp=T0))
    assert merger.stats.to_dict() == {"redelivered": 1, "merged": 1}


def test_event_key_ignores_worker_and_names() -> None:
    entry = tcp_entry(1)
    other = msgspec.structs.replace(tcp_entry(9, worker="w2"), summary="x")
    assert event_key(entry) == event_key(other)


def test_a_connection_is_one_by_its_isn_whatever_snat_made_of_its_client() -> None:
    merger = Merger()
    client_side = tcp_entry(1, worker="w1", src=("198.51.100.100", 59360))
    client_side = msgspec.structs.replace(client_side, tcp=TcpInfo(event="close", isn=77))
    server_side = tcp_entry(2, worker="w2", src=("10.244.1.0", 18084))  # after SNAT
    server_side = msgspec.structs.replace(server_side, tcp=TcpInfo(event="close", isn=77))
    assert not merger.is_duplicate(client_side)
    assert merger.is_duplicate(server_side)


def test_a_reused_port_with_a_new_isn_is_another_connection() -> None:
    merger = Merger()
    first = msgspec.structs.replace(tcp_entry(1, worker="w1"), tcp=TcpInfo(event="close", isn=1))
    second = msgspec.structs.replace(tcp_entry(2, worker="w2"), tcp=TcpInfo(event="close", isn=2))
    assert not merger.is_duplicate(first)
    assert not merger.is_duplicate(second)  # the old key (addresses and ports) merged these
