"""
Kea 2.2's DHCPv4 option definitions, option spaces and one generic option
codec (pure).

Three jobs, all driven by :class:`OptionDefinition` values:

* **config data -> payload**: :func:`encode_option_data` turns an
  ``option-data`` ``data`` string into the option payload exactly as Kea 2.2's
  ``OptionDataParser`` + ``OptionDefinition::optionFactory`` do (spec
  ``dhcp4.md`` §19), raising :class:`OptionDataError` with Kea's wording
  (``option data does not match option definition (space: dhcp4, code: 3):
  Failed to convert string to address '1.2.3': Invalid argument``; the
  config loader appends the position).  :func:`resolve_option_data` adds
  Kea's definition lookup and its "does not exist" / name mismatch / code
  0-255 errors.
* **payload -> typed value / text**: :func:`parse_option` (the option
  object Kea builds: typed value, re-packed payload, sub-options),
  :func:`decode_option_value` and :func:`option_text` (Kea's ``Option::toText`` family, used by the
  expression language's ``option[N].text``, ``expressions.md`` §5).
* **receive-side validation**: :func:`check_received_option` says whether a
  received option instance makes Kea 2.2 drop the packet (spec §20: 50/54/118
  shorter than 4, 51 of 2 bytes, 55 of 0 bytes, 81 of 1 byte, truncated 124
  ...), whether it is silently skipped (an empty or all-NUL string option),
  or whether the rest of the options are skipped (a 125 shorter than 4).

Kea facts pinned here (from ``src/lib/dhcp/option_definition.cc``,
``option_custom.cc``, ``option_int*.h``, ``option_string.cc``,
``option4_client_fqdn.cc``, ``option_vendor*.cc``, ``util/strutil.cc`` at
tag Kea-2.2.0, and ``kea-dhcp4 -t`` runs):

* a config value is first written to a buffer per type, then *parsed back*
  with the option's class and re-packed: so a single ``ipv4-address`` given
  as ``::1`` is accepted and truncated to 4 bytes, an ``ipv4-address`` array
  given ``::1`` yields four addresses, trailing NULs of strings are dropped,
  an all-NUL string is an error, and sub-options inside 43/125 come out in
  ascending code order;
* integers accept decimal, then fall back to C++ ``std::hex`` parsing (so
  ``ff`` and ``-0x10`` are accepted, ``1e3`` is 0x1e3);
* ``boolean`` has Kea's typo in one message ("unable to covert the value");
* 43 (``vendor-encapsulated-options``) is a *last resort* definition in Kea,
  found only when no standard, custom or runtime definition exists
  (:data:`LAST_RESORT_DEFINITIONS`); Kea 2.2 has no ``internal`` type.

Tests: tests/test_options.py
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

__all__ = [
    "OPTION_DEF_TYPES",
    "FIXED_TYPE_SIZES",
    "DHCP4_SPACE",
    "AGENT_SPACE",
    "VENDOR_ENCAPSULATED_SPACE",
    "OptionDefinition",
    "OptionDefinitions",
    "STANDARD_DEFINITIONS",
    "LAST_RESORT_DEFINITIONS",
    "OptionDataError",
    "OptionDecodeError",
    "SkipThisOption",
    "SkipRemainingOptions",
    "ClientFqdn",
    "VendorClass",
    "VendorOption",
    "SlpServiceScope",
    "ParsedOption",
    "parse_option",
    "DEFERRED_CODES",
    "vendor_id_of_space",
    "config_binary",
    "kea_tokens",
    "encode_option_data",
    "resolve_option_data",
    "canonical_payload",
    "decode_option_value",
    "option_text",
    "check_received_option",
    "parse_suboptions",
    "pack_suboptions",
    "fqdn_to_wire",
    "wire_to_fqdn",
]

DHCP4_SPACE = "dhcp4"
AGENT_SPACE = "dhcp-agent-options-space"
VENDOR_ENCAPSULATED_SPACE = "vendor-encapsulated-options-space"

#: Type names accepted by ``option-def`` ``type`` in Kea 2.2
#: (``OptionDataTypeUtil``; 2.2 has no ``internal``).
OPTION_DEF_TYPES: Tuple[str, ...] = (
    "empty", "binary", "boolean", "int8", "int16", "int32", "uint8", "uint16",
    "uint32", "ipv4-address", "ipv6-address", "ipv6-prefix", "psid", "string",
    "tuple", "fqdn", "record",
)

#: ``OptionDataTypeUtil::getDataTypeLen``: 0 (absent) means variable size.
FIXED_TYPE_SIZES: Mapping[str, int] = {
    "boolean": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
    "int32": 4, "uint32": 4, "ipv4-address": 4, "ipv6-address": 16, "psid": 3,
}

_INT_RANGES = {
    "int8": (-128, 127), "int16": (-32768, 32767),
    "int32": (-2147483648, 2147483647), "uint8": (0, 255),
    "uint16": (0, 65535), "uint32": (0, 4294967295),
}
_INT_STRUCT = {
    "int8": struct.Struct("!b"), "uint8": struct.Struct("!B"),
    "int16": struct.Struct("!h"), "uint16": struct.Struct("!H"),
    "int32": struct.Struct("!i"), "uint32": struct.Struct("!I"),
}

#: Codes Kea 2.2 unpacks late, after classification pass 1 (spec §2.3):
#: 43 and 224-254.  :func:`check_received_option` does not look at them.
DEFERRED_CODES = frozenset([43] + list(range(224, 255)))


class OptionDataError(ValueError):
    """An ``option-data`` entry Kea refuses; ``str()`` is Kea's message
    without the ``(file:line:col)`` suffix."""


class OptionDecodeError(ValueError):
    """An option payload its definition cannot parse: Kea drops the packet
    (``DHCP4_PACKET_DROP_0001``)."""


class SkipThisOption(OptionDecodeError):
    """Kea's ``SkipThisOptionError``: the option is silently left out
    (a string option that is empty or only NULs)."""


class SkipRemainingOptions(OptionDecodeError):
    """Kea's ``SkipRemainingOptionsError``: the packet is still served but
    options after this one are not parsed (a 125 shorter than 4 bytes, a
    truncated vendor block)."""


@dataclass(frozen=True)
class OptionDefinition:
    """One option definition, Kea's ``OptionDefinition``.

    :param type: a name from :data:`OPTION_DEF_TYPES`.
    :param array: for records: the last field repeats.
    :param record_types: field types when ``type == "record"``.
    :param encapsulate: name of the option space of the sub-options, or "".
    """

    name: str
    code: int
    type: str
    array: bool = False
    record_types: Tuple[str, ...] = ()
    encapsulate: str = ""
    space: str = DHCP4_SPACE


def _d(code: int, name: str, type_: str, array: bool = False,
       record: Tuple[str, ...] = (), encapsulate: str = "",
       space: str = DHCP4_SPACE) -> OptionDefinition:
    return OptionDefinition(name, code, type_, array, record, encapsulate, space)


_A4 = "ipv4-address"
_STD_DHCP4: Tuple[OptionDefinition, ...] = (
    _d(1, "subnet-mask", _A4), _d(2, "time-offset", "int32"),
    _d(3, "routers", _A4, True), _d(4, "time-servers", _A4, True),
    _d(5, "name-servers", _A4, True), _d(6, "domain-name-servers", _A4, True),
    _d(7, "log-servers", _A4, True), _d(8, "cookie-servers", _A4, True),
    _d(9, "lpr-servers", _A4, True), _d(10, "impress-servers", _A4, True),
    _d(11, "resource-location-servers", _A4, True),
    _d(12, "host-name", "string"), _d(13, "boot-size", "uint16"),
    _d(14, "merit-dump", "string"), _d(15, "domain-name", "string"),
    _d(16, "swap-server", _A4), _d(17, "root-path", "string"),
    _d(18, "extensions-path", "string"), _d(19, "ip-forwarding", "boolean"),
    _d(20, "non-local-source-routing", "boolean"),
    _d(21, "policy-filter", _A4, True),
    _d(22, "max-dgram-reassembly", "uint16"), _d(23, "default-ip-ttl", "uint8"),
    _d(24, "path-mtu-aging-timeout", "uint32"),
    _d(25, "path-mtu-plateau-table", "uint16", True),
    _d(26, "interface-mtu", "uint16"), _d(27, "all-subnets-local", "boolean"),
    _d(28, "broadcast-address", _A4), _d(29, "perform-mask-discovery", "boolean"),
    _d(30, "mask-supplier", "boolean"), _d(31, "router-discovery", "boolean"),
    _d(32, "router-solicitation-address", _A4),
    _d(33, "static-routes", _A4, True),
    _d(34, "trailer-encapsulation", "boolean"),
    _d(35, "arp-cache-timeout", "uint32"),
    _d(36, "ieee802-3-encapsulation", "boolean"),
    _d(37, "default-tcp-ttl", "uint8"), _d(38, "tcp-keepalive-interval", "uint32"),
    _d(39, "tcp-keepalive-garbage", "boolean"), _d(40, "nis-domain", "string"),
    _d(41, "nis-servers", _A4, True), _d(42, "ntp-servers", _A4, True),
    _d(44, "netbios-name-servers", _A4, True),
    _d(45, "netbios-dd-server", _A4, True), _d(46, "netbios-node-type", "uint8"),
    _d(47, "netbios-scope", "string"), _d(48, "font-servers", _A4, True),
    _d(49, "x-display-manager", _A4, True),
    _d(50, "dhcp-requested-address", _A4), _d(51, "dhcp-lease-time", "uint32"),
    _d(52, "dhcp-option-overload", "uint8"), _d(53, "dhcp-message-type", "uint8"),
    _d(54, "dhcp-server-identifier", _A4),
    _d(55, "dhcp-parameter-request-list", "uint8", True),
    _d(56, "dhcp-message", "string"), _d(57, "dhcp-max-message-size", "uint16"),
    _d(58, "dhcp-renewal-time", "uint32"), _d(59, "dhcp-rebinding-time", "uint32"),
    _d(60, "vendor-class-identifier", "string"),
    _d(61, "dhcp-client-identifier", "binary"),
    _d(62, "nwip-domain-name", "string"), _d(63, "nwip-suboptions", "binary"),
    _d(64, "nisplus-domain-name", "string"), _d(65, "nisplus-servers", _A4, True),
    _d(66, "tftp-server-name", "string"), _d(67, "boot-file-name", "string"),
    _d(68, "mobile-ip-home-agent", _A4, True), _d(69, "smtp-server", _A4, True),
    _d(70, "pop-server", _A4, True), _d(71, "nntp-server", _A4, True),
    _d(72, "www-server", _A4, True), _d(73, "finger-server", _A4, True),
    _d(74, "irc-server", _A4, True), _d(75, "streettalk-server", _A4, True),
    _d(76, "streettalk-directory-assistance-server", _A4, True),
    _d(77, "user-class", "binary"),
    _d(78, "slp-directory-agent", "record", True, ("boolean", _A4)),
    _d(79, "slp-service-scope", "record", False, ("boolean", "string")),
    _d(81, "fqdn", "record", False, ("uint8", "uint8", "uint8", "fqdn")),
    _d(82, "dhcp-agent-options", "empty", encapsulate=AGENT_SPACE),
    _d(85, "nds-servers", _A4, True), _d(86, "nds-tree-name", "string"),
    _d(87, "nds-context", "string"), _d(88, "bcms-controller-names", "fqdn", True),
    _d(89, "bcms-controller-address", _A4, True), _d(90, "authenticate", "binary"),
    _d(91, "client-last-transaction-time", "uint32"),
    _d(92, "associated-ip", _A4, True), _d(93, "client-system", "uint16", True),
    _d(94, "client-ndi", "record", False, ("uint8", "uint8", "uint8")),
    _d(97, "uuid-guid", "record", False, ("uint8", "binary")),
    _d(98, "uap-servers", "string"), _d(99, "geoconf-civic", "binary"),
    _d(100, "pcode", "string"), _d(101, "tcode", "string"),
    _d(108, "v6-only-preferred", "uint32"),
    _d(112, "netinfo-server-address", _A4, True),
    _d(113, "netinfo-server-tag", "string"), _d(114, "v4-captive-portal", "string"),
    _d(116, "auto-config", "uint8"), _d(117, "name-service-search", "uint16", True),
    _d(118, "subnet-selection", _A4), _d(119, "domain-search", "fqdn", True),
    _d(124, "vivco-suboptions", "record", False, ("uint32", "binary")),
    _d(125, "vivso-suboptions", "uint32"), _d(136, "pana-agent", _A4, True),
    _d(137, "v4-lost", "fqdn"), _d(138, "capwap-ac-v4", _A4, True),
    _d(141, "sip-ua-cs-domains", "fqdn", True),
    _d(146, "rdnss-selection", "record", True, ("uint8", _A4, _A4, "fqdn")),
    _d(159, "v4-portparams", "record", False, ("uint8", "psid")),
    _d(212, "option-6rd", "record", True,
       ("uint8", "uint8", "ipv6-address", _A4)),
    _d(213, "v4-access-domain", "fqdn"),
)

_STD_VENDOR_4491: Tuple[OptionDefinition, ...] = (
    _d(1, "oro", "uint8", True, space="vendor-4491"),
    _d(2, "tftp-servers", _A4, True, space="vendor-4491"),
)

#: Kea's ``LAST_RESORT_V4_OPTION_DEFINITIONS``: 43, used only when nothing
#: else defines 43 (a custom ``option-def`` for 43 wins).
LAST_RESORT_DEFINITIONS: Tuple[OptionDefinition, ...] = (
    _d(43, "vendor-encapsulated-options", "empty",
       encapsulate=VENDOR_ENCAPSULATED_SPACE),
)

_VENDOR_SPACE_RE = re.compile(r"^vendor-([0-9]+)$")


def vendor_id_of_space(space: str) -> int:
    """Kea's ``LibDHCP::optionSpaceToVendorId``: ``vendor-4491`` -> 4491,
    anything else (or an id that does not fit 32 bits) -> 0."""
    m = _VENDOR_SPACE_RE.match(space)
    if not m:
        return 0
    value = int(m.group(1))
    return value if value <= 0xFFFFFFFF else 0


class _Space:
    __slots__ = ("by_code", "by_name")

    def __init__(self, defs: Iterable[OptionDefinition]) -> None:
        self.by_code: Dict[int, OptionDefinition] = {}
        self.by_name: Dict[str, OptionDefinition] = {}
        for d in defs:
            self.by_code.setdefault(d.code, d)
            self.by_name.setdefault(d.name, d)


def _index(defs: Iterable[OptionDefinition]) -> Dict[str, _Space]:
    grouped: Dict[str, List[OptionDefinition]] = {}
    for d in defs:
        grouped.setdefault(d.space, []).append(d)
    return {space: _Space(items) for space, items in grouped.items()}


class OptionDefinitions:
    """An immutable registry of option definitions by space.

    ``standard`` definitions are Kea's built-in ones (``dhcp4``,
    ``vendor-4491``, and the empty ``dhcp-agent-options-space`` and
    ``vendor-encapsulated-options-space``); ``custom`` ones come from
    ``option-def``.  :meth:`extend` returns a new registry.

    Lookup orders differ in Kea and both are offered:

    * :meth:`get` / :meth:`get_by_name` -- receive side (``unpackOptions4``):
      standard, then custom ("runtime") definitions;
    * :meth:`find` -- config side (``OptionDataParser::findOptionDefinition``):
      custom, standard, vendor standard, last resort (43).
    """

    def __init__(self, standard: Iterable[OptionDefinition] = (),
                 custom: Iterable[OptionDefinition] = (),
                 last_resort: Iterable[OptionDefinition] = ()) -> None:
        standard = tuple(standard)
        self._standard = _index(standard)
        for space in (DHCP4_SPACE, AGENT_SPACE, VENDOR_ENCAPSULATED_SPACE):
            self._standard.setdefault(space, _Space(()))
        self.custom: Tuple[OptionDefinition, ...] = tuple(custom)
        self._custom = _index(self.custom)
        self._last_resort = _index(last_resort)

    def extend(self, custom: Iterable[OptionDefinition]) -> "OptionDefinitions":
        """A new registry with these custom definitions added after the
        existing ones (the receiver is unchanged)."""
        new = OptionDefinitions.__new__(OptionDefinitions)
        new._standard = self._standard
        new._last_resort = self._last_resort
        new.custom = self.custom + tuple(custom)
        new._custom = _index(new.custom)
        return new

    def spaces(self) -> List[str]:
        """All space names known to this registry."""
        names = list(self._standard)
        for s in self._custom:
            if s not in names:
                names.append(s)
        return names

    def standard(self, space: str, code: int) -> Optional[OptionDefinition]:
        """Only the built-in definition (what a custom ``option-def`` may not
        redefine in ``dhcp4``)."""
        s = self._standard.get(space)
        return s.by_code.get(code) if s else None

    def standard_by_name(self, space: str, name: str) -> Optional[OptionDefinition]:
        s = self._standard.get(space)
        return s.by_name.get(name) if s else None

    def custom_definition(self, space: str, code: int) -> Optional[OptionDefinition]:
        s = self._custom.get(space)
        return s.by_code.get(code) if s else None

    def get(self, space: str, code: int) -> Optional[OptionDefinition]:
        """Receive-side lookup: standard, then custom."""
        s = self._standard.get(space)
        if s is not None:
            d = s.by_code.get(code)
            if d is not None:
                return d
        s = self._custom.get(space)
        return s.by_code.get(code) if s else None

    def get_by_name(self, space: str, name: str) -> Optional[OptionDefinition]:
        s = self._standard.get(space)
        if s is not None:
            d = s.by_name.get(name)
            if d is not None:
                return d
        s = self._custom.get(space)
        return s.by_name.get(name) if s else None

    def last_resort(self, space: str, code: int) -> Optional[OptionDefinition]:
        s = self._last_resort.get(space)
        return s.by_code.get(code) if s else None

    def resolve(self, space: str, code: int) -> Optional[OptionDefinition]:
        """Deferred-option lookup (43, 224-254 after class pass 1): standard,
        custom, then last resort."""
        return self.get(space, code) or self.last_resort(space, code)

    def find(self, space: str, code: Optional[int] = None,
             name: Optional[str] = None) -> Optional[OptionDefinition]:
        """Config-side lookup (``findOptionDefinition``): by code when a
        code is given, else by name; custom, standard, last resort."""
        for table in (self._custom, self._standard, self._last_resort):
            s = table.get(space)
            if s is None:
                continue
            d = s.by_code.get(code) if code is not None else s.by_name.get(name or "")
            if d is not None:
                return d
        return None


STANDARD_DEFINITIONS = OptionDefinitions(_STD_DHCP4 + _STD_VENDOR_4491, (),
                                         LAST_RESORT_DEFINITIONS)


# --------------------------------------------------------------------------
# Text helpers mirroring Kea's util::str and encode::decodeHex

_BLANKS = " \t\n"


def _trim(text: str) -> str:
    return text.strip(_BLANKS)


def kea_tokens(text: str) -> List[str]:
    """``isc::util::str::tokens(text, ",", true)``: split on commas, a
    backslash escapes a comma (``\\,``) or itself (``\\\\``), any other
    backslash is kept; empty tokens vanish; tokens are *not* trimmed."""
    if "\\" not in text:
        return [t for t in text.split(",") if t]
    result: List[str] = []
    token: List[str] = []
    escaped = False
    for c in text:
        if c == ",":
            if escaped:
                escaped = False
                token.append(c)
            elif token:
                result.append("".join(token))
                token = []
        elif c == "\\":
            if escaped:
                escaped = False
                token.append(c)
            else:
                escaped = True
        else:
            if escaped:
                escaped = False
                token.append("\\")
            token.append(c)
    if escaped:
        token.append("\\")
    if token:
        result.append("".join(token))
    return result


_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_CSPACE = frozenset(" \t\n\r\v\f")


def _decode_hex(text: str) -> bytes:
    """``encode::decodeHex``: whitespace skipped, digits in pairs; raises
    ValueError with Kea's inner message."""
    digits = []
    for c in text:
        if c in _CSPACE:
            continue
        if c not in _HEXDIGITS:
            raise ValueError("attempt to decode a value not in base16 char set")
        digits.append(c)
    if len(digits) % 2:
        raise ValueError("Incomplete input for base16: " + text)
    return bytes.fromhex("".join(digits))


