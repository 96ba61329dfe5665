"""
``Dhcp4`` map (after the grammar checks) -> :class:`Dhcp4Config`, with Kea
2.2's semantic validation and its error texts.

Kea's order is kept (``src/bin/dhcp4/json_config_parser.cc``
``configureDhcp4Server`` at Kea-2.2.0), because the first error wins:
``dhcp-ddns`` deprecated keys and ``reservation-mode`` moved, defaults and
inheritance applied (:mod:`kea_twisted.config.defaults`), then option-def,
option-data, control-socket, multi-threading, dhcp-queue-control,
host-reservation-identifiers, interfaces-config, sanity-checks,
expired-leases-processing, hooks-libraries, dhcp-ddns, client-classes,
lease-database, hosts-database(s), shared-networks, subnet4, global
reservations, config-control, compatibility, the global scalars, and last
the sanity checks (global lifetimes, shared-network consistency).

Messages and positions were observed with ``kea-dhcp4 -t`` (the table in
tests/test_config_errors.py).  Facts worth knowing, all observed:

* ``subnet configuration failed: `` prefixes what Kea's ``createSubnet``
  raises (prefix, id, lifetimes, timers, next-server, interface, pool
  range/overlap); pool text errors, option-data errors, reservation errors
  and duplicate ids are not prefixed;
* a subnet without ``id`` (or ``id: 0``) gets the next number of a counter
  starting at 1, counting only such subnets, shared networks' subnets first;
  so ``[{no id}, {"id": 1}]`` fails with ``ID of the new IPv4 subnet '1' is
  already in use``;
* global ``renew-timer > rebind-timer``, a global ``next-server`` that is
  not an address, a global ``server-hostname`` of 64 bytes, a bad global
  ``hostname-char-set`` and ``t1-percent: 1.5`` without
  ``calculate-tee-times`` are all accepted by Kea (checked only where a
  subnet or shared network uses them);
* lifetimes are stored in 32 bits: ``valid-lifetime: -1`` is accepted and
  means 4294967295;
* ``lease-database`` / ``hosts-database`` of type mysql / postgresql pass
  ``-t`` (Kea does not connect then): they are accepted here too, and the
  model says so (kea_twisted's server start refuses a non-memfile lease
  database).

Tests: tests/test_config_model.py, tests/test_config_errors.py
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, ip_address
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from kea_twisted.config import defaults as D
from kea_twisted.config.element import Element, ListElement, MapElement, Position
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.model import (
    ClientClass,
    Compatibility,
    ConfigControl,
    ControlSocket,
    DatabaseConfig,
    Dhcp4Config,
    DhcpDdns,
    DhcpQueueControl,
    ExpiredLeasesProcessing,
    HookLibrary,
    HostsDatabase,
    InterfacesConfig,
    LeaseDatabase,
    Logger,
    LoggerOutput,
    MultiThreading,
    OptionData,
    OptionDef,
    Pool4,
    Reservation,
    SanityChecks,
    SharedNetwork4,
    Subnet4,
)
from kea_twisted.options import (
    DEFERRED_CODES,
    DHCP4_SPACE,
    OPTION_DEF_TYPES,
    STANDARD_DEFINITIONS,
    OptionDataError,
    OptionDefinitions,
    config_binary,
    resolve_option_data,
)

__all__ = ["build_config", "system_interfaces", "InterfaceMap"]

#: interface name -> its IPv4 addresses
InterfaceMap = Mapping[str, Sequence[IPv4Address]]

_U32 = 0xFFFFFFFF
_MAX_SNAME = 64  # Pkt4::MAX_SNAME_LEN
_MAX_FILE = 128  # Pkt4::MAX_FILE_LEN
_MISSING = object()


def system_interfaces() -> Dict[str, List[IPv4Address]]:
    """This machine's interfaces and their IPv4 addresses (Kea's
    ``IfaceMgr`` view), from the kernel over rtnetlink
    (:func:`kea_twisted.net.interfaces.ipv4_interfaces`).  Tests pass
    ``interfaces=`` instead."""
    from kea_twisted.net.interfaces import ipv4_interfaces

    return ipv4_interfaces()


# ---------------------------------------------------------------------------
# Small helpers


class _Fail(Exception):
    """Internal: a Kea exception without position, to be wrapped by the
    caller as Kea wraps it."""


def _parse_address(text: str):
    """Kea's ``IOAddress(text)``: IPv4 or IPv6, else the observed error."""
    try:
        return ip_address(text)
    except ValueError:
        raise _Fail("Failed to convert string to address '%s': Invalid argument" % text)


def _hex_colons(data: bytes) -> str:
    return ":".join("%02x" % b for b in data)


def _py(elem: Optional[Element]) -> Any:
    return None if elem is None else elem.to_python()


def _valid_name(name: str) -> bool:
    """``OptionSpace::validateName`` / option-def name rule."""
    return bool(name) and bool(re.fullmatch(r"[A-Za-z0-9_-]+", name)) and name[0] not in "-_" and name[-1] not in "-_"


class _Scope:
    """One level's JSON map (global, shared network, subnet), with the
    values Kea's pre-passes change (reservation-mode, dhcp-ddns moves)."""

    def __init__(self, elem: MapElement):
        self.elem = elem
        self.overrides: Dict[str, Any] = {}
        self.removed: Set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.overrides or (key in self.elem.items and key not in self.removed)

    def element(self, key: str) -> Optional[Element]:
        if key in self.removed:
            return None
        return self.elem.items.get(key)

    def pos(self, key: str) -> Optional[Position]:
        e = self.element(key)
        return e.pos if e is not None else self.elem.pos


