"""
Kea's control commands: the command table, parsing, dispatch, result codes,
and the built-in commands that need no DHCP engine.

Pure: no reactor, no sockets.  The unix socket (:mod:`kea_twisted.net.control`)
and the HTTP resource hand a parsed JSON value to
:meth:`CommandTable.process` and write back the answer it fires with.

Kea's pieces, in our words ([src] Kea 2.2 ``src/lib/cc/command_interpreter.cc``,
``src/lib/config/base_command_mgr.cc``, ``hooked_command_mgr.cc``,
``src/lib/stats/stats_mgr.cc``, ``src/bin/dhcp4/ctrl_dhcp4_srv.cc``;
spec/control-channel.md §1.3-§3):

* :func:`parse_command` — the command must be a map with a ``command``
  string; ``arguments``, ``service`` and ``remote-address`` are the only
  other keys allowed (``service`` and ``remote-address`` are ignored).  A
  bad command is result 1 ``Error during command processing: <why>`` — with
  Kea's wording "Invalid answer specified" for a missing ``command``.
* Dispatch — a hook library's handler for the name wins over the built-in
  one (except for ``list-commands``); an unknown name is result 2
  ``'<name>' command not supported.`` (case-sensitive, untrimmed); a
  handler that raises is result 1 ``Error during command processing: <error>``
  (logged), never a dropped connection.  Handlers may answer with a dict or
  a Deferred of one.  ``command_processed`` callouts see every answer.
* ``list-commands`` — every name, built-in and hook, in byte order.
* Handlers get a :class:`Command`: the arguments both as plain values and
  as the positioned :class:`~kea_twisted.config.element.Element` they came
  in as, so that errors can name ``<wire>:0:40`` as Kea's do.  The typed
  accessors (:func:`element_get`, :func:`int_value`, …) raise Kea's type
  errors (``intValue() called on non-integer Element in (<wire>:0:85)``).

Two Kea 2.2 crash bugs are refused (spec §3): ``statistic-sample-count-set``
with ``max-samples`` 0 (Kea accepts it and then fails every use of the
statistic, stopping DHCP) answers ``'max-samples' parameter must not be
zero`` as the ``-all`` form does; a negative ``duration`` (Kea aborts)
answers ``'duration' parameter must not be negative``.  A ``max-samples``
outside 1..4294967295 (Kea silently truncates it to 32 bits) answers
``'max-samples' parameter must be between 1 and 4294967295``.

Tests: tests/test_commands.py
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Union

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.python.failure import Failure

from kea_twisted.config.element import Element, MapElement, from_python
from kea_twisted.kea_json import kea_bytes
from kea_twisted.logs import KeaLogger
from kea_twisted.stats import StatsError, StatsMgr

__all__ = [
    "RESULT_SUCCESS",
    "RESULT_ERROR",
    "RESULT_UNSUPPORTED",
    "RESULT_EMPTY",
    "CommandError",
    "ElementTypeError",
    "Command",
    "Handler",
    "answer",
    "parse_command",
    "element_get",
    "int_value",
    "string_value",
    "bool_value",
    "double_value",
    "CommandTable",
    "KEA_VERSION",
    "install_builtin_commands",
    "install_statistic_commands",
    "USER_ORIGIN",
    "HA_ORIGIN",
    "DB_ORIGIN",
    "NetworkState",
    "ServerStatus",
    "dhcp_disable",
    "dhcp_enable",
    "status_get",
    "install_server_state_commands",
]

# The namespace Logger() gave it; a KeaLogger skips, under the daemon's log
# gate, the COMMAND_RECEIVED line of every HA lease update when INFO is off.
log = KeaLogger(namespace=__name__)

#: Kea's result codes ([src] ``command_interpreter.h``).
RESULT_SUCCESS = 0
RESULT_ERROR = 1
RESULT_UNSUPPORTED = 2
RESULT_EMPTY = 3

KEA_VERSION = "2.2.0"

_ALLOWED_KEYS = ("command", "arguments", "service", "remote-address")
_PROCESSING_ERROR = "Error during command processing: "


class CommandError(Exception):
    """A command Kea refuses; ``str()`` is Kea's text (without the
    ``Error during command processing: `` prefix the table adds)."""


class ElementTypeError(CommandError):
    """Kea's ``isc::data::TypeError``: a value of the wrong JSON type was
    used, named with its position when it has one."""

    def __init__(self, message: str, element: Optional[Element] = None):
        pos = getattr(element, "pos", None)
        if pos is not None and (pos.file or pos.line or pos.col):
            message = f"{message} in ({pos})"
        super().__init__(message)


def answer(result: int, text: Optional[str] = None, arguments: Any = None) -> Dict[str, Any]:
    """Kea's ``createAnswer``: ``result``, then ``text`` unless empty, then
    ``arguments`` unless None.  A failure must have a text."""
    if result != RESULT_SUCCESS and not text:
        raise ValueError("Text has to be provided for status_code != 0")
    response: Dict[str, Any] = {"result": result}
    if text:
        response["text"] = text
    if arguments is not None:
        response["arguments"] = arguments
    return response


# ---------------------------------------------------------------------------
# Typed access with Kea's errors


def element_get(element: Optional[Element], key: str) -> Optional[Element]:
    """``element->get(key)``: None when absent; a non-map raises Kea's
    ``get(string) called on a non-map Element``."""
    if not isinstance(element, MapElement):
        raise ElementTypeError("get(string) called on a non-map Element", element)
    return element.get(key)


def int_value(element: Element) -> int:
    if element.kind != "integer":
        raise ElementTypeError("intValue() called on non-integer Element", element)
    return element.to_python()


def double_value(element: Element) -> float:
    if element.kind != "real":
        raise ElementTypeError("doubleValue() called on non-double Element", element)
    return element.to_python()


def bool_value(element: Element) -> bool:
    if element.kind != "boolean":
        raise ElementTypeError("boolValue() called on non-Bool Element", element)
    return element.to_python()


def string_value(element: Element) -> str:
    if element.kind != "string":
        raise ElementTypeError("stringValue() called on non-string Element", element)
    return element.to_python()


# ---------------------------------------------------------------------------
# Commands


@dataclass(frozen=True)
class Command:
    """One parsed command.

    ``arguments`` is the plain value (None when absent *or* null; tell them
    apart with ``arguments_element``, which is None only when absent — Kea
    treats ``"arguments": null`` as a present, non-map value).
    ``message`` is the whole command as plain values (what hook libraries'
    command handlers receive).
    """

    name: str
    arguments: Any = None
    arguments_element: Optional[Element] = None
    message: Dict[str, Any] = field(default_factory=dict)
    element: Optional[Element] = None

    @property
    def has_arguments(self) -> bool:
        return self.arguments_element is not None


Handler = Callable[[Command], Union[Dict[str, Any], "Deferred[Dict[str, Any]]"]]


def parse_command(request: Any) -> Command:
    """Kea's ``parseCommand`` over a positioned element (from
    :func:`kea_twisted.kea_json.from_wire`) or plain values.

    :raises CommandError: with Kea's text.
    """
    element = request if isinstance(request, Element) else from_python(request)
    if not isinstance(element, MapElement):
        raise CommandError("Invalid command Element specified, expected map")
    if "command" not in element:
        raise CommandError("Invalid answer specified, does not contain mandatory 'command'")
    # Kea walks its std::map: the first unsupported key in byte order.
    for key in sorted(element.keys(), key=kea_bytes):
        if key not in _ALLOWED_KEYS:
            raise CommandError(f"Received command contains unsupported parameter '{key}'")
    name_element = element["command"]
    if name_element.kind != "string":
        raise CommandError("'command' element in command message is not a string")
    arguments_element = element.get("arguments")
    return Command(
        name=name_element.to_python(),
        arguments=None if arguments_element is None else arguments_element.to_python(),
        arguments_element=arguments_element,
        message=element.to_python(),
        element=element,
    )


def _plain_copy(value: Any) -> Any:
    """``from_python(value).to_python()`` without the elements: a copy of
    the maps and lists, keys as ``str``, the same TypeError for a value
    that is not JSON."""
    kind = value.__class__
    if kind is dict:
        return {key if key.__class__ is str else str(key): _plain_copy(member)
                for key, member in value.items()}
    if kind is list or kind is tuple:
        return [_plain_copy(member) for member in value]
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    return from_python(value).to_python()


def _byte_order(name: str) -> bytes:
    return kea_bytes(name)


class CommandTable:
    """Name → handler, Kea's ``HookedCommandMgr``.

    The server registers its commands (``table.register("config-get",
    handler)``); hook libraries' command handlers come through ``hooks``
    (a :class:`kea_twisted.hooks.HookRunner`: ``has_command``,
    ``commands``, ``call_command``, and the ``command_processed`` hook
    point), which may be set or replaced at any time (reconfiguration
    reloads libraries).
    """

    def __init__(self, hooks: Any = None):
        self._handlers: Dict[str, Handler] = {}
        self.hooks = hooks
        self._handlers["list-commands"] = self._list_commands

    # -- the table -------------------------------------------------------------

    def register(self, name: str, handler: Handler, replace: bool = False) -> None:
        """Add ``name``; Kea refuses a second handler for a name."""
        if name in self._handlers and not replace:
            raise ValueError(f"Handler for command '{name}' is already installed.")
        self._handlers[name] = handler

    def unregister(self, name: str) -> None:
        if name == "list-commands":
            raise ValueError("Can't uninstall internal command 'list-commands'")
        if name not in self._handlers:
            raise ValueError(f"Handler for command '{name}' not found.")
        del self._handlers[name]

    def __contains__(self, name: str) -> bool:
        return name in self._handlers or self._hook_has(name)

    def _hook_has(self, name: str) -> bool:
        hooks = self.hooks
        return hooks is not None and bool(hooks.has_command(name))

    def names(self) -> List[str]:
        """Every command, built-in and hook, in byte order (what
        ``list-commands`` shows)."""
        names = set(self._handlers)
        if self.hooks is not None:
            names.update(self.hooks.commands())
        return sorted(names, key=_byte_order)

    def _list_commands(self, command: Command) -> Dict[str, Any]:
        return answer(RESULT_SUCCESS, arguments=self.names())

    # -- processing ------------------------------------------------------------

    def process(self, request: Any) -> "Deferred[Dict[str, Any]]":
        """Parse and run one command; fires with the answer (never fails).

        A plain map for a hook library's command that :func:`parse_command`
        would accept as it is (every lease update an HA partner sends) goes
        to the library without being wrapped in elements: the library
        gets a copy of the map, as :func:`parse_command` would give it, and
        no ``command_element`` (which would carry no position anyway); a
        library that needs elements builds them from the map.  The
        ``command_processed`` callouts then see the ``arguments`` of that
        copy (Kea hands both the same const element)."""
        if request.__class__ is dict:
            name = request.get("command")
            if (name.__class__ is str and name != "list-commands" and self._hook_has(name)
                    and all(key in _ALLOWED_KEYS for key in request)):
                message = _plain_copy(request)
                log.info("{msgid} Received command '{name}'", msgid="COMMAND_RECEIVED", name=name)
                d = self._answered(maybeDeferred(self.hooks.call_command, name, message, None), name)
                return self._processed(d, name, message.get("arguments"))
        try:
            command = parse_command(request)
        except CommandError as error:
            log.warn("{msgid} {error}", msgid="COMMAND_PROCESS_ERROR2", error=str(error))
            return succeed(answer(RESULT_ERROR, _PROCESSING_ERROR + str(error)))
        log.info("{msgid} Received command '{name}'", msgid="COMMAND_RECEIVED", name=command.name)
        return self._processed(self.dispatch(command), command.name, command.arguments)

    def _processed(self, d: "Deferred[Dict[str, Any]]", name: str,
                   arguments: Any) -> "Deferred[Dict[str, Any]]":
        """The answer after the ``command_processed`` callouts."""
        if self.hooks is not None and self.hooks.has_callouts("command_processed"):
            d.addCallback(self._command_processed, name, arguments)
        return d

    def execute(self, name: str, arguments: Any = None) -> "Deferred[Dict[str, Any]]":
        """Run ``name`` as if it had been received (for internal callers)."""
        message: Dict[str, Any] = {"command": name}
        if arguments is not None:
            message["arguments"] = arguments
        return self.process(message)

    def dispatch(self, command: Command) -> "Deferred[Dict[str, Any]]":
        """Run ``command``'s handler; errors become result 1 answers."""
        name = command.name
        if name != "list-commands" and self._hook_has(name):
            d = maybeDeferred(self.hooks.call_command, name, command.message, command.element)
        else:
            handler = self._handlers.get(name)
            if handler is None:
                return succeed(answer(RESULT_UNSUPPORTED, f"'{name}' command not supported."))
            d = maybeDeferred(handler, command)
        return self._answered(d, name)

    def _answered(self, d: "Deferred[Any]", name: str) -> "Deferred[Dict[str, Any]]":
        """A handler's result made an answer: none and failures are result 1."""
        d.addCallbacks(self._check_response, self._handler_failed, callbackArgs=(name,),
                       errbackArgs=(name,))
        return d

    @staticmethod
    def _check_response(response: Any, name: str) -> Dict[str, Any]:
        if response is None:
            log.warn("{msgid} no response for command '{name}'",
                     msgid="COMMAND_RESPONSE_ERROR", name=name)
            return answer(RESULT_ERROR, "internal server error: no response generated")
        return response

    @staticmethod
    def _handler_failed(failure: Failure, name: str) -> Dict[str, Any]:
        error = failure.value
        if isinstance(error, (CommandError, StatsError)):
            log.warn("{msgid} {error}", msgid="COMMAND_PROCESS_ERROR2", error=str(error))
        else:
            log.failure("{msgid} command '{name}' failed", failure,
                        msgid="COMMAND_PROCESS_ERROR2", name=name)
        return answer(RESULT_ERROR, _PROCESSING_ERROR + str(error))

    def _command_processed(self, response: Dict[str, Any], name: str, arguments: Any) -> Any:
        hooks = self.hooks
        handle = hooks.create_handle(name=name, arguments=arguments, response=response)

        def done(_: Any) -> Dict[str, Any]:
            result = handle.get_argument("response", response)
            hooks.release_handle(handle)
            return result

        def failed(failure: Failure) -> Dict[str, Any]:
            log.failure("command_processed callouts failed", failure)
            hooks.release_handle(handle)
            return response

        return maybeDeferred(hooks.call, "command_processed", handle).addCallbacks(done, failed)


