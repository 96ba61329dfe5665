"""
The typed, immutable model of a validated ``Dhcp4`` configuration.

Frozen dataclasses named with Kea's words in snake_case
(``valid-lifetime`` -> ``valid_lifetime``).  Built only by
:func:`kea_twisted.config.builder.build_config`, after Kea 2.2's defaults
and inheritance (:mod:`kea_twisted.config.defaults`) are applied, so every
:class:`Subnet4` carries its *effective* parameters: what Kea's
``Network4`` getters return with full inheritance (subnet, then shared
network, then global).  Lists are tuples; addresses are
:mod:`ipaddress` values; option payloads are precomputed bytes.

Each object keeps ``source``: the positioned :class:`MapElement` it was
built from (with Kea's defaults *not* filled in), so a later ``config-get``
serializer can write back what was configured, and ``pos`` for errors.

Tests: tests/test_config_model.py, tests/test_config_errors.py
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Mapping, Optional, Tuple

from kea_twisted.compat import DATACLASS_SLOTS
from kea_twisted.config.element import MapElement, Position
from kea_twisted.options import OptionDefinition, OptionDefinitions

__all__ = [
    "OptionData",
    "OptionDef",
    "Pool4",
    "Reservation",
    "Subnet4",
    "SharedNetwork4",
    "ClientClass",
    "HookLibrary",
    "LoggerOutput",
    "Logger",
    "InterfacesConfig",
    "DatabaseConfig",
    "LeaseDatabase",
    "HostsDatabase",
    "ExpiredLeasesProcessing",
    "MultiThreading",
    "ControlSocket",
    "DhcpDdns",
    "SanityChecks",
    "Compatibility",
    "ConfigControl",
    "DhcpQueueControl",
    "Dhcp4Config",
    "IDENTIFIER_TYPES",
]

#: Reservation identifier keys, in Kea's ``Host::IdentifierType`` order.
IDENTIFIER_TYPES: Tuple[str, ...] = ("hw-address", "duid", "circuit-id", "client-id", "flex-id")

_frozen = dict(frozen=True, **DATACLASS_SLOTS)


@dataclass(**_frozen)
class OptionData:
    """One ``option-data`` entry.

    :ivar payload: the option's bytes as Kea sends them (no code/length).
    :ivar name: the definition's name (or the configured one), "" when an
        option is given by code only and has no definition.
    :ivar data: the configured ``data`` text.
    :ivar definition: the definition used to encode it, or None.
    """

    code: int
    space: str = "dhcp4"
    name: str = ""
    payload: bytes = b""
    always_send: bool = False
    csv_format: bool = True
    data: str = ""
    definition: Optional[OptionDefinition] = None
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)


@dataclass(**_frozen)
class OptionDef:
    """One ``option-def`` entry (global or inside a client class)."""

    name: str
    code: int
    type: str
    space: str = "dhcp4"
    array: bool = False
    record_types: Tuple[str, ...] = ()
    encapsulate: str = ""
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)

    @property
    def definition(self) -> OptionDefinition:
        """The codec's view of this definition."""
        return OptionDefinition(
            self.name, self.code, self.type, self.array, self.record_types, self.encapsulate, self.space
        )


@dataclass(**_frozen)
class Pool4:
    """An address pool; ``pool`` keeps the configured text."""

    first: IPv4Address
    last: IPv4Address
    pool: str = ""
    option_data: Tuple[OptionData, ...] = ()
    client_class: Optional[str] = None
    require_client_classes: Tuple[str, ...] = ()
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)

    def __contains__(self, address: IPv4Address) -> bool:
        return self.first <= address <= self.last

    @property
    def capacity(self) -> int:
        return int(self.last) - int(self.first) + 1


