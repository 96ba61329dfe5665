"""
Tests for kea_twisted.net.udp: the UDP edge between the wire and the engine.
"""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Address
from unittest import SkipTest

from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import FakeDatagramTransport, MemoryReactor
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from kea_twisted.compat import DATACLASS_SLOTS
from kea_twisted.datagrams import Arrival, Drop, IPacketHandler, Reply
from kea_twisted.net import udp
from kea_twisted.net.udp import Dhcp4Protocol, listen_udp, open_udp_socket, packet_label

QUERY = bytes([1, 1, 6, 0]) + (0x1234).to_bytes(4, "big") + bytes(20) + bytes.fromhex("001122334455") + bytes(202)


@implementer(IPacketHandler)
class RecordingHandler:
    """An engine that records what it is given and answers from a script."""

    def __init__(self, *outcomes):
        self.received = []
        self.outcomes = list(outcomes)

    def receive(self, data, arrival):
        self.received.append((data, arrival))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class RefusingTransport(FakeDatagramTransport):
    """A transport whose kernel says EACCES, as for 255.255.255.255 without
    SO_BROADCAST."""

    def write(self, packet, addr=None):
        raise PermissionError(errno.EACCES, "Permission denied")


def _protocol(handler, clock=None, transport=None):
    proto = Dhcp4Protocol(handler, "lo", IPv4Address("127.0.0.7"), 10067, clock=clock or Clock())
    proto.transport = transport if transport is not None else FakeDatagramTransport()
    return proto


class ArrivalTests(SynchronousTestCase):
    def test_arrival_fields(self):
        """A datagram becomes an Arrival naming the socket's interface,
        bound address and port, the sender, the reactor time, udp, and never
        a broadcast (a UDP socket bound to an address does not see them)."""
        clock = Clock()
        clock.advance(42.5)
        handler = RecordingHandler(Drop("test"))
        proto = _protocol(handler, clock)
        proto.datagramReceived(QUERY, ("127.0.0.9", 68))
        data, arrival = handler.received[0]
        self.assertEqual(data, QUERY)
        self.assertEqual(
            arrival,
            Arrival(
                iface="lo",
                local_addr=IPv4Address("127.0.0.7"),
                local_port=10067,
                remote_addr=IPv4Address("127.0.0.9"),
                remote_port=68,
                to_broadcast=False,
                socket_type="udp",
                received=42.5,
            ),
        )

    def test_arrival_is_a_slotted_value(self):
        """Arrival (issue 8: no longer a frozen dataclass) keeps its
        keyword API and defaults, compares and hashes by value, and takes
        no attribute it does not declare (where dataclasses can be slotted:
        Python >= 3.10, kea_twisted.compat; PyPy 3.9 keeps a __dict__)."""
        one = Arrival(iface="lo", local_addr=IPv4Address("127.0.0.7"), local_port=67,
                      remote_addr=IPv4Address("127.0.0.2"), remote_port=67)
        self.assertEqual((one.to_broadcast, one.socket_type, one.received, one.remote_mac),
                         (False, "udp", 0.0, None))
        same = Arrival("lo", IPv4Address("127.0.0.7"), 67, IPv4Address("127.0.0.2"), 67)
        self.assertEqual(one, same)
        self.assertEqual(hash(one), hash(same))
        self.assertNotEqual(one, Arrival("lo", IPv4Address("127.0.0.7"), 67, IPv4Address("127.0.0.2"), 68))
        if DATACLASS_SLOTS:
            self.assertFalse(hasattr(one, "__dict__"))
            with self.assertRaises(AttributeError):
                one.extra = 1  # type: ignore[attr-defined]

    def test_buffer_received_logged(self):
        """DHCP4_BUFFER_RECEIVED is logged at debug with Kea's fields."""
        proto = _protocol(RecordingHandler(Drop("x")))
        with capturedLogs() as events:
            proto.datagramReceived(QUERY, ("127.0.0.9", 67))
        [event] = [e for e in events if e.get("msgid") == "DHCP4_BUFFER_RECEIVED"]
        self.assertEqual(event["log_namespace"], "kea-dhcp4.packets")
        self.assertEqual(event["debuglevel"], 40)
        self.assertEqual((event["remote_addr"], event["local_port"], event["iface"]), ("127.0.0.9", 10067, "lo"))


