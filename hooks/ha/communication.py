"""
What this server knows about its partner: Kea's ``CommunicationState4``
and ``LeaseUpdateBacklog``, as plain values driven by ``now``.

From ``communication_state.cc`` (Kea 2.2):

* ``poke`` happens only after a *successful heartbeat*; it clears the
  connecting clients and the analyzed-packet count.  "Communication
  interrupted" means more than max-response-delay milliseconds since the
  last poke (or since start-up).
* The heartbeat is a one-shot timer: armed heartbeat-delay after start-up
  (when a state handler first schedules it) and re-armed heartbeat-delay
  after each heartbeat *answer*.  (The spec's remark that lease updates
  restart it is not what 2.2's code does: ``poke`` only re-arms when the
  settings changed, and only heartbeats poke.)
* A DHCPv4 client of the partner's scope seen while communication is
  interrupted is recorded by (hw-address, client-id); it is "unacked" when
  ``secs * 1000 > max-ack-delay`` (``secs`` byte-swapped when > 255 with a
  zero low byte).  Failure is detected when max-unacked-clients is 0 or
  the number of unacked clients exceeds it.
* Clock skew = partner's ``date-time`` minus our clock when the answer is
  processed, in whole seconds (truncated); > 30 s warns (at most once a
  minute), > 60 s terminates the HA service.
* The partner's ``unsent-update-count`` is kept as (previous, current);
  "new unsent updates" = current > 0 and current != previous.

Tests: tests/test_ha_states.py
"""

from __future__ import annotations

import calendar
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Deque, Dict, List, Optional, Tuple

from hooks.ha.config import HAConfig

__all__ = [
    "CommunicationState",
    "LeaseUpdateBacklog",
    "rfc1123",
    "parse_rfc1123",
    "WARN_CLOCK_SKEW",
    "TERM_CLOCK_SKEW",
    "MIN_TIME_SINCE_CLOCK_SKEW_WARN",
    "STATE_NAMES",
]

WARN_CLOCK_SKEW = 30
TERM_CLOCK_SKEW = 60
MIN_TIME_SINCE_CLOCK_SKEW_WARN = 60

#: Every state name Kea knows (``stringToState``), "unavailable" included.
STATE_NAMES = frozenset({
    "backup", "communication-recovery", "hot-standby", "load-balancing",
    "in-maintenance", "partner-down", "partner-in-maintenance",
    "passive-backup", "ready", "syncing", "terminated", "waiting",
    "unavailable",
})

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
           "Oct", "Nov", "Dec")


def rfc1123(now: float) -> str:
    """``Wed, 25 Nov 2026 05:27:58 GMT``: the ``date-time`` Kea puts in a
    heartbeat answer (``HttpDateTime::rfc1123Format``)."""
    return formatdate(now, usegmt=True)


def parse_rfc1123(text: str) -> float:
    """Seconds since the epoch of an RFC 1123 date; ValueError otherwise."""
    try:
        parsed = time.strptime(text.strip(), "%a, %d %b %Y %H:%M:%S GMT")
    except ValueError:
        raise ValueError(f"unable to parse {text} as RFC 1123 date")
    return float(calendar.timegm(parsed))


