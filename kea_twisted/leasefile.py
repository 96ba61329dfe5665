"""
Kea's memfile lease file, ``lease4.csv`` (spec/dhcp4.md §15): the row codec,
loading at startup, appending, and Lease File Cleanup (LFC).

The codec is pure; :class:`LeaseFile` and :func:`run_lfc` do file I/O.
Everything here is Kea 2.2's behaviour in our words, from
``src/lib/dhcpsrv/csv_lease_file4.cc``, ``src/lib/util/csv_file.cc``,
``versioned_csv_file.cc``, ``lease_file_loader.h``,
``memfile_lease_mgr.cc`` (``loadLeasesFromFiles``, ``lfcExecute``) and
``src/bin/lfc/lfc_controller.cc``, and checked against ``/usr/sbin/kea-lfc``
(tests/test_leasefile.py compares our compaction with its output byte for
byte).

Rows
----
One line per change, ``\\n``-terminated, no quoting: the columns of
:data:`HEADER`.  ``hostname`` and ``user_context`` escape ``,`` and ``&``
as ``&#x2c`` / ``&#x26`` — and nothing else (``CSVRow::escapeCharacters``
with the separator plus the escape tag's first character).  Reading undoes
any ``&#xHH`` with two hex digits; a tag without two hex digits is kept as
text, except at the very end of a value, where Kea's unescaper emits a NUL
byte instead (its length check lets the conversion "succeed" with the value
0).  Kea writes values through ``const char*``, so a hostname is cut at its
first NUL on the way out — ``x&#x4`` loads as ``"x\\x004"`` and is written
back as ``x``.

Kea's tolerance on reading (all observed with kea-lfc):

* numbers are ``boost::lexical_cast``: ``+5`` is 5, ``-1`` in an unsigned
  column wraps (valid lifetime 4294967295, expire 2**64-1), spaces are
  errors; booleans are ``[+]0*1`` or ``[+-]0*0`` only;
* the hostname is lowercased (ASCII only; ``Lease``'s constructor);
* ``user_context`` is re-read as JSON and must be a map; it is written back
  as Kea's ``Element::str()`` (sorted keys, ``{ "a": 1 }`` spacing, ``2.50``
  becomes ``2.5``) — "verbatim" only when already in that form;
* hw-address: ``:``-separated tokens of 1-2 hex digits, at most 20 bytes;
  client-id: ``:``- or space-separated tokens, or a plain hex run (optional
  ``0x``, odd length padded with a leading 0), 2 to 128 bytes;
* a row with neither hw-address nor client-id is an error unless declined;
* a row's column count is *not* checked by itself (Kea ignores the
  validator's verdict): a row fails only when a column it needs is missing,
  so extra trailing columns are accepted and ignored;
* header: the first non-blank line; its names must match ours position by
  position; at least up to ``hostname`` (9 columns) or the file is refused
  as a whole.  Older files (9 columns: no ``state``/``user_context``, or 10:
  no ``user_context``) load with ``state`` 0 and no context for short rows
  and set ``needs_conversion`` (Kea then runs an LFC at startup even with
  ``lfc-interval`` 0); longer headers (a newer Kea) drop the extra columns.
* blank lines are skipped and not counted; a ``\\r`` stays part of the last
  value (so a CRLF file's rows fail: ``nothing read`` from the JSON parser).

Divergence: Kea parses ``address`` with a generic parser and accepts an IPv6
address in ``lease4.csv``; here that row is an error.

Rows of the shape Kea writes (``_COMMON_ROW``) are read by one regular
expression and a few conversions; any other row, and every row of an older
schema, by the general reader, which has all the tolerance above.  Both
give the same lease or the same error (tests/test_leasefile.py
``CommonRowTests``); the fast one makes a million-row file load in a few
seconds.

Loading (``loadLeasesFromFiles``): ``<file>.completed`` if it exists, else
``<file>.2`` then ``<file>.1``; then ``<file>`` itself, which stays open for
appending (created with the header when missing or empty).  Later rows
replace earlier ones; a row with valid lifetime 0 removes the address.
``max-row-errors`` counts per file (0: no limit); one more error than
allowed fails the whole load.  A running LFC (``<file>.pid`` naming a live
process) refuses the load.  Files are read a line at a time, and the
leases come back as :class:`LeasesByAddress` (keyed by the address's
integer inside; hashing ``IPv4Address`` a million times is slow).

Appending: each row is written with one ``write(2)`` before :meth:`append`
returns — Kea's ``std::endl`` flush, no fsync.  ``flush_each_row=False``
groups rows until :meth:`LeaseFile.flush`, which the caller must run before
any reply leaves; :meth:`LeaseFile.grouped` does so for one stretch of work
(the UDP edge's receive backlog holds a turn's replies until it has ended).  Opening a file whose last row was torn (a crash mid-write,
a full disk) first ends that line, so the next row is not glued to the
fragment (a deliberate difference: Kea 2.2 appends blindly and loses it).

LFC: at the timer, :meth:`LeaseFile.rotate_for_lfc` renames ``<file>`` to
``<file>.1`` and reopens a fresh ``<file>`` (unless ``.completed`` or ``.1``
already exist); then the cleanup proper — :func:`run_lfc`, the blocking
equivalent of ``kea-lfc -4 -x <file>.2 -i <file>.1 -o <file>.output -f
<file>.completed -p <file>.pid`` — runs in a thread (``deferToThread``) or
the real ``kea-lfc`` is spawned with :meth:`LeaseFile.lfc_command`.
:func:`compact` is its pure core over the files' bytes.

Tests: tests/test_leasefile.py, tests/test_crash_durability.py
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import (
    Any, BinaryIO, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple,
)

from zope.interface import implementer

from kea_twisted.kea_json import KeaJSONError, from_json, kea_bytes, to_kea_text
from kea_twisted.leases import STATE_DECLINED, ILeaseSink, Lease4, gc_paused
from kea_twisted.logs import kea_logger

__all__ = [
    "COLUMNS",
    "HEADER",
    "MAX_LFC_ROW_ERRORS",
    "LeaseRowError",
    "LeaseFileError",
    "Schema",
    "CURRENT_SCHEMA",
    "LoadStats",
    "LeasesByAddress",
    "escape",
    "unescape",
    "format_row",
    "parse_header",
    "parse_row",
    "read_leases",
    "load_leases",
    "compact",
    "run_lfc",
    "LeaseFile",
    "lfc_paths",
]

log = kea_logger("dhcpsrv")

#: The columns of a Kea 2.2 ``lease4.csv`` (schema 2.1), in order.
COLUMNS: Tuple[str, ...] = (
    "address", "hwaddr", "client_id", "valid_lifetime", "expire", "subnet_id",
    "fqdn_fwd", "fqdn_rev", "hostname", "state", "user_context",
)

#: The header line, without its newline.
HEADER = ",".join(COLUMNS)

# Values given to columns an older file lacks (``addColumn`` defaults).
_DEFAULTS = ("", "", "", "", "", "", "", "", "", "0", "")
# A file must name at least the columns up to and including ``hostname``.
_MINIMUM_COLUMNS = COLUMNS.index("hostname") + 1

#: kea-lfc's own row-error limit per input file (``MAX_LEASE_ERRORS``).
MAX_LFC_ROW_ERRORS = 100

_ADDRESS, _HWADDR, _CLIENT_ID, _VALID, _EXPIRE, _SUBNET, _FWD, _REV, _HOSTNAME, _STATE, _CONTEXT = range(11)

_ESCAPE_TAG = "&#x"
_HEX = frozenset("0123456789abcdefABCDEF")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_LEXICAL_CAST_ERROR = "bad lexical cast: source type value could not be interpreted as target"
_STATE_NAMES = {0: "default", 1: "declined", 2: "expired-reclaimed"}


class LeaseRowError(ValueError):
    """One row cannot be read (or a lease cannot be written as a row)."""


class LeaseFileError(Exception):
    """A whole lease file cannot be used: bad header, too many row errors,
    a running LFC, a file that cannot be opened or written."""


# ---------------------------------------------------------------------------
# Escaping


def escape(text: str) -> str:
    """Kea's ``CSVRow::escapeCharacters`` for the ``,`` separator: ``,``
    and ``&`` become ``&#x2c`` and ``&#x26``; nothing else changes."""
    if "," not in text and "&" not in text:
        return text
    return text.replace("&", "&#x26").replace(",", "&#x2c")


