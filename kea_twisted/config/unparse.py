"""
The running configuration back to Kea's JSON: what ``config-get`` answers
and ``config-write`` writes.

Kea 2.2 does not echo the file it read: ``config-get`` serialises its
parsed configuration (``SrvConfig::toElement`` and the ``toElement`` of
every part, ``src/lib/dhcpsrv/srv_config.cc`` and ``cfg_*.cc`` at tag
Kea-2.2.0), so the answer holds every default and every value a subnet
inherited in the JSON (``SimpleParser4::deriveParameters``), and Kea's own
spelling of values.  This module rebuilds that document from the model
(:mod:`kea_twisted.config.model`) and from the ``source`` maps the model
keeps, replaying Kea's JSON pre-passes (``dhcp-ddns`` keys moved,
``reservation-mode`` moved, defaults set, parameters derived) to know which
parameters Kea counts as *specified* at each level.

Facts from Kea 2.2 (config-get on several configurations; see
tests/test_config_unparse.py, whose expectations were recorded from a live
``kea-dhcp4``):

* globals: every scalar of the ``Dhcp4`` map that Kea stores as a
  "configured global" (:data:`CONFIGURED_GLOBALS`) after defaults, with
  the value as written (``-1`` stays ``-1``); ``min-valid-lifetime``,
  ``renew-timer`` & co. appear only when configured;
* ``subnet4`` is sorted by subnet id, ``shared-networks`` by name, and a
  network's subnets by id; the ``subnet`` text keeps the address as written
  (``10.2.0.5/24``);
* a subnet always has ``id``, ``subnet``, ``relay`` (``{"ip-addresses":
  []}`` when none), ``option-data``, ``pools``, ``reservations`` and the
  three ``4o6-*`` keys; ``valid-lifetime`` comes with ``min-`` and
  ``max-valid-lifetime``; ``interface``, ``client-class`` and
  ``next-server`` only when set and not empty;
* pools are ``first-last`` unless the range is exactly a prefix, then
  ``first/len`` (``10.1.0.0 - 10.1.0.255`` becomes ``10.1.0.0/24``);
* option data is grouped by space (spaces in byte order, vendor spaces
  after them), config order within a space; ``name`` only when Kea knows a
  definition; ``data`` is the configured text when ``csv-format`` is true,
  else the payload in upper-case hex (``c0000201`` -> ``C0000201``);
* reservations are ordered by identifier bytes, then identifier type
  (Kea's host container index), and grouped by subnet; ``hw-address`` and
  ``duid`` print as lower-case colon hex, the other identifiers as
  upper-case hex; hostnames keep their case;
* ``interfaces-config`` names ``*`` first, then the names (sorted, without
  duplicates), then the ``name/address`` entries; ``dhcp-socket-type`` only
  when ``udp``, ``outbound-interface`` only when ``use-routing``, the
  ``service-sockets-*`` keys only when not default;
* ``lease-database`` holds what was configured (nothing else: no default
  file name), ``{"type": "memfile"}`` when absent;
* ``compatibility`` is never shown (Kea 2.2 does not unparse it);
  ``config-control`` always has ``config-databases``;
* a logger's ``maxver``/``maxsize`` are shown for file outputs only.

:func:`pretty_print` is Kea's ``prettyPrint`` (what ``config-write``
writes: two-space indent, keys sorted, short lists on one line).

Tests: tests/test_config_unparse.py
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from kea_twisted.config import defaults as D
from kea_twisted.config.element import MapElement
from kea_twisted.config.model import (
    IDENTIFIER_TYPES,
    ClientClass,
    DatabaseConfig,
    Dhcp4Config,
    OptionData,
    OptionDef,
    Pool4,
    Reservation,
    SharedNetwork4,
    Subnet4,
)
from kea_twisted.kea_json import kea_bytes, to_kea_text

__all__ = [
    "CONFIGURED_GLOBALS",
    "unparse_config",
    "unparse_dhcp4",
    "pretty_print",
]

_U32 = 0xFFFFFFFF

#: The global scalars Kea 2.2 keeps as "configured globals" and returns in
#: ``config-get`` (``json_config_parser.cc`` ``configureDhcp4Server``).
CONFIGURED_GLOBALS: Tuple[str, ...] = (
    "renew-timer", "rebind-timer", "valid-lifetime", "min-valid-lifetime", "max-valid-lifetime",
    "decline-probation-period", "dhcp4o6-port", "echo-client-id", "match-client-id",
    "authoritative", "next-server", "server-hostname", "boot-file-name", "server-tag",
    "reservations-global", "reservations-in-subnet", "reservations-out-of-pool",
    "calculate-tee-times", "t1-percent", "t2-percent", "cache-threshold", "cache-max-age",
    "hostname-char-set", "hostname-char-replacement", "ddns-send-updates",
    "ddns-override-no-update", "ddns-override-client-update", "ddns-replace-client-name",
    "ddns-generated-prefix", "ddns-qualifying-suffix", "ddns-update-on-renew",
    "ddns-use-conflict-resolution", "store-extended-info", "statistic-default-sample-count",
    "statistic-default-sample-age", "early-global-reservations-lookup", "ip-reservations-unique",
    "reservations-lookup-first", "parked-packet-limit",
)

#: Network parameters Kea shows only when set at that level (own or derived
#: in the JSON), with the value as configured.
_NETWORK_PLAIN = (
    "reservations-global", "reservations-in-subnet", "reservations-out-of-pool",
    "calculate-tee-times", "ddns-send-updates", "ddns-override-no-update",
    "ddns-override-client-update", "ddns-replace-client-name", "ddns-generated-prefix",
    "ddns-qualifying-suffix", "hostname-char-set", "hostname-char-replacement",
    "store-extended-info", "ddns-update-on-renew", "ddns-use-conflict-resolution",
    "match-client-id", "authoritative", "server-hostname", "boot-file-name",
)

#: Keys ``DatabaseConnection::toElement`` knows, by kind.
_DB_INTEGERS = ("lfc-interval", "connect-timeout", "reconnect-wait-time", "max-reconnect-tries",
                "port", "max-row-errors")
_DB_BOOLEANS = ("persist", "readonly")
_DB_STRINGS = ("type", "user", "password", "host", "name", "on-fail", "trust-anchor",
               "cert-file", "key-file", "cipher-list")

#: Outputs for which Kea shows no ``maxver``/``maxsize``.
_NON_FILE_OUTPUTS = ("stdout", "stderr", "syslog")


# ---------------------------------------------------------------------------
# Kea's JSON pre-passes, on plain values


def _plain(element: Optional[MapElement]) -> Dict[str, Any]:
    if element is None:
        return {}
    value = element.to_python()
    return value if isinstance(value, dict) else {}


def _move_reservation_mode(level: Dict[str, Any]) -> None:
    """``BaseNetworkParser::moveReservationMode``."""
    mode = level.pop("reservation-mode", None)
    if isinstance(mode, str):
        for key, flag in D.RESERVATION_MODES.get(mode, {}).items():
            level[key] = flag


def _set_defaults(level: Dict[str, Any], defaults) -> None:
    for key, value in defaults.items():
        level.setdefault(key, value)


def _derive(child: Dict[str, Any], parent: Dict[str, Any]) -> None:
    """``SimpleParser::deriveParams`` with ``INHERIT_TO_SUBNET4``."""
    for key in D.INHERIT_TO_SUBNET4:
        if key in parent and key not in child:
            child[key] = copy.deepcopy(parent[key])


def _global_json(config: Dhcp4Config) -> Dict[str, Any]:
    """The ``Dhcp4`` map as Kea holds it after its pre-passes."""
    top = _plain(config.source)
    ddns = top.get("dhcp-ddns")
    if isinstance(ddns, dict):
        for old, new in D.DDNS_MOVED_PARAMETERS.items():
            if old in ddns and new not in top:
                top[new] = ddns[old]
    _move_reservation_mode(top)
    _set_defaults(top, D.GLOBAL4_DEFAULTS)
    return top


# ---------------------------------------------------------------------------
# Pieces


def _int32(value: Any) -> Any:
    return value & _U32 if isinstance(value, int) and not isinstance(value, bool) else value


def _space_order(space: str) -> Tuple[int, Any]:
    # Kea lists the named option spaces (std::map order), then the vendor
    # spaces by vendor id.
    if space.startswith("vendor-") and space[7:].isdigit():
        return (1, int(space[7:]))
    return (0, kea_bytes(space))


def _by_space(items: Iterable[Any]) -> List[Any]:
    return sorted(items, key=lambda item: _space_order(item.space))


def option_data_list(options: Sequence[OptionData]) -> List[Dict[str, Any]]:
    """``CfgOption::toElement``."""
    out = []
    for option in _by_space(options):
        entry: Dict[str, Any] = {"space": option.space, "code": option.code}
        if option.user_context is not None:
            entry["user-context"] = dict(option.user_context)
        if option.definition is not None:
            entry["name"] = option.definition.name
        if option.csv_format and option.data:
            entry["csv-format"] = True
            entry["data"] = option.data
        else:
            entry["csv-format"] = False
            entry["data"] = option.payload.hex().upper()
        entry["always-send"] = bool(option.always_send)
        out.append(entry)
    return out


def option_def_list(definitions: Sequence[OptionDef]) -> List[Dict[str, Any]]:
    """``CfgOptionDef::toElement``."""
    out = []
    for definition in _by_space(definitions):
        entry: Dict[str, Any] = {
            "space": definition.space,
            "name": definition.name,
            "code": definition.code,
            "type": definition.type,
            "array": bool(definition.array),
            "encapsulate": definition.encapsulate,
            "record-types": ", ".join(definition.record_types),
        }
        if definition.user_context is not None:
            entry["user-context"] = dict(definition.user_context)
        out.append(entry)
    return out


def _prefix_length(first: ipaddress.IPv4Address, last: ipaddress.IPv4Address) -> int:
    """``prefixLengthFromRange``: the length when first..last is exactly
    one prefix, else -1."""
    size = int(last) - int(first) + 1
    if size <= 0 or size & (size - 1) or int(first) % size:
        return -1
    return 32 - (size.bit_length() - 1)


def _pool(pool: Pool4) -> Dict[str, Any]:
    """``Pool4::toElement``."""
    length = _prefix_length(pool.first, pool.last)
    text = f"{pool.first}/{length}" if length >= 0 else f"{pool.first}-{pool.last}"
    entry: Dict[str, Any] = {"pool": text, "option-data": option_data_list(pool.option_data)}
    if pool.user_context is not None:
        entry["user-context"] = dict(pool.user_context)
    if pool.client_class:
        entry["client-class"] = pool.client_class
    if pool.require_client_classes:
        entry["require-client-classes"] = list(pool.require_client_classes)
    return entry


def _identifier_text(reservation: Reservation) -> str:
    data = reservation.identifier
    if reservation.identifier_type in ("hw-address", "duid"):
        return ":".join(f"{b:02x}" for b in data)
    return data.hex().upper()


def _reservation_order(reservation: Reservation) -> Tuple[bytes, int]:
    kind = reservation.identifier_type
    return (reservation.identifier, IDENTIFIER_TYPES.index(kind) if kind in IDENTIFIER_TYPES else 99)


def reservation_list(reservations: Iterable[Reservation]) -> List[Dict[str, Any]]:
    """``Host::toElement4`` for each, in Kea's host container order."""
    out = []
    for host in sorted(reservations, key=_reservation_order):
        entry: Dict[str, Any] = {host.identifier_type: _identifier_text(host)}
        if host.user_context is not None:
            entry["user-context"] = dict(host.user_context)
        if host.ip_address is not None and int(host.ip_address) != 0:
            entry["ip-address"] = str(host.ip_address)
        entry["hostname"] = host.hostname
        entry["next-server"] = str(host.next_server or ipaddress.IPv4Address(0))
        entry["server-hostname"] = host.server_hostname
        entry["boot-file-name"] = host.boot_file_name
        entry["client-classes"] = list(host.client_classes)
        entry["option-data"] = option_data_list(host.option_data)
        out.append(entry)
    return out


