"""Compile-time constant values that are not plain JSON scalars: durations, regexes, networks.

Each is built from query text once, when the filter is compiled, and raises LocatedError (located at
the literal) if the text is invalid.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import re2

from kfl.errors import LocatedError
from kfl.nodes import Scalar

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
