"""
Tests for kea_twisted.reply_options: option precedence, PRL, always-send and
the basic options (spec/dhcp4.md §10).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.reply_options import ConfiguredOption as O, select_options, vendor_options


def src(*opts):
    return {o.code: o for o in opts}


class SelectTests(SynchronousTestCase):
    def test_requested_only(self):
        """Only PRL codes are added (plus always-send and basic ones)."""
        sources = [src(O(26, b"\x05\x78"), O(42, b"\x0a\0\0\x05"))]
        self.assertEqual(select_options(sources, [42], [53]), {42: b"\x0a\0\0\x05"})

    def test_precedence_first_source_wins(self):
        """A pool value beats the subnet's, the subnet's beats a class's (§10.2)."""
        pool = src(O(15, b"pool"))
        subnet = src(O(15, b"subnet"), O(26, b"\x05\xdc"))
        klass = src(O(26, b"\x05\x14"))
        self.assertEqual(select_options([pool, subnet, klass], [15, 26], []), {15: b"pool", 26: b"\x05\xdc"})

    def test_always_send(self):
        """always-send at any level adds the option unrequested."""
        sources = [src(O(26, b"\x05\x78")), src(O(42, b"\x0a\0\0\x05", always_send=True))]
        self.assertEqual(select_options(sources, [], []), {42: b"\x0a\0\0\x05"})

    def test_always_send_value_from_first_source(self):
        """always-send names the code; the value still comes from the first
        source that has it."""
        sources = [src(O(42, b"\x01\x01\x01\x01")), src(O(42, b"\x02\x02\x02\x02", always_send=True))]
        self.assertEqual(select_options(sources, [], []), {42: b"\x01\x01\x01\x01"})

    def test_basic_options(self):
        """Routers, DNS, domain-name and server id are added whenever
        configured, requested or not."""
        sources = [src(O(3, b"r"), O(6, b"d"), O(15, b"n"), O(54, b"s"), O(26, b"m"))]
        self.assertEqual(select_options(sources, [], []), {3: b"r", 6: b"d", 15: b"n", 54: b"s"})

    def test_present_never_replaced(self):
        """Options already in the reply (51, 1, 61, …) keep their value."""
        sources = [src(O(51, b"\0\0\0\x01", always_send=True), O(1, b"\xff\0\0\0"))]
        self.assertEqual(select_options(sources, [1, 51], [1, 51, 53]), {})

    def test_unconfigured_request_skipped(self):
        """A requested code configured nowhere is skipped."""
        self.assertEqual(select_options([src()], [66, 67], []), {})


class VendorTests(SynchronousTestCase):
    def test_docsis_requested(self):
        """4491 sub-option 2 requested through the ORO: one 125 option."""
        sources = [src(O(2, b"\x0a\0\0\x01", space="vendor-4491"))]
        self.assertEqual(vendor_options(sources, 4491, [2]),
                         (4491).to_bytes(4, "big") + b"\x06\x02\x04\x0a\0\0\x01")

    def test_nothing_found(self):
        """No sub-option found: no 125 at all."""
        self.assertIsNone(vendor_options([src()], 4491, [2]))


class SelectionMemoTests(SynchronousTestCase):
    """select_options remembers answers per (sources, PRL, present)."""

    def test_same_sources_same_answer_and_a_copy(self):
        """A repeated question gets an equal answer that the caller may
        change without changing the next one."""
        sources = [src(O(3, b"\x0a\0\0\x01"), O(6, b"\x0a\0\0\x02"))]
        first = select_options(sources, b"\x03\x06", [53, 54])
        first[99] = b"x"
        self.assertEqual(select_options(sources, b"\x03\x06", [53, 54]), {3: b"\x0a\0\0\x01", 6: b"\x0a\0\0\x02"})

    def test_new_configuration_new_answer(self):
        """Other source objects (a reconfiguration) are asked afresh, even
        with equal keys otherwise; empty sources change nothing."""
        old = [src(O(3, b"\x01\x01\x01\x01"))]
        self.assertEqual(select_options(old, [3], []), {3: b"\x01\x01\x01\x01"})
        new = [{}, src(O(3, b"\x02\x02\x02\x02"))]
        self.assertEqual(select_options(new, [3], []), {3: b"\x02\x02\x02\x02"})
        self.assertEqual(select_options([{}] + old, [3], []), {3: b"\x01\x01\x01\x01"})
