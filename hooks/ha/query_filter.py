"""
Which HA server answers a query: Kea's load-balancing hash and scopes.

Kea 2.2 ``query_filter.cc`` (spec/ha.md §4, checked on the wire 285/285):

1. Only DISCOVER(1), REQUEST(3), DECLINE(4), RELEASE(7) and INFORM(8) are
   load-balanced.  Every other message type belongs to the first peer's
   scope (the primary) and is always "in scope".
2. The key is the data of option 61 (client identifier, type byte
   included) when present and non-empty, else the hardware address bytes
   (``chaddr[0:hlen]``).  Neither: the query is dropped
   (``HA_LOAD_BALANCING_IDENTIFIER_MISSING``).
3. Pearson hash with RFC 3074's table, seeded with the key length, running
   from the **last** byte to the first.
4. Server index = hash % active servers (primary + secondary = 2 in
   load-balancing); 0 is the primary.  In hot-standby and passive-backup the
   candidate is always the primary.
5. The query gets class ``HA_<scope>``; it is processed only when this
   server serves that scope (a scope name that is not a peer counts as
   served, as in Kea).

Scopes per state (``ha_service.cc`` state handlers): default scopes (own
name for a primary/secondary, none for standby/backup) in load-balancing,
hot-standby, communication-recovery, passive-backup and terminated; none in
waiting, syncing, ready, backup and in-maintenance; failover scopes (every
primary and secondary) in partner-down (unless auto-failover is off) and
partner-in-maintenance.  :class:`~hooks.ha.states.HAStateMachine` calls the
methods below on entering each state.

Tests: tests/test_ha_query_filter.py
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

from hooks.ha.config import HAConfig, LOAD_BALANCING, PRIMARY, SECONDARY

__all__ = [
    "MX",
    "LB_MESSAGE_TYPES",
    "lb_hash",
    "load_balance",
    "lb_key",
    "scope_class",
    "ScopeDecision",
    "QueryFilter",
    "ScopeError",
]

# RFC 3074 section 6 mixing table, in order.
MX: Tuple[int, ...] = (
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232,
    31, 32, 55, 60, 152, 58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223,
    59, 3, 18, 140, 111, 166, 203, 196, 134, 243, 124, 95, 222, 179, 197, 65,
    180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97, 16,
    40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67,
    207, 9, 178, 204, 74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5,
    20, 113, 71, 35, 128, 13, 182, 94, 25, 226, 227, 199, 75, 27, 41, 245,
    230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241, 73, 88, 105,
    39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84,
    82, 163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239,
    195, 42, 106, 198, 118, 112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253,
    137, 185, 99, 164, 102, 147, 45, 66, 231, 52, 141, 211, 194, 206, 246, 238,
    56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171, 72, 50,
    33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213,
    96, 235, 136, 208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4,
    216, 131, 89, 21, 28, 133, 37, 153, 149, 80, 170, 68, 6, 169, 234, 151,
)

#: DHCPv4 message types HA load-balances (query_filter.cc v4_ha_types).
LB_MESSAGE_TYPES = frozenset({1, 3, 4, 7, 8})


class ScopeError(ValueError):
    """An ``ha-scopes`` name that is not a peer (Kea's text)."""


def lb_hash(key: bytes) -> int:
    """Kea's load-balancing hash of ``key`` (0..255)."""
    h = len(key) & 0xFF
    for b in reversed(key):
        h = MX[h ^ b]
    return h


def load_balance(key: bytes, active_servers: int) -> int:
    """Index of the server (0 = primary) for ``key`` among
    ``active_servers``; -1 when there are none."""
    if active_servers <= 0:
        return -1
    return lb_hash(key) % active_servers


def lb_key(client_id: Optional[bytes], hwaddr: Optional[bytes]) -> Optional[bytes]:
    """The bytes Kea hashes: option 61 data if non-empty, else the hardware
    address; None when neither is usable."""
    if client_id:
        return bytes(client_id)
    if hwaddr:
        return bytes(hwaddr)
    return None


def scope_class(scope: str) -> str:
    """The client class naming a scope: ``HA_<server name>``."""
    return "HA_" + scope


@dataclass(frozen=True)
class ScopeDecision:
    """Result of :meth:`QueryFilter.decide`.

    ``scope`` / ``scope_class`` are None only when the identifier was
    missing (Kea then drops the query without adding a class).
    """

    in_scope: bool
    scope: Optional[str]
    scope_class: Optional[str]
    load_balanced: bool = False


class QueryFilter:
    """Kea's ``QueryFilter``: peer order, served scopes, in-scope decisions.

    Starts serving the default scopes, as Kea's constructor does.
    """

    def __init__(self, config: HAConfig):
        self.config = config
        self.peers = config.ordered_peers()
        self.active_servers = sum(1 for p in self.peers if p.role in (PRIMARY, SECONDARY))
        self._scopes: Dict[str, bool] = {}
        # (scope, in scope, load-balanced) -> its decision: a few values,
        # made once rather than for every query (decisions are frozen).
        self._decisions: Dict[Tuple[str, bool, bool], ScopeDecision] = {}
        self.serve_default_scopes()

    # -- scope management -------------------------------------------------

    def _validate(self, name: str) -> None:
        if name not in {p.name for p in self.peers}:
            raise ScopeError(f"invalid server name specified '{name}' while"
                             " enabling/disabling HA scopes")

    def serve_no_scopes(self) -> None:
        self._scopes = {p.name: False for p in self.peers}

    def serve_scope(self, name: str) -> None:
        self._validate(name)
        self._scopes[name] = True

    def serve_scope_only(self, name: str) -> None:
        self._validate(name)
        self.serve_no_scopes()
        self._scopes[name] = True

    def serve_scopes(self, names: Iterable[str]) -> None:
        """``ha-scopes``: serve exactly ``names``; on a bad name nothing
        changes and :class:`ScopeError` carries Kea's text."""
        saved = dict(self._scopes)
        try:
            self.serve_no_scopes()
            for n in names:
                self.serve_scope(n)
        except ScopeError:
            self._scopes = saved
            raise

    def serve_default_scopes(self) -> None:
        """Own scope for a primary/secondary; nothing for standby/backup."""
        self.serve_no_scopes()
        me = self.config.this_server
        if me.role in (PRIMARY, SECONDARY):
            self._scopes[me.name] = True

    def serve_failover_scopes(self) -> None:
        """Every primary and secondary scope (partner-down and
        partner-in-maintenance)."""
        self.serve_no_scopes()
        for p in self.peers:
            if p.role in (PRIMARY, SECONDARY):
                self._scopes[p.name] = True

    def am_serving_scope(self, name: str) -> bool:
        return self._scopes.get(name, True)

    def served_scopes(self) -> List[str]:
        """Sorted names (Kea returns a std::set), as in ha-heartbeat and
        status-get answers."""
        return sorted(n for n, on in self._scopes.items() if on)

    # -- queries ------------------------------------------------------------

    def decide(self, message_type: Optional[int], client_id: Optional[bytes],
               hwaddr: Optional[bytes]) -> ScopeDecision:
        """Kea's ``inScope`` for a DHCPv4 query given as plain values:
        the DHCP message type (option 53), the option 61 data (or None) and
        the hardware address bytes."""
        if message_type not in LB_MESSAGE_TYPES:
            return self._decision(self.peers[0].name, True, False)
        index = 0
        balanced = False
        if self.config.mode == LOAD_BALANCING:
            key = lb_key(client_id, hwaddr)
            if key is None:
                return ScopeDecision(False, None, None, True)
            index = load_balance(key, self.active_servers)
            balanced = True
            if index < 0:
                return ScopeDecision(False, None, None, True)
        scope = self.peers[index].name
        return self._decision(scope, self.am_serving_scope(scope), balanced)

    def _decision(self, scope: str, in_scope: bool, balanced: bool) -> ScopeDecision:
        key = (scope, in_scope, balanced)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = ScopeDecision(in_scope, scope, scope_class(scope), balanced)
        return decision

    def in_scope(self, query: Any) -> ScopeDecision:
        """:meth:`decide` for an object with ``message_type`` (int or
        None), ``client_id`` (option 61 data or None) and ``hwaddr``
        (bytes) attributes."""
        return self.decide(getattr(query, "message_type", None),
                           getattr(query, "client_id", None),
                           getattr(query, "hwaddr", None))