def unescape(text: str) -> str:
    """Kea's ``CSVRow::unescapeCharacters``, quirks included (module doc)."""
    pos = text.find(_ESCAPE_TAG)
    if pos < 0:
        return text
    out: List[str] = []
    start = 0
    size = len(text)
    while pos >= 0:
        out.append(text[start:pos])
        digits = pos + len(_ESCAPE_TAG)
        value = 0
        converted = True
        # Kea checks room for two digits with ``<= size - 2``; with less
        # room the conversion is skipped and counts as done, value 0.
        if digits <= size - 2:
            pair = text[digits:digits + 2]
            if pair[0] in _HEX and pair[1] in _HEX:
                value = int(pair, 16)
                digits += 2
            else:
                converted = False
        if converted:
            out.append(chr(value))
            pos = digits
        else:
            out.append(_ESCAPE_TAG)
            pos += len(_ESCAPE_TAG)
        start = pos
        pos = text.find(_ESCAPE_TAG, start)
    out.append(text[start:])
    return "".join(out)


# ---------------------------------------------------------------------------
# Value readers (Kea's text parsers)


def _lexical_unsigned(text: str, bits: int) -> int:
    """``boost::lexical_cast`` to an unsigned type: optional sign, digits;
    a minus wraps modulo 2**bits; too large is an error."""
    body = text
    negative = False
    if body[:1] in ("+", "-"):
        negative = body[0] == "-"
        body = body[1:]
    if not body or not body.isascii() or not body.isdigit():
        raise LeaseRowError(_LEXICAL_CAST_ERROR)
    value = int(body)
    if value >= 1 << bits:
        raise LeaseRowError(_LEXICAL_CAST_ERROR)
    return (-value) % (1 << bits) if negative else value


