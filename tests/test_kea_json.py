"""
Tests for kea_twisted.kea_json: Kea's JSON text, stream scanner and parser.

Every parser error case below was checked against a real kea-dhcp4 2.2.0
control socket (the answer's ``text``), see spec/control-channel.md §1.3.
"""

from __future__ import annotations

import enum
import json

from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted import kea_json
from kea_twisted.config.element import ListElement, MapElement, Position, ScalarElement, from_python
from kea_twisted.kea_json import (
    MAX_DEPTH,
    JSONFeed,
    KeaJSONError,
    decode_json,
    from_json,
    from_wire,
    kea_bytes,
    to_kea_bytes,
    to_kea_text,
)


def scan(data: bytes, **kwargs) -> JSONFeed:
    feed = JSONFeed(**kwargs)
    feed.feed(data)
    return feed


def wire_error(data: bytes) -> str:
    """What Kea answers for ``data`` when the scanner or parser refuses it."""
    feed = scan(data)
    if feed.failed:
        return feed.error
    try:
        feed.to_element()
    except KeaJSONError as error:
        return str(error)
    raise AssertionError(f"{data!r} was accepted")


class TextFormatTests(SynchronousTestCase):
    """to_kea_text: Kea's Element::str() (spec §1.6)."""

    def test_spec_examples(self):
        """The four answers quoted in spec §1.6, byte for byte."""
        self.assertEqual(to_kea_text({"arguments": {}, "result": 0}),
                         '{ "arguments": {  }, "result": 0 }')
        self.assertEqual(
            to_kea_text({"result": 3, "text": "0 IPv4 lease(s) found.",
                         "arguments": {"leases": []}}),
            '{ "arguments": { "leases": [  ] }, "result": 3, "text": "0 IPv4 lease(s) found." }')
        self.assertEqual(
            to_kea_text({"arguments": {"subnet[1].total-addresses":
                                       [[10, "2026-11-25 05:34:58.979668"]]}, "result": 0}),
            '{ "arguments": { "subnet[1].total-addresses": '
            '[ [ 10, "2026-11-25 05:34:58.979668" ] ] }, "result": 0 }')
        self.assertEqual(to_kea_text({"result": 2, "text": "'foo' command not supported."}),
                         '''{ "result": 2, "text": "'foo' command not supported." }''')

    def test_empty_containers(self):
        """Empty map and list have two spaces inside."""
        self.assertEqual(to_kea_text({}), "{  }")
        self.assertEqual(to_kea_text([]), "[  ]")
        self.assertEqual(to_kea_text(()), "[  ]")

    def test_keys_sorted_by_bytes(self):
        """Keys in byte order (uppercase before lowercase, '-' before
        letters), whatever the dict order."""
        self.assertEqual(to_kea_text({"b": 1, "B": 2, "a-b": 3, "a": 4}),
                         '{ "B": 2, "a": 4, "a-b": 3, "b": 1 }')

    def test_scalars(self):
        """null, true, false, integers as usual."""
        self.assertEqual(to_kea_text([None, True, False, 0, -7, 2**62]),
                         "[ null, true, false, 0, -7, 4611686018427387904 ]")

    def test_reals(self):
        """Reals as C++ ostream (%g) with '.0' added when there is no '.'."""
        self.assertEqual(to_kea_text(1.5), "1.5")
        self.assertEqual(to_kea_text(100.0), "100.0")
        self.assertEqual(to_kea_text(0.1), "0.1")
        self.assertEqual(to_kea_text(1234567.0), "1.23457e+06")
        self.assertEqual(to_kea_text(1e20), "1e+20.0")
        self.assertEqual(to_kea_text(float("inf")), "inf.0")

    def test_string_escapes(self):
        """The hostname a"b\\cé/<TAB> (é received as \\u00e9, one byte) comes
        back as "a\\"b\\\\c\\u00e9/\\t" (spec §1.6); '/' is not escaped."""
        self.assertEqual(to_kea_text('a"b\\c\xe9/\t'), '"a\\"b\\\\c\\u00e9/\\t"')

    def test_control_and_high_bytes(self):
        """\\b \\f \\n \\r named; other control bytes and 0x7f-0xff as \\u00XX."""
        self.assertEqual(to_kea_text("\b\f\n\r\x01\x1f\x7f\xff"),
                         '"\\b\\f\\n\\r\\u0001\\u001f\\u007f\\u00ff"')

    def test_unicode_above_latin1_written_as_utf8_bytes(self):
        """A character above U+00FF is written as its UTF-8 bytes, each
        escaped, as Kea writes a UTF-8 string."""
        self.assertEqual(to_kea_text("\u20ac"), '"\\u00e2\\u0082\\u00ac"')

    def test_keys_written_raw(self):
        """Kea does not escape map keys."""
        self.assertEqual(to_kea_text({'a"b': 1}), '{ "a"b": 1 }')

    def test_elements(self):
        """Positioned elements format like their plain values."""
        element = from_wire(b'{"b": [1, 2.5, "x"], "a": null}')
        self.assertEqual(to_kea_text(element), '{ "a": null, "b": [ 1, 2.5, "x" ] }')

    def test_bytes(self):
        """to_kea_bytes: Latin-1 for Kea's byte strings."""
        self.assertEqual(to_kea_bytes({"k": "\xe9"}), b'{ "k": "\\u00e9" }')
        self.assertEqual(kea_bytes("\xe9\u20ac"), b"\xe9\xe2\x82\xac")

    def test_deep_value(self):
        """20,000 nested lists format without RecursionError."""
        value: list = []
        for _ in range(20000):
            value = [value]
        text = to_kea_text(value)
        self.assertTrue(text.startswith("[ [ [ "))
        self.assertEqual(len(text), 20001 * 4 - 2 + 2)

    def test_not_json(self):
        """Anything else is a TypeError."""
        self.assertRaises(TypeError, to_kea_text, object())