class ReplyTests(SynchronousTestCase):
    def test_reply_written_to_destination(self):
        """A Reply is written once to (dest_addr, dest_port)."""
        reply = Reply(b"answer", IPv4Address("127.0.0.3"), 67)
        proto = _protocol(RecordingHandler(reply))
        proto.datagramReceived(QUERY, ("127.0.0.3", 67))
        self.assertEqual(proto.transport.written, [(b"answer", ("127.0.0.3", 67))])

    def test_drop_writes_nothing(self):
        """A Drop sends nothing."""
        proto = _protocol(RecordingHandler(Drop("DHCP4_PACKET_DROP_0001")))
        proto.datagramReceived(b"\x00", ("127.0.0.3", 68))
        self.assertEqual(proto.transport.written, [])

    def test_deferred_reply_sent_when_fired(self):
        """A parked query (Deferred) is answered when it fires, not before."""
        d = defer.Deferred()
        proto = _protocol(RecordingHandler(d))
        proto.datagramReceived(QUERY, ("127.0.0.3", 67))
        self.assertEqual(proto.transport.written, [])
        d.callback(Reply(b"late", IPv4Address("127.0.0.3"), 67))
        self.assertEqual(proto.transport.written, [(b"late", ("127.0.0.3", 67))])

    def test_deferred_drop(self):
        """A Deferred firing with Drop sends nothing and logs no error."""
        d = defer.Deferred()
        proto = _protocol(RecordingHandler(d))
        proto.datagramReceived(QUERY, ("127.0.0.3", 67))
        with capturedLogs() as events:
            d.callback(Drop("parked then dropped"))
        self.assertEqual(proto.transport.written, [])
        self.assertEqual([e for e in events if e.get("log_failure")], [])


class ErrorTests(SynchronousTestCase):
    def test_handler_exception_logged_not_raised(self):
        """An exception from the engine is logged with log.failure
        (DHCP4_PACKET_PROCESS_EXCEPTION) and does not escape."""
        proto = _protocol(RecordingHandler(RuntimeError("boom")))
        with capturedLogs() as events:
            proto.datagramReceived(QUERY, ("127.0.0.3", 67))
        [event] = [e for e in events if e.get("msgid") == "DHCP4_PACKET_PROCESS_EXCEPTION"]
        self.assertIsInstance(event["log_failure"].value, RuntimeError)
        self.assertEqual(proto.transport.written, [])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_failing_deferred_logged(self):
        """An errback from a parked query is logged and consumed (no
        unhandled error in Deferred)."""
        d = defer.Deferred()
        proto = _protocol(RecordingHandler(d))
        proto.datagramReceived(QUERY, ("127.0.0.3", 67))
        with capturedLogs() as events:
            d.errback(ValueError("partner gone"))
        [event] = [e for e in events if e.get("msgid") == "DHCP4_PACKET_PROCESS_EXCEPTION"]
        self.assertIsInstance(event["log_failure"].value, ValueError)
        self.assertEqual(proto.transport.written, [])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_unexpected_outcome_logged(self):
        """Something that is neither Reply, Drop nor Deferred is logged."""
        proto = _protocol(RecordingHandler("nonsense"))
        with capturedLogs() as events:
            proto.datagramReceived(QUERY, ("127.0.0.3", 67))
        self.assertIn("DHCP4_PACKET_PROCESS_STD_EXCEPTION", [e.get("msgid") for e in events])

    def test_send_refused_logs_send_fail(self):
        """EACCES on write (broadcast without SO_BROADCAST, Kea's UDP mode)
        is logged as DHCP4_PACKET_SEND_FAIL with Kea's label, and the
        protocol keeps serving."""
        reply = Reply(QUERY, IPv4Address("255.255.255.255"), 68)
        proto = _protocol(RecordingHandler(reply, Drop("next")), transport=RefusingTransport())
        with capturedLogs() as events:
            proto.datagramReceived(QUERY, ("127.0.0.3", 68))
            proto.datagramReceived(QUERY, ("127.0.0.3", 68))
        [event] = [e for e in events if e.get("msgid") == "DHCP4_PACKET_SEND_FAIL"]
        self.assertEqual(event["label"], "[hwtype=1 00:11:22:33:44:55], tid=0x1234")
        self.assertIn("Permission denied", event["reason"])
        self.assertEqual(len(proto.handler.received), 2)

    def test_send_without_transport(self):
        """A reply that fires after the socket closed is logged, not raised."""
        d = defer.Deferred()
        proto = _protocol(RecordingHandler(d))
        proto.datagramReceived(QUERY, ("127.0.0.3", 67))
        proto.transport = None
        with capturedLogs() as events:
            d.callback(Reply(b"late", IPv4Address("127.0.0.3"), 67))
        self.assertIn("DHCP4_PACKET_SEND_FAIL", [e.get("msgid") for e in events])

    def test_label_short_packet(self):
        """The log label of a packet too short for chaddr does not raise."""
        self.assertEqual(packet_label(b"\x01"), "[no info]")


