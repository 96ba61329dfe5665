"""
Configuration text -> positioned :class:`~kea_twisted.config.element.Element`
tree, with Kea 2.2's lexical rules and error texts.

The pipeline: :mod:`kea_twisted.config.dialect` rewrites Kea's dialect
(comments, includes, extra commas) into JSON without moving any character;
commentjson's lark grammar (``commentjson.commentjson.parser``) parses it and
gives the tree's structure; lark's lexer over the same text gives every
token's place, and the two are walked together (no second JSON parser here).
Every failure becomes one :class:`ConfigError` with ``syntax=True`` and
Kea's bison-style location ``file:line.col[-endcol]`` (columns 1-based and
counted in bytes, ``endcol`` the last byte of the token, as bison's
``location`` prints: ``kea-dhcp4 -t`` on ``{"Dhcp4": {"bogus": 1}}`` says
``file:1.12-18``).

Beyond Kea's own :class:`Element` data, every element built here carries:

* ``span_end``: the :class:`Position` of its last byte (closing bracket of a
  map or list, last byte of a scalar token), for locations such as
  ``1.30-32`` and ``map between file:1:31 and file:1:46``;
* for maps, ``entries``: ``[(key, key_pos, value, key_end, comma_pos), ...]``
  in file order (``key_end``: the position of the key's closing quote;
  ``comma_pos``: the comma before the key, ``None`` for the first),
  duplicates included -- Kea rejects duplicate keys
  (``Parser4Context::unique``), but with the name of the map's context
  (``duplicate a entries in JSON map``, ``... in Dhcp4 map``), so the
  loader keeps them and :func:`kea_twisted.config.grammar.check_grammar`
  reports them.

Tests: tests/test_config_loader.py
"""

from __future__ import annotations

import math
import re
from typing import Any, List, Optional, Tuple

import lark
from commentjson.commentjson import parser as _json_parser

from kea_twisted.config.dialect import Prepared, prepare_file, prepare_text
from kea_twisted.config.element import (
    Element,
    ListElement,
    MapElement,
    Position,
    ScalarElement,
)
from kea_twisted.config.errors import ConfigError

__all__ = [
    "load_config_file",
    "load_config_text",
    "parse_prepared",
    "bison_location",
    "KEA_TOKEN_ORDER",
    "expecting",
]

#: Kea's token names (``%token`` aliases in dhcp4_parser.yy) for the
#: punctuation and value tokens, in Kea's token order: bison lists the
#: expected tokens of a syntax error in this order.  ``","`` keeps its
#: quotes, as bison prints it.
KEA_TOKEN_ORDER = ("end of file", '","', ":", "[", "]", "{", "}", "null")
_VALUE_TOKENS = ("constant string", "integer", "floating point", "boolean")

_LARK_NAMES = {
    "$END": ("end of file",),
    "COMMA": ('","',),
    "TRAILING_COMMA": ('","',),
    "COLON": (":",),
    "LSQB": ("[",),
    "RSQB": ("]",),
    "LBRACE": ("{",),
    "RBRACE": ("}",),
    "NULL": ("null",),
    "TRUE": ("boolean",),
    "FALSE": ("boolean",),
    "ESCAPED_STRING": ("constant string",),
    "SIGNED_NUMBER": ("integer", "floating point"),
}

_INT_RE = re.compile(r"-?[0-9]+\Z")
_INT64 = (-(2**63), 2**63 - 1)
_WORD_RE = re.compile(r"(?i)(true|false|null)")
# Control characters Kea's lexer refuses inside a string.
_CONTROL = re.compile(r"[\x00-\x1f]")


def bison_location(start: Position, end: Optional[Position] = None) -> str:
    """Bison's ``location`` text: ``file:L.C``, ``file:L.C-E``,
    ``file:L.C-L2.E`` or ``file:L.C-file2:L2.E``."""
    text = f"{start.file}:{start.line}.{start.col}"
    if end is None:
        return text
    if end.file != start.file:
        return f"{text}-{end.file}:{end.line}.{end.col}"
    if end.line != start.line:
        return f"{text}-{end.line}.{end.col}"
    if end.col > start.col:
        return f"{text}-{end.col}"
    return text


