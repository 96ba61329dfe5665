"""
The DHCPv4 packet as a value: :class:`Packet4`, :func:`decode` and
:func:`encode`, with Kea 2.2's rules (pure, no I/O).

Decoding follows ``Pkt4::unpack`` + ``LibDHCP::unpackOptions4`` (spec
``dhcp4.md`` §2 step 1 and §20):

* dropped (:class:`MalformedPacket`): shorter than 236 bytes, nothing after
  the fixed header (BOOTP), fewer than 4 cookie bytes or a wrong cookie,
  ``hlen`` above 20, or an option its definition cannot parse (50/54/118
  shorter than 4, 51 of 2 bytes, 55 of 0 bytes, 53 of 0 bytes, 81 of 1 byte,
  a truncated 124 ...).  Each *instance* is checked before instances of one
  code are concatenated (RFC 3396), as Kea does;
* tolerated: a truncated last option, a missing END, PADs, ``hlen`` 17-20
  (chaddr is 16 bytes, Kea pads its hardware address with zeros to hlen),
  a zero-length host-name (12, left out), a string option that is empty or
  only NULs (left out), a 125 shorter than 4 (the options after it are not
  parsed and, as in Kea, nothing is fused: :attr:`Packet4.options_skipped`
  says why), an option 82 whose sub-options overrun it;
* options 43 and 224-254 are not checked here (Kea unpacks them after class
  pass 1, spec §2.3);
* options inside ``file``/``sname`` under option 52 are **not** parsed (Kea
  2.2 ignores overload); :func:`decode_overloaded_fields` does RFC 2131/3396
  overload parsing for callers that want it.

Encoding follows ``Pkt4::pack`` (spec §1): ``hlen`` capped at 16, chaddr
padded to 16 bytes, options 53 first, then ascending codes, 82 last, one END,
no padding; payloads longer than 255 bytes go out as consecutive instances
of 253 bytes of data each (Kea's splitOptions4).

Tests: tests/test_packet.py
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from typing import Dict, FrozenSet, List, Optional, Tuple

from kea_twisted import options as _opts
from kea_twisted.compat import DATACLASS_SLOTS
from kea_twisted.options import (
    DEFERRED_CODES,
    DHCP4_SPACE,
    OptionDecodeError,
    OptionDefinition,
    OptionDefinitions,
    STANDARD_DEFINITIONS,
    SkipRemainingOptions,
)

__all__ = [
    "MalformedPacket",
    "Packet4",
    "decode",
    "encode",
    "decode_overloaded_fields",
    "MAGIC_COOKIE",
    "HEADER_LEN",
    "UNSPECIFIED",
]

MAGIC_COOKIE = 0x63825363
HEADER_LEN = 236
_COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
_ZERO = IPv4Address(0)
_ZERO4 = bytes(4)
_ZERO16 = bytes(16)
_ZERO64 = bytes(64)
_ZERO128 = bytes(128)
_NO_CODES: FrozenSet[int] = frozenset()
#: 0.0.0.0 as the codec's own object: decoded zero addresses are this one,
#: and encode packs it without a call (packets built with it save one).
UNSPECIFIED = _ZERO


class MalformedPacket(ValueError):
    """A datagram Kea 2.2 drops at unpack (``DHCP4_PACKET_DROP_0001``);
    ``reason`` is close to Kea's exception text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(**DATACLASS_SLOTS)
