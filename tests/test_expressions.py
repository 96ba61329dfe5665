"""
Tests for kea_twisted.expressions: Kea 2.2's classification expressions.

* :class:`VectorTests` -- all 516 observations of spec/expressions.md §10
  (172 expressions x packets P1-P3, kept in tests/data/expression_vectors.json),
  one test method per (expression, packet), so a failure names the vector.
  The packets are the recorded bytes decoded with kea_twisted.packet, with
  the receive metadata of the rig (relayed from 127.0.2.2:67 to
  127.0.2.1:67 on ``lo``) and the classes the packet had when the test ran.
* :class:`ConfigErrorTests` -- every configuration error of §9 and a few
  more; each message was printed by ``kea-dhcp4 -t`` 2.2.0 after
  ``error:`` (the expression-only part the config builder wraps).
* the rest: precedence, no short-circuit, the string functions' corners,
  option typing (deferred, fused, custom definitions), and hypothesis
  properties (any text -> an Expression or ExpressionError; any packet ->
  a bool).
"""

import json
import os
from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.expressions import (
    BUILTIN_CLASS_NAMES,
    EvaluationError,
    Expression,
    ExpressionError,
    PacketView,
    compile_expression,
    is_builtin_class,
)
from kea_twisted.options import STANDARD_DEFINITIONS, OptionDefinition
from kea_twisted.packet import Packet4, decode

_DATA = os.path.join(os.path.dirname(__file__), "data", "expression_vectors.json")
with open(_DATA) as _f:
    VECTORS = json.load(_f)


def recorded_packet(name: str) -> Packet4:
    """P1/P2/P3 of §10 as kea-dhcp4 received them."""
    p = decode(bytes.fromhex(VECTORS["packets"][name]))
    md = VECTORS["packet_metadata"]
    p.iface = md["iface"]
    p.remote_addr = IPv4Address(md["remote_addr"])
    p.remote_port = md["remote_port"]
    p.local_addr = IPv4Address(md["local_addr"])
    p.local_port = md["local_port"]
    return p


PACKETS = {name: recorded_packet(name) for name in VECTORS["packets"]}


def compiled(text: str, **kw) -> Expression:
    kw.setdefault("defined_classes", ())
    return compile_expression(text, **kw)


def value(text: str, packet=None, classes=()) -> bytes:
    """The value of a string expression."""
    return compiled(text, string=True).evaluate_value(packet or PACKETS["P1"], classes)


def outcome(text: str, packet=None, classes=(), **kw):
    """(matched, [error messages]) of a class test."""
    errors = []
    matched = compiled(text, **kw).evaluate(packet or PACKETS["P1"], classes,
                                            on_error=errors.append)
    return matched, errors


# --------------------------------------------------------------------------
# §10: the 516 observed vectors

class VectorTests(SynchronousTestCase):
    """spec/expressions.md §10, observed on kea-dhcp4 2.2.0."""


def _vector_test(vector, packet_name, expected):
    def test(self):
        expr = compiled(vector["expression"])
        classes = VECTORS["packet_classes"][packet_name]
        matched, errors = outcome(vector["expression"], PACKETS[packet_name], classes)
        self.assertEqual(matched, expected["match"])
        if "error" in expected:
            self.assertEqual(len(errors), 1)
            self.assertEqual(errors[0].rstrip("."), expected["error"].rstrip("."))
        else:
            self.assertEqual(errors, [])
        self.assertIsInstance(expr, Expression)
    test.__name__ = "test_v%03d_%s" % (vector["n"], packet_name)
    test.__doc__ = "§10 #%d on %s: %s is %s%s." % (
        vector["n"], packet_name, vector["expression"],
        "true" if expected["match"] else "false",
        " (evaluation error: %s)" % expected["error"] if "error" in expected else "")
    return test


for _v in VECTORS["vectors"]:
    for _pk, _exp in sorted(_v["results"].items()):
        _t = _vector_test(_v, _pk, _exp)
        setattr(VectorTests, _t.__name__, _t)
del _v, _pk, _exp, _t


