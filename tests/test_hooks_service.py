"""
Tests for hook libraries in the running service (kea_twisted.net.services):
loaded from the configuration with the server context, their commands on
the control channel, ``dhcp4_srv_configured``, ``libreload``, reload with a
failing library, unloading at stop.  Real server and configuration, fake
sockets, MemoryReactorClock.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.config.element import from_python
from kea_twisted.config.staging import stage_config_element
from kea_twisted.hooks import IServerContext
from kea_twisted.net.services import Dhcp4Service
from tests.fake_sockets import fake_sockets_factory
from tests.hook_journal import JOURNALS

HERE = os.path.dirname(os.path.abspath(__file__))
CONTEXT_LIB = os.path.join(HERE, "hooklibs", "context_lib.py")
FAILING_LIB = os.path.join(HERE, "hooklibs", "failing_load.py")


def _stage(libraries):
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]}],
        "hooks-libraries": libraries,
    }
    return stage_config_element(from_python({"Dhcp4": dhcp4}), interfaces={"lo": [IPv4Address("127.0.0.1")]})


class HookedServiceTests(SynchronousTestCase):
    def setUp(self):
        self.key = self.id()
        JOURNALS.pop(self.key, None)
        self.reactor = MemoryReactorClock()
        self.next_config = None
        self.service = Dhcp4Service(
            "/nonexistent/kea-dhcp4.conf", _stage([{"library": CONTEXT_LIB, "parameters": {"key": self.key}}]),
            reactor=self.reactor, stage=lambda path: self.next_config,
            sockets_factory=fake_sockets_factory(),
            observer=None, install_signal_handlers=False,
        )
        self.service.startService()
        self.addCleanup(lambda: self.service.running and self.service.stopService())

    @property
    def journal(self):
        return JOURNALS[self.key]

    def test_loaded_with_server_context(self):
        """The library gets an IServerContext naming this service's reactor,
        configuration and lease store; dhcp4_srv_configured follows."""
        kind, context = self.journal[0]
        self.assertEqual(kind, "load")
        self.assertTrue(IServerContext.providedBy(context))
        self.assertIs(context.reactor, self.reactor)
        self.assertIs(context.store, self.service.server.store)
        self.assertIs(context.config, self.service.config)
        self.assertEqual(self.journal[1], ("configured", self.reactor, self.service.config))

    def test_command_on_the_control_channel(self):
        """A command the library registers is served and listed."""
        answer = self.successResultOf(self.service.commands.process({"command": "context-test"}))
        self.assertEqual(answer, {"result": 0, "text": "leases: 0"})
        listed = self.successResultOf(self.service.commands.process({"command": "list-commands"}))
        self.assertIn("context-test", listed["arguments"])

    def test_execute_command_through_the_context(self):
        """IServerContext.execute_command reaches built-ins and hook commands."""
        context = self.journal[0][1]
        self.assertEqual(self.successResultOf(context.execute_command("context-test"))["result"], 0)
        self.assertEqual(self.successResultOf(context.execute_command("version-get"))["result"], 0)

    def test_libreload(self):
        """libreload unloads and loads the libraries again."""
        answer = self.successResultOf(self.service.commands.process({"command": "libreload"}))
        self.assertEqual(answer, {"result": 0, "text": "Hooks libraries successfully reloaded."})
        kinds = [e[0] for e in self.journal]
        self.assertEqual(kinds, ["load", "configured", "unload", "load", "configured"])

    def test_reload_with_failing_library_keeps_old(self):
        """A reload whose library fails in load() leaves the old configuration
        and its library loaded and serving."""
        old = self.service.config
        self.next_config = _stage([{"library": FAILING_LIB}])
        self.assertFalse(self.successResultOf(self.service.reload()))
        self.assertIs(self.service.config, old)
        self.assertEqual(self.journal[-2:][0][0], "load")
        answer = self.successResultOf(self.service.commands.process({"command": "context-test"}))
        self.assertEqual(answer["result"], 0)
        self.flushLoggedErrors(ValueError)

    def test_stop_unloads(self):
        """Stopping the service unloads the libraries."""
        self.successResultOf(self.service.stopService())
        self.assertEqual(self.journal[-1], ("unload",))

    def test_leases_reclaim_arguments(self):
        """leases-reclaim takes a mandatory boolean 'remove' (spec §2.11)."""
        process = self.service.commands.process
        self.assertEqual(self.successResultOf(process({"command": "leases-reclaim"})),
                         {"result": 1, "text": "Missing mandatory 'remove' parameter."})
        self.assertEqual(self.successResultOf(process({"command": "leases-reclaim", "arguments": {"remove": "yes"}})),
                         {"result": 1, "text": "'remove' parameter expected to be a boolean."})
        self.assertEqual(self.successResultOf(process({"command": "leases-reclaim", "arguments": {"remove": True}})),
                         {"result": 0, "text": "Reclamation of expired leases is complete."})

    def test_server_tag_and_backend_pull(self):
        """server-tag-get and config-backend-pull answer as Kea 2.2 (§2.12)."""
        process = self.service.commands.process
        self.assertEqual(self.successResultOf(process({"command": "server-tag-get"})),
                         {"arguments": {"server-tag": ""}, "result": 0})
        self.assertEqual(self.successResultOf(process({"command": "config-backend-pull"})),
                         {"result": 3, "text": "No config backend."})

    def test_reload_keeps_packet_counters_and_renews_subnet_statistics(self):
        """A reconfiguration keeps pkt4-* counters (Kea sets them only at
        start) and replaces the subnets' statistics with the new ones."""
        stats = self.service.stats
        stats.add_value("pkt4-received", 5)
        self.next_config = stage_config_element(from_python({"Dhcp4": {
            "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
            "lease-database": {"type": "memfile", "persist": False},
            "subnet4": [{"id": 2, "subnet": "192.0.3.0/24", "pools": [{"pool": "192.0.3.10 - 192.0.3.11"}]}],
        }}), interfaces={"lo": [IPv4Address("127.0.0.1")]})
        self.assertTrue(self.successResultOf(self.service.reload()))
        self.assertEqual(stats.value("pkt4-received"), 5)
        self.assertIsNone(stats.value("subnet[1].total-addresses"))
        self.assertEqual(stats.value("subnet[2].total-addresses"), 2)


