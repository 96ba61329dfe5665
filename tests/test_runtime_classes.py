"""
Tests for the classification steps of kea_twisted.runtime.Dhcp4Runtime:
the packet's one class list, hook classes, Kea's current host, KNOWN from
any reservation, reserved classes early (re-evaluation) or late (shared
networks).  The recorded scenarios tests/scenarios/class-reserved-* pin the
same on the wire.  RuntimePrecomputedTests: the per-configuration values
the hot path reads (netmask bytes, the shared empty option source, names).
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.config.element import from_python
from kea_twisted.config.staging import stage_config_element
from kea_twisted.packet import Packet4
from kea_twisted.server import Dhcp4Server

SERVER = IPv4Address("127.0.0.1")
MAC = b"\x02\x00\x00\x00\x00\x07"


def runtime(testcase, **extra):
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "client-classes": [
            {"name": "first"},
            {"name": "second", "test": "not member('first')"},
            {"name": "ext", "test": "member('EXTERNAL_a')"},
            {"name": "k", "test": "member('KNOWN')"},
        ],
        "subnet4": [{"id": 1, "subnet": "10.0.0.0/24", "pools": [{"pool": "10.0.0.10 - 10.0.0.20"}],
                     "reservations": [{"hw-address": "02:00:00:00:00:07", "client-classes": ["first"],
                                       "hostname": "in-subnet"}]}],
    }
    dhcp4.update(extra)
    config = stage_config_element(from_python({"Dhcp4": dhcp4}), interfaces={"lo": [SERVER]})
    clock = Clock()
    server = Dhcp4Server(config, clock=clock.seconds, interfaces={"lo": [SERVER]})
    server.start()
    testcase.addCleanup(server.stop)
    return server.runtime


def query(*hook_classes):
    q = Packet4(chaddr=MAC, options={53: b"\x01"})
    for name in hook_classes:
        q.add_class(name)
    return q


class RuntimeClassTests(SynchronousTestCase):
    def test_pass1_is_the_packets_list(self):
        """classify_pass1 returns query.classes itself: hook classes after
        ALL, and a class a later callout adds (query.add_class) is in it."""
        rt = runtime(self)
        q = query("EXTERNAL_a")
        classes = rt.classify_pass1(q)
        self.assertIs(q.classes, classes)
        self.assertEqual(classes, ["ALL", "EXTERNAL_a", "second", "ext"])
        q.add_class("EXTERNAL_b")
        self.assertEqual(classes[-1], "EXTERNAL_b")
        self.assertTrue(q.in_class("ext"))

    def test_current_host_prefers_subnet(self):
        """Kea's currentHost(): with both reservations-in-subnet and
        -global, the subnet's reservation wins over the global one."""
        rt = runtime(self, **{"reservations-global": True, "reservations-in-subnet": True,
                              "reservations": [{"hw-address": "02:00:00:00:00:07", "hostname": "global"}]})
        subnet = rt.subnets[1]
        hosts, _ids, host = rt.find_hosts(query(), subnet)
        self.assertEqual(host.hostname, "in-subnet")
        self.assertEqual(len(hosts), 2)

    def test_reserved_classes_reevaluate(self):
        """A plain subnet's reservation with classes: pass 1 again, so
        'second' (not member('first')) is gone; then KNOWN and pass 2."""
        rt = runtime(self)
        q = query("EXTERNAL_a")
        classes = rt.classify_pass1(q)
        subnet = rt.subnets[1]
        hosts, _ids, host = rt.find_hosts(q, subnet)
        classes = rt.classify_after_hosts(q, classes, host, subnet, hosts)
        self.assertEqual(classes, ["ALL", "EXTERNAL_a", "first", "ext", "KNOWN", "k"])

    def test_known_from_any_host(self):
        """KNOWN when any reservation was found (hosts), even when the
        current host is None; UNKNOWN otherwise."""
        rt = runtime(self)
        subnet = rt.subnets[1]
        q = query()
        classes = rt.classify_after_hosts(q, rt.classify_pass1(q), None, subnet, {99: object()})
        self.assertIn("KNOWN", classes)
        q = query()
        classes = rt.classify_after_hosts(q, rt.classify_pass1(q), None, subnet, {})
        self.assertIn("UNKNOWN", classes)