class VectorDataTests(SynchronousTestCase):

    def test_count(self):
        """The data file holds all 172 expressions x 3 packets = 516 vectors."""
        self.assertEqual(len(VECTORS["vectors"]), 172)
        self.assertEqual(sum(len(v["results"]) for v in VECTORS["vectors"]), 516)
        methods = [m for m in dir(VectorTests) if m.startswith("test_v")]
        self.assertEqual(len(methods), 516)

    def test_p1_length(self):
        """P1 is 324 bytes on the wire, Kea's pkt.len says 319 (§5)."""
        self.assertEqual(len(bytes.fromhex(VECTORS["packets"]["P1"])), 324)
        self.assertEqual(value("pkt.len"), (319).to_bytes(4, "big"))


# --------------------------------------------------------------------------
# §9: configuration errors, messages as kea-dhcp4 -t printed them

#: (test, message after "error: "), all checked with kea-dhcp4 2.2.0 -t,
#: in a config where only class 'a' was defined before.
KEA_ERRORS = [
    ("known", "<string>:1.1: Invalid character: k"),
    ("unknown", "<string>:1.1: Invalid character: u"),
    ("member('b')", "<string>:1.8-10: Not defined client class 'b'"),
    ("member('DROP')", "<string>:1.8-13: Not defined client class 'DROP'"),
    ("member('HA_')", "<string>:1.8-12: Not defined client class 'HA_'"),
    ("member('VENDOR_CLASS_')", "<string>:1.8-22: Not defined client class 'VENDOR_CLASS_'"),
    ("'abc'", "<string>:1.6: syntax error, unexpected end of file, expecting == or +"),
    ("", "<string>:1.1: syntax error, unexpected end of file"),
    ("option[no-such-opt].exists", "<string>:1.8-18: option 'no-such-opt' is not defined"),
    ("option[HOST-NAME].exists", "<string>:1.8-16: option 'HOST-NAME' is not defined"),
    ("option[256].exists",
     "<string>:1.8-10: Option code has invalid value in 256. Allowed range: 0..255"),
    ("option[-1].exists",
     "<string>:1.8-9: Option code has invalid value in -1. Allowed range: 0..255"),
    ("option[99999999999].exists",
     "<string>:1.8-18: Option code has invalid value in 99999999999"),
    ("relay4[circuit-id].exists",
     "<string>:1.8-17: syntax error, unexpected option name, expecting integer"),
    ("option[82].option[circuit-id].exists",
     "<string>:1.19-28: syntax error, unexpected option name, expecting integer"),
    ("relay6[0].option[1].exists", "<string>:1.8: Nest level invalid for DHCPv4 packets"),
    ("relay6[200].option[1].exists",
     "<string>:1.8-10: Invalid value in 200. Allowed range: -128..127"),
    ("pkt6.msgtype == 1", "<string>:1.1-4: pkt6 can only be used in DHCPv6."),
    ("substring('abc', pkt4.hlen, 1) == 'a'",
     "<string>:1.18-21: syntax error, unexpected pkt4, expecting integer"),
    ("substring('abc', 0, ALL) == 'abc'", "<string>:1.21: Invalid character: A"),
    ("split('a.b', '.', 'x') == 'a'",
     "<string>:1.19-21: syntax error, unexpected constant string, expecting integer"),
    ("4294967296 == 0x00",
     "<string>:1.1-10: Invalid value in 4294967296. Allowed range: 0..4294967295"),
    ("-1 == 0x00", "<string>:1.1-2: Invalid value in -1. Allowed range: 0..4294967295"),
    ("99999999999999999999 == 0x00",
     "<string>:1.1-20: Failed to convert 99999999999999999999 to an integer."),
    ("10.0.0.256 == 0x00", "<string>:1.1-10: Failed to convert 10.0.0.256 to an IP address."),
    ("'abc == 'abc'", "<string>:1.10: Invalid character: a"),
    ('"abc" == \'abc\'', '<string>:1.1: Invalid character: "'),
    ("0x == ''", "<string>:1.2: Invalid character: x"),
    ("'a' == 'a' == 'a'",
     "<string>:1.12-13: syntax error, unexpected ==, expecting end of file"),
    ("concat('a' == 'a', 'b') == 'b'",
     '<string>:1.12-13: syntax error, unexpected ==, expecting "," or +'),
    ("vendor-class[1].data[256] == ''",
     "<string>:1.22-24: Invalid value in 256. Allowed range: 0..255"),
    ("vendor[4294967296].exists",
     "<string>:1.8-17: Invalid value in 4294967296. Allowed range: 0..4294967295"),
    ("foo == 'a'", "<string>:1.1: Invalid character: f"),
    ("ALL", "<string>:1.1: Invalid character: A"),
    ("true", "<string>:1.1: Invalid character: t"),
    ("'a' != 'b'", "<string>:1.5: Invalid character: !"),
    ("option[60].text == 'a' and", "<string>:1.27: syntax error, unexpected end of file"),
    ("not", "<string>:1.4: syntax error, unexpected end of file"),
    ("(", "<string>:1.2: syntax error, unexpected end of file"),
    # from the differential run against kea-dhcp4 -t (scratch rig)
    ("'b' 0xabc member '' ciaddr 1",
     "<string>:1.5-9: syntax error, unexpected constant hexstring, expecting == or +"),
    ("option [ 60 ] . text == ifelse 'docsis3.0'",
     "<string>:1.32-42: syntax error, unexpected constant string, expecting ("),
    ("relay4 [ 1 member hlen . exists",
     "<string>:1.12-17: syntax error, unexpected member, expecting ]"),
    ("'\u00e9' 1", "<string>:1.6: syntax error, unexpected integer, expecting == or +"),
]