def _client_class(cls: ClientClass) -> Dict[str, Any]:
    """``ClientClassDef::toElement`` (DHCPv4)."""
    entry: Dict[str, Any] = {"name": cls.name}
    if cls.user_context is not None:
        entry["user-context"] = dict(cls.user_context)
    if cls.test:
        entry["test"] = cls.test
    if cls.only_if_required:
        entry["only-if-required"] = True
    entry["option-def"] = option_def_list(cls.option_def)
    entry["option-data"] = option_data_list(cls.option_data)
    entry["next-server"] = str(cls.next_server or ipaddress.IPv4Address(0))
    entry["server-hostname"] = cls.server_hostname
    entry["boot-file-name"] = cls.boot_file_name
    if cls.valid_lifetime is not None:
        entry["valid-lifetime"] = cls.valid_lifetime
        if cls.min_valid_lifetime is not None and cls.min_valid_lifetime < cls.valid_lifetime:
            entry["min-valid-lifetime"] = cls.min_valid_lifetime
        if cls.max_valid_lifetime is not None and cls.max_valid_lifetime > cls.valid_lifetime:
            entry["max-valid-lifetime"] = cls.max_valid_lifetime
    return entry


def _database(database: DatabaseConfig) -> Dict[str, Any]:
    """``DatabaseConnection::toElement`` of the access string: the
    configured keys Kea knows, typed."""
    out: Dict[str, Any] = {}
    for key, value in (database.parameters or {}).items():
        if key in _DB_INTEGERS and isinstance(value, int) and not isinstance(value, bool):
            out[key] = value
        elif key in _DB_BOOLEANS and isinstance(value, bool):
            out[key] = value
        elif key in _DB_STRINGS and isinstance(value, str):
            out[key] = value
    if not out and not database.parameters:
        out["type"] = database.type
    return out


