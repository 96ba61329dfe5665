"""
DHCPv4 leases and Kea's memfile lease store (``LeaseMgr`` +
``Memfile_LeaseMgr``, spec/dhcp4.md §3.4, §3.5, §11, §15, §16).

Pure: no reactor, no clock — every question about time takes ``now``.

Three pieces:

* :class:`Lease4`, an immutable value in Kea's words (``cltt`` is the client
  last transaction time, ``expire = cltt + valid_lifetime``; ``state`` 0
  default, 1 declined, 2 expired-reclaimed).
* Two views of one store.  :class:`ISyncLeaseStore` answers at once: the
  DHCP hot path (the allocation engine, RELEASE, DECLINE, reclamation) uses
  the in-process memfile store directly.  :class:`ILeaseStore` answers with
  Deferreds: the face a store with network round trips (a PostgreSQL store
  sharing Kea's schema) will offer, and what command handlers such as
  ``lease_cmds`` should be written against.  :class:`DeferredLeaseStore`
  turns any synchronous store into the Deferred one with already-fired
  Deferreds (``defer.succeed``/``defer.fail``; no reactor needed).  The
  method names are Kea's ``LeaseMgr`` names in snake case in both.
* :class:`MemfileLeaseStore`: Kea's memfile in memory — indexes by address,
  hw-address (+ subnet), client-id (+ subnet), hostname, and two
  expiration orders (not reclaimed / reclaimed) kept as heaps with lazy
  invalidation, so reclamation stays O(k log n) at 100k+ leases; lease
  counts per (subnet, state) kept as leases change.  The indexes are sized
  for a million leases (an int or a small dict per key, not a set per
  lease; heap entries are single ints); a subnet's leases are found by
  walking the address order (only commands ask).  For the allocator
  (:meth:`MemfileLeaseStore.next_free_address`, not part of the
  interfaces: a store without it gets the allocator's plain scan) it keeps,
  once asked, a byte per address of each /16 it was asked about — 1 while
  a lease there cannot be taken — so skipping a run of leased addresses is
  one ``bytearray.find``.  Every
  change is handed to an optional persistence sink (a
  :class:`kea_twisted.leasefile.LeaseFile`) *before* memory changes and
  before the call returns, as Kea writes the CSV row first
  (``memfile_lease_mgr.cc`` ``addLeaseInternal``): if the write raises,
  memory is untouched.  No sink is Kea's ``persist: false``.

Kea facts kept here ([src] ``memfile_lease_mgr.cc``, ``lease.cc``):

* a deletion is written as the *stored* lease with ``valid_lifetime`` 0, so
  the row's ``expire`` is the old cltt (spec §15.2);
* ``update_lease`` of a missing address raises (:class:`NoSuchLease`);
  ``add_lease`` of a taken address answers False and writes nothing;
* expired means ``expire <= now`` for the reclamation query (Kea's
  expiration index ``upper_bound((false, now))``) but ``expire < now`` for
  :meth:`Lease4.is_expired` (Kea's ``Lease::expired``);
* leases in any state but 2 count as "not reclaimed" (Kea's index key is
  ``stateExpiredReclaimed()``), declined ones included;
* ``delete_expired_reclaimed_leases4(now, secs)`` removes state-2 leases
  with ``expire <= now - secs``, writing one deletion row each.

Where Kea's boost indexes return equal keys in insertion order, lists here
are in (subnet id, address) or address order.

Tests: tests/test_leases.py
"""

from __future__ import annotations

import gc
import heapq
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from typing import (
    Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple,
)

from twisted.internet import defer
from zope.interface import Interface, implementer

from kea_twisted.compat import DATACLASS_SLOTS