class OpenSocketTests(SynchronousTestCase):
    def test_bound_like_kea(self):
        """The socket is bound to the address and port, non-blocking, and
        has neither SO_BROADCAST nor SO_REUSEADDR (Kea's UDP mode)."""
        sock = open_udp_socket("lo", IPv4Address("127.0.0.1"), 0)
        try:
            self.assertEqual(sock.getsockname()[0], "127.0.0.1")
            self.assertFalse(sock.getblocking())
            self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST), 0)
            self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR), 0)
        finally:
            sock.close()

    def test_receive_buffer_for_pauses(self):
        """The socket asks for RECEIVE_BUFFER of receive buffer: the kernel
        grants twice what is asked, up to ``net.core.rmem_max`` (doubled),
        never less than its default."""
        from kea_twisted.net.udp import RECEIVE_BUFFER
        plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        default = plain.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        plain.close()
        try:
            with open("/proc/sys/net/core/rmem_max") as f:
                rmem_max = int(f.read())
        except OSError:
            raise SkipTest("no /proc/sys/net/core/rmem_max")
        sock = open_udp_socket("lo", IPv4Address("127.0.0.1"), 0)
        try:
            granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        finally:
            sock.close()
        self.assertEqual(granted, max(default, 2 * min(RECEIVE_BUFFER, rmem_max)))

    def test_second_bind_fails(self):
        """Another socket on the same address and port makes the bind fail
        (Kea: 'Failed to bind socket … is another DHCP server running?')."""
        first = open_udp_socket("lo", IPv4Address("127.0.0.1"), 0)
        try:
            port = first.getsockname()[1]
            self.assertRaises(OSError, open_udp_socket, "lo", IPv4Address("127.0.0.1"), port)
        finally:
            first.close()

    def test_options_on_request(self):
        """broadcast=True sets SO_BROADCAST; bind_to_device either applies
        (root) or logs a warning and still binds."""
        with capturedLogs() as events:
            sock = open_udp_socket("lo", IPv4Address("127.0.0.1"), 0, broadcast=True, bind_to_device=True)
        try:
            self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST), 1)
            try:
                bound = sock.getsockopt(socket.SOL_SOCKET, udp.SO_BINDTODEVICE, 16).rstrip(b"\0")
            except OSError:
                bound = b""
            warned = "DHCP4_OPEN_SOCKET_FAIL" in [e.get("msgid") for e in events]
            self.assertTrue(bound == b"lo" or warned)
        finally:
            sock.close()

    def test_listen_adopts(self):
        """listen_udp hands the descriptor to IReactorSocket.adoptDatagramPort."""
        memory = MemoryReactor()
        sock = open_udp_socket("lo", IPv4Address("127.0.0.1"), 0)
        proto = DatagramProtocol()
        fd = sock.fileno()
        listen_udp(memory, sock, proto)
        self.assertEqual(memory.adoptedPorts, [(fd, socket.AF_INET, proto, 65536)])
        self.assertEqual(sock.fileno(), -1)


@implementer(IPacketHandler)
class EchoHandler:
    """Answers every datagram to its sender, reversed."""

    def __init__(self):
        self.arrivals = []

    def receive(self, data, arrival):
        self.arrivals.append(arrival)
        return Reply(data[::-1], arrival.remote_addr, arrival.remote_port)


class ClientProtocol(DatagramProtocol):
    def __init__(self):
        self.answer = defer.Deferred()

    def datagramReceived(self, data, addr):
        if not self.answer.called:
            self.answer.callback((data, addr))


