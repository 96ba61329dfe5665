"""
Tests for kea_twisted.stats: Kea's StatsMgr and the statistics kea-dhcp4
keeps (spec/control-channel.md §3, §4).
"""

from __future__ import annotations

import time
from datetime import timedelta

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.stats import (
    DHCP4_STATISTICS,
    Observation,
    StatsError,
    StatsMgr,
    clock_to_text,
    duration_to_text,
    init_dhcp4_statistics,
    remove_subnet_statistics,
    subnet_stat_name,
    update_config_statistics,
)

T0 = 1_795_584_000.0


def utc(seconds):
    return time.gmtime(seconds)


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(now: float = T0):
    clock = Clock(now)
    return clock, StatsMgr(clock, timestamp_text=lambda t: clock_to_text(t, utc))


GLOBALS_AT_START = sorted("""pkt4-received pkt4-discover-received pkt4-offer-received
pkt4-request-received pkt4-ack-received pkt4-nak-received pkt4-release-received
pkt4-decline-received pkt4-inform-received pkt4-unknown-received pkt4-sent
pkt4-offer-sent pkt4-ack-sent pkt4-nak-sent pkt4-parse-failed pkt4-receive-drop
v4-allocation-fail v4-allocation-fail-shared-network v4-allocation-fail-subnet
v4-allocation-fail-no-pools v4-allocation-fail-classes v4-reservation-conflicts
cumulative-assigned-addresses declined-addresses reclaimed-declined-addresses
reclaimed-leases""".split())

PER_SUBNET = sorted("""total-addresses assigned-addresses declined-addresses
reclaimed-declined-addresses reclaimed-leases cumulative-assigned-addresses
v4-reservation-conflicts""".split())


class TextTests(SynchronousTestCase):
    """Kea's timestamp and duration texts."""

    def test_clock_to_text(self):
        """YYYY-MM-DD HH:MM:SS.ffffff, microseconds truncated."""
        self.assertEqual(clock_to_text(1795584938.9796689, utc), "2026-11-25 05:35:38.979668")
        self.assertEqual(clock_to_text(1795584938.0, utc), "2026-11-25 05:35:38.000000")

    def test_clock_to_text_local_time(self):
        """Without a converter, local time (Kea's localtime_r)."""
        expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(T0)) + ".250000"
        self.assertEqual(clock_to_text(T0 + 0.25), expected)

    def test_duration_to_text(self):
        """HH:MM:SS.ffffff, hours not wrapped at 24."""
        self.assertEqual(duration_to_text(timedelta(hours=30, minutes=2, seconds=3,
                                                    microseconds=4)),
                         "30:02:03.000004")

    def test_subnet_stat_name(self):
        """subnet[ID].name."""
        self.assertEqual(subnet_stat_name(7, "total-addresses"), "subnet[7].total-addresses")


