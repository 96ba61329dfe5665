"""
Tests for kea_twisted/cooperative.py: greenlet workers on the reactor
thread, with Twisted's fake reactor (MemoryReactorClock): the readers a
waiting worker registers are resumed by hand, as the reactor would.
"""

from __future__ import annotations

import socket

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from kea_twisted import cooperative
from kea_twisted.cooperative import GreenletPool, InlineCalls, WorkerLock, current_worker, worker_or


class _Base(SynchronousTestCase):
    def setUp(self):
        if not cooperative.available():
            raise SkipTest("greenlet is not installed")
        self.reactor = MemoryReactorClock()
        self.pool = GreenletPool(self.reactor, 2)
        self.pool.start()
        self.addCleanup(self.pool.stop)

    def socketpair(self):
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a, b


class GreenletPoolTests(_Base):
    def test_calls_run_in_order_on_this_thread_with_results(self):
        seen, results = [], []
        for n in range(3):
            self.pool.callInThreadWithCallback(lambda ok, value: results.append((ok, value)),
                                               lambda n=n: seen.append((n, current_worker() is not None)) or n)
        self.pool.callInThreadWithCallback(lambda ok, value: results.append((ok, value.type)),
                                           lambda: 1 / 0)
        self.assertEqual(seen, [(0, True), (1, True), (2, True)])
        self.assertEqual(results, [(True, 0), (True, 1), (True, 2), (False, ZeroDivisionError)])
        self.assertIsNone(current_worker())

    def test_a_waiting_worker_lets_the_next_call_run(self):
        """A worker waiting for a socket is resumed by the reactor's reader;
        meanwhile another worker takes the next call."""
        a, b = self.socketpair()
        order = []

        def reader():
            order.append("wait")
            current_worker().wait_fd(a.fileno())
            order.append(("read", a.recv(10)))

        self.pool.callInThread(reader)
        self.pool.callInThread(lambda: order.append("other"))
        self.assertEqual(order, ["wait", "other"])
        [waiter] = self.reactor.getReaders()
        self.assertEqual(waiter.fileno(), a.fileno())
        b.send(b"hi")
        waiter.doRead()
        self.assertEqual(order, ["wait", "other", ("read", b"hi")])
        self.assertEqual(self.reactor.getReaders(), [])

    def test_wait_deferred(self):
        d1, d2 = Deferred(), Deferred()
        got = []

        def waiter(d):
            try:
                got.append(current_worker().wait_deferred(d))
            except ZeroDivisionError:
                got.append("failed")

        self.pool.callInThread(waiter, d1)
        self.pool.callInThread(waiter, d2)
        self.assertEqual(got, [])
        d2.errback(ZeroDivisionError())
        d1.callback(7)
        self.assertEqual(got, ["failed", 7])

    def test_worker_or(self):
        """Outside a worker the fallback waits; inside, the reactor does."""
        fallback = []
        wait = worker_or(lambda fd, write: fallback.append((fd, write)))
        wait(5, True)
        self.assertEqual(fallback, [(5, True)])
        a, b = self.socketpair()
        done = []
        self.pool.callInThread(lambda: (wait(a.fileno(), False), done.append(True)))
        self.assertEqual((fallback, done), ([(5, True)], []))
        [waiter] = self.reactor.getReaders()
        waiter.doRead()
        self.assertEqual(done, [True])

    def test_stop_ends_waiting_workers(self):
        """stop() ends a worker where it waits (its reader removed, its
        ``finally`` run) and refuses new calls."""
        a, b = self.socketpair()
        cleaned = []

        def reader():
            try:
                current_worker().wait_fd(a.fileno())
            finally:
                cleaned.append(True)

        self.pool.callInThread(reader)
        workers = list(self.pool.workers)
        self.pool.stop()
        self.assertEqual(cleaned, [True])
        self.assertEqual(self.reactor.getReaders(), [])
        self.assertEqual([w.greenlet.dead for w in workers], [True, True])
        self.assertRaises(RuntimeError, self.pool.callInThread, lambda: None)

    def test_call_blocking_outside_a_worker_calls_at_once(self):
        self.assertEqual(cooperative.call_blocking(lambda x: x * 2, 21), 42)


class WorkerLockTests(_Base):
    def test_second_worker_waits_for_the_first(self):
        lock = WorkerLock()
        a, b = self.socketpair()
        order = []

        def first():
            with lock:
                order.append("first in")
                current_worker().wait_fd(a.fileno())
                order.append("first out")

        def second():
            with lock:
                order.append("second in")

        self.pool.callInThread(first)
        self.pool.callInThread(second)
        self.assertEqual(order, ["first in"])
        [waiter] = self.reactor.getReaders()
        waiter.doRead()
        self.assertEqual(order, ["first in", "first out"])
        # The waiting worker is resumed from the reactor's next turn.
        self.reactor.advance(0)
        self.assertEqual(order, ["first in", "first out", "second in"])

    def test_reentrant_and_free_outside_workers(self):
        lock = WorkerLock()
        with lock:
            with lock:
                pass
        self.pool.callInThread(lambda: lock.acquire())
        self.assertRaises(RuntimeError, lock.acquire)


class InlineCallsTests(SynchronousTestCase):
    def test_call_from_thread_is_immediate(self):
        reactor = MemoryReactorClock()
        inline = InlineCalls(reactor)
        got = []
        inline.callFromThread(got.append, 1)
        self.assertEqual(got, [1])
        inline.callLater(1, got.append, 2)
        reactor.advance(1)
        self.assertEqual(got, [1, 2])
