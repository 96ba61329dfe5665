"""
Tests for kea_twisted.lifetimes: valid lifetime and T1/T2 as Kea 2.2
computes them (spec/dhcp4.md §9; options 51/58/59 of the conformance
scenarios ``lifetime-*``).
"""

from __future__ import annotations

import struct

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.lifetimes import (
    INFINITY_LFT,
    Triplet,
    kea_round,
    parse_triplet,
    tee_times,
    valid_lifetime,
)


def u32(value: int) -> str:
    """An option 51/58/59 payload as the goldens write it (hex)."""
    return struct.pack("!I", value).hex()


class TripletTests(SynchronousTestCase):
    def test_get_clamps(self):
        """``Triplet.get(hint)`` clamps into [min, max]; no hint → default."""
        t = Triplet(100, 4000, 8000)
        self.assertEqual(
            [t.get(50), t.get(100), t.get(500), t.get(8000), t.get(9000), t.get()],
            [100, 100, 500, 8000, 8000, 4000],
        )

    def test_parse_default_only(self):
        """Only valid-lifetime set: min = default = max."""
        self.assertEqual(parse_triplet("valid-lifetime", 3000), Triplet(3000, 3000, 3000))

    def test_parse_nothing(self):
        """None of the three keys: no triplet (inherit)."""
        self.assertIsNone(parse_triplet("valid-lifetime", None))

    def test_parse_partial_bounds(self):
        """Missing bounds default as parseIntTriplet does: default+max → min
        = default; default+min → max = default; min only / max only → all
        three equal."""
        self.assertEqual(parse_triplet("v", 4000, None, 8000), Triplet(4000, 4000, 8000))
        self.assertEqual(parse_triplet("v", 4000, 100, None), Triplet(100, 4000, 4000))
        self.assertEqual(parse_triplet("v", None, 100, None), Triplet(100, 100, 100))
        self.assertEqual(parse_triplet("v", None, None, 900), Triplet(900, 900, 900))
        self.assertEqual(parse_triplet("v", 4000, 100, 8000), Triplet(100, 4000, 8000))

    def test_parse_errors(self):
        """Inconsistent triplets are refused with Kea's wording."""
        with self.assertRaises(ValueError) as e:
            parse_triplet("valid-lifetime", None, 100, 200)
        self.assertEqual(
            str(e.exception),
            "have min-valid-lifetime and max-valid-lifetime but no valid-lifetime (default)",
        )
        with self.assertRaises(ValueError) as e:
            parse_triplet("valid-lifetime", 500, 600, None)
        self.assertEqual(
            str(e.exception),
            "the value of min-valid-lifetime (600) is not less than (default) valid-lifetime (500)",
        )
        with self.assertRaises(ValueError) as e:
            parse_triplet("valid-lifetime", 500, None, 400)
        self.assertEqual(
            str(e.exception),
            "the value of (default) valid-lifetime (500) is not less than max-valid-lifetime (400)",
        )
        with self.assertRaises(ValueError) as e:
            parse_triplet("valid-lifetime", 50, 100, 200)
        self.assertEqual(
            str(e.exception),
            "the value of (default) valid-lifetime (50) is not between"
            " min-valid-lifetime (100) and max-valid-lifetime (200)",
        )
        with self.assertRaises(ValueError) as e:
            parse_triplet("valid-lifetime", 150, 300, 200)
        self.assertIn("min-valid-lifetime (300) is not less than max-valid-lifetime (200)", str(e.exception))


class ValidLifetimeTests(SynchronousTestCase):
    def test_spec_examples(self):
        """§9: valid 4000, min 100, max 8000: ask 50 → 100, 500 → 500,
        9000 → 8000, 0 or none → 4000."""
        subnet = Triplet(100, 4000, 8000)
        self.assertEqual(
            [valid_lifetime([], subnet, r) for r in (50, 500, 9000, 0, None)],
            [100, 500, 8000, 4000, 4000],
        )

    def test_golden_client_requested_minmax(self):
        """lifetime-client-requested-minmax: option 51 = 00000064,
        000001f4, 00001f40 for requests 50, 500, 9000."""
        subnet = parse_triplet("valid-lifetime", 4000, 100, 8000)
        self.assertEqual(
            [u32(valid_lifetime([], subnet, r)) for r in (50, 500, 9000)],
            ["00000064", "000001f4", "00001f40"],
        )

    def test_golden_requested_ignored(self):
        """lifetime-requested-ignored: valid-lifetime 3000 only, request 600
        → 51 = 00000bb8."""
        subnet = parse_triplet("valid-lifetime", 3000)
        self.assertEqual(u32(valid_lifetime([], subnet, 600)), "00000bb8")

    def test_golden_default(self):
        """lifetime-default-no-timers: the default 7200 → 00001c20."""
        self.assertEqual(u32(valid_lifetime([], Triplet.single(7200), None)), "00001c20")

    def test_only_max_set(self):
        """§9: with only max set, min = valid: requests below valid get
        valid, above max get max."""
        subnet = parse_triplet("valid-lifetime", 4000, None, 8000)
        self.assertEqual([valid_lifetime([], subnet, r) for r in (10, 5000, 9000)], [4000, 5000, 8000])

    def test_first_class_wins(self):
        """The first class in packet order that sets a valid lifetime wins
        over later classes and the subnet."""
        self.assertEqual(
            valid_lifetime([None, Triplet.single(1000), Triplet.single(2000)], Triplet.single(7200)),
            1000,
        )

    def test_class_triplet_bounds_request(self):
        """The client's hint is clamped by the chosen class's triplet, not
        the subnet's; a class with valid-lifetime only ignores the hint."""
        self.assertEqual(valid_lifetime([Triplet(10, 20, 30)], Triplet(1, 7200, 9000), 5000), 30)
        self.assertEqual(valid_lifetime([Triplet.single(1000)], Triplet(1, 7200, 9000), 5000), 1000)

    def test_class_zero_falls_back(self):
        """Kea quirk: a class whose valid-lifetime is 0 is passed over for
        the subnet's (the 'is set' test is on the value)."""
        self.assertEqual(valid_lifetime([Triplet.single(0)], Triplet.single(7200)), 7200)

    def test_subnet_zero(self):
        """valid-lifetime 0 on the subnet is handed out as 0 (§9)."""
        self.assertEqual(valid_lifetime([], Triplet.single(0), None), 0)

    def test_bootp_infinite(self):
        """A BOOTP query gets the infinite lifetime 0xffffffff."""
        self.assertEqual(valid_lifetime([], Triplet.single(7200), 100, bootp=True), INFINITY_LFT)


