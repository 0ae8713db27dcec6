r"""DNS answers to DNS events, and the per-client index of resolved names.

Only answers are fully parsed: a query just records its (client address, client port, id) and
time, so the answer's latency can be measured. Plain answers (A, AAAA and CNAME records, the SOA
of an NXDOMAIN) are read here; scapy parses the others, at a hundred times the cost.
:class:`NameIndex` remembers, for each client, which name it resolved to which address, so a
later connection from that client to that address can carry the name (``dst.name``).

Names are shown as dig shows them: labels joined by dots, a dot, quote, parenthesis, semicolon,
backslash, ``@`` or ``$`` inside a label escaped with a backslash (``\"``), other bytes outside
printable ASCII as ``\DDD`` (``\000``). A message whose names loop through compression pointers
(or follow too many) is malformed: scapy's warnings about it are taken, never printed.

Exception hierarchy (classes in :mod:`capture.errors`)::

    CaptureError, ValueError
     └── DnsError     a payload that is not a well-formed DNS answer (counted by the caller)
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from scapy.layers.dns import DNS, dnsqtypes

from capture.errors import DnsError
from contract.schema import MAX_LIST_ITEMS, MAX_STRING_CHARS

RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
               5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
               10: "NOTZONE"}  # fmt: skip
"""DNS response codes by number (RFC 1035, RFC 2136): the names dig and the RFCs print."""

_TYPE_A = 1
_TYPE_CNAME = 5
_TYPE_SOA = 6
_TYPE_AAAA = 28
_HEADER_BYTES = 12
_MAX_TCP_MESSAGE = 65535
_MAX_PARSED_ANSWERS = 4096
_MAX_PLAIN_RECORDS = 32  # more answers go to scapy (which refuses over 100)
_MAX_PLAIN_POINTERS = 8  # scapy follows at most 20 compression pointers in one name
_PLAIN_LABEL_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
_DNS_HEADER = struct.Struct("!HHHHHH")  # id, flags, question/answer/authority/additional counts
_RECORD_HEADER = struct.Struct("!HHIH")  # type, class, TTL, data length
_U16 = struct.Struct("!H")


_BYTE_TEXT = tuple(
    f"\\{chr(byte)}"
    if chr(byte) in '."();\\@$'
    else chr(byte)
    if 0x20 < byte < 0x7F
    else f"\\{byte:03d}"
    for byte in range(256)
)
"""How dig shows each byte of a label."""


def name_text(labels: Iterable[bytes]) -> str:
    """A domain name's labels as dig shows the name (without the final dot; the root is ``.``),
    cut to the schema's string limit."""
    text = ".".join("".join([_BYTE_TEXT[byte] for byte in label]) for label in labels)
    return (text or ".")[:MAX_STRING_CHARS]


class _ScapyWarnings(logging.Filter):
    """Takes the warnings scapy logs while this thread parses a DNS message (a compression
    loop, too many pointers), so they are counted as malformed messages and never printed."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        caught: list[str] | None = getattr(self._local, "caught", None)
        if caught is None:
            return True
        caught.append(record.getMessage())
        return False

    @contextmanager
    def catching(self) -> Iterator[list[str]]:
        """Collect (and silence) scapy's runtime warnings in this thread while inside."""
        caught: list[str] = []
        self._local.caught = caught
        try:
            yield caught
        finally:
            self._local.caught = None


_SCAPY_WARNINGS = _ScapyWarnings()
# first, before scapy's own filter drops a warning repeated within a few seconds
logging.getLogger("scapy.runtime").filters.insert(0, _SCAPY_WARNINGS)


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """The parts of a DNS answer podscope reports (lists and names cut to the schema's limits)."""

    query: str
    qtype: str
    rcode: str
    answers: tuple[str, ...]
    addresses: tuple[tuple[bytes, int], ...]
    """The A/AAAA addresses as raw bytes, each with its TTL in seconds."""


@dataclass(frozen=True, slots=True)
class DnsEvent:
    """A DNS answer seen on the wire, with the query it answers when that was seen too."""

    client: bytes
    client_port: int
    server: bytes
    server_port: int
    start: float
    end: float
    latency: float | None
    answer: DnsAnswer


def is_response(payload: bytes) -> bool:
    """Whether a DNS payload is a response (QR bit); raise DnsError if it has no header."""
    if len(payload) < _HEADER_BYTES:
        raise DnsError("DNS header truncated")
    return bool(payload[2] & 0x80)


