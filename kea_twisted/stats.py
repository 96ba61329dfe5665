"""
Kea's statistics manager (``StatsMgr``) and the statistics ``kea-dhcp4``
keeps, as a pure object.  Time comes from an injected clock (or a ``now``
argument); nothing here reads the wall clock.

Semantics, from Kea 2.2 ``src/lib/stats/observation.cc``,
``stats_mgr.cc``, ``context.cc`` and spec/control-channel.md §3-§4:

* An :class:`Observation` is a named list of ``(value, timestamp)``
  samples, newest first, of one kind: integer, float, duration or string.
  Every change adds a sample.  Either a count limit (default 20) or an age
  limit (default off) is active, never both: setting one switches the other
  off.  With the count limit, one old sample is dropped when the list grows
  past it; with the age limit, samples are dropped from the old end while
  the newest and oldest are more than the limit apart (an age of 0 keeps
  only samples taken at the same instant as the newest).
* Adding to a missing statistic creates it with the added value
  (``pkt4-sent`` is ``[[1, ts]]`` after ``statistic-remove`` and one
  OFFER); ``reset`` replaces all samples with one neutral sample now.
* Timestamps are Kea's ``clockToText``: local time,
  ``YYYY-MM-DD HH:MM:SS.ffffff``.

Two Kea 2.2 crash bugs are refused instead of copied (spec §3): a
``max-samples`` of 0 for one statistic (Kea then fails every later read
and update of it with "Observation storage container empty" and stops
answering DHCP) and a negative ``duration`` (Kea aborts).  Both answer
result 1 here; see :mod:`kea_twisted.commands`.

Tests: tests/test_stats.py
"""

from __future__ import annotations

import time
from collections import deque
from datetime import timedelta
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Tuple

__all__ = [
    "INTEGER",
    "FLOAT",
    "DURATION",
    "STRING",
    "StatsError",
    "Observation",
    "StatsMgr",
    "clock_to_text",
    "duration_to_text",
    "subnet_stat_name",
    "DHCP4_STATISTICS",
    "SUBNET_STATISTICS",
    "init_dhcp4_statistics",
    "remove_subnet_statistics",
    "update_config_statistics",
    "DEFAULT_MAX_SAMPLE_COUNT",
]

INTEGER = "integer"
FLOAT = "float"
DURATION = "duration"
STRING = "string"

# Kea's Observation::Type values, shown in its type errors ("integer(0)").
_TYPE_NUMBER = {INTEGER: 0, FLOAT: 1, DURATION: 2, STRING: 3}
_NEUTRAL = {INTEGER: 0, FLOAT: 0.0, DURATION: timedelta(0), STRING: ""}

DEFAULT_MAX_SAMPLE_COUNT = 20

#: Created with value 0 when kea-dhcp4 starts ([src] ``dhcp4_srv.cc``
#: ``dhcp4_statistics``); not re-created by a reconfiguration.
DHCP4_STATISTICS: Tuple[str, ...] = (
    "pkt4-received",
    "pkt4-discover-received",
    "pkt4-offer-received",
    "pkt4-request-received",
    "pkt4-ack-received",
    "pkt4-nak-received",
    "pkt4-release-received",
    "pkt4-decline-received",
    "pkt4-inform-received",
    "pkt4-unknown-received",
    "pkt4-sent",
    "pkt4-offer-sent",
    "pkt4-ack-sent",
    "pkt4-nak-sent",
    "pkt4-parse-failed",
    "pkt4-receive-drop",
    "v4-allocation-fail",
    "v4-allocation-fail-shared-network",
    "v4-allocation-fail-subnet",
    "v4-allocation-fail-no-pools",
    "v4-allocation-fail-classes",
    "v4-reservation-conflicts",
)

#: The per-subnet statistics present from configuration on (spec §4.1).
SUBNET_STATISTICS: Tuple[str, ...] = (
    "total-addresses",
    "assigned-addresses",
    "declined-addresses",
    "reclaimed-declined-addresses",
    "reclaimed-leases",
    "cumulative-assigned-addresses",
    "v4-reservation-conflicts",
)

# Lease states as lease4.csv writes them.
_STATE_DEFAULT = 0
_STATE_DECLINED = 1


class StatsError(Exception):
    """Kea's ``InvalidStatType`` and friends; ``str()`` is Kea's text."""