# ---------------------------------------------------------------------------
# version-get, build-report


def _extended_version() -> str:
    import twisted

    return "\n".join([
        KEA_VERSION,
        "kea_twisted",
        "linked with:",
        f"Twisted {twisted.__version__}",
        f"Python {platform.python_version()}",
        "database:",
        "Memfile backend 2.1",
    ])


def _build_report() -> str:
    import twisted

    lines = [
        " ",
        "        kea_twisted configure results:",
        "     -=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-",
        " ",
        " Package:",
        "   Name:              kea_twisted",
        f"   Version:           {KEA_VERSION}",
        f"   Extended version:  {KEA_VERSION} (kea_twisted)",
        "   Version type:      stable",
        " ",
        " Python:",
        f"   Version:           {platform.python_version()}",
        f"   Implementation:    {platform.python_implementation()}",
        " ",
        " Twisted:",
        f"   Version:           {twisted.__version__}",
        " ",
        " Lease backends:",
        "   Memfile:           yes",
        " ",
    ]
    return "\n".join(lines)


def install_builtin_commands(
    table: CommandTable,
    version: str = KEA_VERSION,
    extended: Optional[str] = None,
    build_report: Optional[str] = None,
) -> None:
    """``version-get`` (text = the version, ``arguments.extended`` the long
    form) and ``build-report`` (text only).  Arguments are ignored."""
    extended_text = _extended_version() if extended is None else extended
    report = _build_report() if build_report is None else build_report

    def version_get(command: Command) -> Dict[str, Any]:
        return answer(RESULT_SUCCESS, version, {"extended": extended_text})

    def build_report_handler(command: Command) -> Dict[str, Any]:
        return answer(RESULT_SUCCESS, report)

    table.register("version-get", version_get)
    table.register("build-report", build_report_handler)