def parse_answer(payload: bytes) -> DnsAnswer:
    """Parse a DNS response; raise DnsError unless it is a complete answer.

    A plain answer (see :func:`_parse_plain`) is read here, in a few microseconds; any other
    message goes to scapy, which takes a few hundred.
    """
    if not is_response(payload):
        raise DnsError("not a DNS response")
    answer = _parse_plain(payload)
    return answer if answer is not None else _parse_with_scapy(payload)


def _parse_with_scapy(payload: bytes) -> DnsAnswer:
    try:
        with _SCAPY_WARNINGS.catching() as warnings:
            message = DNS(payload)
        if warnings:
            raise DnsError(f"malformed DNS names: {warnings[0]}")
        questions = list(message.qd or ())
        records = list(message.an or ())
        if not questions:
            raise DnsError("DNS answer without a question")
        if len(records) < message.ancount or len(questions) < message.qdcount:
            raise DnsError("DNS answer truncated")
        question_name = _labels(payload, _HEADER_BYTES)
        targets = _cname_targets(payload, len(questions), len(records))
        if question_name is None or targets is None:
            raise DnsError("malformed DNS names")
        answers: list[str] = []
        addresses: list[tuple[bytes, int]] = []
        for record in records:
            if record.type == _TYPE_A:
                answers.append(str(record.rdata))
                addresses.append((socket.inet_pton(socket.AF_INET, str(record.rdata)), record.ttl))
            elif record.type == _TYPE_AAAA:
                answers.append(str(record.rdata))
                addresses.append((socket.inet_pton(socket.AF_INET6, str(record.rdata)), record.ttl))
            elif record.type == _TYPE_CNAME:
                answers.append(targets.pop(0))
        question = questions[0]
        return DnsAnswer(
            query=name_text(question_name[0]),
            qtype=dnsqtypes.get(question.qtype, str(question.qtype)),
            rcode=RCODE_NAMES.get(message.rcode, str(message.rcode)),
            answers=tuple(answers[:MAX_LIST_ITEMS]),
            addresses=tuple(addresses[:MAX_LIST_ITEMS]),
        )
    except DnsError:
        raise
    except Exception as exc:  # noqa: BLE001 - scapy raises many types on hostile input
        raise DnsError(f"unparsable DNS answer: {type(exc).__name__}: {exc}") from None


def _parse_plain(payload: bytes) -> DnsAnswer | None:
    """The answer of a plain DNS response, or None for scapy to parse it.

    Plain: one question, at most ``_MAX_PLAIN_RECORDS`` answer records, each an A (4 bytes),
    AAAA (16 bytes) or CNAME whose name fills its data, at most one authority record, an SOA
    whose fields fill its data, and no additional records; names of letters, digits, ``-`` and
    ``_`` (:func:`_plain_name`); nothing after the last record. For these, scapy's reading is
    unambiguous and this gives the same DnsAnswer.
    """
    size = len(payload)
    _, flags, qdcount, ancount, nscount, arcount = _DNS_HEADER.unpack_from(payload)
    if qdcount != 1 or ancount > _MAX_PLAIN_RECORDS or nscount > 1 or arcount:
        return None
    found = _plain_name(payload, _HEADER_BYTES)
    if found is None or found[1] + 4 > size:
        return None
    query, position = found
    qtype = _U16.unpack_from(payload, position)[0]
    position += 4
    answers: list[str] = []
    addresses: list[tuple[bytes, int]] = []
    for _ in range(ancount):
        owner = _plain_name(payload, position)
        if owner is None or owner[1] + 10 > size:
            return None
        position = owner[1]
        rtype, _, ttl, length = _RECORD_HEADER.unpack_from(payload, position)
        start, position = position + 10, position + 10 + length
        if position > size:
            return None
        if rtype == _TYPE_A and length == 4:
            address = payload[start:position]
            answers.append(socket.inet_ntop(socket.AF_INET, address))
            addresses.append((address, ttl))
        elif rtype == _TYPE_AAAA and length == 16:
            address = payload[start:position]
            answers.append(socket.inet_ntop(socket.AF_INET6, address))
            addresses.append((address, ttl))
        elif rtype == _TYPE_CNAME:
            target = _plain_name(payload, start)
            if target is None or target[1] != position:
                return None
            answers.append(target[0])
        else:
            return None
    if nscount:  # an SOA record, as NXDOMAIN answers carry: its fields are not reported
        owner = _plain_name(payload, position)
        if owner is None or owner[1] + 10 > size:
            return None
        position = owner[1]
        rtype, _, _, length = _RECORD_HEADER.unpack_from(payload, position)
        end = position + 10 + length
        primary = _plain_name(payload, position + 10) if rtype == _TYPE_SOA else None
        mailbox = None if primary is None else _plain_name(payload, primary[1])
        if mailbox is None or mailbox[1] + 20 != end:
            return None
        position = end
    if position != size:
        return None
    return DnsAnswer(
        query=query,
        qtype=dnsqtypes.get(qtype, str(qtype)),
        rcode=RCODE_NAMES.get(flags & 0x0F, str(flags & 0x0F)),
        answers=tuple(answers),
        addresses=tuple(addresses),
    )