def _decode_separated(text: str, sep: str) -> bytes:
    parts = text.split(sep)
    out = bytearray()
    for part in parts:
        if len(parts) > 1 and not part:
            raise ValueError("two consecutive separators")
        if len(part) > 2:
            raise ValueError("invalid format")
        if part:
            if any(c not in _HEXDIGITS for c in part):
                raise ValueError("not a hex digit")
            out.append(int(part, 16))
    return bytes(out)


def config_binary(data: str) -> bytes:
    """The bytes of a ``csv-format: false`` (or definition-less) ``data``:
    ``'quoted text'`` (trimmed inside the quotes; an empty ``''`` is not
    accepted as a quoted string) or hex -- ``:``-separated, else
    space-separated (1-2 digits per byte), else continuous with an optional
    lowercase ``0x`` prefix and a leading 0 added to an odd length.  Raises
    :class:`OptionDataError` with Kea's message."""
    trimmed = _trim(data)
    if len(trimmed) > 1 and trimmed[0] == "'" and trimmed[-1] == "'":
        inner = _trim(trimmed[1:-1])
        if inner:
            return inner.encode("utf-8")
    try:
        if ":" in data:
            return _decode_separated(data, ":")
        if " " in data:
            return _decode_separated(data, " ")
        text = ("0" if len(data) % 2 else "") + (data[2:] if len(data) > 2 and data.startswith("0x") else data)
        return _decode_hex(text)
    except ValueError:
        raise OptionDataError(
            "option data is not a valid string of hexadecimal digits: " + data)