class ConfigErrorTests(SynchronousTestCase):
    """spec §9: Kea's messages, location included."""

    def test_class_referencing_itself(self):
        """member() of the class being defined is "not defined" (no
        self-reference: only earlier classes count)."""
        e = self.assertRaises(ExpressionError, compile_expression, "member('t')",
                              defined_classes=["a"])
        self.assertEqual(e.message, "<string>:1.8-10: Not defined client class 't'")
        self.assertEqual(str(e), e.message)

    def test_accepted(self):
        """Accepted by Kea (§9 "Accepted"): built-in names and prefixes,
        option names, blanks inside brackets, newlines, class names with
        spaces, the last-resort option name."""
        for text in [
            "member('EXTERNAL_x') or member('AFTER_x') or member('HA_x') "
            "or member('VENDOR_CLASS_x')",
            "member('ALL') and member('KNOWN') or member('UNKNOWN') or member('BOOTP')",
            "option[host-name].exists", "option[ 60 ].exists", "option[ host-name ].exists",
            "option[60]\n.exists", "option[60] .exists", "member('a b')",
            "option[vendor-encapsulated-options].exists",
            "\toption[60].exists\n",
        ]:
            compile_expression(text, defined_classes=["a b"])

    def test_no_check(self):
        """defined_classes=None accepts any member() name (Kea's parser
        without dependency checks)."""
        e = compile_expression("member('later')", defined_classes=None)
        self.assertEqual(e.dependencies, frozenset(["later"]))

    def test_custom_option_name(self):
        """option[name] also finds option-def definitions of dhcp4."""
        defs = STANDARD_DEFINITIONS.extend([OptionDefinition("my-opt", 200, "string")])
        e = compile_expression("option[my-opt].text == 'x'", defined_classes=(),
                               option_definitions=defs)
        p = Packet4(options={200: b"x"})
        self.assertTrue(e.evaluate(p))
        self.assertRaises(ExpressionError, compile_expression, "option[my-opt].exists",
                          defined_classes=())

    def test_string_mode(self):
        """string=True parses a string expression (flex-id style): a test is
        then a syntax error, and vice versa."""
        self.assertEqual(value("substring(pkt4.mac, 0, 3)"), b"\x00\x11\x22")
        e = self.assertRaises(ExpressionError, compile_expression, "'a' == 'a'",
                              defined_classes=(), string=True)
        self.assertIn("syntax error, unexpected ==", e.message)


def _error_test(text, message):
    def test(self):
        e = self.assertRaises(ExpressionError, compile_expression, text,
                              defined_classes=["a"])
        self.assertEqual(e.message, message)
    test.__doc__ = "%r is refused with %r." % (text, message)
    return test


for _i, (_text, _msg) in enumerate(KEA_ERRORS):
    setattr(ConfigErrorTests, "test_kea_error_%02d" % _i, _error_test(_text, _msg))


