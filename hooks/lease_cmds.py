"""
Kea 2.2's lease commands hook library (``libdhcp_lease_cmds.so``) for
kea-dhcp4: ``lease4-*`` over the server's memfile lease store, and the
``lease6-*`` commands Kea registers in kea-dhcp4 too, answering against its
(always empty) IPv6 side.

Everything follows spec/lease_cmds.md, observed on real Kea 2.2, and Kea's
``src/hooks/dhcp/lease_cmds/{lease_cmds.cc,lease_parser.cc}``:

* Texts and result codes are Kea's, including the ``(<wire>:0:N)``
  positions of SimpleParser errors and Kea's ``Element`` type errors
  (``get(string) called on a non-map Element in (…)``, through
  :mod:`kea_twisted.commands`' accessors).  Positions come from the
  positioned command when the command table hands it over as the handle
  argument ``command_element``; otherwise the command is rebuilt from
  plain values: SimpleParser errors then read ``(<string>:0:0)``, Kea's
  position for an element built in code, and type errors have none.
* ``lease4-add``/``-update`` parse a whole lease (:func:`parse_lease4`):
  unknown keys are ignored, the hostname is lowercased (Kea's ``Lease``
  constructor, ASCII only), ``expire`` sets ``cltt = expire - valid-lft``;
  an update **replaces** the lease (fields not given take their defaults).
* Statistics move as Kea's ``updateStatsOn{Add,Update,Delete}`` move them
  (spec §11.2), including Kea's quirk that a 0 → 2 update leaves
  ``assigned-addresses`` as it was.  ``lease4-wipe`` zeroes the subnet
  counters; ``lease6-wipe`` in kea-dhcp4 touches the v6 names and, in its
  all-subnets form, zeroes the global ``declined-addresses`` [obs].
* lease4.csv rows are the store's business (the memfile store writes one
  row per change before applying it; a deletion is the old lease with
  valid-lft 0).
* With an SQL lease database the server's ``store`` answers with Deferreds
  on the reactor thread and offers ``call_with_store(fn)``
  (:class:`kea_twisted.pgsql.ThreadedLeaseStore`): each command then runs,
  whole, on the store's thread against the blocking store, between two
  packets, its statistics funnelled back to the reactor
  (:class:`kea_twisted.threaded.StatsFunnel`); the callout answers a
  Deferred.  ``lease4-wipe`` there answers Kea 2.2's
  ``wipeLeases4 is not implemented for PostgreSQL backend``.  A lease with neither hw-address nor client-id is refused
  by the lease file writer with Kea's text, as in Kea with ``persist``.

Where kea_twisted differs from Kea 2.2 on purpose (docs/compatibility.md):

* ``lease4-resend-ddns`` and ``lease6-resend-ddns`` without ``arguments``
  abort kea-dhcp4 2.2 (a null pointer, spec §10 and observed for both);
  here they answer result 1 ``'ip-address' parameter is missing.`` like
  the ``{}`` form.
* kea_twisted has no DHCP-DDNS client: when ``dhcp-ddns.enable-updates``
  is on, ``lease4-resend-ddns`` answers Kea's success text but no
  NameChangeRequest leaves (logged as a warning), as with Kea when D2 is
  unreachable; ``lease4-del`` with ``update-ddns`` likewise.
* ``lease4-get-all`` with ``subnets`` lists each subnet's leases by
  address; Kea's memfile lists them in insertion order.

Tests: tests/test_lease_cmds.py, tests/test_pgsql_server.py (over PostgreSQL)
"""

from __future__ import annotations

import string
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, Callable, Dict, List, NoReturn, Optional, Tuple, Union

from zope.interface import implementer

from kea_twisted.commands import (
    RESULT_EMPTY,
    RESULT_ERROR,
    RESULT_SUCCESS,
    CommandError,
    ElementTypeError,
    answer,
    element_get as _get,
    int_value as _int_value,
    string_value as _string_value,
)
from kea_twisted.config.element import Element, MapElement, from_python
from kea_twisted.hooks import IHookLibrary
from kea_twisted.kea_json import to_kea_text
from kea_twisted.leases import (
    STATE_DECLINED,
    STATE_EXPIRED_RECLAIMED,
    Lease4,
    NoSuchLease,
)
from kea_twisted.leasefile import LeaseRowError
from kea_twisted.logs import kea_logger
from kea_twisted.stats import subnet_stat_name

__all__ = [
    "LeaseCmds",
    "LeaseCommands",
    "lease_cmds",
    "COMMANDS",
    "V4_COMMANDS",
    "V6_COMMANDS",
    "lease_to_element",
    "parse_lease4",
    "parse_lease4_plain",
    "hwaddr_from_text",
    "client_id_from_text",
    "duid_from_text",
]

log = kea_logger("lease-cmds-hooks")

V4_COMMANDS = (
    "lease4-add", "lease4-del", "lease4-get", "lease4-get-all",
    "lease4-get-by-client-id", "lease4-get-by-hostname",
    "lease4-get-by-hw-address", "lease4-get-page", "lease4-resend-ddns",
    "lease4-update", "lease4-wipe",
)
V6_COMMANDS = (
    "lease6-add", "lease6-bulk-apply", "lease6-del", "lease6-get",
    "lease6-get-all", "lease6-get-by-duid", "lease6-get-by-hostname",
    "lease6-get-page", "lease6-resend-ddns", "lease6-update", "lease6-wipe",
)
#: Every command the library registers (Kea's ``load()`` registers all of
#: them in kea-dhcp4, spec §12).
COMMANDS = V4_COMMANDS + V6_COMMANDS

_MAX_UINT32 = 2**32 - 1
_MAX_HWADDR_LEN = 20  # Kea's HWAddr::MAX_HWADDR_LEN
_MAX_DUID_LEN = 128  # Kea's DUID::MAX_DUID_LEN
_MIN_CLIENT_ID_LEN = 2
# An element built in code has Kea's ZERO_POSITION.
_ZERO_POSITION = "<string>:0:0"
_HEX_DIGITS = frozenset(string.hexdigits)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_LEASE_TYPES = {"IA_NA": "IA_NA", "0": "IA_NA", "IA_TA": "IA_TA", "1": "IA_TA",
                "IA_PD": "IA_PD", "2": "IA_PD", "V4": "V4", "3": "V4"}