# ---------------------------------------------------------------------------
# statistic-*

_MAX_UINT32 = 2**32 - 1


class _StatisticRefused(Exception):
    """A ``statistic-*`` argument Kea refuses: the handler answers result 1
    with Kea's text as it is (no ``Error during command processing``
    prefix, no log: unlike :class:`CommandError`)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.answer = answer(RESULT_ERROR, text)


def _refusal_answered(handler: Handler) -> Handler:
    @functools.wraps(handler)
    def run(command: Command) -> Dict[str, Any]:
        try:
            return handler(command)
        except _StatisticRefused as refused:
            return refused.answer
    return run


def _stat_argument(command: Command, key: str) -> Element:
    params = command.arguments_element
    value = None if params is None else element_get(params, key)
    if value is None:
        raise _StatisticRefused(f"Missing mandatory '{key}' parameter.")
    return value


def _stat_name(command: Command) -> str:
    name = _stat_argument(command, "name")
    if name.kind != "string":
        raise _StatisticRefused("'name' parameter expected to be a string.")
    return name.to_python()


def _stat_duration(command: Command) -> int:
    seconds = int_value(_stat_argument(command, "duration"))
    if seconds < 0:
        # Kea 2.2 aborts (free(): invalid pointer), spec §3.
        raise _StatisticRefused("'duration' parameter must not be negative")
    return seconds


def _stat_max_samples(command: Command) -> int:
    max_samples = _stat_argument(command, "max-samples")
    if max_samples.kind != "integer":
        raise _StatisticRefused("'max-samples' parameter expected to be an integer.")
    count = max_samples.to_python()
    if count == 0:
        # Kea 2.2 accepts 0 for one statistic and then breaks it, spec §3.
        raise _StatisticRefused("'max-samples' parameter must not be zero")
    if not 1 <= count <= _MAX_UINT32:
        raise _StatisticRefused(f"'max-samples' parameter must be between 1 and {_MAX_UINT32}")
    return count


def install_statistic_commands(
    table: CommandTable,
    stats: StatsMgr,
    on_defaults_changed: Optional[Callable[[int, int], None]] = None,
) -> None:
    """The ten ``statistic-*`` commands over ``stats``.

    ``on_defaults_changed(sample_count, sample_age)`` runs after a
    successful ``-set-all``: Kea writes the new defaults into the running
    configuration's ``statistic-default-sample-count`` / ``-age`` (0 for
    the count when the age limit is the default), so ``config-get`` shows
    them.
    """

    def defaults_changed() -> None:
        if on_defaults_changed is not None:
            count = stats.default_max_sample_count or 0
            on_defaults_changed(count, int(stats.default_max_sample_age))

    def get(command: Command) -> Dict[str, Any]:
        return answer(RESULT_SUCCESS, arguments=stats.get(_stat_name(command)))

    def get_all(command: Command) -> Dict[str, Any]:
        return answer(RESULT_SUCCESS, arguments=stats.get_all())

    def reset(command: Command) -> Dict[str, Any]:
        name = _stat_name(command)
        if stats.reset(name):
            return answer(RESULT_SUCCESS, f"Statistic '{name}' reset.")
        return answer(RESULT_ERROR, f"No '{name}' statistic found")

    def reset_all(command: Command) -> Dict[str, Any]:
        stats.reset_all()
        return answer(RESULT_SUCCESS, "All statistics reset to neutral values.")

    def remove(command: Command) -> Dict[str, Any]:
        name = _stat_name(command)
        if stats.remove(name):
            return answer(RESULT_SUCCESS, f"Statistic '{name}' removed.")
        return answer(RESULT_ERROR, f"No '{name}' statistic found")

    def remove_all(command: Command) -> Dict[str, Any]:
        stats.remove_all()
        return answer(RESULT_SUCCESS, "Warning: statistic-remove-all command is deprecated."
                                      " All statistics removed.")

    def sample_age_set(command: Command) -> Dict[str, Any]:
        name = _stat_name(command)
        if stats.set_max_sample_age(name, _stat_duration(command)):
            return answer(RESULT_SUCCESS, f"Statistic '{name}' duration limit is set.")
        return answer(RESULT_ERROR, f"No '{name}' statistic found")

    def sample_count_set(command: Command) -> Dict[str, Any]:
        name = _stat_name(command)
        if stats.set_max_sample_count(name, _stat_max_samples(command)):
            return answer(RESULT_SUCCESS, f"Statistic '{name}' count limit is set.")
        return answer(RESULT_ERROR, f"No '{name}' statistic found")

    def sample_age_set_all(command: Command) -> Dict[str, Any]:
        stats.set_max_sample_age_all(_stat_duration(command))
        defaults_changed()
        return answer(RESULT_SUCCESS, "All statistics duration limit are set.")

    def sample_count_set_all(command: Command) -> Dict[str, Any]:
        stats.set_max_sample_count_all(_stat_max_samples(command))
        defaults_changed()
        return answer(RESULT_SUCCESS, "All statistics count limit are set.")

    for name, handler in (
        ("statistic-get", get),
        ("statistic-get-all", get_all),
        ("statistic-reset", reset),
        ("statistic-reset-all", reset_all),
        ("statistic-remove", remove),
        ("statistic-remove-all", remove_all),
        ("statistic-sample-age-set", sample_age_set),
        ("statistic-sample-age-set-all", sample_age_set_all),
        ("statistic-sample-count-set", sample_count_set),
        ("statistic-sample-count-set-all", sample_count_set_all),
    ):
        table.register(name, _refusal_answered(handler))


# ---------------------------------------------------------------------------
# dhcp-disable, dhcp-enable, status-get

#: Origins of ``NetworkState`` changes: ``dhcp-disable``'s ``"origin":
#: "user"`` (default) and ``"ha-partner"`` map to :data:`USER_ORIGIN` and
#: :data:`HA_ORIGIN` — the origin the HA service itself uses
#: (``hooks.ha.states.HA_ORIGIN``); :data:`DB_ORIGIN` counts.
USER_ORIGIN = "user"
HA_ORIGIN = "ha"
DB_ORIGIN = "db"


class NetworkState:
    """Kea's ``NetworkState`` ([src] ``src/lib/dhcpsrv/network_state.cc``):
    DHCP service is on when no origin has it disabled.

    Per origin, not counted: two user disables are undone by one user
    enable; a user enable does not undo an HA disable (spec §2.10).  The
    database origin counts.  ``delayed_enable_all(seconds, origin)`` arms a
    one-shot timer (one per origin, re-arming replaces it) that enables
    that origin; like Kea 2.2, ``enable_service`` does not disarm it.

    :param reactor: anything with ``callLater`` (``IReactorTime``); needed
        only for delayed enabling.
    """

    def __init__(self, reactor: Any = None):
        self.reactor = reactor
        self.disabled_by_user = False
        self.disabled_by_ha = False
        self.disabled_by_db = 0
        self._timers: Dict[str, Any] = {}

    def is_service_enabled(self) -> bool:
        return not (self.disabled_by_user or self.disabled_by_ha or self.disabled_by_db)

    def disable_service(self, origin: str = USER_ORIGIN) -> None:
        if origin == USER_ORIGIN:
            self.disabled_by_user = True
        elif origin == HA_ORIGIN:
            self.disabled_by_ha = True
        elif origin == DB_ORIGIN:
            self.disabled_by_db += 1
        else:
            raise ValueError(f"unknown origin {origin!r}")

    def enable_service(self, origin: str = USER_ORIGIN) -> None:
        if origin == USER_ORIGIN:
            self.disabled_by_user = False
        elif origin == HA_ORIGIN:
            self.disabled_by_ha = False
        elif origin == DB_ORIGIN:
            if self.disabled_by_db:
                self.disabled_by_db -= 1
        else:
            raise ValueError(f"unknown origin {origin!r}")

    def reset(self, origin: str) -> None:
        if origin == DB_ORIGIN:
            self.disabled_by_db = 0
        else:
            self.enable_service(origin)

    def enable_all(self, origin: str) -> None:
        """Enable for ``origin`` and disarm its delayed-enable timer."""
        self.enable_service(origin)
        self._cancel_timer(origin)

    def delayed_enable_all(self, seconds: float, origin: str) -> None:
        if origin == DB_ORIGIN:
            raise ValueError("DB connection does not support delayed enable")
        if self.reactor is None:
            raise RuntimeError("delayed enable needs a reactor")
        self._cancel_timer(origin)
        self._timers[origin] = self.reactor.callLater(seconds, self._delayed_enable, origin)

    def _delayed_enable(self, origin: str) -> None:
        self._timers.pop(origin, None)
        self.enable_all(origin)

    def is_delayed_enable_all(self) -> bool:
        return bool(self._timers)

    def _cancel_timer(self, origin: str) -> None:
        timer = self._timers.pop(origin, None)
        if timer is not None and timer.active():
            timer.cancel()

    def stop(self) -> None:
        """Disarm every timer (server shutdown)."""
        for origin in list(self._timers):
            self._cancel_timer(origin)


def _origin(command_name: str, arguments: Optional[Element]) -> tuple:
    """(message, max_period, origin) as Kea's two handlers parse them;
    ``message`` collects every complaint, concatenated as Kea does."""
    message = ""
    max_period = 0
    origin = USER_ORIGIN
    if arguments is None:
        return message, max_period, origin
    if not isinstance(arguments, MapElement):
        return f"arguments for the '{command_name}' command must be a map", 0, origin
    if command_name == "dhcp-disable":
        element = arguments.get("max-period")
        if element is not None:
            if element.kind != "integer":
                message += "'max-period' argument must be a number"
            else:
                max_period = element.to_python()
                if max_period <= 0:
                    message += "'max-period' must be positive integer"
    element = arguments.get("origin")
    if element is not None:
        if element.kind != "string":
            message += "'origin' argument must be a string"
        else:
            text = element.to_python()
            if text == "ha-partner":
                origin = HA_ORIGIN
            elif text != "user":
                message += ("invalid value used for 'origin' parameter: "
                            + (text or "(empty string)"))
    return message, max_period, origin


def dhcp_disable(network_state: Any, command: Command) -> Dict[str, Any]:
    """``dhcp-disable [max-period] [origin]`` ([src] ``ctrl_dhcp4_srv.cc``)."""
    message, max_period, origin = _origin("dhcp-disable", command.arguments_element)
    if message:
        return answer(RESULT_ERROR, message)
    text = "DHCPv4 service disabled"
    if max_period > 0:
        text += f" for {max_period} seconds"
        network_state.delayed_enable_all(max_period, origin)
    network_state.disable_service(origin)
    return answer(RESULT_SUCCESS, text)


def dhcp_enable(network_state: Any, command: Command) -> Dict[str, Any]:
    """``dhcp-enable [origin]``: note "DHCP", not "DHCPv4", in the answer."""
    message, _max_period, origin = _origin("dhcp-enable", command.arguments_element)
    if message:
        return answer(RESULT_ERROR, message)
    network_state.enable_service(origin)
    return answer(RESULT_SUCCESS, "DHCP service successfully enabled")


@dataclass
class ServerStatus:
    """What ``status-get`` reports, supplied by the server.

    ``clock`` gives seconds since the epoch; ``start_time`` and
    ``last_commit_time`` (the last successful configuration) are on the
    same clock.  ``socket_errors`` lists the DHCP sockets' open errors;
    ``sockets_retrying`` says whether ``service-sockets-max-retries`` still
    has retries left.
    """

    clock: Callable[[], float]
    start_time: float
    pid: int = field(default_factory=os.getpid)
    last_commit_time: Optional[float] = None
    multi_threading: bool = False
    socket_errors: Callable[[], List[str]] = lambda: []
    sockets_retrying: Callable[[], bool] = lambda: False


def status_get(status: ServerStatus, command: Command) -> Dict[str, Any]:
    """``status-get`` as Kea 2.2 answers without HA or multi-threading:
    ``pid``, ``uptime`` and ``reload`` in whole seconds (Kea's
    ``second_clock``), ``multi-threading-enabled``, ``sockets``.  Kea 2.2
    does not report ``dhcp-disable`` here (spec §2.3); the HA hook adds
    ``high-availability`` through ``command_processed``."""
    now = int(status.clock())
    arguments: Dict[str, Any] = {
        "pid": status.pid,
        "uptime": now - int(status.start_time),
        "multi-threading-enabled": bool(status.multi_threading),
    }
    if status.last_commit_time is not None:
        arguments["reload"] = now - int(status.last_commit_time)
    errors = list(status.socket_errors())
    if not errors:
        arguments["sockets"] = {"status": "ready"}
    else:
        arguments["sockets"] = {
            "status": "retrying" if status.sockets_retrying() else "failed",
            "errors": errors,
        }
    return answer(RESULT_SUCCESS, arguments=arguments)


def install_server_state_commands(
    table: CommandTable, network_state: Any, status: ServerStatus
) -> None:
    """Register ``dhcp-disable``, ``dhcp-enable`` and ``status-get``."""
    table.register("dhcp-disable", functools.partial(dhcp_disable, network_state))
    table.register("dhcp-enable", functools.partial(dhcp_enable, network_state))
    table.register("status-get", functools.partial(status_get, status))