class DependencyTests(SynchronousTestCase):

    def test_dependencies(self):
        """Expression.dependencies lists every member() name, built-ins
        included, for the caller's KNOWN/UNKNOWN analysis (§8)."""
        e = compile_expression("member('a') and not member('KNOWN') or member('HA_x')",
                               defined_classes=["a"])
        self.assertEqual(e.dependencies, frozenset(["a", "KNOWN", "HA_x"]))
        self.assertEqual(compiled("option[60].exists").dependencies, frozenset())

    def test_builtins(self):
        """Kea's built-in names and prefixes (client_class_def.cc)."""
        self.assertEqual(BUILTIN_CLASS_NAMES, {"ALL", "KNOWN", "UNKNOWN", "BOOTP"})
        for name in ["ALL", "BOOTP", "HA_x", "AFTER_a", "EXTERNAL_e", "VENDOR_CLASS_v"]:
            self.assertTrue(is_builtin_class(name), name)
        for name in ["DROP", "HA_", "VENDOR_CLASS_", "all", "KNOWNX"]:
            self.assertFalse(is_builtin_class(name), name)


# --------------------------------------------------------------------------
# Grammar: precedence, associativity, evaluation order

class PrecedenceTests(SynchronousTestCase):

    def test_boolean_precedence(self):
        """not > and > or, both left-associative (§3)."""
        T, F = "'a' == 'a'", "'a' == 'b'"
        cases = {
            "%s and %s or %s" % (F, T, T): True,     # (F and T) or T
            "%s or %s and %s" % (T, T, F): True,     # T or (T and F)
            "(%s or %s) and %s" % (T, T, F): False,
            "not %s and %s" % (T, F): False,         # (not T) and F
            "not %s or %s" % (T, T): True,           # (not T) or T
            "not (%s or %s)" % (F, T): False,
            "not not %s" % T: True,
            "%s or %s or %s" % (F, F, T): True,
            "%s and %s and %s" % (T, T, F): False,
        }
        for text, expected in cases.items():
            self.assertEqual(outcome(text), (expected, []), text)

    def test_plus_binds_tighter_than_equal(self):
        """'+' groups before '==' on both sides; '+' is left-associative."""
        self.assertEqual(outcome("'a' == 'a' + 'b'"), (False, []))
        self.assertEqual(outcome("'ab' == 'a' + 'b'"), (True, []))
        self.assertEqual(outcome("'a' + 'b' == 'ab'"), (True, []))
        self.assertEqual(value("'a' + 'b' + 'c' + 'd'"), b"abcd")
        self.assertEqual(value("('a' + 'b') + ('c')"), b"abc")

    def test_not_applies_to_comparison(self):
        """not 'a' == 'b' is not ('a' == 'b')."""
        self.assertEqual(outcome("not 'a' == 'b'"), (True, []))

    def test_no_short_circuit_and(self):
        """A false left operand of 'and' does not save an error on the right:
        the class does not match and the error is reported (§4, #139)."""
        matched, errors = outcome("'a' == 'b' and addrtotext(0x0a) == ''")
        self.assertFalse(matched)
        self.assertEqual(errors, ["Can not convert to valid address."])

    def test_no_short_circuit_or(self):
        """A true left operand of 'or' does not save an error on the right (#140)."""
        matched, errors = outcome("'a' == 'a' or uint8totext(0x0102) == ''")
        self.assertEqual((matched, errors), (False, ["Can not convert to valid uint8."]))

    def test_ifelse_evaluates_both_branches(self):
        """ifelse evaluates the branch it does not take too (#141)."""
        matched, errors = outcome("ifelse('a' == 'a', 'x', addrtotext(0x0a)) == 'x'")
        self.assertEqual((matched, errors), (False, ["Can not convert to valid address."]))
        self.assertEqual(value("ifelse(option[66].exists, 'y', 'n')"), b"n")
        self.assertEqual(value("ifelse(option[60].exists, 'y', 'n')"), b"y")

    def test_first_error_wins(self):
        """Operands run left to right: the first failing one is reported."""
        matched, errors = outcome("int8totext(0x0102) == addrtotext(0x01)")
        self.assertEqual(errors, ["Can not convert to valid int8."])

    def test_evaluate_value_raises(self):
        """evaluate_value raises EvaluationError with Kea's text."""
        e = self.assertRaises(EvaluationError, compiled("addrtotext(0x01)", string=True)
                              .evaluate_value, PACKETS["P1"])
        self.assertEqual(e.message, "Can not convert to valid address.")

    def test_bool_value(self):
        """A test's value is Kea's stack string 'true' / 'false'."""
        self.assertEqual(compiled("option[60].exists").evaluate_value(PACKETS["P1"]), b"true")
        self.assertEqual(compiled("option[66].exists").evaluate_value(PACKETS["P1"]), b"false")

    def test_string_expression_as_bool(self):
        """A string expression used as a test must be 'true' or 'false'."""
        e = compiled("ifelse(option[60].exists, 'true', 'false')", string=True)
        self.assertTrue(e.evaluate(PACKETS["P1"]))
        errors = []
        self.assertFalse(compiled("'yes'", string=True).evaluate(PACKETS["P1"],
                                                                 on_error=errors.append))
        self.assertEqual(errors, ['Incorrect boolean. Expected exactly "false" or "true", '
                                  'got "yes"'])


