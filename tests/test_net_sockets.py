"""
Tests for kea_twisted.net.sockets: which service sockets interfaces-config
opens, and Kea's retry / require-all behaviour when some cannot be opened.
"""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Address
from types import SimpleNamespace

from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from kea_twisted.datagrams import IPacketHandler, Reply
from kea_twisted.net.sockets import (
    InterfaceFlags,
    ServiceSockets,
    ServiceSocketsFailed,
    SocketSettings,
    interface_flags,
    open_service_sockets,
    parse_interface_entry,
    plan_sockets,
    settings_from,
)

A = IPv4Address
LO = InterfaceFlags(loopback=True, broadcast=False)
UP = InterfaceFlags()
DETECTED = {
    "lo": [A("127.0.0.1"), A("127.0.3.1")],
    "eth0": [A("192.0.2.1"), A("192.0.2.2")],
    "eth1": [A("198.51.100.1")],
    "down0": [A("203.0.113.1")],
    "bare0": [],
}
FLAGS = {
    "lo": LO,
    "eth0": UP,
    "eth1": UP,
    "down0": InterfaceFlags(up=False),
    "bare0": UP,
}


def _plan(socket_type="raw", *interfaces):
    return plan_sockets(SocketSettings(interfaces=interfaces, socket_type=socket_type), DETECTED, FLAGS.get)


class EntryTests(SynchronousTestCase):
    def test_forms(self):
        """Name, name/address (spaces trimmed as Kea does), and the wildcard."""
        self.assertEqual(parse_interface_entry("eth0"), ("eth0", None))
        self.assertEqual(parse_interface_entry(" eth0 / 192.0.2.1 "), ("eth0", A("192.0.2.1")))
        self.assertEqual(parse_interface_entry("*"), ("*", None))

    def test_bad(self):
        """Empty names or addresses and bad addresses raise ValueError."""
        for bad in ("", " ", "eth0/", "/192.0.2.1", "eth0/not-an-address"):
            self.assertRaises(ValueError, parse_interface_entry, bad)


class PlanTests(SynchronousTestCase):
    def test_name_selects_every_address(self):
        """'eth0' opens one socket per address of eth0, in kernel order."""
        self.assertEqual(_plan("raw", "eth0"), ([("eth0", A("192.0.2.1")), ("eth0", A("192.0.2.2"))], []))

    def test_address_selects_one(self):
        """'eth0/192.0.2.2' opens only that address."""
        self.assertEqual(_plan("raw", "eth0/192.0.2.2"), ([("eth0", A("192.0.2.2"))], []))

    def test_wildcard_skips_loopback(self):
        """'*' selects every non-loopback interface; down ones and ones
        without an address are errors, as Kea logs them."""
        plan, errors = _plan("udp", "*")
        self.assertEqual(plan, [("eth0", A("192.0.2.1")), ("eth0", A("192.0.2.2")), ("eth1", A("198.51.100.1"))])
        self.assertEqual(errors, ["the interface down0 is down", "the interface bare0 has no usable IPv4 addresses configured"])

    def test_loopback_udp(self):
        """UDP sockets may use the loopback when it is named."""
        self.assertEqual(_plan("udp", "lo/127.0.3.1"), ([("lo", A("127.0.3.1"))], []))
        self.assertEqual(_plan("udp", "lo", "*")[0][:2], [("lo", A("127.0.0.1")), ("lo", A("127.0.3.1"))])

    def test_loopback_raw_refused(self):
        """Raw sockets (Kea's default) refuse the loopback with Kea's text
        [obs kea-dhcp4 2.2: DHCPSRV_OPEN_SOCKET_FAIL]."""
        self.assertEqual(_plan("raw", "lo"), ([], ["must not open socket on the loopback interface lo"]))

    def test_missing(self):
        """An interface or address that is not there is an error."""
        self.assertEqual(
            _plan("udp", "nope0", "eth1/192.0.2.9"),
            ([], [
                "fail to open socket on interface 'nope0' as this interface doesn't exist",
                "interface 'eth1' doesn't have address '192.0.2.9' assigned",
            ]),
        )

    def test_not_running(self):
        """An interface that is up but not running is an error."""
        plan, errors = plan_sockets(SocketSettings(interfaces=("eth1",), socket_type="udp"), DETECTED,
                                    {"eth1": InterfaceFlags(running=False)}.get)
        self.assertEqual((plan, errors), ([], ["the interface eth1 is not running"]))

    def test_no_duplicates(self):
        """Naming an interface and one of its addresses opens each address once."""
        self.assertEqual(_plan("raw", "eth1", "eth1/198.51.100.1")[0], [("eth1", A("198.51.100.1"))])