class RuntimePrecomputedTests(SynchronousTestCase):
    """What Dhcp4Runtime computes once per configuration instead of per
    packet (issue 8, hot path)."""

    def test_netmask_bytes_per_subnet(self):
        """Each subnet runtime carries its prefix's netmask as option 1's
        payload."""
        rt = runtime(self, **{"subnet4": [
            {"id": 1, "subnet": "10.0.0.0/24", "pools": [{"pool": "10.0.0.10 - 10.0.0.20"}]},
            {"id": 2, "subnet": "10.1.0.0/13", "pools": [{"pool": "10.1.0.10 - 10.1.0.20"}]}]})
        self.assertEqual(rt.subnets[1].netmask_packed, b"\xff\xff\xff\x00")
        self.assertEqual(rt.subnets[2].netmask_packed, b"\xff\xf8\x00\x00")

    def test_empty_option_levels_are_one_shared_frozen_mapping(self):
        """A pool and a subnet without options give the same read-only
        empty mapping for every query, never a fresh dict a caller could
        fill."""
        from kea_twisted.runtime import NO_OPTIONS

        rt = runtime(self, **{"subnet4": [
            {"id": 1, "subnet": "10.0.0.0/24", "pools": [{"pool": "10.0.0.10 - 10.0.0.20"}]}]})
        subnet = rt.subnets[1]
        pool = subnet.pools[0].model
        rt.pool_options.clear()  # as for a pool the runtime has no entry for
        first = rt.option_sources(subnet, [], None, pool)
        second = rt.option_sources(subnet, [], None, pool)
        self.assertIs(first[0], NO_OPTIONS)
        self.assertIs(second[0], NO_OPTIONS)
        self.assertEqual(len(first), 3)  # pool, subnet, global
        with self.assertRaises(TypeError):
            first[0][3] = None  # type: ignore[index]

    def test_after_allocation_without_generated_name(self):
        """No 12/81, or a client hostname already kept: the decision is
        returned as is (no address text built); an empty FQDN still gets
        Kea's generated name with the address."""
        rt = runtime(self, **{"ddns-qualifying-suffix": "example.org"})
        subnet = rt.subnets[1]
        address = IPv4Address("10.0.0.11")
        for options in ({53: b"\x01"}, {53: b"\x01", 12: b"foo"}):
            names = rt.client_names(Packet4(chaddr=b"\x02" * 6, options=options), None, subnet)
            self.assertIs(names.after_allocation(address), names)
        names = rt.client_names(Packet4(chaddr=b"\x02" * 6, options={53: b"\x01", 81: b"\x01\x00\x00"}),
                                None, subnet)
        final = names.after_allocation(address)
        self.assertTrue(final.generated)
        self.assertEqual(final.lease_hostname, "myhost-10-0-0-11.example.org.")


class RuntimeRememberedTests(SynchronousTestCase):
    """What the runtime works out once per configuration (issue 8) still
    answers per query."""

    def _reply(self, rt, query, classes):
        reply = Packet4(op=2, options={53: b"\x02", 51: b"\x00\x00\x0f\xa0"})
        rt.add_configured_options(query, reply, rt.subnets[1], classes, None, IPv4Address("10.0.0.11"))
        return reply

    def test_option_choice_per_prl_class_and_present_codes(self):
        """The remembered option choice differs by parameter request list,
        by the packet's classes that carry options, and by the codes
        already in the reply; a class without options shares the answer."""
        rt = runtime(self, **{
            "client-classes": [{"name": "c", "option-data": [{"name": "domain-name", "data": "c.example"}]},
                               {"name": "plain"}],
            "option-data": [{"name": "domain-name", "data": "example.org"},
                            {"name": "time-offset", "data": "60"}],
            "subnet4": [{"id": 1, "subnet": "10.0.0.0/24", "pools": [{"pool": "10.0.0.10 - 10.0.0.20"}],
                         "option-data": [{"name": "routers", "data": "10.0.0.1"}]}]})
        asked = Packet4(chaddr=MAC, options={53: b"\x01", 55: bytes([2, 3])})
        silent = Packet4(chaddr=MAC, options={53: b"\x01"})
        self.assertEqual(self._reply(rt, asked, ["ALL"]).options.get(2), (60).to_bytes(4, "big"))
        self.assertNotIn(2, self._reply(rt, silent, ["ALL"]).options)
        self.assertEqual(self._reply(rt, silent, ["ALL", "c"]).options[15], b"c.example")
        self.assertEqual(self._reply(rt, silent, ["ALL", "plain"]).options[15], b"example.org")
        self.assertEqual(self._reply(rt, silent, ["ALL"]).options[3], b"\x0a\x00\x00\x01")
        routed = Packet4(op=2, options={53: b"\x02", 3: b"\x01\x02\x03\x04"})
        rt.add_configured_options(silent, routed, rt.subnets[1], ["ALL"], None, None)
        self.assertEqual(routed.options[3], b"\x01\x02\x03\x04")

    def test_fixed_fields_from_subnet_class_and_host(self):
        """siaddr/sname/file: the subnet's (encoded once), a class's that
        sets one, a reservation's."""
        rt = runtime(self, **{
            "client-classes": [{"name": "boot", "boot-file-name": "pxe.bin"}],
            "subnet4": [{"id": 1, "subnet": "10.0.0.0/24", "pools": [{"pool": "10.0.0.10 - 10.0.0.20"}],
                         "next-server": "10.0.0.2", "server-hostname": "srv"}]})
        q = Packet4(chaddr=MAC, options={53: b"\x01"})
        plain = self._reply(rt, q, ["ALL"])
        self.assertEqual((plain.siaddr, plain.sname.rstrip(b"\0"), plain.file.rstrip(b"\0")),
                         (IPv4Address("10.0.0.2"), b"srv", b""))
        booted = self._reply(rt, q, ["ALL", "boot"])
        self.assertEqual((booted.sname.rstrip(b"\0"), booted.file.rstrip(b"\0")), (b"srv", b"pxe.bin"))
