"""The connection entry: schema v1, the wire contract shared by capture, kfl and dashboard.

An entry is a tree of frozen dataclasses. Its wire form is a JSON object whose keys are the
dataclass field names in camelCase (``elapsed_time`` -> ``elapsedTime``), following Kubeshark's
names so that its users' filters work unchanged. Optional sections (``tcp``, ``dns``, ``icmp``,
``payload``) and optional numbers are omitted from the wire form when absent, so that a filter on a
missing field is false rather than matching a null.

Exception hierarchy::

    ValueError
     └── SchemaError    a wire entry that is not a valid v1 entry (never a half-built entry)

Standard library and msgspec (its fast JSON codec) only: no scapy, no Redis, no Django.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import msgspec

SCHEMA_VERSION = 1
MAX_STRING_CHARS = 1024
MAX_PAYLOAD_CHARS = 90_000  # base64 of a 64 KiB preview
MAX_LIST_ITEMS = 256
MAX_WIRE_BYTES = 256 * 1024

_JSON_ENCODER = msgspec.json.Encoder()  # compact, UTF-8, same text as json.dumps; 7x faster
_JSON_DECODER = msgspec.json.Decoder()

PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "dns": "DNS", "icmp": "ICMP"}
ENDPOINT_KINDS = frozenset({"pod", "service", "node", "external", "unknown"})
TCP_EVENTS = frozenset({"connect", "close", "reset", "refused", "timeout", "ongoing"})
RESET_BY = frozenset({"", "client", "server"})


class SchemaError(ValueError):
    """A wire entry that is not a valid schema v1 entry; ``path`` names the offending field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a connection, named by the hub (pod, service, node, external DNS name)."""

    ip: str
    port: int = 0
    name: str = ""
    namespace: str = ""
    pod: str = ""
    service: str = ""
    workload: str = ""
    kind: str = "unknown"


@dataclass(frozen=True, slots=True)
class Node:
    """The Kubernetes node whose worker captured the entry."""

    name: str = ""
    ip: str = ""


@dataclass(frozen=True, slots=True)
class Protocol:
    """Protocol of the entry: ``name`` is lower case (``tcp``), ``abbr`` upper case (``TCP``)."""

    name: str
    abbr: str


@dataclass(frozen=True, slots=True)
class TcpInfo:
    """TCP connection details: the event this entry reports and what the handshake showed."""

    event: str
    state: str = ""
    flags: tuple[str, ...] = ()
    rtt: float | None = None
    retransmits: int | None = None
    reset_by: str = ""
    partial: bool = False


@dataclass(frozen=True, slots=True)
class DnsInfo:
    """A DNS answer: the query, the addresses or names it answered, its rcode and latency."""

    query: str
    answers: tuple[str, ...] = ()
    rcode: str = "NOERROR"
    qtype: str = "A"
    latency: float | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """An IP address and port, as carried inside an ICMP error."""

    ip: str
    port: int = 0


@dataclass(frozen=True, slots=True)
class AboutTuple:
    """The 5-tuple of the packet an ICMP error is about."""

    protocol: str
    src: Address
    dst: Address


@dataclass(frozen=True, slots=True)
class IcmpInfo:
    """An ICMP error (destination unreachable, time exceeded) and the flow it is about."""

    type: int
    code: int
    message: str = ""
    about: AboutTuple | None = None


@dataclass(frozen=True, slots=True)
class Payload:
    """First bytes of each direction (``full`` mode), base64 encoded."""

    request: str = ""
    response: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One connection entry (schema v1): a TCP/UDP connection, a DNS answer or an ICMP error."""

    id: str
    worker: str
    node: Node
    timestamp: int
    protocol: Protocol
    src: Endpoint
    dst: Endpoint
    elapsed_time: int = 0
    outgoing: bool = False
    request_size: int = 0
    response_size: int = 0
    packets: int | None = None
    tcp: TcpInfo | None = None
    dns: DnsInfo | None = None
    icmp: IcmpInfo | None = None
    payload: Payload | None = None
    summary: str = ""
    v: int = SCHEMA_VERSION

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready wire dict (``"v": 1``, camelCase keys, absent sections omitted)."""
        return _to_wire(self)

    @classmethod
    def from_wire(cls, wire: object) -> Entry:
        """Validate a decoded wire dict and build an entry; raise SchemaError if it is malformed."""
        entry = _from_wire(cls, wire, "")
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
            wire = _JSON_DECODER.decode(text)
        except msgspec.DecodeError as exc:
            raise SchemaError("", f"not JSON: {exc}") from None
        return cls.from_wire(wire)


def camel(name: str) -> str:
    """Wire key of a dataclass field name: ``elapsed_time`` -> ``elapsedTime``."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def protocol(name: str) -> Protocol:
    """The Protocol value for a lower-case protocol name (``tcp``)."""
    return Protocol(name=name, abbr=PROTOCOLS[name])


