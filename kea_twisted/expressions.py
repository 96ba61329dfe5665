"""
Kea 2.2's client-classification expression language for DHCPv4 (pure).

:func:`compile_expression` turns the text of a class ``test`` (or a
string-valued expression such as a flex-id identifier) into an
:class:`Expression` once per configuration; :meth:`Expression.evaluate`
runs it against a packet.  The observed behaviour is in
``spec/expressions.md``; the grammar is that of Kea's
``src/lib/eval/lexer.ll`` / ``parser.yy`` at tag Kea-2.2.0, the values
those of ``token.cc``.

How it is built, and why:

* **Lexer** -- flex semantics: at each position the longest match of every
  rule wins, ties go to the earlier rule, and a rule with trailing context
  (the option-name rule, ``name`` only when followed by blanks and ``]``)
  counts its context in that length.  It works on the UTF-8 bytes of the
  text, so columns in messages are byte columns like Kea's for a config
  file written in UTF-8 (Kea reads a JSON escape ``\\u00e9`` as the single
  byte E9, which a Python ``str`` cannot tell from a raw ``é``).
* **Parser** -- an LALR(1) automaton built at first use from Kea's grammar
  (same nonterminals, same ``%left``/``%precedence`` declarations:
  ``+`` < ``or`` < ``and`` < ``not``; an unresolved shift/reduce -- ``==``
  against ``+`` -- shifts, as bison does).  The driver behaves like bison's
  ``lalr1.cc``: default reductions (the most frequent reduction of a state),
  no look-ahead read in states with only a default reduction, and verbose
  error messages that list at most four expected tokens in token-number
  order.  That is what makes ``syntax error, unexpected ==, expecting end of
  file`` and ``expecting "," or +`` come out as Kea prints them; semantic
  errors (``Not defined client class 'b'``, code ranges, unknown option
  names) are raised at the reduction that Kea raises them in, with the
  location of the same token.  Messages are ``<string>:L.C[-C]: text``,
  exactly what Kea puts after ``error:`` (spec §9).  Checked against
  ``kea-dhcp4 -t`` 2.2.0 on ~10,000 random and mutated token sequences: no
  difference except the ``\\u00e9`` case above.
* **Evaluator** -- the tree is compiled to nested closures.  Every operand
  is evaluated (no short-circuit in ``and``, ``or`` or ``ifelse``: an error
  anywhere fails the whole test, spec §4, vectors 139-141); a run-time error
  raises :class:`EvaluationError` with Kea's text, which
  :meth:`Expression.evaluate` turns into "no match" (and reports through
  ``on_error`` so the caller can log ``EVAL_RESULT``).
* **Options** are read as Kea's option objects would present them
  (:class:`PacketView`): ``.hex`` is the option re-packed by its option
  class (``canonical`` payload), ``.text`` is ``Option::toString()`` --
  the value for string options, the ``toText()`` dump otherwise
  (:func:`kea_twisted.options.option_text`); options that arrived in
  several instances (``Packet4.fused``) and the deferred codes 43 and
  224-254 before the deferred unpack are untyped.

Kea facts pinned here (besides spec §10's 516 vectors):

* ``vendor[E].option[0]`` is not a sub-option lookup in Kea 2.2: a
  sub-option code of 0 makes ``TokenVendor`` an *exists* check, so
  ``vendor[E].option[0].hex`` is ``'true'`` when the 125 block matches.
* ``pkt4.hlen`` is capped at 16 (``Pkt4::getHlen``); ``pkt4.msgtype`` of a
  packet without option 53 is 0.
* ``*totext`` of an empty string is the empty string; ``addrtotext`` of
  16 bytes prints like glibc's ``inet_ntop`` (``::ffff:1.2.3.4``).
* ``substring``/``split`` arguments are kept as text and converted at run
  time with ``int`` range (so ``substring(x, 3000000000, 1)`` fails only
  when ``x`` is non-empty).

Deferred options (43, 224-254) are raw in class pass 1 and typed
afterwards, a client class's ``option-def`` first
(:class:`PacketView` ``deferred_definitions``, filled by
:mod:`kea_twisted.classify`).  Not modelled: DHCPv6.

Tests: tests/test_expressions.py
"""

from __future__ import annotations