def clock_to_text(t: float, localtime: Callable[[float], time.struct_time] = time.localtime) -> str:
    """Kea's ``clockToText``: ``2026-11-25 07:18:21.595123`` in local time,
    microseconds truncated."""
    seconds = int(t // 1)
    micros = int((t - seconds) * 1_000_000)
    if micros >= 1_000_000:  # float rounding at the edge
        micros = 999_999
    tm = localtime(seconds)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (
        tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros,
    )


def duration_to_text(value: timedelta) -> str:
    """Kea's ``durationToText``: ``HH:MM:SS.ffffff`` (hours not wrapped)."""
    total_micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    secs, micros = divmod(total_micros, 1_000_000)
    hours, secs = divmod(secs, 3600)
    mins, secs = divmod(secs, 60)
    return "%02d:%02d:%02d.%06d" % (hours, mins, secs, micros)


def subnet_stat_name(subnet_id: int, name: str) -> str:
    """Kea's ``StatsMgr::generateName("subnet", id, name)``."""
    return f"subnet[{subnet_id}].{name}"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        raise StatsError("a statistic cannot be a boolean")
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, timedelta):
        return DURATION
    if isinstance(value, str):
        return STRING
    raise StatsError(f"not a statistic value: {value!r}")


def _type_text(kind: str) -> str:
    return f"{kind}({_TYPE_NUMBER[kind]})"


class Observation:
    """One statistic: its samples, newest first, and its limits.

    ``max_sample_count`` (an int) and ``max_sample_age`` (seconds) are the
    two limits; exactly one is active (the other is None).
    """

    def __init__(
        self,
        name: str,
        value: Any,
        now: float,
        max_sample_count: Optional[int] = DEFAULT_MAX_SAMPLE_COUNT,
        max_sample_age: Optional[float] = None,
    ):
        self.name = name
        self.kind = _kind_of(value)
        self.max_sample_count = max_sample_count
        self.max_sample_age = max_sample_age
        self.samples: Deque[Tuple[Any, float]] = deque()
        self.set_value(value, now)

    # -- values ---------------------------------------------------------------

    def _check_kind(self, value: Any) -> None:
        kind = _kind_of(value)
        if kind != self.kind:
            raise StatsError(
                f"Invalid statistic type requested: {_type_text(kind)}, "
                f"but the actual type is {_type_text(self.kind)}"
            )

    def set_value(self, value: Any, now: float) -> None:
        self._check_kind(value)
        samples = self.samples
        samples.appendleft((value, now))
        if len(samples) == 1:
            return
        if self.max_sample_count is not None:
            if len(samples) > self.max_sample_count:
                samples.pop()
        else:
            self._prune_by_age(self.max_sample_age or 0.0)

    def add_value(self, delta: Any, now: float) -> None:
        self._check_kind(delta)
        self.set_value(self.value + delta, now)

    @property
    def value(self) -> Any:
        """The newest value."""
        return self.samples[0][0]

    @property
    def timestamp(self) -> float:
        return self.samples[0][1]

    def reset(self, now: float) -> None:
        """Kea's ``reset``: one neutral sample (0, 0.0, 00:00:00, "") now."""
        self.samples.clear()
        self.set_value(_NEUTRAL[self.kind], now)

    # -- limits ---------------------------------------------------------------

    def _prune_by_age(self, age: float) -> None:
        samples = self.samples
        while len(samples) > 1 and samples[0][1] - samples[-1][1] > age:
            samples.pop()

    def set_max_sample_age(self, seconds: float) -> None:
        """Age limit on, count limit off; prunes at once."""
        if seconds < 0:
            raise StatsError("'duration' parameter must not be negative")
        self.max_sample_age = seconds
        self.max_sample_count = None
        self._prune_by_age(seconds)

    def set_max_sample_count(self, count: int) -> None:
        """Count limit on, age limit off; prunes at once."""
        if count < 1:
            raise StatsError("'max-samples' parameter must not be zero")
        self.max_sample_count = count
        self.max_sample_age = None
        while len(self.samples) > count:
            self.samples.pop()

    # -- output ---------------------------------------------------------------

    def to_json(self, timestamp_text: Callable[[float], str] = clock_to_text) -> List[List[Any]]:
        """``[[value, "timestamp"], ...]``, newest first (Kea's ``getJSON``)."""
        if self.kind == DURATION:
            return [[duration_to_text(v), timestamp_text(t)] for v, t in self.samples]
        return [[v, timestamp_text(t)] for v, t in self.samples]


