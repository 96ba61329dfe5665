"""
The raw edge: what a real LAN needs.  Clients without an address broadcast
from 0.0.0.0 and can only be answered by a frame addressed to their
hardware address; a UDP socket bound to an address sees neither.  This is
Kea's default ``"dhcp-socket-type": "raw"`` (``PktFilterLPF``, Linux Packet
Filtering), redone over a Twisted ``IReadDescriptor``.

Per (interface, address) Kea opens, and so do we [src
``src/lib/dhcp/pkt_filter_lpf.cc``, ``pkt_filter.cc``, ``protocol_util.cc``
at Kea-2.2.0]:

* a *fallback* UDP socket bound to (address, server port) — nothing is read
  from it (it is drained and discarded), it only exists so that the kernel
  does not answer ICMP port unreachable, and so that a second server on the
  same address fails to start ("is another DHCP server running?");
* an ``AF_PACKET``/``SOCK_RAW`` socket for all protocols, bound to the
  interface, with a classic BPF program that keeps unfragmented IPv4/UDP
  frames sent to 255.255.255.255 or to the socket's address, to the server
  port (:func:`bpf_program`).  The same checks are made again in Python
  (:func:`parse_frame`), so a missing filter only costs CPU; frames the
  kernel reports as our own outgoing ones, or from another interface, are
  skipped.

Receiving: Ethernet, IPv4 (options skipped by IHL) and UDP headers are
parsed; anything that is not such a frame, or whose lengths do not add up,
is dropped silently (never raises).  Checksums are not verified (Kea does
not).  ``Arrival.local_addr`` is the socket's address (Kea replaces the
broadcast destination by it, ``adjustIfaceData``), ``to_broadcast`` says the
IP destination was 255.255.255.255, ``socket_type`` is ``raw``.

Sending (:func:`build_frame`, Kea's ``writeEthernetHeader`` /
``writeIpUdpHeader``): Ethernet source = the interface's MAC (zeros when it
has none, e.g. ``lo``); Ethernet destination = ``Reply.dest_mac`` when the
engine sets one, else the Ethernet source of the query the reply answers —
Kea copies the query's remote hardware address into the response
(``Dhcpv4Exchange::copyDefaultFields``), which is the client for a direct
query (its chaddr, in practice) and the relay for a relayed one — and
ff:ff:ff:ff:ff:ff only when neither is known.  IPv4: TOS 0x10 (low delay),
id 0, DF, TTL 128, header checksum; UDP checksum over the pseudo-header,
computed as Kea does (which writes 0 in the rare case the complement is 0).
Source IP = ``Reply.source_addr``, or the socket's address when that is
0.0.0.0; source port = the server port.

Privileges: opening the ``AF_PACKET`` socket needs root or CAP_NET_RAW
(``PermissionError`` otherwise, reported by :mod:`kea_twisted.net.sockets`
as a socket that failed to open); binding the fallback socket to a port
below 1024 needs CAP_NET_BIND_SERVICE.  Kea refuses raw sockets on the
loopback interface; so does :mod:`kea_twisted.net.sockets`.

Tests: tests/test_net_raw.py
"""

from __future__ import annotations

import ctypes
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Optional, Tuple

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorFDSet, IReactorTime, IReadDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

from kea_twisted.datagrams import ANY, BROADCAST, Arrival, IPacketHandler, Reply
from kea_twisted.logs import kea_logger
from kea_twisted.net.udp import log_send_fail, handle_datagram, open_udp_socket

__all__ = [
    "ParsedFrame",
    "parse_frame",
    "build_frame",
    "checksum",
    "bpf_program",
    "attach_filter",
    "open_raw_socket",
    "RawDhcp4Port",
    "ETH_P_IP",
    "ETH_P_ALL",
    "BROADCAST_MAC",
    "ZERO_MAC",
]

ETH_P_IP = 0x0800
ETH_P_ALL = 0x0003
ETHERNET_HEADER_LEN = 14
MIN_IP_HEADER_LEN = 20
UDP_HEADER_LEN = 8
IPPROTO_UDP = 17
IPTOS_LOWDELAY = 0x10
IP_DONT_FRAGMENT = 0x4000
KEA_TTL = 128
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\x00" * 6

packets_log = kea_logger("packets")

_ETHERNET = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")


@dataclass(frozen=True)
class ParsedFrame:
    """An Ethernet/IPv4/UDP frame taken apart."""

    dst_mac: bytes
    src_mac: bytes
    src_addr: IPv4Address
    dst_addr: IPv4Address
    src_port: int
    dst_port: int
    payload: bytes


