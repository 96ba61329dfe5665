"""
Tests for kea_twisted.config.dialect and kea_twisted.config.loader: Kea's
JSON dialect (comments, includes, numbers, extra commas), positions, and
Kea 2.2's wording for lexical and JSON errors.

Expected error texts were observed with ``kea-dhcp4 -t`` of Kea 2.2.0 on the
same input (``{file}`` stands for the file's path as given to Kea).
"""

from __future__ import annotations

import os
import string

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.config.dialect import MAX_INCLUDE_DEPTH, MAX_NESTING, prepare_text
from kea_twisted.config.element import ListElement, MapElement, Position, ScalarElement
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.loader import bison_location, load_config_file, load_config_text

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def fixture(name: str) -> str:
    return os.path.join(CONFIGS, name)


def opener(files):
    """A file opener over a dict, failing as open() does."""

    def open_(path: str) -> str:
        try:
            return files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    return open_


class DialectTests(SynchronousTestCase):
    def test_three_comment_kinds(self) -> None:
        """``#``, ``//`` and ``/* */`` comments are ignored, and comment
        markers inside strings are text."""
        root = load_config_file(fixture("comments.json"))
        dhcp4 = root["Dhcp4"]
        self.assertEqual(dhcp4["valid-lifetime"].value, 4000)
        self.assertEqual(dhcp4["renew-timer"].value, 1000)
        self.assertEqual(dhcp4["comment"].value, "not a comment: // /* # are text here")

    def test_comments_keep_positions(self) -> None:
        """Comments become spaces, so what follows keeps its line and
        column (the key after a two-line ``/* */`` comment)."""
        path = fixture("comments.json")
        dhcp4 = load_config_file(path)["Dhcp4"]
        self.assertEqual(dhcp4.key_pos["valid-lifetime"], Position(path, 6, 30))
        self.assertEqual(dhcp4["valid-lifetime"].pos, Position(path, 6, 48))
        self.assertEqual(dhcp4.key_pos["renew-timer"], Position(path, 7, 9))

    def test_leading_dot_numbers(self) -> None:
        """``.5`` and ``-.5`` are floating point numbers, as Kea's lexer
        reads them."""
        dhcp4 = load_config_file(fixture("comments.json"))["Dhcp4"]
        self.assertEqual((dhcp4["t1-percent"].kind, dhcp4["t1-percent"].value), ("real", 0.5))
        self.assertEqual(dhcp4["t2-percent"].value, -0.5)

    def test_number_kinds(self) -> None:
        """Kea's INTEGER is ``-?[0-9]+``; everything else its float rule takes
        (``+5``, ``5.``, ``1e3``) is a floating point."""
        root = load_config_text('{"a": [7, -7, 007, +5, 5., 1e3, .5]}')
        kinds = [(e.kind, e.value) for e in root["a"]]
        self.assertEqual(
            kinds,
            [("integer", 7), ("integer", -7), ("integer", 7), ("real", 5.0), ("real", 5.0),
             ("real", 1000.0), ("real", 0.5)],
        )

    def test_extra_commas(self) -> None:
        """Kea accepts surplus commas with a warning (``Extraneous comma``)."""
        warnings: list = []
        root = load_config_text('{"a": [1,,2,], "b": 1,,}', "w.json", warnings=warnings)
        self.assertEqual(root.to_python(), {"a": [1, 2], "b": 1})
        self.assertEqual(warnings[0][:3], ("w.json", 1, 10))

    def test_unicode_text_columns_count_bytes(self) -> None:
        """Kea counts columns in bytes: after ``"é"`` (2 bytes) the next
        token is one column further than the characters say (13, not 12); the string
        itself comes back as text."""
        root = load_config_text('{"a": "\u00e9", "b": 1}')
        self.assertEqual(root["a"].value, "\u00e9")
        self.assertEqual(root.key_pos["b"].col, 13)

    def test_escapes(self) -> None:
        """JSON escapes decode; ``\\u00XX`` is the byte XX (Kea supports no
        other \\u escape)."""
        root = load_config_text(r'{"a": "x\"\\\/\b\f\n\r\t\u0041"}')
        self.assertEqual(root["a"].value, 'x"\\/\b\f\n\r\tA')

    def test_source_map_across_includes(self) -> None:
        """The pre-pass maps every output offset back to its file."""
        files = {"/d/inc.json": '\n  {"x": 1}'}
        prepared = prepare_text(
            '{"a": <?include "inc.json"?>, "b": 2}', "/d/top.json", opener=opener(files)
        )
        offset = prepared.text.index('"x"')
        self.assertEqual(prepared.source_map.locate(offset), ("/d/inc.json", 2, 4))
        offset = prepared.text.index('"b"')
        self.assertEqual(prepared.source_map.locate(offset), ("/d/top.json", 1, 31))


