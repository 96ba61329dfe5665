"""
The running HA service: Kea 2.2's ``HAService`` I/O around the pure core.

:class:`~hooks.ha.states.HAStateMachine` decides; this module does what
it asks for, on the reactor's clock (``reactor.callLater`` /
``reactor.seconds()``, so tests drive it with ``task.Clock``):

* **Heartbeats.**  The machine says when the next one is due
  (``next_heartbeat_at``); one ``callLater`` follows it.  When it fires,
  ``ha-heartbeat`` goes to the partner; the answer (or the failure) goes
  back to the machine, which re-arms the timer and runs the state handlers
  (``asyncSendHeartbeat``).  Requests time out after 10 s (Kea's
  ``TIMEOUT_DEFAULT_HTTP_CLIENT_REQUEST``), ``lease4-get-page`` after
  sync-timeout.
* **Lease updates** (``asyncSendLeaseUpdates``): one ``lease4-del`` per
  deleted lease, then one ``lease4-update`` (``expire``, ``force-create``)
  per committed lease, to every other peer the machine names.  The
  response to the client stays parked until every awaited answer arrived;
  one failure drops it (no NAK), exactly Kea's parking-lot use: one
  ``reference`` per query, one ``unpark`` when the count of pending
  requests reaches zero, ``drop`` on a failure.  A backup peer is not
  waited for unless ``wait-backup-ack``.  In communication-recovery the
  machine queues them in its backlog instead (``delayed-updates-limit``).
* **Lease database synchronization** (``synchronize`` /
  ``asyncSyncLeases``): before every page a ``dhcp-disable`` (origin
  ``ha-partner``, max-period = sync-timeout / 1000, or an ``ha-sync``'s
  own), then ``lease4-get-page`` from ``start`` and then from the last
  address of a full page; leases newer than ours (by cltt) are written to
  the store.  At the end ``ha-sync-complete-notify`` (``dhcp-enable`` when
  the partner answers "unsupported"), or ``dhcp-enable`` after a failure
  once the partner was disabled.  Kea runs this synchronously, blocking its
  own DHCP service; here it is a Deferred and the machine waits for
  :meth:`HAStateMachine.sync_done`.
* **Backlog replay and ha-reset** out of communication-recovery, and the
  ``ha-maintenance-notify`` round trip of ``ha-maintenance-start`` /
  ``-cancel``: likewise asynchronous, reported back to the machine.
* **The partner link**: a client per other peer (``client_factory``) and,
  when Kea would open one (HA ``multi-threading`` with
  ``http-dedicated-listener`` and DHCP multi-threading), a listener on
  this server's own ``url`` (``listener_factory``) whose commands run on
  this server's command table (``execute_command``), where ``lease_cmds``
  and the ``ha-*`` handlers live.  Both default to :mod:`hooks.ha.transport`,
  imported only when needed.

Every request to the partner marks it ``unavailable`` on failure where
Kea does (sync, dhcp-disable/-enable, ha-sync-complete-notify,
maintenance), so that the next state handler run sees it.

Tests: tests/test_ha_service.py
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred, returnValue, succeed
from twisted.python.failure import Failure

from hooks.ha import commands
from hooks.ha.commands import (
    CONTROL_RESULT_COMMAND_UNSUPPORTED, CONTROL_RESULT_ERROR, REQUEST_TIMEOUT,
    CommandUnsupported, PeerAnswerError,
)
from hooks.ha.config import HAConfig
from hooks.ha.states import (
    UNAVAILABLE, Action, HAStateMachine, Log, ReplayBacklog, SendHAReset, SendHeartbeat,
    StartSync,
)
from kea_twisted.leases import Lease4
from kea_twisted.logs import kea_logger

__all__ = [
    "HAService",
    "ClientFactory",
    "ListenerFactory",
    "default_client_factory",
    "default_listener_factory",
    "LISTEN_RETRIES",
]

ha_log = kea_logger("ha-hooks")

#: ``client_factory(reactor, config, peer_name)`` -> an object with
#: ``send(command_dict, timeout=seconds) -> Deferred[list]`` and ``close()``.
ClientFactory = Callable[[Any, HAConfig, str], Any]
#: ``listener_factory(reactor, config, execute)`` -> Deferred of an object
#: with ``stopListening()``.
ListenerFactory = Callable[[Any, HAConfig, Callable[[Dict[str, Any]], Deferred]], Deferred]

#: How often (and how far apart, in seconds: attempt * 0.2) the listener is
#: tried again when its port is still held - after a reconfiguration the
#: old listener's socket closes on the next reactor turn.
LISTEN_RETRIES = 5


def default_client_factory(tls: Any = None) -> ClientFactory:
    """Clients from :mod:`hooks.ha.transport` (imported here, not at module
    load, so the pure parts never need Twisted's HTTP client).  ``tls``: a
    :class:`hooks.ha.transport.HATLS` already loaded, or None to load the
    peer's files when the client is made."""

    def factory(reactor: Any, config: HAConfig, peer_name: str) -> Any:
        from hooks.ha.transport import PartnerClient

        client_tls = tls.clients.get(peer_name) if tls is not None else None
        return PartnerClient.for_peer(reactor, config, peer_name, tls=client_tls)

    return factory


def default_listener_factory(tls: Any = None) -> ListenerFactory:
    """The dedicated HA listener of :mod:`hooks.ha.transport` on this
    server's ``url``, TLS from the own peer entry, answering only the
    commands a partner sends (others get 403, as Kea's ``filterCommand``
    with ``restrict-commands``) unless restrict-commands is explicitly false."""

    def factory(reactor: Any, config: HAConfig, execute: Callable[[Dict[str, Any]], Deferred]) -> Deferred:
        from hooks.ha.transport import listen

        listener_tls: Any = tls.listener if tls is not None else config.listener_tls
        allowed = commands.HA_COMMANDS4 if config.listener_restricted else None
        return listen(reactor, config.this_server.url, execute, tls=listener_tls,
                      allowed_commands=allowed)

    return factory


def _error_text(failure: Failure) -> str:
    value = failure.value
    text = str(value)
    return text or type(value).__name__


class HAService:
    """One HA relationship of a running server (Kea's ``HAService``).

    :param config: the parsed ``high-availability`` relationship.
    :param server: the :class:`~kea_twisted.hooks.IServerContext` (``reactor``,
        ``store``, ``network_state``, ``execute_command``).
    :param client_factory: makes the client for one other peer
        (:data:`ClientFactory`); default :func:`default_client_factory`.
    :param listener_factory: starts the dedicated listener
        (:data:`ListenerFactory`); default :func:`default_listener_factory`.
    :param listen: start the listener: None (Kea's rule) only when HA and
        DHCP multi-threading and ``http-dedicated-listener`` are on; True /
        False force it.
    :param network_state: overrides ``server.network_state``.

    Nothing happens until :meth:`start`; :meth:`stop` undoes it.
    """

    def __init__(self, config: HAConfig, server: Any, *,
                 client_factory: Optional[ClientFactory] = None,
                 listener_factory: Optional[ListenerFactory] = None,
                 listen: Optional[bool] = None,
                 network_state: Any = None):
        self.config = config
        self.server = server
        self.reactor = server.reactor
        self.client_factory = client_factory or default_client_factory()
        self.listener_factory = listener_factory or default_listener_factory()
        self.listen = listen
        self.network_state = network_state if network_state is not None else getattr(
            server, "network_state", None)
        self.machine: Optional[HAStateMachine] = None
        self.clients: Dict[str, Any] = {}
        self.listener: Any = None
        self.running = False
        self._timer: Any = None
        self._timer_deadline: Optional[float] = None
        self._listen_timer: Any = None
        # id(query) -> [answers still awaited, query]
        self._pending: Dict[int, List[Any]] = {}

    # -- life cycle -------------------------------------------------------------

    def now(self) -> float:
        return float(self.reactor.seconds())

    def start(self) -> None:
        """Kea's constructor + ``startClientAndListener``: the machine starts
        in waiting (local DHCP disabled), clients are made, the listener is
        started when due (failures are logged, the service runs without
        it, as Kea's would run without the Control Agent)."""
        if self.running:
            return
        self.running = True
        self.machine = HAStateMachine(self.config, self.now(), self.network_state)
        # The clients see the multi-threading settings as Kea resolves them
        # (http-client-threads 0 = the DHCP thread count): their connection
        # count comes from there.
        threaded = self._threaded_config()
        for peer in self.config.other_servers():
            self.clients[peer.name] = self.client_factory(self.reactor, threaded, peer.name)
        ha_log.info("{msgid} HA service started in mode {mode} and role {role}",
                    msgid="HA_SERVICE_STARTED", mode=self.config.mode, role=self.config.role)
        self._apply(self.machine.start_actions)
        if self._wants_listener():
            self._start_listener(1)

    def _threaded_config(self) -> HAConfig:
        """The relationship after Kea's multi-threading checks
        (:meth:`HAConfig.with_dhcp_threads` with the server's DHCP
        multi-threading; 0 threads = the processor count, as Kea)."""
        mt = getattr(getattr(self.server, "config", None), "multi_threading", None)
        enabled = bool(getattr(mt, "enable_multi_threading", False))
        threads = int(getattr(mt, "thread_pool_size", 0) or 0)
        return self.config.with_dhcp_threads(enabled, threads, os.cpu_count() or 1)

    def _wants_listener(self) -> bool:
        if self.listen is not None:
            return self.listen
        return self._threaded_config().listener_address() is not None

    def _start_listener(self, attempt: int) -> None:
        self._listen_timer = None
        if not self.running:
            return
        d = maybeDeferred(self.listener_factory, self.reactor, self.config, self.execute)

        def started(port: Any) -> None:
            if not self.running:
                maybeDeferred(port.stopListening)
                return
            self.listener = port

        def failed(failure: Failure) -> None:
            if not self.running:
                return
            from twisted.internet.error import CannotListenError

            if failure.check(CannotListenError) and attempt < LISTEN_RETRIES:
                self._listen_timer = self.reactor.callLater(0.2 * attempt, self._start_listener,
                                                            attempt + 1)
                return
            ha_log.error("{msgid} failed to start the HA listener on {url}: {error}",
                         msgid="HA_LISTENER_START_FAILED", url=self.config.this_server.url.text,
                         error=_error_text(failure))

        d.addCallbacks(started, failed)

    def execute(self, command: Dict[str, Any]) -> Deferred:
        """What the listener runs: the command on this server's command
        table (``service`` is not looked at, as Kea's listener)."""
        name = command.get("command")
        if "arguments" in command:
            return self.server.execute_command(name, command["arguments"])
        return self.server.execute_command(name)

    def stop(self) -> Deferred:
        """Stop timers, close the clients (requests in flight are
        cancelled and their answers ignored) and the listener."""
        self.running = False
        for timer in (self._timer, self._listen_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._listen_timer = None
        self._timer_deadline = None
        self._pending.clear()
        waits: List[Deferred] = []
        clients, self.clients = self.clients, {}
        for client in clients.values():
            waits.append(maybeDeferred(client.close))
        if self.listener is not None:
            listener, self.listener = self.listener, None
            waits.append(maybeDeferred(listener.stopListening))
        d: Deferred = Deferred()
        remaining = [len(waits)]

        def one(_: Any) -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                d.callback(None)

        for w in waits:
            w.addBoth(one)
        if not waits:
            d.callback(None)
        return d

    # -- the machine's actions ---------------------------------------------------

    def _apply(self, actions: Iterable[Action]) -> None:
        """Carry out what the machine asked for, then follow its heartbeat
        deadline with the timer."""
        for action in actions:
            if isinstance(action, Log):
                getattr(ha_log, action.level if action.level in ("debug", "info", "warn", "error")
                        else "info")("{msgid} {text}", msgid=action.msgid, text=action.text)
            elif isinstance(action, SendHeartbeat):
                self._send_heartbeat(action)
            elif isinstance(action, StartSync):
                self._run_sync(action)
            elif isinstance(action, ReplayBacklog):
                self._replay_backlog(action)
            elif isinstance(action, SendHAReset):
                self._send_reset(action)
            # Transition and SetLocalDHCP come with their Log; the network
            # state is already switched by the machine.
        self._follow_heartbeat()

    def _follow_heartbeat(self) -> None:
        if not self.running or self.machine is None:
            return
        deadline = self.machine.next_heartbeat_at
        if deadline is None:
            if self._timer is not None and self._timer.active():
                self._timer.cancel()
            self._timer = None
            self._timer_deadline = None
            return
        if self._timer is not None and self._timer.active() and self._timer_deadline == deadline:
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer_deadline = deadline
        self._timer = self.reactor.callLater(max(0.0, deadline - self.now()), self._heartbeat_due)

    def _heartbeat_due(self) -> None:
        self._timer = None
        self._timer_deadline = None
        if not self.running:
            return
        self._apply(self.machine.heartbeat_due(self.now()))

    # -- requests to peers ---------------------------------------------------------

    def _send(self, peer_name: str, body: Dict[str, Any], timeout: float = REQUEST_TIMEOUT) -> Deferred:
        """The raw answer list, or a failure (transport, timeout)."""
        client = self.clients.get(peer_name)
        if client is None:
            return _failed(ConnectionError(f"no connection to {peer_name}: HA service not running"))
        return maybeDeferred(client.send, body, timeout=timeout)

    def _call(self, peer_name: str, body: Dict[str, Any], *, timeout: float = REQUEST_TIMEOUT,
              msgid: str = "", mark_unavailable: bool = True, unsupported_ok: bool = False) -> Deferred:
        """Send and check the answer as ``verifyAsyncResponse``; fires with
        ``(ok, rcode, arguments, error)`` - never fails.  ``rcode`` is None
        after a transport failure; a result 2 is ``ok`` False with
        ``rcode`` 2.  Failures are logged (``<msgid>_COMMUNICATIONS_FAILED``
        / ``<msgid>_FAILED``) and mark the partner unavailable - except a
        result 2 with ``unsupported_ok`` (``ha-sync-complete-notify`` to a
        partner older than 2.2, which Kea answers with ``dhcp-enable``)."""
        label = self._label(peer_name)

        def answered(body_: Any) -> Tuple[bool, Optional[int], Any, str]:
            try:
                rcode, args = commands.verify_answer(body_)
            except PeerAnswerError as e:
                if unsupported_ok and isinstance(e, CommandUnsupported):
                    return False, e.rcode, None, e.message
                if msgid:
                    ha_log.error("{msgid} {command} to {peer} failed: {error}", msgid=msgid + "_FAILED",
                                 command=body.get("command"), peer=label, error=e.message)
                fail(e.message)
                return False, e.rcode, None, e.message
            return True, rcode, args, ""

        def broken(failure: Failure) -> Tuple[bool, Optional[int], Any, str]:
            text = _error_text(failure)
            if msgid:
                ha_log.error("{msgid} failed to send {command} to {peer}: {error}",
                             msgid=msgid + "_COMMUNICATIONS_FAILED", command=body.get("command"),
                             peer=label, error=text)
            fail(text)
            return False, None, None, text

        def fail(text: str) -> None:
            if mark_unavailable and self.running and self.machine is not None:
                self.machine.comm.partner_state = UNAVAILABLE

        return self._send(peer_name, body, timeout).addCallbacks(answered, broken)

    def _label(self, peer_name: str) -> str:
        try:
            return self.config.peer(peer_name).log_label
        except KeyError:
            return peer_name

    def _send_heartbeat(self, action: SendHeartbeat) -> None:
        def done(result: Any) -> None:
            if not self.running:
                return
            if isinstance(result, Failure):
                actions = self.machine.heartbeat_result(self.now(), error=_error_text(result))
            else:
                actions = self.machine.heartbeat_result(self.now(), body=result)
            self._apply(actions)

        self._send(action.peer, action.body).addBoth(done)

    def _replay_backlog(self, action: ReplayBacklog) -> None:
        @inlineCallbacks
        def replay() -> Any:
            for body in action.bodies:
                ok, _rcode, _args, _error = yield self._call(
                    action.peer, body, msgid="HA_LEASES_BACKLOG", mark_unavailable=False)
                if not ok:
                    returnValue(False)
            returnValue(True)

        def done(ok: bool) -> None:
            if self.running:
                self._apply(self.machine.backlog_done(self.now(), ok))

        replay().addCallback(done)

    def _send_reset(self, action: SendHAReset) -> None:
        def done(result: Tuple[bool, Any, Any, str]) -> None:
            if self.running:
                self._apply(self.machine.reset_done(self.now(), result[0]))

        self._call(action.peer, action.body, msgid="HA_RESET", mark_unavailable=False).addCallback(done)

    # -- lease database synchronization ------------------------------------------------

    def _run_sync(self, action: StartSync) -> None:
        def done(error: str) -> None:
            if self.running:
                self._apply(self.machine.sync_done(self.now(), not error, error or None))

        self.synchronize(action.peer, action.max_period).addCallback(done)

    @inlineCallbacks
    def synchronize(self, server_name: str, max_period: int) -> Any:
        """Fetch every lease of the partner (Kea's ``synchronize``); fires
        with "" on success or the first error text.  ``max_period`` 0 sends
        ``dhcp-disable`` without one (an ``ha-sync`` without max-period).

        As in Kea, ``dhcp-disable``/``-enable`` and the notification go to
        ``server_name`` and the pages come from the failover partner."""
        self.config.peer(server_name)  # KeyError: unknown server
        partner = self.config.partner
        page_peer = partner.name if partner is not None else server_name
        limit = self.config.sync_page_limit
        sync_timeout = self.config.sync_timeout / 1000.0
        error = ""
        disabled = False
        last: Optional[str] = None
        for _page in range(1 << 32):  # bounded by the partner's lease count
            ok, _rcode, _args, err = yield self._call(
                server_name, commands.dhcp_disable(max_period), msgid="HA_DHCP_DISABLE")
            if not ok:
                error = err
                break
            disabled = True
            ok, _rcode, _args, err, next_from = yield self._fetch_page(page_peer, last, limit,
                                                                      sync_timeout, server_name)
            if not ok:
                error = err
                break
            if next_from is None:
                break
            last = next_from
        status = error
        if disabled:
            if not error:
                ok, rcode, _args, err = yield self._call(
                    server_name, commands.sync_complete_notify(), msgid="HA_SYNC_COMPLETE_NOTIFY",
                    unsupported_ok=True)
                if rcode == CONTROL_RESULT_COMMAND_UNSUPPORTED:
                    # A partner older than 2.2 re-enables with dhcp-enable.
                    ok, _rcode, _args, err = yield self._call(
                        server_name, commands.dhcp_enable(), msgid="HA_DHCP_ENABLE")
                if not ok and not status:
                    status = err
            else:
                ok, _rcode, _args, err = yield self._call(
                    server_name, commands.dhcp_enable(), msgid="HA_DHCP_ENABLE")
                if not ok and not status:
                    status = err
        returnValue(status)

    def _fetch_page(self, peer_name: str, last: Optional[str], limit: int, timeout: float,
                    server_name: str) -> Deferred:
        """One ``lease4-get-page``: fires with ``(ok, rcode, None, error,
        next_from)``; the leases are already stored."""
        label = self._label(peer_name)

        def fail(text: str, msgid: str, partner_at_fault: bool = True) -> Tuple[bool, Any, Any, str, None]:
            ha_log.error("{msgid} failed to synchronize leases with {peer}: {error}",
                         msgid=msgid, peer=label, error=text)
            if partner_at_fault and self.running and self.machine is not None:
                self.machine.comm.partner_state = UNAVAILABLE
            return False, None, None, text, None

        def answered(body: Any) -> Tuple[bool, Any, Any, str, Optional[str]]:
            try:
                page = commands.parse_lease_page(body, limit)
            except PeerAnswerError as e:
                return fail(e.message, "HA_LEASES_SYNC_FAILED")
            ha_log.info("{msgid} received {count} leases from {peer}",
                        msgid="HA_LEASES_SYNC_LEASE_PAGE_RECEIVED", count=len(page.leases),
                        peer=server_name)
            # An SQL store is written on a worker, between packets.
            call_with_store = getattr(self.server.store, "call_with_store", None)
            if call_with_store is None:
                return stored(self.store_page(page.leases, limit))
            d = call_with_store(lambda store: self.store_page(page.leases, limit, store))
            # A failure here is ours (the worker pool stopping), not the partner's.
            return d.addCallbacks(stored, lambda f: fail(_error_text(f), "HA_LEASES_SYNC_FAILED",
                                                         partner_at_fault=False))

        def stored(next_from: Optional[str]) -> Tuple[bool, Any, Any, str, Optional[str]]:
            return True, 0, None, "", next_from

        def broken(failure: Failure) -> Tuple[bool, Any, Any, str, None]:
            return fail(_error_text(failure), "HA_LEASES_SYNC_COMMUNICATIONS_FAILED")

        d = self._send(peer_name, commands.lease4_get_page(last, limit), timeout)
        return d.addCallbacks(answered, broken)

    def store_page(self, elements: Sequence[Any], limit: int, store: Any = None) -> Optional[str]:
        """Write one page into ``store`` (the server's memfile store when
        None; an SQL store's blocking one on its worker) as Kea does: a
        lease we do not
        have is added, one with an older cltt here is replaced, others are
        kept; a lease that does not parse is logged and skipped
        (``HA_LEASE_SYNC_FAILED``).  Returns the address to ask from next
        (the last lease of a full page), or None.  Statistics are not
        touched: Kea's sync writes through the lease manager only."""
        if store is None:
            store = self.server.store
        last: Optional[str] = None
        for index, element in enumerate(elements):
            try:
                lease = Lease4(**commands.lease_fields_from_element(element))
                existing = store.get_lease4(lease.address)
                if existing is None:
                    store.add_lease(lease)
                elif existing.cltt < lease.cltt:
                    store.update_lease(lease)
                else:
                    ha_log.debug("{msgid} skipping stale lease {address} in subnet {subnet}",
                                 msgid="HA_LEASE_SYNC_STALE_LEASE4_SKIP",
                                 address=str(lease.address), subnet=lease.subnet_id)
                if len(elements) >= limit and index == len(elements) - 1:
                    last = str(lease.address)
            except Exception as e:
                ha_log.warn("{msgid} failed to synchronize lease {lease}: {error}",
                            msgid="HA_LEASE_SYNC_FAILED", lease=commands.kea_json(element)
                            if _is_json(element) else repr(element), error=str(e))
        return last

    # -- DHCP traffic ----------------------------------------------------------------------

    def in_scope(self, query: Any) -> bool:
        """``buffer4_receive``'s decision for a decoded query: adds the
        ``HA_<scope>`` class (whether or not this server serves it, as
        Kea), feeds the failure detection with partner-scope queries seen
        while communication is interrupted, True when this server must
        answer."""
        client_id = query.get_option(61) if hasattr(query, "get_option") else None
        decision, actions = self.machine.in_scope(
            self.now(), query.message_type, client_id or None, query.hwaddr, int(query.secs))
        if decision.scope_class is not None:
            query.add_class(decision.scope_class)
        if actions:  # rare (a client seen while the partner is silent); no timer to follow otherwise
            self._apply(actions)
        return decision.in_scope

    def send_lease_updates(self, query: Any, leases: Sequence[Any], deleted_leases: Sequence[Any],
                           parking_lot: Any) -> int:
        """``asyncSendLeaseUpdates``: send the updates for one query.
        Returns how many answers the response waits for (0: send it at
        once).  When not 0 the caller has ``reference``d ``query`` in
        ``parking_lot`` and sets the next step to PARK; this unparks it when
        the last awaited answer arrives or drops it on a failure."""
        plan = self.machine.lease_updates(self.now(), leases, deleted_leases)
        if plan.park:
            self._pending[id(query)] = [plan.park, query]
        for peer_name, body, wait in plan.requests:
            d = self._send(peer_name, body)
            d.addBoth(self._lease_update_done, query, peer_name, wait, parking_lot)
        return plan.park

    def _lease_update_done(self, result: Any, query: Any, peer_name: str, wait: bool,
                           parking_lot: Any) -> None:
        if not self.running:
            return
        error: Optional[str] = None
        if isinstance(result, Failure):
            # Logged by the machine (HA_LEASE_UPDATE_FAILED).
            error = _error_text(result)
        else:
            try:
                commands.verify_answer(result)
            except PeerAnswerError as e:
                error = e.message
        ok = error is None
        all_done = True
        if wait:
            if not ok:
                parking_lot.drop(query)
            entry = self._pending.get(id(query))
            if entry is not None and entry[1] is query:
                entry[0] -= 1
                all_done = entry[0] <= 0
            if all_done:
                self._pending.pop(id(query), None)
                parking_lot.unpark(query)
        self._apply(self.machine.lease_update_result(self.now(), peer_name, ok, all_done, error))

    # -- commands --------------------------------------------------------------------------

    def heartbeat(self) -> Dict[str, Any]:
        """``ha-heartbeat``."""
        return self.machine.heartbeat_answer(self.now())

    def status(self) -> Dict[str, Any]:
        """The element of status-get's ``high-availability`` list."""
        return self.machine.status(self.now())

    def _answer(self, result: Tuple[Dict[str, Any], List[Action]]) -> Dict[str, Any]:
        answer, actions = result
        self._apply(actions)
        return answer

    def scopes(self, names: Sequence[str]) -> Dict[str, Any]:
        return self._answer(self.machine.ha_scopes(self.now(), names))

    def continue_(self) -> Dict[str, Any]:
        return self._answer(self.machine.ha_continue(self.now()))

    def reset(self) -> Dict[str, Any]:
        return self._answer(self.machine.ha_reset(self.now()))

    def sync_complete_notify(self) -> Dict[str, Any]:
        return self._answer(self.machine.sync_complete_notify(self.now()))

    def maintenance_notify(self, cancel: bool) -> Dict[str, Any]:
        return self._answer(self.machine.maintenance_notify(self.now(), cancel))

    def maintenance_start(self) -> Deferred:
        """``ha-maintenance-start``: notify the partner, then move to
        partner-in-maintenance (or partner-down if it cannot be reached)."""
        answer, actions = self.machine.maintenance_start(self.now())
        if answer is not None:
            self._apply(actions)
            return succeed(answer)
        peer = self.config.partner.name
        body = commands.maintenance_notify(False)

        def done(result: Tuple[bool, Optional[int], Any, str]) -> Dict[str, Any]:
            ok, rcode, _args, error = result
            if not self.running:
                return {"result": CONTROL_RESULT_ERROR, "text": "HA service stopped"}
            # Kea: a transport failure leaves rcode unset (partner-down); an
            # answer that does not verify carries its result code.
            return self._answer(self.machine.maintenance_start_result(
                self.now(), communication_ok=rcode is not None,
                rcode=0 if ok else (rcode if rcode is not None else CONTROL_RESULT_ERROR),
                error=error))

        return self._call(peer, body, msgid="HA_MAINTENANCE_NOTIFY").addCallback(done)

    def maintenance_cancel(self) -> Deferred:
        """``ha-maintenance-cancel``: notify the partner, then go back."""
        answer, actions = self.machine.maintenance_cancel(self.now())
        if answer is not None:
            self._apply(actions)
            return succeed(answer)
        peer = self.config.partner.name

        def done(result: Tuple[bool, Optional[int], Any, str]) -> Dict[str, Any]:
            ok, _rcode, _args, error = result
            if not self.running:
                return {"result": CONTROL_RESULT_ERROR, "text": "HA service stopped"}
            return self._answer(self.machine.maintenance_cancel_result(self.now(), "" if ok else error))

        return self._call(peer, commands.maintenance_notify(True),
                          msgid="HA_MAINTENANCE_NOTIFY_CANCEL").addCallback(done)

    def sync_command(self, server_name: str, max_period: int) -> Deferred:
        """``ha-sync``: synchronize now, answer when done; the state machine
        is not moved (Kea only posts an event nobody waits for).  Raises
        KeyError (Kea's text in ``args[0]``) for an unknown server."""
        self.config.peer(server_name)  # KeyError: Kea throws here too
        ha_log.info("{msgid} starting lease database synchronization with {peer}",
                    msgid="HA_SYNC_START", peer=server_name)

        def done(error: str) -> Dict[str, Any]:
            if error:
                ha_log.error("{msgid} lease database synchronization with {peer} failed: {error}",
                             msgid="HA_SYNC_FAILED", peer=server_name, error=error)
                return {"result": CONTROL_RESULT_ERROR, "text": error}
            ha_log.info("{msgid} lease database synchronization with {peer} completed successfully",
                        msgid="HA_SYNC_SUCCESSFUL", peer=server_name)
            return {"result": 0, "text": "Lease database synchronization complete."}

        return self.synchronize(server_name, max_period).addCallback(done)


def _failed(error: BaseException) -> Deferred:
    d: Deferred = Deferred()
    d.errback(Failure(error))
    return d


def _is_json(value: Any) -> bool:
    try:
        commands.kea_json(value)
    except TypeError:
        return False
    return True