class Packet4:
    """One DHCPv4 packet.

    ``chaddr`` is the hardware address proper (``min(hlen, 16)`` bytes);
    ``options`` maps code -> payload after RFC 3396 concatenation, in
    arrival order for decoded packets; ``fused`` holds the codes that
    arrived in more than one instance (Kea treats the result as untyped).
    The receive metadata (``iface`` ... ``length``) and ``options_skipped``
    are not part of equality.
    """

    op: int = 1
    htype: int = 1
    hlen: int = 6
    hops: int = 0
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: IPv4Address = _ZERO
    yiaddr: IPv4Address = _ZERO
    siaddr: IPv4Address = _ZERO
    giaddr: IPv4Address = _ZERO
    chaddr: bytes = b""
    sname: bytes = _ZERO64
    file: bytes = _ZERO128
    options: Dict[int, bytes] = field(default_factory=dict)
    fused: FrozenSet[int] = frozenset()
    iface: str = field(default="", compare=False)
    remote_addr: IPv4Address = field(default=_ZERO, compare=False)
    remote_port: int = field(default=0, compare=False)
    local_addr: IPv4Address = field(default=_ZERO, compare=False)
    local_port: int = field(default=0, compare=False)
    length: int = field(default=0, compare=False)
    #: Kea's ``DHCP4_PACKET_OPTIONS_SKIPPED`` reason, "" when all were read.
    options_skipped: str = field(default="", compare=False)
    #: The datagram as received (``buffer4_receive`` callouts may rewrite
    #: it before the engine decodes it).
    raw: bytes = field(default=b"", compare=False, repr=False)
    #: Classes given to the packet before classification, by hook
    #: libraries (``HA_<server>``, ``EXTERNAL_*``): Kea's ``Pkt4::addClass``.
    classes: List[str] = field(default_factory=list, compare=False)
    #: True once the fixed fields and options were read from :attr:`raw`.
    unpacked: bool = field(default=True, compare=False, repr=False)

    @classmethod
    def received(cls, data: bytes) -> "Packet4":
        """A packet holding only the datagram, for ``buffer4_receive``: a
        callout that wants its fields calls :meth:`unpack` (and sets the
        next step to SKIP, as a Kea library that unpacked the query does)."""
        return cls(raw=data, unpacked=False)

    def unpack(self, definitions: Optional[OptionDefinitions] = None) -> "Packet4":
        """Decode :attr:`raw` into this packet (once); raises
        :class:`MalformedPacket`.  Returns self."""
        if self.unpacked:
            return self
        decoded = decode(self.raw, definitions)
        for name in ("op", "htype", "hlen", "hops", "xid", "secs", "flags", "ciaddr", "yiaddr",
                     "siaddr", "giaddr", "chaddr", "sname", "file", "options", "fused",
                     "length", "options_skipped"):
            setattr(self, name, getattr(decoded, name))
        self.unpacked = True
        return self

    def add_class(self, name: str) -> None:
        """Kea's ``Pkt4::addClass`` for hook libraries: the class is the
        packet's from then on (before classification when added in
        ``buffer4_receive``), and usable in ``member()`` tests."""
        if name not in self.classes:
            self.classes.append(name)

    def in_class(self, name: str) -> bool:
        return name in self.classes

    @property
    def message_type(self) -> Optional[int]:
        """The first byte of option 53, None if absent or empty."""
        v = self.options.get(53)
        return v[0] if v else None

    @property
    def hwaddr(self) -> bytes:
        """Kea's ``HWAddr`` bytes: ``hlen`` of them (chaddr, zero padded for
        hlen 17-20)."""
        if self.hlen <= len(self.chaddr):
            return self.chaddr[:self.hlen]
        return self.chaddr + bytes(self.hlen - len(self.chaddr))

    @property
    def hwaddr_text(self) -> str:
        """``aa:bb:cc:dd:ee:ff`` (lowercase, Kea's ``HWAddr::toText(false)``)."""
        return self.hwaddr.hex(":")

    def get_option(self, code: int) -> Optional[bytes]:
        return self.options.get(code)

    def relay_suboptions(self) -> Dict[int, bytes]:
        """Option 82's sub-options, code -> payload in arrival order;
        reading stops at a sub-option that runs past the end (Kea tolerates
        it); repeated sub-option codes are concatenated as Kea fuses them."""
        rai = self.options.get(82)
        if not rai:
            return {}
        out: Dict[int, bytes] = {}
        for code, payload in _opts.parse_suboptions(rai):
            out[code] = out[code] + payload if code in out else payload
        return out


# --------------------------------------------------------------------------
# Fast per-option validation

def _check_min(size: int):
    def check(payload: bytes) -> Optional[bytes]:
        if len(payload) < size:
            raise OptionDecodeError("option truncated")
        return payload
    return check


def _check_int_array(size: int):
    def check(payload: bytes) -> Optional[bytes]:
        if not payload or len(payload) % size:
            raise OptionDecodeError("option array has a bad length")
        return payload
    return check


def _check_addr_list(payload: bytes) -> Optional[bytes]:
    if len(payload) % 4:
        raise OptionDecodeError("address list length not divisible by 4")
    return payload


def _check_string(payload: bytes) -> Optional[bytes]:
    if payload[-1:] == b"\x00":
        payload = payload.rstrip(b"\x00")
    return payload or None


def _check_any(payload: bytes) -> Optional[bytes]:
    return payload


