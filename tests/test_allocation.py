"""
Tests for kea_twisted.allocation: Kea 2.2's allocation engine and its
iterative allocator (spec/dhcp4.md §3.2, §6, §7; alloc_engine.cc).
"""

from __future__ import annotations

import random
from dataclasses import replace
from ipaddress import IPv4Address as A, IPv4Network

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.leases import Lease4 as FakeLease
from kea_twisted.allocation import (
    AllocationContext, AllocationEngine, NetworkRuntime, PoolRuntime, ReservationView, SubnetRuntime,
)


class FakeStore:
    def __init__(self):
        self.leases = {}
        self.deleted = []

    def get_lease4(self, address):
        return self.leases.get(address)

    def get_leases4_by_client_id(self, client_id):
        return [l for l in self.leases.values() if l.client_id == client_id]

    def get_leases4_by_hwaddr(self, hwaddr):
        return [l for l in self.leases.values() if l.hwaddr == hwaddr]

    def add_lease(self, lease):
        if lease.address in self.leases:
            return False
        self.leases[lease.address] = lease
        return True

    def update_lease(self, lease):
        self.leases[lease.address] = lease

    def delete_lease(self, lease):
        self.deleted.append(lease)
        return self.leases.pop(lease.address, None) is not None


def pool(first, last, client_class=None):
    return PoolRuntime(int(A(first)), int(A(last)), client_class)


def subnet(sid, prefix, *pools, **kw):
    return SubnetRuntime(sid, IPv4Network(prefix), list(pools), **kw)


def engine(store=None, reserved=None):
    return AllocationEngine(store or FakeStore(), reserved or {}, FakeLease)


def ctx(s, mac=b"\x02\0\0\0\0\x01", cid=None, requested=None, now=1000, fake=True, classes=(), **kw):
    return AllocationContext(subnet=s, classes=list(classes), hwaddr=mac, client_id=cid,
                             requested_address=A(requested) if requested else None, now=now,
                             valid_lifetime=lambda s: 7200, fake_allocation=fake, **kw)


def mac(n):
    return bytes([2, 0, 0, 0, 0, n])


class IterativeAllocatorTests(SynchronousTestCase):
    def test_starts_at_first_address(self):
        """The first pick is the first address of the lowest pool."""
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.20"))
        self.assertEqual(A(engine().pick_address(s, ())), A("10.0.0.10"))

    def test_pools_sorted_by_first_address(self):
        """Pools are used in address order whatever the config order (§7.1)."""
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.50", "10.0.0.51"), pool("10.0.0.10", "10.0.0.11"))
        e = engine()
        picks = [str(A(e.pick_address(s, ()))) for _ in range(5)]
        self.assertEqual(picks, ["10.0.0.10", "10.0.0.11", "10.0.0.50", "10.0.0.51", "10.0.0.10"])

    def test_class_guarded_pool_skipped(self):
        """Pools the client's classes may not use are skipped; the subnet's
        cursor is shared by all clients, so a phone continues in the open
        pool where the last pick was, then wraps to its own pool."""
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.11", "phones"), pool("10.0.0.20", "10.0.0.21"))
        e = engine()
        self.assertEqual(A(e.pick_address(s, ())), A("10.0.0.20"))
        self.assertEqual(A(e.pick_address(s, ["phones"])), A("10.0.0.21"))
        self.assertEqual(A(e.pick_address(s, ["phones"])), A("10.0.0.10"))


    def test_peek_is_the_next_pick_and_moves_nothing(self):
        """peek_address answers what pick_address returns next, across
        pools, class guards and the wrap-around, and leaves every cursor
        where it was: peeking before each pick changes no pick."""
        layout = [pool("10.0.0.50", "10.0.0.51"), pool("10.0.0.10", "10.0.0.11", "phones"),
                  pool("10.0.0.20", "10.0.0.21")]
        plain, peeking = subnet(1, "10.0.0.0/24", *layout), subnet(1, "10.0.0.0/24", *[
            pool(str(A(p.first)), str(A(p.last)), p.client_class) for p in layout])
        e1, e2 = engine(), engine()
        for classes in [(), ["phones"], (), (), ["phones"], (), ["phones"], (), ()]:
            expected = e1.pick_address(plain, classes)
            self.assertEqual(e2.peek_address(peeking, classes), expected)
            self.assertEqual(e2.peek_address(peeking, classes), expected)
            self.assertEqual(e2.pick_address(peeking, classes), expected)
        self.assertEqual(peeking.last_allocated_order, plain.last_allocated_order)
        self.assertEqual([(p.last_allocated, p.valid) for p in peeking.pools],
                         [(p.last_allocated, p.valid) for p in plain.pools])

    def test_peek_without_an_allowed_pool(self):
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.11", "phones"))
        self.assertIsNone(engine().peek_address(s, ()))


