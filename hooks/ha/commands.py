"""
The JSON one HA peer sends the other, and the checks Kea applies to the
answers: Kea 2.2 ``command_creator.cc`` and ``HAService::verifyAsyncResponse``
(spec/ha.md §2, §5, §6).

* A request body is ``{"arguments": …, "command": …, "service": ["dhcp4"]}``
  (``arguments`` only when there are any).  :func:`kea_json` prints it the
  way Kea does (keys sorted, ``{ "a": 1 }``, empty list ``[  ]``): it is
  :func:`kea_twisted.kea_json.to_kea_text`, Kea's ``Element::str()``; peers
  must not rely on formatting, but byte-equal bodies make captures
  comparable.
* v4 lease updates are per lease: ``lease4-update`` (lease JSON with
  ``cltt`` replaced by ``expire`` = cltt + valid-lft, plus
  ``"force-create": true``) and ``lease4-del`` (same, no force-create).
  ``client-id`` and ``user-context`` appear only when set; hw-address is
  ``""`` for a declined lease.
* An answer must be a JSON **list**; its first element is the answer.  A
  bare map is turned into an error.  Result 0 (success) and 3 (empty) are
  fine, anything else fails with ``"<text>, error code <n>"``; 2 is
  "unsupported" (:class:`CommandUnsupported`).
* Answers this server gives (:func:`answer`) are lists of one map.

Leases are plain dicts with Kea's JSON keys, or any object with the
attributes of ``kea_twisted.leases.Lease4`` (address, hwaddr, client_id,
valid_lifetime, cltt, subnet_id, fqdn_fwd, fqdn_rev, hostname, state,
user_context).

Tests: tests/test_ha_commands.py
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from kea_twisted.kea_json import to_kea_text
from kea_twisted.leases import Lease4

__all__ = [
    "SERVICE",
    "HA_COMMANDS4",
    "CONTROL_RESULT_SUCCESS",
    "CONTROL_RESULT_ERROR",
    "CONTROL_RESULT_COMMAND_UNSUPPORTED",
    "CONTROL_RESULT_EMPTY",
    "HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED",
    "REQUEST_TIMEOUT",
    "PeerAnswerError",
    "CommandUnsupported",
    "kea_json",
    "command",
    "answer",
    "heartbeat",
    "dhcp_disable",
    "dhcp_enable",
    "ha_reset",
    "sync_complete_notify",
    "maintenance_notify",
    "lease4_get_all",
    "lease4_get_page",
    "lease4_update",
    "lease4_del",
    "lease_to_element",
    "hex_colons",
    "verify_answer",
    "HeartbeatAnswer",
    "parse_heartbeat_answer",
    "LeasePage",
    "parse_lease_page",
    "lease_fields_from_element",
    "heartbeat_answer",
    "parse_ha_scopes",
    "parse_ha_sync",
    "parse_maintenance_notify",
    "request_headers",
]

SERVICE = ["dhcp4"]

#: Commands a Kea 2.2 DHCPv4 peer may send (``ha_commands4_``); the set a
#: listener with ``restrict-commands`` accepts.
HA_COMMANDS4 = frozenset({
    "list-commands", "status-get", "dhcp-disable", "dhcp-enable", "ha-reset",
    "ha-heartbeat", "lease4-update", "lease4-del", "lease4-get-all",
    "lease4-get-page", "ha-maintenance-notify", "ha-sync-complete-notify",
})

CONTROL_RESULT_SUCCESS = 0
CONTROL_RESULT_ERROR = 1
CONTROL_RESULT_COMMAND_UNSUPPORTED = 2
CONTROL_RESULT_EMPTY = 3
HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED = 1001

#: Seconds Kea waits for any answer from the partner (``timeouts.h``
#: TIMEOUT_DEFAULT_HTTP_CLIENT_REQUEST); lease4-get-page waits sync-timeout.
REQUEST_TIMEOUT = 10.0


class PeerAnswerError(Exception):
    """The partner's answer is not acceptable; ``str()`` is Kea's text."""

    def __init__(self, message: str, rcode: int = CONTROL_RESULT_ERROR):
        super().__init__(message)
        self.message = message
        self.rcode = rcode


class CommandUnsupported(PeerAnswerError):
    """Result 2: the partner does not know the command."""


# --------------------------------------------------------------------------
# Kea's JSON text.

#: Kea's HA hook prints its JSON with the server's own ``Element::str()``:
#: request and answer bodies (``PostHttpRequestJson`` / ``HttpResponseJson``
#: ``setBodyAsJson``) and the leases it logs (``HA_LEASE_SYNC_FAILED``).
#: Same rules as every other Kea text (keys sorted by bytes and written as
#: they are, bytes outside printable ASCII as ``\u00XX``, doubles as
#: ``ostream <<`` plus ``.0``), so one printer serves both; transport.py
#: sends with ``to_kea_bytes``, its bytes.
kea_json = to_kea_text


# --------------------------------------------------------------------------
# Requests.

def command(name: str, arguments: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """A request body for the partner: Kea's ``createCommand`` +
    ``insertService``."""
    body: Dict[str, Any] = {}
    if arguments is not None:
        body["arguments"] = dict(arguments)
    body["command"] = name
    body["service"] = list(SERVICE)
    return body


def request_headers(host: str, body: bytes, authorization: Optional[str] = None) -> List[Tuple[str, str]]:
    """The headers Kea sends, in order (spec/ha.md §2): ``Host`` is the
    partner's host without port; ``Authorization`` only with basic auth."""
    headers = [("Host", host), ("Content-Length", str(len(body))),
               ("Content-Type", "application/json")]
    if authorization:
        headers.append(("Authorization", authorization))
    return headers


