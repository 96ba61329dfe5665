"""
Kea's JSON on the control channel: its text form, its stream scanner, its
parser — byte for byte.

Three pieces, each Kea's own behaviour in our words (spec/control-channel.md
§1.1, §1.3, §1.6; [src] Kea 2.2 ``src/lib/cc/data.cc``,
``src/lib/cc/json_feed.cc``):

* :func:`to_kea_text` / :func:`to_kea_bytes`: ``Element::str()``.  Maps as
  ``{ "k": v, "k2": v2 }`` with keys in byte order, lists ``[ 1, 2 ]``, the
  empty ones ``{  }`` and ``[  ]``, no trailing newline.  Reals as C++'s
  ``ostream << double`` (``%g``, six significant digits) with ``.0`` tacked
  on when the text has no ``.`` (so ``1e+20`` becomes ``1e+20.0``, as Kea
  writes it).  Strings escape ``"`` ``\\`` ``\\b`` ``\\f`` ``\\n`` ``\\r``
  ``\\t`` and every other byte below 0x20 or from 0x7f up as ``\\u00XX``;
  ``/`` is not escaped.  Map **keys are written raw**, unescaped (Kea does).

* :class:`JSONFeed`: finds the end of the first complete JSON object or
  list in a byte stream fed in chunks (Kea's ``JSONFeed`` state machine):
  leading whitespace and ``#``, ``//``, ``/* */`` comments skipped, braces
  and brackets counted outside strings (without checking that they match),
  comments stripped inside.  Its failures are Kea's texts
  (``invalid first character h``, ``invalid character h`` after
  whitespace, ``invalid characters /x``).  Bounded: more than
  :data:`MAX_COMMAND_SIZE` bytes of command or :data:`MAX_DEPTH` open
  scopes fail the feed with one error instead of growing without limit.

* :func:`from_wire` / :func:`from_json`: ``Element::fromWire`` /
  ``Element::fromJSON`` — Kea's hand-written recursive parser, with its
  error texts and its position arithmetic (``<wire>:0:13``: line counted
  from 0 and column from 0 on the wire; maps and lists are positioned at
  their bracket's 1-based column, scalars one less).  Its quirks are kept:
  the last duplicate key wins, ``[1,]`` is accepted, ``\\u`` escapes only
  ``\\u00XX``, numbers are whatever run of ``0-9+-.eE`` follows (an
  unparsable run is ``Number overflow: <run>``).  :func:`decode_json` is
  ``from_json(...).to_python()`` for callers that need no positions, through
  Python's C decoder for the texts where both agree.

Strings are Kea's byte strings: a Python ``str`` whose characters are
bytes (Latin-1), so ``"\\u00e9"`` parses to ``"\\xe9"`` — the single byte
0xE9 Kea stores (spec §1.6 SURPRISE) — and raw UTF-8 on the wire stays two
characters.  When writing, a character above U+00FF (from code that used
real Unicode) is written as its UTF-8 bytes.

Tests: tests/test_kea_json.py
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any, List, Optional

from kea_twisted.config.element import (
    Element,
    ListElement,
    MapElement,
    Position,
    ScalarElement,
)

__all__ = [
    "KeaJSONError",
    "to_kea_text",
    "to_kea_bytes",
    "kea_bytes",
    "JSONFeed",
    "from_wire",
    "from_json",
    "decode_json",
    "MAX_COMMAND_SIZE",
    "MAX_DEPTH",
]

#: Largest command (after leading whitespace and comments are dropped) the
#: feed accepts.  Kea has no limit (200 KB commands were answered, spec
#: §1.1); ours keeps a hostile client from growing memory without bound.
MAX_COMMAND_SIZE = 8 * 1024 * 1024

#: Deepest nesting of maps and lists accepted.  Kea recurses without a
#: limit (and would overflow its stack); Kea's own configurations and
#: commands never go deeper than a dozen levels.
MAX_DEPTH = 128


class KeaJSONError(ValueError):
    """Malformed JSON, with Kea's text as ``str(error)``."""