__all__ = [
    "STATE_DEFAULT",
    "STATE_DECLINED",
    "STATE_EXPIRED_RECLAIMED",
    "Lease4",
    "NoSuchLease",
    "ILeaseSink",
    "ISyncLeaseStore",
    "ILeaseStore",
    "MemfileLeaseStore",
    "DeferredLeaseStore",
    "gc_paused",
]


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (restored after, if it was on).

    Building a million leases (load, indexes) allocates millions of
    container objects that all survive; each full collection meanwhile
    walks all of them for nothing (~20 % of the load time).  Leases make
    no reference cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _add_address(slots: Dict[Any, Any], key: Any, address: int) -> None:
    """Add ``address`` under ``key``: a slot holds one address as a bare
    int, and becomes a set only when a second one joins it (most keys have
    one lease, and an int costs far less than a set)."""
    held = slots.get(key)
    if held is None:
        slots[key] = address
    elif type(held) is int:
        slots[key] = {held, address}
    else:
        held.add(address)


def _remove_address(slots: Dict[Any, Any], key: Any, address: int) -> None:
    """Undo :func:`_add_address`: the slot goes when it held only
    ``address``, and a set left with one address is a bare int again."""
    held = slots[key]
    if type(held) is int:
        del slots[key]
        return
    held.discard(address)
    if len(held) == 1:
        slots[key] = next(iter(held))


def _freeze_survivors() -> None:
    """Move every object alive now out of the cyclic collector's sight.

    After a large lease file is loaded, each later full collection would
    walk its millions of objects (with a million leases: a pause of almost
    a second in the middle of serving) only to find them alive. Leases
    hold no reference cycles, and a lease dropped later is freed by its
    reference count all the same. PyPy's collector has no ``freeze``.
    """
    freeze = getattr(gc, "freeze", None)
    if freeze is not None:
        freeze()


#: Kea's ``Lease::STATE_DEFAULT``, ``STATE_DECLINED``, ``STATE_EXPIRED_RECLAIMED``.
STATE_DEFAULT = 0
STATE_DECLINED = 1
STATE_EXPIRED_RECLAIMED = 2


@dataclass(frozen=True, **DATACLASS_SLOTS)
class Lease4:
    """One DHCPv4 lease, as a row of ``lease4.csv`` holds it.

    ``hwaddr`` is ``b""`` when there is none (declined leases); ``client_id``
    is None when there is none (``b""`` is treated the same everywhere).
    ``user_context`` is a JSON map or None; it does not take part in the
    hash, so leases can still live in sets.
    """

    address: IPv4Address
    hwaddr: bytes
    client_id: Optional[bytes]
    valid_lifetime: int
    cltt: int
    subnet_id: int
    fqdn_fwd: bool = False
    fqdn_rev: bool = False
    hostname: str = ""
    state: int = STATE_DEFAULT
    user_context: Optional[Dict[str, Any]] = field(default=None, hash=False)

    @property
    def expire(self) -> int:
        """``cltt + valid_lifetime``: the ``expire`` column of the file."""
        return self.cltt + self.valid_lifetime

    def is_expired(self, now: int) -> bool:
        """Kea's ``Lease::expired()``: strictly past its expiration time."""
        return self.cltt + self.valid_lifetime < now

    @property
    def is_reclaimed(self) -> bool:
        """Kea's ``stateExpiredReclaimed()``."""
        return self.state == STATE_EXPIRED_RECLAIMED

    @property
    def is_declined(self) -> bool:
        """Kea's ``stateDeclined()``."""
        return self.state == STATE_DECLINED

    def belongs_to(self, client_id: Optional[bytes], hwaddr: Optional[bytes]) -> bool:
        """Kea's ``Lease4::belongsToClient`` (spec §3.4, §11).

        Equal client-ids (both present) make the lease the client's.  If
        either side has no client-id the hw-addresses decide.  Two
        *different* client-ids never match, whatever the hw-addresses say.
        """
        if client_id and self.client_id:
            return client_id == self.client_id
        return hwaddr is not None and hwaddr == self.hwaddr


class NoSuchLease(LookupError):
    """Kea's ``NoSuchLease``: an update of an address that has no lease."""


class ILeaseSink(Interface):
    """Where a store persists its changes (the lease file)."""

    def append(lease: Lease4) -> None:
        """Write one row for ``lease`` (``valid_lifetime`` 0 = deletion)
        durably enough to survive the process (Kea: flushed to the OS)
        before returning; raise if it cannot be written."""


