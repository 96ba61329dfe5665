"""
Kea 2.2's configuration commands: ``config-get``, ``config-test``,
``config-set``, ``config-write`` and ``config-reload``.

The handlers are pure: they speak to the running server only through an
:class:`IConfigController` (the current model, the ``-c`` file, staging,
and the swap), so they run in tests without a reactor.  Kea's texts and
argument checks are kept ([src] Kea 2.2 ``src/bin/dhcp4/ctrl_dhcp4_srv.cc``
``commandConfig*Handler``, ``json_config_parser.cc``; spec/control-channel.md
§2.4-§2.8):

* ``config-get`` answers ``{"Dhcp4": ...}`` as Kea unparses it
  (:mod:`kea_twisted.config.unparse`), no ``text``, arguments ignored;
* ``config-test`` / ``config-set`` want ``{"Dhcp4": {...}}`` and nothing
  else (``Missing mandatory 'arguments' parameter.``, ``Missing mandatory
  'Dhcp4' parameter.``, ``'Dhcp4' parameter expected to be a map.``,
  ``Unsupported 'A' parameter (and 'B').``, in that order); ``Logging`` and
  the other daemons' maps are refused like any other key, as Kea 2.2 does;
* a configuration that arrives over the control channel is checked the way
  Kea checks one that did not come from a file (:func:`check_wire_dhcp4`):
  an unknown global is ``unsupported global configuration parameter: K
  (<wire>:0:N)``, an unknown key in a subnet, shared network, pool,
  option-data or option-def entry is ``spurious 'K' parameter``, a wrong
  type there ``'K' parameter is not an integer``, a global scalar of the
  wrong type ``intValue() called on non-integer Element in (<wire>:0:N)``;
  everything else is reported by the staging pipeline (the semantic texts
  and positions are Kea's);
* **deliberate difference**: a ``config-set`` or ``config-reload`` that
  fails leaves the previous configuration serving.  Kea 2.2 closes its DHCP
  sockets before parsing and does not reopen them, so after a failed
  ``config-set`` it answers no DHCP at all until a good configuration
  arrives (spec §2.6; docs/compatibility.md);
* ``config-write`` writes the running configuration as Kea's
  ``prettyPrint`` does and answers ``{"filename": f, "size": bytes}``;
  ``filename`` defaults to the ``-c`` file; once paths are confined
  (:mod:`kea_twisted.paths`) it must be in the ``-c`` file's directory,
  as in Kea 2.6.3; otherwise relative names are relative to
  the working directory (no path restriction, as in 2.2);
* ``config-reload`` re-reads the ``-c`` file: ``Config reload failed:
  configuration error using file '<path>': <error>``.

Reconfigurations (``config-set``, ``config-reload``) run one at a time.

Tests: tests/test_config_commands.py
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from twisted.internet.defer import Deferred, DeferredLock, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface

from kea_twisted.commands import (
    RESULT_ERROR,
    RESULT_SUCCESS,
    Command,
    CommandTable,
    answer,
    element_get,
)
from kea_twisted.config.element import Element, ListElement, MapElement
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.unparse import pretty_print, unparse_config
from kea_twisted.kea_json import kea_bytes

__all__ = [
    "IConfigController",
    "install_config_commands",
    "check_wire_dhcp4",
    "config_get",
    "config_test",
    "config_set",
    "config_write",
    "config_reload",
    "TEST_SUCCESS_TEXT",
    "SET_SUCCESS_TEXT",
    "HOOKS_FAILED_TEXT",
]

log = Logger()

TEST_SUCCESS_TEXT = ("Configuration seems sane. Control-socket, hook-libraries, and D2 "
                     "configuration were sanity checked, but not applied.")
SET_SUCCESS_TEXT = "Configuration successful."
#: Kea's text when the new hook libraries do not load (``HooksConfig::loadLibraries``).
HOOKS_FAILED_TEXT = "One or more hook libraries failed to load"


class IConfigController(Interface):
    """What the configuration commands need from the running server."""

    current = Attribute("The running configuration model "
                        "(:class:`kea_twisted.config.model.Dhcp4Config`).")

    config_path = Attribute("The configuration file given with ``-c`` (str), or None.")

    def stage_element(root: MapElement) -> Any:
        """Validate a whole configuration, ``{"Dhcp4": {...}}`` as a
        positioned :class:`~kea_twisted.config.element.MapElement`, into a
        new model (grammar, build, classes, hook libraries *validated*, not
        loaded).  Must not touch the running server.

        :raises ConfigError: with Kea's text.
        """

    def apply(config: Any) -> "Deferred[bool]":
        """Put a staged model in force (hook libraries, sockets, timers,
        logging; leases kept).  Fires True when the new configuration
        serves; False — or fails with :class:`ConfigError` naming the
        reason — when it could not be put in force, in which case the
        previous configuration must still be serving."""


# ---------------------------------------------------------------------------
# Checks of a configuration that came over the control channel


def _kind_name(kind: str) -> str:
    # Element::typeToName
    return {"integer": "integer", "real": "real", "boolean": "boolean", "string": "string",
            "list": "list", "map": "map", "null": "null"}.get(kind, kind)


def _expected_kind(value: Any) -> Optional[str]:
    """The Element type a grammar value stands for (None: any)."""
    from kea_twisted.config import grammar as G

    if isinstance(value, G.Scalar):
        return value.kind
    if isinstance(value, G.Enum):
        return "string"
    if isinstance(value, (G.EnumList, G.ListOf)):
        return "list"
    if isinstance(value, G.MapOf):
        return "map"
    if isinstance(value, G.Special):
        return {"anymap": "map", "strings": "list"}.get(value.kind)
    return None


_ACCESSOR = {
    "integer": "intValue() called on non-integer Element",
    "real": "doubleValue() called on non-double Element",
    "boolean": "boolValue() called on non-Bool Element",
    "string": "stringValue() called on non-string Element",
}


def _check_keywords(schema_name: str, entry: Element) -> None:
    """``SimpleParser::checkKeywords``: the first wrong type (in key byte
    order) wins, then the first unknown key."""
    from kea_twisted.config.grammar import SCHEMAS

    if not isinstance(entry, MapElement):
        return
    keys = SCHEMAS[schema_name].keys
    spurious = None
    for key in sorted(entry.keys(), key=kea_bytes):
        if key not in keys:
            if spurious is None and key != "comment":
                spurious = key
            continue
        expected = _expected_kind(keys[key])
        if expected is None or entry[key].kind == expected:
            continue
        article = "an" if expected == "integer" else "a"
        raise ConfigError(f"'{key}' parameter is not {article} {_kind_name(expected)}")
    if spurious is not None:
        raise ConfigError(f"spurious '{spurious}' parameter")


def _entries(container: Optional[Element]) -> List[Element]:
    return list(container.items) if isinstance(container, ListElement) else []


def _derived(level: Element, parent: Optional[MapElement]) -> Element:
    """``deriveParameters``: the level's map with the parent's inherited
    parameters copied in (a wrong type in a global then fails in the
    subnet's ``checkKeywords``, as in Kea)."""
    from kea_twisted.config.defaults import INHERIT_TO_SUBNET4

    if not isinstance(level, MapElement) or parent is None:
        return level
    items = dict(level.items)
    for key in INHERIT_TO_SUBNET4:
        if key in parent and key not in items:
            items[key] = parent[key]
    return MapElement(items, level.pos, level.key_pos)


def _check_subnet(subnet: Element, parent: Optional[MapElement]) -> None:
    _check_keywords("subnet4_params", _derived(subnet, parent))
    if not isinstance(subnet, MapElement):
        return
    for pool in _entries(subnet.get("pools")):
        _check_keywords("pool_params", pool)
        if isinstance(pool, MapElement):
            for option in _entries(pool.get("option-data")):
                _check_keywords("option_data_params", option)
    for option in _entries(subnet.get("option-data")):
        _check_keywords("option_data_params", option)


def check_wire_dhcp4(dhcp4: MapElement) -> None:
    """Kea's checks of a ``Dhcp4`` map that did not come from a file, in
    Kea's order: option-def and option-data entries, shared networks and
    subnets (``checkKeywords`` after the global parameters are derived into
    them), then unknown global parameters (in key byte order; ``comment``
    is one: only a file's grammar folds it into ``user-context``), then the
    global scalars' types.

    :raises ConfigError: with Kea's text (positions as ``<wire>:0:N``).
    """
    from kea_twisted.config.grammar import SCHEMAS

    for definition in _entries(dhcp4.get("option-def")):
        _check_keywords("option_def_params", definition)
    for option in _entries(dhcp4.get("option-data")):
        _check_keywords("option_data_params", option)
    for network in _entries(dhcp4.get("shared-networks")):
        view = _derived(network, dhcp4)
        _check_keywords("shared_network_params", view)
        if isinstance(network, MapElement):
            for option in _entries(network.get("option-data")):
                _check_keywords("option_data_params", option)
            for subnet in _entries(network.get("subnet4")):
                _check_subnet(subnet, view if isinstance(view, MapElement) else None)
    for subnet in _entries(dhcp4.get("subnet4")):
        _check_subnet(subnet, dhcp4)
    known = SCHEMAS["global_params"].keys
    for key in sorted(dhcp4.keys(), key=kea_bytes):
        if key not in known or key == "comment":
            value = dhcp4[key]
            raise ConfigError(f"unsupported global configuration parameter: {key} ({value.pos})")
    for key in sorted(dhcp4.keys(), key=kea_bytes):
        expected = _expected_kind(known[key])
        value = dhcp4[key]
        if expected in _ACCESSOR and value.kind != expected:
            where = f" in ({value.pos})" if value.pos is not None else ""
            raise ConfigError(_ACCESSOR[expected] + where)


# ---------------------------------------------------------------------------
# Handlers


def _dhcp4_argument(command: Command) -> Any:
    """The ``Dhcp4`` map of a config-test / config-set, or an error answer."""
    args = command.arguments_element
    if args is None:
        return answer(RESULT_ERROR, "Missing mandatory 'arguments' parameter.")
    dhcp4 = element_get(args, "Dhcp4")  # a non-map raises Kea's TypeError text
    if dhcp4 is None:
        return answer(RESULT_ERROR, "Missing mandatory 'Dhcp4' parameter.")
    if not isinstance(dhcp4, MapElement):
        return answer(RESULT_ERROR, "'Dhcp4' parameter expected to be a map.")
    others = [key for key in sorted(args.keys(), key=kea_bytes) if key != "Dhcp4"]
    if others:
        message = f"Unsupported '{others[0]}' parameter"
        for other in others[1:]:
            message += f" (and '{other}')"
        log.error("{msgid} unsupported object(s) {names}", msgid="DHCP4_CONFIG_UNSUPPORTED_OBJECT",
                  names=", ".join(others))
        return answer(RESULT_ERROR, message + ".")
    return dhcp4


def _stage_wire(controller: Any, dhcp4: MapElement) -> Any:
    check_wire_dhcp4(dhcp4)
    if not dhcp4.items:
        # Kea takes an empty Dhcp4 map over the wire as "all defaults" (its
        # file grammar refuses one, and so does ours): give the grammar the
        # one default Kea would add first, which changes nothing.
        from kea_twisted.config.defaults import GLOBAL4_DEFAULTS
        from kea_twisted.config.element import ScalarElement

        value = ScalarElement("integer", GLOBAL4_DEFAULTS["valid-lifetime"], dhcp4.pos)
        dhcp4 = MapElement({"valid-lifetime": value}, dhcp4.pos,
                           {"valid-lifetime": dhcp4.pos} if dhcp4.pos else {})
    root = MapElement({"Dhcp4": dhcp4}, dhcp4.pos, {"Dhcp4": dhcp4.pos} if dhcp4.pos else {})
    return controller.stage_element(root)


def config_get(controller: Any, command: Command) -> Dict[str, Any]:
    """``config-get``: the running configuration with Kea's defaults."""
    return answer(RESULT_SUCCESS, arguments=unparse_config(controller.current))


def config_test(controller: Any, command: Command) -> Dict[str, Any]:
    """``config-test``: stage without applying."""
    dhcp4 = _dhcp4_argument(command)
    if isinstance(dhcp4, dict):
        return dhcp4
    try:
        _stage_wire(controller, dhcp4)
    except ConfigError as error:
        log.info("{msgid} {error}", msgid="DHCP4_CONFIG_TEST_FAIL", error=str(error))
        return answer(RESULT_ERROR, str(error))
    return answer(RESULT_SUCCESS, TEST_SUCCESS_TEXT)


def _applied(controller: Any, config: Any, failure_prefix: str = "") -> "Deferred[Dict[str, Any]]":
    def done(ok: Any) -> Dict[str, Any]:
        if ok:
            return answer(RESULT_SUCCESS, SET_SUCCESS_TEXT)
        return answer(RESULT_ERROR, failure_prefix + HOOKS_FAILED_TEXT)

    def failed(failure: Failure) -> Dict[str, Any]:
        failure.trap(ConfigError)
        return answer(RESULT_ERROR, failure_prefix + str(failure.value))

    return maybeDeferred(controller.apply, config).addCallbacks(done, failed)


def config_set(controller: Any, command: Command) -> "Deferred[Dict[str, Any]]":
    """``config-set``: stage, then swap; a failure keeps the old one."""
    dhcp4 = _dhcp4_argument(command)
    if isinstance(dhcp4, dict):
        return succeed(dhcp4)
    try:
        config = _stage_wire(controller, dhcp4)
    except ConfigError as error:
        # Kea 2.2 stops serving DHCP here; we keep the running configuration.
        log.error("{msgid} configuration refused, the previous one stays in force: {error}",
                  msgid="DHCP4_CONFIG_LOAD_FAIL", error=str(error))
        return succeed(answer(RESULT_ERROR, str(error)))
    return _applied(controller, config)


def config_reload(controller: Any, command: Command,
                  load: Optional[Callable[[str], MapElement]] = None) -> "Deferred[Dict[str, Any]]":
    """``config-reload``: the ``-c`` file again (arguments ignored)."""
    path = controller.config_path or ""
    prefix = f"Config reload failed: configuration error using file '{path}': "
    if load is None:
        from kea_twisted.config.loader import load_config_file as load
    try:
        if not path:
            raise ConfigError("JSON configuration file not specified. Please use -c command line option.")
        config = controller.stage_element(load(path))
    except ConfigError as error:
        log.error("{msgid} configuration reload failed: {error}", msgid="DHCP4_DYNAMIC_RECONFIGURATION_FAIL",
                  error=str(error))
        return succeed(answer(RESULT_ERROR, prefix + str(error)))
    return _applied(controller, config, prefix)


def config_write(controller: Any, command: Command) -> Dict[str, Any]:
    """``config-write [filename]``."""
    filename = ""
    args = command.arguments_element
    if args is not None:
        if not isinstance(args, MapElement):
            return answer(RESULT_ERROR, "Argument must be a map")
        param = args.get("filename")
        if param is not None:
            if param.kind != "string":
                return answer(RESULT_ERROR, "passed parameter 'filename' is not a string")
            filename = param.to_python()
    if not filename:
        filename = controller.config_path or ""
        if not filename:
            return answer(RESULT_ERROR, "Unable to determine filename.Please specify filename explicitly.")
    else:
        # Kea 2.6.3 (CVE-2025-32802): only next to the -c file once paths
        # are confined (kea_twisted.paths); the -c file itself is always fine.
        from kea_twisted.paths import PathError, current_policy

        try:
            filename = current_policy().config_write(filename, controller.config_path)
        except PathError as error:
            return answer(RESULT_ERROR, f"not allowed to write config into {filename}: {error}")
    data = kea_bytes(pretty_print(unparse_config(controller.current)))
    try:
        with open(filename, "wb") as out:
            out.write(data)
    except OSError:
        return answer(RESULT_ERROR, f"Error during write-config:Unable to open file {filename} for writing")
    return answer(RESULT_SUCCESS, f"Configuration written to {filename} successful",
                  {"filename": filename, "size": len(data)})


def install_config_commands(table: CommandTable, controller: Any) -> None:
    """Register ``config-get``, ``config-test``, ``config-set``,
    ``config-write`` and ``config-reload`` (replacing an earlier
    ``config-reload``) over ``controller`` (an :class:`IConfigController`).
    ``config-set`` and ``config-reload`` are serialised."""
    lock = DeferredLock()

    def locked(handler: Callable[[Any, Command], Any]) -> Callable[[Command], Deferred]:
        def run(command: Command) -> Deferred:
            return lock.run(handler, controller, command)
        return run

    table.register("config-get", lambda command: config_get(controller, command))
    table.register("config-test", lambda command: config_test(controller, command))
    table.register("config-set", locked(config_set))
    table.register("config-write", lambda command: config_write(controller, command))
    table.register("config-reload", locked(config_reload), replace=True)