def _lexical_bool(text: str) -> bool:
    """``boost::lexical_cast<bool>``: ends in 0 or 1, zeros before, an
    optional ``+`` (or ``-`` for false)."""
    if not text or text[-1] not in "01":
        raise LeaseRowError(_LEXICAL_CAST_ERROR)
    value = text[-1] == "1"
    body = text[:-1]
    if body[:1] == "+" or (body[:1] == "-" and not value):
        body = body[1:]
    if body.strip("0"):
        raise LeaseRowError(_LEXICAL_CAST_ERROR)
    return value


def _read_address(text: str) -> IPv4Address:
    try:
        return IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        raise LeaseRowError(f"Failed to convert string to address '{text}': Invalid argument") from None


def _decode_separated(text: str, separator: str) -> bytes:
    """Kea's ``decodeSeparatedHexString``."""
    tokens = text.split(separator)
    out = bytearray()
    for token in tokens:
        if len(tokens) > 1 and not token:
            raise LeaseRowError(
                f"two consecutive separators ('{separator}') specified in a decoded string '{text}'")
        if len(token) > 2:
            raise LeaseRowError(f"invalid format of the decoded string '{text}'")
        if token:
            for ch in token:
                if ch not in _HEX:
                    raise LeaseRowError(
                        f"'{ch}' is not a valid hexadecimal digit in decoded string '{text}'")
            out.append(int(token, 16))
    return bytes(out)


def _read_hwaddr(text: str) -> bytes:
    value = _decode_separated(text, ":")
    if len(value) > 20:
        raise LeaseRowError("address vector size exceeds MAX_HWADDR_LEN")
    return value


def _read_client_id(text: str) -> Optional[bytes]:
    """Kea's ``ClientId::fromText`` (``decodeFormattedHexString``)."""
    if not text:
        return None
    if ":" in text:
        value = _decode_separated(text, ":")
    elif " " in text:
        value = _decode_separated(text, " ")
    else:
        digits = ("0" if len(text) % 2 else "") + (text[2:] if len(text) > 2 and text[:2] == "0x" else text)
        if not all(ch in _HEX for ch in digits):
            raise LeaseRowError(f"'{text}' is not a valid string of hexadecimal digits")
        value = bytes.fromhex(digits)
    if not value:
        raise LeaseRowError("Empty DUIDs are not allowed")
    if len(value) > 128:
        raise LeaseRowError(f"DUID size is {len(value)} bytes, exceeds maximum of 128")
    if len(value) < 2:
        raise LeaseRowError(f"client-id is too short ({len(value)}), at least 2 is required")
    return value


def _read_context(text: str) -> Optional[Dict[str, Any]]:
    if not text:
        return None
    try:
        element = from_json(text)
    except KeaJSONError as e:
        raise LeaseRowError(str(e)) from None
    value = element.to_python()
    if not isinstance(value, dict):
        raise LeaseRowError(f"user context '{text}' is not a JSON map")
    return value


def _state_text(state: int) -> str:
    return _STATE_NAMES.get(state, f"unknown ({state})")


# ---------------------------------------------------------------------------
# Header and rows


@dataclass(frozen=True)
class Schema:
    """What a file's header says about its rows (``VersionedCSVFile``).

    ``valid_columns``: how many of our columns the header names (9 to 11);
    ``header_columns``: how many names the header has.
    """

    valid_columns: int = len(COLUMNS)
    header_columns: int = len(COLUMNS)

    @property
    def needs_upgrade(self) -> bool:
        return self.valid_columns < len(COLUMNS)

    @property
    def needs_downgrade(self) -> bool:
        return not self.needs_upgrade and self.header_columns > len(COLUMNS)

    @property
    def needs_conversion(self) -> bool:
        return self.needs_upgrade or self.needs_downgrade


#: The schema of files we write.
CURRENT_SCHEMA = Schema()