class _Empty(Exception):
    """A lookup that found nothing: result 3 with this text."""


# ---------------------------------------------------------------------------
# Kea's Element and SimpleParser accessors, with Kea's texts


def _where(element: Optional[Element]) -> str:
    pos = getattr(element, "pos", None)
    return str(pos) if pos is not None else _ZERO_POSITION


def _contains(scope: Element, key: str) -> bool:
    """``scope->contains(key)``."""
    if not isinstance(scope, MapElement):
        raise ElementTypeError("contains(string) called on a non-map Element", scope)
    return key in scope


def _required(scope: Element, name: str, kind: str) -> Element:
    # SimpleParser::getString/getInteger/getBoolean: a missing key names the
    # scope's position, a wrong type the value's.
    value = _get(scope, name)
    if value is None:
        raise CommandError(f"missing parameter '{name}' ({_where(scope)})")
    if value.kind != kind:
        raise CommandError(f"invalid type specified for parameter '{name}' ({_where(value)})")
    return value


def _get_string(scope: Element, name: str) -> str:
    return _required(scope, name, "string").to_python()


def _get_integer(scope: Element, name: str) -> int:
    return _required(scope, name, "integer").to_python()


def _get_boolean(scope: Element, name: str) -> bool:
    return _required(scope, name, "boolean").to_python()


def _get_unsigned(scope: Element, name: str, bits: int) -> int:
    # SimpleParser::getIntType<uintN_t>.
    value = _get_integer(scope, name)
    if not 0 <= value < (1 << bits):
        raise CommandError(f"out of range value ({value}) specified for parameter "
                           f"'{name}' ({_where(scope.get(name))})")
    return value


def _parse_ip(text: str) -> Union[IPv4Address, IPv6Address]:
    """``IOAddress(text)``; ValueError with Kea's text."""
    try:
        return ip_address(text)
    except ValueError:
        raise ValueError(f"Failed to convert string to address '{text}': Invalid argument") from None


def _get_address(scope: Element, name: str) -> Union[IPv4Address, IPv6Address]:
    # SimpleParser::getAddress: note no space before the position.
    text = _get_string(scope, name)
    try:
        return _parse_ip(text)
    except ValueError as error:
        raise CommandError(f"Failed to convert '{text}' to address: {error}"
                           f"({_where(scope.get(name))})") from None


# ---------------------------------------------------------------------------
# Identifiers as Kea reads them (isc::util::str, HWAddr, DUID, ClientId)


def _decode_separated(text: str, separator: str) -> bytes:
    """``decodeSeparatedHexString``: groups of one or two hex digits."""
    groups = text.split(separator)
    out = bytearray()
    for group in groups:
        if len(groups) > 1 and not group:
            raise CommandError(f"two consecutive separators ('{separator}') specified in"
                               f" a decoded string '{text}'")
        if len(group) > 2:
            raise CommandError(f"invalid format of the decoded string '{text}'")
        for char in group:
            if char not in _HEX_DIGITS:
                raise CommandError(f"'{char}' is not a valid hexadecimal digit in"
                                   f" decoded string '{text}'")
        if group:
            out.append(int(group, 16))
    return bytes(out)


def _decode_formatted(text: str) -> bytes:
    """``decodeFormattedHexString``: colon- or space-separated groups, or
    plain hex (an odd count gets a leading 0, ``0x`` is allowed, white
    space inside is skipped by Kea's base16 decoder)."""
    if ":" in text:
        return _decode_separated(text, ":")
    if " " in text:
        return _decode_separated(text, " ")
    digits = text[2:] if len(text) > 2 and text.startswith("0x") else text
    digits = ("0" if len(text) % 2 else "") + digits
    digits = "".join(c for c in digits if c not in "\t\n\v\f\r")
    if len(digits) % 2 or any(c not in _HEX_DIGITS for c in digits):
        raise CommandError(f"'{text}' is not a valid string of hexadecimal digits")
    return bytes.fromhex(digits)


def hwaddr_from_text(text: str) -> bytes:
    """Kea's ``HWAddr::fromText``: colon-separated groups of 1-2 hex
    digits, at most 20 bytes; ``""`` is no hw-address.

    :raises CommandError: with Kea's text.
    """
    data = _decode_separated(text, ":")
    if len(data) > _MAX_HWADDR_LEN:
        raise CommandError("address vector size exceeds MAX_HWADDR_LEN")
    return data


def duid_from_text(text: str) -> bytes:
    """Kea's ``DUID::fromText``: 1 to 128 bytes."""
    data = _decode_formatted(text)
    if len(data) > _MAX_DUID_LEN:
        raise CommandError(f"DUID size is {len(data)} bytes, exceeds maximum of {_MAX_DUID_LEN}")
    if not data:
        raise CommandError("Empty DUIDs are not allowed")
    return data


def client_id_from_text(text: str) -> bytes:
    """Kea's ``ClientId::fromText``: a DUID of at least 2 bytes."""
    data = duid_from_text(text)
    if len(data) < _MIN_CLIENT_ID_LEN:
        raise CommandError(f"client-id is too short ({len(data)}), at least "
                           f"{_MIN_CLIENT_ID_LEN} is required")
    return data


# ---------------------------------------------------------------------------
# Leases as JSON


def lease_to_element(lease: Lease4) -> Dict[str, Any]:
    """Kea's ``Lease4::toElement``, keys in Kea's (byte) order:
    ``client-id`` only when the lease has one, ``user-context`` only when
    set, ``hostname`` always; no ``expire`` (spec §1)."""
    element: Dict[str, Any] = {}
    if lease.client_id:
        element["client-id"] = lease.client_id.hex(":")
    element["cltt"] = lease.cltt
    element["fqdn-fwd"] = lease.fqdn_fwd
    element["fqdn-rev"] = lease.fqdn_rev
    element["hostname"] = lease.hostname
    element["hw-address"] = lease.hwaddr.hex(":")
    element["ip-address"] = str(lease.address)
    element["state"] = lease.state
    element["subnet-id"] = lease.subnet_id
    if lease.user_context is not None:
        element["user-context"] = lease.user_context
    element["valid-lft"] = lease.valid_lifetime
    return element


