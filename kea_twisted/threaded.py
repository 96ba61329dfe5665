"""
Serving from a blocking lease database without blocking the reactor.

With ``lease-database`` type ``postgresql`` every lease lookup is a round
trip to the database.  The DHCP engine (:class:`kea_twisted.dhcp4.Dhcp4Engine`)
is synchronous, so it runs, whole, on **worker threads** that own the
database connections (:class:`kea_twisted.pgsql.PgStorePool`: one
connection per thread).  The reactor thread only moves datagrams and fires
Deferreds.  (On PyPy, and on CPython with the HA hook library, the
workers are greenlets on the reactor thread instead,
:mod:`kea_twisted.cooperative`, behind the same interfaces: what follows
holds for both, a greenlet standing for a thread.)  The memfile
server does not use any of this: it stays fully synchronous on the reactor.

How many workers is Kea's ``multi-threading`` section
(:func:`worker_count`): without it one worker, so packets are processed one
at a time, in arrival order, as in Kea's single-threaded mode; with it
``thread-pool-size`` workers (0: as many as the machine has cores, Kea's
``detectThreadCount``).  Several workers let the transactions of
different clients wait for the disk together (PostgreSQL's group commit):
with Python's GIL the engine's own work does not run in parallel, but a
worker waiting for a commit holds no lock.

* :class:`ThreadedPacketHandler` is the :class:`IPacketHandler` the network
  edge gets: ``receive()`` queues the datagram for a worker and answers a
  Deferred of the engine's Reply or Drop, fired on the reactor thread.
  The queue is bounded (``packet_queue_size``, Kea's multi-threading
  default 64): when it is full the oldest queued datagram is dropped with
  Kea's ``DHCP4_PACKET_QUEUE_FULL``, as Kea's packet queue does, so a
  stalled database cannot make the server hold an unbounded backlog of
  stale queries.  With more than one worker it is also Kea's
  ``ClientHandler`` (:class:`ClientLocks`): the DISCOVER, REQUEST, RELEASE
  and DECLINE of one client (same client identifier, or same hardware
  address) are never processed at the same time, and not out of order.
* :class:`StatsFunnel` stands in for the :class:`~kea_twisted.stats.StatsMgr`
  on the worker threads: changes are recorded (with the time they happened)
  in a thread-safe deque and applied on the reactor thread before the
  result that made them is delivered.  The StatsMgr itself is touched only
  by the reactor thread, so it needs no lock and the memfile path pays
  nothing.
* :func:`serialise_picks` makes the allocator's iterative cursor safe to
  share between workers (Kea's allocator mutex).
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
reactor APIs directly (``reactor.callFromThread`` is the way back); with
the HA library, which does, the server's workers are greenlets on the
reactor thread instead (:mod:`kea_twisted.cooperative`;
:func:`kea_twisted.config.staging.check_runnable` refuses HA on SQL when
``greenlet`` is missing).  A callout that
answers with a Deferred resumes the engine wherever that Deferred fires
(the reactor thread) unless the engine resumes through
:meth:`ThreadedPacketHandler.run_on_worker`.

Tests: tests/test_pgsql_server.py
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from kea_twisted.datagrams import Arrival, Drop, IPacketHandler
from kea_twisted.logs import kea_logger

__all__ = [
    "DEFAULT_PACKET_QUEUE_SIZE",
    "StatsFunnel",
    "ThreadedPacketHandler",
    "WorkerPool",
    "DbReconnectControl",
    "ON_FAIL_ACTIONS",
    "ClientLocks",
    "client_keys",
    "new_worker_pool",
    "run_pool_call",
    "serialise_picks",
    "worker_count",
]

#: Kea's ``packet-queue-size`` default (multi-threading).
DEFAULT_PACKET_QUEUE_SIZE = 64
#: Kea's ``OnFailAction`` texts.
ON_FAIL_ACTIONS = ("stop-retry-exit", "serve-retry-exit", "serve-retry-continue")
#: Kea's ``DBG_DHCP4_BASIC``.
_DBG_DHCP4_BASIC = 10

#: Kea's ``DBGLVL_PKT_HANDLING``.
_DBGLVL_PKT_HANDLING = 15

dhcp4_log = kea_logger("dhcp4")
dhcpsrv_log = kea_logger("dhcpsrv")
bad_packet_log = kea_logger("bad-packets")


def worker_count(multi_threading: Any, cores: Optional[int] = None) -> int:
    """Worker threads for a ``multi-threading`` section (Kea's
    ``MultiThreadingMgr::apply``): 1 when disabled; ``thread-pool-size``,
    or when 0 the number of cores (``detectThreadCount``; a machine that
    cannot tell runs single-threaded, as Kea does)."""
    if multi_threading is None or not getattr(multi_threading, "enable_multi_threading", False):
        return 1
    size = getattr(multi_threading, "thread_pool_size", 0) or 0
    if not size:
        size = cores if cores is not None else (os.cpu_count() or 0)
    return max(1, size)


class WorkerPool:
    """``size`` threads taking calls from one queue, in order: the part of
    Twisted's ``ThreadPool`` the SQL server uses (``callInThread``, and
    ``callInThreadWithCallback`` for ``deferToThreadPool``).

    Twisted's pool hands each call through a coordinator (a team of workers
    behind a lock, a ``queue.Queue`` per worker, the caller's logging
    context copied into the call): about as much Python time per packet as
    a lease statement, paid on the reactor thread and again on the worker.
    Here a call is one ``SimpleQueue.put`` (C, no Python lock) and one
    ``get`` on an idle worker.  Calls queued before :meth:`stop` still run;
    a call after it raises ``RuntimeError``.
    """

    def __init__(self, size: int = 1, name: str = "kea-lease-database"):
        #: Thread count (``min``/``max`` as Twisted's pool calls them).
        self.min = self.max = max(1, size)
        self.name = name
        self.threads: List[threading.Thread] = []
        self.started = False
        self.joined = False
        self._calls: "queue.SimpleQueue[Optional[Tuple[Any, ...]]]" = queue.SimpleQueue()

    def start(self) -> None:
        self.started = True
        for n in range(self.max - len(self.threads)):
            thread = threading.Thread(target=self._serve, name=f"{self.name}-{n}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def callInThread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.callInThreadWithCallback(None, fn, *args, **kwargs)

    def callInThreadWithCallback(self, on_result: Optional[Callable[[bool, Any], None]],
                                 fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """``fn(*args, **kwargs)`` on a worker, then ``on_result(True,
        value)`` or ``on_result(False, Failure)`` there (Twisted's
        signature)."""
        if self.joined:
            raise RuntimeError("the worker pool is stopped")
        self._calls.put((on_result, fn, args, kwargs))

    def _serve(self) -> None:
        get = self._calls.get
        while True:
            call = get()
            if call is None:
                return
            run_pool_call(*call)

    def stop(self) -> None:
        """Let the queued calls finish, then end and join the threads."""
        self.joined = True
        self.started = False
        threads, self.threads = self.threads, []
        for _ in threads:
            self._calls.put(None)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join()


def run_pool_call(on_result: Optional[Callable[[bool, Any], None]], fn: Callable[..., Any],
                  args: Tuple[Any, ...], kwargs: Dict[str, Any], *,
                  catching: type = BaseException, worker: str = "a worker thread") -> None:
    """One pool call as Twisted's pool makes it: ``fn(*args, **kwargs)``,
    then ``on_result(True, value)`` or ``on_result(False, Failure)``; an
    error nobody receives is logged.  ``catching``: what counts as the
    call's failure (a greenlet worker lets ``GreenletExit`` through)."""
    try:
        result = fn(*args, **kwargs)
        ok = True
    except catching:
        result, ok = Failure(), False
        if on_result is None:
            dhcpsrv_log.failure("unhandled error in " + worker, result)
    if on_result is not None:
        try:
            on_result(ok, result)
        except catching:
            dhcpsrv_log.failure(f"unhandled error in {worker}'s result callback")


