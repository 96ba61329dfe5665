"""
The ``high-availability`` parameters of Kea's HA hook library: parsing,
defaults and validation as Kea 2.2 does them, with Kea's error texts.

Kea reads the section in ``ha_config_parser.cc`` (``HAConfigParser``) and
checks it in ``ha_config.cc`` (``HAConfig::validate``).  What matters for
interoperability (spec/ha.md §0, §1):

* defaults: heartbeat-delay 10000, max-response-delay 60000, max-ack-delay
  10000, max-unacked-clients 10, sync-timeout 60000, sync-page-limit 10000,
  delayed-updates-limit 100 in load-balancing and 0 otherwise,
  send-lease-updates / sync-leases true, wait-backup-ack false,
  require-client-certs true, restrict-commands false, peer auto-failover true;
* heartbeat-delay, max-response-delay and max-ack-delay are 16-bit;
* ``require-client-certs`` counts only next to ``this-server-name``; Kea 2.2
  ignores it inside a ``peers`` entry (the shipped example puts it there);
* TLS files per peer, falling back to the relationship level; all three or
  none; an ``https://`` URL without TLS files is an error; an ``http://``
  URL *with* TLS files speaks TLS;
* surprise: the own peer entry's files configure the listener, the
  **partner's** entry's files configure the client that talks to that
  partner - so with the example layout server1 presents server2's
  certificate as its client certificate (see :meth:`HAConfig.client_tls`).

Errors are :class:`HAConfigError` whose message is Kea's ``what()`` text;
Kea logs it as ``HA_CONFIGURATION_FAILED failed to configure High
Availability hooks library: <message>`` (:attr:`HAConfigError.log_text`).
The texts were checked against the real hook (``kea-dhcp4 -c`` with
``libdhcp_ha.so``; ``kea-dhcp4 -t`` does not run the hook's ``load``).

The input is the hook library's ``parameters`` map as plain Python (what
``kea_twisted.hooks`` hands to a library) or a positioned
:class:`~kea_twisted.config.element.Element` tree; with the latter, "missing
parameter" and "invalid type" errors carry ``(file:line:col)`` as Kea's do.

Nothing here opens a socket; the only file read is
``basic-auth-password-file``, through an injectable reader.  TLS files are
named, not loaded: the I/O layer loads them (Kea reports a failure as
``bad TLS config for server <name>: <reason>``, see :func:`tls_error`).

Tests: tests/test_ha_config.py
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from kea_twisted.config.errors import ConfigError

__all__ = [
    "HAConfigError",
    "HAConfig",
    "PeerConfig",
    "TLSFiles",
    "Url",
    "parse_ha_config",
    "tls_error",
    "MODES",
    "ROLES",
    "LOAD_BALANCING",
    "HOT_STANDBY",
    "PASSIVE_BACKUP",
    "PRIMARY",
    "SECONDARY",
    "STANDBY",
    "BACKUP",
    "PAUSE_VALUES",
]

LOAD_BALANCING = "load-balancing"
HOT_STANDBY = "hot-standby"
PASSIVE_BACKUP = "passive-backup"
MODES = (LOAD_BALANCING, HOT_STANDBY, PASSIVE_BACKUP)

PRIMARY = "primary"
SECONDARY = "secondary"
STANDBY = "standby"
BACKUP = "backup"
ROLES = (PRIMARY, SECONDARY, STANDBY, BACKUP)

PAUSE_VALUES = ("always", "never", "once")

# Kea's state names accepted in "state-machine" (ha_service_states.cc
# stringToState, which also knows "unavailable").
_STATE_NAMES = (
    "backup", "communication-recovery", "hot-standby", "load-balancing",
    "in-maintenance", "partner-down", "partner-in-maintenance",
    "passive-backup", "ready", "syncing", "terminated", "waiting",
    "unavailable",
)

# ha_config_parser.cc: HA_CONFIG_DEFAULTS (+ HA_CONFIG_LB_DEFAULTS first).
_DEFAULTS: Tuple[Tuple[str, Any], ...] = (
    ("delayed-updates-limit", 0),
    ("heartbeat-delay", 10000),
    ("max-ack-delay", 10000),
    ("max-response-delay", 60000),
    ("max-unacked-clients", 10),
    ("require-client-certs", True),
    ("restrict-commands", False),
    ("send-lease-updates", True),
    ("sync-leases", True),
    ("sync-timeout", 60000),
    ("sync-page-limit", 10000),
    ("wait-backup-ack", False),
)
_LB_DEFAULTS = (("delayed-updates-limit", 100),)
_MT_DEFAULTS = (
    ("enable-multi-threading", False),
    ("http-client-threads", 0),
    ("http-dedicated-listener", False),
    ("http-listener-threads", 0),
)

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF


class HAConfigError(ConfigError):
    """A ``high-availability`` section Kea's HA hook refuses.

    ``message`` is Kea's exception text; :attr:`log_text` is the whole
    ``HA_CONFIGURATION_FAILED`` log line body.
    """

    @property
    def log_text(self) -> str:
        return f"failed to configure High Availability hooks library: {self.message}"


def tls_error(server_name: str, reason: str) -> HAConfigError:
    """The error Kea raises when a peer's TLS files cannot be loaded
    (``ha_config.cc`` wraps ``TlsContext::configure`` failures)."""
    return HAConfigError(f"bad TLS config for server {server_name}: {reason}")


# --------------------------------------------------------------------------
# Reading values from either plain Python or positioned elements.

class _Node:
    """A view of a JSON value that knows its Kea type name and position."""

    def __init__(self, value: Any, pos: Any = None, element: Any = None):
        self.value = value
        self.pos = pos
        self.element = element

    @classmethod
    def wrap(cls, value: Any) -> "_Node":
        kind = getattr(value, "kind", None)
        if kind is not None and hasattr(value, "to_python"):
            return cls(value, getattr(value, "pos", None), value)
        return cls(value)

    @property
    def kind(self) -> str:
        if self.element is not None:
            return self.element.kind
        v = self.value
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, int):
            return "integer"
        if isinstance(v, float):
            return "real"
        if isinstance(v, str):
            return "string"
        if isinstance(v, Mapping):
            return "map"
        if isinstance(v, (list, tuple)):
            return "list"
        if v is None:
            return "null"
        return "unknown"

    def scalar(self) -> Any:
        if self.element is not None:
            return self.element.to_python()
        return self.value

    def items(self) -> List["_Node"]:
        if self.element is not None:
            return [_Node.wrap(e) for e in self.element.items]
        return [_Node.wrap(v) for v in self.value]

    def get(self, key: str) -> Optional["_Node"]:
        if self.element is not None:
            child = self.element.get(key)
            return None if child is None else _Node.wrap(child)
        if key in self.value:
            return _Node.wrap(self.value[key])
        return None

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def where(self) -> str:
        return f" ({self.pos})" if self.pos is not None else ""


class _Scope:
    """A map with Kea's SimpleParser getters and backfilled defaults."""

    def __init__(self, node: _Node, defaults: Sequence[Tuple[str, Any]] = ()):
        self.node = node
        self.defaults: Dict[str, Any] = {}
        for key, value in defaults:
            if not node.has(key) and key not in self.defaults:
                self.defaults[key] = value

    def get(self, key: str) -> Optional[_Node]:
        found = self.node.get(key)
        if found is not None:
            return found
        if key in self.defaults:
            return _Node(self.defaults[key])
        return None

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def _typed(self, key: str, kind: str) -> Any:
        x = self.get(key)
        if x is None:
            raise HAConfigError(f"missing parameter '{key}'{self.node.where()}")
        if x.kind != kind:
            raise HAConfigError(f"invalid type specified for parameter '{key}'{x.where()}")
        return x.scalar()

    def string(self, key: str) -> str:
        return self._typed(key, "string")

    def boolean(self, key: str) -> bool:
        return self._typed(key, "boolean")

    def integer(self, key: str, maximum: int) -> int:
        value = self._typed(key, "integer")
        if value < 0:
            raise HAConfigError(f"'{key}' must not be negative")
        if value > maximum:
            raise HAConfigError(f"'{key}' must not be greater than {maximum}")
        return value