class IncludeTests(SynchronousTestCase):
    def test_nested_relative_includes(self) -> None:
        """Includes are read relative to the including file, nested ones
        relative to theirs."""
        root = load_config_file(fixture("include-top.json"))
        dhcp4 = root["Dhcp4"]
        self.assertEqual(
            dhcp4["interfaces-config"].to_python(),
            {"interfaces": ["lo"], "user-context": {"site": "test"}},
        )
        self.assertEqual(dhcp4["renew-timer"].value, 1000)

    def test_positions_inside_includes(self) -> None:
        """Elements read from an included file carry that file's name, line
        and column; what follows the directive keeps the including file's."""
        top = fixture("include-top.json")
        inc = os.path.join(CONFIGS, "include", "interfaces.json")
        deeper = os.path.join(CONFIGS, "include", "deeper/context.json")
        dhcp4 = load_config_file(top)["Dhcp4"]
        interfaces = dhcp4["interfaces-config"]
        self.assertEqual(interfaces.pos, Position(inc, 2, 1))
        self.assertEqual(interfaces.key_pos["interfaces"], Position(inc, 3, 3))
        self.assertEqual(interfaces["interfaces"][0].pos, Position(inc, 3, 19))
        self.assertEqual(interfaces["user-context"].pos, Position(deeper, 2, 5))
        self.assertEqual(dhcp4.key_pos["renew-timer"], Position(top, 5, 5))
        self.assertEqual(dhcp4["renew-timer"].pos, Position(top, 5, 20))

    def test_error_inside_include_points_there(self) -> None:
        """An error in an included file is located in it (Kea 2.2 names it
        as written, ``include/bad-interfaces.json:3.3-9``, being relative to
        its working directory; we name the file found)."""
        inc = os.path.join(CONFIGS, "include", "bad-interfaces.json")
        from kea_twisted.config.grammar import check_grammar

        e = self.assertRaises(
            ConfigError, check_grammar, load_config_file(fixture("include-bad.json"))
        )
        self.assertEqual(
            e.kea_report(),
            f'Syntax check failed with: {inc}:3.3-9: got unexpected keyword "bogus" in '
            "interfaces-config map.",
        )

    def test_include_loop(self) -> None:
        """A file including itself (through another) is one clean error,
        Kea's words for it."""
        e = self.assertRaises(ConfigError, load_config_file, fixture("include-loop.json"))
        self.assertEqual(e.kea_report(), "Syntax check failed with: Too many nested include.")

    def test_missing_include(self) -> None:
        """A missing include file: ``Can't open include file <path>``."""
        e = self.assertRaises(ConfigError, load_config_file, fixture("include-missing.json"))
        self.assertEqual(str(e), "Can't open include file no-such-file.json")
        self.assertTrue(e.syntax)

    def test_include_depth(self) -> None:
        """Eleven nested includes are fine, the twelfth is Kea's
        ``Too many nested include.``."""

        def chain(depth: int):
            files = {f"/c/{i}.json": f'<?include "{i + 1}.json"?>' for i in range(depth)}
            files[f"/c/{depth}.json"] = "1"
            return files

        ok = chain(MAX_INCLUDE_DEPTH - 1)
        prepared = prepare_text('{"a": <?include "0.json"?>}', "/c/top.json", opener=opener(ok))
        self.assertIn("1", prepared.text)
        deep = chain(MAX_INCLUDE_DEPTH)
        e = self.assertRaises(
            ConfigError, prepare_text, '{"a": <?include "0.json"?>}', "/c/top.json",
            opener=opener(deep),
        )
        self.assertEqual(str(e), "Too many nested include.")

    def test_unclosed_directive(self) -> None:
        """``<?include`` without its end: ``Directive not closed.``"""
        e = self.assertRaises(ConfigError, load_config_text, '{"a": <?include "x.json"')
        self.assertEqual(str(e), "Directive not closed.")