def new_worker_pool(size: int = 1, name: str = "kea-lease-database") -> WorkerPool:
    """A started pool of ``size`` threads: the lease database's threads."""
    pool = WorkerPool(size, name=name)
    pool.start()
    return pool


def serialise_picks(allocator: Any) -> Any:
    """Make ``allocator.pick_address`` (the iterative allocator's cursor
    walk, which changes the pools' and subnets' cursors) one thread at a
    time, as Kea's ``IterativeAllocator`` does under its mutex in
    multi-threaded mode.  Two threads may still end up with one candidate
    (a DISCOVER's offer is not stored); the database's primary key decides
    which one gets it, and the allocator goes on to the next candidate.
    Returns the lock."""
    lock = threading.Lock()
    pick = allocator.pick_address

    def pick_address(subnet: Any, classes: Any) -> int:
        with lock:
            return pick(subnet, classes)

    allocator.pick_address = pick_address
    return lock


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
# One client at a time (Kea's ClientHandler)

_MAGIC = b"\x63\x82\x53\x63"
#: The message types Kea serialises per client (dhcp4_srv.cc
#: processDhcp4Query): DISCOVER, REQUEST, DECLINE, RELEASE; and the
#: received statistic each counts.
_LOCKED_TYPES = {1: "pkt4-discover-received", 3: "pkt4-request-received",
                 4: "pkt4-decline-received", 7: "pkt4-release-received"}

