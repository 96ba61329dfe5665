"""
Tests for kea_twisted.leases: the Lease4 value, Kea's belongsToClient rule,
the memfile store's indexes and write-before-change contract, and the
Deferred face (spec/dhcp4.md §3.4, §3.5, §11, §15.2, §16).
"""

from __future__ import annotations

import random
from dataclasses import replace
from ipaddress import IPv4Address as A
from typing import List

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_twisted.leases import (
    DeferredLeaseStore, ILeaseStore, ISyncLeaseStore, Lease4, MemfileLeaseStore, NoSuchLease,
)


def mac(n: int) -> bytes:
    return bytes([0, 0, 0, 0, 0, n])


def lease(addr="10.0.0.10", hw=1, cid=None, valid=7200, cltt=1000, subnet=1, **kw) -> Lease4:
    return Lease4(A(addr), mac(hw) if isinstance(hw, int) else hw, cid, valid, cltt, subnet, **kw)


class RecordingSink:
    def __init__(self):
        self.rows: List[Lease4] = []
        self.fail = False

    def append(self, lease: Lease4) -> None:
        if self.fail:
            raise OSError("disk full")
        self.rows.append(lease)


class Lease4Tests(SynchronousTestCase):
    def test_expire(self):
        """expire is cltt + valid_lifetime (the file's expire column)."""
        self.assertEqual(lease(valid=7200, cltt=1000).expire, 8200)

    def test_is_expired_strict(self):
        """is_expired is Kea's Lease::expired(): strictly after expire."""
        l = lease(valid=100, cltt=1000)
        self.assertFalse(l.is_expired(1100))
        self.assertTrue(l.is_expired(1101))

    def test_belongs_same_client_id(self):
        """Equal client-ids: the lease belongs to the client even with
        another hw-address (spec §11)."""
        l = lease(hw=1, cid=b"\x01\x02")
        self.assertTrue(l.belongs_to(b"\x01\x02", mac(9)))

    def test_belongs_different_client_id(self):
        """Two different client-ids never match, even with the same
        hw-address (belongsToClient)."""
        l = lease(hw=1, cid=b"\x01\x02")
        self.assertFalse(l.belongs_to(b"\x01\x03", mac(1)))

    def test_belongs_falls_back_to_hwaddr(self):
        """A missing client-id on either side makes the hw-address decide."""
        self.assertTrue(lease(hw=1, cid=b"\x01\x02").belongs_to(None, mac(1)))
        self.assertTrue(lease(hw=1, cid=None).belongs_to(b"\x01\x02", mac(1)))
        self.assertFalse(lease(hw=1, cid=None).belongs_to(None, mac(2)))
        self.assertFalse(lease(hw=1, cid=b"").belongs_to(b"", mac(2)))

    def test_hashable_with_user_context(self):
        """user_context does not take part in the hash, so a lease with a
        context can be put in a set."""
        self.assertEqual(len({lease(user_context={"a": 1}), lease(user_context={"a": 1})}), 1)