def parse_header(line: str) -> Schema:
    """Check a header line (``VersionedCSVFile::validateHeader``).

    :raises LeaseFileError: a misnamed column, or fewer than 9 columns.
    """
    names = line.split(",")
    count = 0
    for ours, theirs in zip(COLUMNS, names):
        if ours != theirs:
            raise LeaseFileError(f"invalid header '{line}': - header contains an invalid column: '{theirs}'")
        count += 1
    if count < _MINIMUM_COLUMNS:
        raise LeaseFileError(
            f"invalid header '{line}': - header has only {count} valid column(s), "
            f"it must have at least {_MINIMUM_COLUMNS}")
    return Schema(valid_columns=count, header_columns=len(names))


def _column(values: Sequence[str], index: int) -> str:
    if index >= len(values):
        raise LeaseRowError(
            f"value index '{index}' of the CSV row is out of bounds; "
            f"maximal index is '{len(values) - 1}'")
    return values[index]


# The row Kea itself writes, in the forms that need none of the reader's
# tolerance: a dotted quad, hw-address and client-id as ``:``-separated
# two-digit bytes (within their lengths), plain decimal numbers short enough
# not to overflow, a hostname with nothing to unescape or lowercase, exactly
# 11 columns.  Such a row reads the same through :func:`_parse_common_row`
# as through the general reader; any other row goes to the general reader.
_COMMON_ROW = re.compile(
    r"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}),"
    r"((?:[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){0,19})?),"
    r"((?:[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){1,127})?),"
    r"([0-9]{1,9}),([0-9]{1,19}),([0-9]{1,9}),([01]),([01]),"
    r"([^,&A-Z]*),([0-9]{1,9}),([^,]*)"
).fullmatch
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_from_bytes = int.from_bytes
_fromhex = bytes.fromhex
# Numbers that repeat from row to row (valid lifetime, subnet id, state)
# share one int object: a million leases then hold a few dozen of them.
_SHARED_INTS: Dict[str, int] = {}
_SHARED_INTS_MAX = 4096


def _shared_int(text: str) -> int:
    value = _SHARED_INTS.get(text)
    if value is None:
        value = int(text)
        if len(_SHARED_INTS) < _SHARED_INTS_MAX:
            _SHARED_INTS[text] = value
    return value


def _parse_common_row(line: str) -> Optional[Lease4]:
    """:func:`parse_row` for a row of the common shape (``_COMMON_ROW``),
    or None for any other row, or a row with an error (the general reader
    then gives Kea's reason)."""
    match = _COMMON_ROW(line)
    if match is None:
        return None
    (address, hwaddr, client_id, valid, expire, subnet_id, fwd, rev,
     hostname, state, context) = match.groups()
    try:
        packed = _inet_pton(_AF_INET, address)
    except OSError:
        return None
    hwaddr_value = _fromhex(hwaddr.replace(":", "")) if hwaddr else b""
    client_id_value = _fromhex(client_id.replace(":", "")) if client_id else None
    shared = _SHARED_INTS.get
    state_value = shared(state)
    if state_value is None:
        state_value = _shared_int(state)
    if not hwaddr_value and client_id_value is None and state_value != STATE_DECLINED:
        return None
    if context:
        try:
            user_context = _read_context(unescape(context))
        except LeaseRowError:
            return None
    else:
        user_context = None
    valid_value = shared(valid)
    if valid_value is None:
        valid_value = _shared_int(valid)
    subnet_value = shared(subnet_id)
    if subnet_value is None:
        subnet_value = _shared_int(subnet_id)
    return Lease4(
        IPv4Address(_from_bytes(packed, "big")),
        hwaddr_value,
        client_id_value,
        valid_value,
        int(expire) - valid_value,
        subnet_value,
        fwd == "1",
        rev == "1",
        hostname,
        state_value,
        user_context,
    )


def parse_row(line: str, schema: Schema = CURRENT_SCHEMA) -> Lease4:
    """One row (without its newline) as a lease (``CSVLeaseFile4::next``).

    :raises LeaseRowError: with Kea's reason.
    """
    if not schema.needs_upgrade:
        lease = _parse_common_row(line)
        if lease is not None:
            return lease
    return _parse_any_row(line, schema)