class ISyncLeaseStore(Interface):
    """A lease store that answers at once (the in-process memfile).

    The names are Kea's ``LeaseMgr`` methods.  Lists are new lists; leases
    are immutable values, so callers may keep them.
    """

    def add_lease(lease: Lease4) -> bool:
        """Store a new lease; False (nothing written) if the address is taken."""

    def update_lease(lease: Lease4) -> None:
        """Replace the lease at ``lease.address``; :class:`NoSuchLease` if none."""

    def delete_lease(lease: Lease4) -> bool:
        """Delete the lease at ``lease.address``; False if there was none."""

    def get_lease4(address: IPv4Address) -> Optional[Lease4]:
        """The lease for an address, or None."""

    def get_leases4_by_hwaddr(hwaddr: bytes) -> List[Lease4]:
        """All leases with this hw-address."""

    def get_lease4_by_hwaddr_subnet(hwaddr: bytes, subnet_id: int) -> Optional[Lease4]:
        """One lease with this hw-address in this subnet, or None."""

    def get_leases4_by_client_id(client_id: bytes) -> List[Lease4]:
        """All leases with this client-id."""

    def get_lease4_by_client_id_subnet(client_id: bytes, subnet_id: int) -> Optional[Lease4]:
        """One lease with this client-id in this subnet, or None."""

    def get_leases4_by_subnet(subnet_id: int) -> List[Lease4]:
        """All leases of a subnet, by address."""

    def get_leases4_by_hostname(hostname: str) -> List[Lease4]:
        """All leases with exactly this hostname."""

    def get_all_leases4() -> List[Lease4]:
        """Every lease, by address."""

    def get_leases4_page(after_address: IPv4Address, limit: int) -> List[Lease4]:
        """Up to ``limit`` leases with addresses above ``after_address``
        (Kea's ``getLeases4(lower_bound, page_size)``: the bound itself is
        excluded; start from 0.0.0.0)."""

    def get_expired_leases4(now: int, max_leases: int) -> List[Lease4]:
        """Leases not reclaimed (state != 2) with ``expire <= now``,
        oldest first, at most ``max_leases`` (0: all)."""

    def delete_expired_reclaimed_leases4(now: int, secs: int) -> int:
        """Delete state-2 leases with ``expire <= now - secs``; the count."""

    def wipe_leases4(subnet_id: int) -> int:
        """Delete every lease of a subnet (one deletion row each); the count."""

    def lease_counts() -> List[Tuple[int, int, int]]:
        """``(subnet_id, state, count)`` for every state present (Kea's
        lease statistics query), sorted."""


class ILeaseStore(Interface):
    """A lease store whose answers are Deferreds (same methods and
    meanings as :class:`ISyncLeaseStore`); a failure is an errback."""

    def add_lease(lease):
        """Deferred[bool]."""

    def update_lease(lease):
        """Deferred[None]; errback NoSuchLease."""

    def delete_lease(lease):
        """Deferred[bool]."""

    def get_lease4(address):
        """Deferred[Optional[Lease4]]."""

    def get_leases4_by_hwaddr(hwaddr):
        """Deferred[List[Lease4]]."""

    def get_lease4_by_hwaddr_subnet(hwaddr, subnet_id):
        """Deferred[Optional[Lease4]]."""

    def get_leases4_by_client_id(client_id):
        """Deferred[List[Lease4]]."""

    def get_lease4_by_client_id_subnet(client_id, subnet_id):
        """Deferred[Optional[Lease4]]."""

    def get_leases4_by_subnet(subnet_id):
        """Deferred[List[Lease4]]."""

    def get_leases4_by_hostname(hostname):
        """Deferred[List[Lease4]]."""

    def get_all_leases4():
        """Deferred[List[Lease4]]."""

    def get_leases4_page(after_address, limit):
        """Deferred[List[Lease4]]."""

    def get_expired_leases4(now, max_leases):
        """Deferred[List[Lease4]]."""

    def delete_expired_reclaimed_leases4(now, secs):
        """Deferred[int]."""

    def wipe_leases4(subnet_id):
        """Deferred[int]."""

    def lease_counts():
        """Deferred[List[Tuple[int, int, int]]]."""