class MemfileStoreTests(SynchronousTestCase):
    def setUp(self):
        self.sink = RecordingSink()
        self.store = MemfileLeaseStore(self.sink)

    def test_interfaces(self):
        """The memfile store provides ISyncLeaseStore; its Deferred face
        provides ILeaseStore."""
        verifyObject(ISyncLeaseStore, self.store)
        verifyObject(ILeaseStore, self.store.deferred())

    def test_add_writes_first(self):
        """add_lease writes the row and stores the lease; a taken address
        answers False and writes nothing."""
        l = lease()
        self.assertTrue(self.store.add_lease(l))
        self.assertFalse(self.store.add_lease(lease(hw=2)))
        self.assertEqual(self.sink.rows, [l])
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")), l)

    def test_failed_write_changes_nothing(self):
        """If the row cannot be written the store is unchanged (Kea writes
        before changing memory)."""
        self.sink.fail = True
        self.assertRaises(OSError, self.store.add_lease, lease())
        self.assertIsNone(self.store.get_lease4(A("10.0.0.10")))
        self.sink.fail = False
        self.store.add_lease(lease())
        self.sink.fail = True
        self.assertRaises(OSError, self.store.update_lease, lease(hw=5))
        self.assertRaises(OSError, self.store.delete_lease, lease())
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")), lease())
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(1)), [lease()])

    def test_update_missing_raises(self):
        """update_lease of an address without a lease raises NoSuchLease."""
        self.assertRaises(NoSuchLease, self.store.update_lease, lease())
        self.assertEqual(self.sink.rows, [])

    def test_update_reindexes(self):
        """An update moves the lease between hw-address, client-id, subnet
        and hostname indexes."""
        self.store.add_lease(lease(hw=1, cid=b"\x01\x01", subnet=1, hostname="a"))
        new = lease(hw=2, cid=b"\x01\x02", subnet=2, hostname="b")
        self.store.update_lease(new)
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(1)), [])
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(2)), [new])
        self.assertEqual(self.store.get_leases4_by_client_id(b"\x01\x01"), [])
        self.assertEqual(self.store.get_lease4_by_client_id_subnet(b"\x01\x02", 2), new)
        self.assertIsNone(self.store.get_lease4_by_client_id_subnet(b"\x01\x02", 1))
        self.assertEqual(self.store.get_leases4_by_subnet(1), [])
        self.assertEqual(self.store.get_leases4_by_hostname("b"), [new])
        self.assertEqual(self.sink.rows[-1], new)

    def test_delete_writes_stored_lease_with_zero_lifetime(self):
        """A deletion row is the stored lease with valid lifetime 0, so its
        expire is the old cltt (spec §15.2), whatever the caller passed."""
        stored = lease(cltt=1795554037, hostname="h")
        self.store.add_lease(stored)
        self.assertTrue(self.store.delete_lease(replace(stored, hostname="")))
        row = self.sink.rows[-1]
        self.assertEqual((row.valid_lifetime, row.expire, row.hostname), (0, 1795554037, "h"))
        self.assertFalse(self.store.delete_lease(stored))
        self.assertEqual(len(self.sink.rows), 2)

    def test_lookups(self):
        """hw-address and client-id lookups, with and without subnet."""
        a = lease("10.0.0.1", hw=1, cid=b"\x01\x01", subnet=1)
        b = lease("10.0.1.1", hw=1, cid=b"\x01\x01", subnet=2)
        c = lease("10.0.0.2", hw=2, subnet=1)
        for l in (b, c, a):
            self.store.add_lease(l)
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(1)), [a, b])
        self.assertEqual(self.store.get_lease4_by_hwaddr_subnet(mac(1), 2), b)
        self.assertIsNone(self.store.get_lease4_by_hwaddr_subnet(mac(2), 2))
        self.assertEqual(self.store.get_leases4_by_client_id(b"\x01\x01"), [a, b])
        self.assertEqual(self.store.get_leases4_by_client_id(b""), [])
        self.assertEqual(self.store.get_leases4_by_subnet(1), [a, c])
        self.assertEqual(self.store.get_all_leases4(), [a, c, b])
        self.assertEqual(len(self.store), 3)

    def test_page(self):
        """Paging excludes the bound and returns up to limit leases in
        address order (Kea's getLeases4(lower_bound, page_size))."""
        for i in (5, 1, 3, 2, 4):
            self.store.add_lease(lease(f"10.0.0.{i}", hw=i))
        page = self.store.get_leases4_page(A("0.0.0.0"), 2)
        self.assertEqual([str(l.address) for l in page], ["10.0.0.1", "10.0.0.2"])
        page = self.store.get_leases4_page(A("10.0.0.2"), 2)
        self.assertEqual([str(l.address) for l in page], ["10.0.0.3", "10.0.0.4"])
        self.store.delete_lease(lease("10.0.0.5"))
        self.assertEqual(self.store.get_leases4_page(A("10.0.0.4"), 2), [])

    def test_expired_oldest_first_not_reclaimed(self):
        """get_expired_leases4: states 0 and 1 with expire <= now, oldest
        first, limited; state-2 leases are not returned."""
        self.store.add_lease(lease("10.0.0.1", hw=1, valid=10, cltt=100))   # 110
        self.store.add_lease(lease("10.0.0.2", hw=b"", valid=5, cltt=100, state=1))  # 105
        self.store.add_lease(lease("10.0.0.3", hw=3, valid=10, cltt=90, state=2))   # 100
        self.store.add_lease(lease("10.0.0.4", hw=4, valid=10, cltt=101))   # 111
        got = self.store.get_expired_leases4(110, 0)
        self.assertEqual([str(l.address) for l in got], ["10.0.0.2", "10.0.0.1"])
        got = self.store.get_expired_leases4(200, 1)
        self.assertEqual([str(l.address) for l in got], ["10.0.0.2"])
        # Asking does not consume: the same answer again.
        self.assertEqual(len(self.store.get_expired_leases4(200, 0)), 3)

    def test_renewed_lease_leaves_expired_list(self):
        """A renewal moves the lease out of the expired order (stale heap
        entries are ignored)."""
        self.store.add_lease(lease(valid=10, cltt=100))
        self.store.update_lease(lease(valid=10, cltt=1000))
        self.assertEqual(self.store.get_expired_leases4(500, 0), [])
        self.assertEqual(len(self.store.get_expired_leases4(1010, 0)), 1)

    def test_state_change_same_expire(self):
        """A lease reclaimed (state 2) with its expire unchanged leaves the
        not-reclaimed order; made default again it is listed once."""
        self.store.add_lease(lease(valid=10, cltt=100))
        self.store.update_lease(lease(valid=10, cltt=100, state=2))
        self.assertEqual(self.store.get_expired_leases4(200, 0), [])
        self.store.update_lease(lease(valid=10, cltt=100, state=0))
        self.store.update_lease(lease(valid=10, cltt=100, state=0, hostname="h"))
        self.assertEqual(self.store.get_expired_leases4(200, 0), [lease(valid=10, cltt=100, hostname="h")])
        self.assertEqual(self.store.delete_expired_reclaimed_leases4(200, 0), 0)
        self.store.update_lease(lease(valid=10, cltt=100, state=2))
        self.store.update_lease(lease(valid=10, cltt=100, state=2, hostname="h"))
        self.assertEqual(self.store.delete_expired_reclaimed_leases4(200, 0), 1)
        self.assertEqual(len(self.store), 0)

    def test_delete_expired_reclaimed(self):
        """State-2 leases with expire <= now - secs go, one deletion row
        each; others stay."""
        self.store.add_lease(lease("10.0.0.1", hw=1, valid=10, cltt=100, state=2))  # 110
        self.store.add_lease(lease("10.0.0.2", hw=2, valid=10, cltt=200, state=2))  # 210
        self.store.add_lease(lease("10.0.0.3", hw=3, valid=10, cltt=0))            # 10, state 0
        self.sink.rows.clear()
        self.assertEqual(self.store.delete_expired_reclaimed_leases4(now=3710, secs=3600), 1)
        self.assertEqual([(str(r.address), r.valid_lifetime, r.state) for r in self.sink.rows],
                         [("10.0.0.1", 0, 2)])
        self.assertIsNone(self.store.get_lease4(A("10.0.0.1")))
        self.assertIsNotNone(self.store.get_lease4(A("10.0.0.3")))
        self.assertEqual(self.store.delete_expired_reclaimed_leases4(now=3810, secs=3600), 1)

    def test_wipe(self):
        """wipe_leases4 deletes one subnet's leases, writing deletion rows."""
        self.store.add_lease(lease("10.0.0.1", hw=1, subnet=1))
        self.store.add_lease(lease("10.0.0.2", hw=2, subnet=2))
        self.assertEqual(self.store.wipe_leases4(1), 1)
        self.assertEqual([l.subnet_id for l in self.store.get_all_leases4()], [2])
        self.assertEqual(self.sink.rows[-1].valid_lifetime, 0)

    def test_lease_counts(self):
        """lease_counts gives (subnet, state, count) for statistics."""
        self.store.add_lease(lease("10.0.0.1", hw=1, subnet=1))
        self.store.add_lease(lease("10.0.0.2", hw=b"", subnet=1, state=1))
        self.store.add_lease(lease("10.0.0.3", hw=3, subnet=1))
        self.assertEqual(self.store.lease_counts(), [(1, 0, 2), (1, 1, 1)])

    def test_initial_leases_not_written(self):
        """Leases loaded at startup are indexed but not written again."""
        store = MemfileLeaseStore(self.sink, [lease("10.0.0.1", hw=1), lease("10.0.0.1", hw=2)])
        self.assertEqual(self.sink.rows, [])
        self.assertEqual(store.get_lease4(A("10.0.0.1")).hwaddr, mac(2))
        self.assertEqual(store.get_leases4_by_hwaddr(mac(1)), [])

    def test_no_sink(self):
        """persist false: no sink, everything in memory."""
        store = MemfileLeaseStore()
        store.add_lease(lease())
        self.assertTrue(store.delete_lease(lease()))

    def test_heap_stays_bounded(self):
        """Many renewals of one lease do not grow the expiration heap
        without bound (it is rebuilt from live leases)."""
        store = MemfileLeaseStore()
        store.add_lease(lease(cltt=0))
        for i in range(5000):
            store.update_lease(lease(cltt=i))
        self.assertLess(len(store._active), 2100)
        self.assertEqual(store.get_expired_leases4(10 ** 6, 0), [lease(cltt=4999)])

    def test_works_with_allocation_engine(self):
        """The memfile store and Lease4 plug into the allocation engine
        (its store protocol and lease factory): a REQUEST stores and writes
        a lease."""
        from ipaddress import IPv4Network
        from kea_twisted.allocation import AllocationContext, AllocationEngine, PoolRuntime, SubnetRuntime
        subnet = SubnetRuntime(1, IPv4Network("10.0.0.0/24"), [PoolRuntime(int(A("10.0.0.10")), int(A("10.0.0.20")))])
        engine = AllocationEngine(self.store, {}, Lease4)
        ctx = AllocationContext(subnet=subnet, classes=(), hwaddr=mac(1), client_id=None,
                                requested_address=None, now=1000, valid_lifetime=lambda s: 3600)
        result = engine.request_lease4(ctx)
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(1)), [result.lease])
        self.assertEqual(self.sink.rows, [result.lease])


