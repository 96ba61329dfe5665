"""
Tests for kea_twisted.net.services: start/stop order, periodic timers and
SIGHUP reconfiguration, with fake servers and sockets on a MemoryReactorClock.
"""

from __future__ import annotations

from types import SimpleNamespace

from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.config.errors import ConfigError
from kea_twisted.net.services import Dhcp4Service


class FakeServer:
    def __init__(self, config, *, clock, server_port, client_port, events, **kw):
        self.config = config
        self.clock = clock
        self.engine = object()
        self.events = events
        self.runs = []
        self.addresses = []

    def start(self):
        self.events.append(("start", self.config.name))

    def stop(self):
        self.events.append(("stop", self.config.name))

    def set_socket_addresses(self, addresses):
        self.addresses = list(addresses)

    def timer_intervals(self):
        return {"reclaim": 10, "lfc": 0}

    def run_timer(self, name):
        self.runs.append((name, self.clock()))


class FakeSockets:
    def __init__(self, events, name):
        self.events = events
        self.name = name
        self.finished = succeed(self)
        events.append(("sockets-open", name))

    def addresses(self):
        return ["127.0.0.1"]

    def stop(self):
        self.events.append(("sockets-close", self.name))
        return succeed(None)


class FakeObserver:
    def __init__(self):
        self.configured = []

    def configure(self, specs):
        self.configured.append(specs)


def config(name):
    return SimpleNamespace(name=name, interfaces_config=None, loggers=[])


class ServiceTests(SynchronousTestCase):
    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.events = []
        self.staged = {"next": config("second")}

        def stage(path):
            value = self.staged["next"]
            if isinstance(value, Exception):
                raise value
            return value

        self.service = Dhcp4Service(
            "/etc/kea/kea-dhcp4.conf", config("first"), reactor=self.reactor,
            stage=stage,
            server_factory=lambda c, **kw: FakeServer(c, events=self.events, **kw),
            sockets_factory=lambda r, ic, engine, port: FakeSockets(self.events, "s%d" % len(self.events)),
            observer=FakeObserver(), install_signal_handlers=False,
        )

    def test_start_then_stop_order(self):
        """The lease store opens before the sockets and closes after them."""
        self.service.startService()
        self.successResultOf(self.service.stopService())
        kinds = [e[0] for e in self.events]
        self.assertEqual(kinds, ["start", "sockets-open", "sockets-close", "stop"])

    def test_socket_addresses_given_to_server(self):
        """The server learns its socket addresses (server identifier, §4)."""
        self.service.startService()
        self.assertEqual(self.service.server.addresses, ["127.0.0.1"])

    def test_timer_one_shot_rearmed(self):
        """A periodic task runs after its interval and is re-armed after it
        ran; an interval of 0 disables the task."""
        self.service.startService()
        self.reactor.advance(10)
        self.reactor.advance(10)
        self.assertEqual([n for n, _ in self.service.server.runs], ["reclaim", "reclaim"])
        self.successResultOf(self.service.stopService())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_reload_swaps(self):
        """A good configuration on reload replaces server and sockets."""
        self.service.startService()
        self.assertTrue(self.successResultOf(self.service.reload()))
        self.assertEqual(self.service.server.config.name, "second")
        self.assertIn(("stop", "first"), self.events)

    def test_reload_broken_keeps_serving(self):
        """A broken configuration on reload leaves the old one serving."""
        self.service.startService()
        self.staged["next"] = ConfigError("boom")
        self.assertFalse(self.successResultOf(self.service.reload()))
        self.assertEqual(self.service.server.config.name, "first")
        self.assertNotIn(("stop", "first"), self.events)


class CommandTableTests(SynchronousTestCase):
    def test_builtin_commands_registered(self):
        """The control channel offers Kea's built-in server commands."""
        reactor = MemoryReactorClock()
        service = Dhcp4Service(None, config("c"), reactor=reactor, stage=lambda p: None,
                               server_factory=lambda c, **kw: None, sockets_factory=None,
                               observer=None, install_signal_handlers=False)
        names = set(service.command_table().names())
        for name in ("version-get", "status-get", "dhcp-disable", "dhcp-enable", "statistic-get",
                     "statistic-get-all", "shutdown", "config-reload", "leases-reclaim", "list-commands"):
            self.assertIn(name, names)

    def test_status_get(self):
        """status-get answers through the command table."""
        reactor = MemoryReactorClock()
        service = Dhcp4Service(None, config("c"), reactor=reactor, stage=lambda p: None,
                               server_factory=lambda c, **kw: None, sockets_factory=None,
                               observer=None, install_signal_handlers=False)
        table = service.command_table()
        result = self.successResultOf(table.process({"command": "status-get"}))
        self.assertEqual(result["result"], 0)
