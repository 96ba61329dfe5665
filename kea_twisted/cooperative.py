"""
The SQL server's workers as greenlets on the reactor thread.

With ``lease-database`` type ``postgresql`` the engine is synchronous code
that makes one database round trip after another (Kea's own statements, one
at a time).  :mod:`kea_twisted.threaded` runs it on worker threads: every
round trip then costs the worker a GIL hand-over and two to four context
switches (release the GIL and sleep, wake, wait for the GIL again).

:class:`GreenletPool` keeps the engine's code as it is but runs each worker
as a greenlet on the reactor thread.  A worker sends its statement
(:mod:`kea_twisted.pgwire`, non-blocking), and when the answer is not in
yet :meth:`Worker.wait_fd` registers the connection's socket with the
reactor and switches back to it; the reactor switches into the worker
again when the answer is readable.  No GIL hand-over, no thread switch: one
``epoll_wait`` may wake several workers, and the statements of all workers
are in flight at once, as with threads.  Being on one thread, the workers'
lease changes can also share a commit (:class:`kea_twisted.pgsql._CommitGroup`).

Which is faster depends on the interpreter (measured on the 2-core bench
machine, PostgreSQL on the same cores; bench/RESULTS.md): on PyPy the
whole DORA, Python and sockets, costs ~0.23 ms of CPU on the one thread and
the greenlets carried 1.1-1.3x the threads' rate, so PyPy uses them.  On
CPython the Python part is slow enough that the kernel's share of each
statement is better spent on the other core while the next worker runs
Python (greenlets carried no more than the threads), so CPython keeps
threads, except with the HA hook library, whose callouts use the reactor
and so must run on its thread (:class:`kea_twisted.server.Dhcp4Server`).

Rules the rest of the code keeps (all checked by tests/test_cooperative.py):

* A worker only ever switches back to whoever resumed it (the reactor, or a
  worker that queued work and found an idle worker while running): each
  resumption is a nested call that returns when the resumed worker waits
  again or is idle.
* Work queued from inside a worker is picked up by that worker when it is
  done, or by an idle worker woken from the reactor at the next turn: a
  worker never waits for work it queued itself.
* What may block for long and has no asynchronous form here (opening a
  connection, which may wait up to ``connect-timeout``) runs on a thread of
  the reactor's pool while the worker waits (:meth:`Worker.call_blocking`).
* :class:`WorkerLock` is the lock a store holds around a statement: a
  reconnect (Kea's critical section) waits for the statement in progress,
  as with threads, without blocking the reactor.

Outside a worker (the reactor's own greenlet, a test's thread)
:func:`current_worker` is None and the stores block as before: the same
code serves both.

``greenlet`` (the C extension SQLAlchemy's asyncio layer and gevent are
built on; built into PyPy) is in the ``postgresql`` extra.  Without it the
server uses :class:`kea_twisted.threaded.WorkerPool`.

Tests: tests/test_cooperative.py, tests/test_pgsql_server.py
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

try:
    from greenlet import GreenletExit, getcurrent, greenlet
except ImportError:  # pragma: no cover - the postgresql extra brings it
    GreenletExit = getcurrent = greenlet = None  # type: ignore[assignment,misc]

__all__ = ["available", "call_blocking", "current_worker", "GreenletPool", "InlineCalls", "Worker", "WorkerLock",
           "worker_or"]


#: Workers by greenlet (only the pools' own greenlets are keys).
_WORKERS: Dict[Any, "Worker"] = {}


def available() -> bool:
    """True when greenlets can be used (``greenlet`` is importable)."""
    return greenlet is not None


def current_worker() -> Optional["Worker"]:
    """The :class:`Worker` running the calling code, or None (the reactor's
    greenlet, another thread, or no greenlet support)."""
    if getcurrent is None:
        return None
    return _WORKERS.get(getcurrent())


class _FdWait:
    """The reactor's view of one worker waiting for one socket: a reader or
    writer that resumes the worker when the socket is ready."""

    __slots__ = ("worker", "fd")

    def __init__(self, worker: "Worker", fd: int):
        self.worker = worker
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "kea-lease-database"

    def doRead(self) -> None:
        self.worker._resume(None)

    doWrite = doRead

    def connectionLost(self, reason: Failure) -> None:
        # The reactor gave up on the descriptor (closed under us): the
        # worker goes on and libpq reports what happened to the connection.
        self.worker._resume(None)


class Worker:
    """One greenlet of a :class:`GreenletPool`: takes calls from the pool's
    queue, one at a time, and may wait (:meth:`wait_fd`,
    :meth:`wait_deferred`, :meth:`call_blocking`) in the middle of one."""

    def __init__(self, pool: "GreenletPool", name: str):
        self.pool = pool
        self.name = name
        self.greenlet = greenlet(self._serve, pool.hub)
        self.idle = False
        _WORKERS[self.greenlet] = self

    # The greenlet's parent is whoever resumed it (the reactor's greenlet,
    # or a worker that fired what this one waited for): a switch back, or
    # the end of the greenlet, returns there.  A waiting worker's parent is
    # reset to the hub, so that no stale parent can ever make a cycle.

    def _resume(self, value: Any = None) -> Any:
        self.greenlet.parent = getcurrent()
        return self.greenlet.switch(value)

    def _throw(self, failure: Failure) -> Any:
        self.greenlet.parent = getcurrent()
        return self.greenlet.throw(failure.type, failure.value, failure.getTracebackObject())

    def _suspend(self) -> Any:
        """Switch back to whoever resumed this worker; returns what the
        next :meth:`_resume` passes."""
        g = self.greenlet
        resumer = g.parent
        g.parent = self.pool.hub
        return resumer.switch()

    def _serve(self, _: Any = None) -> None:
        pool = self.pool
        calls = pool._calls
        try:
            while True:
                if not calls:
                    if pool.joined:
                        break
                    self.idle = True
                    pool._idle.append(self)
                    self._suspend()
                    continue
                pool._run(*calls.popleft())
        finally:
            # Also when :meth:`GreenletPool.stop` ends it (GreenletExit).
            _WORKERS.pop(self.greenlet, None)
            pool._ended(self)

    def park(self) -> None:
        """Wait (the calling worker is this one) until :meth:`unpark`: for
        :meth:`kea_twisted.pgwire.PgWireConnection.share`, a statement
        waiting for the answers sent before its own."""
        self._suspend()

    def unpark(self) -> None:
        """Resume a parked worker now, from the calling worker (which goes
        on when the resumed one waits again)."""
        self._resume(None)

    def _kill(self) -> None:
        """End the worker where it waits (its ``finally`` clauses run: the
        socket is unregistered, its store's lock released)."""
        if not self.greenlet.dead:
            self.greenlet.parent = getcurrent()
            self.greenlet.throw(GreenletExit)

    # -- waiting, from inside the worker ------------------------------------------

    def wait_fd(self, fd: int, write: bool = False) -> None:
        """Wait until ``fd`` is readable (``write``: writable), the reactor
        serving everything else meanwhile."""
        reactor = self.pool.reactor
        waiter = _FdWait(self, fd)
        if write:
            reactor.addWriter(waiter)
            try:
                self._suspend()
            finally:
                reactor.removeWriter(waiter)
        else:
            reactor.addReader(waiter)
            try:
                self._suspend()
            finally:
                reactor.removeReader(waiter)

    def wait_deferred(self, d: Deferred) -> Any:
        """Wait for ``d``: its result, or its failure raised."""
        outcome: List[Any] = []
        waiting = [False]

        def fired(result: Any) -> None:
            if waiting[0]:
                if isinstance(result, Failure):
                    self._throw(result)
                else:
                    self._resume(result)
            else:
                outcome.append(result)

        d.addBoth(fired)
        if not outcome:
            waiting[0] = True
            return self._suspend()
        result = outcome[0]
        if isinstance(result, Failure):
            result.raiseException()
        return result

    def call_blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on a thread of the reactor's pool, this
        worker waiting for it: for calls that block and have no
        asynchronous form here."""
        return self.wait_deferred(deferToThread(fn, *args, **kwargs))


def worker_or(wait: Callable[[int, bool], None]) -> Callable[[int, bool], None]:
    """A ``wait(fd, write)`` that hands the wait to the reactor when called
    in a worker (:meth:`Worker.wait_fd`), and is ``wait`` elsewhere (a
    thread that may block)."""

    def wait_fd(fd: int, write: bool) -> None:
        worker = current_worker()
        if worker is None:
            wait(fd, write)
        else:
            worker.wait_fd(fd, write)

    return wait_fd


def call_blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``: on a thread while the calling worker waits,
    or at once outside a worker."""
    worker = current_worker()
    if worker is None:
        return fn(*args, **kwargs)
    return worker.call_blocking(fn, *args, **kwargs)


class WorkerLock:
    """A re-entrant lock for workers of one thread: a worker that finds it
    held by another worker waits (the reactor runs on) until it is released.
    Outside a worker it must be free (start-up, before the workers run)."""

    def __init__(self) -> None:
        self._owner: Any = None
        self._depth = 0
        self._waiting: Deque[Worker] = deque()

    def acquire(self) -> bool:
        me = getcurrent()
        while self._owner is not None and self._owner is not me:
            worker = _WORKERS.get(me)
            if worker is None:
                raise RuntimeError("a lease database connection is in use by a worker")
            self._waiting.append(worker)
            worker._suspend()
        self._owner = me
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth:
            return
        self._owner = None
        if self._waiting:
            waiter = self._waiting.popleft()
            # From the reactor's next turn: the releasing worker may be deep
            # in a call that must not be interleaved.
            waiter.pool.reactor.callLater(0, waiter._resume, None)

    __enter__ = acquire

    def __exit__(self, *exc: Any) -> None:
        self.release()


class GreenletPool:
    """``size`` greenlet workers on the reactor thread taking calls from one
    queue, in order: the interface of :class:`kea_twisted.threaded.WorkerPool`
    (``callInThread``, ``callInThreadWithCallback``, ``start``, ``stop``)."""

    def __init__(self, reactor: Any, size: int = 1, name: str = "kea-lease-database"):
        if greenlet is None:
            raise RuntimeError("greenlet is not installed (pip install kea_twisted[postgresql])")
        self.reactor = reactor
        #: Worker count (``min``/``max`` as Twisted's pool calls them).
        self.min = self.max = max(1, size)
        self.name = name
        self.workers: List[Worker] = []
        self.started = False
        self.joined = False
        self._calls: "Deque[Tuple[Any, ...]]" = deque()
        self._idle: List[Worker] = []
        self._wake_pending = False
        #: The greenlet the workers return to: the reactor thread's.
        self.hub: Any = getcurrent()

    @property
    def threads(self) -> List[Worker]:
        """The workers (what a thread pool calls its threads)."""
        return self.workers

    def start(self) -> None:
        self.started = True
        for n in range(self.max - len(self.workers)):
            worker = Worker(self, f"{self.name}-{n}")
            self.workers.append(worker)
            worker._resume()  # runs until it finds the queue empty

    def callInThread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.callInThreadWithCallback(None, fn, *args, **kwargs)

    def callInThreadWithCallback(self, on_result: Optional[Callable[[bool, Any], None]],
                                 fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``fn(*args, **kwargs)`` for a worker, then ``on_result(True,
        value)`` or ``on_result(False, Failure)`` there (Twisted's
        signature).  From the reactor's greenlet an idle worker starts on
        it at once."""
        if self.joined:
            raise RuntimeError("the worker pool is stopped")
        self._calls.append((on_result, fn, args, kwargs))
        self._wake()

    def _wake(self) -> None:
        if not self._idle:
            return
        if getcurrent() in _WORKERS:
            # A worker queued it: the reactor wakes an idle one next turn
            # (a worker resuming another would have to be resumed itself).
            if not self._wake_pending:
                self._wake_pending = True
                self.reactor.callLater(0, self._wake_later)
            return
        worker = self._idle.pop()
        worker.idle = False
        worker._resume()

    def _wake_later(self) -> None:
        self._wake_pending = False
        while self._idle and self._calls:
            worker = self._idle.pop()
            worker.idle = False
            worker._resume()

    @staticmethod
    def _run(on_result: Optional[Callable[[bool, Any], None]], fn: Callable[..., Any],
             args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        from kea_twisted.threaded import run_pool_call

        # Exception, not BaseException: GreenletExit from stop() ends the worker.
        run_pool_call(on_result, fn, args, kwargs, catching=Exception, worker="a lease database worker")

    def _ended(self, worker: Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)

    def stop(self) -> None:
        """Refuse new calls and end the workers: idle ones, and those
        waiting for the database in the middle of a call (that call's
        Deferred never fires; nothing it did is answered).  Queued calls
        are dropped: the packet handler has dropped its datagrams already."""
        self.joined = True
        self.started = False
        self._calls.clear()
        self._idle.clear()
        me = getcurrent()
        for worker in list(self.workers):
            if worker.greenlet is me:
                continue  # ends when its call returns: the queue is empty
            if me in _WORKERS:
                self.reactor.callLater(0, worker._kill)
            else:
                worker._kill()


class InlineCalls:
    """The reactor as the workers' callers see it: ``callFromThread`` calls
    at once.  The workers already run on the reactor thread; a hop through
    the reactor's waker would cost a pipe write and a reactor turn per
    packet for nothing.  Everything else is the reactor's."""

    def __init__(self, reactor: Any):
        self._reactor = reactor

    def callFromThread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)
