"""The connection entry: schema v1, the wire contract shared by capture, kfl and dashboard.

An entry is a tree of frozen msgspec Structs. Its wire form is a JSON object whose keys are the
field names in camelCase (``elapsed_time`` -> ``elapsedTime``), following Kubeshark's names so
that its users' filters work unchanged. Optional sections (``tcp``, ``dns``, ``icmp``,
``payload``) and optional numbers are omitted from the wire form when absent, so that a filter on
a missing field is false rather than matching a null.

The field types carry the limits (string and list lengths, port and byte-count ranges, 64-bit
integers, finite floats), so msgspec validates a whole entry in one typed pass in C: decoding
straight from JSON bytes (:meth:`Entry.from_json`, what the hub does with every stream message)
costs a few microseconds. The few rules that are not about one field's type (known protocol,
endpoint kind, TCP event, schema version) are checked after it. Entries hold no reference
cycles, so the Structs are not tracked by the garbage collector (``gc=False``): a hub holding
100,000 of them adds nothing to a full collection's work.

Exception hierarchy (classes in :mod:`contract.errors`)::

    ContractError, ValueError
     └── SchemaError    a wire entry that is not a valid v1 entry (never a half-built entry)

Standard library and msgspec only: no scapy, no Redis, no Django.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from collections.abc import Iterator
from functools import cache
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from contract.errors import SchemaError

SCHEMA_VERSION = 1
MAX_STRING_CHARS = 1024
MAX_PAYLOAD_CHARS = 90_000  # base64 of a 64 KiB preview
MAX_LIST_ITEMS = 256
MAX_LABELS = 64
MAX_WIRE_BYTES = 256 * 1024

_JSON_ENCODER = msgspec.json.Encoder()  # compact, UTF-8, same text as json.dumps; 7x faster
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_FLOAT_MAX = sys.float_info.max

# Field types: what a value must be on the wire (msgspec checks them while decoding).
Text = Annotated[str, Meta(max_length=MAX_STRING_CHARS)]
Preview = Annotated[str, Meta(max_length=MAX_PAYLOAD_CHARS)]
Texts = Annotated[tuple[Text, ...], Meta(max_length=MAX_LIST_ITEMS)]
Labels = Annotated[dict[Text, Text], Meta(max_length=MAX_LABELS)]
Int64 = Annotated[int, Meta(ge=_INT_MIN, le=_INT_MAX)]
Count = Annotated[int, Meta(ge=0, le=_INT_MAX)]  # timestamps, durations, byte counts
Port = Annotated[int, Meta(ge=0, le=65535)]
Octet = Annotated[int, Meta(ge=0, le=255)]
Finite = Annotated[float, Meta(ge=-_FLOAT_MAX, le=_FLOAT_MAX)]  # NaN and infinities fail

PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "dns": "DNS", "icmp": "ICMP"}
ENDPOINT_KINDS = frozenset({"pod", "service", "node", "external", "unknown"})
TCP_EVENTS = frozenset({"connect", "close", "reset", "refused", "timeout", "ongoing", "expired"})
RESET_BY = frozenset({"", "client", "server"})


class _Wire(msgspec.Struct, frozen=True, gc=False, rename="camel", forbid_unknown_fields=True):
    """Base of the schema's Structs: immutable, untracked by the GC, camelCase, strict keys."""


class Endpoint(_Wire, frozen=True):
    """One side of a connection, named by the hub (pod, service, node, external DNS name).

    ``labels`` are the pod's Kubernetes labels (KFL2's ``local_labels``/``remote_labels``),
    absent for anything but a named pod.
    """

    ip: Text
    port: Port = 0
    name: Text = ""
    namespace: Text = ""
    pod: Text = ""
    service: Text = ""
    workload: Text = ""
    kind: Text = "unknown"
    labels: Labels | None = None


class Node(_Wire, frozen=True):
    """The Kubernetes node whose worker captured the entry."""

    name: Text = ""
    ip: Text = ""


class Protocol(_Wire, frozen=True):
    """Protocol of the entry: ``name`` is lower case (``tcp``), ``abbr`` upper case (``TCP``)."""

    name: Text
    abbr: Text