class StatsMgr:
    """Kea's ``StatsMgr``: named observations and the defaults new ones get.

    :param clock: returns the current time in seconds since the epoch
        (``reactor.seconds``); used when a mutator gets no ``now``.
    :param timestamp_text: formats a sample time (Kea's local-time
        ``clockToText`` by default).
    """

    def __init__(
        self,
        clock: Callable[[], float],
        timestamp_text: Callable[[float], str] = clock_to_text,
    ):
        self.clock = clock
        self.timestamp_text = timestamp_text
        self._observations: Dict[str, Observation] = {}
        # Kea's Observation::default_max_sample_count_ / _age_.
        self.default_max_sample_count: Optional[int] = DEFAULT_MAX_SAMPLE_COUNT
        self.default_max_sample_age: float = 0.0

    def _now(self, now: Optional[float]) -> float:
        return self.clock() if now is None else now

    # -- reading --------------------------------------------------------------

    def __contains__(self, name: str) -> bool:
        return name in self._observations

    def __len__(self) -> int:
        return len(self._observations)

    def names(self) -> List[str]:
        return sorted(self._observations)

    def get_observation(self, name: str) -> Optional[Observation]:
        return self._observations.get(name)

    def value(self, name: str, default: Any = None) -> Any:
        """The newest value of ``name`` (``default`` when absent)."""
        observation = self._observations.get(name)
        return default if observation is None else observation.value

    def get(self, name: str) -> Dict[str, Any]:
        """``statistic-get``'s arguments: ``{name: samples}`` or ``{}``."""
        observation = self._observations.get(name)
        if observation is None:
            return {}
        return {name: observation.to_json(self.timestamp_text)}

    def get_all(self) -> Dict[str, Any]:
        return {
            name: observation.to_json(self.timestamp_text)
            for name, observation in self._observations.items()
        }

    # -- changing -------------------------------------------------------------

    def _new(self, name: str, value: Any, now: float) -> Observation:
        if self.default_max_sample_count is not None:
            observation = Observation(name, value, now, self.default_max_sample_count, None)
        else:
            observation = Observation(name, value, now, None, self.default_max_sample_age)
        self._observations[name] = observation
        return observation

    def set_value(self, name: str, value: Any, now: Optional[float] = None) -> None:
        """Set ``name`` (created if missing)."""
        now = self._now(now)
        observation = self._observations.get(name)
        if observation is None:
            self._new(name, value, now)
        else:
            observation.set_value(value, now)

    def add_value(self, name: str, delta: Any = 1, now: Optional[float] = None) -> None:
        """Add ``delta`` to ``name``; a missing statistic is created with
        ``delta`` as its value (Kea's ``addValue``)."""
        if now is None:
            now = self.clock()
        observation = self._observations.get(name)
        if observation is None:
            self._new(name, delta, now)
        elif type(delta) is int and observation.kind == INTEGER:
            # The per-packet counters: an int delta on an integer statistic
            # needs no kind checks (the type test excludes bool), and the
            # count limit — the usual one — is one length test.
            samples = observation.samples
            samples.appendleft((samples[0][0] + delta, now))
            limit = observation.max_sample_count
            if limit is not None:
                if len(samples) > limit:
                    samples.pop()
            else:
                observation._prune_by_age(observation.max_sample_age or 0.0)
        else:
            observation.add_value(delta, now)

    def reset(self, name: str, now: Optional[float] = None) -> bool:
        observation = self._observations.get(name)
        if observation is None:
            return False
        observation.reset(self._now(now))
        return True

    def reset_all(self, now: Optional[float] = None) -> None:
        """Every statistic to its neutral value — ``subnet[X].total-addresses``
        included (spec §3 SURPRISE)."""
        for observation in self._observations.values():
            observation.reset(self._now(now))

    def remove(self, name: str) -> bool:
        return self._observations.pop(name, None) is not None

    def remove_all(self) -> None:
        self._observations.clear()

    def set_max_sample_age(self, name: str, seconds: float) -> bool:
        observation = self._observations.get(name)
        if observation is None:
            return False
        observation.set_max_sample_age(seconds)
        return True

    def set_max_sample_count(self, name: str, count: int) -> bool:
        observation = self._observations.get(name)
        if observation is None:
            return False
        observation.set_max_sample_count(count)
        return True

    def set_max_sample_age_all(self, seconds: float) -> None:
        """``statistic-sample-age-set-all``: the age limit becomes the
        default for new statistics and applies to all present ones."""
        if seconds < 0:
            raise StatsError("'duration' parameter must not be negative")
        self.default_max_sample_count = None
        self.default_max_sample_age = seconds
        for observation in self._observations.values():
            observation.set_max_sample_age(seconds)

    def set_max_sample_count_all(self, count: int) -> None:
        """``statistic-sample-count-set-all``: likewise for the count limit."""
        if count < 1:
            raise StatsError("'max-samples' parameter must not be zero")
        self.default_max_sample_count = count
        for observation in self._observations.values():
            observation.set_max_sample_count(count)

    def apply_config_defaults(
        self, sample_count: Optional[int], sample_age: Optional[int]
    ) -> None:
        """``statistic-default-sample-count`` / ``-age`` of a new
        configuration ([src] ``srv_config.cc`` ``updateStatistics``): a
        count of 0 switches to the age limit; a non-zero count applies to
        every statistic, else the age does."""
        count = 0
        if sample_count is not None:
            count = sample_count
            if count == 0:
                self.default_max_sample_count = None
            else:
                self.default_max_sample_count = count
                for observation in self._observations.values():
                    observation.set_max_sample_count(count)
        if sample_age is not None:
            self.default_max_sample_age = float(sample_age)
            if count == 0 and sample_age >= 0:
                for observation in self._observations.values():
                    observation.set_max_sample_age(float(sample_age))


