"""
Tests for kea_twisted.net.udp: the UDP edge between the wire and the engine.
"""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Address

from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport, MemoryReactor
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

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