def parse_frame(
    frame: bytes, server_port: int, local_addr: Optional[IPv4Address] = None
) -> Optional[ParsedFrame]:
    """The DHCP payload of ``frame`` and its addresses, or None when the
    frame is not for us: not IPv4, not UDP, a fragment, a header length
    below 5 words, lengths that exceed the frame, another destination port,
    or (when ``local_addr`` is given) an IP destination that is neither
    255.255.255.255 nor ``local_addr`` — the checks of Kea's BPF program plus
    the length checks Kea's decoder lacks.  Never raises.

    The payload is cut at the UDP length, so Ethernet padding of short
    frames is not taken as DHCP data.
    """
    if len(frame) < ETHERNET_HEADER_LEN + MIN_IP_HEADER_LEN + UDP_HEADER_LEN:
        return None
    dst_mac, src_mac, ethertype = _ETHERNET.unpack_from(frame, 0)
    if ethertype != ETH_P_IP:
        return None
    ip = ETHERNET_HEADER_LEN
    ver_ihl, _tos, total_len, _ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(frame, ip)
    ihl = (ver_ihl & 0x0F) * 4
    if ver_ihl >> 4 != 4 or ihl < MIN_IP_HEADER_LEN or proto != IPPROTO_UDP:
        return None
    if frag & 0x1FFF or frag & 0x2000:  # a fragment (offset, or more-fragments)
        return None
    if total_len < ihl + UDP_HEADER_LEN or ip + total_len > len(frame):
        return None
    udp = ip + ihl
    src_port, dst_port, udp_len, _ucsum = _UDP.unpack_from(frame, udp)
    if dst_port != server_port:
        return None
    if udp_len < UDP_HEADER_LEN or udp_len > total_len - ihl:
        return None
    dst_addr = IPv4Address(dst)
    if local_addr is not None and dst_addr != BROADCAST and dst_addr != local_addr:
        return None
    return ParsedFrame(
        dst_mac=dst_mac,
        src_mac=src_mac,
        src_addr=IPv4Address(src),
        dst_addr=dst_addr,
        src_port=src_port,
        dst_port=dst_port,
        payload=bytes(frame[udp + UDP_HEADER_LEN : udp + udp_len]),
    )


def checksum(data: bytes, initial: int = 0) -> int:
    """The 16-bit one's complement sum of ``data`` (big-endian words, a last
    odd byte padded with zero) added to ``initial``, with end-around carry —
    Kea's ``calcChecksum``; not yet complemented."""
    if len(data) % 2:
        data = data + b"\x00"
    total = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def build_frame(
    payload: bytes,
    *,
    src_mac: bytes,
    dst_mac: bytes,
    src_addr: IPv4Address,
    dst_addr: IPv4Address,
    src_port: int,
    dst_port: int,
) -> bytes:
    """An Ethernet II frame carrying ``payload`` in UDP over IPv4, with the
    header values Kea 2.2 writes (see the module docstring)."""
    if len(src_mac) != 6 or len(dst_mac) != 6:
        raise ValueError("Ethernet addresses are 6 bytes")
    udp_len = UDP_HEADER_LEN + len(payload)
    src, dst = IPv4Address(src_addr).packed, IPv4Address(dst_addr).packed
    header = _IPV4.pack(
        0x45, IPTOS_LOWDELAY, MIN_IP_HEADER_LEN + udp_len, 0, IP_DONT_FRAGMENT, KEA_TTL, IPPROTO_UDP, 0, src, dst
    )
    header = header[:10] + struct.pack("!H", ~checksum(header) & 0xFFFF) + header[12:]
    pseudo = checksum(src + dst, IPPROTO_UDP + udp_len)
    udp_head = struct.pack("!HHH", src_port, dst_port, udp_len)
    udp_sum = ~checksum(udp_head, checksum(payload, pseudo)) & 0xFFFF
    return _ETHERNET.pack(dst_mac, src_mac, ETH_P_IP) + header + udp_head + struct.pack("!H", udp_sum) + payload


# Classic BPF opcodes (linux/filter.h).
_BPF_LD, _BPF_LDX, _BPF_JMP, _BPF_RET = 0x00, 0x01, 0x05, 0x06
_BPF_W, _BPF_H, _BPF_B = 0x00, 0x08, 0x10
_BPF_ABS, _BPF_IND, _BPF_MSH = 0x20, 0x40, 0xA0
_BPF_JEQ, _BPF_JSET, _BPF_K = 0x10, 0x40, 0x00
_SOCK_FILTER = struct.Struct("=HBBI")