# --------------------------------------------------------------------------
# Writing config tokens (OptionDefinition::writeToBuffer)

_DEC_RE = re.compile(r"^[+-]?[0-9]+$")
_HEX_RE = re.compile(r"^[ \t\n\r\v\f]*([+-]?)(?:0[xX])?([0-9a-fA-F]+)$")
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _lexical_int(value: str, type_: str) -> int:
    """``lexicalCastWithRangeCheck<T>``: decimal, else C++ ``std::hex``."""
    result: Optional[int] = None
    if _DEC_RE.match(value):
        result = int(value)
        if not _INT64[0] <= result <= _INT64[1]:
            result = None
    if result is None:
        m = _HEX_RE.match(value)
        if m:
            result = int(m.group(2), 16)
            if m.group(1) == "-":
                result = -result
            if not _INT64[0] <= result <= _INT64[1]:
                result = None
    if result is None:
        raise ValueError("unable to convert the value '%s' to integer data type" % value)
    lo, hi = _INT_RANGES[type_]
    if not lo <= result <= hi:
        raise ValueError(
            "unable to convert '%s' to numeric type. This value is expected to "
            "be in the range of %d..%d" % (value, lo, hi))
    return result


def _write_bool(value: str) -> bytes:
    low = value.lower()
    if low == "true":
        return b"\x01"
    if low == "false":
        return b"\x00"
    if not _DEC_RE.match(value) or not -(2 ** 31) <= int(value) < 2 ** 31:
        raise ValueError("unable to covert the value '%s' to boolean data type" % value)
    n = int(value)
    if n not in (0, 1):
        raise ValueError("unable to convert '%s' to boolean data type" % value)
    return bytes([n])