def _validator(defn: OptionDefinition, definitions: OptionDefinitions):
    """A fast function with :func:`options.check_received_option`'s
    contract for common option classes, the generic one otherwise."""
    t = defn.type
    special = defn.space == DHCP4_SPACE and defn.code in (79, 81, 124, 125)
    if not special:
        size = _opts.FIXED_TYPE_SIZES.get(t, 0)
        if t == "binary" or (t == "empty" and not defn.encapsulate):
            return _check_any
        if t == "string":
            return _check_string
        if t in ("uint8", "uint16", "uint32", "int8", "int16", "int32"):
            return _check_int_array(size) if defn.array else _check_min(size)
        if t == "ipv4-address":
            return _check_addr_list if defn.array else _check_min(4)
        if t == "empty" and defn.encapsulate:
            return _check_any  # sub-option overruns are tolerated

    def check(payload: bytes) -> Optional[bytes]:
        return _opts.check_received_option(defn, payload, definitions)
    return check


_VALIDATORS: Dict[int, Dict[int, object]] = {}


def _validators_for(definitions: OptionDefinitions) -> Dict[int, object]:
    key = id(definitions)
    table = _VALIDATORS.get(key)
    if table is None or table.get(-1) is not definitions:  # type: ignore[comparison-overlap]
        table = {-1: definitions}
        for code in range(1, 255):
            if code in DEFERRED_CODES:
                continue
            d = definitions.get(DHCP4_SPACE, code)
            if d is not None:
                table[code] = _validator(d, definitions)
        if len(_VALIDATORS) > 64:
            _VALIDATORS.clear()
        _VALIDATORS[key] = table
    return table


# --------------------------------------------------------------------------
# Decoding

def decode(data: bytes, definitions: Optional[OptionDefinitions] = None) -> Packet4:
    """Parse one datagram as Kea 2.2 does; raises only :class:`MalformedPacket`.

    :param definitions: the option definitions in force (custom
        ``option-def`` entries of the ``dhcp4`` space are used by Kea's
        unpack too); the standard ones by default.
    """
    try:
        return _decode(bytes(data), definitions or STANDARD_DEFINITIONS)
    except MalformedPacket:
        raise
    except Exception as e:  # pragma: no cover - defensive: never escape
        raise MalformedPacket("unexpected parse failure: %r" % (e,))


def _decode(data: bytes, definitions: OptionDefinitions) -> Packet4:
    n = len(data)
    if n < HEADER_LEN:
        raise MalformedPacket("Truncated DHCPv4 packet (len=%d) received, at least "
                              "%d is expected." % (n, HEADER_LEN))
    (op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname,
     file_) = _HEADER.unpack_from(data)
    if hlen > 20:
        raise MalformedPacket("hwaddr length exceeds MAX_HWADDR_LEN (%d > 20)" % hlen)
    if n == HEADER_LEN:
        raise MalformedPacket("Received BOOTP packet without vendor information extensions.")
    if n - HEADER_LEN < 4:
        raise MalformedPacket("Truncated or no DHCP packet.")
    if data[HEADER_LEN:HEADER_LEN + 4] != _COOKIE_BYTES:
        raise MalformedPacket("Invalid or missing DHCP magic cookie")

    validators = _validators_for(definitions)
    opts: Dict[int, bytes] = {}
    fused: Optional[set] = None
    first: Optional[Dict[int, bytes]] = None
    skipped = ""
    i = HEADER_LEN + 4
    while i < n:
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= n:
            break
        j = i + 2 + data[i + 1]
        if j > n:
            break
        payload = data[i + 2:j]
        i = j
        if code == 12 and not payload:
            continue
        check = validators.get(code)
        if check is not None:
            try:
                payload = check(payload)  # type: ignore[operator]
            except SkipRemainingOptions as e:
                skipped = str(e)
                break
            except OptionDecodeError as e:
                raise MalformedPacket("option %d: %s" % (code, e))
            if payload is None:
                continue
        if code in opts:
            if fused is None:
                fused = set()
                first = {}
            if code not in fused:
                first[code] = opts[code]  # type: ignore[index]
                fused.add(code)
            opts[code] += payload
        else:
            opts[code] = payload
    if skipped and fused:
        # Kea's unpack threw before fuseOptions4: the first instance wins.
        for code, payload in first.items():  # type: ignore[union-attr]
            opts[code] = payload
        fused = None

    # Known header addresses (0.0.0.0, the relays) without a call each.
    known = _ADDRESSES.get
    # Positional, in Packet4's field order: matching sixteen keyword
    # arguments doubled the cost of building the packet (issue 8).
    return Packet4(
        op, htype, hlen, hops, xid, secs, flags,
        known(ci) or _address(ci), known(yi) or _address(yi), known(si) or _address(si),
        known(gi) or _address(gi), chaddr[:hlen] if hlen < 16 else chaddr,
        sname, file_, opts, frozenset(fused) if fused else _NO_CODES,
        length=n, options_skipped=skipped,
    )