class RealSocketTests(TestCase):
    """A real Dhcp4Protocol on 127.0.0.x with a high port, on the global
    reactor."""

    @defer.inlineCallbacks
    def test_round_trip(self):
        """A datagram to the server's address reaches the engine with the
        right Arrival and the reply comes back from the server's address and
        port."""
        handler = EchoHandler()
        sock = open_udp_socket("lo", IPv4Address("127.0.0.5"), 0)
        port_number = sock.getsockname()[1]
        server = listen_udp(reactor, sock, Dhcp4Protocol(handler, "lo", IPv4Address("127.0.0.5"), port_number))
        self.addCleanup(server.stopListening)
        client = ClientProtocol()
        client_port = reactor.listenUDP(0, client, interface="127.0.0.6")
        self.addCleanup(client_port.stopListening)
        client_port.write(b"abc", ("127.0.0.5", port_number))
        data, addr = yield client.answer
        self.assertEqual(data, b"cba")
        self.assertEqual(addr, ("127.0.0.5", port_number))
        [arrival] = handler.arrivals
        self.assertEqual(arrival.local_addr, IPv4Address("127.0.0.5"))
        self.assertEqual(arrival.remote_addr, IPv4Address("127.0.0.6"))
        self.assertEqual(arrival.remote_port, client_port.getHost().port)

    @defer.inlineCallbacks
    def test_broadcast_refused_by_kernel(self):
        """A reply to 255.255.255.255 from a Kea-style UDP socket is refused
        by the kernel (no SO_BROADCAST) and logged DHCP4_PACKET_SEND_FAIL —
        what Kea 2.2 logs in UDP mode (spec/dhcp4.md §13); nothing leaves."""

        @implementer(IPacketHandler)
        class Broadcaster:
            def __init__(self):
                self.done = defer.Deferred()

            def receive(self, data, arrival):
                reactor.callLater(0, self.done.callback, None)
                return Reply(data, IPv4Address("255.255.255.255"), 68)

        handler = Broadcaster()
        sock = open_udp_socket("lo", IPv4Address("127.0.0.5"), 0)
        port_number = sock.getsockname()[1]
        server = listen_udp(reactor, sock, Dhcp4Protocol(handler, "lo", IPv4Address("127.0.0.5"), port_number))
        self.addCleanup(server.stopListening)
        client_port = reactor.listenUDP(0, DatagramProtocol(), interface="127.0.0.6")
        self.addCleanup(client_port.stopListening)
        with capturedLogs() as events:
            client_port.write(QUERY, ("127.0.0.5", port_number))
            yield handler.done
        [event] = [e for e in events if e.get("msgid") == "DHCP4_PACKET_SEND_FAIL"]
        self.assertIn("Permission denied", event["reason"])


class BacklogTests(SynchronousTestCase):
    """ReceiveBacklog: Kea's multi-threading packet-queue-size on the
    reactor, with a fake clock and transport."""

    def _setup(self, size, count=1):
        clock = Clock()
        backlog = udp.ReceiveBacklog(size, clock)
        handler = EchoHandler()
        protocols = []
        for i in range(count):
            proto = Dhcp4Protocol(handler, "lo", IPv4Address(f"127.0.0.{7 + i}"), 10067, clock=clock,
                                  backlog=backlog)
            proto.transport = FakeDatagramTransport()
            protocols.append(proto)
        return clock, backlog, handler, protocols

    def test_turn_keeps_newest_and_drops_oldest(self):
        """Five datagrams read in one turn with a queue of three: nothing
        is processed during the reads; once the turn ends the newest three
        are, oldest first, with the time each was read; two count as
        dropped and get no reply."""
        clock, backlog, handler, [proto] = self._setup(3)
        for i in range(5):
            clock.rightNow = i * 0.001  # time passes during the reads; no call runs
            proto.datagramReceived(bytes([i]) * 4, ("127.0.0.2", 67))
        self.assertEqual(handler.arrivals, [])
        self.assertEqual(len(backlog), 3)
        self.assertEqual(backlog.dropped, 2)
        clock.advance(0)
        self.assertEqual([data for data, _ in proto.transport.written], [bytes([i]) * 4 for i in (2, 3, 4)])
        self.assertEqual([round(a.received, 3) for a in handler.arrivals], [0.002, 0.003, 0.004])
        self.assertEqual(clock.seconds(), 0.004)
        self.assertEqual(len(backlog), 0)

    def test_bound_is_per_turn(self):
        """The queue is emptied every turn: a second turn of the same size
        loses nothing more."""
        clock, backlog, handler, [proto] = self._setup(2)
        for turn in range(2):
            for i in range(2):
                proto.datagramReceived(bytes([turn, i]), ("127.0.0.2", 67))
            clock.advance(0)
        self.assertEqual(len(handler.arrivals), 4)
        self.assertEqual(backlog.dropped, 0)

    def test_shared_across_sockets(self):
        """Sockets sharing one backlog share its bound (Kea has one queue
        for all its sockets), and each reply leaves through the socket its
        query came in on."""
        clock, backlog, handler, (a, b) = self._setup(2, count=2)
        a.datagramReceived(b"a1", ("127.0.0.2", 67))
        b.datagramReceived(b"b1", ("127.0.0.2", 67))
        a.datagramReceived(b"a2", ("127.0.0.2", 67))
        clock.advance(0)
        self.assertEqual(backlog.dropped, 1)
        self.assertEqual([x.local_addr for x in handler.arrivals],
                         [IPv4Address("127.0.0.8"), IPv4Address("127.0.0.7")])
        self.assertEqual([d for d, _ in a.transport.written], [b"2a"])
        self.assertEqual([d for d, _ in b.transport.written], [b"1b"])

    def test_stop_forgets_queued(self):
        """stop() cancels the pending turn: nothing is processed after."""
        clock, backlog, handler, [proto] = self._setup(4)
        proto.datagramReceived(b"x", ("127.0.0.2", 67))
        backlog.stop()
        clock.advance(0)
        self.assertEqual(handler.arrivals, [])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_size_at_least_one(self):
        """A packet-queue-size below 1 still keeps the newest datagram."""
        self.assertEqual(udp.ReceiveBacklog(0, Clock()).size, 1)