class FeedTests(SynchronousTestCase):
    """JSONFeed: Kea's stream scanner (spec §1.1)."""

    def test_complete_object(self):
        """One object, no newline needed."""
        feed = scan(b'{"command":"version-get"}')
        self.assertTrue(feed.done)
        self.assertEqual(feed.text, b'{"command":"version-get"}')

    def test_chunks(self):
        """The object may come in many chunks; incomplete until the brace."""
        feed = JSONFeed()
        for chunk in (b'{"comm', b'and": "vers', b'ion-get", "argu', b'ments": {}'):
            feed.feed(chunk)
            self.assertTrue(feed.need_data)
        feed.feed(b"}")
        self.assertTrue(feed.done)
        self.assertEqual(feed.to_element().to_python(),
                         {"command": "version-get", "arguments": {}})

    def test_one_byte_at_a_time(self):
        """Byte by byte gives the same as at once, escapes included."""
        data = b'{"x":"}{\\"\\\\","y":[1,{"z":"]"}]} trailing'
        feed = JSONFeed()
        for i in range(len(data)):
            feed.feed(data[i:i + 1])
        self.assertTrue(feed.done)
        self.assertEqual(feed.text, scan(data).text)

    def test_braces_inside_strings(self):
        """{"x":"}{"} is one object."""
        feed = scan(b'{"command":"version-get","arguments":{"x":"}{"}}')
        self.assertTrue(feed.done)
        self.assertEqual(feed.to_element().to_python()["arguments"], {"x": "}{"})

    def test_escaped_quote_inside_string(self):
        """An escaped quote does not end the string."""
        feed = scan(b'{"x":"a\\"}"}')
        self.assertTrue(feed.done)
        self.assertEqual(feed.to_element().to_python(), {"x": 'a"}'})

    def test_trailing_data_ignored(self):
        """After the first object nothing more is read: a second command or
        garbage is ignored (spec §1.1)."""
        for data in (b'{"command":"version-get"}{"command":"list-commands"}',
                     b'{"command":"version-get"}\n{"command":"list-commands"}\n',
                     b'{"command":"version-get"} garbage'):
            feed = scan(data)
            self.assertTrue(feed.done)
            self.assertEqual(feed.text, b'{"command":"version-get"}')
            feed.feed(b"more")
            self.assertEqual(feed.text, b'{"command":"version-get"}')

    def test_leading_whitespace_not_counted(self):
        """Leading spaces and CRLF are skipped and not part of the text; the
        partial command of the timeout answer counts 24 bytes."""
        feed = scan(b'  \r\n {"command":"version-get"')
        self.assertTrue(feed.need_data)
        self.assertEqual(feed.processed_size, 24)

    def test_comments(self):
        """#, // and /* */ comments are dropped before and inside the
        object; newlines in them are kept for line counting."""
        feed = scan(b'# hi\n// there\n/* x */{"a": 1, # c\n "b": /* y */ 2}')
        self.assertTrue(feed.done)
        self.assertEqual(feed.text, b'{"a": 1, \n "b":  2}')

    def test_list_accepted(self):
        """A list also ends the feed (the command check refuses it later)."""
        feed = scan(b'["version-get"]')
        self.assertTrue(feed.done)
        self.assertIsInstance(feed.to_element(), ListElement)

    def test_first_character_errors(self):
        """Kea's feed errors for what cannot start an object."""
        self.assertEqual(scan(b"hello world").error, "invalid first character h")
        self.assertEqual(scan(b'"version-get"').error, 'invalid first character "')
        self.assertEqual(scan(b"  hello").error, "invalid character h")
        self.assertEqual(scan(b"#c\nx").error, "invalid character x")
        self.assertEqual(scan(b"/x").error, "invalid characters /x")
        self.assertEqual(scan(b"/*a*/ x").error, "invalid character x")
        self.assertEqual(scan(b'{"a": /x}').error, "invalid characters /x")

    def test_failed_feed_ignores_more(self):
        """After a failure the feed stays failed."""
        feed = scan(b"x")
        feed.feed(b'{"command":"version-get"}')
        self.assertTrue(feed.failed)
        self.assertFalse(feed.done)

    def test_to_element_before_done(self):
        """Asking for the element too early is an error."""
        self.assertRaises(KeaJSONError, scan(b"{").to_element)

    def test_depth_limit(self):
        """20,000 nested brackets fail the feed with one error, no
        RecursionError."""
        feed = scan(b"[" * 20000)
        self.assertTrue(feed.failed)
        self.assertEqual(feed.error, f"JSON nesting deeper than {MAX_DEPTH} levels")

    def test_size_limit(self):
        """A 10 MB command fails with one error and the buffer is freed."""
        feed = JSONFeed()
        chunk = b'{"a":"' + b"x" * 65536
        feed.feed(chunk)
        filler = b"x" * 65536
        for _ in range(160):
            feed.feed(filler)
            if feed.failed:
                break
        self.assertTrue(feed.failed)
        self.assertEqual(feed.error, "command is larger than 8388608 bytes")
        self.assertEqual(feed.processed_size, 0)

    def test_size_limit_is_configurable(self):
        """max_size bounds the command."""
        self.assertTrue(scan(b'{"a": "0123456789"}', max_size=10).failed)
        self.assertTrue(scan(b'{"a": "0123456789"}', max_size=100).done)

    @given(st.lists(st.binary(max_size=40), max_size=12))
    @settings(max_examples=300, deadline=None)
    def test_random_chunks_only_kea_errors(self, chunks):
        """Random chunks never raise anything but KeaJSONError, in the feed
        or in the parse of what it found."""
        feed = JSONFeed()
        for chunk in chunks:
            feed.feed(chunk)
        if feed.done:
            try:
                feed.to_element()
            except KeaJSONError:
                pass

    @given(st.recursive(
        st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
            st.text(alphabet="abcxyz-", max_size=5), inner, max_size=4),
        max_leaves=20))
    @settings(max_examples=200, deadline=None)
    def test_round_trip(self, value):
        """Kea's text of a value (maps and lists at the top) parses back to
        the same value, strings as Kea's bytes."""
        wrapped = {"v": value}
        element = from_wire(to_kea_bytes(wrapped))
        expected = _as_kea_bytes(wrapped)
        self.assertEqual(element.to_python(), expected)


