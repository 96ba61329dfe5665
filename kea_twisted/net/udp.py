"""
The UDP edge: one ``Dhcp4Protocol`` per (interface, address) socket, as Kea's
``PktFilterInet`` opens them for ``"dhcp-socket-type": "udp"``.

A datagram in becomes ``handler.receive(data, Arrival(...))``; the
:class:`~kea_twisted.datagrams.Reply` that comes back (at once or through a
Deferred, e.g. a query parked by HA) is written to ``(dest_addr, dest_port)``.
Nothing the handler does, raises or errbacks reaches the reactor: it is
logged with ``log.failure`` (``DHCP4_PACKET_PROCESS_EXCEPTION``).

What Kea 2.2 does with a UDP socket, and so do we [src
``src/lib/dhcp/pkt_filter_inet.cc``, ``cfg_iface.cc``; obs spec/dhcp4.md §13]:

* the socket is bound to the interface address and the server port, never to
  0.0.0.0: it receives only datagrams sent to that address, so
  ``Arrival.local_addr`` is the bound address and ``to_broadcast`` is always
  False.  Kea asks for ``IP_PKTINFO`` but, bound like this, the destination
  it reports is always the bound address; we do not need ``recvmsg`` (which
  Twisted's ``udp.Port`` does not use) for anything.
* no ``SO_BROADCAST`` and no ``SO_BINDTODEVICE``: Kea sets both only on
  broadcast-capable sockets, and ``CfgIface::openSockets`` never asks for
  broadcast in UDP mode.  So a reply to 255.255.255.255 fails with
  ``EACCES`` ("Permission denied"), which Kea logs as
  ``DHCP4_PACKET_SEND_FAIL`` and we do too [obs].  (Not setting it also
  keeps a socket bound to 127.0.0.x from ever routing a broadcast out of a
  real interface.)  :func:`open_udp_socket` takes ``broadcast=True`` and
  ``bind_to_device=True`` for callers that want them anyway.
* no ``SO_REUSEADDR``: a second server on the same address and port fails
  to bind, as Kea's does ("Failed to bind socket …"), instead of silently
  sharing the port.

The socket is created, configured and bound here, then handed to the
reactor with ``IReactorSocket.adoptDatagramPort`` (``listenUDP`` gives no
chance to set options before ``bind``).

With ``multi-threading`` enabled, Kea queues received packets for its
worker threads in a queue of ``packet-queue-size`` entries; when a packet
arrives with the queue full, the oldest waiting packets are dropped to make
room (``ThreadPoolQueue::pushBack``) and ``DHCP4_PACKET_QUEUE_FULL`` is
logged at debug level 10 — no statistic counts them (they never reach
``processPacket``, where ``pkt4-received`` is counted) [src Kea 2.2
``dhcp4_srv.cc`` ``run_one``, ``util/thread_pool.h``].  A
:class:`ReceiveBacklog` is that queue on the reactor: the sockets sharing it
put every datagram of one reactor turn in it (Twisted's ``udp.Port.doRead``
reads up to ``maxThroughput`` bytes of datagrams per readiness), keeping the
newest ``packet-queue-size``; a ``callLater(0)`` processes them once the
turn's reads are done.  Past saturation the server so answers fresh queries
instead of working through stale ones their clients have given up on.

A backlog given a ``group`` (the lease file's
:meth:`~kea_twisted.leasefile.LeaseFile.grouped`) processes each turn inside
it, so the turn's lease rows are written with one ``write(2)``, and holds
the replies produced meanwhile until the group has ended: no reply leaves
before its lease row is written.  If that write fails, the turn's held
replies are dropped (``DHCP4_PACKET_SEND_FAIL`` for each).

Tests: tests/test_net_udp.py
"""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Address
from collections import deque
from typing import Any, Callable, ContextManager, Deque, Dict, List, Optional, Tuple

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IReactorSocket, IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import LogLevel

from kea_twisted.datagrams import Arrival, Drop, IPacketHandler, Reply
from kea_twisted.logs import DBG_TRACE_BASIC, enabled, kea_logger

__all__ = [
    "Dhcp4Protocol",
    "ReceiveBacklog",
    "open_udp_socket",
    "listen_udp",
    "handle_datagram",
    "log_send_fail",
    "packet_label",
    "bind_error_text",
    "SO_BINDTODEVICE",
]

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)