def _parse_any_row(line: str, schema: Schema) -> Lease4:
    """:func:`parse_row` for every row Kea accepts (and Kea's reason for
    every row it refuses)."""
    values = line.split(",")
    if schema.needs_upgrade and schema.valid_columns <= len(values) < len(COLUMNS):
        values.extend(_DEFAULTS[len(values):])
    address = _read_address(_column(values, _ADDRESS))
    client_id = _read_client_id(_column(values, _CLIENT_ID))
    hwaddr = _read_hwaddr(_column(values, _HWADDR))
    state = _lexical_unsigned(_column(values, _STATE), 32)
    if not hwaddr and not client_id and state != STATE_DECLINED:
        raise LeaseRowError(
            f"Lease4: {address}, state: {_state_text(state)} has neither hardware address or client id")
    user_context = _read_context(unescape(_column(values, _CONTEXT)))
    valid_lifetime = _lexical_unsigned(_column(values, _VALID), 32)
    expire = _lexical_unsigned(_column(values, _EXPIRE), 64)
    subnet_id = _lexical_unsigned(_column(values, _SUBNET), 32)
    fqdn_fwd = _lexical_bool(_column(values, _FWD))
    fqdn_rev = _lexical_bool(_column(values, _REV))
    hostname = unescape(_column(values, _HOSTNAME)).translate(_ASCII_LOWER)
    return Lease4(
        address=address,
        hwaddr=hwaddr,
        client_id=client_id,
        valid_lifetime=valid_lifetime,
        cltt=expire - valid_lifetime,
        subnet_id=subnet_id,
        fqdn_fwd=fqdn_fwd,
        fqdn_rev=fqdn_rev,
        hostname=hostname,
        state=state,
        user_context=user_context,
    )


def format_row(lease: Lease4) -> str:
    """The row Kea appends for ``lease`` (``CSVLeaseFile4::append``),
    without the newline.

    :raises LeaseRowError: a lease with neither hw-address nor client-id
        that is not declined (Kea refuses to write it).
    """
    if not lease.hwaddr and not lease.client_id and lease.state != STATE_DECLINED:
        raise LeaseRowError(
            f"Lease4: {lease.address}, state: {_state_text(lease.state)} "
            "has neither hardware address or client id")
    hostname = escape(lease.hostname)
    nul = hostname.find("\0")
    if nul >= 0:
        hostname = hostname[:nul]
    return ",".join((
        str(lease.address),
        lease.hwaddr.hex(":"),
        lease.client_id.hex(":") if lease.client_id else "",
        str(lease.valid_lifetime),
        str((lease.cltt + lease.valid_lifetime) % (1 << 64)),
        str(lease.subnet_id),
        "1" if lease.fqdn_fwd else "0",
        "1" if lease.fqdn_rev else "0",
        hostname,
        str(lease.state),
        escape(to_kea_text(lease.user_context)) if lease.user_context is not None else "",
    ))


def _encode(text: str) -> bytes:
    return kea_bytes(text)


# ---------------------------------------------------------------------------
# Reading whole files


@dataclass
class LoadStats:
    """What loading read (Kea's ``getReads``/``getReadLeases``/``getReadErrs``
    summed over the files; ``reads`` does not count the end of file)."""

    files: List[str] = field(default_factory=list)
    reads: int = 0
    read_leases: int = 0
    read_errors: int = 0
    #: ``(file, row number within the file, Kea's reason)``.
    errors: List[Tuple[str, int, str]] = field(default_factory=list)
    #: Some file had an older or newer header: Kea schedules an LFC.
    needs_conversion: bool = False


def _split_lines(data: bytes) -> Iterable[str]:
    # ``std::getline``: split on LF only; Kea's strings are bytes.
    text = data.decode("latin-1")
    for line in text.split("\n"):
        if line:
            yield line


def _file_lines(f: BinaryIO) -> Iterator[str]:
    """:func:`_split_lines` over an open binary file, a line at a time (a
    large file is never held whole)."""
    for raw in f:
        line = raw[:-1] if raw[-1:] == b"\n" else raw
        if line:
            yield line.decode("latin-1")


class LeasesByAddress(Mapping):
    """What :func:`load_leases` answers: leases by ``IPv4Address``, held
    by the address as an integer (hashing an ``IPv4Address`` costs several
    times more, a million times over at startup).  Read-only; iterates in
    the order the addresses were first read."""

    __slots__ = ("by_int",)

    def __init__(self, by_int: Optional[Dict[int, Lease4]] = None):
        #: The same leases keyed by ``int(address)``.
        self.by_int: Dict[int, Lease4] = {} if by_int is None else by_int

    def __getitem__(self, address: IPv4Address) -> Lease4:
        if not isinstance(address, IPv4Address):
            raise KeyError(address)
        return self.by_int[int(address)]

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPv4Address) and int(address) in self.by_int

    def __iter__(self) -> Iterator[IPv4Address]:
        return (lease.address for lease in self.by_int.values())

    def __len__(self) -> int:
        return len(self.by_int)

    def values(self):  # type: ignore[override]
        return self.by_int.values()

    def __repr__(self) -> str:
        return f"LeasesByAddress({len(self.by_int)} leases)"