def _plain_name(message: bytes, position: int) -> tuple[str, int] | None:
    """The name at ``position`` (as :func:`_name` shows it) and the offset just past it.

    None unless every label is made of ``_PLAIN_LABEL_BYTES`` and every compression pointer
    points back before the name that uses it (so there are no loops), at most
    ``_MAX_PLAIN_POINTERS`` of them.
    """
    labels: list[bytes] = []
    end = None  # where the name ends in the message: after its first pointer, if any
    pointers = 0
    size = len(message)
    while position < size:
        length = message[position]
        if not length:
            if end is None:
                end = position + 1
            text = b".".join(labels).decode("ascii")
            return (text or ".")[:MAX_STRING_CHARS], end
        if length & 0xC0:
            if length & 0xC0 != 0xC0 or position + 1 >= size or pointers == _MAX_PLAIN_POINTERS:
                return None
            target = (length & 0x3F) << 8 | message[position + 1]
            if not _HEADER_BYTES <= target < position:
                return None
            if end is None:
                end = position + 2
            pointers += 1
            position = target
            continue
        label = message[position + 1 : position + 1 + length]
        if len(label) != length or label.strip(_PLAIN_LABEL_BYTES):
            return None
        labels.append(label)
        position += 1 + length
    return None


def _labels(message: bytes, position: int) -> tuple[list[bytes], int] | None:
    """The labels of the name at ``position`` and the offset just past the name; None if it is
    cut, or a compression pointer does not point back before itself (which rules out loops)."""
    labels: list[bytes] = []
    size = len(message)
    end = None  # where the name ends in the message: after its first pointer, if any
    while position < size:
        length = message[position]
        if not length:
            return labels, position + 1 if end is None else end
        if length & 0xC0:
            if length & 0xC0 != 0xC0 or position + 1 >= size:
                return None
            target = (length & 0x3F) << 8 | message[position + 1]
            if target >= position:
                return None
            if end is None:
                end = position + 2
            position = target
            continue
        label = message[position + 1 : position + 1 + length]
        if len(label) != length:
            return None
        labels.append(label)
        position += 1 + length
    return None


def _cname_targets(message: bytes, questions: int, records: int) -> list[str] | None:
    """The CNAME targets among the first ``records`` answer records, read from the message
    itself (scapy joins labels with dots, losing a dot inside a label); None if malformed."""
    position = _HEADER_BYTES
    for _ in range(questions):
        name = _labels(message, position)
        if name is None:
            return None
        position = name[1] + 4
    targets = []
    for _ in range(records):
        owner = _labels(message, position)
        if owner is None or owner[1] + 10 > len(message):
            return None
        rtype, _, _, length = _RECORD_HEADER.unpack_from(message, owner[1])
        position = owner[1] + 10 + length
        if rtype == _TYPE_CNAME:
            target = _labels(message, owner[1] + 10)
            if target is None:
                return None
            targets.append(name_text(target[0]))
    return targets