@dataclass(**_frozen)
class Reservation:
    """A host reservation (Kea's ``Host``), in a subnet or global.

    Exactly one identifier: ``identifier_type`` is one of
    :data:`IDENTIFIER_TYPES` and ``identifier`` its decoded bytes.
    ``subnet_id`` is 0 for global reservations (``SUBNET_ID_GLOBAL``).
    """

    identifier_type: str
    identifier: bytes
    subnet_id: int = 0
    ip_address: Optional[IPv4Address] = None
    hostname: str = ""
    option_data: Tuple[OptionData, ...] = ()
    next_server: Optional[IPv4Address] = None
    server_hostname: str = ""
    boot_file_name: str = ""
    client_classes: Tuple[str, ...] = ()
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)

    def _id(self, kind: str) -> Optional[bytes]:
        return self.identifier if self.identifier_type == kind else None

    @property
    def hw_address(self) -> Optional[bytes]:
        return self._id("hw-address")

    @property
    def client_id(self) -> Optional[bytes]:
        return self._id("client-id")

    @property
    def circuit_id(self) -> Optional[bytes]:
        return self._id("circuit-id")

    @property
    def duid(self) -> Optional[bytes]:
        return self._id("duid")

    @property
    def flex_id(self) -> Optional[bytes]:
        return self._id("flex-id")


@dataclass(**_frozen)
class Subnet4:
    """A subnet with its effective parameters.

    ``interface``, ``client_class`` and ``relay_addresses`` are effective
    (the subnet's, else its shared network's); the lifetimes and timers are
    Kea's derived values (subnet, network, global).  ``renew_timer`` /
    ``rebind_timer`` are None when configured nowhere (T1/T2 then come from
    ``calculate_tee_times``, spec §9).  ``min_valid_lifetime`` and
    ``max_valid_lifetime`` default to ``valid_lifetime``.
    ``shared_network`` is the name of the network holding it, or None.
    """

    # SharedNetwork4's fields after ``subnets`` (Kea's Network4 parameters)
    # stand here again, in the same order among Subnet4's own: a shared
    # dataclass base cannot carry them, its defaulted fields would come
    # before ``id`` and ``prefix`` (``kw_only`` is Python 3.10+; slots rule
    # out a mixin).  test_config_model's test_network_parameters_alike
    # checks that the two declarations agree.
    id: int
    prefix: IPv4Network
    pools: Tuple[Pool4, ...] = ()
    option_data: Tuple[OptionData, ...] = ()
    reservations: Tuple[Reservation, ...] = ()
    shared_network: Optional[str] = None
    interface: str = ""
    client_class: Optional[str] = None
    require_client_classes: Tuple[str, ...] = ()
    relay_addresses: Tuple[IPv4Address, ...] = ()
    valid_lifetime: int = 7200
    min_valid_lifetime: int = 7200
    max_valid_lifetime: int = 7200
    renew_timer: Optional[int] = None
    rebind_timer: Optional[int] = None
    calculate_tee_times: bool = False
    t1_percent: float = 0.5
    t2_percent: float = 0.875
    match_client_id: bool = True
    authoritative: bool = False
    reservations_global: bool = False
    reservations_in_subnet: bool = True
    reservations_out_of_pool: bool = False
    next_server: IPv4Address = IPv4Address(0)
    server_hostname: str = ""
    boot_file_name: str = ""
    store_extended_info: bool = False
    cache_threshold: Optional[float] = None
    cache_max_age: Optional[int] = None
    ddns_send_updates: bool = True
    ddns_override_no_update: bool = False
    ddns_override_client_update: bool = False
    ddns_replace_client_name: str = "never"
    ddns_generated_prefix: str = "myhost"
    ddns_qualifying_suffix: str = ""
    ddns_update_on_renew: bool = False
    ddns_use_conflict_resolution: bool = True
    hostname_char_set: str = "[^A-Za-z0-9.-]"
    hostname_char_replacement: str = ""
    o4o6_interface: str = ""
    o4o6_interface_id: str = ""
    o4o6_subnet: str = ""
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)

    @property
    def subnet(self) -> str:
        """Kea's text for the prefix (``192.0.2.0/24``)."""
        return str(self.prefix)