class BacklogRealSocketTests(TestCase):
    """The backlog on a real socket and the global reactor: datagrams that
    are waiting in the kernel when the reactor reads make one turn."""

    @defer.inlineCallbacks
    def test_waiting_datagrams_are_one_turn(self):
        """Ten datagrams sent before the reactor runs, queue of four: the
        engine sees only the newest four, six are dropped."""
        handler = EchoHandler()
        backlog = udp.ReceiveBacklog(4, reactor)
        self.addCleanup(backlog.stop)
        sock = open_udp_socket("lo", IPv4Address("127.0.0.5"), 0)
        port_number = sock.getsockname()[1]
        server = listen_udp(reactor, sock, Dhcp4Protocol(handler, "lo", IPv4Address("127.0.0.5"), port_number,
                                                         backlog=backlog))
        self.addCleanup(server.stopListening)
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(client.close)
        client.bind(("127.0.0.6", 0))
        for i in range(10):
            client.sendto(b"q%d" % i, ("127.0.0.5", port_number))
        for _ in range(200):  # bounded: the reactor needs a few turns at most
            if handler.arrivals:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(backlog.dropped, 6)
        self.assertEqual(len(handler.arrivals), 4)
        client.settimeout(1.0)
        answers = sorted(client.recvfrom(64)[0] for _ in range(4))
        self.assertEqual(answers, [b"%dq" % i for i in range(6, 10)])


class ServerBacklogTests(SynchronousTestCase):
    def _server(self, **extra):
        from kea_twisted.config.element import from_python
        from kea_twisted.config.staging import stage_config_element
        from kea_twisted.server import Dhcp4Server

        dhcp4 = {"interfaces-config": {"interfaces": ["lo"]},
                 "lease-database": {"type": "memfile", "persist": False},
                 "subnet4": [{"id": 1, "subnet": "10.0.0.0/24"}]}
        dhcp4.update(extra)
        config = stage_config_element(from_python({"Dhcp4": dhcp4}), interfaces={"lo": [IPv4Address("127.0.0.1")]})
        return Dhcp4Server(config, clock=Clock().seconds, interfaces={"lo": [IPv4Address("127.0.0.1")]})

    def test_backlog_from_multi_threading(self):
        """Dhcp4Server.receive_backlog: packet-queue-size with
        multi-threading enabled; none without it (Kea has no queue then) or
        with size 0 (Kea's unbounded queue)."""
        clock = Clock()
        backlog = self._server(**{"multi-threading": {"enable-multi-threading": True,
                                                      "packet-queue-size": 7}}).receive_backlog(clock)
        self.assertEqual(backlog.size, 7)
        self.assertIs(backlog.clock, clock)
        self.assertIsNone(self._server().receive_backlog(clock))
        self.assertIsNone(self._server(**{"multi-threading": {"enable-multi-threading": True,
                                                              "packet-queue-size": 0}}).receive_backlog(clock))


