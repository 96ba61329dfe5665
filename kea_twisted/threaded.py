"""
Serving from a blocking lease database without blocking the reactor.

With ``lease-database`` type ``postgresql`` every lease lookup is a round
trip to the database.  The DHCP engine (:class:`kea_twisted.dhcp4.Dhcp4Engine`)
is synchronous, so it runs, whole, on **one worker thread** that owns the
database connection — a Twisted ``ThreadPool`` of size 1: packets are
processed one at a time, in arrival order, with nothing concurrent inside
the engine, as in Kea's single-threaded mode.  The reactor thread only
moves datagrams and fires Deferreds.  The memfile server does not use any
of this: it stays fully synchronous on the reactor.

* :class:`ThreadedPacketHandler` is the :class:`IPacketHandler` the network
  edge gets: ``receive()`` queues the datagram for the worker and answers a
  Deferred of the engine's Reply or Drop, fired on the reactor thread.
  The queue is bounded (``packet_queue_size``, Kea's multi-threading
  default 64): when it is full the oldest queued datagram is dropped with
  Kea's ``DHCP4_PACKET_QUEUE_FULL``, as Kea's packet queue does, so a
  stalled database cannot make the server hold an unbounded backlog of
  stale queries.
* :class:`StatsFunnel` stands in for the :class:`~kea_twisted.stats.StatsMgr`
  on the worker thread: changes are recorded (with the time they happened)
  in a thread-safe deque and applied on the reactor thread before the
  result that made them is delivered.  The StatsMgr itself is touched only
  by the reactor thread, so it needs no lock and the memfile path pays
  nothing.
* :class:`DbReconnectControl` is Kea's ``ReconnectCtl`` with
  ``PgSqlLeaseMgr::dbReconnect`` and ``ControlledDhcpv4Srv``'s
  ``dbLost``/``dbRecovered``/``dbFailed`` callbacks ([src] Kea 2.2
  ``src/lib/util/reconnect_ctl.h``, ``src/lib/dhcpsrv/pgsql_lease_mgr.cc``,
  ``src/bin/dhcp4/ctrl_dhcp4_srv.cc``): on a lost connection the DHCP
  service is disabled (origin ``db``) only with ``on-fail``
  ``stop-retry-exit``; a first reconnect is tried at once, then every
  ``reconnect-wait-time`` milliseconds, ``max-reconnect-tries`` attempts in
  all ("scheduling attempt 2 of 3" follows the first failure, as Kea
  counts); ``max-reconnect-tries`` 0 or a wait of 0 means no reconnecting
  (``DHCP4_DB_RECONNECT_DISABLED``); exhausted retries
  (``DHCP4_DB_RECONNECT_FAILED``) end the server with exit status 1 unless
  ``on-fail`` is ``serve-retry-continue``, which keeps serving on the lost
  connection (every lease operation failing) and never tries again.  Its
  log lines are Kea's ``DHCP4_DB_RECONNECT_*`` and
  ``DHCPSRV_PGSQL_LEASE_DB_RECONNECT_*``, in Kea's order [obs: kea-dhcp4
  2.2 with PostgreSQL stopped under it, 3 tries of 200 ms].  Kea runs its
  retry timer from its packet loop, so with no DHCP traffic a retry can
  come up to a second late; ours come on time.

Hook callouts (``pkt4_receive``, ``leases4_committed``, ``lease4_expire``
…) run on the worker thread with the engine, so a callout must not call
reactor APIs directly (``reactor.callFromThread`` is the way back); the
HA library, which does, is refused with an SQL lease database
(:func:`kea_twisted.config.staging.check_runnable`).  A callout that
answers with a Deferred resumes the engine wherever that Deferred fires
(the reactor thread) unless the engine resumes through
:meth:`ThreadedPacketHandler.run_on_worker`.

Tests: tests/test_pgsql_server.py
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Deque, Optional, Tuple

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from kea_twisted.datagrams import Arrival, Drop, IPacketHandler
from kea_twisted.logs import kea_logger

__all__ = [
    "DEFAULT_PACKET_QUEUE_SIZE",
    "StatsFunnel",
    "ThreadedPacketHandler",
    "DbReconnectControl",
    "ON_FAIL_ACTIONS",
    "new_worker_pool",
]

#: Kea's ``packet-queue-size`` default (multi-threading).
DEFAULT_PACKET_QUEUE_SIZE = 64
#: Kea's ``OnFailAction`` texts.
ON_FAIL_ACTIONS = ("stop-retry-exit", "serve-retry-exit", "serve-retry-continue")
#: Kea's ``DBG_DHCP4_BASIC``.
_DBG_DHCP4_BASIC = 10

dhcp4_log = kea_logger("dhcp4")
dhcpsrv_log = kea_logger("dhcpsrv")


def new_worker_pool(name: str = "kea-lease-database") -> ThreadPool:
    """A started one-thread pool: the lease database's thread."""
    pool = ThreadPool(minthreads=1, maxthreads=1, name=name)
    pool.start()
    return pool


