"""The capture worker's errors, in one hierarchy; third-party errors are translated where called.

scapy's, redis-py's and the kernel's errors (OSError from sockets and netlink) are caught in the
module that calls them and raised again as one of these, with a message for people::

    Exception
     └── CaptureError                 anything the worker reports on purpose
          ├── UsageError              a setup problem: one line on stderr, exit status 2
          ├── BpfError (ValueError)   a capture filter libpcap cannot compile
          ├── SnifferError            live capture cannot start or continue
          │    ├── InterfaceError          no such interface, or it went away
          │    └── CapturePermissionError  no CAP_NET_RAW
          ├── LinkError (OSError)     rtnetlink could not list the interfaces
          ├── PcapError (OSError)     a pcap/pcapng file that cannot be read
          ├── DecodeError (ValueError)     a frame the decoder cannot use (counted, never fatal)
          │    ├── MalformedError          truncated or inconsistent headers
          │    ├── UnsupportedError        a protocol podscope does not decode
          │    └── FragmentError           an IP fragment (not reassembled)
          ├── DnsError (ValueError)   a DNS message that cannot be parsed (counted)
          ├── PublishError            a bad Redis URL, or Redis unreachable where required
          └── RingError               the pcap ring's directory cannot be used
"""

from __future__ import annotations


class CaptureError(Exception):
    """Every error podscope's capture package raises on purpose derives from this."""


class UsageError(CaptureError):
    """A setup problem reported as one line with exit code 2."""


class BpfError(CaptureError, ValueError):
    """A capture filter that cannot be used: libpcap's reason, or why it would capture nothing."""


class SnifferError(CaptureError):
    """Live capture cannot start or continue; the message says why in one line."""


class InterfaceError(SnifferError):
    """No such interface, or an interface whose link type podscope cannot decode."""


class CapturePermissionError(SnifferError):
    """Opening a packet socket needs root or CAP_NET_RAW."""


class LinkError(CaptureError, OSError):
    """The kernel refused or garbled the link dump."""


class PcapError(CaptureError, OSError):
    """A pcap/pcapng file that cannot be read."""


class DecodeError(CaptureError, ValueError):
    """A frame that cannot be turned into a Packet."""


class MalformedError(DecodeError):
    """Truncated or inconsistent headers."""


class UnsupportedError(DecodeError):
    """A link type, ethertype or transport protocol that is not tracked."""


class FragmentError(DecodeError):
    """A non-first IP fragment: it carries no transport header."""


class DnsError(CaptureError, ValueError):
    """A payload that is not a well-formed DNS answer."""


class PublishError(CaptureError):
    """A bad Redis URL, or Redis unreachable where an answer is required."""


class RingError(CaptureError):
    """An unusable ring directory or size, or an export that cannot be written."""