# --------------------------------------------------------------------------
# Functions

class SubstringTests(SynchronousTestCase):

    def test_table(self):
        """§6's verified substring('foobar', start, length) results."""
        cases = [(0, 6, b"foobar"), (3, 3, b"bar"), (3, "all", b"bar"), (1, 4, b"ooba"),
                 (-5, 4, b"ooba"), (-1, -3, b"oba"), (4, -2, b"ob"), (10, 2, b""),
                 (-7, 2, b""), (-6, 2, b"fo"), (6, 1, b""), (2, -5, b"fo"), (0, 0, b""),
                 (1, 100, b"oobar"), (-1, "all", b"r"), (5, -100, b"fooba")]
        for start, length, expected in cases:
            self.assertEqual(value("substring('foobar', %s, %s)" % (start, length)),
                             expected, (start, length))

    def test_int_range_at_run_time(self):
        """start/length are range-checked as C ints at evaluation, and only
        for a non-empty string."""
        self.assertEqual(value("substring('', 3000000000, 1)"), b"")
        e = self.assertRaises(EvaluationError,
                              compiled("substring('ab', 3000000000, 1)", string=True)
                              .evaluate_value, PACKETS["P1"])
        self.assertEqual(e.message, "the parameter '3000000000' for the starting position "
                                    "of the substring couldn't be converted to an integer.")
        e = self.assertRaises(EvaluationError,
                              compiled("substring('ab', 0, -3000000000)", string=True)
                              .evaluate_value, PACKETS["P1"])
        self.assertIn("for the length of the substring", e.message)


class SplitTests(SynchronousTestCase):

    def test_fields(self):
        """Fields numbered from 1, any delimiter character splits, adjacent
        delimiters give empty fields, out of range gives '' (§6)."""
        cases = [("'one.two..four'", "'.'", 1, b"one"), ("'one.two..four'", "'.'", 3, b""),
                 ("'one.two..four'", "'.'", 4, b"four"), ("'one.two..four'", "'.'", 5, b""),
                 ("'one.two..four'", "'.'", 0, b""), ("'one.two..four'", "'.'", -1, b""),
                 ("'a,b;c'", "',;'", 3, b"c"), ("'abc'", "''", 7, b"abc"),
                 ("'abc'", "''", -2, b"abc"), ("''", "'.'", 1, b""),
                 ("'.a.'", "'.'", 1, b""), ("'.a.'", "'.'", 3, b""),
                 ("'a]b'", "']'", 2, b"b"), ("'a-b\\\\c'", "'\\\\-'", 2, b"b")]
        for s, d, n, expected in cases:
            self.assertEqual(value("split(%s, %s, %d)" % (s, d, n)), expected, (s, d, n))

    def test_field_range(self):
        """A field number beyond a C int fails at run time for a non-empty
        string only."""
        self.assertEqual(value("split('', '.', 3000000000)"), b"")
        self.assertRaises(EvaluationError,
                          compiled("split('a', '.', 3000000000)", string=True).evaluate_value,
                          PACKETS["P1"])