# ---------------------------------------------------------------------------
# Writing


def kea_bytes(text: str) -> bytes:
    """Encode a Kea text: characters up to U+00FF are single bytes
    (Latin-1, Kea's byte strings), anything above as its UTF-8 bytes."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return b"".join(
            ch.encode("latin-1") if ord(ch) < 0x100 else ch.encode("utf-8")
            for ch in text
        )


_NAMED_ESCAPES = {
    0x22: '\\"',
    0x5C: "\\\\",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
}

_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f-\U0010ffff]')


def _escape_string(value: str) -> str:
    if not _NEEDS_ESCAPE.search(value):
        return value
    out: List[str] = []
    for byte in kea_bytes(value):
        named = _NAMED_ESCAPES.get(byte)
        if named is not None:
            out.append(named)
        elif byte < 0x20 or byte >= 0x7F:
            out.append("\\u%04x" % byte)
        else:
            out.append(chr(byte))
    return "".join(out)


def _real_text(value: float) -> str:
    """C++ ``ostream << double`` with default flags, plus Kea's ``.0``."""
    if math.isnan(value):
        text = "-nan" if math.copysign(1.0, value) < 0 else "nan"
    else:
        text = "%g" % value
    if "." not in text:
        text += ".0"
    return text


def _key_order(key: str) -> bytes:
    # std::map<std::string, ...> orders keys by their bytes.
    return kea_bytes(key)


class _NotPlain(Exception):
    """The value is outside what :func:`_plain_text` prints."""


#: Deepest nesting :func:`_plain_text` recurses into; deeper values go
#: through the iterative printer, which no depth can exhaust.
_PLAIN_DEPTH = 32