def _leases_answer(leases: List[Lease4], family: str = "4", count: bool = False) -> Dict[str, Any]:
    arguments: Dict[str, Any] = {"leases": [lease_to_element(lease) for lease in leases]}
    if count:
        arguments["count"] = len(leases)
    return answer(RESULT_SUCCESS if leases else RESULT_EMPTY,
                  f"{len(leases)} IPv{family} lease(s) found.", arguments)


# ---------------------------------------------------------------------------
# Subnets


def _own_client_class(subnet: Any) -> Optional[str]:
    # Kea's Network::clientSupported looks at the subnet's own client-class,
    # not the one it would inherit from its shared network.
    source = getattr(subnet, "source", None)
    if isinstance(source, MapElement):
        value = source.get("client-class")
        return value.to_python() if value is not None and value.kind == "string" else None
    return getattr(subnet, "client_class", None)


def _select_subnet(config: Any, address: IPv4Address) -> Any:
    """``CfgSubnets4::selectSubnet(address)`` with no client classes: the
    first subnet by id whose prefix holds the address and that has no
    client-class (a classed subnet is never chosen) [obs]."""
    for subnet in config.subnets:
        if address in subnet.prefix and not _own_client_class(subnet):
            return subnet
    return None


# ---------------------------------------------------------------------------
# Lease4Parser


def parse_lease4(config: Any, arguments: Element, now: int) -> Tuple[Lease4, bool]:
    """Kea's ``Lease4Parser::parse``: the lease described by ``arguments``
    (a positioned map) and the ``force-create`` flag.

    Checks in Kea's order: ip-address, hw-address, subnet-id, client-id,
    valid-lft, expire, fqdn flags and hostname, state, user-context,
    comment, force-create.  Unknown keys are ignored.

    :raises CommandError: with Kea's text (spec §2.3).
    """
    address = _get_address(arguments, "ip-address")
    if not isinstance(address, IPv4Address):
        raise CommandError(f"Non-IPv4 address specified: {address}")
    hwaddr = hwaddr_from_text(_get_string(arguments, "hw-address"))

    subnet_id = 0
    if _contains(arguments, "subnet-id"):
        subnet_id = _get_unsigned(arguments, "subnet-id", 32)
    if subnet_id:
        subnet = config.subnet_by_id(subnet_id)
        if subnet is None:
            raise CommandError(f"Invalid subnet-id: No IPv4 subnet with subnet-id={subnet_id}"
                               " currently configured.")
        if address not in subnet.prefix:
            raise CommandError(f"The address {address} does not belong to subnet "
                               f"{subnet.subnet}, subnet-id={subnet_id}")
    else:
        subnet = _select_subnet(config, address)
        if subnet is None:
            raise CommandError("subnet-id not specified and failed to find a subnet for "
                               f"address {address}")
        subnet_id = subnet.id

    client_id = None
    if _contains(arguments, "client-id"):
        client_id = client_id_from_text(_get_string(arguments, "client-id"))

    if _contains(arguments, "valid-lft"):
        valid_lifetime = _get_unsigned(arguments, "valid-lft", 32)
    else:
        valid_lifetime = subnet.valid_lifetime

    if _contains(arguments, "expire"):
        expire = _get_integer(arguments, "expire")
        if expire <= 0:
            raise CommandError(f"expiration time must be positive for address {address}")
        if expire < valid_lifetime:
            raise CommandError("expiration time must be greater than valid lifetime for "
                               f"address {address}")
        cltt = expire - valid_lifetime
    else:
        cltt = now

    fqdn_fwd = _get_boolean(arguments, "fqdn-fwd") if _contains(arguments, "fqdn-fwd") else False
    fqdn_rev = _get_boolean(arguments, "fqdn-rev") if _contains(arguments, "fqdn-rev") else False
    hostname = _get_string(arguments, "hostname") if _contains(arguments, "hostname") else ""
    if not hostname and (fqdn_fwd or fqdn_rev):
        raise CommandError("No hostname specified and either forward or reverse fqdn was "
                           "set to true.")

    state = _get_unsigned(arguments, "state", 8) if _contains(arguments, "state") else 0
    if state > STATE_EXPIRED_RECLAIMED:
        raise CommandError(f"Invalid state value: {state}, supported values are: 0 (default),"
                           " 1 (declined) and 2 (expired-reclaimed)")

    context_element = _get(arguments, "user-context")
    if context_element is not None and context_element.kind != "map":
        raise CommandError(f"Invalid user context '{to_kea_text(context_element)}' is not a "
                           "JSON map.")
    user_context = None if context_element is None else context_element.to_python()
    comment = _get(arguments, "comment")
    if comment is not None:
        if user_context is not None and "comment" in user_context:
            raise CommandError(f"Duplicated comment entry '{to_kea_text(comment)}' in user "
                               f"context '{to_kea_text(context_element)}'")
        user_context = dict(user_context or {})
        user_context["comment"] = comment.to_python()

    force_create = False
    if _contains(arguments, "force-create"):
        force_create = _get_boolean(arguments, "force-create")

    lease = _parsed_lease4(address, hwaddr, client_id, valid_lifetime, cltt, subnet_id,
                           fqdn_fwd, fqdn_rev, hostname, state, user_context)
    return lease, force_create


def _parsed_lease4(address: IPv4Address, hwaddr: bytes, client_id: Optional[bytes], valid_lifetime: int,
                   cltt: int, subnet_id: int, fqdn_fwd: bool, fqdn_rev: bool, hostname: str, state: int,
                   user_context: Optional[dict]) -> Lease4:
    """The lease both parsers (elements, plain values) end with, as Kea's
    Lease constructor makes it: the hostname lowercased (C locale: ASCII
    only)."""
    return Lease4(
        address=address,
        hwaddr=hwaddr,
        client_id=client_id,
        valid_lifetime=valid_lifetime,
        cltt=cltt,
        subnet_id=subnet_id,
        fqdn_fwd=fqdn_fwd,
        fqdn_rev=fqdn_rev,
        hostname=hostname.translate(_ASCII_LOWER),
        state=state,
        user_context=user_context,
    )


def _plain_unsigned(value: Any, bits: int) -> bool:
    return value.__class__ is int and 0 <= value < (1 << bits)