def field_paths() -> dict[str, str]:
    """Every dotted wire path of an entry and its type: ``{"src.namespace": "str", ...}``.

    Objects appear too (``"src": "object"``), lists as ``"list[str]"``. KFL uses this to reject
    misspelt fields and the dashboard for autocomplete.
    """
    return dict(_paths(Entry, ""))


# --- serialization ----------------------------------------------------------------------------

_DataclassT = TypeVar("_DataclassT")


def _to_wire(obj: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, key in _wire_keys(typing.cast(type, type(obj))):
        value = getattr(obj, attr)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "__dataclass_fields__"):
            value = _to_wire(value)
        out[key] = value
    return out


@cache
def _wire_keys(cls: type) -> tuple[tuple[str, str], ...]:
    """(attribute, wire key) of each field of a schema dataclass, computed once per class."""
    return tuple((field.name, camel(field.name)) for field in dataclasses.fields(cls))


_STR, _INT, _FLOAT, _BOOL, _LIST, _OBJECT = "str", "int", "float", "bool", "list", "object"
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_ABSENT = object()


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    """How one dataclass field is read from the wire; built once per class."""

    attr: str
    key: str
    kind: str
    required: bool
    optional: bool
    limit: int
    nested: type | None = None
    item: _FieldPlan | None = None


@dataclass(frozen=True, slots=True)
class _ClassPlan:
    fields: tuple[_FieldPlan, ...]
    keys: frozenset[str]


def _from_wire(cls: type[_DataclassT], wire: object, path: str) -> _DataclassT:
    if not isinstance(wire, Mapping):
        raise SchemaError(path, f"expected an object, got {_type_name(wire)}")
    plan = _class_plan(typing.cast(type, cls))
    if not plan.keys.issuperset(wire):
        unknown = next(key for key in wire if key not in plan.keys)
        raise SchemaError(_join(path, str(unknown)), "unknown field")
    kwargs: dict[str, object] = {}
    for field in plan.fields:
        value = wire.get(field.key, _ABSENT)
        if value is _ABSENT:
            if field.required:
                raise SchemaError(_join(path, field.key), "required field is missing")
            continue
        kwargs[field.attr] = _read(field, value, path)
    return cls(**kwargs)


def _read(field: _FieldPlan, value: object, path: str) -> object:
    """The checked value of one field; the common, valid case costs one type test."""
    kind = field.kind
    if kind is _STR:
        if type(value) is str and len(value) <= field.limit:
            return value
    elif kind is _INT:
        if type(value) is int and _INT_MIN <= value <= _INT_MAX:
            return value
    elif kind is _BOOL:
        if type(value) is bool:
            return value
    elif kind is _FLOAT:
        if (type(value) is float and math.isfinite(value)) or type(value) is int:
            return float(value)
    elif kind is _OBJECT and value is not None:
        return _from_wire(typing.cast(type, field.nested), value, _join(path, field.key))
    elif kind is _LIST and type(value) is list and len(value) <= MAX_LIST_ITEMS:
        item = typing.cast(_FieldPlan, field.item)
        sub = _join(path, field.key)
        return tuple(_read(item, element, f"{sub}[{index}]") for index, element in enumerate(value))
    if value is None and field.optional:
        return None
    raise _field_error(field, value, _join(path, field.key))


