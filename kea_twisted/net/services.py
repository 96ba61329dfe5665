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
from zope.interface import implementer

from kea_twisted.config.errors import ConfigError
from kea_twisted.config_commands import IConfigController
from kea_twisted.hooks import HookLoadError, IServerContext
from kea_twisted.pgsql import DbOpenError
from kea_twisted.logs import daemon_observer, kea_logger, logger_specs

__all__ = ["Dhcp4Service", "ServiceContext"]

log = kea_logger("dhcp4")


@implementer(IServerContext)
class ServiceContext:
    """What hook libraries see of a :class:`Dhcp4Service` (live: after a
    reconfiguration it names the new configuration and store)."""

    def __init__(self, service: "Dhcp4Service"):
        self._service = service

    @property
    def reactor(self):
        return self._service.reactor

    @property
    def config(self):
        return self._service.config

    @property
    def store(self):
        server = self._service.server
        return server.store if server is not None else None

    @property
    def stats(self):
        return self._service.stats

    @property
    def network_state(self):
        return self._service.network_state

    def execute_command(self, command: str, arguments: Any = None) -> Deferred:
        return self._service.commands.execute(command, arguments)


@implementer(IConfigController)
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
        self.context = ServiceContext(self)
        self.hooks = None
        self._status = None
        self._start_failed = False
        self.commands = self.command_table()

    # -- lifecycle ------------------------------------------------------

    def privilegedStartService(self) -> None:
        self._configure_logging(self.config)
        self.hooks = self._load_hooks(self.config)
        try:
            self.server = self._new_server(self.config)
        except DbOpenError as e:
            # Kea: the configuration fails, then the server does not start.
            log.error("{msgid} configuration failed: Unable to open database: {reason}",
                      msgid="DHCP4_CONFIG_LOAD_FAIL", reason=str(e))
            log.error("{msgid} initialization failed", msgid="DHCP4_INIT_FAIL")
            self._start_failed = True
            self._db_shutdown(1)
            return
        self._open_sockets()
        self._open_control_socket(self.config)
        self._configured()
        super().privilegedStartService()

    def startService(self) -> None:
        if self.server is None and not self._start_failed:
            self.privilegedStartService()
        if self._start_failed:
            return
        super().startService()
        self._arm_all()
        if self._install_signal_handlers:
            self._previous_sighup = signal.signal(signal.SIGHUP, self._on_sighup)
        log.info("{msgid} server version {version} started", msgid="DHCP4_STARTED",
                 version=__import__("kea_twisted").__version__)

    def stopService(self) -> Deferred:
        super().stopService()
        self._cancel_all()
        self._unload_hooks()
        # dhcp-disable max-period timers (HA sync's among them) die with us.
        self.network_state.stop()
        if self._install_signal_handlers and getattr(self, "_previous_sighup", None) is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
        d = self._close_sockets()
        d.addCallback(lambda _: self._close_control_socket())

        def _stop_server(_):
            if self.server is not None:
                self.server.stop()
            log.info("{msgid} server shutdown", msgid="DHCP4_SHUTDOWN")

        return d.addCallback(_stop_server)

    def _new_server(self, config, fresh_statistics: bool = True):
        server = self._server_factory(
            config, clock=self.reactor.seconds, server_port=self.server_port,
            client_port=self.client_port, stats=self.stats, network_state=self.network_state,
            hooks=self.hooks, fresh_statistics=fresh_statistics, reactor=self.reactor,
            shutdown=self._db_shutdown,
        )
        server.start()
        self.commit_time = self.reactor.seconds()
        if self._status is not None:
            self._status.last_commit_time = self.commit_time
        return server

    def _db_shutdown(self, status: int) -> None:
        """The lease database is lost for good (``on-fail``), or could not
        be opened at start: stop with ``status``, as Kea exits."""
        self.exit_status = status
        self.reactor.callLater(0, self.reactor.stop)

    # -- hook libraries ----------------------------------------------------

    def _load_hooks(self, config, previous=None):
        """Load the configuration's hook libraries (after unloading
        ``previous``), handing them this service's context.  Raises
        HookLoadError."""
        from kea_twisted.config.staging import BUILTIN_HOOK_LIBRARIES
        from kea_twisted.hooks import load_hook_libraries

        multi_threading = bool(getattr(getattr(config, "multi_threading", None), "enable_multi_threading", False))
        runner = load_hook_libraries(
            getattr(config, "hooks_libraries", ()) or (), BUILTIN_HOOK_LIBRARIES, previous=previous,
            multi_threading=multi_threading, server=self.context,
        )
        self.commands.hooks = runner
        return runner

    def _unload_hooks(self) -> None:
        hooks, self.hooks = self.hooks, None
        if hooks is not None:
            hooks.unload_all()
        self.commands.hooks = None

    def _configured(self) -> None:
        """Kea's ``dhcp4_srv_configured`` after each configuration commit."""
        hooks = self.hooks
        if hooks is None or not hooks.has_callouts("dhcp4_srv_configured"):
            return
        source = getattr(self.config, "source", None)
        handle = hooks.create_handle(
            io_context=self.reactor, server_config=self.config,
            json_config=source.to_python() if source is not None and hasattr(source, "to_python") else None,
        )
        result = hooks.call("dhcp4_srv_configured", handle)

        def done(_):
            hooks.release_handle(handle)

        if isinstance(result, Deferred):
            result.addErrback(lambda f: log.failure("{msgid} dhcp4_srv_configured failed", f,
                                                    msgid="DHCP4_SRV_CONFIGURED_FAILED"))
            result.addBoth(done)
        else:
            done(None)

    # -- configuration commands (IConfigController) -----------------------

    @property
    def current(self):
        return self.config

    def stage_element(self, root):
        """config-set / config-test: validate without touching the server."""
        from kea_twisted.config.staging import stage_config_element

        return stage_config_element(root)

    def _statistic_defaults_changed(self, sample_count: int, sample_age: int) -> None:
        # Kea writes statistic-sample-*-set-all into the running config.
        from dataclasses import replace

        self.config = replace(self.config, statistic_default_sample_count=sample_count,
                              statistic_default_sample_age=sample_age)

    # -- control channel -------------------------------------------------

    def command_table(self):
        """Kea's built-in commands over this service."""
        from kea_twisted.commands import (
            RESULT_EMPTY, RESULT_ERROR, RESULT_SUCCESS, CommandTable, ServerStatus, answer,
            install_builtin_commands, install_server_state_commands, install_statistic_commands,
        )

        table = CommandTable(hooks=self.hooks)
        install_builtin_commands(table)
        install_statistic_commands(table, self.stats, self._statistic_defaults_changed)
        status = ServerStatus(clock=self.reactor.seconds, start_time=self.reactor.seconds(),
                              last_commit_time=getattr(self, "commit_time", None))
        self._status = status
        install_server_state_commands(table, self.network_state, status)

        def shutdown(command):
            arguments = command.arguments if isinstance(command.arguments, dict) else {}
            if "exit-value" in arguments:
                value = arguments["exit-value"]
                if not isinstance(value, int) or isinstance(value, bool):
                    return answer(RESULT_ERROR, "parameter 'exit-value' is not an integer")
                self.exit_status = value
            self.reactor.callLater(0, self.reactor.stop)
            return answer(RESULT_SUCCESS, "Shutting down.")

        def leases_reclaim(command):
            arguments = command.arguments if isinstance(command.arguments, dict) else {}
            if "remove" not in arguments:
                return answer(RESULT_ERROR, "Missing mandatory 'remove' parameter.")
            if not isinstance(arguments["remove"], bool):
                return answer(RESULT_ERROR, "'remove' parameter expected to be a boolean.")
            done = maybeDeferred(self.server.reclaim, remove=arguments["remove"])
            return done.addCallback(lambda _: answer(RESULT_SUCCESS, "Reclamation of expired leases is complete."))

        def server_tag_get(command):
            return answer(RESULT_SUCCESS, arguments={"server-tag": getattr(self.config, "server_tag", "") or ""})

        def config_backend_pull(command):
            return answer(RESULT_EMPTY, "No config backend.")

        def libreload(command):
            # Kea unloads and loads the same libraries again, in order.
            try:
                self.hooks = self._load_hooks(self.config, previous=self.hooks)
            except HookLoadError as e:
                self.hooks = None
                self.commands.hooks = None
                return answer(RESULT_ERROR, f"Failed to reload hooks libraries: {e}")
            self.server.hooks = self.hooks
            self.server.engine.hooks = self.hooks
            self._configured()
            return answer(RESULT_SUCCESS, "Hooks libraries successfully reloaded.")

        table.register("shutdown", shutdown)
        table.register("leases-reclaim", leases_reclaim)
        table.register("server-tag-get", server_tag_get)
        table.register("config-backend-pull", config_backend_pull)
        table.register("libreload", libreload)
        from kea_twisted.config_commands import install_config_commands

        install_config_commands(table, self)
        return table

    def _open_control_socket(self, config) -> None:
        info = getattr(config, "control_socket", None)
        if info is None or not getattr(info, "socket_name", ""):
            return
        from kea_twisted.net.control import ControlSocket, ControlSocketError

        control = ControlSocket(info.socket_name, self.commands, self.reactor)
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

    @staticmethod
    def _control_socket_name(config) -> str:
        info = getattr(config, "control_socket", None)
        return getattr(info, "socket_name", "") or "" if info is not None else ""

    def _reopen_control_socket(self) -> Deferred:
        return self._close_control_socket().addCallback(lambda _: self._open_control_socket(self.config))

    def _close_control_socket(self) -> Deferred:
        control, self.control = self.control, None
        if control is None:
            return succeed(None)
        return maybeDeferred(control.close)

    # -- sockets ---------------------------------------------------------

    def _open_sockets(self) -> None:
        # Kea's packet-queue-size (multi-threading on): one bounded receive
        # backlog for all the server's UDP sockets, oldest dropped first.
        backlog = self.server.receive_backlog(self.reactor) if hasattr(self.server, "receive_backlog") else None
        self.backlog = backlog
        extra = {}
        if backlog is not None:
            from kea_twisted.net.sockets import udp_opener

            extra["open_udp"] = udp_opener(backlog)
        self.sockets = self._sockets_factory(
            self.reactor, self.config.interfaces_config,
            # A database-backed server hands packets to its worker thread.
            getattr(self.server, "packet_handler", None) or self.server.engine, self.server_port,
            **extra,
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
        backlog, self.backlog = getattr(self, "backlog", None), None
        if backlog is not None:
            backlog.stop()
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
        return self.apply(config, self.config_path)

    def apply(self, config, origin: str = "") -> Deferred:
        """Swap in a staged configuration: new hook libraries, server,
        sockets and timers; leases are kept by reopening the same store.
        Fires True, or False when the new hook libraries fail to load —
        then the old configuration and its libraries are loaded again and
        keep serving (Kea 2.2 would stop answering; docs/compatibility.md)."""
        self._cancel_all()
        d = self._close_sockets()

        def swap(_):
            old_config = self.config
            self.server.stop()
            # Kea removes the old subnets' statistics before committing the
            # new configuration (cfg_subnets4.cc removeStatistics).
            from kea_twisted.stats import remove_subnet_statistics

            remove_subnet_statistics(self.stats, [s.id for s in getattr(old_config, "subnets", ()) or ()])
            # The new configuration; if its libraries fail to load or its
            # lease database cannot be opened, the old one again.
            for config_in_force in (config, old_config):
                try:
                    self.hooks = self._load_hooks(config_in_force, previous=self.hooks)
                    self.config = config_in_force
                    self._configure_logging(config_in_force)
                    self.server = self._new_server(config_in_force, fresh_statistics=False)
                    break
                except (HookLoadError, DbOpenError) as e:
                    if config_in_force is old_config:
                        raise
                    reason = f"Unable to open database: {e}" if isinstance(e, DbOpenError) else str(e)
                    log.error("{msgid} configuration failed: {error}", msgid="DHCP4_CONFIG_LOAD_FAIL",
                              error=reason)
            ok = config_in_force is config
            self._open_sockets()
            self._arm_all()
            self._configured()
            if self._control_socket_name(old_config) != self._control_socket_name(config_in_force):
                # Kea re-creates its control socket; after this answer is out.
                self.reactor.callLater(0, self._reopen_control_socket)
            if ok:
                log.info("{msgid} configuration reloaded from {path}",
                         msgid="DHCP4_DYNAMIC_RECONFIGURATION_SUCCESS", path=origin)
            return ok

        return d.addCallback(swap)