def read_leases(
    data: bytes,
    leases: Dict[IPv4Address, Lease4],
    *,
    name: str = "<lease file>",
    max_row_errors: int = 0,
    stats: Optional[LoadStats] = None,
    check: Optional[Callable[[Lease4], Optional[Lease4]]] = None,
) -> LoadStats:
    """Apply one file's rows to ``leases`` (``LeaseFileLoader::load``).

    :param data: the file's bytes (empty: nothing, Kea creates the header).
    :param check: Kea's sanity checker seam: returns the lease to keep
        (possibly changed) or None to skip it.
    :raises LeaseFileError: bad header, or more than ``max_row_errors``
        (non-zero) row errors in this file.
    """
    stats = stats if stats is not None else LoadStats()

    def put(lease: Lease4) -> None:
        leases[lease.address] = lease

    def remove(lease: Lease4) -> None:
        leases.pop(lease.address, None)

    _read_rows(_split_lines(data), not data, name, max_row_errors, stats, check, put, remove)
    return stats


def _read_rows(
    lines: Iterable[str],
    empty: bool,
    name: str,
    max_row_errors: int,
    stats: LoadStats,
    check: Optional[Callable[[Lease4], Optional[Lease4]]],
    put: Callable[[Lease4], None],
    remove: Callable[[Lease4], None],
) -> None:
    """The loop of :func:`read_leases` over one file's non-blank lines
    (``empty``: the file has no bytes at all)."""
    stats.files.append(name)
    log.info("{msgid} loading leases from file {file}", msgid="DHCPSRV_MEMFILE_LEASE_FILE_LOAD", file=name)
    if empty:
        return
    lines = iter(lines)
    header = next(lines, "")
    try:
        schema = parse_header(header)
    except LeaseFileError as e:
        raise LeaseFileError(f"{e} in CSV file '{name}'") from None
    errors = 0
    reads = 0
    read_leases = 0
    common_rows = not schema.needs_upgrade
    try:
        for line in lines:
            reads += 1
            # parse_row, inlined: most rows are of the common shape.
            lease: Optional[Lease4] = _parse_common_row(line) if common_rows else None
            try:
                if lease is None:
                    lease = _parse_any_row(line, schema)
            except LeaseRowError as e:
                stats.read_errors += 1
                stats.errors.append((name, reads, str(e)))
                log.error("{msgid} discarding row {row}, error: {reason}",
                          msgid="DHCPSRV_MEMFILE_LEASE_LOAD_ROW_ERROR", row=reads, reason=str(e))
                errors += 1
                if max_row_errors and errors > max_row_errors:
                    raise LeaseFileError(
                        f"exceeded maximum number of failures {max_row_errors} to read a lease "
                        f"from the lease file {name}") from None
                continue
            read_leases += 1
            if check is not None:
                lease = check(lease)
                if lease is None:
                    continue
            if lease.valid_lifetime == 0:
                remove(lease)
            else:
                put(lease)
    finally:
        stats.reads += reads
        stats.read_leases += read_leases
    if schema.needs_conversion:
        stats.needs_conversion = True
        if schema.needs_upgrade:
            log.warn("{msgid} version of lease file: {file} schema is earlier than version 2.1",
                     msgid="DHCPSRV_MEMFILE_NEEDS_UPGRADING", file=name)
        else:
            log.warn("{msgid} version of lease file: {file} schema is later than version 2.1",
                     msgid="DHCPSRV_MEMFILE_NEEDS_DOWNGRADING", file=name)


def _open_file(path: str) -> Optional[BinaryIO]:
    """The file open for reading, or None if it does not exist."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise LeaseFileError(f"unable to open '{path}': {e.strerror}") from None


def _read_file(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise LeaseFileError(f"unable to open '{path}': {e.strerror}") from None


def lfc_paths(path: str) -> Dict[str, str]:
    """Kea's ``appendSuffix`` names around a lease file."""
    return {
        "input": path + ".1",
        "previous": path + ".2",
        "output": path + ".output",
        "finish": path + ".completed",
        "pid": path + ".pid",
    }


def _pid_running(pid_path: str) -> bool:
    """Kea's ``PIDFile::check``: the file names a process that exists."""
    data = _read_file(pid_path)
    if data is None:
        return False
    try:
        pid = int(data.split()[0]) if data.split() else None
    except ValueError:
        pid = None
    if pid is None:
        raise LeaseFileError(f"unable to read PID from file '{pid_path}'")
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def load_leases(
    path: str,
    max_row_errors: int = 0,
    check: Optional[Callable[[Lease4], Optional[Lease4]]] = None,
) -> Tuple[LeasesByAddress, LoadStats]:
    """Everything Kea loads at startup for lease file ``path``, in its
    order (``.completed``, else ``.2`` then ``.1``; then the file).
    The files are read a line at a time.

    :raises LeaseFileError: an LFC is running, a header is bad, or a file
        has too many row errors.
    """
    paths = lfc_paths(path)
    if _pid_running(paths["pid"]):
        raise LeaseFileError("unable to load leases from files while the lease file cleanup is in progress")
    by_int: Dict[int, Lease4] = {}
    stats = LoadStats()

    def put(lease: Lease4) -> None:
        by_int[int(lease.address)] = lease

    def remove(lease: Lease4) -> None:
        by_int.pop(int(lease.address), None)

    finish = _open_file(paths["finish"])
    if finish is not None:
        names = [paths["finish"]]
        finish.close()
    else:
        names = [paths["previous"], paths["input"]]
    names.append(path)
    for name in names:
        f = _open_file(name)
        if f is None:
            continue
        with f, gc_paused():
            try:
                empty = os.fstat(f.fileno()).st_size == 0
                _read_rows(_file_lines(f), empty, name, max_row_errors, stats, check, put, remove)
            except OSError as e:
                raise LeaseFileError(f"unable to read '{name}': {e.strerror}") from None
    return LeasesByAddress(by_int), stats