def expecting(names) -> str:
    """``, expecting A or B`` as bison words it: only when 1 to 4 tokens are
    expected (``YYARGS_MAX`` is 5 with the unexpected one)."""
    names = list(dict.fromkeys(names))
    if not names or len(names) > 4:
        return ""
    return ", expecting " + " or ".join(names)


def _kea_sorted(names) -> List[str]:
    order = {n: i for i, n in enumerate(KEA_TOKEN_ORDER)}
    # keyword tokens sit between the punctuation and the value tokens
    def key(n: str):
        if n in order:
            return (0, order[n])
        if n in _VALUE_TOKENS:
            return (2, _VALUE_TOKENS.index(n))
        return (1, 0)

    return sorted(dict.fromkeys(names), key=key)


def _decode_bytes(raw: str) -> str:
    """Latin-1 characters (bytes) -> text: UTF-8 when it is, else Latin-1."""
    data = raw.encode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return raw


class _Builder:
    """Builds elements from the lark tree and the token stream."""

    def __init__(self, prepared: Prepared):
        self.prepared = prepared
        self.locate = prepared.source_map.locate

    def pos(self, offset: int) -> Position:
        return Position(*self.locate(offset))

    def span(self, token) -> Tuple[Position, Position]:
        start = token.pos_in_stream
        return self.pos(start), self.pos(start + max(len(token.value), 1) - 1)

    def fail(self, message: str, token=None, near: int = 0) -> ConfigError:
        location = None
        if token is not None:
            location = bison_location(*self.span(token))
            if near:
                location += f" (near {near})"
        return ConfigError(message, syntax=True, location=location)

    # -- scalars ---------------------------------------------------------

    def string(self, token) -> str:
        """Decode a string token as Kea's lexer does (dhcp4_lexer.ll)."""
        raw = token.value
        body = raw[1:-1]
        control = _CONTROL.search(body)
        if control is not None:
            raise self.fail(f"Invalid control in {raw}", token, control.start() + 1)
        if "\\" not in body:
            # The common case, without the per-character walk (a large
            # configuration spends most of its parse time here otherwise).
            return _decode_bytes(body)
        out: List[str] = []
        i = 0
        n = len(body)
        simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
        while i < n:
            ch = body[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= n:
                raise self.fail(f"Overflow escape in {raw}", token, n + 1)
            esc = body[i + 1]
            if esc in simple:
                out.append(simple[esc])
                i += 2
                continue
            if esc == "u":
                digits = body[i + 2 : i + 6]
                if len(digits) < 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise self.fail(f"Bad escape in {raw}", token, i + 2)
                if digits[:2] != "00":
                    raise self.fail(f"Unsupported unicode escape in {raw}", token, i + 3)
                out.append(chr(int(digits[2:], 16)))
                i += 6
                continue
            raise self.fail(f"Bad escape in {raw}", token, i + 2)
        return _decode_bytes("".join(out))

    def scalar(self, node, token) -> ScalarElement:
        start, end = self.span(token)
        kind = node.data if isinstance(node, lark.Tree) else "string"
        if kind == "string":
            elem = ScalarElement("string", self.string(token), start)
        elif kind == "number":
            text = token.value
            if _INT_RE.match(text):
                value = int(text)
                if not _INT64[0] <= value <= _INT64[1]:
                    raise self.fail(f"Failed to convert {text} to an integer.", token)
                elem = ScalarElement("integer", value, start)
            else:
                value = float(text)
                if math.isinf(value) or math.isnan(value):
                    raise self.fail(f"Failed to convert {text} to a floating point.", token)
                elem = ScalarElement("real", value, start)
        elif kind in ("true", "false"):
            elem = ScalarElement("boolean", kind == "true", start)
        else:
            elem = ScalarElement("null", None, start)
        elem.span_end = end
        return elem

    # -- the walk --------------------------------------------------------

    def build(self, tree, tokens: "_Tokens") -> Element:
        """Walk ``tree`` in file order while consuming ``tokens`` (the
        non-ignored tokens of the same text), iteratively."""
        it = tokens
        result: List[Element] = []

        def attach_root(e: Element) -> None:
            result.append(e)

        # actions: ("value", tree, attach) | ("pair", tree, map)
        #          | ("close", element); commas never reach here (_Tokens)
        actions: List[Tuple[Any, ...]] = [("value", tree, attach_root)]
        while actions:
            action = actions.pop()
            kind = action[0]
            if kind == "value":
                node, attach = action[1], action[2]
                tok = next(it)
                data = node.data if isinstance(node, lark.Tree) else None
                if data == "object":
                    elem: Element = MapElement({}, self.pos(tok.pos_in_stream), {})
                    elem.entries = []
                    attach(elem)
                    actions.append(("close", elem))
                    pairs = [c for c in node.children if isinstance(c, lark.Tree)]
                    for pair in reversed(pairs):
                        actions.append(("pair", pair, elem))
                elif data == "array":
                    elem = ListElement([], self.pos(tok.pos_in_stream))
                    attach(elem)
                    actions.append(("close", elem))
                    values = [c for c in node.children if isinstance(c, lark.Tree)]
                    for value in reversed(values):
                        actions.append(("value", value, elem.items.append))
                else:
                    attach(self.scalar(node, tok))
            elif kind == "pair":
                pair, mapping = action[1], action[2]
                key_tok = next(it)
                comma = it.skipped
                comma_pos = self.pos(comma.pos_in_stream) if comma is not None else None
                next(it)  # the colon
                key = self.string(key_tok)
                key_pos, key_end = self.span(key_tok)

                def attach(
                    value: Element,
                    key=key,
                    key_pos=key_pos,
                    key_end=key_end,
                    comma_pos=comma_pos,
                    mapping=mapping,
                ) -> None:
                    mapping.entries.append((key, key_pos, value, key_end, comma_pos))
                    if key not in mapping.items:
                        mapping.items[key] = value
                        mapping.key_pos[key] = key_pos

                actions.append(("value", pair.children[1], attach))
            else:  # close
                action[1].span_end = self.pos(next(it).pos_in_stream)
        return result[0]


class _Tokens:
    """Lark's tokens of the text, skipping commas where the walk does not
    expect them (the walk asks for the structural tokens only)."""

    def __init__(self, stream):
        self._it = iter(stream)

    def __iter__(self):
        return self

    skipped = None  # the comma just before the last token returned

    def __next__(self):
        tok = next(self._it)
        self.skipped = None
        while tok.type in ("COMMA", "TRAILING_COMMA"):
            self.skipped = tok
            tok = next(self._it)
        return tok


def token_offset(token, text: str) -> int:
    if token.type == "$END":
        return len(text)
    return token.pos_in_stream


def _container_at(text: str, offset: int) -> str:
    """The innermost open bracket before ``offset`` (``""`` at top level).
    The text before a syntax error is well formed, strings included."""
    stack: List[str] = []
    i = 0
    while i < offset:
        c = text[i]
        if c == '"':
            i += 1
            while i < offset and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "[{":
            stack.append(c)
        elif c in "]}" and stack:
            stack.pop()
        i += 1
    return stack[-1] if stack else ""


def _kea_expected(names: List[str], container: str) -> List[str]:
    """Narrow lark's expected tokens (its LALR tables merge states) to what
    Kea's grammar expects there, when JSON alone decides it."""
    names = list(dict.fromkeys(names))
    if ":" in names:
        return [":"]
    if "constant string" in names or "integer" in names:
        # a key or a value: which keywords or types Kea takes there depends
        # on the map; bison lists none when more than four fit
        return names + list(_VALUE_TOKENS)
    if container == "{":
        return _kea_sorted(n for n in names if n in ('","', "}"))
    if container == "[":
        return _kea_sorted(n for n in names if n in ('","', "]"))
    return ["end of file"]


def _lark_error(builder: _Builder, text: str, exc: Exception) -> ConfigError:
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        offset = exc.pos_in_stream
        word = _WORD_RE.match(text, offset)
        if word:
            lowered = word.group(1).lower()
            start = builder.pos(offset)
            end = builder.pos(offset + len(lowered) - 1)
            return ConfigError(
                f"JSON {lowered} reserved keyword is lower case only",
                syntax=True,
                location=bison_location(start, end),
            )
        char = text[offset]
        return ConfigError(
            f"Invalid character: {char}",
            syntax=True,
            location=bison_location(builder.pos(offset)),
        )
    # UnexpectedToken
    token = exc.token
    if token.type == "$END":
        offset = len(text)
        # Kea's end-of-file location: the end of the last line read.
        pos = builder.pos(max(offset - 1, 0)) if offset else Position(builder.pos(0).file, 1, 1)
        if offset and text[offset - 1] != "\n":
            pos = Position(pos.file, pos.line, pos.col + 1)
        elif offset:
            pos = Position(pos.file, pos.line + 1, 1)
        location = bison_location(pos)
        unexpected = "end of file"
    else:
        location = bison_location(*builder.span(token))
        names = _LARK_NAMES.get(token.type, (token.type,))
        unexpected = names[0]
        if token.type == "SIGNED_NUMBER" and not _INT_RE.match(token.value):
            unexpected = "floating point"
    expected: List[str] = []
    for name in exc.expected:
        expected.extend(_LARK_NAMES.get(name, ()))
    expected = _kea_expected(expected, _container_at(text, token_offset(token, text)))
    return ConfigError(
        f"syntax error, unexpected {unexpected}{expecting(expected)}",
        syntax=True,
        location=location,
    )


def parse_prepared(prepared: Prepared) -> Element:
    """Parse pre-passed text into a positioned element (any JSON value)."""
    text = prepared.text
    builder = _Builder(prepared)
    try:
        tree = _json_parser.parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _lark_error(builder, text, exc) from None
    except RecursionError:  # pragma: no cover - bounded by the pre-pass
        raise ConfigError("configuration nested too deeply", syntax=True) from None
    try:
        return builder.build(tree, _Tokens(_json_parser.lex(text)))
    except StopIteration:  # pragma: no cover - the tree and tokens agree
        raise ConfigError("syntax error, unexpected end of file", syntax=True) from None


def _top_map(prepared: Prepared) -> MapElement:
    if not prepared.text.strip():
        # Kea: bison reads END where the top-level "{" should be.
        file = prepared.source_map.locate(0)[0]
        lines = prepared.text.count("\n")
        return _raise(
            "syntax error, unexpected end of file, expecting {",
            f"{file}:{lines + 1}.1",
        )
    element = parse_prepared(prepared)
    if not isinstance(element, MapElement):
        names = {
            "list": "[",
            "string": "constant string",
            "integer": "integer",
            "real": "floating point",
            "boolean": "boolean",
            "null": "null",
        }
        end = getattr(element, "span_end", None)
        if isinstance(element, ListElement):
            end = None
        return _raise(
            f"syntax error, unexpected {names[element.kind]}, expecting {{",
            bison_location(element.pos, end),
        )
    return element


def _raise(message: str, location: str):
    raise ConfigError(message, syntax=True, location=location)


def _as_bytes_text(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def load_config_text(
    text: str,
    filename: str = "<string>",
    *,
    warnings: Optional[List[Tuple[str, int, int, str]]] = None,
) -> MapElement:
    """Parse a whole configuration (``{"Dhcp4": ...}``) from ``text``.

    Includes are resolved relative to ``filename``'s directory, then the
    working directory.  ``warnings``, when given, receives Kea's syntax
    warnings (extra commas) as ``(file, line, col, message)``.
    """
    prepared = prepare_text(_as_bytes_text(text), filename)
    if warnings is not None:
        warnings.extend(prepared.warnings)
    return _top_map(prepared)


def load_config_file(
    path: str,
    *,
    warnings: Optional[List[Tuple[str, int, int, str]]] = None,
) -> MapElement:
    """Parse the configuration file ``path`` (missing: ``Unable to open
    file <path>``, as Kea)."""
    prepared = prepare_file(path)
    if warnings is not None:
        warnings.extend(prepared.warnings)
    return _top_map(prepared)