class TcpInfo(_Wire, frozen=True):
    """TCP connection details: the event this entry reports and what the handshake showed.

    ``isn`` and ``server_isn`` are the two initial sequence numbers (``server_isn`` absent until
    a SYN-ACK was seen): the connection's identity, which no NAT rewrites, so the hub joins the
    reports of the client's node and the server's node by them.
    """

    event: Text
    state: Text = ""
    flags: Texts = ()
    rtt: Finite | None = None
    """Handshake round trip in ms, in both modes from the client's SYN to the server's SYN-ACK
    (as seen where captured); None when either was not seen."""
    retransmits: Count | None = None
    reset_by: Text = ""
    partial: bool = False
    isn: Count | None = None
    server_isn: Count | None = None


class DnsInfo(_Wire, frozen=True):
    """A DNS answer: the query, the addresses or names it answered, its rcode and latency."""

    query: Text
    answers: Texts = ()
    rcode: Text = "NOERROR"
    qtype: Text = "A"
    latency: Finite | None = None


class Address(_Wire, frozen=True):
    """An IP address and port, as carried inside an ICMP error."""

    ip: Text
    port: Port = 0


class AboutTuple(_Wire, frozen=True):
    """The 5-tuple of the packet an ICMP error is about.

    ``isn``: the quoted TCP segment's sequence number; for an error answering a SYN (a REJECT)
    it is the attempt's ``tcp.isn``, naming the connection attempt the error ended.
    """

    protocol: Text
    src: Address
    dst: Address
    isn: Count | None = None


class IcmpInfo(_Wire, frozen=True):
    """An ICMP error (destination unreachable, time exceeded) and the flow it is about."""

    type: Octet
    code: Octet
    message: Text = ""
    about: AboutTuple | None = None


class NatInfo(_Wire, frozen=True):
    """What the capturing node's NAT rewrote in a connection (absent parts were not rewritten).

    ``dialed``: the address and port the client dialed (a Service VIP, a NodePort) before DNAT
    sent it to ``dst``; ``snat``: the address and port the client appeared as after SNAT
    (masquerade of egress, a NodePort's SNAT).
    """

    dialed: Address | None = None
    snat: Address | None = None


class Payload(_Wire, frozen=True):
    """First bytes of each direction (``full`` mode), base64 encoded."""

    request: Preview = ""
    response: Preview = ""


