"""
The HA hook library object (Kea 2.2's ``libdhcp_ha.so``, DHCPv4):
``ha_callouts.cc`` and ``ha_impl.cc`` over :class:`hooks.ha.service.HAService`.

* ``load`` parses ``parameters`` (:func:`hooks.ha.config.parse_ha_config`);
  a bad section raises :class:`~hooks.ha.config.HAConfigError` with Kea's
  text, so the library fails to load (Kea logs ``HA_CONFIGURATION_FAILED``
  and its ``load`` returns 1).  With a server (not ``-t``), the TLS files
  are loaded too (Kea does it while validating: ``bad TLS config for
  server …``) and the nine ``ha-*`` commands are registered.
* ``dhcp4_srv_configured`` starts the service (state machine in waiting,
  clients, the dedicated listener where Kea opens one).
* ``buffer4_receive`` decodes the query (unless a previous library did and
  said SKIP), gives it the class ``HA_<scope>``, answers SKIP for a query
  this server serves and DROP for one of the partner's scope; an undecodable
  query is DROPped and counted (``pkt4-parse-failed``, ``pkt4-receive-drop``)
  as Kea's hook does.
* ``leases4_committed`` sends the lease updates and PARKs the response
  until the partner answered (nothing to do when ``send-lease-updates`` is
  false, or for a commit without leases, e.g. a NAK).
* ``command_processed`` adds ``high-availability`` to ``status-get``.
* ``unload`` stops the service (timers, clients, listener).
* One library object may be loaded by several servers in one process
  (tests run a pair): each ``load`` makes an :class:`HAInstance` whose
  callouts and handlers are registered through the handle.

As in Kea, ``ha-sync`` naming an unknown server and
``ha-maintenance-notify`` without a boolean ``cancel`` leave no answer (Kea's
handlers throw; the command table answers ``internal server error: no
response generated``, Kea's text for that case).

Tests: tests/test_ha_service.py
"""

from __future__ import annotations

from typing import Any, List, Optional

from twisted.internet.defer import Deferred
from twisted.logger import LogLevel
from zope.interface import implementer

from hooks.ha import commands
from hooks.ha.config import HAConfig, parse_ha_config
from hooks.ha.service import (
    ClientFactory, HAService, ListenerFactory, default_client_factory, default_listener_factory,
    ha_log,
)
from kea_twisted.hooks import IHookLibrary, NextStep
from kea_twisted.logs import enabled

__all__ = ["HAHookLibrary", "HAInstance", "COMMANDS", "CALLOUTS", "ha"]

#: The commands Kea 2.2's library registers (``ha_callouts.cc`` ``load``).
COMMANDS = (
    "ha-heartbeat", "ha-sync", "ha-scopes", "ha-continue", "ha-maintenance-notify",
    "ha-maintenance-start", "ha-maintenance-cancel", "ha-reset", "ha-sync-complete-notify",
)

_NOT_RUNNING = {"result": commands.CONTROL_RESULT_ERROR, "text": "HA service is not running"}


#: The standard callouts an HA instance registers (Kea's ``ha_callouts.cc``).
CALLOUTS = ("dhcp4_srv_configured", "buffer4_receive", "leases4_committed", "command_processed")


@implementer(IHookLibrary)
class HAHookLibrary:
    """The library object.  ``client_factory`` / ``listener_factory`` /
    ``listen`` go to :class:`~hooks.ha.service.HAService` (tests pass an
    in-memory transport); by default the transport of
    :mod:`hooks.ha.transport` is used.

    Kea has one library instance per process.  Here one object may be
    loaded by several servers in one process (tests run a pair), so each
    ``load`` makes an :class:`HAInstance` and registers *its* callouts and
    command handlers through the handle; ``unload`` stops the instance(s)
    whose loading runner is unloading them.
    """

    def __init__(self, *, client_factory: Optional[ClientFactory] = None,
                 listener_factory: Optional[ListenerFactory] = None,
                 listen: Optional[bool] = None):
        self.client_factory = client_factory
        self.listener_factory = listener_factory
        self.listen = listen
        self.instances: List["HAInstance"] = []

    def multi_threading_compatible(self) -> bool:
        # Kea's library declares itself compatible.
        return True

    @property
    def instance(self) -> Optional["HAInstance"]:
        """The most recently loaded instance (the only one in a server)."""
        return self.instances[-1] if self.instances else None

    @property
    def config(self) -> Optional[HAConfig]:
        return self.instance.config if self.instance is not None else None

    @property
    def service(self) -> Optional[HAService]:
        return self.instance.service if self.instance is not None else None

    def load(self, library: Any) -> None:
        instance = HAInstance(self, library)
        instance.configure()
        self.instances.append(instance)
        if library.server is None:
            return
        for hook in CALLOUTS:
            library.register_callout(hook, getattr(instance, hook))
        for name in COMMANDS:
            library.register_command_handler(name, getattr(instance, "_" + name.replace("-", "_")))

    def unload(self) -> None:
        leaving = [i for i in self.instances if i.unloading()]
        if not leaving:
            # Not told which: a handle without its runner (tests, or a
            # loader that does not record it) - stop them all.
            leaving = list(self.instances)
        for instance in leaving:
            self.instances.remove(instance)
            instance.stop()