class DiscoverTests(SynchronousTestCase):
    def test_discovers_advance(self):
        """Every DISCOVER advances the allocator although nothing is stored
        (spec §3.1: 10.0.0.10 then 10.0.0.11)."""
        store = FakeStore()
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.20"))
        e = engine(store)
        first = e.discover_lease4(ctx(s)).lease
        second = e.discover_lease4(ctx(s)).lease
        self.assertEqual((first.address, second.address), (A("10.0.0.10"), A("10.0.0.11")))
        self.assertEqual(store.leases, {})

    def test_existing_lease_beats_requested(self):
        """An existing lease is offered even when option 50 asks for another."""
        store = FakeStore()
        store.add_lease(FakeLease(A("10.0.0.15"), mac(1), None, 7200, 1000, 1))
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.20"))
        result = engine(store).discover_lease4(ctx(s, requested="10.0.0.17"))
        self.assertEqual(result.lease.address, A("10.0.0.15"))

    def test_requested_free_address(self):
        """A free requested address in a pool is offered and does not move
        the allocator."""
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.20"))
        e = engine()
        self.assertEqual(e.discover_lease4(ctx(s, requested="10.0.0.17")).lease.address, A("10.0.0.17"))
        self.assertEqual(e.discover_lease4(ctx(s, mac=mac(2))).lease.address, A("10.0.0.10"))

    def test_leased_and_reserved_skipped(self):
        """The allocator skips valid leases and addresses reserved for others."""
        store = FakeStore()
        store.add_lease(FakeLease(A("10.0.0.10"), mac(9), None, 7200, 1000, 1))
        reserved = {(1, A("10.0.0.11")): ReservationView("hw-address", mac(8), A("10.0.0.11"))}
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.20"))
        result = engine(store, reserved).discover_lease4(ctx(s, host_identifiers=[("hw-address", mac(1))]))
        self.assertEqual(result.lease.address, A("10.0.0.12"))

    def test_expired_lease_reused(self):
        """An expired lease's address is reused."""
        store = FakeStore()
        store.add_lease(FakeLease(A("10.0.0.10"), mac(9), None, 10, 0, 1))
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.10"))
        self.assertEqual(engine(store).discover_lease4(ctx(s, now=1000)).lease.address, A("10.0.0.10"))

    def test_exhausted(self):
        """Nothing free: no lease."""
        store = FakeStore()
        store.add_lease(FakeLease(A("10.0.0.10"), mac(9), None, 7200, 1000, 1))
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.10"))
        self.assertIsNone(engine(store).discover_lease4(ctx(s)).lease)

    def test_reservation_first(self):
        """The client's reserved address wins, even outside the pools."""
        s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.20"))
        host = ReservationView("hw-address", mac(1), A("10.0.0.100"))
        result = engine().discover_lease4(ctx(s, hosts={1: host}, host_identifiers=[("hw-address", mac(1))]))
        self.assertEqual(result.lease.address, A("10.0.0.100"))


class SharedNetworkTests(SynchronousTestCase):
    def test_spill_to_next_subnet(self):
        """Subnet 1 fills first, then subnet 2 (§6), then nothing."""
        store = FakeStore()
        net = NetworkRuntime("office")
        s1 = subnet(1, "10.1.0.0/24", pool("10.1.0.10", "10.1.0.11"), network=net)
        s2 = subnet(2, "10.2.0.0/24", pool("10.2.0.10", "10.2.0.11"), network=net)
        net.subnets = [s1, s2]
        e = engine(store)
        got = []
        for n in range(1, 6):
            result = e.request_lease4(ctx(s1, mac=mac(n), fake=False))
            got.append(str(result.lease.address) if result.lease else None)
        self.assertEqual(got, ["10.1.0.10", "10.1.0.11", "10.2.0.10", "10.2.0.11", None])


