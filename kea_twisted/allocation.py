"""
Kea 2.2's allocation engine for DHCPv4 (spec/dhcp4.md §3.2, §6, §7;
``alloc_engine.cc``): which address a client is offered or given.

Pure: runtime views of subnets and pools (built once per configuration by
the engine), a lease store with a synchronous API (the in-process memfile),
and ``now``.  No reactor.

The order of preference and every odd corner follow Kea's code:

* ``discover_lease4``: the reserved address, the client's existing lease
  (even if it asks for another address), the requested address, then the
  iterative allocator — which is advanced by every DISCOVER although nothing
  is stored.  Kea tries each address after the cursor in turn; with a store
  that knows which addresses ahead hold unexpired leases (the memfile's
  ``next_free_address``) the cursor jumps over those at once, landing where
  Kea's would (a full pool costs a few look-ups, not one per address);
* ``request_lease4``: a reserved address asked by someone else is refused,
  an address leased to another client is refused, an address outside every
  allowed pool is "unknown" (silence, not NAK), the own lease is extended,
  otherwise the requested address or the next free one is allocated and the
  client's previous lease deleted.

Tests: tests/test_allocation.py, tests/test_stats_parity.py (statistics against Kea)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network
from typing import Callable, Collection, Dict, List, Optional, Sequence, Tuple

from kea_twisted.compat import DATACLASS_SLOTS
from kea_twisted.reclaim import declined_recovered_deltas, reclaimed_deltas

__all__ = [
    "PoolRuntime",
    "SubnetRuntime",
    "NetworkRuntime",
    "ReservationView",
    "AllocationContext",
    "AllocationResult",
    "AllocationEngine",
]


@dataclass(eq=False)
class PoolRuntime:
    """A pool with the iterative allocator's per-pool cursor.

    Kea starts a pool's cursor at its first address marked "not valid", so
    the first pick returns the first address itself (``pool.h``).
    """

    first: int
    last: int
    client_class: Optional[str] = None
    model: object = None
    last_allocated: int = 0
    valid: bool = False

    def __post_init__(self) -> None:
        self.last_allocated = self.first

    @property
    def capacity(self) -> int:
        return self.last - self.first + 1

    def in_range(self, address: int) -> bool:
        return self.first <= address <= self.last

    def supports(self, classes: Collection[str]) -> bool:
        return not self.client_class or self.client_class in classes

    def set_last(self, address: int) -> None:
        self.last_allocated = address
        self.valid = True


@dataclass(eq=False)
class NetworkRuntime:
    """A shared network: its subnets in id order and its class guard."""

    name: str
    client_class: Optional[str] = None
    subnets: List["SubnetRuntime"] = field(default_factory=list)


@dataclass(eq=False)
class SubnetRuntime:
    """A subnet as the allocator sees it (effective, inherited values)."""

    id: int
    prefix: IPv4Network
    pools: List[PoolRuntime]
    match_client_id: bool = True
    reservations_global: bool = False
    reservations_in_subnet: bool = True
    reservations_out_of_pool: bool = False
    client_class: Optional[str] = None
    network: Optional[NetworkRuntime] = None
    model: object = None
    # Kea initialises the subnet cursor to the last address of the prefix,
    # which no pool normally contains (subnet.cc).
    last_allocated: int = -1
    # Order of the last allocator use, for getPreferredSubnet (Kea keeps a
    # timestamp; only the order matters).
    last_allocated_order: int = 0

    def __post_init__(self) -> None:
        self.pools.sort(key=lambda p: p.first)
        if self.last_allocated < 0:
            self.last_allocated = int(self.prefix.broadcast_address)

    def supports(self, classes: Collection[str]) -> bool:
        if self.network is not None and self.network.client_class and self.network.client_class not in classes:
            return False
        return not self.client_class or self.client_class in classes

    def pool_for(self, address: int, classes: Optional[Collection[str]] = None) -> Optional[PoolRuntime]:
        # in_range and supports, inline: this runs for every reply.
        for pool in self.pools:
            if pool.first <= address <= pool.last and (
                    classes is None or not pool.client_class or pool.client_class in classes):
                return pool
        return None

    def in_pool(self, address: int, classes: Optional[Collection[str]] = None) -> bool:
        return self.pool_for(address, classes) is not None

    def pool_capacity(self, classes: Collection[str]) -> int:
        return sum([p.last - p.first + 1 for p in self.pools if not p.client_class or p.client_class in classes])

    def next_subnet(self, first: "SubnetRuntime", classes: Optional[Collection[str]] = None):
        """Kea's ``Subnet4::getNextSubnet``: the next subnet of the shared
        network after this one (by id, wrapping), skipping those the classes
        exclude; None after a full circle or without a network."""
        network = self.network
        if network is None or not network.subnets:
            return None
        subnets = network.subnets
        current = self
        for _ in range(len(subnets)):
            index = subnets.index(current)
            candidate = subnets[(index + 1) % len(subnets)]
            if candidate.id == first.id:
                return None
            if classes is None or candidate.supports(classes):
                return candidate
            current = candidate
        return None


@dataclass(frozen=True)
class ReservationView:
    """A host reservation as the allocator needs it."""

    identifier_type: str
    identifier: bytes
    ipv4_address: Optional[IPv4Address] = None
    model: object = None


GLOBAL_SUBNET_ID = 0


@dataclass
class AllocationContext:
    """Kea's ClientContext4, the parts allocation uses.

    :ivar hosts: reservations found for this client, by subnet id
        (``GLOBAL_SUBNET_ID`` for a global one).
    :ivar host_identifiers: the client's identifiers ``(type, bytes)`` in
        ``host-reservation-identifiers`` order.
    :ivar valid_lifetime: computes the granted lifetime for a subnet
        (class lifetimes, the client's hint: kea_twisted.lifetimes).
    """

    subnet: SubnetRuntime
    classes: Collection[str]
    hwaddr: bytes
    client_id: Optional[bytes]
    requested_address: Optional[IPv4Address]
    now: int
    valid_lifetime: Callable[[SubnetRuntime], int]
    fake_allocation: bool = False
    hosts: Dict[int, ReservationView] = field(default_factory=dict)
    host_identifiers: Sequence[Tuple[str, bytes]] = ()
    hostname: str = ""
    fqdn_fwd: bool = False
    fqdn_rev: bool = False
    # Option 82's payload, for store-extended-info.
    relay_agent_info: Optional[bytes] = None
    # ``lease4_select`` / ``lease4_renew``: ``(hook point, **arguments) ->
    # (skipped, arguments after the callouts)``; None when no library has
    # callouts there.  Kea calls them inside its allocation engine.
    callouts: Optional[Callable[..., Tuple[bool, Dict[str, object]]]] = None
    # Filled in by the engine:
    old_lease: object = None
    # Lease caching (cache-threshold / cache-max-age): the remaining
    # lifetime of a reused lease, 0 when the lease was (re)written.
    reusable_valid_lifetime: int = 0
    conflicting_lease: object = None
    unknown_requested_addr: bool = False


# Slotted, not frozen (one per query): a value all the same.
@dataclass(unsafe_hash=True, **DATACLASS_SLOTS)
class AllocationResult:
    lease: object  # Lease4 or None
    subnet: SubnetRuntime
    old_lease: object = None
    unknown_requested_addr: bool = False
    # > 0: the lease was reused from the cache with this remaining lifetime.
    reusable_valid_lifetime: int = 0


class AllocationEngine:
    """Kea's AllocEngine for DHCPv4 with its iterative allocator.

    :param store: the in-process lease store
        (:class:`kea_twisted.leases.ISyncLeaseStore`).
    :param reserved_by_address: ``(subnet_id, address) -> ReservationView``
        for ``addressReserved``.
    :param lease_factory: builds a Lease4 (keeps this module independent of
        the lease class's constructor details).
    """

    def __init__(
        self,
        store,
        reserved_by_address: Dict[Tuple[int, IPv4Address], ReservationView],
        lease_factory: Callable[..., object],
    ):
        self._store = store
        self._reserved = reserved_by_address
        self._lease = lease_factory
        self._order = 0
        # The memfile store answers which addresses ahead hold unexpired
        # leases; a store without the method (PostgreSQL) gets Kea's scan.
        self._next_free: Optional[Callable[[int, int, int], Optional[int]]] = getattr(
            store, "next_free_address", None)
        # A database store reads a client's first lookups in one statement
        # (PgLeaseStore.prefetch_client4); memfile has nothing to gain.
        self._prefetch: Optional[Callable[..., None]] = getattr(store, "prefetch_client4", None)
        #: Read a DISCOVER's first candidate with the client's lookups too
        #: (:meth:`peek_address`).  Only where no other thread picks
        #: meanwhile: the greenlet workers, all on one thread.
        self.prefetch_candidate = False
        # subnet id -> the names _assigned counts (formatted once).
        self._assigned_names: Dict[int, Tuple[str, str, str]] = {}
        #: ``(name, delta)`` sink for Kea's allocation statistics
        #: (``StatsMgr.add_value``); None keeps none.
        self.on_stat: Optional[Callable[[str, int], None]] = None

    def _count(self, name: str, delta: int = 1) -> None:
        if self.on_stat is not None:
            self.on_stat(name, delta)

    def _assigned(self, subnet_id: int) -> None:
        """A lease (re)assigned for real: Kea's three counters."""
        on_stat = self.on_stat
        if on_stat is not None:
            names = self._assigned_names.get(subnet_id)
            if names is None:
                names = self._assigned_names[subnet_id] = (
                    f"subnet[{subnet_id}].assigned-addresses",
                    f"subnet[{subnet_id}].cumulative-assigned-addresses",
                    "cumulative-assigned-addresses",
                )
            for name in names:
                on_stat(name, 1)

    def _reclaimed_on_reuse(self, lease) -> None:
        """Kea reclaims an expired lease it is about to reuse or renew
        (alloc_engine.cc reclaimExpiredLease, leave-unchanged mode): the
        counters the reclamation timer would have moved — unless the lease
        was reclaimed already.  The reuse then counts its own assignment."""
        if self.on_stat is None or lease.state == 2:
            return
        deltas = declined_recovered_deltas(lease.subnet_id) if lease.state == 1 else []
        for name, delta in deltas + reclaimed_deltas(lease.subnet_id):
            self.on_stat(name, delta)

    def _reservation_conflict(self, ctx: AllocationContext) -> None:
        """A DISCOVER whose reserved address is leased to another client
        (Kea's discoverLease4; the subnet is the conflicting lease's)."""
        conflicting = ctx.conflicting_lease
        if conflicting is not None:
            self._count(f"subnet[{conflicting.subnet_id}].v4-reservation-conflicts")
        self._count("v4-reservation-conflicts")

    # -- the iterative allocator --------------------------------------

    def _touch(self, subnet: SubnetRuntime, address: int) -> int:
        subnet.last_allocated = address
        self._order += 1
        subnet.last_allocated_order = self._order
        return address

    def pick_address(self, subnet: SubnetRuntime, classes: Collection[str]) -> int:
        """Kea 2.2's ``IterativeAllocator::pickAddressInternal``.

        (``PoolRuntime.supports``/``in_range``/``set_last`` are written out
        inline: every DISCOVER of a new client comes here.)"""
        pools = subnet.pools
        count = len(pools)
        last = subnet.last_allocated
        first_index = None
        index = count
        for i, pool in enumerate(pools):
            guard = pool.client_class
            if guard and guard not in classes:
                continue
            if first_index is None:
                first_index = i
            if pool.first <= last <= pool.last:
                index = i
                break
        if first_index is None:
            raise LookupError("No allowed pools defined in selected subnet")
        if index == count:
            index = first_index
        retrying = False
        while True:
            if retrying:
                while index < count and pools[index].client_class and pools[index].client_class not in classes:
                    index += 1
                if index == count:
                    break
            pool = pools[index]
            last = pool.last_allocated
            valid = pool.valid
            if not valid and last == pool.first:
                pool.valid = True
                return self._touch(subnet, last)
            if valid and not pool.first <= last <= pool.last:
                # Kea's cursor outside its pool: restarted (and so valid
                # again), but this round moves on to the next pool.
                valid = False
                pool.last_allocated, pool.valid = pool.first, True
            if valid:
                candidate = last + 1
                if candidate <= pool.last:
                    pool.last_allocated = candidate
                    return self._touch(subnet, candidate)
                pool.valid = False
            index += 1
            retrying = True
        # Past the last allowed pool: every allowed pool starts over.
        for pool in pools[first_index:]:
            if pool.supports(classes):
                pool.last_allocated = pool.first
                pool.valid = False
        first = pools[first_index]
        first.set_last(first.first)
        return self._touch(subnet, first.first)

    def peek_address(self, subnet: SubnetRuntime, classes: Collection[str]) -> Optional[int]:
        """The address :meth:`pick_address` would return next, every cursor
        left as it was (None when no pool is allowed).  The caller must be
        the only one picking meanwhile."""
        pools = subnet.pools
        saved = (subnet.last_allocated, subnet.last_allocated_order, self._order,
                 [(pool.last_allocated, pool.valid) for pool in pools])
        try:
            # The class's own method: serialise_picks may wrap the instance's.
            return type(self).pick_address(self, subnet, classes)
        except LookupError:
            return None
        finally:
            subnet.last_allocated, subnet.last_allocated_order, self._order, cursors = saved
            for pool, (last, valid) in zip(pools, cursors):
                pool.last_allocated, pool.valid = last, valid

    def _skip_leased(self, subnet: SubnetRuntime, classes: Collection[str], budget: int,
                     next_free: Callable[[int, int, int], Optional[int]], now: int) -> int:
        """Up to ``budget`` picks at once: those :meth:`pick_address` would
        make next in its current pool and that return addresses holding a
        lease not expired at ``now`` (``next_free``, the store's occupancy
        index, knows them), which the allocator would only skip.  Leaves the
        cursors where those picks would have; the count of picks made.

        Only the steps inside one pool are jumped (``last + 1`` while the
        pool's cursor is the subnet's): moving to the next pool or wrapping
        stays with :meth:`pick_address`, so the order of candidates — Kea's —
        is unchanged."""
        last = subnet.last_allocated
        for pool in subnet.pools:
            guard = pool.client_class
            if guard and guard not in classes:
                continue
            if pool.first <= last <= pool.last:
                break
        else:
            return 0
        if not pool.valid or pool.last_allocated != last or last >= pool.last:
            return 0
        end = last + budget
        if end > pool.last:
            end = pool.last
        free = next_free(last + 1, end, now)
        cursor = end if free is None else free - 1
        skipped = cursor - last
        if skipped:
            pool.last_allocated = subnet.last_allocated = cursor
            # As many _touch calls: only the order between subnets matters.
            self._order += skipped
            subnet.last_allocated_order = self._order
        return skipped

    # -- helpers --------------------------------------------------------

    def _client_id_for(self, subnet: SubnetRuntime, ctx: AllocationContext) -> Optional[bytes]:
        return ctx.client_id if subnet.match_client_id else None

    def _subnets_include_match_client_id(self, first: SubnetRuntime, classes) -> bool:
        subnet = first
        while subnet is not None:
            if subnet.match_client_id:
                return True
            subnet = subnet.next_subnet(first, classes)
        return False

    def find_client_lease(self, ctx: AllocationContext):
        """The client's existing lease in the subnet or its shared network
        (by client-id where match-client-id, then by hw-address); moves
        ``ctx.subnet`` to the lease's subnet."""
        original = ctx.subnet
        classes = ctx.classes
        if ctx.client_id and self._subnets_include_match_client_id(original, classes):
            leases = self._store.get_leases4_by_client_id(ctx.client_id)
            subnet = original
            while subnet is not None:
                if subnet.match_client_id:
                    for lease in leases:
                        if lease.subnet_id == subnet.id:
                            ctx.subnet = subnet
                            return lease
                subnet = subnet.next_subnet(original, classes)
        if ctx.hwaddr:
            leases = self._store.get_leases4_by_hwaddr(ctx.hwaddr)
            subnet = original
            while subnet is not None:
                client_id = self._client_id_for(subnet, ctx)
                for lease in leases:
                    if lease.subnet_id == subnet.id and lease.belongs_to(client_id, ctx.hwaddr):
                        ctx.subnet = subnet
                        return lease
                subnet = subnet.next_subnet(original, classes)
        return None

    def in_allowed_pool(self, ctx: AllocationContext, address: IPv4Address) -> bool:
        value = int(address)
        subnet = ctx.subnet
        first = ctx.subnet
        while subnet is not None:
            if subnet.in_pool(value, ctx.classes):
                ctx.subnet = subnet
                return True
            subnet = subnet.next_subnet(first, ctx.classes)
        return False

    def address_reserved(self, address: IPv4Address, ctx: AllocationContext) -> bool:
        """Reserved for another client in the current subnet (Kea's
        ``addressReserved``: only subnet reservations, and with
        reservations-out-of-pool only addresses outside the pools)."""
        if not self._reserved:
            return False  # no reservation by address at all
        subnet = ctx.subnet
        if not subnet.reservations_in_subnet:
            return False
        if subnet.reservations_out_of_pool and subnet.in_pool(int(address)):
            return False
        host = self._reserved.get((subnet.id, address))
        if host is None:
            return False
        for id_type, value in ctx.host_identifiers:
            if id_type == host.identifier_type and value == host.identifier:
                return False
        return True

    def has_address_reservation(self, ctx: AllocationContext) -> Optional[IPv4Address]:
        """The client's reserved address usable here, or None; may move
        ``ctx.subnet`` to the reservation's subnet."""
        if not ctx.hosts:
            return None
        global_done = False
        subnet = ctx.subnet
        first = ctx.subnet
        while subnet is not None:
            if not global_done and subnet.reservations_global:
                host = ctx.hosts.get(GLOBAL_SUBNET_ID)
                if host is not None and host.ipv4_address is not None and int(host.ipv4_address):
                    return host.ipv4_address
                global_done = True
            if subnet.reservations_in_subnet:
                host = ctx.hosts.get(subnet.id)
                if host is not None and host.ipv4_address is not None and int(host.ipv4_address):
                    reserved = host.ipv4_address
                    if not subnet.reservations_out_of_pool or not subnet.in_pool(int(reserved)):
                        ctx.subnet = subnet
                        return reserved
            subnet = subnet.next_subnet(first, ctx.classes)
        return None

    @staticmethod
    def _extended_info(ctx: AllocationContext, user_context):
        """Kea's updateLease4ExtendedInfo: with store-extended-info, the
        query's option 82 as ``{"ISC": {"relay-agent-info": "0x…"}}`` in the
        lease's user context (recorded: opt-store-extended-info)."""
        model = ctx.subnet.model
        if not getattr(model, "store_extended_info", False) or ctx.relay_agent_info is None:
            return user_context
        merged = dict(user_context or {})
        merged["ISC"] = {"relay-agent-info": "0x" + ctx.relay_agent_info.hex().upper()}
        return merged

    def _new_lease(self, ctx: AllocationContext, address: IPv4Address):
        subnet = ctx.subnet
        return self._lease(
            address=address,
            hwaddr=ctx.hwaddr,
            client_id=self._client_id_for(subnet, ctx),
            valid_lifetime=ctx.valid_lifetime(subnet),
            cltt=ctx.now,
            subnet_id=subnet.id,
            fqdn_fwd=ctx.fqdn_fwd,
            fqdn_rev=ctx.fqdn_rev,
            hostname=ctx.hostname,
            state=0,
            user_context=self._extended_info(ctx, None),
        )

    def _selected(self, ctx: AllocationContext, lease):
        """``lease4_select``: the lease the callouts left, or None (SKIP:
        not allocated)."""
        if ctx.callouts is None:
            return lease
        skipped, arguments = ctx.callouts("lease4_select", subnet4=ctx.subnet,
                                          fake_allocation=ctx.fake_allocation, lease4=lease)
        return None if skipped else arguments.get("lease4", lease)

    def _create(self, ctx: AllocationContext, address: IPv4Address):
        lease = self._selected(ctx, self._new_lease(ctx, address))
        if lease is None:
            return None
        if ctx.fake_allocation:
            return lease
        if not self._store.add_lease(lease):
            return None
        self._assigned(lease.subnet_id)
        return lease

    def _refresh(self, ctx: AllocationContext, lease):
        """Kea's updateLease4Information: the lease now belongs to this
        client in this subnet, from now, with the new lifetime."""
        subnet = ctx.subnet
        return replace(
            lease,
            subnet_id=subnet.id,
            hwaddr=ctx.hwaddr,
            client_id=self._client_id_for(subnet, ctx),
            cltt=ctx.now,
            valid_lifetime=ctx.valid_lifetime(subnet),
            fqdn_fwd=ctx.fqdn_fwd,
            fqdn_rev=ctx.fqdn_rev,
            hostname=ctx.hostname,
            user_context=self._extended_info(ctx, lease.user_context),
        )

    @staticmethod
    def _changed(old, new) -> bool:
        """Kea's updateLease4Information verdict: anything but the time moved."""
        return (
            old.subnet_id != new.subnet_id
            or old.hwaddr != new.hwaddr
            or (old.client_id or None) != (new.client_id or None)
            or new.valid_lifetime < old.valid_lifetime
            or old.fqdn_fwd != new.fqdn_fwd
            or old.fqdn_rev != new.fqdn_rev
            or old.hostname != new.hostname
            or old.user_context != new.user_context
        )

    @staticmethod
    def _reusable(ctx: AllocationContext, old, new) -> int:
        """Kea's setLeaseReusable: the remaining lifetime when an unchanged
        lease may be handed out again without writing it, else 0."""
        model = ctx.subnet.model
        threshold = getattr(model, "cache_threshold", None)
        max_age_cfg = getattr(model, "cache_max_age", None)
        if old.state != 0:
            return 0
        if new.valid_lifetime == 0xFFFFFFFF:
            return 0xFFFFFFFF
        if new.cltt < old.cltt:
            return 0
        age = new.cltt - old.cltt
        if age >= old.valid_lifetime:
            return 0
        max_age = 0
        if max_age_cfg is not None:
            max_age = max_age_cfg
            if max_age == 0 or age > max_age:
                return 0
        if threshold is not None:
            if threshold <= 0.0 or threshold > 1.0:
                return 0
            max_age = int(new.valid_lifetime * threshold)
            if age > max_age:
                return 0
        if max_age == 0:
            return 0
        return old.valid_lifetime - age

    def _reuse_expired(self, ctx: AllocationContext, expired):
        if not ctx.fake_allocation:
            # Before lease4_select, as Kea: counted even if a callout skips.
            self._reclaimed_on_reuse(expired)
        lease = self._selected(ctx, self._refresh(ctx, expired))
        if lease is None:
            return None
        if not ctx.fake_allocation:
            lease = replace(lease, state=0)
            self._store.update_lease(lease)
            self._assigned(lease.subnet_id)
        return lease

    def allocate_or_reuse(self, address: IPv4Address, ctx: AllocationContext):
        ctx.conflicting_lease = None
        existing = self._store.get_lease4(address)
        if existing is None:
            return self._create(ctx, address)
        if existing.is_expired(ctx.now):
            ctx.old_lease = replace(existing, hostname="", fqdn_fwd=False, fqdn_rev=False)
            return self._reuse_expired(ctx, existing)
        ctx.conflicting_lease = existing
        return None

    def renew(self, lease, ctx: AllocationContext):
        ctx.old_lease = lease
        renewed = self._refresh(ctx, lease)
        if not ctx.fake_allocation and lease.is_expired(ctx.now):
            self._reclaimed_on_reuse(lease)
        if ctx.callouts is not None:
            # lease4_renew: SKIP keeps the stored lease as it is (Kea).
            skipped, arguments = ctx.callouts(
                "lease4_renew", subnet4=ctx.subnet, clientid=self._client_id_for(ctx.subnet, ctx),
                hwaddr=ctx.hwaddr, lease4=renewed)
            if skipped:
                return lease
            renewed = arguments.get("lease4", renewed)
        if not self._changed(lease, renewed):
            remaining = self._reusable(ctx, lease, renewed)
            if remaining:
                # Lease caching: nothing is written, the stored lease stands.
                ctx.reusable_valid_lifetime = remaining
                return lease
        if not ctx.fake_allocation:
            renewed = replace(renewed, state=0)
            self._store.update_lease(renewed)
            if lease.is_expired(ctx.now) or lease.state == 2:
                # Kea counts the re-assignment of an expired lease.
                self._assigned(renewed.subnet_id)
        return renewed

    def allocate_unreserved(self, ctx: AllocationContext):
        subnet = ctx.subnet
        network = subnet.network
        if network is not None:
            subnet = ctx.subnet = self._preferred_subnet(network, subnet)
        original = subnet
        total_attempts = 0
        next_free = self._next_free
        while subnet is not None:
            attempts = subnet.pool_capacity(ctx.classes)
            total_attempts += attempts
            while attempts > 0:
                if next_free is not None:
                    attempts -= self._skip_leased(subnet, ctx.classes, attempts, next_free, ctx.now)
                    if not attempts:
                        break
                candidate = IPv4Address(self.pick_address(subnet, ctx.classes))
                attempts -= 1
                existing = self._store.get_lease4(candidate)
                lease = None
                if existing is None:
                    if not self.address_reserved(candidate, ctx):
                        lease = self._create(ctx, candidate)
                elif existing.is_expired(ctx.now) and not self.address_reserved(candidate, ctx):
                    ctx.old_lease = existing
                    lease = self._reuse_expired(ctx, existing)
                if lease is not None:
                    return lease
            subnet = subnet.next_subnet(original, ctx.classes)
            if subnet is not None:
                ctx.subnet = subnet
        self._allocation_failed(ctx, network is not None, total_attempts)
        return None

    def _allocation_failed(self, ctx: AllocationContext, in_network: bool, attempts: int) -> None:
        """Kea's failure statistics (allocateUnreservedLease4), global and
        for the last subnet tried; the subnet ones exist from first use."""
        subnet_id = ctx.subnet.id
        kinds = ["v4-allocation-fail-shared-network" if in_network else "v4-allocation-fail-subnet",
                 "v4-allocation-fail" if attempts else "v4-allocation-fail-no-pools"]
        if ctx.classes:
            kinds.append("v4-allocation-fail-classes")
        for kind in kinds:
            self._count(kind)
            self._count(f"subnet[{subnet_id}].{kind}")

    @staticmethod
    def _preferred_subnet(network: NetworkRuntime, selected: SubnetRuntime) -> SubnetRuntime:
        """Kea's getPreferredSubnet: among subnets with the same class guard,
        the one the allocator used most recently."""
        preferred = selected
        for subnet in network.subnets:
            if subnet.client_class != selected.client_class:
                continue
            if subnet.last_allocated_order > preferred.last_allocated_order:
                preferred = subnet
        return preferred

    # -- the two entry points ------------------------------------------

    def discover_lease4(self, ctx: AllocationContext) -> AllocationResult:
        return self._prefetched(self._discover_lease4, ctx, self.prefetch_candidate)

    def request_lease4(self, ctx: AllocationContext) -> AllocationResult:
        return self._prefetched(self._request_lease4, ctx)

    def _prefetched(self, allocate: Callable[[AllocationContext], AllocationResult],
                    ctx: AllocationContext, candidate: bool = False) -> AllocationResult:
        """``allocate(ctx)``, on a database store with the client's first
        lookups read beforehand in one statement, forgotten afterwards;
        with ``candidate`` also the lease of the address the allocator
        would pick first for a new client (a DISCOVER's second statement
        otherwise)."""
        if self._prefetch is None:
            return allocate(ctx)
        first: Optional[int] = None
        if candidate and ctx.subnet is not None:
            subnet = ctx.subnet
            if subnet.network is not None:
                subnet = self._preferred_subnet(subnet.network, subnet)
            first = self.peek_address(subnet, ctx.classes)
        self._prefetch(ctx.client_id, ctx.hwaddr, ctx.requested_address, first)
        try:
            return allocate(ctx)
        finally:
            self._store.forget_prefetched()

    def _discover_lease4(self, ctx: AllocationContext) -> AllocationResult:
        client_lease = self.find_client_lease(ctx)
        lease = None
        reserved = self.has_address_reservation(ctx)
        if reserved is not None:
            if client_lease is None or client_lease.address != reserved:
                lease = self.allocate_or_reuse(reserved, ctx)
                if lease is None:
                    self._reservation_conflict(ctx)
            else:
                lease = self.renew(client_lease, ctx)
        if (
            lease is None
            and client_lease is not None
            and self.in_allowed_pool(ctx, client_lease.address)
            and not self.address_reserved(client_lease.address, ctx)
        ):
            lease = self.renew(client_lease, ctx)
        requested = ctx.requested_address
        if (
            lease is None
            and requested is not None
            and int(requested)
            and self.in_allowed_pool(ctx, requested)
            and not self.address_reserved(requested, ctx)
        ):
            lease = self.allocate_or_reuse(requested, ctx)
        if lease is None:
            lease = self.allocate_unreserved(ctx)
        if ctx.old_lease is None and client_lease is not None:
            ctx.old_lease = client_lease
        return AllocationResult(lease, ctx.subnet, ctx.old_lease,
                                reusable_valid_lifetime=ctx.reusable_valid_lifetime)

    def _request_lease4(self, ctx: AllocationContext) -> AllocationResult:
        client_lease = self.find_client_lease(ctx)
        requested = ctx.requested_address if ctx.requested_address is not None and int(ctx.requested_address) else None
        reserved = None
        if requested is not None:
            if self.address_reserved(requested, ctx):
                return AllocationResult(None, ctx.subnet)
        else:
            reserved = self.has_address_reservation(ctx)
            requested = reserved
        if requested is not None:
            existing = self._store.get_lease4(requested)
            if (
                existing is not None
                and not existing.is_expired(ctx.now)
                and not existing.belongs_to(self._client_id_for(ctx.subnet, ctx), ctx.hwaddr)
            ):
                return AllocationResult(None, ctx.subnet)
            own = self.has_address_reservation(ctx)
            if own is not None and own != requested:
                existing = self._store.get_lease4(own)
                if existing is None or existing.is_expired(ctx.now):
                    return AllocationResult(None, ctx.subnet)
            if (own is None or own != requested) and not self.in_allowed_pool(ctx, requested):
                return AllocationResult(None, ctx.subnet, unknown_requested_addr=True)
        if client_lease is not None:
            same = requested is None or client_lease.address == requested
            if same:
                own = self.has_address_reservation(ctx)
                if (own is not None and own == requested) or self.in_allowed_pool(ctx, client_lease.address):
                    lease = self.renew(client_lease, ctx)
                    return AllocationResult(lease, ctx.subnet, ctx.old_lease,
                                            reusable_valid_lifetime=ctx.reusable_valid_lifetime)
        if requested is not None:
            lease = self.allocate_or_reuse(requested, ctx)
        else:
            lease = self.allocate_unreserved(ctx)
        if lease is not None and client_lease is not None:
            ctx.old_lease = client_lease
            if self._store.delete_lease(client_lease):
                self._count(f"subnet[{client_lease.subnet_id}].assigned-addresses", -1)
        return AllocationResult(lease, ctx.subnet, ctx.old_lease)