# Kea's DBG_DHCP4_BASIC, the level of DHCP4_PACKET_QUEUE_FULL.
_DBG_DHCP4_BASIC = 10

packets_log = kea_logger("packets")
dhcp4_log = kea_logger("dhcp4")


def packet_label(data: bytes) -> str:
    """Kea's packet label (``Pkt4::getLabel``) as far as the fixed header
    tells it: ``[hwtype=1 00:11:22:33:44:55], tid=0x1``.  Used only in edge
    log lines (send failures); the engine has the full label with the
    client-id."""
    if len(data) < 44:
        return "[no info]"
    htype, hlen = data[1], min(data[2], 16)
    xid = int.from_bytes(data[4:8], "big")
    hw = ":".join(f"{b:02x}" for b in data[28 : 28 + hlen])
    return f"[hwtype={htype} {hw}], tid=0x{xid:x}"


def handle_datagram(
    handler: IPacketHandler,
    data: bytes,
    arrival: Arrival,
    send: Callable[[Reply], None],
) -> None:
    """Give one datagram to the engine and ``send`` whatever reply comes back.

    The engine promises never to raise; the edge still guards, as Twisted's
    ``DNSDatagramProtocol.datagramReceived`` does: an exception, an errback
    or an unexpected outcome is logged and the datagram is forgotten.
    """
    if packets_log.debug_level >= DBG_TRACE_BASIC:
        packets_log.debug(
            "{msgid} received buffer from {remote_addr}:{remote_port} to {local_addr}:{local_port} over interface {iface}",
            msgid="DHCP4_BUFFER_RECEIVED",
            debuglevel=DBG_TRACE_BASIC,
            remote_addr=str(arrival.remote_addr),
            remote_port=arrival.remote_port,
            local_addr=str(arrival.local_addr),
            local_port=arrival.local_port,
            iface=arrival.iface,
        )
    try:
        outcome = handler.receive(data, arrival)
    except Exception:
        packets_log.failure(
            "{msgid} exception occurred during packet processing",
            msgid="DHCP4_PACKET_PROCESS_EXCEPTION",
        )
        return
    if isinstance(outcome, Deferred):
        outcome.addCallback(_deliver, send)
        outcome.addErrback(
            lambda f: packets_log.failure(
                "{msgid} exception occurred during packet processing",
                failure=f,
                msgid="DHCP4_PACKET_PROCESS_EXCEPTION",
            )
        )
    else:
        _deliver(outcome, send)


def _deliver(outcome: Any, send: Callable[[Reply], None]) -> None:
    if isinstance(outcome, Reply):
        send(outcome)
    elif not isinstance(outcome, Drop):
        packets_log.error(
            "{msgid} exception occurred during packet processing: unexpected outcome {outcome!r}",
            msgid="DHCP4_PACKET_PROCESS_STD_EXCEPTION",
            outcome=outcome,
        )


def log_send_fail(reply: Reply, reason: object) -> None:
    """Kea's ``DHCP4_PACKET_SEND_FAIL`` for ``reply``."""
    packets_log.error(
        "{msgid} {label}: failed to send DHCPv4 packet: {reason}",
        msgid="DHCP4_PACKET_SEND_FAIL",
        label=packet_label(reply.data),
        reason=str(reason),
        dest_addr=str(reply.dest_addr),
        dest_port=reply.dest_port,
    )