# --------------------------------------------------------------------------
# URLs, as Kea's isc::http::Url parses them.

@dataclass(frozen=True)
class Url:
    """A peer URL as Kea's ``Url`` class sees it (``src/lib/http/url.cc``).

    ``port`` is 0 when the URL names none (Kea then has no port either).
    ``error`` is Kea's message for an invalid URL, else None.
    """

    text: str
    scheme: str = ""
    hostname: str = ""
    port: int = 0
    path: str = ""
    error: Optional[str] = None

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def stripped_hostname(self) -> str:
        """The host without IPv6 brackets: the value of the ``Host`` header
        Kea sends (no port, spec/ha.md §2)."""
        h = self.hostname
        if len(h) >= 2 and h[0] == "[":
            return h[1:-1]
        return h

    @classmethod
    def parse(cls, text: str) -> "Url":
        def bad(msg: str) -> "Url":
            return cls(text, error=msg)

        offset = text.find(":")
        if offset <= 0:
            return bad(f"url {text} lacks http or https scheme")
        scheme = text[:offset]
        if scheme not in ("http", "https"):
            return bad(f"invalid scheme {scheme} in {text}")
        if text[offset:offset + 3] != "://":
            return bad(f"expected :// after scheme in {text}")
        offset += 3
        if offset >= len(text):
            return bad(f"hostname missing in {text}")
        if text[offset] == "[":
            end = text.find("]", offset)
            if end < 0:
                return bad(f"expected ] after IPv6 address in {text}")
            if end == offset + 1:
                return bad(f"expected IPv6 address within [] in {text}")
            end += 1
        else:
            end = text.find(":", offset)
            if end < 0:
                end = text.find("/", offset)
                if end < 0:
                    end = len(text)
        hostname = text[offset:end]
        if end == len(text):
            return cls(text, scheme, hostname)
        port = 0
        if text[end] == ":":
            if end == len(text) - 1:
                return bad(f"expected port number after : in {text}")
            end += 1
            slash = text.find("/", end)
            port_str = text[end:] if slash < 0 else text[end:slash]
            if not port_str.isdigit() or int(port_str) > _U32:
                return bad(f"invalid port number {port_str} in {text}")
            port = int(port_str) & 0xFFFF  # Kea stores it in a uint16_t
            end = slash
        path = ""
        if end >= 0:
            path = text[end:] or "/"
        return cls(text, scheme, hostname, port, path)


