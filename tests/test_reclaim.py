"""
Tests for kea_twisted.reclaim: Kea's reclamation and flush passes with plain
``now`` values (spec/dhcp4.md §15.2, §16; alloc_engine.cc).
"""

from __future__ import annotations

from ipaddress import IPv4Address as A
from typing import List

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.leasefile import format_row
from kea_twisted.leases import Lease4, MemfileLeaseStore
from kea_twisted.reclaim import ExpirationConfig, LeaseReclaimer, Outcome


def mac(n: int) -> bytes:
    return bytes([0, 0, 0, 0, 0, n])


class RowSink:
    def __init__(self):
        self.rows: List[str] = []

    def append(self, lease: Lease4) -> None:
        self.rows.append(format_row(lease))


def lease(i, valid=100, cltt=1000, state=0, host="h1", fwd=True, subnet=1) -> Lease4:
    hw = b"" if state == 1 else mac(i)
    if state == 1:
        return Lease4(A(f"10.0.0.{i}"), b"", None, valid, cltt, subnet, False, False, "", state)
    return Lease4(A(f"10.0.0.{i}"), mac(i), None, valid, cltt, subnet, fwd, fwd, host, state)


class ConfigTests(SynchronousTestCase):
    def test_defaults(self):
        """Kea's expired-leases-processing defaults (spec §16)."""
        c = ExpirationConfig.from_config(None)
        self.assertEqual((c.reclaim_timer_wait_time, c.flush_reclaimed_timer_wait_time, c.hold_reclaimed_time,
                          c.max_reclaim_leases, c.max_reclaim_time, c.unwarned_reclaim_cycles),
                         (10, 25, 3600, 100, 250, 5))
        self.assertFalse(c.remove_reclaimed)

    def test_from_kea_keys(self):
        """Kea's dashed keys; flush timer 0 means delete at once."""
        c = ExpirationConfig.from_config({"flush-reclaimed-timer-wait-time": 0, "max-reclaim-leases": 3})
        self.assertTrue(c.remove_reclaimed)
        self.assertEqual(c.max_reclaim_leases, 3)


