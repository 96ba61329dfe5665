"""
A configuration compiled for the hot path: what the engine asks per packet.

The model (``kea_twisted.config.model``) says what the operator wrote, with
inheritance resolved; this module turns it once per configuration into the
structures the engine consults for every query: subnet runtimes with the
allocator's cursors, host reservations indexed by identifier and address,
option sources as ``code -> ConfiguredOption`` maps, the accepted server
identifiers, the DDNS and lifetime parameters per subnet.  Pure: no reactor.

Tests: tests/test_runtime_classes.py, tests/test_conformance.py
"""

from __future__ import annotations

from ipaddress import IPv4Address
from types import MappingProxyType
from typing import Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from kea_twisted import lifetimes
from kea_twisted.allocation import (
    GLOBAL_SUBNET_ID, AllocationEngine, NetworkRuntime, PoolRuntime, ReservationView, SubnetRuntime,
)
from kea_twisted.classify import ClassLogging, Classifier, PacketClasses
from kea_twisted.hostnames import ClientName, DdnsParams, post_allocate_name, process_client_name
from kea_twisted.reply_options import ConfiguredOption, select_options, vendor_options
from kea_twisted.packet import UNSPECIFIED
from kea_twisted.selection import SubnetSelector

__all__ = ["Dhcp4Runtime", "NameDecision"]

ZERO = IPv4Address(0)

# The option source of a level that configures none: one shared read-only
# mapping, so a query does not build a fresh ``{}`` per level.
NO_OPTIONS: Mapping[int, ConfiguredOption] = MappingProxyType({})

# Bound of the per-configuration memo of option selections (a handful of
# parameter request lists times the class combinations that carry options).
_SELECTED_LIMIT = 4096


def _compile_options(option_data: Iterable) -> Dict[int, ConfiguredOption]:
    """dhcp4-space options of one level: the first entry per code wins, as
    Kea's ``CfgOption::get`` returns the first one added.  An option whose
    definition encapsulates a space (43: vendor-encapsulated-options-space)
    carries the sub-options configured in that space at the same level
    (Kea's ``CfgOption::encapsulate``), in code order."""
    options = list(option_data or ())
    by_space: Dict[str, Dict[int, bytes]] = {}
    for option in options:
        by_space.setdefault(option.space, {}).setdefault(option.code, option.payload)
    out: Dict[int, ConfiguredOption] = {}
    for option in options:
        if option.space != "dhcp4" or option.code in out:
            continue
        payload = option.payload
        definition = option.definition
        space = getattr(definition, "encapsulate", "") if definition is not None else ""
        if space and space in by_space:
            payload += b"".join(
                bytes([code, len(data)]) + data for code, data in sorted(by_space[space].items())
            )
        out[option.code] = ConfiguredOption(option.code, payload, option.always_send)
    return out


def _compile_vendor_options(option_data: Iterable) -> Dict[str, Dict[int, ConfiguredOption]]:
    out: Dict[str, Dict[int, ConfiguredOption]] = {}
    for option in option_data or ():
        if option.space.startswith("vendor-"):
            out.setdefault(option.space, {}).setdefault(
                option.code, ConfiguredOption(option.code, option.payload, option.always_send, option.space)
            )
    return out


class NameDecision:
    """Hostname / FQDN processing for one query, before and after the
    address is known (``processClientName`` / ``postAllocateNameUpdate``)."""

    __slots__ = ("name", "params")

    def __init__(self, name, params: DdnsParams):
        self.name = name
        self.params = params

    @property
    def lease_hostname(self) -> str:
        return self.name.hostname

    @property
    def fqdn_fwd(self) -> bool:
        return self.name.fqdn_fwd

    @property
    def fqdn_rev(self) -> bool:
        return self.name.fqdn_rev

    def after_allocation(self, address: IPv4Address) -> "NameDecision":
        name = self.name
        if name.hostname or (name.fqdn is None and name.hostname_option is None):
            # post_allocate_name's own "nothing to generate" test, made
            # here so the common query (no 12/81) skips str(address).
            return self
        return NameDecision(post_allocate_name(name, str(address), self.params), self.params)

    @property
    def generated(self) -> bool:
        return self.name.generated

    @property
    def reply_options(self) -> Dict[int, bytes]:
        return dict(self.name.options())