@dataclass(**_frozen)
class SharedNetwork4:
    """A shared network: its own (derived) parameters and its subnets, in
    config order (Kea walks them by id: spec §6)."""

    # Every field after ``subnets`` is a Subnet4 field too, declared the
    # same there (see the comment in Subnet4).
    name: str
    subnets: Tuple[Subnet4, ...] = ()
    option_data: Tuple[OptionData, ...] = ()
    interface: str = ""
    client_class: Optional[str] = None
    require_client_classes: Tuple[str, ...] = ()
    relay_addresses: Tuple[IPv4Address, ...] = ()
    valid_lifetime: int = 7200
    min_valid_lifetime: int = 7200
    max_valid_lifetime: int = 7200
    renew_timer: Optional[int] = None
    rebind_timer: Optional[int] = None
    calculate_tee_times: bool = False
    t1_percent: float = 0.5
    t2_percent: float = 0.875
    match_client_id: bool = True
    authoritative: bool = False
    reservations_global: bool = False
    reservations_in_subnet: bool = True
    reservations_out_of_pool: bool = False
    next_server: IPv4Address = IPv4Address(0)
    server_hostname: str = ""
    boot_file_name: str = ""
    store_extended_info: bool = False
    cache_threshold: Optional[float] = None
    cache_max_age: Optional[int] = None
    ddns_send_updates: bool = True
    ddns_override_no_update: bool = False
    ddns_override_client_update: bool = False
    ddns_replace_client_name: str = "never"
    ddns_generated_prefix: str = "myhost"
    ddns_qualifying_suffix: str = ""
    ddns_update_on_renew: bool = False
    ddns_use_conflict_resolution: bool = True
    hostname_char_set: str = "[^A-Za-z0-9.-]"
    hostname_char_replacement: str = ""
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)


@dataclass(**_frozen)
class ClientClass:
    """A ``client-classes`` entry.  ``test`` is the expression text (compiled
    by the expression module, not here).  The lifetime triplet is Kea's
    (``parseIntTriplet``): all None when the class sets none."""

    name: str
    test: str = ""
    only_if_required: bool = False
    option_data: Tuple[OptionData, ...] = ()
    option_def: Tuple[OptionDef, ...] = ()
    next_server: Optional[IPv4Address] = None
    server_hostname: str = ""
    boot_file_name: str = ""
    valid_lifetime: Optional[int] = None
    min_valid_lifetime: Optional[int] = None
    max_valid_lifetime: Optional[int] = None
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)


@dataclass(**_frozen)
class HookLibrary:
    """A ``hooks-libraries`` entry; ``parameters`` is plain Python (or
    None when absent).  Loading it is the hooks module's job.  ``pos`` is
    where Kea reports a library that fails to validate: the
    ``hooks-libraries`` list itself, for every entry; ``source.pos`` is the
    entry's own map."""

    library: str
    parameters: Optional[Mapping[str, Any]] = None
    pos: Optional[Position] = field(default=None, compare=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)


@dataclass(**_frozen)
class LoggerOutput:
    """One ``output_options`` entry."""

    output: str = "stdout"
    flush: bool = True
    maxsize: int = 10240000
    maxver: int = 1
    pattern: str = ""


@dataclass(**_frozen)
class Logger:
    name: str
    severity: str = "INFO"
    debuglevel: int = 0
    output_options: Tuple[LoggerOutput, ...] = ()
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)


@dataclass(**_frozen)
class InterfacesConfig:
    """``interfaces-config``; ``interfaces`` keeps the configured entries
    (``eth0``, ``eth0/192.0.2.1``, ``*``) after Kea's checks."""

    interfaces: Tuple[str, ...] = ()
    dhcp_socket_type: str = "raw"
    outbound_interface: str = "same-as-inbound"
    re_detect: bool = True
    service_sockets_require_all: bool = False
    service_sockets_retry_wait_time: int = 5000
    service_sockets_max_retries: int = 0
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)


