"""
Client names: the Hostname option (12) and the Client FQDN option (81) as
Kea 2.2 answers them, and the hostname a lease stores (spec/dhcp4.md §14,
§15, §17).

Pure.  Kea's sources, read for the rules (our own code):
``dhcp4_srv.cc`` ``processClientName`` / ``processHostnameOption`` /
``processClientFqdnOption`` / ``postAllocateNameUpdate``,
``d2_client_mgr.cc`` ``qualifyName`` / ``generateFqdn`` / ``analyzeFqdn``
and ``d2_client_mgr.h`` ``adjustFqdnFlags`` / ``adjustDomainName``,
``option4_client_fqdn.cc`` (wire format), ``option_string.cc``,
``util/strutil.cc`` (``trim``, ``StringSanitizer``), ``dns/name.cc`` and
``dns/labelsequence.cc`` (DNS name text and wire forms).

How the engine uses it, in Kea's order:

1. decoding the query: :func:`decode_client_fqdn` on option 81's payload;
   :class:`FqdnError` means Kea's unpack failed: drop the packet
   (``DHCP4_PACKET_DROP_0001``).  Option 12 needs nothing at decode time
   (an empty or all-NUL option 12 is as good as absent; see
   :func:`hostname_option_value`).
2. before allocation (DISCOVER and REQUEST, not INFORM):
   :func:`process_client_name` → a :class:`ClientName` holding the reply's
   81 or 12 and the hostname / fqdn_fwd / fqdn_rev the new or renewed lease
   gets (``ctx->hostname_`` …).
3. after a lease was found: :func:`post_allocate_name` with the leased
   address: when the name is empty but the reply carries 81 or 12, Kea
   generates ``<ddns-generated-prefix>-10-0-0-10`` (+ suffix, + a trailing
   dot for 81) and puts it in the lease *and* the reply option.  Kea writes
   the lease twice then on a REQUEST (first row with an empty hostname, then
   a second row with the generated name: ``updateLease4``);
   ``ClientName.generated`` says when that happened.
4. reply options: ``ClientName.options()``; a NAK carries neither.

Text values (hostnames, option 12 values) are ``str`` holding one
character per byte (latin-1), because Kea treats them as bytes: with the
default ``hostname-char-set`` they are always ASCII, but with an empty one a
client can put any byte in option 12 and Kea stores it unchanged.  Encode
with ``"latin-1"`` to get Kea's bytes.  Strings from the configuration
(suffix, prefix, char set, reserved hostnames) are ordinary ``str`` and are
taken as their UTF-8 bytes, as Kea does.

Tests: tests/test_hostnames.py
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

__all__ = [
    "DdnsParams",
    "FqdnError",
    "NameError4",
    "ClientFqdn",
    "ClientName",
    "FLAG_S",
    "FLAG_O",
    "FLAG_E",
    "FLAG_N",
    "REPLACE_CLIENT_NAME_MODES",
    "sanitize_hostname",
    "qualify_name",
    "generate_fqdn",
    "label_count",
    "hostname_option_value",
    "decode_client_fqdn",
    "process_hostname_option",
    "process_fqdn_option",
    "process_client_name",
    "post_allocate_name",
    "lease_hostname",
]

# Option 81 flag bits (RFC 4702; ``Option4ClientFqdn::FLAG_*``).
FLAG_S = 0x01
FLAG_O = 0x02
FLAG_E = 0x04
FLAG_N = 0x08
_FLAG_MASK = 0x0F

REPLACE_CLIENT_NAME_MODES = ("never", "always", "when-present", "when-not-present")

_MAX_WIRE = 255
_MAX_LABEL = 63


@dataclass(frozen=True)
class DdnsParams:
    """The DDNS parameters of the selected subnet after inheritance (Kea's
    ``DdnsParams``), defaults as ``config-get`` shows them (spec §17).

    ``enable_updates`` is ``dhcp-ddns.enable-updates`` (global only); Kea
    sends updates only when both it and ``ddns-send-updates`` are true
    (:attr:`updates_enabled`).  An empty ``hostname_char_set`` means no
    sanitizing.
    """

    enable_updates: bool = False
    send_updates: bool = True
    override_no_update: bool = False
    override_client_update: bool = False
    replace_client_name: str = "never"
    generated_prefix: str = "myhost"
    qualifying_suffix: str = ""
    hostname_char_set: str = "[^A-Za-z0-9.-]"
    hostname_char_replacement: str = ""
    update_on_renew: bool = False
    use_conflict_resolution: bool = True

    @property
    def updates_enabled(self) -> bool:
        """``DdnsParams::getEnableUpdates``."""
        return self.enable_updates and self.send_updates

    @property
    def replaces_present_name(self) -> bool:
        """Mode ``always`` or ``when-present``: a client's name is dropped."""
        return self.replace_client_name in ("always", "when-present")

    @property
    def supplies_missing_name(self) -> bool:
        """Mode ``always`` or ``when-not-present``: a name is made up for a
        client that sent none (option 12 only)."""
        return self.replace_client_name in ("always", "when-not-present")