def _plain_text(value: Any, depth: int) -> str:
    # Exact types only: subclasses (an IntEnum, a dict subclass),
    # Elements, non-ASCII keys and deep values are left to _general_text,
    # which decides and words the errors.  Members that are strings and
    # integers (most of them) are written in the loops, without a call.
    kind = value.__class__
    if kind is str:
        if _NEEDS_ESCAPE.search(value):
            return '"' + _escape_string(value) + '"'
        return '"' + value + '"'
    if kind is int:
        return int.__repr__(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if depth >= _PLAIN_DEPTH:
        raise _NotPlain
    parts: List[str] = []
    add = parts.append
    if kind is dict:
        if not value:
            return "{  }"
        depth += 1
        for key in sorted(value):
            # ASCII str keys: code point order is byte order (_key_order).
            if key.__class__ is not str or not key.isascii():
                raise _NotPlain
            member = value[key]
            member_kind = member.__class__
            if member_kind is str and not _NEEDS_ESCAPE.search(member):
                add('"' + key + '": "' + member + '"')
            elif member_kind is int:
                add('"' + key + '": ' + int.__repr__(member))
            else:
                add('"' + key + '": ' + _plain_text(member, depth))
        return "{ " + ", ".join(parts) + " }"
    if kind is list or kind is tuple:
        if not value:
            return "[  ]"
        depth += 1
        for member in value:
            member_kind = member.__class__
            if member_kind is str and not _NEEDS_ESCAPE.search(member):
                add('"' + member + '"')
            elif member_kind is int:
                add(int.__repr__(member))
            else:
                add(_plain_text(member, depth))
        return "[ " + ", ".join(parts) + " ]"
    if kind is float:
        return _real_text(value)
    raise _NotPlain


def to_kea_text(value: Any) -> str:
    """Kea's ``Element::str()`` of a JSON-like value (dict, list, tuple,
    str, int, float, bool, None) or of a positioned
    :class:`~kea_twisted.config.element.Element`.

    Plain values (exact built-in types, ASCII keys, up to 32 levels: every
    command and answer) are printed by a direct recursion, two to three
    times faster than the general printer; anything else by the general
    printer.
    Both follow the same rules (tests/test_kea_json.py compares them on
    random values)."""
    try:
        return _plain_text(value, 0)
    except _NotPlain:
        return _general_text(value)
    except TypeError:
        # Unorderable keys (sorted() failed): the general printer raises
        # what it raises for them.
        return _general_text(value)


def _general_text(value: Any) -> str:
    """:func:`to_kea_text` for any value, iterative, so that deep values
    cannot exhaust the Python stack."""
    out: List[str] = []
    stack: List[Any] = [value]
    while stack:
        item = stack.pop()
        if item.__class__ is _Raw:
            out.append(item.text)
            continue
        if isinstance(item, Element):
            item = _element_value(item)
        if item is None:
            out.append("null")
        elif item is True:
            out.append("true")
        elif item is False:
            out.append("false")
        elif isinstance(item, int):
            out.append(str(int(item)))
        elif isinstance(item, float):
            out.append(_real_text(item))
        elif isinstance(item, str):
            out.append('"' + _escape_string(item) + '"')
        elif isinstance(item, dict):
            if not item:
                out.append("{  }")
                continue
            pending: List[Any] = [_Raw("{ ")]
            first = True
            for key in sorted(item, key=_key_order):
                if not first:
                    pending.append(_Raw(", "))
                first = False
                pending.append(_Raw('"' + key + '": '))
                pending.append(item[key])
            pending.append(_Raw(" }"))
            stack.extend(reversed(pending))
        elif isinstance(item, (list, tuple)):
            if not item:
                out.append("[  ]")
                continue
            pending = [_Raw("[ ")]
            for index, member in enumerate(item):
                if index:
                    pending.append(_Raw(", "))
                pending.append(member)
            pending.append(_Raw(" ]"))
            stack.extend(reversed(pending))
        else:
            raise TypeError(f"not a JSON value: {item!r}")
    return "".join(out)


def to_kea_bytes(value: Any) -> bytes:
    """:func:`to_kea_text` as the bytes Kea sends."""
    return kea_bytes(to_kea_text(value))


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _element_value(element: Element) -> Any:
    if isinstance(element, MapElement):
        return dict(element.items)
    if isinstance(element, ListElement):
        return list(element.items)
    return element.to_python()


# ---------------------------------------------------------------------------
# The stream scanner (Kea's JSONFeed)

_START, _WS_BEFORE, _EOL_BEFORE, _SLASH_BEFORE, _C_BEFORE, _STAR_BEFORE = range(6)
_INNER, _STRING, _ESCAPE, _EOL, _SLASH, _C, _STAR, _DONE, _FAILED = range(6, 15)

_WHITESPACE_BYTES = b" \t\r\n"
_INNER_SPECIAL = re.compile(rb'[{}\[\]"#/]')
_STRING_SPECIAL = re.compile(rb'["\\]')


class JSONFeed:
    """Kea's ``JSONFeed``: feed bytes with :meth:`feed` until
    :attr:`done` or :attr:`failed`.

    :attr:`text` is what Kea calls the processed text: the object so far,
    without leading whitespace and comments (its length is the "partial
    command of N bytes" of the idle-timeout answer).  After the object's
    closing bracket the feed stops reading: what follows is ignored, as Kea
    ignores it (spec §1.1).
    """

    def __init__(self, max_size: int = MAX_COMMAND_SIZE, max_depth: int = MAX_DEPTH):
        self.max_size = max_size
        self.max_depth = max_depth
        self._state = _START
        self._output = bytearray()
        self._open = 0
        self.error: Optional[str] = None

    @property
    def done(self) -> bool:
        """A complete object (or list) has been found."""
        return self._state == _DONE

    @property
    def failed(self) -> bool:
        return self._state == _FAILED

    @property
    def need_data(self) -> bool:
        return self._state not in (_DONE, _FAILED)

    @property
    def text(self) -> bytes:
        return bytes(self._output)

    @property
    def processed_size(self) -> int:
        return len(self._output)

    def _fail(self, message: str) -> None:
        self.error = message
        self._state = _FAILED

    def feed(self, data: bytes) -> None:
        """Consume ``data`` up to the end of the object or the first error."""
        if not self.need_data or not data:
            return
        index = 0
        end = len(data)
        output = self._output
        while index < end and self.need_data:
            state = self._state
            if state == _INNER or state == _STRING:
                # Bytes that leave the state as it is are copied as one run.
                special = _INNER_SPECIAL if state == _INNER else _STRING_SPECIAL
                match = special.search(data, index)
                stop = match.start() if match else end
                if stop > index:
                    output += data[index:stop]
                    index = stop
                    if not self._check_size():
                        return
                    continue
            c = data[index]
            index += 1
            if state == _INNER:
                if c in b"{[":
                    output.append(c)
                    self._open += 1
                    if self._open > self.max_depth:
                        self._fail(
                            f"JSON nesting deeper than {self.max_depth} levels"
                        )
                        return
                elif c in b"}]":
                    output.append(c)
                    self._open -= 1
                    if self._open == 0:
                        self._state = _DONE
                elif c == 0x22:
                    output.append(c)
                    self._state = _STRING
                elif c == 0x23:  # '#'
                    self._state = _EOL
                else:  # '/'
                    self._state = _SLASH
            elif state == _STRING:
                output.append(c)
                self._state = _INNER if c == 0x22 else _ESCAPE
            elif state == _ESCAPE:
                output.append(c)
                self._state = _STRING
            elif state in (_START, _WS_BEFORE):
                if c in _WHITESPACE_BYTES:
                    self._state = _WS_BEFORE
                elif c == 0x23:
                    self._state = _EOL_BEFORE
                elif c == 0x2F:
                    self._state = _SLASH_BEFORE
                elif c in b"{[":
                    output.append(c)
                    self._open = 1
                    self._state = _INNER
                elif state == _START:
                    self._fail("invalid first character " + chr(c))
                else:
                    self._fail("invalid character " + chr(c))
            elif state == _EOL_BEFORE:
                if c == 0x0A:
                    self._state = _WS_BEFORE
            elif state == _SLASH_BEFORE:
                if c == 0x2F:
                    self._state = _EOL_BEFORE
                elif c == 0x2A:
                    self._state = _C_BEFORE
                else:
                    self._fail("invalid characters /" + chr(c))
            elif state == _C_BEFORE:
                if c == 0x2A:
                    self._state = _STAR_BEFORE
            elif state == _STAR_BEFORE:
                if c == 0x2F:
                    self._state = _WS_BEFORE
                elif c != 0x2A:
                    self._state = _C_BEFORE
            elif state == _EOL:
                if c == 0x0A:
                    output.append(c)
                    self._state = _INNER
            elif state == _SLASH:
                if c == 0x2F:
                    self._state = _EOL
                elif c == 0x2A:
                    self._state = _C
                else:
                    self._fail("invalid characters /" + chr(c))
            elif state == _C:
                if c == 0x2A:
                    self._state = _STAR
                elif c == 0x0A:
                    output.append(c)
            elif state == _STAR:
                if c == 0x2F:
                    self._state = _INNER
                elif c == 0x0A:
                    output.append(c)
                    self._state = _C
                elif c != 0x2A:
                    self._state = _C
        self._check_size()

    def _check_size(self) -> bool:
        if len(self._output) > self.max_size:
            self._output.clear()
            self._fail(f"command is larger than {self.max_size} bytes")
            return False
        return True

    def to_element(self) -> Element:
        """Parse the found object as Kea does (``Element::fromWire``).

        :raises KeaJSONError: the object is not valid JSON (Kea's texts).
        """
        if not self.done:
            raise KeaJSONError(
                "unable to retrieve the data form the JSON feed while parsing "
                "hasn't finished"
            )
        return from_wire(self.text, max_depth=self.max_depth)


# ---------------------------------------------------------------------------
# The parser (Kea's Element::fromJSON)

_EOF = ""
_PARSER_WHITESPACE = " \b\f\n\r\t"
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SIMPLE_ESCAPES = {'"': '"', "/": "/", "\\": "\\", "b": "\b", "f": "\f",
                   "n": "\n", "r": "\r", "t": "\t"}
_HEX = "0123456789abcdefABCDEF"
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+\Z")
_REAL_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


class _Parser:
    """One parse over ``text`` (a Latin-1 str): Kea's cursor, ``line`` and
    ``pos`` arithmetic."""

    def __init__(self, text: str, file: str, line: int, pos: int, max_depth: int):
        self.text = text
        self.index = 0
        self.file = file
        self.line = line
        self.pos = pos
        self.max_depth = max_depth

    # -- stream primitives (std::istream get / peek / ignore) ---------------

    def get(self) -> str:
        if self.index < len(self.text):
            c = self.text[self.index]
            self.index += 1
            return c
        self.index = len(self.text) + 1  # past EOF: putback cannot revive it
        return _EOF

    def peek(self) -> str:
        if self.index < len(self.text):
            return self.text[self.index]
        return _EOF

    def ignore(self) -> None:
        if self.index < len(self.text):
            self.index += 1

    def putback(self) -> None:
        self.index -= 1

    def error(self, message: str, line: int, pos: int) -> KeaJSONError:
        return KeaJSONError(f"{message} in {self.file}:{line}:{pos}")

    def position(self, pos: int) -> Position:
        return Position(self.file, self.line, pos)

    # -- Kea's helpers --------------------------------------------------------

    def skip_chars(self, chars: str) -> None:
        c = self.peek()
        while c != _EOF and c in chars:
            if c == "\n":
                self.line += 1
                self.pos = 1
            else:
                self.pos += 1
            self.ignore()
            c = self.peek()

    def skip_to(self, chars: str, may_skip: str) -> str:
        c = self.get()
        self.pos += 1
        while c != _EOF:
            if c == "\n":
                self.pos = 1
                self.line += 1
            if c in may_skip:
                c = self.get()
                self.pos += 1
            elif c in chars:
                while True:
                    nxt = self.peek()
                    if nxt == _EOF or nxt not in may_skip:
                        break
                    if nxt == "\n":
                        self.pos = 1
                        self.line += 1
                    else:
                        self.pos += 1
                    self.ignore()
                return c
            else:
                raise self.error(f"'{c}' read, one of \"{chars}\" expected",
                                 self.line, self.pos)
        raise self.error(f"EOF read, one of \"{chars}\" expected", self.line, self.pos)

    def string(self) -> str:
        line = self.line
        c = self.get()
        self.pos += 1
        if c == '"':
            c = self.get()
            self.pos += 1
        else:
            raise self.error("String expected", line, self.pos)
        chars: List[str] = []
        while c != _EOF and c != '"':
            if c == "\\":
                nxt = self.peek()
                simple = _SIMPLE_ESCAPES.get(nxt) if nxt != _EOF else None
                if simple is not None:
                    c = simple
                elif nxt == "u":
                    self.ignore()
                    self.pos += 1
                    if self.peek() != "0":
                        raise self.error("Unsupported unicode escape", line, self.pos)
                    self.ignore()
                    self.pos += 1
                    if self.peek() != "0":
                        raise self.error("Unsupported unicode escape", line, self.pos - 2)
                    self.ignore()
                    self.pos += 1
                    high = self.peek()
                    if high == _EOF or high not in _HEX:
                        raise self.error("Not hexadecimal in unicode escape", line, self.pos - 3)
                    self.ignore()
                    self.pos += 1
                    low = self.peek()
                    if low == _EOF or low not in _HEX:
                        raise self.error("Not hexadecimal in unicode escape", line, self.pos - 4)
                    c = chr(int(high + low, 16))
                else:
                    raise self.error("Bad escape", line, self.pos)
                self.ignore()
                self.pos += 1
            chars.append(c)
            c = self.get()
            self.pos += 1
        if c == _EOF:
            raise self.error("Unterminated string", line, self.pos)
        return "".join(chars)

    def run_of(self, allowed: frozenset) -> str:
        start = self.index
        while self.index < len(self.text) and self.text[self.index] in allowed:
            self.index += 1
        run = self.text[start:self.index]
        self.pos += len(run)
        return run

    def number(self) -> Element:
        start_pos = self.pos
        run = self.run_of(_NUMBER_CHARS)
        if any(ch in run for ch in ".eE"):
            value = _lexical_double(run)
            if value is None:
                raise self.error(f"Number overflow: {run}", self.line, start_pos)
            return ScalarElement("real", value, self.position(start_pos))
        if not _INTEGER_TEXT.match(run):
            raise self.error(f"Number overflow: {run}", self.line, start_pos)
        integer = int(run)
        if not _INT64_MIN <= integer <= _INT64_MAX:
            raise self.error(f"Number overflow: {run}", self.line, start_pos)
        return ScalarElement("integer", integer, self.position(start_pos))

    def boolean(self) -> Element:
        start_pos = self.pos
        word = self.run_of(_ALPHA)
        if word == "true":
            return ScalarElement("boolean", True, self.position(start_pos))
        if word == "false":
            return ScalarElement("boolean", False, self.position(start_pos))
        raise self.error(f"Bad boolean value: {word}", self.line, start_pos)

    def null(self) -> Element:
        start_pos = self.pos
        word = self.run_of(_ALPHA)
        if word == "null":
            return ScalarElement("null", None, self.position(start_pos))
        raise self.error(f"Bad null value: {word}", self.line, start_pos)

    def value(self, depth: int) -> Element:
        self.skip_chars(_PARSER_WHITESPACE)
        c = self.get()
        self.pos += 1
        if c == _EOF:
            raise KeaJSONError("nothing read")
        if c in "0123456789-+.":
            self.putback()
            self.pos -= 1
            return self.number()
        if c in "tf":
            self.putback()
            self.pos -= 1
            return self.boolean()
        if c == "n":
            self.putback()
            self.pos -= 1
            return self.null()
        if c == '"':
            self.putback()
            self.pos -= 1
            start_pos = self.pos
            return ScalarElement("string", self.string(), self.position(start_pos))
        if c in "[{":
            if depth >= self.max_depth:
                raise self.error(f"JSON nesting deeper than {self.max_depth} levels",
                                 self.line, self.pos)
            if c == "[":
                return self.list(depth + 1)
            return self.map(depth + 1)
        raise self.error(f"error: unexpected character {c}", self.line, self.pos)

    def list(self, depth: int) -> Element:
        items: List[Element] = []
        element = ListElement(items, self.position(self.pos))
        self.skip_chars(_PARSER_WHITESPACE)
        c = None
        while c != _EOF and c != "]":
            if self.peek() != "]":
                items.append(self.value(depth))
                c = self.skip_to(",]", _PARSER_WHITESPACE)
            else:
                c = self.get()
                self.pos += 1
        return element

    def map(self, depth: int) -> Element:
        items: dict = {}
        key_pos: dict = {}
        element = MapElement(items, self.position(self.pos), key_pos)
        self.skip_chars(_PARSER_WHITESPACE)
        c = self.peek()
        if c == _EOF:
            raise self.error("Unterminated map, <string> or } expected",
                             self.line, self.pos)
        if c == "}":
            self.ignore()
            return element
        while c != _EOF and c != "}":
            where = self.position(self.pos)
            key = self.string()
            self.skip_to(":", _PARSER_WHITESPACE)
            value = self.value(depth)
            # std::map::operator[]: the last duplicate wins.
            items[key] = value
            key_pos[key] = where
            c = self.skip_to(",}", _PARSER_WHITESPACE)
        return element


def _lexical_double(run: str) -> Optional[float]:
    """boost::lexical_cast<double>: the whole run must be one number, and
    out of range is a failure."""
    if not _REAL_TEXT.match(run):
        return None
    value = float(run)
    if math.isinf(value):
        return None
    return value


def _as_text(data: Any) -> str:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data).decode("latin-1")
    return data


