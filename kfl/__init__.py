"""KFL, podscope's display filter language: compile a query once, call it on every entry.

Usage::

    from kfl import compile_filter, KflError
    f = compile_filter('dst.namespace == ""')
    f(entry)        # entry: the wire dict of contract.schema -> bool
    f.limit         # n of limit(n), or None
    f.query         # the source text

The language (Kubeshark-compatible)::

    tcp  !tcp  udp  dns  icmp                 aliases (kfl.fields.register_alias adds more)
    a and b   a && b   a or b   a || b         precedence: ! > comparison > and > or
    !a   not a   (a)
    dst.port == 443   src.port == "8080"      == != < <= > >=; numbers compare as numbers
    dst.name == r"stripe\\.com$"               unanchored RE2 search (also !=)
    tcp.flags == "RST"                        a list matches if any element does
    src["namespace"]   dns.answers[0]         paths; a bare field is a truthiness test
    dst.name.startsWith("api")                also endsWith, contains, matches(re)
    timestamp >= now() - seconds(30)          also minutes, hours, days; seconds(-30)
    timestamp < datetime("3/13/2023, 2:04:26.172 AM")   (UTC, or ISO 8601)
    dst.ip == cidr("10.0.0.0/8")
    tcp and limit(100)

Kubeshark's KFL2 (CEL) works beside it::

    dst.pod.namespace == 'shop' && elapsed_time > 1000000     KFL2 variables (kfl.variables)
    dst.port in [80, 443]   'shop' in namespaces   'app' in local_labels
    size(dns_answers) > 0   (c ? a : b)   a * b / c % d   -x
    local_labels["app"]   map_get(local_labels, "app", "")
    timestamp > timestamp("2026-03-14T22:00:00Z")   timestamp > now() - duration("5m")
    dns_answers.exists(a, a.startsWith("10."))        also all, exists_one, filter
    weeks(n), months(n) (30 days), years(n) (365 days)

A missing field makes only its own comparison false. Every invalid query raises KflError with
the line, column and span of the problem.
"""

from kfl.compiler import Filter, compile_filter
from kfl.errors import KflError

__all__ = ["Filter", "KflError", "compile_filter"]
