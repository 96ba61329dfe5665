"""
Kea 2.2's configuration defaults and inheritance rules, as data.

Kea fills defaults into the JSON tree before parsing it
(``src/lib/dhcpsrv/parsers/simple_parser4.cc`` at tag Kea-2.2.0,
``SimpleParser4::setAllDefaults``), then copies the parameters of
:data:`INHERIT_TO_SUBNET4` from the global map into every top-level subnet,
from the global map into every shared network, and from each shared network
into its subnets (``SimpleParser4::deriveParameters``).  Everything else a
subnet uses is looked up at run time through ``Network::getProperty``:
subnet, then its shared network, then the global value
(:data:`NETWORK_INHERITED`).  :mod:`kea_twisted.config.builder` applies these
tables; the model then carries the *effective* values on every subnet.

The values were checked against ``config-get`` on a minimal configuration
(spec/dhcp4.md §17, spec/recorded/config_get_full.json).

Tests: tests/test_config_model.py
"""

from __future__ import annotations

from typing import Any, Mapping, Tuple

__all__ = [
    "GLOBAL4_DEFAULTS",
    "OPTION4_DEF_DEFAULTS",
    "OPTION4_DEFAULTS",
    "SUBNET4_DEFAULTS",
    "SHARED_SUBNET4_DEFAULTS",
    "SHARED_NETWORK4_DEFAULTS",
    "INHERIT_TO_SUBNET4",
    "NETWORK_INHERITED",
    "IFACE4_DEFAULTS",
    "INTERFACES_CONFIG_DEFAULTS",
    "DHCP_QUEUE_CONTROL4_DEFAULTS",
    "MULTI_THREADING_DEFAULTS",
    "SANITY_CHECKS4_DEFAULTS",
    "EXPIRED_LEASES_PROCESSING_DEFAULTS",
    "DHCP_DDNS_DEFAULTS",
    "DDNS_MOVED_PARAMETERS",
    "LOGGER_DEFAULTS",
    "OUTPUT_OPTION_DEFAULTS",
    "LEASE_DATABASE_DEFAULTS",
    "CONFIG_CONTROL_DEFAULTS",
    "HOST_RESERVATION_IDENTIFIERS",
    "BUILTIN_CLASSES",
    "BUILTIN_CLASS_PREFIXES",
    "RESERVATION_MODES",
]

#: ``SimpleParser4::GLOBAL4_DEFAULTS``: set on the ``Dhcp4`` map when absent.
GLOBAL4_DEFAULTS: Mapping[str, Any] = {
    "valid-lifetime": 7200,
    "decline-probation-period": 86400,
    "dhcp4o6-port": 0,
    "echo-client-id": True,
    "match-client-id": True,
    "authoritative": False,
    "next-server": "0.0.0.0",
    "server-hostname": "",
    "boot-file-name": "",
    "server-tag": "",
    "reservations-global": False,
    "reservations-in-subnet": True,
    "reservations-out-of-pool": False,
    "calculate-tee-times": False,
    "t1-percent": 0.5,
    "t2-percent": 0.875,
    "ddns-send-updates": True,
    "ddns-override-no-update": False,
    "ddns-override-client-update": False,
    "ddns-replace-client-name": "never",
    "ddns-generated-prefix": "myhost",
    "ddns-qualifying-suffix": "",
    "hostname-char-set": "[^A-Za-z0-9.-]",
    "hostname-char-replacement": "",
    "store-extended-info": False,
    "statistic-default-sample-count": 20,
    "statistic-default-sample-age": 0,
    "early-global-reservations-lookup": False,
    "ip-reservations-unique": True,
    "reservations-lookup-first": False,
    "ddns-update-on-renew": False,
    "ddns-use-conflict-resolution": True,
    "parked-packet-limit": 256,
}

#: ``OPTION4_DEF_DEFAULTS``.
OPTION4_DEF_DEFAULTS: Mapping[str, Any] = {
    "record-types": "",
    "space": "dhcp4",
    "array": False,
    "encapsulate": "",
}