class DnsTracker:
    """Matches DNS answers to the queries they answer and turns them into DnsEvents.

    Scapy takes a few hundred microseconds per answer it parses, and a cluster's resolvers send
    the same answer (same bytes but the id) over and over: the last few thousand parsed answers
    are kept.

    Outstanding queries are kept for ``query_timeout`` seconds, at most ``max_queries`` of them;
    the ones that expire unanswered are counted in ``unanswered``.
    """

    def __init__(self, *, query_timeout: float, max_queries: int) -> None:
        self._query_timeout = query_timeout
        self._max_queries = max_queries
        self._queries: OrderedDict[bytes, float] = OrderedDict()
        self._parsed: OrderedDict[bytes, DnsAnswer] = OrderedDict()
        self.malformed = 0
        self.unanswered = 0

    def message(
        self, ts: float, payload: bytes, source: tuple[bytes, int], destination: tuple[bytes, int]
    ) -> DnsEvent | None:
        """Account one DNS message from ``source`` (address, port) to ``destination``."""
        try:
            if not is_response(payload):
                self._remember_query(ts, source, payload[:2])
                return None
            answer = self._parse(payload)
        except DnsError:
            self.malformed += 1
            return None
        key = destination[0] + destination[1].to_bytes(2, "big") + payload[:2]
        asked = self._queries.pop(key, None)
        return DnsEvent(
            client=destination[0],
            client_port=destination[1],
            server=source[0],
            server_port=source[1],
            start=ts if asked is None else asked,
            end=ts,
            latency=None if asked is None else max(ts - asked, 0.0),
            answer=answer,
        )

    def _parse(self, payload: bytes) -> DnsAnswer:
        """parse_answer, remembering recent answers: the same answer (all but its id) is common."""
        body = payload[2:]
        answer = self._parsed.get(body)
        if answer is None:
            answer = parse_answer(payload)
            if len(self._parsed) >= _MAX_PARSED_ANSWERS:
                self._parsed.popitem(last=False)
            self._parsed[body] = answer
        else:
            self._parsed.move_to_end(body)
        return answer

    def _remember_query(self, ts: float, client: tuple[bytes, int], query_id: bytes) -> None:
        queries = self._queries
        while queries:
            oldest_key, asked = next(iter(queries.items()))
            if asked + self._query_timeout > ts and len(queries) < self._max_queries:
                break
            del queries[oldest_key]
            self.unanswered += 1
        key = client[0] + client[1].to_bytes(2, "big") + query_id
        queries.pop(key, None)
        queries[key] = ts


class TcpDnsStreams:
    """Cuts DNS-over-TCP byte streams (2-byte length prefix) into messages, per direction.

    A stream is followed from the first segment seen, which is assumed to start a message;
    retransmitted segments are skipped; a gap or an oversized message drops that stream's
    buffer and counts it in ``lost``. At most ``max_streams`` streams are followed.
    """

    def __init__(self, *, max_streams: int) -> None:
        self._max_streams = max_streams
        self._streams: OrderedDict[bytes, tuple[int, bytearray]] = OrderedDict()
        self.lost = 0

    def segment(self, key: bytes, seq: int, payload: bytes) -> list[bytes]:
        """Add one segment's payload to the stream ``key``; return the messages it completes."""
        state = self._streams.pop(key, None)
        if state is None:
            buffer = bytearray()
        else:
            expected, buffer = state
            behind = (expected - seq) & 0xFFFFFFFF
            if 0 < behind < 0x80000000:  # a retransmission of bytes already taken
                self._streams[key] = state
                return []
            if behind:
                self.lost += 1
                buffer = bytearray()
        buffer += payload
        messages = []
        while len(buffer) >= 2:
            length = (buffer[0] << 8) | buffer[1]
            if len(buffer) < 2 + length:
                break
            messages.append(bytes(buffer[2 : 2 + length]))
            del buffer[: 2 + length]
        if len(buffer) > _MAX_TCP_MESSAGE + 2:
            self.lost += 1
            buffer = bytearray()
        if len(self._streams) >= self._max_streams:
            self._streams.popitem(last=False)
        self._streams[key] = ((seq + len(payload)) & 0xFFFFFFFF, buffer)
        return messages


class NameIndex:
    """For each client, the name it resolved to each address, until a TTL-ish expiry.

    A mapping lives for the record's TTL clamped to [min_ttl, max_ttl] seconds: clients keep
    using an address for a while after its TTL, so a short TTL is stretched. At most
    ``max_names`` mappings are kept (oldest dropped first).
    """

    def __init__(self, *, max_names: int, min_ttl: float, max_ttl: float) -> None:
        self._max_names = max_names
        self._min_ttl = min_ttl
        self._max_ttl = max_ttl
        self._names: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._names)

    def learn(self, client: bytes, answer: DnsAnswer, now: float) -> None:
        """Remember the addresses of ``answer`` as the queried name, for ``client``."""
        for address, ttl in answer.addresses:
            key = client + address
            self._names.pop(key, None)
            if len(self._names) >= self._max_names:
                self._names.popitem(last=False)
            expiry = now + min(max(float(ttl), self._min_ttl), self._max_ttl)
            self._names[key] = (answer.query, expiry)

    def lookup(self, client: bytes, address: bytes, now: float) -> str:
        """The name ``client`` resolved ``address`` from, or ``""`` (unknown or expired)."""
        found = self._names.get(client + address)
        if found is None:
            return ""
        name, expiry = found
        if expiry < now:
            del self._names[client + address]
            return ""
        return name