class _Builder:
    def __init__(self, dhcp4: MapElement, interfaces: InterfaceMap):
        self.root = dhcp4
        self.g = _Scope(dhcp4)
        self.interfaces = {name: list(addrs) for name, addrs in interfaces.items()}
        self.definitions: OptionDefinitions = STANDARD_DEFINITIONS
        self.next_subnet_id = 1
        self.hosts: List[Reservation] = []
        self.ip_unique = True

    # -- typed access (the grammar has checked types; stay robust anyway) --

    def get(self, scope, key: str, kind: str, default: Any = None) -> Any:
        m = scope.elem if isinstance(scope, _Scope) else scope
        if isinstance(scope, _Scope):
            if key in scope.overrides:
                return scope.overrides[key]
            if key in scope.removed:
                return default
        if not isinstance(m, MapElement):
            return default
        e = m.items.get(key)
        if e is None:
            return default
        return self.check(e, key, kind)

    @staticmethod
    def check(e: Element, key: str, kind: str) -> Any:
        ok = False
        if kind == "integer":
            ok = e.kind == "integer" and isinstance(e.value, int) and not isinstance(e.value, bool)
        elif kind == "real":
            ok = e.kind in ("real", "integer") and isinstance(e.value, (int, float)) and not isinstance(e.value, bool)
        elif kind == "boolean":
            ok = e.kind == "boolean" and isinstance(e.value, bool)
        elif kind == "string":
            ok = e.kind == "string" and isinstance(e.value, str)
        elif kind == "map":
            ok = isinstance(e, MapElement)
        elif kind == "list":
            ok = isinstance(e, ListElement)
        if not ok:
            raise ConfigError("invalid type specified for parameter '%s' (%s)" % (key, e.pos), e.pos)
        if kind in ("map", "list"):
            return e
        if kind == "real":
            return float(e.value)
        return e.value

    def strings(self, e: Optional[Element], key: str) -> Tuple[str, ...]:
        if e is None:
            return ()
        lst = self.check(e, key, "list")
        return tuple(self.check(item, key, "string") for item in lst)

    def maps(self, scope, key: str) -> List[MapElement]:
        lst = self.get(scope, key, "list")
        if lst is None:
            return []
        return [self.check(item, key, "map") for item in lst]

    def user_context(self, m: MapElement) -> Optional[Mapping[str, Any]]:
        e = m.items.get("user-context")
        if e is None:
            return None
        value = e.to_python()
        return value if isinstance(value, dict) else None

    # -- inheritance --

    def lookup(self, scopes: Sequence[_Scope], key: str, kind: str, default: Any = None) -> Any:
        for scope in scopes:
            if scope.has(key):
                return self.get(scope, key, kind)
        return D.GLOBAL4_DEFAULTS.get(key, default)

    # ------------------------------------------------------------------
    # Pre-passes

    def move_reservation_mode(self, scope: _Scope) -> None:
        """``BaseNetworkParser::moveReservationMode``."""
        mode = self.get(scope, "reservation-mode", "string")
        if mode is None:
            return
        if any(scope.has(k) for k in ("reservations-global", "reservations-in-subnet", "reservations-out-of-pool")):
            raise ConfigError(
                "invalid use of both 'reservation-mode' and one of 'reservations-global', "
                "'reservations-in-subnet' or 'reservations-out-of-pool' parameters"
            )
        flags = D.RESERVATION_MODES.get(mode)
        if flags is None:
            raise ConfigError("invalid reservation-mode parameter: '%s' (%s)" % (mode, scope.pos("reservation-mode")))
        scope.overrides.update(flags)
        scope.removed.add("reservation-mode")

    def move_ddns_params(self) -> None:
        """``SrvConfig::moveDdnsParams``: deprecated ``dhcp-ddns`` keys go to
        the global map unless the global one is set."""
        ddns = self.get(self.g, "dhcp-ddns", "map")
        if ddns is None:
            return
        for old, new in D.DDNS_MOVED_PARAMETERS.items():
            e = ddns.items.get(old)
            if e is not None and not self.g.has(new):
                self.g.overrides[new] = e.to_python()

    # ------------------------------------------------------------------
    # Option definitions and data

    def option_def(self, m: MapElement, registry: OptionDefinitions) -> OptionDef:
        """``OptionDefParser::parse``: Kea's checks in Kea's order."""
        name = self.get(m, "name", "string")
        if name is None:
            raise ConfigError("missing parameter 'name' (%s)" % m.pos)
        code = self.get(m, "code", "integer")
        if code is None:
            raise ConfigError("missing parameter 'code' (%s)" % m.pos)
        code_pos = m.items["code"].pos
        type_ = self.get(m, "type", "string")
        if type_ is None:
            raise ConfigError("missing parameter 'type' (%s)" % m.pos)
        record_types = self.get(m, "record-types", "string", "")
        space = self.get(m, "space", "string", D.OPTION4_DEF_DEFAULTS["space"])
        array = self.get(m, "array", "boolean", False)
        encapsulate = self.get(m, "encapsulate", "string", "")
        if code < 0:
            raise ConfigError("option code must not be negative (%s)" % code_pos)
        if code > 255:
            raise ConfigError("invalid option code '%d', it must not be greater than '255' (%s)" % (code, code_pos))
        if not _valid_name(space):
            raise ConfigError("invalid option space name '%s' (%s)" % (space, m.items["space"].pos))
        if space == DHCP4_SPACE and code == 0:
            raise ConfigError("invalid option code '0': reserved for PAD (%s)" % code_pos)
        if space == DHCP4_SPACE and code == 255:
            raise ConfigError("invalid option code '255': reserved for END (%s)" % code_pos)
        if encapsulate:
            if array:
                raise ConfigError(
                    "option '%s.%s', comprising an array of data fields may not encapsulate any option space (%s)"
                    % (space, name, m.pos)
                )
            if encapsulate == space:
                raise ConfigError(
                    "option must not encapsulate an option space it belongs to: '%s.%s' is set to encapsulate '%s' (%s)"
                    % (space, name, encapsulate, m.pos)
                )
        fields: List[str] = []
        for token in record_types.split(","):
            token = token.strip()
            if not token:
                continue
            if token not in OPTION_DEF_TYPES or token == "record":
                shown = token if token == "record" else "unknown"
                raise ConfigError(
                    "invalid record type values specified for the option definition: attempted to add "
                    "invalid data type '%s' to the record. (%s)" % (shown, m.items["record-types"].pos)
                )
            fields.append(token)
        problem = self._validate_def(name, space, encapsulate, type_, array, fields)
        if problem:
            raise ConfigError("%s (%s)" % (problem, m.pos))
        return OptionDef(
            name=name, code=code, type=type_, space=space, array=array, record_types=tuple(fields),
            encapsulate=encapsulate, user_context=self.user_context(m), pos=m.pos, source=m,
        )

    @staticmethod
    def _validate_def(name, space, encapsulate, type_, array, fields) -> Optional[str]:
        """``OptionDefinition::validate``."""
        if not _valid_name(name):
            return "invalid option name '%s'" % name
        if not _valid_name(space):
            return "invalid option space name: '%s'" % space
        if encapsulate and not _valid_name(encapsulate):
            return "invalid encapsulated option space name: '%s'" % encapsulate
        if type_ not in OPTION_DEF_TYPES:
            # OPT_UNKNOWN_TYPE is 18 in Kea 2.2's enum (observed).
            return "option type 18 not supported."
        if type_ == "record":
            if len(fields) < 2:
                return ("invalid number of data fields: %d specified for the option of type 'record'. "
                        "Expected at least 2 fields." % len(fields))
            for i, f in enumerate(fields):
                last = i == len(fields) - 1
                if f == "string" and not last:
                    return "string data field can't be laid before data fields of other types."
                if f == "binary" and not last:
                    return "binary data field can't be laid before data fields of other types."
                if f == "empty":
                    return "empty data type can't be stored as a field in an option record."
            if array and fields[-1] == "string":
                return "array of strings is not a valid option definition."
            if array and fields[-1] == "binary":
                return "array of binary values is not a valid option definition."
        elif array:
            if type_ == "string":
                return "array of strings is not a valid option definition."
            if type_ == "binary":
                return "array of binary values is not a valid option definition."
            if type_ == "empty":
                return "array of empty value is not a valid option definition."
        return None

    def add_option_def(self, defs: List[OptionDef], new: OptionDef, standard_check: bool = True) -> None:
        """``CfgOptionDef::add``: duplicates, then standard definitions."""
        for d in defs:
            if d.space == new.space and d.code == new.code:
                raise ConfigError("option definition with code '%d' already exists in option space '%s' (%s)"
                                  % (new.code, new.space, new.pos))
        for d in defs:
            if d.space == new.space and d.name == new.name:
                raise ConfigError("option definition with name '%s' already exists in option space '%s' (%s)"
                                  % (new.name, new.space, new.pos))
        if standard_check and new.space == DHCP4_SPACE:
            if STANDARD_DEFINITIONS.standard(new.space, new.code) is not None:
                raise ConfigError("unable to override definition of option '%d' in standard option space '%s' (%s)"
                                  % (new.code, new.space, new.pos))
            if STANDARD_DEFINITIONS.standard_by_name(new.space, new.name) is not None:
                raise ConfigError("unable to override definition of option '%s' in standard option space '%s' (%s)"
                                  % (new.name, new.space, new.pos))
        defs.append(new)

    def option_data_list(self, scope, registry: Optional[OptionDefinitions] = None) -> Tuple[OptionData, ...]:
        registry = registry or self.definitions
        return tuple(self.option_data(m, registry) for m in self.maps(scope, "option-data"))

    def option_data(self, m: MapElement, registry: OptionDefinitions) -> OptionData:
        """``OptionDataParser::createOption`` with the codec's encoder."""
        code = self.get(m, "code", "integer")
        name = self.get(m, "name", "string")
        data = self.get(m, "data", "string", "")
        csv = self.get(m, "csv-format", "boolean")
        always_send = self.get(m, "always-send", "boolean", False)
        space = self.get(m, "space", "string", DHCP4_SPACE)

        def at(key: str) -> Optional[Position]:
            e = m.items.get(key)
            return e.pos if e is not None else m.pos

        if code is not None and code < 0:
            raise ConfigError("option code must not be negative (%s)" % at("code"), at("code"))
        if not _valid_name(space):
            raise ConfigError("invalid option space name '%s' (%s)" % (space, at("space")))
        # Kea 2.2 knows DOCSIS3's vendor options under the space name
        # "docsis3-v4" too (all-options.json uses it); the codec files them
        # under "vendor-4491".
        lookup_space = "vendor-4491" if space == "docsis3-v4" else space
        try:
            definition, final_code, payload = resolve_option_data(registry, lookup_space, code, name, data, csv)
        except OptionDataError as e:
            text = str(e)
            if text.startswith("invalid option code '") and "greater" in text:
                where = at("code")
            elif text.startswith(("invalid option name", "definition for the option", "specified option name")):
                where = at("name")
            elif text.startswith(("option data does not match", "option data is not a valid")):
                where = at("data")
            else:
                where = m.pos
            raise ConfigError("%s (%s)" % (text, where))
        except (ValueError, TypeError, IndexError, OverflowError) as e:  # codec robustness
            raise ConfigError("option data does not match option definition: %s (%s)" % (e, at("data")))
        return OptionData(
            code=final_code, space=space, name=(definition.name if definition else (name or "")),
            payload=payload, always_send=always_send, csv_format=(True if csv is None else csv),
            data=data, definition=definition, user_context=self.user_context(m), pos=m.pos, source=m,
        )

    # ------------------------------------------------------------------
    # Global sections

    def interfaces_config(self) -> InterfacesConfig:
        m = self.get(self.g, "interfaces-config", "map")
        if m is None:
            return InterfacesConfig()
        lst = m.items.get("interfaces")
        entries = self.strings(lst, "interfaces")
        wildcard = False
        names: Set[str] = set()
        addresses: Set[Tuple[str, IPv4Address]] = set()
        address_names: Set[str] = set()
        for index, entry in enumerate(entries):
            try:
                self._use_interface(entry, wildcard, names, addresses, address_names)
                if entry.strip() == "*":
                    wildcard = True
            except _Fail as e:
                item_pos = lst.items[index].pos if lst is not None else None
                # Kea appends the position of the "interfaces" list too.
                raise ConfigError("Failed to select interface: %s (%s)" % (e, item_pos), lst.pos)
        d = D.INTERFACES_CONFIG_DEFAULTS
        return InterfacesConfig(
            interfaces=entries,
            dhcp_socket_type=self.get(m, "dhcp-socket-type", "string", d["dhcp-socket-type"]),
            outbound_interface=self.get(m, "outbound-interface", "string", d["outbound-interface"]),
            re_detect=self.get(m, "re-detect", "boolean", d["re-detect"]),
            service_sockets_require_all=self.get(m, "service-sockets-require-all", "boolean",
                                                 d["service-sockets-require-all"]),
            service_sockets_retry_wait_time=self.get(m, "service-sockets-retry-wait-time", "integer",
                                                     d["service-sockets-retry-wait-time"]),
            service_sockets_max_retries=self.get(m, "service-sockets-max-retries", "integer",
                                                 d["service-sockets-max-retries"]),
            user_context=self.user_context(m),
            pos=m.pos,
        )

    def _use_interface(self, entry, wildcard, names, addresses, address_names) -> None:
        """``CfgIface::use`` for IPv4."""
        name, slash, addr_text = entry.partition("/")
        name = name.strip(" \t\n\r")
        if not slash:
            if not name:
                raise _Fail("empty interface name used in configuration")
            if name != "*":
                if name not in self.interfaces:
                    raise _Fail("interface '%s' doesn't exist in the system" % name)
            elif wildcard:
                raise _Fail("the wildcard interface '*' can only be specified once")
            if name != "*":
                if name in names or name in address_names:
                    raise _Fail("interface '%s' has already been specified" % name)
                names.add(name)
            return
        addr_text = addr_text.strip(" \t\n\r")
        if not name:
            raise _Fail("empty interface name specified in the interface configuration")
        if not addr_text:
            raise _Fail("empty address specified in the interface configuration")
        if name == "*":
            raise _Fail("wildcard interface name '*' must not be used in conjunction with an address")
        if name not in self.interfaces:
            raise _Fail("interface '%s' doesn't exist in the system" % name)
        addr = _parse_address(addr_text)
        if not isinstance(addr, IPv4Address):
            raise _Fail("address '%s' is not a valid IPv4 address" % addr)
        if addr not in [IPv4Address(a) for a in self.interfaces[name]]:
            raise _Fail("interface '%s' doesn't have address '%s' assigned" % (name, addr))
        if name in names:
            raise _Fail("interface '%s' has already been selected" % name)
        if (name, addr) in addresses:
            raise _Fail("must not select address '%s' for interface '%s' because this address is already selected"
                        % (addr, name))
        addresses.add((name, addr))
        address_names.add(name)

    def host_reservation_identifiers(self) -> Tuple[str, ...]:
        lst = self.get(self.g, "host-reservation-identifiers", "list")
        if lst is None:
            return D.HOST_RESERVATION_IDENTIFIERS
        seen: List[str] = []
        for item in lst:
            value = self.check(item, "host-reservation-identifiers", "string")
            if value in seen:
                raise ConfigError("duplicate host identifier '%s' (%s)" % (value, item.pos))
            if value not in ("hw-address", "duid", "circuit-id", "client-id", "flex-id"):
                raise ConfigError("unsupported identifier '%s' (%s)" % (value, item.pos))
            seen.append(value)
        if not seen:
            raise ConfigError("'host-reservation-identifiers' list must not be empty (%s)" % lst.pos)
        return tuple(seen)

    def expired_leases_processing(self) -> ExpiredLeasesProcessing:
        m = self.get(self.g, "expired-leases-processing", "map")
        values = dict(D.EXPIRED_LEASES_PROCESSING_DEFAULTS)
        if m is not None:
            for key in values:
                v = self.get(m, key, "integer")
                if v is None:
                    continue
                if v < 0:
                    raise ConfigError("value for configuration parameter '%s' must not be negative (%s)"
                                      % (key, m.items[key].pos))
                values[key] = v
        return ExpiredLeasesProcessing(**{k.replace("-", "_"): v for k, v in values.items()})

    def multi_threading(self) -> MultiThreading:
        m = self.get(self.g, "multi-threading", "map")
        d = D.MULTI_THREADING_DEFAULTS
        if m is None:
            return MultiThreading()
        return MultiThreading(
            enable_multi_threading=self.get(m, "enable-multi-threading", "boolean", d["enable-multi-threading"]),
            thread_pool_size=self.get(m, "thread-pool-size", "integer", d["thread-pool-size"]),
            packet_queue_size=self.get(m, "packet-queue-size", "integer", d["packet-queue-size"]),
            user_context=self.user_context(m),
        )

    def dhcp_queue_control(self) -> DhcpQueueControl:
        m = self.get(self.g, "dhcp-queue-control", "map")
        d = D.DHCP_QUEUE_CONTROL4_DEFAULTS
        if m is None:
            return DhcpQueueControl()
        return DhcpQueueControl(
            enable_queue=self.get(m, "enable-queue", "boolean", d["enable-queue"]),
            queue_type=self.get(m, "queue-type", "string", d["queue-type"]),
            capacity=self.get(m, "capacity", "integer", d["capacity"]),
            parameters=m.to_python(),
        )

    def control_socket(self) -> Optional[ControlSocket]:
        m = self.get(self.g, "control-socket", "map")
        if m is None:
            return None
        return ControlSocket(
            socket_type=self.get(m, "socket-type", "string", "unix"),
            socket_name=self.get(m, "socket-name", "string", ""),
            user_context=self.user_context(m),
            pos=m.pos,
        )

    def hooks_libraries(self) -> Tuple[HookLibrary, ...]:
        found = []
        where = self.g.pos("hooks-libraries")
        for m in self.maps(self.g, "hooks-libraries"):
            library = self.get(m, "library", "string")
            if library is None:
                raise ConfigError("hooks library configuration error: one or more hooks-libraries elements "
                                  "are missing the name of the library (%s)" % m.pos)
            params = m.items.get("parameters")
            # Kea reports library errors at the hooks-libraries list
            # (``verifyLibraries(hooks_libraries->getPosition())``) [obs].
            found.append(HookLibrary(library=library, parameters=_py(params), pos=where, source=m))
        return tuple(found)

    def dhcp_ddns(self) -> DhcpDdns:
        m = self.get(self.g, "dhcp-ddns", "map")
        d = D.DHCP_DDNS_DEFAULTS
        if m is None:
            return DhcpDdns()

        def at(key):
            e = m.items.get(key)
            return e.pos if e is not None else m.pos

        values = {k: self.get(m, k, "boolean" if k == "enable-updates" else
                              ("integer" if k in ("server-port", "sender-port", "max-queue-size") else "string"), v)
                  for k, v in d.items()}
        addresses = {}
        for key in ("server-ip", "sender-ip"):
            try:
                addresses[key] = _parse_address(values[key])
            except _Fail as e:
                if key == "sender-ip":
                    raise ConfigError("invalid address (%s) specified for parameter 'sender-ip' (%s)"
                                      % (values[key], at(key)))
                raise ConfigError("Failed to convert '%s' to address: %s(%s)" % (values[key], e, at(key)))
        server, sender = addresses["server-ip"], addresses["sender-ip"]
        if server.version != sender.version:
            raise ConfigError(
                "D2ClientConfig error: address family mismatch: server-ip: %s is: %s while sender-ip: %s is: %s (%s)"
                % (server, "IPv4" if server.version == 4 else "IPv6", sender,
                   "IPv4" if sender.version == 4 else "IPv6", at("sender-ip")))
        if server == sender and values["server-port"] == values["sender-port"]:
            raise ConfigError(
                "D2ClientConfig error: server and sender cannot share the exact same IP address/port: %s/%d (%s)"
                % (server, values["server-port"], at("sender-ip")))
        return DhcpDdns(
            enable_updates=values["enable-updates"], server_ip=values["server-ip"],
            server_port=values["server-port"], sender_ip=values["sender-ip"], sender_port=values["sender-port"],
            max_queue_size=values["max-queue-size"], ncr_protocol=str(values["ncr-protocol"]).upper(),
            ncr_format=str(values["ncr-format"]).upper(), user_context=self.user_context(m),
        )

    def database(self, m: MapElement, cls=DatabaseConfig) -> DatabaseConfig:
        """``DbAccessParser::parse``: range checks; nothing connects."""
        values: Dict[str, Any] = {}
        for key, e in m.items.items():
            if key in ("user-context", "comment"):
                continue
            values[key] = e.to_python()
        ranges = (
            ("lfc-interval", _U32, "lfc-interval value: %d is out of range, expected value: 0..4294967295 (%s)"),
            ("connect-timeout", _U32, "connect-timeout value: %d is out of range, expected value: 0..4294967295 (%s)"),
            ("port", 65535, "port value: %d is out of range, expected value: 0..65535 (%s)"),
            ("max-row-errors", _U32, "max-row-errors value: %d is out of range, expected value: 0..4294967295 (%s)"),
        )
        integers = {}
        for key in ("lfc-interval", "connect-timeout", "port", "max-row-errors", "max-reconnect-tries",
                    "reconnect-wait-time"):
            integers[key] = self.get(m, key, "integer")
        dbtype = self.get(m, "type", "string")
        if dbtype is None:
            raise ConfigError("database access parameters must include the keyword 'type' to determine type of "
                              "database to be accessed (%s)" % m.pos)
        if dbtype not in ("memfile", "mysql", "postgresql"):
            raise ConfigError("unknown backend database type: %s (%s)" % (dbtype, m.items["type"].pos))
        for key, top, text in ranges:
            v = integers[key]
            if v is not None and (v < 0 or v > top):
                raise ConfigError(text % (v, m.items[key].pos))
        v = integers["max-reconnect-tries"]
        if v is not None and v < 0:
            raise ConfigError("max-reconnect-tries cannot be less than zero: (%s)" % m.items["max-reconnect-tries"].pos)
        v = integers["reconnect-wait-time"]
        if v is not None and (v < 0 or v > _U32):
            raise ConfigError("reconnect-wait-time %d must be in range 0...MAX_UINT32 (4294967295) (%s)"
                              % (v, m.items["reconnect-wait-time"].pos))
        d = D.LEASE_DATABASE_DEFAULTS
        return cls(
            type=dbtype,
            name=self.get(m, "name", "string", d["name"] if (cls is LeaseDatabase and dbtype == "memfile") else None),
            persist=self.get(m, "persist", "boolean", True),
            lfc_interval=integers["lfc-interval"] if integers["lfc-interval"] is not None else d["lfc-interval"],
            user=self.get(m, "user", "string"),
            password=self.get(m, "password", "string"),
            host=self.get(m, "host", "string"),
            port=integers["port"],
            readonly=self.get(m, "readonly", "boolean", False),
            connect_timeout=integers["connect-timeout"],
            max_reconnect_tries=integers["max-reconnect-tries"],
            reconnect_wait_time=integers["reconnect-wait-time"],
            on_fail=self.get(m, "on-fail", "string"),
            max_row_errors=integers["max-row-errors"],
            trust_anchor=self.get(m, "trust-anchor", "string"),
            cert_file=self.get(m, "cert-file", "string"),
            key_file=self.get(m, "key-file", "string"),
            cipher_list=self.get(m, "cipher-list", "string"),
            parameters=values,
            pos=m.pos,
        )

    def loggers(self) -> Tuple[Logger, ...]:
        found = []
        for m in self.maps(self.g, "loggers"):
            outputs = []
            for key in ("output_options", "output-options"):
                for o in self.maps(m, key):
                    od = D.OUTPUT_OPTION_DEFAULTS
                    outputs.append(LoggerOutput(
                        output=self.get(o, "output", "string", od["output"]),
                        flush=self.get(o, "flush", "boolean", od["flush"]),
                        maxsize=self.get(o, "maxsize", "integer", od["maxsize"]),
                        maxver=self.get(o, "maxver", "integer", od["maxver"]),
                        pattern=self.get(o, "pattern", "string", od["pattern"]),
                    ))
            name = self.get(m, "name", "string")
            if name is None:
                raise ConfigError("missing parameter 'name' (%s)" % m.pos)
            found.append(Logger(
                name=name,
                severity=self.get(m, "severity", "string", D.LOGGER_DEFAULTS["severity"]),
                debuglevel=self.get(m, "debuglevel", "integer", D.LOGGER_DEFAULTS["debuglevel"]),
                output_options=tuple(outputs),
                user_context=self.user_context(m),
                pos=m.pos,
            ))
        return tuple(found)

    # ------------------------------------------------------------------
    # Client classes

    def client_classes(self) -> Tuple[ClientClass, ...]:
        found: List[ClientClass] = []
        for m in self.maps(self.g, "client-classes"):
            found.append(self.client_class(m, found))
        return tuple(found)

    def client_class(self, m: MapElement, known: List[ClientClass]) -> ClientClass:
        """``ClientClassDefParser::parse`` (the test expression is kept as
        text; the expression module compiles it)."""
        name = self.get(m, "name", "string")
        if name is None:
            raise ConfigError("missing parameter 'name' (%s)" % m.pos)
        if not name:
            # Kea's message has no opening parenthesis [obs].
            raise ConfigError("not empty parameter 'name' is required %s)" % m.items["name"].pos)
        test = self.get(m, "test", "string", "")
        defs: List[OptionDef] = []
        for d in self.maps(m, "option-def"):
            new = self.option_def(d, self.definitions)
            if not (new.space == DHCP4_SPACE and new.code in DEFERRED_CODES):
                raise ConfigError("Not allowed option definition for code '%d' in space '%s' at (%s)"
                                  % (new.code, new.space, d.pos))
            self.add_option_def(defs, new, standard_check=False)
        registry = self.definitions.extend(d.definition for d in defs) if defs else self.definitions
        option_data = self.option_data_list(m, _ClassDefs(defs, self.definitions) if defs else registry)
        only_if_required = self.get(m, "only-if-required", "boolean", False)
        next_server = None
        if "next-server" in m.items:
            text = self.get(m, "next-server", "string")
            at = m.items["next-server"].pos
            try:
                addr = _parse_address(text)
            except _Fail:
                raise ConfigError("Invalid next-server value specified: '%s' (%s)" % (text, at))
            if not isinstance(addr, IPv4Address):
                raise ConfigError("Invalid next-server value: '%s', must be IPv4 address (%s)" % (text, at))
            if addr == IPv4Address("255.255.255.255"):
                raise ConfigError("Invalid next-server value: '%s', must not be a broadcast (%s)" % (text, at))
            next_server = addr
        sname = self.get(m, "server-hostname", "string", "")
        if len(sname.encode()) >= _MAX_SNAME:
            raise ConfigError("server-hostname must be at most %d bytes long, it is %d (%s)"
                              % (_MAX_SNAME - 1, len(sname.encode()), m.items["server-hostname"].pos))
        filename = self.get(m, "boot-file-name", "string", "")
        if len(filename.encode()) > _MAX_FILE:
            raise ConfigError("boot-file-name must be at most %d bytes long, it is %d (%s)"
                              % (_MAX_FILE - 1, len(filename.encode()), m.items["boot-file-name"].pos))
        valid, lo, hi = self.triplet(_Scope(m), m, strict_unset=True)
        if name in D.BUILTIN_CLASSES:
            if only_if_required:
                raise ConfigError("built-in class '%s' only-if-required flag must be false" % name)
            if test:
                raise ConfigError("built-in class '%s' test expression must be empty" % name)
        if name == "DROP" and only_if_required:
            raise ConfigError("special class '%s' only-if-required flag must be false" % name)
        if any(c.name == name for c in known):
            raise ConfigError("Can't add class: Client Class: %s has already been defined (%s)" % (name, m.pos))
        return ClientClass(
            name=name, test=test, only_if_required=only_if_required, option_data=option_data,
            option_def=tuple(defs), next_server=next_server, server_hostname=sname, boot_file_name=filename,
            valid_lifetime=valid, min_valid_lifetime=lo, max_valid_lifetime=hi,
            user_context=self.user_context(m), pos=m.pos, source=m,
        )

    # ------------------------------------------------------------------
    # Lifetimes and timers

    def triplet(self, scope, where, strict_unset: bool = False, scopes: Sequence[_Scope] = ()):
        """``SimpleParser::parseIntTriplet`` on the derived values; returns
        (valid, min, max), all None when none is set (classes)."""
        chain = list(scopes) or [scope]

        def find(key):
            for s in chain:
                if s.has(key):
                    return self.get(s, key, "integer")
            return None

        value, lo, hi = find("valid-lifetime"), find("min-valid-lifetime"), find("max-valid-lifetime")
        if value is None and lo is None and hi is None:
            return None, None, None
        value = None if value is None else value & _U32
        lo = None if lo is None else lo & _U32
        hi = None if hi is None else hi & _U32
        has_min, has_max = lo is not None, hi is not None
        if value is not None:
            lo = value if lo is None else lo
            hi = value if hi is None else hi
        elif has_min:
            if not has_max:
                value = hi = lo
            else:
                raise ConfigError("have min-valid-lifetime and max-valid-lifetime but no valid-lifetime (default) in %s"
                                  % getattr(where, "pos", None))
        else:
            value = lo = hi
        if lo > hi:
            if has_min and has_max:
                raise _Fail("the value of min-valid-lifetime (%d) is not less than max-valid-lifetime (%d)" % (lo, hi))
            if has_min:
                raise _Fail("the value of min-valid-lifetime (%d) is not less than (default) valid-lifetime (%d)"
                            % (lo, value))
            raise _Fail("the value of (default) valid-lifetime (%d) is not less than max-valid-lifetime (%d)"
                        % (value, hi))
        if value < lo or value > hi:
            raise _Fail("the value of (default) valid-lifetime (%d) is not between min-valid-lifetime (%d) and "
                        "max-valid-lifetime (%d)" % (value, lo, hi))
        return value, lo, hi

    def timers(self, scopes: Sequence[_Scope]) -> Tuple[Optional[int], Optional[int]]:
        """``parseCommon``'s renew/rebind checks on derived values."""
        renew = self._derived(scopes, "renew-timer", "integer")
        rebind = self._derived(scopes, "rebind-timer", "integer")
        if renew is not None and renew < 0:
            raise _Fail("the value of renew-timer (%d) must be a positive number" % renew)
        if rebind is not None and rebind < 0:
            raise _Fail("the value of rebind-timer (%d) must be a positive number" % rebind)
        if renew is not None and rebind is not None and renew > rebind:
            raise _Fail("the value of renew-timer (%d) is greater than the value of rebind-timer (%d)"
                        % (renew, rebind))
        return (None if renew is None else renew & _U32), (None if rebind is None else rebind & _U32)

    def _derived(self, scopes: Sequence[_Scope], key: str, kind: str, default: Any = None) -> Any:
        for s in scopes:
            if s.has(key):
                return self.get(s, key, kind)
        return default

    def tee_percents(self, scopes: Sequence[_Scope]) -> Tuple[bool, float, float]:
        """``parseTeePercents``: ranges checked only with calculate-tee-times."""
        calc = self._derived(scopes, "calculate-tee-times", "boolean", False)
        t2 = self._derived(scopes, "t2-percent", "real")
        t1 = self._derived(scopes, "t1-percent", "real")
        if calc:
            if t2 is not None and not 0.0 < t2 < 1.0:
                raise _Fail("t2-percent:  %s is invalid, it must be greater than 0.0 and less than 1.0" % _g(t2))
            if t1 is not None and not 0.0 < t1 < 1.0:
                raise _Fail("t1-percent:  %s is invalid it must be greater than 0.0 and less than 1.0" % _g(t1))
            if t1 is not None and t2 is not None and t1 >= t2:
                raise _Fail("t1-percent:  %s is invalid, it must be less than t2-percent: %s" % (_g(t1), _g(t2)))
        return calc, (0.5 if t1 is None else t1), (0.875 if t2 is None else t2)

    def ddns_and_cache(self, scope: _Scope) -> None:
        """``parseDdnsParams`` / ``parseCacheParams`` checks at one level."""
        charset = self.get(scope, "hostname-char-set", "string")
        if charset:
            try:
                re.compile(charset)
            except re.error:
                raise _Fail("hostname-char-set '%s' is not a valid regular expression" % charset)
        threshold = self.get(scope, "cache-threshold", "real")
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise _Fail("cache-threshold: %s is invalid, it must be greater than 0.0 and less than 1.0" % _g(threshold))

    def relay(self, scope: _Scope) -> Optional[Tuple[IPv4Address, ...]]:
        """``RelayInfoParser::parse``; None when the level has no relay."""
        m = self.get(scope, "relay", "map")
        if m is None:
            return None
        single = m.items.get("ip-address")
        many = m.items.get("ip-addresses")
        if single is not None and many is not None:
            raise ConfigError("specify either ip-address or ip-addresses, not both")
        if single is None and many is None:
            raise ConfigError("ip-addresses is required")
        key = "ip-address" if single is not None else "ip-addresses"
        texts = [self.check(single, key, "string")] if single is not None else list(self.strings(many, key))
        where = (single or many).pos
        found: List[IPv4Address] = []
        for text in texts:
            try:
                addr = _parse_address(text)
            except _Fail:
                raise ConfigError("address %s is not a valid: IPv4address (%s)" % (text, where))
            if not isinstance(addr, IPv4Address):
                raise ConfigError("address %s is not a: IPv4address (%s)" % (text, where))
            if addr in found:
                raise ConfigError("cannot add address: %s to relay info: RelayInfo already contains address: %s (%s)"
                                  % (text, text, where))
            found.append(addr)
        return tuple(found)

    def classes_required(self, scope: _Scope) -> Tuple[str, ...]:
        lst = self.get(scope, "require-client-classes", "list")
        if lst is None:
            return ()
        names = []
        for item in lst:
            if item.kind != "string" or not item.value:
                raise _Fail("invalid class name (%s)" % item.pos)
            names.append(item.value)
        return tuple(names)

    def next_server_sname_file(self, scope: _Scope) -> None:
        """Subnet / shared-network checks of next-server, server-hostname,
        boot-file-name (only when given at that level)."""
        if scope.has("next-server"):
            text = self.get(scope, "next-server", "string")
            if text:
                try:
                    addr = _parse_address(text)
                except _Fail:
                    addr = None
                if addr is None:
                    raise _Fail("invalid parameter next-server : %s(%s)" % (text, scope.pos("next-server")))
        sname = self.get(scope, "server-hostname", "string", "")
        if sname and len(sname.encode()) >= _MAX_SNAME:
            raise _Fail("server-hostname must be at most %d bytes long, it is %d (%s)"
                        % (_MAX_SNAME - 1, len(sname.encode()), scope.pos("server-hostname")))
        filename = self.get(scope, "boot-file-name", "string", "")
        if filename and len(filename.encode()) > _MAX_FILE:
            raise _Fail("boot-file-name must be at most %d bytes long, it is %d (%s)"
                        % (_MAX_FILE - 1, len(filename.encode()), scope.pos("boot-file-name")))

    def effective(self, scopes: Sequence[_Scope]) -> Dict[str, Any]:
        """Values every network level carries (subnet, network, global)."""
        kinds = {
            "match-client-id": "boolean", "authoritative": "boolean", "server-hostname": "string",
            "boot-file-name": "string", "reservations-global": "boolean", "reservations-in-subnet": "boolean",
            "reservations-out-of-pool": "boolean", "store-extended-info": "boolean", "cache-threshold": "real",
            "cache-max-age": "integer", "ddns-send-updates": "boolean", "ddns-override-no-update": "boolean",
            "ddns-override-client-update": "boolean", "ddns-replace-client-name": "string",
            "ddns-generated-prefix": "string", "ddns-qualifying-suffix": "string",
            "ddns-update-on-renew": "boolean", "ddns-use-conflict-resolution": "boolean",
            "hostname-char-set": "string", "hostname-char-replacement": "string",
        }
        out = {}
        for key, kind in kinds.items():
            out[key.replace("-", "_")] = self.lookup(list(scopes) + [self.g], key, kind)
        out["next_server"] = IPv4Address(0)
        for s in list(scopes) + [self.g]:
            if s.has("next-server"):
                text = self.get(s, "next-server", "string")
                if not text:
                    continue
                try:
                    addr = _parse_address(text)
                except _Fail:
                    addr = None
                out["next_server"] = addr if isinstance(addr, IPv4Address) else IPv4Address(0)
                break
        return out

    # ------------------------------------------------------------------
    # Pools, reservations, subnets, shared networks

    def pool(self, m: MapElement, registry: OptionDefinitions) -> Pool4:
        """``PoolParser::parse``."""
        if "pool" not in m.items:
            raise ConfigError("Mandatory 'pool' entry missing in definition: (%s)" % m.pos)
        elem = m.items["pool"]
        original = self.check(elem, "pool", "string")
        txt = original.replace(" ", "").replace("\t", "")
        first = last = None
        if "/" in txt:
            addr_text, _, len_text = txt.partition("/")
            try:
                addr = _parse_address(addr_text)
                if not re.fullmatch(r"[+-]?[0-9]+", len_text):
                    raise ValueError
                length = int(len_text)
                if not 0 <= length <= 255:
                    raise ValueError
            except (_Fail, ValueError):
                raise ConfigError("Failed to parse pool definition: %s (%s)" % (txt, elem.pos))
            if not isinstance(addr, IPv4Address) or length > 32:
                raise ConfigError("Failed to create pool defined by: %s (%s)" % (txt, elem.pos))
            # Pool4(prefix, len): first is the address as written, last the
            # prefix's last address.
            first = addr
            last = IPv4Network((int(addr), length), strict=False).broadcast_address
        elif "-" in txt:
            lo_text, _, hi_text = txt.partition("-")
            try:
                lo, hi = _parse_address(lo_text), _parse_address(hi_text)
            except _Fail:
                raise ConfigError("Failed to parse pool definition: %s (%s)" % (txt, elem.pos))
            if not isinstance(lo, IPv4Address) or not isinstance(hi, IPv4Address) or hi < lo:
                raise ConfigError("Failed to create pool defined by: %s (%s)" % (txt, elem.pos))
            first, last = lo, hi
        else:
            raise ConfigError("invalid pool definition: %s. There are two acceptable formats "
                              "<min address-max address> or <prefix/len> (%s)" % (original, elem.pos))
        options = ()
        if "option-data" in m.items:
            try:
                options = self.option_data_list(m, registry)
            except ConfigError as e:
                # Kea appends the position of the pool's option-data list.
                raise ConfigError(str(e), m.items["option-data"].pos)
        client_class = self.get(m, "client-class", "string") or None
        try:
            required = self.classes_required(_Scope(m))
        except _Fail as e:
            raise ConfigError(str(e))
        return Pool4(first=first, last=last, pool=original, option_data=options, client_class=client_class,
                     require_client_classes=required, user_context=self.user_context(m), pos=m.pos, source=m)

    def reservation(self, m: MapElement, subnet_id: int, registry: OptionDefinitions) -> Reservation:
        """``HostReservationParser4::parse`` (keys in Kea's std::map order)."""
        ids = ("circuit-id", "client-id", "duid", "flex-id", "hw-address")
        identifier_name = None
        for key in sorted(m.items):
            if key in ("comment",):
                continue
            if key in ids:
                if identifier_name is not None:
                    raise ConfigError("the '%s' and '%s' are mutually exclusive (%s)" % (key, identifier_name, m.pos))
                identifier_name = key
        if identifier_name is None:
            raise ConfigError("one of the supported identifiers must be specified for host reservation: %s (%s)"
                              % (", ".join(ids), m.pos))
        text = self.check(m.items[identifier_name], identifier_name, "string")
        if not text:
            raise ConfigError("empty host identifier used (%s)" % m.pos)
        try:
            identifier = config_binary(text)
            if not identifier:
                raise OptionDataError("empty")
        except OptionDataError:
            raise ConfigError("invalid host identifier value '%s' (%s)" % (text, m.pos))
        hostname = self.get(m, "hostname", "string", "")
        values: Dict[str, Any] = {}
        for key in sorted(m.items):
            elem = m.items[key]
            if key == "option-data":
                values["option_data"] = self.option_data_list(m, registry)
                continue
            try:
                if key == "ip-address":
                    addr = _parse_address(self.check(elem, key, "string"))
                    if not isinstance(addr, IPv4Address):
                        raise _Fail("address '%s' is not a valid IPv4 address" % addr)
                    if addr == IPv4Address(0) or addr == IPv4Address(_U32):
                        raise _Fail("must not make reservation for the '%s' address" % addr)
                    values["ip_address"] = addr
                elif key == "next-server":
                    addr = _parse_address(self.check(elem, key, "string"))
                    if not isinstance(addr, IPv4Address):
                        raise _Fail("next server address '%s' is not a valid IPv4 address" % addr)
                    if addr == IPv4Address(_U32):
                        raise _Fail("invalid next server address '%s'" % addr)
                    values["next_server"] = addr
                elif key == "server-hostname":
                    value = self.check(elem, key, "string")
                    if len(value.encode()) > _MAX_SNAME - 1:
                        raise _Fail("server hostname length must not exceed %d" % (_MAX_SNAME - 1))
                    values["server_hostname"] = value
                elif key == "boot-file-name":
                    value = self.check(elem, key, "string")
                    if len(value.encode()) > _MAX_FILE - 1:
                        raise _Fail("boot file name length must not exceed %d" % (_MAX_FILE - 1))
                    values["boot_file_name"] = value
                elif key == "client-classes":
                    values["client_classes"] = tuple(c for c in self.strings(elem, key) if c)
            except _Fail as e:
                raise ConfigError("%s (%s)" % (e, elem.pos))
        return Reservation(identifier_type=identifier_name, identifier=identifier, subnet_id=subnet_id,
                           hostname=hostname, user_context=self.user_context(m), pos=m.pos, source=m, **values)

    def add_host(self, host: Reservation) -> None:
        """``CfgHosts::add4``: a resource, then duplicates."""
        hw = host.identifier_type == "hw-address"
        duid = host.identifier_type == "duid"
        if not (host.hostname or host.ip_address or host.next_server or host.server_hostname
                or host.boot_file_name or host.option_data or host.client_classes):
            if hw:
                what = "for DUID: hwtype=1 " + _hex_colons(host.identifier)
            elif duid:
                what = "for HW address: " + _hex_colons(host.identifier)
            else:
                what = ""
            raise ConfigError("specified reservation %s must include at least one resource, i.e. hostname, "
                              "IPv4 address, IPv6 address/prefix, options" % what)
        same_subnet = [h for h in self.hosts if h.subnet_id == host.subnet_id]
        same_id = any(h.identifier_type == host.identifier_type and h.identifier == host.identifier
                      for h in same_subnet)
        if same_id and hw:
            raise ConfigError("failed to add new host using the HW address '%s' to the IPv4 subnet id '%d' as this "
                              "host has already been added" % (_hex_colons(host.identifier), host.subnet_id))
        if same_id and duid:
            raise ConfigError("failed to add new host using the DUID '%s' to the IPv4 subnet id '%d' as this host "
                              "has already been added" % (_hex_colons(host.identifier), host.subnet_id))
        if self.ip_unique and host.ip_address is not None and any(h.ip_address == host.ip_address
                                                                  for h in same_subnet):
            raise ConfigError(
                "failed to add new host using the HW address '%s and DUID '%s' to the IPv4 subnet id '%d' for the "
                "address %s: There's already a reservation for this address"
                % (_hex_colons(host.identifier) if hw else "(null)", _hex_colons(host.identifier) if duid else "(null)",
                   host.subnet_id, host.ip_address))
        if same_id:
            raise ConfigError("failed to add duplicate IPv4 host using identifier: %s=%s"
                              % (host.identifier_type, host.identifier.hex()))
        self.hosts.append(host)

    def subnet(self, m: MapElement, network: Optional[_Scope], network_name: Optional[str],
               network_values: Optional[Dict[str, Any]]) -> Subnet4:
        """``Subnet4ConfigParser::parse``: pools, option-data, relay, then
        the subnet itself (errors prefixed), then reservations."""
        scope = _Scope(m)
        registry = self.definitions
        pools = [self.pool(p, registry) for p in self.maps(scope, "pools")]
        options = self.option_data_list(scope, registry)
        relay = self.relay(scope)
        chain = [scope] + ([network] if network is not None else []) + [self.g]
        try:
            values = self._create_subnet(m, scope, chain, pools)
        except _Fail as e:
            raise ConfigError("subnet configuration failed: %s" % e)
        except ConfigError as e:
            if e.syntax:
                raise
            raise ConfigError("subnet configuration failed: %s" % str(e))
        prefix: IPv4Network = values["prefix"]
        # Reservations: all parsed, then each checked and added.
        hosts = [self.reservation(r, values["id"], registry) for r in self.maps(scope, "reservations")]
        for host in hosts:
            if host.ip_address is not None and host.ip_address not in prefix:
                raise ConfigError("specified reservation '%s' is not within the IPv4 subnet '%s'"
                                  % (host.ip_address, values["text"]))
            self.add_host(host)
        if relay is None:
            relay = network_values.get("relay_addresses", ()) if network_values else ()
        interface = values.pop("interface") or (network_values or {}).get("interface", "")
        client_class = values.pop("client_class") or (network_values or {}).get("client_class")
        del values["text"]
        return Subnet4(pools=tuple(sorted(pools, key=lambda p: p.first)), option_data=options,
                       reservations=tuple(hosts), shared_network=network_name, relay_addresses=tuple(relay),
                       interface=interface, client_class=client_class or None,
                       user_context=self.user_context(m), pos=m.pos, source=m, **values)

    def _create_subnet(self, m: MapElement, scope: _Scope, chain: List[_Scope], pools: List[Pool4]) -> Dict[str, Any]:
        if "subnet" not in m.items:
            raise _Fail("mandatory 'subnet' parameter is missing for a subnet being configured (%s)" % m.pos)
        elem = m.items["subnet"]
        text = self.check(elem, "subnet", "string").replace(" ", "").replace("\t", "")
        if "/" not in text:
            raise _Fail("Invalid subnet syntax (prefix/len expected):%s (%s)" % (text, elem.pos))
        addr_text, _, len_text = text.partition("/")
        addr = _parse_address(addr_text)
        if not re.fullmatch(r"[0-9]+", len_text):
            raise _Fail("prefix length: '%s' is not an integer (%s)" % (len_text, elem.pos))
        length = int(len_text)
        if (addr.version == 6 and length > 128) or (addr.version == 4 and length > 32):
            raise _Fail("Invalid prefix length specified for subnet: %d (%s)" % (length, elem.pos))
        subnet_id = self.get(scope, "id", "integer", 0)
        if subnet_id < 0 or subnet_id > 4294967294:
            raise _Fail("The 'id' value (%d) is not within expected range: (0 - 4294967294)" % subnet_id)
        if not isinstance(addr, IPv4Address):
            raise _Fail("Non IPv4 prefix %s specified in subnet4" % addr)
        if subnet_id == 0:
            subnet_id = self.next_subnet_id
            self.next_subnet_id += 1
        shown = "%s/%d" % (addr, length)
        prefix = IPv4Network((int(addr), length), strict=False)
        self.move_reservation_mode(scope)
        renew, rebind = self.timers(chain[:-1] + [self.g])
        valid, lo, hi = self.triplet(scope, m, scopes=chain + [_Defaults()])
        self.next_server_sname_file(scope)
        interface = self.get(scope, "interface", "string", "")
        if interface and interface not in self.interfaces:
            raise _Fail("Specified network interface name %s for subnet %s is not present in the system (%s)"
                        % (interface, shown, scope.pos("interface")))
        client_class = self.get(scope, "client-class", "string", "")
        required = self.classes_required(scope)
        o4o6_subnet = self.get(scope, "4o6-subnet", "string", "")
        if o4o6_subnet:
            if "/" not in o4o6_subnet:
                raise _Fail("Missing / in the 4o6-subnet parameter:%s, expected format: prefix6/length" % o4o6_subnet)
            p6, _, l6 = o4o6_subnet.partition("/")
            if not re.fullmatch(r"[0-9]+", l6):
                raise _Fail("Invalid prefix length specified in 4o6-subnet parameter: %s, expected 0..128 value"
                            % o4o6_subnet)
            _parse_address(p6)
        calc, t1, t2 = self.tee_percents(chain[:-1] + [self.g])
        self.ddns_and_cache(scope)
        # Pools join the subnet after it is built (errors carry its position).
        added: List[Pool4] = []
        for pool in pools:
            if pool.first not in prefix or pool.last not in prefix:
                raise ConfigError(
                    "a pool of type V4, with the following address range: %s-%s does not match the prefix of a "
                    "subnet: %s to which it is being added (%s)" % (pool.first, pool.last, shown, m.pos))
            if any(p.first <= pool.last and pool.first <= p.last for p in added):
                raise ConfigError(
                    "a pool of type V4, with the following address range: %s-%s overlaps with an existing pool in "
                    "the subnet: %s to which it is being added (%s)" % (pool.first, pool.last, shown, m.pos))
            added.append(pool)
        values = self.effective(chain[:-1])
        values.update(
            id=subnet_id, prefix=prefix, text=shown, interface=interface, client_class=client_class,
            require_client_classes=required, valid_lifetime=valid, min_valid_lifetime=lo, max_valid_lifetime=hi,
            renew_timer=renew, rebind_timer=rebind, calculate_tee_times=calc, t1_percent=t1, t2_percent=t2,
            o4o6_interface=self.get(scope, "4o6-interface", "string", ""),
            o4o6_interface_id=self.get(scope, "4o6-interface-id", "string", ""),
            o4o6_subnet=o4o6_subnet,
        )
        return values

    def shared_network(self, m: MapElement) -> Tuple[SharedNetwork4, List[Tuple[Subnet4, MapElement]]]:
        """``SharedNetwork4Parser::parse``."""
        scope = _Scope(m)
        name = self.get(scope, "name", "string")
        if name is None:
            raise ConfigError("missing parameter 'name' (%s)" % m.pos)
        self.move_reservation_mode(scope)
        try:
            renew, rebind = self.timers([scope, self.g])
            valid, lo, hi = self.triplet(scope, m, scopes=[scope, self.g, _Defaults()])
        except _Fail as e:
            raise ConfigError(str(e))
        interface = self.get(scope, "interface", "string", "")
        if interface and interface not in self.interfaces:
            raise ConfigError("Specified network interface name %s for shared network %s is not present in the "
                              "system (%s)" % (interface, name, scope.pos("interface")))
        options = self.option_data_list(scope)
        # Everything the subnets inherit from the network is computed first.
        try:
            relay = self.relay(scope)
            client_class = self.get(scope, "client-class", "string", "")
            network_values = {"relay_addresses": relay or (), "interface": interface,
                              "client_class": client_class or None}
            subnets: List[Tuple[Subnet4, MapElement]] = []
            ids: Set[int] = set()
            prefixes: Set[IPv4Network] = set()
            for sm in self.maps(scope, "subnet4"):
                sub = self.subnet(sm, scope, name, network_values)
                if sub.id in ids or sub.prefix in prefixes:
                    raise ConfigError("can't store subnet because of conflict (%s)" % sm.pos)
                ids.add(sub.id)
                prefixes.add(sub.prefix)
                subnets.append((sub, sm))
            self.next_server_sname_file(scope)
            required = self.classes_required(scope)
            calc, t1, t2 = self.tee_percents([scope, self.g])
            self.ddns_and_cache(scope)
        except _Fail as e:
            text = str(e)
            if text.startswith(("hostname-char-set", "cache-threshold")):
                raise ConfigError("%s (%s)" % (text, m.pos))
            raise ConfigError(text)
        values = self.effective([scope])
        network = SharedNetwork4(
            name=name, subnets=tuple(s for s, _ in subnets), option_data=options, interface=interface,
            client_class=client_class or None, require_client_classes=required, relay_addresses=relay or (),
            valid_lifetime=valid, min_valid_lifetime=lo, max_valid_lifetime=hi, renew_timer=renew,
            rebind_timer=rebind, calculate_tee_times=calc, t1_percent=t1, t2_percent=t2,
            user_context=self.user_context(m), pos=m.pos, source=m, **values,
        )
        return network, subnets

    # ------------------------------------------------------------------
    # The whole section

    def build(self) -> Dhcp4Config:
        g = self.g
        self.move_ddns_params()
        self.move_reservation_mode(g)
        self.ip_unique = self.get(g, "ip-reservations-unique", "boolean", True)

        option_defs: List[OptionDef] = []
        for m in self.maps(g, "option-def"):
            self.add_option_def(option_defs, self.option_def(m, self.definitions))
        self.definitions = STANDARD_DEFINITIONS.extend(d.definition for d in option_defs)
        option_data = self.option_data_list(g)
        control_socket = self.control_socket()
        multi_threading = self.multi_threading()
        queue_control = self.dhcp_queue_control()
        identifiers = self.host_reservation_identifiers()
        interfaces_config = self.interfaces_config()
        sanity = self.get(g, "sanity-checks", "map")
        sanity_checks = SanityChecks(
            lease_checks=self.get(sanity, "lease-checks", "string", "warn") if sanity is not None else "warn")
        expired = self.expired_leases_processing()
        hooks = self.hooks_libraries()
        ddns = self.dhcp_ddns()
        classes = self.client_classes()
        lease_db_map = self.get(g, "lease-database", "map")
        lease_database = (self.database(lease_db_map, LeaseDatabase) if lease_db_map is not None
                          else LeaseDatabase(name=D.LEASE_DATABASE_DEFAULTS["name"]))
        hosts_dbs: List[HostsDatabase] = []
        hosts_db_map = self.get(g, "hosts-database", "map")
        if hosts_db_map is not None:
            hosts_dbs.append(self.database(hosts_db_map, HostsDatabase))
        for m in self.maps(g, "hosts-databases"):
            hosts_dbs.append(self.database(m, HostsDatabase))

        networks: List[SharedNetwork4] = []
        network_list = self.get(g, "shared-networks", "list")
        for m in self.maps(g, "shared-networks"):
            network, _ = self.shared_network(m)
            if any(n.name == network.name for n in networks):
                raise ConfigError("duplicate network '%s' found in the configuration (%s)"
                                  % (network.name, network_list.pos))
            networks.append(network)
        all_ids: Set[int] = set()
        all_prefixes: Set[IPv4Network] = set()
        for network in networks:  # copySubnets4: no position in Kea's errors
            for sub in network.subnets:
                self._register(sub, all_ids, all_prefixes, None)
        subnets: List[Subnet4] = []
        for m in self.maps(g, "subnet4"):
            sub = self.subnet(m, None, None, None)
            self._register(sub, all_ids, all_prefixes, m.pos)
            subnets.append(sub)
        global_hosts = [self.reservation(m, 0, self.definitions) for m in self.maps(g, "reservations")]
        for host in global_hosts:
            self.add_host(host)
        config_control = None
        cc = self.get(g, "config-control", "map")
        if cc is not None:
            config_control = ConfigControl(
                config_databases=tuple(self.database(d) for d in self.maps(cc, "config-databases")),
                config_fetch_wait_time=self.get(cc, "config-fetch-wait-time", "integer",
                                                D.CONFIG_CONTROL_DEFAULTS["config-fetch-wait-time"]),
            )
        comp = self.get(g, "compatibility", "map")
        compatibility = Compatibility(
            lenient_option_parsing=self.get(comp, "lenient-option-parsing", "boolean", False)
            if comp is not None else False)
        loggers = self.loggers()

        # Global scalars ("<post parsing>" in Kea).
        def ranged(key: str, top: int) -> int:
            value = self.lookup([g], key, "integer")
            if value < 0 or value > top:
                raise ConfigError("out of range value (%d) specified for parameter '%s' (%s)"
                                  % (value, key, g.pos(key)))
            return value

        decline = ranged("decline-probation-period", _U32)
        dhcp4o6_port = ranged("dhcp4o6-port", 65535)
        try:
            valid, lo, hi = self.triplet(g, self.root, scopes=[g, _Defaults()])
        except _Fail as e:
            raise ConfigError(str(e))
        # Shared-network sanity checks.
        for network in networks:
            iface = network.interface
            for sub in network.subnets:
                if sub.authoritative != network.authoritative:
                    raise ConfigError("Subnet %s has different authoritative setting %s than the shared-network "
                                      "itself: %s" % (sub.subnet, str(sub.authoritative).lower(),
                                                      str(network.authoritative).lower()))
                own = self.get(sub.source, "interface", "string", "") if sub.source is not None else ""
                if not iface:
                    iface = own
                    continue
                if own and own != iface:
                    raise ConfigError("Subnet %s has specified interface %s, but earlier subnet in the same "
                                      "shared-network or the shared-network itself used %s" % (sub.subnet, own, iface))

        next_server_text = self.lookup([g], "next-server", "string")
        try:
            parsed = _parse_address(next_server_text) if next_server_text else IPv4Address(0)
        except _Fail:
            parsed = None
        renew = self.get(g, "renew-timer", "integer")
        rebind = self.get(g, "rebind-timer", "integer")
        scalars = self.effective([])
        del scalars["next_server"]
        return Dhcp4Config(
            valid_lifetime=valid, min_valid_lifetime=lo, max_valid_lifetime=hi,
            renew_timer=None if renew is None else renew & _U32,
            rebind_timer=None if rebind is None else rebind & _U32,
            decline_probation_period=decline, dhcp4o6_port=dhcp4o6_port,
            echo_client_id=self.lookup([g], "echo-client-id", "boolean"),
            next_server=parsed if isinstance(parsed, IPv4Address) else IPv4Address(0),
            next_server_text=next_server_text,
            server_tag=self.lookup([g], "server-tag", "string"),
            reservations_lookup_first=self.lookup([g], "reservations-lookup-first", "boolean"),
            early_global_reservations_lookup=self.lookup([g], "early-global-reservations-lookup", "boolean"),
            ip_reservations_unique=self.ip_unique,
            host_reservation_identifiers=identifiers,
            calculate_tee_times=self.lookup([g], "calculate-tee-times", "boolean"),
            t1_percent=self.lookup([g], "t1-percent", "real"),
            t2_percent=self.lookup([g], "t2-percent", "real"),
            statistic_default_sample_count=self.lookup([g], "statistic-default-sample-count", "integer"),
            statistic_default_sample_age=self.lookup([g], "statistic-default-sample-age", "integer"),
            parked_packet_limit=self.lookup([g], "parked-packet-limit", "integer"),
            interfaces_config=interfaces_config, lease_database=lease_database, hosts_databases=tuple(hosts_dbs),
            option_def=tuple(option_defs), option_data=option_data, client_classes=classes,
            subnet4=tuple(subnets), shared_networks=tuple(networks), reservations=tuple(global_hosts),
            hooks_libraries=hooks, loggers=loggers, expired_leases_processing=expired,
            multi_threading=multi_threading, control_socket=control_socket, dhcp_ddns=ddns,
            sanity_checks=sanity_checks, compatibility=compatibility, config_control=config_control,
            dhcp_queue_control=queue_control, user_context=self.user_context(self.root),
            option_definitions=self.definitions, source=self.root, **scalars,
        )

    @staticmethod
    def _register(sub: Subnet4, ids: Set[int], prefixes: Set[IPv4Network], pos: Optional[Position]) -> None:
        """``CfgSubnets4::add``."""
        suffix = " (%s)" % pos if pos is not None else ""
        if sub.id in ids:
            raise ConfigError("ID of the new IPv4 subnet '%d' is already in use%s" % (sub.id, suffix))
        if sub.prefix in prefixes:
            raise ConfigError("subnet with the prefix of '%s' already exists%s" % (sub.subnet, suffix))
        ids.add(sub.id)
        prefixes.add(sub.prefix)