class ConversionTests(SynchronousTestCase):

    def test_hexstring(self):
        """Lower-case two-digit hex joined by any separator (§5)."""
        self.assertEqual(value("hexstring(0x0AbC, '')"), b"0abc")
        self.assertEqual(value("hexstring(0x0102, '::')"), b"01::02")
        self.assertEqual(value("hexstring(0x00ff10, '-')"), b"00-ff-10")
        self.assertEqual(value("hexstring('', ':')"), b"")
        self.assertEqual(value("hexstring(0x01, ':')"), b"01")
        self.assertEqual(value("hexstring(pkt4.mac, ':')"), b"00:11:22:33:44:55")

    def test_addrtotext(self):
        """4 bytes dotted, 16 bytes as glibc's inet_ntop, '' stays ''."""
        cases = {"10.0.0.1": b"10.0.0.1", "0x0a000001": b"10.0.0.1",
                 "2001:db8::1": b"2001:db8::1", "::": b"::", "::1": b"::1",
                 "::ffff:1.2.3.4": b"::ffff:1.2.3.4", "0x00000000000000000000000001020304":
                 b"::1.2.3.4", "2001:0:0:1:0:0:0:1": b"2001:0:0:1::1",
                 "1:0:2:0:3:0:4:0": b"1:0:2:0:3:0:4:0", "''": b""}
        for arg, expected in cases.items():
            self.assertEqual(value("addrtotext(%s)" % arg), expected, arg)
        for bad in ["0x0a", "0x0a0000", "'abcde'"]:
            e = self.assertRaises(EvaluationError,
                                  compiled("addrtotext(%s)" % bad, string=True).evaluate_value,
                                  PACKETS["P1"])
            self.assertEqual(e.message, "Can not convert to valid address.")

    def test_int_to_text(self):
        """int*/uint*totext: exact size, big-endian, '' stays ''; other sizes
        fail with Kea's message."""
        cases = [("int8totext(0xff)", b"-1"), ("uint8totext(0xff)", b"255"),
                 ("int16totext(0xfffe)", b"-2"), ("uint16totext(0xfffe)", b"65534"),
                 ("int32totext(0x80000000)", b"-2147483648"),
                 ("uint32totext(0xffffffff)", b"4294967295"), ("uint32totext(pkt4.hlen)", b"6"),
                 ("int16totext('')", b""), ("uint32totext(option[66].hex)", b"")]
        for text, expected in cases:
            self.assertEqual(value(text), expected, text)
        for fn, size in [("int8", 1), ("int16", 2), ("int32", 4), ("uint8", 1),
                         ("uint16", 2), ("uint32", 4)]:
            bad = "0x" + "00" * (size + 1)
            e = self.assertRaises(EvaluationError,
                                  compiled("%stotext(%s)" % (fn, bad), string=True).evaluate_value,
                                  PACKETS["P1"])
            self.assertEqual(e.message, "Can not convert to valid %s." % fn)

    def test_literals(self):
        """Integers are 4 bytes big-endian, hex with an odd digit count gets
        a leading 0, addresses are 4 or 16 bytes, strings have no escapes."""
        self.assertEqual(value("7"), b"\x00\x00\x00\x07")
        self.assertEqual(value("007"), b"\x00\x00\x00\x07")
        self.assertEqual(value("0xabc"), b"\x0a\xbc")
        self.assertEqual(value("10.1.2.3"), b"\x0a\x01\x02\x03")
        self.assertEqual(len(value("fe80::1")), 16)
        self.assertEqual(value("'a\\nb'"), b"a\\nb")
        self.assertEqual(value("'\u00e9'"), "\u00e9".encode("utf-8"))


# --------------------------------------------------------------------------
# Packet fields and options

class PacketFieldTests(SynchronousTestCase):

    def test_hlen_capped(self):
        """pkt4.hlen is at most 16 (Pkt4::getHlen); pkt4.mac is hlen bytes."""
        p = Packet4(hlen=20, chaddr=bytes(range(1, 17)), options={53: b"\x01"})
        self.assertEqual(value("pkt4.hlen", p), b"\x00\x00\x00\x10")
        self.assertEqual(len(value("pkt4.mac", p)), 20)

    def test_msgtype_without_option(self):
        """No option 53: pkt4.msgtype is 0 (DHCP_NOTYPE)."""
        self.assertEqual(value("pkt4.msgtype", Packet4()), b"\x00\x00\x00\x00")

    def test_metadata(self):
        """pkt.iface/src/dst come from the receive metadata."""
        p = Packet4(iface="eth9", remote_addr=IPv4Address("192.0.2.1"),
                    local_addr=IPv4Address("192.0.2.2"))
        self.assertEqual(value("pkt.iface", p), b"eth9")
        self.assertEqual(value("addrtotext(pkt.src) + ' ' + addrtotext(pkt.dst)", p),
                         b"192.0.2.1 192.0.2.2")

    def test_len_counts_reparsed_options(self):
        """pkt.len = 236 + sum(2 + len) of the options as Kea holds them
        (no cookie, no END, no padding; NUL-trimmed strings)."""
        p = Packet4(options={53: b"\x01", 12: b"host"})
        self.assertEqual(value("uint32totext(pkt.len)", p), b"%d" % (236 + 3 + 6))

    def test_member_sees_current_classes(self):
        """member() reads the view's class set at evaluation time, so a class
        added between evaluations is seen by later ones."""
        classes = {"ALL"}
        view = PacketView(PACKETS["P1"], classes)
        e = compiled("member('a')", defined_classes=["a"])
        self.assertFalse(e.evaluate(view))
        classes.add("a")
        self.assertTrue(e.evaluate(view))


