"""
Tests for kea_twisted.packet: Kea 2.2's reply format (spec dhcp4.md §1),
unpack rules (§2 step 1) and the malformed-input table (§20).
"""

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.options import OptionDefinition, STANDARD_DEFINITIONS
from kea_twisted.packet import (
    MalformedPacket,
    Packet4,
    decode,
    decode_overloaded_fields,
    encode,
)

A = IPv4Address

OFFER_HEX = (
    "02010600" "00000001" "00000000" "00000000" "0a00000a" "00000000" "7f000202"
    "001122334455" + "00" * 10 + "00" * 64 + "00" * 128 +
    "63825363" "350102" "0104ffffff00" "330400001c20" "36047f000201" "ff")


def offer():
    return Packet4(op=2, htype=1, hlen=6, xid=1, yiaddr=A("10.0.0.10"), giaddr=A("127.0.2.2"),
                   chaddr=bytes.fromhex("001122334455"),
                   options={54: bytes.fromhex("7f000201"), 1: bytes.fromhex("ffffff00"),
                            51: bytes.fromhex("00001c20"), 53: b"\x02"})


def query(options=b"\x35\x01\x01\xff", hlen=6, chaddr=bytes.fromhex("020000000001"), size=None):
    """A raw DISCOVER: header, cookie, then the given option bytes."""
    head = bytearray(236)
    head[0], head[1], head[2] = 1, 1, hlen
    head[4:8] = b"\x5a\x00\x00\x01"
    head[24:28] = bytes([127, 0, 3, 2])
    head[28:28 + len(chaddr)] = chaddr
    data = bytes(head) + bytes.fromhex("63825363") + options
    return data if size is None else data[:size]


class EncodeTests(SynchronousTestCase):

    def test_offer_bytes(self):
        """The OFFER of spec §1 encodes to exactly its 262 bytes: 53 first,
        then ascending codes, END, no padding."""
        data = encode(offer())
        self.assertEqual(len(data), 262)
        self.assertEqual(data.hex(), OFFER_HEX)

    def test_82_last(self):
        """82 goes after every other option."""
        p = offer()
        p.options[82] = b"\x01\x01x"
        p.options[118] = bytes(4)
        tail = encode(p)[240:]
        self.assertEqual(tail[-6:].hex(), "52030101" "78" "ff")
        self.assertTrue(tail.index(bytes([118, 4])) < tail.index(bytes([82, 3])))

    def test_hlen_capped(self):
        """hlen above 16 is written as 16 with 16 chaddr bytes."""
        p = Packet4(hlen=20, chaddr=bytes(range(16)))
        data = encode(p)
        self.assertEqual(data[2], 16)
        self.assertEqual(data[28:44], bytes(range(16)))

    def test_long_option_split_and_rejoined(self):
        """A 300-byte payload goes out as 253 + 47 (Kea's splitOptions4
        keeps 2 bytes for the header; conformance opt-long-split recorded
        it) and comes back as one, marked fused."""
        p = offer()
        p.options[67] = b"x" * 300
        data = encode(p)
        i = data.index(bytes([67, 253]))
        self.assertEqual(data[i + 255:i + 257], bytes([67, 47]))
        q = decode(data)
        self.assertEqual(q.options[67], b"x" * 300)
        self.assertEqual(q.fused, frozenset([67]))

    def test_query_order_kept(self):
        """sort_options=False keeps the mapping's order (for queries)."""
        p = Packet4(options={55: b"\x01\x03", 53: b"\x01"})
        self.assertEqual(encode(p, sort_options=False)[240:].hex(), "370201033501" "01ff")

    def test_round_trip(self):
        """decode(encode(p)) == p."""
        p = offer()
        self.assertEqual(decode(encode(p)), p)