class ObservationTests(SynchronousTestCase):
    """One statistic's samples and limits (Kea's Observation)."""

    def test_newest_first_and_default_count(self):
        """Every change adds a sample, newest first; 20 kept by default
        (pkt4-received at 29 returned exactly 20 samples)."""
        clock, stats = make()
        stats.set_value("pkt4-received", 0)
        for i in range(29):
            clock.now += 1
            stats.add_value("pkt4-received", 1)
        samples = stats.get("pkt4-received")["pkt4-received"]
        self.assertEqual(len(samples), 20)
        self.assertEqual(samples[0], [29, clock_to_text(clock.now, utc)])
        self.assertEqual([v for v, _ in samples], list(range(29, 9, -1)))

    def test_max_samples(self):
        """max-samples 3 keeps the 3 newest, at once and afterwards."""
        clock, stats = make()
        for i in range(6):
            clock.now += 1
            stats.set_value("s", i)
        self.assertTrue(stats.set_max_sample_count("s", 3))
        self.assertEqual([v for v, _ in stats.get("s")["s"]], [5, 4, 3])
        for i in range(6, 9):
            stats.set_value("s", i)
        self.assertEqual([v for v, _ in stats.get("s")["s"]], [8, 7, 6])

    def test_max_sample_age(self):
        """duration 1: samples more than 1 s older than the newest are
        dropped on the next change (only the newest survive)."""
        clock, stats = make()
        stats.set_value("s", 0)
        self.assertTrue(stats.set_max_sample_age("s", 1))
        clock.now += 1.5
        stats.set_value("s", 1)
        clock.now += 0.01
        stats.set_value("s", 2)
        self.assertEqual([v for v, _ in stats.get("s")["s"]], [2, 1])

    def test_max_sample_age_zero(self):
        """duration 0 keeps only the newest sample (spec transcript: after a
        DORA [[2, ts]] only)."""
        clock, stats = make()
        stats.set_value("s", 0)
        stats.set_max_sample_age("s", 0)
        clock.now += 0.5
        stats.add_value("s", 1)
        clock.now += 0.01
        stats.add_value("s", 1)
        self.assertEqual([v for v, _ in stats.get("s")["s"]], [2])

    def test_age_limit_switches_count_off_and_back(self):
        """Setting one limit switches the other off."""
        clock, stats = make()
        stats.set_value("s", 0)
        observation = stats.get_observation("s")
        stats.set_max_sample_age("s", 100)
        self.assertIsNone(observation.max_sample_count)
        for i in range(30):
            stats.set_value("s", i)
        self.assertEqual(len(observation.samples), 31)
        stats.set_max_sample_count("s", 5)
        self.assertIsNone(observation.max_sample_age)
        self.assertEqual(len(observation.samples), 5)

    def test_zero_and_negative_limits_refused(self):
        """Kea 2.2's crash bugs are refused: max-samples 0, negative age."""
        _, stats = make()
        stats.set_value("s", 0)
        self.assertRaises(StatsError, stats.set_max_sample_count, "s", 0)
        self.assertRaises(StatsError, stats.set_max_sample_age, "s", -3)
        self.assertRaises(StatsError, stats.set_max_sample_count_all, 0)
        self.assertRaises(StatsError, stats.set_max_sample_age_all, -1)
        self.assertEqual(stats.value("s"), 0)

    def test_unknown_names(self):
        """Limits, reset and remove of an unknown name report False."""
        _, stats = make()
        self.assertFalse(stats.set_max_sample_count("nope", 3))
        self.assertFalse(stats.set_max_sample_age("nope", 3))
        self.assertFalse(stats.reset("nope"))
        self.assertFalse(stats.remove("nope"))
        self.assertEqual(stats.get("nope"), {})

    def test_reset(self):
        """reset: one sample [[0, now]]."""
        clock, stats = make()
        for i in range(5):
            stats.add_value("pkt4-received", 1)
        clock.now += 3
        self.assertTrue(stats.reset("pkt4-received"))
        self.assertEqual(stats.get("pkt4-received"),
                         {"pkt4-received": [[0, clock_to_text(clock.now, utc)]]})

    def test_remove_then_add_starts_from_delta(self):
        """After statistic-remove the statistic re-appears when next
        changed, from 0 (pkt4-sent -> [[1, ts]] after one OFFER)."""
        clock, stats = make()
        stats.set_value("pkt4-sent", 7)
        self.assertTrue(stats.remove("pkt4-sent"))
        self.assertNotIn("pkt4-sent", stats)
        stats.add_value("pkt4-sent", 1)
        self.assertEqual(stats.get("pkt4-sent"),
                         {"pkt4-sent": [[1, clock_to_text(clock.now, utc)]]})

    def test_reset_all_includes_capacity(self):
        """statistic-reset-all zeroes everything, total-addresses included."""
        _, stats = make()
        update_config_statistics(stats, [(1, 10)])
        stats.add_value("pkt4-received", 4)
        stats.reset_all()
        self.assertEqual(stats.value("subnet[1].total-addresses"), 0)
        self.assertEqual(stats.value("pkt4-received"), 0)

    def test_remove_all(self):
        """statistic-remove-all: nothing left."""
        _, stats = make()
        init_dhcp4_statistics(stats)
        stats.remove_all()
        self.assertEqual(stats.get_all(), {})
        self.assertEqual(len(stats), 0)

    def test_kinds(self):
        """Float, duration and string statistics; their neutral values."""
        clock, stats = make()
        stats.set_value("f", 1.5)
        stats.add_value("f", 1.0)
        stats.set_value("d", timedelta(seconds=61))
        stats.set_value("t", "ab")
        stats.add_value("t", "c")
        ts = clock_to_text(clock.now, utc)
        self.assertEqual(stats.get("f"), {"f": [[2.5, ts], [1.5, ts]]})
        self.assertEqual(stats.get("d"), {"d": [["00:01:01.000000", ts]]})
        self.assertEqual(stats.value("t"), "abc")
        stats.reset_all()
        self.assertEqual([stats.value(n) for n in "fdt"], [0.0, timedelta(0), ""])

    def test_type_mismatch(self):
        """Kea's InvalidStatType text."""
        _, stats = make()
        stats.set_value("s", 1)
        with self.assertRaises(StatsError) as caught:
            stats.add_value("s", 1.5)
        self.assertEqual(str(caught.exception),
                         "Invalid statistic type requested: float(1), but the actual "
                         "type is integer(0)")

    def test_all_defaults_apply_to_new_statistics(self):
        """-set-all changes the defaults new statistics get."""
        clock, stats = make()
        stats.set_value("a", 0)
        stats.set_max_sample_count_all(2)
        stats.set_value("b", 0)
        for i in range(5):
            stats.add_value("b", 1)
        self.assertEqual(len(stats.get("b")["b"]), 2)
        stats.set_max_sample_age_all(100)
        self.assertIsNone(stats.default_max_sample_count)
        stats.set_value("c", 0)
        observation = stats.get_observation("c")
        self.assertEqual((observation.max_sample_count, observation.max_sample_age),
                         (None, 100))

    def test_config_defaults(self):
        """statistic-default-sample-count 0 switches to the age limit;
        non-zero applies to all (srv_config.cc updateStatistics)."""
        _, stats = make()
        stats.set_value("a", 0)
        stats.apply_config_defaults(5, 0)
        self.assertEqual(stats.get_observation("a").max_sample_count, 5)
        stats.apply_config_defaults(0, 30)
        observation = stats.get_observation("a")
        self.assertEqual((observation.max_sample_count, observation.max_sample_age),
                         (None, 30.0))

    def test_add_value_fast_path_matches_observation(self):
        """StatsMgr.add_value's int fast path gives the same samples as
        Observation.add_value under the count limit, the age limit and an
        explicit ``now``; a bool or float delta on an integer statistic
        still fails with Kea's type error."""
        clock, fast = make()
        for limits in ((3, None), (None, 5.0)):
            fast.remove_all()
            fast.set_value("n", 0)
            observation = fast.get_observation("n")
            reference = Observation("n", 0, clock.now)
            for target in (observation, reference):
                if limits[0] is not None:
                    target.set_max_sample_count(limits[0])
                else:
                    target.set_max_sample_age(limits[1])
            for i in range(12):
                clock.now += 1.5
                fast.add_value("n", i)
                reference.add_value(i, clock.now)
            fast.add_value("n", -4, now=clock.now + 1)
            reference.add_value(-4, clock.now + 1)
            self.assertEqual(list(observation.samples), list(reference.samples))
            self.assertEqual(observation.value, sum(range(12)) - 4)
        with self.assertRaises(StatsError):
            fast.add_value("n", True)
        with self.assertRaises(StatsError):
            fast.add_value("n", 0.5)
        self.assertEqual(fast.value("n"), sum(range(12)) - 4)

    def test_observation_direct(self):
        """Observation keeps its kind and limits."""
        observation = Observation("x", 3, T0)
        self.assertEqual(observation.kind, "integer")
        self.assertEqual(observation.max_sample_count, 20)
        self.assertEqual(observation.value, 3)
        self.assertEqual(observation.timestamp, T0)


