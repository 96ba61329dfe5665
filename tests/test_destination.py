"""
Tests for kea_twisted.destination: Kea's reply destination rules
(spec/dhcp4.md §13; dhcp4_srv.cc adjustIfaceData/adjustRemoteAddr).
"""

from __future__ import annotations

from ipaddress import IPv4Address as A

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.destination import route_reply

ZERO = A("0.0.0.0")
BCAST = A("255.255.255.255")
DISCOVER, OFFER, REQUEST, ACK, NAK, INFORM = 1, 2, 3, 5, 6, 8


def route(**kw):
    args = dict(
        query_type=DISCOVER, query_flags=0, ciaddr=ZERO, giaddr=ZERO,
        remote_addr=ZERO, local_addr=A("127.0.3.1"), reply_type=OFFER,
        yiaddr=A("10.0.0.10"), direct_response=False,
    )
    args.update(kw)
    return route_reply(**args)


class RouteTests(SynchronousTestCase):
    def test_relayed_goes_to_giaddr_67(self):
        """Any relayed query is answered to giaddr:67 from the socket address."""
        r = route(giaddr=A("127.0.3.2"), remote_addr=A("127.0.3.2"))
        self.assertEqual((r.dest_addr, r.dest_port, r.source_addr, r.source_port),
                         (A("127.0.3.2"), 67, A("127.0.3.1"), 67))

    def test_relay_port_suboption(self):
        """RAI sub-option 19 (relay-port) replaces 67 for relayed replies."""
        r = route(giaddr=A("127.0.3.2"), relay_port=1067)
        self.assertEqual(r.dest_port, 1067)

    def test_server_port_is_source_only(self):
        """-p changes the source port; relays are still answered on 67."""
        r = route(giaddr=A("127.0.3.2"), server_port=6767)
        self.assertEqual((r.dest_port, r.source_port), (67, 6767))

    def test_client_port_forces_all(self):
        """-P sends every reply to that port, relayed ones included."""
        r = route(giaddr=A("127.0.3.2"), client_port=6868)
        self.assertEqual(r.dest_port, 6868)

    def test_ciaddr_unicast_68(self):
        """Not relayed with ciaddr: ciaddr:68, NAK included."""
        for reply_type in (ACK, NAK):
            r = route(query_type=REQUEST, ciaddr=A("127.0.3.9"), reply_type=reply_type)
            self.assertEqual((r.dest_addr, r.dest_port), (A("127.0.3.9"), 68))

    def test_nak_broadcast(self):
        """Not relayed, no ciaddr, NAK: 255.255.255.255:68."""
        r = route(query_type=REQUEST, reply_type=NAK, yiaddr=ZERO)
        self.assertEqual((r.dest_addr, r.dest_port), (BCAST, 68))

    def test_broadcast_flag(self):
        """Broadcast flag set: 255.255.255.255 even where unicast is possible."""
        r = route(query_flags=0x8000, direct_response=True)
        self.assertEqual(r.dest_addr, BCAST)
        self.assertFalse(r.unicast_to_yiaddr)

    def test_unicast_to_yiaddr_raw_only(self):
        """Flag clear: raw sockets unicast to yiaddr, UDP sockets broadcast."""
        raw = route(direct_response=True)
        self.assertEqual((raw.dest_addr, raw.unicast_to_yiaddr), (A("10.0.0.10"), True))
        udp = route(direct_response=False)
        self.assertEqual((udp.dest_addr, udp.unicast_to_yiaddr), (BCAST, False))

    def test_inform_ciaddr(self):
        """INFORM with ciaddr goes to ciaddr:68, relayed or not."""
        for giaddr in (ZERO, A("127.0.3.2")):
            r = route(query_type=INFORM, reply_type=ACK, ciaddr=A("127.0.3.7"), giaddr=giaddr, yiaddr=ZERO)
            self.assertEqual((r.dest_addr, r.dest_port, r.flags), (A("127.0.3.7"), 68, 0))

    def test_inform_relayed_no_ciaddr(self):
        """Relayed INFORM without ciaddr: giaddr:67 with the broadcast bit set."""
        r = route(query_type=INFORM, reply_type=ACK, giaddr=A("127.0.3.2"), yiaddr=ZERO)
        self.assertEqual((r.dest_addr, r.dest_port, r.flags), (A("127.0.3.2"), 67, 0x8000))

    def test_inform_direct_no_ciaddr(self):
        """Direct INFORM without ciaddr: the source address, port 68."""
        r = route(query_type=INFORM, reply_type=ACK, remote_addr=A("127.0.3.5"), yiaddr=ZERO)
        self.assertEqual((r.dest_addr, r.dest_port), (A("127.0.3.5"), 68))

    def test_fallback_source(self):
        """No giaddr, ciaddr or yiaddr: back to the source, port 68."""
        r = route(reply_type=ACK, yiaddr=ZERO, remote_addr=A("127.0.3.6"))
        self.assertEqual((r.dest_addr, r.dest_port), (A("127.0.3.6"), 68))

    def test_use_routing(self):
        """use-routing on a relayed reply leaves the source to the kernel."""
        r = route(giaddr=A("127.0.3.2"), use_routing=True)
        self.assertEqual(r.source_addr, ZERO)
        r = route(use_routing=True)
        self.assertEqual(r.source_addr, A("127.0.3.1"))