class HAInstance:
    """One loaded HA library: its configuration, its server, its service."""

    def __init__(self, owner: HAHookLibrary, library: Any):
        self.owner = owner
        self.handle = library
        self.parameters = library.parameters
        self.server: Any = library.server
        self.config: Optional[HAConfig] = None
        self.service: Optional[HAService] = None
        self._tls: Any = None

    def configure(self) -> None:
        try:
            config = parse_ha_config(self.parameters)
        except Exception as e:
            text = getattr(e, "log_text", None) or f"failed to configure High Availability hooks library: {e}"
            ha_log.error("{msgid} {text}", msgid="HA_CONFIGURATION_FAILED", text=text)
            raise
        for msgid, text in config.warnings():
            ha_log.warn("{msgid} {text}", msgid=msgid, text=text)
        self.config = config
        if self.server is None:
            return
        if self.owner.client_factory is None or self.owner.listener_factory is None:
            from hooks.ha.transport import build_tls

            try:
                self._tls = build_tls(config)
            except Exception as e:
                ha_log.error("{msgid} {text}", msgid="HA_CONFIGURATION_FAILED",
                             text=getattr(e, "log_text", str(e)))
                raise

    def unloading(self) -> bool:
        """Whether the runner that loaded this instance is unloading it
        (it marks the library unloaded before calling ``unload``)."""
        runner = getattr(self.handle, "_runner", None)
        for loaded in getattr(runner, "libraries", ()):
            if getattr(loaded, "handle", None) is self.handle:
                return bool(loaded.unloaded)
        return False

    def stop(self) -> None:
        service, self.service = self.service, None
        if service is not None:
            service.stop()

    # -- callouts -------------------------------------------------------------------

    def dhcp4_srv_configured(self, handle: Any) -> None:
        if self.config is None or self.server is None:
            return
        self.stop()
        network_state = getattr(self.server, "network_state", None)
        if network_state is None:
            network_state = handle.get_argument("network_state", None)
        owner = self.owner
        try:
            service = HAService(
                self.config, self.server,
                client_factory=owner.client_factory or default_client_factory(self._tls),
                listener_factory=owner.listener_factory or default_listener_factory(self._tls),
                listen=owner.listen, network_state=network_state)
            service.start()
        except Exception as e:
            ha_log.failure("{msgid} failed to start the HA service: {error}",
                           msgid="HA_DHCP4_START_SERVICE_FAILED", error=str(e))
            return
        self.service = service

    def buffer4_receive(self, handle: Any) -> None:
        if handle.next_step == NextStep.DROP or self.service is None:
            return
        query = handle.get_argument("query4")
        if handle.next_step != NextStep.SKIP:
            from kea_twisted.packet import MalformedPacket

            try:
                query.unpack()
            except MalformedPacket as e:
                ha_log.debug("{msgid} failed to parse query from {src} to {dst}, received over"
                             " interface {iface}, reason: {reason}",
                             msgid="HA_BUFFER4_RECEIVE_UNPACK_FAILED", src=str(query.remote_addr),
                             dst=str(query.local_addr), iface=query.iface, reason=str(e))
                stats = getattr(self.server, "stats", None)
                if stats is not None:
                    stats.add_value("pkt4-parse-failed", 1)
                    stats.add_value("pkt4-receive-drop", 1)
                handle.next_step = NextStep.DROP
                return
        if self.service.in_scope(query):
            handle.next_step = NextStep.SKIP
        else:
            # Half the queries of a load-balancing pair: the label is only
            # built when the line is written.
            if enabled(ha_log, LogLevel.debug):
                ha_log.debug("{msgid} {label}: dropping query to be processed by another server",
                             msgid="HA_BUFFER4_RECEIVE_NOT_FOR_US", label=_label(query))
            handle.next_step = NextStep.DROP

    def leases4_committed(self, handle: Any) -> None:
        if handle.next_step in (NextStep.DROP, NextStep.SKIP) or self.service is None:
            return
        if not self.config.send_lease_updates:
            return
        query = handle.get_argument("query4")
        leases = list(handle.get_argument("leases4", None) or ())
        deleted = list(handle.get_argument("deleted_leases4", None) or ())
        if not leases and not deleted:
            if enabled(ha_log, LogLevel.debug):  # every DISCOVER comes here
                ha_log.debug("{msgid} {label}: no leases to update",
                             msgid="HA_LEASES4_COMMITTED_NOTHING_TO_UPDATE", label=_label(query))
            return
        lot = handle.parking_lot
        lot.reference(query)
        try:
            awaited = self.service.send_lease_updates(query, leases, deleted, lot)
        except BaseException:
            lot.dereference(query)
            raise
        if awaited == 0:
            lot.dereference(query)
            return
        handle.next_step = NextStep.PARK

    def command_processed(self, handle: Any) -> None:
        if handle.get_argument("name", None) != "status-get" or self.service is None:
            return
        response = handle.get_argument("response", None)
        if not isinstance(response, dict) or not isinstance(response.get("arguments"), dict):
            return
        arguments = dict(response["arguments"])
        arguments["high-availability"] = [self.service.status()]
        updated = dict(response)
        updated["arguments"] = arguments
        handle.set_argument("response", updated)

    # -- command handlers -----------------------------------------------------------------

    def _respond(self, handle: Any, answer: Any) -> Optional[Deferred]:
        if isinstance(answer, Deferred):
            return answer.addCallback(lambda a: handle.set_argument("response", a))
        handle.set_argument("response", answer)
        return None

    def _running(self, handle: Any) -> bool:
        if self.service is None or not self.service.running:
            handle.set_argument("response", dict(_NOT_RUNNING))
            return False
        return True

    def _ha_heartbeat(self, handle: Any) -> None:
        if self._running(handle):
            self._respond(handle, self.service.heartbeat())

    def _ha_sync(self, handle: Any) -> Optional[Deferred]:
        if not self._running(handle):
            return None
        try:
            name, max_period = commands.parse_ha_sync(handle.get_argument("command"))
        except ValueError as e:
            return self._respond(handle, {"result": 1, "text": str(e)})
        try:
            answer = self.service.sync_command(name, max_period)
        except KeyError as e:
            # Kea's handler throws for an unknown server and leaves no
            # answer; the command table then says "no response generated".
            ha_log.error("{msgid} ha-sync command failed: {error}",
                         msgid="HA_SYNC_HANDLER_FAILED", error=str(e.args[0]))
            return None
        return self._respond(handle, answer)

    def _ha_scopes(self, handle: Any) -> None:
        if not self._running(handle):
            return
        try:
            scopes = commands.parse_ha_scopes(handle.get_argument("command"))
        except ValueError as e:
            self._respond(handle, {"result": 1, "text": str(e)})
            return
        self._respond(handle, self.service.scopes(scopes))

    def _ha_continue(self, handle: Any) -> None:
        if self._running(handle):
            self._respond(handle, self.service.continue_())

    def _ha_maintenance_notify(self, handle: Any) -> None:
        if not self._running(handle):
            return
        try:
            cancel = commands.parse_maintenance_notify(handle.get_argument("command"))
        except ValueError as e:
            # Kea's handler throws here and its callout leaves no answer;
            # the command table then answers "no response generated".
            ha_log.error("{msgid} ha-maintenance-notify command failed: {error}",
                         msgid="HA_MAINTENANCE_NOTIFY_HANDLER_FAILED", error=str(e))
            return
        self._respond(handle, self.service.maintenance_notify(cancel))

    def _ha_maintenance_start(self, handle: Any) -> Optional[Deferred]:
        if not self._running(handle):
            return None
        return self._respond(handle, self.service.maintenance_start())

    def _ha_maintenance_cancel(self, handle: Any) -> Optional[Deferred]:
        if not self._running(handle):
            return None
        return self._respond(handle, self.service.maintenance_cancel())

    def _ha_reset(self, handle: Any) -> None:
        if self._running(handle):
            self._respond(handle, self.service.reset())

    def _ha_sync_complete_notify(self, handle: Any) -> None:
        if self._running(handle):
            self._respond(handle, self.service.sync_complete_notify())


def _label(query: Any) -> str:
    """Enough of Kea's query label to find the client in a log."""
    try:
        return f"[hwtype={query.htype} {query.hwaddr_text}], tid=0x{query.xid:x}"
    except Exception:
        return repr(query)


#: The object the hooks loader finds in :mod:`hooks.ha`.
ha = HAHookLibrary()