def _as_kea_bytes(value):
    if isinstance(value, str):
        return kea_bytes(value).decode("latin-1")
    if isinstance(value, list):
        return [_as_kea_bytes(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_kea_bytes(v) for k, v in value.items()}
    return value


# (sent, Kea 2.2.0's answer text) — every one observed on a real kea-dhcp4.
KEA_PARSE_ERRORS = [
    (b'{"command": version-get}', "error: unexpected character v in <wire>:0:13"),
    (b'{"command": "version-get",}', "String expected in <wire>:0:27"),
    (b'{"a":1x}', "'x' read, one of \",}\" expected in <wire>:0:7"),
    (b'{"a"]', "']' read, one of \":\" expected in <wire>:0:5"),
    (b'{"a":[,1]}', "error: unexpected character , in <wire>:0:7"),
    (b'{"a":1e400}', "Number overflow: 1e400 in <wire>:0:5"),
    (b'{"a":99999999999999999999}', "Number overflow: 99999999999999999999 in <wire>:0:5"),
    (b'{"a":-}', "Number overflow: - in <wire>:0:5"),
    (b'{"a":1-2}', "Number overflow: 1-2 in <wire>:0:5"),
    (b'{"a":1e}', "Number overflow: 1e in <wire>:0:5"),
    (b'{"a":--1}', "Number overflow: --1 in <wire>:0:5"),
    (b'{"a":0x10}', "'x' read, one of \",}\" expected in <wire>:0:7"),
    (b'{"a":tru}', "Bad boolean value: tru in <wire>:0:5"),
    (b'{"a":nul}', "Bad null value: nul in <wire>:0:5"),
    (b'{"a":"\\x"}', "Bad escape in <wire>:0:7"),
    (b'{"a":"\\u1234"}', "Unsupported unicode escape in <wire>:0:8"),
    (b'{"a":"\\u0x12"}', "Unsupported unicode escape in <wire>:0:7"),
    (b'{"a":"\\u00zz"}', "Not hexadecimal in unicode escape in <wire>:0:7"),
    (b'{"a":"\\u000z"}', "Not hexadecimal in unicode escape in <wire>:0:7"),
    (b'{\n"a":\nx}', "error: unexpected character x in <wire>:2:2"),
    (b'{"a":1 // c\nx}', "'x' read, one of \",}\" expected in <wire>:1:2"),
    (b'{"a":[1 2]}', "'2' read, one of \",]\" expected in <wire>:0:9"),
    (b'{1:2}', "String expected in <wire>:0:2"),
    (b'{"a" 1}', "'1' read, one of \":\" expected in <wire>:0:6"),
    (b'{"a":}', "error: unexpected character } in <wire>:0:6"),
    (b'{"a":"x\ny" z}', "'z' read, one of \",}\" expected in <wire>:0:12"),
]

# Accepted by Kea 2.2.0 (checked the same way), with the values we read.
KEA_ACCEPTED = [
    (b'{"a":[1,]}', {"a": [1]}),
    (b'{"a":+5}', {"a": 5}),
    (b'{"a":1.}', {"a": 1.0}),
    (b'{"a":.5}', {"a": 0.5}),
    (b'{"a":1e5}', {"a": 100000.0}),
    (b'{"a":1.e5}', {"a": 100000.0}),
    (b'{"a":+.5}', {"a": 0.5}),
    (b'{"a":1e-400}', {"a": 0.0}),
    (b'{"a":007}', {"a": 7}),
    (b'{"a":-0}', {"a": 0}),
    (b'{"a":1E+2}', {"a": 100.0}),
    (b'{ "a" : 1 , "b" :2 }', {"a": 1, "b": 2}),
]


class ParserTests(SynchronousTestCase):
    """from_wire: Kea's Element::fromWire, errors and positions."""

    def test_kea_errors(self):
        """Each malformed object gets the text real Kea answered."""
        for data, expected in KEA_PARSE_ERRORS:
            self.assertEqual(wire_error(data), expected, data)

    def test_kea_accepts(self):
        """What Kea accepts, with its values."""
        for data, expected in KEA_ACCEPTED:
            feed = scan(data)
            self.assertTrue(feed.done, data)
            self.assertEqual(feed.to_element().to_python(), expected, data)

    def test_number_kinds(self):
        """A run with '.', 'e' or 'E' is a real, otherwise an integer."""
        element = from_wire(b'[1, 1.0, 1e0, -3]')
        self.assertEqual([e.kind for e in element], ["integer", "real", "real", "integer"])

    def test_last_duplicate_wins(self):
        """{"command":"foo","command":"version-get"} is version-get."""
        element = from_wire(b'{"command":"foo","command":"version-get"}')
        self.assertEqual(element.to_python(), {"command": "version-get"})

    def test_unicode_escape_is_one_byte(self):
        """\\u00e9 is the single byte 0xE9 (spec §1.6 SURPRISE); raw UTF-8
        stays two bytes."""
        self.assertEqual(from_wire(b'["\\u00e9", "\xc3\xa9"]').to_python(),
                         ["\xe9", "\xc3\xa9"])

    def test_escapes(self):
        """All of JSON's simple escapes."""
        self.assertEqual(from_wire(b'["\\"\\/\\\\\\b\\f\\n\\r\\t"]').to_python(),
                         ['"/\\\b\f\n\r\t'])

    def test_positions(self):
        """Maps and lists at their bracket's 1-based column, scalars one
        less; line and column counted from 0 on the wire."""
        element = from_wire(b'{"command": "lease4-add", "arguments": [1, {"x": true}]}')
        self.assertIsInstance(element, MapElement)
        self.assertEqual(element.pos, Position("<wire>", 0, 1))
        self.assertEqual(element["command"].pos, Position("<wire>", 0, 12))
        arguments = element["arguments"]
        self.assertEqual(arguments.pos, Position("<wire>", 0, 40))
        self.assertEqual(arguments[0].pos, Position("<wire>", 0, 40))
        self.assertEqual(arguments[1].pos, Position("<wire>", 0, 44))
        self.assertEqual(arguments[1]["x"].pos, Position("<wire>", 0, 49))
        self.assertIsInstance(arguments[1]["x"], ScalarElement)

    def test_nothing_read(self):
        """An empty list item at the end of input: Kea's 'nothing read'."""
        self.assertEqual(self._error(b"["), "nothing read")
        self.assertEqual(self._error(b"{"), "Unterminated map, <string> or } expected in <wire>:0:1")
        self.assertEqual(self._error(b'{"a'), "Unterminated string in <wire>:0:4")
        self.assertEqual(self._error(b'{"a":1'), "EOF read, one of \",}\" expected in <wire>:0:7")

    def _error(self, data: bytes) -> str:
        try:
            from_wire(data)
        except KeaJSONError as error:
            return str(error)
        raise AssertionError("accepted")

    def test_depth_limit(self):
        """The parser refuses nesting deeper than its limit cleanly."""
        error = self._error(b"[" * 20000)
        self.assertTrue(error.startswith(f"JSON nesting deeper than {MAX_DEPTH} levels"))

    def test_from_json(self):
        """from_json counts from 1:1 and refuses extra data."""
        element = from_json('{"a": [1]}', "f.json")
        self.assertEqual(element.pos, Position("f.json", 1, 2))
        try:
            from_json('{"a": 1} x')
        except KeaJSONError as error:
            self.assertEqual(str(error), "Extra data in <string>:1:10")
        else:
            self.fail("extra data accepted")


# ---------------------------------------------------------------------------
# to_kea_text's fast path (plain values) against the general printer


class _Code(enum.IntEnum):
    TWO = 2


#: Keys and strings that reach every rule: ASCII, the characters Kea
#: escapes by name or as \u00XX (0x7f included), Latin-1 and characters
#: above U+00FF (written as UTF-8 bytes, and ordered by them as keys).
_TEXT = st.text(alphabet=st.sampled_from(
    list("abcxyz-_/ 09") + ['"', "\\", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f",
                            "\x80", "\xe9", "\xff", "\u0100", "\u20ac", "\U0001f600"]),
    max_size=6)
_SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
            | st.floats(allow_nan=True, allow_infinity=True) | _TEXT
            | st.just(_Code.TWO))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(st.text(alphabet="abcxyz-", max_size=4) | _TEXT, inner,
                                     max_size=4)),
    max_leaves=25)


