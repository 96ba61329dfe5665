"""
Expired-lease reclamation (spec/dhcp4.md §16; [src] ``alloc_engine.cc``
``reclaimExpiredLeases4``, ``reclaimExpiredLease``, ``reclaimDeclined``,
``reclaimLeaseInDatabase``, ``deleteExpiredReclaimedLeases4``;
``cfg_expiration.h``).

Pure: a lease store with the synchronous API, ``now``, and the
``expired-leases-processing`` parameters.  The timers that call
:meth:`LeaseReclaimer.reclaim` and :meth:`LeaseReclaimer.flush` live in
``net/services.py`` (one-shot, re-armed after each run).

One reclamation pass, in Kea's order:

* fetch up to ``max-reclaim-leases`` + 1 expired, not-reclaimed leases
  (state != 2, ``expire <= now``), oldest first; the extra one only tells
  that the pass is *incomplete*; 0 means all of them;
* for each: the ``lease4_expire`` seam (``expire_callout(lease,
  remove_lease) -> skip``) runs first with the lease as stored; a skip
  leaves the lease alone (the callouts reclaimed it themselves) — Kea still
  counts it in the statistics;
* otherwise hostname and FQDN flags are cleared; a declined lease goes
  through the ``lease4_recover`` seam (``recover_callout(lease) -> skip``)
  and is deleted (``ALLOC_ENGINE_V4_DECLINED_RECOVERED``) — unless the
  callout skips, then it is kept like any other reclaimed lease; a lease in
  another state becomes state 2 (one row: hostname and FQDN cleared, cltt
  and lifetime unchanged) or, when ``flush-reclaimed-timer-wait-time`` is 0,
  is deleted at once;
* a deletion writes the *stored* lease with lifetime 0: for declined leases
  a state-1 row, for immediate removal a row still carrying the hostname;
* after ``max-reclaim-time`` ms (measured with the optional ``clock``) the
  pass stops after the current lease, and is incomplete if leases remain;
* more than ``unwarned-reclaim-cycles`` incomplete passes in a row warn
  (``ALLOC_ENGINE_V4_LEASES_RECLAMATION_SLOW``) and restart the count.

The flush pass deletes state-2 leases whose ``expire`` is at least
``hold-reclaimed-time`` seconds in the past (``expire <= now - hold``), one
deletion row each.

Tests: tests/test_reclaim.py
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Callable, List, Mapping, Optional, Tuple

from kea_twisted.config.model import ExpiredLeasesProcessing
from kea_twisted.leases import STATE_DECLINED, STATE_EXPIRED_RECLAIMED, Lease4
from kea_twisted.logs import kea_logger

__all__ = [
    "ExpirationConfig",
    "Outcome",
    "ReclaimedLease",
    "ReclamationResult",
    "LeaseReclaimer",
    "declined_recovered_deltas",
    "reclaimed_deltas",
]

log = kea_logger("alloc-engine")

#: ``lease4_expire`` seam: ``(lease, remove_lease) -> skip``.
ExpireCallout = Callable[[Lease4, bool], bool]
#: ``lease4_recover`` seam: ``(lease) -> skip``.
RecoverCallout = Callable[[Lease4], bool]


class ExpirationConfig(ExpiredLeasesProcessing):
    """``expired-leases-processing`` with Kea's defaults (spec §16): the
    configuration model's fields and defaults, with what reclamation
    derives from them."""

    __slots__ = ()

    @property
    def remove_reclaimed(self) -> bool:
        """Flush timer 0: reclamation deletes instead of keeping state 2
        (``cfg_expiration.h`` ``setupTimers``)."""
        return self.flush_reclaimed_timer_wait_time == 0

    @classmethod
    def from_config(cls, params: Optional[Mapping[str, Any]]) -> "ExpirationConfig":
        """From the Kea map (``"max-reclaim-leases": 50`` …); missing keys
        take the defaults."""
        params = params or {}
        kwargs = {}
        for name in cls.__dataclass_fields__:
            key = name.replace("_", "-")
            if key in params:
                kwargs[name] = int(params[key])
        return cls(**kwargs)


class Outcome(enum.Enum):
    """What one reclamation did to one lease."""

    #: Written back in state 2.
    RECLAIMED = "reclaimed"
    #: Deleted (flush timer 0).
    REMOVED = "removed"
    #: A declined lease whose probation ended, deleted.
    DECLINED_RECOVERED = "declined-recovered"
    #: ``lease4_expire`` skipped: the store was not touched.
    SKIPPED = "skipped"
    #: The store refused (write error); logged, the pass went on.
    FAILED = "failed"


@dataclass(frozen=True)
class ReclaimedLease:
    """One lease handled by a pass: as it was, what happened, and the lease
    now stored (None when deleted or untouched)."""

    lease: Lease4
    outcome: Outcome
    stored: Optional[Lease4] = None


@dataclass
class ReclamationResult:
    """What a pass did, with the statistics deltas Kea applies (in order;
    ``subnet[N].name`` names as ``StatsMgr`` uses)."""

    leases: List[ReclaimedLease] = field(default_factory=list)
    incomplete: bool = False
    warn_slow: bool = False
    stats: List[Tuple[str, int]] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.leases if r.outcome is outcome)


def _subnet_stat(subnet_id: int, name: str) -> str:
    return f"subnet[{subnet_id}].{name}"


# The statistics Kea moves when it reclaims a lease, in Kea's order; the
# allocation engine, which reclaims an expired lease on the way to reusing
# it, moves the same ones.

def declined_recovered_deltas(subnet_id: int) -> List[Tuple[str, int]]:
    """A declined lease of ``subnet_id`` returned to the pool."""
    return [
        (_subnet_stat(subnet_id, "declined-addresses"), -1),
        ("declined-addresses", -1),
        ("reclaimed-declined-addresses", 1),
        (_subnet_stat(subnet_id, "reclaimed-declined-addresses"), 1),
    ]


def reclaimed_deltas(subnet_id: int) -> List[Tuple[str, int]]:
    """Any lease of ``subnet_id`` reclaimed."""
    return [
        (_subnet_stat(subnet_id, "assigned-addresses"), -1),
        ("reclaimed-leases", 1),
        (_subnet_stat(subnet_id, "reclaimed-leases"), 1),
    ]


class LeaseReclaimer:
    """Kea's reclamation routine over one store.

    :param store: an :class:`~kea_twisted.leases.ISyncLeaseStore`.
    :param config: the ``expired-leases-processing`` values.
    :param expire_callout: the ``lease4_expire`` seam; returns True to skip.
    :param recover_callout: the ``lease4_recover`` seam; returns True to skip.
    :param clock: monotonic seconds, for ``max-reclaim-time`` (None: no
        time limit, as in tests).
    """

    def __init__(
        self,
        store: Any,
        config: ExpirationConfig = ExpirationConfig(),
        *,
        expire_callout: Optional[ExpireCallout] = None,
        recover_callout: Optional[RecoverCallout] = None,
        clock: Optional[Callable[[], float]] = None,
    ):
        self.store = store
        self.config = config
        self.expire_callout = expire_callout
        self.recover_callout = recover_callout
        self.clock = clock
        #: Consecutive incomplete passes (Kea's ``incomplete_v4_reclamations_``).
        self.incomplete_passes = 0

    def reclaim(self, now: int) -> ReclamationResult:
        """One reclamation pass at ``now``."""
        config = self.config
        result = ReclamationResult()
        limit = config.max_reclaim_leases
        if limit > 0:
            leases = self.store.get_expired_leases4(now, limit + 1)
            if len(leases) > limit:
                leases = leases[:limit]
                result.incomplete = True
        else:
            leases = self.store.get_expired_leases4(now, 0)
        started = self.clock() if self.clock is not None else None
        for processed, lease in enumerate(leases, 1):
            result.leases.append(self._reclaim_one(lease, result))
            if (started is not None and config.max_reclaim_time > 0
                    and (self.clock() - started) * 1000 >= config.max_reclaim_time):
                if processed < len(leases):
                    result.incomplete = True
                log.debug("{msgid} timeout of {timeout} ms reached",
                          msgid="ALLOC_ENGINE_V4_LEASES_RECLAMATION_TIMEOUT",
                          timeout=config.max_reclaim_time)
                break
        if result.incomplete:
            self.incomplete_passes += 1
            cycles = config.unwarned_reclaim_cycles
            if cycles > 0 and self.incomplete_passes > cycles:
                result.warn_slow = True
                log.warn("{msgid} expired leases still exist after {cycles} reclamations",
                         msgid="ALLOC_ENGINE_V4_LEASES_RECLAMATION_SLOW", cycles=cycles)
                self.incomplete_passes = 0
        else:
            self.incomplete_passes = 0
        return result

    def _reclaim_one(self, lease: Lease4, result: ReclamationResult) -> ReclaimedLease:
        remove = self.config.remove_reclaimed
        outcome = Outcome.SKIPPED
        stored: Optional[Lease4] = lease
        try:
            skipped = bool(self.expire_callout(lease, remove)) if self.expire_callout else False
            if not skipped:
                cleared = replace(lease, hostname="", fqdn_fwd=False, fqdn_rev=False)
                declined_recovered = False
                if lease.state == STATE_DECLINED:
                    declined_recovered = self._recover_declined(cleared, result)
                    remove = declined_recovered
                if remove:
                    self.store.delete_lease(cleared)
                    stored = None
                    outcome = Outcome.DECLINED_RECOVERED if declined_recovered else Outcome.REMOVED
                else:
                    stored = replace(cleared, state=STATE_EXPIRED_RECLAIMED)
                    self.store.update_lease(stored)
                    outcome = Outcome.RECLAIMED
        except Exception as e:
            log.error("{msgid} failed to reclaim the lease {address}: {reason}",
                      msgid="ALLOC_ENGINE_V4_LEASE_RECLAMATION_FAILED",
                      address=lease.address, reason=str(e))
            return ReclaimedLease(lease, Outcome.FAILED, self.store.get_lease4(lease.address))
        # Kea counts the lease as reclaimed even when a callout skipped it.
        result.stats.extend(reclaimed_deltas(lease.subnet_id))
        return ReclaimedLease(lease, outcome, stored)

    def _recover_declined(self, lease: Lease4, result: ReclamationResult) -> bool:
        """Kea's ``reclaimDeclined``: True to delete the lease."""
        if self.recover_callout is not None and self.recover_callout(lease):
            log.debug("{msgid} lease4_recover skipped {address}",
                      msgid="DHCPSRV_HOOK_LEASE4_RECOVER_SKIP", address=lease.address)
            return False
        log.info("{msgid} IPv4 address {address} is returned to the pool after {secs} seconds of probation",
                 msgid="ALLOC_ENGINE_V4_DECLINED_RECOVERED", address=lease.address,
                 secs=lease.valid_lifetime)
        result.stats.extend(declined_recovered_deltas(lease.subnet_id))
        return True

    def flush(self, now: int) -> int:
        """The flush pass: delete state-2 leases held longer than
        ``hold-reclaimed-time``; the number deleted (errors logged, 0)."""
        try:
            return self.store.delete_expired_reclaimed_leases4(now, self.config.hold_reclaimed_time)
        except Exception as e:
            log.error("{msgid} deleting reclaimed leases failed: {reason}",
                      msgid="ALLOC_ENGINE_V4_RECLAIMED_LEASES_DELETE_FAILED", reason=str(e))
            return 0