def _parse_address(value: str) -> bytes:
    try:
        if ":" in value:
            return ipaddress.IPv6Address(value).packed
        return ipaddress.IPv4Address(value).packed
    except ValueError:
        raise ValueError(
            "Failed to convert string to address '%s': Invalid argument" % value)


def _write_prefix(value: str) -> bytes:
    txt = value.replace(" ", "").replace("\t", "")
    if "/" not in txt:
        raise ValueError("provided address/prefix %s is not valid." % value)
    addr_txt, len_txt = txt.split("/", 1)
    packed = _parse_address(addr_txt)
    if len(packed) != 16:
        raise ValueError("provided address %s is not a valid IPv4 or IPv6 address." % addr_txt)
    try:
        plen = _lexical_int(len_txt, "uint8")
    except ValueError:
        raise ValueError("provided prefix %s is not valid." % len_txt)
    if plen > 128:
        raise ValueError("invalid prefix length %d" % plen)
    nbytes = (plen + 7) // 8
    body = bytearray(packed[:nbytes])
    if plen % 8 and body:
        body[-1] &= (0xFF << (8 - plen % 8)) & 0xFF
    return bytes([plen]) + bytes(body)


def _write_psid(value: str) -> bytes:
    txt = value.replace(" ", "").replace("\t", "")
    if "/" not in txt:
        raise ValueError("provided PSID value %s is not valid" % value)
    psid_txt, len_txt = txt.split("/", 1)
    try:
        psid = _lexical_int(psid_txt, "uint16")
    except ValueError:
        raise ValueError("provided PSID %s is not valid" % psid_txt)
    try:
        plen = _lexical_int(len_txt, "uint8")
    except ValueError:
        raise ValueError("provided PSID length %s is not valid" % len_txt)
    if plen > 16:
        raise ValueError("invalid value %d of PSID length" % plen)
    if plen > 0 and psid > (0xFFFF >> (16 - plen)):
        raise ValueError("invalid PSID value %d for a specified PSID length %d" % (psid, plen))
    return bytes([plen]) + struct.pack("!H", (psid << (16 - plen)) & 0xFFFF)


def _write_token(value: str, type_: str) -> bytes:
    if type_ == "binary":
        try:
            return _decode_hex(value)
        except ValueError as e:
            raise ValueError("unable to cast %s to binary data type: %s" % (value, e))
    if type_ == "boolean":
        return _write_bool(value)
    if type_ in _INT_RANGES:
        v = _lexical_int(value, type_)
        size = FIXED_TYPE_SIZES[type_]
        return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "big")
    if type_ in ("ipv4-address", "ipv6-address"):
        return _parse_address(value)
    if type_ == "ipv6-prefix":
        return _write_prefix(value)
    if type_ == "psid":
        return _write_psid(value)
    if type_ == "string":
        return value.encode("utf-8")
    if type_ == "fqdn":
        return fqdn_to_wire(value)
    if type_ == "tuple":
        raw = value.encode("utf-8")
        if len(raw) > 255:
            raise ValueError("invalid tuple value (size %d larger than 255)" % len(raw))
        return bytes([len(raw)]) + raw
    raise ValueError("attempt to write invalid option data field type into the "
                     "option buffer: %d" % _TYPE_NUMBERS.get(type_, 0))


_TYPE_NUMBERS = {name: i for i, name in enumerate(OPTION_DEF_TYPES)}


# --------------------------------------------------------------------------
# DNS names (isc::dns::Name)

def fqdn_to_wire(text: str) -> bytes:
    """Kea's ``Name(text)`` to wire format: always absolute (``example.com``
    -> ``07example03com00``), ``\\DDD`` and ``\\X`` escapes, labels up to 63
    bytes, names up to 255; raises ValueError with Kea's messages."""
    return _labels_wire(_text_labels(text.encode("utf-8", "surrogateescape")))


def _text_labels(raw: bytes) -> List[bytes]:
    """``isc::dns::stringParse`` (no downcasing) -> labels, root excluded."""
    shown = raw.decode("latin-1")
    if not raw:
        raise ValueError("incomplete textual name in <empty>")
    if raw[0] == 0x2E:
        if len(raw) > 1:
            raise ValueError("non terminating empty label in " + shown)
        return []
    if raw == b"@":
        return []
    labels: List[bytes] = []
    label = bytearray()
    wire = 0  # Kea's ndata.size(): length placeholders + label bytes
    n = len(raw)
    i = 0
    at_label_start = True
    while i < n:
        if wire >= 255:
            raise ValueError("name is too long for termination in " + shown)
        c = raw[i]
        i += 1
        if at_label_start:
            wire += 1
        if c == 0x2E:
            if not label:
                raise ValueError("duplicate period in " + shown)
            labels.append(bytes(label))
            label = bytearray()
            at_label_start = True
            if i == n:
                return labels
            continue
        if c == 0x5C:
            if i == n:
                raise ValueError("incomplete textual name in " + shown)
            c = raw[i]
            i += 1
            if at_label_start and c == 0x5B:
                raise ValueError("invalid label type in " + shown)
            if 0x30 <= c <= 0x39:
                value = c - 0x30
                for _ in range(2):
                    if i == n:
                        raise ValueError("incomplete textual name in " + shown)
                    d = raw[i]
                    i += 1
                    if not 0x30 <= d <= 0x39:
                        raise ValueError("mixture of escaped digit and non-digit in " + shown)
                    value = value * 10 + d - 0x30
                if value > 255:
                    raise ValueError("escaped decimal is too large in " + shown)
                c = value
        at_label_start = False
        label.append(c)
        wire += 1
        if len(label) > 63:
            raise ValueError("label is too long in " + shown)
    if wire >= 255:
        raise ValueError("name is too long for termination in " + shown)
    labels.append(bytes(label))
    return labels


_SPECIAL = frozenset(b'"().;\\@$')


def _label_text(label: bytes) -> str:
    parts = []
    for c in label:
        if c in _SPECIAL:
            parts.append("\\" + chr(c))
        elif 0x20 < c < 0x7F:
            parts.append(chr(c))
        else:
            parts.append("\\%03d" % c)
    return "".join(parts)


def wire_to_fqdn(data: bytes, start: int = 0, downcase: bool = False) -> Tuple[List[bytes], int]:
    """Kea's ``Name(InputBuffer)``: parse one wire name at ``start``
    (compression pointers allowed, pointing backwards within ``data``).
    Returns the labels (root excluded) and the offset after the name.
    Raises ValueError with Kea's message."""
    labels: List[bytes] = []
    pos = start
    biggest = start
    end_after: Optional[int] = None
    used = 0
    n = len(data)
    while True:
        if pos >= n:
            raise ValueError("incomplete wire-format name")
        c = data[pos]
        pos += 1
        if c <= 63:
            if used + c + 1 > 255:
                raise ValueError("wire name is too long: %d bytes" % (used + c + 1))
            used += c + 1
            if c == 0:
                break
            if pos + c > n:
                raise ValueError("incomplete wire-format name")
            lab = data[pos:pos + c]
            labels.append(lab.lower() if downcase else lab)
            pos += c
        elif c & 0xC0 == 0xC0:
            if pos >= n:
                raise ValueError("incomplete wire-format name")
            target = ((c & 0x3F) << 8) | data[pos]
            pos += 1
            if target >= biggest:
                raise ValueError("bad compression pointer (out of range): %d" % target)
            if end_after is None:
                end_after = pos
            biggest = target
            pos = target
        else:
            raise ValueError("unknown label character: %d" % c)
    return labels, (end_after if end_after is not None else pos)