class Dhcp4Runtime:
    """Everything the engine consults per packet, for one configuration.

    :param config: a :class:`~kea_twisted.config.model.Dhcp4Config`.
    :param store: the lease store's synchronous API (memfile).
    :param lease_factory: builds a Lease4 from keyword arguments.
    :param socket_addresses: addresses of the open sockets (server ids).
    :param interface_addresses: interface name -> IPv4 addresses.
    :param classifier: the client classifier (None: built-in classes only).
    """

    def __init__(self, config, store, lease_factory, *, socket_addresses: Iterable[IPv4Address] = (),
                 interface_addresses: Optional[Mapping[str, Sequence[IPv4Address]]] = None, classifier=None):
        self.config = config
        self.store = store
        if classifier is None:
            # Built-in classes only (ALL, VENDOR_CLASS_, hook classes ...).
            classifier = Classifier((), config.option_definitions)
        if not classifier.logging_configured:
            classifier.logging = ClassLogging.from_loggers(getattr(config, "loggers", ()) or ())
        self.classifier = classifier
        self.echo_client_id = config.echo_client_id
        self.use_routing = config.interfaces_config.outbound_interface == "use-routing"
        self.decline_probation_period = config.decline_probation_period
        self.set_socket_addresses(socket_addresses)
        self.definitions = config.option_definitions
        self.host_identifier_types = tuple(config.host_reservation_identifiers)

        # Subnets, shared networks, pools.
        networks = {n.name: NetworkRuntime(n.name, n.client_class) for n in config.shared_networks}
        self.network_models = {n.name: n for n in config.shared_networks}
        self.subnets: Dict[int, SubnetRuntime] = {}
        for model in config.subnets:
            network = networks.get(model.shared_network) if model.shared_network else None
            pools = [PoolRuntime(int(p.first), int(p.last), p.client_class or None, model=p) for p in model.pools]
            runtime = SubnetRuntime(
                model.id, model.prefix, pools, match_client_id=model.match_client_id,
                reservations_global=model.reservations_global,
                reservations_in_subnet=model.reservations_in_subnet,
                reservations_out_of_pool=model.reservations_out_of_pool,
                client_class=model.client_class or None, network=network, model=model,
            )
            runtime.relay_addresses = tuple(model.relay_addresses)
            # Option 1 of every lease reply from this subnet.
            runtime.netmask_packed = model.prefix.netmask.packed
            runtime.interface = model.interface
            self.subnets[model.id] = runtime
            if network is not None:
                network.subnets.append(runtime)
        for network in networks.values():
            network.subnets.sort(key=lambda s: s.id)
        self.selector = SubnetSelector(self.subnets.values(), interface_addresses)

        # Host reservations: (subnet id, type, identifier) -> reservation.
        self.hosts: Dict[Tuple[int, str, bytes], object] = {}
        reserved_by_address: Dict[Tuple[int, IPv4Address], ReservationView] = {}
        self._global_host_ids = {id(r) for r in config.reservations}
        for reservation in config.reservations:
            self.hosts.setdefault((GLOBAL_SUBNET_ID, reservation.identifier_type, reservation.identifier), reservation)
        for model in config.subnets:
            for reservation in model.reservations:
                key = (model.id, reservation.identifier_type, reservation.identifier)
                self.hosts.setdefault(key, reservation)
                if reservation.ip_address is not None:
                    reserved_by_address.setdefault(
                        (model.id, reservation.ip_address),
                        ReservationView(reservation.identifier_type, reservation.identifier,
                                        reservation.ip_address, reservation),
                    )

        # Option sources per level.
        self.global_options = _compile_options(config.option_data)
        self.global_vendor = _compile_vendor_options(config.option_data)
        self.subnet_options = {s.id: _compile_options(s.option_data) for s in config.subnets}
        self.subnet_vendor = {s.id: _compile_vendor_options(s.option_data) for s in config.subnets}
        self.pool_options = {id(p): _compile_options(p.option_data) for s in config.subnets for p in s.pools}
        self.network_options = {n.name: _compile_options(n.option_data) for n in config.shared_networks}
        self.class_options = {c.name: _compile_options(c.option_data) for c in config.client_classes}
        self.classes = {c.name: c for c in config.client_classes}
        self.host_options: Dict[int, Dict[int, ConfiguredOption]] = {}

        # Server identifiers accepted in queries besides the socket
        # addresses (spec §4): configured 54 of subnets, networks, global;
        # classes are checked per packet.
        accepted: Set[bytes] = set()
        for source in [self.global_options, *self.subnet_options.values(), *self.network_options.values()]:
            option = source.get(54)
            if option is not None:
                accepted.add(option.payload)
        self.accepted_server_ids = accepted

        self.allocator = AllocationEngine(store, reserved_by_address, lease_factory)

        # What does not depend on the packet, once per configuration.
        self._classes_with_options = frozenset(name for name, options in self.class_options.items() if options)
        self._ddns: Dict[int, DdnsParams] = {}
        # A query with no option 81/12 and no reserved name, in a subnet
        # that makes up no name for it: nothing to decide (most queries).
        self._no_names: Dict[int, NameDecision] = {}
        self._valid_triplets: Dict[int, lifetimes.Triplet] = {}
        self._fixed: Dict[int, Tuple[IPv4Address, bytes, bytes]] = {}
        for model in config.subnets:
            subnet = self.subnets[model.id]
            params = self._ddns[model.id] = self.ddns_params(subnet)
            if not params.supplies_missing_name:
                self._no_names[model.id] = NameDecision(ClientName(), params)
            self._valid_triplets[model.id] = lifetimes.Triplet(
                model.min_valid_lifetime, model.valid_lifetime, model.max_valid_lifetime)
            next_server = model.next_server
            if next_server is not None and not int(next_server):
                next_server = UNSPECIFIED  # the codec's own 0.0.0.0: packed without a call
            self._fixed[model.id] = (next_server, _sname(model.server_hostname), _file(model.boot_file_name))
        self._class_triplets: Dict[str, lifetimes.Triplet] = {}
        for cls in config.client_classes:
            if cls.valid_lifetime is not None:
                default = cls.valid_lifetime
                self._class_triplets[cls.name] = lifetimes.Triplet(
                    cls.min_valid_lifetime if cls.min_valid_lifetime is not None else default, default,
                    cls.max_valid_lifetime if cls.max_valid_lifetime is not None else default)
        # Classes that set siaddr, sname or file (§10.6).
        self._fixed_classes = frozenset(
            c.name for c in config.client_classes
            if (c.next_server is not None and int(c.next_server)) or c.server_hostname or c.boot_file_name)
        # (subnet id, id(pool model)) -> require-client-classes names.
        self._required: Dict[Tuple[int, int], Tuple[str, ...]] = {}
        # (host, pool, subnet, classes with options, PRL, codes present)
        # -> the configured options to add (see add_configured_options).
        self._selected: Dict[tuple, Dict[int, bytes]] = {}

    # -- classification --------------------------------------------------

    def classify_pass1(self, query) -> PacketClasses:
        """``ALL``, the classes hook libraries gave the packet, then
        ``VENDOR_CLASS_<60>`` and pass 1; then the deferred options are
        typed (Kea's ``classifyPacket`` + ``deferredUnpack``,
        expressions.md §7-8).  The list returned becomes ``query.classes``:
        from here on the packet's classes are that one list, in the order
        the packet acquired them (``query.add_class`` appends to it)."""
        classifier = self.classifier
        classes = classifier.start(query)
        classifier.pass1(query, classes)
        classifier.unpack_deferred(query, classes)
        query.classes = classes
        return classes

    def classify_after_hosts(self, query, classes: List[str], host, subnet, hosts=None) -> List[str]:
        """After host lookup (Kea's ``Dhcpv4Exchange`` constructor): reserved
        classes that steer pool selection with pass 1 again, ``KNOWN`` or
        ``UNKNOWN``, pass 2, ``DHCP4_CLASS_ASSIGNED``.

        :param host: the current host reservation (``currentHost()``).
        :param hosts: every reservation found for the client, by subnet id
            (KNOWN means "any"); None: only ``host`` is known.
        """
        classifier = self.classifier
        classes = self._packet_classes(query, classes)
        model = subnet.model
        global_host = None
        if model.reservations_global:
            if hosts is not None:
                found = hosts.get(GLOBAL_SUBNET_ID)
                global_host = found.model if found is not None else None
            elif host is not None and id(host) in self._global_host_ids:
                global_host = host
        if host is not None and host.client_classes and (
                (global_host is not None and global_host.client_classes) or not model.shared_network):
            classifier.reevaluate(query, classes, host.client_classes)
        known = bool(hosts) if hosts is not None else host is not None
        name = "KNOWN" if known else "UNKNOWN"
        classes.add(name)
        classifier.log_assigned(query, (name,))
        classifier.pass2(query, classes)
        classifier.log_assigned(query, classes)
        return classes

    def _packet_classes(self, query, classes: List[str]) -> PacketClasses:
        if isinstance(classes, PacketClasses):
            return classes
        # A plain list (callers outside the engine): adopt it.
        adopted = PacketClasses(classes)
        adopted.deferred = {}
        query.classes = adopted
        return adopted

    def reserved_classes_late(self, query, classes: List[str], host, subnet) -> List[str]:
        """Kea's ``conditionallySetReservedClientClasses``: a subnet
        reservation's classes in a shared network arrive only once the
        address (and so the subnet) is settled."""
        if host is not None and host.client_classes and subnet.model.shared_network \
                and id(host) not in self._global_host_ids:
            for name in host.client_classes:
                if name not in classes:
                    classes.append(name)
        return classes

    def required_classes(self, query, classes: List[str], subnet, pool) -> List[str]:
        model = subnet.model
        key = (model.id, id(pool))
        names = self._required.get(key)
        if names is None:
            found: List[str] = []
            network = self.network_models.get(model.shared_network) if model.shared_network else None
            for source in (network, model, pool):
                for name in getattr(source, "require_client_classes", ()) or ():
                    if name not in found:
                        found.append(name)
            # Pool models live as long as this runtime: their ids are stable.
            names = self._required[key] = tuple(found)
        if not names:
            return classes
        return self.classifier.required(query, classes, names)

    # -- server identifier ------------------------------------------------

    def set_socket_addresses(self, addresses: Iterable[IPv4Address]) -> None:
        self.socket_addresses: Set[IPv4Address] = set(addresses)
        # Option 54 is compared as bytes: no address object per query.
        self._socket_ids = frozenset(address.packed for address in self.socket_addresses)

    def accepts_server_id(self, query, server_id: bytes, classes: Collection[str]) -> bool:
        if len(server_id) != 4:
            return False
        rai = query.relay_suboptions() if 82 in query.options else {}
        override = rai.get(11)
        if override is not None and override == server_id:
            return True
        if server_id in self._socket_ids:
            return True
        if server_id in self.accepted_server_ids:
            return True
        for name in classes:
            option = self.class_options.get(name, NO_OPTIONS).get(54)
            if option is not None and option.payload == server_id:
                return True
        return False

    # -- host reservations ------------------------------------------------

    def client_identifiers(self, query, flex_id=None) -> List[Tuple[str, bytes]]:
        """The client's identifiers in host-reservation-identifiers order.
        ``flex_id(query) -> bytes`` is the ``host4_identifier`` hook point
        (Kea asks it for ``flex-id``; empty means none)."""
        out: List[Tuple[str, bytes]] = []
        cid = query.options.get(61)
        for kind in self.host_identifier_types:
            if kind == "hw-address":
                if query.chaddr:
                    out.append((kind, query.hwaddr))
            elif kind == "client-id":
                if cid:
                    out.append((kind, cid))
            elif kind == "duid":
                if cid and len(cid) > 5 and cid[0] == 0xFF:
                    out.append((kind, cid[5:]))
            elif kind == "circuit-id":
                if 82 in query.options:
                    circuit = query.relay_suboptions().get(1)
                    if circuit:
                        out.append((kind, circuit))
            elif kind == "flex-id" and flex_id is not None:
                value = flex_id(query)
                if value:
                    out.append((kind, value))
        return out

    def find_hosts(self, query, subnet, flex_id=None):
        """(hosts by subnet id, client identifiers, the current host)."""
        if not self.hosts and flex_id is None:
            # No reservation anywhere: none to find, and the identifiers
            # are only ever compared with reservations.
            return {}, (), None
        identifiers = self.client_identifiers(query, flex_id)
        hosts: Dict[int, ReservationView] = {}
        if self.hosts:
            subnets = subnet.network.subnets if subnet.network is not None else [subnet]
            for candidate in subnets:
                if candidate.reservations_in_subnet:
                    self._find_host(hosts, candidate.id, identifiers)
            if subnet.reservations_global:
                self._find_host(hosts, GLOBAL_SUBNET_ID, identifiers)
        # Kea's currentHost(): the subnet's own reservation first, then
        # the global one.
        current = hosts.get(subnet.id) if subnet.reservations_in_subnet else None
        if current is None and subnet.reservations_global:
            current = hosts.get(GLOBAL_SUBNET_ID)
        return hosts, identifiers, current.model if current is not None else None

    def _find_host(self, hosts: Dict[int, ReservationView], subnet_id: int,
                   identifiers: Sequence[Tuple[str, bytes]]) -> None:
        """The first of the client's identifiers reserved in ``subnet_id``."""
        for kind, value in identifiers:
            host = self.hosts.get((subnet_id, kind, value))
            if host is not None:
                hosts[subnet_id] = ReservationView(kind, value, host.ip_address, host)
                return

    # -- names, lifetimes --------------------------------------------------

    @staticmethod
    def ddns_params(subnet) -> DdnsParams:
        m = subnet.model
        return DdnsParams(
            send_updates=m.ddns_send_updates, override_no_update=m.ddns_override_no_update,
            override_client_update=m.ddns_override_client_update,
            replace_client_name=m.ddns_replace_client_name, generated_prefix=m.ddns_generated_prefix,
            qualifying_suffix=m.ddns_qualifying_suffix, hostname_char_set=m.hostname_char_set,
            hostname_char_replacement=m.hostname_char_replacement, update_on_renew=m.ddns_update_on_renew,
        )

    def client_names(self, query, host, subnet) -> NameDecision:
        options = query.options
        reserved = host.hostname if host is not None and host.hostname else None
        if reserved is None and 81 not in options and 12 not in options:
            nothing = self._no_names.get(subnet.id)
            if nothing is not None:
                return nothing
        params = self._ddns.get(subnet.id) or self.ddns_params(subnet)
        name = process_client_name(options.get(81), options.get(12), reserved, params)
        return NameDecision(name, params)

    def valid_lifetime(self, subnet, classes: Sequence[str], requested: Optional[int]) -> int:
        subnet_triplet = self._valid_triplets.get(subnet.id)
        if subnet_triplet is None:
            m = subnet.model
            subnet_triplet = lifetimes.Triplet(m.min_valid_lifetime, m.valid_lifetime, m.max_valid_lifetime)
        # The first of the packet's classes that sets a lifetime.
        chosen = None
        if self._class_triplets:
            for name in classes:
                chosen = self._class_triplets.get(name)
                if chosen is not None:
                    break
        return lifetimes.valid_lifetime((chosen,), subnet_triplet, requested, bootp="BOOTP" in classes)

    @staticmethod
    def tee_times(subnet, valid: int):
        m = subnet.model
        return lifetimes.tee_times(valid, m.renew_timer, m.rebind_timer, m.calculate_tee_times,
                                   m.t1_percent, m.t2_percent)

    @staticmethod
    def authoritative(subnet) -> bool:
        return subnet.model.authoritative

    def client_lease_in_network(self, query, client_id, subnet, classes):
        """INIT-REBOOT's lookup: by client-id, then chaddr, in the subnet
        and the rest of its shared network (spec §3.2)."""
        from kea_twisted.allocation import AllocationContext

        ctx = AllocationContext(subnet=subnet, classes=classes, hwaddr=query.hwaddr, client_id=client_id,
                                requested_address=None, now=0, valid_lifetime=lambda s: 0)
        return self.allocator.find_client_lease(ctx)

    # -- options -------------------------------------------------------------

    def option_sources(self, subnet, classes: Sequence[str], host, pool_model) -> List[Mapping[int, ConfiguredOption]]:
        """Host, pool, subnet, shared network, classes (packet order), global (§10.2)."""
        sources: List[Mapping[int, ConfiguredOption]] = []
        if host is not None:
            options = self.host_options.get(id(host))
            if options is None:
                options = self.host_options[id(host)] = _compile_options(host.option_data)
            sources.append(options)
        if pool_model is not None:
            sources.append(self.pool_options.get(id(pool_model), NO_OPTIONS))
        model = subnet.model
        sources.append(self.subnet_options.get(model.id, NO_OPTIONS))
        if model.shared_network:
            sources.append(self.network_options.get(model.shared_network, NO_OPTIONS))
        for name in classes:
            options = self.class_options.get(name)
            if options:
                sources.append(options)
        sources.append(self.global_options)
        return sources

    def add_configured_options(self, query, reply, subnet, classes: List[str], host, yiaddr) -> List[str]:
        """Required classes, configured options, fixed fields (§10.1 step 4)."""
        pool = None
        if yiaddr is not None:
            found = subnet.pool_for(int(yiaddr))
            pool = found.model if found is not None else None
        if host is not None:
            classes = self.reserved_classes_late(query, classes, host, subnet)
        classes = self.required_classes(query, classes, subnet, pool)
        self.classifier.log_unconfigured(query, classes)
        reply.options.update(self._configured_options(query, reply, subnet, classes, host, pool))
        if 125 in query.options:
            self._vendor_option(query, reply, subnet, host)
        self._fixed_fields(reply, subnet, classes, host)
        return classes

    def _configured_options(self, query, reply, subnet, classes: Sequence[str], host, pool) -> Dict[int, bytes]:
        """:func:`select_options` over :meth:`option_sources`, remembered
        per configuration: the choice depends only on the sources (the
        host, pool, subnet, and those of the packet's classes that carry
        options, in order), the PRL and the codes already in the reply.
        The configuration's objects live as long as this runtime, so their
        ids are stable keys.  The answer is shared: never change it."""
        with_options = self._classes_with_options
        prl = query.options.get(55, b"")
        key = (id(host) if host is not None else None, id(pool) if pool is not None else None, subnet.id,
               tuple([name for name in classes if name in with_options]) if with_options else (),
               prl, frozenset(reply.options))
        chosen = self._selected.get(key)
        if chosen is None:
            sources = self.option_sources(subnet, classes, host, pool)
            chosen = select_options(sources, prl, reply.options.keys())
            if len(self._selected) >= _SELECTED_LIMIT:
                self._selected.clear()
            self._selected[key] = chosen
        return chosen

    def _vendor_option(self, query, reply, subnet, host) -> None:
        if 125 in reply.options:
            return
        enterprise = None
        for source in (query.options.get(125), reply.options.get(125)):
            if source is not None and len(source) >= 4:
                enterprise = int.from_bytes(source[:4], "big")
                break
        if enterprise is None:
            return
        space = f"vendor-{enterprise}"
        vendor_sources = []
        model = subnet.model
        for level in (self.subnet_vendor.get(model.id, NO_OPTIONS), self.global_vendor):
            if space in level:
                vendor_sources.append(level[space])
        requested: List[int] = []
        if enterprise == 4491:
            payload = query.options.get(125, b"")
            i = 4
            while i + 1 < len(payload):
                length = payload[i]
                block = payload[i + 1:i + 1 + length]
                j = 0
                while j + 1 < len(block):
                    code, size = block[j], block[j + 1]
                    if code == 1:
                        requested.extend(block[j + 2:j + 2 + size])
                    j += 2 + size
                i += 1 + length
        payload = vendor_options(vendor_sources, enterprise, requested)
        if payload is not None:
            reply.options[125] = payload

    def _fixed_fields(self, reply, subnet, classes: Sequence[str], host) -> None:
        """siaddr/sname/file: subnet, then the first class setting each, then
        the host (§10.6)."""
        fixed = self._fixed.get(subnet.id)
        if fixed is not None and host is None and self._fixed_classes.isdisjoint(classes):
            # The subnet's own, encoded once per configuration.
            reply.siaddr, reply.sname, reply.file = fixed
            return
        m = subnet.model
        next_server = m.next_server
        sname = m.server_hostname
        bootfile = m.boot_file_name
        ns_set = sn_set = bf_set = False
        for name in classes:
            cls = self.classes.get(name)
            if cls is None:
                continue
            if not ns_set and cls.next_server is not None and int(cls.next_server):
                next_server, ns_set = cls.next_server, True
            if not sn_set and cls.server_hostname:
                sname, sn_set = cls.server_hostname, True
            if not bf_set and cls.boot_file_name:
                bootfile, bf_set = cls.boot_file_name, True
        if host is not None:
            if host.next_server is not None and int(host.next_server):
                next_server = host.next_server
            if host.server_hostname:
                sname = host.server_hostname
            if host.boot_file_name:
                bootfile = host.boot_file_name
        reply.siaddr = next_server
        reply.sname = _sname(sname)
        reply.file = _file(bootfile)


def _sname(text: str) -> bytes:
    return text.encode("latin-1")[:64].ljust(64, b"\0")


def _file(text: str) -> bytes:
    return text.encode("latin-1")[:128].ljust(128, b"\0")