class Dhcp4StatisticsTests(SynchronousTestCase):
    """The statistics kea-dhcp4 keeps (spec §4.1)."""

    def started(self, subnets=((1, 10), (2, 2), (3, 11))):
        clock, stats = make()
        init_dhcp4_statistics(stats)
        update_config_statistics(stats, subnets)
        return clock, stats

    def test_names_at_start(self):
        """26 globals all 0, 7 per subnet; no global assigned-addresses,
        no per-subnet v4-allocation-fail* yet."""
        _, stats = self.started()
        expected = list(GLOBALS_AT_START)
        for subnet_id in (1, 2, 3):
            expected += [subnet_stat_name(subnet_id, n) for n in PER_SUBNET]
        self.assertEqual(stats.names(), sorted(expected))
        self.assertEqual(len(DHCP4_STATISTICS), 22)
        for name in GLOBALS_AT_START:
            self.assertEqual(stats.value(name), 0, name)
        self.assertNotIn("assigned-addresses", stats)

    def test_total_addresses_is_capacity(self):
        """total-addresses is the pool capacity, the rest 0."""
        _, stats = self.started()
        self.assertEqual(stats.value("subnet[1].total-addresses"), 10)
        self.assertEqual(stats.value("subnet[3].total-addresses"), 11)
        self.assertEqual(stats.value("subnet[1].assigned-addresses"), 0)

    def test_reload_after_remove_all(self):
        """After statistic-remove-all, a config-reload re-creates the subnet
        and global lease statistics but not pkt4-* (spec §3)."""
        _, stats = self.started()
        stats.remove_all()
        stats.add_value("pkt4-received", 1)
        remove_subnet_statistics(stats, (1, 2, 3))
        update_config_statistics(stats, ((1, 10), (2, 2), (3, 11)))
        expected = ["cumulative-assigned-addresses", "declined-addresses", "pkt4-received",
                    "reclaimed-declined-addresses", "reclaimed-leases"]
        for subnet_id in (1, 2, 3):
            expected += [subnet_stat_name(subnet_id, n) for n in PER_SUBNET]
        self.assertEqual(stats.names(), sorted(expected))

    def test_reconfiguration_keeps_cumulative_globals(self):
        """Reconfiguring recounts assigned/declined from the leases but keeps
        the global cumulative counters; the subnet cumulative one restarts."""
        _, stats = self.started()
        stats.add_value("cumulative-assigned-addresses", 3)
        stats.add_value("subnet[1].cumulative-assigned-addresses", 3)
        stats.add_value("reclaimed-leases", 2)
        stats.add_value("subnet[1].v4-reservation-conflicts", 1)
        remove_subnet_statistics(stats, (1, 2, 3))
        update_config_statistics(stats, ((1, 10),), [(1, 0, 4), (1, 1, 2), (1, 2, 9)])
        self.assertEqual(stats.value("cumulative-assigned-addresses"), 3)
        self.assertEqual(stats.value("reclaimed-leases"), 2)
        self.assertEqual(stats.value("subnet[1].cumulative-assigned-addresses"), 0)
        self.assertEqual(stats.value("subnet[1].v4-reservation-conflicts"), 1)
        # Declined leases count as assigned too; expired-reclaimed (2) not.
        self.assertEqual(stats.value("subnet[1].assigned-addresses"), 6)
        self.assertEqual(stats.value("subnet[1].declined-addresses"), 2)
        self.assertEqual(stats.value("declined-addresses"), 2)
        self.assertNotIn("subnet[2].total-addresses", stats)
        # Kea keeps the old subnet's conflict counter.
        self.assertIn("subnet[2].v4-reservation-conflicts", stats)

    def test_no_subnets(self):
        """Without subnets the lease statistics are not created."""
        _, stats = make()
        update_config_statistics(stats, ())
        self.assertEqual(stats.names(), [])
