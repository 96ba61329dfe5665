"""
Kea's Statistics Commands hook library (``libdhcp_stat_cmds.so``), DHCPv4:
``stat-lease4-get`` (and ``stat-lease6-get``, which a DHCPv4 server answers
with "no matching data", as Kea's does).

``stat-lease4-get`` returns one row per configured subnet in the selection
(all, ``subnet-id``, or ``subnet-range``), in subnet-id order::

    [subnet-id, total-addresses, cumulative-assigned-addresses,
     assigned-addresses, declined-addresses]

The first two counts are the subnet's statistics (0 when absent); the last
two are counted in the lease store by state — every lease in state default
(expired but not yet reclaimed ones included) and in state declined;
reclaimed leases are not counted (Kea's memfile ``LeaseStatsQuery4``).
Texts, result codes and parameter checks are Kea 2.2's
(``src/hooks/dhcp/stat_cmds/stat_cmds.cc``), checked against the real
library.

Tests: tests/test_stat_cmds.py
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping

from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary
from kea_twisted.logs import kea_logger

__all__ = [
    "StatCmds",
    "library",
    "Selection",
    "StatCmdsError",
    "NoMatchingData",
    "parse_selection",
    "lease4_result_set",
    "stat_lease4_get",
    "stat_lease6_get",
    "COLUMNS4",
]

log = kea_logger("stat-cmds-hooks")

COLUMNS4 = (
    "subnet-id",
    "total-addresses",
    "cumulative-assigned-addresses",
    "assigned-addresses",
    "declined-addresses",
)

STATE_DEFAULT = 0
STATE_DECLINED = 1

RESULT_SUCCESS = 0
RESULT_ERROR = 1
RESULT_EMPTY = 3

_MISSING = object()


class StatCmdsError(ValueError):
    """A malformed command: result 1 with this text."""


class NoMatchingData(LookupError):
    """No configured subnet in the selection: result 3."""


@dataclass(frozen=True)
class Selection:
    """Kea's ``LeaseStatsQuery`` select mode: ``"all"``, ``"single"`` or
    ``"range"``, with the subnet ids (0 when unused)."""

    mode: str = "all"
    first: int = 0
    last: int = 0

    def text(self) -> str:
        if self.mode == "single":
            return f"[subnet-id={self.first}]"
        if self.mode == "range":
            return f"[subnets {self.first} through {self.last}]"
        return "[all subnets]"


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _subnet_id(value: int) -> int:
    # Kea checks the 64-bit value, then stores it in a 32-bit SubnetID.
    return value & 0xFFFFFFFF


def parse_selection(message: Mapping[str, Any]) -> Selection:
    """The selection from a command message (``{"command", "arguments"}``);
    raises :class:`StatCmdsError` with Kea's texts.  Unknown keys are
    ignored, as in Kea."""
    arguments = message.get("arguments", _MISSING)
    if arguments is _MISSING:
        return Selection()
    if not isinstance(arguments, dict):
        raise StatCmdsError("'arguments' parameter is not a map")
    selection = Selection()
    if "subnet-id" in arguments:
        value = arguments["subnet-id"]
        if not _is_integer(value):
            raise StatCmdsError("'subnet-id' parameter is not integer")
        if value <= 0:
            raise StatCmdsError("'subnet-id' parameter must be > 0")
        selection = Selection("single", _subnet_id(value))
    if "subnet-range" in arguments:
        if selection.mode == "single":
            raise StatCmdsError("cannot specify both subnet-id and subnet-range")
        subnet_range = arguments["subnet-range"]
        if not isinstance(subnet_range, dict):
            raise StatCmdsError("subnet-range parameter is not a map")
        bounds = []
        for key in ("first-subnet-id", "last-subnet-id"):
            value = subnet_range.get(key)
            if not _is_integer(value):
                raise StatCmdsError(f"'{key}' parameter missing or not an integer")
            if value <= 0:
                raise StatCmdsError(f"'{key}' parameter must be > 0")
            bounds.append(_subnet_id(value))
        first, last = bounds
        if last < first:
            raise StatCmdsError("'last-subnet-id' must be greater than 'first-subnet-id'")
        selection = Selection("range", first, last)
    return selection


def _selected_ids(subnet_ids: Iterable[int], selection: Selection) -> List[int]:
    ids = sorted(set(subnet_ids))
    if selection.mode == "single":
        if selection.first not in ids:
            raise NoMatchingData(f"subnet-id: {selection.first} does not exist")
        return [selection.first]
    if selection.mode == "range":
        ids = [i for i in ids if selection.first <= i <= selection.last]
    if not ids:
        raise NoMatchingData(
            f"selected ID range: {selection.first} through {selection.last} includes no known subnets"
        )
    return ids


def timestamp_text(seconds: float) -> str:
    """Kea's ``ptimeToText`` of a UTC time: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    whole = int(seconds // 1)
    micros = int(round((seconds - whole) * 1_000_000))
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{micros:06d}"