ClientKey = Tuple[Any, ...]


def client_keys(data: bytes) -> Tuple[int, Optional[ClientKey], Optional[ClientKey]]:
    """``(message type, client-id key, hardware address key)`` read straight
    from a datagram, without decoding it (the worker decodes it once, in
    the engine): the first option 53 and 61 of the options field, the
    hardware address as ``htype`` and ``chaddr``'s first ``hlen`` bytes.
    A key is None when the query has none; the type is 0 when the datagram
    is too short or has no message type (the engine drops those)."""
    if len(data) < 240 or data[236:240] != _MAGIC:
        return 0, None, None
    hlen = min(data[2], 16)
    hwaddr = data[28:28 + hlen]
    hw_key: Optional[ClientKey] = ("hw", data[1], hwaddr) if hwaddr else None
    mtype = 0
    client_id: Optional[bytes] = None
    i, end = 240, len(data)
    while i < end:
        code = data[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= end:
            break
        length = data[i + 1]
        value = data[i + 2:i + 2 + length]
        if code == 53 and not mtype and value:
            mtype = value[0]
        elif code == 61 and client_id is None:
            client_id = value
        i += 2 + length
    # Kea's ClientId takes 2 bytes or more; the engine drops a shorter one.
    id_key: Optional[ClientKey] = ("id", client_id) if client_id is not None and len(client_id) >= 2 else None
    return mtype, id_key, hw_key


class _Job:
    """One queued datagram, the client keys it holds, and the query of the
    same client waiting for it (Kea's ``Client::next_query_``)."""

    __slots__ = ("data", "arrival", "deferred", "mtype", "id_key", "hw_key", "held", "next")

    def __init__(self, data: bytes, arrival: Arrival, deferred: Deferred):
        self.data = data
        self.arrival = arrival
        self.deferred = deferred
        self.mtype, self.id_key, self.hw_key = client_keys(data)
        self.held: List[ClientKey] = []
        self.next: Optional["_Job"] = None


class ClientLocks:
    """Kea 2.2's ``ClientHandler`` ([src] ``src/bin/dhcp4/client_handler.cc``)
    for the datagrams the workers take: a query holds its client
    identifier, then its hardware address, while it is processed.  A query
    whose client is held waits on the holder (by client identifier first,
    as Kea looks), to be processed by the holder's thread when it is done,
    in arrival order; a second waiting query replaces the first, which is
    dropped as Kea drops it (``DHCP4_PACKET_DROP_0011`` by client
    identifier, ``_0012`` by hardware address, counted in
    ``pkt4-receive-drop``).  Only DISCOVER, REQUEST, DECLINE and RELEASE
    are held, as in Kea.  Every method is called with :attr:`mutex` held.

    Kea locks inside ``processDhcp4Query`` (after decoding, classification
    and ``pkt4_receive``); here the lock is taken before the engine sees
    the datagram, so the replaced query is counted as received here
    (``pkt4-received`` and its type's counter) before it is dropped.
    """

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self._holders: Dict[ClientKey, _Job] = {}

    def __len__(self) -> int:
        return len(self._holders)

    def try_lock(self, job: _Job) -> Tuple[bool, Optional[_Job], str]:
        """``(acquired, replaced, msgid)``: the job holds its keys, or waits
        on their holder; ``replaced`` is the query it displaced there."""
        if job.mtype not in _LOCKED_TYPES or (job.id_key is None and job.hw_key is None):
            return True, None, ""
        holders = self._holders
        for key, msgid in ((job.id_key, "DHCP4_PACKET_DROP_0011"), (job.hw_key, "DHCP4_PACKET_DROP_0012")):
            if key is None:
                continue
            holder = holders.get(key)
            if holder is not None:
                self.unlock(job)
                replaced, holder.next = holder.next, job
                return False, replaced, msgid
            holders[key] = job
            job.held.append(key)
        return True, None, ""

    def unlock(self, job: _Job) -> Optional[_Job]:
        """Release the job's keys; the query that waited on it, if any."""
        holders = self._holders
        for key in job.held:
            if holders.get(key) is job:
                del holders[key]
        job.held = []
        waiting, job.next = job.next, None
        return waiting


# ---------------------------------------------------------------------------
# Packets


@implementer(IPacketHandler)
class ThreadedPacketHandler:
    """The engine on the worker threads, as the network edge sees it.

    :param engine: the :class:`~kea_twisted.dhcp4.Dhcp4Engine` (its store,
        statistics and hooks used only from the worker threads).
    :param reactor: the reactor results are delivered in.
    :param pool: the worker pool (shared with the lease store so that lease
        commands and reclamation queue behind packets, never ahead of them).
    :param stats: the :class:`StatsFunnel` the engine writes to, flushed
        before each result is delivered (None: nothing to flush).
    :param queue_size: datagrams waiting for the workers before the oldest
        is dropped.
    :param serialise_clients: hold each client's queries one at a time
        (:class:`ClientLocks`): for a pool of more than one thread.  Kea's
        single-threaded mode has no such lock (one thread is enough).
    """

    def __init__(self, engine: Any, reactor: Any, pool: ThreadPool, *, stats: Optional[StatsFunnel] = None,
                 queue_size: int = DEFAULT_PACKET_QUEUE_SIZE, serialise_clients: bool = False):
        self.engine = engine
        self.reactor = reactor
        self.pool = pool
        self.stats = stats
        self.queue_size = max(1, queue_size)
        self._pending: Deque[Tuple[bytes, Arrival, Deferred]] = deque()
        self.queue_full_drops = 0
        self.client_locks: Optional[ClientLocks] = ClientLocks() if serialise_clients else None
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
                pass  # a worker took it meanwhile
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
        """Worker thread: process the oldest queued datagram (and, with
        client locks, the queries of its client that waited for it)."""
        locks = self.client_locks
        if locks is None:
            try:
                data, arrival, d = self._pending.popleft()
            except IndexError:
                return
            self._process(data, arrival, d)
            return
        # Taking the datagram and its client's keys in one step keeps one
        # client's queries in arrival order across the workers.
        with locks.mutex:
            try:
                item = self._pending.popleft()
            except IndexError:
                return
            job: Optional[_Job] = _Job(*item)
            acquired, replaced, msgid = locks.try_lock(job)
        if replaced is not None:
            self._drop_replaced(replaced, msgid)
        if not acquired:
            return
        while job is not None:
            if self._stopped:
                # Stopped while the query waited for its client's previous one.
                self.reactor.callFromThread(self._deliver, job.deferred, Drop("DHCP4_SHUTDOWN"))
            else:
                self._process(job.data, job.arrival, job.deferred)
            with locks.mutex:
                waiting = locks.unlock(job)
                job = None
                if waiting is not None:
                    acquired, replaced, msgid = locks.try_lock(waiting)
                    if acquired:
                        job = waiting
            if waiting is not None and replaced is not None:
                self._drop_replaced(replaced, msgid)

    def _drop_replaced(self, job: _Job, msgid: str) -> None:
        """A waiting query displaced by a newer one of its client: Kea
        counted it as received and drops it (counted)."""
        stats = self.stats
        if stats is not None:
            stats.add_value("pkt4-received")
            stats.add_value(_LOCKED_TYPES[job.mtype])
            stats.add_value("pkt4-receive-drop")
        bad_packet_log.debug("{msgid} dropping a query of a client with a query in progress and a newer "
                             "one waiting", msgid=msgid, debuglevel=_DBGLVL_PKT_HANDLING)
        self.reactor.callFromThread(self._deliver, job.deferred, Drop(msgid))

    def _process(self, data: bytes, arrival: Arrival, d: Deferred) -> None:
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