class DeferredStoreTests(SynchronousTestCase):
    def test_fired_results(self):
        """The Deferred face answers with already-fired Deferreds."""
        store = MemfileLeaseStore()
        d = DeferredLeaseStore(store)
        self.assertTrue(self.successResultOf(d.add_lease(lease())))
        self.assertEqual(self.successResultOf(d.get_lease4(A("10.0.0.10"))), lease())
        self.assertEqual(self.successResultOf(d.get_leases4_page(A("0.0.0.0"), 10)), [lease()])
        self.assertEqual(self.successResultOf(d.wipe_leases4(1)), 1)

    def test_errors_are_failures(self):
        """An exception becomes a failed Deferred, not a raise."""
        d = MemfileLeaseStore().deferred()
        self.failureResultOf(d.update_lease(lease()), NoSuchLease)


class NaiveStore:
    """The model: a dict and linear scans."""

    def __init__(self):
        self.leases = {}

    def by(self, pred):
        return sorted((l for l in self.leases.values() if pred(l)), key=lambda l: (l.subnet_id, l.address))


ADDRESSES = [A("10.0.0.%d" % i) for i in range(1, 9)]


class StoreMachine(RuleBasedStateMachine):
    """Random operations on the memfile store against a naive model."""

    def __init__(self):
        super().__init__()
        self.sink = RecordingSink()
        self.store = MemfileLeaseStore(self.sink)
        self.model = NaiveStore()

    leases = st.builds(
        Lease4,
        address=st.sampled_from(ADDRESSES),
        hwaddr=st.sampled_from([b"", mac(1), mac(2)]),
        client_id=st.sampled_from([None, b"\x01\x01", b"\x01\x02"]),
        valid_lifetime=st.integers(0, 50),
        cltt=st.integers(0, 50),
        subnet_id=st.integers(1, 3),
        hostname=st.sampled_from(["", "a", "b"]),
        state=st.integers(0, 2),
    )

    @rule(l=leases)
    def add(self, l):
        expected = l.address not in self.model.leases
        assert self.store.add_lease(l) == expected
        if expected:
            self.model.leases[l.address] = l

    @rule(l=leases)
    def update(self, l):
        if l.address in self.model.leases:
            self.store.update_lease(l)
            self.model.leases[l.address] = l
        else:
            try:
                self.store.update_lease(l)
            except NoSuchLease:
                pass
            else:
                raise AssertionError("update of a missing lease succeeded")

    @rule(address=st.sampled_from(ADDRESSES))
    def delete(self, address):
        expected = address in self.model.leases
        assert self.store.delete_lease(lease(str(address))) == expected
        self.model.leases.pop(address, None)

    @rule(now=st.integers(0, 120), secs=st.integers(0, 30))
    def flush(self, now, secs):
        doomed = [l for l in self.model.leases.values() if l.state == 2 and l.expire <= now - secs]
        assert self.store.delete_expired_reclaimed_leases4(now, secs) == len(doomed)
        for l in doomed:
            del self.model.leases[l.address]

    @rule(now=st.integers(0, 120), limit=st.integers(0, 4))
    def expired(self, now, limit):
        want = sorted((l for l in self.model.leases.values() if l.state != 2 and l.expire <= now),
                      key=lambda l: (l.expire, l.address))
        if limit:
            want = want[:limit]
        assert self.store.get_expired_leases4(now, limit) == want

    @invariant()
    def indexes_agree(self):
        # The store changed step by step, and one built at once from the
        # same leases (as at startup from the lease file).
        for store in (self.store, MemfileLeaseStore(leases=list(self.model.leases.values()))):
            self.check_store(store)

    def check_store(self, store):
        m = self.model
        assert store.get_all_leases4() == sorted(m.leases.values(), key=lambda l: l.address)
        for hw in (b"", mac(1), mac(2)):
            assert store.get_leases4_by_hwaddr(hw) == m.by(lambda l: l.hwaddr == hw)
            for sid in (1, 2, 3):
                got = store.get_lease4_by_hwaddr_subnet(hw, sid)
                want = m.by(lambda l: l.hwaddr == hw and l.subnet_id == sid)
                assert got == (want[0] if want else None)
        for cid in (b"\x01\x01", b"\x01\x02"):
            assert store.get_leases4_by_client_id(cid) == m.by(lambda l: l.client_id == cid)
            for sid in (1, 2, 3):
                got = store.get_lease4_by_client_id_subnet(cid, sid)
                want = m.by(lambda l: l.client_id == cid and l.subnet_id == sid)
                assert got == (want[0] if want else None)
        for sid in (1, 2, 3):
            assert store.get_leases4_by_subnet(sid) == m.by(lambda l: l.subnet_id == sid)
        for name in ("", "a", "b"):
            want = sorted((l for l in m.leases.values() if l.hostname == name), key=lambda l: l.address)
            assert store.get_leases4_by_hostname(name) == want
        counts = {}
        for l in m.leases.values():
            counts[(l.subnet_id, l.state)] = counts.get((l.subnet_id, l.state), 0) + 1
        assert store.lease_counts() == sorted((sid, state, n) for (sid, state), n in counts.items())
        for now in (0, 40, 120):
            want = sorted((l for l in m.leases.values() if l.state != 2 and l.expire <= now),
                          key=lambda l: (l.expire, l.address))
            assert store.get_expired_leases4(now, 0) == want
        if store is not self.store:
            reclaimed = [l for l in m.leases.values() if l.state == 2 and l.expire <= 60]
            assert store.delete_expired_reclaimed_leases4(60, 0) == len(reclaimed)


StoreMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


class StoreMachineTests(SynchronousTestCase):
    def test_against_model(self):
        """Random add/update/delete/flush sequences keep every index equal to
        a naive scan of a dict (hypothesis stateful)."""
        StoreMachine.TestCase("runTest").runTest()

    def test_scale(self):
        """100k leases: the expiration order still answers the oldest few
        (smoke test of the heap, not a benchmark)."""
        store = MemfileLeaseStore()
        rng = random.Random(7)
        for i in range(100_000):
            store.add_lease(Lease4(A(0x0A000000 + i), mac(i % 250), None, 3600, rng.randrange(10 ** 6), 1))
        oldest = store.get_expired_leases4(10 ** 7, 10)
        self.assertEqual(len(oldest), 10)
        self.assertEqual([l.expire for l in oldest], sorted(l.expire for l in oldest))
        self.assertEqual(oldest[0].expire, min(l.expire for l in store.get_all_leases4()))


class OccupancyIndexTests(SynchronousTestCase):
    """``next_free_address``, the allocator's occupancy index, against a
    scan of the store, through every way a store changes."""

    # A range across a /16 boundary: two chunks of the index.
    FIRST, LAST = int(A("10.0.255.200")), int(A("10.1.0.60"))

    def naive(self, store, first, last, now):
        """The first address without a lease that is still valid at ``now``
        (or with a reclaimed one: the index lets the allocator check it)."""
        for address in range(first, last + 1):
            held = store.get_lease4(A(address))
            if held is None or held.is_reclaimed or held.is_expired(now):
                return address
        return None

    def random_lease(self, rng, now, address=None):
        return lease(str(A(address if address is not None else rng.randint(self.FIRST, self.LAST))),
                     hw=rng.randint(1, 40), valid=rng.randint(0, 60), cltt=now - rng.randint(0, 60),
                     state=rng.choice([0, 0, 0, 1, 2]), hostname=rng.choice(["", "h"]))

    def check_store(self, seed, break_index=False):
        rng = random.Random(seed)
        now = 1000
        full = rng.random()
        initial = [self.random_lease(rng, now, a) for a in range(self.FIRST, self.LAST + 1) if rng.random() < full]
        store = MemfileLeaseStore(leases=initial)
        if break_index:
            # A stale index on purpose: deletions forget to clear the byte.
            store.next_free_address(self.FIRST, self.LAST, now)
            store._unindex = lambda old, unindex=store._unindex, occupancy=store._occupancy: (
                setattr(store, "_occupancy", None), unindex(old), setattr(store, "_occupancy", occupancy))
        for _step in range(150):
            now += rng.choice([0, 0, 1, 3, 10])
            op = rng.randrange(6)
            held = store.get_all_leases4()
            if op == 0:
                store.add_lease(self.random_lease(rng, now))
            elif op == 1 and held:
                store.delete_lease(rng.choice(held))
            elif op == 2 and held:
                old = rng.choice(held)
                store.update_lease(replace(old, cltt=now, valid_lifetime=rng.randint(0, 40),
                                           state=rng.choice([0, 2])))
            elif op == 3:
                for expired in store.get_expired_leases4(now, rng.randint(0, 5)):
                    store.update_lease(replace(expired, state=2))
                store.delete_expired_reclaimed_leases4(now, rng.randint(0, 30))
            elif op == 4 and rng.random() < 0.05:
                store.wipe_leases4(1)
            first = rng.randint(self.FIRST, self.LAST)
            last = rng.randint(first, self.LAST)
            self.assertEqual(store.next_free_address(first, last, now), self.naive(store, first, last, now),
                             f"seed {seed}, step {_step}, [{A(first)}, {A(last)}] at {now}")

    def test_same_as_scan(self):
        """Time moving forward: exactly the first address that is free,
        expired or reclaimed, after adds, updates, deletes, reclamation,
        flushes and wipes."""
        for seed in range(60):
            self.check_store(seed)

    def test_stale_index_is_caught(self):
        """The comparison above fails when the index misses a deletion."""
        failed = 0
        for seed in range(60):
            try:
                self.check_store(seed, break_index=True)
            except self.failureException:
                failed += 1
        self.assertGreater(failed, 30)

    def test_never_skips_a_candidate(self):
        """Time also moving back: every address below the answer holds a
        lease not expired at ``now``; None only if every one does."""
        rng = random.Random(7)
        store = MemfileLeaseStore(leases=[self.random_lease(rng, 1000, a) for a in range(self.FIRST, self.LAST + 1)
                                          if rng.random() < 0.9])
        for _step in range(400):
            now = 1000 + rng.randint(-80, 80)
            if rng.random() < 0.3:
                store.add_lease(self.random_lease(rng, now))
            first = rng.randint(self.FIRST, self.LAST)
            last = rng.randint(first, self.LAST)
            answer = store.next_free_address(first, last, now)
            for address in range(first, last + 1 if answer is None else answer):
                held = store.get_lease4(A(address))
                self.assertTrue(held is not None and not held.is_expired(now), f"{A(address)} skipped at {now}")

    def test_large_store_chunk(self):
        """Chunks of a store with more leases than a /16 are built from the
        addresses, not from every lease."""
        leases = [lease(str(A(a)), valid=100, cltt=1000) for a in range(int(A("10.0.0.0")), int(A("10.1.8.0")))]
        store = MemfileLeaseStore(leases=leases)
        store.delete_lease(leases[66000])
        self.assertEqual(store.next_free_address(int(A("10.0.0.0")), int(A("10.1.255.255")), 1050),
                         int(leases[66000].address))
        self.assertIsNone(store.next_free_address(int(A("10.0.0.0")), int(A("10.0.255.255")), 1050))
        self.assertEqual(store.next_free_address(int(A("10.0.0.0")), int(A("10.0.255.255")), 1101),
                         int(A("10.0.0.0")))

    def test_chunk_built_either_way(self):
        """A /16's bytes are the same built from the heaps' exceptions or
        lease by lease, whatever the reclaimed and expired leases."""
        for seed in range(20):
            rng = random.Random(seed)
            store = MemfileLeaseStore(leases=[self.random_lease(rng, 1000, a)
                                              for a in range(self.FIRST, self.LAST + 1) if rng.random() < 0.8])
            store.next_free_address(self.FIRST, self.FIRST, 1000 + rng.randint(-60, 60))
            for _ in range(20):
                store.add_lease(self.random_lease(rng, 1000))
            for index in (self.FIRST >> 16, self.LAST >> 16):
                from_heaps = bytes(store._occupancy_chunk(index))
                by_lease = store._takeable_entries
                store._takeable_entries = lambda swept: None
                self.assertEqual(bytes(store._occupancy_chunk(index)), from_heaps, f"seed {seed}")
                store._takeable_entries = by_lease