# ---------------------------------------------------------------------------
# LFC


def compact(files: Iterable[bytes], max_row_errors: int = MAX_LFC_ROW_ERRORS) -> bytes:
    """The pure core of ``kea-lfc``: load the files in order (previous
    result, then the copy of the live file), keep the last row per address,
    drop addresses whose last row is a deletion, and write what remains in
    address order under the current header — byte for byte what kea-lfc
    writes.  Expired leases, unknown subnet ids and declined leases stay.

    :raises LeaseFileError: a bad header or too many row errors in a file
        (kea-lfc then gives up without rotating anything).
    """
    rows = _compacted_rows([(_split_lines(data), not data) for data in files], max_row_errors)
    rows.append("")
    return _encode("\n".join(rows))


def _compacted_rows(inputs: Iterable[Tuple[Iterable[str], bool]], max_row_errors: int) -> List[str]:
    """The lines :func:`compact` writes, header first, from each input's
    non-blank lines and whether it is empty.  A surviving lease is kept as
    its row text, not as a :class:`Lease4` (a third of the memory: the
    cleanup runs beside the server's own copy of every lease)."""
    rows: Dict[int, str] = {}

    def put(lease: Lease4) -> None:
        rows[int(lease.address)] = format_row(lease)

    def remove(lease: Lease4) -> None:
        rows.pop(int(lease.address), None)

    stats = LoadStats()
    for index, (lines, empty) in enumerate(inputs):
        _read_rows(lines, empty, f"<lfc input {index}>", max_row_errors, stats, None, put, remove)
    compacted = [HEADER]
    compacted.extend(rows[address] for address in sorted(rows))
    return compacted