# The header's addresses are mostly 0.0.0.0 and a few relays: IPv4Address
# values are immutable, so decoded ones are shared (bounded).
_ADDRESSES: Dict[bytes, IPv4Address] = {bytes(4): _ZERO}
_ADDRESSES_LIMIT = 4096


def _address(packed: bytes) -> IPv4Address:
    address = _ADDRESSES.get(packed)
    if address is None:
        if len(_ADDRESSES) >= _ADDRESSES_LIMIT:
            _ADDRESSES.clear()
            _ADDRESSES[bytes(4)] = _ZERO
        address = _ADDRESSES[packed] = IPv4Address(packed)
    return address


def _packed(address: IPv4Address) -> bytes:
    return _ZERO4 if address is _ZERO else address.packed


def _raw_options(area: bytes) -> List[Tuple[int, bytes]]:
    out: List[Tuple[int, bytes]] = []
    i = 0
    n = len(area)
    while i < n:
        code = area[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= n:
            break
        j = i + 2 + area[i + 1]
        if j > n:
            break
        out.append((code, area[i + 2:j]))
        i = j
    return out


def decode_overloaded_fields(packet: Packet4) -> Packet4:
    """RFC 2131 §4.1 / RFC 3396 overload (option 52): a copy of ``packet``
    whose options also include those found in ``file`` (52 = 1 or 3) and
    ``sname`` (52 = 2 or 3), concatenated in the RFC 3396 order (options
    field, then file, then sname).  Kea 2.2 does *not* do this; use it only
    where the RFC behaviour is wanted.  Nothing is validated."""
    ov = packet.options.get(52)
    if not ov:
        return packet
    areas = []
    if ov[0] in (1, 3):
        areas.append(packet.file)
    if ov[0] in (2, 3):
        areas.append(packet.sname)
    opts = dict(packet.options)
    fused = set(packet.fused)
    for area in areas:
        for code, payload in _raw_options(area):
            if code in opts:
                opts[code] = opts[code] + payload
                fused.add(code)
            else:
                opts[code] = payload
    return replace(packet, options=opts, fused=frozenset(fused))


# --------------------------------------------------------------------------
# Encoding

# Kea's splitOptions4 cuts a long option into pieces of 255 - header (2)
# bytes of data: a 300-byte option leaves as 253 + 47 (conformance
# opt-long-split, recorded from Kea 2.2; spec §1's "255 + 45" is wrong).
_SPLIT_CHUNK = 253


def _option_bytes(code: int, payload: bytes) -> bytes:
    ln = len(payload)
    if ln <= 255:
        return bytes((code, ln)) + payload
    parts = []
    for k in range(0, ln, _SPLIT_CHUNK):
        chunk = payload[k:k + _SPLIT_CHUNK]
        parts.append(bytes((code, len(chunk))))
        parts.append(chunk)
    return b"".join(parts)


def encode(packet: Packet4, sort_options: bool = True) -> bytes:
    """The packet's bytes as Kea's ``Pkt4::pack`` writes them.

    :param sort_options: Kea's order (53, ascending codes, 82 last); False
        keeps the mapping's order (for building queries in tests).
    """
    p = packet
    chaddr = p.chaddr
    if len(chaddr) != 16:
        chaddr = chaddr[:16].ljust(16, b"\x00")
    sname = p.sname if len(p.sname) == 64 else p.sname[:64].ljust(64, b"\x00")
    file_ = p.file if len(p.file) == 128 else p.file[:128].ljust(128, b"\x00")
    head = _HEADER.pack(
        p.op, p.htype, p.hlen if p.hlen < 16 else 16, p.hops, p.xid, p.secs, p.flags,
        _packed(p.ciaddr), _packed(p.yiaddr), _packed(p.siaddr), _packed(p.giaddr),
        chaddr, sname, file_)
    opts = p.options
    if sort_options:
        codes = sorted(opts)
        if 53 in opts:
            codes.remove(53)
            codes.insert(0, 53)
        if 82 in opts:
            codes.remove(82)
            codes.append(82)
    else:
        codes = list(opts)
    # One growing bytearray: a third cheaper per option than a list of
    # bytes((code, len)) and payload pieces joined at the end (issue 8).
    out = bytearray(head)
    out += _COOKIE_BYTES
    for code in codes:
        payload = opts[code]
        n = len(payload)
        if n <= 255:
            out.append(code)
            out.append(n)
            out += payload
        else:
            out += _option_bytes(code, payload)
    out.append(255)
    return bytes(out)