_SYNC_METHODS = (
    "add_lease", "update_lease", "delete_lease", "get_lease4",
    "get_leases4_by_hwaddr", "get_lease4_by_hwaddr_subnet",
    "get_leases4_by_client_id", "get_lease4_by_client_id_subnet",
    "get_leases4_by_subnet", "get_leases4_by_hostname", "get_all_leases4",
    "get_leases4_page", "get_expired_leases4",
    "delete_expired_reclaimed_leases4", "wipe_leases4", "lease_counts",
)


def _deferred_method(name: str) -> Callable[..., defer.Deferred]:
    def method(self: "DeferredLeaseStore", *args: Any, **kwargs: Any) -> defer.Deferred:
        try:
            result = getattr(self.store, name)(*args, **kwargs)
        except BaseException:
            return defer.fail()
        return defer.succeed(result)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of the wrapped store, as a fired Deferred."
    return method


@implementer(ILeaseStore)
class DeferredLeaseStore:
    """:class:`ILeaseStore` over any :class:`ISyncLeaseStore`: each call
    runs at once and returns an already-fired Deferred (an exception
    becomes a failed one).  No reactor is involved."""

    def __init__(self, store: Any):
        self.store = store


for _name in _SYNC_METHODS:
    setattr(DeferredLeaseStore, _name, _deferred_method(_name))
del _name


# Everything is keyed by the address as an int: hashing an IPv4Address goes
# through hex() and costs several times more.  The int is the lease's own
# (``int(IPv4Address)`` returns it), so the indexes add no int objects.
#
# A hw-address or client-id index maps the key to the address of its one
# lease, the usual case (no set or dict per lease: a million leases would pay
# ~400 bytes each), or, once a key has more leases, to {subnet id: address
# or set of addresses}.
_PairIndex = Dict[Any, Any]
# The hostname index: hostname -> address or set of addresses.  The empty
# hostname, most leases', is not indexed (asking for it scans).
_HostnameIndex = Dict[str, Any]
# The expiration heaps hold one int per lease, ``expire << 32 | address``:
# they order by (expire, address) like Kea's expiration index.  An entry is
# live while the lease at that address has that expire and belongs to that
# heap (reclaimed or not); a lease changed back to an earlier shape leaves
# an equal entry behind, which the queries skip as a duplicate.
_ADDRESS_MASK = (1 << 32) - 1


def _sorted_members(addresses: Any) -> List[int]:
    return [addresses] if type(addresses) is int else sorted(addresses)