def heartbeat() -> Dict[str, Any]:
    return command("ha-heartbeat")


def dhcp_disable(max_period: int) -> Dict[str, Any]:
    """``max-period`` is left out when 0 (an ``ha-sync`` without one)."""
    args: Dict[str, Any] = {"origin": "ha-partner"}
    if max_period > 0:
        args["max-period"] = int(max_period)
    return command("dhcp-disable", args)


def dhcp_enable() -> Dict[str, Any]:
    return command("dhcp-enable", {"origin": "ha-partner"})


def ha_reset() -> Dict[str, Any]:
    return command("ha-reset")


def sync_complete_notify() -> Dict[str, Any]:
    return command("ha-sync-complete-notify")


def maintenance_notify(cancel: bool) -> Dict[str, Any]:
    return command("ha-maintenance-notify", {"cancel": bool(cancel)})


def lease4_get_all() -> Dict[str, Any]:
    return command("lease4-get-all")


def lease4_get_page(last_address: Optional[Any], limit: int) -> Dict[str, Any]:
    """``from`` = ``"start"`` or the last address of the previous page."""
    if limit == 0:
        raise ValueError("limit value for lease4-get-page command must not be 0")
    start = "start" if last_address is None else str(last_address)
    return command("lease4-get-page", {"from": start, "limit": int(limit)})


def hex_colons(data: Optional[bytes]) -> str:
    """``02:00:00:00:01:00`` (lower case), ``""`` for no bytes."""
    return bytes(data).hex(":") if data else ""