def _python_escapes_text(value):
    """A plausible printer that is NOT Kea's: Kea's layout, but strings and
    keys written by Python's json (which leaves 0x7f and non-ASCII
    characters as they are and escapes keys) and keys in code point order."""
    if isinstance(value, dict):
        if not value:
            return "{  }"
        return "{ " + ", ".join(json.dumps(key, ensure_ascii=False) + ": " + _python_escapes_text(value[key])
                                for key in sorted(value)) + " }"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[  ]"
        return "[ " + ", ".join(_python_escapes_text(member) for member in value) + " ]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return kea_json._general_text(value)


class FastTextTests(SynchronousTestCase):
    """to_kea_text prints plain values by direct recursion; every value
    must come out byte for byte as the general printer writes it."""

    @given(_VALUES)
    @settings(max_examples=1500, deadline=None)
    def test_same_text_as_general_printer(self, value):
        self.assertEqual(to_kea_text(value), kea_json._general_text(value))
        self.assertEqual(to_kea_text({"v": value, "w": [value]}),
                         kea_json._general_text({"v": value, "w": [value]}))

    def test_fast_path_taken_for_plain_values(self):
        """The comparison above is not between one printer and itself: a
        lease update, floats and escapes included, is printed by the fast
        path (no fallback), with Kea's text."""
        value = {"arguments": {"hw-address": "01:02", "expire": 1795588818, "force-create": True,
                               "user-context": {"a": [1.5, None, "\x7f\xe9\n"]}, "x": ()},
                 "command": "lease4-update", "service": ["dhcp4"]}
        self.assertEqual(
            kea_json._plain_text(value, 0),
            '{ "arguments": { "expire": 1795588818, "force-create": true, "hw-address": "01:02", '
            '"user-context": { "a": [ 1.5, null, "\\u007f\\u00e9\\n" ] }, "x": [  ] }, '
            '"command": "lease4-update", "service": [ "dhcp4" ] }')
        self.assertEqual(kea_json._plain_text(value, 0), kea_json._general_text(value))

    def test_left_to_general_printer(self):
        """Subclasses, elements, non-ASCII keys and deep values are not
        printed by the fast path (the general printer decides)."""
        for value in (_Code.TWO, from_python({"a": 1}), {"\xe9": 1}, {1: 2}):
            self.assertRaises(kea_json._NotPlain, kea_json._plain_text, value, 0)
        deep: list = [1]
        for _ in range(40):
            deep = [deep]
        self.assertRaises(kea_json._NotPlain, kea_json._plain_text, deep, 0)
        self.assertEqual(to_kea_text(deep), kea_json._general_text(deep))

    def test_non_ascii_keys_in_byte_order(self):
        """U+0100 is written as C4 80, so it sorts before U+00E9 (E9): code
        point order would differ, hence no fast path for such keys."""
        self.assertEqual(to_kea_text({"\xe9": 1, "\u0100": 2}), '{ "\u0100": 2, "\xe9": 1 }')

    def test_unorderable_keys(self):
        """Keys that cannot be sorted fail as in the general printer."""
        self.assertRaises(AttributeError, to_kea_text, {1: 1, "a": 2})

    def test_property_catches_a_wrong_printer(self):
        """The strategy above finds where a plausible wrong printer differs
        (so the property test could fail), and finds nothing for ours."""
        wrong = find(_VALUES, lambda v: _python_escapes_text(v) != kea_json._general_text(v),
                     settings=settings(max_examples=2000, database=None))
        self.assertNotEqual(_python_escapes_text(wrong), to_kea_text(wrong))
        self.assertRaises(NoSuchExample, find, _VALUES,
                          lambda v: to_kea_text(v) != kea_json._general_text(v),
                          settings=settings(max_examples=300, database=None))