def parse_lease4_plain(config: Any, arguments: Any, now: int) -> Optional[Tuple[Lease4, bool]]:
    """:func:`parse_lease4` for the arguments as plain JSON values (a
    ``dict`` as decoded), for the maps it accepts: the same lease and flag,
    without building elements (every HA lease update comes this way).
    None for anything it would refuse or that needs elements (a
    ``user-context`` or ``comment``): the caller then runs
    :func:`parse_lease4`, whose error texts name element positions.
    Types are checked as the elements would be (``int`` is an integer,
    ``bool`` a boolean)."""
    if arguments.__class__ is not dict or "user-context" in arguments or "comment" in arguments:
        return None
    get = arguments.get
    text = get("ip-address")
    hw_text = get("hw-address")
    if text.__class__ is not str or hw_text.__class__ is not str:
        return None
    try:
        address = IPv4Address(text)  # what ip_address() makes of IPv4 text
        hwaddr = hwaddr_from_text(hw_text)
    except (ValueError, CommandError):
        return None
    subnet_id = get("subnet-id", 0)
    if not _plain_unsigned(subnet_id, 32):
        return None
    if subnet_id:
        subnet = config.subnet_by_id(subnet_id)
        if subnet is None or address not in subnet.prefix:
            return None
    else:
        subnet = _select_subnet(config, address)
        if subnet is None:
            return None
        subnet_id = subnet.id
    client_id = None
    if "client-id" in arguments:
        client_text = arguments["client-id"]
        if client_text.__class__ is not str:
            return None
        try:
            client_id = client_id_from_text(client_text)
        except CommandError:
            return None
    valid_lifetime = get("valid-lft", subnet.valid_lifetime)
    if "valid-lft" in arguments and not _plain_unsigned(valid_lifetime, 32):
        return None
    if "expire" in arguments:
        expire = arguments["expire"]
        if expire.__class__ is not int or expire <= 0 or expire < valid_lifetime:
            return None
        cltt = expire - valid_lifetime
    else:
        cltt = now
    fqdn_fwd = get("fqdn-fwd", False)
    fqdn_rev = get("fqdn-rev", False)
    hostname = get("hostname", "")
    force_create = get("force-create", False)
    if (fqdn_fwd.__class__ is not bool or fqdn_rev.__class__ is not bool
            or hostname.__class__ is not str or force_create.__class__ is not bool
            or (not hostname and (fqdn_fwd or fqdn_rev))):
        return None
    state = get("state", 0)
    if not _plain_unsigned(state, 8) or state > STATE_EXPIRED_RECLAIMED:
        return None
    lease = _parsed_lease4(address, hwaddr, client_id, valid_lifetime, cltt, subnet_id,
                           fqdn_fwd, fqdn_rev, hostname, state, None)
    return lease, force_create


def _parse_lease6(arguments: Element) -> NoReturn:
    """``Lease6Parser::parse`` in kea-dhcp4: there are no IPv6 subnets, so
    after the checks before the subnet it always fails with Kea's text."""
    address = _get_address(arguments, "ip-address")
    if isinstance(address, IPv4Address):
        raise CommandError(f"Non-IPv6 address specified: {address}")
    duid_from_text(_get_string(arguments, "duid"))
    lease_type = "IA_NA"
    if _contains(arguments, "type"):
        lease_type = _get_string(arguments, "type")
        if lease_type == "IA_PD":
            _get_unsigned(arguments, "prefix-len", 8)
        elif lease_type not in ("IA_NA", "IA_TA"):
            raise CommandError(f"Incorrect lease type: {lease_type}, the only supported values"
                               " are: na, ta and pd")
    subnet_id = 0
    if _contains(arguments, "subnet-id"):
        subnet_id = _get_unsigned(arguments, "subnet-id", 32)
    if subnet_id:
        raise CommandError(f"Invalid subnet-id: No IPv6 subnet with subnet-id={subnet_id} "
                           "currently configured.")
    if lease_type != "IA_NA":
        raise CommandError("Subnet-id is 0 or not specified. This is allowed for address "
                           "leases only, not prefix leases.")
    raise CommandError(f"subnet-id not specified and failed to find a subnet for address {address}")


# ---------------------------------------------------------------------------
# getParameters (lease4-get, lease4-del, their v6 twins)


class _Query:
    """Kea's ``LeaseCmdsImpl::Parameters``."""

    ADDRESS, HWADDR, DUID, CLIENT_ID = range(4)

    def __init__(self) -> None:
        self.kind = _Query.ADDRESS
        self.address: Any = None  # None: Kea's default "::", never a lease
        self.subnet_id = 0
        self.identifier = b""
        self.lease_type = "IA_NA"
        self.update_ddns = False


_IDENTIFIER_TYPES = {"address": _Query.ADDRESS, "hw-address": _Query.HWADDR,
                     "duid": _Query.DUID, "client-id": _Query.CLIENT_ID}


def _query_parameters(arguments: Optional[Element], v6: bool) -> _Query:
    if not isinstance(arguments, MapElement):
        raise CommandError("Parameters missing or are not a map.")
    query = _Query()
    update_ddns = arguments.get("update-ddns")
    if update_ddns is not None:
        if update_ddns.kind != "boolean":
            raise CommandError("'update-ddns' is not a boolean")
        query.update_ddns = update_ddns.to_python()
    lease_type = arguments.get("type")
    if lease_type is not None:
        text = _string_value(lease_type)
        if text not in _LEASE_TYPES:
            raise CommandError(f"Invalid lease type specified: {text}, only supported values"
                               " are: IA_NA, IA_TA, IA_PD and V4")
        query.lease_type = _LEASE_TYPES[text]

    address = arguments.get("ip-address")
    if address is not None:
        if address.kind != "string":
            raise CommandError("'ip-address' is not a string.")
        text = address.to_python()
        try:
            parsed = _parse_ip(text)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if isinstance(parsed, IPv6Address) != v6:
            raise CommandError(f"Invalid IPv{6 if v6 else 4} address specified: {text}")
        query.address = parsed
        return query

    subnet_id = arguments.get("subnet-id")
    if subnet_id is None:
        raise CommandError("Mandatory 'subnet-id' parameter missing.")
    if subnet_id.kind != "integer":
        raise CommandError("'subnet-id' parameter is not integer.")
    # SubnetID is a uint32_t.
    query.subnet_id = subnet_id.to_python() & _MAX_UINT32
    iaid = arguments.get("iaid")
    if iaid is not None:
        _int_value(iaid)

    identifier_type = arguments.get("identifier-type")
    identifier = arguments.get("identifier")
    if identifier_type is None or identifier_type.kind != "string":
        raise CommandError("No 'ip-address' provided and 'identifier-type' is either missing"
                           " or not a string.")
    if identifier is None or identifier.kind != "string":
        raise CommandError("No 'ip-address' provided and 'identifier' is either missing or"
                           " not a string.")
    kind = _IDENTIFIER_TYPES.get(identifier_type.to_python())
    if kind is None:
        raise CommandError(f"Incorrect identifier type: {identifier_type.to_python()}, the only"
                           " supported values are: address, hw-address, duid")
    query.kind = kind
    text = identifier.to_python()
    if kind == _Query.HWADDR:
        query.identifier = hwaddr_from_text(text)
    elif kind == _Query.CLIENT_ID:
        query.identifier = client_id_from_text(text)
    elif kind == _Query.DUID:
        query.identifier = duid_from_text(text)
    return query