def _attr(lease: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if hasattr(lease, n):
            return getattr(lease, n)
    return default


def lease_to_element(lease: Any) -> Dict[str, Any]:
    """Kea's ``Lease4::toElement``: a dict with Kea's keys and ``cltt``.

    A mapping that already has ``ip-address`` is taken as Kea JSON and
    copied; otherwise the Lease4 attributes are read.
    """
    if lease.__class__ is Lease4:
        # The engine's leases (one per lease update): their attributes read
        # directly rather than probed for.
        return _element(lease.user_context, lease.address, lease.subnet_id, lease.hwaddr, lease.client_id,
                        lease.cltt, lease.valid_lifetime, lease.fqdn_fwd, lease.fqdn_rev, lease.hostname,
                        lease.state)
    if isinstance(lease, Mapping):
        if "ip-address" in lease:
            return dict(lease)
        lease = _MappingView(lease)
    return _element(_attr(lease, "user_context"), _attr(lease, "address", "addr", "ip_address"),
                    _attr(lease, "subnet_id"), _attr(lease, "hwaddr", "hw_address"), _attr(lease, "client_id"),
                    _attr(lease, "cltt"), _attr(lease, "valid_lifetime", "valid_lft"),
                    _attr(lease, "fqdn_fwd", default=False), _attr(lease, "fqdn_rev", default=False),
                    _attr(lease, "hostname", default=""), _attr(lease, "state", default=0))


def _element(user_context: Any, address: Any, subnet_id: Any, hwaddr: Any, client_id: Any, cltt: Any,
             valid_lifetime: Any, fqdn_fwd: Any, fqdn_rev: Any, hostname: Any, state: Any) -> Dict[str, Any]:
    """:func:`lease_to_element`'s map from a lease's values, in Kea's key
    order."""
    if hasattr(hwaddr, "data"):  # an HWAddr-like value
        hwaddr = hwaddr.data
    element: Dict[str, Any] = {}
    if user_context is not None:
        element["user-context"] = user_context
    element["ip-address"] = str(address)
    element["subnet-id"] = int(subnet_id)
    element["hw-address"] = hwaddr if isinstance(hwaddr, str) else hex_colons(hwaddr)
    if client_id:
        element["client-id"] = client_id if isinstance(client_id, str) else hex_colons(client_id)
    element["cltt"] = int(cltt)
    element["valid-lft"] = int(valid_lifetime)
    element["fqdn-fwd"] = bool(fqdn_fwd)
    element["fqdn-rev"] = bool(fqdn_rev)
    element["hostname"] = hostname or ""
    element["state"] = int(state)
    return element


class _MappingView:
    def __init__(self, m: Mapping[str, Any]):
        self.__dict__.update(m)


def _with_expire(lease: Any) -> Dict[str, Any]:
    element = lease_to_element(lease)
    cltt = element.get("cltt")
    lft = element.get("valid-lft")
    if isinstance(cltt, bool) or not isinstance(cltt, int) or \
            isinstance(lft, bool) or not isinstance(lft, int):
        raise ValueError("invalid lease format")
    element["expire"] = cltt + lft
    del element["cltt"]
    return element


def lease4_update(lease: Any) -> Dict[str, Any]:
    """``lease4-update`` with ``expire`` and ``force-create: true``."""
    args = _with_expire(lease)
    args["force-create"] = True
    return command("lease4-update", args)


def lease4_del(lease: Any) -> Dict[str, Any]:
    """``lease4-del`` with the lease as it was (``expire``, no
    force-create)."""
    return command("lease4-del", _with_expire(lease))


# --------------------------------------------------------------------------
# Answers we give.

def answer(result: int, text: str, arguments: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """A listener answer: a list of one map (Kea's HTTP body form)."""
    a: Dict[str, Any] = {}
    if arguments is not None:
        a["arguments"] = dict(arguments)
    a["result"] = result
    a["text"] = text
    return [a]


def heartbeat_answer(state: str, date_time: str, scopes: Sequence[str],
                     unsent_update_count: int) -> Dict[str, Any]:
    """The ``ha-heartbeat`` answer map (``processHeartbeat``)."""
    return {
        "arguments": {
            "date-time": date_time,
            "scopes": list(scopes),
            "state": state,
            "unsent-update-count": int(unsent_update_count),
        },
        "result": CONTROL_RESULT_SUCCESS,
        "text": "HA peer status returned.",
    }


# --------------------------------------------------------------------------
# Answers we receive.

def verify_answer(body: Any) -> Tuple[int, Any]:
    """Kea's ``verifyAsyncResponse`` on a decoded JSON body.

    Returns ``(rcode, args)`` where ``args`` is the ``arguments`` value or,
    without arguments, the ``text`` (as Kea's ``parseAnswer``).  Raises
    :class:`PeerAnswerError` (or :class:`CommandUnsupported`) with Kea's
    message for anything but result 0 or 3.
    """
    if body is None:
        raise PeerAnswerError("no body found in the response")
    if not isinstance(body, list):
        if isinstance(body, Mapping):
            converted: Dict[str, Any] = {"result": CONTROL_RESULT_ERROR}
            if "text" in body:
                converted["text"] = body["text"]
            body = [converted]
        else:
            raise PeerAnswerError("body of the response must be a list")
    if not body:
        raise PeerAnswerError("list of responses must not be empty")
    first = body[0]
    if not isinstance(first, Mapping):
        raise PeerAnswerError("Invalid answer Element specified, expected map")
    if "result" not in first:
        raise PeerAnswerError("Invalid answer specified, does not contain mandatory 'result'")
    rcode = first["result"]
    if isinstance(rcode, bool) or not isinstance(rcode, int):
        raise PeerAnswerError("Result element in answer message is not a string")
    args = first["arguments"] if "arguments" in first else first.get("text")
    if rcode not in (CONTROL_RESULT_SUCCESS, CONTROL_RESULT_EMPTY):
        message = ""
        if isinstance(args, str):
            message = args + ", "
        message += f"error code {rcode}"
        if rcode == CONTROL_RESULT_COMMAND_UNSUPPORTED:
            raise CommandUnsupported(message, rcode)
        raise PeerAnswerError(message, rcode)
    return rcode, args


@dataclass(frozen=True)
class HeartbeatAnswer:
    state: str
    date_time: str
    scopes: Optional[List[str]]
    unsent_update_count: Optional[int]


def parse_heartbeat_answer(body: Any) -> HeartbeatAnswer:
    """Check an ``ha-heartbeat`` answer as Kea does (``asyncSendHeartbeat``):
    arguments map, ``state`` string, ``date-time`` string; ``scopes``
    optional (kept raw, None when absent); ``unsent-update-count`` optional
    but an integer when present.  Whether ``state`` is a known state name
    and ``date-time`` parses is checked by the state machine."""
    _, args = verify_answer(body)
    if not isinstance(args, Mapping):
        raise PeerAnswerError("returned arguments in the response must be a map")
    state = args.get("state")
    if not isinstance(state, str):
        raise PeerAnswerError("server state not returned in response to a ha-heartbeat"
                              " command or it is not a string")
    date_time = args.get("date-time")
    if not isinstance(date_time, str):
        raise PeerAnswerError("date-time not returned in response to a ha-heartbeat"
                              " command or it is not a string")
    unsent = args.get("unsent-update-count")
    if "unsent-update-count" in args and (isinstance(unsent, bool) or not isinstance(unsent, int)):
        raise PeerAnswerError("unsent-update-count returned in the ha-heartbeat response"
                              " is not an integer")
    return HeartbeatAnswer(state, date_time, args.get("scopes"), unsent)


@dataclass(frozen=True)
class LeasePage:
    """A ``lease4-get-page`` answer.  ``leases`` are Kea JSON maps (with
    ``cltt``); ``next_from`` is the address to ask from next, or None when
    this was the last page (fewer than ``limit`` leases)."""

    leases: List[Dict[str, Any]]
    next_from: Optional[str]


def parse_lease_page(body: Any, limit: int) -> LeasePage:
    """Kea's checks on a sync page (``asyncSyncLeasesInternal``)."""
    _, args = verify_answer(body)
    if args is not None and not isinstance(args, Mapping):
        raise PeerAnswerError("arguments in the received response must be a map")
    leases = args.get("leases") if isinstance(args, Mapping) else None
    if not isinstance(leases, list):
        raise PeerAnswerError("server response does not contain leases argument or this"
                              " argument is not a list")
    next_from = None
    if leases and len(leases) >= limit:
        last = leases[-1]
        if isinstance(last, Mapping) and isinstance(last.get("ip-address"), str):
            next_from = last["ip-address"]
    return LeasePage(list(leases), next_from)


def _hex_bytes(text: str) -> bytes:
    text = text.strip()
    if not text:
        return b""
    parts = text.split(":") if ":" in text else [text[i:i + 2] for i in range(0, len(text), 2)]
    return bytes(int(p, 16) for p in parts)


def lease_fields_from_element(element: Any) -> Dict[str, Any]:
    """Kea's ``Lease4::fromElement`` checks on one page entry; returns
    keyword arguments for ``Lease4`` (address, hwaddr, client_id,
    valid_lifetime, cltt, subnet_id, fqdn_fwd, fqdn_rev, hostname, state,
    user_context).  Raises ValueError with Kea's texts; Kea skips such a
    lease with ``HA_LEASE_SYNC_FAILED`` and goes on."""
    if not isinstance(element, Mapping):
        raise ValueError("parsed lease data is not a JSON map")
    ip = element.get("ip-address")
    if not isinstance(ip, str):
        raise ValueError("ip-address not present in the parsed lease or it is not a string")
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"invalid IP address {ip} in the parsed lease")
    sid = element.get("subnet-id")
    if isinstance(sid, bool) or not isinstance(sid, int):
        raise ValueError("subnet-id not present in the parsed lease or it is not a number")
    if sid <= 0:
        raise ValueError(f"subnet-id {sid} is not a positive integer")
    if sid > 0xFFFFFFFF:
        raise ValueError(f"subnet-id {sid} is not a 32 bit unsigned integer")
    hw = element.get("hw-address")
    hwaddr = None
    if "hw-address" in element:
        if not isinstance(hw, str):
            raise ValueError("hw-address is not a string in the parsed lease")
        try:
            hwaddr = _hex_bytes(hw)
        except ValueError:
            raise ValueError(f"invalid hardware address {hw} in the parsed lease")
    cltt = element.get("cltt")
    if isinstance(cltt, bool) or not isinstance(cltt, int):
        raise ValueError("cltt is not present in the parsed lease or it is not a number")
    if cltt <= 0:
        raise ValueError(f"cltt {cltt} is not a positive integer in the parsed lease")
    lft = element.get("valid-lft")
    if isinstance(lft, bool) or not isinstance(lft, int):
        raise ValueError("valid-lft is not present in the parsed lease or it is not a number")
    if lft < 0:
        raise ValueError(f"valid-lft {lft} is negative in the parsed lease")
    for key in ("fqdn-fwd", "fqdn-rev"):
        if not isinstance(element.get(key), bool):
            raise ValueError(f"{key} is not present in the parsed lease or it is not a boolean value")
    hostname = element.get("hostname")
    if not isinstance(hostname, str):
        raise ValueError("hostname is not present in the parsed lease or it is not a string value")
    state = element.get("state")
    if isinstance(state, bool) or not isinstance(state, int):
        raise ValueError("state is not present in the parsed lease or it is not a number")
    if state < 0 or state > 2:
        raise ValueError(f"state {state} must be in range [0..2]")
    ctx = element.get("user-context")
    if "user-context" in element and not isinstance(ctx, Mapping):
        raise ValueError("user context is not a map")
    if address.version != 4:
        raise ValueError(f"address {ip} it not an IPv4 address")
    if hwaddr is None:
        raise ValueError("hw-address not present in the parsed lease")
    client_id = None
    if "client-id" in element:
        cid = element["client-id"]
        if not isinstance(cid, str):
            raise ValueError("client identifier is not a string in the parsed lease")
        try:
            client_id = _hex_bytes(cid)
        except ValueError:
            raise ValueError(f"invalid client identifier {cid} in the parsed lease")
    return {
        "address": address,
        "hwaddr": hwaddr,
        "client_id": client_id,
        "valid_lifetime": lft,
        "cltt": cltt,
        "subnet_id": sid,
        "fqdn_fwd": element["fqdn-fwd"],
        "fqdn_rev": element["fqdn-rev"],
        "hostname": hostname.lower(),
        "state": state,
        "user_context": dict(ctx) if ctx is not None else None,
    }


# --------------------------------------------------------------------------
# Arguments of the commands we receive (ha_impl.cc handlers).

def _arguments(cmd: Mapping[str, Any], command: str) -> Mapping[str, Any]:
    """The arguments map of ``command``; ValueError with Kea's text."""
    args = cmd.get("arguments")
    if args is None:
        raise ValueError(f"arguments not found in the '{command}' command")
    if not isinstance(args, Mapping):
        raise ValueError(f"arguments in the '{command}' command are not a map")
    return args


def _mandatory(args: Mapping[str, Any], name: str, command: str) -> Any:
    if name not in args:
        raise ValueError(f"'{name}' is mandatory for the '{command}' command")
    return args[name]


def parse_ha_scopes(cmd: Mapping[str, Any]) -> List[str]:
    """``ha-scopes`` arguments; ValueError with Kea's text (result 1)."""
    scopes = _mandatory(_arguments(cmd, "ha-scopes"), "scopes", "ha-scopes")
    if not isinstance(scopes, list):
        raise ValueError("'scopes' must be a list in the 'ha-scopes' command")
    for s in scopes:
        if not isinstance(s, str):
            raise ValueError("scope name must be a string in the 'scopes' argument")
    return list(scopes)


def parse_ha_sync(cmd: Mapping[str, Any]) -> Tuple[str, int]:
    """``ha-sync`` arguments: (server-name, max-period or 0)."""
    args = _arguments(cmd, "ha-sync")
    name = _mandatory(args, "server-name", "ha-sync")
    if not isinstance(name, str):
        raise ValueError("'server-name' must be a string in the 'ha-sync' command")
    max_period = 0
    if "max-period" in args:
        mp = args["max-period"]
        if isinstance(mp, bool) or not isinstance(mp, int) or mp <= 0:
            raise ValueError("'max-period' must be a positive integer in the 'ha-sync' command")
        max_period = mp
    return name, max_period


def parse_maintenance_notify(cmd: Mapping[str, Any]) -> bool:
    """``ha-maintenance-notify``: the ``cancel`` flag."""
    # Kea words a missing or malformed map here as its command parser does.
    args = cmd.get("arguments")
    if args is None:
        raise ValueError("Mandatory 'arguments' parameter missing")
    if not isinstance(args, Mapping):
        raise ValueError("'arguments' is expected to be a map")
    cancel = _mandatory(args, "cancel", "ha-maintenance-notify")
    if not isinstance(cancel, bool):
        raise ValueError("'cancel' must be a boolean in the 'ha-maintenance-notify' command")
    return cancel