class CommunicationState:
    """Kea's ``CommunicationState4`` with the clock passed in.

    ``partner_state`` is None until anything was learned (Kea's -1);
    ``heartbeat_deadline`` is when the one-shot heartbeat timer fires
    (None: no timer armed); ``heartbeat_running`` mirrors Kea's
    ``isHeartbeatRunning`` (the timer object exists, even after firing).
    """

    def __init__(self, config: HAConfig, now: float):
        self.config = config
        self.poke_time = now
        self.partner_state: Optional[str] = None
        self.partner_scopes: List[str] = []
        self.clock_skew = 0
        self.my_time_at_skew: Optional[float] = None
        self.partner_time_at_skew: Optional[float] = None
        self.last_clock_skew_warn: Optional[float] = None
        self.analyzed_messages_count = 0
        self.connecting_clients: Dict[Tuple[bytes, bytes], bool] = {}
        self.unsent_update_count = 0
        self.partner_unsent_update_count: Tuple[int, int] = (0, 0)
        self.heartbeat_running = False
        self.heartbeat_deadline: Optional[float] = None

    # -- partner state --------------------------------------------------------

    def set_partner_state(self, state: str) -> None:
        if state not in STATE_NAMES:
            raise ValueError(f"unsupported HA partner state returned {state}")
        self.partner_state = state

    def set_partner_scopes(self, scopes: Any) -> None:
        if not isinstance(scopes, list):
            raise ValueError("unable to record partner's HA scopes because"
                             " the received value is not a valid JSON list")
        found = set()
        for s in scopes:
            if not isinstance(s, str):
                raise ValueError("unable to record partner's HA scopes because"
                                 " the received scope value is not a valid JSON string")
            if s:
                found.add(s)
        self.partner_scopes = sorted(found)

    def set_partner_time(self, text: str, now: float) -> None:
        partner = parse_rfc1123(text)
        self.partner_time_at_skew = partner
        self.my_time_at_skew = now
        self.clock_skew = int(partner - now)  # truncated like total_seconds()

    def set_partner_unsent_update_count(self, count: int) -> None:
        self.partner_unsent_update_count = (self.partner_unsent_update_count[1], count)

    def has_partner_new_unsent_updates(self) -> bool:
        prev, cur = self.partner_unsent_update_count
        return cur > 0 and prev != cur

    def increase_unsent_update_count(self) -> None:
        self.unsent_update_count = (self.unsent_update_count + 1) & 0xFFFFFFFFFFFFFFFF or 1

    # -- heartbeat timer ----------------------------------------------------------

    def start_heartbeat(self, now: float) -> None:
        """Arm the one-shot timer heartbeat-delay from ``now`` (Kea's
        ``startHeartbeat`` with the implementation given: always re-arms)."""
        if self.config.heartbeat_delay > 0:
            self.heartbeat_running = True
            self.heartbeat_deadline = now + self.config.heartbeat_delay / 1000.0

    def schedule_heartbeat(self, now: float) -> None:
        """Kea's ``scheduleHeartbeat``: arm only when no timer exists."""
        if not self.heartbeat_running:
            self.start_heartbeat(now)

    def stop_heartbeat(self) -> None:
        self.heartbeat_running = False
        self.heartbeat_deadline = None

    def heartbeat_fired(self) -> None:
        """The timer went off: it is not re-armed until the answer."""
        self.heartbeat_deadline = None

    # -- contact ------------------------------------------------------------------

    def poke(self, now: float) -> None:
        self.poke_time = now
        self.connecting_clients.clear()
        self.analyzed_messages_count = 0

    def duration_ms(self, now: float) -> int:
        return int((now - self.poke_time) * 1000)

    def is_communication_interrupted(self, now: float) -> bool:
        return self.duration_ms(now) > self.config.max_response_delay

    # -- failure detection ------------------------------------------------------------

    def analyze_message(self, secs: int, hwaddr: bytes, client_id: Optional[bytes]) -> Tuple[bool, int, int]:
        """Record a partner-scope DHCPv4 query seen while communication is
        interrupted.  Returns (newly unacked, unacked total, unacked left)
        for Kea's ``HA_COMMUNICATION_INTERRUPTED_CLIENT4_UNACKED`` log."""
        self.analyzed_messages_count += 1
        secs &= 0xFFFF
        if secs > 255 and (secs & 0xFF) == 0:
            secs = ((secs >> 8) | (secs << 8)) & 0xFFFF
        unacked = secs * 1000 > self.config.max_ack_delay
        key = (bytes(hwaddr or b""), bytes(client_id or b""))
        newly = False
        if key in self.connecting_clients:
            if not self.connecting_clients[key] and unacked:
                self.connecting_clients[key] = True
                newly = True
        else:
            self.connecting_clients[key] = unacked
            newly = unacked
        total = self.unacked_clients_count
        left = 0
        if self.config.max_unacked_clients >= total:
            left = self.config.max_unacked_clients - total + 1
        return newly, total, left

    @property
    def unacked_clients_count(self) -> int:
        return sum(1 for v in self.connecting_clients.values() if v)

    @property
    def connecting_clients_count(self) -> int:
        return len(self.connecting_clients)

    def failure_detected(self) -> bool:
        return (self.config.max_unacked_clients == 0
                or self.unacked_clients_count > self.config.max_unacked_clients)

    # -- clock skew -------------------------------------------------------------------

    def _skew_greater(self, seconds: int) -> bool:
        return self.clock_skew > seconds or self.clock_skew < -seconds

    def clock_skew_should_terminate(self) -> bool:
        return self._skew_greater(TERM_CLOCK_SKEW)

    def clock_skew_should_warn(self, now: float) -> bool:
        """True (and remembers ``now``) when a HA_HIGH_CLOCK_SKEW warning is
        due: skew > 30 s and no warning in the last 60 s."""
        if self._skew_greater(WARN_CLOCK_SKEW):
            if (self.last_clock_skew_warn is None
                    or int(now - self.last_clock_skew_warn) > MIN_TIME_SINCE_CLOCK_SKEW_WARN):
                self.last_clock_skew_warn = now
                return True
        return False

    def log_format_clock_skew(self) -> str:
        if self.my_time_at_skew is None or self.partner_time_at_skew is None:
            return "skew not initialized"
        fmt = "%Y-%m-%d %H:%M:%S"
        mine = time.strftime(fmt, time.gmtime(self.my_time_at_skew))
        theirs = time.strftime(fmt, time.gmtime(self.partner_time_at_skew))
        if self.clock_skew < 0:
            rel = f"{-self.clock_skew}s behind"
        else:
            rel = f"{self.clock_skew}s ahead"
        return f"my time: {mine}, partner's time: {theirs}, partner's clock is {rel}"

    # -- status-get -----------------------------------------------------------------------

    def report(self, now: float) -> Dict[str, Any]:
        """The ``remote`` map of status-get (without ``role``)."""
        in_touch = self.partner_state is not None
        interrupted = self.is_communication_interrupted(now)
        unacked = self.unacked_clients_count
        left = 0
        if interrupted and self.config.max_unacked_clients >= unacked:
            left = self.config.max_unacked_clients - unacked + 1
        return {
            "age": self.duration_ms(now) // 1000 if in_touch else 0,
            "analyzed-packets": self.analyzed_messages_count,
            "communication-interrupted": interrupted,
            "connecting-clients": self.connecting_clients_count,
            "in-touch": in_touch,
            "last-scopes": list(self.partner_scopes),
            "last-state": self.partner_state or "",
            "unacked-clients": unacked,
            "unacked-clients-left": left,
        }


ADD = "add"
DELETE = "delete"


@dataclass
class LeaseUpdateBacklog:
    """Lease updates held in communication-recovery (``lease_update_backlog.cc``):
    at most ``limit`` entries; one more marks it overflown (and is dropped)."""

    limit: int
    overflown: bool = False
    items: Deque[Tuple[str, Any]] = field(default_factory=deque)

    def push(self, op: str, lease: Any) -> bool:
        if len(self.items) >= self.limit:
            self.overflown = True
            return False
        self.items.append((op, lease))
        return True

    def pop(self) -> Optional[Tuple[str, Any]]:
        return self.items.popleft() if self.items else None

    def clear(self) -> None:
        self.items.clear()
        self.overflown = False

    def __len__(self) -> int:
        return len(self.items)