# --------------------------------------------------------------------------
# The configuration model.

@dataclass(frozen=True)
class TLSFiles:
    """trust-anchor, cert-file and key-file, as Kea passes them to
    ``TlsContext::configure``.  ``cert_required``: for the listener, the
    relationship-level ``require-client-certs``; for a client, always True
    (Kea's client verifies the server certificate against the trust anchor,
    without any name check - spec/ha.md §1)."""

    trust_anchor: str
    cert_file: str
    key_file: str
    cert_required: bool = True


@dataclass(frozen=True)
class PeerConfig:
    """One ``peers`` entry.  ``trust_anchor`` / ``cert_file`` / ``key_file``
    are as written in the entry (None when absent); :attr:`tls` is what Kea
    uses after falling back to the relationship level."""

    name: str
    url: Url
    role: str
    auto_failover: bool = True
    trust_anchor: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    basic_auth_user: Optional[str] = None
    basic_auth_password: Optional[str] = None
    tls: Optional[TLSFiles] = None
    ignored_keys: Tuple[str, ...] = ()

    @property
    def log_label(self) -> str:
        """``name (url)`` as Kea's ``PeerConfig::getLogLabel``."""
        return f"{self.name} ({self.url.text})"

    @property
    def host(self) -> str:
        return self.url.stripped_hostname

    @property
    def port(self) -> int:
        return self.url.port

    @property
    def authorization(self) -> Optional[str]:
        """The ``Authorization`` header value Kea adds to requests sent to
        this peer (``Basic base64(user:password)``), or None.  Kea builds it
        only for a non-empty ``basic-auth-user``."""
        if not self.basic_auth_user:
            return None
        secret = f"{self.basic_auth_user}:{self.basic_auth_password or ''}"
        return "Basic " + base64.b64encode(secret.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class HAConfig:
    """One HA relationship (Kea 2.2 supports exactly one)."""

    this_server_name: str
    mode: str
    peers: Tuple[PeerConfig, ...]
    heartbeat_delay: int = 10000
    max_response_delay: int = 60000
    max_ack_delay: int = 10000
    max_unacked_clients: int = 10
    sync_timeout: int = 60000
    sync_page_limit: int = 10000
    delayed_updates_limit: int = 0
    send_lease_updates: bool = True
    sync_leases: bool = True
    wait_backup_ack: bool = False
    require_client_certs: bool = True
    restrict_commands: bool = False
    #: kea_twisted's own: the dedicated listener answers only the commands
    #: a partner sends (HA_COMMANDS4) unless restrict-commands is explicitly
    #: false; Kea 2.2 answers every command there by default.
    listener_restricted: bool = True
    enable_multi_threading: bool = False
    http_dedicated_listener: bool = False
    http_listener_threads: int = 0
    http_client_threads: int = 0
    trust_anchor: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    state_pausing: Mapping[str, str] = field(default_factory=dict)

    # -- peers ------------------------------------------------------------

    def peer(self, name: str) -> PeerConfig:
        for p in self.peers:
            if p.name == name:
                return p
        raise KeyError(f"no configuration specified for server {name}")

    @property
    def this_server(self) -> PeerConfig:
        return self.peer(self.this_server_name)

    @property
    def role(self) -> str:
        return self.this_server.role

    def other_servers(self) -> Tuple[PeerConfig, ...]:
        """The other peers in Kea's order (a std::map: sorted by name);
        lease updates go to each of them."""
        return tuple(sorted((p for p in self.peers if p.name != self.this_server_name),
                            key=lambda p: p.name))

    @property
    def partner(self) -> Optional[PeerConfig]:
        """Kea's "failover peer": the first other non-backup server by name
        (heartbeats, sync, maintenance go there).  None in passive-backup
        for a primary whose others are all backups."""
        for p in self.other_servers():
            if p.role != BACKUP:
                return p
        return None

    def ordered_peers(self) -> Tuple[PeerConfig, ...]:
        """Peers in the query filter's order: primary first, then the
        secondary/standby, then backups (``query_filter.cc``)."""
        by_name = sorted(self.peers, key=lambda p: p.name)
        primary = [p for p in by_name if p.role == PRIMARY]
        second = [p for p in by_name if p.role in (SECONDARY, STANDBY)]
        backups = [p for p in by_name if p.role == BACKUP]
        return tuple(primary + second + backups)

    @property
    def allows_communication_recovery(self) -> bool:
        """``amAllowingCommRecovery``: delayed-updates-limit > 0."""
        return self.delayed_updates_limit > 0

    @property
    def normal_state(self) -> str:
        """Kea's ``getNormalState()`` for this server."""
        if self.role == BACKUP:
            return "backup"
        if self.mode == LOAD_BALANCING:
            return "load-balancing"
        if self.mode == HOT_STANDBY:
            return "hot-standby"
        return "passive-backup"

    @property
    def sync_max_period(self) -> int:
        """``max-period`` (seconds) of the dhcp-disable sent before each
        sync page: sync-timeout / 1000, at least 1."""
        return max(1, self.sync_timeout // 1000)

    # -- TLS --------------------------------------------------------------

    @property
    def listener_tls(self) -> Optional[TLSFiles]:
        """TLS for this server's HA listener: the own peer entry's files
        (or the relationship-level ones), ``cert_required`` =
        relationship-level require-client-certs.  None: plain HTTP."""
        return self.this_server.tls

    def client_tls(self, peer_name: str) -> Optional[TLSFiles]:
        """TLS for requests *to* ``peer_name``: that peer's entry's files -
        so the client certificate presented is the partner entry's
        cert-file (Kea's surprise, spec/ha.md §1).  None: plain HTTP."""
        return self.peer(peer_name).tls

    # -- multi-threading / listener -----------------------------------------

    def listener_address(self) -> Optional[Tuple[str, int]]:
        """``(host, port)`` the dedicated HA listener binds (host:port of
        the own ``url``), or None when Kea would not start one (it then
        relies on the Control Agent).  Call on the result of
        :meth:`with_dhcp_threads`."""
        if self.enable_multi_threading and self.http_dedicated_listener:
            return (self.this_server.host, self.this_server.port)
        return None

    def with_dhcp_threads(self, dhcp_mt_enabled: bool, dhcp_threads: int,
                          detected_threads: int = 1) -> "HAConfig":
        """The end of Kea's ``validate()``: HA multi-threading needs DHCP
        multi-threading (else it is silently turned off, log
        ``HA_CONFIG_DHCP_MT_DISABLED``); thread counts 0 take the DHCP
        thread-pool-size (0 there: ``detected_threads``)."""
        from dataclasses import replace
        if not self.enable_multi_threading:
            return self
        if not dhcp_mt_enabled:
            return replace(self, enable_multi_threading=False)
        threads = dhcp_threads or detected_threads
        if not threads:
            return replace(self, enable_multi_threading=False)
        return replace(
            self,
            http_listener_threads=self.http_listener_threads or threads,
            http_client_threads=self.http_client_threads or threads,
        )

    def pausing(self, state: str) -> str:
        """``state-machine`` pause setting for a state: always/never/once."""
        return self.state_pausing.get(state, "never")

    def warnings(self) -> List[Tuple[str, str]]:
        """(message id, text) of the warnings Kea logs after a successful
        parse (``logConfigStatus``)."""
        out: List[Tuple[str, str]] = []
        if not self.send_lease_updates:
            out.append(("HA_CONFIG_LEASE_UPDATES_DISABLED",
                        "lease updates will not be generated"))
        if not self.sync_leases:
            out.append(("HA_CONFIG_LEASE_SYNCING_DISABLED",
                        "lease database synchronization between HA servers is disabled"))
        if self.send_lease_updates != self.sync_leases:
            out.append(("HA_CONFIG_LEASE_UPDATES_AND_SYNCING_DIFFER",
                        f"unusual configuration where \"send-lease-updates\": "
                        f"{str(self.send_lease_updates).lower()} and \"sync-leases\": "
                        f"{str(self.sync_leases).lower()}"))
        if not self.this_server.auto_failover:
            out.append(("HA_CONFIG_AUTO_FAILOVER_DISABLED",
                        f"auto-failover disabled for {self.this_server_name}"))
        return out


# --------------------------------------------------------------------------
# Parsing.

def _read_text(path: str) -> str:
    with open(path, "r", encoding="utf-8") as f:
        return f.read()


def parse_ha_config(
    parameters: Any,
    read_file: Callable[[str], str] = _read_text,
) -> HAConfig:
    """Parse the hook library's parameters (the map holding
    ``high-availability``) or the ``high-availability`` list itself.

    Raises :class:`HAConfigError` with Kea's message.  Follows Kea's order
    of checks, so the first error reported is the one Kea reports.
    """
    root = _Node.wrap(parameters)
    if root.kind == "map":
        ha = root.get("high-availability")
        if ha is None:
            # ha_callouts.cc load(): HA_MISSING_CONFIGURATION
            raise HAConfigError("high-availability parameter not specified for High Availability hooks library")
        root = ha
    if root.kind == "null":
        raise HAConfigError("HA configuration must not be null")
    if root.kind != "list":
        raise HAConfigError("HA configuration must be a list")
    relationships = root.items()
    if len(relationships) != 1:
        raise HAConfigError("invalid number of configurations in the HA configuration"
                            " list. Expected exactly one configuration")
    node = relationships[0]
    if node.kind != "map":
        raise HAConfigError("expected list of maps in the HA configuration")

    mode_text = _Scope(node).string("mode")
    if mode_text not in MODES:
        raise HAConfigError(f"unsupported value '{mode_text}' for mode parameter")
    defaults = (_LB_DEFAULTS if mode_text == LOAD_BALANCING else ()) + _DEFAULTS
    c = _Scope(node, defaults)

    peers_node = c.get("peers")
    if peers_node is None:
        raise HAConfigError("'peers' parameter missing in HA configuration")
    if peers_node.kind != "list":
        raise HAConfigError("'peers' parameter must be a list")

    states_node = None
    sm = c.get("state-machine")
    if sm is not None:
        if sm.kind != "map":
            raise HAConfigError("'state-machine' parameter must be a map")
        states_node = sm.get("states")
        if states_node is not None and states_node.kind != "list":
            raise HAConfigError("'states' parameter must be a list")

    this_name = c.string("this-server-name").strip()
    if not this_name:
        raise HAConfigError("'this-server-name' value must not be empty")

    values: Dict[str, Any] = {}
    values["send_lease_updates"] = c.boolean("send-lease-updates")
    values["sync_leases"] = c.boolean("sync-leases")
    values["sync_timeout"] = c.integer("sync-timeout", _U32)
    values["sync_page_limit"] = c.integer("sync-page-limit", _U32)
    values["delayed_updates_limit"] = c.integer("delayed-updates-limit", _U32)
    values["heartbeat_delay"] = c.integer("heartbeat-delay", _U16)
    values["max_response_delay"] = c.integer("max-response-delay", _U16)
    values["max_ack_delay"] = c.integer("max-ack-delay", _U16)
    values["max_unacked_clients"] = c.integer("max-unacked-clients", _U32)
    values["wait_backup_ack"] = c.boolean("wait-backup-ack")

    mt_node = c.get("multi-threading")
    if mt_node is None:
        mt_node = _Node({})
    elif mt_node.kind != "map":
        raise HAConfigError("multi-threading configuration must be a map")
    mt = _Scope(mt_node, _MT_DEFAULTS)
    values["enable_multi_threading"] = mt.boolean("enable-multi-threading")
    values["http_dedicated_listener"] = mt.boolean("http-dedicated-listener")
    values["http_listener_threads"] = mt.integer("http-listener-threads", _U32)
    values["http_client_threads"] = mt.integer("http-client-threads", _U32)

    for key in ("trust-anchor", "cert-file", "key-file"):
        values[key.replace("-", "_")] = c.string(key) if c.has(key) else None
    values["require_client_certs"] = c.boolean("require-client-certs")
    values["restrict_commands"] = c.boolean("restrict-commands")
    values["listener_restricted"] = values["restrict_commands"] or not c.node.has("restrict-commands")

    raw_peers: List[Dict[str, Any]] = []
    seen_names: List[str] = []
    for pnode in peers_node.items():
        if pnode.kind != "map":
            raise HAConfigError("peer configuration must be a map")
        p = _Scope(pnode, (("auto-failover", True),))
        raw_name = p.string("name")
        if raw_name in seen_names:
            raise HAConfigError(f"peer with name '{raw_name}' already specified")
        seen_names.append(raw_name)
        name = raw_name.strip()
        if not name:
            raise HAConfigError("peer name must not be empty")
        url = Url.parse(p.string("url"))
        peer: Dict[str, Any] = {"name": name, "url": url}
        for key in ("trust-anchor", "cert-file", "key-file"):
            peer[key.replace("-", "_")] = p.string(key) if pnode.has(key) else None
        role = p.string("role")
        if role not in ROLES:
            raise HAConfigError(f"unsupported value '{role}' for role parameter")
        peer["role"] = role
        peer["auto_failover"] = p.boolean("auto-failover")
        password = None
        if pnode.has("basic-auth-password"):
            if pnode.has("basic-auth-password-file"):
                raise HAConfigError(
                    "only one of basic-auth-password and basic-auth-password-file"
                    f" parameter can be configured in peer '{name}'")
            password = p.string("basic-auth-password")
        if pnode.has("basic-auth-password-file"):
            pfile = p.string("basic-auth-password-file")
            try:
                password = read_file(pfile)
            except OSError as e:
                raise HAConfigError(
                    f"bad password file in peer '{name}': can't open file '{pfile}': "
                    f"{e.strerror or e}")
        peer["basic_auth_password"] = password
        if pnode.has("basic-auth-user"):
            user = p.string("basic-auth-user")
            if user:
                if ":" in user:
                    raise HAConfigError(f"user '{user}' must not contain a ':' in peer '{name}'")
                peer["basic_auth_user"] = user
        # Kea 2.2 reads no 'require-client-certs' here: note it for a warning.
        peer["ignored_keys"] = tuple(k for k in ("require-client-certs",) if pnode.has(k))
        raw_peers.append(peer)

    pausing: Dict[str, str] = {}
    if states_node is not None:
        for snode in states_node.items():
            if snode.kind != "map":
                raise HAConfigError("state configuration must be a map")
            s = _Scope(snode, (("pause", "never"),))
            state_name = s.string("state")
            if state_name not in _STATE_NAMES:
                raise HAConfigError(f"unknown state {state_name}")
            if state_name in pausing:
                raise HAConfigError(f"duplicated configuration for the '{state_name}' state")
            pause = s.string("pause")
            if pause not in PAUSE_VALUES:
                raise HAConfigError(f"unsupported value {pause} of 'pause' parameter")
            pausing[state_name] = pause

    peers = _validate(this_name, mode_text, raw_peers, values)
    return HAConfig(
        this_server_name=this_name,
        mode=mode_text,
        peers=peers,
        state_pausing=pausing,
        **values,
    )


def _validate(this_name: str, mode: str, raw_peers: List[Dict[str, Any]],
              values: Dict[str, Any]) -> Tuple[PeerConfig, ...]:
    """``HAConfig::validate`` (peers are visited in name order, as Kea's
    std::map does, so the first error matches Kea's)."""
    names = [p["name"] for p in raw_peers]
    if this_name not in names:
        raise HAConfigError(f"no peer configuration specified for the '{this_name}'")

    built: Dict[str, PeerConfig] = {}
    counts: Dict[str, int] = {}
    for p in sorted(raw_peers, key=lambda p: p["name"]):
        url: Url = p["url"]
        if not url.valid:
            raise HAConfigError(f"invalid URL: {url.error} for server {p['name']}")
        try:
            ipaddress.ip_address(url.stripped_hostname)
        except ValueError:
            raise HAConfigError(
                f"bad url '{url.text}': Failed to convert string to address "
                f"'{url.stripped_hostname}': Invalid argument for server {p['name']}")
        ca = p["trust_anchor"] if p["trust_anchor"] is not None else values["trust_anchor"]
        cert = p["cert_file"] if p["cert_file"] is not None else values["cert_file"]
        key = p["key_file"] if p["key_file"] is not None else values["key_file"]
        tls = None
        if ca or cert or key:
            for label, v in (("trust-anchor", ca), ("cert-file", cert), ("key-file", key)):
                if not v:
                    raise HAConfigError(
                        f"bad TLS config for server {p['name']}: {label} parameter is"
                        " missing or empty: all or none of TLS parameters must be set")
            required = values["require_client_certs"] if p["name"] == this_name else True
            tls = TLSFiles(ca, cert, key, required)
        elif url.scheme == "https":
            raise HAConfigError(
                f"bad url '{url.text}': https scheme is not supported for server"
                f" {p['name']} where TLS is disabled")
        built[p["name"]] = PeerConfig(tls=tls, **p)
        counts[p["role"]] = counts.get(p["role"], 0) + 1

    for role in (PRIMARY, SECONDARY, STANDBY):
        if counts.get(role, 0) > 1:
            raise HAConfigError(f"multiple {role} servers specified")

    dul = values["delayed_updates_limit"]
    if mode == LOAD_BALANCING:
        if counts.get(STANDBY):
            raise HAConfigError("standby servers not allowed in the load balancing configuration")
        if not counts.get(SECONDARY):
            raise HAConfigError("secondary server required in the load balancing configuration")
        if not counts.get(PRIMARY):
            raise HAConfigError("primary server required in the load balancing configuration")
        if values["wait_backup_ack"]:
            raise HAConfigError("'wait-backup-ack' must be set to false in the load"
                                " balancing configuration")
    elif mode == HOT_STANDBY:
        if counts.get(SECONDARY):
            raise HAConfigError("secondary servers not allowed in the hot standby configuration")
        if not counts.get(STANDBY):
            raise HAConfigError("standby server required in the hot standby configuration")
        if not counts.get(PRIMARY):
            raise HAConfigError("primary server required in the hot standby configuration")
        if values["wait_backup_ack"]:
            raise HAConfigError("'wait-backup-ack' must be set to false in the hot"
                                " standby configuration")
        if dul > 0:
            raise HAConfigError("'delayed-updates-limit' must be set to 0 in the hot"
                                " standby configuration")
    else:
        if counts.get(SECONDARY):
            raise HAConfigError("secondary servers not allowed in the passive backup configuration")
        if counts.get(STANDBY):
            raise HAConfigError("standby servers not allowed in the passive backup configuration")
        if not counts.get(PRIMARY):
            raise HAConfigError("primary server required in the passive backup configuration")
        if dul > 0:
            raise HAConfigError("'delayed-updates-limit' must be set to 0 in the passive"
                                " backup configuration")
    # Keep the configured order of peers.
    return tuple(built[n] for n in [p["name"] for p in raw_peers])