class DecodeTests(SynchronousTestCase):

    def test_fields(self):
        """Header fields, chaddr, options, helpers."""
        p = decode(bytes.fromhex(OFFER_HEX))
        self.assertEqual((p.op, p.htype, p.hlen, p.xid), (2, 1, 6, 1))
        self.assertEqual(p.yiaddr, A("10.0.0.10"))
        self.assertEqual(p.giaddr, A("127.0.2.2"))
        self.assertEqual(p.chaddr, bytes.fromhex("001122334455"))
        self.assertEqual(p.hwaddr_text, "00:11:22:33:44:55")
        self.assertEqual(p.message_type, 2)
        self.assertEqual(list(p.options), [53, 1, 51, 54])
        self.assertEqual(p.get_option(54), bytes.fromhex("7f000201"))
        self.assertEqual(p.length, 262)

    def test_relay_suboptions(self):
        """82 sub-options in order; an overrun stops reading (tolerated)."""
        p = decode(query(bytes.fromhex("350101" "520c" "0103616263" "0203646566" "0509") + b"\xff"))
        self.assertEqual(p.relay_suboptions(), {1: b"abc", 2: b"def"})
        self.assertEqual(decode(query()).relay_suboptions(), {})

    def test_overload_not_parsed_by_default(self):
        """Options in file under 52 are ignored (Kea 2.2); the RFC helper
        reads them after the options field."""
        data = bytearray(query(bytes.fromhex("350101" "340101") + b"\xff"))
        data[108:108 + 6] = bytes.fromhex("0c03616263ff")
        p = decode(bytes(data))
        self.assertNotIn(12, p.options)
        q = decode_overloaded_fields(p)
        self.assertEqual(q.options[12], b"abc")
        self.assertIs(decode_overloaded_fields(decode(query())).options.get(12), None)

    def test_overload_concatenation(self):
        """RFC 3396: options field first, then file, then sname."""
        data = bytearray(query(bytes.fromhex("350101" "340103" "0c0178") + b"\xff"))
        data[108:108 + 4] = bytes.fromhex("0c0179ff")
        data[44:44 + 4] = bytes.fromhex("0c017aff")
        q = decode_overloaded_fields(decode(bytes(data)))
        self.assertEqual(q.options[12], b"xyz")
        self.assertIn(12, q.fused)

    def test_custom_definition_used_on_receive(self):
        """Kea unpacks with runtime (custom) dhcp4 definitions too."""
        defs = STANDARD_DEFINITIONS.extend([OptionDefinition("my", 150, "uint32")])
        data = query(bytes.fromhex("350101" "96020001") + b"\xff")
        self.assertEqual(decode(data).options[150], b"\x00\x01")
        self.assertRaises(MalformedPacket, decode, data, defs)


