"""
Subnet selection as Kea 2.2 does it (spec/dhcp4.md §5, §6;
``cfg_subnets4.cc`` ``selectSubnet``).

Pure: a :class:`Selector` (what the query says about where the client is)
and the configured subnets in, a subnet or None out.

Subnets are always scanned in ascending subnet-id order, not config order,
and a subnet whose (or whose shared network's) ``client-class`` the packet
is not in is skipped.  The classes known here are pass-1 classes only, so a
KNOWN/UNKNOWN-dependent class can never select a subnet.

Tests: tests/test_selection.py
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Collection, Dict, Iterable, List, Optional, Sequence

from kea_twisted.compat import DATACLASS_SLOTS

__all__ = ["Selector", "SubnetSelector", "selector_for"]

ZERO = IPv4Address(0)


# Slotted, not frozen (one per query: a frozen dataclass sets each field
# through object.__setattr__); a value all the same, never changed.
@dataclass(unsafe_hash=True, **DATACLASS_SLOTS)
class Selector:
    """What Kea's ``SubnetSelector`` holds for one query."""

    giaddr: IPv4Address = ZERO
    ciaddr: IPv4Address = ZERO
    remote_addr: IPv4Address = ZERO
    local_addr: IPv4Address = ZERO
    iface: str = ""
    to_broadcast: bool = False
    # Option 82 sub-option 5 (link-selection) when exactly 4 bytes, else
    # option 118 (subnet-selection); zero counts as absent.
    option_select: IPv4Address = ZERO


def selector_for(packet, arrival) -> Selector:
    """Build the selector from a decoded packet and its arrival (§5 step 1:
    82.5 of 4 bytes wins over 118; a wrong-length 82.5 is ignored)."""
    option_select = ZERO
    relay = packet.relay_suboptions() if 82 in packet.options else {}
    link = relay.get(5)
    if link is not None and len(link) == 4 and link != b"\0\0\0\0":
        option_select = IPv4Address(link)
    else:
        sel = packet.options.get(118)
        if sel is not None and len(sel) == 4 and sel != b"\0\0\0\0":
            option_select = IPv4Address(sel)
    # Positional (giaddr, ciaddr, remote_addr, local_addr, iface,
    # to_broadcast, option_select): one per query, and keyword matching
    # costs as much again as building it.
    return Selector(packet.giaddr, packet.ciaddr, arrival.remote_addr, arrival.local_addr,
                    arrival.iface, arrival.to_broadcast, option_select)


class SubnetSelector:
    """Kea's subnet selection over one configuration.

    :param subnets: the configured subnets, each with ``id``, ``prefix``
        (an ``IPv4Network``), ``relay_addresses`` (effective: inherited from
        its shared network when it has none), ``interface`` (effective),
        ``client_class`` (effective guard, or None/"").
    :param interface_addresses: first IPv4 address of each interface name,
        for the last step of §5.
    """

    def __init__(self, subnets: Iterable, interface_addresses: Optional[Dict[str, Sequence[IPv4Address]]] = None):
        self._subnets: List = sorted(subnets, key=lambda s: s.id)
        self._interface_addresses = interface_addresses or {}

    @property
    def subnets(self) -> List:
        return self._subnets

    @staticmethod
    def _allowed(subnet, classes: Collection[str]) -> bool:
        guard = subnet.client_class
        return not guard or guard in classes

    def _by_address(self, address: IPv4Address, classes: Collection[str]):
        for subnet in self._subnets:
            if address in subnet.prefix and self._allowed(subnet, classes):
                return subnet
        return None

    def select(self, selector: Selector, classes: Collection[str]):
        """The subnet for this query, or None (§5)."""
        if selector.option_select != ZERO:
            return self._by_address(selector.option_select, classes)

        if selector.giaddr != ZERO:
            for subnet in self._subnets:
                relays = subnet.relay_addresses
                if relays and selector.giaddr in relays and self._allowed(subnet, classes):
                    return subnet
            # No relay list names giaddr: match it against every prefix
            # (Kea's selectSubnet(address) does not look at relay lists).
            return self._by_address(selector.giaddr, classes)

        # Kea tests the query's *local* address for broadcast here: a query
        # sent to 255.255.255.255 says nothing by its ciaddr or source.
        if selector.ciaddr != ZERO and not selector.to_broadcast:
            return self._by_address(selector.ciaddr, classes)
        if selector.remote_addr != ZERO and not selector.to_broadcast:
            return self._by_address(selector.remote_addr, classes)

        # No usable address: the receiving interface, then its address.
        for subnet in self._subnets:
            if subnet.interface and subnet.interface == selector.iface and self._allowed(subnet, classes):
                return subnet
        addresses = self._interface_addresses.get(selector.iface) or ()
        if addresses:
            return self._by_address(addresses[0], classes)
        return None