class ErrorTests(SynchronousTestCase):
    # (text, Kea 2.2.0's -t output after "Syntax check failed with: ")
    OBSERVED = [
        ('{"Dhcp4": {"valid-lifetime": 4000',
         '{file}:1.34: syntax error, unexpected end of file, expecting "," or }'),
        ('{"Dhcp4": {"valid-lifetime": 4000}\n',
         '{file}:2.1: syntax error, unexpected end of file, expecting "," or }'),
        ('{"Dhcp4": {"valid-lifetime" 4000}}',
         "{file}:1.29-32: syntax error, unexpected integer, expecting :"),
        ('{"Dhcp4": {"valid-lifetime": @}}', "{file}:1.30: Invalid character: @"),
        ('{"Dhcp4": {"authoritative": True}}',
         "{file}:1.29-32: JSON true reserved keyword is lower case only"),
        ('{"Dhcp4": {\n/* x \n "valid-lifetime": 1}}', "Comment not closed. (/* in line 2"),
        ('{"Dhcp4": {"server-tag": "abc\n}}', "{file}:1.26: Invalid character: \""),
        ('{"Dhcp4": {"server-tag": "a\tb"}}',
         '{file}:1.26-30 (near 2): Invalid control in "a\tb"'),
        ('{"Dhcp4": {"server-tag": "a\\qb"}}', '{file}:1.26-31 (near 3): Bad escape in "a\\qb"'),
        ('{"Dhcp4": {"server-tag": "a\\u0100b"}}',
         '{file}:1.26-35 (near 4): Unsupported unicode escape in "a\\u0100b"'),
        ('{"Dhcp4": {"valid-lifetime": 99999999999999999999}}',
         "{file}:1.30-49: Failed to convert 99999999999999999999 to an integer."),
        ("", "{file}:1.1: syntax error, unexpected end of file, expecting {"),
        ("// nothing\n", "{file}:2.1: syntax error, unexpected end of file, expecting {"),
    ]

    def test_observed_errors(self) -> None:
        """Lexical and JSON errors: Kea's message and location, byte for
        byte (observed on Kea 2.2.0)."""
        tmp = self.mktemp()
        os.mkdir(tmp)
        for index, (text, expected) in enumerate(self.OBSERVED):
            path = os.path.join(tmp, f"{index}.json")
            with open(path, "w") as f:
                f.write(text)
            e = self.assertRaises(ConfigError, load_config_file, path)
            self.assertTrue(e.syntax)
            self.assertEqual(str(e), expected.replace("{file}", path), text)
            self.assertEqual(e.kea_report(), "Syntax check failed with: " + str(e))

    def test_missing_file(self) -> None:
        """Kea 2.2: ``Syntax check failed with: Unable to open file <path>``."""
        e = self.assertRaises(ConfigError, load_config_file, "/nonexistent/kea.json")
        self.assertEqual(
            e.kea_report(), "Syntax check failed with: Unable to open file /nonexistent/kea.json"
        )

    def test_top_level_not_a_map(self) -> None:
        """The top level must be a map (Kea: ``expecting {``)."""
        e = self.assertRaises(ConfigError, load_config_text, "[1]", "t.json")
        self.assertEqual(str(e), "t.json:1.1: syntax error, unexpected [, expecting {")

    def test_deep_nesting_is_one_config_error(self) -> None:
        """A 20,000-deep value is one ConfigError, never RecursionError
        (Kea 2.2 reads it; we refuse beyond MAX_NESTING levels)."""
        n = 20000
        text = '{"Dhcp4": {"user-context": {"a": ' + "[" * n + "]" * n + "}}}"
        e = self.assertRaises(ConfigError, load_config_text, text, "deep.json")
        self.assertIn(str(MAX_NESTING), str(e))

    def test_nesting_within_bound(self) -> None:
        """Nesting up to the bound loads."""
        n = MAX_NESTING - 1
        root = load_config_text('{"a": ' + "[" * n + "]" * n + "}")
        self.assertIsInstance(root["a"], ListElement)