class OptionTests(SynchronousTestCase):

    def test_deferred_options_untyped_in_pass_one(self):
        """Options 224-254 are raw until Kea's deferred unpack: generic text
        in pass 1, typed afterwards (dhcp4.md §2 step 3)."""
        defs = STANDARD_DEFINITIONS.extend([OptionDefinition("marker", 230, "string")])
        e = compile_expression("option[230].text", defined_classes=(),
                               option_definitions=defs, string=True)
        p = Packet4(options={230: b"hi"})
        self.assertEqual(e.evaluate_value(p), b"type=230, len=002: 68:69")
        self.assertEqual(e.evaluate_value(e.view(p, deferred_unpacked=True)), b"hi")

    def test_option_43_suboptions_after_deferred_unpack(self):
        """43 has sub-options only once unpacked with its last-resort definition."""
        p = Packet4(options={43: b"\x01\x02ab"})
        e = compiled("option[43].option[1].hex", string=True)
        self.assertEqual(e.evaluate_value(p), b"")
        self.assertEqual(e.evaluate_value(e.view(p, deferred_unpacked=True)), b"ab")

    def test_fused_option_is_untyped(self):
        """An option that arrived in several instances is a generic option:
        .text is the hex dump even for a string option."""
        p = Packet4(options={12: b"abcd"}, fused=frozenset([12]))
        self.assertEqual(value("option[12].text", p), b"type=012, len=004: 61:62:63:64")
        self.assertEqual(value("option[12].hex", p), b"abcd")

    def test_text_of_typed_options(self):
        """.text is Option::toString(): the value for strings, else toText()."""
        p = Packet4(options={3: bytes([10, 0, 0, 1, 10, 0, 0, 2]), 51: b"\x00\x00\x0e\x10"})
        self.assertEqual(value("option[3].text", p), b"type=003, len=008: 10.0.0.1 10.0.0.2")
        self.assertEqual(value("option[51].text", p), b"type=051, len=004: 3600 (uint32)")

    def test_relay_suboptions(self):
        """relay4[N] is option[82].option[N]; repeated sub-options are fused."""
        p = Packet4(options={82: b"\x01\x02ab\x01\x01c\x02\x01z"})
        self.assertEqual(value("relay4[1].hex", p), b"abc")
        self.assertEqual(value("option[82].option[2].hex", p), b"z")
        self.assertEqual(outcome("relay4[3].exists", p), (False, []))

    def test_vendor_option_zero_is_exists(self):
        """vendor[E].option[0] is an exists check in Kea 2.2 (TokenVendor
        treats sub-option code 0 as 'no sub-option'): .hex gives 'true'."""
        self.assertEqual(value("vendor[4491].option[0].hex"), b"true")
        self.assertEqual(value("vendor[1].option[0].hex"), b"")
        self.assertEqual(outcome("vendor[*].option[0].exists"), (True, []))
        self.assertEqual(value("vendor[4491].option[0].hex", PACKETS["P2"]), b"")

    def test_vendor_fields(self):
        """vendor/vendor-class enterprise and data."""
        self.assertEqual(value("vendor.enterprise"), (4491).to_bytes(4, "big"))
        self.assertEqual(value("vendor-class.enterprise", PACKETS["P2"]), (9).to_bytes(4, "big"))
        self.assertEqual(value("vendor-class[0].data[1]", PACKETS["P2"]), b"BC")
        self.assertEqual(value("vendor-class[9].data[255]", PACKETS["P2"]), b"")
        self.assertEqual(value("vendor[4491].option[1].text"),
                         b"type=001, len=002: 1(uint8) 2(uint8)")

    def test_fused_vendor_option_is_not_a_vendor_option(self):
        """A fused 125 is generic: vendor[*] sees no vendor option."""
        p = Packet4(options={125: b"\x00\x00\x11\x8b\x04\x01\x02\x01\x02"},
                    fused=frozenset([125]))
        self.assertEqual(outcome("vendor[*].exists", p), (False, []))
        self.assertEqual(value("vendor.enterprise", p), b"")