def run_lfc(path: str) -> bool:
    """What ``kea-lfc -4 -x <path>.2 -i <path>.1 -o <path>.output -f
    <path>.completed -p <path>.pid`` does, blocking (run it in a thread).

    Returns False when another cleanup holds the PID file or the
    compaction failed (then nothing is rotated), True otherwise.  After
    success ``<path>.2`` holds the compacted leases and ``.1`` is gone.
    """
    paths = lfc_paths(path)
    if _pid_running(paths["pid"]):
        log.error("{msgid} LFC instance already running", msgid="LFC_RUNNING")
        return False
    with open(paths["pid"], "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        if not os.path.exists(paths["finish"]):
            # compact(), reading and writing a line at a time.
            opened = [f for f in (_open_file(paths["previous"]), _open_file(paths["input"])) if f is not None]
            try:
                rows = _compacted_rows(
                    [(_file_lines(f), os.fstat(f.fileno()).st_size == 0) for f in opened], MAX_LFC_ROW_ERRORS)
            except LeaseFileError as e:
                log.error("{msgid} : {reason}", msgid="LFC_FAIL_PROCESS", reason=str(e))
                return False
            finally:
                for f in opened:
                    f.close()
            with open(paths["output"], "wb") as f:
                for start in range(0, len(rows), 8192):
                    f.write(_encode("\n".join(rows[start:start + 8192]) + "\n"))
            del rows
            os.rename(paths["output"], paths["finish"])
        for name in (paths["previous"], paths["input"]):
            try:
                os.remove(name)
            except FileNotFoundError:
                pass
        os.rename(paths["finish"], paths["previous"])
        return True
    finally:
        try:
            os.remove(paths["pid"])
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------------------
# The live file


@implementer(ILeaseSink)
class LeaseFile:
    """The lease file a running server appends to.

    :param path: ``lease-database.name``.
    :param flush_each_row: write every row at once (Kea); False keeps rows
        until :meth:`flush`, which must run before any reply leaves.
    """

    def __init__(self, path: str, *, flush_each_row: bool = True):
        self.path = path
        self.paths = lfc_paths(path)
        self.flush_each_row = flush_each_row
        self._fd: Optional[int] = None
        self._pending: List[bytes] = []

    # -- startup -----------------------------------------------------------

    def load(
        self,
        max_row_errors: int = 0,
        check: Optional[Callable[[Lease4], Optional[Lease4]]] = None,
    ) -> Tuple[LeasesByAddress, LoadStats]:
        """:func:`load_leases` for this path, then :meth:`open`."""
        leases, stats = load_leases(self.path, max_row_errors, check)
        self.open()
        return leases, stats

    def open(self) -> None:
        """Open the file for appending: a missing or empty file gets the
        header; an existing one must have a valid header (rows keep being
        written with all current columns, as Kea does)."""
        self.close()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise LeaseFileError(f"unable to open '{self.path}': {e.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                _write_all(fd, _encode(HEADER + "\n"))
            else:
                parse_header(_first_line(self.path))
                if _last_byte(self.path, size) != b"\n":
                    # A row torn by a crash or a full disk: end its line, or
                    # the next row would be glued to it and lost on load
                    # (Kea 2.2 appends blindly).
                    _write_all(fd, b"\n")
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    # -- appending ---------------------------------------------------------

    def append(self, lease: Lease4) -> None:
        """Write ``lease``'s row (deletion rows have valid lifetime 0).

        :raises LeaseRowError: a lease Kea refuses to write.
        :raises LeaseFileError: the file is closed or the write failed.
        """
        if self._fd is None:
            raise LeaseFileError(f"closed stream when performing 'append' on file '{self.path}'")
        data = _encode(format_row(lease) + "\n")
        if self.flush_each_row:
            self._write(data)
        else:
            self._pending.append(data)

    @contextmanager
    def grouped(self) -> Iterator[None]:
        """Rows appended inside are written together, with one
        ``write(2)``, when the block ends — also when it raises; a failing
        write raises :class:`LeaseFileError` from the block's end.  Rows
        appended outside stay written at once.  The caller sends no reply
        produced inside before the block has ended without error."""
        previous = self.flush_each_row
        self.flush_each_row = False
        try:
            yield
        finally:
            self.flush_each_row = previous
            self.flush()

    def flush(self) -> None:
        """Write the rows kept by ``flush_each_row=False``."""
        if self._pending and self._fd is not None:
            data = b"".join(self._pending)
            self._pending = []
            self._write(data)

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        try:
            _write_all(self._fd, data)
        except OSError as e:
            raise LeaseFileError(f"failed to write CSV row to the file '{self.path}': {e.strerror}") from None

    def close(self) -> None:
        """Flush and close (closing twice is fine)."""
        if self._fd is not None:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._fd = None

    # -- LFC ---------------------------------------------------------------

    def rotate_for_lfc(self) -> bool:
        """The file side of Kea's ``lfcExecute``, at the LFC timer.

        If neither ``.completed`` nor ``.1`` exists, the live file becomes
        ``.1`` and a fresh one (header only) is opened; otherwise nothing
        moves (a previous cleanup has not finished).  Returns whether the
        cleanup should run now (False only when the rename or the reopen
        failed; after a failed reopen the file stays closed and appends
        raise, where Kea silently stops persisting).
        """
        if os.path.exists(self.paths["finish"]) or os.path.exists(self.paths["input"]):
            return True
        self.close()
        ok = True
        try:
            os.rename(self.path, self.paths["input"])
        except OSError as e:
            ok = False
            log.error("{msgid} failed to rename the current lease file {file} to {copy}, reason: {reason}",
                      msgid="DHCPSRV_MEMFILE_LFC_LEASE_FILE_RENAME_FAIL", file=self.path,
                      copy=self.paths["input"], reason=e.strerror)
        try:
            self.open()
        except LeaseFileError as e:
            log.error("{msgid} failed to reopen lease file {file} after preparing input file "
                      "for lease file cleanup, reason: {reason}",
                      msgid="DHCPSRV_MEMFILE_LFC_LEASE_FILE_REOPEN_FAIL", file=self.path, reason=str(e))
            return False
        return ok

    def lfc_command(self, binary: str = "/usr/sbin/kea-lfc", config: str = "ignored-path") -> List[str]:
        """Kea's kea-lfc command line for this file (``LFCSetup``)."""
        p = self.paths
        return [binary, "-4", "-x", p["previous"], "-i", p["input"], "-o", p["output"],
                "-f", p["finish"], "-p", p["pid"], "-c", config]


def _last_byte(path: str, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1)


def _first_line(path: str) -> str:
    """The first non-blank line of a file (its header), read in chunks."""
    buffered = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(65536)
            buffered = (buffered + chunk).lstrip(b"\n")
            end = buffered.find(b"\n")
            if end >= 0:
                return buffered[:end].decode("latin-1")
            if not chunk:
                return buffered.decode("latin-1")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