class Dhcp4Protocol(DatagramProtocol):
    """One UDP service socket: moves bytes between the wire and the engine.

    :param handler: the engine (:class:`~kea_twisted.datagrams.IPacketHandler`).
    :param iface: the interface this socket serves (``lo``, ``eth0``).
    :param local_addr: the address the socket is bound to (the server
        identifier, spec/dhcp4.md §4).
    :param local_port: the server port (67, or ``-p``).
    :param clock: for ``Arrival.received``; the global reactor if None.
    :param backlog: a :class:`ReceiveBacklog` (shared by the server's
        sockets) to queue datagrams in; None: each is processed as it is
        read (Kea without multi-threading).
    """

    def __init__(
        self,
        handler: IPacketHandler,
        iface: str,
        local_addr: IPv4Address,
        local_port: int,
        clock: Optional[IReactorTime] = None,
        backlog: Optional["ReceiveBacklog"] = None,
    ) -> None:
        self.handler = handler
        self.backlog = backlog
        self.iface = iface
        self.local_addr = IPv4Address(local_addr)
        self.local_port = local_port
        if clock is None:
            from twisted.internet import reactor as clock  # type: ignore[assignment]
        self.clock = clock
        # Senders are a handful of relays (or clients): parse each once.
        self._senders: Dict[str, IPv4Address] = {}
        self._last_host: Tuple[Optional[IPv4Address], str] = (None, "")

    def _sender(self, host: str) -> IPv4Address:
        address = self._senders.get(host)
        if address is None:
            if len(self._senders) >= 4096:
                self._senders.clear()
            address = self._senders[host] = IPv4Address(host)
        return address

    def _host(self, address: IPv4Address) -> str:
        """``str(address)``, remembered for the next reply: replies go to a
        few relays, whose address is one shared object (packet.decode)."""
        cached = self._last_host
        if cached[0] is not address:
            cached = self._last_host = (address, str(address))
        return cached[1]

    def datagramReceived(self, data: bytes, addr: Tuple[str, int]) -> None:
        if self.backlog is not None:
            self.backlog.push(self, data, addr, self.clock.seconds())
        else:
            self.process(data, addr, self.clock.seconds())

    def process(self, data: bytes, addr: Tuple[str, int], received: float,
                send: Optional[Callable[[Reply], None]] = None) -> None:
        """Hand one datagram, read at reactor time ``received``, to the
        engine and send its reply (through ``send`` when given)."""
        try:
            # Positional (iface, local_addr, local_port, remote_addr,
            # remote_port, to_broadcast, socket_type, received): one per
            # datagram, and keyword matching costs as much again.
            arrival = Arrival(self.iface, self.local_addr, self.local_port, self._sender(addr[0]), addr[1],
                              False, "udp", received)
        except ValueError:
            packets_log.failure("{msgid} bad sender address {addr!r}", msgid="DHCP4_BUFFER_RECEIVE_FAIL", addr=addr)
            return
        handle_datagram(self.handler, data, arrival, self.sendReply if send is None else send)

    def sendReply(self, reply: Reply) -> None:
        """Write ``reply`` to its destination; a refusal by the kernel (no
        ``SO_BROADCAST``, unreachable network …) is logged as Kea logs it and
        the server carries on."""
        if self.transport is None:
            log_send_fail(reply, "socket closed")
            return
        try:
            self.transport.write(reply.data, (self._host(reply.dest_addr), reply.dest_port))
        except Exception as e:  # OSError, MessageLengthError, InvalidAddressError
            log_send_fail(reply, e)