def _page_start(arguments: Optional[Element], name: str, v6: bool) -> Tuple[Any, int]:
    """``from`` and ``limit`` of ``leaseX-get-page``."""
    if arguments is None:
        raise CommandError(f"no parameters specified for the {name} command")
    start = _get(arguments, "from")
    if start is None:
        raise CommandError("'from' parameter not specified")
    if start.kind != "string":
        raise CommandError("'from' parameter must be a string")
    text = start.to_python()
    family = 6 if v6 else 4
    if text == "start":
        address: Any = IPv6Address(0) if v6 else IPv4Address(0)
    else:
        try:
            address = _parse_ip(text)
        except ValueError:
            raise CommandError("'from' parameter value is neither 'start' keyword nor a valid "
                               f"IPv{family} address") from None
    if isinstance(address, IPv6Address) != v6:
        raise CommandError(f"'from' parameter value {address} is not an IPv{family} address")
    limit = _get(arguments, "limit")
    if limit is None:
        raise CommandError("'limit' parameter not specified")
    if limit.kind != "integer":
        raise CommandError("'limit' parameter must be a number")
    # Kea casts to size_t: a negative limit becomes huge.
    size = limit.to_python() % (1 << 64)
    if size == 0:
        raise CommandError("page size of retrieved leases must not be 0")
    if size > _MAX_UINT32:
        raise CommandError(f"page size of retrieved leases must not be greater than {_MAX_UINT32}")
    return address, size


def _subnet_list(arguments: Element) -> Optional[List[int]]:
    """``leaseX-get-all``'s ``subnets``: required once arguments are given."""
    subnets = _get(arguments, "subnets")
    if subnets is None:
        raise CommandError("'subnets' parameter not specified")
    if subnets.kind != "list":
        raise CommandError("'subnets' parameter must be a list")
    ids = []
    for item in subnets:
        if item.kind != "integer":
            raise CommandError("listed subnet identifiers must be numbers")
        ids.append(item.to_python() & _MAX_UINT32)
    return ids


def _search_argument(arguments: Optional[Element], name: str) -> str:
    """The one string argument of ``lease4-get-by-*`` / ``lease6-get-by-*``."""
    if not isinstance(arguments, MapElement):
        raise CommandError("Command arguments missing or a not a map.")
    value = arguments.get(name)
    if value is None:
        raise CommandError(f"'{name}' parameter not specified")
    if value.kind != "string":
        raise CommandError(f"'{name}' parameter must be a string")
    return value.to_python()


def _hostname_argument(arguments: Optional[Element]) -> str:
    hostname = _search_argument(arguments, "hostname")
    if not hostname:
        raise CommandError("'hostname' parameter is empty")
    return hostname.translate(_ASCII_LOWER)


def _wipe_subnet_id(arguments: Optional[Element]) -> int:
    if arguments is not None and _contains(arguments, "subnet-id"):
        return _get_unsigned(arguments, "subnet-id", 32)
    return 0


def _resend_address(arguments: Optional[Element], v6: bool) -> Any:
    """``getAddressParam``.  Without arguments Kea 2.2 dereferences a null
    pointer and aborts; answer as for ``{}`` instead."""
    if arguments is None:
        raise CommandError("'ip-address' parameter is missing.")
    param = _get(arguments, "ip-address")
    if param is None:
        raise CommandError("'ip-address' parameter is missing.")
    if param.kind != "string":
        raise CommandError("'ip-address' is not a string.")
    text = param.to_python()
    try:
        address = _parse_ip(text)
    except ValueError:
        raise CommandError(f"'{text}' is not a valid IP address.") from None
    if isinstance(address, IPv6Address) != v6:
        raise CommandError(f"Invalid IPv{6 if v6 else 4} address specified: {text}")
    return address


# ---------------------------------------------------------------------------
# The handlers


