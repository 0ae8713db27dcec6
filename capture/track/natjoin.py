"""NAT join: the copies of one connection that a node's address rewrites make, counted once.

A node sees a rewritten connection more than once: a pod's SYN to a Service VIP on the pod's
veth, and the same SYN to the chosen backend after kube-proxy's DNAT; a pod's SYN to the outside
and the same SYN from the node's address after masquerade; both rewrites at once for a NodePort
with ``externalTrafficPolicy: Cluster``. Only the addresses and ports change, so a copy is
recognised by what NAT leaves alone:

- TCP: a SYN with the same initial sequence number (ISN) and TCP options (Linux's timestamp
  option starts at a random value per connection) as a SYN seen within ``window`` seconds, and
  either the same client port (DNAT, and SNAT that keeps the port), the same server address
  and port (SNAT), or, when both were rewritten (a NodePort's DNAT and ``MASQUERADE
  --random-fully``), the same timestamp option value. A 32-bit random ISN plus a port or a
  32-bit timestamp makes a false match vanishingly rare. Once
  joined, every later segment of the copy's 4-tuple, in both directions (SYN-ACK, data, FIN,
  RST), is a copy too; the ISNs travel unchanged in all of them. When the rewritten SYN itself
  was not seen (the kernel dropped it), the backend's SYN-ACK to the same client address and
  port, acknowledging the ISN, joins the copy.
- UDP: a datagram with the same IPv4 identification, length and first payload bytes as one seen
  within ``window``, and either the same source or the same destination address and port.
- An ICMP error quoting a copy's 4-tuple is the copy of the error that conntrack forwards,
  rewritten, to the original client: it is dropped in favour of that one.

The first copy seen is the original: on a node a packet is captured as it arrives (before the
PREROUTING DNAT) and as it leaves (after the POSTROUTING SNAT), in that order. The pipeline
tracks the original only and drops the copies (``NatJoin.copies``); :meth:`NatJoin.rewrite`
gives what the copies showed, so the entry says where the connection really went (the backend
reached after DNAT) and what was rewritten (the address dialed, the SNAT address).

What a node cannot show is not invented: a host-network client's own connection to a Service is
DNATed before the capture sees it (the OUTPUT hook), so it appears with the backend only.

Memory is bounded: a join is forgotten ``linger`` seconds after its connection ended (late
copies of the last ACK are still recognised), at most ``max_joins`` are held (the oldest is
evicted and counted), and candidate SYNs and datagrams are kept ``window`` seconds.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from capture.decode.packets import ACK, SYN, Packet, TcpOptions, reverse_key, split_key

_UDP_PAYLOAD_BYTES = 32
_MASK = 0xFFFFFFFF
_Syn = tuple[float, bytes, TcpOptions | None]  # when, flow key, TCP options of a candidate SYN
_SynKeys = tuple[float, tuple[int, int], tuple[int, bytes], tuple[int, int] | None]


class Rewrite:
    """What NAT changed in one connection, against its original (first seen) 4-tuple.

    ``reached`` / ``reached_port``: the server actually reached after DNAT (None when the
    server was not rewritten); ``snat`` / ``snat_port``: the client's address after SNAT (None
    when the client was not rewritten). ``isn`` is the client ISN of a TCP connection (None for
    UDP), so that a later connection reusing the 4-tuple does not inherit the rewrite.
    """

    __slots__ = ("copies", "isn", "reached", "reached_port", "snat", "snat_port")

    def __init__(self, isn: int | None) -> None:
        self.isn = isn
        self.reached: bytes | None = None
        self.reached_port = 0
        self.snat: bytes | None = None
        self.snat_port = 0
        self.copies: list[bytes] = []  # the copies' client keys


class NatJoin:
    """Recognises NAT copies of TCP connections, UDP flows and ICMP errors (module docstring)."""

    def __init__(self, *, window: float, linger: float, max_joins: int) -> None:
        self._window = window
        self._linger = linger
        self._max_joins = max_joins
        self._aliases: dict[bytes, bytes] = {}  # copy key (either direction) -> original key
        self._joins: OrderedDict[bytes, Rewrite] = OrderedDict()  # original client key
        self._syns: dict[tuple[int, int], _Syn] = {}  # (isn, client port)
        self._syns_to: dict[tuple[int, bytes], _Syn] = {}  # (isn, server address and port)
        self._syns_stamped: dict[tuple[int, int], _Syn] = {}  # (isn, timestamp option value)
        self._syn_expiry: deque[_SynKeys] = deque()
        self._datagrams: dict[bytes, tuple[float, bytes]] = {}
        self._datagram_expiry: deque[tuple[float, bytes]] = deque()
        self._ended: deque[tuple[float, bytes, Rewrite]] = deque()
        self.copies = 0
        self.evicted = 0

    @property
    def joins(self) -> int:
        """How many joined connections are held now."""
        return len(self._joins)

    def known_copy(self, key: bytes) -> bool:
        """Whether the flow key ``key`` belongs to a joined copy (count the packet if so)."""
        if key in self._aliases:
            self.copies += 1
            return True
        return False

    def tcp_copy(self, ts: float, packet: Packet) -> bool:
        """Whether a TCP segment is a NAT copy (count it); else remember a SYN as a candidate."""
        key = packet.key
        if key in self._aliases:
            self.copies += 1
            return True
        handshake = packet.flags & (SYN | ACK)
        if handshake == SYN | ACK:
            return self._syn_ack_copy(ts, packet)
        if handshake != SYN:
            return False
        isn = packet.seq
        by_port = (isn, packet.sport)
        by_server = (isn, _server_of(key))
        options = packet.options
        by_stamp = (
            None if options is None or options.timestamp is None else (isn, options.timestamp[0])
        )
        found = self._syns.get(by_port) or self._syns_to.get(by_server)
        if found is None and by_stamp is not None:
            found = self._syns_stamped.get(by_stamp)
        if (
            found is not None
            and ts - found[0] <= self._window
            and found[1] != key
            and found[2] == options
        ):
            self._join(found[1], key, isn)
            self.copies += 1
            return True
        self._syns[by_port] = self._syns_to[by_server] = syn = (ts, key, options)
        if by_stamp is not None:
            self._syns_stamped[by_stamp] = syn
        self._syn_expiry.append((ts + self._window, by_port, by_server, by_stamp))
        self._expire_syns(ts)
        return False

    def _syn_ack_copy(self, ts: float, packet: Packet) -> bool:
        """A SYN-ACK from a DNAT backend to a client whose SYN was seen only before the DNAT
        (its rewritten copy lost, by the kernel or a filter): same client address and port, and
        it acknowledges that SYN's ISN."""
        isn = (packet.ack - 1) & _MASK
        found = self._syns.get((isn, packet.dport))
        if found is None or ts - found[0] > self._window:
            return False
        original, copy = found[1], reverse_key(packet.key)
        half = (len(copy) - 4) // 2
        if original == copy or original[:half] != copy[:half]:
            return False
        self._join(original, copy, isn)
        self.copies += 1
        return True

    def udp_copy(self, ts: float, packet: Packet) -> bool:
        """Whether a UDP datagram is a NAT copy (count it); else remember it as a candidate."""
        key = packet.key
        if key in self._aliases:
            self.copies += 1
            return True
        data, l3 = packet.data, packet.l3_start
        start = packet.payload_start
        ip_id = data[l3 + 4 : l3 + 6] if data[l3] >> 4 == 4 else b""
        body = (
            ip_id
            + packet.payload_len.to_bytes(4)
            + data[start : min(start + _UDP_PAYLOAD_BYTES, packet.captured_end)]
        )
        half = (len(key) - 4) // 2
        from_source = b"s" + key[:half] + key[-4:-2] + body
        to_destination = b"d" + key[half : 2 * half] + key[-2:] + body
        found = self._datagrams.get(from_source) or self._datagrams.get(to_destination)
        if found is not None and ts - found[0] <= self._window and found[1] != key:
            original = found[1]
            if original != reverse_key(key):
                self._join(original, key, None)
                self.copies += 1
                return True
        self._datagrams[from_source] = self._datagrams[to_destination] = (ts, key)
        expiry = self._datagram_expiry
        expiry.append((ts + self._window, from_source))
        expiry.append((ts + self._window, to_destination))
        while expiry[0][0] < ts:
            _, old = expiry.popleft()
            seen = self._datagrams.get(old)
            if seen is not None and seen[0] + self._window < ts:
                del self._datagrams[old]
        return False

    def icmp_copy(self, quoted_key: bytes) -> bool:
        """Whether an ICMP error quoting the TCP/UDP flow ``quoted_key`` is about a NAT copy."""
        if quoted_key in self._aliases:
            self.copies += 1
            return True
        return False

    def rewrite(self, client_key: bytes, isn: int | None = None) -> Rewrite | None:
        """What NAT changed in the connection tracked as ``client_key`` (None: nothing)."""
        found = self._joins.get(client_key)
        if found is None or found.isn != isn:
            return None
        return found

    def ended(self, client_key: bytes, ts: float) -> None:
        """The connection tracked as ``client_key`` ended at ``ts``: forget its join later."""
        found = self._joins.get(client_key)
        if found is not None:
            self._ended.append((ts + self._linger, client_key, found))

    def tick(self, now: float) -> None:
        """Forget the joins whose connections ended ``linger`` seconds before ``now``."""
        ended = self._ended
        while ended and ended[0][0] <= now:
            _, client_key, rewrite = ended.popleft()
            if self._joins.get(client_key) is rewrite:
                self._forget(client_key)
        self._expire_syns(now)

    # --- internals ---------------------------------------------------------------------------

    def _join(self, original: bytes, copy: bytes, isn: int | None) -> None:
        rewrite = self._joins.get(original)
        if rewrite is None or rewrite.isn != isn:
            if rewrite is not None:
                self._forget(original)
            while len(self._joins) >= self._max_joins:
                oldest = next(iter(self._joins))
                self._forget(oldest)
                self.evicted += 1
            rewrite = self._joins[original] = Rewrite(isn)
        client, server, client_port, server_port = split_key(original)
        copy_client, copy_server, copy_client_port, copy_server_port = split_key(copy)
        if (copy_server, copy_server_port) != (server, server_port):
            rewrite.reached, rewrite.reached_port = copy_server, copy_server_port
        if (copy_client, copy_client_port) != (client, client_port):
            rewrite.snat, rewrite.snat_port = copy_client, copy_client_port
        rewrite.copies.append(copy)
        self._aliases[copy] = original
        self._aliases[reverse_key(copy)] = reverse_key(original)

    def _forget(self, client_key: bytes) -> None:
        rewrite = self._joins.pop(client_key)
        for copy in rewrite.copies:
            self._aliases.pop(copy, None)
            self._aliases.pop(reverse_key(copy), None)

    def _expire_syns(self, now: float) -> None:
        expiry = self._syn_expiry
        while expiry and expiry[0][0] < now:
            _, by_port, by_server, by_stamp = expiry.popleft()
            seen = self._syns.get(by_port)
            if seen is not None and seen[0] + self._window < now:
                del self._syns[by_port]
            seen = self._syns_to.get(by_server)
            if seen is not None and seen[0] + self._window < now:
                del self._syns_to[by_server]
            if by_stamp is not None:
                seen = self._syns_stamped.get(by_stamp)
                if seen is not None and seen[0] + self._window < now:
                    del self._syns_stamped[by_stamp]


def _server_of(key: bytes) -> bytes:
    """The server address and port of a client-to-server flow key."""
    half = (len(key) - 4) // 2
    return key[half : 2 * half] + key[-2:]