def _query(mtype=1):
    from kea_twisted.packet import Packet4, encode

    return encode(Packet4(op=1, xid=1, chaddr=b"\x02\x00\x00\x00\x00\x01", giaddr=IPv4Address("127.0.0.1"),
                          hops=1, options={53: bytes([mtype])}))


class ConfigCommandsServiceTests(SynchronousTestCase):
    """config-get/config-set on the running service (kea_twisted.config_commands
    wired into kea_twisted.net.services)."""

    def setUp(self):
        self.reactor = MemoryReactorClock()
        config = stage_config_element(from_python({"Dhcp4": {
            "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
            "lease-database": {"type": "memfile", "persist": False},
            "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "relay": {"ip-addresses": ["127.0.0.1"]},
                         "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]}],
        }}), interfaces={"lo": [IPv4Address("127.0.0.1")]})
        self.service = Dhcp4Service(None, config, reactor=self.reactor,
                                    sockets_factory=fake_sockets_factory(),
                                    observer=None, install_signal_handlers=False)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def _offer(self):
        from kea_twisted.datagrams import Arrival
        from kea_twisted.packet import decode

        arrival = Arrival(iface="lo", local_addr=IPv4Address("127.0.0.1"), local_port=67,
                          remote_addr=IPv4Address("127.0.0.1"), remote_port=67)
        outcome = self.service.server.engine.receive(_query(), arrival)
        return decode(outcome.data).yiaddr

    def test_broken_config_set_keeps_serving(self):
        """config-set with a broken config answers Kea's error; the old
        configuration keeps answering DHCP (Kea 2.2 would stop)."""
        answer = self.successResultOf(self.service.commands.process({"command": "config-set", "arguments": {
            "Dhcp4": {"subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "bogus": 1}]}}}))
        self.assertEqual(answer["result"], 1)
        self.assertIn("bogus", answer["text"])
        self.assertEqual(str(self._offer()), "192.0.2.10")

    def test_config_set_then_get(self):
        """A good config-set serves the new subnet; config-get shows it."""
        answer = self.successResultOf(self.service.commands.process({"command": "config-set", "arguments": {
            "Dhcp4": {"interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
                      "lease-database": {"type": "memfile", "persist": False},
                      "subnet4": [{"id": 7, "subnet": "198.51.100.0/24", "relay": {"ip-addresses": ["127.0.0.1"]},
                                   "pools": [{"pool": "198.51.100.5 - 198.51.100.6"}]}]}}}))
        self.assertEqual((answer["result"], answer["text"]), (0, "Configuration successful."))
        self.assertEqual(str(self._offer()), "198.51.100.5")
        got = self.successResultOf(self.service.commands.process({"command": "config-get"}))
        self.assertEqual([s["id"] for s in got["arguments"]["Dhcp4"]["subnet4"]], [7])

    def test_apply_with_unreachable_database_keeps_old(self):
        """A configuration whose lease database cannot be opened (PostgreSQL
        on a closed loopback port) is not put in force: apply answers False
        and the old configuration keeps answering DHCP."""
        old = self.service.config
        config = stage_config_element(from_python({"Dhcp4": {
            "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
            "lease-database": {"type": "postgresql", "name": "kea", "host": "127.0.0.1", "port": 18599,
                               "user": "kea", "password": "kea", "connect-timeout": 2},
            "subnet4": [{"id": 2, "subnet": "198.51.100.0/24", "relay": {"ip-addresses": ["127.0.0.1"]},
                         "pools": [{"pool": "198.51.100.5 - 198.51.100.6"}]}],
        }}), interfaces={"lo": [IPv4Address("127.0.0.1")]})
        self.assertFalse(self.successResultOf(self.service.apply(config)))
        self.assertIs(self.service.config, old)
        self.assertEqual(str(self._offer()), "192.0.2.10")