#: ``OPTION4_DEFAULTS``.
OPTION4_DEFAULTS: Mapping[str, Any] = {
    "space": "dhcp4",
    "csv-format": True,
    "always-send": False,
}

#: ``SUBNET4_DEFAULTS`` (top-level subnets); ``id`` 0 means "generate one".
SUBNET4_DEFAULTS: Mapping[str, Any] = {
    "id": 0,
    "interface": "",
    "client-class": "",
    "4o6-interface": "",
    "4o6-interface-id": "",
    "4o6-subnet": "",
}

#: ``SHARED_SUBNET4_DEFAULTS``: subnets inside a shared network get no
#: ``interface`` / ``client-class`` default, so they inherit the network's.
SHARED_SUBNET4_DEFAULTS: Mapping[str, Any] = {
    "id": 0,
    "4o6-interface": "",
    "4o6-interface-id": "",
    "4o6-subnet": "",
}

#: ``SHARED_NETWORK4_DEFAULTS``.
SHARED_NETWORK4_DEFAULTS: Mapping[str, Any] = {
    "client-class": "",
    "interface": "",
}

#: ``INHERIT_TO_SUBNET4``: copied into the JSON of subnets (and shared
#: networks) before parsing, global -> shared network -> subnet.
INHERIT_TO_SUBNET4: Tuple[str, ...] = (
    "rebind-timer",
    "relay",
    "renew-timer",
    "valid-lifetime",
    "min-valid-lifetime",
    "max-valid-lifetime",
    "calculate-tee-times",
    "t1-percent",
    "t2-percent",
    "store-extended-info",
    "cache-threshold",
    "cache-max-age",
)

#: Parameters a subnet looks up at run time (``Network4`` getters with
#: ``Inheritance::ALL``): subnet, then shared network, then global.
NETWORK_INHERITED: Tuple[str, ...] = (
    "match-client-id",
    "authoritative",
    "next-server",
    "server-hostname",
    "boot-file-name",
    "reservations-global",
    "reservations-in-subnet",
    "reservations-out-of-pool",
    "ddns-send-updates",
    "ddns-override-no-update",
    "ddns-override-client-update",
    "ddns-replace-client-name",
    "ddns-generated-prefix",
    "ddns-qualifying-suffix",
    "ddns-update-on-renew",
    "ddns-use-conflict-resolution",
    "hostname-char-set",
    "hostname-char-replacement",
    "interface",
    "client-class",
)

#: ``IFACE4_DEFAULTS``.
IFACE4_DEFAULTS: Mapping[str, Any] = {"re-detect": True}

#: The rest of ``interfaces-config`` as Kea's ``CfgIface`` starts it
#: (``dhcp-socket-type`` raw when omitted: spec §17).
INTERFACES_CONFIG_DEFAULTS: Mapping[str, Any] = {
    "interfaces": (),
    "dhcp-socket-type": "raw",
    "outbound-interface": "same-as-inbound",
    "re-detect": True,
    "service-sockets-require-all": False,
    "service-sockets-retry-wait-time": 5000,
    "service-sockets-max-retries": 0,
}

#: ``DHCP_QUEUE_CONTROL4_DEFAULTS`` (the map is added when absent).
DHCP_QUEUE_CONTROL4_DEFAULTS: Mapping[str, Any] = {
    "enable-queue": False,
    "queue-type": "kea-ring4",
    "capacity": 64,
}

#: ``DHCP_MULTI_THREADING4_DEFAULTS`` (the map is added when absent).
MULTI_THREADING_DEFAULTS: Mapping[str, Any] = {
    "enable-multi-threading": False,
    "thread-pool-size": 0,
    "packet-queue-size": 64,
}

#: ``SANITY_CHECKS4_DEFAULTS`` (the map is added when absent).
SANITY_CHECKS4_DEFAULTS: Mapping[str, Any] = {"lease-checks": "warn"}