import ipaddress
import re
import struct
from typing import (
    Any,
    Callable,
    Collection,
    Dict,
    FrozenSet,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from kea_twisted import options as _opts
from kea_twisted.options import (
    DEFERRED_CODES,
    DHCP4_SPACE,
    STANDARD_DEFINITIONS,
    OptionDefinition,
    OptionDefinitions,
)

__all__ = [
    "BUILTIN_CLASS_NAMES",
    "BUILTIN_CLASS_PREFIXES",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "PacketView",
    "compile_expression",
    "is_builtin_class",
]


class ExpressionError(ValueError):
    """A test Kea refuses at configuration time.  ``message`` (and
    ``str()``) is Kea's text after ``error:`` (spec §9), e.g.
    ``<string>:1.8-10: Not defined client class 'b'``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EvaluationError(Exception):
    """A run-time failure of an expression (Kea's ``EvalTypeError``); the
    class does not match and Kea logs ``EVAL_RESULT`` with this text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


#: Kea's ``builtinNames`` (``client_class_def.cc``); DROP is not one.
BUILTIN_CLASS_NAMES: FrozenSet[str] = frozenset(["ALL", "KNOWN", "UNKNOWN", "BOOTP"])
#: Kea's ``builtinPrefixes``; the name must be longer than the prefix.
BUILTIN_CLASS_PREFIXES: Tuple[str, ...] = ("VENDOR_CLASS_", "HA_", "AFTER_", "EXTERNAL_")


def is_builtin_class(name: str) -> bool:
    """Kea's ``isClientClassBuiltIn``: ``member()`` of these is always
    accepted (``HA_x`` yes, bare ``HA_`` no)."""
    if name in BUILTIN_CLASS_NAMES:
        return True
    return any(len(name) > len(p) and name.startswith(p) for p in BUILTIN_CLASS_PREFIXES)


# ==========================================================================
# Tokens: (kind, display name) in bison's token-number order.  The display
# name is what bison's verbose messages print (yytnamerr strips the quotes
# of an alias unless it contains a comma).

_TOKENS: Tuple[Tuple[str, str], ...] = (
    ("END", "end of file"), ("error", "error"), ("UNDEF", "invalid token"),
    ("LPAREN", "("), ("RPAREN", ")"), ("NOT", "not"), ("AND", "and"), ("OR", "or"),
    ("EQUAL", "=="), ("OPTION", "option"), ("RELAY4", "relay4"), ("RELAY6", "relay6"),
    ("MEMBER", "member"), ("PEERADDR", "peeraddr"), ("LINKADDR", "linkaddr"),
    ("LBRACKET", "["), ("RBRACKET", "]"), ("DOT", "."), ("TEXT", "text"), ("HEX", "hex"),
    ("EXISTS", "exists"), ("PKT", "pkt"), ("IFACE", "iface"), ("SRC", "src"),
    ("DST", "dst"), ("LEN", "len"), ("PKT4", "pkt4"), ("CHADDR", "mac"),
    ("HLEN", "hlen"), ("HTYPE", "htype"), ("CIADDR", "ciaddr"), ("GIADDR", "giaddr"),
    ("YIADDR", "yiaddr"), ("SIADDR", "siaddr"), ("SUBSTRING", "substring"),
    ("SPLIT", "split"), ("ALL", "all"), ("COMA", '","'), ("CONCAT", "concat"),
    ("PLUS", "+"), ("IFELSE", "ifelse"), ("TOHEXSTRING", "hexstring"),
    ("ADDRTOTEXT", "addrtotext"), ("INT8TOTEXT", "int8totext"),
    ("INT16TOTEXT", "int16totext"), ("INT32TOTEXT", "int32totext"),
    ("UINT8TOTEXT", "uint8totext"), ("UINT16TOTEXT", "uint16totext"),
    ("UINT32TOTEXT", "uint32totext"), ("PKT6", "pkt6"), ("MSGTYPE", "msgtype"),
    ("TRANSID", "transid"), ("VENDOR_CLASS", "vendor-class"), ("VENDOR", "vendor"),
    ("ANY", "*"), ("DATA", "data"), ("ENTERPRISE", "enterprise"),
    ("TOPLEVEL_BOOL", "top-level bool"), ("TOPLEVEL_STRING", "top-level string"),
    ("STRING", "constant string"), ("INTEGER", "integer"),
    ("HEXSTRING", "constant hexstring"), ("OPTION_NAME", "option name"),
    ("IP_ADDRESS", "ip address"),
)
_TOKEN_NUMBER = {kind: i for i, (kind, _) in enumerate(_TOKENS)}
_TOKEN_DISPLAY = dict(_TOKENS)

#: Fixed-text tokens of the lexer (keywords and punctuation).
_LITERALS: Dict[bytes, str] = {
    b"==": "EQUAL", b".": "DOT", b"(": "LPAREN", b")": "RPAREN", b"[": "LBRACKET",
    b"]": "RBRACKET", b",": "COMA", b"*": "ANY", b"+": "PLUS",
}
for _kind, _disp in _TOKENS:
    if _disp.isalnum() or "-" in _disp and _disp.replace("-", "").isalnum():
        if _kind not in ("END", "error", "UNDEF"):
            _LITERALS[_disp.encode()] = _kind
_LITERALS_BY_FIRST: Dict[int, List[Tuple[bytes, str]]] = {}
for _text, _kind in _LITERALS.items():
    _LITERALS_BY_FIRST.setdefault(_text[0], []).append((_text, _kind))


# ==========================================================================
# Locations, as bison's ``location`` prints them.

class _Loc:
    __slots__ = ("bline", "bcol", "eline", "ecol")

    def __init__(self, bline: int, bcol: int, eline: int, ecol: int) -> None:
        self.bline, self.bcol, self.eline, self.ecol = bline, bcol, eline, ecol

    def __str__(self) -> str:
        end_col = self.ecol - 1 if self.ecol > 0 else 0
        text = "<string>:%d.%d" % (self.bline, self.bcol)
        if self.bline < self.eline:
            text += "-%d.%d" % (self.eline, end_col)
        elif self.bcol < end_col:
            text += "-%d" % end_col
        return text


def _fail(loc: _Loc, what: str) -> ExpressionError:
    return ExpressionError("%s: %s" % (loc, what))


# ==========================================================================
# Lexer

_RE_BLANK = re.compile(rb"[ \t]+")
_RE_NEWLINE = re.compile(rb"\n+")
_RE_STRING = re.compile(rb"'[^'\n]*'")
_RE_HEX = re.compile(rb"0[xX][0-9a-fA-F]+")
_RE_INT = re.compile(rb"-?[0-9]+")
_RE_NAME = re.compile(rb"[A-Za-z](?:[-_A-Za-z0-9]*[A-Za-z0-9])?[ \t\n]*(?=\])")
_RE_ADDR4 = re.compile(rb"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_RE_ADDR6 = re.compile(rb"[0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F:.]*")

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


class _Token:
    __slots__ = ("kind", "value", "loc")

    def __init__(self, kind: str, value: Any, loc: _Loc) -> None:
        self.kind, self.value, self.loc = kind, value, loc


def _ip_bytes(text: str) -> Optional[bytes]:
    """``IOAddress(text).toBytes()``: IPv6 first, then IPv4 (asio's
    ``make_address``); None when neither parses."""
    try:
        return ipaddress.IPv6Address(text).packed
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(text).packed
    except ValueError:
        return None


def _lex(data: bytes) -> Iterator[_Token]:
    """Kea's flex scanner, one token at a time (the parser pulls, so a lexer
    error after a syntax error is never seen, as in Kea)."""
    line, col = 1, 1
    pos = 0
    n = len(data)
    while True:
        bline, bcol = line, col  # loc.step()
        if pos >= n:
            yield _Token("END", None, _Loc(bline, bcol, line, col))
            return
        # Longest match; ties go to the earlier rule.
        best_len = 0
        best_rule = -1
        best_text_len = 0
        c = data[pos]
        candidates = []
        if c in (0x20, 0x09):
            candidates.append((0, _RE_BLANK.match(data, pos).end() - pos, None))
        elif c == 0x0A:
            candidates.append((1, _RE_NEWLINE.match(data, pos).end() - pos, None))
        else:
            if c == 0x27:
                m = _RE_STRING.match(data, pos)
                if m:
                    candidates.append((2, m.end() - pos, None))
            if 0x30 <= c <= 0x39 or c == 0x2D:
                m = _RE_HEX.match(data, pos)
                if m:
                    candidates.append((3, m.end() - pos, None))
                m = _RE_INT.match(data, pos)
                if m:
                    candidates.append((4, m.end() - pos, None))
            if (0x41 <= c <= 0x5A) or (0x61 <= c <= 0x7A):
                m = _RE_NAME.match(data, pos)
                if m:
                    # trailing context ']' counts for the longest match
                    candidates.append((5, m.end() - pos + 1, m.end() - pos))
            m4 = _RE_ADDR4.match(data, pos)
            m6 = _RE_ADDR6.match(data, pos)
            alen = max(m4.end() - pos if m4 else 0, m6.end() - pos if m6 else 0)
            if alen:
                candidates.append((6, alen, None))
            llen = 0
            lkind = ""
            for text, kind in _LITERALS_BY_FIRST.get(c, ()):
                if len(text) > llen and data.startswith(text, pos):
                    llen, lkind = len(text), kind
            if llen:
                candidates.append((7, llen, None))
            candidates.append((8, 1, None))
        for rule, length, text_len in candidates:
            if length > best_len:
                best_len, best_rule = length, rule
                best_text_len = text_len if text_len is not None else length
        consumed = best_text_len
        text = data[pos:pos + consumed]
        pos += consumed
        col += consumed  # YY_USER_ACTION: loc.columns(yyleng)
        if best_rule == 0:
            continue
        if best_rule == 1:
            line += consumed
            col = 1
            continue
        loc = _Loc(bline, bcol, line, col)
        if best_rule == 2:
            yield _Token("STRING", text[1:-1], loc)
        elif best_rule == 3:
            yield _Token("HEXSTRING", text.decode("ascii"), loc)
        elif best_rule == 4:
            s = text.decode("ascii")
            v = int(s)
            if v < _INT64_MIN or v > _INT64_MAX:
                raise _fail(loc, "Failed to convert %s to an integer." % s)
            yield _Token("INTEGER", s, loc)
        elif best_rule == 5:
            name = text
            # strip trailing blanks; each newline moves the location on
            while len(name) > 1 and name[-1] in (0x20, 0x09, 0x0A):
                if name[-1] == 0x0A:
                    line += 1
                    col = 1
                    loc = _Loc(line, col, line, col)
                name = name[:-1]
            yield _Token("OPTION_NAME", name.decode("ascii"), _Loc(loc.bline, loc.bcol, line, col)
                         if loc.bline == bline else loc)
        elif best_rule == 6:
            s = text.decode("ascii")
            value = _ip_bytes(s)
            if value is None:
                raise _fail(loc, "Failed to convert %s to an IP address." % s)
            yield _Token("IP_ADDRESS", value, loc)
        elif best_rule == 7:
            yield _Token(_LITERALS[text], None, loc)
        else:
            raise _fail(loc, "Invalid character: %s" % text.decode("latin-1"))


# ==========================================================================
# Grammar (Kea's parser.yy, same nonterminals and alternatives), with the
# semantic actions as small functions of (context, values, locations).

_Action = Callable[["_ParseContext", List[Any], List[_Loc]], Any]


class _ParseContext:
    __slots__ = ("defined", "definitions", "dependencies")

    def __init__(self, defined: Optional[Collection[str]],
                 definitions: OptionDefinitions) -> None:
        self.defined = defined
        self.definitions = definitions
        self.dependencies: set = set()


def _u32(text: str, loc: _Loc) -> int:
    n = int(text)
    if n < 0 or n > 0xFFFFFFFF:
        raise _fail(loc, "Invalid value in %s. Allowed range: 0..4294967295" % text)
    return n


def _u8(text: str, loc: _Loc) -> int:
    n = int(text)
    if n < 0 or n > 255:
        raise _fail(loc, "Invalid value in %s. Allowed range: 0..255" % text)
    return n


def _option_code(text: str, loc: _Loc) -> int:
    n = int(text)
    if n < -(1 << 31) or n >= (1 << 31):  # boost::lexical_cast<int> fails
        raise _fail(loc, "Option code has invalid value in %s" % text)
    if n < 0 or n > 255:
        raise _fail(loc, "Option code has invalid value in %s. Allowed range: 0..255" % text)
    return n


def _option_name(ctx: _ParseContext, name: str, loc: _Loc) -> int:
    d = ctx.definitions.get_by_name(DHCP4_SPACE, name)
    if d is None:
        d = ctx.definitions.find(DHCP4_SPACE, name=name)
    if d is None:
        raise _fail(loc, "option '%s' is not defined" % name)
    return d.code


def _nest_level(text: str, loc: _Loc) -> int:
    n = int(text)
    if n < -128 or n > 127:
        raise _fail(loc, "Invalid value in %s. Allowed range: -128..127" % text)
    raise _fail(loc, "Nest level invalid for DHCPv4 packets")


def _member(ctx: _ParseContext, v: List[Any], l: List[_Loc]) -> Any:
    raw: bytes = v[2]
    name = raw.decode("utf-8", "surrogateescape")
    if ctx.defined is not None and not is_builtin_class(name) and name not in ctx.defined:
        raise _fail(l[2], "Not defined client class '%s'" % raw.decode("utf-8", "replace"))
    ctx.dependencies.add(name)
    return ("member", name)


def _v6_only(what: str) -> _Action:
    def act(ctx: _ParseContext, v: List[Any], l: List[_Loc]) -> Any:
        raise _fail(l[0], "%s can only be used in DHCPv6." % what)
    return act


def _pick(i: int) -> _Action:
    return lambda ctx, v, l: v[i]


def _const(value: Any) -> _Action:
    return lambda ctx, v, l: value


_STRING_FUNCS = ("INT8TOTEXT", "INT16TOTEXT", "INT32TOTEXT", "UINT8TOTEXT",
                 "UINT16TOTEXT", "UINT32TOTEXT")

_RULES: List[Tuple[str, Tuple[str, ...], Optional[_Action]]] = [
    ("$accept", ("start", "END"), None),
    ("start", ("TOPLEVEL_BOOL", "expression"), _pick(1)),
    ("start", ("TOPLEVEL_STRING", "string_expr"), _pick(1)),
    ("expression", ("bool_expr",), _pick(0)),
    ("bool_expr", ("LPAREN", "bool_expr", "RPAREN"), _pick(1)),
    ("bool_expr", ("NOT", "bool_expr"), lambda c, v, l: ("not", v[1])),
    ("bool_expr", ("bool_expr", "AND", "bool_expr"), lambda c, v, l: ("and", v[0], v[2])),
    ("bool_expr", ("bool_expr", "OR", "bool_expr"), lambda c, v, l: ("or", v[0], v[2])),
    ("bool_expr", ("string_expr", "EQUAL", "string_expr"), lambda c, v, l: ("eq", v[0], v[2])),
    ("bool_expr", ("OPTION", "LBRACKET", "option_code", "RBRACKET", "DOT", "EXISTS"),
     lambda c, v, l: ("option", v[2], "exists")),
    ("bool_expr", ("OPTION", "LBRACKET", "option_code", "RBRACKET", "DOT", "OPTION",
                   "LBRACKET", "sub_option_code", "RBRACKET", "DOT", "EXISTS"),
     lambda c, v, l: ("suboption", v[2], v[7], "exists")),
    ("bool_expr", ("RELAY4", "LBRACKET", "sub_option_code", "RBRACKET", "DOT", "EXISTS"),
     lambda c, v, l: ("suboption", 82, v[2], "exists", "relay4")),
    ("bool_expr", ("RELAY6", "LBRACKET", "nest_level", "RBRACKET", "DOT", "OPTION",
                   "LBRACKET", "sub_option_code", "RBRACKET", "DOT", "EXISTS"),
     _v6_only("relay6")),
    ("bool_expr", ("VENDOR_CLASS", "LBRACKET", "enterprise_id", "RBRACKET", "DOT", "EXISTS"),
     lambda c, v, l: ("vendor_class", v[2], "exists", 0)),
    ("bool_expr", ("VENDOR", "LBRACKET", "enterprise_id", "RBRACKET", "DOT", "EXISTS"),
     lambda c, v, l: ("vendor", v[2], "exists", 0)),
    ("bool_expr", ("VENDOR", "LBRACKET", "enterprise_id", "RBRACKET", "DOT", "OPTION",
                   "LBRACKET", "sub_option_code", "RBRACKET", "DOT", "EXISTS"),
     lambda c, v, l: ("vendor", v[2], "exists", v[7])),
    ("bool_expr", ("MEMBER", "LPAREN", "STRING", "RPAREN"), _member),
    ("string_expr", ("STRING",), lambda c, v, l: ("const", v[0], "string")),
    ("string_expr", ("HEXSTRING",), lambda c, v, l: ("const", _hex_literal(v[0]), "hex")),
    ("string_expr", ("IP_ADDRESS",), lambda c, v, l: ("const", v[0], "ip")),
    ("string_expr", ("OPTION", "LBRACKET", "option_code", "RBRACKET", "DOT",
                     "option_repr_type"),
     lambda c, v, l: ("option", v[2], v[5])),
    ("string_expr", ("OPTION", "LBRACKET", "option_code", "RBRACKET", "DOT", "OPTION",
                     "LBRACKET", "sub_option_code", "RBRACKET", "DOT", "option_repr_type"),
     lambda c, v, l: ("suboption", v[2], v[7], v[10])),
    ("string_expr", ("RELAY4", "LBRACKET", "sub_option_code", "RBRACKET", "DOT",
                     "option_repr_type"),
     lambda c, v, l: ("suboption", 82, v[2], v[5], "relay4")),
    ("string_expr", ("RELAY6", "LBRACKET", "nest_level", "RBRACKET", "DOT", "OPTION",
                     "LBRACKET", "sub_option_code", "RBRACKET", "DOT", "option_repr_type"),
     _v6_only("relay6")),
    ("string_expr", ("PKT", "DOT", "pkt_metadata"), lambda c, v, l: ("pkt", v[2])),
    ("string_expr", ("PKT4", "DOT", "pkt4_field"), lambda c, v, l: ("pkt4", v[2])),
    ("string_expr", ("PKT6", "DOT", "pkt6_field"), _v6_only("pkt6")),
    ("string_expr", ("RELAY6", "LBRACKET", "nest_level", "RBRACKET", "DOT", "relay6_field"),
     _v6_only("relay6")),
    ("string_expr", ("SUBSTRING", "LPAREN", "string_expr", "COMA", "start_expr", "COMA",
                     "length_expr", "RPAREN"),
     lambda c, v, l: ("substring", v[2], v[4], v[6])),
    ("string_expr", ("SPLIT", "LPAREN", "string_expr", "COMA", "string_expr", "COMA",
                     "int_expr", "RPAREN"),
     lambda c, v, l: ("split", v[2], v[4], v[6])),
    ("string_expr", ("CONCAT", "LPAREN", "string_expr", "COMA", "string_expr", "RPAREN"),
     lambda c, v, l: ("concat", v[2], v[4])),
    ("string_expr", ("string_expr", "PLUS", "string_expr"),
     lambda c, v, l: ("concat", v[0], v[2])),
    ("string_expr", ("IFELSE", "LPAREN", "bool_expr", "COMA", "string_expr", "COMA",
                     "string_expr", "RPAREN"),
     lambda c, v, l: ("ifelse", v[2], v[4], v[6])),
    ("string_expr", ("TOHEXSTRING", "LPAREN", "string_expr", "COMA", "string_expr", "RPAREN"),
     lambda c, v, l: ("hexstring", v[2], v[4])),
    ("string_expr", ("ADDRTOTEXT", "LPAREN", "string_expr", "RPAREN"),
     lambda c, v, l: ("addrtotext", v[2])),
] + [
    ("string_expr", (fn, "LPAREN", "string_expr", "RPAREN"),
     (lambda kind: lambda c, v, l: ("inttotext", kind, v[2]))(fn.lower()))
    for fn in _STRING_FUNCS
] + [
    ("string_expr", ("VENDOR", "DOT", "ENTERPRISE"),
     lambda c, v, l: ("vendor", 0, "enterprise", 0)),
    ("string_expr", ("VENDOR_CLASS", "DOT", "ENTERPRISE"),
     lambda c, v, l: ("vendor_class", 0, "enterprise", 0)),
    ("string_expr", ("VENDOR", "LBRACKET", "enterprise_id", "RBRACKET", "DOT", "OPTION",
                     "LBRACKET", "sub_option_code", "RBRACKET", "DOT", "option_repr_type"),
     lambda c, v, l: ("vendor", v[2], v[10], v[7])),
    ("string_expr", ("VENDOR_CLASS", "LBRACKET", "enterprise_id", "RBRACKET", "DOT", "DATA"),
     lambda c, v, l: ("vendor_class", v[2], "data", 0)),
    ("string_expr", ("VENDOR_CLASS", "LBRACKET", "enterprise_id", "RBRACKET", "DOT", "DATA",
                     "LBRACKET", "INTEGER", "RBRACKET"),
     lambda c, v, l: ("vendor_class", v[2], "data", _u8(v[7], l[7]))),
    ("string_expr", ("integer_expr",), lambda c, v, l: ("const", struct.pack("!I", v[0]), "string")),
    ("string_expr", ("LPAREN", "string_expr", "RPAREN"), _pick(1)),
    ("integer_expr", ("INTEGER",), lambda c, v, l: _u32(v[0], l[0])),
    ("option_code", ("INTEGER",), lambda c, v, l: _option_code(v[0], l[0])),
    ("option_code", ("OPTION_NAME",), lambda c, v, l: _option_name(c, v[0], l[0])),
    ("sub_option_code", ("INTEGER",), lambda c, v, l: _option_code(v[0], l[0])),
    ("option_repr_type", ("TEXT",), _const("text")),
    ("option_repr_type", ("HEX",), _const("hex")),
    ("nest_level", ("INTEGER",), lambda c, v, l: _nest_level(v[0], l[0])),
    ("pkt_metadata", ("IFACE",), _const("iface")),
    ("pkt_metadata", ("SRC",), _const("src")),
    ("pkt_metadata", ("DST",), _const("dst")),
    ("pkt_metadata", ("LEN",), _const("len")),
    ("enterprise_id", ("INTEGER",), lambda c, v, l: _u32(v[0], l[0])),
    ("enterprise_id", ("ANY",), _const(0)),
] + [
    ("pkt4_field", (tok,), _const(name))
    for tok, name in (("CHADDR", "mac"), ("HLEN", "hlen"), ("HTYPE", "htype"),
                      ("CIADDR", "ciaddr"), ("GIADDR", "giaddr"), ("YIADDR", "yiaddr"),
                      ("SIADDR", "siaddr"), ("MSGTYPE", "msgtype"), ("TRANSID", "transid"))
] + [
    ("pkt6_field", ("MSGTYPE",), _const("msgtype")),
    ("pkt6_field", ("TRANSID",), _const("transid")),
    ("relay6_field", ("PEERADDR",), _const("peeraddr")),
    ("relay6_field", ("LINKADDR",), _const("linkaddr")),
    ("start_expr", ("INTEGER",), _pick(0)),
    ("length_expr", ("INTEGER",), _pick(0)),
    ("length_expr", ("ALL",), _const("all")),
    ("int_expr", ("INTEGER",), _pick(0)),
]

#: %left PLUS, %left OR, %left AND, %precedence NOT (loosest first).
_PRECEDENCE = {"PLUS": (1, "left"), "OR": (2, "left"), "AND": (3, "left"),
               "NOT": (4, "none")}


def _hex_literal(text: str) -> bytes:
    digits = text[2:]
    if len(digits) % 2:
        digits = "0" + digits
    return bytes.fromhex(digits)


# ==========================================================================
# LALR(1) construction (done once, at first use)

class _Tables:
    """``action[state][token]`` = ('s', state) | ('r', rule);
    ``default[state]`` = rule, None, or -1 (accept); ``pure_default`` = states where bison
    reduces without reading a look-ahead; ``goto[state][nonterminal]``."""

    def __init__(self) -> None:
        rules = _RULES
        nonterminals = {lhs for lhs, _, _ in rules}
        by_lhs: Dict[str, List[int]] = {}
        for i, (lhs, _, _) in enumerate(rules):
            by_lhs.setdefault(lhs, []).append(i)
        first: Dict[str, set] = {t: {t} for t, _ in _TOKENS}
        for nt in nonterminals:
            first[nt] = set()
        changed = True
        while changed:  # no empty rules in this grammar
            changed = False
            for lhs, rhs, _ in rules:
                add = first[rhs[0]] - first[lhs]
                if add:
                    first[lhs] |= add
                    changed = True

        def closure0(kernel):
            items = list(kernel)
            seen = set(items)
            for r, d in items:
                rhs = rules[r][1]
                if d < len(rhs) and rhs[d] in nonterminals:
                    for rr in by_lhs[rhs[d]]:
                        if (rr, 0) not in seen:
                            seen.add((rr, 0))
                            items.append((rr, 0))
            return items

        start = frozenset([(0, 0)])
        states = [start]
        index = {start: 0}
        gotos: List[Dict[str, int]] = []
        closures = []
        i = 0
        while i < len(states):
            items = closure0(states[i])
            closures.append(items)
            moves: Dict[str, set] = {}
            order: List[str] = []
            for r, d in items:
                rhs = rules[r][1]
                if d < len(rhs):
                    x = rhs[d]
                    if x not in moves:
                        moves[x] = set()
                        order.append(x)
                    moves[x].add((r, d + 1))
            g = {}
            for x in order:
                k = frozenset(moves[x])
                if k not in index:
                    index[k] = len(states)
                    states.append(k)
                g[x] = index[k]
            gotos.append(g)
            i += 1

        # LALR look-aheads by propagation to a fixpoint.
        la: List[Dict[Tuple[int, int], set]] = [{it: set() for it in k} for k in states]
        la[0][(0, 0)] = {"END"}
        final_cl: List[Dict[Tuple[int, int], set]] = [{} for _ in states]
        changed = True
        while changed:
            changed = False
            for s in range(len(states)):
                cl = {it: set(v) for it, v in la[s].items()}
                work = list(cl)
                while work:
                    it = work.pop()
                    r, d = it
                    rhs = rules[r][1]
                    if d < len(rhs) and rhs[d] in nonterminals:
                        look = first[rhs[d + 1]] if d + 1 < len(rhs) else cl[it]
                        for rr in by_lhs[rhs[d]]:
                            t = (rr, 0)
                            cur = cl.get(t)
                            if cur is None:
                                cl[t] = set(look)
                                work.append(t)
                            elif not look <= cur:
                                cur |= look
                                work.append(t)
                final_cl[s] = cl
                g = gotos[s]
                for (r, d), look in cl.items():
                    rhs = rules[r][1]
                    if d < len(rhs):
                        tgt = la[g[rhs[d]]][(r, d + 1)]
                        if not look <= tgt:
                            tgt |= look
                            changed = True

        def rule_prec(r):
            for sym in reversed(rules[r][1]):
                if sym not in nonterminals:
                    return _PRECEDENCE.get(sym)
            return None

        self.action: List[Dict[str, Tuple]] = []
        self.default: List[Optional[int]] = []
        self.pure_default: List[bool] = []
        self.goto = gotos
        for s in range(len(states)):
            act: Dict[str, Tuple] = {}
            for x, t in gotos[s].items():
                if x not in nonterminals:
                    act[x] = ("s", t)
            for (r, d), look in sorted(final_cl[s].items()):
                rhs = rules[r][1]
                if d != len(rhs):
                    continue
                if r == 0:
                    continue
                for tok in look:
                    cur = act.get(tok)
                    if cur is None:
                        act[tok] = ("r", r)
                    elif cur[0] == "s":
                        tp = _PRECEDENCE.get(tok)
                        rp = rule_prec(r)
                        if tp and rp:
                            if rp[0] > tp[0] or (rp[0] == tp[0] and rp[1] == "left"):
                                act[tok] = ("r", r)
                            elif rp[0] == tp[0] and rp[1] == "none":
                                del act[tok]
                        # unresolved: bison shifts
                    elif cur[0] == "r" and r < cur[1]:
                        act[tok] = ("r", r)
            if (0, 2) in final_cl[s]:  # $accept: start END .  -> accept
                self.action.append({})
                self.default.append(-1)
                self.pure_default.append(True)
                continue
            counts: Dict[int, int] = {}
            for a in act.values():
                if a[0] == "r":
                    counts[a[1]] = counts.get(a[1], 0) + 1
            default = None
            if counts:
                best = -1
                for r in sorted(counts):
                    if counts[r] > best:
                        best, default = counts[r], r
                act = {t: a for t, a in act.items() if not (a[0] == "r" and a[1] == default)}
            self.action.append(act)
            self.default.append(default)
            self.pure_default.append(default is not None and not act)
        self.rules = rules


_TABLES: Optional[_Tables] = None


def _tables() -> _Tables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _Tables()
    return _TABLES


def _syntax_error(tables: _Tables, state: int, tok: _Token) -> ExpressionError:
    expected = sorted(tables.action[state], key=_TOKEN_NUMBER.__getitem__)
    what = "syntax error, unexpected " + _TOKEN_DISPLAY[tok.kind]
    if 0 < len(expected) < 5:
        what += ", expecting " + " or ".join(_TOKEN_DISPLAY[t] for t in expected)
    return _fail(tok.loc, what)


def _parse(text: str, ctx: _ParseContext, top: str) -> Any:
    tables = _tables()
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates from a JSON "\ud800"
        data = text.encode("utf-8", "surrogatepass")
    tokens = _lex(data)
    first = _Loc(1, 1, 1, 1)
    # Kea's scanner hands the parser a start token first.
    pending: Optional[_Token] = _Token(top, None, first)
    states = [0]
    values: List[Any] = [None]
    locs: List[_Loc] = [first]
    la: Optional[_Token] = None
    action = tables.action
    while True:
        s = states[-1]
        if tables.pure_default[s]:
            r = tables.default[s]
            if r == -1:
                return values[-2]  # accepted: the value of 'start'
        else:
            if la is None:
                if pending is not None:
                    la, pending = pending, None
                else:
                    la = next(tokens)
            a = action[s].get(la.kind)
            if a is not None and a[0] == "s":
                states.append(a[1])
                values.append(la.value)
                locs.append(la.loc)
                la = None
                continue
            if a is not None:
                r = a[1]
            else:
                r = tables.default[s]
                if r is None:
                    raise _syntax_error(tables, s, la)
        lhs, rhs, fn = tables.rules[r]
        k = len(rhs)
        vals = values[-k:]
        ls = locs[-k:]
        result = fn(ctx, vals, ls) if fn is not None else None
        loc = _Loc(ls[0].bline, ls[0].bcol, ls[-1].eline, ls[-1].ecol)
        del states[-k:]
        del values[-k:]
        del locs[-k:]
        states.append(tables.goto[states[-1]][lhs])
        values.append(result)
        locs.append(loc)


# ==========================================================================
# The packet as Kea's option objects present it

class _Opt:
    """One option (or sub-option) the way Kea's ``Option`` object for it
    behaves: ``hex`` = ``toBinary()``, ``text`` = ``toString()``,
    ``sub(code)`` = ``getOption(code)``, ``value`` = the typed value (124,
    125), ``size`` = ``len()``."""

    __slots__ = ("code", "payload", "defn", "defs", "space", "_parsed", "_text", "_subs",
                 "_fused_subs")

    def __init__(self, code: int, payload: bytes, defn: Optional[OptionDefinition],
                 defs: OptionDefinitions, fused_subs_space: str = "") -> None:
        self.code = code
        self.payload = payload
        self.defn = defn
        self.defs = defs
        self._parsed: Any = None
        self._text: Optional[bytes] = None
        self._subs: Optional[Dict[int, "_Opt"]] = None
        self._fused_subs = fused_subs_space

    def parsed(self) -> Any:
        """Kea's option class for it, or False for a generic option."""
        p = self._parsed
        if p is None:
            p = False
            if self.defn is not None:
                try:
                    p = _opts.parse_option(self.defn, self.payload, self.defs)
                except _opts.OptionDecodeError:
                    p = False
            self._parsed = p
        return p

    @property
    def hex(self) -> bytes:
        p = self.parsed()
        if p is False:
            if self._fused_subs:
                return _opts.pack_suboptions(
                    [(c, o.hex) for c, o in self.subs().items()])
            return self.payload
        return p.wire

    @property
    def text(self) -> bytes:
        t = self._text
        if t is None:
            p = self.parsed()
            if p is False:
                s = _opts.option_text(None, self.payload, self.code, self.defs)
            else:
                s = _opts.option_text(self.defn, self.payload, self.code, self.defs)
            try:
                t = s.encode("latin-1")
            except UnicodeEncodeError:
                t = s.encode("utf-8", "surrogateescape")
            self._text = t
        return t

    @property
    def value(self) -> Any:
        p = self.parsed()
        return None if p is False else p.value

    def subs(self) -> Dict[int, "_Opt"]:
        subs = self._subs
        if subs is None:
            subs = {}
            raw: Sequence[Tuple[int, bytes]] = ()
            space = ""
            if self._fused_subs:
                space = self._fused_subs
                raw = _opts.parse_suboptions(self.payload, self.code == 43)
            else:
                p = self.parsed()
                if p is not False and p.subs:
                    raw = p.subs
                    if p.kind == "vivso":
                        space = "vendor-%d" % p.value.enterprise_id
                    else:
                        space = self.defn.encapsulate if self.defn is not None else ""
            # Kea fuses repeated sub-option codes into one untyped option.
            merged: Dict[int, List[bytes]] = {}
            for c, pl in raw:
                merged.setdefault(c, []).append(pl)
            for c, parts in merged.items():
                if len(parts) > 1:
                    subs[c] = _Opt(c, b"".join(parts), None, self.defs)
                else:
                    d = self.defs.get(space, c) if space else None
                    subs[c] = _Opt(c, parts[0], d, self.defs)
            self._subs = subs
        return subs

    def sub(self, code: int) -> Optional["_Opt"]:
        return self.subs().get(code)

    @property
    def size(self) -> int:
        return 2 + len(self.hex)


class PacketView:
    """A packet with Kea's per-option objects built lazily and kept, so
    the classes evaluated for one query share the work.

    :param packet: a :class:`kea_twisted.packet.Packet4` (or anything with
        its attributes).
    :param classes: the classes the packet is in now (for ``member()``);
        the view reads it at evaluation time, so a mutable set may be
        passed and updated between class evaluations.
    :param definitions: the option definitions in force (standard plus the
        configuration's ``option-def``), as Kea's unpack uses them.
    :param deferred_unpacked: False during class pass 1 (options 43 and
        224-254 are still raw, spec dhcp4.md §2 step 3), True afterwards.
    :param deferred_definitions: once unpacked, the definitions a client
        class gave to deferred codes (``option-def`` inside a class: Kea's
        ``deferredUnpack`` takes the first of the packet's classes defining
        the code); codes not in it use the standard, then the configured,
        then the last-resort definition.
    """

    __slots__ = ("packet", "classes", "definitions", "deferred_unpacked",
                 "deferred_definitions", "_options", "_length")

    def __init__(self, packet: Any, classes: Collection[str] = (),
                 definitions: Optional[OptionDefinitions] = None,
                 deferred_unpacked: bool = False,
                 deferred_definitions: Optional[Mapping[int, OptionDefinition]] = None) -> None:
        self.packet = packet
        self.classes = classes
        self.definitions = definitions or STANDARD_DEFINITIONS
        self.deferred_unpacked = deferred_unpacked
        self.deferred_definitions = deferred_definitions
        self._options: Dict[int, Optional[_Opt]] = {}
        self._length: Optional[int] = None

    def option(self, code: int) -> Optional[_Opt]:
        """``pkt.getOption(code)``: None when absent."""
        try:
            return self._options[code]
        except KeyError:
            pass
        pkt = self.packet
        payload = pkt.options.get(code)
        opt: Optional[_Opt] = None
        if payload is not None:
            defs = self.definitions
            if code in pkt.fused:
                d = defs.get(DHCP4_SPACE, code)
                opt = _Opt(code, payload, None, defs,
                           d.encapsulate if d is not None and d.type == "empty" else "")
            else:
                deferred = code in DEFERRED_CODES
                if deferred:
                    d = None
                    if self.deferred_unpacked:
                        by_class = self.deferred_definitions
                        if by_class:
                            d = by_class.get(code)
                        if d is None:
                            d = defs.resolve(DHCP4_SPACE, code)
                else:
                    d = defs.get(DHCP4_SPACE, code)
                opt = _Opt(code, payload, d, defs)
                if d is not None:
                    try:
                        opt._parsed = _opts.parse_option(d, payload, defs)
                    except _opts.SkipThisOption:
                        if deferred:
                            # deferredUnpack keeps the raw option when the
                            # factory throws (DHCP4_DEFERRED_OPTION_UNPACK_FAIL).
                            opt._parsed = False
                        else:
                            opt = None  # Kea's unpack leaves such an option out
                    except _opts.OptionDecodeError:
                        opt._parsed = False  # generic, as a fallback
        self._options[code] = opt
        return opt

    def length(self) -> int:
        """``Pkt4::len()``: 236 + the ``len()`` of every option object."""
        n = self._length
        if n is None:
            n = 236
            for code in list(self.packet.options):
                o = self.option(code)
                if o is not None:
                    n += o.size
            self._length = n
        return n


# ==========================================================================
# Compilation of the tree into closures over a PacketView

_Fn = Callable[[PacketView], Any]

_TRUE = b"true"
_FALSE = b"false"


def _inet_ntop6(b: bytes) -> str:
    """glibc's ``inet_ntop(AF_INET6)`` (what Kea's ``IOAddress::toText``
    prints): longest run (>= 2) of zero words compressed, first one on a
    tie; ``::a.b.c.d`` and ``::ffff:a.b.c.d`` forms for embedded IPv4."""
    words = struct.unpack("!8H", b)
    best_base, best_len = -1, 0
    cur_base, cur_len = -1, 0
    for i, w in enumerate(words):
        if w == 0:
            if cur_base == -1:
                cur_base, cur_len = i, 1
            else:
                cur_len += 1
        else:
            if cur_base != -1:
                if best_base == -1 or cur_len > best_len:
                    best_base, best_len = cur_base, cur_len
                cur_base = -1
    if cur_base != -1 and (best_base == -1 or cur_len > best_len):
        best_base, best_len = cur_base, cur_len
    if best_base != -1 and best_len < 2:
        best_base = -1
    out = []
    i = 0
    while i < 8:
        if best_base != -1 and best_base <= i < best_base + best_len:
            if i == best_base:
                out.append(":")
            i += 1
            continue
        if i != 0:
            out.append(":")
        if (i == 6 and best_base == 0 and
                (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF))):
            out.append(str(ipaddress.IPv4Address(b[12:])))
            i = 8
            break
        out.append("%x" % words[i])
        i += 1
    if best_base != -1 and best_base + best_len == 8:
        out.append(":")
    return "".join(out)


def _to_int(text: str) -> Optional[int]:
    """``boost::lexical_cast<int>``: None when out of int range."""
    try:
        n = int(text)
    except ValueError:
        return None
    if n < -(1 << 31) or n >= (1 << 31):
        return None
    return n


def _substring(s: bytes, start: int, length: int) -> bytes:
    n = len(s)
    if start < -n or start >= n:
        return b""
    if start < 0:
        start += n
    if length < 0:
        length = -length
        if length <= start:
            start -= length
        else:
            length = start
            start = 0
    return s[start:start + length]


_INT_TEXT = {
    "int8totext": (1, "!b", "int8"), "int16totext": (2, "!h", "int16"),
    "int32totext": (4, "!i", "int32"), "uint8totext": (1, "!B", "uint8"),
    "uint16totext": (2, "!H", "uint16"), "uint32totext": (4, "!I", "uint32"),
}


def _compile(node: Tuple) -> _Fn:
    op = node[0]
    if op == "const":
        value = node[1]
        return lambda v: value
    if op == "eq":
        a, b = _compile(node[1]), _compile(node[2])
        return lambda v: a(v) == b(v)
    if op == "not":
        a = _compile(node[1])
        return lambda v: not a(v)
    if op == "and":
        a, b = _compile(node[1]), _compile(node[2])

        def and_(v: PacketView) -> bool:
            x = a(v)
            y = b(v)  # no short-circuit: Kea evaluates both
            return x and y
        return and_
    if op == "or":
        a, b = _compile(node[1]), _compile(node[2])

        def or_(v: PacketView) -> bool:
            x = a(v)
            y = b(v)
            return x or y
        return or_
    if op == "member":
        name = node[1]
        return lambda v: name in v.classes
    if op == "option":
        return _compile_option(node[1], node[2])
    if op == "suboption":
        return _compile_suboption(node[1], node[2], node[3])
    if op == "pkt":
        return _compile_pkt(node[1])
    if op == "pkt4":
        return _compile_pkt4(node[1])
    if op == "substring":
        return _compile_substring(_compile(node[1]), node[2], node[3])
    if op == "split":
        return _compile_split(_compile(node[1]), _compile(node[2]), node[3])
    if op == "concat":
        a, b = _compile(node[1]), _compile(node[2])
        return lambda v: a(v) + b(v)
    if op == "ifelse":
        c, a, b = _compile(node[1]), _compile(node[2]), _compile(node[3])

        def ifelse(v: PacketView) -> bytes:
            cond = c(v)
            x = a(v)
            y = b(v)  # both branches always evaluated
            return x if cond else y
        return ifelse
    if op == "hexstring":
        a, sep = _compile(node[1]), _compile(node[2])

        def hexstring(v: PacketView) -> bytes:
            data = a(v)
            s = sep(v)
            if not s:
                return data.hex().encode("ascii")
            return s.join(b"%02x" % x for x in data)
        return hexstring
    if op == "addrtotext":
        a = _compile(node[1])

        def addrtotext(v: PacketView) -> bytes:
            data = a(v)
            n = len(data)
            if not n:
                return data
            if n == 4:
                return ("%d.%d.%d.%d" % tuple(data)).encode("ascii")
            if n == 16:
                return _inet_ntop6(data).encode("ascii")
            raise EvaluationError("Can not convert to valid address.")
        return addrtotext
    if op == "inttotext":
        a = _compile(node[2])
        size, fmt, label = _INT_TEXT[node[1]]
        unpack = struct.Struct(fmt).unpack
        message = "Can not convert to valid %s." % label

        def inttotext(v: PacketView) -> bytes:
            data = a(v)
            if not data:
                return data
            if len(data) != size:
                raise EvaluationError(message)
            return b"%d" % unpack(data)[0]
        return inttotext
    if op == "vendor":
        return _compile_vendor(node[1], node[2], node[3])
    if op == "vendor_class":
        return _compile_vendor_class(node[1], node[2], node[3])
    raise AssertionError("unknown node %r" % (op,))  # pragma: no cover


def _represent(repr_: str) -> Callable[[Optional[_Opt]], Any]:
    if repr_ == "exists":
        return lambda o: o is not None
    if repr_ == "hex":
        return lambda o: b"" if o is None else o.hex
    return lambda o: b"" if o is None else o.text


def _compile_option(code: int, repr_: str) -> _Fn:
    if repr_ == "exists":
        return lambda v: v.option(code) is not None

    if repr_ == "hex":
        def hex_(v: PacketView) -> bytes:
            o = v.option(code)
            return b"" if o is None else o.hex
        return hex_

    def text(v: PacketView) -> bytes:
        o = v.option(code)
        return b"" if o is None else o.text
    return text


def _compile_suboption(code: int, sub: int, repr_: str) -> _Fn:
    rep = _represent(repr_)

    def suboption(v: PacketView) -> Any:
        o = v.option(code)
        return rep(None if o is None else o.sub(sub))
    return suboption


def _compile_pkt(field: str) -> _Fn:
    if field == "iface":
        return lambda v: (v.packet.iface or "").encode("utf-8", "surrogateescape")
    if field == "src":
        return lambda v: _addr_bytes(v.packet.remote_addr)
    if field == "dst":
        return lambda v: _addr_bytes(v.packet.local_addr)
    return lambda v: struct.pack("!I", v.length() & 0xFFFFFFFF)


def _addr_bytes(addr: Any) -> bytes:
    if addr is None:
        return bytes(4)
    return ipaddress.ip_address(addr).packed


def _hwaddr(pkt: Any) -> bytes:
    hw = getattr(pkt, "hwaddr", None)
    if hw is None:  # pragma: no cover - a plain object without the property
        hw = pkt.chaddr[:pkt.hlen]
    return hw


def _msgtype(v: PacketView) -> bytes:
    o = v.option(53)
    if o is None:
        return bytes(4)
    if not o.payload:
        raise EvaluationError("Attempt to read uint8 from option 53 that has size 0")
    return struct.pack("!I", o.payload[0])


def _compile_pkt4(field: str) -> _Fn:
    u32 = struct.Struct("!I").pack
    if field == "mac":
        return lambda v: _hwaddr(v.packet)
    if field == "hlen":
        return lambda v: u32(min(len(_hwaddr(v.packet)), 16))
    if field == "htype":
        return lambda v: u32(v.packet.htype & 0xFF)
    if field == "msgtype":
        return _msgtype
    if field == "transid":
        return lambda v: u32(v.packet.xid & 0xFFFFFFFF)
    attr = field  # ciaddr giaddr yiaddr siaddr
    return lambda v: _addr_bytes(getattr(v.packet, attr))


def _compile_substring(s: _Fn, start_text: str, length_text: str) -> _Fn:
    start = _to_int(start_text)
    length = None if length_text == "all" else _to_int(length_text)

    def substring(v: PacketView) -> bytes:
        data = s(v)
        if not data:
            return b""
        if start is None:
            raise EvaluationError(
                "the parameter '%s' for the starting position of the substring "
                "couldn't be converted to an integer." % start_text)
        if length_text == "all":
            n = len(data)
        elif length is None:
            raise EvaluationError(
                "the parameter '%s' for the length of the substring "
                "couldn't be converted to an integer." % length_text)
        else:
            n = length
        return _substring(data, start, n)
    return substring


def _compile_split(s: _Fn, delims: _Fn, field_text: str) -> _Fn:
    field = _to_int(field_text)

    def split(v: PacketView) -> bytes:
        data = s(v)
        d = delims(v)
        if not data:
            return b""
        if field is None:
            raise EvaluationError(
                "the parameter '%s' for the field field for split "
                "couldn't be converted to an integer." % field_text)
        if not d:
            return data
        if field < 1:
            return b""
        parts = re.split(b"[" + re.escape(d) + b"]", data)
        if field > len(parts):
            return b""
        return parts[field - 1]
    return split


def _compile_vendor(enterprise: int, repr_: str, sub: int) -> _Fn:
    """``vendor[E]...`` / ``vendor.enterprise`` (``TokenVendor``).  A
    sub-option code of 0 makes Kea's token an *exists* check."""
    failure: Any = False if repr_ == "exists" else b""
    field = "enterprise" if repr_ == "enterprise" else ("suboption" if sub else "exists")
    rep = _represent(repr_)

    def vendor(v: PacketView) -> Any:
        o = v.option(125)
        value = o.value if o is not None else None
        if not isinstance(value, _opts.VendorOption):
            return failure
        if enterprise and enterprise != value.enterprise_id:
            return failure
        if field == "enterprise":
            return struct.pack("!I", value.enterprise_id)
        if field == "exists":
            return True if repr_ == "exists" else _TRUE
        return rep(o.sub(sub))  # type: ignore[union-attr]
    return vendor


def _compile_vendor_class(enterprise: int, field: str, index: int) -> _Fn:
    """``vendor-class[E]...`` / ``vendor-class.enterprise``
    (``TokenVendorClass``)."""
    failure: Any = False if field == "exists" else b""

    def vendor_class(v: PacketView) -> Any:
        o = v.option(124)
        value = o.value if o is not None else None
        if not isinstance(value, _opts.VendorClass):
            return failure
        if enterprise and enterprise != value.enterprise_id:
            return failure
        if field == "enterprise":
            return struct.pack("!I", value.enterprise_id)
        if field == "exists":
            return True
        if index < len(value.tuples):
            return bytes(value.tuples[index])
        return b""
    return vendor_class


# ==========================================================================
# Evaluation with Kea's per-token debug lines (EVAL_DEBUG_*, debug level 55)

_Emit = Callable[[str, str], None]


def _kea_hex(data: bytes) -> str:
    """``isc::util::encode::toHex``: ``0x`` and uppercase digits."""
    return "0x" + data.hex().upper()


def _raw(data: Any) -> str:
    """A stack value printed as is (Kea logs the std::string's bytes)."""
    if data is True:
        return "true"
    if data is False:
        return "false"
    return data.decode("latin-1")


def _q(data: Any) -> str:
    return "'" + _raw(data) + "'"


def _trace(node: Tuple, v: PacketView, emit: _Emit) -> Any:
    """Evaluate ``node`` as Kea's stack machine does, emitting the line
    each token logs.  Values are those of the fast closures (it reuses
    them on already computed operands); only used when the ``eval`` logger
    wants debug level 55."""
    op = node[0]
    if op == "const":
        value = node[1]
        kind = node[2] if len(node) > 2 else "string"
        if kind == "hex":
            emit("EVAL_DEBUG_HEXSTRING", "Pushing hex string %s" % _kea_hex(value))
        elif kind == "ip":
            emit("EVAL_DEBUG_IPADDRESS", "Pushing IPAddress %s" % _kea_hex(value))
        else:
            emit("EVAL_DEBUG_STRING", "Pushing text string %s" % _q(value))
        return value
    if op in ("eq", "concat", "and", "or"):
        left = _trace(node[1], v, emit)
        right = _trace(node[2], v, emit)
        if op == "eq":
            result = left == right
            emit("EVAL_DEBUG_EQUAL", "Popping %s and %s pushing result %s"
                 % (_kea_hex(right), _kea_hex(left), _q(result)))
        elif op == "concat":
            result = left + right
            emit("EVAL_DEBUG_CONCAT", "Popping %s and %s pushing %s"
                 % (_kea_hex(right), _kea_hex(left), _kea_hex(result)))
        else:
            result = (left and right) if op == "and" else (left or right)
            emit("EVAL_DEBUG_" + op.upper(), "Popping %s and %s pushing %s"
                 % (_q(right), _q(left), _q(result)))
        return result
    if op == "not":
        value = _trace(node[1], v, emit)
        emit("EVAL_DEBUG_NOT", "Popping %s pushing %s" % (_q(value), _q(not value)))
        return not value
    if op == "member":
        result = node[1] in v.classes
        emit("EVAL_DEBUG_MEMBER", "Checking membership of '%s', pushing result %s" % (node[1], _q(result)))
        return result
    if op == "option":
        code, repr_ = node[1], node[2]
        value = _compile(node)(v)
        shown = _kea_hex(value) if repr_ == "hex" else _q(value)
        emit("EVAL_DEBUG_OPTION", "Pushing option %d with value %s" % (code, shown))
        return value
    if op == "suboption":
        code, sub, repr_ = node[1], node[2], node[3]
        value = _compile(node)(v)
        shown = _kea_hex(value) if repr_ == "hex" else _q(value)
        if len(node) > 4:
            # TokenRelay4Option is an option token on the RAI's sub-option.
            emit("EVAL_DEBUG_OPTION", "Pushing option %d with value %s" % (sub, shown))
        elif v.option(code) is None:
            emit("EVAL_DEBUG_SUB_OPTION_NO_OPTION",
                 "Requested option %d sub-option %d, but the parent option is not present, pushing result %s"
                 % (code, sub, shown))
        else:
            emit("EVAL_DEBUG_SUB_OPTION", "Pushing option %d sub-option %d with value %s" % (code, sub, shown))
        return value
    if op == "pkt":
        value = _compile(node)(v)
        shown = _raw(value) if node[1] == "iface" else _kea_hex(value)
        emit("EVAL_DEBUG_PKT", "Pushing PKT meta data %s with value %s" % (node[1], shown))
        return value
    if op == "pkt4":
        value = _compile(node)(v)
        emit("EVAL_DEBUG_PKT4", "Pushing PKT4 field %s with value %s" % (node[1], _kea_hex(value)))
        return value
    if op == "substring":
        data = _trace(node[1], v, emit)
        start, length = node[2], node[3]
        emit("EVAL_DEBUG_STRING", "Pushing text string '%s'" % start)
        emit("EVAL_DEBUG_STRING", "Pushing text string '%s'" % length)
        result = _compile(("substring", ("const", data), start, length))(v)
        if not data:
            emit("EVAL_DEBUG_SUBSTRING_EMPTY", "Popping length %s, start %s, string 0x pushing result 0x"
                 % (length, start))
        elif not -len(data) <= int(start) < len(data):
            emit("EVAL_DEBUG_SUBSTRING_RANGE", "Popping length %s, start %s, string %s pushing result 0x"
                 % (length, start, _kea_hex(data)))
        else:
            emit("EVAL_DEBUG_SUBSTRING", "Popping length %s, start %s, string %s pushing result %s"
                 % (length, start, _kea_hex(data), _kea_hex(result)))
        return result
    if op == "split":
        data = _trace(node[1], v, emit)
        delims = _trace(node[2], v, emit)
        field = node[3]
        emit("EVAL_DEBUG_STRING", "Pushing text string '%s'" % field)
        result = _compile(("split", ("const", data), ("const", delims), field))(v)
        args = (field, _raw(delims), _raw(data))
        if not data:
            emit("EVAL_DEBUG_SPLIT_EMPTY", "Popping field %s, delimiters %s, string %s, pushing result 0x" % args)
        elif not delims:
            emit("EVAL_DEBUG_SPLIT_DELIM_EMPTY", "Popping field %s, delimiters %s, string %s, pushing result %s"
                 % (args + (_kea_hex(result),)))
        elif not result and not 1 <= int(field) <= len(re.split(b"[" + re.escape(delims) + b"]", data)):
            emit("EVAL_DEBUG_SPLIT_FIELD_OUT_OF_RANGE",
                 "Popping field %s, delimiters %s, string %s, pushing result 0x" % args)
        else:
            emit("EVAL_DEBUG_SPLIT", "Popping field %s, delimiters %s, string %s, pushing result %s"
                 % (args + (_kea_hex(result),)))
        return result
    if op == "ifelse":
        cond = _trace(node[1], v, emit)
        if_true = _trace(node[2], v, emit)
        if_false = _trace(node[3], v, emit)
        if cond:
            emit("EVAL_DEBUG_IFELSE_TRUE", "Popping 'true' (true) and %s, leaving %s"
                 % (_kea_hex(if_false), _kea_hex(if_true)))
            return if_true
        emit("EVAL_DEBUG_IFELSE_FALSE", "Popping 'false' (false) and %s, leaving %s"
             % (_kea_hex(if_true), _kea_hex(if_false)))
        return if_false
    if op == "hexstring":
        data = _trace(node[1], v, emit)
        sep = _trace(node[2], v, emit)
        result = _compile(("hexstring", ("const", data), ("const", sep)))(v)
        emit("EVAL_DEBUG_TOHEXSTRING", "Popping binary value %s and separator %s, pushing result %s"
             % (_kea_hex(data), _raw(sep), _raw(result)))
        return result
    if op in ("addrtotext", "inttotext"):
        data = _trace(node[-1], v, emit)
        result = _compile(node[:-1] + (("const", data),))(v)
        if data:  # Kea leaves an empty operand on the stack, silently
            if op == "addrtotext":
                emit("EVAL_DEBUG_IPADDRESSTOTEXT", "Pushing IPAddress %s" % _raw(result))
            else:
                label = _INT_TEXT[node[1]][2]
                emit("EVAL_DEBUG_%sTOTEXT" % label.upper(), "Pushing %s %s" % (_KEA_INT_LABEL[label], _raw(result)))
        return result
    if op == "vendor":
        return _trace_vendor(node, v, emit)
    if op == "vendor_class":
        return _trace_vendor_class(node, v, emit)
    raise AssertionError("unknown node %r" % (op,))  # pragma: no cover


_KEA_INT_LABEL = {"int8": "Int8", "int16": "Int16", "int32": "Int32",
                  "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32"}


def _trace_vendor(node: Tuple, v: PacketView, emit: _Emit) -> Any:
    enterprise, repr_, sub = node[1], node[2], node[3]
    value = _compile(node)(v)
    o = v.option(125)
    vendor = o.value if o is not None else None
    if not isinstance(vendor, _opts.VendorOption):
        emit("EVAL_DEBUG_VENDOR_NO_OPTION", "Option with code 125 missing, pushing result %s" % _q(value))
    elif enterprise and enterprise != vendor.enterprise_id:
        emit("EVAL_DEBUG_VENDOR_ENTERPRISE_ID_MISMATCH", "Was looking for %d, option had %d, pushing result %s"
             % (enterprise, vendor.enterprise_id, _q(value)))
    elif repr_ == "enterprise":
        emit("EVAL_DEBUG_VENDOR_ENTERPRISE_ID", "Pushing enterprise-id %d as result 0x%s"
             % (vendor.enterprise_id, value.hex().upper()))
    elif sub:
        shown = _kea_hex(value) if repr_ == "hex" else _q(value)
        emit("EVAL_DEBUG_OPTION", "Pushing option %d with value %s" % (sub, shown))
    else:
        emit("EVAL_DEBUG_VENDOR_EXISTS", "Option with enterprise-id %d found, pushing result 'true'"
             % vendor.enterprise_id)
    return value


def _trace_vendor_class(node: Tuple, v: PacketView, emit: _Emit) -> Any:
    enterprise, field, index = node[1], node[2], node[3]
    value = _compile(node)(v)
    o = v.option(124)
    vendor = o.value if o is not None else None
    if not isinstance(vendor, _opts.VendorClass):
        emit("EVAL_DEBUG_VENDOR_CLASS_NO_OPTION", "Option with code 124 missing, pushing result %s" % _q(value))
    elif enterprise and enterprise != vendor.enterprise_id:
        emit("EVAL_DEBUG_VENDOR_CLASS_ENTERPRISE_ID_MISMATCH",
             "Was looking for %d, option had %d, pushing result %s"
             % (enterprise, vendor.enterprise_id, _q(value)))
    elif field == "enterprise":
        emit("EVAL_DEBUG_VENDOR_CLASS_ENTERPRISE_ID", "Pushing enterprise-id %d as result 0x%s"
             % (vendor.enterprise_id, value.hex().upper()))
    elif field == "exists":
        emit("EVAL_DEBUG_VENDOR_CLASS_EXISTS", "Option with enterprise-id %d found, pushing result 'true'"
             % vendor.enterprise_id)
    elif index < len(vendor.tuples):
        emit("EVAL_DEBUG_VENDOR_CLASS_DATA", "Data %d (out of %d received) in vendor class found, pushing result '%s'"
             % (index, len(vendor.tuples), _raw(value)))
    else:
        emit("EVAL_DEBUG_VENDOR_CLASS_DATA_NOT_FOUND",
             "Requested data index %d, but option with enterprise-id %d has only %d data tuple(s), pushing result ''"
             % (index, vendor.enterprise_id, len(vendor.tuples)))
    return value


# ==========================================================================
# Public API

class Expression:
    """A compiled expression.

    :ivar text: the source text.
    :ivar is_bool: True for a class test, False for a string-valued
        expression (``compile_expression(..., string=True)``).
    :ivar dependencies: the class names given to ``member()`` (built-ins
        included); the caller derives KNOWN/UNKNOWN dependence from them
        (spec §8).
    """

    __slots__ = ("text", "is_bool", "dependencies", "definitions", "_fn", "_tree")

    def __init__(self, text: str, is_bool: bool, dependencies: FrozenSet[str],
                 definitions: OptionDefinitions, fn: _Fn, tree: Optional[Tuple] = None) -> None:
        self.text = text
        self.is_bool = is_bool
        self.dependencies = dependencies
        self.definitions = definitions
        self._fn = fn
        self._tree = tree

    def __repr__(self) -> str:
        return "<Expression %r>" % (self.text,)

    def view(self, packet: Any, classes: Collection[str] = (),
             deferred_unpacked: bool = False) -> PacketView:
        """A :class:`PacketView` with this expression's definitions."""
        return PacketView(packet, classes, self.definitions, deferred_unpacked)

    def _run(self, packet: Any, classes: Collection[str]) -> Any:
        v = packet if isinstance(packet, PacketView) else PacketView(
            packet, classes, self.definitions)
        try:
            return self._fn(v)
        except EvaluationError:
            raise
        except Exception as e:  # defensive: a valid expression never raises
            raise EvaluationError("%s: %s" % (type(e).__name__, e))

    def evaluate(self, packet: Any, classes: Collection[str] = (), *,
                 on_error: Optional[Callable[[str], None]] = None) -> bool:
        """Does the packet match?  A run-time error means no match (Kea:
        ``EVAL_RESULT Expression <class> evaluated to <message>``); its
        message goes to ``on_error`` when given.  Never raises.

        :param packet: a ``Packet4`` (``classes`` is then what ``member()``
            sees) or a :class:`PacketView` (its own ``classes`` is used).
        """
        try:
            r = self._run(packet, classes)
            if not self.is_bool:
                if r == _TRUE:
                    return True
                if r == _FALSE:
                    return False
                raise EvaluationError(
                    'Incorrect boolean. Expected exactly "false" or "true", got "%s"'
                    % r.decode("latin-1"))
            return bool(r)
        except EvaluationError as e:
            if on_error is not None:
                on_error(e.message)
            return False

    def evaluate_traced(self, packet: Any, emit: Callable[[str, str], None], classes: Collection[str] = (), *,
                        on_error: Optional[Callable[[str], None]] = None) -> bool:
        """:meth:`evaluate`, calling ``emit(msgid, text)`` with the line
        Kea logs for each token (``EVAL_DEBUG_*``, ``eval_messages.mes``)
        as its stack machine runs.  Slower: for debug level 55 only."""
        v = packet if isinstance(packet, PacketView) else PacketView(packet, classes, self.definitions)
        try:
            try:
                r = _trace(self._tree, v, emit) if self._tree is not None else self._fn(v)
            except EvaluationError:
                raise
            except Exception as e:  # defensive, as in _run
                raise EvaluationError("%s: %s" % (type(e).__name__, e))
            if not self.is_bool:
                if r in (_TRUE, _FALSE):
                    return r == _TRUE
                raise EvaluationError(
                    'Incorrect boolean. Expected exactly "false" or "true", got "%s"' % r.decode("latin-1"))
            return bool(r)
        except EvaluationError as e:
            if on_error is not None:
                on_error(e.message)
            return False

    def evaluate_value(self, packet: Any, classes: Collection[str] = ()) -> bytes:
        """The expression's value as bytes (``true``/``false`` for a test,
        as Kea's value stack holds it).

        :raises EvaluationError: with Kea's message on a run-time error.
        """
        r = self._run(packet, classes)
        if self.is_bool:
            return _TRUE if r else _FALSE
        return r


def compile_expression(text: str, *, defined_classes: Optional[Collection[str]],
                       option_definitions: Optional[OptionDefinitions] = None,
                       string: bool = False) -> Expression:
    """Parse ``text`` as Kea 2.2 does for a class ``test`` (or, with
    ``string=True``, for a string-valued expression) and compile it.

    :param defined_classes: names of the classes defined *before* this one
        (``member()`` of anything else that is not built-in is an error);
        None disables the check (Kea's ``check_dependencies`` false).
    :param option_definitions: standard + configured option definitions
        (``option[name]`` lookup and option typing); standard by default.
    :raises ExpressionError: with Kea's message (spec §9).
    """
    defs = option_definitions or STANDARD_DEFINITIONS
    ctx = _ParseContext(defined_classes, defs)
    tree = _parse(text, ctx, "TOPLEVEL_STRING" if string else "TOPLEVEL_BOOL")
    return Expression(text, not string, frozenset(ctx.dependencies), defs, _compile(tree), tree)