class SettingsTests(SynchronousTestCase):
    def test_defaults(self):
        """Kea's defaults: raw, same-as-inbound, no re-detect, require-all
        false, 0 retries, 5000 ms."""
        self.assertEqual(settings_from({}), SocketSettings())
        self.assertEqual(SocketSettings().socket_type, "raw")
        self.assertEqual(SocketSettings().service_sockets_retry_wait_time, 5000)

    def test_from_json_keys(self):
        """Kea's JSON keys are read."""
        s = settings_from({"interfaces": ["lo"], "dhcp-socket-type": "udp", "service-sockets-max-retries": 3,
                           "service-sockets-require-all": True, "re-detect": True})
        self.assertEqual((s.interfaces, s.socket_type, s.service_sockets_max_retries), (("lo",), "udp", 3))
        self.assertTrue(s.service_sockets_require_all and s.re_detect)

    def test_from_model_object(self):
        """Any object with the snake_case attributes (the config model),
        including dhcp_socket_type for the socket type."""
        s = settings_from(SimpleNamespace(interfaces=["eth0"], dhcp_socket_type="udp", outbound_interface="use-routing"))
        self.assertEqual((s.interfaces, s.socket_type, s.outbound_interface), (("eth0",), "udp", "use-routing"))


class FakeListener:
    def __init__(self, key):
        self.key = key
        self.stopped = False

    def stopListening(self):
        self.stopped = True
        return defer.succeed(None)


class FakeOpener:
    """Opens listeners, refusing the addresses in ``refuse`` (a set the test
    may change between attempts)."""

    def __init__(self, refuse=()):
        self.refuse = set(refuse)
        self.calls = []

    def __call__(self, reactor, handler, iface, addr, port):
        self.calls.append((iface, addr, port))
        if addr in self.refuse:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        return FakeListener((iface, addr))


def _sockets(clock, opener, **settings):
    settings.setdefault("socket_type", "udp")
    return ServiceSockets(clock, SocketSettings(**settings), handler=None, server_port=10067,
                          detect=lambda: DETECTED, flags=FLAGS.get, open_udp=opener, open_raw=opener)