class NameError4(ValueError):
    """A text or wire DNS name Kea's ``isc::dns::Name`` would refuse."""


class FqdnError(ValueError):
    """Option 81 as Kea cannot unpack it (the query is dropped)."""


def _cfg(text: str) -> str:
    """A configuration string as Kea's bytes, one character per byte."""
    return text.encode("utf-8").decode("latin-1")


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _ascii_lower(text: str) -> str:
    """``boost::algorithm::to_lower`` in the C locale: A-Z only."""
    return text.translate(_LOWER)


def _trim(text: str) -> str:
    """``isc::util::str::trim``: blanks are space, tab and newline only."""
    return text.strip(" \t\n")


# ---------------------------------------------------------------------------
# DNS names (isc::dns::Name): a name is a tuple of labels (bytes), the root
# label left out, so the root name is ().


def _parse_text_name(text: str, downcase: bool = False) -> Tuple[bytes, ...]:
    """Kea's ``Name(text)``: labels separated by ``.``, ``\\X`` for a
    literal X, ``\\DDD`` for a byte; a lone ``.`` or ``@`` is the root; an
    empty label, a label over 63 bytes or a name over 255 wire bytes is an
    error.  ``downcase`` maps A-Z to a-z."""
    data = text.encode("latin-1")
    if not data:
        raise NameError4("empty name")
    if data in (b".", b"@"):
        return ()
    labels: List[bytes] = []
    label = bytearray()
    absolute = False
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        i += 1
        if c == 0x2E:  # '.'
            if not label:
                raise NameError4("empty label in %r" % text)
            labels.append(bytes(label))
            label = bytearray()
            if i == n:
                absolute = True
            continue
        if c == 0x5C:  # '\\'
            if i == n:
                raise NameError4("incomplete escape in %r" % text)
            c = data[i]
            i += 1
            if not label and c == 0x5B:  # '\[' opens a bit-string label
                raise NameError4("invalid label type in %r" % text)
            if 0x30 <= c <= 0x39:
                digits = data[i - 1:i + 2]
                if len(digits) < 3:
                    raise NameError4("incomplete escape in %r" % text)
                if not all(0x30 <= d <= 0x39 for d in digits):
                    raise NameError4("bad escape in %r" % text)
                c = int(digits)
                i += 2
                if c > 255:
                    raise NameError4("escaped decimal too large in %r" % text)
        if downcase and 0x41 <= c <= 0x5A:
            c += 32
        label.append(c)
        if len(label) > _MAX_LABEL:
            raise NameError4("label too long in %r" % text)
    if not absolute:
        labels.append(bytes(label))
    if sum(len(lb) + 1 for lb in labels) + 1 > _MAX_WIRE:
        raise NameError4("name too long: %r" % text)
    return tuple(labels)


def _parse_wire_name(data: bytes, downcase: bool = True) -> Tuple[bytes, ...]:
    """Kea's ``Name(InputBuffer)`` over a buffer holding only the name:
    reading stops at the first root label (later bytes are ignored); a
    compression pointer can only point backwards from the buffer's start,
    so any pointer is an error, as are label types 0x40/0x80."""
    labels: List[bytes] = []
    used = 0
    i = 0
    while i < len(data):
        c = data[i]
        i += 1
        if c <= _MAX_LABEL:
            used += c + 1
            if used > _MAX_WIRE:
                raise NameError4("wire name is too long")
            if c == 0:
                return tuple(labels)
            if i + c > len(data):
                break
            label = data[i:i + c]
            i += c
            if downcase:
                label = label.translate(_LOWER_BYTES)
            labels.append(label)
        elif c & 0xC0 == 0xC0:
            raise NameError4("bad compression pointer")
        else:
            raise NameError4("unknown label character: %d" % c)
    raise NameError4("incomplete wire-format name")