# ---------------------------------------------------------------------------
# decode_json: from_json's values and errors, C decoder where they agree

#: Texts the way peers and files write them, and the way they break.
_JSON_PIECES = st.sampled_from([
    "{", "}", "[", "]", ",", ":", " ", "\n", "\t", "\x0c", "\x08", '"a"', '"b"', '"\\u00e9"', '"\\u0100"',
    '"\\n\\/"', '"\xe9"', '"\x01"', "1", "-0", "007", "+5", "1.5", ".5", "1e5", "1e400", "-1e-400",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "true", "false", "null", "NaN", "Infinity", "tru", "x", "/", "#",
])


class DecodeJSONTests(SynchronousTestCase):
    """decode_json == from_json(...).to_python(), value and error."""

    def assertSameOutcome(self, text):
        """Both plain readers (CPython's hooked decoder, PyPy's checked
        ``json.loads``) whichever interpreter runs the test."""
        chosen = kea_json._plain_decode
        try:
            for reader in (kea_json._decode_with_hooks, kea_json._decode_then_check):
                kea_json._plain_decode = reader
                self.assertSameOutcomeWithReader(text)
        finally:
            kea_json._plain_decode = chosen

    def assertSameOutcomeWithReader(self, text):
        try:
            expected = ("value", repr(from_json(text).to_python()))
        except KeaJSONError as error:
            expected = ("error", str(error))
        try:
            got = ("value", repr(decode_json(text)))
        except KeaJSONError as error:
            got = ("error", str(error))
        self.assertEqual(got, expected, repr(text))
        # bytes are read as Latin-1, as from_json reads them
        try:
            got_bytes = ("value", repr(decode_json(text.encode("latin-1", "replace"))))
        except KeaJSONError as error:
            got_bytes = ("error", str(error))
        if all(ord(ch) < 0x100 for ch in text):
            self.assertEqual(got_bytes, expected, repr(text))

    @given(st.lists(_JSON_PIECES, max_size=25).map("".join))
    @settings(max_examples=3000, deadline=None)
    def test_random_texts(self, text):
        self.assertSameOutcome(text)

    @given(_VALUES)
    @settings(max_examples=500, deadline=None)
    def test_printed_values(self, value):
        """What Kea (and to_kea_text) writes, and Python's json of it."""
        self.assertSameOutcome(to_kea_text({"v": value}))
        try:
            self.assertSameOutcome(json.dumps({"v": value}))
        except TypeError:
            pass

    def test_edges(self):
        for text in ['[1,]', '{"a":1,"a":2,"b":3}', '{"a":1}  x', ' \x0c{"a":1}', '01',
                     "[" * MAX_DEPTH + "]" * MAX_DEPTH,
                     "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
                     "[" * 300 + "]" * 300, "", " ", '"\\u00e9"', '{"a": NaN}', '1e400', '-0.0']:
            self.assertSameOutcome(text)

    def test_deeper_than_kea_refused(self):
        """Python's decoder would read 300 levels; Kea's parser refuses
        more than MAX_DEPTH."""
        self.assertRaises(KeaJSONError, decode_json, b"[" * 300 + b"]" * 300)



class CheckedReaderTests(SynchronousTestCase):
    """``_decode_then_check`` refuses exactly the numbers the hooks refuse."""

    def test_numbers(self):
        for text in ['[9223372036854775807, -9223372036854775808]', '{"a": [1.5, -0.0, 1e308]}']:
            self.assertEqual(kea_json._decode_then_check(text), kea_json._decode_with_hooks(text))
        for text in ['[9223372036854775808]', '{"a": {"b": [-9223372036854775809]}}', '[1e400]',
                     '{"a": NaN}', '[-Infinity]']:
            self.assertRaises(ValueError, kea_json._decode_then_check, text)
            self.assertRaises(ValueError, kea_json._decode_with_hooks, text)