class Entry(_Wire, frozen=True):
    """One connection entry (schema v1): a TCP/UDP connection, a DNS answer or an ICMP error.

    ``conn_id`` (wire ``connId``) names the TCP connection a TCP entry reports on: the
    ``connect``, ``ongoing`` and final (``close``, ``reset``, ``refused``, ``timeout``) entries
    of one connection carry the same value, ``<worker>/<start ms>/<client>:<port>-<server>:<port>``
    (the worker that saw it, its start timestamp and its 5-tuple), so the dashboard shows them
    as one row. It is None (absent from the wire) for UDP, DNS and ICMP entries, each of which
    is its own row. Two workers that see one connection give it two ids (and a NAT two
    5-tuples): where ``tcp.isn`` is known, the dashboard groups by it instead.
    """

    id: Text
    worker: Text
    node: Node
    timestamp: Count
    protocol: Protocol
    src: Endpoint
    dst: Endpoint
    elapsed_time: Count = 0
    outgoing: bool = False
    request_size: Count | None = None
    """Bytes client -> server; None (absent on the wire) when unknown: a connection whose start
    ``connections`` mode did not see."""
    response_size: Count | None = None
    """Bytes server -> client; None (absent on the wire) when unknown."""
    packets: Count | None = None
    tcp: TcpInfo | None = None
    dns: DnsInfo | None = None
    icmp: IcmpInfo | None = None
    payload: Payload | None = None
    summary: Text = ""
    v: Int64 = SCHEMA_VERSION
    nat: NatInfo | None = None
    conn_id: Text | None = None
    request_packets: Count | None = None
    """Packets client -> server (``full`` mode, TCP and UDP); ``packets`` counts both ways."""
    response_packets: Count | None = None
    """Packets server -> client (``full`` mode, TCP and UDP)."""

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready wire dict (``"v": 1``, camelCase keys, absent sections omitted)."""
        wire: dict[str, Any] = msgspec.to_builtins(self)
        _prune(wire, lists=True)
        return wire

    def to_stored_wire(self) -> dict[str, Any]:
        """``to_wire()`` with lists left as tuples: what the hub keeps of each entry.

        Tuples of strings are immutable and, unlike lists, dropped from the garbage collector's
        tracking, so 100,000 stored entries cost a full collection less work. KFL and JSON
        encoders treat them as lists.
        """
        wire: dict[str, Any] = msgspec.to_builtins(self)
        _prune(wire, lists=False)
        return wire

    @classmethod
    def from_wire(cls, wire: object) -> Entry:
        """Validate a decoded wire dict and build an entry; raise SchemaError if it is malformed."""
        try:
            entry = msgspec.convert(wire, cls, strict=True)
        except msgspec.ValidationError as exc:
            raise _schema_error(exc) from None
        _check_values(entry)
        return entry

    def to_json(self) -> str:
        """Serialize to compact JSON text."""
        return _JSON_ENCODER.encode(self.to_wire()).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Entry:
        """Parse JSON text (at most MAX_WIRE_BYTES) into a validated entry; raise SchemaError."""
        if len(text) > MAX_WIRE_BYTES:
            raise SchemaError("", f"entry is {len(text)} bytes, over the {MAX_WIRE_BYTES} limit")
        try:
            entry = _ENTRY_DECODER.decode(text)
        except msgspec.ValidationError as exc:
            raise _schema_error(exc) from None
        except msgspec.DecodeError as exc:
            raise SchemaError("", f"not JSON: {exc}") from None
        _check_values(entry)
        return entry


_ENTRY_DECODER = msgspec.json.Decoder(Entry)


def camel(name: str) -> str:
    """Wire key of a field name: ``elapsed_time`` -> ``elapsedTime``."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def protocol(name: str) -> Protocol:
    """The Protocol value for a lower-case protocol name (``tcp``)."""
    return Protocol(name=name, abbr=PROTOCOLS[name])


def field_paths() -> dict[str, str]:
    """Every dotted wire path of an entry and its type: ``{"src.namespace": "str", ...}``.

    Objects appear too (``"src": "object"``), lists as ``"list[str]"``, maps as ``"map[str]"``.
    KFL uses this to reject misspelt fields and the dashboard for autocomplete.
    """
    return dict(_paths(Entry, ""))


# --- the wire dict ----------------------------------------------------------------------------


Pruner = typing.Callable[[dict[str, Any]], None]


@cache
def _pruner(cls: type, lists: bool) -> Pruner | None:
    """A function that makes ``to_builtins`` output of ``cls`` its wire form, in place: drops
    None values and, with ``lists``, turns tuples into lists, throughout. Built once per class
    from its fields, so pruning an entry asks nothing of the type hints; None when there is
    nothing to do."""
    optional, list_keys, nested = [], [], []
    for name, hint in typing.get_type_hints(cls).items():
        key = camel(name)
        inner = _unwrap_optional(hint)
        if inner is not hint:
            optional.append(key)
        if typing.get_origin(inner) is tuple and lists:
            list_keys.append(key)
        elif _is_struct(inner) and (prune_inner := _pruner(inner, lists)) is not None:
            nested.append((key, prune_inner))
    if not (optional or list_keys or nested):
        return None

    def prune(wire: dict[str, Any]) -> None:
        for key in optional:
            if wire[key] is None:
                del wire[key]
        for key in list_keys:
            wire[key] = list(wire[key])
        for key, prune_inner in nested:
            value = wire.get(key)
            if value is not None:
                prune_inner(value)

    return prune


def _prune(wire: dict[str, Any], *, lists: bool) -> None:
    prune = _pruner(Entry, lists)
    assert prune is not None  # an entry has optional sections
    prune(wire)


def _is_struct(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, msgspec.Struct)