def lease4_result_set(
    subnet_ids: Iterable[int],
    leases: Iterable[Any],
    stat: Any,
    selection: Selection,
    now: float,
) -> Dict[str, Any]:
    """The ``result-set`` map for ``selection``.

    :param subnet_ids: the configured subnets' ids.
    :param leases: the stored leases (``subnet_id`` and ``state``).
    :param stat: ``(subnet_id, name) -> int``, the subnet statistic or 0.
    :raises NoMatchingData: when no configured subnet is selected.
    """
    ids = _selected_ids(subnet_ids, selection)
    wanted = set(ids)
    assigned: Dict[int, int] = {}
    declined: Dict[int, int] = {}
    for lease in leases:
        if lease.subnet_id not in wanted:
            continue
        if lease.state == STATE_DEFAULT:
            assigned[lease.subnet_id] = assigned.get(lease.subnet_id, 0) + 1
        elif lease.state == STATE_DECLINED:
            declined[lease.subnet_id] = declined.get(lease.subnet_id, 0) + 1
    rows = [
        [i, stat(i, "total-addresses"), stat(i, "cumulative-assigned-addresses"),
         assigned.get(i, 0), declined.get(i, 0)]
        for i in ids
    ]
    return {"columns": list(COLUMNS4), "rows": rows, "timestamp": timestamp_text(now)}


def _stat_reader(stats: Any):
    def stat(subnet_id: int, name: str) -> int:
        if stats is None:
            return 0
        value = stats.value(f"subnet[{subnet_id}].{name}", None)
        return int(value) if _is_integer(value) else 0

    return stat


def _selection_or_error(message: Mapping[str, Any], command: str):
    try:
        return parse_selection(message), None
    except StatCmdsError as e:
        msgid = "STAT_CMDS_LEASE4_GET_INVALID" if command == "stat-lease4-get" else "STAT_CMDS_LEASE6_GET_INVALID"
        log.error("{msgid} {command} command is malformed or invalid, reason: {reason}",
                  msgid=msgid, command=command, reason=str(e))
        return None, {"result": RESULT_ERROR, "text": str(e)}


def stat_lease4_get(message: Mapping[str, Any], config: Any, store: Any, stats: Any, now: float) -> Dict[str, Any]:
    """The answer to a ``stat-lease4-get`` message over a server's
    configuration, lease store and statistics."""
    selection, error = _selection_or_error(message, "stat-lease4-get")
    if error is not None:
        return error
    subnets = getattr(config, "subnets", ()) if config is not None else ()
    leases = store.get_all_leases4() if store is not None else ()
    try:
        result_set = lease4_result_set((s.id for s in subnets), leases, _stat_reader(stats), selection, now)
    except NoMatchingData as e:
        return _no_matching_data("stat-lease4-get", "STAT_CMDS_LEASE4_GET_NO_SUBNETS", selection, e)
    rows = len(result_set["rows"])
    log.info("{msgid} stat-lease4-get command successful, parameters: {params} rows found: {rows}",
             msgid="STAT_CMDS_LEASE4_GET", params=selection.text(), rows=rows)
    return {"result": RESULT_SUCCESS,
            "text": f"stat-lease4-get{selection.text()}: {rows} rows found",
            "arguments": {"result-set": result_set}}


def stat_lease6_get(message: Mapping[str, Any]) -> Dict[str, Any]:
    """A DHCPv4 server has no IPv6 subnets: Kea's checks, then result 3."""
    selection, error = _selection_or_error(message, "stat-lease6-get")
    if error is not None:
        return error
    try:
        _selected_ids((), selection)
    except NoMatchingData as e:
        return _no_matching_data("stat-lease6-get", "STAT_CMDS_LEASE6_GET_NO_SUBNETS", selection, e)
    raise AssertionError("no IPv6 subnet can be selected")  # pragma: no cover


def _no_matching_data(command: str, msgid: str, selection: Selection, error: NoMatchingData) -> Dict[str, Any]:
    """Kea's answer (result 3) and log line when the selection matches no
    subnet."""
    log.info("{msgid} {command}, parameters: {params}, {reason}\"",
             msgid=msgid, command=command, params=selection.text(), reason=str(error))
    return {"result": RESULT_EMPTY,
            "text": f"{command}{selection.text()}: no matching data, {error}",
            "arguments": {}}


@implementer(IHookLibrary)
class StatCmds:
    """The library object: registers the two commands in ``load``."""

    multi_threading_compatible = True

    def __init__(self) -> None:
        self._server: Any = None

    def load(self, handle: Any) -> None:
        self._server = getattr(handle, "server", None)
        handle.register_command_handler("stat-lease4-get", self.lease4_get)
        handle.register_command_handler("stat-lease6-get", self.lease6_get)
        log.info("{msgid} loading Stat Commands hooks library successful", msgid="STAT_CMDS_INIT_OK")

    def unload(self) -> None:
        self._server = None
        log.info("{msgid} unloading Stat Commands hooks library successful", msgid="STAT_CMDS_DEINIT_OK")

    def _now(self) -> float:
        reactor = getattr(self._server, "reactor", None)
        return reactor.seconds() if reactor is not None else time.time()

    def lease4_get(self, callout_handle: Any) -> Any:
        server = self._server
        message = callout_handle.get_argument("command")
        store = getattr(server, "store", None)
        arguments = (message, getattr(server, "config", None))
        tail = (getattr(server, "stats", None), self._now())
        call_with_store = getattr(store, "call_with_store", None)
        if call_with_store is not None:
            # A database store: count on its worker thread, between packets.
            d = call_with_store(lambda sync_store: stat_lease4_get(*arguments, sync_store, *tail))
            return d.addCallback(lambda response: callout_handle.set_argument("response", response))
        callout_handle.set_argument("response", stat_lease4_get(*arguments, store, *tail))
        return None

    def lease6_get(self, callout_handle: Any) -> None:
        callout_handle.set_argument("response", stat_lease6_get(callout_handle.get_argument("command")))


# The one object the loader takes from this module.
library = StatCmds()
