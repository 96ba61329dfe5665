"""
Tests for kea_twisted.net.interfaces: interface and address discovery.
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.net.interfaces import ipv4_interfaces, parse_rtm_newaddr_dump


def _rtattr(kind, payload):
    length = 4 + len(payload)
    pad = (-length) % 4
    return struct.pack("=HH", length, kind) + payload + b"\0" * pad


def _newaddr(index, address, prefix, label=b"lo\0"):
    body = struct.pack("=BBBBI", socket.AF_INET, prefix, 0, 0, index)
    body += _rtattr(1, IPv4Address(address).packed) + _rtattr(2, IPv4Address(address).packed)
    body += _rtattr(3, label)
    return struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body


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


class LiveTests(SynchronousTestCase):
    def test_loopback(self):
        """This machine's lo has 127.0.0.1 (every Linux machine does)."""
        interfaces = ipv4_interfaces()
        self.assertIn("lo", interfaces)
        self.assertIn(IPv4Address("127.0.0.1"), interfaces["lo"])