class TeeTimesTests(SynchronousTestCase):
    def test_default_none(self):
        """Defaults (no timers, calculate-tee-times false): neither 58 nor
        59 (lifetime-default-no-timers, even with 58/59 in the PRL)."""
        self.assertEqual(tee_times(7200), (None, None))

    def test_golden_calculated_rounding(self):
        """lifetime-t1t2-calculated: valid 4001 → 58 = 000007d1 (2001),
        59 = 00000dad (3501): halves round away from zero."""
        t1, t2 = tee_times(4001, calculate=True)
        self.assertEqual((u32(t1), u32(t2)), ("000007d1", "00000dad"))

    def test_golden_explicit(self):
        """lifetime-t1t2-explicit: renew 1000 / rebind 2000 with valid 4000
        → 58 = 000003e8, 59 = 000007d0."""
        t1, t2 = tee_times(4000, renew_timer=1000, rebind_timer=2000)
        self.assertEqual((u32(t1), u32(t2)), ("000003e8", "000007d0"))

    def test_class_lifetime_timers(self):
        """§9: timers use the granted lifetime: 1000 → 58 = 500, 59 = 875."""
        self.assertEqual(tee_times(1000, calculate=True), (500, 875))

    def test_rebind_not_below_valid(self):
        """rebind-timer ≥ valid: T2 not sent; T1 then only needs < valid."""
        self.assertEqual(tee_times(4000, renew_timer=3000, rebind_timer=4000), (3000, None))
        self.assertEqual(tee_times(4000, renew_timer=3000, rebind_timer=5000), (3000, None))

    def test_t1_must_be_below_sent_t2(self):
        """T1 is sent only if below T2 when T2 is sent."""
        self.assertEqual(tee_times(4000, renew_timer=2500, rebind_timer=2000), (None, 2000))
        self.assertEqual(tee_times(4000, renew_timer=2000, rebind_timer=2000), (None, 2000))

    def test_configured_wins_over_calculated(self):
        """A configured timer is used even when calculating; the other one
        is calculated."""
        self.assertEqual(tee_times(4000, rebind_timer=3000, calculate=True), (2000, 3000))
        self.assertEqual(tee_times(4000, renew_timer=100, calculate=True), (100, 3500))

    def test_configured_zero(self):
        """A configured 0 is a value (not 'unset'): that timer is not sent
        and not calculated."""
        self.assertEqual(tee_times(4000, renew_timer=0, calculate=True), (None, 3500))

    def test_percent(self):
        """t1-percent / t2-percent are applied to the granted lifetime."""
        self.assertEqual(tee_times(1000, calculate=True, t1_percent=0.25, t2_percent=0.5), (250, 500))

    def test_small_lifetimes(self):
        """Tiny lifetimes: valid 1 → T2 = T1 = 1, neither below 1: nothing;
        valid 2 → T2 = 2 not sent, T1 = 1 sent; valid 0: nothing."""
        self.assertEqual(tee_times(1, calculate=True), (None, None))
        self.assertEqual(tee_times(2, calculate=True), (1, None))
        self.assertEqual(tee_times(0, calculate=True, renew_timer=5), (None, None))

    def test_kea_round(self):
        """C round(): 2000.5 → 2001, 3500.875 → 3501, 0.49999999999999994 → 0."""
        self.assertEqual(
            [kea_round(2000.5), kea_round(3500.875), kea_round(0.49999999999999994), kea_round(2.5)],
            [2001, 3501, 0, 3],
        )

    @given(st.integers(min_value=0, max_value=0xFFFFFFFF), st.booleans())
    def test_sent_timers_ordered(self, valid, calculate):
        """Whatever is sent satisfies 0 < T1 < T2 < valid (T1 < valid when
        T2 is absent)."""
        t1, t2 = tee_times(valid, calculate=calculate)
        if t2 is not None:
            self.assertTrue(0 < t2 < valid)
        if t1 is not None:
            self.assertTrue(0 < t1 < (t2 if t2 is not None else valid))