def _interfaces_config(config: Dhcp4Config) -> Dict[str, Any]:
    """``CfgIface::toElement``."""
    ic = config.interfaces_config
    wildcard = False
    names: set = set()
    addresses: List[Tuple[str, str]] = []
    for entry in ic.interfaces:
        name, slash, address = entry.partition("/")
        name = name.strip(" \t\n\r")
        if not slash:
            if name == "*":
                wildcard = True
            else:
                names.add(name)
            continue
        try:
            text = str(ipaddress.IPv4Address(address.strip(" \t\n\r")))
        except ValueError:
            text = address
        if (name, text) not in addresses:
            addresses.append((name, text))
    listed: List[str] = ["*"] if wildcard else []
    listed.extend(sorted(names, key=kea_bytes))
    # A multimap by interface name: stable within one name.
    listed.extend(f"{name}/{text}" for name, text in sorted(addresses, key=lambda a: kea_bytes(a[0])))
    out: Dict[str, Any] = {"interfaces": listed, "re-detect": bool(ic.re_detect)}
    if ic.user_context is not None:
        out["user-context"] = dict(ic.user_context)
    if ic.dhcp_socket_type == "udp":
        out["dhcp-socket-type"] = "udp"
    if ic.outbound_interface != "same-as-inbound":
        out["outbound-interface"] = ic.outbound_interface
    if ic.service_sockets_require_all:
        out["service-sockets-require-all"] = True
    if ic.service_sockets_max_retries != 0:
        out["service-sockets-max-retries"] = ic.service_sockets_max_retries
        out["service-sockets-retry-wait-time"] = ic.service_sockets_retry_wait_time
    return out