class ReclaimTests(SynchronousTestCase):
    def setUp(self):
        self.sink = RowSink()
        self.store = MemfileLeaseStore(self.sink)

    def reclaimer(self, **kw):
        callouts = {k: kw.pop(k) for k in ("expire_callout", "recover_callout", "clock") if k in kw}
        return LeaseReclaimer(self.store, ExpirationConfig(**kw), **callouts)

    def test_expired_lease_goes_to_state_2(self):
        """An expired state-0 lease is written back in state 2 with hostname
        and FQDN flags cleared, cltt and lifetime unchanged (spec §15.2)."""
        self.store.add_lease(lease(1, valid=100, cltt=1000))
        self.sink.rows.clear()
        result = self.reclaimer().reclaim(now=1100)
        self.assertEqual(self.sink.rows, ["10.0.0.1,00:00:00:00:00:01,,100,1100,1,0,0,,2,"])
        self.assertEqual([r.outcome for r in result.leases], [Outcome.RECLAIMED])
        self.assertEqual(self.store.get_lease4(A("10.0.0.1")).state, 2)
        self.assertEqual(result.stats, [("subnet[1].assigned-addresses", -1), ("reclaimed-leases", 1),
                                        ("subnet[1].reclaimed-leases", 1)])
        self.assertFalse(result.incomplete)

    def test_not_yet_expired(self):
        """expire > now: nothing happens."""
        self.store.add_lease(lease(1, valid=100, cltt=1000))
        self.assertEqual(self.reclaimer().reclaim(now=1099).leases, [])

    def test_declined_deleted(self):
        """A declined lease past probation is deleted (a state-1 deletion row)
        with the declined statistics (ALLOC_ENGINE_V4_DECLINED_RECOVERED)."""
        self.store.add_lease(lease(19, valid=86400, cltt=1795640442 - 86400, state=1))
        self.sink.rows.clear()
        result = self.reclaimer().reclaim(now=1795640442)
        self.assertEqual(self.sink.rows, ["10.0.0.19,,,0,1795554042,1,0,0,,1,"])
        self.assertIsNone(self.store.get_lease4(A("10.0.0.19")))
        self.assertEqual(result.leases[0].outcome, Outcome.DECLINED_RECOVERED)
        self.assertIn(("reclaimed-declined-addresses", 1), result.stats)
        self.assertIn(("declined-addresses", -1), result.stats)

    def test_recover_skip_keeps_declined_as_reclaimed(self):
        """lease4_recover skipping keeps the lease: Kea then updates it to
        state 2 — which, persisted, fails (a state-2 row needs a hw-address
        or client-id; Kea's CSV writer refuses) and the lease stays
        declined; without a file it becomes state 2."""
        self.store.add_lease(lease(19, valid=10, cltt=0, state=1))
        result = self.reclaimer(recover_callout=lambda l: True).reclaim(now=100)
        self.assertEqual(result.leases[0].outcome, Outcome.FAILED)
        self.assertEqual(self.store.get_lease4(A("10.0.0.19")).state, 1)
        self.flushLoggedErrors()
        self.store = MemfileLeaseStore(None, [lease(19, valid=10, cltt=0, state=1)])
        result = self.reclaimer(recover_callout=lambda l: True).reclaim(now=100)
        self.assertEqual(result.leases[0].outcome, Outcome.RECLAIMED)
        self.assertEqual(self.store.get_lease4(A("10.0.0.19")).state, 2)

    def test_remove_when_flush_timer_zero(self):
        """flush-reclaimed-timer-wait-time 0: reclamation deletes; the row is
        the stored lease (hostname still there) with lifetime 0."""
        self.store.add_lease(lease(1, valid=100, cltt=1000, host="keep"))
        self.sink.rows.clear()
        result = self.reclaimer(flush_reclaimed_timer_wait_time=0).reclaim(now=2000)
        self.assertEqual(self.sink.rows, ["10.0.0.1,00:00:00:00:00:01,,0,1000,1,1,1,keep,0,"])
        self.assertEqual(result.leases[0].outcome, Outcome.REMOVED)
        self.assertEqual(len(self.store), 0)

    def test_expire_callout_skip(self):
        """lease4_expire skipping leaves the store alone, but Kea still
        counts the lease as reclaimed; the callout sees remove_lease."""
        seen = []
        self.store.add_lease(lease(1, valid=10, cltt=0))
        self.sink.rows.clear()
        result = self.reclaimer(expire_callout=lambda l, remove: seen.append((l.hostname, remove)) or True
                                ).reclaim(now=100)
        self.assertEqual(seen, [("h1", False)])
        self.assertEqual(self.sink.rows, [])
        self.assertEqual(result.leases[0].outcome, Outcome.SKIPPED)
        self.assertIn(("reclaimed-leases", 1), result.stats)

    def test_limit_and_order(self):
        """max-reclaim-leases: the oldest first; more left = incomplete."""
        for i, cltt in ((1, 30), (2, 10), (3, 20)):
            self.store.add_lease(lease(i, valid=10, cltt=cltt))
        result = self.reclaimer(max_reclaim_leases=2).reclaim(now=100)
        self.assertEqual([str(r.lease.address) for r in result.leases], ["10.0.0.2", "10.0.0.3"])
        self.assertTrue(result.incomplete)
        result = self.reclaimer(max_reclaim_leases=2).reclaim(now=100)
        self.assertEqual([str(r.lease.address) for r in result.leases], ["10.0.0.1"])
        self.assertFalse(result.incomplete)

    def test_zero_limit_means_all(self):
        """max-reclaim-leases 0 reclaims everything expired."""
        for i in range(1, 6):
            self.store.add_lease(lease(i, valid=10, cltt=0))
        self.assertEqual(len(self.reclaimer(max_reclaim_leases=0).reclaim(now=100).leases), 5)

    def test_reclaimed_not_reclaimed_again(self):
        """A state-2 lease is not picked up by the next pass."""
        self.store.add_lease(lease(1, valid=10, cltt=0))
        r = self.reclaimer()
        r.reclaim(now=100)
        self.assertEqual(r.reclaim(now=200).leases, [])

    def test_timeout(self):
        """max-reclaim-time stops the pass after the lease that crossed it."""
        for i in range(1, 4):
            self.store.add_lease(lease(i, valid=10, cltt=0))
        ticks = iter([0.0, 0.3, 0.6, 0.9])
        result = self.reclaimer(clock=lambda: next(ticks), max_reclaim_time=250).reclaim(now=100)
        self.assertEqual(len(result.leases), 1)
        self.assertTrue(result.incomplete)

    def test_slow_warning(self):
        """More than unwarned-reclaim-cycles incomplete passes in a row warn
        once and restart the count."""
        for i in range(1, 20):
            self.store.add_lease(lease(i, valid=10, cltt=0))
        r = self.reclaimer(max_reclaim_leases=1, unwarned_reclaim_cycles=2)
        warnings = [r.reclaim(now=100).warn_slow for _ in range(6)]
        self.assertEqual(warnings, [False, False, True, False, False, True])

    def test_flush(self):
        """The flush pass deletes state-2 leases whose expire is at least
        hold-reclaimed-time old, with a state-2 deletion row (spec §15.2)."""
        self.store.add_lease(lease(1, valid=100, cltt=1000))
        r = self.reclaimer(hold_reclaimed_time=3600)
        r.reclaim(now=1100)
        self.assertEqual(r.flush(now=4699), 0)
        self.sink.rows.clear()
        self.assertEqual(r.flush(now=4700), 1)
        self.assertEqual(self.sink.rows, ["10.0.0.1,00:00:00:00:00:01,,0,1000,1,0,0,,2,"])
        self.assertEqual(len(self.store), 0)

    def test_failure_logged_and_pass_goes_on(self):
        """A store error on one lease is logged; the others are reclaimed."""
        class Flaky(RowSink):
            def append(self, l):
                if str(l.address) == "10.0.0.1":
                    raise OSError("disk full")
                super().append(l)
        self.store = MemfileLeaseStore(None, [lease(1, valid=10, cltt=0), lease(2, valid=10, cltt=5)])
        self.store.sink = Flaky()
        result = self.reclaimer().reclaim(now=100)
        self.assertEqual([r.outcome for r in result.leases], [Outcome.FAILED, Outcome.RECLAIMED])
        self.assertEqual(len(result.stats), 3)
        self.flushLoggedErrors()
