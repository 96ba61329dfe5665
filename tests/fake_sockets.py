"""A stand-in for the DHCP sockets a ``Dhcp4Service`` opens
(``kea_twisted.net.sockets.open_service_sockets``): it opens nothing, so a
service under test runs on a memory reactor and its engine is fed
datagrams directly (:func:`offered_address`)."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any, Callable

from twisted.internet.defer import succeed

from kea_twisted.datagrams import Arrival
from kea_twisted.packet import Packet4, decode, encode

__all__ = ["FakeSockets", "fake_sockets_factory", "offered_address"]

LOOPBACK = IPv4Address("127.0.0.1")


class FakeSockets:
    finished = None  # open at once: nothing to wait for

    def __init__(self, address: IPv4Address = LOOPBACK):
        self.address = address

    def addresses(self):
        return [self.address]

    def stop(self):
        return succeed(None)


def fake_sockets_factory(address: IPv4Address = LOOPBACK) -> Callable[..., Any]:
    """A ``sockets_factory`` for ``Dhcp4Service``: :class:`FakeSockets` on
    ``address``."""
    return lambda reactor, interfaces, engine, port: FakeSockets(address)


def offered_address(service: Any) -> str:
    """The address a running ``Dhcp4Service`` offers to a DISCOVER relayed
    from 127.0.0.1, fed to its engine as the sockets would."""
    query = encode(Packet4(op=1, xid=1, chaddr=b"\x02\x00\x00\x00\x00\x01", giaddr=LOOPBACK,
                           hops=1, options={53: bytes([1])}))
    arrival = Arrival(iface="lo", local_addr=LOOPBACK, local_port=67, remote_addr=LOOPBACK, remote_port=67)
    return str(decode(service.server.engine.receive(query, arrival).data).yiaddr)