def from_wire(data: Any, max_depth: int = MAX_DEPTH) -> Element:
    """Kea's ``Element::fromWire``: one value from the start of ``data``
    (bytes, or a Latin-1 str), positions as ``<wire>:0:N``.  Text after the
    value is not looked at (the feed has cut it off already).

    :raises KeaJSONError: with Kea's text.
    """
    parser = _Parser(_as_text(data), "<wire>", 0, 0, max_depth)
    return parser.value(0)


def from_json(data: Any, file: str = "<string>", max_depth: int = MAX_DEPTH) -> Element:
    """Kea's ``Element::fromJSON(string)``: positions from ``file:1:1``;
    anything but whitespace after the value is ``Extra data``."""
    parser = _Parser(_as_text(data), file, 1, 1, max_depth)
    element = parser.value(0)
    parser.skip_chars(_PARSER_WHITESPACE)
    if parser.peek() != _EOF:
        raise parser.error("Extra data", parser.line, parser.pos)
    return element


def _int64(text: str) -> int:
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError("outside Kea's int64")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value) or math.isnan(value):
        raise ValueError("not a finite double")
    return value


def _not_json(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


#: Python's decoder, its number hooks refusing what Kea would not read the
#: same (CPython: the C scanner calls them only for numbers).
_decode_with_hooks = json.JSONDecoder(parse_int=_int64, parse_float=_finite, parse_constant=_not_json).decode


def _kea_numbers_only(value: Any) -> bool:
    """Whether every number in ``value`` (plain JSON values) is an int64 or
    a finite double, the numbers Kea's parser reads as Python does."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not _INT64_MIN <= item <= _INT64_MAX:
                return False
        elif kind is float and not math.isfinite(item):
            return False  # an overflowing number, NaN or Infinity
    return True


def _decode_then_check(text: str) -> Any:
    """``json.loads`` with no hooks, then the numbers checked: what
    :func:`_decode_with_hooks` accepts, the same values.  On PyPy any
    decoder hook sends ``json`` to its pure-Python scanner (~20x slower
    than its built-in reader, a twentieth of an HA server's CPU)."""
    value = json.loads(text)
    if not _kea_numbers_only(value):
        raise ValueError("a number Kea reads differently")
    return value


#: Python's decoder for the texts where Kea's parser agrees with it.
_plain_decode = _decode_then_check if sys.implementation.name == "pypy" else _decode_with_hooks


def decode_json(data: Any) -> Any:
    """``from_json(data).to_python()``: the plain value of one JSON text,
    Kea's errors included, for callers that need no positions.

    Kea's peers and files write plain ASCII JSON; for such a text (no
    ``\\u`` escape, which Kea reads as one byte, and no non-ASCII
    character, which Kea keeps as a Latin-1 character) Python's C decoder
    gives the same values: integers within int64 and finite doubles (the
    parse hooks refuse the rest), the last duplicate key winning at the
    first one's place, the same escapes, its whitespace a subset of Kea's,
    no trailing data; a text with more than :data:`MAX_DEPTH` brackets
    (which might nest deeper than Kea's parser allows) is not tried.
    Whatever it refuses or that is outside that subset
    goes through Kea's parser, which decides and words the error
    (:class:`KeaJSONError`)."""
    text = _as_text(data)
    if (text.isascii() and "\\u" not in text
            and text.count("[") + text.count("{") <= MAX_DEPTH):
        try:
            return _plain_decode(text)
        except (ValueError, RecursionError):
            pass
    return from_json(text).to_python()