_LOWER_BYTES = bytes(c + 32 if 0x41 <= c <= 0x5A else c for c in range(256))

_TEXT_SPECIAL = frozenset(b'"().;\\@$')


def _name_to_text(labels: Sequence[bytes], omit_final_dot: bool = False) -> str:
    """``Name::toText``: zone-file special characters backslash-escaped,
    bytes outside 0x21-0x7e as ``\\DDD``; the root alone is ``.``."""
    if not labels:
        return "."
    out = []
    for label in labels:
        part = []
        for c in label:
            if c in _TEXT_SPECIAL:
                part.append("\\" + chr(c))
            elif 0x20 < c < 0x7F:
                part.append(chr(c))
            else:
                part.append("\\%03d" % c)
        out.append("".join(part))
    return ".".join(out) + ("" if omit_final_dot else ".")


def _name_to_raw_text(labels: Sequence[bytes], omit_final_dot: bool = False) -> str:
    """``Name::toRawText``: the bytes as they are, no escaping."""
    if not labels:
        return "."
    text = ".".join(label.decode("latin-1") for label in labels)
    return text + ("" if omit_final_dot else ".")


def _name_to_wire(labels: Sequence[bytes]) -> bytes:
    return b"".join(bytes([len(lb)]) + lb for lb in labels) + b"\x00"


def label_count(text: str) -> int:
    """``OptionDataTypeUtil::getLabelCount``: the labels of ``text`` read as
    a DNS name, the root label included (``host`` → 2, ``host.`` → 2,
    ``a.b`` → 3, ``.`` → 1); 0 for the empty string.  Raises
    :class:`NameError4` when the text is no valid name (``a..b``)."""
    if not text:
        return 0
    return len(_parse_text_name(text)) + 1


# ---------------------------------------------------------------------------
# Sanitizer (StringSanitizer: std::regex, POSIX extended grammar,
# regex_replace with ECMAScript format rules for the replacement).

_POSIX_CLASSES = {
    "alpha": "A-Za-z",
    "digit": "0-9",
    "alnum": "0-9A-Za-z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": "!-/:-@\\[-`{-~",
    "print": " -~",
    "graph": "!-~",
    "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f",
    "w": "0-9A-Za-z_",
}


