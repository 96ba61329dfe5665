"""
Tests for kea_twisted.selection: Kea's subnet selection (spec/dhcp4.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address as A, IPv4Network

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.selection import Selector, SubnetSelector


@dataclass
class S:
    id: int
    prefix: IPv4Network
    relay_addresses: tuple = ()
    interface: str = ""
    client_class: str = ""


def s(sid, prefix, relays=(), **kw):
    return S(sid, IPv4Network(prefix), tuple(A(r) for r in relays), **kw)


class SelectionTests(SynchronousTestCase):
    def test_id_order(self):
        """Subnets are scanned by id, not config order (two subnets with the
        same relay, ids 7 and 5: 5 wins)."""
        sel = SubnetSelector([s(7, "10.7.0.0/24", ["127.0.3.2"]), s(5, "10.5.0.0/24", ["127.0.3.2"])])
        self.assertEqual(sel.select(Selector(giaddr=A("127.0.3.2")), ()).id, 5)

    def test_relay_list_then_prefix(self):
        """A giaddr in no relay list is matched against every prefix."""
        sel = SubnetSelector([s(1, "10.0.0.0/24", ["127.0.3.2"]), s(2, "127.0.3.0/24")])
        self.assertEqual(sel.select(Selector(giaddr=A("127.0.3.2")), ()).id, 1)
        self.assertEqual(sel.select(Selector(giaddr=A("127.0.3.4")), ()).id, 2)
        self.assertIsNone(sel.select(Selector(giaddr=A("127.0.9.9")), ()))

    def test_link_selection_wins(self):
        """82.5 / 118 select by prefix and never fall back to giaddr."""
        sel = SubnetSelector([s(1, "10.0.0.0/24", ["127.0.3.2"]), s(2, "10.2.0.0/24")])
        self.assertEqual(sel.select(Selector(giaddr=A("127.0.3.2"), option_select=A("10.2.0.1")), ()).id, 2)
        self.assertIsNone(sel.select(Selector(giaddr=A("127.0.3.2"), option_select=A("10.9.0.1")), ()))

    def test_class_guard(self):
        """A guarded subnet is skipped for packets outside its class."""
        sel = SubnetSelector([s(1, "10.0.0.0/24", ["127.0.3.2"], client_class="phones"),
                              s(2, "10.1.0.0/24", ["127.0.3.2"])])
        self.assertEqual(sel.select(Selector(giaddr=A("127.0.3.2")), ()).id, 2)
        self.assertEqual(sel.select(Selector(giaddr=A("127.0.3.2")), ["phones"]).id, 1)

    def test_ciaddr_then_source(self):
        """Direct packets: ciaddr, else the source address."""
        sel = SubnetSelector([s(1, "127.0.3.0/24"), s(2, "127.0.4.0/24")])
        self.assertEqual(sel.select(Selector(ciaddr=A("127.0.4.3"), remote_addr=A("127.0.3.3")), ()).id, 2)
        self.assertEqual(sel.select(Selector(remote_addr=A("127.0.3.3")), ()).id, 1)

    def test_broadcast_uses_interface(self):
        """A broadcast query: the interface's subnet, then its address."""
        sel = SubnetSelector([s(1, "192.0.2.0/24"), s(2, "198.51.100.0/24", interface="eth9")],
                             {"eth0": [A("192.0.2.2")]})
        self.assertEqual(sel.select(Selector(iface="eth9", to_broadcast=True, ciaddr=A("192.0.2.9")), ()).id, 2)
        self.assertEqual(sel.select(Selector(iface="eth0", to_broadcast=True), ()).id, 1)
        self.assertIsNone(sel.select(Selector(iface="eth5", to_broadcast=True), ()))