class MalformedTests(SynchronousTestCase):
    """Spec §20, one test per row."""

    def opts(self, hexa):
        return decode(query(bytes.fromhex("350101" + hexa) + b"\xff"))

    def bad(self, hexa):
        self.assertRaises(MalformedPacket, self.opts, hexa)

    def test_50_54_118_short(self):
        """50/54/118 of length 3 drop; 50 of length 5 is accepted."""
        for code in ("32", "36", "76"):
            self.bad(code + "030a0000")
        self.assertEqual(self.opts("32050a0000010a").options[50], bytes.fromhex("0a0000010a"))

    def test_53_lengths(self):
        """53 of length 0 drops; length 2 uses the first byte."""
        self.assertRaises(MalformedPacket, decode, query(bytes.fromhex("3500ff")))
        self.assertEqual(decode(query(bytes.fromhex("35020300ff"))).message_type, 3)

    def test_two_53(self):
        """Two 53s are fused (the engine drops _0004)."""
        p = self.opts("350103")
        self.assertEqual(p.options[53], b"\x01\x03")
        self.assertIn(53, p.fused)

    def test_51_57_55(self):
        """51 of 2, 57 of 1, 55 of 0 drop."""
        self.bad("33020000")
        self.bad("390105")
        self.bad("3700")

    def test_61_short_is_parsed(self):
        """61 of length 0 or 1 parses (binary); the engine drops _0007."""
        self.assertEqual(self.opts("3d00").options[61], b"")
        self.assertEqual(self.opts("3d0101").options[61], b"\x01")

    def test_12_empty_ignored(self):
        """A zero-length host-name is left out."""
        self.assertNotIn(12, self.opts("0c00").options)

    def test_81_short(self):
        """81 of length 1 drops."""
        self.bad("510101")

    def test_124_truncated(self):
        """A 3-byte 124 drops."""
        self.bad("7c03000011")

    def test_125_short_skips_rest(self):
        """125 shorter than 4: served, later options not parsed."""
        p = self.opts("7d03000011" "0c03616263")
        self.assertNotIn(12, p.options)
        self.assertNotIn(125, p.options)
        self.assertIn(53, p.options)
        self.assertTrue(p.options_skipped)

    def test_82_overrun_and_empty(self):
        """82 with an overrunning sub-option and 82 of length 0 parse."""
        self.assertEqual(self.opts("52030109aa").options[82], bytes.fromhex("0109aa"))
        self.assertEqual(self.opts("5200").options[82], b"")

    def test_duplicated_60(self):
        """Two 60s are fused and marked untyped."""
        p = self.opts("3c0161" "3c0162")
        self.assertEqual(p.options[60], b"ab")
        self.assertEqual(p.fused, frozenset([60]))

    def test_truncated_last_no_end_pad_before(self):
        """Truncated last option, no END, PADs before options: tolerated."""
        p = decode(query(bytes.fromhex("000000350101" "0c05616263")))
        self.assertEqual(p.options, {53: b"\x01"})
        self.assertEqual(decode(query(bytes.fromhex("350101"))).message_type, 1)

    def test_cookie_and_size(self):
        """No cookie, wrong cookie, short cookie, < 236 bytes, BOOTP."""
        base = query()
        self.assertRaises(MalformedPacket, decode, base[:235])
        self.assertRaises(MalformedPacket, decode, base[:236])
        self.assertRaises(MalformedPacket, decode, base[:239])
        self.assertRaises(MalformedPacket, decode, base[:236] + b"\x63\x82\x53\x64\xff")
        self.assertRaises(MalformedPacket, decode, b"")

    def test_hlen(self):
        """hlen 17-20 accepted (chaddr 16 bytes, hwaddr zero padded); 21 drops."""
        p = decode(query(hlen=17, chaddr=bytes(range(1, 17))))
        self.assertEqual(p.chaddr, bytes(range(1, 17)))
        self.assertEqual(p.hwaddr, bytes(range(1, 17)) + b"\x00")
        self.assertEqual(len(p.hwaddr_text.split(":")), 17)
        self.assertRaises(MalformedPacket, decode, query(hlen=21))
        self.assertEqual(decode(query(hlen=0)).chaddr, b"")

    def test_strings_trimmed(self):
        """Trailing NULs of string options are dropped; only NULs: left out."""
        self.assertEqual(self.opts("0c0461626300").options[12], b"abc")
        self.assertNotIn(60, self.opts("3c020000").options)

    def test_deferred_not_checked(self):
        """43 and 224-254 are not validated at unpack."""
        self.assertEqual(self.opts("2b0101").options[43], b"\x01")


REAL = [
    query(bytes.fromhex("350101" "3707010306 0f1a1c2a".replace(" ", "") + "3d0701020000000001"
                        "0c04686f7374" "3204 0a00000a".replace(" ", "") + "520a0103616263020361626" "3") + b"\xff"),
    bytes.fromhex(OFFER_HEX),
]


class PropertyTests(SynchronousTestCase):

    @settings(max_examples=500, deadline=None)
    @given(st.binary(max_size=400))
    def test_any_bytes(self, data):
        """decode(any bytes) returns a Packet4 or raises MalformedPacket."""
        try:
            p = decode(data)
        except MalformedPacket:
            return
        self.assertIsInstance(p, Packet4)

    @settings(max_examples=500, deadline=None)
    @given(st.sampled_from(REAL), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                             max_size=8), st.integers(0, 400))
    def test_mutated_real_packets(self, base, edits, cut):
        """Mutated real packets (byte edits, truncation) likewise."""
        data = bytearray(base)
        for pos, val in edits:
            if pos < len(data):
                data[pos] = val
        data = bytes(data[:max(cut, 236)])
        try:
            p = decode(data)
        except MalformedPacket:
            return
        self.assertIsInstance(p, Packet4)

    @settings(max_examples=300, deadline=None)
    @given(st.integers(0, 255), st.integers(0, 2 ** 32 - 1), st.binary(min_size=6, max_size=6),
           st.dictionaries(st.sampled_from([61, 77, 200, 201, 63, 90]), st.binary(max_size=300),
                           max_size=4))
    def test_round_trip(self, hops, xid, mac, opts):
        """decode(encode(p)) == p for packets with untyped options."""
        options = {53: b"\x01"}
        options.update(opts)
        p = Packet4(hops=hops, xid=xid, chaddr=mac, options=options)
        q = decode(encode(p))
        self.assertEqual(q.options, p.options)
        self.assertEqual((q.hops, q.xid, q.chaddr), (hops, xid, mac))