# --------------------------------------------------------------------------
# Properties

_WORDS = ["option", "relay4", "member", "pkt", "pkt4", "vendor", "vendor-class", "substring",
          "split", "concat", "ifelse", "hexstring", "addrtotext", "uint8totext", "not", "and",
          "or", "==", "(", ")", "[", "]", ".", ",", "*", "+", "'a'", "0x0f", "1", "-1", "all",
          "text", "hex", "exists", "mac", "len", "iface", "data", "enterprise", "host-name",
          "10.0.0.1", "::1", "'ALL'", " ", "\n"]

#: Valid tests exercising every operand, for the packet property.
_VALID = [v["expression"] for v in VECTORS["vectors"]] + [
    "option[82].option[1].text == 'x'", "vendor[*].option[1].text == ''",
    "option[43].option[1].exists", "option[125].option[1].hex == 0x0102",
    "pkt.len == 0", "substring(option[12].hex, -2, -5) == split(option[60].text, '.', 2)",
    "addrtotext(option[50].hex) == 'x'", "int16totext(option[57].hex) == '1'",
    "option[81].text == ''", "option[124].text == ''", "option[125].text == ''",
    "vendor-class[*].data[3] == ''", "hexstring(option[61].hex, ':') == ''",
]
_EXPRESSIONS = [compiled(t) for t in _VALID]

_CODES = st.sampled_from([1, 3, 12, 43, 50, 51, 53, 55, 57, 60, 61, 81, 82, 119, 124, 125,
                          200, 224, 230])


@st.composite
def packets(draw):
    opts = draw(st.dictionaries(_CODES, st.binary(max_size=40), max_size=8))
    fused = draw(st.frozensets(st.sampled_from(sorted(opts) or [1]), max_size=3))
    hlen = draw(st.integers(0, 255))
    return Packet4(op=draw(st.integers(0, 255)), htype=draw(st.integers(0, 255)), hlen=hlen,
                   xid=draw(st.integers(0, 0xFFFFFFFF)),
                   chaddr=draw(st.binary(min_size=16, max_size=16))[:min(hlen, 16)],
                   options=opts, fused=frozenset(c for c in fused if c in opts),
                   iface=draw(st.text(max_size=5)))


class PropertyTests(SynchronousTestCase):

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.sampled_from(_WORDS), max_size=12).map(" ".join))
    def test_token_soup_compiles_or_raises_expression_error(self, text):
        """Any sequence of Kea tokens compiles or raises ExpressionError."""
        try:
            compile_expression(text, defined_classes=())
        except ExpressionError as e:
            self.assertTrue(e.message.startswith("<string>:"), e.message)

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=40))
    def test_any_text_compiles_or_raises_expression_error(self, text):
        """Any text compiles or raises ExpressionError, nothing else."""
        try:
            compile_expression(text, defined_classes=None)
        except ExpressionError:
            pass

    @settings(max_examples=150, deadline=None)
    @given(packets(), st.booleans())
    def test_evaluation_never_raises(self, packet, deferred):
        """Every valid expression gives a bool on any packet, with or
        without the deferred unpack done."""
        for e in _EXPRESSIONS:
            view = PacketView(packet, {"ALL"}, deferred_unpacked=deferred)
            self.assertIn(e.evaluate(view), (True, False))

    @settings(max_examples=100, deadline=None)
    @given(st.binary(min_size=240, max_size=400))
    def test_decoded_garbage_never_raises(self, data):
        """Packets decoded from random bytes (after the cookie) never make a
        valid expression raise."""
        from kea_twisted.packet import MalformedPacket
        raw = bytes(236) + b"\x63\x82\x53\x63" + data[240:]
        try:
            packet = decode(bytes(data[:2]) + raw[2:])
        except MalformedPacket:
            return
        view = PacketView(packet, ())
        for e in _EXPRESSIONS:
            self.assertIn(e.evaluate(view), (True, False))