def _field_error(field: _FieldPlan, value: object, path: str) -> SchemaError:
    """The precise error for a value that failed its field's check."""
    expected = {
        _STR: "a string",
        _INT: "an integer",
        _BOOL: "true or false",
        _FLOAT: "a number",
        _LIST: "a list",
        _OBJECT: "an object",
    }[field.kind]
    got = _type_name(value)
    if field.kind is _FLOAT and isinstance(value, float):
        return SchemaError(path, "expected a finite number")
    if field.kind is _INT and type(value) is int:
        return SchemaError(path, "integer out of the 64-bit range")
    if field.kind is _STR and isinstance(value, str):
        return SchemaError(path, f"string of {len(value)} characters, over the {field.limit} limit")
    if field.kind is _LIST and isinstance(value, list):
        return SchemaError(path, f"list of {len(value)} items, over the {MAX_LIST_ITEMS} limit")
    return SchemaError(path, f"expected {expected}, got {got}")


@cache
def _class_plan(cls: type) -> _ClassPlan:
    hints = typing.get_type_hints(cls)
    limit = MAX_PAYLOAD_CHARS if cls is Payload else MAX_STRING_CHARS
    plans = []
    for field in dataclasses.fields(cls):
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        plans.append(_field_plan(field.name, hints[field.name], required, limit))
    return _ClassPlan(tuple(plans), frozenset(plan.key for plan in plans))


def _field_plan(name: str, hint: object, required: bool, limit: int) -> _FieldPlan:
    key = camel(name)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = typing.get_origin(hint) in (types.UnionType, typing.Union)
    if optional:
        hint = args[0]
    if typing.get_origin(hint) is tuple:
        item = _field_plan(name, typing.get_args(hint)[0], True, limit)
        item = dataclasses.replace(item, key="")  # an item's path is its list's path + [index]
        return _FieldPlan(name, key, _LIST, required, optional, limit, item=item)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _FieldPlan(name, key, _OBJECT, required, optional, limit, nested=hint)
    kinds: dict[object, str] = {str: _STR, int: _INT, float: _FLOAT, bool: _BOOL}
    if hint not in kinds:
        raise TypeError(f"unsupported schema type {hint!r}")  # a bug in this module, not input
    return _FieldPlan(name, key, kinds[hint], required, optional, limit)


def _check_values(entry: Entry) -> None:
    if entry.v != SCHEMA_VERSION:
        raise SchemaError("v", f"unknown schema version {entry.v}, expected {SCHEMA_VERSION}")
    if entry.protocol.name not in PROTOCOLS:
        raise SchemaError("protocol.name", f"unknown protocol {entry.protocol.name!r}")
    if entry.protocol.abbr != PROTOCOLS[entry.protocol.name]:
        raise SchemaError("protocol.abbr", f"{entry.protocol.abbr!r} does not match the name")
    if entry.timestamp < 0 or entry.elapsed_time < 0:
        raise SchemaError("timestamp", "timestamp and elapsedTime must not be negative")
    if entry.request_size < 0 or entry.response_size < 0:
        raise SchemaError("requestSize", "byte counts must not be negative")
    for side, endpoint in (("src", entry.src), ("dst", entry.dst)):
        if not 0 <= endpoint.port <= 65535:
            raise SchemaError(f"{side}.port", f"port {endpoint.port} out of range")
        if endpoint.kind not in ENDPOINT_KINDS:
            raise SchemaError(f"{side}.kind", f"unknown endpoint kind {endpoint.kind!r}")
    if entry.tcp is not None:
        if entry.tcp.event not in TCP_EVENTS:
            raise SchemaError("tcp.event", f"unknown TCP event {entry.tcp.event!r}")
        if entry.tcp.reset_by not in RESET_BY:
            detail = f"expected client or server, got {entry.tcp.reset_by!r}"
            raise SchemaError("tcp.resetBy", detail)
    if not entry.id:
        raise SchemaError("id", "must not be empty")


def _paths(cls: type, prefix: str) -> Iterator[tuple[str, str]]:
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        path = _join(prefix, camel(field.name))
        hint = hints[field.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) in (types.UnionType, typing.Union):
            hint = args[0]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            yield path, "object"
            yield from _paths(hint, path)
        elif typing.get_origin(hint) is tuple:
            yield path, f"list[{typing.get_args(hint)[0].__name__}]"
        else:
            yield path, hint.__name__ if isinstance(hint, type) else str(hint)


def _join(prefix: str, key: str) -> str:
    if not key:
        return prefix
    return f"{prefix}.{key}" if prefix else key


def _type_name(value: object) -> str:
    return {type(None): "null", bool: "boolean", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )
