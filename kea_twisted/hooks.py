"""
Kea's hooks framework with zope.interface: hook libraries, callouts, next
steps, per-library context, parked packets, and the loader for
``hooks-libraries``.

Kea's model [src] ``src/lib/hooks/`` and how it maps here:

* A hook library is a shared object whose functions are found by symbol name
  (``library_manager.cc`` ``registerStandardCallouts``).  Here it is a Python
  object providing :class:`IHookLibrary`; its callouts are methods named
  after hook points.  ``load(handle)`` runs once per (re)configuration and
  may register more callouts and command handlers through the
  :class:`LibraryHandle`; raising (or returning a non-zero int, like Kea's
  ``load()``) fails the configuration.  ``unload()`` runs when the libraries
  are unloaded, in reverse configuration order
  (``library_manager_collection.cc`` ``prepareUnloadLibraries``).
* Kea reloads every library on every reconfiguration, even unchanged ones
  [doc] ``hooks.rst`` ("Libraries are reloaded even if their lists have not
  changed"): validate the new list first (import, find the object,
  ``verifyObject``), then unload the old libraries, then load the new ones
  (``json_config_parser.cc`` ``configureDhcp4Server``).  A ``.py`` library
  is imported again on each load, as Kea re-opens the shared object.
* :class:`HookRunner` is Kea's ``CalloutManager`` + ``HooksManager``: the
  next step is reset to CONTINUE at the start of each hook point; every
  callout of every library runs in library order even after one set DROP (a
  later callout can overwrite it); a callout that raises is logged as
  ``HOOKS_CALLOUT_EXCEPTION`` and the others still run, the next step left
  as the callouts left it (``callout_manager.cc`` ``callCallouts`` catches,
  logs and goes on; it does not touch the status).  A callout may return a
  Deferred (or be a coroutine function); it is waited for before the next
  callout runs, and only then is :meth:`HookRunner.call`'s result a
  Deferred.  Hook points nobody registered cost one dict lookup
  (:meth:`HookRunner.has_callouts`).
* :class:`CalloutHandle` is created per packet and reused across that
  packet's hook points (Kea keeps it in the ``Pkt4``); each library sees its
  own :attr:`CalloutHandle.context` for the life of the handle
  (``callout_handle.cc`` ``getContextForLibrary``); the engine resets the
  arguments and the next step before each hook point
  (:meth:`CalloutHandle.reset`, Kea's ``ScopedCalloutHandleState``).
* Parked packets: :class:`ParkingLot` has Kea's ``parking_lots.h``
  semantics, one lot per hook point per runner (the lots are cleared when
  libraries are (re)loaded or unloaded, ``hooks_manager.cc``).  The engine
  side of ``leases4_committed`` is :meth:`HookRunner.call_parkable`, which
  follows ``dhcp4_srv.cc`` ``processDhcp4Query``: refuse when the lot holds
  ``parked-packet-limit`` packets (0 = no limit), park proactively, run the
  callouts, keep the packet parked only when the next step is PARK.
* Commands: ``register_command_handler`` is Kea's ``registerCommandCallout``;
  handlers are callouts on the hook point ``$<command>`` (``-`` spelled
  ``_``, ``server_hooks.cc`` ``commandToHookName``) and
  :meth:`HookRunner.call_command` is ``HookedCommandMgr``'s delegation: a
  handle with ``command`` and ``response`` (None) arguments, the handlers
  set ``response``.

Only Deferreds are imported from Twisted's internet package; no reactor.

Tests: tests/test_hooks.py
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from twisted.internet.defer import Deferred
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface, implementer
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from kea_twisted.logs import DBG_TRACE_BASIC, DBG_TRACE_BASIC_DATA, kea_logger

__all__ = [
    "NextStep",
    "HookPoint",
    "HOOK_POINTS",
    "DEFAULT_PARKED_PACKET_LIMIT",
    "command_hook_name",
    "IHookLibrary",
    "ILibraryHandle",
    "IServerContext",
    "LibraryHandle",
    "CalloutHandle",
    "NoSuchArgument",
    "NoSuchHook",
    "ParkingLot",
    "ParkingError",
    "ParkingLotFull",
    "LoadedLibrary",
    "HookRunner",
    "HookLibraryFailure",
    "HookLoadError",
    "VALIDATE_FAILED_TEXT",
    "LOAD_FAILED_TEXT",
    "find_hook_library",
    "validate_hook_libraries",
    "load_library_objects",
    "load_hook_libraries",
]

# Kea's loggers: library loading on "hooks", callout execution on
# "callouts" (src/lib/hooks/hooks_log.cc), both under kea-dhcp4.
_hooks_log = kea_logger("hooks")
_callouts_log = kea_logger("callouts")

# Kea's debug levels for hooks (hooks_log.cc): TRACE = DBGLVL_TRACE_BASIC,
# CALLS = DBGLVL_TRACE_BASIC_DATA.
HOOKS_DBG_TRACE = DBG_TRACE_BASIC
HOOKS_DBG_CALLS = DBG_TRACE_BASIC_DATA


class NextStep(enum.IntEnum):
    """Kea's ``CalloutHandle::CalloutNextStep``, with Kea's numbers."""

    CONTINUE = 0
    SKIP = 1
    DROP = 2
    PARK = 3


_CONTINUE = NextStep.CONTINUE
_PARK = NextStep.PARK

# Kea 2.2's default for the global ``parked-packet-limit``
# (simple_parser4.cc GLOBAL4_DEFAULTS; spec/dhcp4.md).
DEFAULT_PARKED_PACKET_LIMIT = 256


# ---------------------------------------------------------------------------
# Hook points as data


@dataclass(frozen=True)
class HookPoint:
    """One of kea-dhcp4's hook points.

    :ivar arguments: the argument names, in the order the server sets them
        (``dhcp4_srv.cc``/``alloc_engine.cc`` ``setArgument`` calls).
    :ivar next_steps: the next steps the server acts on and what it does;
        any other value is treated as CONTINUE (``dhcp4_hooks.dox``).
    """

    name: str
    arguments: Tuple[str, ...]
    next_steps: Mapping[NextStep, str]
    description: str


def _point(name: str, arguments: Sequence[str], description: str, **steps: str) -> HookPoint:
    return HookPoint(
        name,
        tuple(arguments),
        MappingProxyType({NextStep[k]: v for k, v in steps.items()}),
        description,
    )


# In the order a packet meets them, then the ones outside packet processing
# (dhcp4_hooks.dox).  Argument names are what the 2.2 code sets, which for
# ddns4_update differs from the .dox ("fwd-update", not "fwd_update").
HOOK_POINTS: Mapping[str, HookPoint] = MappingProxyType(
    {
        p.name: p
        for p in (
            _point(
                "context_create",
                (),
                "A callout handle was created (per packet, per command); "
                "callouts usually fill the library's context here.",
            ),
            _point(
                "dhcp4_srv_configured",
                ("io_context", "network_state", "json_config", "server_config"),
                "The new configuration is committed (ctrl_dhcp4_srv.cc).",
                DROP="the reconfiguration fails with the handle's 'error' "
                "argument as text ('unknown error' when unset)",
            ),
            _point(
                "cb4_updated",
                ("audit_entries",),
                "A config backend update was applied.",
            ),
            _point(
                "buffer4_receive",
                ("query4",),
                "Raw query received, not yet decoded.",
                DROP="drop the query",
                SKIP="do not decode: the callouts decoded query4 themselves",
            ),
            _point(
                "pkt4_receive",
                ("query4",),
                "Query decoded and classified.",
                DROP="drop the query",
                SKIP="drop the query",
            ),
            _point(
                "subnet4_select",
                ("query4", "subnet4", "subnet4collection"),
                "A subnet was selected; the callouts may replace subnet4.",
                DROP="drop the query",
                SKIP="no subnet: processing goes on with global options only",
            ),
            _point(
                "host4_identifier",
                ("query4", "id_type", "id_value"),
                "Flexible identifier for reservation lookup.",
                SKIP="the identifier is not used",
                DROP="the identifier is not used",
                PARK="the identifier is not used",
            ),
            _point(
                "lease4_select",
                ("query4", "subnet4", "fake_allocation", "lease4"),
                "A lease is about to be allocated; lease4 may be changed.",
                SKIP="no lease is assigned by the server",
            ),
            _point(
                "lease4_renew",
                ("query4", "subnet4", "clientid", "hwaddr", "lease4"),
                "An existing lease is about to be extended.",
                SKIP="the lease is not updated; the old values are used",
            ),
            _point(
                "lease4_release",
                ("query4", "lease4"),
                "A RELEASE is about to delete a lease.",
                SKIP="the lease is kept",
                DROP="the lease is kept",
            ),
            _point(
                "lease4_decline",
                ("query4", "lease4"),
                "A DECLINE is about to mark a lease declined.",
                SKIP="the lease is not declined; the packet is dropped",
                DROP="the lease is not declined; the packet is dropped",
            ),
            _point(
                "ddns4_update",
                ("query4", "response4", "subnet4", "hostname", "fwd-update",
                 "rev-update", "ddns-params"),
                "DNS update parameters chosen; callouts may change them.",
            ),
            _point(
                "leases4_committed",
                ("query4", "leases4", "deleted_leases4"),
                "The lease changes for this query are in the lease store.",
                DROP="drop the response",
                PARK="hold the response until the libraries unpark the query",
            ),
            _point(
                "pkt4_send",
                ("query4", "response4"),
                "The response is built, not yet encoded.",
                SKIP="do not encode: the callouts packed response4 themselves",
                DROP="drop the response",
            ),
            _point(
                "buffer4_send",
                ("response4",),
                "The response is encoded, about to be sent.",
                SKIP="drop the response",
                DROP="drop the response",
            ),
            _point(
                "lease4_expire",
                ("lease4", "remove_lease"),
                "An expired lease is being reclaimed.",
                SKIP="the callouts reclaimed the lease themselves",
            ),
            _point(
                "lease4_recover",
                ("lease4",),
                "A declined lease's probation ended; it is being recovered.",
                SKIP="the lease is not recovered",
            ),
            _point(
                "command_processed",
                ("name", "arguments", "response"),
                "A command was processed by the server; callouts may change "
                "the response.",
            ),
            _point(
                "context_destroy",
                (),
                "A callout handle is being released.",
            ),
        )
    }
)

_COMMAND_PREFIX = "$"


def command_hook_name(command: str) -> str:
    """The hook point carrying ``command``'s handlers: Kea's
    ``ServerHooks::commandToHookName`` (``$`` + name, ``-`` → ``_``)."""
    return _COMMAND_PREFIX + command.replace("-", "_")


# ---------------------------------------------------------------------------
# Interfaces


class IHookLibrary(Interface):
    """A hook library, named by a ``hooks-libraries`` entry.

    Callouts are methods named after hook points in :data:`HOOK_POINTS`
    (``pkt4_receive(handle)``), bound when the library is loaded, as Kea
    binds functions by symbol name.  A callout takes a
    :class:`CalloutHandle` and returns None, a Deferred, or (coroutine
    function) an awaitable; the next callout runs when it has finished.

    Optional attributes, as Kea's optional functions:

    * ``multi_threading_compatible``: bool or callable returning one (Kea's
      ``multi_threading_compatible()``; missing means not compatible).
    * ``version``: int or callable returning one (Kea's ``version()``;
      recorded, not checked: there is no ABI to protect).
    """

    def load(library: "ILibraryHandle") -> None:
        """Read parameters, register extra callouts and command handlers.

        Raising (or returning a non-zero int) fails the configuration.
        """

    def unload() -> None:
        """Release what ``load`` took; called before every reload."""


class ILibraryHandle(Interface):
    """What :meth:`IHookLibrary.load` receives (Kea's ``LibraryHandle``)."""

    name = Attribute("The library as configured (its path).")
    parameters = Attribute("The entry's 'parameters' map as plain Python ({} when absent).")
    index = Attribute("1-based position in hooks-libraries (Kea's library index).")

    def register_callout(hook_point: str, callout: Callable) -> None:
        """Add a callout for ``hook_point`` after this library's others."""

    def register_command_handler(command: str, handler: Callable) -> None:
        """Handle the control command ``command``: ``handler(handle)`` reads
        ``handle.arguments['command']`` and sets ``response``."""

    def publish(key: str, value: Any) -> None:
        """Make ``value`` visible to the server as
        ``runner.published[name][key]`` (status reports and the like)."""

    server = Attribute(
        "The IServerContext of the server loading the library, or None when "
        "the library is only being checked (``-t``, ``config-test``)."
    )


class IServerContext(Interface):
    """What a hook library may use of the server it is loaded into.

    Kea's libraries reach the same things through process-wide singletons
    (``CfgMgr``, ``LeaseMgrFactory``, ``StatsMgr``, the IO service); here
    they come through :attr:`ILibraryHandle.server`.  The attributes are
    live: after a reconfiguration they name the new configuration and store.
    """

    reactor = Attribute("The reactor (timers, TCP/TLS listeners, HTTP clients).")
    config = Attribute("The Dhcp4Config in force (kea_twisted.config.model).")
    store = Attribute(
        "The lease store in force: memfile answers synchronously "
        "(kea_twisted.leases.ISyncLeaseStore); a PostgreSQL store answers "
        "Deferreds (ILeaseStore) and offers call_with_store(fn), which runs "
        "fn(sync_store) on the database thread between packets.")
    stats = Attribute("The StatsMgr (kea_twisted.stats).")
    network_state = Attribute("The NetworkState behind dhcp-disable/dhcp-enable.")

    def execute_command(command: str, arguments: Any = None) -> Deferred:
        """Run a control command on this server as if it came on the
        control socket (built-in or hook-registered); fires with the
        answer map (``result``, ``text``, ``arguments``)."""


# ---------------------------------------------------------------------------
# Errors


class NoSuchArgument(KeyError):
    """Kea's ``NoSuchArgument``: the handle has no argument of that name."""


class NoSuchHook(ValueError):
    """Kea's ``NoSuchHook``: registration on a name that is no hook point."""


class ParkingError(Exception):
    """Kea's ``InvalidOperation`` from ``parking_lots.h``: parking twice, or
    referencing a packet that is not parked."""


class ParkingLotFull(Exception):
    """The lot already holds ``parked-packet-limit`` packets.

    ``dhcp4_srv.cc`` then drops the query before running any callout: it
    logs ``DHCP4_HOOK_LEASES4_PARKING_LOT_FULL`` (debug,
    ``DBGLVL_PKT_HANDLING``, on the packets logger: "The parked-packet-limit
    %1, has been reached, dropping query: %2") and counts
    ``pkt4-receive-drop``.  The engine does both, knowing the query's label.
    """

    msgid = "DHCP4_HOOK_LEASES4_PARKING_LOT_FULL"

    def __init__(self, limit: int, size: int):
        super().__init__(f"The parked-packet-limit {limit}, has been reached")
        self.limit = limit
        self.size = size


# ---------------------------------------------------------------------------
# Parking lots


class _Parked:
    __slots__ = ("packet", "on_unpark", "on_drop", "refcount")

    def __init__(self, packet: Any, on_unpark: Callable[[], Any], on_drop: Optional[Callable[[], Any]]):
        self.packet = packet
        self.on_unpark = on_unpark
        self.on_drop = on_drop
        self.refcount = 0


class ParkingLot:
    """Parked packets of one hook point (Kea's ``ParkingLot``).

    The server parks a packet with the continuation to run later; each
    library that will finish work asynchronously calls :meth:`reference`
    during its callout and :meth:`unpark` when done; the continuation runs
    when the count drops to zero (so an unreferenced packet is released by
    its first unpark).  :meth:`drop` forgets the packet without running the
    continuation.  Packets are identified by identity (Kea keys by the
    pointer's text).

    ``on_drop`` is kea_twisted's addition: Kea just forgets a dropped
    packet; a Twisted engine waiting on a Deferred wants to be told.
    """

    def __init__(self) -> None:
        self._parked: Dict[int, _Parked] = {}

    def __len__(self) -> int:
        return len(self._parked)

    def size(self) -> int:
        """Number of parked packets (Kea's ``size()``)."""
        return len(self._parked)

    def is_parked(self, packet: Any) -> bool:
        return id(packet) in self._parked

    def park(
        self,
        packet: Any,
        on_unpark: Callable[[], Any],
        on_drop: Optional[Callable[[], Any]] = None,
    ) -> None:
        """Park ``packet``; ``on_unpark()`` runs when it is released."""
        key = id(packet)
        if key in self._parked:
            raise ParkingError("object is already parked!")
        self._parked[key] = _Parked(packet, on_unpark, on_drop)

    def _find(self, packet: Any, what: str) -> _Parked:
        entry = self._parked.get(id(packet))
        if entry is None:
            raise ParkingError(f"cannot {what} an object that has not been parked.")
        return entry

    def reference(self, packet: Any) -> int:
        """One more library will unpark ``packet``; returns the new count."""
        entry = self._find(packet, "reference")
        entry.refcount += 1
        return entry.refcount

    def dereference(self, packet: Any) -> int:
        """One library less; never releases the packet by itself (Kea)."""
        entry = self._find(packet, "dereference")
        entry.refcount -= 1
        return entry.refcount

    def unpark(self, packet: Any, force: bool = False) -> bool:
        """Count one unpark; at zero (or with ``force``) remove the packet
        and run its continuation.  False when ``packet`` is not parked."""
        key = id(packet)
        entry = self._parked.get(key)
        if entry is None:
            return False
        if force:
            entry.refcount = 0
        else:
            entry.refcount -= 1
        if entry.refcount <= 0:
            del self._parked[key]
            entry.on_unpark()
        return True

    def drop(self, packet: Any) -> bool:
        """Forget ``packet`` without continuing it; False when not parked."""
        entry = self._parked.pop(id(packet), None)
        if entry is None:
            return False
        if entry.on_drop is not None:
            entry.on_drop()
        return True

    def _discard(self, packet: Any) -> None:
        # The server's own "drop the park job" (next step is not PARK): the
        # engine carries on itself, so on_drop is not called.
        self._parked.pop(id(packet), None)

    def clear(self) -> None:
        """Drop every parked packet (libraries unloaded or reloaded)."""
        entries = list(self._parked.values())
        self._parked.clear()
        for entry in entries:
            if entry.on_drop is not None:
                try:
                    entry.on_drop()
                except Exception:
                    _hooks_log.failure("parked packet drop callback failed")


# ---------------------------------------------------------------------------
# Callout handle


_MISSING = object()


class CalloutHandle:
    """The state passed to every callout (Kea's ``CalloutHandle``).

    Create one per packet (``HookRunner.create_handle``) and reuse it for
    all the packet's hook points: :attr:`context` lives as long as the
    handle, one dict per library.  Before each hook point the engine sets
    the arguments (:meth:`reset`); :meth:`HookRunner.call` resets
    :attr:`next_step`.
    """

    __slots__ = (
        "arguments",
        "next_step",
        "current_hook",
        "current_library",
        "current_library_index",
        "runner",
        "_contexts",
    )

    def __init__(self, arguments: Optional[Dict[str, Any]] = None, runner: Optional["HookRunner"] = None):
        self.arguments: Dict[str, Any] = {} if arguments is None else arguments
        self.next_step: NextStep = _CONTINUE
        self.current_hook: Optional[str] = None
        self.current_library: Optional[str] = None
        self.current_library_index: int = -1
        self.runner = runner
        self._contexts: Dict[int, Dict[str, Any]] = {}

    def __repr__(self) -> str:
        return (
            f"<CalloutHandle hook={self.current_hook!r} library={self.current_library!r} "
            f"next_step={self.next_step!r} arguments={sorted(self.arguments)!r}>"
        )

    # Arguments (Kea: setArgument/getArgument/deleteArgument/...)

    def get_argument(self, name: str, default: Any = _MISSING) -> Any:
        try:
            return self.arguments[name]
        except KeyError:
            if default is _MISSING:
                raise NoSuchArgument(name) from None
            return default

    def set_argument(self, name: str, value: Any) -> None:
        self.arguments[name] = value

    def delete_argument(self, name: str) -> None:
        self.arguments.pop(name, None)

    def delete_all_arguments(self) -> None:
        self.arguments.clear()

    def reset(self, **arguments: Any) -> "CalloutHandle":
        """Kea's ``ScopedCalloutHandleState``: drop the previous hook point's
        arguments, next step CONTINUE, then set ``arguments``.  Argument
        names with a dash (``fwd-update``) go through :meth:`set_argument`."""
        self.arguments.clear()
        self.arguments.update(arguments)
        self.next_step = _CONTINUE
        return self

    # Per-library context

    @property
    def context(self) -> Dict[str, Any]:
        """The current library's context for this handle (created empty)."""
        ctx = self._contexts.get(self.current_library_index)
        if ctx is None:
            ctx = self._contexts[self.current_library_index] = {}
        return ctx

    # Parking

    @property
    def parking_lot(self) -> ParkingLot:
        """The lot of the hook point being called (Kea's
        ``getParkingLotHandlePtr``); keep it to unpark later."""
        if self.runner is None or self.current_hook is None:
            raise ParkingError("no parking lot: not inside a callout run by a HookRunner")
        return self.runner.parking_lot(self.current_hook)


# ---------------------------------------------------------------------------
# Libraries and the runner


@implementer(ILibraryHandle)
class LibraryHandle:
    """Handed to ``load()``; stays valid while the library is loaded."""

    def __init__(self, runner: "HookRunner", name: str, index: int, parameters: Mapping[str, Any],
                 server: Any = None):
        self.name = name
        self.index = index
        self.parameters = parameters
        self.server = server
        self.published: Dict[str, Any] = {}
        self._runner = runner

    def register_callout(self, hook_point: str, callout: Callable) -> None:
        self._runner._register(hook_point, self, callout)

    def register_command_handler(self, command: str, handler: Callable) -> None:
        self._runner._register(command_hook_name(command), self, handler, command=command)

    def publish(self, key: str, value: Any) -> None:
        self.published[key] = value


@dataclass
class LoadedLibrary:
    """A library the runner loaded, in configuration order."""

    name: str
    index: int
    library: Any
    handle: LibraryHandle
    multi_threading_compatible: bool = False
    version: Optional[int] = None
    unloaded: bool = False


_Callout = Tuple[LibraryHandle, Callable[[CalloutHandle], Any]]


def _optional_value(library: Any, name: str) -> Any:
    value = getattr(library, name, None)
    if callable(value):
        value = value()
    return value


def _hook_done(handle: CalloutHandle) -> None:
    """Every callout on the hook point has run: the handle is in none."""
    handle.current_hook = None
    handle.current_library = None
    handle.current_library_index = -1


class HookRunner:
    """Calls callouts of loaded libraries (Kea's CalloutManager and
    HooksManager).  Build with :func:`load_hook_libraries` or
    :func:`load_library_objects`; an empty runner has no callouts."""

    def __init__(self, server: Any = None) -> None:
        #: The IServerContext handed to libraries (None: checking only).
        self.server = server
        self.libraries: List[LoadedLibrary] = []
        self._callouts: Dict[str, Tuple[_Callout, ...]] = {}
        self._commands: Dict[str, str] = {}  # hook name -> command name
        self._parking_lots: Dict[str, ParkingLot] = {}

    # -- registration -----------------------------------------------------

    def _register(self, hook: str, owner: LibraryHandle, callout: Callable, command: Optional[str] = None) -> None:
        if command is None and hook not in HOOK_POINTS:
            raise NoSuchHook(f"hook point {hook!r} is not registered")
        if not callable(callout):
            raise TypeError(f"callout for {hook!r} is not callable: {callout!r}")
        if command is not None:
            self._commands[hook] = command
        current = self._callouts.get(hook, ())
        # After the last callout of this or an earlier library (Kea's
        # CalloutManager::registerCallout keeps library order).
        position = len(current)
        while position and current[position - 1][0].index > owner.index:
            position -= 1
        self._callouts[hook] = current[:position] + ((owner, callout),) + current[position:]
        _callouts_log.debug(
            "{msgid} hooks library with index {index} registering callout for hook '{hook}'",
            msgid="HOOKS_CALLOUT_REGISTRATION",
            index=owner.index,
            hook=hook,
            debuglevel=HOOKS_DBG_CALLS,
        )

    def _deregister_library(self, owner: LibraryHandle) -> None:
        for hook, callouts in list(self._callouts.items()):
            kept = tuple(c for c in callouts if c[0] is not owner)
            if len(kept) != len(callouts):
                _hooks_log.debug(
                    "{msgid} callouts removed from hook {hook} for library {library}",
                    msgid="HOOKS_CALLOUTS_REMOVED",
                    hook=hook,
                    library=owner.name,
                    debuglevel=HOOKS_DBG_CALLS,
                )
            if kept:
                self._callouts[hook] = kept
            else:
                del self._callouts[hook]
                self._commands.pop(hook, None)

    def add_library(self, name: str, library: Any, parameters: Optional[Mapping[str, Any]] = None) -> LoadedLibrary:
        """Load one library object after the ones already loaded: bind its
        standard callouts, then run ``load()`` (Kea registers the standard
        callouts first, ``library_manager.cc`` ``loadLibrary``).

        On failure the library's ``unload()`` runs and its callouts are
        removed (Kea's ``prepareUnloadLibrary``) and :class:`HookLoadError`
        is raised; libraries loaded before stay loaded (the caller decides).
        """
        index = len(self.libraries) + 1
        handle = LibraryHandle(self, name, index, dict(parameters or {}), self.server)
        _hooks_log.debug(
            "{msgid} loading hooks library {library}",
            msgid="HOOKS_LIBRARY_LOADING",
            library=name,
            debuglevel=HOOKS_DBG_TRACE,
        )
        try:
            mt = bool(_optional_value(library, "multi_threading_compatible"))
            version = _optional_value(library, "version")
        except Exception as e:
            _hooks_log.failure(
                "{msgid} 'multi_threading_compatible' or 'version' in hook library {library} threw an exception",
                msgid="HOOKS_MULTI_THREADING_COMPATIBLE_EXCEPTION",
                library=name,
                level=LogLevel.error,
            )
            raise HookLoadError(LOAD_FAILED_TEXT, [HookLibraryFailure(name, f"{type(e).__name__}: {e}", "load")])
        for hook in HOOK_POINTS:
            callout = getattr(library, hook, None)
            if callout is not None and callable(callout):
                self._register(hook, handle, callout)
                _hooks_log.debug(
                    "{msgid} hooks library {library} registered standard callout for hook {hook}",
                    msgid="HOOKS_STD_CALLOUT_REGISTERED",
                    library=name,
                    hook=hook,
                    debuglevel=HOOKS_DBG_CALLS,
                )
        reason: Optional[str] = None
        try:
            status = library.load(handle)
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
            _hooks_log.failure(
                "{msgid} 'load' function in hook library {library} threw an exception: reason {reason}",
                msgid="HOOKS_LOAD_EXCEPTION",
                library=name,
                reason=reason,
                level=LogLevel.error,
            )
        else:
            if isinstance(status, int) and not isinstance(status, bool) and status != 0:
                reason = f"load() returned {status}"
                _hooks_log.error(
                    "{msgid} 'load' function in hook library {library} returned error {status}",
                    msgid="HOOKS_LOAD_ERROR",
                    library=name,
                    status=status,
                )
        loaded = LoadedLibrary(name, index, library, handle, mt, version)
        if reason is not None:
            self._unload_one(loaded)
            raise HookLoadError(LOAD_FAILED_TEXT, [HookLibraryFailure(name, reason, "load")])
        self.libraries.append(loaded)
        _hooks_log.info("{msgid} hooks library {library} successfully loaded", msgid="HOOKS_LIBRARY_LOADED", library=name)
        return loaded

    def _unload_one(self, loaded: LoadedLibrary) -> bool:
        if loaded.unloaded:
            return True
        loaded.unloaded = True
        ok = True
        try:
            status = loaded.library.unload()
        except Exception:
            ok = False
            _hooks_log.failure(
                "{msgid} 'unload' function in hook library {library} threw an exception",
                msgid="HOOKS_UNLOAD_EXCEPTION",
                library=loaded.name,
                level=LogLevel.warn,
            )
        else:
            if isinstance(status, int) and not isinstance(status, bool) and status != 0:
                ok = False
                _hooks_log.error(
                    "{msgid} 'unload' function in hook library {library} returned error {status}",
                    msgid="HOOKS_UNLOAD_ERROR",
                    library=loaded.name,
                    status=status,
                )
        # Regardless of status, its callouts go (library_manager.cc).
        self._deregister_library(loaded.handle)
        return ok

    def unload_all(self) -> bool:
        """Unload every library in reverse order, remove all callouts and
        drop parked packets; False when some ``unload()`` failed (logged).
        Calling it again does nothing."""
        ok = True
        for loaded in reversed(self.libraries):
            was_loaded = not loaded.unloaded
            ok = self._unload_one(loaded) and ok
            if was_loaded:
                _hooks_log.info(
                    "{msgid} hooks library {library} successfully unloaded",
                    msgid="HOOKS_LIBRARY_UNLOADED",
                    library=loaded.name,
                )
        self._callouts.clear()
        self._commands.clear()
        self.clear_parking_lots()
        return ok

    # -- information ------------------------------------------------------

    def library_names(self) -> List[str]:
        """Loaded libraries in configuration order (Kea's getLibraryNames)."""
        return [lib.name for lib in self.libraries if not lib.unloaded]

    @property
    def multi_threading_compatible(self) -> bool:
        """True when every loaded library says it is."""
        return all(lib.multi_threading_compatible for lib in self.libraries if not lib.unloaded)

    @property
    def published(self) -> Mapping[str, Mapping[str, Any]]:
        """What libraries published through their handle, by library name."""
        return {lib.name: lib.handle.published for lib in self.libraries if not lib.unloaded}

    def has_callouts(self, hook_point: str) -> bool:
        """Any callout on ``hook_point``?  The hot path asks this first."""
        return hook_point in self._callouts

    def callouts(self, hook_point: str) -> Tuple[_Callout, ...]:
        """(library handle, callout) pairs in calling order."""
        return self._callouts.get(hook_point, ())

    # -- calling ------------------------------------------------------------

    def create_handle(self, **arguments: Any) -> CalloutHandle:
        """A handle for one packet (or command); runs ``context_create``
        callouts (which must be synchronous)."""
        handle = CalloutHandle(arguments, self)
        if "context_create" in self._callouts:
            self.call_now("context_create", handle)
        return handle

    def release_handle(self, handle: CalloutHandle) -> None:
        """The packet is done: run ``context_destroy`` callouts and drop the
        contexts (Kea does this in the handle's destructor)."""
        if "context_destroy" in self._callouts:
            handle.arguments.clear()
            self.call_now("context_destroy", handle)
        handle.arguments.clear()
        handle._contexts.clear()

    def call_now(self, hook_point: str, handle: CalloutHandle) -> NextStep:
        """:meth:`call` for hook points the server cannot wait on (Kea calls
        them inside synchronous code: ``context_create``, ``lease4_select``,
        ``lease4_expire``, ``host4_identifier`` …).  A callout answering with
        a Deferred is not waited for: logged, and the step is CONTINUE."""
        result = self.call(hook_point, handle)
        if not isinstance(result, Deferred):
            return result
        _callouts_log.error("{msgid} a callout on hook {hook} returned a Deferred; it is not waited for",
                            msgid="HOOKS_CALLOUT_NOT_AWAITED", hook=hook_point)
        result.addErrback(lambda f: _callouts_log.failure("{hook} callout failed", f, hook=hook_point))
        return _CONTINUE

    def call(self, hook_point: str, handle: CalloutHandle) -> Union[NextStep, "Deferred[NextStep]"]:
        """Run every callout on ``hook_point`` in library order.

        Returns the next step, or a Deferred firing with it when a callout
        returned a Deferred (or a coroutine).  Never raises for a callout's
        exception: it is logged as ``HOOKS_CALLOUT_EXCEPTION`` and the next
        step stays whatever the callouts set.
        """
        handle.next_step = _CONTINUE
        callouts = self._callouts.get(hook_point)
        if callouts is None:
            return _CONTINUE
        handle.runner = self  # parking lots are this runner's
        position, pending = self._run_callouts(hook_point, handle, callouts, 0)
        if pending is not None:
            return Deferred.fromCoroutine(self._finish(hook_point, handle, callouts, position, pending))
        _hook_done(handle)
        step = handle.next_step
        return step if step.__class__ is NextStep else NextStep(step)

    def _run_callouts(
        self,
        hook_point: str,
        handle: CalloutHandle,
        callouts: Tuple[_Callout, ...],
        position: int,
    ) -> Tuple[int, Any]:
        """Run ``callouts[position:]`` in order until one answers with
        something to wait for: ``(position after it, that answer)``, or
        ``(len(callouts), None)`` when all ran."""
        handle.current_hook = hook_point
        for owner, callout in callouts[position:]:
            position += 1
            handle.current_library = owner.name
            handle.current_library_index = owner.index
            try:
                result = callout(handle)
            except Exception:
                self._callout_failed(hook_point, owner, callout, Failure())
                continue
            if result is not None:
                if isinstance(result, Deferred) or inspect.isawaitable(result):
                    return position, result
                self._callout_status(hook_point, owner, callout, result)
        return position, None

    async def _finish(
        self,
        hook_point: str,
        handle: CalloutHandle,
        callouts: Tuple[_Callout, ...],
        position: int,
        pending: Any,
    ) -> NextStep:
        """The rest of :meth:`call` once a callout's answer must be waited
        for: ``pending`` is the answer of ``callouts[position - 1]``."""
        while pending is not None:
            owner, callout = callouts[position - 1]
            try:
                result = await pending
            except Exception:
                self._callout_failed(hook_point, owner, callout, Failure())
            else:
                if result is not None:
                    self._callout_status(hook_point, owner, callout, result)
            position, pending = self._run_callouts(hook_point, handle, callouts, position)
        _hook_done(handle)
        return NextStep(handle.next_step)

    @staticmethod
    def _callout_failed(hook_point: str, owner: LibraryHandle, callout: Callable, failure: Failure) -> None:
        _callouts_log.failure(
            "{msgid} exception thrown by callout on hook {hook} registered by library "
            "with index {index} ({library}, callout {callout}): {error}",
            failure,
            LogLevel.error,
            msgid="HOOKS_CALLOUT_EXCEPTION",
            hook=hook_point,
            index=owner.index,
            library=owner.name,
            callout=getattr(callout, "__qualname__", repr(callout)),
            error=failure.getErrorMessage(),
        )

    @staticmethod
    def _callout_status(hook_point: str, owner: LibraryHandle, callout: Callable, status: Any) -> None:
        # A Kea callout returns int status; non-zero is logged, nothing else.
        if isinstance(status, int) and not isinstance(status, bool) and status != 0:
            _callouts_log.error(
                "{msgid} error returned by callout on hook {hook} registered by library "
                "with index {index} ({library}, callout {callout})",
                msgid="HOOKS_CALLOUT_ERROR",
                hook=hook_point,
                index=owner.index,
                library=owner.name,
                callout=getattr(callout, "__qualname__", repr(callout)),
            )

    # -- parking ------------------------------------------------------------

    def parking_lot(self, hook_point: str) -> ParkingLot:
        """The lot for ``hook_point`` (created on first use)."""
        lot = self._parking_lots.get(hook_point)
        if lot is None:
            lot = self._parking_lots[hook_point] = ParkingLot()
        return lot

    def clear_parking_lots(self) -> None:
        """Drop every parked packet (Kea clears the lots on (re)load)."""
        lots = list(self._parking_lots.values())
        self._parking_lots.clear()
        for lot in lots:
            lot.clear()

    def call_parkable(
        self,
        hook_point: str,
        handle: CalloutHandle,
        packet: Any,
        on_unpark: Callable[[], Any],
        parked_packet_limit: int = DEFAULT_PARKED_PACKET_LIMIT,
        on_drop: Optional[Callable[[], Any]] = None,
    ) -> Union[NextStep, "Deferred[NextStep]"]:
        """The server's side of a hook point where callouts may PARK
        (``leases4_committed``), as ``dhcp4_srv.cc`` does it.

        Call only when :meth:`has_callouts` says so.  Raises
        :class:`ParkingLotFull` before any callout runs when the lot already
        holds ``parked_packet_limit`` packets (0: no limit).  Otherwise parks
        ``packet`` with ``on_unpark``, runs the callouts and returns the next
        step: PARK means the packet stays parked and ``on_unpark()`` will
        continue it (``on_drop()`` if a library drops it, or the libraries
        are unloaded); any other step means it was taken out of the lot and
        the caller goes on (DROP: no response).
        """
        lot = self.parking_lot(hook_point)
        if parked_packet_limit and len(lot) >= parked_packet_limit:
            raise ParkingLotFull(parked_packet_limit, len(lot))
        lot.park(packet, on_unpark, on_drop)
        try:
            step = self.call(hook_point, handle)
        except BaseException:
            lot._discard(packet)
            raise
        if isinstance(step, Deferred):
            return step.addCallback(self._settle_park, lot, packet)
        return self._settle_park(step, lot, packet)

    @staticmethod
    def _settle_park(step: NextStep, lot: ParkingLot, packet: Any) -> NextStep:
        if step is not _PARK:
            lot._discard(packet)
        return step

    # -- commands -----------------------------------------------------------

    @property
    def command_handlers(self) -> Mapping[str, Tuple[_Callout, ...]]:
        """Command name -> (library handle, handler) pairs in library order."""
        return {cmd: self._callouts[hook] for hook, cmd in self._commands.items() if hook in self._callouts}

    def has_command(self, command: str) -> bool:
        """Kea's ``commandHandlersPresent``."""
        return command_hook_name(command) in self._callouts

    def commands(self) -> List[str]:
        """Commands with handlers, sorted (for ``list-commands``)."""
        return sorted(self._commands[h] for h in self._commands if h in self._callouts)

    def call_command(self, command: str, message: Mapping[str, Any], element: Any = None) -> Any:
        """Run ``command``'s handlers on ``message`` (the whole command map,
        ``{"command": ..., "arguments": ...}``); returns the ``response``
        argument they set (None if none did: a handler failed), or a Deferred
        of it.  Kea's ``HookedCommandMgr::delegateCommandToHookLibrary``.
        ``element``, the command as positioned Element, is passed as the
        ``command_element`` argument so errors can name ``<wire>:0:N``."""
        arguments = {"command": message, "response": None}
        if element is not None:
            arguments["command_element"] = element
        handle = self.create_handle(**arguments)
        step = self.call(command_hook_name(command), handle)
        if isinstance(step, Deferred):
            return step.addCallback(lambda _: self._command_done(handle))
        return self._command_done(handle)

    def _command_done(self, handle: CalloutHandle) -> Any:
        response = handle.arguments.get("response")
        self.release_handle(handle)
        return response


# ---------------------------------------------------------------------------
# Loader


VALIDATE_FAILED_TEXT = "hooks libraries failed to validate - library or libraries in error are: "
LOAD_FAILED_TEXT = "One or more hook libraries failed to load"


@dataclass(frozen=True)
class HookLibraryFailure:
    """One library that could not be used.

    :ivar stage: ``"validate"`` (cannot be imported, no single
        IHookLibrary, verifyObject fails: Kea's ``validateLibraries``) or
        ``"load"`` (its ``load()`` failed).
    """

    library: str
    reason: str
    stage: str = "validate"


class HookLoadError(Exception):
    """Libraries could not be validated or loaded.

    ``str()`` is Kea's text: for validation ``hooks libraries failed to
    validate - library or libraries in error are: a, b``
    (``hooks_config.cc`` ``verifyLibraries``; staging adds the position),
    for ``load()`` ``One or more hook libraries failed to load``
    (``HooksConfig::loadLibraries``; Kea names the library only in the
    log: ``HOOKS_LOAD_ERROR``, then ``DHCP4_CONFIG_LOAD_FAIL ... reason: One
    or more hook libraries failed to load``, and the failing library's
    ``unload()`` has run [obs: kea-dhcp4 2.2 with a load() returning 1]).
    :attr:`failures` names each library and why.
    """

    def __init__(self, message: str, failures: Sequence[HookLibraryFailure]):
        super().__init__(message)
        self.message = message
        self.failures: Tuple[HookLibraryFailure, ...] = tuple(failures)

    @property
    def libraries(self) -> List[str]:
        return [f.library for f in self.failures]


class _LibraryNotFound(Exception):
    pass


def _builtin_table(builtins: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    if builtins is not None:
        return builtins
    from kea_twisted.config.staging import BUILTIN_HOOK_LIBRARIES

    return BUILTIN_HOOK_LIBRARIES


def _module_name_for(path: str) -> str:
    absolute = os.path.abspath(path)
    stem = "".join(c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(absolute))[0])
    digest = hashlib.sha1(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"kea_twisted_hooklib_{stem}_{digest}"


def _import_file(path: str) -> ModuleType:
    if not os.path.isfile(path):
        raise _LibraryNotFound(f"{path}: no such file")
    name = _module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _LibraryNotFound(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        raise
    return module


def _library_in(module: ModuleType) -> Any:
    # As twisted.plugin.getPlugins: module attributes providing the interface.
    found: List[Any] = []
    for value in vars(module).values():
        if IHookLibrary.providedBy(value) and not any(value is f for f in found):
            found.append(value)
    if not found:
        raise _LibraryNotFound(f"{module.__name__}: no object provides IHookLibrary")
    if len(found) > 1:
        raise _LibraryNotFound(
            f"{module.__name__}: {len(found)} objects provide IHookLibrary, expected one"
        )
    library = found[0]
    try:
        verifyObject(IHookLibrary, library)
    except Invalid as e:
        raise _LibraryNotFound(f"{module.__name__}: {e}".strip()) from None
    return library


def _installed_plugin(path: str) -> Any:
    """A hook library an installed package contributes through Twisted's
    plugin system: an object in a ``twisted/plugins/`` module providing
    ``IPlugin`` and :class:`IHookLibrary`, whose ``name`` is the entry's
    ``library`` value or its basename (``"my_hook"`` or ``".../my_hook"``).
    None when there is none."""
    from twisted.plugin import getPlugins

    wanted = {path, os.path.basename(path)}
    for plugin in getPlugins(IHookLibrary):
        if getattr(plugin, "name", None) in wanted:
            verifyObject(IHookLibrary, plugin)
            return plugin
    return None


def find_hook_library(path: str, builtins: Optional[Mapping[str, str]] = None) -> Any:
    """Import the library named by a ``hooks-libraries`` path and return its
    IHookLibrary object.

    Kea's shared-object names (by basename) map to built-in modules through
    ``builtins`` (default: ``staging.BUILTIN_HOOK_LIBRARIES``); other paths
    ending in ``.py`` are imported as files under a module name unique to the
    path (again on each call, as Kea re-opens the library); any other name is
    looked up among installed plugins (:func:`_installed_plugin`).  When
    paths are confined (:mod:`kea_twisted.paths`) a bare ``.py`` name is
    looked up in the hooks directory and a file elsewhere is refused.
    Raises :class:`HookLoadError` with one validation failure.
    """
    try:
        module_name = _builtin_table(builtins).get(os.path.basename(path))
        if module_name is not None:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as e:
                if e.name is not None and module_name.startswith(e.name):
                    raise _LibraryNotFound(f"built-in module {module_name} is not available") from None
                raise
        elif path.endswith(".py"):
            # Kea 2.6.3's hooks directory: a bare name is looked up there and
            # a path elsewhere is refused, when paths are confined.
            from kea_twisted.paths import PathError, current_policy

            try:
                located = current_policy().hook_library(path)
            except PathError as e:
                raise _LibraryNotFound(str(e)) from None
            module = _import_file(located)
        else:
            module = None
            library = _installed_plugin(path)
            if library is None:
                raise _LibraryNotFound(f"{path}: not a built-in library, not a .py file, "
                                       "and no installed plugin of that name")
        if module is not None:
            library = _library_in(module)
    except _LibraryNotFound as e:
        reason = str(e)
    except Exception as e:
        reason = f"{type(e).__name__}: {e}"
        _hooks_log.failure(
            "{msgid} failed to open hook library {library}: {reason}",
            msgid="HOOKS_OPEN_ERROR",
            library=path,
            reason=reason,
            level=LogLevel.error,
        )
        raise HookLoadError(VALIDATE_FAILED_TEXT + path, [HookLibraryFailure(path, reason)]) from None
    else:
        return library
    _hooks_log.error(
        "{msgid} failed to open hook library {library}: {reason}",
        msgid="HOOKS_OPEN_ERROR",
        library=path,
        reason=reason,
    )
    raise HookLoadError(VALIDATE_FAILED_TEXT + path, [HookLibraryFailure(path, reason)])


def _resolve(
    paths: Iterable[str], builtins: Optional[Mapping[str, str]], multi_threading: bool
) -> Tuple[List[Any], List[HookLibraryFailure]]:
    objects: List[Any] = []
    failures: List[HookLibraryFailure] = []
    for path in paths:
        try:
            library = find_hook_library(path, builtins)
        except HookLoadError as e:
            failures.extend(e.failures)
            continue
        if multi_threading:
            try:
                compatible = bool(_optional_value(library, "multi_threading_compatible"))
            except Exception:
                compatible = False
                _hooks_log.error(
                    "{msgid} 'multi_threading_compatible' function in hook library {library} threw an exception",
                    msgid="HOOKS_MULTI_THREADING_COMPATIBLE_EXCEPTION",
                    library=path,
                )
            if not compatible:
                _hooks_log.error(
                    "{msgid} hooks library {library} is not compatible with multi-threading",
                    msgid="HOOKS_LIBRARY_MULTI_THREADING_NOT_COMPATIBLE",
                    library=path,
                )
                failures.append(HookLibraryFailure(path, "not compatible with multi-threading"))
                continue
        objects.append(library)
    return objects, failures


def validate_hook_libraries(
    paths: Sequence[str],
    builtins: Optional[Mapping[str, str]] = None,
    *,
    multi_threading: bool = False,
) -> List[HookLibraryFailure]:
    """Kea's ``validateLibraries``: the libraries that cannot be used, in
    order (empty when all can).  Imports but does not ``load()``; with
    ``multi_threading`` a library must say it is compatible."""
    return _resolve(paths, builtins, multi_threading)[1]


_Entry = Union[Tuple[str, Optional[Mapping[str, Any]]], Any]


def _entry_parts(entry: _Entry) -> Tuple[str, Mapping[str, Any]]:
    if isinstance(entry, tuple):
        path, parameters = entry
    else:  # a config model object with .library / .parameters
        path, parameters = entry.library, getattr(entry, "parameters", None)
    if parameters is not None and hasattr(parameters, "to_python"):
        parameters = parameters.to_python()
    return path, dict(parameters or {})


def load_library_objects(
    libraries: Sequence[Tuple[str, Any, Optional[Mapping[str, Any]]]],
    *,
    previous: Optional[HookRunner] = None,
    server: Any = None,
) -> HookRunner:
    """A runner with ``libraries`` — (name, library object, parameters) —
    loaded in order, after unloading ``previous``.

    If one ``load()`` fails, the libraries loaded so far are unloaded in
    reverse order (``library_manager_collection.cc`` ``loadLibraries``)
    and :class:`HookLoadError` is raised; ``previous`` stays unloaded, as in
    Kea, which unloads before loading.
    """
    if previous is not None:
        previous.unload_all()
    runner = HookRunner(server)
    for name, library, parameters in libraries:
        try:
            runner.add_library(name, library, parameters)
        except HookLoadError:
            runner.unload_all()
            raise
    return runner


def load_hook_libraries(
    entries: Sequence[_Entry],
    builtins: Optional[Mapping[str, str]] = None,
    *,
    previous: Optional[HookRunner] = None,
    multi_threading: bool = False,
    server: Any = None,
) -> HookRunner:
    """Load ``hooks-libraries`` entries — ``(path, parameters)`` pairs or
    objects with ``library`` and ``parameters`` — into a new runner.

    All libraries are validated first; any failure raises
    :class:`HookLoadError` (Kea's "failed to validate" text listing every
    failing path) before ``previous`` is touched.  Then ``previous`` is
    unloaded (reverse order) and the new libraries are loaded in order;
    a ``load()`` failure raises :class:`HookLoadError` ("One or more hook
    libraries failed to load").
    """
    parts = [_entry_parts(e) for e in entries]
    objects, failures = _resolve([p for p, _ in parts], builtins, multi_threading)
    if failures:
        raise HookLoadError(VALIDATE_FAILED_TEXT + ", ".join(f.library for f in failures), failures)
    return load_library_objects(
        [(path, obj, params) for (path, params), obj in zip(parts, objects)],
        previous=previous,
        server=server,
    )