class RequestTests(SynchronousTestCase):
    def setUp(self):
        self.store = FakeStore()
        self.s = subnet(1, "10.0.0.0/24", pool("10.0.0.10", "10.0.0.20"))
        self.e = engine(self.store)

    def test_new_lease_stored(self):
        """A REQUEST for a free pool address stores the lease."""
        result = self.e.request_lease4(ctx(self.s, requested="10.0.0.12", fake=False))
        self.assertEqual(result.lease.address, A("10.0.0.12"))
        self.assertIn(A("10.0.0.12"), self.store.leases)

    def test_leased_to_other(self):
        """An address leased to another client: no lease (NAK)."""
        self.store.add_lease(FakeLease(A("10.0.0.12"), mac(9), None, 7200, 1000, 1))
        result = self.e.request_lease4(ctx(self.s, requested="10.0.0.12", fake=False))
        self.assertIsNone(result.lease)
        self.assertFalse(result.unknown_requested_addr)

    def test_out_of_pool_is_unknown(self):
        """An address outside every pool: unknown (silence, not NAK)."""
        result = self.e.request_lease4(ctx(self.s, requested="10.0.0.200", fake=False))
        self.assertIsNone(result.lease)
        self.assertTrue(result.unknown_requested_addr)

    def test_moves_lease(self):
        """A client asking for another free address gets it; its old lease is deleted."""
        self.store.add_lease(FakeLease(A("10.0.0.10"), mac(1), None, 7200, 1000, 1))
        result = self.e.request_lease4(ctx(self.s, requested="10.0.0.15", fake=False))
        self.assertEqual(result.lease.address, A("10.0.0.15"))
        self.assertEqual([l.address for l in self.store.deleted], [A("10.0.0.10")])

    def test_no_hint_gets_own_lease(self):
        """A REQUEST without hints from a client with a lease gets it again."""
        self.store.add_lease(FakeLease(A("10.0.0.14"), mac(1), None, 7200, 1000, 1))
        result = self.e.request_lease4(ctx(self.s, fake=False, now=2000))
        self.assertEqual((result.lease.address, result.lease.cltt), (A("10.0.0.14"), 2000))


