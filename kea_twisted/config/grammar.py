"""
Kea 2.2's syntax-level verdicts on a ``Dhcp4`` configuration, as data.

``kea-dhcp4`` reads its file with a typed bison grammar
(``src/bin/dhcp4/dhcp4_parser.yy`` at Kea-2.2.0) whose keywords are tokens
only in the right map (``dhcp4_lexer.ll``).  So "unknown keyword", "wrong
type", "value not in the enumeration" and "mandatory keyword missing" are
*syntax* errors, printed as ``Syntax check failed with: <location>: <msg>``.
This module reproduces those verdicts on the positioned tree from
:mod:`kea_twisted.config.loader` with a table instead of a grammar:

* :data:`SCHEMAS` -- for every map the grammar knows, the accepted keywords
  and what each takes (:class:`Schema`; values are :data:`INTEGER`,
  :data:`REAL`, :data:`BOOLEAN`, :data:`STRING`, :data:`STRINGS`,
  :data:`ANY_MAP`, :data:`ANY`, :class:`Enum`, :class:`EnumList`,
  :class:`MapOf`, :class:`ListOf`).  The table was derived from Kea 2.2's
  grammar rules and checked against ``kea-dhcp4 -t``
  (tests/test_config_grammar.py holds the observed outputs);
* :data:`LEXER_KEYWORDS` -- in which lexer contexts a string is a keyword
  token: Kea then names it, not ``constant string``, in errors
  (``"valid-lifetime": "subnet4"`` -> ``unexpected subnet4``);
* :data:`KEYWORD_ORDER` -- Kea's token order, the order bison lists the
  expected tokens in (``expecting raw or udp``).

Observed facts the table encodes [obs: kea-dhcp4 -t, Kea 2.2.0]:

* the top-level map holds ``Dhcp4`` only, first: ``{"Dhcp6": {}}`` is
  ``syntax error, unexpected constant string, expecting Dhcp4``, ``{}`` is
  ``unexpected }, expecting Dhcp4``, a second key after ``Dhcp4`` is
  ``expecting "," or }``;
* keyword maps may not be empty (``"interfaces-config": {}`` is
  ``syntax error, unexpected }``), some lists neither (``client-classes``,
  ``loggers``, ``output_options``, ``host-reservation-identifiers``);
* ``relay`` holds exactly one of ``ip-address`` / ``ip-addresses``;
* ``sanity-checks``, ``relay``, ``config-control``, ``output_options``
  entries and ``compatibility`` have no catch-all, so an unknown key there is
  ``syntax error, unexpected constant string, expecting ...``; elsewhere it
  is ``got unexpected keyword "k" in <map> map.``; ``dhcp-queue-control``
  takes any extra key;
* ``t1-percent`` & co. take a floating point only (``1`` is refused, ``.5``
  is fine); integer keys refuse ``.5``;
* ``comment`` is folded into ``user-context`` (Kea's config-get shows
  ``"user-context": {"comment": ...}``);
* an element under a keyword (a map or list value) has the keyword's
  position in Kea (``ElementPtr m(new MapElement(ctx.loc2pos(@1)))``):
  :func:`check_grammar` returns a copy of the tree with Kea's positions, so
  semantic errors built on it point where Kea points.

kea_twisted accepts, beyond Kea 2.2: ``output-options`` beside
``output_options`` in loggers (the later Kea spelling; stored as
``output_options``).

Tests: tests/test_config_grammar.py
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from kea_twisted.config.dialect import MAX_NESTING
from kea_twisted.config.element import (
    Element,
    ListElement,
    MapElement,
    Position,
    ScalarElement,
)
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.loader import bison_location, expecting

__all__ = [
    "check_grammar",
    "check_dhcp4",
    "Schema",
    "Scalar",
    "Enum",
    "EnumList",
    "MapOf",
    "ListOf",
    "INTEGER",
    "REAL",
    "BOOLEAN",
    "STRING",
    "STRINGS",
    "ANY_MAP",
    "ANY",
    "SCHEMAS",
    "DHCP4",
    "LEXER_KEYWORDS",
    "KEYWORD_ORDER",
    "CONTEXT_LEXER",
    "KEY_ALIASES",
]


@dataclass(frozen=True)
class Scalar:
    """A JSON scalar of one kind: ``integer``, ``real``, ``boolean`` or
    ``string`` (Kea's Element type names)."""

    kind: str


@dataclass(frozen=True)
class Special:
    """Any map (``user-context``, ``parameters``) or any value."""

    kind: str  # "anymap" | "any" | "strings"


@dataclass(frozen=True)
class Enum:
    """A string among keyword tokens (``dhcp-socket-type``: raw or udp).

    ``lexer`` is the lexer context the value is read in.  ``boolean`` among
    the values means Kea names booleans in its error (replace-client-name:
    ``boolean values for the replace-client-name are no longer supported``).
    """

    values: Tuple[str, ...]
    lexer: str = "NO_KEYWORD"
    #: other spellings Kea's lexer maps to a value (``off`` -> ``disabled``)
    spellings: Tuple[Tuple[str, str], ...] = ()
    #: the lexer matches these values in any case (dhcp-ddns values)
    nocase: bool = False

    def canonical(self, text: str) -> Optional[str]:
        """The value ``text`` stands for, or None."""
        key = text.lower() if self.nocase else text
        for spelling, value in self.spellings:
            if key == spelling:
                return value
        for value in self.values:
            if value != "boolean" and key == (value.lower() if self.nocase else value):
                return value
        return None


@dataclass(frozen=True)
class EnumList:
    """A list of keyword tokens (``host-reservation-identifiers``)."""

    values: Tuple[str, ...]
    empty_ok: bool = True


@dataclass(frozen=True)
class MapOf:
    """A keyword map with schema ``schema``; ``context`` is Kea's name for it
    in messages; ``required`` are the keywords the grammar demands."""

    schema: str
    context: str
    required: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ListOf:
    """A list of maps with schema ``schema`` (subnet4, pools, ...)."""

    schema: str
    context: str
    required: Tuple[str, ...] = ()
    empty_ok: bool = True


Value = Union[Scalar, Special, Enum, EnumList, MapOf, ListOf]


@dataclass(frozen=True)
class Schema:
    """The keywords of one map.

    ``unknown``: what an unknown key gets -- ``"error"`` (Kea's
    ``got unexpected keyword``), ``"any"`` (accepted with any value:
    dhcp-queue-control), ``"syntax"`` (a plain bison syntax error: no
    catch-all rule) or ``"first"`` (``got unexpected keyword`` as the first
    entry, a syntax error after: hooks-libraries entries, whose grammar
    takes the catch-all only as the whole first entry).  ``empty_ok``:
    ``{}`` is accepted.
    """

    keys: Dict[str, Value] = field(default_factory=dict)
    unknown: str = "error"
    empty_ok: bool = False
    #: exactly one entry (``relay``: ``ip-address`` or ``ip-addresses``)
    single: bool = False


INTEGER = Scalar("integer")
REAL = Scalar("real")
BOOLEAN = Scalar("boolean")
STRING = Scalar("string")
STRINGS = Special("strings")
ANY_MAP = Special("anymap")
ANY = Special("any")

#: The ``Dhcp4`` map itself.
DHCP4 = MapOf("global_params", "Dhcp4")

#: Keys kea_twisted accepts under another spelling, per schema:
#: ``{schema: {spelling: stored key}}``.
KEY_ALIASES: Dict[str, Dict[str, str]] = {
    "logger_params": {"output-options": "output_options"},
}

# --- generated from Kea 2.2's dhcp4_parser.yy (see module docstring) ------

# dhcp4_lexer.ll: "off" is "disabled"; the dhcp-ddns values match in any
# case, and "true" / "false" mean when-present / never there.
_RESERVATION_MODE = Enum(
    ("disabled", "out-of-pool", "global", "all"),
    lexer="RESERVATION_MODE",
    spellings=(("off", "disabled"),),
)
_REPLACE_CLIENT_NAME = Enum(
    ("when-present", "never", "always", "when-not-present", "boolean"),
    lexer="REPLACE_CLIENT_NAME",
    spellings=(("true", "when-present"), ("false", "never")),
    nocase=True,
)

# subnet4_param and shared_network_param (dhcp4_parser.yy) end with the
# same alternatives, in this order (then unknown_map_entry).
_SUBNET_AND_NETWORK_TAIL: Dict[str, Value] = {
    'user-context': ANY_MAP,
    'comment': STRING,
    'calculate-tee-times': BOOLEAN,
    't1-percent': REAL,
    't2-percent': REAL,
    'cache-threshold': REAL,
    'cache-max-age': INTEGER,
    'ddns-send-updates': BOOLEAN,
    'ddns-override-no-update': BOOLEAN,
    'ddns-override-client-update': BOOLEAN,
    'ddns-replace-client-name': _REPLACE_CLIENT_NAME,
    'ddns-generated-prefix': STRING,
    'ddns-qualifying-suffix': STRING,
    'ddns-update-on-renew': BOOLEAN,
    'ddns-use-conflict-resolution': BOOLEAN,
    'hostname-char-set': STRING,
    'hostname-char-replacement': STRING,
    'store-extended-info': BOOLEAN,
}

SCHEMAS: Dict[str, Schema] = {
    'global_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'valid-lifetime': INTEGER,
            'min-valid-lifetime': INTEGER,
            'max-valid-lifetime': INTEGER,
            'renew-timer': INTEGER,
            'rebind-timer': INTEGER,
            'decline-probation-period': INTEGER,
            'subnet4': ListOf('subnet4_params', 'subnet4', required=('subnet',), empty_ok=True),
            'shared-networks': ListOf('shared_network_params', 'shared-networks', required=(), empty_ok=True),
            'interfaces-config': MapOf('interfaces_config_params', 'interfaces-config', required=()),
            'lease-database': MapOf('database_map_params', 'lease-database', required=('type',)),
            'hosts-database': MapOf('database_map_params', 'hosts-database', required=('type',)),
            'hosts-databases': ListOf('database_map_params', 'hosts-database', required=('type',), empty_ok=True),
            'host-reservation-identifiers': EnumList(('duid', 'hw-address', 'circuit-id', 'client-id', 'flex-id'), empty_ok=False),
            'client-classes': ListOf('client_class_params', 'client-classes', required=('name',), empty_ok=False),
            'option-def': ListOf('option_def_params', 'option-def', required=('name', 'code', 'type'), empty_ok=True),
            'option-data': ListOf('option_data_params', 'option-data', required=(), empty_ok=True),
            'hooks-libraries': ListOf('hooks_params', 'hooks-libraries', required=('library',), empty_ok=True),
            'expired-leases-processing': MapOf('expired_leases_params', 'expired-leases-processing', required=()),
            'dhcp4o6-port': INTEGER,
            'control-socket': MapOf('control_socket_params', 'control-socket', required=()),
            'dhcp-queue-control': MapOf('queue_control_params', 'dhcp-queue-control', required=('enable-queue',)),
            'dhcp-ddns': MapOf('dhcp_ddns_params', 'dhcp-ddns', required=('enable-updates',)),
            'echo-client-id': BOOLEAN,
            'match-client-id': BOOLEAN,
            'authoritative': BOOLEAN,
            'next-server': STRING,
            'server-hostname': STRING,
            'boot-file-name': STRING,
            'user-context': ANY_MAP,
            'comment': STRING,
            'sanity-checks': MapOf('sanity_checks_params', 'sanity-checks', required=()),
            'reservations': ListOf('reservation_params', 'reservations', required=(), empty_ok=True),
            'config-control': MapOf('config_control_params', 'config-control', required=()),
            'server-tag': STRING,
            'reservation-mode': _RESERVATION_MODE,
            'reservations-global': BOOLEAN,
            'reservations-in-subnet': BOOLEAN,
            'reservations-out-of-pool': BOOLEAN,
            'calculate-tee-times': BOOLEAN,
            't1-percent': REAL,
            't2-percent': REAL,
            'cache-threshold': REAL,
            'cache-max-age': INTEGER,
            'loggers': ListOf('logger_params', 'loggers', required=(), empty_ok=False),
            'hostname-char-set': STRING,
            'hostname-char-replacement': STRING,
            'ddns-send-updates': BOOLEAN,
            'ddns-override-no-update': BOOLEAN,
            'ddns-override-client-update': BOOLEAN,
            'ddns-replace-client-name': _REPLACE_CLIENT_NAME,
            'ddns-generated-prefix': STRING,
            'ddns-qualifying-suffix': STRING,
            'ddns-update-on-renew': BOOLEAN,
            'ddns-use-conflict-resolution': BOOLEAN,
            'store-extended-info': BOOLEAN,
            'statistic-default-sample-count': INTEGER,
            'statistic-default-sample-age': INTEGER,
            'multi-threading': MapOf('multi_threading_params', 'multi-threading', required=('enable-multi-threading',)),
            'early-global-reservations-lookup': BOOLEAN,
            'ip-reservations-unique': BOOLEAN,
            'reservations-lookup-first': BOOLEAN,
            'compatibility': MapOf('compatibility_params', 'compatibility', required=()),
            'parked-packet-limit': INTEGER,
        },
    ),
    'subnet4_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'valid-lifetime': INTEGER,
            'min-valid-lifetime': INTEGER,
            'max-valid-lifetime': INTEGER,
            'renew-timer': INTEGER,
            'rebind-timer': INTEGER,
            'option-data': ListOf('option_data_params', 'option-data', required=(), empty_ok=True),
            'pools': ListOf('pool_params', 'pools', required=('pool',), empty_ok=True),
            'subnet': STRING,
            'interface': STRING,
            'id': INTEGER,
            'client-class': STRING,
            'require-client-classes': STRINGS,
            'reservations': ListOf('reservation_params', 'reservations', required=(), empty_ok=True),
            'reservation-mode': _RESERVATION_MODE,
            'reservations-global': BOOLEAN,
            'reservations-in-subnet': BOOLEAN,
            'reservations-out-of-pool': BOOLEAN,
            'relay': MapOf('relay_map', 'relay', required=()),
            'match-client-id': BOOLEAN,
            'authoritative': BOOLEAN,
            'next-server': STRING,
            'server-hostname': STRING,
            'boot-file-name': STRING,
            '4o6-interface': STRING,
            '4o6-interface-id': STRING,
            '4o6-subnet': STRING,
            **_SUBNET_AND_NETWORK_TAIL,
        },
    ),
    'option_data_params': Schema(
        unknown='error',
        empty_ok=True,
        keys={
            'name': STRING,
            'data': STRING,
            'code': INTEGER,
            'space': STRING,
            'csv-format': BOOLEAN,
            'always-send': BOOLEAN,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'pool_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'pool': STRING,
            'option-data': ListOf('option_data_params', 'option-data', required=(), empty_ok=True),
            'client-class': STRING,
            'require-client-classes': STRINGS,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'reservation_params': Schema(
        unknown='error',
        empty_ok=True,
        keys={
            'duid': STRING,
            'client-classes': STRINGS,
            'client-id': STRING,
            'circuit-id': STRING,
            'flex-id': STRING,
            'ip-address': STRING,
            'hw-address': STRING,
            'hostname': STRING,
            'option-data': ListOf('option_data_params', 'option-data', required=(), empty_ok=True),
            'next-server': STRING,
            'server-hostname': STRING,
            'boot-file-name': STRING,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'relay_map': Schema(
        unknown='syntax',
        empty_ok=False,
        single=True,
        keys={
            'ip-address': STRING,
            'ip-addresses': STRINGS,
        },
    ),
    'shared_network_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'name': STRING,
            'subnet4': ListOf('subnet4_params', 'subnet4', required=('subnet',), empty_ok=True),
            'interface': STRING,
            'renew-timer': INTEGER,
            'rebind-timer': INTEGER,
            'option-data': ListOf('option_data_params', 'option-data', required=(), empty_ok=True),
            'match-client-id': BOOLEAN,
            'authoritative': BOOLEAN,
            'next-server': STRING,
            'server-hostname': STRING,
            'boot-file-name': STRING,
            'relay': MapOf('relay_map', 'relay', required=()),
            'reservation-mode': _RESERVATION_MODE,
            'reservations-global': BOOLEAN,
            'reservations-in-subnet': BOOLEAN,
            'reservations-out-of-pool': BOOLEAN,
            'client-class': STRING,
            'require-client-classes': STRINGS,
            'valid-lifetime': INTEGER,
            'min-valid-lifetime': INTEGER,
            'max-valid-lifetime': INTEGER,
            **_SUBNET_AND_NETWORK_TAIL,
        },
    ),
    'interfaces_config_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'interfaces': STRINGS,
            'dhcp-socket-type': Enum(('raw', 'udp'), lexer='DHCP_SOCKET_TYPE'),
            'outbound-interface': Enum(('same-as-inbound', 'use-routing'), lexer='OUTBOUND_INTERFACE'),
            're-detect': BOOLEAN,
            'service-sockets-require-all': BOOLEAN,
            'service-sockets-retry-wait-time': INTEGER,
            'service-sockets-max-retries': INTEGER,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'database_map_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'type': Enum(('memfile', 'mysql', 'postgresql'), lexer='DATABASE_TYPE'),
            'user': STRING,
            'password': STRING,
            'host': STRING,
            'port': INTEGER,
            'name': STRING,
            'persist': BOOLEAN,
            'lfc-interval': INTEGER,
            'readonly': BOOLEAN,
            'connect-timeout': INTEGER,
            'max-reconnect-tries': INTEGER,
            'reconnect-wait-time': INTEGER,
            'on-fail': Enum(('stop-retry-exit', 'serve-retry-exit', 'serve-retry-continue'), lexer='DATABASE_ON_FAIL'),
            'max-row-errors': INTEGER,
            'trust-anchor': STRING,
            'cert-file': STRING,
            'key-file': STRING,
            'cipher-list': STRING,
        },
    ),
    'client_class_params': Schema(
        unknown='error',
        empty_ok=True,
        keys={
            'name': STRING,
            'test': STRING,
            'only-if-required': BOOLEAN,
            'option-def': ListOf('option_def_params', 'option-def', required=('name', 'code', 'type'), empty_ok=True),
            'option-data': ListOf('option_data_params', 'option-data', required=(), empty_ok=True),
            'next-server': STRING,
            'server-hostname': STRING,
            'boot-file-name': STRING,
            'user-context': ANY_MAP,
            'comment': STRING,
            'valid-lifetime': INTEGER,
            'min-valid-lifetime': INTEGER,
            'max-valid-lifetime': INTEGER,
        },
    ),
    'option_def_params': Schema(
        unknown='error',
        empty_ok=True,
        keys={
            'name': STRING,
            'code': INTEGER,
            'type': STRING,
            'record-types': STRING,
            'space': STRING,
            'encapsulate': STRING,
            'array': BOOLEAN,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'hooks_params': Schema(
        unknown='first',
        empty_ok=False,
        keys={
            'library': STRING,
            'parameters': ANY_MAP,
        },
    ),
    'expired_leases_params': Schema(
        unknown='syntax',
        empty_ok=False,
        keys={
            'reclaim-timer-wait-time': INTEGER,
            'flush-reclaimed-timer-wait-time': INTEGER,
            'hold-reclaimed-time': INTEGER,
            'max-reclaim-leases': INTEGER,
            'max-reclaim-time': INTEGER,
            'unwarned-reclaim-cycles': INTEGER,
        },
    ),
    'control_socket_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'socket-type': STRING,
            'socket-name': STRING,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'queue_control_params': Schema(
        unknown='any',
        empty_ok=False,
        keys={
            'enable-queue': BOOLEAN,
            'queue-type': STRING,
            'capacity': INTEGER,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'dhcp_ddns_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'enable-updates': BOOLEAN,
            'server-ip': STRING,
            'server-port': INTEGER,
            'sender-ip': STRING,
            'sender-port': INTEGER,
            'max-queue-size': INTEGER,
            'ncr-protocol': Enum(('udp', 'tcp'), lexer='NCR_PROTOCOL', nocase=True),
            'ncr-format': Enum(('JSON',), lexer='NCR_FORMAT', nocase=True),
            'override-no-update': BOOLEAN,
            'override-client-update': BOOLEAN,
            'replace-client-name': _REPLACE_CLIENT_NAME,
            'generated-prefix': STRING,
            'qualifying-suffix': STRING,
            'hostname-char-set': STRING,
            'hostname-char-replacement': STRING,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'sanity_checks_params': Schema(
        unknown='syntax',
        empty_ok=False,
        keys={
            'lease-checks': STRING,
        },
    ),
    'config_control_params': Schema(
        unknown='syntax',
        empty_ok=False,
        keys={
            'config-databases': ListOf('database_map_params', 'config-database', required=('type',), empty_ok=True),
            'config-fetch-wait-time': INTEGER,
        },
    ),
    'logger_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'name': STRING,
            'output_options': ListOf('output_params_list', 'output-options', required=(), empty_ok=False),
            'debuglevel': INTEGER,
            'severity': STRING,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'output_params_list': Schema(
        unknown='syntax',
        empty_ok=False,
        keys={
            'output': STRING,
            'flush': BOOLEAN,
            'maxsize': INTEGER,
            'maxver': INTEGER,
            'pattern': STRING,
        },
    ),
    'multi_threading_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'enable-multi-threading': BOOLEAN,
            'thread-pool-size': INTEGER,
            'packet-queue-size': INTEGER,
            'user-context': ANY_MAP,
            'comment': STRING,
        },
    ),
    'compatibility_params': Schema(
        unknown='error',
        empty_ok=False,
        keys={
            'lenient-option-parsing': BOOLEAN,
        },
    ),
}

KEYWORD_ORDER: Tuple[str, ...] = (
    'Dhcp4', 'config-control', 'config-databases', 'config-fetch-wait-time',
    'interfaces-config', 'interfaces', 'dhcp-socket-type', 'raw', 'udp', 'outbound-interface',
    'same-as-inbound', 'use-routing', 're-detect', 'service-sockets-require-all',
    'service-sockets-retry-wait-time', 'service-sockets-max-retries', 'sanity-checks',
    'lease-checks', 'echo-client-id', 'match-client-id', 'authoritative', 'next-server',
    'server-hostname', 'boot-file-name', 'lease-database', 'hosts-database', 'hosts-databases',
    'type', 'memfile', 'mysql', 'postgresql', 'user', 'password', 'host', 'port', 'persist',
    'lfc-interval', 'readonly', 'connect-timeout', 'max-reconnect-tries', 'reconnect-wait-time',
    'on-fail', 'stop-retry-exit', 'serve-retry-exit', 'serve-retry-continue', 'max-row-errors',
    'trust-anchor', 'cert-file', 'key-file', 'cipher-list', 'valid-lifetime',
    'min-valid-lifetime', 'max-valid-lifetime', 'renew-timer', 'rebind-timer',
    'calculate-tee-times', 't1-percent', 't2-percent', 'cache-threshold', 'cache-max-age',
    'decline-probation-period', 'server-tag', 'statistic-default-sample-count',
    'statistic-default-sample-age', 'ddns-send-updates', 'ddns-override-no-update',
    'ddns-override-client-update', 'ddns-replace-client-name', 'ddns-generated-prefix',
    'ddns-qualifying-suffix', 'ddns-update-on-renew', 'ddns-use-conflict-resolution',
    'store-extended-info', 'subnet4', '4o6-interface', '4o6-interface-id', '4o6-subnet',
    'option-def', 'option-data', 'name', 'data', 'code', 'space', 'csv-format', 'always-send',
    'record-types', 'encapsulate', 'array', 'parked-packet-limit', 'shared-networks', 'pools',
    'pool', 'user-context', 'comment', 'subnet', 'interface', 'id', 'reservation-mode',
    'disabled', 'out-of-pool', 'global', 'all', 'reservations-global', 'reservations-in-subnet',
    'reservations-out-of-pool', 'host-reservation-identifiers', 'client-classes',
    'require-client-classes', 'test', 'only-if-required', 'client-class', 'reservations',
    'duid', 'hw-address', 'circuit-id', 'client-id', 'hostname', 'flex-id', 'relay',
    'ip-address', 'ip-addresses', 'hooks-libraries', 'library', 'parameters',
    'expired-leases-processing', 'reclaim-timer-wait-time', 'flush-reclaimed-timer-wait-time',
    'hold-reclaimed-time', 'max-reclaim-leases', 'max-reclaim-time', 'unwarned-reclaim-cycles',
    'dhcp4o6-port', 'multi-threading', 'enable-multi-threading', 'thread-pool-size',
    'packet-queue-size', 'control-socket', 'socket-type', 'socket-name', 'dhcp-queue-control',
    'enable-queue', 'queue-type', 'capacity', 'dhcp-ddns', 'enable-updates',
    'qualifying-suffix', 'server-ip', 'server-port', 'sender-ip', 'sender-port',
    'max-queue-size', 'ncr-protocol', 'ncr-format', 'override-no-update',
    'override-client-update', 'replace-client-name', 'generated-prefix', 'tcp', 'JSON',
    'when-present', 'never', 'always', 'when-not-present', 'hostname-char-set',
    'hostname-char-replacement', 'early-global-reservations-lookup', 'ip-reservations-unique',
    'reservations-lookup-first', 'loggers', 'output_options', 'output', 'debuglevel',
    'severity', 'flush', 'maxsize', 'maxver', 'pattern', 'compatibility',
    'lenient-option-parsing',
)

CONTEXT_LEXER: Dict[str, str] = {
    '__no keyword__': 'NO_KEYWORD',
    'toplevel': 'CONFIG',
    'Dhcp4': 'DHCP4',
    'interfaces-config': 'INTERFACES_CONFIG',
    'dhcp-socket-type': 'DHCP_SOCKET_TYPE',
    'outbound-interface': 'OUTBOUND_INTERFACE',
    'lease-database': 'LEASE_DATABASE',
    'hosts-database': 'HOSTS_DATABASE',
    'database-type': 'DATABASE_TYPE',
    'database-on-fail': 'DATABASE_ON_FAIL',
    'host-reservation-identifiers': 'HOST_RESERVATION_IDENTIFIERS',
    'hooks-libraries': 'HOOKS_LIBRARIES',
    'subnet4': 'SUBNET4',
    'reservation-mode': 'RESERVATION_MODE',
    'option-def': 'OPTION_DEF',
    'option-data': 'OPTION_DATA',
    'client-classes': 'CLIENT_CLASSES',
    'expired-leases-processing': 'EXPIRED_LEASES_PROCESSING',
    'server-id': 'SERVER_ID',
    'control-socket': 'CONTROL_SOCKET',
    'dhcp-queue-control': 'DHCP_QUEUE_CONTROL',
    'multi-threading': 'DHCP_MULTI_THREADING',
    'pools': 'POOLS',
    'reservations': 'RESERVATIONS',
    'relay': 'RELAY',
    'loggers': 'LOGGERS',
    'output-options': 'OUTPUT_OPTIONS',
    'dhcp-ddns': 'DHCP_DDNS',
    'ncr-protocol': 'NCR_PROTOCOL',
    'ncr-format': 'NCR_FORMAT',
    'replace-client-name': 'REPLACE_CLIENT_NAME',
    'shared-networks': 'SHARED_NETWORK',
    'sanity-checks': 'SANITY_CHECKS',
    'config-control': 'CONFIG_CONTROL',
    'config-database': 'CONFIG_DATABASE',
    'compatibility': 'COMPATIBILITY',
}

LEXER_KEYWORDS: Dict[str, Tuple[str, ...]] = {
    '4o6-interface': ('SUBNET4',),
    '4o6-interface-id': ('SUBNET4',),
    '4o6-subnet': ('SUBNET4',),
    'Dhcp4': ('CONFIG',),
    'all': ('RESERVATION_MODE',),
    'always-send': ('OPTION_DATA',),
    'array': ('OPTION_DEF',),
    'authoritative': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'boot-file-name': ('CLIENT_CLASSES', 'DHCP4', 'RESERVATIONS', 'SHARED_NETWORK', 'SUBNET4'),
    'cache-max-age': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'cache-threshold': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'calculate-tee-times': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'capacity': ('DHCP_QUEUE_CONTROL',),
    'cert-file': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'cipher-list': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'circuit-id': ('HOST_RESERVATION_IDENTIFIERS', 'RESERVATIONS'),
    'client-class': ('CLIENT_CLASSES', 'POOLS', 'SHARED_NETWORK', 'SUBNET4'),
    'client-classes': ('DHCP4', 'RESERVATIONS'),
    'client-id': ('HOST_RESERVATION_IDENTIFIERS', 'RESERVATIONS'),
    'code': ('OPTION_DATA', 'OPTION_DEF'),
    'comment': ('CLIENT_CLASSES', 'CONTROL_SOCKET', 'DHCP4', 'DHCP_DDNS', 'DHCP_MULTI_THREADING', 'DHCP_QUEUE_CONTROL', 'INTERFACES_CONFIG', 'LOGGERS', 'OPTION_DATA', 'OPTION_DEF', 'POOLS', 'RESERVATIONS', 'SHARED_NETWORK', 'SUBNET4'),
    'compatibility': ('DHCP4',),
    'config-control': ('DHCP4',),
    'config-databases': ('CONFIG_CONTROL',),
    'config-fetch-wait-time': ('CONFIG_CONTROL',),
    'connect-timeout': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'control-socket': ('DHCP4',),
    'csv-format': ('OPTION_DATA',),
    'data': ('OPTION_DATA',),
    'ddns-generated-prefix': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'ddns-override-client-update': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'ddns-override-no-update': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'ddns-qualifying-suffix': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'ddns-replace-client-name': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'ddns-send-updates': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'ddns-update-on-renew': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'ddns-use-conflict-resolution': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'debuglevel': ('LOGGERS',),
    'decline-probation-period': ('DHCP4',),
    'dhcp-ddns': ('DHCP4',),
    'dhcp-queue-control': ('DHCP4',),
    'dhcp-socket-type': ('INTERFACES_CONFIG',),
    'dhcp4o6-port': ('DHCP4',),
    'disabled': ('RESERVATION_MODE',),
    'duid': ('HOST_RESERVATION_IDENTIFIERS', 'RESERVATIONS'),
    'early-global-reservations-lookup': ('DHCP4',),
    'echo-client-id': ('DHCP4',),
    'enable-multi-threading': ('DHCP_MULTI_THREADING',),
    'enable-queue': ('DHCP_QUEUE_CONTROL',),
    'enable-updates': ('DHCP_DDNS',),
    'encapsulate': ('OPTION_DEF',),
    'expired-leases-processing': ('DHCP4',),
    'flex-id': ('HOST_RESERVATION_IDENTIFIERS', 'RESERVATIONS'),
    'flush': ('OUTPUT_OPTIONS',),
    'flush-reclaimed-timer-wait-time': ('EXPIRED_LEASES_PROCESSING',),
    'generated-prefix': ('DHCP_DDNS',),
    'global': ('RESERVATION_MODE',),
    'hold-reclaimed-time': ('EXPIRED_LEASES_PROCESSING',),
    'hooks-libraries': ('DHCP4',),
    'host': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'host-reservation-identifiers': ('DHCP4',),
    'hostname': ('RESERVATIONS',),
    'hostname-char-replacement': ('DHCP4', 'DHCP_DDNS', 'SHARED_NETWORK', 'SUBNET4'),
    'hostname-char-set': ('DHCP4', 'DHCP_DDNS', 'SHARED_NETWORK', 'SUBNET4'),
    'hosts-database': ('DHCP4',),
    'hosts-databases': ('DHCP4',),
    'hw-address': ('HOST_RESERVATION_IDENTIFIERS', 'RESERVATIONS'),
    'id': ('SUBNET4',),
    'interface': ('SHARED_NETWORK', 'SUBNET4'),
    'interfaces': ('INTERFACES_CONFIG',),
    'interfaces-config': ('DHCP4',),
    'ip-address': ('RELAY', 'RESERVATIONS'),
    'ip-addresses': ('RELAY',),
    'ip-reservations-unique': ('DHCP4',),
    'key-file': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'lease-checks': ('SANITY_CHECKS',),
    'lease-database': ('DHCP4',),
    'lenient-option-parsing': ('COMPATIBILITY',),
    'lfc-interval': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'library': ('HOOKS_LIBRARIES',),
    'loggers': ('DHCP4',),
    'match-client-id': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'max-queue-size': ('DHCP_DDNS',),
    'max-reclaim-leases': ('EXPIRED_LEASES_PROCESSING',),
    'max-reclaim-time': ('EXPIRED_LEASES_PROCESSING',),
    'max-reconnect-tries': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'max-row-errors': ('LEASE_DATABASE',),
    'max-valid-lifetime': ('CLIENT_CLASSES', 'DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'maxsize': ('OUTPUT_OPTIONS',),
    'maxver': ('OUTPUT_OPTIONS',),
    'memfile': ('DATABASE_TYPE',),
    'min-valid-lifetime': ('CLIENT_CLASSES', 'DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'multi-threading': ('DHCP4',),
    'mysql': ('DATABASE_TYPE',),
    'name': ('CLIENT_CLASSES', 'CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE', 'LOGGERS', 'OPTION_DATA', 'OPTION_DEF', 'SHARED_NETWORK'),
    'ncr-format': ('DHCP_DDNS',),
    'ncr-protocol': ('DHCP_DDNS',),
    'next-server': ('CLIENT_CLASSES', 'DHCP4', 'RESERVATIONS', 'SHARED_NETWORK', 'SUBNET4'),
    'off': ('RESERVATION_MODE',),
    'on-fail': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'only-if-required': ('CLIENT_CLASSES',),
    'option-data': ('CLIENT_CLASSES', 'DHCP4', 'POOLS', 'RESERVATIONS', 'SHARED_NETWORK', 'SUBNET4'),
    'option-def': ('CLIENT_CLASSES', 'DHCP4'),
    'out-of-pool': ('RESERVATION_MODE',),
    'outbound-interface': (),
    'output': ('OUTPUT_OPTIONS',),
    'output_options': ('LOGGERS',),
    'override-client-update': ('DHCP_DDNS',),
    'override-no-update': ('DHCP_DDNS',),
    'packet-queue-size': ('DHCP_MULTI_THREADING',),
    'parameters': ('HOOKS_LIBRARIES',),
    'parked-packet-limit': ('DHCP4',),
    'password': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'pattern': ('OUTPUT_OPTIONS',),
    'persist': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'pool': ('POOLS',),
    'pools': ('SUBNET4',),
    'port': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'postgresql': ('DATABASE_TYPE',),
    'qualifying-suffix': ('DHCP_DDNS',),
    'queue-type': ('DHCP_QUEUE_CONTROL',),
    'raw': ('DHCP_SOCKET_TYPE',),
    're-detect': ('INTERFACES_CONFIG',),
    'readonly': ('HOSTS_DATABASE',),
    'rebind-timer': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'reclaim-timer-wait-time': ('EXPIRED_LEASES_PROCESSING',),
    'reconnect-wait-time': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'record-types': ('OPTION_DEF',),
    'relay': ('SHARED_NETWORK', 'SUBNET4'),
    'renew-timer': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'replace-client-name': ('DHCP_DDNS',),
    'require-client-classes': ('POOLS', 'SHARED_NETWORK', 'SUBNET4'),
    'reservation-mode': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'reservations': ('DHCP4', 'SUBNET4'),
    'reservations-global': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'reservations-in-subnet': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'reservations-lookup-first': ('DHCP4',),
    'reservations-out-of-pool': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'same-as-inbound': (),
    'sanity-checks': ('DHCP4',),
    'sender-ip': ('DHCP_DDNS',),
    'sender-port': ('DHCP_DDNS',),
    'serve-retry-continue': ('DATABASE_ON_FAIL',),
    'serve-retry-exit': ('DATABASE_ON_FAIL',),
    'server-hostname': ('CLIENT_CLASSES', 'DHCP4', 'RESERVATIONS', 'SHARED_NETWORK', 'SUBNET4'),
    'server-ip': ('DHCP_DDNS',),
    'server-port': ('DHCP_DDNS',),
    'server-tag': ('DHCP4',),
    'service-sockets-max-retries': ('INTERFACES_CONFIG',),
    'service-sockets-require-all': ('INTERFACES_CONFIG',),
    'service-sockets-retry-wait-time': ('INTERFACES_CONFIG',),
    'severity': ('LOGGERS',),
    'shared-networks': ('DHCP4',),
    'socket-name': ('CONTROL_SOCKET',),
    'socket-type': ('CONTROL_SOCKET',),
    'space': ('OPTION_DATA', 'OPTION_DEF'),
    'statistic-default-sample-age': ('DHCP4',),
    'statistic-default-sample-count': ('DHCP4',),
    'stop-retry-exit': ('DATABASE_ON_FAIL',),
    'store-extended-info': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'subnet': ('SUBNET4',),
    'subnet4': ('DHCP4', 'SHARED_NETWORK'),
    't1-percent': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    't2-percent': ('DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    'test': ('CLIENT_CLASSES',),
    'thread-pool-size': ('DHCP_MULTI_THREADING',),
    'trust-anchor': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'type': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE', 'OPTION_DEF'),
    'udp': ('DHCP_SOCKET_TYPE', 'NCR_PROTOCOL'),
    'unwarned-reclaim-cycles': ('EXPIRED_LEASES_PROCESSING',),
    'use-routing': (),
    'user': ('CONFIG_DATABASE', 'HOSTS_DATABASE', 'LEASE_DATABASE'),
    'user-context': ('CLIENT_CLASSES', 'CONTROL_SOCKET', 'DHCP4', 'DHCP_DDNS', 'DHCP_MULTI_THREADING', 'DHCP_QUEUE_CONTROL', 'INTERFACES_CONFIG', 'LOGGERS', 'OPTION_DATA', 'OPTION_DEF', 'POOLS', 'RESERVATIONS', 'SHARED_NETWORK', 'SUBNET4'),
    'valid-lifetime': ('CLIENT_CLASSES', 'DHCP4', 'SHARED_NETWORK', 'SUBNET4'),
    '{JSONStringCharacter}*{ControlCharacter}{ControlCharacterFill}*': (),
}

# --- the checker ------------------------------------------------------------

_KIND_TOKEN = {
    "integer": "integer",
    "real": "floating point",
    "boolean": "boolean",
    "string": "constant string",
    "null": "null",
    "map": "{",
    "list": "[",
}

#: Values whose content Kea checks beyond the token (``lease_checks`` rule).
_LEASE_CHECKS = ("none", "warn", "fix", "fix-del", "del")


def _order(names) -> List[str]:
    index = {n: i for i, n in enumerate(KEYWORD_ORDER)}
    return sorted(dict.fromkeys(names), key=lambda n: index.get(n, len(index)))


def _open(elem: Element) -> Optional[Position]:
    """Where the element's text starts (its ``{`` for a keyword map whose
    Kea position is the keyword's)."""
    return getattr(elem, "open_pos", None) or elem.pos


def _loc(elem: Element) -> Optional[str]:
    """Bison location of an element as an unexpected token: a scalar's whole
    token, a map's or list's opening bracket."""
    start = _open(elem)
    if start is None:
        return None
    if isinstance(elem, (MapElement, ListElement)):
        return bison_location(start)
    return bison_location(start, getattr(elem, "span_end", None))


def _span_loc(start: Optional[Position], end: Optional[Position]) -> Optional[str]:
    if start is None:
        return None
    return bison_location(start, end)


def _token_name(elem: Element, lexer: str) -> str:
    """How bison names ``elem`` as a token read in lexer context ``lexer``."""
    if elem.kind == "string" and lexer in LEXER_KEYWORDS.get(elem.value, ()):
        return elem.value
    return _KIND_TOKEN[elem.kind]


def _syntax(unexpected: str, expected, location: Optional[str]) -> ConfigError:
    return ConfigError(
        f"syntax error, unexpected {unexpected}{expecting(expected)}",
        syntax=True,
        location=location,
    )


def _entries(elem: MapElement):
    """``(key, key_pos, value, key_end)`` in file order, duplicates
    included when the loader saw them."""
    entries = getattr(elem, "entries", None)
    if entries is not None:
        return entries
    return [(k, elem.key_pos.get(k, elem.pos), v, None, None) for k, v in elem.items.items()]


def _pos_text(pos: Optional[Position]) -> str:
    return str(pos) if pos is not None else "<unknown>"


class _Checker:
    def __init__(self) -> None:
        self.depth = 0

    def deeper(self, elem: Element) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConfigError(
                f"configuration nested deeper than {MAX_NESTING} levels",
                syntax=True,
                location=_loc(elem),
            )

    # -- generic JSON (user-context, parameters, ...) -----------------------

    def generic(self, elem: Element) -> Element:
        """Any JSON: only duplicate keys are refused
        (``duplicate a entries in JSON map``)."""
        self.deeper(elem)
        try:
            if isinstance(elem, MapElement):
                seen: Dict[str, Element] = {}
                for key, key_pos, value, _end, _comma in _entries(elem):
                    if key in seen:
                        raise ConfigError(
                            f"duplicate {key} entries in JSON map "
                            f"(previous at {_pos_text(seen[key].pos)})",
                            syntax=True,
                            location=_pos_text(key_pos),
                        )
                    seen[key] = value
                    self.generic(value)
            elif isinstance(elem, ListElement):
                for item in elem.items:
                    self.generic(item)
        finally:
            self.depth -= 1
        return elem

    # -- keyword maps ------------------------------------------------------

    def keyword_map(
        self,
        elem: MapElement,
        schema_name: str,
        context: str,
        kea_pos: Optional[Position],
        required: Tuple[str, ...] = (),
    ) -> MapElement:
        """Check a map of ``schema_name``; return a copy with Kea's
        positions and ``comment`` folded into ``user-context``."""
        self.deeper(elem)
        schema = SCHEMAS[schema_name]
        lexer = CONTEXT_LEXER.get(context, "NO_KEYWORD")
        aliases = KEY_ALIASES.get(schema_name, {})
        entries = _entries(elem)
        close = getattr(elem, "span_end", None)
        if not entries and not schema.empty_ok:
            raise _syntax("}", self._first_key_expected(schema), _span_loc(close, None))
        items: Dict[str, Element] = {}
        key_pos_out: Dict[str, Position] = {}
        user_context: Optional[MapElement] = None
        for index, (key, key_pos, value, key_end, comma) in enumerate(entries):
            key_loc = _span_loc(key_pos, key_end)
            if index > 0 and schema.single:
                # relay: one entry, then "}" only
                raise _syntax('","', ["}"], _span_loc(comma, None) or key_loc)
            stored = aliases.get(key, key)
            if key == "user-context" and key in schema.keys:
                user_context = self._user_context(user_context, value, key_loc)
                items["user-context"] = user_context
                key_pos_out["user-context"] = key_pos
                continue
            if key == "comment" and key in schema.keys:
                user_context = self._comment(user_context, value, key_pos, key_loc)
                items["user-context"] = user_context
                key_pos_out["user-context"] = key_pos
                continue
            spec = schema.keys.get(stored)
            if spec is None:
                if lexer in LEXER_KEYWORDS.get(key, ()):
                    # a keyword token the grammar does not take here
                    raise _syntax(key, self._key_expected(schema, index), key_loc)
                if schema.unknown == "error" or (schema.unknown == "first" and index == 0):
                    raise ConfigError(
                        f'got unexpected keyword "{key}" in {context} map.',
                        syntax=True,
                        location=key_loc,
                    )
                if schema.unknown in ("syntax", "first"):
                    raise _syntax("constant string", self._key_expected(schema, index), key_loc)
                # "any": Kea's arbitrary_map_entry, unique() in this context
                if key in items:
                    raise self._duplicate(key, context, key_pos, items[key])
                items[key] = self.generic(value)
                key_pos_out[key] = key_pos
                continue
            if stored in items:
                raise self._duplicate(key, context, key_pos, items[stored])
            items[stored] = self.value(spec, value, key, key_pos, lexer, schema_name)
            key_pos_out[stored] = key_pos
        out = MapElement(items, kea_pos, key_pos_out)
        out.open_pos = _open(elem)
        out.span_end = close
        out.entries = [(k, key_pos_out[k], v, None, None) for k, v in items.items()]
        for name in required:
            if name not in items:
                raise ConfigError(
                    f"missing parameter '{name}' ({_pos_text(kea_pos)}) "
                    f"[{context} map between {_pos_text(_open(elem))} and "
                    f"{_pos_text(close or _open(elem))}]",
                    syntax=True,
                )
        self.depth -= 1
        return out

    @staticmethod
    def _first_key_expected(schema: Schema) -> List[str]:
        names = _order(schema.keys)
        if schema.unknown != "syntax":
            names.append("constant string")
        return names

    def _key_expected(self, schema: Schema, index: int) -> List[str]:
        if schema.empty_ok:
            return ["}"]
        if index == 0:
            return self._first_key_expected(schema)
        return ['","', "}"]

    @staticmethod
    def _duplicate(key: str, context: str, key_pos, previous: Element) -> ConfigError:
        return ConfigError(
            f"duplicate {key} entries in {context} map (previous at {_pos_text(previous.pos)})",
            syntax=True,
            location=_pos_text(key_pos),
        )

    def _user_context(self, old: Optional[MapElement], value: Element, key_loc) -> MapElement:
        if not isinstance(value, MapElement):
            raise _syntax(_token_name(value, "NO_KEYWORD"), ["{"], _loc(value))
        self.generic(value)
        if old is None:
            return value
        if len(old.items) != 1 or "comment" not in old.items:
            raise ConfigError(
                f"duplicate user-context entries (previous at {_pos_text(old.pos)})",
                syntax=True,
                location=key_loc,
            )
        merged = MapElement(dict(value.items), value.pos, dict(value.key_pos))
        merged.items["comment"] = old.items["comment"]
        merged.key_pos["comment"] = old.key_pos.get("comment", old.pos)
        merged.span_end = getattr(value, "span_end", None)
        return merged

    def _comment(self, old: Optional[MapElement], value: Element, key_pos, key_loc) -> MapElement:
        if value.kind != "string":
            raise _syntax(_token_name(value, "NO_KEYWORD"), ["constant string"], _loc(value))
        if old is not None and "comment" in old.items:
            raise ConfigError(
                f"duplicate user-context/comment entries (previous at {_pos_text(old.pos)})",
                syntax=True,
                location=key_loc,
            )
        merged = MapElement({"comment": value}, key_pos, {"comment": key_pos})
        if old is not None:
            merged.items.update(old.items)
            merged.key_pos.update(old.key_pos)
        return merged

    # -- values ------------------------------------------------------------

    def value(self, spec: Value, elem: Element, key: str, key_pos, lexer: str, schema_name: str) -> Element:
        if isinstance(spec, Scalar):
            # strings are read in NO_KEYWORD, the others in the map's context
            read_in = "NO_KEYWORD" if spec.kind == "string" else lexer
            if elem.kind != spec.kind:
                raise _syntax(_token_name(elem, read_in), [_KIND_TOKEN[spec.kind]], _loc(elem))
            if schema_name == "sanity_checks_params" and key == "lease-checks":
                if elem.value not in _LEASE_CHECKS:
                    raise ConfigError(
                        f"Unsupported 'lease-checks value: {elem.value}, supported values "
                        "are: none, warn, fix, fix-del, del",
                        syntax=True,
                        location=_loc(elem),
                    )
            return elem
        if isinstance(spec, Enum):
            if elem.kind == "boolean" and "boolean" in spec.values:
                raise ConfigError(
                    "boolean values for the replace-client-name are no longer supported",
                    syntax=True,
                    location=_loc(elem),
                )
            value = spec.canonical(elem.value) if elem.kind == "string" else None
            if value is None:
                raise _syntax(_token_name(elem, spec.lexer), _order(spec.values), _loc(elem))
            if value != elem.value:
                canonical = ScalarElement("string", value, elem.pos)
                canonical.span_end = getattr(elem, "span_end", None)
                return canonical
            return elem
        if isinstance(spec, Special):
            if spec.kind == "any":
                return self.generic(elem)
            if spec.kind == "anymap":
                if not isinstance(elem, MapElement):
                    raise _syntax(_token_name(elem, "NO_KEYWORD"), ["{"], _loc(elem))
                return self.generic(elem)
            # strings: a list of strings, at the keyword's position
            return self._list(elem, key_pos, "NO_KEYWORD", self._string_item, True)
        if isinstance(spec, EnumList):
            context_lexer = "HOST_RESERVATION_IDENTIFIERS"

            def enum_item(item: Element, index: int, items: List[Element]) -> Element:
                if item.kind != "string" or item.value not in spec.values:
                    expected = _order(spec.values) if index == 0 else ['","', "]"]
                    raise _syntax(_token_name(item, context_lexer), expected, _loc(item))
                return item

            return self._list(elem, key_pos, context_lexer, enum_item, spec.empty_ok, _order(spec.values))
        if isinstance(spec, MapOf):
            inner = CONTEXT_LEXER.get(spec.context, "NO_KEYWORD")
            if not isinstance(elem, MapElement):
                raise _syntax(_token_name(elem, inner), ["{"], _loc(elem))
            return self.keyword_map(elem, spec.schema, spec.context, key_pos, spec.required)
        if isinstance(spec, ListOf):
            inner = CONTEXT_LEXER.get(spec.context, "NO_KEYWORD")

            def map_item(item: Element, index: int, items: List[Element]) -> Element:
                if not isinstance(item, MapElement):
                    if spec.empty_ok:
                        expected = ["]"]
                    else:
                        expected = ["{"] if index == 0 else ['","', "]"]
                    raise _syntax(_token_name(item, inner), expected, _loc(item))
                return self.keyword_map(item, spec.schema, spec.context, item.pos, spec.required)

            return self._list(elem, key_pos, inner, map_item, spec.empty_ok, ["{"])
        raise AssertionError(spec)  # pragma: no cover

    @staticmethod
    def _string_item(item: Element, index: int, items: List[Element]) -> Element:
        if item.kind != "string":
            raise _syntax(_token_name(item, "NO_KEYWORD"), ["]"], _loc(item))
        return item

    def _list(self, elem, key_pos, lexer, check_item, empty_ok, first_expected=()) -> ListElement:
        if not isinstance(elem, ListElement):
            raise _syntax(_token_name(elem, lexer), ["["], _loc(elem))
        self.deeper(elem)
        close = getattr(elem, "span_end", None)
        if not elem.items and not empty_ok:
            raise _syntax("]", list(first_expected), _span_loc(close, None))
        items: List[Element] = []
        for index, item in enumerate(elem.items):
            items.append(check_item(item, index, items))
        out = ListElement(items, key_pos)
        out.open_pos = _open(elem)
        out.span_end = close
        self.depth -= 1
        return out


def check_grammar(root: MapElement) -> MapElement:
    """Check a whole configuration (``{"Dhcp4": {...}}``) as kea-dhcp4 2.2's
    grammar does; return the ``Dhcp4`` map, normalized (see the module
    docstring).  Raise :class:`ConfigError` with ``syntax=True``.

    Usable on trees built by :func:`~kea_twisted.config.element.from_python`
    (control commands): locations are then missing or coarse.
    """
    if not isinstance(root, MapElement):
        raise _syntax(_token_name(root, "NO_KEYWORD"), ["{"], _loc(root))
    entries = _entries(root)
    if not entries:
        raise _syntax("}", ["Dhcp4"], _span_loc(getattr(root, "span_end", None), None))
    dhcp4: Optional[MapElement] = None
    for index, (key, key_pos, value, key_end, _comma) in enumerate(entries):
        key_loc = _span_loc(key_pos, key_end)
        name = "Dhcp4" if key == "Dhcp4" else "constant string"
        if index == 0 and key != "Dhcp4":
            raise _syntax(name, ["Dhcp4"], key_loc)
        if index > 0:
            raise _syntax(name, ['","', "}"], key_loc)
        if not isinstance(value, MapElement):
            raise _syntax(_token_name(value, "DHCP4"), ["{"], _loc(value))
        dhcp4 = _Checker().keyword_map(value, DHCP4.schema, DHCP4.context, key_pos)
    assert dhcp4 is not None
    return dhcp4


def check_dhcp4(dhcp4: MapElement) -> MapElement:
    """Check the ``Dhcp4`` map alone (Kea's ``SUB_DHCP4`` parser); return it
    normalized."""
    if not isinstance(dhcp4, MapElement):
        raise _syntax(_token_name(dhcp4, "NO_KEYWORD"), ["{"], _loc(dhcp4))
    return _Checker().keyword_map(dhcp4, DHCP4.schema, DHCP4.context, dhcp4.pos)