@dataclass(**_frozen)
class DatabaseConfig:
    """A database access map (``lease-database``, ``hosts-database(s)``,
    ``config-databases``).  ``parameters`` holds every configured key in
    Kea's spelling, as plain values (Kea's access string)."""

    type: str = "memfile"
    name: Optional[str] = None
    persist: bool = True
    lfc_interval: int = 3600
    user: Optional[str] = None
    password: Optional[str] = None
    host: Optional[str] = None
    port: Optional[int] = None
    readonly: bool = False
    connect_timeout: Optional[int] = None
    max_reconnect_tries: Optional[int] = None
    reconnect_wait_time: Optional[int] = None
    on_fail: Optional[str] = None
    max_row_errors: Optional[int] = None
    trust_anchor: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    cipher_list: Optional[str] = None
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)


@dataclass(**_frozen)
class LeaseDatabase(DatabaseConfig):
    """``lease-database``.  ``mysql`` / ``postgresql`` pass validation as in
    Kea's ``-t`` (which does not connect); kea_twisted's server start
    refuses them (memfile only)."""


@dataclass(**_frozen)
class HostsDatabase(DatabaseConfig):
    """A ``hosts-database`` / ``hosts-databases`` entry (accepted, as Kea
    -t accepts it; not used by kea_twisted's engine yet)."""


@dataclass(**_frozen)
class ExpiredLeasesProcessing:
    reclaim_timer_wait_time: int = 10
    flush_reclaimed_timer_wait_time: int = 25
    hold_reclaimed_time: int = 3600
    max_reclaim_leases: int = 100
    max_reclaim_time: int = 250
    unwarned_reclaim_cycles: int = 5


@dataclass(**_frozen)
class MultiThreading:
    enable_multi_threading: bool = False
    thread_pool_size: int = 0
    packet_queue_size: int = 64
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)


@dataclass(**_frozen)
class ControlSocket:
    socket_type: str = "unix"
    socket_name: str = ""
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    pos: Optional[Position] = field(default=None, compare=False)


@dataclass(**_frozen)
class DhcpDdns:
    """``dhcp-ddns`` (the D2 client); its deprecated keys are moved to the
    global ``ddns-*`` parameters as Kea does (``moveDdnsParams``)."""

    enable_updates: bool = False
    server_ip: str = "127.0.0.1"
    server_port: int = 53001
    sender_ip: str = "0.0.0.0"
    sender_port: int = 0
    max_queue_size: int = 1024
    ncr_protocol: str = "UDP"
    ncr_format: str = "JSON"
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)


@dataclass(**_frozen)
class SanityChecks:
    lease_checks: str = "warn"


@dataclass(**_frozen)
class Compatibility:
    lenient_option_parsing: bool = False


@dataclass(**_frozen)
class ConfigControl:
    config_databases: Tuple[DatabaseConfig, ...] = ()
    config_fetch_wait_time: int = 30