class _Defaults(_Scope):
    """The bottom of an inheritance chain: ``GLOBAL4_DEFAULTS``."""

    def __init__(self) -> None:
        super().__init__(MapElement({}))
        self.overrides = dict(D.GLOBAL4_DEFAULTS)


class _ClassDefs(OptionDefinitions):
    """Option lookup for a class's option-data: the class's own
    definitions first, then the server's."""

    def __init__(self, defs: Sequence[OptionDef], base: OptionDefinitions):
        self._own = {(d.space, d.code): d.definition for d in defs}
        self._own_names = {(d.space, d.name): d.definition for d in defs}
        self._base = base

    def find(self, space, code=None, name=None):
        own = self._own.get((space, code)) if code is not None else self._own_names.get((space, name or ""))
        return own or self._base.find(space, code, name)

    def __getattr__(self, attr):
        return getattr(self._base, attr)


def _g(value: float) -> str:
    """A double as C++'s ``operator<<`` prints it (6 significant digits)."""
    return "%g" % value


_TRAILING_POS = re.compile(r"^(.*) \((.+):([0-9]+):([0-9]+)\)$", re.S)


def _positioned(error: ConfigError) -> ConfigError:
    """Errors are built as Kea's text, ``message (file:line:col)``; give
    back a :class:`ConfigError` whose ``pos`` is that trailing position (so
    ``str()`` is unchanged).  Elements without a position (trees from
    ``from_python``) leave ``(None)`` in the text: dropped."""
    if error.syntax or error.pos is not None:
        return error
    message = error.message
    while message.endswith(" (None)"):
        message = message[: -len(" (None)")]
    message = message.replace(" (None)", "").replace("(None)", "")
    match = _TRAILING_POS.match(message)
    if match:
        text, file, line, col = match.groups()
        return ConfigError(text, Position(file, int(line), int(col)))
    return ConfigError(message)


def build_config(dhcp4: MapElement, *, interfaces: Optional[InterfaceMap] = None,
                 discover: Callable[[], InterfaceMap] = system_interfaces) -> Dhcp4Config:
    """Validate the ``Dhcp4`` map (after the grammar checks) and build the
    model.

    :param interfaces: interface name -> IPv4 addresses, as this machine
        has them; when None, ``discover()`` is called (by default
        :func:`system_interfaces`).
    :raises ConfigError: Kea's semantic error (``syntax`` False).
    """
    if not isinstance(dhcp4, MapElement):
        raise ConfigError("Dhcp4 configuration must be a map", getattr(dhcp4, "pos", None))
    found = discover() if interfaces is None else interfaces
    try:
        return _Builder(dhcp4, found).build()
    except ConfigError as e:
        raise _positioned(e) from None
    except _Fail as e:
        raise ConfigError(str(e)) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, RecursionError) as e:
        # Robustness net: an input shape the grammar should have refused.
        raise ConfigError("invalid configuration: %s" % e, getattr(dhcp4, "pos", None))