def _labels_text(labels: Sequence[bytes], omit_final_dot: bool = False) -> str:
    if not labels:
        return "."
    text = ".".join(_label_text(lab) for lab in labels)
    return text if omit_final_dot else text + "."


def _labels_wire(labels: Sequence[bytes]) -> bytes:
    return b"".join(bytes([len(lab)]) + lab for lab in labels) + b"\x00"


# --------------------------------------------------------------------------
# Sub-options (LibDHCP::unpackOptions4 in a non-dhcp4 space, packOptions)

def parse_suboptions(data: bytes, pad_end: bool = False) -> List[Tuple[int, bytes]]:
    """Sub-options of 82/43 (and trailing data of other options) as Kea's
    ``unpackOptions4`` reads them in a space other than ``dhcp4``: code,
    length, payload; stops silently at a truncated one (an overrun).  With
    ``pad_end`` (option 43), code 0 is PAD and 255 ends the list."""
    out: List[Tuple[int, bytes]] = []
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if pad_end:
            if code == 255:
                break
            if code == 0:
                i += 1
                continue
        if i + 2 > n:
            break
        ln = data[i + 1]
        if i + 2 + ln > n:
            break
        out.append((code, data[i + 2:i + 2 + ln]))
        i += 2 + ln
    return out


def pack_suboptions(subs: Iterable[Tuple[int, bytes]]) -> bytes:
    """Kea packs an option's sub-options from a multimap: ascending code,
    instances of one code in insertion order."""
    return b"".join(bytes([c, len(p)]) + p for c, p in sorted(subs, key=lambda s: s[0]))


# --------------------------------------------------------------------------
# Typed values