@dataclass(**_frozen)
class DhcpQueueControl:
    """``dhcp-queue-control``; ``parameters`` keeps any extra keys (Kea
    passes the whole map to the queue implementation)."""

    enable_queue: bool = False
    queue_type: str = "kea-ring4"
    capacity: int = 64
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(**_frozen)
class Dhcp4Config:
    """The whole ``Dhcp4`` section.

    ``subnet4`` holds the top-level subnets in config order,
    ``shared_networks`` the networks (with their subnets); :attr:`subnets`
    is every subnet, sorted by id (Kea's selection order, spec §5).
    ``option_definitions`` is the codec registry extended with the global
    ``option-def`` entries.  Global ``renew_timer`` / ``rebind_timer`` are
    None when not configured.  ``next_server`` is the global value; Kea 2.2
    accepts any text there (``"abc"`` passes ``-t``), kept in
    ``next_server_text``, with 0.0.0.0 used when it is not an IPv4 address.
    """

    valid_lifetime: int = 7200
    min_valid_lifetime: int = 7200
    max_valid_lifetime: int = 7200
    renew_timer: Optional[int] = None
    rebind_timer: Optional[int] = None
    decline_probation_period: int = 86400
    dhcp4o6_port: int = 0
    echo_client_id: bool = True
    match_client_id: bool = True
    authoritative: bool = False
    next_server: IPv4Address = IPv4Address(0)
    next_server_text: str = "0.0.0.0"
    server_hostname: str = ""
    boot_file_name: str = ""
    server_tag: str = ""
    reservations_global: bool = False
    reservations_in_subnet: bool = True
    reservations_out_of_pool: bool = False
    reservations_lookup_first: bool = False
    early_global_reservations_lookup: bool = False
    ip_reservations_unique: bool = True
    host_reservation_identifiers: Tuple[str, ...] = ("hw-address", "duid", "circuit-id", "client-id")
    calculate_tee_times: bool = False
    t1_percent: float = 0.5
    t2_percent: float = 0.875
    cache_threshold: Optional[float] = None
    cache_max_age: Optional[int] = None
    store_extended_info: bool = False
    statistic_default_sample_count: int = 20
    statistic_default_sample_age: int = 0
    parked_packet_limit: int = 256
    ddns_send_updates: bool = True
    ddns_override_no_update: bool = False
    ddns_override_client_update: bool = False
    ddns_replace_client_name: str = "never"
    ddns_generated_prefix: str = "myhost"
    ddns_qualifying_suffix: str = ""
    ddns_update_on_renew: bool = False
    ddns_use_conflict_resolution: bool = True
    hostname_char_set: str = "[^A-Za-z0-9.-]"
    hostname_char_replacement: str = ""
    interfaces_config: InterfacesConfig = field(default_factory=InterfacesConfig)
    lease_database: LeaseDatabase = field(default_factory=LeaseDatabase)
    hosts_databases: Tuple[HostsDatabase, ...] = ()
    option_def: Tuple[OptionDef, ...] = ()
    option_data: Tuple[OptionData, ...] = ()
    client_classes: Tuple[ClientClass, ...] = ()
    subnet4: Tuple[Subnet4, ...] = ()
    shared_networks: Tuple[SharedNetwork4, ...] = ()
    reservations: Tuple[Reservation, ...] = ()
    hooks_libraries: Tuple[HookLibrary, ...] = ()
    loggers: Tuple[Logger, ...] = ()
    expired_leases_processing: ExpiredLeasesProcessing = field(default_factory=ExpiredLeasesProcessing)
    multi_threading: MultiThreading = field(default_factory=MultiThreading)
    control_socket: Optional[ControlSocket] = None
    dhcp_ddns: DhcpDdns = field(default_factory=DhcpDdns)
    sanity_checks: SanityChecks = field(default_factory=SanityChecks)
    compatibility: Compatibility = field(default_factory=Compatibility)
    config_control: Optional[ConfigControl] = None
    dhcp_queue_control: DhcpQueueControl = field(default_factory=DhcpQueueControl)
    user_context: Optional[Mapping[str, Any]] = field(default=None, compare=False)
    option_definitions: Optional[OptionDefinitions] = field(default=None, compare=False, repr=False)
    source: Optional[MapElement] = field(default=None, compare=False, repr=False)

    @property
    def subnets(self) -> Tuple[Subnet4, ...]:
        """Every subnet (top-level and in shared networks), by id."""
        found = list(self.subnet4)
        for network in self.shared_networks:
            found.extend(network.subnets)
        return tuple(sorted(found, key=lambda s: s.id))

    def subnet_by_id(self, subnet_id: int) -> Optional[Subnet4]:
        for subnet in self.subnets:
            if subnet.id == subnet_id:
                return subnet
        return None

    def shared_network(self, name: str) -> Optional[SharedNetwork4]:
        for network in self.shared_networks:
            if network.name == name:
                return network
        return None

    def client_class(self, name: str) -> Optional[ClientClass]:
        for cls in self.client_classes:
            if cls.name == name:
                return cls
        return None
