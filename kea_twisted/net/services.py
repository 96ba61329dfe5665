"""
The running server as Twisted services: sockets, timers, reconfiguration.

Thin: everything decided here is "when" (timers, start and stop order,
SIGHUP); "what" is :class:`kea_twisted.server.Dhcp4Server`.

* ``privilegedStartService`` builds the server and binds the sockets (port
  67 needs root; twistd drops privileges after this step).
* Kea's periodic work — lease reclamation, flushing reclaimed leases, Lease
  File Cleanup — runs on one-shot timers re-armed after each run (Kea's
  ``TimerMgr`` with ``ONE_SHOT`` mode, spec/dhcp4.md §16).
* ``stopService`` closes the sockets first, then flushes and closes the
  lease store, so no reply is sent whose lease is not on disk.
* SIGHUP stages the configuration file again: a broken file is logged
  (``DHCP4_CONFIG_LOAD_FAIL``) and the running configuration keeps serving.

Tests: tests/test_net_services.py
"""

from __future__ import annotations

import signal
from typing import Any, Callable, Dict, Optional

from twisted.application import service
from twisted.internet.defer import Deferred, maybeDeferred, succeed

from kea_twisted.config.errors import ConfigError
from kea_twisted.logs import daemon_observer, kea_logger, logger_specs

__all__ = ["Dhcp4Service"]

log = kea_logger("dhcp4")


