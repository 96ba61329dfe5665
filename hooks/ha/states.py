"""
Kea 2.2's HA state machine as a pure object: events in (with ``now``),
state changes and requested actions out.  No reactor, no sockets.

This follows ``ha_service.cc``'s state handlers and Kea's ``StateModel``
run loop: an event runs the current state's handler; a handler either
transitions (and the new state's handler runs at once, with its on-entry
part) or posts "nothing to do" (NOP), which ends the run.

What Kea does synchronously inside a handler (lease sync in ``syncing``,
backlog replay and ``ha-reset`` in ``communication-recovery``, the
``ha-maintenance-notify`` round trip of ``ha-maintenance-start/-cancel``)
is split here: the handler returns an action (:class:`StartSync`,
:class:`ReplayBacklog`, :class:`SendHAReset`,
:class:`SendMaintenanceNotify`) and waits; the I/O layer performs it and
reports with :meth:`HAStateMachine.sync_done`, :meth:`backlog_done`,
:meth:`reset_done`, :meth:`maintenance_start_result` /
:meth:`maintenance_cancel_result`.

Timers: :attr:`HAStateMachine.next_heartbeat_at` is when the I/O layer
must call :meth:`heartbeat_due` (which returns :class:`SendHeartbeat`);
the answer (or failure) goes to :meth:`heartbeat_result`.

Local DHCP service: the machine switches an injected network state (any
object with ``is_service_enabled()``, ``enable_service(origin)``,
``disable_service(origin)``; :class:`NetworkState` is Kea's) with origin
``"ha"`` - the same origin a partner's ``dhcp-disable``/``dhcp-enable``
with ``"origin": "ha-partner"`` uses in Kea - and reports it as
:class:`SetLocalDHCP`.  Enabled in load-balancing, hot-standby,
communication-recovery, partner-down, partner-in-maintenance,
passive-backup and terminated; disabled elsewhere.

Tests: tests/test_ha_states.py
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from hooks.ha import commands
from hooks.ha.communication import ADD, DELETE, CommunicationState, LeaseUpdateBacklog, rfc1123
from hooks.ha.config import (
    BACKUP, HOT_STANDBY, LOAD_BALANCING, PASSIVE_BACKUP, PRIMARY, STANDBY, HAConfig, PeerConfig,
)
from hooks.ha.query_filter import QueryFilter, ScopeDecision, ScopeError

__all__ = [
    "WAITING", "SYNCING", "READY", "LOAD_BALANCING_ST", "HOT_STANDBY_ST",
    "BACKUP_ST", "PARTNER_DOWN", "PARTNER_IN_MAINTENANCE", "IN_MAINTENANCE",
    "PASSIVE_BACKUP_ST", "COMMUNICATION_RECOVERY", "TERMINATED", "UNAVAILABLE",
    "NetworkState",
    "Action", "Transition", "SetLocalDHCP", "SendHeartbeat", "StartSync",
    "ReplayBacklog", "SendHAReset", "SendMaintenanceNotify", "Log",
    "LeaseUpdatePlan",
    "HAStateMachine",
]

WAITING = "waiting"
SYNCING = "syncing"
READY = "ready"
LOAD_BALANCING_ST = "load-balancing"
HOT_STANDBY_ST = "hot-standby"
BACKUP_ST = "backup"
PARTNER_DOWN = "partner-down"
PARTNER_IN_MAINTENANCE = "partner-in-maintenance"
IN_MAINTENANCE = "in-maintenance"
PASSIVE_BACKUP_ST = "passive-backup"
COMMUNICATION_RECOVERY = "communication-recovery"
TERMINATED = "terminated"
UNAVAILABLE = "unavailable"

_ENABLED_STATES = frozenset({
    COMMUNICATION_RECOVERY, LOAD_BALANCING_ST, HOT_STANDBY_ST, PARTNER_DOWN,
    PARTNER_IN_MAINTENANCE, PASSIVE_BACKUP_ST, TERMINATED,
})

# Partner states only a partner in one mode can be in: that mode, and the
# message logged when the partner is in it while this server is not.
_PARTNER_STATE_MODE = {
    COMMUNICATION_RECOVERY: (LOAD_BALANCING, "HA_INVALID_PARTNER_STATE_COMMUNICATION_RECOVERY"),
    HOT_STANDBY_ST: (HOT_STANDBY, "HA_INVALID_PARTNER_STATE_HOT_STANDBY"),
    LOAD_BALANCING_ST: (LOAD_BALANCING, "HA_INVALID_PARTNER_STATE_LOAD_BALANCING"),
}

# The state load-balancing, hot-standby and communication-recovery move to
# when the partner is in one of these states.
_OPERATIONAL_ANSWER = {
    IN_MAINTENANCE: PARTNER_IN_MAINTENANCE,
    PARTNER_DOWN: WAITING,
    PARTNER_IN_MAINTENANCE: IN_MAINTENANCE,
    TERMINATED: TERMINATED,
}

# Events (Kea's StateModel / HAService event names).
NOP_EVT = "NOP_EVT"
START_EVT = "START_EVT"
HEARTBEAT_COMPLETE_EVT = "HA_HEARTBEAT_COMPLETE_EVT"
LEASE_UPDATES_COMPLETE_EVT = "HA_LEASE_UPDATES_COMPLETE_EVT"
SYNCING_FAILED_EVT = "HA_SYNCING_FAILED_EVT"
SYNCING_SUCCEEDED_EVT = "HA_SYNCING_SUCCEEDED_EVT"
MAINTENANCE_NOTIFY_EVT = "HA_MAINTENANCE_NOTIFY_EVT"
MAINTENANCE_START_EVT = "HA_MAINTENANCE_START_EVT"
MAINTENANCE_CANCEL_EVT = "HA_MAINTENANCE_CANCEL_EVT"
SYNCED_PARTNER_UNAVAILABLE_EVT = "HA_SYNCED_PARTNER_UNAVAILABLE_EVT"

HA_ORIGIN = "ha"


class NetworkState:
    """Kea's ``NetworkState`` reduced to what matters: the service is
    enabled only when no origin (``"user"``, ``"ha"``, ``"db"``) disabled
    it."""

    def __init__(self) -> None:
        self.disabled_by: Dict[str, int] = {}

    def is_service_enabled(self) -> bool:
        return not any(self.disabled_by.values())

    def disable_service(self, origin: str) -> None:
        if origin == "db":
            self.disabled_by["db"] = self.disabled_by.get("db", 0) + 1
        else:
            self.disabled_by[origin] = 1

    def enable_service(self, origin: str) -> None:
        if origin == "db":
            self.disabled_by["db"] = max(0, self.disabled_by.get("db", 0) - 1)
        else:
            self.disabled_by[origin] = 0


# --------------------------------------------------------------------------
# Outputs.

class Action:
    """Something the machine asks for or reports."""


@dataclass(frozen=True)
class Transition(Action):
    """HA_STATE_TRANSITION (or ..._PASSIVE_BACKUP when ``partner`` is None)."""
    old: str
    new: str
    partner: Optional[str]


@dataclass(frozen=True)
class SetLocalDHCP(Action):
    """HA_LOCAL_DHCP_ENABLE / HA_LOCAL_DHCP_DISABLE (already applied to the
    network state)."""
    enabled: bool
    state: str


@dataclass(frozen=True)
class SendHeartbeat(Action):
    peer: str
    body: Dict[str, Any] = field(default_factory=commands.heartbeat)


@dataclass(frozen=True)
class StartSync(Action):
    """Fetch the partner's leases: before each page ``dhcp-disable`` with
    ``max_period``, then ``lease4-get-page`` (``from`` start, then the last
    address) with ``page_limit``; at the end ``ha-sync-complete-notify``
    (falling back to ``dhcp-enable`` if it answers result 2); on failure
    after a successful dhcp-disable, ``dhcp-enable``.  Report with
    :meth:`HAStateMachine.sync_done`."""
    peer: str
    max_period: int
    page_limit: int


@dataclass(frozen=True)
class ReplayBacklog(Action):
    """Send these ``(command body)`` one by one, stop at the first failure;
    report with :meth:`HAStateMachine.backlog_done`."""
    peer: str
    bodies: Tuple[Dict[str, Any], ...]


@dataclass(frozen=True)
class SendHAReset(Action):
    peer: str
    body: Dict[str, Any] = field(default_factory=commands.ha_reset)


@dataclass(frozen=True)
class SendMaintenanceNotify(Action):
    peer: str
    cancel: bool

    @property
    def body(self) -> Dict[str, Any]:
        return commands.maintenance_notify(self.cancel)


@dataclass(frozen=True)
class Log(Action):
    """A Kea log message: ``msgid`` and its text."""
    level: str
    msgid: str
    text: str


@dataclass(frozen=True)
class LeaseUpdatePlan:
    """What to do with the leases of one committed query
    (``asyncSendLeaseUpdates``).

    ``requests``: ``(peer name, body, wait)``; ``wait`` True means the
    reply must be parked until that answer (and dropped if it fails).
    ``park``: the number of answers to wait for (0: reply at once).
    """
    requests: Tuple[Tuple[str, Dict[str, Any], bool], ...]
    park: int


# --------------------------------------------------------------------------

class HAStateMachine:
    """One HA relationship's state machine for a DHCPv4 server.

    Create it at start-up (``now`` = start time); it enters ``waiting``,
    disables the local DHCP service and arms the first heartbeat one
    heartbeat-delay later.  Every public method takes ``now`` (seconds,
    wall clock - heartbeat date-times are compared with it) and returns a
    list of :class:`Action`; command handlers return ``(answer, actions)``
    with ``answer`` a ``{"result", "text"[, "arguments"]}`` map.
    """

    MAX_RUN_STEPS = 64

    def __init__(self, config: HAConfig, now: float, network_state: Any = None):
        self.config = config
        self.network_state = network_state if network_state is not None else NetworkState()
        self.filter = QueryFilter(config)
        self.comm = CommunicationState(config, now)
        self.backlog = LeaseUpdateBacklog(config.delayed_updates_limit)
        self.state = WAITING
        self.prev_state = WAITING
        self.paused = False
        self._paused_once: set = set()
        self._on_entry = True
        self._on_exit = True
        self._next_event = NOP_EVT
        self._last_event = NOP_EVT
        self.sync_complete_notified = False
        self._sync_notified_at_send = False
        self.pending: Optional[str] = None   # "sync", "backlog", "reset"
        self._actions: List[Action] = []
        self._now = now
        # Kea's constructor: reset the HA origin, start in waiting.
        self.network_state.enable_service(HA_ORIGIN)
        self._check_pause(WAITING)
        self._run(now, START_EVT)
        self.start_actions = self._take()

    # -- inspection -------------------------------------------------------

    @property
    def partner(self) -> Optional[PeerConfig]:
        return self.config.partner

    @property
    def next_heartbeat_at(self) -> Optional[float]:
        return self.comm.heartbeat_deadline

    @property
    def scopes(self) -> List[str]:
        return self.filter.served_scopes()

    def sends_lease_updates_to(self, peer: PeerConfig) -> bool:
        """Kea's ``shouldSendLeaseUpdates``."""
        if not self.config.send_lease_updates:
            return False
        if peer.role == BACKUP:
            return True
        if self.config.role == BACKUP:
            return False
        return self.state in (HOT_STANDBY_ST, LOAD_BALANCING_ST, PARTNER_IN_MAINTENANCE)

    def queues_lease_updates_to(self, peer: PeerConfig) -> bool:
        """Kea's ``shouldQueueLeaseUpdates``."""
        if not self.config.send_lease_updates or peer.role == BACKUP:
            return False
        return self.state == COMMUNICATION_RECOVERY

    # -- the run loop ------------------------------------------------------

    def _take(self) -> List[Action]:
        out, self._actions = self._actions, []
        return out

    def _emit(self, action: Action) -> None:
        self._actions.append(action)

    def _log(self, level: str, msgid: str, text: str) -> None:
        self._emit(Log(level, msgid, text))

    def _post(self, event: str) -> None:
        self._last_event = self._next_event
        self._next_event = event

    def _check_pause(self, state: str) -> None:
        pausing = self.config.pausing(state)
        if self.paused:
            return
        if pausing == "always" or (pausing == "once" and state not in self._paused_once):
            self._paused_once.add(state)
            self.paused = True

    def _set_state(self, state: str) -> None:
        self.prev_state = self.state
        self.state = state
        changed = self.prev_state != state
        self._on_entry = changed
        self._on_exit = changed
        if changed:
            self._check_pause(state)

    def _do_on_entry(self) -> bool:
        r, self._on_entry = self._on_entry, False
        return r

    def _do_on_exit(self) -> bool:
        r, self._on_exit = self._on_exit, False
        return r

    def _run(self, now: float, event: str) -> None:
        self._now = now
        self._post(event)
        for _ in range(self.MAX_RUN_STEPS):
            self._handlers[self.state](self)
            if self._next_event == NOP_EVT:
                return
        raise RuntimeError("HA state machine did not settle")  # pragma: no cover

    def _label(self, state: Optional[str]) -> str:
        if state is None or state == UNAVAILABLE:
            return "UNDEFINED"
        return state.upper()

    def _transition(self, state: str) -> None:
        """Kea's ``verboseTransition``."""
        old = self.state
        if self.config.mode != PASSIVE_BACKUP:
            partner = self.comm.partner_state
            self._emit(Transition(old, state, partner))
            self._log("info", "HA_STATE_TRANSITION",
                      f"server transitions from {old.upper()} to {state.upper()} state,"
                      f" partner state is {self._label(partner)}")
        else:
            self._emit(Transition(old, state, None))
            self._log("info", "HA_STATE_TRANSITION_PASSIVE_BACKUP",
                      f"server transitions from {old.upper()} to {state.upper()} state")
        if state == READY and old == WAITING:
            self._log("info", "HA_CONFIG_LEASE_SYNCING_DISABLED_REMINDER",
                      "bypassing SYNCING state because lease database synchronization"
                      " is administratively disabled")
        self._set_state(state)
        self._post(self._next_event)
        if self.config.mode != PASSIVE_BACKUP and self.config.role != BACKUP:
            partner = self.partner
            if partner is not None and self.sends_lease_updates_to(partner):
                self._log("info", "HA_LEASE_UPDATES_ENABLED",
                          f"lease updates will be sent to the partner while in {state.upper()} state")
            elif not self.config.send_lease_updates:
                self._log("info", "HA_CONFIG_LEASE_UPDATES_DISABLED_REMINDER",
                          "lease updates are administratively disabled and will not be"
                          f" generated while in {state.upper()} state")
            else:
                self._log("info", "HA_LEASE_UPDATES_DISABLED",
                          f"lease updates will not be sent to the partner while in {state.upper()} state")

    def _adjust_network_state(self) -> None:
        enable = self.state in _ENABLED_STATES
        if enable == self.network_state.is_service_enabled():
            return
        switched = "enabled" if enable else "disabled"
        self._log("info", "HA_LOCAL_DHCP_ENABLE" if enable else "HA_LOCAL_DHCP_DISABLE",
                  f"local DHCP service is {switched} while the {self.config.this_server_name}"
                  f" is in the {self.state.upper()} state")
        if enable:
            self.network_state.enable_service(HA_ORIGIN)
        else:
            self.network_state.disable_service(HA_ORIGIN)
        self._emit(SetLocalDHCP(enable, self.state))

    def _log_paused(self) -> None:
        if self.paused:
            self._log("info", "HA_STATE_MACHINE_PAUSED",
                      f"state machine paused in state {self.state.upper()}")

    def _schedule_heartbeat(self) -> None:
        if self.pending == "sync":
            return
        self.comm.schedule_heartbeat(self._now)

    def _maintenance_canceled(self) -> bool:
        return self._last_event == MAINTENANCE_CANCEL_EVT

    def _should_terminate(self) -> bool:
        if self.comm.clock_skew_should_terminate():
            self._log("error", "HA_HIGH_CLOCK_SKEW_CAUSES_TERMINATION",
                      f"{self.comm.log_format_clock_skew()}, causing HA service to terminate")
            return True
        if self.comm.clock_skew_should_warn(self._now):
            self._log("warn", "HA_HIGH_CLOCK_SKEW",
                      f"{self.comm.log_format_clock_skew()}, please synchronize clocks!")
        return False

    def _partner_state_invalid(self) -> bool:
        p = self.comm.partner_state
        if p not in _PARTNER_STATE_MODE:
            return False
        mode, msgid = _PARTNER_STATE_MODE[p]
        if mode == self.config.mode:
            return False
        self._log("warn", msgid, f"partner is in the {p} state unexpectedly")
        return True

    def _should_partner_down(self) -> bool:
        if self.comm.is_communication_interrupted(self._now):
            if self.network_state.is_service_enabled() and (
                    self.config.mode == LOAD_BALANCING or self.config.role == STANDBY):
                return self.comm.failure_detected()
            return True
        return False

    # -- state handlers (ha_service.cc) --------------------------------------------

    def _entering(self, serve_scopes: Callable[[], None]) -> bool:
        """The on-entry part every handler starts with: serve these
        scopes, switch the local DHCP service to match the state, log a
        pause.  True when the state was just entered (the handler may
        add its own on-entry work)."""
        if not self._do_on_entry():
            return False
        serve_scopes()
        self._adjust_network_state()
        self._log_paused()
        return True

    def _decided_by_common_checks(self) -> bool:
        """The checks most handlers make before looking at the partner's
        state: nothing to do while paused or right after a maintenance
        cancel, ``terminated`` on too much clock skew, ``waiting`` when
        the partner's state does not fit the mode.  True when one of them
        decided the step."""
        if self._maintenance_canceled() or self.paused:
            self._post(NOP_EVT)
        elif self._should_terminate():
            self._transition(TERMINATED)
        elif self._partner_state_invalid():
            self._transition(WAITING)
        else:
            return False
        return True

    def _handle_partner_unavailable(self) -> None:
        """The partner does not answer: ``partner-down`` once that counts
        as a failure, else wait."""
        if self._should_partner_down():
            self._transition(PARTNER_DOWN)
        else:
            self._post(NOP_EVT)

    def _backup_handler(self) -> None:
        self._entering(self.filter.serve_no_scopes)
        self._post(NOP_EVT)

    def _communication_recovery_handler(self) -> None:
        self._entering(self.filter.serve_default_scopes)
        self._schedule_heartbeat()
        p = self.comm.partner_state
        if self.pending is not None:
            self._post(NOP_EVT)
        elif self._decided_by_common_checks():
            pass  # it posted or transitioned
        elif p in _OPERATIONAL_ANSWER:
            self._transition(_OPERATIONAL_ANSWER[p])
        elif p == UNAVAILABLE:
            self._handle_partner_unavailable()
        elif p in (WAITING, SYNCING, READY):
            if not self.comm.is_communication_interrupted(self._now) and self.backlog.overflown:
                self._transition(WAITING)
            else:
                self._post(NOP_EVT)
        elif self.comm.is_communication_interrupted(self._now):
            self._post(NOP_EVT)
        elif p in (self.config.normal_state, COMMUNICATION_RECOVERY):
            if self.backlog.overflown:
                self._start_reset()
            elif len(self.backlog):
                bodies = []
                while True:
                    item = self.backlog.pop()
                    if item is None:
                        break
                    op, lease = item
                    bodies.append(commands.lease4_update(lease) if op == ADD
                                  else commands.lease4_del(lease))
                self.pending = "backlog"
                self._log("info", "HA_LEASES_BACKLOG_START",
                          f"starting to send {len(bodies)} outstanding lease updates"
                          f" to {self.partner.name}")
                self._emit(ReplayBacklog(self.partner.name, tuple(bodies)))
                self._post(NOP_EVT)
            else:
                self._log("info", "HA_LEASES_BACKLOG_NOTHING_TO_SEND",
                          "no leases in backlog after communication recovery")
                self._transition(self.config.normal_state)
        else:
            self._transition(WAITING)
        if self._do_on_exit():
            self.backlog.clear()

    def _start_reset(self) -> None:
        self.pending = "reset"
        self._emit(SendHAReset(self.partner.name))
        self._post(NOP_EVT)

    def _normal_handler(self) -> None:
        self._entering(self.filter.serve_default_scopes)
        self._schedule_heartbeat()
        if self._decided_by_common_checks():
            return
        p = self.comm.partner_state
        if p in _OPERATIONAL_ANSWER:
            self._transition(_OPERATIONAL_ANSWER[p])
        elif p == UNAVAILABLE:
            if self._should_partner_down():
                self._transition(PARTNER_DOWN)
            elif self.config.allows_communication_recovery:
                self._transition(COMMUNICATION_RECOVERY)
            else:
                self._post(NOP_EVT)
        else:
            self._post(NOP_EVT)
        self._do_on_exit()

    def _in_maintenance_handler(self) -> None:
        if self._entering(self.filter.serve_no_scopes):
            self._log("info", "HA_MAINTENANCE_SHUTDOWN_SAFE",
                      "the server can now be shutdown for maintenance as the partner has"
                      " taken over the DHCP traffic")
        self._schedule_heartbeat()
        self._post(NOP_EVT)

    def _partner_down_handler(self) -> None:
        maintenance = self._last_event == MAINTENANCE_START_EVT
        if maintenance or self.config.this_server.auto_failover:
            serve_scopes = self.filter.serve_failover_scopes
        else:
            serve_scopes = self.filter.serve_default_scopes
        if self._entering(serve_scopes):
            if maintenance:
                self._log("info", "HA_MAINTENANCE_STARTED_IN_PARTNER_DOWN",
                          "the server is now in the partner-down mode as a result of"
                          " requested maintenance")
        elif self._last_event == SYNCED_PARTNER_UNAVAILABLE_EVT:
            self._adjust_network_state()
        self._schedule_heartbeat()
        if self._decided_by_common_checks():
            return
        p = self.comm.partner_state
        if p in (COMMUNICATION_RECOVERY, PARTNER_DOWN, PARTNER_IN_MAINTENANCE):
            self._transition(WAITING)
        elif p == READY:
            if self.comm.has_partner_new_unsent_updates():
                self._transition(WAITING)
            else:
                self._transition(self.config.normal_state)
        elif p == TERMINATED:
            self._transition(TERMINATED)
        else:
            self._post(NOP_EVT)

    def _partner_in_maintenance_handler(self) -> None:
        if self._entering(self.filter.serve_failover_scopes):
            self._log("info", "HA_MAINTENANCE_STARTED",
                      "the server is now in the partner-in-maintenance state and the"
                      " partner is in-maintenance state")
        self._schedule_heartbeat()
        if self.paused:
            self._post(NOP_EVT)
            return
        if self._should_terminate():
            self._transition(TERMINATED)
            return
        if self.comm.partner_state == UNAVAILABLE:
            self._transition(PARTNER_DOWN)
        else:
            self._post(NOP_EVT)

    def _passive_backup_handler(self) -> None:
        if self._entering(self.filter.serve_default_scopes):
            self.comm.stop_heartbeat()
        self._post(NOP_EVT)

    def _ready_handler(self) -> None:
        self._entering(self.filter.serve_no_scopes)
        self._schedule_heartbeat()
        if self._decided_by_common_checks():
            return
        p = self.comm.partner_state
        if p in (HOT_STANDBY_ST, LOAD_BALANCING_ST, COMMUNICATION_RECOVERY):
            self._transition(self.config.normal_state)
        elif p == IN_MAINTENANCE:
            self._transition(PARTNER_IN_MAINTENANCE)
        elif p == PARTNER_IN_MAINTENANCE:
            self._transition(IN_MAINTENANCE)
        elif p == READY:
            if self.config.role == PRIMARY:
                self._transition(LOAD_BALANCING_ST if self.config.mode == LOAD_BALANCING
                                 else HOT_STANDBY_ST)
            else:
                self._post(NOP_EVT)
        elif p == TERMINATED:
            self._transition(TERMINATED)
        elif p == UNAVAILABLE:
            self._handle_partner_unavailable()
        else:
            self._post(NOP_EVT)

    def _syncing_handler(self) -> None:
        self._entering(self.filter.serve_no_scopes)
        if self.pending == "sync":
            self._post(NOP_EVT)
            return
        if self._decided_by_common_checks():
            return
        p = self.comm.partner_state
        if p == TERMINATED:
            self._transition(TERMINATED)
            return
        if p == UNAVAILABLE:
            self._handle_partner_unavailable()
            self._schedule_heartbeat()
            return
        # Kea stops the heartbeat and synchronizes (synchronously); here
        # the I/O layer does it and reports with sync_done().
        self.comm.stop_heartbeat()
        self.pending = "sync"
        peer = self.partner.name
        self._log("info", "HA_SYNC_START", f"starting lease database synchronization with {peer}")
        self._emit(StartSync(peer, self.config.sync_max_period, self.config.sync_page_limit))
        self._post(NOP_EVT)

    def _terminated_handler(self) -> None:
        if self._entering(self.filter.serve_default_scopes):
            self.comm.stop_heartbeat()
            self._log("error", "HA_TERMINATED",
                      "HA service terminated due to an unrecoverable condition. Check"
                      " previous error message(s), address the problem and restart!")
        self._post(NOP_EVT)

    def _waiting_handler(self) -> None:
        self._entering(self.filter.serve_no_scopes)
        if self.config.mode != PASSIVE_BACKUP and self.config.role != BACKUP:
            self._schedule_heartbeat()
        if self._maintenance_canceled() or self.paused:
            self._post(NOP_EVT)
            return
        if self.config.role == BACKUP:
            self._transition(BACKUP_ST)
            return
        if self.config.mode == PASSIVE_BACKUP:
            self._transition(PASSIVE_BACKUP_ST)
            return
        if self._should_terminate():
            self._transition(TERMINATED)
            return
        if self._partner_state_invalid():
            self._post(NOP_EVT)
            return
        p = self.comm.partner_state
        nxt = SYNCING if self.config.sync_leases else READY
        if p in (COMMUNICATION_RECOVERY, HOT_STANDBY_ST, LOAD_BALANCING_ST, IN_MAINTENANCE,
                 PARTNER_DOWN, PARTNER_IN_MAINTENANCE, READY):
            self._transition(nxt)
        elif p == SYNCING:
            self._post(NOP_EVT)
        elif p == TERMINATED:
            self._log("info", "HA_TERMINATED_RESTART_PARTNER",
                      "waiting for the partner in the TERMINATED state to be restarted")
            self._post(NOP_EVT)
        elif p == WAITING:
            if self.config.role == PRIMARY:
                self._transition(nxt)
            else:
                self._post(NOP_EVT)
        elif p == UNAVAILABLE:
            self._handle_partner_unavailable()
        else:
            self._post(NOP_EVT)

    _handlers = {
        BACKUP_ST: _backup_handler,
        COMMUNICATION_RECOVERY: _communication_recovery_handler,
        HOT_STANDBY_ST: _normal_handler,
        LOAD_BALANCING_ST: _normal_handler,
        IN_MAINTENANCE: _in_maintenance_handler,
        PARTNER_DOWN: _partner_down_handler,
        PARTNER_IN_MAINTENANCE: _partner_in_maintenance_handler,
        PASSIVE_BACKUP_ST: _passive_backup_handler,
        READY: _ready_handler,
        SYNCING: _syncing_handler,
        TERMINATED: _terminated_handler,
        WAITING: _waiting_handler,
    }

    # -- heartbeats -----------------------------------------------------------------

    def heartbeat_due(self, now: float) -> List[Action]:
        """The heartbeat timer fired: send ``ha-heartbeat`` to the partner."""
        self._now = now
        self.comm.heartbeat_fired()
        partner = self.partner
        if partner is None:
            return []
        self._sync_notified_at_send = self.sync_complete_notified
        self.sync_complete_notified = False
        return [SendHeartbeat(partner.name)]

    def heartbeat_result(self, now: float, body: Any = None, error: Optional[str] = None) -> List[Action]:
        """The heartbeat's outcome: the decoded JSON answer body, or
        ``error`` (connection, TLS, HTTP or timeout failure text)."""
        self._now = now
        partner = self.partner
        label = partner.log_label if partner else ""
        ok = False
        if error is not None:
            self._log("warn", "HA_HEARTBEAT_COMMUNICATIONS_FAILED",
                      f"failed to send heartbeat to {label}: {error}")
        else:
            try:
                hb = commands.parse_heartbeat_answer(body)
                self.comm.set_partner_state(hb.state)
                try:
                    self.comm.set_partner_time(hb.date_time, now)
                except ValueError as e:
                    raise commands.PeerAnswerError(str(e))
                try:
                    self.comm.set_partner_scopes(hb.scopes)
                except ValueError:
                    pass
                if hb.unsent_update_count is not None:
                    self.comm.set_partner_unsent_update_count(hb.unsent_update_count)
                ok = True
            except (commands.PeerAnswerError, ValueError) as e:
                self._log("warn", "HA_HEARTBEAT_FAILED", f"heartbeat to {label} failed: {e}")
        if ok:
            self.comm.poke(now)
        else:
            self.comm.partner_state = UNAVAILABLE
            if self.comm.is_communication_interrupted(now) and partner is not None:
                self._log("warn", "HA_COMMUNICATION_INTERRUPTED",
                          f"communication with {partner.name} is interrupted")
        self.comm.start_heartbeat(now)
        notified = self._sync_notified_at_send
        self._sync_notified_at_send = False
        if notified and not ok:
            self._post(SYNCED_PARTNER_UNAVAILABLE_EVT)
        self._run(now, HEARTBEAT_COMPLETE_EVT)
        return self._take()

    # -- async work reported back ------------------------------------------------------

    def _pending_done(self, now: float, work: str) -> bool:
        """``work`` (a :attr:`pending` value) was reported done: False when
        it was not what the machine waited for (a late report is ignored)."""
        self._now = now
        if self.pending != work:
            return False
        self.pending = None
        return True

    def _continue_run(self, now: float, otherwise: str) -> None:
        """Run after a transition made outside a handler: with the event a
        handler posted, else with ``otherwise``."""
        self._run(now, self._next_event if self._next_event != NOP_EVT else otherwise)

    def sync_done(self, now: float, ok: bool, error: Optional[str] = None) -> List[Action]:
        """The sync started by :class:`StartSync` ended."""
        if not self._pending_done(now, "sync"):
            return []
        peer = self.partner.name
        if ok:
            self._log("info", "HA_SYNC_SUCCESSFUL",
                      f"lease database synchronization with {peer} completed successfully")
        else:
            self.comm.partner_state = UNAVAILABLE
            self._log("error", "HA_SYNC_FAILED",
                      f"lease database synchronization with {peer} failed: {error}")
        if self.state != SYNCING:
            self._schedule_heartbeat()
            return self._take()
        if ok:
            self._post(SYNCING_SUCCEEDED_EVT)
            self._transition(READY)
            self._schedule_heartbeat()
            self._run(now, self._next_event)
        else:
            self._post(SYNCING_FAILED_EVT)
            self._schedule_heartbeat()
        return self._take()

    def backlog_done(self, now: float, ok: bool) -> List[Action]:
        """The :class:`ReplayBacklog` ended (``ok``: all were accepted)."""
        if not self._pending_done(now, "backlog"):
            return []
        if self.state != COMMUNICATION_RECOVERY:
            return self._take()
        if ok:
            self._log("info", "HA_LEASES_BACKLOG_SUCCESS",
                      f"sending lease updates in backlog to {self.partner.name} succeeded")
            self._transition(self.config.normal_state)
            self._continue_run(now, LEASE_UPDATES_COMPLETE_EVT)
        else:
            self._start_reset()
        return self._take()

    def reset_done(self, now: float, ok: bool) -> List[Action]:
        """The :class:`SendHAReset` ended."""
        if not self._pending_done(now, "reset"):
            return []
        if ok and self.state == COMMUNICATION_RECOVERY:
            self._transition(WAITING)
            self.backlog.clear()
            self._continue_run(now, HEARTBEAT_COMPLETE_EVT)
        return self._take()

    # -- DHCP traffic -----------------------------------------------------------------------

    def in_scope(self, now: float, message_type: Optional[int], client_id: Optional[bytes],
                 hwaddr: Optional[bytes], secs: int = 0) -> Tuple[ScopeDecision, List[Action]]:
        """``buffer4_receive``: classify a query (add ``scope_class`` to
        it when not None) and say whether to process or drop it.  Queries
        for the partner seen while communication is interrupted feed the
        failure detection."""
        self._now = now
        decision = self.filter.decide(message_type, client_id, hwaddr)
        if (not decision.in_scope and decision.scope is not None
                and self.comm.is_communication_interrupted(now)):
            newly, total, left = self.comm.analyze_message(secs, hwaddr or b"", client_id)
            if newly:
                self._log("info", "HA_COMMUNICATION_INTERRUPTED_CLIENT4_UNACKED",
                          f"partner server failed to respond, {total} clients unacked so far,"
                          f" {left} clients left before transitioning to the partner-down state")
        return decision, self._take()

    def lease_updates(self, now: float, leases: Sequence[Any],
                      deleted_leases: Sequence[Any] = ()) -> LeaseUpdatePlan:
        """``leases4_committed``: what to send for one query's committed
        (``leases``) and deleted leases.  Deleted ones go first, as in Kea.
        Nothing at all when send-lease-updates is false."""
        self._now = now
        requests: List[Tuple[str, Dict[str, Any], bool]] = []
        park = 0
        if not self.config.send_lease_updates or not (leases or deleted_leases):
            return LeaseUpdatePlan((), 0)
        for peer in self.config.other_servers():
            if self.queues_lease_updates_to(peer):
                for lease in deleted_leases:
                    self.backlog.push(DELETE, lease)
                for lease in leases:
                    self.backlog.push(ADD, lease)
                continue
            if not self.sends_lease_updates_to(peer):
                if peer.role != BACKUP:
                    self.comm.increase_unsent_update_count()
                continue
            wait = self.config.wait_backup_ack or peer.role != BACKUP
            for lease in deleted_leases:
                requests.append((peer.name, commands.lease4_del(lease), wait))
            for lease in leases:
                requests.append((peer.name, commands.lease4_update(lease), wait))
            if wait:
                park += len(deleted_leases) + len(leases)
        return LeaseUpdatePlan(tuple(requests), park)

    def lease_update_result(self, now: float, peer_name: str, ok: bool,
                            all_done: bool = True, error: Optional[str] = None) -> List[Action]:
        """One lease update's answer.  A failure towards a non-backup peer
        marks the partner unavailable; ``all_done`` (the last awaited answer
        of that query) runs the state machine, as Kea does when it
        unparks."""
        self._now = now
        peer = self.config.peer(peer_name)
        if not ok:
            self._log("warn", "HA_LEASE_UPDATE_FAILED",
                      f"lease update to {peer.log_label} failed: {error}")
            if peer.role != BACKUP:
                self.comm.partner_state = UNAVAILABLE
        if not (self.config.wait_backup_ack or peer.role != BACKUP):
            return self._take()
        if all_done:
            self._run(now, LEASE_UPDATES_COMPLETE_EVT)
        return self._take()

    # -- commands received ----------------------------------------------------------------------

    def heartbeat_answer(self, now: float) -> Dict[str, Any]:
        """Our answer to ``ha-heartbeat`` (``processHeartbeat``)."""
        return commands.heartbeat_answer(self.state, rfc1123(now), self.scopes,
                                         self.comm.unsent_update_count)

    def status(self, now: float) -> Dict[str, Any]:
        """The element of status-get's ``high-availability`` list."""
        servers: Dict[str, Any] = {"local": {
            "role": self.config.role, "scopes": self.scopes, "state": self.state}}
        if self.config.mode != PASSIVE_BACKUP and self.config.role != BACKUP:
            remote = self.comm.report(now)
            partner = self.partner
            remote["role"] = partner.role if partner else ""
            servers["remote"] = remote
        return {"ha-mode": self.config.mode, "ha-servers": servers}

    def ha_reset(self, now: float) -> Tuple[Dict[str, Any], List[Action]]:
        if self.state == WAITING:
            return {"result": 0, "text": "HA state machine already in WAITING state."}, []
        self._transition(WAITING)
        self._run(now, NOP_EVT)
        return {"result": 0, "text": "HA state machine reset."}, self._take()

    def sync_complete_notify(self, now: float) -> Tuple[Dict[str, Any], List[Action]]:
        self._now = now
        if self.state == PARTNER_DOWN:
            self.sync_complete_notified = True
        else:
            self.network_state.enable_service(HA_ORIGIN)
            self._emit(SetLocalDHCP(True, self.state))
        return ({"result": 0, "text": "Server successfully notified about the synchronization"
                 " completion."}, self._take())

    def ha_scopes(self, now: float, scopes: Sequence[str]) -> Tuple[Dict[str, Any], List[Action]]:
        self._now = now
        try:
            self.filter.serve_scopes(scopes)
        except ScopeError as e:
            return {"result": 1, "text": str(e)}, self._take()
        self._adjust_network_state()
        return {"result": 0, "text": "New HA scopes configured."}, self._take()

    def ha_continue(self, now: float) -> Tuple[Dict[str, Any], List[Action]]:
        if self.paused:
            self.paused = False
            self._log("info", "HA_STATE_MACHINE_CONTINUED", "state machine is un-paused")
            return {"result": 0, "text": "HA state machine continues."}, self._take()
        return {"result": 0, "text": "HA state machine is not paused."}, []

    def _maintenance_transition(self, now: float, event: str, state: str) -> None:
        """Transition for a maintenance command; the new state's handler
        runs with ``event`` as the last event (what it checks to tell a
        maintenance start or cancel)."""
        self._post(event)
        self._transition(state)
        self._run(now, NOP_EVT)

    def maintenance_notify(self, now: float, cancel: bool) -> Tuple[Dict[str, Any], List[Action]]:
        """The partner's ``ha-maintenance-notify``."""
        if cancel:
            if self.state != IN_MAINTENANCE:
                return {"result": 1, "text": "Unable to cancel the maintenance for the server"
                        " not in the in-maintenance state."}, []
            self._maintenance_transition(now, MAINTENANCE_CANCEL_EVT, self.prev_state)
            return {"result": 0, "text": "Server maintenance canceled."}, self._take()
        if self.state in (BACKUP_ST, PARTNER_IN_MAINTENANCE, TERMINATED):
            return {"result": commands.HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED,
                    "text": f"Unable to transition the server from the {self.state} to"
                            " in-maintenance state."}, []
        self._transition(IN_MAINTENANCE)
        self._run(now, MAINTENANCE_NOTIFY_EVT)
        return {"result": 0, "text": "Server is in-maintenance state."}, self._take()

    def maintenance_start(self, now: float) -> Tuple[Optional[Dict[str, Any]], List[Action]]:
        """Operator's ``ha-maintenance-start``: either an error answer now,
        or ``(None, [SendMaintenanceNotify(cancel=False)])``; then call
        :meth:`maintenance_start_result`."""
        if self.state in (BACKUP_ST, IN_MAINTENANCE, PARTNER_IN_MAINTENANCE, TERMINATED):
            return {"result": 1, "text": f"Unable to transition the server from the {self.state}"
                    " to partner-in-maintenance state."}, []
        return None, [SendMaintenanceNotify(self.partner.name, False)]

    def maintenance_start_result(self, now: float, communication_ok: bool, rcode: int = 0,
                                 error: str = "") -> Tuple[Dict[str, Any], List[Action]]:
        """``communication_ok`` False: connection/HTTP failure; ``rcode``:
        the answer's result (1 also for a malformed answer); ``error``: the
        :class:`~hooks.ha.commands.PeerAnswerError` text."""
        self._now = now
        if error or not communication_ok:
            self.comm.partner_state = UNAVAILABLE
        if not communication_ok or rcode == commands.CONTROL_RESULT_ERROR:
            self._maintenance_transition(now, MAINTENANCE_START_EVT, PARTNER_DOWN)
            return {"result": 0, "text": "Server is now in the partner-down state as its partner"
                    " appears to be offline for maintenance."}, self._take()
        if rcode == commands.CONTROL_RESULT_SUCCESS:
            self._maintenance_transition(now, MAINTENANCE_START_EVT, PARTNER_IN_MAINTENANCE)
            return {"result": 0, "text": "Server is now in the partner-in-maintenance state and"
                    " its partner is in-maintenance state. The partner can be now safely shut"
                    " down."}, self._take()
        return {"result": 1, "text": "Unable to transition to the partner-in-maintenance state."
                " The partner server responded with the following message to the"
                f" ha-maintenance-notify command: {error}."}, self._take()

    def maintenance_cancel(self, now: float) -> Tuple[Optional[Dict[str, Any]], List[Action]]:
        """Operator's ``ha-maintenance-cancel``; then
        :meth:`maintenance_cancel_result`."""
        if self.state != PARTNER_IN_MAINTENANCE:
            return {"result": 1, "text": "Unable to cancel maintenance request because the"
                    " server is not in the partner-in-maintenance state."}, []
        return None, [SendMaintenanceNotify(self.partner.name, True)]

    def maintenance_cancel_result(self, now: float, error: str = "") -> Tuple[Dict[str, Any], List[Action]]:
        """``error``: empty on success, else the failure text."""
        self._now = now
        if error:
            self.comm.partner_state = UNAVAILABLE
            return {"result": 1, "text": "Unable to cancel maintenance. The partner server"
                    " responded with the following message to the ha-maintenance-notify"
                    f" command: {error}."}, self._take()
        self._maintenance_transition(now, MAINTENANCE_CANCEL_EVT, self.prev_state)
        return {"result": 0, "text": "Server maintenance successfully canceled."}, self._take()