# ---------------------------------------------------------------------------
# Statistics


class StatsFunnel:
    """The statistics face the worker thread gets.

    ``add_value``/``set_value`` (the only changes the engine, the allocator,
    the reclaimer and lease_cmds make) are recorded with their time and
    applied to the real ``stats`` by :meth:`flush`, on the reactor thread.
    ``value`` reads the real manager (a single dictionary read; a change
    still in the funnel is not seen).

    :param stats: the :class:`~kea_twisted.stats.StatsMgr`.
    :param clock: time of a change when none is given (``reactor.seconds``).
    """

    def __init__(self, stats: Any, clock: Optional[Callable[[], float]] = None):
        self.stats = stats
        self.clock = clock if clock is not None else stats.clock
        # deque.append and popleft are atomic: producers on any thread, the
        # reactor draining, no lock.
        self._pending: Deque[Tuple[bool, str, Any, float]] = deque()

    def add_value(self, name: str, delta: Any = 1, now: Optional[float] = None) -> None:
        self._pending.append((True, name, delta, self.clock() if now is None else now))

    def set_value(self, name: str, value: Any, now: Optional[float] = None) -> None:
        self._pending.append((False, name, value, self.clock() if now is None else now))

    def value(self, name: str, default: Any = None) -> Any:
        return self.stats.value(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.stats

    def __len__(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Apply every recorded change, oldest first (reactor thread only);
        the number applied."""
        pending, stats = self._pending, self.stats
        applied = 0
        while True:
            try:
                add, name, value, now = pending.popleft()
            except IndexError:
                return applied
            try:
                if add:
                    stats.add_value(name, value, now)
                else:
                    stats.set_value(name, value, now)
            except Exception:
                # A type clash (Kea refuses it too): the others still count.
                dhcp4_log.failure("{msgid} statistic {name} not updated", msgid="DHCP4_STATISTIC_UPDATE_FAILED",
                                  name=name)
            applied += 1


# ---------------------------------------------------------------------------
# Packets


@implementer(IPacketHandler)
class ThreadedPacketHandler:
    """The engine on the worker thread, as the network edge sees it.

    :param engine: the :class:`~kea_twisted.dhcp4.Dhcp4Engine` (its store,
        statistics and hooks used only from the worker thread).
    :param reactor: the reactor results are delivered in.
    :param pool: the worker pool (one thread; shared with the lease store so
        that lease commands and reclamation queue behind packets, never
        beside them).
    :param stats: the :class:`StatsFunnel` the engine writes to, flushed
        before each result is delivered (None: nothing to flush).
    :param queue_size: datagrams waiting for the worker before the oldest
        is dropped.
    """

    def __init__(self, engine: Any, reactor: Any, pool: ThreadPool, *, stats: Optional[StatsFunnel] = None,
                 queue_size: int = DEFAULT_PACKET_QUEUE_SIZE):
        self.engine = engine
        self.reactor = reactor
        self.pool = pool
        self.stats = stats
        self.queue_size = max(1, queue_size)
        self._pending: Deque[Tuple[bytes, Arrival, Deferred]] = deque()
        self.queue_full_drops = 0
        self._stopped = False

    def receive(self, data: bytes, arrival: Arrival) -> Deferred:
        d: Deferred = Deferred()
        if self._stopped:
            d.callback(Drop("DHCP4_SHUTDOWN"))
            return d
        pending = self._pending
        if len(pending) >= self.queue_size:
            try:
                oldest = pending.popleft()
            except IndexError:
                pass  # the worker took it meanwhile
            else:
                self.queue_full_drops += 1
                dhcp4_log.debug("{msgid} multi-threading packet queue is full", msgid="DHCP4_PACKET_QUEUE_FULL",
                                debuglevel=_DBG_DHCP4_BASIC)
                oldest[2].callback(Drop("DHCP4_PACKET_QUEUE_FULL"))
        pending.append((data, arrival, d))
        # One task per datagram; a task whose datagram was dropped from the
        # queue finds it empty (or takes the next one) and the counts match.
        self.pool.callInThread(self._work)
        return d

    @property
    def queued(self) -> int:
        return len(self._pending)

    def _work(self) -> None:
        """Worker thread: process the oldest queued datagram."""
        try:
            data, arrival, d = self._pending.popleft()
        except IndexError:
            return
        try:
            outcome: Any = self.engine.receive(data, arrival)
        except BaseException:
            outcome = Failure()
        self.reactor.callFromThread(self._deliver, d, outcome)

    def _deliver(self, d: Deferred, outcome: Any) -> None:
        """Reactor thread: statistics first, then the outcome."""
        if self.stats is not None:
            self.stats.flush()
        if isinstance(outcome, Failure):
            d.errback(outcome)
        elif isinstance(outcome, Deferred):
            # Parked by a hook: the rest follows when the callout releases it.
            outcome.chainDeferred(d)
        else:
            d.callback(outcome)

    def run_on_worker(self, fn: Callable[..., Any], *args: Any) -> Deferred:
        """``fn(*args)`` on the worker thread, behind the queued datagrams;
        its statistics applied and its outcome (a value, a failure, or a
        Deferred to follow) delivered on the reactor thread.  For an engine
        resuming a query after a callout's Deferred fired, so that the rest
        of the query (its store calls) runs on the worker too."""
        d: Deferred = Deferred()

        def work() -> None:
            try:
                outcome: Any = fn(*args)
            except BaseException:
                outcome = Failure()
            self.reactor.callFromThread(self._deliver, d, outcome)

        self.pool.callInThread(work)
        return d

    def stop(self) -> None:
        """Refuse new datagrams and drop the queued ones (reactor thread)."""
        self._stopped = True
        while True:
            try:
                _data, _arrival, d = self._pending.popleft()
            except IndexError:
                return
            d.callback(Drop("DHCP4_SHUTDOWN"))


# ---------------------------------------------------------------------------
# Connection recovery


class DbReconnectControl:
    """Kea's lease database connection recovery for one store.

    All methods run on the reactor thread; :meth:`connection_lost` is what
    the store's ``on_connection_lost`` reaches through
    ``reactor.callFromThread``.

    :param reactor: ``callLater``.
    :param network_state: the server's
        :class:`~kea_twisted.commands.NetworkState`.
    :param reopen: runs the store's ``reconnect()`` on the worker thread;
        a Deferred that fails while the database is away.
    :param shutdown: ``shutdown(exit_status)``: Kea's ``shutdownServer``.
    :param max_retries: ``max-reconnect-tries``.
    :param retry_interval: ``reconnect-wait-time`` (milliseconds).
    :param on_fail: ``on-fail``.
    """

    def __init__(self, reactor: Any, network_state: Any, reopen: Callable[[], Deferred],
                 shutdown: Callable[[int], None], *, max_retries: int = 0, retry_interval: int = 0,
                 on_fail: str = "stop-retry-exit"):
        if on_fail not in ON_FAIL_ACTIONS:
            raise ValueError(f"Invalid action on connection loss: {on_fail}")
        self.reactor = reactor
        self.network_state = network_state
        self.reopen = reopen
        self.shutdown = shutdown
        self.max_retries = max_retries
        self.retries_left = max_retries
        self.retry_interval = retry_interval
        self.on_fail = on_fail
        #: True from a loss until recovered, or until recovery gave up.
        self.recovering = False
        self._timer: Any = None
        self._stopped = False

    @classmethod
    def from_parameters(cls, reactor: Any, network_state: Any, reopen: Callable[[], Deferred],
                        shutdown: Callable[[int], None], parameters: Any) -> "DbReconnectControl":
        """From a :class:`kea_twisted.pgsql.PgConnectionParameters`."""
        return cls(reactor, network_state, reopen, shutdown, max_retries=parameters.max_reconnect_tries,
                   retry_interval=parameters.reconnect_wait_time, on_fail=parameters.on_fail)

    # Kea's ReconnectCtl ------------------------------------------------------

    @property
    def alter_service_state(self) -> bool:
        return self.on_fail == "stop-retry-exit"

    @property
    def exit_on_failure(self) -> bool:
        return self.on_fail in ("stop-retry-exit", "serve-retry-exit")

    def _check_retries(self) -> bool:
        """Kea's ``checkRetries``: one retry used up; True while any are
        left *after* it (``--retries_left_``): N tries are N attempts."""
        if self.retries_left:
            self.retries_left -= 1
            return self.retries_left > 0
        return False

    # The recovery --------------------------------------------------------------

    def connection_lost(self) -> None:
        """The store found its connection lost (Kea's
        ``startRecoverDbConnection``): start recovering."""
        if self._stopped or self.recovering:
            return
        self.recovering = True
        self._db_reconnect()

    def _db_reconnect(self) -> None:
        """Kea's ``PgSqlLeaseMgr::dbReconnect``: the lost callback, one
        attempt, then success, a scheduled retry, or failure."""
        self._timer = None
        if self._stopped:
            return
        if not self._db_lost():
            self.recovering = False
            return
        d = maybeDeferred(self.reopen)
        d.addCallbacks(self._reopened, self._reopen_failed)
        d.addErrback(lambda f: dhcpsrv_log.failure("{msgid} reconnect handling failed", f,
                                                   msgid="DHCP4_DB_RECONNECT_NO_DB_CTL"))

    def _db_lost(self) -> bool:
        """``ControlledDhcpv4Srv::dbLostCallback``: False when reconnecting
        is off (and then the server may exit)."""
        if self.retries_left == self.max_retries and self.alter_service_state:
            from kea_twisted.commands import DB_ORIGIN

            self.network_state.disable_service(DB_ORIGIN)
        dhcp4_log.info("{msgid} database connection lost.", msgid="DHCP4_DB_RECONNECT_LOST_CONNECTION")
        if not self.retries_left or not self.retry_interval:
            dhcp4_log.info("{msgid} database reconnect is disabled: max-reconnect-tries {tries}, "
                           "reconnect-wait-time {wait}", msgid="DHCP4_DB_RECONNECT_DISABLED",
                           tries=self.retries_left, wait=self.retry_interval)
            if self.exit_on_failure:
                self.shutdown(1)
            return False
        return True

    def _reopened(self, _: Any) -> None:
        if self._stopped:
            return
        self.recovering = False
        # dbRecoveredCallback.
        if self.alter_service_state:
            from kea_twisted.commands import DB_ORIGIN

            self.network_state.enable_service(DB_ORIGIN)
        dhcp4_log.info("{msgid} database connection recovered.", msgid="DHCP4_DB_RECONNECT_SUCCEEDED")
        self.retries_left = self.max_retries

    def _reopen_failed(self, failure: Failure) -> None:
        if self._stopped:
            return
        dhcpsrv_log.error("{msgid} database reconnect failed: {reason}",
                          msgid="DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_FAILED",
                          reason=str(failure.value).strip())
        if not self._check_retries():
            dhcpsrv_log.error("{msgid} maximum number of database reconnect attempts: {max}, has been "
                              "exhausted without success", msgid="DHCPSRV_PGSQL_LEASE_DB_RECONNECT_FAILED",
                              max=self.max_retries)
            self.recovering = False
            # dbFailedCallback.
            dhcp4_log.info("{msgid} maximum number of database reconnect attempts: {max}, has been "
                           "exhausted without success", msgid="DHCP4_DB_RECONNECT_FAILED", max=self.max_retries)
            if self.exit_on_failure:
                self.shutdown(1)
            return
        dhcpsrv_log.info("{msgid} scheduling attempt {n} of {max} in {wait} milliseconds",
                         msgid="DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_SCHEDULE",
                         n=self.max_retries - self.retries_left + 1, max=self.max_retries,
                         wait=self.retry_interval)
        self._timer = self.reactor.callLater(self.retry_interval / 1000.0, self._db_reconnect)

    def stop(self) -> None:
        """Server stop or reconfiguration: no more attempts."""
        self._stopped = True
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