class ElementTests(SynchronousTestCase):
    def test_positions_and_spans(self) -> None:
        """Every element has its start; ``span_end`` is its last byte, the
        closing bracket for maps and lists."""
        root = load_config_text('{"a": "xyz",\n "b": [1, {}]}', "p.json")
        self.assertEqual(root.pos, Position("p.json", 1, 1))
        self.assertEqual(root.span_end, Position("p.json", 2, 14))
        self.assertEqual(root["a"].pos, Position("p.json", 1, 7))
        self.assertEqual(root["a"].span_end, Position("p.json", 1, 11))
        self.assertEqual(root["b"].pos, Position("p.json", 2, 7))
        self.assertEqual(root["b"].span_end, Position("p.json", 2, 13))
        self.assertEqual(root["b"][1].pos, Position("p.json", 2, 11))
        self.assertEqual(root.key_pos["b"], Position("p.json", 2, 2))

    def test_kinds(self) -> None:
        """Kea's element kinds."""
        root = load_config_text('{"s": "x", "i": 1, "r": 1.5, "b": false, "n": null, "l": [], "m": {}}')
        self.assertEqual(
            [root[k].kind for k in "sirbnlm"],
            ["string", "integer", "real", "boolean", "null", "list", "map"],
        )
        self.assertIsInstance(root["m"], MapElement)
        self.assertIsInstance(root["s"], ScalarElement)

    def test_duplicates_kept_for_the_grammar(self) -> None:
        """Duplicate keys are kept in ``entries`` (the first value in
        ``items``) for check_grammar to report in Kea's words."""
        root = load_config_text('{"a": 1, "a": 2}')
        self.assertEqual(root["a"].value, 1)
        self.assertEqual([e[0] for e in root.entries], ["a", "a"])

    def test_bison_location(self) -> None:
        """Bison's location printing: one column, a column range, lines."""
        a = Position("f", 1, 5)
        self.assertEqual(bison_location(a), "f:1.5")
        self.assertEqual(bison_location(a, a), "f:1.5")
        self.assertEqual(bison_location(a, Position("f", 1, 9)), "f:1.5-9")
        self.assertEqual(bison_location(a, Position("f", 3, 2)), "f:1.5-3.2")


VALID = [
    '{"Dhcp4": {"valid-lifetime": 4000, "subnet4": [{"subnet": "10.0.0.0/8", '
    '"pools": [{"pool": "10.0.0.1 - 10.0.0.9"}]}]}}',
    '{ # c\n "Dhcp4": { /* x */ "t1-percent": .5, // y\n "user-context": {"a": [1, null, true]} } }',
]


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from(VALID),
        st.lists(
            st.tuples(
                st.sampled_from(["delete", "duplicate", "insert"]),
                st.integers(min_value=0, max_value=10_000),
                st.sampled_from(list('{}[]",:#/*.-+0123456789 \n\tetrufalsn<?>\\') + ["\u00e9"]),
            ),
            max_size=6,
        ),
    )
    def test_mutations_give_map_or_config_error(self, text, edits) -> None:
        """Deleting, duplicating or inserting characters in a valid config
        gives a MapElement or one ConfigError, never another exception."""
        for op, where, char in edits:
            i = where % (len(text) + 1)
            if op == "delete":
                text = text[:i] + text[i + 1 :]
            elif op == "duplicate":
                text = text[:i] + text[i : i + 1] + text[i:]
            else:
                text = text[:i] + char + text[i:]
        try:
            root = load_config_text(text, "m.json")
        except ConfigError:
            return
        self.assertIsInstance(root, MapElement)

    @settings(max_examples=200, deadline=None)
    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(min_value=-(2**63), max_value=2**63 - 1)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(string.printable),
            lambda children: st.lists(children) | st.dictionaries(st.text(string.printable), children),
            max_leaves=20,
        )
    )
    def test_random_json_round_trips(self, value) -> None:
        """Any JSON document loads (when it is a map) to the same values, or
        is one ConfigError."""
        import json

        text = json.dumps(value)
        try:
            root = load_config_text(text)
        except ConfigError:
            self.assertNotIsInstance(value, dict)
            return
        self.assertEqual(root.to_python(), value)