class RetryTests(SynchronousTestCase):
    def test_all_open(self):
        """Every planned socket opens on the server port; finished fires at once."""
        opener = FakeOpener()
        s = _sockets(Clock(), opener, interfaces=("eth0", "eth1"))
        with capturedLogs() as events:
            self.assertIs(self.successResultOf(s.start()), s)
        self.assertEqual(sorted(s.listeners), [("eth0", A("192.0.2.1")), ("eth0", A("192.0.2.2")), ("eth1", A("198.51.100.1"))])
        self.assertEqual({c[2] for c in opener.calls}, {10067})
        self.assertEqual(s.addresses(), [A("192.0.2.1"), A("192.0.2.2"), A("198.51.100.1")])
        self.assertIn("DHCP4_OPEN_SOCKET", [e.get("msgid") for e in events])

    def test_failure_no_retries_continue(self):
        """Default (0 retries, require-all false): a failed socket is
        DHCPSRV_OPEN_SOCKET_FAIL then DHCP4_OPEN_SOCKETS_FAILED, and the
        server keeps the sockets it has [obs kea-dhcp4 2.2]."""
        s = _sockets(Clock(), FakeOpener({A("192.0.2.2")}), interfaces=("eth0",))
        with capturedLogs() as events:
            self.assertIs(self.successResultOf(s.start()), s)
        ids = [e.get("msgid") for e in events]
        self.assertEqual(ids.count("DHCPSRV_OPEN_SOCKET_FAIL"), 1)
        self.assertIn("DHCP4_OPEN_SOCKETS_FAILED", ids)
        self.assertNotIn("DHCPSRV_NO_SOCKETS_OPEN", ids)
        self.assertEqual(list(s.listeners), [("eth0", A("192.0.2.1"))])

    def test_require_all_fails_start(self):
        """require-all with 0 retries: finished fails with
        ServiceSocketsFailed (Kea exits with status 1)."""
        s = _sockets(Clock(), FakeOpener({A("192.0.2.1")}), interfaces=("eth0/192.0.2.1",),
                     service_sockets_require_all=True)
        with capturedLogs() as events:
            failure = self.failureResultOf(s.start(), ServiceSocketsFailed)
        self.assertEqual(failure.value.max_retries, 0)
        ids = [e.get("msgid") for e in events]
        self.assertIn("DHCPSRV_NO_SOCKETS_OPEN", ids)

    def test_retries_then_success(self):
        """Failed sockets are retried every retry-wait-time ms; open ones
        are kept and not reopened; finished fires when all are open."""
        clock = Clock()
        opener = FakeOpener({A("192.0.2.2")})
        s = _sockets(clock, opener, interfaces=("eth0",), service_sockets_max_retries=3,
                     service_sockets_retry_wait_time=500, service_sockets_require_all=True)
        d = s.start()
        self.assertNoResult(d)
        clock.advance(0.499)
        self.assertEqual(len(opener.calls), 2)
        clock.advance(0.001)
        self.assertEqual(opener.calls[-1][1], A("192.0.2.2"))
        self.assertEqual(len(opener.calls), 3)
        opener.refuse.clear()
        clock.advance(0.5)
        self.assertIs(self.successResultOf(d), s)
        self.assertEqual(len(s.listeners), 2)
        self.assertEqual([c[1] for c in opener.calls].count(A("192.0.2.1")), 1)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_retries_exhausted_require_all(self):
        """Initial attempt + max-retries attempts, then failure with
        DHCP4_OPEN_SOCKETS_FAILED naming max-retries [obs: 2 retries, then
        shutdown]."""
        clock = Clock()
        opener = FakeOpener({A("198.51.100.1")})
        s = _sockets(clock, opener, interfaces=("eth1",), service_sockets_max_retries=2,
                     service_sockets_retry_wait_time=1000, service_sockets_require_all=True)
        with capturedLogs() as events:
            d = s.start()
            clock.advance(1)
            self.assertNoResult(d)
            clock.advance(1)
            failure = self.failureResultOf(d, ServiceSocketsFailed)
        self.assertEqual(len(opener.calls), 3)
        self.assertEqual(failure.value.max_retries, 2)
        [event] = [e for e in events if e.get("msgid") == "DHCP4_OPEN_SOCKETS_FAILED"]
        self.assertEqual(event["max_retries"], 2)
        self.assertEqual([e.get("msgid") for e in events].count("DHCPSRV_NO_SOCKETS_OPEN"), 1)

    def test_retries_exhausted_continue(self):
        """Without require-all, exhausted retries end with success (serving
        on what is open, here nothing)."""
        clock = Clock()
        s = _sockets(clock, FakeOpener({A("198.51.100.1")}), interfaces=("eth1",), service_sockets_max_retries=1,
                     service_sockets_retry_wait_time=10)
        d = s.start()
        clock.advance(0.01)
        self.assertIs(self.successResultOf(d), s)
        self.assertEqual(s.listeners, {})

    def test_plan_errors_are_retried(self):
        """A planning error (raw on lo) counts as a failure and is retried,
        as Kea retried 'must not open socket on the loopback interface'."""
        clock = Clock()
        s = _sockets(clock, FakeOpener(), interfaces=("lo",), socket_type="raw", service_sockets_max_retries=2,
                     service_sockets_retry_wait_time=500, service_sockets_require_all=True)
        with capturedLogs() as events:
            d = s.start()
            clock.advance(0.5)
            clock.advance(0.5)
        self.failureResultOf(d, ServiceSocketsFailed)
        reasons = [e["reason"] for e in events if e.get("msgid") == "DHCPSRV_OPEN_SOCKET_FAIL"]
        self.assertEqual(reasons, ["must not open socket on the loopback interface lo"] * 3)

    def test_raw_multiple_per_iface_warns(self):
        """Raw mode with two addresses on one interface warns
        DHCPSRV_MULTIPLE_RAW_SOCKETS_PER_IFACE."""
        s = _sockets(Clock(), FakeOpener(), interfaces=("eth0",), socket_type="raw")
        with capturedLogs() as events:
            s.start()
        self.assertIn("DHCPSRV_MULTIPLE_RAW_SOCKETS_PER_IFACE", [e.get("msgid") for e in events])

    def test_stop_closes_and_cancels(self):
        """stop() closes every listener, cancels the pending retry and
        settles finished."""
        clock = Clock()
        s = _sockets(clock, FakeOpener({A("192.0.2.2")}), interfaces=("eth0",), service_sockets_max_retries=5)
        d = s.start()
        [listener] = s.listeners.values()
        self.successResultOf(s.stop())
        self.assertTrue(listener.stopped)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertIs(self.successResultOf(d), s)
        self.assertEqual(s.listeners, {})

    def test_udp_and_raw_openers(self):
        """socket_type picks the UDP or the raw opener."""
        udp, raw = FakeOpener(), FakeOpener()
        for socket_type, used in (("udp", udp), ("raw", raw)):
            ServiceSockets(Clock(), SocketSettings(interfaces=("eth1",), socket_type=socket_type), None, 67,
                           detect=lambda: DETECTED, flags=FLAGS.get, open_udp=udp, open_raw=raw).start()
            self.assertEqual(len(used.calls), 1)

    def test_default_udp_opener_adopts(self):
        """The default UDP opener binds a real socket and hands it to the
        reactor's adoptDatagramPort."""
        memory = MemoryReactorClock()
        s = open_service_sockets(memory, {"interfaces": ["lo/127.0.0.1"], "dhcp-socket-type": "udp"}, None, 0,
                                 detect=lambda: {"lo": [A("127.0.0.1")]}, flags=lambda name: LO)
        self.successResultOf(s.finished)
        [(fd, family, protocol, _size)] = memory.adoptedPorts
        self.assertEqual(family, socket.AF_INET)
        self.assertEqual((protocol.iface, protocol.local_addr, protocol.local_port), ("lo", A("127.0.0.1"), 0))


