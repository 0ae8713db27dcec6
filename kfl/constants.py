"""Compile-time constant values that are not plain JSON scalars: durations, regexes, networks.

Each is built from query text once, when the filter is compiled, and raises LocatedError (located at
the literal) if the text is invalid.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import re2

from kfl.errors import LocatedError
from kfl.nodes import Scalar

DURATION_UNITS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1, "us": 0.001, "µs": 0.001}
DURATION_UNITS["ns"] = 0.000001
DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(h|ms|m|s|us|µs|ns)")
DATETIME_FORMATS = ("%m/%d/%Y, %I:%M:%S.%f %p", "%m/%d/%Y, %I:%M:%S %p")
DATETIME_EXAMPLE = '"3/13/2023, 2:04:26.172 AM" (UTC) or ISO 8601'
REGEX_MAX_MEMORY = 8 << 20
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Duration:
    """``seconds(n)`` and friends: an offset in ms, relative to now when compared with a time."""

    ms: int | float


@dataclass(frozen=True, slots=True)
class Regex:
    """A compiled RE2 pattern (``r"..."`` or the argument of ``matches``)."""

    pattern: str
    compiled: Any

    def search(self, text: str) -> bool:
        """Unanchored search; text that cannot be encoded as UTF-8 never matches."""
        try:
            return self.compiled.search(text) is not None
        except UnicodeEncodeError:
            return False


@dataclass(frozen=True, slots=True)
class Network:
    """``cidr("10.0.0.0/8")``: an IP network that an address field is tested against."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    def holds(self, text: str) -> bool:
        """Whether ``text`` is an IP address inside the network."""
        address = _address(text)
        return address is not None and address in self.network


Constant = Scalar | Duration | Regex | Network


def compile_regex(pattern: str, start: int, end: int) -> Regex:
    """Compile an RE2 pattern; raise LocatedError at ``start..end`` if RE2 rejects it."""
    options = re2.Options()
    options.max_mem = REGEX_MAX_MEMORY
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except (re2.error, UnicodeEncodeError, ValueError, TypeError) as error:
        raise LocatedError(f"invalid regex: {_regex_reason(error)}", start, end) from None
    return Regex(pattern, compiled)


def _regex_reason(error: Exception) -> str:
    if not isinstance(error, re2.error):
        return "not valid UTF-8 text"
    reason = error.args[0] if error.args else "rejected by RE2"
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def parse_cidr(text: str, start: int, end: int) -> Network:
    """Parse ``10.0.0.0/8`` (or one address) into a Network; raise LocatedError if it is not one."""
    try:
        return Network(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise LocatedError(f'{text!r} is not a network like "10.0.0.0/8"', start, end) from None


def parse_datetime(text: str, start: int, end: int) -> int:
    """Milliseconds since the epoch of Kubeshark's ``1/2/2006, 3:04:05.000 PM`` or ISO 8601."""
    for layout in DATETIME_FORMATS:
        try:
            moment = datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
        return _epoch_ms(moment)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LocatedError(f"{text!r} is not a date like {DATETIME_EXAMPLE}", start, end) from None
    return _epoch_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def parse_timestamp(text: str, start: int, end: int) -> int:
    """Milliseconds since the epoch of KFL2's ``timestamp("2026-03-14T22:00:00Z")`` (RFC 3339)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text.upper():
        example = '"2026-03-14T22:00:00Z" (RFC 3339, with a time zone)'
        raise LocatedError(f"{text!r} is not a timestamp like {example}", start, end)
    return _epoch_ms(moment)


def parse_duration(text: str, start: int, end: int) -> Duration:
    """KFL2's ``duration("1h30m")`` (Go's syntax: h, m, s, ms, us, ns; a leading sign)."""
    body = text[1:] if text[:1] in {"-", "+"} else text
    parts = DURATION_PART.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        message = f'{text!r} is not a duration like "5m", "1h30m" or "250ms"'
        raise LocatedError(message, start, end)
    ms = math.fsum(float(number) * DURATION_UNITS[unit] for number, unit in parts)
    whole = int(ms) if math.isfinite(ms) and ms.is_integer() else ms
    return duration(-whole if text.startswith("-") else whole, start, end)


def duration(ms: int | float, start: int, end: int) -> Duration:
    """A Duration, rejecting offsets too large to be a time."""
    if not math.isfinite(ms) or abs(ms) >= 2**63:
        raise LocatedError("duration is too large", start, end)
    return Duration(ms)


def _epoch_ms(moment: datetime) -> int:
    return (moment - EPOCH) // MILLISECOND


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