class ClientFqdn(NamedTuple):
    """Option 81 as Kea's ``Option4ClientFqdn`` holds it."""
    flags: int
    rcode1: int
    rcode2: int
    domain_name: str  # Kea's text form; "" when absent
    full: bool        # True for a fully qualified name

    @property
    def flag_s(self) -> bool:
        return bool(self.flags & 0x01)

    @property
    def flag_o(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def flag_e(self) -> bool:
        return bool(self.flags & 0x04)

    @property
    def flag_n(self) -> bool:
        return bool(self.flags & 0x08)


class VendorClass(NamedTuple):
    """Option 124: enterprise id and the data tuples (each tuple after the
    first is preceded by its own copy of the enterprise id on the wire)."""
    enterprise_id: int
    tuples: Tuple[bytes, ...]


class VendorOption(NamedTuple):
    """Option 125: the first enterprise block and its sub-options, each
    ``(code, payload)`` in wire order."""
    enterprise_id: int
    suboptions: Tuple[Tuple[int, bytes], ...]


class SlpServiceScope(NamedTuple):
    mandatory: bool
    scope_list: bytes


class ParsedOption:
    """What Kea's option object holds after parsing one payload (what
    ``OptionDefinition::optionFactory`` builds), as :func:`parse_option`
    returns it.

    :ivar kind: the option class: ``"generic"`` (binary), ``"empty"``,
        ``"int"``, ``"int_array"``, ``"addr_list"``, ``"string"``,
        ``"custom"`` (records, single addresses, fqdn lists, options
        carrying sub-options), ``"client_fqdn"`` (81), ``"vivco"`` (124),
        ``"vivso"`` (125), ``"slp_scope"`` (79).
    :ivar value: the typed value (as :func:`decode_option_value` returns).
    :ivar wire: the payload as Kea packs the option again (``toBinary``).
    :ivar subs: ``(code, payload)`` of the sub-options, in arrival order.
    :ivar fields: ``(type, raw bytes)`` per field of a custom option.
    """

    __slots__ = ("kind", "value", "wire", "subs", "fields")

    def __init__(self, kind: str, value: Any, wire: bytes,
                 subs: Sequence[Tuple[int, bytes]] = (),
                 fields: Sequence[Tuple[str, bytes]] = ()) -> None:
        self.kind = kind
        self.value = value
        self.wire = wire
        self.subs = list(subs)
        self.fields = list(fields)


def _custom_field_size(type_: str, data: bytes, pos: int, in_array: bool,
                       defn: OptionDefinition) -> int:
    """``OptionCustom::bufferLength``."""
    size = FIXED_TYPE_SIZES.get(type_, 0)
    if size:
        return size
    if type_ == "fqdn":
        if pos >= len(data):
            raise ValueError("unable to read FQDN from a buffer. The buffer is empty.")
        labels, _ = wire_to_fqdn(data[pos:])
        return len(_labels_text(labels)) + 1
    if not defn.array and type_ in ("binary", "string"):
        return len(data) - pos
    if type_ == "ipv6-prefix":
        if pos >= len(data):
            if not in_array:
                return 0
            raise ValueError("unable to read prefix length from a truncated buffer")
        plen = data[pos]
        nbytes = plen // 8 + (1 if plen % 8 else 0)
        if len(data) - pos - 1 < nbytes:
            raise ValueError("unable to read a prefix having length of %d from a truncated buffer" % plen)
        return 1 + (plen + 7) // 8
    if type_ == "tuple":
        if pos >= len(data):
            raise ValueError("unable to read data from the buffer as tuple (length). Invalid buffer size: 0")
        ln = data[pos]
        if len(data) - pos < 1 + ln:
            raise ValueError("unable to read data from the buffer as tuple (length %d). "
                             "Invalid buffer size: %d" % (ln, len(data) - pos))
        return 1 + ln
    raise ValueError("option buffer truncated")


def _parse_custom(defn: OptionDefinition, data: bytes) -> ParsedOption:
    """``OptionCustom::createBuffers(data)``."""
    fields: List[Tuple[str, bytes]] = []
    pos = 0
    n = len(data)
    subs: List[Tuple[int, bytes]] = []
    if defn.type == "record":
        for t in defn.record_types:
            size = _custom_field_size(t, data, pos, False, defn)
            if n - pos < size:
                raise ValueError("option buffer truncated")
            fields.append((t, data[pos:pos + size]))
            pos += size
        if defn.array:
            last = defn.record_types[-1]
            while pos < n:
                size = _custom_field_size(last, data, pos, True, defn)
                if n - pos < size:
                    break
                fields.append((last, data[pos:pos + size]))
                pos += size
        elif pos < n and defn.encapsulate:
            subs = parse_suboptions(data[pos:], defn.code == 43)
    elif defn.type != "empty":
        size = FIXED_TYPE_SIZES.get(defn.type, 0)
        if n < size:
            raise ValueError("option buffer truncated")
        if defn.array:
            while pos < n:
                size = _custom_field_size(defn.type, data, pos, True, defn)
                if n - pos < size:
                    break
                fields.append((defn.type, data[pos:pos + size]))
                pos += size
        else:
            size = _custom_field_size(defn.type, data, pos, False, defn)
            if size > 0 and n - pos >= size:
                fields.append((defn.type, data[pos:pos + size]))
                pos += size
            else:
                raise ValueError("option buffer truncated")
            if pos < n and defn.encapsulate:
                subs = parse_suboptions(data[pos:], defn.code == 43)
    else:
        if n and defn.encapsulate:
            subs = parse_suboptions(data, defn.code == 43)
    # Validate each field the way reading it back would (readBool, readPsid).
    for t, raw in fields:
        _field_value(t, raw)
    wire = b"".join(raw for _, raw in fields) + pack_suboptions(subs)
    values = [_field_value(t, raw) for t, raw in fields]
    if defn.type == "record":
        value: Any = tuple(values)
    elif defn.array:
        value = values
    elif defn.type == "empty":
        value = tuple(subs)
    else:
        value = values[0]
    return ParsedOption("custom", value, wire, subs, fields)


_PSID_MASKS = [0] + [(0xFFFF << (16 - n)) & 0xFFFF for n in range(1, 17)]


def _field_value(type_: str, raw: bytes) -> Any:
    if type_ == "boolean":
        if raw[0] not in (0, 1):
            raise ValueError("unable to read the buffer as boolean value. "
                             "Invalid value %d" % raw[0])
        return raw[0] == 1
    if type_ in _INT_STRUCT:
        return _INT_STRUCT[type_].unpack(raw)[0]
    if type_ == "ipv4-address":
        return ipaddress.IPv4Address(raw)
    if type_ == "ipv6-address":
        return ipaddress.IPv6Address(raw)
    if type_ == "fqdn":
        labels, _ = wire_to_fqdn(raw)
        return _labels_text(labels)
    if type_ == "string":
        stripped = raw.rstrip(b"\x00")
        if raw and not stripped:
            raise ValueError("string value carried by the option contained only NULLs")
        return stripped.decode("latin-1")
    if type_ == "psid":
        plen = raw[0]
        if plen > 16:
            raise ValueError("invalid PSID length value %d, this value is expected "
                             "to be in range of 0 to 16" % plen)
        psid = (raw[1] << 8) | raw[2]
        if psid & ~_PSID_MASKS[plen] & 0xFFFF:
            raise ValueError("invalid PSID value %d for a specified PSID length %d" % (psid, plen))
        return (plen, 0 if plen == 0 else psid >> (16 - plen))
    if type_ == "tuple":
        return raw[1:].decode("latin-1")
    if type_ == "ipv6-prefix":
        plen = raw[0] if raw else 0
        body = raw[1:] + bytes(16 - len(raw[1:])) if raw else bytes(16)
        return (ipaddress.IPv6Address(body[:16]), plen)
    return bytes(raw)  # binary


def _parse_int(defn: OptionDefinition, data: bytes) -> ParsedOption:
    size = FIXED_TYPE_SIZES[defn.type]
    if len(data) < size:
        raise ValueError("OptionInt %d truncated" % defn.code)
    value = _INT_STRUCT[defn.type].unpack_from(data)[0]
    subs = parse_suboptions(data[size:]) if len(data) > size else []
    return ParsedOption("int", value, data[:size] + pack_suboptions(subs), subs)


def _parse_int_array(defn: OptionDefinition, data: bytes) -> ParsedOption:
    if not data:
        raise ValueError("option %d empty" % defn.code)
    size = FIXED_TYPE_SIZES[defn.type]
    if len(data) % size:
        raise ValueError("OptionIntArray %d truncated" % defn.code)
    # Kea reads int16/int32 arrays as unsigned (factoryIntegerArray<uint16_t>).
    t = {"int8": "int8"}.get(defn.type, defn.type.lstrip("i") if defn.type.startswith("int") else defn.type)
    if defn.type in ("int16", "int32"):
        t = "u" + defn.type
    fmt = "!%d%s" % (len(data) // size, _INT_STRUCT[t].format[-1])
    return ParsedOption("int_array", list(struct.unpack(fmt, data)), data, (), [(t, b"")])


def _parse_addr_list(defn: OptionDefinition, data: bytes) -> ParsedOption:
    if len(data) % 4:
        raise ValueError("DHCPv4 Option4AddrLst %d has invalid length=%d, must be "
                         "divisible by 4." % (defn.code, len(data)))
    addrs = [ipaddress.IPv4Address(data[i:i + 4]) for i in range(0, len(data), 4)]
    return ParsedOption("addr_list", addrs, data)


def _parse_string(defn: OptionDefinition, data: bytes) -> ParsedOption:
    stripped = data.rstrip(b"\x00")
    if not stripped:
        raise SkipThisOption("failed to parse an option '%d' holding string value' "
                             "was empty or contained only nuls" % defn.code)
    return ParsedOption("string", stripped.decode("latin-1"), stripped)


def _parse_fqdn_list(defn: OptionDefinition, data: bytes) -> ParsedOption:
    if not data:
        raise ValueError("FQDN list option has invalid length of 0")
    pos = 0
    flat = bytearray()
    while pos < len(data):
        labels, pos = wire_to_fqdn(data, pos)
        flat += _labels_wire(labels)
    return _parse_custom(defn, bytes(flat))


def _parse_client_fqdn(data: bytes) -> ParsedOption:
    if len(data) < 3:
        raise ValueError("DHCPv4 Client FQDN Option (81) is truncated")
    flags, rc1, rc2 = data[0], data[1], data[2]
    rest = data[3:]
    name = ""
    full = False
    wire_name = b""
    if rest:
        try:
            if flags & 0x04:
                buf = rest if rest[-1] == 0 else rest + b"\x00"
                labels, _ = wire_to_fqdn(buf, 0, downcase=True)
                full = rest[-1] == 0
                name = _labels_text(labels, omit_final_dot=not full)
                wire_name = _labels_wire(labels)
                if not full:
                    wire_name = wire_name[:-1]
            else:
                labels = [lab.lower() for lab in _text_labels(rest)]
                full = rest.endswith(b".")
                name = _labels_text(labels, omit_final_dot=not full)
                wire_name = name.encode("latin-1")
        except ValueError as e:
            raise ValueError("failed to parse the domain-name in DHCPv4 Client FQDN "
                             "Option: %s" % e)
    if flags & 0x09 == 0x09:
        raise ValueError("both N and S flag of the DHCPv4 Client FQDN Option are set. "
                         "According to RFC 4702, if the N bit is 1 the S bit MUST be 0")
    value = ClientFqdn(flags, rc1, rc2, name, full)
    return ParsedOption("client_fqdn", value, bytes([flags, rc1, rc2]) + wire_name)


def _parse_vivco(data: bytes) -> ParsedOption:
    if len(data) < 4:
        raise ValueError("parsed Vendor Class option data truncated to size %d" % len(data))
    enterprise = struct.unpack_from("!I", data)[0]
    body = data[4:]
    tuples: List[bytes] = []
    off = 0
    n = len(body)
    while off < n:
        ln = body[off]
        if n - off - 1 < ln:
            raise ValueError("unable to parse the opaque data tuple, the buffer length "
                             "is %d, but the tuple length is %d" % (n - off - 1, ln))
        tuples.append(body[off + 1:off + 1 + ln])
        off += 1 + ln
        if off != n:
            off += 4
            if off + 1 >= n:
                raise ValueError("truncated DHCPv4 V-I Vendor Class option - it should "
                                 "contain enterprise id followed by opaque data field tuple")
    eid = data[:4]
    wire = eid + b"".join((eid if i else b"") + bytes([len(t)]) + t for i, t in enumerate(tuples))
    return ParsedOption("vivco", VendorClass(enterprise, tuple(tuples)), wire)


def _parse_vivso(data: bytes, definitions: Optional[OptionDefinitions]) -> ParsedOption:
    if len(data) < 4:
        raise SkipRemainingOptions("Truncated vendor-specific information option, "
                                   "length=%d" % len(data))
    enterprise = struct.unpack_from("!I", data)[0]
    buf = data[4:]
    subs: List[Tuple[int, bytes]] = []
    if buf:
        data_len = buf[0]
        off = 1
        if off + data_len > len(buf):
            raise SkipRemainingOptions("Attempt to parse truncated vendor option")
        # Kea keeps the block end in a uint8_t: a 255-byte block wraps to 0
        # and its sub-options are not read at all.
        end = (off + data_len) & 0xFF
        space = "vendor-%d" % enterprise
        registry = definitions or STANDARD_DEFINITIONS
        while off < end:
            code = buf[off]
            off += 1
            if off + 1 > end:
                raise SkipRemainingOptions("Attempt to parse truncated vendor option %d" % code)
            ln = buf[off]
            off += 1
            if off + ln > end:
                raise SkipRemainingOptions("Option parse failed. Tried to parse %d bytes "
                                           "from %d-byte long buffer." % (off + ln, len(buf)))
            payload = buf[off:off + ln]
            sub_def = registry.standard(space, code)
            if sub_def is not None:
                payload = _parse(sub_def, payload, registry).wire
            subs.append((code, payload))
            off += ln
    packed = pack_suboptions(subs)
    wire = data[:4] + bytes([len(packed) & 0xFF]) + packed
    return ParsedOption("vivso", VendorOption(enterprise, tuple(subs)), wire, subs)


def _parse_slp_scope(data: bytes) -> ParsedOption:
    if len(data) < 1:
        raise ValueError("SLP Service Scope option (79) truncated")
    if data[0] not in (0, 1):
        raise ValueError("unable to read the buffer as boolean value. Invalid value %d" % data[0])
    return ParsedOption("slp_scope", SlpServiceScope(data[0] == 1, data[1:]), data)


def _parse(defn: OptionDefinition, data: bytes,
           definitions: Optional[OptionDefinitions] = None) -> ParsedOption:
    """Build what Kea's ``optionFactory`` builds from a payload; raises
    ValueError (InvalidOptionValue), SkipThisOption or SkipRemainingOptions."""
    if defn.space == DHCP4_SPACE:
        if defn.code == 79:
            return _parse_slp_scope(data)
        if defn.code == 81:
            return _parse_client_fqdn(data)
        if defn.code == 124:
            return _parse_vivco(data)
        if defn.code == 125:
            return _parse_vivso(data, definitions)
    t = defn.type
    if t == "fqdn" and defn.array:
        return _parse_fqdn_list(defn, data)
    if t == "empty":
        if not defn.encapsulate:
            return ParsedOption("empty", None, b"")
        return _parse_custom(defn, data)
    if t == "binary":
        return ParsedOption("generic", bytes(data), bytes(data))
    if t in _INT_RANGES:
        return _parse_int_array(defn, data) if defn.array else _parse_int(defn, data)
    if t == "ipv4-address" and defn.array:
        return _parse_addr_list(defn, data)
    if t == "string":
        return _parse_string(defn, data)
    return _parse_custom(defn, data)


def parse_option(definition: OptionDefinition, payload: bytes,
                 definitions: Optional[OptionDefinitions] = None) -> ParsedOption:
    """Parse a received payload with its definition, as Kea's
    ``OptionDefinition::optionFactory`` does when it unpacks an option.

    :param definitions: the registry used for sub-options (125's vendor
        spaces, encapsulated spaces); the standard one by default.
    :raises SkipThisOption: Kea leaves the option out (an empty or all-NUL
        string option).
    :raises SkipRemainingOptions: Kea stops reading the options after it
        (a 125 shorter than 4).
    :raises OptionDecodeError: anything else Kea's factory throws for (the
        option cannot be built with this definition).
    """
    try:
        return _parse(definition, bytes(payload), definitions)
    except OptionDecodeError:
        raise
    except (ValueError, IndexError, struct.error) as e:
        raise OptionDecodeError(str(e))


# --------------------------------------------------------------------------
# Public API: config data

def canonical_payload(definition: OptionDefinition, payload: bytes,
                      definitions: Optional[OptionDefinitions] = None) -> bytes:
    """What Kea sends for an option it built from these bytes: the payload
    parsed with the definition's option class and packed again (trailing
    data dropped, sub-options sorted, NULs trimmed ...).  Raises
    :class:`OptionDecodeError` (or a subclass) if Kea cannot parse it."""
    try:
        return _parse(definition, bytes(payload), definitions).wire
    except OptionDecodeError:
        raise
    except (ValueError, IndexError, struct.error) as e:
        raise OptionDecodeError(str(e))


def encode_option_data(definition: Optional[OptionDefinition], data: str,
                       csv_format: bool = True,
                       definitions: Optional[OptionDefinitions] = None) -> bytes:
    """The payload Kea 2.2 sends for one ``option-data`` entry (spec §19).

    :param definition: the option's definition, or None for a code without
        one (then ``csv_format`` must be False -- :func:`resolve_option_data`
        enforces that; here the data is simply read as hex/quoted text).
    :param csv_format: the entry's ``csv-format`` (Kea's default is true).
    :raises OptionDataError: with Kea's message (no position suffix).
    """
    if definition is None or not csv_format:
        binary = config_binary(data)
        if definition is None:
            return binary
        return _factory(definition, binary, definitions)
    tokens = kea_tokens(data)
    try:
        buf = _write_tokens(definition, tokens)
    except ValueError as e:
        raise _mismatch(definition, str(e))
    return _factory(definition, buf, definitions)


def _mismatch(definition: OptionDefinition, message: str) -> OptionDataError:
    return OptionDataError(
        "option data does not match option definition (space: %s, code: %d): %s"
        % (definition.space, definition.code, message))


def _factory(definition: OptionDefinition, buf: bytes,
             definitions: Optional[OptionDefinitions]) -> bytes:
    try:
        return _parse(definition, buf, definitions).wire
    except (ValueError, IndexError, struct.error) as e:
        raise _mismatch(definition, str(e))


def _write_tokens(defn: OptionDefinition, tokens: List[str]) -> bytes:
    """``OptionDefinition::optionFactory(values)``: non-array, non-record
    types use only the first token."""
    if defn.type == "record":
        fields = defn.record_types
        if len(fields) > len(tokens):
            raise ValueError("number of data fields for the option type '%d' is "
                             "greater than number of values provided." % defn.code)
        parts = [_write_token(_trim(tokens[i]), fields[i]) for i in range(len(fields))]
        if defn.array:
            parts += [_write_token(_trim(t), fields[-1]) for t in tokens[len(fields):]]
        return b"".join(parts)
    if defn.array:
        return b"".join(_write_token(_trim(t), defn.type) for t in tokens)
    if not tokens:
        if defn.type != "empty":
            raise ValueError("no option value specified")
        return b""
    return _write_token(_trim(tokens[0]), defn.type)


def resolve_option_data(
    definitions: OptionDefinitions,
    space: str = DHCP4_SPACE,
    code: Optional[int] = None,
    name: Optional[str] = None,
    data: str = "",
    csv_format: Optional[bool] = None,
) -> Tuple[Optional[OptionDefinition], int, bytes]:
    """Kea's ``OptionDataParser::createOption`` minus positions and the
    option-space name checks: find the definition, check name/code, encode.

    :param csv_format: None when the entry has no ``csv-format`` key.
    :returns: ``(definition or None, code, payload)``.
    :raises OptionDataError: with Kea's messages.
    """
    if code is None and name is None:
        raise OptionDataError("option data configuration requires one of 'code' or "
                              "'name' parameters to be specified")
    if code is not None and space == DHCP4_SPACE and code > 255:
        raise OptionDataError("invalid option code '%d', it must not be greater than '255'" % code)
    if name is not None and " " in name:
        raise OptionDataError("invalid option name '%s', space character is not allowed" % name)
    defn = definitions.find(space, code, name)
    # Kea's defaults give csv-format true before this parser runs, so an
    # absent key counts as true (observed: {"code": 200, "data": "01"} fails).
    if defn is None:
        if csv_format is None or csv_format:
            raise OptionDataError("definition for the option '%s.%s' having code '%d' "
                                  "does not exist" % (space, name or "", code or 0))
        if name is not None and code is None:
            raise OptionDataError("definition for the option '%s.%s' does not exist"
                                  % (space, name))
    use_csv = csv_format is None or csv_format
    if defn is not None and name is not None and defn.name != name:
        raise OptionDataError("specified option name '%s' does not match the option "
                              "definition: '%s.%s'" % (name, space, defn.name))
    if defn is None:
        payload = config_binary(data)
        final_code = int(code)  # type: ignore[arg-type]
    else:
        payload = encode_option_data(defn, data, use_csv, definitions)
        final_code = defn.code
    if space == DHCP4_SPACE:
        if final_code == 0:
            raise OptionDataError("invalid option code '0': reserved for PAD")
        if final_code == 255:
            raise OptionDataError("invalid option code '255': reserved for END")
    return defn, final_code, payload


# --------------------------------------------------------------------------
# Public API: received options

def check_received_option(definition: Optional[OptionDefinition], payload: bytes,
                          definitions: Optional[OptionDefinitions] = None) -> Optional[bytes]:
    """Validate one received option instance as Kea's ``unpackOptions4``
    does with its definition.

    :returns: the payload to keep (unchanged), or None when Kea silently
        skips the option (empty / all-NUL string: ``SkipThisOptionError``).
    :raises SkipRemainingOptions: the packet is served, later options are
        not parsed (125 shorter than 4 ...).
    :raises OptionDecodeError: Kea drops the packet (``DROP_0001``).
    """
    if definition is None:
        return payload
    try:
        _parse(definition, payload, definitions)
    except SkipThisOption:
        return None
    except OptionDecodeError:
        raise
    except (ValueError, IndexError, struct.error) as e:
        raise OptionDecodeError("option %d: %s" % (definition.code, e))
    return payload


def decode_option_value(definition: OptionDefinition, payload: bytes,
                        definitions: Optional[OptionDefinitions] = None) -> Any:
    """A received payload as a Python value, by option class:

    * binary / unknown -> ``bytes``; empty type -> ``None``, or the
      ``(code, payload)`` sub-option tuple for encapsulating options (43, 82);
    * integer -> ``int``; integer array -> ``list[int]`` (int16/int32 arrays
      read unsigned, as Kea does);
    * ipv4-address -> ``IPv4Address``; ipv4-address array -> ``list``;
    * string -> ``str`` (Latin-1, so ``.encode('latin-1')`` gives Kea's bytes;
      trailing NULs removed); fqdn -> text with final dot (``example.com.``);
    * psid -> ``(length, psid)``; records -> tuple of field values
      (record arrays append the repeated last fields);
    * 79 -> :class:`SlpServiceScope`, 81 -> :class:`ClientFqdn`,
      124 -> :class:`VendorClass`, 125 -> :class:`VendorOption`.

    :raises OptionDecodeError: (or a subclass) where Kea's parse fails.
    """
    try:
        return _parse(definition, bytes(payload), definitions).value
    except OptionDecodeError:
        raise
    except (ValueError, IndexError, struct.error) as e:
        raise OptionDecodeError(str(e))


def _hdr(code: int, length: int) -> str:
    return "type=%03d, len=%03d" % (code, length)


def _generic_text(code: int, payload: bytes) -> str:
    return _hdr(code, len(payload)) + ": " + ":".join("%02x" % b for b in payload)


def _subs_text(subs: Sequence[Tuple[int, bytes]], indent: int,
               texter=None) -> str:
    if not subs:
        return ""
    lines = [",\noptions:"]
    for c, p in sorted(subs, key=lambda s: s[0]):
        t = texter(c, p) if texter else _generic_text(c, p)
        lines.append("\n" + " " * indent + t)
    return "".join(lines)


def _field_text(t: str, raw: bytes) -> str:
    v = _field_value(t, raw)
    if t == "binary":
        s = raw.hex().upper()
    elif t == "boolean":
        s = "true" if v else "false"
    elif t in ("fqdn", "string", "tuple"):
        s = '"%s"' % v
    elif t == "psid":
        s = "len=%d,psid=%d" % v
    elif t == "ipv6-prefix":
        s = ""
    else:
        s = str(v)
    return "%s (%s)" % (s, t)


def option_text(definition: Optional[OptionDefinition], payload: bytes,
                code: Optional[int] = None,
                definitions: Optional[OptionDefinitions] = None) -> str:
    """The text Kea's expressions get for ``option[N].text`` (spec
    ``expressions.md`` §5): a string option's value itself, else the
    option class's ``toText()`` dump (``type=053, len=001: 1 (uint8)``,
    ``type=003, len=008: 10.0.0.1 10.0.0.2``, ``type=061, len=007:
    01:00:...`` ...).  Pass ``definition=None`` for unknown codes, fused
    duplicates and deferred options without a definition (generic form).
    Strings are Latin-1 so the text encodes back to Kea's exact bytes.
    If the definition cannot parse the payload, the generic form is used."""
    if code is None:
        code = definition.code if definition is not None else 0
    payload = bytes(payload)
    if definition is None:
        return _generic_text(code, payload)
    try:
        p = _parse(definition, payload, definitions)
    except (ValueError, IndexError, struct.error):
        return _generic_text(code, payload)
    kind = p.kind
    if kind == "string":
        return p.value
    if kind == "generic":
        return _generic_text(code, payload)
    if kind == "empty":
        return _hdr(code, 0) + ": "
    if kind == "int":
        return (_hdr(code, len(p.wire)) + ": %d (%s)" % (p.value, definition.type)
                + _subs_text(p.subs, 2))
    if kind == "int_array":
        t = p.fields[0][0]
        return _hdr(code, len(p.wire)) + ":" + "".join(" %d(%s)" % (v, t) for v in p.value)
    if kind == "addr_list":
        return _hdr(code, len(p.wire)) + ":" + "".join(" %s" % a for a in p.value)
    if kind == "custom":
        return (_hdr(code, len(p.wire)) + ":" +
                "".join(" " + _field_text(t, raw) for t, raw in p.fields) +
                _subs_text(p.subs, 2))
    if kind == "client_fqdn":
        v: ClientFqdn = p.value
        return ("type=%d (CLIENT_FQDN), flags: (N=%d, E=%d, O=%d, S=%d), "
                "domain-name='%s' (%s)" % (code, v.flag_n, v.flag_e, v.flag_o, v.flag_s,
                                           v.domain_name, "full" if v.full else "partial"))
    if kind == "vivco":
        vc: VendorClass = p.value
        parts = ["type=%d, len=%d,  enterprise id=0x%x" % (code, len(p.wire), vc.enterprise_id)]
        for i, t in enumerate(vc.tuples):
            if i:
                parts.append(", enterprise id=0x%x" % vc.enterprise_id)
            parts.append(", data-len%d=%d, vendor-class-data%d='%s'"
                         % (i, len(t), i, t.decode("latin-1")))
        return "".join(parts)
    if kind == "vivso":
        vo: VendorOption = p.value
        registry = definitions or STANDARD_DEFINITIONS
        space = "vendor-%d" % vo.enterprise_id

        def sub_text(c: int, pl: bytes) -> str:
            d = registry.standard(space, c)
            return option_text(d, pl, c, registry) if d is not None else _generic_text(c, pl)

        return (_hdr(code, len(p.wire)) + ": %d (uint32) %d (uint8)"
                % (vo.enterprise_id, p.wire[4]) + _subs_text(p.subs, 2, sub_text))
    if kind == "slp_scope":
        s: SlpServiceScope = p.value
        return _hdr(code, len(p.wire)) + ': mandatory:%d, scope-list:"%s"' % (
            s.mandatory, s.scope_list.decode("latin-1"))
    return _generic_text(code, payload)  # pragma: no cover