def _dhcp_ddns(config: Dhcp4Config) -> Dict[str, Any]:
    """``D2ClientConfig::toElement`` (the moved deprecated keys are gone)."""
    d = config.dhcp_ddns
    out: Dict[str, Any] = {
        "enable-updates": bool(d.enable_updates),
        "server-ip": _address_text(d.server_ip),
        "server-port": d.server_port,
        "sender-ip": _address_text(d.sender_ip),
        "sender-port": d.sender_port,
        "max-queue-size": d.max_queue_size,
        "ncr-protocol": d.ncr_protocol,
        "ncr-format": d.ncr_format,
    }
    if d.user_context is not None:
        out["user-context"] = dict(d.user_context)
    return out


def _address_text(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return text


def _loggers(config: Dhcp4Config) -> List[Dict[str, Any]]:
    """``LoggingInfo::toElement``."""
    out = []
    for logger in config.loggers:
        entry: Dict[str, Any] = {
            "name": logger.name,
            "severity": logger.severity,
            "debuglevel": logger.debuglevel,
        }
        if logger.user_context is not None:
            entry["user-context"] = dict(logger.user_context)
        if logger.output_options:
            outputs = []
            for output in logger.output_options:
                item: Dict[str, Any] = {"output": output.output, "flush": bool(output.flush),
                                        "pattern": output.pattern}
                if output.output not in _NON_FILE_OUTPUTS and "syslog:" not in output.output:
                    item["maxver"] = output.maxver
                    item["maxsize"] = output.maxsize
                outputs.append(item)
            entry["output_options"] = outputs
        out.append(entry)
    return out


# ---------------------------------------------------------------------------
# Networks


def _network(json: Dict[str, Any], model: Any) -> Dict[str, Any]:
    """``Network4::toElement``: what ``json`` (the level's map after Kea's
    pre-passes) specifies, with the model's normalised values."""
    out: Dict[str, Any] = {}
    if isinstance(json.get("user-context"), dict):
        out["user-context"] = json["user-context"]
    if json.get("interface"):
        out["interface"] = json["interface"]
    out["relay"] = {"ip-addresses": [str(a) for a in (model.relay_addresses or ())]}
    if json.get("client-class"):
        out["client-class"] = json["client-class"]
    required = json.get("require-client-classes")
    if required:
        out["require-client-classes"] = list(required)
    for key in ("renew-timer", "rebind-timer"):
        if key in json:
            out[key] = _int32(json[key])
    if any(key in json for key in ("valid-lifetime", "min-valid-lifetime", "max-valid-lifetime")):
        out["valid-lifetime"] = model.valid_lifetime
        out["min-valid-lifetime"] = model.min_valid_lifetime
        out["max-valid-lifetime"] = model.max_valid_lifetime
    out["option-data"] = option_data_list(model.option_data)
    for key in ("t1-percent", "t2-percent", "cache-threshold"):
        if key in json:
            out[key] = float(json[key])
    if "cache-max-age" in json:
        out["cache-max-age"] = _int32(json["cache-max-age"])
    for key in _NETWORK_PLAIN:
        if key in json:
            out[key] = json[key]
    next_server = json.get("next-server")
    if next_server:
        out["next-server"] = _address_text(next_server)
    return out


def _subnet_text(json: Dict[str, Any], subnet: Subnet4) -> str:
    """``Subnet::toText``: the address as configured, then the length."""
    text = json.get("subnet")
    if isinstance(text, str) and "/" in text:
        address = text.split("/", 1)[0].strip()
        try:
            return f"{ipaddress.IPv4Address(address)}/{subnet.prefix.prefixlen}"
        except ValueError:
            pass
    return subnet.subnet


def _o4o6_subnet(text: str) -> str:
    if not text:
        return ""
    try:
        network = ipaddress.IPv6Network(text.strip(), strict=False)
    except ValueError:
        return text
    address = text.strip().split("/", 1)[0]
    try:
        address = str(ipaddress.IPv6Address(address))
    except ValueError:
        address = str(network.network_address)
    return f"{address}/{network.prefixlen}"


def _subnet(json: Dict[str, Any], subnet: Subnet4, hosts: List[Reservation]) -> Dict[str, Any]:
    """``Subnet4::toElement`` plus its reservations."""
    out = _network(json, subnet)
    out["id"] = subnet.id
    out["subnet"] = _subnet_text(json, subnet)
    out["4o6-interface"] = json.get("4o6-interface", "") or ""
    out["4o6-interface-id"] = json.get("4o6-interface-id", "") or ""
    out["4o6-subnet"] = _o4o6_subnet(json.get("4o6-subnet", "") or "")
    out["pools"] = [_pool(pool) for pool in subnet.pools]
    out["reservations"] = reservation_list(hosts)
    return out


def _subnet_json(subnet: Subnet4, parent: Dict[str, Any], in_network: bool) -> Dict[str, Any]:
    json = _plain(subnet.source)
    _move_reservation_mode(json)
    _set_defaults(json, D.SHARED_SUBNET4_DEFAULTS if in_network else D.SUBNET4_DEFAULTS)
    _derive(json, parent)
    return json


def _shared_network(network: SharedNetwork4, top: Dict[str, Any], config: Dhcp4Config) -> Dict[str, Any]:
    json = _plain(network.source)
    _move_reservation_mode(json)
    _set_defaults(json, D.SHARED_NETWORK4_DEFAULTS)
    _derive(json, top)
    out = _network(json, network)
    if network.name:
        out["name"] = network.name
    out["subnet4"] = [
        _subnet(_subnet_json(subnet, json, True), subnet, subnet.reservations)
        for subnet in sorted(network.subnets, key=lambda s: s.id)
    ]
    return out


# ---------------------------------------------------------------------------
# The whole document


def unparse_dhcp4(config: Dhcp4Config) -> Dict[str, Any]:
    """The ``Dhcp4`` map Kea 2.2's ``config-get`` would return for
    ``config`` (plain values)."""
    top = _global_json(config)
    dhcp4: Dict[str, Any] = {}
    for key in CONFIGURED_GLOBALS:
        if key in top and not isinstance(top[key], (dict, list)):
            dhcp4[key] = top[key]
    # Values the statistic-*-set-all commands change at run time.
    dhcp4["statistic-default-sample-count"] = config.statistic_default_sample_count
    dhcp4["statistic-default-sample-age"] = config.statistic_default_sample_age
    if config.loggers:
        dhcp4["loggers"] = _loggers(config)
    if isinstance(top.get("user-context"), dict):
        dhcp4["user-context"] = top["user-context"]
    dhcp4["decline-probation-period"] = config.decline_probation_period
    dhcp4["echo-client-id"] = bool(config.echo_client_id)
    dhcp4["dhcp4o6-port"] = config.dhcp4o6_port
    dhcp4["dhcp-ddns"] = _dhcp_ddns(config)
    dhcp4["interfaces-config"] = _interfaces_config(config)
    dhcp4["option-def"] = option_def_list(config.option_def)
    dhcp4["option-data"] = option_data_list(config.option_data)
    dhcp4["subnet4"] = [
        _subnet(_subnet_json(subnet, top, False), subnet, subnet.reservations)
        for subnet in sorted(config.subnet4, key=lambda s: s.id)
    ]
    dhcp4["shared-networks"] = [
        _shared_network(network, top, config)
        for network in sorted(config.shared_networks, key=lambda n: kea_bytes(n.name))
    ]
    if config.reservations:
        dhcp4["reservations"] = reservation_list(config.reservations)
    expired = config.expired_leases_processing
    dhcp4["expired-leases-processing"] = {
        "reclaim-timer-wait-time": expired.reclaim_timer_wait_time,
        "flush-reclaimed-timer-wait-time": expired.flush_reclaimed_timer_wait_time,
        "hold-reclaimed-time": expired.hold_reclaimed_time,
        "max-reclaim-leases": expired.max_reclaim_leases,
        "max-reclaim-time": expired.max_reclaim_time,
        "unwarned-reclaim-cycles": expired.unwarned_reclaim_cycles,
    }
    dhcp4["lease-database"] = _lease_database(config, top)
    hosts = [_database(db) for db in config.hosts_databases]
    hosts = [h for h in hosts if h]
    if hosts:
        dhcp4["hosts-databases"] = hosts
    dhcp4["host-reservation-identifiers"] = list(config.host_reservation_identifiers)
    if config.control_socket is not None and isinstance(top.get("control-socket"), dict):
        dhcp4["control-socket"] = top["control-socket"]
    if config.client_classes:
        dhcp4["client-classes"] = [_client_class(cls) for cls in config.client_classes]
    dhcp4["hooks-libraries"] = [_hook_library(lib) for lib in config.hooks_libraries]
    dhcp4["sanity-checks"] = {"lease-checks": config.sanity_checks.lease_checks}
    if config.config_control is not None:
        control: Dict[str, Any] = {
            "config-databases": [_database(db) for db in config.config_control.config_databases],
        }
        configured = top.get("config-control")
        if isinstance(configured, dict) and "config-fetch-wait-time" in configured:
            control["config-fetch-wait-time"] = config.config_control.config_fetch_wait_time
        dhcp4["config-control"] = control
    dhcp4["dhcp-queue-control"] = _with_defaults(top.get("dhcp-queue-control"), D.DHCP_QUEUE_CONTROL4_DEFAULTS)
    dhcp4["multi-threading"] = _with_defaults(top.get("multi-threading"), D.MULTI_THREADING_DEFAULTS)
    return dhcp4


def _lease_database(config: Dhcp4Config, top: Dict[str, Any]) -> Dict[str, Any]:
    if not isinstance(top.get("lease-database"), dict):
        return {"type": "memfile"}  # CfgDbAccess's access string "type=memfile"
    return _database(config.lease_database)


def _hook_library(library: Any) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"library": library.library}
    if library.parameters is not None:
        entry["parameters"] = copy.deepcopy(dict(library.parameters)) \
            if isinstance(library.parameters, dict) else library.parameters
    return entry