def _unwrap_optional(hint: Any) -> Any:
    """``X`` for ``X | None``, else ``hint`` itself."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return args[0]
    return hint


# --- validation -------------------------------------------------------------------------------

_MSGSPEC_ERROR = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_EXPECTED = {
    "int": "an integer",
    "str": "a string",
    "bool": "true or false",
    "float": "a number",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_GOT = {"bool": "boolean", "array": "a list", "object": "an object"}


def _schema_error(exc: msgspec.ValidationError) -> SchemaError:
    """msgspec's validation error in the schema's words, with a dotted path (``src.port``)."""
    match = _MSGSPEC_ERROR.match(str(exc))
    assert match is not None  # the pattern matches any text
    what, path = match["what"], (match["path"] or "").lstrip(".")
    if field := re.fullmatch(r"Object contains unknown field `(.*)`", what):
        return SchemaError(_join(path, field[1]), "unknown field")
    if field := re.fullmatch(r"Object missing required field `(.*)`", what):
        return SchemaError(_join(path, field[1]), "required field is missing")
    if wrong := re.fullmatch(r"Expected `([^`]*)`, got `([^`]*)`", what):
        expected = [_EXPECTED.get(t, t) for t in wrong[1].split(" | ") if t != "null"]
        got = _GOT.get(wrong[2], wrong[2])
        return SchemaError(path, f"expected {' or '.join(expected) or 'null'}, got {got}")
    if bound := re.fullmatch(r"Expected `(int|float)` ([<>]=) (\S+)", what):
        return SchemaError(path, _bound_message(bound[1], bound[2], bound[3]))
    if length := re.fullmatch(r"Expected `(str|array)` of length <= (\d+)", what):
        noun = "characters" if length[1] == "str" else "items"
        return SchemaError(
            path,
            f"{'string' if noun == 'characters' else 'list'} over the {length[2]} {noun} limit",
        )
    return SchemaError(path, what[:1].lower() + what[1:])


def _bound_message(kind: str, op: str, limit: str) -> str:
    if kind == "float":
        return "expected a finite number"
    if limit in (str(_INT_MAX), str(_INT_MIN)):
        return "integer out of the 64-bit range"
    if op == ">=" and limit == "0":
        return "must not be negative"
    return f"out of range: must be {op} {limit}"


def _check_values(entry: Entry) -> None:
    """The rules msgspec's types do not express: known names, matching abbreviation, version."""
    if entry.v != SCHEMA_VERSION:
        raise SchemaError("v", f"unknown schema version {entry.v}, expected {SCHEMA_VERSION}")
    if entry.protocol.name not in PROTOCOLS:
        raise SchemaError("protocol.name", f"unknown protocol {entry.protocol.name!r}")
    if entry.protocol.abbr != PROTOCOLS[entry.protocol.name]:
        raise SchemaError("protocol.abbr", f"{entry.protocol.abbr!r} does not match the name")
    if entry.src.kind not in ENDPOINT_KINDS:
        raise SchemaError("src.kind", f"unknown endpoint kind {entry.src.kind!r}")
    if entry.dst.kind not in ENDPOINT_KINDS:
        raise SchemaError("dst.kind", f"unknown endpoint kind {entry.dst.kind!r}")
    tcp = entry.tcp
    if tcp is not None:
        if tcp.event not in TCP_EVENTS:
            raise SchemaError("tcp.event", f"unknown TCP event {tcp.event!r}")
        if tcp.reset_by not in RESET_BY:
            detail = f"expected client or server, got {tcp.reset_by!r}"
            raise SchemaError("tcp.resetBy", detail)
    if not entry.id:
        raise SchemaError("id", "must not be empty")


def _paths(cls: type, prefix: str) -> Iterator[tuple[str, str]]:
    for name, hint in typing.get_type_hints(cls).items():
        path = _join(prefix, camel(name))
        inner = _unwrap_optional(hint)
        if _is_struct(inner):
            yield path, "object"
            yield from _paths(inner, path)
        elif typing.get_origin(inner) is tuple:
            yield path, f"list[{typing.get_args(inner)[0].__name__}]"
        elif typing.get_origin(inner) is dict:
            yield path, f"map[{typing.get_args(inner)[1].__name__}]"
        else:
            yield path, inner.__name__


def _join(prefix: str, key: str) -> str:
    if not key:
        return prefix
    return f"{prefix}.{key}" if prefix else key
