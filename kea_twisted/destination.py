"""
Where a reply goes, and from where: Kea's ``adjustIfaceData`` /
``adjustRemoteAddr`` (``src/bin/dhcp4/dhcp4_srv.cc``), spec/dhcp4.md §13.

Pure: the query's header fields, the reply's type and yiaddr, how the query
arrived and the command-line ports in; a :class:`Route` out.

Tests: tests/test_destination.py
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Optional

from kea_twisted.compat import DATACLASS_SLOTS

__all__ = ["Route", "route_reply", "DHCPNAK", "DHCPINFORM", "BROADCAST_FLAG"]

ZERO = IPv4Address(0)
BROADCAST = IPv4Address("255.255.255.255")
BROADCAST_FLAG = 0x8000
DHCPINFORM = 8
DHCPNAK = 6
DHCP4_SERVER_PORT = 67
DHCP4_CLIENT_PORT = 68


# Slotted, not frozen (one per reply: a frozen dataclass sets each field
# through object.__setattr__); a value all the same, never changed.
@dataclass(unsafe_hash=True, **DATACLASS_SLOTS)
class Route:
    """Destination and source of one reply.

    :ivar dest_addr, dest_port: where the reply is sent.
    :ivar source_addr: the source address; 0.0.0.0 means "let the kernel
        route" (``outbound-interface: use-routing`` for relayed UDP).
    :ivar source_port: the server port (67, or ``-p``).
    :ivar flags: the reply's ``flags`` field (Kea sets the broadcast bit
        for a relayed INFORM without ciaddr).
    :ivar unicast_to_yiaddr: the reply goes to a client that has no address
        yet; only a raw socket can deliver it (to ``chaddr``).
    """

    dest_addr: IPv4Address
    dest_port: int
    source_addr: IPv4Address
    source_port: int
    flags: int
    unicast_to_yiaddr: bool = False


def route_reply(
    *,
    query_type: int,
    query_flags: int,
    ciaddr: IPv4Address,
    giaddr: IPv4Address,
    remote_addr: IPv4Address,
    local_addr: IPv4Address,
    reply_type: int,
    yiaddr: IPv4Address,
    direct_response: bool,
    use_routing: bool = False,
    relay_port: Optional[int] = None,
    server_port: Optional[int] = None,
    client_port: Optional[int] = None,
) -> Route:
    """Kea's destination rules.

    :param direct_response: the socket can unicast to a client without an
        address (raw sockets: ``isDirectResponseSupported``); UDP cannot, so
        an OFFER/ACK with the broadcast flag clear goes to 255.255.255.255.
    :param use_routing: ``outbound-interface: use-routing`` on UDP sockets.
    :param relay_port: RAI sub-option 19 (RFC 8357) port, if present.
    :param server_port: ``-p``: only the source port; Kea still answers
        relays on 67 [src adjustIfaceData].
    :param client_port: ``-P``: every reply goes to this port, relays too
        (Kea: "for testing purposes").
    :param local_addr: the address the query arrived at (the socket's
        address when it arrived on broadcast).
    """
    relayed = giaddr != ZERO
    flags = query_flags
    unicast = False
    if query_type == DHCPINFORM:
        if ciaddr != ZERO:
            dest = ciaddr
        elif relayed:
            dest = giaddr
            flags |= BROADCAST_FLAG
        else:
            dest = remote_addr
    elif relayed:
        dest = giaddr
    elif ciaddr != ZERO:
        dest = ciaddr
    elif reply_type == DHCPNAK:
        dest = BROADCAST
    elif yiaddr != ZERO:
        if not direct_response or query_flags & BROADCAST_FLAG:
            dest = BROADCAST
        else:
            dest = yiaddr
            unicast = True
    else:
        dest = remote_addr

    if client_port:
        dest_port = client_port
    elif (query_type == DHCPINFORM and (ciaddr != ZERO or (not relayed and remote_addr != ZERO))) or (
        query_type != DHCPINFORM and not relayed
    ):
        dest_port = DHCP4_CLIENT_PORT
    else:
        dest_port = relay_port or DHCP4_SERVER_PORT

    source = ZERO if (relayed and use_routing) else local_addr
    return Route(
        dest_addr=dest,
        dest_port=dest_port,
        source_addr=source,
        source_port=server_port or DHCP4_SERVER_PORT,
        flags=flags,
        unicast_to_yiaddr=unicast,
    )