@implementer(ISyncLeaseStore)
class MemfileLeaseStore:
    """Kea's memfile lease store, in memory.

    :param sink: where every change is written before it is applied (a
        :class:`~kea_twisted.leasefile.LeaseFile`); None for ``persist:
        false``.
    :param leases: the leases loaded at startup (written nowhere; of two
        with the same address the later one is kept).  They are indexed in
        bulk.
    """

    def __init__(self, sink: Optional[Any] = None, leases: Iterable[Lease4] = ()):
        self.sink = sink
        self._by_address: Dict[int, Lease4] = {}
        self._by_hwaddr: _PairIndex = {}
        self._by_client_id: _PairIndex = {}
        self._by_hostname: _HostnameIndex = {}
        #: (subnet id, state) -> how many leases (Kea's statistics query).
        self._counts: Dict[Tuple[int, int], int] = {}
        self._active: List[int] = []
        self._reclaimed: List[int] = []
        self._sorted: Optional[List[int]] = None
        # The allocator's occupancy index (next_free_address), started by
        # its first question: address >> 16 -> one byte per address of that
        # /16, 1 = "a lease not reclaimed, expiring at or after _swept, is
        # here", so never 1 for an address the allocator could take.
        self._occupancy: Optional[Dict[int, bytearray]] = None
        # Heap of ``expire << 32 | address`` entries for the leases that may
        # have a 1 byte (the same ints as the _active heap's), popped as
        # their expire passes: the byte goes to 0 when the lease expires.
        self._occupancy_expiry: List[int] = []
        # The latest ``now`` the bytes have been swept to.
        self._swept = 0
        with gc_paused():
            by_address = self._by_address
            for lease in leases:
                by_address[int(lease.address)] = lease
            self._index_all()
        if by_address:
            _freeze_survivors()

    # -- index upkeep -------------------------------------------------------

    def _index_all(self) -> None:
        """Index the leases of ``_by_address`` (the indexes are empty): the
        loop of :meth:`_index`, with the heaps built at the end."""
        by_hwaddr, by_client_id, by_hostname = self._by_hwaddr, self._by_client_id, self._by_hostname
        counts = self._counts
        active, reclaimed = self._active, self._reclaimed
        add_pair = self._add_pair
        for address, lease in self._by_address.items():
            key = lease.hwaddr
            if key in by_hwaddr:
                add_pair(by_hwaddr, key, lease.subnet_id, address)
            else:
                by_hwaddr[key] = address
            key = lease.client_id
            if key:
                if key in by_client_id:
                    add_pair(by_client_id, key, lease.subnet_id, address)
                else:
                    by_client_id[key] = address
            if lease.hostname:
                _add_address(by_hostname, lease.hostname, address)
            state = lease.state
            count_key = (lease.subnet_id, state)
            counts[count_key] = counts.get(count_key, 0) + 1
            entry = (lease.cltt + lease.valid_lifetime) << 32 | address
            if state == STATE_EXPIRED_RECLAIMED:
                reclaimed.append(entry)
            else:
                active.append(entry)
        heapq.heapify(active)
        heapq.heapify(reclaimed)

    def _add_pair(self, index: _PairIndex, key: Any, subnet_id: int, address: int) -> None:
        entry = index.get(key)
        if entry is None:
            index[key] = address
            return
        if type(entry) is int:
            entry = index[key] = {self._by_address[entry].subnet_id: entry}
        _add_address(entry, subnet_id, address)

    @staticmethod
    def _remove_pair(index: _PairIndex, key: Any, subnet_id: int, address: int) -> None:
        entry = index[key]
        if type(entry) is int:
            del index[key]
            return
        _remove_address(entry, subnet_id, address)
        if not entry:
            del index[key]
        elif len(entry) == 1:
            (only,) = entry.values()
            if type(only) is int:
                index[key] = only

    def _add_hostname(self, hostname: str, address: int) -> None:
        _add_address(self._by_hostname, hostname, address)

    def _remove_hostname(self, hostname: str, address: int) -> None:
        _remove_address(self._by_hostname, hostname, address)

    def _index(self, lease: Lease4) -> None:
        address = int(lease.address)
        self._by_address[address] = lease
        self._add_pair(self._by_hwaddr, lease.hwaddr, lease.subnet_id, address)
        if lease.client_id:
            self._add_pair(self._by_client_id, lease.client_id, lease.subnet_id, address)
        if lease.hostname:
            self._add_hostname(lease.hostname, address)
        count_key = (lease.subnet_id, lease.state)
        self._counts[count_key] = self._counts.get(count_key, 0) + 1
        heap = self._reclaimed if lease.state == STATE_EXPIRED_RECLAIMED else self._active
        entry = (lease.cltt + lease.valid_lifetime) << 32 | address
        heapq.heappush(heap, entry)
        if len(heap) > 2 * len(self._by_address) + 1024:
            self._rebuild_heaps()
        occupancy = self._occupancy
        if occupancy is not None:
            # The lease's byte: 1 unless the allocator could take the
            # address (reclaimed, or expired before the last sweep).
            busy = lease.state != STATE_EXPIRED_RECLAIMED and entry >> 32 >= self._swept
            if busy:
                expiry = self._occupancy_expiry
                heapq.heappush(expiry, entry)
                if len(expiry) > 2 * len(self._by_address) + 1024:
                    self._rebuild_occupancy_expiry()
            chunk = occupancy.get(address >> 16)
            if chunk is not None:
                chunk[address & 0xFFFF] = busy

    def _unindex(self, lease: Lease4) -> None:
        # The heap entry goes stale by itself (lazy invalidation).
        address = int(lease.address)
        del self._by_address[address]
        self._remove_pair(self._by_hwaddr, lease.hwaddr, lease.subnet_id, address)
        if lease.client_id:
            self._remove_pair(self._by_client_id, lease.client_id, lease.subnet_id, address)
        if lease.hostname:
            self._remove_hostname(lease.hostname, address)
        count_key = (lease.subnet_id, lease.state)
        count = self._counts[count_key] - 1
        if count:
            self._counts[count_key] = count
        else:
            del self._counts[count_key]
        if self._occupancy is not None:
            chunk = self._occupancy.get(address >> 16)
            if chunk is not None:
                chunk[address & 0xFFFF] = 0

    def _rebuild_heaps(self) -> None:
        active: List[int] = []
        reclaimed: List[int] = []
        for address, lease in self._by_address.items():
            entry = (lease.cltt + lease.valid_lifetime) << 32 | address
            (reclaimed if lease.state == STATE_EXPIRED_RECLAIMED else active).append(entry)
        heapq.heapify(active)
        heapq.heapify(reclaimed)
        self._active, self._reclaimed = active, reclaimed

    # -- the allocator's occupancy index ----------------------------------

    def _rebuild_occupancy_expiry(self) -> None:
        swept = self._swept
        heap = [(lease.cltt + lease.valid_lifetime) << 32 | address
                for address, lease in self._by_address.items()
                if lease.state != STATE_EXPIRED_RECLAIMED and lease.cltt + lease.valid_lifetime >= swept]
        heapq.heapify(heap)
        self._occupancy_expiry = heap

    def _occupancy_chunk(self, index: int) -> bytearray:
        """The bytes of the /16 number ``index``, built from the leases:
        which addresses hold one, at C speed, then the leases that may be
        taken set back to 0 — reclaimed ones and those expired before the
        last sweep, found in the expiration heaps — unless there are many,
        when every lease of the /16 is looked at."""
        base = index << 16
        addresses = range(base, base + 0x10000)
        by_address = self._by_address
        swept = self._swept
        takeable = self._takeable_entries(swept)
        if takeable is None:
            chunk = bytearray(0x10000)
            for offset, lease in enumerate(map(by_address.get, addresses)):
                if (lease is not None and lease.state != STATE_EXPIRED_RECLAIMED
                        and lease.cltt + lease.valid_lifetime >= swept):
                    chunk[offset] = 1
        else:
            chunk = bytearray(map(by_address.__contains__, addresses))
            for entry in takeable:
                address = entry & _ADDRESS_MASK
                if address >> 16 == index:
                    lease = by_address.get(address)
                    if lease is not None and (lease.state == STATE_EXPIRED_RECLAIMED
                                              or lease.cltt + lease.valid_lifetime < swept):
                        chunk[address - base] = 0
        self._occupancy[index] = chunk  # type: ignore[index]
        return chunk

    def _takeable_entries(self, swept: int, most: int = 0x4000) -> Optional[List[int]]:
        """Heap entries covering every reclaimed lease and every other one
        expiring before ``swept`` (with stale ones), or None if more than
        ``most``.  The second kind are the _active heap's entries below
        ``swept``: the top of the heap, walked without popping."""
        if len(self._reclaimed) > most:
            return None
        entries = list(self._reclaimed)
        heap = self._active
        size = len(heap)
        limit = swept << 32
        pending = [0] if heap and heap[0] < limit else []
        while pending:
            i = pending.pop()
            entries.append(heap[i])
            if len(entries) > most:
                return None
            for child in (2 * i + 1, 2 * i + 2):
                if child < size and heap[child] < limit:
                    pending.append(child)
        return entries

    def _sweep(self, now: int) -> None:
        """Bytes of leases that expired before ``now`` go to 0."""
        heap = self._occupancy_expiry
        limit = now << 32
        occupancy = self._occupancy
        by_address = self._by_address
        heappop = heapq.heappop
        while heap and heap[0] < limit:
            address = heappop(heap) & _ADDRESS_MASK
            chunk = occupancy.get(address >> 16)  # type: ignore[union-attr]
            if chunk is not None:
                lease = by_address.get(address)
                # A stale entry (the lease changed since) leaves the byte to
                # the lease's own entry.
                if lease is not None and lease.cltt + lease.valid_lifetime < now:
                    chunk[address & 0xFFFF] = 0
        self._swept = now

    def next_free_address(self, first: int, last: int, now: int) -> Optional[int]:
        """The lowest address in ``[first, last]`` (ints) that the allocator
        could take at ``now``, or None when each one holds a lease that is
        not expired at ``now`` (:meth:`Lease4.is_expired`).

        Every address below the answer holds such a lease; the answer
        itself may too (a reclaimed lease expiring later, or ``now``
        earlier than a previous question's), so the caller still checks
        it.  O(1) amortised: one ``bytearray.find`` per /16 of the range,
        each lease's expiry swept once.  The index is started by the first
        question (nothing is kept for stores never asked)."""
        occupancy = self._occupancy
        if occupancy is None:
            occupancy = self._occupancy = {}
            # A heap already, with an entry for every lease not reclaimed.
            self._occupancy_expiry = list(self._active)
        if now > self._swept:
            self._sweep(now)
        address = first
        while address <= last:
            index = address >> 16
            chunk = occupancy.get(index)
            if chunk is None:
                chunk = self._occupancy_chunk(index)
            end = address | 0xFFFF
            if end > last:
                end = last
            found = chunk.find(0, address & 0xFFFF, (end & 0xFFFF) + 1)
            if found >= 0:
                return index << 16 | found
            address = end + 1
        return None

    def _live(self, entry: int, reclaimed: bool) -> Optional[Lease4]:
        """The lease a heap entry stands for, or None if it is stale."""
        lease = self._by_address.get(entry & _ADDRESS_MASK)
        if (lease is None or lease.cltt + lease.valid_lifetime != entry >> 32
                or (lease.state == STATE_EXPIRED_RECLAIMED) != reclaimed):
            return None
        return lease

    def _sorted_addresses(self) -> List[int]:
        if self._sorted is None:
            self._sorted = sorted(self._by_address)
        return self._sorted

    def _leases_at(self, addresses: Iterable[int]) -> List[Lease4]:
        by_address = self._by_address
        return [by_address[a] for a in sorted(addresses)]

    def _write(self, lease: Lease4) -> None:
        if self.sink is not None:
            self.sink.append(lease)

    # -- changes ------------------------------------------------------------

    def add_lease(self, lease: Lease4) -> bool:
        if int(lease.address) in self._by_address:
            return False
        self._write(lease)
        self._index(lease)
        self._sorted = None
        return True

    def update_lease(self, lease: Lease4) -> None:
        old = self._by_address.get(int(lease.address))
        if old is None:
            raise NoSuchLease(f"failed to update the lease with address {lease.address} - no such lease")
        self._write(lease)
        self._unindex(old)
        self._index(lease)

    def delete_lease(self, lease: Lease4) -> bool:
        old = self._by_address.get(int(lease.address))
        if old is None:
            return False
        # Kea writes a copy of the stored lease with valid lifetime 0.
        self._write(replace(old, valid_lifetime=0))
        self._unindex(old)
        self._sorted = None
        return True

    def wipe_leases4(self, subnet_id: int) -> int:
        leases = self.get_leases4_by_subnet(subnet_id)
        for lease in leases:
            self.delete_lease(lease)
        return len(leases)

    def delete_expired_reclaimed_leases4(self, now: int, secs: int) -> int:
        # expire <= now - secs, for any address.
        limit = (now - secs + 1) << 32
        heap = self._reclaimed
        doomed: List[int] = []
        seen: Set[int] = set()
        while heap and heap[0] < limit:
            entry = heapq.heappop(heap)
            if entry not in seen and self._live(entry, True) is not None:
                seen.add(entry)
                doomed.append(entry)
        for index, entry in enumerate(doomed):
            try:
                self.delete_lease(self._by_address[entry & _ADDRESS_MASK])
            except BaseException:
                # Not deleted (the write failed): keep them findable.
                for kept in doomed[index:]:
                    heapq.heappush(heap, kept)
                raise
        return len(doomed)

    # -- queries ------------------------------------------------------------

    def get_lease4(self, address: IPv4Address) -> Optional[Lease4]:
        return self._by_address.get(int(address))

    def _by_key(self, index: _PairIndex, key: Any) -> List[Lease4]:
        entry = index.get(key)
        if entry is None:
            return []
        by_address = self._by_address
        if type(entry) is int:
            return [by_address[entry]]
        return [by_address[a] for sid in sorted(entry) for a in _sorted_members(entry[sid])]

    def _one_by_key(self, index: _PairIndex, key: Any, subnet_id: int) -> Optional[Lease4]:
        entry = index.get(key)
        if entry is None:
            return None
        if type(entry) is int:
            lease = self._by_address[entry]
            return lease if lease.subnet_id == subnet_id else None
        addresses = entry.get(subnet_id)
        if addresses is None:
            return None
        return self._by_address[addresses if type(addresses) is int else min(addresses)]

    def get_leases4_by_hwaddr(self, hwaddr: bytes) -> List[Lease4]:
        return self._by_key(self._by_hwaddr, hwaddr)

    def get_lease4_by_hwaddr_subnet(self, hwaddr: bytes, subnet_id: int) -> Optional[Lease4]:
        return self._one_by_key(self._by_hwaddr, hwaddr, subnet_id)

    def get_leases4_by_client_id(self, client_id: bytes) -> List[Lease4]:
        if not client_id:
            return []
        return self._by_key(self._by_client_id, client_id)

    def get_lease4_by_client_id_subnet(self, client_id: bytes, subnet_id: int) -> Optional[Lease4]:
        if not client_id:
            return None
        return self._one_by_key(self._by_client_id, client_id, subnet_id)

    def get_leases4_by_subnet(self, subnet_id: int) -> List[Lease4]:
        # No per-subnet index (a set per subnet costs ~50 bytes a lease):
        # the commands that ask (lease4-get-all with subnets, lease4-wipe)
        # walk the address order.
        if not any(sid == subnet_id for sid, _state in self._counts):
            return []
        by_address = self._by_address
        return [lease for lease in map(by_address.__getitem__, self._sorted_addresses())
                if lease.subnet_id == subnet_id]

    def get_leases4_by_hostname(self, hostname: str) -> List[Lease4]:
        if not hostname:
            by_address = self._by_address
            return [lease for lease in map(by_address.__getitem__, self._sorted_addresses())
                    if not lease.hostname]
        entry = self._by_hostname.get(hostname)
        if entry is None:
            return []
        return self._leases_at(_sorted_members(entry))

    def get_all_leases4(self) -> List[Lease4]:
        by_address = self._by_address
        return [by_address[a] for a in self._sorted_addresses()]

    def get_leases4_page(self, after_address: IPv4Address, limit: int) -> List[Lease4]:
        addresses = self._sorted_addresses()
        start = bisect_right(addresses, int(after_address))
        by_address = self._by_address
        return [by_address[a] for a in addresses[start:start + max(limit, 0)]]

    def get_expired_leases4(self, now: int, max_leases: int) -> List[Lease4]:
        # expire <= now, for any address.
        limit = (now + 1) << 32
        heap = self._active
        found: List[int] = []
        leases: List[Lease4] = []
        seen: Set[int] = set()
        while heap and heap[0] < limit and (max_leases <= 0 or len(found) < max_leases):
            entry = heapq.heappop(heap)
            if entry in seen:
                continue
            lease = self._live(entry, False)
            if lease is not None:
                seen.add(entry)
                found.append(entry)
                leases.append(lease)
        # Still live until the caller changes them: put them back.
        for entry in found:
            heapq.heappush(heap, entry)
        return leases

    def lease_counts(self) -> List[Tuple[int, int, int]]:
        return sorted((sid, state, n) for (sid, state), n in self._counts.items())

    # -- conveniences ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_address)

    def __iter__(self) -> Iterator[Lease4]:
        return iter(self.get_all_leases4())

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPv4Address) and int(address) in self._by_address

    def deferred(self) -> DeferredLeaseStore:
        """This store behind :class:`ILeaseStore` (fired Deferreds)."""
        return DeferredLeaseStore(self)