class LeaseCommands:
    """The command handlers over one server (an ``IServerContext``: its
    ``config``, ``store``, ``stats`` and ``reactor`` are read at each
    command, so they follow reconfiguration).

    Each handler takes the command's ``arguments`` element (None when the
    command has none) and returns Kea's answer map; a refusal raises
    :class:`~kea_twisted.commands.CommandError` (result 1, its text).
    """

    def __init__(self, server: Any):
        self.server = server

    # -- helpers ----------------------------------------------------------------

    def _now(self) -> int:
        return int(self.server.reactor.seconds())

    def _add_stat(self, subnet_id: Optional[int], name: str, delta: int) -> None:
        stat = name if subnet_id is None else subnet_stat_name(subnet_id, name)
        self.server.stats.add_value(stat, delta)

    def _set_stat(self, subnet_id: Optional[int], name: str, value: int) -> None:
        stat = name if subnet_id is None else subnet_stat_name(subnet_id, name)
        self.server.stats.set_value(stat, value)

    def _count(self, lease: Lease4, sign: int) -> None:
        """``updateStatsOnAdd`` (+1) / ``updateStatsOnDelete`` (-1)."""
        if lease.state == STATE_EXPIRED_RECLAIMED:
            return
        self._add_stat(lease.subnet_id, "assigned-addresses", sign)
        if lease.state == STATE_DECLINED:
            self._add_stat(None, "declined-addresses", sign)
            self._add_stat(lease.subnet_id, "declined-addresses", sign)

    def _count_update(self, old: Lease4, new: Lease4) -> None:
        """``updateStatsOnUpdate``, Kea's branches as they are: leaving
        state 2 counts the new lease; entering it uncounts nothing."""
        if old.state == STATE_EXPIRED_RECLAIMED:
            self._count(new, +1)
            return
        moved = old.subnet_id != new.subnet_id
        if moved:
            self._add_stat(old.subnet_id, "assigned-addresses", -1)
        if old.state == STATE_DECLINED:
            self._add_stat(None, "declined-addresses", -1)
            self._add_stat(old.subnet_id, "declined-addresses", -1)
        if new.state != STATE_EXPIRED_RECLAIMED:
            if moved:
                self._add_stat(new.subnet_id, "assigned-addresses", +1)
            if new.state == STATE_DECLINED:
                self._add_stat(None, "declined-addresses", +1)
                self._add_stat(new.subnet_id, "declined-addresses", +1)

    def _ddns_enabled(self) -> bool:
        return bool(self.server.config.dhcp_ddns.enable_updates)

    # -- lease4 ---------------------------------------------------------------------

    def lease4_add(self, arguments: Optional[Element]) -> Dict[str, Any]:
        if arguments is None:
            raise CommandError("no parameters specified for the command")
        text = to_kea_text(arguments)
        try:
            lease, _force_create = parse_lease4(self.server.config, arguments, self._now())
            if not self.server.store.add_lease(lease):
                raise CommandError("IPv4 lease already exists.")
        except Exception as error:
            log.error("{msgid} lease4-add command failed (parameters: {parameters}, reason: "
                      "{reason})", msgid="LEASE_CMDS_ADD4_FAILED", parameters=text,
                      reason=str(error))
            raise
        self._count(lease, +1)
        log.info("{msgid} lease4-add command successful (parameters: {parameters})",
                 msgid="LEASE_CMDS_ADD4", parameters=text)
        return answer(RESULT_SUCCESS,
                      f"Lease for address {lease.address}, subnet-id {lease.subnet_id} added.")

    def lease4_update(self, arguments: Optional[Element]) -> Dict[str, Any]:
        if arguments is None:
            raise CommandError("no parameters specified for lease4-update command")
        lease, force_create = parse_lease4(self.server.config, arguments, self._now())
        return self._update4(lease, force_create)

    def _update4(self, lease: Lease4, force_create: bool) -> Dict[str, Any]:
        store = self.server.store
        existing = store.get_lease4(lease.address)
        if existing is None and force_create:
            if not store.add_lease(lease):
                raise CommandError("lost race between calls to get and add")
            self._count(lease, +1)
            return answer(RESULT_SUCCESS, "IPv4 lease added.")
        try:
            if existing is None:
                raise NoSuchLease(str(lease.address))
            store.update_lease(lease)
        except NoSuchLease:
            raise CommandError(
                f"failed to update the lease with address {lease.address} either because the "
                "lease has been deleted or it has changed in the database, in both cases a "
                "retry might succeed") from None
        self._count_update(existing, lease)
        return answer(RESULT_SUCCESS, "IPv4 lease updated.")

    def _find4(self, query: _Query) -> Optional[Lease4]:
        store = self.server.store
        if query.kind == _Query.ADDRESS:
            # An "address" identifier-type leaves Kea's address at "::".
            return None if query.address is None else store.get_lease4(query.address)
        if query.kind == _Query.HWADDR:
            return store.get_lease4_by_hwaddr_subnet(query.identifier, query.subnet_id)
        return store.get_lease4_by_client_id_subnet(query.identifier, query.subnet_id)

    def lease4_get(self, arguments: Optional[Element]) -> Dict[str, Any]:
        query = _query_parameters(arguments, v6=False)
        if query.kind == _Query.DUID:
            raise CommandError("Query by duid is not allowed in v4.")
        lease = self._find4(query)
        if lease is None:
            raise _Empty("Lease not found.")
        return answer(RESULT_SUCCESS, "IPv4 lease found.", lease_to_element(lease))

    def lease4_get_all(self, arguments: Optional[Element]) -> Dict[str, Any]:
        store = self.server.store
        if arguments is None:
            return _leases_answer(store.get_all_leases4())
        leases: List[Lease4] = []
        for subnet_id in _subnet_list(arguments):
            leases.extend(store.get_leases4_by_subnet(subnet_id))
        return _leases_answer(leases)

    def lease4_get_page(self, arguments: Optional[Element]) -> Dict[str, Any]:
        start, limit = _page_start(arguments, "lease4-get-page", v6=False)
        return _leases_answer(self.server.store.get_leases4_page(start, limit), count=True)

    def lease4_get_by_hw_address(self, arguments: Optional[Element]) -> Dict[str, Any]:
        hwaddr = hwaddr_from_text(_search_argument(arguments, "hw-address"))
        return _leases_answer(self.server.store.get_leases4_by_hwaddr(hwaddr))

    def lease4_get_by_client_id(self, arguments: Optional[Element]) -> Dict[str, Any]:
        client_id = client_id_from_text(_search_argument(arguments, "client-id"))
        return _leases_answer(self.server.store.get_leases4_by_client_id(client_id))

    def lease4_get_by_hostname(self, arguments: Optional[Element]) -> Dict[str, Any]:
        hostname = _hostname_argument(arguments)
        return _leases_answer(self.server.store.get_leases4_by_hostname(hostname))

    def lease4_del(self, arguments: Optional[Element]) -> Dict[str, Any]:
        query = _query_parameters(arguments, v6=False)
        if query.kind == _Query.DUID:
            raise CommandError("Delete by duid is not allowed in v4.")
        lease = self._find4(query)
        if lease is None or not self.server.store.delete_lease(lease):
            raise _Empty("IPv4 lease not found.")
        self._count(lease, -1)
        if query.update_ddns and self._ddns_enabled():
            log.warn("{msgid} no DNS removal sent for {address}: DHCP-DDNS is not available",
                     msgid="LEASE_CMDS_NO_DDNS", address=str(lease.address))
        return answer(RESULT_SUCCESS, "IPv4 lease deleted.")

    def lease4_wipe(self, arguments: Optional[Element]) -> Dict[str, Any]:
        subnet_id = _wipe_subnet_id(arguments)
        store = self.server.store
        if subnet_id:
            wiped = [subnet_id]
            count = store.wipe_leases4(subnet_id)
            declined = self.server.stats.value(subnet_stat_name(subnet_id, "declined-addresses"), 0)
            self._set_stat(subnet_id, "assigned-addresses", 0)
            self._set_stat(subnet_id, "declined-addresses", 0)
            self._add_stat(None, "declined-addresses", -declined)
        else:
            # Only configured subnets: leases of removed subnets stay.
            wiped = [subnet.id for subnet in self.server.config.subnets]
            count = 0
            for sid in wiped:
                count += store.wipe_leases4(sid)
                self._set_stat(sid, "assigned-addresses", 0)
                self._set_stat(sid, "declined-addresses", 0)
            self._set_stat(None, "declined-addresses", 0)
        ids = "".join(f" {sid}" for sid in wiped)
        return answer(RESULT_SUCCESS if count else RESULT_EMPTY,
                      f"Deleted {count} IPv4 lease(s) from subnet(s){ids}")

    def lease4_resend_ddns(self, arguments: Optional[Element]) -> Dict[str, Any]:
        try:
            address = _resend_address(arguments, v6=False)
            if not self._ddns_enabled():
                raise CommandError("DDNS updating is not enabled")
            lease = self.server.store.get_lease4(address)
            if lease is None:
                raise _Empty(f"No lease found for: {address}")
            if not lease.hostname:
                raise CommandError(f"Lease for: {address}, has no hostname, nothing to update")
            if not (lease.fqdn_fwd or lease.fqdn_rev):
                raise CommandError("Neither forward nor reverse updates enabled for lease for: "
                                   f"{address}")
        except (CommandError, _Empty) as error:
            log.error("{msgid} lease4-resend-ddns command failed: {reason}",
                      msgid="LEASE_CMDS_RESEND_DDNS4_FAILED", reason=str(error))
            raise
        text = f"NCR generated for: {address}, hostname: {lease.hostname}"
        log.info("{msgid} lease4-resend-ddns command successful: {text}",
                 msgid="LEASE_CMDS_RESEND_DDNS4", text=text)
        log.warn("{msgid} no NameChangeRequest sent for {address}: DHCP-DDNS is not available",
                 msgid="LEASE_CMDS_NO_DDNS", address=str(address))
        return answer(RESULT_SUCCESS, text)

    # -- lease6 (no IPv6 side in kea-dhcp4) --------------------------------------------------

    def lease6_add(self, arguments: Optional[Element]) -> Dict[str, Any]:
        if arguments is None:
            raise CommandError("no parameters specified for the command")
        _parse_lease6(arguments)

    def lease6_update(self, arguments: Optional[Element]) -> Dict[str, Any]:
        if arguments is None:
            raise CommandError("no parameters specified for lease6-update command")
        _parse_lease6(arguments)

    def lease6_get(self, arguments: Optional[Element]) -> Dict[str, Any]:
        query = _query_parameters(arguments, v6=True)
        if query.kind == _Query.HWADDR:
            raise CommandError("Query by hw-address is not allowed in v6.")
        if query.kind == _Query.CLIENT_ID:
            raise CommandError("Query by client-id is not allowed in v6.")
        raise _Empty("Lease not found.")

    def lease6_get_all(self, arguments: Optional[Element]) -> Dict[str, Any]:
        if arguments is not None:
            _subnet_list(arguments)
        return _leases_answer([], "6")

    def lease6_get_page(self, arguments: Optional[Element]) -> Dict[str, Any]:
        _page_start(arguments, "lease6-get-page", v6=True)
        return _leases_answer([], "6", count=True)

    def lease6_get_by_duid(self, arguments: Optional[Element]) -> Dict[str, Any]:
        duid_from_text(_search_argument(arguments, "duid"))
        return _leases_answer([], "6")

    def lease6_get_by_hostname(self, arguments: Optional[Element]) -> Dict[str, Any]:
        _hostname_argument(arguments)
        return _leases_answer([], "6")

    def lease6_del(self, arguments: Optional[Element]) -> Dict[str, Any]:
        query = _query_parameters(arguments, v6=True)
        if query.kind == _Query.HWADDR:
            raise CommandError("Delete by hw-address is not allowed in v6.")
        if query.kind == _Query.CLIENT_ID:
            raise CommandError(f"Unknown query type: {_Query.CLIENT_ID}")
        raise _Empty("IPv6 lease not found.")

    def lease6_bulk_apply(self, arguments: Optional[Element]) -> Dict[str, Any]:
        if not isinstance(arguments, MapElement):
            raise CommandError("Command arguments missing or a not a map.")
        deleted = arguments.get("deleted-leases")
        leases = arguments.get("leases")
        if deleted is None and leases is None:
            raise CommandError("neither 'deleted-leases' nor 'leases' parameter specified")
        if deleted is not None and deleted.kind != "list":
            raise CommandError("the 'deleted-leases' parameter must be a list")
        if leases is not None and leases.kind != "list":
            raise CommandError("the 'leases' parameter must be a list")
        failed: List[Dict[str, Any]] = []
        for item in deleted or ():
            query = _query_parameters(item, v6=True)
            if query.kind == _Query.HWADDR:
                raise CommandError("Delete by hw-address is not allowed in v6.")
            if query.kind == _Query.CLIENT_ID:
                raise CommandError(f"Unknown query type: {_Query.CLIENT_ID}")
            if query.kind == _Query.ADDRESS:
                # Kea tries to delete a stand-in lease and reports it missing;
                # a DUID that finds no lease is skipped silently.
                entry: Dict[str, Any] = {"error-message": "lease not found"}
                if query.address is not None and int(query.address):
                    entry["ip-address"] = str(query.address)
                entry["result"] = RESULT_EMPTY
                entry["type"] = query.lease_type
                failed.append(entry)
        for item in leases or ():
            _parse_lease6(item)
        return answer(RESULT_EMPTY, "Bulk apply of 0 IPv6 leases completed.",
                      {"failed-deleted-leases": failed} if failed else None)

    def lease6_wipe(self, arguments: Optional[Element]) -> Dict[str, Any]:
        subnet_id = _wipe_subnet_id(arguments)
        if subnet_id:
            declined = self.server.stats.value(subnet_stat_name(subnet_id, "declined-addresses"), 0)
            self._set_stat(subnet_id, "assigned-nas", 0)
            self._set_stat(subnet_id, "assigned-pds", 0)
            self._set_stat(subnet_id, "declined-addresses", 0)
            self._add_stat(None, "declined-addresses", -declined)
            ids = f" {subnet_id}"
        else:
            # No IPv6 subnets, but Kea still zeroes the global counter [obs].
            self._set_stat(None, "declined-addresses", 0)
            ids = ""
        return answer(RESULT_EMPTY, f"Deleted 0 IPv6 lease(s) from subnet(s){ids}")

    def lease6_resend_ddns(self, arguments: Optional[Element]) -> Dict[str, Any]:
        try:
            address = _resend_address(arguments, v6=True)
            if not self._ddns_enabled():
                raise CommandError("DDNS updating is not enabled")
            raise _Empty(f"No lease found for: {address}")
        except (CommandError, _Empty) as error:
            log.error("{msgid} lease6-resend-ddns command failed: {reason}",
                      msgid="LEASE_CMDS_RESEND_DDNS6_FAILED", reason=str(error))
            raise

    # -- dispatch ---------------------------------------------------------------------

    def handler(self, name: str) -> Callable[[Optional[Element]], Dict[str, Any]]:
        """The method for command ``name``."""
        return getattr(self, name.replace("-", "_"))

    def run(self, name: str, command: Element) -> Dict[str, Any]:
        """Answer one command (a positioned map with ``command`` and maybe
        ``arguments``); never raises for a refusal."""
        arguments = command.get("arguments") if isinstance(command, MapElement) else None
        return self._answer(name, lambda: self.handler(name)(arguments))

    def run_plain_update4(self, message: Any) -> Optional[Dict[str, Any]]:
        """The answer to a ``lease4-update`` given as a plain map whose
        lease :func:`parse_lease4_plain` accepts (an HA partner's), or None:
        then :meth:`run` must answer it from elements."""
        arguments = message.get("arguments") if message.__class__ is dict else None
        parsed = parse_lease4_plain(self.server.config, arguments, self._now())
        if parsed is None:
            return None
        return self._answer("lease4-update", lambda: self._update4(*parsed))

    def _answer(self, name: str, handle: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
        """``handle()``'s answer, a refusal made Kea's answer."""
        try:
            return handle()
        except _Empty as empty:
            return answer(RESULT_EMPTY, str(empty))
        except NotImplementedError as error:
            # A backend without the operation (lease4-wipe on PostgreSQL):
            # Kea answers its text.
            return answer(RESULT_ERROR, str(error))
        except (CommandError, LeaseRowError) as error:
            # LeaseRowError: the lease file refuses a lease with neither
            # hw-address nor client-id, with Kea's text.
            return answer(RESULT_ERROR, str(error))
        except Exception as error:
            # Kea answers every std::exception with its what() (a lease
            # file that cannot be written, for one).
            log.failure("{msgid} {command} failed", msgid="LEASE_CMDS_FAILED", command=name)
            return answer(RESULT_ERROR, str(error))


def _command_element(handle: Any) -> Element:
    """The command as positioned elements when the table passed them
    (``command_element``), else rebuilt from the plain message."""
    element = handle.get_argument("command_element", None)
    if isinstance(element, MapElement):
        return element
    return from_python(handle.get_argument("command"), None)


@implementer(IHookLibrary)
class LeaseCmds:
    """The hook library object: ``load`` registers every command of
    :data:`COMMANDS` over the loading server (``library.server``)."""

    def __init__(self) -> None:
        self.commands: Optional[LeaseCommands] = None

    def multi_threading_compatible(self) -> bool:
        # Kea's library declares itself compatible.
        return True

    def load(self, library: Any) -> None:
        commands = LeaseCommands(library.server)
        for name in COMMANDS:
            library.register_command_handler(name, self._callout(commands, name))
        self.commands = commands
        log.info("{msgid} loading Lease Commands hooks library successful",
                 msgid="LEASE_CMDS_INIT_OK")

    def unload(self) -> None:
        self.commands = None
        log.info("{msgid} unloading Lease Commands hooks library successful",
                 msgid="LEASE_CMDS_DEINIT_OK")

    @staticmethod
    def _callout(commands: LeaseCommands, name: str) -> Callable[[Any], Any]:
        plain_update = name == "lease4-update"

        def callout(handle: Any) -> Any:
            call_with_store = getattr(commands.server.store, "call_with_store", None)
            if (plain_update and call_with_store is None
                    and handle.get_argument("command_element", None) is None):
                # An HA partner's lease update, a plain map from the
                # command table: parsed as it is, no elements built.
                response = commands.run_plain_update4(handle.get_argument("command"))
                if response is not None:
                    handle.set_argument("response", response)
                    return None
            element = _command_element(handle)
            if call_with_store is None:
                handle.set_argument("response", commands.run(name, element))
                return None
            return _on_store_thread(commands.server, call_with_store, name, element, handle)

        callout.__name__ = name.replace("-", "_")
        return callout


class _StoreThreadContext:
    """The server context as a command sees it on the store's thread: the
    blocking store and funnelled statistics; the rest is the server's."""

    def __init__(self, server: Any, store: Any, stats: Any):
        self._server = server
        self.store = store
        self.stats = stats

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


def _on_store_thread(server: Any, call_with_store: Callable[..., Any], name: str, element: Element,
                     handle: Any) -> Any:
    """Run command ``name`` on the store's thread; its statistics are applied
    and its answer set on the reactor thread."""
    from kea_twisted.threaded import StatsFunnel

    funnel = StatsFunnel(server.stats, server.reactor.seconds)

    def run(store: Any) -> Dict[str, Any]:
        return LeaseCommands(_StoreThreadContext(server, store, funnel)).run(name, element)

    def done(response: Dict[str, Any]) -> None:
        funnel.flush()
        handle.set_argument("response", response)

    def failed(failure: Any) -> None:
        funnel.flush()
        log.failure("{msgid} {command} failed", failure, msgid="LEASE_CMDS_FAILED", command=name)
        handle.set_argument("response", answer(RESULT_ERROR, str(failure.value)))

    return call_with_store(run).addCallbacks(done, failed)


lease_cmds = LeaseCmds()