class ReceiveBacklog:
    """Kea's multi-threading packet queue for the datagrams of one reactor
    turn (see the module docstring).

    :param size: ``packet-queue-size`` (at least 1).
    :param clock: ``IReactorTime``: the processing of a turn's datagrams is
        a ``callLater(0)``, which the reactor runs after the reads.
    :param group: returns a context manager to process a turn in (the
        lease file's ``grouped``); replies are held until it has exited.

    :ivar dropped: datagrams dropped as the oldest of a full queue.
    """

    def __init__(self, size: int, clock: IReactorTime,
                 group: Optional[Callable[[], ContextManager[Any]]] = None) -> None:
        self.size = max(1, int(size))
        self.clock = clock
        self.group = group
        # (protocol, reply) produced during a grouped turn, not yet sent.
        self._held: Optional[List[Tuple["Dhcp4Protocol", Reply]]] = None
        self.dropped = 0
        self._waiting: Deque[Tuple[Dhcp4Protocol, bytes, Tuple[str, int], float]] = deque()
        self._call: Any = None

    def __len__(self) -> int:
        return len(self._waiting)

    def push(self, protocol: Dhcp4Protocol, data: bytes, addr: Tuple[str, int], received: float) -> None:
        """Queue one datagram read by ``protocol``; a full queue first loses
        its oldest."""
        waiting = self._waiting
        while len(waiting) >= self.size:
            waiting.popleft()
            self.dropped += 1
            if enabled(dhcp4_log, LogLevel.debug, _DBG_DHCP4_BASIC):
                dhcp4_log.debug("{msgid} multi-threading packet queue is full", msgid="DHCP4_PACKET_QUEUE_FULL",
                                debuglevel=_DBG_DHCP4_BASIC)
        waiting.append((protocol, data, addr, received))
        if self._call is None:
            self._call = self.clock.callLater(0, self.drain)

    def drain(self) -> None:
        """Process what is queued, oldest first.  Only the datagrams queued
        when it starts: one read during processing waits for the next
        turn, as the queue-size bound is per turn."""
        self._call = None
        if self.group is None:
            self._process_turn(None)
            return
        held: List[Tuple[Dhcp4Protocol, Reply]] = []
        self._held = held
        try:
            with self.group():
                self._process_turn(self._hold)
        except Exception as e:
            # The turn's rows may not be on disk: none of its replies goes.
            for _protocol, reply in held:
                log_send_fail(reply, e)
            held = []
        finally:
            self._held = None
        for protocol, reply in held:
            protocol.sendReply(reply)

    def _process_turn(self, hold: Optional[Callable[["Dhcp4Protocol"], Callable[[Reply], None]]]) -> None:
        waiting = self._waiting
        remaining = len(waiting)
        while remaining and waiting:
            remaining -= 1
            protocol, data, addr, received = waiting.popleft()
            protocol.process(data, addr, received, None if hold is None else hold(protocol))

    def _hold(self, protocol: "Dhcp4Protocol") -> Callable[[Reply], None]:
        def send(reply: Reply) -> None:
            # A reply that comes later (a Deferred, e.g. parked by HA) is
            # sent at once: its rows were written when its turn ended.
            if self._held is not None:
                self._held.append((protocol, reply))
            else:
                protocol.sendReply(reply)

        return send

    def stop(self) -> None:
        """Forget what is queued (the sockets are closing)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._waiting.clear()


#: Receive buffer asked of the kernel for each DHCP socket (it grants up to
#: ``net.core.rmem_max``).  Kea leaves the default (~208 KiB, a few hundred
#: queued packets); an interpreter stops now and then for tens of
#: milliseconds (a garbage collection, PyPy compiling a trace) and at
#: 10,000 packets/s a 20 ms stop overflows the default buffer, dropping
#: packets a moment later Kea would answer.  1 MiB holds ~0.2 s of such a
#: load: enough for the pauses, small enough that queries waiting in it
#: past saturation are still worth answering.
RECEIVE_BUFFER = 1 << 20


def _ask_receive_buffer(sock: socket.socket) -> None:
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < RECEIVE_BUFFER:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    except OSError:
        pass  # the default buffer still works


def open_udp_socket(
    iface: str,
    addr: IPv4Address,
    port: int,
    *,
    broadcast: bool = False,
    bind_to_device: bool = False,
) -> socket.socket:
    """A non-blocking UDP socket bound to ``(addr, port)``, as Kea's
    ``PktFilterInet::openSocket`` makes it in UDP mode.

    ``bind_to_device`` needs root or CAP_NET_RAW; when the kernel refuses,
    a warning is logged and the socket stays bound to the address only.
    Raises ``OSError`` when the bind fails (address in use, not ours).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if bind_to_device:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode() + b"\0")
            except OSError as e:
                dhcp4_log.warn(
                    "{msgid} failed to open socket: SO_BINDTODEVICE {iface}: {reason}; bound to the address only",
                    msgid="DHCP4_OPEN_SOCKET_FAIL",
                    iface=iface,
                    reason=e.strerror or str(e),
                )
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        _ask_receive_buffer(sock)
        sock.bind((str(addr), port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def listen_udp(
    reactor: IReactorSocket,
    sock: socket.socket,
    protocol: DatagramProtocol,
) -> IListeningPort:
    """Hand a bound socket to the reactor; our copy of the descriptor is
    closed (the reactor keeps its own duplicate)."""
    try:
        return reactor.adoptDatagramPort(sock.fileno(), socket.AF_INET, protocol, 65536)
    finally:
        sock.close()


def bind_error_text(sock_addr: IPv4Address, port: int, error: OSError) -> str:
    """Kea's wording for a failed bind, plus the kernel's reason."""
    reason = error.strerror or errno.errorcode.get(error.errno or 0, str(error))
    return f"Failed to bind socket to {sock_addr}/port={port}: {reason}"