class InterfaceFlagsTests(SynchronousTestCase):
    def test_loopback(self):
        """SIOCGIFFLAGS on lo: up, running, loopback."""
        flags = interface_flags("lo")
        self.assertEqual((flags.up, flags.running, flags.loopback), (True, True, True))

    def test_missing(self):
        """An interface that does not exist has no flags."""
        self.assertIsNone(interface_flags("kt-no-such0"))


@implementer(IPacketHandler)
class Echo:
    def receive(self, data, arrival):
        return Reply(data + str(arrival.local_addr).encode(), arrival.remote_addr, arrival.remote_port)


class Client(DatagramProtocol):
    def __init__(self):
        self.answer = defer.Deferred()

    def datagramReceived(self, data, addr):
        if not self.answer.called:
            self.answer.callback((data, addr))


class RealLoopbackTests(TestCase):
    """ServiceSockets with real UDP sockets on 127.0.0.x, high ports, the
    global reactor."""

    def _free_port(self, addr):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, 0))
        port = s.getsockname()[1]
        s.close()
        return port

    @defer.inlineCallbacks
    def test_udp_lo_round_trip(self):
        """'lo/127.0.0.1' in UDP mode opens one socket that answers."""
        port = self._free_port("127.0.0.1")
        s = open_service_sockets(reactor, {"interfaces": ["lo/127.0.0.1"], "dhcp-socket-type": "udp"}, Echo(), port,
                                 detect=lambda: {"lo": [A("127.0.0.1")]})
        self.addCleanup(s.stop)
        yield s.finished
        client = Client()
        cport = reactor.listenUDP(0, client, interface="127.0.0.1")
        self.addCleanup(cport.stopListening)
        cport.write(b"q:", ("127.0.0.1", port))
        data, addr = yield client.answer
        self.assertEqual((data, addr), (b"q:127.0.0.1", ("127.0.0.1", port)))

    @defer.inlineCallbacks
    def test_port_in_use(self):
        """A port held by another socket fails like Kea's ('another DHCP
        server running'): logged, and require-all fails the start."""
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.bind(("127.0.0.1", 0))
        self.addCleanup(holder.close)
        port = holder.getsockname()[1]
        s = ServiceSockets(reactor, {"interfaces": ["lo/127.0.0.1"], "dhcp-socket-type": "udp",
                                     "service-sockets-require-all": True}, Echo(), port,
                           detect=lambda: {"lo": [A("127.0.0.1")]})
        self.addCleanup(s.stop)
        with capturedLogs() as events:
            d = s.start()
        yield self.assertFailure(d, ServiceSocketsFailed)
        [reason] = [e["reason"] for e in events if e.get("msgid") == "DHCPSRV_OPEN_SOCKET_FAIL"]
        self.assertIn("Address already in use", reason)


class UdpOpenerTests(SynchronousTestCase):
    def test_sockets_share_the_backlog(self):
        """udp_opener(backlog) opens UDP sockets whose protocols all queue
        into that one ReceiveBacklog; the plain opener queues nothing."""
        from twisted.internet.testing import MemoryReactor

        from kea_twisted.net.sockets import open_udp_listener, udp_opener
        from kea_twisted.net.udp import ReceiveBacklog

        memory = MemoryReactor()
        backlog = ReceiveBacklog(8, Clock())
        opener = udp_opener(backlog)
        opener(memory, object(), "lo", IPv4Address("127.0.0.1"), 0)
        opener(memory, object(), "lo", IPv4Address("127.0.0.2"), 0)
        open_udp_listener(memory, object(), "lo", IPv4Address("127.0.0.3"), 0)
        backlogs = [entry[2].backlog for entry in memory.adoptedPorts]
        self.assertIs(backlogs[0], backlog)
        self.assertIs(backlogs[1], backlog)
        self.assertIsNone(backlogs[2])