def _with_defaults(configured: Any, defaults) -> Dict[str, Any]:
    out = dict(configured) if isinstance(configured, dict) else {}
    _set_defaults(out, defaults)
    return out


def unparse_config(config: Dhcp4Config) -> Dict[str, Any]:
    """``{"Dhcp4": ...}``: the ``arguments`` of Kea's ``config-get`` answer
    and the document ``config-write`` writes."""
    return {"Dhcp4": unparse_dhcp4(config)}


# ---------------------------------------------------------------------------
# Kea's prettyPrint


def pretty_print(value: Any, indent: int = 0, step: int = 2) -> str:
    """Kea's ``prettyPrint`` (``src/lib/cc/data.cc``): maps one key per line
    (keys in byte order), lists of maps or lists one item per line, other
    lists on one line (``[ 1, 2 ]``), ``{ }`` and ``[ ]`` when empty;
    scalars as :func:`~kea_twisted.kea_json.to_kea_text`.  No final newline."""
    parts: List[str] = []
    _pretty(value, indent, step, parts)
    return "".join(parts)


def _pretty(value: Any, indent: int, step: int, out: List[str]) -> None:
    if isinstance(value, (list, tuple)):
        if not value:
            out.append("[ ]")
            return
        complex_items = isinstance(value[0], (dict, list, tuple))
        out.append("[\n" if complex_items else "[ ")
        for index, item in enumerate(value):
            if index:
                out.append(",\n" if complex_items else ", ")
            if complex_items:
                out.append(" " * (indent + step))
            _pretty(item, indent + step, step, out)
        out.append("\n" + " " * indent + "]" if complex_items else " ]")
    elif isinstance(value, dict):
        if not value:
            out.append("{ }")
            return
        out.append("{\n")
        for index, key in enumerate(sorted(value, key=kea_bytes)):
            if index:
                out.append(",\n")
            out.append(" " * (indent + step) + '"' + key + '": ')
            _pretty(value[key], indent + step, step, out)
        out.append("\n" + " " * indent + "}")
    else:
        out.append(to_kea_text(value))
