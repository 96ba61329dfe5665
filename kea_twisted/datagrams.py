"""
What passes between the network edge and the DHCPv4 engine.

The socket layer (``kea_twisted.net``) turns each received datagram into
bytes plus a :class:`Arrival` and hands them to an :class:`IPacketHandler`
(the engine); the engine answers with a :class:`Reply`, a :class:`Drop`, or
a Deferred firing with one of them (a reply parked by a hook library, e.g.
HA waiting for its partner).  The edge then sends the reply as Kea would
(spec/dhcp4.md §13): the engine decides the destination, the edge knows how
to reach it (UDP socket, or raw frame to the client's hardware address).

Tests: tests/test_net_udp.py
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Optional, Union

from twisted.internet.defer import Deferred
from zope.interface import Interface

from kea_twisted.compat import DATACLASS_SLOTS

__all__ = ["Arrival", "Reply", "Drop", "IPacketHandler", "Outcome"]

ANY = IPv4Address("0.0.0.0")
BROADCAST = IPv4Address("255.255.255.255")


# Not frozen: a frozen dataclass sets each field through
# ``object.__setattr__``, which made building one Arrival per datagram cost
# six times a plain slotted ``__init__`` (issue 8).  Treat it as immutable
# all the same: equality and hashing are by value.
@dataclass(unsafe_hash=True, **DATACLASS_SLOTS)
class Arrival:
    """Where and how a datagram arrived (a value: never changed once built).

    :ivar iface: interface name (``lo``, ``eth0``).
    :ivar local_addr: the address of the receiving socket (Kea's server
        identifier comes from it, spec §4); for a raw socket, the address
        of the interface the frame came in on.
    :ivar local_port: the port it arrived on (67, or ``-p``).
    :ivar remote_addr, remote_port: the sender.
    :ivar to_broadcast: the datagram was sent to 255.255.255.255 (Kea's
        subnet selection and drops treat those differently, §2 and §5).
    :ivar socket_type: ``udp`` or ``raw``.
    :ivar received: the reactor time it arrived (for ``secs``-free timing,
        statistics and HA's ``max-ack-delay`` bookkeeping).
    :ivar remote_mac: for raw sockets, the frame's source MAC (Kea's
        ``mac-sources`` "raw").
    """

    iface: str
    local_addr: IPv4Address
    local_port: int
    remote_addr: IPv4Address
    remote_port: int
    to_broadcast: bool = False
    socket_type: str = "udp"
    received: float = 0.0
    remote_mac: Optional[bytes] = None


# Slotted, not frozen, as Arrival (one per reply): a value all the same.
@dataclass(unsafe_hash=True, **DATACLASS_SLOTS)
class Reply:
    """A reply to send.

    :ivar data: the encoded packet.
    :ivar dest_addr, dest_port: where it goes (giaddr:67, ciaddr:68,
        255.255.255.255:68, yiaddr:68 …).
    :ivar iface: interface to send on (the one the query arrived on).
    :ivar source_addr: source address (the receiving socket's address).
    :ivar dest_mac: for raw sockets, an explicit Ethernet destination.  Leave
        it None: the edge then uses the query frame's source MAC, as Kea
        copies the query's remote hardware address into the response
        (``copyDefaultFields``) — the relay's MAC for relayed queries.
    """

    data: bytes
    dest_addr: IPv4Address
    dest_port: int
    iface: str = ""
    source_addr: IPv4Address = ANY
    dest_mac: Optional[bytes] = None


@dataclass(frozen=True)
class Drop:
    """No reply.  ``reason`` is Kea's message ID for the drop (e.g.
    ``DHCP4_PACKET_DROP_0001``) or a short text."""

    reason: str


Outcome = Union[Reply, Drop, "Deferred[Union[Reply, Drop]]"]


class IPacketHandler(Interface):
    """The engine, as the network edge sees it."""

    def receive(data: bytes, arrival: Arrival) -> Outcome:
        """Process one datagram; never raise (the edge still guards)."""