def bpf_program(local_addr: IPv4Address, port: int) -> Tuple[Tuple[int, int, int, int], ...]:
    """The filter's instructions as ``(code, jt, jf, k)``: accept an
    unfragmented IPv4/UDP frame to ``port`` whose IP destination is
    255.255.255.255 or ``local_addr``; drop everything else."""
    drop = 13
    return (
        (_BPF_LD | _BPF_H | _BPF_ABS, 0, 0, 12),  # 0: ethertype
        (_BPF_JMP | _BPF_JEQ | _BPF_K, 0, drop - 2, ETH_P_IP),  # 1
        (_BPF_LD | _BPF_B | _BPF_ABS, 0, 0, ETHERNET_HEADER_LEN + 9),  # 2: IP protocol
        (_BPF_JMP | _BPF_JEQ | _BPF_K, 0, drop - 4, IPPROTO_UDP),  # 3
        (_BPF_LD | _BPF_H | _BPF_ABS, 0, 0, ETHERNET_HEADER_LEN + 6),  # 4: flags/fragment offset
        (_BPF_JMP | _BPF_JSET | _BPF_K, drop - 6, 0, 0x1FFF),  # 5
        (_BPF_LD | _BPF_W | _BPF_ABS, 0, 0, ETHERNET_HEADER_LEN + 16),  # 6: IP destination
        (_BPF_JMP | _BPF_JEQ | _BPF_K, 1, 0, 0xFFFFFFFF),  # 7: broadcast -> 9
        (_BPF_JMP | _BPF_JEQ | _BPF_K, 0, drop - 9, int(IPv4Address(local_addr))),  # 8
        (_BPF_LDX | _BPF_B | _BPF_MSH, 0, 0, ETHERNET_HEADER_LEN),  # 9: X = IP header length
        (_BPF_LD | _BPF_H | _BPF_IND, 0, 0, ETHERNET_HEADER_LEN + 2),  # 10: UDP destination port
        (_BPF_JMP | _BPF_JEQ | _BPF_K, 0, 1, port),  # 11
        (_BPF_RET | _BPF_K, 0, 0, 0xFFFFFFFF),  # 12: whole frame
        (_BPF_RET | _BPF_K, 0, 0, 0),  # 13: drop
    )


def attach_filter(sock: socket.socket, program: Tuple[Tuple[int, int, int, int], ...]) -> None:
    """``SO_ATTACH_FILTER`` with a ``struct sock_fprog`` built in ctypes (the
    kernel copies the program, so the buffer may be freed afterwards)."""
    insns = b"".join(_SOCK_FILTER.pack(*insn) for insn in program)
    buf = ctypes.create_string_buffer(insns, len(insns))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_raw_socket(iface: str, addr: IPv4Address, port: int) -> Tuple[socket.socket, socket.socket]:
    """``(packet_socket, fallback_socket)`` for ``iface``/``addr``, both
    non-blocking, as Kea's ``PktFilterLPF::openSocket``: the fallback first
    (its bind failing means another server holds the port), then the packet
    socket with the filter, bound to the interface.  Raises ``OSError``
    (``PermissionError`` without CAP_NET_RAW)."""
    fallback = open_udp_socket(iface, addr, port)
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            attach_filter(sock, bpf_program(addr, port))
            sock.bind((iface, ETH_P_ALL))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
    except BaseException:
        fallback.close()
        raise
    return sock, fallback


def _mac_of(sock: Any) -> bytes:
    try:
        mac = sock.getsockname()[4]
    except (OSError, IndexError, TypeError, AttributeError):
        return ZERO_MAC
    return mac if len(mac) == 6 else ZERO_MAC


@implementer(IReadDescriptor)
class _Drain:
    """Reads and forgets what arrives on the fallback socket (Kea empties it
    on every receive so that its buffer does not fill)."""

    def __init__(self, sock: Any, limit: int = 64) -> None:
        self.sock = sock
        self.limit = limit

    def fileno(self) -> int:
        return self.sock.fileno()

    def doRead(self) -> None:
        for _ in range(self.limit):
            try:
                self.sock.recv(65535)
            except OSError:
                return

    def connectionLost(self, reason: Failure) -> None:
        pass

    def logPrefix(self) -> str:
        return "Dhcp4FallbackSocket"


