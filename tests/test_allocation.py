"""
Tests for kea_twisted.allocation: Kea 2.2's allocation engine and its
iterative allocator (spec/dhcp4.md §3.2, §6, §7; alloc_engine.cc).
"""

from __future__ import annotations

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