class GroupedLeaseRowsTests(SynchronousTestCase):
    """A backlog from a memfile server with a lease file: a turn's rows go
    to disk together, before any of the turn's replies is written."""

    RELAY = IPv4Address("127.0.0.2")
    SERVER = IPv4Address("127.0.0.1")

    def setUp(self):
        import os

        from kea_twisted.config.element import from_python
        from kea_twisted.config.staging import stage_config_element
        from kea_twisted.server import Dhcp4Server

        # trial's own temporary directory, removed with the test run's.
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        self.path = os.path.join(workdir, "leases4.csv")
        dhcp4 = {"interfaces-config": {"interfaces": ["lo"]},
                 "lease-database": {"type": "memfile", "persist": True, "name": self.path, "lfc-interval": 0},
                 "multi-threading": {"enable-multi-threading": True, "packet-queue-size": 16},
                 "subnet4": [{"id": 1, "subnet": "10.10.0.0/24", "relay": {"ip-addresses": [str(self.RELAY)]},
                              "pools": [{"pool": "10.10.0.10 - 10.10.0.200"}]}]}
        interfaces = {"lo": [self.SERVER]}
        config = stage_config_element(from_python({"Dhcp4": dhcp4}), interfaces=interfaces)
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.server = Dhcp4Server(config, clock=self.clock.seconds, interfaces=interfaces)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.server.set_socket_addresses([self.SERVER])
        self.backlog = self.server.receive_backlog(self.clock)
        self.protocol = Dhcp4Protocol(self.server.engine, "lo", self.SERVER, 67, clock=self.clock,
                                      backlog=self.backlog)
        self.seen = []  # (reply yiaddr, lease rows on disk at the write)
        test = self

        class Transport(FakeDatagramTransport):
            def write(self, packet, addr=None):
                with open(test.path) as f:
                    rows = f.read().splitlines()[1:]
                test.seen.append((str(IPv4Address(packet[16:20])), rows))
                super().write(packet, addr)

        self.protocol.transport = Transport()

    def _packet(self, i, kind, address=None):
        from kea_twisted.packet import Packet4, encode

        options = {53: bytes([kind])}
        if address is not None:
            options.update({50: address, 54: self.SERVER.packed})
        return encode(Packet4(op=1, xid=i, chaddr=b"\x02\x00" + i.to_bytes(4, "big"), giaddr=self.RELAY,
                              hops=1, options=options), sort_options=False)

    def _turn(self, datagrams):
        for data in datagrams:
            self.protocol.datagramReceived(data, (str(self.RELAY), 67))
        self.clock.advance(0)

    def test_rows_on_disk_before_each_reply(self):
        """Five REQUESTs in one turn: when the first ACK is written, all
        five lease rows already are on disk (one grouped write), and each
        ACK's address has its row."""
        self._turn([self._packet(i, 1) for i in range(5)])
        offers = [IPv4Address(address).packed for address, _rows in self.seen]
        self.assertEqual(len(offers), 5)
        self.seen.clear()
        self._turn([self._packet(i, 3, offers[i]) for i in range(5)])
        self.assertEqual(len(self.seen), 5)
        for address, rows in self.seen:
            self.assertIn(address, [row.split(",")[0] for row in rows])
        self.assertEqual(len(self.seen[0][1]), 5)
        # Outside a turn the file writes rows at once again.
        self.assertTrue(self.server.lease_file.flush_each_row)

    def test_failed_write_sends_nothing(self):
        """If the turn's grouped write fails, none of its ACKs is sent and
        each is logged as a send failure."""
        from kea_twisted.leasefile import LeaseFileError

        self._turn([self._packet(i, 1) for i in range(3)])
        offers = [IPv4Address(address).packed for address, _rows in self.seen]
        self.seen.clear()
        lease_file = self.server.lease_file

        def refuse(data):
            raise LeaseFileError("disk full")

        self.patch(lease_file, "_write", refuse)
        with capturedLogs() as events:
            self._turn([self._packet(i, 3, offers[i]) for i in range(3)])
        self.assertEqual(self.seen, [])
        self.assertEqual([e.get("msgid") for e in events].count("DHCP4_PACKET_SEND_FAIL"), 3)
