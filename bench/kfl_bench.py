"""KFL speed: compiled filter vs a hand-written Python function, and compile time per query.

Run from the repository root, on a quiet machine: ``.venv/bin/python -m bench.kfl_bench``.
Prints, for each query of issue 2 and the KFL2 queries of issue 18, evaluations per second
over 100k entries from entrygen (best of several alternating rounds, same entries, same loop
for both), their ratio, and compile time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from bench.entrygen import generate
from kfl import compile_filter

NAMESPACES = (
    '(src.namespace=="ns1" and dst.namespace=="ns2") or '
    '(src.namespace=="ns2" and dst.namespace=="ns1")'
)
TCP_HIGH_PORT_COM = 'tcp and dst.port > 1024 and dst.name.endsWith(".com")'


def namespaces_by_hand(entry: dict[str, Any]) -> bool:
    src: str = entry["src"]["namespace"]
    dst: str = entry["dst"]["namespace"]
    return (src == "ns1" and dst == "ns2") or (src == "ns2" and dst == "ns1")


def tcp_high_port_com_by_hand(entry: dict[str, Any]) -> bool:
    protocol: str = entry["protocol"]["name"]
    if protocol != "tcp":
        return False
    dst = entry["dst"]
    port: int = dst["port"]
    if port <= 1024:
        return False
    name: str = dst["name"]
    return name.endswith(".com")


SLOW_IN_PAYMENTS = "dst.pod.namespace == 'payments' && elapsed_time > 1000000"
SHOP_WEB_PORTS = "'shop' in namespaces && dst.port in [80, 443, 8080]"
FAILED_WITH_BYTES = "tcp && tcp_error_type != '' && conn_local_bytes > 1000"
DNS_FAILED = "dns && dns_response && status_code != 0 && 'A' in dns_question_types"


def slow_in_payments_by_hand(entry: dict[str, Any]) -> bool:
    namespace: str = entry["dst"]["namespace"]
    elapsed: int = entry["elapsedTime"]
    return namespace == "payments" and elapsed * 1000 > 1_000_000


def shop_web_ports_by_hand(entry: dict[str, Any]) -> bool:
    src, dst = entry["src"], entry["dst"]
    if src["namespace"] != "shop" and dst["namespace"] != "shop":
        return False
    port: int = dst["port"]
    return port in (80, 443, 8080)


def failed_with_bytes_by_hand(entry: dict[str, Any]) -> bool:
    if entry["protocol"]["name"] != "tcp":
        return False
    event: str = entry["tcp"]["event"]
    sent: int | None = entry.get("requestSize")
    return event in ("reset", "refused", "timeout") and sent is not None and sent > 1000


def dns_failed_by_hand(entry: dict[str, Any]) -> bool:
    if entry["protocol"]["name"] != "dns":
        return False
    dns = entry["dns"]
    rcode: str = dns["rcode"]
    qtype: str = dns["qtype"]
    return rcode != "NOERROR" and qtype == "A"


CASES: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    (NAMESPACES, namespaces_by_hand),
    (TCP_HIGH_PORT_COM, tcp_high_port_com_by_hand),
    (SLOW_IN_PAYMENTS, slow_in_payments_by_hand),
    (SHOP_WEB_PORTS, shop_web_ports_by_hand),
    (FAILED_WITH_BYTES, failed_with_bytes_by_hand),
    (DNS_FAILED, dns_failed_by_hand),
)


def race(
    contenders: list[Callable[[dict[str, Any]], bool]], entries: list[dict[str, Any]], rounds: int
) -> list[tuple[float, int]]:
    """Best-of-``rounds`` evaluations/s of each predicate over ``entries``, and its match count.

    Rounds alternate between the contenders, so a burst of load elsewhere hits them alike.
    """
    best = [float("inf")] * len(contenders)
    matches = [0] * len(contenders)
    for _ in range(rounds):
        for index, predicate in enumerate(contenders):
            started = time.perf_counter()
            matches[index] = sum(map(predicate, entries))
            best[index] = min(best[index], time.perf_counter() - started)
    return [(len(entries) / seconds, count) for seconds, count in zip(best, matches, strict=True)]


def compile_microseconds(query: str, repeat: int, rounds: int = 5) -> float:
    """Compile time of ``query`` in µs (the grammar is already loaded): the best of ``rounds``
    means over ``repeat`` compiles each, so a burst of load elsewhere does not count."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            compile_filter(query)
        best = min(best, (time.perf_counter() - started) / repeat * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    entries = generate(arguments.entries, arguments.seed)
    print(f"{len(entries)} entries (entrygen seed {arguments.seed}), best of {arguments.rounds}")
    for query, by_hand in CASES:
        compiled = compile_filter(query)
        (compiled_rate, compiled_matches), (hand_rate, hand_matches) = race(
            [compiled, by_hand], entries, arguments.rounds
        )
        if compiled_matches != hand_matches:
            raise SystemExit(f"mismatch on {query!r}: {compiled_matches} vs {hand_matches}")
        print(f"\nquery: {query}")
        print(f"  matches            {compiled_matches}")
        print(f"  compiled filter    {compiled_rate / 1e6:6.2f} M evaluations/s")
        print(f"  hand-written       {hand_rate / 1e6:6.2f} M evaluations/s")
        print(f"  ratio (hand/kfl)   {hand_rate / compiled_rate:6.2f}x   (goal: <= 2x)")
        print(f"  compile time       {compile_microseconds(query, 400):6.1f} µs   (goal: < 1000)")


if __name__ == "__main__":
    main()