class Dhcp4Service(service.Service):
    """One kea_twisted DHCPv4 server.

    :param config_path: the file to re-read on SIGHUP (None: no reload).
    :param config: the staged configuration model.
    :param stage: ``path -> config`` (raises ConfigError).
    :param server_factory: ``(config, **kw) -> Dhcp4Server``.
    :param sockets_factory: ``(reactor, interfaces_config, engine, port) ->
        ServiceSockets`` (started).
    :param observer: the Kea log observer to configure from ``loggers``.
    """

    def __init__(
        self,
        config_path: Optional[str],
        config: Any,
        *,
        reactor: Any = None,
        server_port: int = 67,
        client_port: Optional[int] = None,
        stage: Optional[Callable[[str], Any]] = None,
        server_factory: Optional[Callable[..., Any]] = None,
        sockets_factory: Optional[Callable[..., Any]] = None,
        observer: Any = daemon_observer,
        install_signal_handlers: bool = True,
    ):
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.reactor = reactor
        self.config_path = config_path
        self.config = config
        self.server_port = server_port
        self.client_port = client_port
        if stage is None:
            from kea_twisted.config.staging import stage_config_file as stage
        self._stage = stage
        if server_factory is None:
            from kea_twisted.server import Dhcp4Server as server_factory
        self._server_factory = server_factory
        if sockets_factory is None:
            from kea_twisted.net.sockets import open_service_sockets as sockets_factory
        self._sockets_factory = sockets_factory
        self._observer = observer
        self._install_signal_handlers = install_signal_handlers
        self.server = None
        self.sockets = None
        self.control = None
        self._timers: Dict[str, Any] = {}
        # Kept across reconfigurations, as Kea keeps its statistics and
        # its DHCP service state.
        from kea_twisted.commands import NetworkState
        from kea_twisted.stats import StatsMgr

        self.stats = StatsMgr(reactor.seconds)
        self.network_state = NetworkState(reactor)

    # -- lifecycle ------------------------------------------------------

    def privilegedStartService(self) -> None:
        self._configure_logging(self.config)
        self.server = self._new_server(self.config)
        self._open_sockets()
        self._open_control_socket(self.config)
        super().privilegedStartService()

    def startService(self) -> None:
        if self.server is None:
            self.privilegedStartService()
        super().startService()
        self._arm_all()
        if self._install_signal_handlers:
            self._previous_sighup = signal.signal(signal.SIGHUP, self._on_sighup)
        log.info("{msgid} server version {version} started", msgid="DHCP4_STARTED",
                 version=__import__("kea_twisted").__version__)

    def stopService(self) -> Deferred:
        super().stopService()
        self._cancel_all()
        if self._install_signal_handlers and getattr(self, "_previous_sighup", None) is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
        d = self._close_sockets()
        d.addCallback(lambda _: self._close_control_socket())

        def _stop_server(_):
            if self.server is not None:
                self.server.stop()
            log.info("{msgid} server shutdown", msgid="DHCP4_SHUTDOWN")

        return d.addCallback(_stop_server)

    def _new_server(self, config):
        server = self._server_factory(
            config, clock=self.reactor.seconds, server_port=self.server_port,
            client_port=self.client_port, stats=self.stats, network_state=self.network_state,
        )
        server.start()
        self.commit_time = self.reactor.seconds()
        return server

    # -- control channel -------------------------------------------------

    def command_table(self):
        """Kea's built-in commands over this service."""
        from kea_twisted.commands import (
            RESULT_ERROR, RESULT_SUCCESS, CommandTable, ServerStatus, answer,
            install_builtin_commands, install_server_state_commands, install_statistic_commands,
        )

        table = CommandTable()
        install_builtin_commands(table)
        install_statistic_commands(table, self.stats)
        status = ServerStatus(clock=self.reactor.seconds, start_time=self.reactor.seconds(),
                              last_commit_time=getattr(self, "commit_time", None))
        install_server_state_commands(table, self.network_state, status)

        def shutdown(command):
            self.reactor.callLater(0, self.reactor.stop)
            return answer(RESULT_SUCCESS, "Shutting down.")

        def config_reload(command):
            def done(ok):
                if ok:
                    status.last_commit_time = self.reactor.seconds()
                    return answer(RESULT_SUCCESS, "Configuration successful.")
                return answer(RESULT_ERROR, "Config reload failed")

            return self.reload().addCallback(done)

        def leases_reclaim(command):
            self.server.reclaim()
            return answer(RESULT_SUCCESS, "Reclamation of expired leases is complete.")

        table.register("shutdown", shutdown)
        table.register("config-reload", config_reload)
        table.register("leases-reclaim", leases_reclaim)
        return table

    def _open_control_socket(self, config) -> None:
        info = getattr(config, "control_socket", None)
        if info is None or not getattr(info, "socket_name", ""):
            return
        from kea_twisted.net.control import ControlSocket, ControlSocketError

        control = ControlSocket(info.socket_name, self.command_table(), self.reactor)
        try:
            control.open()
        except ControlSocketError as e:
            log.error("{msgid} failed to open the control socket: {reason}",
                      msgid="DHCP4_CONFIG_LOAD_FAIL", reason=str(e))
            self.exit_status = 1
            if getattr(self.reactor, "running", False):
                self.reactor.stop()
            return
        self.control = control

    def _close_control_socket(self) -> Deferred:
        control, self.control = self.control, None
        if control is None:
            return succeed(None)
        return maybeDeferred(control.close)

    # -- sockets ---------------------------------------------------------

    def _open_sockets(self) -> None:
        self.sockets = self._sockets_factory(
            self.reactor, self.config.interfaces_config, self.server.engine, self.server_port
        )
        self.server.set_socket_addresses(self.sockets.addresses())
        finished = getattr(self.sockets, "finished", None)
        if isinstance(finished, Deferred):
            finished.addCallback(lambda s: self.server.set_socket_addresses(s.addresses()))
            finished.addErrback(self._sockets_failed)

    def _sockets_failed(self, failure) -> None:
        log.failure("{msgid} failed to open service sockets", failure, msgid="DHCP4_OPEN_SOCKETS_FAILED")
        self.exit_status = 1
        if getattr(self.reactor, "running", False):
            self.reactor.stop()

    def _close_sockets(self) -> Deferred:
        sockets, self.sockets = self.sockets, None
        if sockets is None:
            return succeed(None)
        return maybeDeferred(sockets.stop)

    # -- logging -----------------------------------------------------------

    def _configure_logging(self, config) -> None:
        if self._observer is not None:
            self._observer.configure(logger_specs(getattr(config, "loggers", ()) or ()))

    # -- periodic work -----------------------------------------------------

    def _arm_all(self) -> None:
        for name, seconds in self.server.timer_intervals().items():
            self._arm(name, seconds)

    def _arm(self, name: str, seconds: Optional[float]) -> None:
        if not seconds:
            return
        self._timers[name] = self.reactor.callLater(seconds, self._fire, name)

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        server = self.server

        def rearm(_=None):
            if self.running and self.server is server:
                self._arm(name, server.timer_intervals().get(name))

        def failed(failure):
            log.failure("{msgid} periodic task {name} failed", failure, msgid="DHCP4_TIMER_FAILED", name=name)

        maybeDeferred(server.run_timer, name).addErrback(failed).addBoth(rearm)

    def _cancel_all(self) -> None:
        for call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()

    # -- reconfiguration -------------------------------------------------

    def _on_sighup(self, signum, frame) -> None:
        self.reactor.callFromThread(self.reload)

    def reload(self) -> Deferred:
        """Kea's SIGHUP: stage the file again; on success swap in the new
        configuration (new sockets, engine and timers; leases are kept by
        reopening the same lease store), else keep serving the old one."""
        if self.config_path is None:
            return succeed(False)
        try:
            config = self._stage(self.config_path)
        except ConfigError as e:
            log.error("{msgid} configuration reload failed: {error}", msgid="DHCP4_CONFIG_LOAD_FAIL",
                      error=e.kea_report())
            return succeed(False)
        self._cancel_all()
        d = self._close_sockets()

        def swap(_):
            self.server.stop()
            self.config = config
            self._configure_logging(config)
            self.server = self._new_server(config)
            self._open_sockets()
            self._arm_all()
            log.info("{msgid} configuration reloaded from {path}", msgid="DHCP4_DYNAMIC_RECONFIGURATION_SUCCESS",
                     path=self.config_path)
            return True

        return d.addCallback(swap)