#: ``ExpirationConfigParser`` / ``CfgExpiration`` defaults.
EXPIRED_LEASES_PROCESSING_DEFAULTS: Mapping[str, Any] = {
    "reclaim-timer-wait-time": 10,
    "flush-reclaimed-timer-wait-time": 25,
    "hold-reclaimed-time": 3600,
    "max-reclaim-leases": 100,
    "max-reclaim-time": 250,
    "unwarned-reclaim-cycles": 5,
}

#: ``D2ClientConfigParser::D2_CLIENT_CONFIG_DEFAULTS``.
DHCP_DDNS_DEFAULTS: Mapping[str, Any] = {
    "enable-updates": False,
    "server-ip": "127.0.0.1",
    "server-port": 53001,
    "sender-ip": "0.0.0.0",
    "sender-port": 0,
    "max-queue-size": 1024,
    "ncr-protocol": "UDP",
    "ncr-format": "JSON",
}

#: ``SrvConfig::moveDdnsParams``: these ``dhcp-ddns`` keys (deprecated in
#: 2.2) move to the global map under the new name unless it is already set.
DDNS_MOVED_PARAMETERS: Mapping[str, str] = {
    "override-no-update": "ddns-override-no-update",
    "override-client-update": "ddns-override-client-update",
    "replace-client-name": "ddns-replace-client-name",
    "generated-prefix": "ddns-generated-prefix",
    "qualifying-suffix": "ddns-qualifying-suffix",
    "hostname-char-set": "hostname-char-set",
    "hostname-char-replacement": "hostname-char-replacement",
}

#: ``LoggingInfo`` defaults.
LOGGER_DEFAULTS: Mapping[str, Any] = {"severity": "INFO", "debuglevel": 0}

#: ``LoggingDestination`` defaults (spec §17).
OUTPUT_OPTION_DEFAULTS: Mapping[str, Any] = {
    "output": "stdout",
    "flush": True,
    "maxsize": 10240000,
    "maxver": 1,
    "pattern": "",
}

#: What ``lease-database`` means when absent: memfile, persistent.  The
#: file name is Kea's build-time default for the Debian package; the LFC
#: interval is memfile's code default (``memfile_lease_mgr.cc``: "3600").
LEASE_DATABASE_DEFAULTS: Mapping[str, Any] = {
    "type": "memfile",
    "name": "/var/lib/kea/kea-leases4.csv",
    "persist": True,
    "lfc-interval": 3600,
}

#: ``ConfigControlParser`` default.
CONFIG_CONTROL_DEFAULTS: Mapping[str, Any] = {"config-fetch-wait-time": 30}

#: ``host-reservation-identifiers`` when absent (spec §8).
HOST_RESERVATION_IDENTIFIERS: Tuple[str, ...] = ("hw-address", "duid", "circuit-id", "client-id")

#: Built-in classes whose ``test`` must be empty
#: (``client_class_def.cc`` ``isClientClassBuiltIn``): observed ``ALL`` and
#: ``KNOWN`` refused with a test; ``DROP`` and ``VENDOR_CLASS_*`` accepted.
BUILTIN_CLASSES: Tuple[str, ...] = ("ALL", "KNOWN", "UNKNOWN", "BOOTP")

#: Built-in class name prefixes (``VENDOR_CLASS_``): Kea 2.2 lets a
#: configured class with such a name have a test (observed).
BUILTIN_CLASS_PREFIXES: Tuple[str, ...] = ("VENDOR_CLASS_",)

#: ``BaseNetworkParser::moveReservationMode``: the deprecated
#: ``reservation-mode`` -> the reservations-* flags it sets (a flag not in
#: the tuple is left to inheritance).
RESERVATION_MODES: Mapping[str, Mapping[str, bool]] = {
    "disabled": {"reservations-global": False, "reservations-in-subnet": False},
    "off": {"reservations-global": False, "reservations-in-subnet": False},
    "out-of-pool": {
        "reservations-global": False,
        "reservations-in-subnet": True,
        "reservations-out-of-pool": True,
    },
    "global": {"reservations-global": True, "reservations-in-subnet": False},
    "all": {
        "reservations-global": False,
        "reservations-in-subnet": True,
        "reservations-out-of-pool": False,
    },
}
