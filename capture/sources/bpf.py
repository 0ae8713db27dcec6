"""Kernel capture filters: the BPF expression for each capture mode, compiled and validated.

``connections`` mode passes only what the tracker needs (see DESIGN.md): TCP segments with SYN,
FIN or RST set, DNS over UDP port 53 both ways, and ICMP/ICMPv6 errors (destination unreachable,
time exceeded, packet too big), for IPv4 and IPv6. ``full`` mode passes every packet of the
enabled protocols. Either is combined with a *scope* expression (e.g. the targeted pods' IPs,
handed out by the hub) and an optional user expression.

IPv6 TCP flags are read at a fixed offset (``ip6[53]``), so IPv6 TCP segments behind extension
headers are not matched in ``connections`` mode; libpcap's ``tcp[...]`` accessor is IPv4-only.

Expressions are compiled by libpcap (through scapy's ``compile_filter``) into classic BPF
instructions; :func:`compile_filter` turns libpcap's complaint into a :class:`BpfError`.

Exception hierarchy (classes in :mod:`capture.errors`)::

    CaptureError, ValueError
     └── BpfError    an expression libpcap rejects, or a mode/protocol set that captures nothing
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from capture.errors import BpfError
from capture.sources.frames import DLT_RAW, LINKTYPE_RAW
from contract.schema import PROTOCOLS
from contract.vocabulary import CAPTURE_MODES

KNOWN_PROTOCOLS = frozenset(PROTOCOLS)

TCP_CONTROL_V4 = "(tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0)"
TCP_CONTROL_V6 = "(ip6 and ip6[6] == 6 and ip6[53] & 0x07 != 0)"
DNS_UDP = "(udp port 53)"
ICMP_ERRORS_V4 = "(icmp[icmptype] == icmp-unreach or icmp[icmptype] == icmp-timxceed)"
ICMP_ERRORS_V6 = "(ip6 and ip6[6] == 58 and ip6[40] >= 1 and ip6[40] <= 3)"


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A BPF expression compiled for one link type: classic BPF ``(code, jt, jf, k)`` tuples."""

    expression: str
    linktype: int
    instructions: tuple[tuple[int, int, int, int], ...]

    def sock_filter_bytes(self) -> bytes:
        """The instructions as the kernel's ``struct sock_filter`` array (for SO_ATTACH_FILTER)."""
        return b"".join(struct.pack("HBBI", *insn) for insn in self.instructions)

    def matches(self, packet: bytes) -> bool:
        """Run the filter over one captured packet in user space (libpcap's ``bpf_filter``)."""
        program = _program(self.instructions)
        return bool(_libpcap().bpf_filter(program, packet, len(packet), len(packet)))


class _BpfInsn(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    )


@cache
def _program(instructions: tuple[tuple[int, int, int, int], ...]) -> ctypes.Array[_BpfInsn]:
    return (_BpfInsn * len(instructions))(*(_BpfInsn(*insn) for insn in instructions))


def mode_filter(mode: str, protocols: Iterable[str]) -> str:
    """The expression that passes what ``mode`` needs for the enabled ``protocols``."""
    enabled = frozenset(protocols)
    unknown = enabled - KNOWN_PROTOCOLS
    if unknown:
        known = ", ".join(sorted(KNOWN_PROTOCOLS))
        raise BpfError(f"unknown protocol(s) {', '.join(sorted(unknown))}; known: {known}")
    if mode not in CAPTURE_MODES:
        raise BpfError(f"unknown capture mode {mode!r}; expected one of {', '.join(CAPTURE_MODES)}")
    parts: list[str] = []
    if mode == "connections":
        if "tcp" in enabled:
            parts += [TCP_CONTROL_V4, TCP_CONTROL_V6]
        if "dns" in enabled:
            parts.append(DNS_UDP)
        if "icmp" in enabled:
            parts += [ICMP_ERRORS_V4, ICMP_ERRORS_V6]
    else:
        if "tcp" in enabled:
            parts.append("tcp")
        if "udp" in enabled:
            parts.append("udp")
        elif "dns" in enabled:
            parts.append(DNS_UDP)
        if "icmp" in enabled:
            parts += ["icmp", "icmp6"]
    if not parts:
        chosen = ", ".join(sorted(enabled)) or "none"
        raise BpfError(f"{mode} mode with protocols {chosen} would capture nothing")
    return " or ".join(parts)


def build_filter(mode: str, protocols: Iterable[str], scope: str = "", user: str = "") -> str:
    """The full kernel filter: the mode's expression AND the scope AND the user's expression."""
    clauses = [mode_filter(mode, protocols)]
    clauses += [expr.strip() for expr in (scope, user) if expr.strip()]
    if len(clauses) == 1:
        return clauses[0]
    return " and ".join(f"({clause})" for clause in clauses)


def compile_filter(expression: str, linktype: int) -> CompiledFilter:
    """Compile ``expression`` for ``linktype`` with libpcap; raise BpfError if it is rejected."""
    return _compile_cached(expression, DLT_RAW if linktype == LINKTYPE_RAW else linktype)


@cache
def _compile_cached(expression: str, linktype: int) -> CompiledFilter:
    from scapy.arch.common import compile_filter as scapy_compile  # noqa: PLC0415 (slow import)
    from scapy.arch.common import free_filter  # noqa: PLC0415
    from scapy.error import Scapy_Exception  # noqa: PLC0415

    if "\x00" in expression:
        raise BpfError("capture filter contains a NUL character")
    try:
        program = scapy_compile(expression, linktype=linktype)
    except Scapy_Exception as exc:
        raise BpfError(f"bad capture filter {expression!r}: {_reason(str(exc))}") from None
    except (ImportError, OSError) as exc:
        raise BpfError(f"cannot compile capture filters (libpcap missing?): {exc}") from None
    try:
        instructions = tuple(
            (insn.code, insn.jt, insn.jf, insn.k & 0xFFFFFFFF)
            for insn in program.bf_insns[: program.bf_len]
        )
    finally:
        free_filter(program)
    return CompiledFilter(expression, linktype, instructions)


def _reason(message: str) -> str:
    """libpcap's reason from scapy's ``Failed to compile filter expression 'x' (reason)``."""
    head, sep, tail = message.rpartition("(")
    return tail.rstrip(")") if sep and head else message


@cache
def _libpcap() -> ctypes.CDLL:
    name = ctypes.util.find_library("pcap")
    if name is None:
        raise BpfError("libpcap is not installed (apt-get install libpcap0.8)")
    library = ctypes.CDLL(name)
    library.bpf_filter.restype = ctypes.c_uint
    library.bpf_filter.argtypes = (
        ctypes.POINTER(_BpfInsn),
        ctypes.c_char_p,
        ctypes.c_uint,
        ctypes.c_uint,
    )
    return library