class PlainScanStore:
    """A memfile store without its occupancy index (as the PostgreSQL
    store): the allocator falls back to checking every candidate."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        if name == "next_free_address":
            raise AttributeError(name)
        return getattr(self._store, name)


class OccupancyIndexAllocationTests(SynchronousTestCase):
    """The allocator with the memfile store's occupancy index picks what
    the plain scan picks (Kea's order), leaves the cursors where it leaves
    them and counts the same statistics, over random pools, leases,
    expiry, reservations, classes and shared networks."""

    def world(self, seed, indexed):
        from kea_twisted.leases import MemfileLeaseStore

        rng = random.Random(seed)
        # Pools cut from a span across a /16 boundary (two index chunks).
        span_first, span_last = int(A("10.0.255.180")), int(A("10.1.0.70"))
        cuts = sorted(rng.sample(range(span_first, span_last + 1), 2 * rng.randint(2, 4)))
        ranges = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2)]
        shared = rng.random() < 0.4
        network = NetworkRuntime("net") if shared else None
        subnets = []
        split = rng.randint(1, len(ranges) - 1) if shared else len(ranges)
        for sid, part in ((1, ranges[:split]), (2, ranges[split:])):
            if not part:
                continue
            pools = [PoolRuntime(first, last, "gold" if rng.random() < 0.25 else None) for first, last in part]
            subnets.append(SubnetRuntime(sid, IPv4Network("10.0.0.0/14"), pools, network=network))
        if network is not None:
            network.subnets = subnets
        addresses = [a for first, last in ranges for a in range(first, last + 1)]
        full = rng.choice([0.5, 0.9, 1.0, 1.0])
        now = 10_000
        leases = []
        for address in addresses:
            if rng.random() < full:
                leases.append(FakeLease(A(address), mac(rng.randint(100, 250)), None, rng.randint(0, 300),
                                        now - rng.randint(0, 300), rng.choice([s.id for s in subnets]),
                                        state=rng.choice([0, 0, 0, 0, 1, 2])))
        memfile = MemfileLeaseStore(leases=leases)
        reserved = {}
        for address in rng.sample(addresses, min(len(addresses), 6)):
            for s in subnets:
                reserved[(s.id, A(address))] = ReservationView("hw-address", mac(rng.randint(1, 20)), A(address))
        e = AllocationEngine(memfile if indexed else PlainScanStore(memfile), reserved, FakeLease)
        stats = []
        e.on_stat = lambda name, delta: stats.append((name, delta))
        return rng, e, memfile, subnets, addresses, stats

    def cursors(self, subnets):
        return [(s.last_allocated, s.last_allocated_order, [(p.last_allocated, p.valid) for p in s.pools])
                for s in subnets]

    def run_world(self, seed, indexed):
        rng, e, memfile, subnets, addresses, stats = self.world(seed, indexed)
        now = 10_000
        trace = []
        for step in range(40):
            now += rng.choice([0, 1, 5, 60, 200]) if rng.random() < 0.9 else -rng.randint(1, 100)
            op = rng.random()
            if op < 0.15:
                # Leases change under the allocator: reclaimed, deleted.
                for expired in memfile.get_expired_leases4(now, 10):
                    memfile.update_lease(replace(expired, state=2))
                memfile.delete_expired_reclaimed_leases4(now, rng.choice([0, 100]))
                trace.append(("reclaim", len(memfile)))
                continue
            client = rng.randint(1, 40)
            classes = ["gold"] if rng.random() < 0.3 else []
            requested = rng.choice(addresses) if rng.random() < 0.2 else None
            c = AllocationContext(
                subnet=rng.choice(subnets), classes=classes, hwaddr=mac(client), client_id=None,
                requested_address=A(requested) if requested else None, now=now,
                valid_lifetime=lambda s: rng.choice([30, 600]), fake_allocation=op < 0.5,
                host_identifiers=[("hw-address", mac(client))])
            del stats[:]
            result = e.discover_lease4(c) if op < 0.5 else e.request_lease4(c)
            trace.append((step, str(result.lease.address) if result.lease else None, result.subnet.id,
                          list(stats), self.cursors(subnets)))
        trace.append(("store", memfile.get_all_leases4()))
        return trace

    def test_same_choices_as_plain_scan(self):
        for seed in range(120):
            indexed, plain = self.run_world(seed, True), self.run_world(seed, False)
            for got, expected in zip(indexed, plain):
                self.assertEqual(got, expected, f"seed {seed}")
            self.assertEqual(len(indexed), len(plain))

    def test_full_pool_answered_at_once(self):
        """Every address leased: the same failure as the scan's, with a
        handful of store look-ups instead of one per address."""
        from kea_twisted.leases import MemfileLeaseStore

        first, last = int(A("10.0.0.10")), int(A("10.0.3.250"))
        results = []
        for indexed in (True, False):
            store = MemfileLeaseStore(leases=[FakeLease(A(a), mac(9), None, 7200, 1000, 1)
                                              for a in range(first, last + 1)])
            counting = CountingStore(store, indexed)
            e = engine(counting)
            stats = []
            e.on_stat = lambda name, delta: stats.append((name, delta))
            s = subnet(1, "10.0.0.0/22", PoolRuntime(first, last))
            for n in range(3):
                result = e.discover_lease4(ctx(s, mac=mac(n), now=2000))
                self.assertIsNone(result.lease)
            results.append((stats, self.cursors([s]), counting.lookups))
        (stats, cursors, lookups), (plain_stats, plain_cursors, plain_lookups) = results
        self.assertEqual((stats, cursors), (plain_stats, plain_cursors))
        self.assertEqual(plain_lookups, 3 * (last - first + 1))
        self.assertLessEqual(lookups, 3 * 2)


class CountingStore(PlainScanStore):
    """Counts get_lease4; hides the occupancy index unless ``indexed``."""

    def __init__(self, store, indexed):
        super().__init__(store)
        self.lookups = 0
        if indexed:
            self.next_free_address = store.next_free_address

    def get_lease4(self, address):
        self.lookups += 1
        return self._store.get_lease4(address)
