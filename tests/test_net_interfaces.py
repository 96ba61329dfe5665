"""
Tests for kea_twisted.net.interfaces: interface and address discovery.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address

from twisted.trial import unittest
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.net import interfaces as interfaces_module
from kea_twisted.net.interfaces import (
    interface_names,
    ipv4_interfaces,
    parse_rtm_newaddr_dump,
    parse_rtm_newlink_dump,
)


def _rtattr(kind, payload):
    length = 4 + len(payload)
    pad = (-length) % 4
    return struct.pack("=HH", length, kind) + payload + b"\0" * pad


def _newaddr(index, address, prefix, label=b"lo\0"):
    body = struct.pack("=BBBBI", socket.AF_INET, prefix, 0, 0, index)
    body += _rtattr(1, IPv4Address(address).packed) + _rtattr(2, IPv4Address(address).packed)
    body += _rtattr(3, label)
    return struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body


def _newlink(index, name):
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 772, index, 0x49, 0)
    body += _rtattr(13, struct.pack("=I", 65536))  # IFLA_MTU first: attributes come in any order
    body += _rtattr(3, name + b"\0")
    return struct.pack("=IHHII", 16 + len(body), 16, 2, 1, 0) + body


DONE = struct.pack("=IHHII", 20, 3, 2, 1, 0) + b"\0\0\0\0"


class ParseTests(SynchronousTestCase):
    def test_addresses_and_done(self):
        """Two RTM_NEWADDR records then NLMSG_DONE parse in order."""
        data = _newaddr(1, "127.0.0.1", 8) + _newaddr(1, "127.0.3.1", 32) + DONE
        found, done = parse_rtm_newaddr_dump(data)
        self.assertEqual(found, [(1, IPv4Address("127.0.0.1"), 8), (1, IPv4Address("127.0.3.1"), 32)])
        self.assertTrue(done)

    def test_truncated_is_tolerated(self):
        """A cut-off message ends parsing without an exception."""
        data = _newaddr(1, "127.0.0.1", 8)
        found, done = parse_rtm_newaddr_dump(data[:-3])
        self.assertEqual(found, [])
        self.assertFalse(done)

    def test_local_preferred(self):
        """IFA_LOCAL wins over IFA_ADDRESS (point-to-point peers)."""
        body = struct.pack("=BBBBI", socket.AF_INET, 32, 0, 0, 5)
        body += _rtattr(1, IPv4Address("10.9.9.9").packed) + _rtattr(2, IPv4Address("127.0.0.5").packed)
        msg = struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body
        found, _ = parse_rtm_newaddr_dump(msg)
        self.assertEqual(found, [(5, IPv4Address("127.0.0.5"), 32)])


class ParseLinkTests(SynchronousTestCase):
    def test_names_and_done(self):
        """RTM_NEWLINK records give (index, name) pairs, in order, then DONE."""
        data = _newlink(1, b"lo") + _newlink(7, b"veth-kt0") + DONE
        found, done = parse_rtm_newlink_dump(data)
        self.assertEqual(found, [(1, "lo"), (7, "veth-kt0")])
        self.assertTrue(done)

    def test_without_name_skipped(self):
        """A link record with no IFLA_IFNAME is not listed; others are."""
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 1, 4, 0, 0)
        nameless = struct.pack("=IHHII", 16 + len(body), 16, 2, 1, 0) + body
        found, done = parse_rtm_newlink_dump(nameless + _newlink(5, b"eth1"))
        self.assertEqual(found, [(5, "eth1")])
        self.assertFalse(done)

    def test_other_messages_ignored(self):
        """Address records in a link dump are not names."""
        found, _ = parse_rtm_newlink_dump(_newaddr(1, "127.0.0.1", 8) + _newlink(2, b"eth0"))
        self.assertEqual(found, [(2, "eth0")])

    def test_truncated_is_tolerated(self):
        """A cut-off link record ends parsing without an exception."""
        found, done = parse_rtm_newlink_dump(_newlink(1, b"lo")[:-2])
        self.assertEqual(found, [])
        self.assertFalse(done)


def _without_if_nameindex(case):
    """Make socket.if_nameindex absent for the rest of the test, as on PyPy."""
    original = getattr(socket, "if_nameindex", None)
    if original is not None:
        del socket.if_nameindex
        case.addCleanup(setattr, socket, "if_nameindex", original)


class LiveTests(SynchronousTestCase):
    def test_loopback(self):
        """This machine's lo has 127.0.0.1 (every Linux machine does)."""
        interfaces = ipv4_interfaces()
        self.assertIn("lo", interfaces)
        self.assertIn(IPv4Address("127.0.0.1"), interfaces["lo"])

    def test_loopback_without_if_nameindex(self):
        """Where socket has no if_nameindex (PyPy 7.3), names come from an
        RTM_GETLINK dump and lo still has 127.0.0.1."""
        _without_if_nameindex(self)
        interfaces = ipv4_interfaces()
        self.assertIn("lo", interfaces)
        self.assertIn(IPv4Address("127.0.0.1"), interfaces["lo"])

    def test_link_dump_matches_if_nameindex(self):
        """The netlink fallback lists what if_nameindex lists."""
        if not hasattr(socket, "if_nameindex"):
            raise unittest.SkipTest("this interpreter has no socket.if_nameindex to compare with")
        self.assertEqual(sorted(interfaces_module._dump_links()), sorted(socket.if_nameindex()))

    def test_interface_names_without_if_nameindex(self):
        """interface_names() answers through the fallback and lists lo."""
        _without_if_nameindex(self)
        self.assertIn("lo", [name for _index, name in interface_names()])