# ---------------------------------------------------------------------------
# The statistics kea-dhcp4 keeps


def init_dhcp4_statistics(stats: StatsMgr, now: Optional[float] = None) -> None:
    """Server start: every :data:`DHCP4_STATISTICS` name set to 0."""
    for name in DHCP4_STATISTICS:
        stats.set_value(name, 0, now)


def remove_subnet_statistics(stats: StatsMgr, subnet_ids: Iterable[int]) -> None:
    """Before a new configuration is committed, the old subnets' statistics
    go ([src] ``cfg_subnets4.cc`` ``removeStatistics``) — all but
    ``v4-reservation-conflicts`` and the ``v4-allocation-fail*`` ones."""
    for subnet_id in subnet_ids:
        for name in ("total-addresses", "assigned-addresses",
                     "cumulative-assigned-addresses", "declined-addresses",
                     "reclaimed-declined-addresses", "reclaimed-leases"):
            stats.remove(subnet_stat_name(subnet_id, name))


def update_config_statistics(
    stats: StatsMgr,
    subnets: Iterable[Tuple[int, int]],
    lease_counts: Iterable[Tuple[int, int, int]] = (),
    now: Optional[float] = None,
) -> None:
    """After a configuration is committed ([src] ``cfg_subnets4.cc``
    ``updateStatistics`` + ``lease_mgr.cc`` ``recountLeaseStats4``).

    :param subnets: ``(subnet_id, pool_capacity)`` per configured subnet.
    :param lease_counts: ``(subnet_id, state, count)`` from the lease
        store; state 0 counts as assigned, state 1 (declined) as declined
        *and* assigned, others are ignored.
    """
    subnets = list(subnets)
    for subnet_id, capacity in subnets:
        stats.set_value(subnet_stat_name(subnet_id, "total-addresses"), capacity, now)
        for name in ("cumulative-assigned-addresses", "v4-reservation-conflicts"):
            full = subnet_stat_name(subnet_id, name)
            if full not in stats:
                stats.set_value(full, 0, now)
    if not subnets:
        return
    stats.set_value("declined-addresses", 0, now)
    for name in ("reclaimed-declined-addresses", "reclaimed-leases",
                 "cumulative-assigned-addresses"):
        if name not in stats:
            stats.set_value(name, 0, now)
    for subnet_id, _capacity in subnets:
        stats.set_value(subnet_stat_name(subnet_id, "assigned-addresses"), 0, now)
        stats.set_value(subnet_stat_name(subnet_id, "declined-addresses"), 0, now)
        for name in ("reclaimed-declined-addresses", "reclaimed-leases"):
            full = subnet_stat_name(subnet_id, name)
            if full not in stats:
                stats.set_value(full, 0, now)
    for subnet_id, state, count in lease_counts:
        if state == _STATE_DEFAULT:
            stats.add_value(subnet_stat_name(subnet_id, "assigned-addresses"), count, now)
        elif state == _STATE_DECLINED:
            stats.set_value(subnet_stat_name(subnet_id, "declined-addresses"), count, now)
            stats.add_value("declined-addresses", count, now)
            stats.add_value(subnet_stat_name(subnet_id, "assigned-addresses"), count, now)