@implementer(IReadDescriptor)
class RawDhcp4Port:
    """One raw service socket on the reactor.

    :param reactor: provides ``IReactorFDSet`` (and ``IReactorTime`` unless
        ``clock`` is given).
    :param sock: the packet socket (anything with ``fileno``, ``recvfrom``,
        ``sendto``, ``close``).
    :param fallback: the fallback UDP socket, drained and closed with us.
    :param local_mac: the interface's hardware address (default: read from
        the packet socket's name; zeros when it has none).
    """

    def __init__(
        self,
        reactor: IReactorFDSet,
        handler: IPacketHandler,
        iface: str,
        local_addr: IPv4Address,
        port: int,
        sock: Any,
        fallback: Any = None,
        local_mac: Optional[bytes] = None,
        clock: Optional[IReactorTime] = None,
        reads_per_wakeup: int = 64,
    ) -> None:
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.handler = handler
        self.iface = iface
        self.local_addr = IPv4Address(local_addr)
        self.port = port
        self.sock = sock
        self.local_mac = local_mac if local_mac is not None else _mac_of(sock)
        self.reads_per_wakeup = reads_per_wakeup
        self._drain = _Drain(fallback) if fallback is not None else None
        self.listening = False

    # IReadDescriptor
    def fileno(self) -> int:
        return self.sock.fileno()

    def logPrefix(self) -> str:
        return f"RawDhcp4Port({self.iface}/{self.local_addr}:{self.port})"

    def doRead(self) -> None:
        for _ in range(self.reads_per_wakeup):
            try:
                frame, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                packets_log.error(
                    "{msgid} error on attempt to receive packet: {reason}",
                    msgid="DHCP4_BUFFER_RECEIVE_FAIL",
                    reason=str(e),
                )
                return
            self.frameReceived(frame, addr)

    def connectionLost(self, reason: Failure) -> None:
        self._close()

    # Listening
    def startListening(self) -> None:
        """Register with the reactor (both sockets)."""
        if not self.listening:
            self.listening = True
            self.reactor.addReader(self)
            if self._drain is not None:
                self.reactor.addReader(self._drain)

    def stopListening(self) -> Deferred:
        """Unregister and close both sockets."""
        if self.listening:
            self.listening = False
            self.reactor.removeReader(self)
            if self._drain is not None:
                self.reactor.removeReader(self._drain)
        self._close()
        return succeed(None)

    def _close(self) -> None:
        for s in (self.sock, self._drain.sock if self._drain is not None else None):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass

    def getHost(self) -> Tuple[str, IPv4Address, int]:
        return (self.iface, self.local_addr, self.port)

    # Packets
    def frameReceived(self, frame: bytes, addr: Any = None) -> None:
        """One frame from the packet socket: ``addr`` is the kernel's
        ``(ifname, proto, pkttype, hatype, hwaddr)`` when known."""
        if addr and isinstance(addr, tuple) and len(addr) >= 3:
            if addr[2] == PACKET_OUTGOING or (addr[0] and addr[0] != self.iface):
                return
        parsed = parse_frame(frame, self.port, self.local_addr)
        if parsed is None:
            return
        arrival = Arrival(
            iface=self.iface,
            local_addr=self.local_addr,
            local_port=self.port,
            remote_addr=parsed.src_addr,
            remote_port=parsed.src_port,
            to_broadcast=parsed.dst_addr == BROADCAST,
            socket_type="raw",
            received=self.clock.seconds(),
        )
        query_mac = parsed.src_mac
        handle_datagram(self.handler, parsed.payload, arrival, lambda reply: self.sendReply(reply, query_mac))

    def frameFor(self, reply: Reply, query_mac: Optional[bytes] = None) -> bytes:
        """The frame that carries ``reply`` (see the module docstring for
        the choice of addresses)."""
        dst_mac = reply.dest_mac or query_mac or BROADCAST_MAC
        source = reply.source_addr if reply.source_addr != ANY else self.local_addr
        return build_frame(
            reply.data,
            src_mac=self.local_mac,
            dst_mac=dst_mac,
            src_addr=source,
            dst_addr=reply.dest_addr,
            src_port=self.port,
            dst_port=reply.dest_port,
        )

    def sendReply(self, reply: Reply, query_mac: Optional[bytes] = None) -> None:
        """Build and write the frame; failures are logged
        (``DHCP4_PACKET_SEND_FAIL``), never raised."""
        try:
            frame = self.frameFor(reply, query_mac)
            self.sock.sendto(frame, (self.iface, ETH_P_IP))
        except Exception as e:
            log_send_fail(reply, e)