def _posix_to_python(pattern: str) -> str:
    """Translate a POSIX ERE (as libstdc++ reads ``regex::extended``) to
    Python's syntax.  Outside brackets the two agree for what hostname char
    sets use; inside brackets a backslash is literal in POSIX and
    ``[:class:]`` names a class."""
    out: List[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c != "[":
            out.append(c)
            i += 1
            continue
        # A bracket expression.
        i += 1
        part = ["["]
        if i < n and pattern[i] == "^":
            part.append("^")
            i += 1
        first = True
        while i < n:
            c = pattern[i]
            if c == "]" and not first:
                break
            first = False
            if c == "[" and i + 1 < n and pattern[i + 1] in ":.=":
                kind = pattern[i + 1]
                end = pattern.find(kind + "]", i + 2)
                if end < 0:
                    raise re.error("unterminated class in %r" % pattern)
                name = pattern[i + 2:end]
                if kind == ":":
                    if name not in _POSIX_CLASSES:
                        raise re.error("unknown class %r" % name)
                    part.append(_POSIX_CLASSES[name])
                else:
                    part.append(re.escape(name))
                i = end + 2
                continue
            if c in "\\[]^&~|":
                part.append("\\" + c)
            else:
                part.append(c)
            i += 1
        else:
            raise re.error("unterminated bracket in %r" % pattern)
        part.append("]")
        out.append("".join(part))
        i += 1
    return "".join(out)


@lru_cache(maxsize=64)
def _compile(char_set: str) -> "re.Pattern[str]":
    return re.compile(_posix_to_python(char_set), re.ASCII | re.DOTALL)


def _expand(replacement: str, match: "re.Match[str]", prev_end: int) -> str:
    """ECMAScript ``$`` rules of ``std::regex_replace``'s format string."""
    if "$" not in replacement:
        return replacement
    out: List[str] = []
    i, n = 0, len(replacement)
    whole = match.string
    while i < n:
        c = replacement[i]
        if c != "$" or i + 1 == n:
            out.append(c)
            i += 1
            continue
        nxt = replacement[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "&":
            out.append(match.group(0))
            i += 2
        elif nxt == "`":
            out.append(whole[prev_end:match.start()])
            i += 2
        elif nxt == "'":
            out.append(whole[match.end():])
            i += 2
        elif nxt.isdigit():
            j = i + 2
            if j < n and replacement[j].isdigit() and int(replacement[i + 1:j + 1]) <= match.re.groups:
                j += 1
            num = int(replacement[i + 1:j])
            if num <= match.re.groups:
                out.append(match.group(num) or "")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def sanitize_hostname(name: str, char_set: str, replacement: str = "") -> str:
    """Kea's ``StringSanitizer::scrub``: every match of the regular
    expression ``char_set`` in ``name`` is replaced by ``replacement``
    (``bad_name!`` → ``badname`` with the default ``[^A-Za-z0-9.-]``).  An
    empty ``char_set`` changes nothing.  ``name`` is a latin-1 str (one
    character per byte); ``char_set`` and ``replacement`` come from the
    configuration.  Raises ``re.error`` for a char set Python cannot read
    (Kea refuses those at configuration time)."""
    if not char_set:
        return name
    regex = _compile(_cfg(char_set))
    repl = _cfg(replacement)
    out: List[str] = []
    pos = 0
    for match in regex.finditer(name):
        out.append(name[pos:match.start()])
        out.append(_expand(repl, match, pos))
        pos = match.end()
    out.append(name[pos:])
    return "".join(out)


def _scrub(name: str, params: DdnsParams) -> str:
    """Sanitize with the subnet's settings; a char set that is no valid
    regular expression fails name processing, as Kea's BadValue does."""
    try:
        return sanitize_hostname(name, params.hostname_char_set, params.hostname_char_replacement)
    except re.error as e:
        raise NameError4("hostname-char-set %r: %s" % (params.hostname_char_set, e))


# ---------------------------------------------------------------------------
# D2ClientMgr helpers.


def qualify_name(partial_name: str, suffix: str, trailing_dot: bool) -> str:
    """``D2ClientMgr::qualifyName``: append ``suffix`` (a configuration
    string) unless the name already ends with it (compared byte for byte,
    case-sensitively, one trailing dot ignored on each side, at a label
    boundary), then add or remove one trailing dot.

    An empty name with a suffix gives the suffix alone (Kea reads before
    the start of the empty string there; observed: option 12 ``!!!``
    sanitized to nothing, suffix ``Example.com`` → ``Example.com``)."""
    suffix = _cfg(suffix)
    out = partial_name
    if suffix:
        suf = suffix[:-1] if suffix.endswith(".") else suffix
        gen = partial_name[:-1] if partial_name.endswith(".") else partial_name
        present = True
        si, gi = len(suf) - 1, len(gen) - 1
        while si >= 0:
            if gi < 0 or suf[si] != gen[gi]:
                present = False
                break
            si -= 1
            gi -= 1
        if present and gi >= 0 and gen[gi] != ".":
            present = False  # foo.barexample.com does not end in example.com
        if not present:
            if partial_name and not partial_name.endswith("."):
                out += "."
            out += suffix
    if trailing_dot:
        if out and not out.endswith("."):
            out += "."
    elif out.endswith("."):
        out = out[:-1]
    return out


def generate_fqdn(address: str, params: DdnsParams, trailing_dot: bool) -> str:
    """``D2ClientMgr::generateFqdn``: ``<prefix>-10-0-0-10`` qualified with
    the suffix (prefix kept as configured, not lowercased)."""
    name = _cfg(params.generated_prefix) + "-" + str(address).replace(".", "-")
    return qualify_name(name, params.qualifying_suffix, trailing_dot)


def _analyze_fqdn(client_s: bool, client_n: bool, params: DdnsParams) -> Tuple[bool, bool]:
    """``D2ClientMgr::analyzeFqdn`` → (server S, server N)."""
    enabled = params.updates_enabled
    if client_n and client_s:
        raise FqdnError("Invalid client FQDN - N and S cannot both be 1")
    if client_s:
        return enabled, not enabled
    if client_n:
        server_s = enabled and params.override_no_update
        return server_s, not server_s
    if not enabled:
        return False, True
    return params.override_client_update, False


# ---------------------------------------------------------------------------
# Option 81.


@dataclass(frozen=True)
class ClientFqdn:
    """An option 81 value (Kea's ``Option4ClientFqdn``).

    ``name`` is None when the option carries no name, else the labels
    (lowercased, as Kea stores them; the root is ``()``); ``full`` is the
    domain-name type: True FULL, False PARTIAL.  ``flags`` keeps every bit
    the client sent (Kea only refuses N and S together on input).
    """

    flags: int
    rcode1: int = 0
    rcode2: int = 0
    name: Optional[Tuple[bytes, ...]] = None
    full: bool = False

    def flag(self, bit: int) -> bool:
        return bool(self.flags & bit)

    @property
    def domain_name(self) -> str:
        """``getDomainName``: escaped text, trailing dot for FULL names;
        "" when there is no name."""
        if self.name is None:
            return ""
        return _name_to_text(self.name, omit_final_dot=not self.full)

    def encode(self) -> bytes:
        """The option payload (``Option4ClientFqdn::pack`` minus the
        header): flags, two rcodes, then the name in canonical wire form
        when E is set (a PARTIAL name without its root byte), else its text
        form (``getDomainName``)."""
        head = bytes([self.flags & 0xFF, self.rcode1 & 0xFF, self.rcode2 & 0xFF])
        if self.name is None:
            return head
        if self.flags & FLAG_E:
            wire = _name_to_wire(self.name)
            if not self.full:
                wire = wire[:-1]
            return head + wire
        return head + self.domain_name.encode("latin-1")

    def with_domain_name(self, text: str, full: bool) -> "ClientFqdn":
        """``setDomainName``: trimmed, parsed and lowercased; "" clears the
        name (PARTIAL only).  Raises :class:`NameError4` otherwise."""
        text = _trim(text)
        if not text:
            if full:
                raise NameError4("fully qualified domain-name must not be empty")
            return replace(self, name=None, full=False)
        return replace(self, name=_parse_text_name(text, downcase=True), full=full)


def decode_client_fqdn(payload: bytes) -> ClientFqdn:
    """Unpack option 81 as Kea does, or raise :class:`FqdnError` (Kea then
    drops the query: spec §20 "option 81 length 1 → drop").

    Fails on: fewer than 3 bytes; N and S both set; with E set, a wire name
    that is truncated, uses compression or an unknown label type; with E
    clear, a text name Kea cannot read (empty label, bad escape, too long).
    With E set a name not ending in a zero byte is PARTIAL; with E clear a
    name not ending in ``.`` is PARTIAL.  The name is lowercased.
    """
    if len(payload) < 3:
        raise FqdnError("DHCPv4 Client FQDN Option (81) is truncated")
    flags, rcode1, rcode2 = payload[0], payload[1], payload[2]
    rest = bytes(payload[3:])
    name: Optional[Tuple[bytes, ...]] = None
    full = False
    try:
        if rest and flags & FLAG_E:
            if rest[-1] != 0:
                name = _parse_wire_name(rest + b"\x00")
            else:
                name = _parse_wire_name(rest)
                full = True
        elif rest:
            text = rest.decode("latin-1")
            name = _parse_text_name(text, downcase=True)
            full = text.endswith(".")
    except NameError4 as e:
        raise FqdnError("failed to parse the domain-name in DHCPv4 Client FQDN Option: %s" % e)
    if flags & FLAG_N and flags & FLAG_S:
        raise FqdnError("both N and S flag of the DHCPv4 Client FQDN Option are set")
    return ClientFqdn(flags, rcode1, rcode2, name, full)


def process_fqdn_option(
    query: "bytes | ClientFqdn",
    reserved_hostname: Optional[str],
    params: DdnsParams,
) -> Optional[ClientFqdn]:
    """The reply's option 81 for a query carrying ``query`` (its payload or
    the decoded value), or None when Kea fails to build one (a name that
    sanitizing turned invalid, ``!!!.example.com``: no 81 and no 12 then).
    Encode with ``.encode()``.

    Flags: S/N by ``analyzeFqdn`` (DDNS off: N=1, S=0), O=1 when the
    server's S differs from the client's, E copied, other bits cleared;
    rcodes copied from the query (observed: ``ff ff`` comes back).  Name:
    the reserved hostname qualified with the suffix if there is one; else
    nothing when the mode is always/when-present or the client sent none;
    else the client's name, sanitized label by label, qualified (suffix and
    trailing dot) when PARTIAL.  The reply name is always FULL when present.
    """
    fqdn = query if isinstance(query, ClientFqdn) else decode_client_fqdn(query)
    server_s, server_n = _analyze_fqdn(fqdn.flag(FLAG_S), fqdn.flag(FLAG_N), params)
    flags = (FLAG_S if server_s else 0) | (FLAG_N if server_n else 0)
    if fqdn.flag(FLAG_S) != server_s:
        flags |= FLAG_O
    flags |= fqdn.flags & FLAG_E
    resp = replace(fqdn, flags=flags)
    try:
        if reserved_hostname:
            return resp.with_domain_name(
                qualify_name(_cfg(reserved_hostname), params.qualifying_suffix, True), True
            )
        client_name = fqdn.domain_name
        if params.replaces_present_name or not client_name:
            return resp.with_domain_name("", False)
        if params.hostname_char_set:
            raw = _name_to_raw_text(_parse_text_name(client_name))
            client_name = ".".join(_scrub(label, params) for label in raw.split("."))
        if not fqdn.full:
            return resp.with_domain_name(
                qualify_name(client_name, params.qualifying_suffix, True), True
            )
        return resp.with_domain_name(client_name, True)
    except NameError4:
        return None


# ---------------------------------------------------------------------------
# Option 12.


def hostname_option_value(payload: Optional[bytes]) -> Optional[str]:
    """Option 12 as Kea unpacks it (``OptionString``): trailing NUL bytes
    cut; empty (or all NULs) → None, the option counts as absent."""
    if payload is None:
        return None
    value = bytes(payload).rstrip(b"\x00")
    if not value:
        return None
    return value.decode("latin-1")


def _string_option(value: str) -> Optional[str]:
    """``OptionString::setValue``: trailing NULs cut; empty → Kea throws,
    which ends name processing with no option."""
    value = value.rstrip("\x00")
    return value or None


def process_hostname_option(
    query_value: Optional[bytes],
    reserved_hostname: Optional[str],
    params: DdnsParams,
) -> Optional[str]:
    """The reply's option 12 value (latin-1 str) or None for none
    (``processHostnameOption``; the query has no option 81).

    ``query_value`` is the query's raw option 12 payload or None.  ``"."``
    means "generate a name later" (:func:`post_allocate_name` replaces it).

    - a reserved hostname wins: qualified with the suffix (no trailing dot),
      lowercased, sent even when the client sent no 12;
    - no 12 from the client: ``"."`` in modes always/when-not-present,
      else nothing;
    - the client's value is trimmed (space, tab, newline) and read as a DNS
      name: unreadable (``a..b``, ``x\\``) or empty → nothing;
    - mode always/when-present, or only the root label (``.``, ``@``) → ``"."``;
    - else sanitized, lowercased (ASCII), and when it is a single label
      (``host`` or ``host.``) qualified with the suffix, trailing dot
      dropped; with more labels it is kept as is (``foo.bar.`` keeps its dot).
    """
    if reserved_hostname:
        value = _ascii_lower(qualify_name(_cfg(reserved_hostname), params.qualifying_suffix, False))
        return _string_option(value)
    client = hostname_option_value(query_value)
    if client is None:
        return "." if params.supplies_missing_name else None
    hostname = _trim(client)
    try:
        count = label_count(hostname)
    except NameError4:
        return None
    if count == 0:
        return None
    if params.replaces_present_name or count < 2:
        return "."
    try:
        hostname = _ascii_lower(_scrub(hostname, params))
    except NameError4:
        return None
    if count == 2:
        hostname = qualify_name(hostname, params.qualifying_suffix, False)
    return _string_option(hostname)


# ---------------------------------------------------------------------------
# processClientName / postAllocateNameUpdate.


@dataclass(frozen=True)
class ClientName:
    """What name processing decided for one query.

    ``fqdn``: the reply's option 81 (None: not sent); ``hostname_option``:
    the reply's option 12 value (None: not sent; never both).
    ``hostname``, ``fqdn_fwd``, ``fqdn_rev``: what the lease stores.
    ``generated``: :func:`post_allocate_name` made the name up (Kea then
    updates the lease once more after allocating it).
    """

    fqdn: Optional[ClientFqdn] = None
    hostname_option: Optional[str] = None
    hostname: str = ""
    fqdn_fwd: bool = False
    fqdn_rev: bool = False
    generated: bool = False

    def options(self) -> List[Tuple[int, bytes]]:
        """The reply options as ``(code, payload)``: [] or one of 81 / 12."""
        if self.fqdn is not None:
            return [(81, self.fqdn.encode())]
        if self.hostname_option is not None:
            return [(12, self.hostname_option.encode("latin-1"))]
        return []


def process_client_name(
    query_fqdn: "bytes | ClientFqdn | None",
    query_hostname: Optional[bytes],
    reserved_hostname: Optional[str],
    params: DdnsParams,
) -> ClientName:
    """``Dhcpv4Srv::processClientName`` (without the ``ddns4_update`` hook
    point): option 81 wins over 12 (12 is then ignored and not returned).

    :param query_fqdn: the query's option 81 (payload or decoded), or None.
    :param query_hostname: the query's option 12 payload, or None.
    :param reserved_hostname: the client's reservation's ``hostname`` when
        it has a non-empty one, else None.
    :param params: the selected subnet's DDNS parameters.

    Lease values: with 81, the reply name's text (``myhost.example.com.``),
    fwd = reply S, rev = not reply N (both false while DDNS is off); with
    12, its value (``"."`` → ""), fwd = rev = updates enabled.
    """
    if query_fqdn is not None:
        fqdn = process_fqdn_option(query_fqdn, reserved_hostname, params)
        if fqdn is None:
            return ClientName()
        return ClientName(
            fqdn=fqdn,
            hostname=fqdn.domain_name,
            fqdn_fwd=fqdn.flag(FLAG_S),
            fqdn_rev=not fqdn.flag(FLAG_N),
        )
    value = process_hostname_option(query_hostname, reserved_hostname, params)
    if value is None:
        return ClientName()
    return ClientName(
        hostname_option=value,
        hostname="" if value == "." else value,
        fqdn_fwd=params.updates_enabled,
        fqdn_rev=params.updates_enabled,
    )


def post_allocate_name(name: ClientName, address: str, params: DdnsParams) -> ClientName:
    """``Dhcpv4Srv::postAllocateNameUpdate`` once ``address`` is leased:
    if the reply carries 81 or 12 but the name is empty (client sent ``.``
    or an empty FQDN, or the mode replaced its name), the lease and the
    reply option get ``<prefix>-<address with dashes>`` + suffix, with a
    trailing dot (and lowercased) for 81, as configured for 12
    (``myhost-10-0-0-10``, ``myhost-10-0-0-10.``)."""
    if name.hostname or (name.fqdn is None and name.hostname_option is None):
        return name
    generated = generate_fqdn(address, params, trailing_dot=name.fqdn is not None)
    if name.fqdn is not None:
        try:
            fqdn: Optional[ClientFqdn] = name.fqdn.with_domain_name(generated, True)
        except NameError4:
            fqdn = name.fqdn  # Kea logs and keeps the option as it was
        return replace(name, fqdn=fqdn, hostname=generated, generated=True)
    option = _string_option(generated) or name.hostname_option
    return replace(name, hostname_option=option, hostname=generated, generated=True)


def lease_hostname(name: ClientName, address: str, params: DdnsParams) -> Tuple[str, bool, bool]:
    """``(hostname, fqdn_fwd, fqdn_rev)`` the lease of ``address`` ends up
    with: :func:`post_allocate_name` applied to ``name``."""
    final = post_allocate_name(name, address, params)
    return final.hostname, final.fqdn_fwd, final.fqdn_rev
