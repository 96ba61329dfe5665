"""
Tests for serving DHCP from a PostgreSQL lease database: kea_twisted.server
with ``lease-database`` type ``postgresql``, kea_twisted.threaded (the
engine on worker threads sized by Kea's ``multi-threading`` section, one
client's queries held in order as Kea's ClientHandler holds them,
statistics funnelled to the reactor, Kea's ``on-fail`` recovery),
hooks.lease_cmds over the threaded store, and the ``check_runnable`` rules
in kea_twisted.config.staging.

The database tests run on throwaway clusters (tests/pgsql_cluster.py) made
with ``initdb`` and ``kea-admin db-init pgsql``; the interoperability test
runs real ``kea-dhcp4`` 2.2 on the same database (relayed clients from
127.0.0.x with the relay-port sub-option, so no port 67).  Each skips with
the reason when PostgreSQL, kea-admin, psycopg, kea-dhcp4 or root are
missing.  Ports: the clusters 18500-18589, kea-dhcp4 18591, its clients
18592-18593.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from ipaddress import IPv4Address as A
from typing import Any, Dict, List, Optional, Tuple

from twisted.internet import defer, reactor, task
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from zope.interface import implementer

from hooks.lease_cmds import lease_cmds
from tests.kea_socket import send_command
from kea_twisted.commands import DB_ORIGIN, CommandTable, NetworkState
from kea_twisted.config.element import from_python
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.staging import check_runnable, stage_config_element
from kea_twisted.datagrams import Arrival, Drop, Reply
from kea_twisted.hooks import IServerContext, load_library_objects
from kea_twisted.leases import Lease4
from kea_twisted.packet import Packet4, decode, encode
from kea_twisted.server import Dhcp4Server
from kea_twisted.stats import StatsMgr
from kea_twisted.threaded import (
    DbReconnectControl, StatsFunnel, ThreadedPacketHandler, WorkerPool, client_keys, new_worker_pool, serialise_picks,
    worker_count,
)
from tests import pgsql_cluster

KEA_DHCP4 = "/usr/sbin/kea-dhcp4"
LEASE_CMDS = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"
KEA_PORT = 18591
KEA_CLIENT_PORT = 18592

SERVER = A("127.0.0.1")
RELAY = A("127.0.0.2")
KEA_RELAY = A("127.0.0.3")
EPOCH = 1_800_000_000
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE = 1, 2, 3, 4, 5, 6, 7

_databases: Dict[str, Dict[str, Any]] = {}


# ---------------------------------------------------------------------------
# Helpers


def cluster() -> pgsql_cluster.PgCluster:
    # These tests also read and write rows behind the store's back.
    return pgsql_cluster.shared_cluster_or_skip(admin=True)


def database(tag: str) -> Dict[str, Any]:
    """A fresh Kea database in this process's cluster, made once per tag
    and emptied for each use."""
    c = cluster()
    access = _databases.get(tag)
    if access is None or access["port"] != c.port:
        access = _databases[tag] = c.create_kea_database()
        # Kea's lease4 insert trigger updates lease4_stat and, when no row
        # for the lease's (subnet, state) exists yet, inserts one: two
        # connections inserting the first leases of a subnet at once race on
        # lease4_stat's primary key and one insert fails with 23505, which
        # reads as "address taken" (a NAK, in Kea as here).  The tests'
        # subnet starts with its (empty) rows, as any database that has
        # served that subnet before.
        with admin(c, access) as conn:
            conn.execute("INSERT INTO lease4_stat (subnet_id, state, leases) VALUES (1, 0, 0), (1, 1, 0)")
    else:
        with admin(c, access) as conn:
            conn.execute("DELETE FROM lease4")
    return dict(access)


def admin(c: pgsql_cluster.PgCluster, access: Dict[str, Any]):
    return pgsql_cluster.admin_connection(c.superuser_dsn(access["name"]))


def db_leases(c: pgsql_cluster.PgCluster, access: Dict[str, Any]) -> Dict[A, Tuple[bytes, int]]:
    """address -> (hwaddr, state), read behind the servers' backs."""
    with admin(c, access) as conn:
        rows = conn.execute("SELECT address, hwaddr, state FROM lease4").fetchall()
    return {A(int(a)): (bytes(h), int(s)) for a, h, s in rows}


def config(lease_database: Dict[str, Any], pool: str = "10.1.0.10-10.1.0.19", **extra: Any):
    dhcp4: Dict[str, Any] = {
        "lease-database": lease_database,
        "valid-lifetime": 600,
        "subnet4": [{"id": 1, "subnet": "10.1.0.0/24",
                     "relay": {"ip-addresses": [str(RELAY), str(KEA_RELAY)]},
                     "pools": [{"pool": pool}]}],
    }
    dhcp4.update(extra)
    return stage_config_element(from_python({"Dhcp4": dhcp4}), interfaces={"lo": [SERVER]})


def mac(side: int, n: int) -> bytes:
    return bytes([2, 0, 0, side, n >> 8, n & 0xFF])


def query(mtype: int, hw: bytes, xid: int = 0x1234, ciaddr: A = A(0), giaddr: A = RELAY,
          relay_port: Optional[int] = None, **options: bytes) -> bytes:
    opts = {53: bytes([mtype])}
    for code, value in options.items():
        opts[int(code.lstrip("o"))] = value
    if relay_port is not None:
        # Relay agent information, sub-option 19: RFC 8357 relay source port.
        opts[82] = bytes([19, 2]) + relay_port.to_bytes(2, "big")
    return encode(Packet4(op=1, xid=xid, chaddr=hw, giaddr=giaddr, hops=1, ciaddr=ciaddr, options=opts))


def arrival() -> Arrival:
    return Arrival(iface="lo", local_addr=SERVER, local_port=67, remote_addr=RELAY, remote_port=67)


def message_type(outcome: Any) -> Optional[int]:
    if isinstance(outcome, Reply):
        return decode(outcome.data).options[53][0]
    return None


class LogCapture:
    """Kea message IDs logged while a test runs."""

    def __init__(self, testcase: Any):
        self.events: List[dict] = []
        self._lock = threading.Lock()
        globalLogPublisher.addObserver(self)
        testcase.addCleanup(globalLogPublisher.removeObserver, self)

    def __call__(self, event: dict) -> None:
        with self._lock:
            self.events.append(event)

    def ids(self) -> List[str]:
        with self._lock:
            return [e["msgid"] for e in self.events if "msgid" in e]

    def with_id(self, msgid: str) -> List[dict]:
        with self._lock:
            return [e for e in self.events if e.get("msgid") == msgid]


@implementer(IServerContext)
class Context:
    """The IServerContext a hook library sees of one Dhcp4Server."""

    def __init__(self, server: Dhcp4Server):
        self._server = server
        self.reactor = reactor
        self.table: Optional[CommandTable] = None

    config = property(lambda self: self._server.config)
    store = property(lambda self: self._server.store)
    stats = property(lambda self: self._server.stats)
    network_state = property(lambda self: self._server.network_state)

    def execute_command(self, command: str, arguments: Any = None):
        return self.table.execute(command, arguments)


class Shutdowns:
    """Records Kea's ``shutdownServer`` calls instead of stopping the reactor."""

    def __init__(self) -> None:
        self.statuses: List[int] = []

    def __call__(self, status: int) -> None:
        self.statuses.append(status)


def start_server(testcase: Any, cfg: Any, now: Optional[List[float]] = None, **kwargs: Any) -> Dhcp4Server:
    clock = (lambda: now[0]) if now is not None else reactor.seconds
    kwargs.setdefault("network_state", NetworkState(reactor))
    kwargs.setdefault("shutdown", Shutdowns())
    server = Dhcp4Server(cfg, clock=clock, interfaces={"lo": [SERVER]}, reactor=reactor, **kwargs)
    server.start()
    server.set_socket_addresses([SERVER])
    testcase.addCleanup(server.stop)
    return server


@defer.inlineCallbacks
def dora(handler: Any, hw: bytes, tries: int = 6, xid: int = 1):
    """DISCOVER, REQUEST; again after a NAK.  Fires (address or None,
    NAKs seen)."""
    naks = 0
    for attempt in range(tries):
        offer = yield defer.maybeDeferred(handler.receive, query(DISCOVER, hw, xid=xid + attempt), arrival())
        if message_type(offer) != OFFER:
            return None, naks
        address = decode(offer.data).yiaddr
        ack = yield defer.maybeDeferred(handler.receive, query(REQUEST, hw, xid=xid + attempt,
                                                               o50=address.packed, o54=SERVER.packed),
                                        arrival())
        kind = message_type(ack)
        if kind == ACK:
            return decode(ack.data).yiaddr, naks
        if kind == NAK:
            naks += 1
            continue
        return None, naks
    return None, naks


def wait_until(predicate, timeout: float = 15.0, step: float = 0.05) -> defer.Deferred:
    """Fires True once ``predicate()`` holds, False after ``timeout``
    seconds (checked every ``step``: bounded)."""
    @defer.inlineCallbacks
    def poll():
        for _ in range(int(timeout / step) + 1):
            if predicate():
                return True
            yield task.deferLater(reactor, step, lambda: None)
        return predicate()
    return poll()


# ---------------------------------------------------------------------------
# Pure parts (no database)


class StatsFunnelTests(SynchronousTestCase):
    def test_changes_from_other_threads_applied_in_order_with_their_time(self):
        """Changes recorded on worker threads reach the StatsMgr only at
        flush (on the calling thread), in order, with the time they were
        made; reads go to the real manager."""
        now = [100.0]
        stats = StatsMgr(lambda: now[0])
        stats.set_value("pkt4-received", 5)
        funnel = StatsFunnel(stats, lambda: now[0])

        def work():
            for _ in range(1000):
                funnel.add_value("pkt4-received")

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        now[0] = 200.0
        funnel.set_value("subnet[1].total-addresses", 10)
        funnel.add_value("subnet[1].total-addresses", 2, now=150.0)
        self.assertEqual(stats.value("pkt4-received"), 5)
        self.assertEqual(funnel.value("pkt4-received"), 5)
        self.assertEqual(funnel.flush(), 2002)
        self.assertEqual(stats.value("pkt4-received"), 2005)
        self.assertEqual(stats.value("subnet[1].total-addresses"), 12)
        self.assertEqual(stats.get_observation("subnet[1].total-addresses").timestamp, 150.0)
        self.assertEqual(funnel.flush(), 0)

    def test_a_bad_change_does_not_stop_the_others(self):
        """A type clash is logged; the following changes still apply."""
        stats = StatsMgr(lambda: 1.0)
        stats.set_value("x", "text")
        funnel = StatsFunnel(stats)
        funnel.add_value("x", 1)
        funnel.add_value("y", 1)
        funnel.flush()
        self.assertEqual(stats.value("y"), 1)
        self.assertEqual(len(self.flushLoggedErrors()), 1)


class FakePool:
    """Runs the jobs handed to it when the test says so."""

    def __init__(self) -> None:
        self.jobs: List[Any] = []

    def callInThread(self, fn, *args, **kwargs):
        self.jobs.append((fn, args, kwargs))

    def run_all(self) -> int:
        n = 0
        while self.jobs:
            fn, args, kwargs = self.jobs.pop(0)
            fn(*args, **kwargs)
            n += 1
        return n


class CallFromThreadClock(Clock):
    def callFromThread(self, fn, *args, **kwargs):
        fn(*args, **kwargs)


class FakeEngine:
    def __init__(self, outcomes: Dict[bytes, Any]):
        self.outcomes = outcomes
        self.seen: List[bytes] = []

    def receive(self, data, arrival):
        self.seen.append(data)
        outcome = self.outcomes[data]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class ThreadedPacketHandlerTests(SynchronousTestCase):
    def setUp(self):
        self.pool = FakePool()
        self.reactor = CallFromThreadClock()

    def test_outcomes_and_statistics_delivered_in_order(self):
        """Each datagram's outcome fires its Deferred after the statistics
        the engine recorded were applied; an engine exception errbacks."""
        stats = StatsMgr(lambda: 1.0)
        funnel = StatsFunnel(stats)
        seen_at_delivery = []

        class Engine(FakeEngine):
            def receive(self, data, arrival):
                funnel.add_value("pkt4-received")
                return super().receive(data, arrival)

        engine = Engine({b"a": Reply(b"A", SERVER, 67), b"b": Drop("X"), b"c": RuntimeError("boom")})
        handler = ThreadedPacketHandler(engine, self.reactor, self.pool, stats=funnel)
        ds = [handler.receive(x, arrival()) for x in (b"a", b"b", b"c")]
        for d in ds:
            d.addBoth(lambda r: seen_at_delivery.append((r, stats.value("pkt4-received"))) or r)
        self.assertNoResult(ds[0])
        self.assertEqual(self.pool.run_all(), 3)
        self.assertEqual(engine.seen, [b"a", b"b", b"c"])
        self.assertEqual(self.successResultOf(ds[0]), Reply(b"A", SERVER, 67))
        self.assertEqual(self.successResultOf(ds[1]), Drop("X"))
        self.failureResultOf(ds[2], RuntimeError)
        self.assertEqual([n for _, n in seen_at_delivery], [1, 2, 3])

    def test_full_queue_drops_the_oldest(self):
        """Past ``queue_size`` waiting datagrams the oldest is dropped with
        Kea's DHCP4_PACKET_QUEUE_FULL; the others are processed in order."""
        engine = FakeEngine({bytes([i]): Drop(str(i)) for i in range(5)})
        handler = ThreadedPacketHandler(engine, self.reactor, self.pool, queue_size=3)
        ds = [handler.receive(bytes([i]), arrival()) for i in range(5)]
        self.assertEqual(self.successResultOf(ds[0]), Drop("DHCP4_PACKET_QUEUE_FULL"))
        self.assertEqual(self.successResultOf(ds[1]), Drop("DHCP4_PACKET_QUEUE_FULL"))
        self.assertEqual(handler.queued, 3)
        self.pool.run_all()
        self.assertEqual(engine.seen, [b"\x02", b"\x03", b"\x04"])
        self.assertEqual([self.successResultOf(d) for d in ds[2:]], [Drop("2"), Drop("3"), Drop("4")])
        self.assertEqual(handler.queue_full_drops, 2)

    def test_parked_outcome_chained(self):
        """A Deferred from the engine (a parked query) is followed."""
        parked = defer.Deferred()
        handler = ThreadedPacketHandler(FakeEngine({b"p": parked}), self.reactor, self.pool)
        d = handler.receive(b"p", arrival())
        self.pool.run_all()
        self.assertNoResult(d)
        parked.callback(Drop("later"))
        self.assertEqual(self.successResultOf(d), Drop("later"))

    def test_run_on_worker(self):
        """run_on_worker: the function runs in the pool after the queued
        datagrams; a value, an exception and a Deferred come back on the
        Deferred, statistics flushed first."""
        stats = StatsMgr(lambda: 1.0)
        funnel = StatsFunnel(stats)
        engine = FakeEngine({b"x": Drop("x")})
        handler = ThreadedPacketHandler(engine, self.reactor, self.pool, stats=funnel)
        order = []
        handler.receive(b"x", arrival()).addCallback(lambda r: order.append("packet"))

        def job(n):
            funnel.add_value("jobs")
            order.append("job")
            return n * 2

        d = handler.run_on_worker(job, 21)
        d.addCallback(lambda r: (stats.value("jobs"), r))
        self.assertNoResult(d)
        self.pool.run_all()
        self.assertEqual(self.successResultOf(d), (1, 42))
        self.assertEqual(order, ["packet", "job"])
        bad = handler.run_on_worker(lambda: 1 / 0)
        self.pool.run_all()
        self.failureResultOf(bad, ZeroDivisionError)
        later = defer.Deferred()
        chained = handler.run_on_worker(lambda: later)
        self.pool.run_all()
        self.assertNoResult(chained)
        later.callback("done")
        self.assertEqual(self.successResultOf(chained), "done")

    def test_stop_drops_queued(self):
        """After stop() queued and new datagrams are dropped, not processed."""
        engine = FakeEngine({b"x": Drop("x")})
        handler = ThreadedPacketHandler(engine, self.reactor, self.pool)
        d1 = handler.receive(b"x", arrival())
        handler.stop()
        d2 = handler.receive(b"x", arrival())
        self.pool.run_all()
        self.assertEqual(engine.seen, [])
        self.assertEqual((self.successResultOf(d1), self.successResultOf(d2)),
                         (Drop("DHCP4_SHUTDOWN"), Drop("DHCP4_SHUTDOWN")))


class _MT:
    def __init__(self, enable: bool, size: int = 0):
        self.enable_multi_threading = enable
        self.thread_pool_size = size


class WorkerCountTests(SynchronousTestCase):
    def test_kea_rules(self):
        """Kea's MultiThreadingMgr::apply: disabled is one thread whatever
        the size; a size is taken as it is; 0 is the number of cores, and a
        machine that cannot tell runs one thread."""
        self.assertEqual(worker_count(None), 1)
        self.assertEqual(worker_count(_MT(False, 8)), 1)
        self.assertEqual(worker_count(_MT(True, 3), cores=2), 3)
        self.assertEqual(worker_count(_MT(True, 0), cores=6), 6)
        self.assertEqual(worker_count(_MT(True, 0), cores=0), 1)
        self.assertEqual(worker_count(_MT(True, 0)), os.cpu_count() or 1)


class WorkerPoolTests(SynchronousTestCase):
    def test_calls_results_and_stop(self):
        """Calls run on the pool's threads in queue order (one thread:
        strictly one after the other); callInThreadWithCallback reports a
        value or a Failure there; stop() lets the queued calls finish,
        joins the threads, and refuses calls after it."""
        pool = WorkerPool(1, name="test-pool")
        self.assertEqual((pool.min, pool.max, pool.threads), (1, 1, []))
        gate = threading.Event()
        seen: List[Tuple[str, Any]] = []
        pool.callInThread(gate.wait, 10)
        pool.callInThread(lambda: seen.append(("thread", threading.current_thread().name)))
        for n in range(5):
            pool.callInThread(seen.append, ("call", n))
        pool.callInThreadWithCallback(lambda ok, r: seen.append(("result", ok, r)), lambda a, b=0: a + b, 2, b=3)
        pool.callInThreadWithCallback(lambda ok, r: seen.append(("result", ok, r.type)), lambda: 1 / 0)
        pool.start()
        self.assertEqual(len(pool.threads), 1)
        gate.set()
        pool.stop()
        self.assertEqual(seen, [("thread", "test-pool-0")] + [("call", n) for n in range(5)]
                         + [("result", True, 5), ("result", False, ZeroDivisionError)])
        self.assertEqual(pool.threads, [])
        self.assertRaises(RuntimeError, pool.callInThread, seen.append, "late")

    def test_several_threads_share_the_queue(self):
        """A call blocked on one thread does not hold up the others."""
        pool = new_worker_pool(3)
        self.addCleanup(pool.stop)
        release = threading.Event()
        done = threading.Semaphore(0)
        pool.callInThread(release.wait, 10)
        pool.callInThread(release.wait, 10)
        pool.callInThread(done.release)
        self.assertTrue(done.acquire(timeout=10))
        release.set()


class ClientKeysTests(SynchronousTestCase):
    def test_keys_from_the_raw_datagram(self):
        """The message type, the client identifier (2 bytes or more) and
        the hardware address with its type, read without decoding."""
        hw = mac(9, 1)
        self.assertEqual(client_keys(query(DISCOVER, hw)), (DISCOVER, None, ("hw", 1, hw)))
        self.assertEqual(client_keys(query(REQUEST, hw, o61=b"\x01abc")),
                         (REQUEST, ("id", b"\x01abc"), ("hw", 1, hw)))
        self.assertEqual(client_keys(query(REQUEST, hw, o61=b"\x01"))[1], None)
        no_hw = encode(Packet4(op=1, hlen=0, chaddr=b"", giaddr=RELAY, options={53: bytes([DISCOVER])}))
        self.assertEqual(client_keys(no_hw), (DISCOVER, None, None))
        self.assertEqual(client_keys(b"\x01" * 100), (0, None, None))


class PickLockTests(SynchronousTestCase):
    def test_picks_one_thread_at_a_time(self):
        """serialise_picks wraps the allocator's pick_address in a lock:
        a pick does not start while another holds it."""
        class Allocator:
            def pick_address(self, subnet, classes):
                return (subnet, classes)

        allocator = Allocator()
        lock = serialise_picks(allocator)
        self.assertEqual(allocator.pick_address(1, ()), (1, ()))
        lock.acquire()
        try:
            blocked = threading.Thread(target=allocator.pick_address, args=(2, ()), daemon=True)
            blocked.start()
            blocked.join(0.2)
            self.assertTrue(blocked.is_alive())
        finally:
            lock.release()
        blocked.join(5)
        self.assertFalse(blocked.is_alive())


class ClientSerialisationTests(SynchronousTestCase):
    """Kea's ClientHandler over the worker pool, with the pool's threads
    played by the test: while one query is processed, the engine lets
    "other workers" (the pool's next jobs) run, as real threads would."""

    def setUp(self):
        self.pool = FakePool()
        self.reactor = CallFromThreadClock()
        self.events: List[Tuple[str, int]] = []
        self.during: Dict[int, int] = {}  # xid -> pool jobs to run while it is processed
        test = self

        class Engine:
            def receive(self, data, arrival):
                xid = decode(data).xid
                test.events.append(("start", xid))
                for _ in range(test.during.pop(xid, 0)):
                    fn, args, kwargs = test.pool.jobs.pop(0)
                    fn(*args, **kwargs)
                test.events.append(("end", xid))
                return Drop(str(xid))

        self.stats = StatsMgr(lambda: 1.0)
        self.handler = ThreadedPacketHandler(Engine(), self.reactor, self.pool, stats=StatsFunnel(self.stats),
                                             serialise_clients=True)

    def test_other_clients_concurrent_same_client_after(self):
        """While client A's DISCOVER is processed, A's REQUEST waits (it is
        processed after, by the same worker) and client B's DISCOVER runs
        at once."""
        a, b = mac(1, 1), mac(1, 2)
        self.during[1] = 2
        ds = [self.handler.receive(query(DISCOVER, a, xid=1), arrival()),
              self.handler.receive(query(REQUEST, a, xid=2), arrival()),
              self.handler.receive(query(DISCOVER, b, xid=3), arrival())]
        self.pool.run_all()
        self.assertEqual(self.events, [("start", 1), ("start", 3), ("end", 3), ("end", 1),
                                       ("start", 2), ("end", 2)])
        self.assertEqual([self.successResultOf(d) for d in ds], [Drop("1"), Drop("2"), Drop("3")])
        self.assertEqual(len(self.handler.client_locks), 0)

    def test_by_client_id_across_hardware_addresses(self):
        """The same client identifier from two hardware addresses is one
        client."""
        self.during[1] = 1
        self.handler.receive(query(REQUEST, mac(1, 1), xid=1, o61=b"\x01same"), arrival())
        self.handler.receive(query(REQUEST, mac(1, 2), xid=2, o61=b"\x01same"), arrival())
        self.pool.run_all()
        self.assertEqual(self.events, [("start", 1), ("end", 1), ("start", 2), ("end", 2)])

    def test_newer_waiting_query_replaces_the_older(self):
        """Two queries waiting for one client: the older is dropped as Kea
        drops it (DHCP4_PACKET_DROP_0012 by hardware address, _0011 by
        client identifier), counted as received and dropped."""
        hw = mac(1, 1)
        self.during[1] = 2
        ds = [self.handler.receive(query(DISCOVER, hw, xid=n), arrival()) for n in (1, 2, 3)]
        self.pool.run_all()
        self.assertEqual(self.events, [("start", 1), ("end", 1), ("start", 3), ("end", 3)])
        self.assertEqual([self.successResultOf(d) for d in ds],
                         [Drop("1"), Drop("DHCP4_PACKET_DROP_0012"), Drop("3")])
        self.assertEqual([self.stats.value(n) for n in ("pkt4-received", "pkt4-discover-received",
                                                        "pkt4-receive-drop")], [1, 1, 1])
        self.events.clear()
        self.during[4] = 2
        ds = [self.handler.receive(query(REQUEST, hw, xid=n, o61=b"\x01id"), arrival()) for n in (4, 5, 6)]
        self.pool.run_all()
        self.assertEqual(self.successResultOf(ds[1]), Drop("DHCP4_PACKET_DROP_0011"))

    def test_inform_not_held(self):
        """INFORM is not one of the queries Kea holds per client."""
        hw = mac(1, 1)
        self.during[1] = 1
        self.handler.receive(query(8, hw, xid=1), arrival())
        self.handler.receive(query(8, hw, xid=2), arrival())
        self.pool.run_all()
        self.assertEqual(self.events, [("start", 1), ("start", 2), ("end", 2), ("end", 1)])


class ReconnectScript:
    """A reopen() that fails while ``down`` and counts attempts."""

    def __init__(self) -> None:
        self.down = True
        self.attempts = 0

    def __call__(self) -> defer.Deferred:
        self.attempts += 1
        if self.down:
            return defer.fail(ConnectionRefusedError("connection refused"))
        return defer.succeed(None)


class DbReconnectControlTests(SynchronousTestCase):
    """Kea 2.2's dbReconnect / dbLostCallback / dbRecoveredCallback /
    dbFailedCallback sequence, message IDs and counters."""

    def make(self, **kwargs: Any) -> Tuple[DbReconnectControl, ReconnectScript, NetworkState, Shutdowns]:
        self.clock = Clock()
        self.logs = LogCapture(self)
        state = NetworkState(self.clock)
        script = ReconnectScript()
        shutdowns = Shutdowns()
        control = DbReconnectControl(self.clock, state, script, shutdowns, **kwargs)
        return control, script, state, shutdowns

    def test_stop_retry_exit_exhausted(self):
        """stop-retry-exit, 3 tries of 100 ms: service disabled at once, an
        immediate attempt and two more 100 ms apart ("scheduling attempt 2
        of 3", then 3 of 3, as kea-dhcp4 2.2 logs them), then
        DHCPSRV_PGSQL_LEASE_DB_RECONNECT_FAILED, DHCP4_DB_RECONNECT_FAILED
        and exit 1 — the sequence observed from Kea with PostgreSQL
        stopped under it."""
        control, script, state, shutdowns = self.make(max_retries=3, retry_interval=100,
                                                      on_fail="stop-retry-exit")
        control.connection_lost()
        self.assertFalse(state.is_service_enabled())
        self.assertEqual(state.disabled_by_db, 1)
        self.assertEqual(script.attempts, 1)
        control.connection_lost()  # a second report while recovering: ignored
        self.assertEqual(script.attempts, 1)
        self.clock.advance(0.1)
        self.assertEqual((script.attempts, shutdowns.statuses), (2, []))
        self.clock.advance(0.1)
        self.assertEqual((script.attempts, shutdowns.statuses), (3, [1]))
        self.assertEqual(state.disabled_by_db, 1)
        self.assertFalse(control.recovering)
        self.assertEqual(self.logs.ids(), [
            "DHCP4_DB_RECONNECT_LOST_CONNECTION", "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_FAILED",
            "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_SCHEDULE",
            "DHCP4_DB_RECONNECT_LOST_CONNECTION", "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_FAILED",
            "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_SCHEDULE",
            "DHCP4_DB_RECONNECT_LOST_CONNECTION", "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_FAILED",
            "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_FAILED", "DHCP4_DB_RECONNECT_FAILED",
        ])
        schedules = [(e["n"], e["max"], e["wait"])
                     for e in self.logs.with_id("DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_SCHEDULE")]
        self.assertEqual(schedules, [(2, 3, 100), (3, 3, 100)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_recovered(self):
        """Back after one failed attempt: service enabled, retries reset, a
        later loss disables it again."""
        control, script, state, shutdowns = self.make(max_retries=5, retry_interval=200,
                                                      on_fail="stop-retry-exit")
        control.connection_lost()
        script.down = False
        self.clock.advance(0.2)
        self.assertTrue(state.is_service_enabled())
        self.assertFalse(control.recovering)
        self.assertEqual(control.retries_left, 5)
        self.assertIn("DHCP4_DB_RECONNECT_SUCCEEDED", self.logs.ids())
        script.down = True
        control.connection_lost()
        self.assertFalse(state.is_service_enabled())
        self.assertEqual(shutdowns.statuses, [])

    def test_serve_retry_continue_keeps_serving_and_never_exits(self):
        """serve-retry-continue: the service stays on, no exit when retries
        run out."""
        control, script, state, shutdowns = self.make(max_retries=2, retry_interval=10,
                                                      on_fail="serve-retry-continue")
        control.connection_lost()
        self.assertTrue(state.is_service_enabled())
        self.clock.pump([0.01] * 5)
        self.assertEqual((script.attempts, shutdowns.statuses), (2, []))
        self.assertIn("DHCP4_DB_RECONNECT_FAILED", self.logs.ids())
        self.assertTrue(state.is_service_enabled())
        self.assertFalse(control.recovering)

    def test_serve_retry_exit(self):
        """serve-retry-exit: the service stays on, exit 1 when retries run out."""
        control, script, state, shutdowns = self.make(max_retries=1, retry_interval=10,
                                                      on_fail="serve-retry-exit")
        control.connection_lost()
        self.assertTrue(state.is_service_enabled())
        self.clock.pump([0.01] * 3)
        self.assertEqual((script.attempts, shutdowns.statuses), (1, [1]))

    def test_defaults_do_not_reconnect(self):
        """Kea's defaults (0 tries, stop-retry-exit): disabled, no attempt,
        DHCP4_DB_RECONNECT_DISABLED, exit 1; a wait of 0 likewise."""
        control, script, state, shutdowns = self.make()
        control.connection_lost()
        self.assertEqual((script.attempts, shutdowns.statuses, state.is_service_enabled()), (0, [1], False))
        self.assertEqual(self.logs.ids(), ["DHCP4_DB_RECONNECT_LOST_CONNECTION", "DHCP4_DB_RECONNECT_DISABLED"])
        control, script, state, shutdowns = self.make(max_retries=3, retry_interval=0,
                                                      on_fail="serve-retry-continue")
        control.connection_lost()
        self.assertEqual((script.attempts, shutdowns.statuses, state.is_service_enabled()), (0, [], True))

    def test_stop_cancels(self):
        """stop() (server stop, reconfiguration) cancels the next attempt."""
        control, script, state, shutdowns = self.make(max_retries=3, retry_interval=100)
        control.connection_lost()
        control.stop()
        self.clock.advance(1)
        self.assertEqual(script.attempts, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unknown_on_fail_refused(self):
        """An on-fail Kea does not know is refused with Kea's text."""
        e = self.assertRaises(ValueError, DbReconnectControl, Clock(), None, None, None, on_fail="retry")
        self.assertEqual(str(e), "Invalid action on connection loss: retry")


class RunnableTests(SynchronousTestCase):
    def test_postgresql_runnable_mysql_refused_ha_needs_greenlet(self):
        """check_runnable lets a postgresql lease database start, refuses
        mysql, and lets libdhcp_ha.so run with postgresql when the SQL
        workers can be greenlets (its callouts drive the reactor), which
        the server then picks; without greenlet it is refused, saying what
        to install."""
        pg = {"type": "postgresql", "name": "kea"}
        self.assertEqual(check_runnable(config(pg)), [])
        e = self.assertRaises(ConfigError, check_runnable, config({"type": "mysql", "name": "kea"}))
        self.assertIn("lease database type 'mysql' is not supported", str(e))
        ha = config(pg)
        from dataclasses import replace
        from kea_twisted import cooperative
        from kea_twisted.config.model import HookLibrary
        ha = replace(ha, hooks_libraries=(HookLibrary("/usr/lib/kea/hooks/libdhcp_ha.so"),))
        self.patch(cooperative, "greenlet", None)
        e = self.assertRaises(ConfigError, check_runnable, ha)
        self.assertIn("libdhcp_ha.so with lease database type 'postgresql' needs the greenlet package", str(e))
        self.patch(cooperative, "greenlet", object())
        self.assertEqual(check_runnable(ha), [])
        server = Dhcp4Server(ha, clock=lambda: 0.0, interfaces={"lo": [SERVER]})
        self.assertTrue(server.cooperative)
        self.assertEqual(Dhcp4Server(config(pg), clock=lambda: 0.0, interfaces={"lo": [SERVER]},
                                     cooperative=None).cooperative,
                         platform.python_implementation() == "PyPy")


# ---------------------------------------------------------------------------
# On the database


class PgServerTests(TestCase):
    timeout = 120

    def test_sequence_as_on_memfile(self):
        """DORA, renew, a second client's DORA and DECLINE, RELEASE, a
        third client's DISCOVER and a fourth's INIT-REBOOT for a declined
        address: the same replies, the same leases and the same statistics
        from the PostgreSQL server as from memfile; the engine and every
        store call ran in a greenlet worker on the reactor thread."""
        return self._sequence(cooperative=True)

    def test_sequence_as_on_memfile_threads(self):
        """The same on worker threads (without greenlets): every store
        call ran off the reactor thread."""
        return self._sequence(cooperative=False)

    @defer.inlineCallbacks
    def _sequence(self, cooperative):
        from kea_twisted.cooperative import current_worker

        access = database("sequence")
        now = [float(EPOCH)]
        pg = start_server(self, config(access), now, cooperative=cooperative)
        mem = start_server(self, config({"type": "memfile", "persist": False}), now)
        threads = set()
        store = pg.sync_store
        for name in ("get_lease4", "add_lease", "update_lease", "delete_lease"):
            original = getattr(store, name)

            def spy(*args, _original=original, **kwargs):
                threads.add((threading.get_ident(), current_worker() is not None))
                return _original(*args, **kwargs)
            setattr(store, name, spy)

        @defer.inlineCallbacks
        def both(data):
            theirs = mem.packet_handler.receive(data, arrival())
            ours = yield pg.packet_handler.receive(data, arrival())
            self.assertEqual(ours, theirs, decode(data))
            return ours

        @defer.inlineCallbacks
        def run():
            c1, c2, c3, c4 = (mac(1, n) for n in (1, 2, 3, 4))
            offer = yield both(query(DISCOVER, c1))
            a1 = decode(offer.data).yiaddr
            ack = yield both(query(REQUEST, c1, o50=a1.packed, o54=SERVER.packed))
            self.assertEqual(message_type(ack), ACK)
            now[0] += 100
            renew = yield both(query(REQUEST, c1, ciaddr=a1))
            self.assertEqual((message_type(renew), decode(renew.data).yiaddr), (ACK, a1))
            offer = yield both(query(DISCOVER, c2))
            a2 = decode(offer.data).yiaddr
            yield both(query(REQUEST, c2, o50=a2.packed, o54=SERVER.packed))
            declined = yield both(query(DECLINE, c2, o50=a2.packed, o54=SERVER.packed))
            self.assertIsInstance(declined, Drop)
            released = yield both(query(RELEASE, c1, ciaddr=a1, o54=SERVER.packed))
            self.assertIsInstance(released, Drop)
            yield both(query(DISCOVER, c3))
            nak = yield both(query(REQUEST, c4, o50=a2.packed, o54=SERVER.packed))
            self.assertEqual(message_type(nak), NAK)
            ours = yield pg.store.get_all_leases4()
            self.assertEqual(ours, mem.store.get_all_leases4())
            self.assertEqual([(l.address, l.state) for l in ours], [(a2, 1)])

        yield run()
        if cooperative:
            self.assertEqual(threads, {(threading.get_ident(), True)})
        else:
            self.assertTrue(threads)
            self.assertNotIn(threading.get_ident(), {ident for ident, _ in threads})
            self.assertEqual({worker for _, worker in threads}, {False})
        names = ["pkt4-received", "pkt4-discover-received", "pkt4-request-received", "pkt4-release-received",
                 "pkt4-decline-received", "pkt4-offer-sent", "pkt4-ack-sent", "pkt4-nak-sent", "pkt4-sent",
                 "subnet[1].assigned-addresses", "subnet[1].declined-addresses", "declined-addresses",
                 "subnet[1].cumulative-assigned-addresses", "cumulative-assigned-addresses"]
        self.assertEqual({n: pg.stats.value(n) for n in names}, {n: mem.stats.value(n) for n in names})
        self.assertEqual(pg.stats.value("pkt4-ack-sent"), 3)

    def test_statements_per_dora(self):
        """A new client's DORA costs four statements where Kea sends eight:
        each allocation reads the client's leases (by client-id and by
        hw-address) and the lease of the address it asks for in one
        statement, then checks its candidate (DISCOVER) or inserts (REQUEST)."""
        return self._statements_per_dora(False, ["get_client", "get_address", "get_client", "insert"])

    def test_statements_per_dora_greenlets(self):
        """With greenlet workers (one thread picks) three: the DISCOVER's
        first statement also reads the allocator's next candidate, which
        the allocator then picks (its cursor where memfile's would be)."""
        return self._statements_per_dora(True, ["get_client", "get_client", "insert"])

    @defer.inlineCallbacks
    def _statements_per_dora(self, cooperative, expected):
        from kea_twisted.pgsql import PgLeaseStore
        access = database("statements")
        now = [float(EPOCH)]
        server = start_server(self, config(access), now, cooperative=cooperative)
        mem = start_server(self, config({"type": "memfile", "persist": False}), now)
        with admin(cluster(), access) as conn:
            conn.execute("DELETE FROM lease4")
        sent = []
        original = PgLeaseStore._exec

        def counting(store, name, params):
            sent.append(name)
            return original(store, name, params)

        self.patch(PgLeaseStore, "_exec", counting)
        for n in (7, 8):
            del sent[:]
            hw = mac(1, n)
            discover = query(DISCOVER, hw, o61=b"\x01" + hw)
            offer = yield server.packet_handler.receive(discover, arrival())
            self.assertEqual(offer, mem.packet_handler.receive(discover, arrival()))
            address = decode(offer.data).yiaddr
            request = query(REQUEST, hw, o61=b"\x01" + hw, o50=address.packed, o54=SERVER.packed)
            ack = yield server.packet_handler.receive(request, arrival())
            self.assertEqual(ack, mem.packet_handler.receive(request, arrival()))
            self.assertEqual(message_type(ack), ACK)
            self.assertEqual(sent, expected)

    def test_unreachable_database_refused_at_start(self):
        """A database that cannot be opened fails start() with libpq's
        text (Kea: "Unable to open database: <it>"), leaving no worker
        thread; a started server's worker is gone after stop()."""
        from kea_twisted.pgsql import DbOpenError
        c = cluster()
        before = {t.name for t in threading.enumerate()}
        bad = dict(database("sequence"), port=pgsql_cluster.PORTS[-1] + 9, **{"connect-timeout": 2})
        server = Dhcp4Server(config(bad), clock=reactor.seconds, interfaces={"lo": [SERVER]}, reactor=reactor)
        e = self.assertRaises(DbOpenError, server.start)
        self.assertIn("Connection refused", str(e))
        self.assertEqual({t.name for t in threading.enumerate()} - before, set())
        good = Dhcp4Server(config(database("sequence")), clock=reactor.seconds, interfaces={"lo": [SERVER]},
                           reactor=reactor, cooperative=False)
        good.start()
        self.assertTrue(any("kea-lease-database" in t.name for t in threading.enumerate()))
        good.stop()
        self.assertFalse(any("kea-lease-database" in t.name for t in threading.enumerate()))
        # Greenlet workers (PyPy's default): no thread at all, and none left.
        bad_again = Dhcp4Server(config(bad), clock=reactor.seconds, interfaces={"lo": [SERVER]}, reactor=reactor,
                                cooperative=True)
        self.assertRaises(DbOpenError, bad_again.start)
        self.assertIsNone(bad_again.worker)
        good = Dhcp4Server(config(database("sequence")), clock=reactor.seconds, interfaces={"lo": [SERVER]},
                           reactor=reactor, cooperative=True)
        good.start()
        workers = list(good.worker.workers)
        self.assertEqual([w.greenlet.dead for w in workers], [False])
        self.assertEqual({t.name for t in threading.enumerate()} - before, set())
        good.stop()
        self.assertEqual([w.greenlet.dead for w in workers], [True])
        self.assertEqual(good.sync_store.size, 0)
        self.assertIsNotNone(c)

    @defer.inlineCallbacks
    def test_lease_cmds_on_the_worker(self):
        """lease_cmds over the PostgreSQL server: add, get, get-all, del
        run on the store's thread with their statistics applied;
        lease4-wipe answers Kea 2.2's text for PostgreSQL."""
        access = database("cmds")
        server = start_server(self, config(access))
        context = Context(server)
        runner = load_library_objects([(LEASE_CMDS, lease_cmds, {})], server=context)
        self.addCleanup(runner.unload_all)
        table = context.table = CommandTable(hooks=runner)
        before = server.stats.value("subnet[1].assigned-addresses")
        answer = yield table.execute("lease4-add", {"ip-address": "10.1.0.15", "hw-address": "02:00:00:09:00:01"})
        self.assertEqual(answer["result"], 0, answer)
        self.assertEqual(server.stats.value("subnet[1].assigned-addresses"), before + 1)
        answer = yield table.execute("lease4-get", {"ip-address": "10.1.0.15"})
        self.assertEqual((answer["result"], answer["arguments"]["hw-address"]), (0, "02:00:00:09:00:01"))
        answer = yield table.execute("lease4-add", {"ip-address": "10.1.0.15", "hw-address": "02:00:00:09:00:02"})
        self.assertEqual(answer, {"result": 1, "text": "IPv4 lease already exists."})
        answer = yield table.execute("lease4-get-all")
        self.assertEqual(len(answer["arguments"]["leases"]), 1)
        answer = yield table.execute("lease4-wipe", {"subnet-id": 1})
        self.assertEqual(answer, {"result": 1, "text": "wipeLeases4 is not implemented for PostgreSQL backend"})
        answer = yield table.execute("lease4-del", {"ip-address": "10.1.0.15"})
        self.assertEqual(answer["result"], 0, answer)
        self.assertEqual(server.stats.value("subnet[1].assigned-addresses"), before)
        self.assertEqual(db_leases(cluster(), access), {})

    @defer.inlineCallbacks
    def test_reclamation_on_the_worker(self):
        """The reclaim timer's pass and leases-reclaim run on the worker:
        an expired lease in the database is reclaimed (state 2), counted
        as Kea counts it, then flushed by flush-reclaimed."""
        access = database("reclaim")
        now = [float(EPOCH)]
        server = start_server(self, config(access, **{"expired-leases-processing": {"hold-reclaimed-time": 10}}),
                              now)
        yield server.store.add_lease(Lease4(A("10.1.0.11"), mac(3, 1), None, 100, EPOCH - 1000, 1))
        result = yield server.run_timer("reclaim")
        self.assertEqual([r.lease.address for r in result.leases], [A("10.1.0.11")])
        self.assertEqual(server.stats.value("reclaimed-leases"), 1)
        self.assertEqual(db_leases(cluster(), access), {A("10.1.0.11"): (mac(3, 1), 2)})
        now[0] += 1000
        yield server.run_timer("flush-reclaimed")
        self.assertEqual(db_leases(cluster(), access), {})

    @defer.inlineCallbacks
    def test_two_servers_one_pool(self):
        """Two kea_twisted servers on one database, 25 clients each, a pool
        of 40, all at once: they collide (NAKs seen), yet no address is
        acknowledged to two clients, and every acknowledged lease is in
        the database with its client's hardware address."""
        access = database("two")
        now = [float(EPOCH)]
        cfg = config(access, pool="10.1.0.10-10.1.0.49")
        servers = [start_server(self, cfg, now), start_server(self, cfg, now)]
        clients = [(side, mac(side + 1, n)) for n in range(25) for side in (0, 1)]
        results = yield defer.gatherResults([dora(servers[side].packet_handler, hw, xid=i * 10)
                                             for i, (side, hw) in enumerate(clients)])
        acks = [(hw, address) for (side, hw), (address, _) in zip(clients, results) if address is not None]
        naks = sum(n for _, n in results)
        self.assertGreater(naks, 0, "the servers never collided: the test proves nothing")
        addresses = [address for _, address in acks]
        self.assertEqual(len(addresses), len(set(addresses)), acks)
        self.assertEqual(len(acks), 40)
        stored = db_leases(cluster(), access)
        self.assertEqual({a: hw for hw, a in acks}, {a: hw for a, (hw, _) in stored.items()})


def multi_threading(size: int, **extra: Any) -> Dict[str, Any]:
    return {"multi-threading": {"enable-multi-threading": True, "thread-pool-size": size, **extra}}


class EngineWatch:
    """Wraps a server's engine.receive: (event, xid, chaddr) in order, and
    the most queries ever in the engine at once."""

    def __init__(self, server: Dhcp4Server):
        self.events: List[Tuple[str, int, bytes]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        receive = server.engine.receive

        def watched(data, arrival_):
            packet = decode(data)
            with self._lock:
                self.events.append(("start", packet.xid, packet.chaddr))
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                return receive(data, arrival_)
            finally:
                with self._lock:
                    self.in_flight -= 1
                    self.events.append(("end", packet.xid, packet.chaddr))

        server.engine.receive = watched


class MultiThreadedServerTests(TestCase):
    """Kea's multi-threading section on the PostgreSQL server: worker
    threads and connections, concurrent clients, one client in order."""

    timeout = 120

    def test_pool_size_from_config(self):
        """Without multi-threading one worker and one connection (Kea's
        single-threaded mode, no client locks); with it thread-pool-size
        workers, each with its own connection (0: one per core)."""
        c = cluster()
        cases = [("st", {}, 1), ("off", {"multi-threading": {"enable-multi-threading": False,
                                                             "thread-pool-size": 3}}, 1),
                 ("mt3", multi_threading(3), 3), ("mt0", multi_threading(0), os.cpu_count() or 1)]
        for tag, extra, threads in cases:
            access = database("size-" + tag)
            server = Dhcp4Server(config(access, **extra), clock=reactor.seconds, interfaces={"lo": [SERVER]},
                                 reactor=reactor)
            server.start()
            try:
                with admin(c, access) as conn:
                    connections = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = %s",
                        (access["name"], access["user"])).fetchone()[0]
                self.assertEqual((tag, server.worker.max, server.sync_store.size, connections),
                                 (tag, threads, threads, threads))
                self.assertEqual(server.packet_handler.client_locks is not None, threads > 1, tag)
            finally:
                server.stop()

    @defer.inlineCallbacks
    def test_concurrent_clients_never_share_an_address(self):
        """Four workers, a pool of 40: 60 clients' DORAs at once, then 20
        pairs of clients REQUESTing one address each pair at the same
        time.  Queries ran side by side in the engine, the allocation
        conflicts ended in NAKs (the database's primary key and the
        allocator's retry, as Kea), no address was acknowledged to two
        clients, each pair had exactly one winner, and the database holds
        exactly the acknowledged leases."""
        access = database("mt-share")
        now = [float(EPOCH)]
        server = start_server(self, config(access, pool="10.1.0.10-10.1.0.49",
                                           **multi_threading(4, **{"packet-queue-size": 0})), now)
        watch = EngineWatch(server)
        clients = [mac(5, n) for n in range(60)]
        results = yield defer.gatherResults([dora(server.packet_handler, hw, xid=i * 10)
                                             for i, hw in enumerate(clients)])
        acks = [(hw, address) for hw, (address, _) in zip(clients, results) if address is not None]
        addresses = [address for _, address in acks]
        self.assertEqual(len(addresses), len(set(addresses)), acks)
        self.assertEqual(len(acks), 40)
        self.assertGreater(watch.most_in_flight, 1, "no two queries were processed at once")

        # Pairs asking for one address (a free one in a second subnet's pool).
        access2 = database("mt-pairs")
        server2 = start_server(self, config(access2, pool="10.1.0.100-10.1.0.199",
                                            **multi_threading(4, **{"packet-queue-size": 0})), now)
        pairs = [(mac(6, 2 * n), mac(6, 2 * n + 1), A("10.1.0.100") + n) for n in range(20)]
        sent = []
        for n, (first, second, wanted) in enumerate(pairs):
            for k, hw in enumerate((first, second)):
                sent.append(server2.packet_handler.receive(
                    query(REQUEST, hw, xid=1000 + 2 * n + k, o50=wanted.packed, o54=SERVER.packed), arrival()))
        replies = yield defer.gatherResults(sent)
        kinds = [message_type(r) for r in replies]
        winners = {}
        for n, (first, second, wanted) in enumerate(pairs):
            pair = kinds[2 * n:2 * n + 2]
            self.assertEqual(sorted(pair), [ACK, NAK], (wanted, pair))
            winners[wanted] = first if pair[0] == ACK else second
        self.assertEqual({a: hw for a, (hw, _) in db_leases(cluster(), access2).items()}, winners)
        stored = db_leases(cluster(), access)
        self.assertEqual({a: hw for hw, a in acks}, {a: hw for a, (hw, _) in stored.items()})

    @defer.inlineCallbacks
    def test_one_clients_queries_in_order(self):
        """Four workers; 30 clients each send DISCOVER and REQUEST back to
        back, without waiting: different clients' queries overlap in the
        engine, but each client's REQUEST starts only after its DISCOVER
        ended (Kea's ClientHandler), and every REQUEST is acknowledged."""
        access = database("mt-order")
        server = start_server(self, config(access, pool="10.1.0.10-10.1.0.99",
                                           **multi_threading(4, **{"packet-queue-size": 0})))
        watch = EngineWatch(server)
        sent = []
        for n in range(30):
            hw = mac(7, n)
            wanted = A("10.1.0.10") + n
            sent.append(server.packet_handler.receive(query(DISCOVER, hw, xid=2 * n), arrival()))
            sent.append(server.packet_handler.receive(
                query(REQUEST, hw, xid=2 * n + 1, o50=wanted.packed, o54=SERVER.packed), arrival()))
        replies = yield defer.gatherResults(sent)
        self.assertEqual([message_type(r) for r in replies], [OFFER, ACK] * 30)
        for n in range(30):
            hw = mac(7, n)
            mine = [(event, xid) for event, xid, chaddr in watch.events if chaddr == hw]
            self.assertEqual(mine, [("start", 2 * n), ("end", 2 * n), ("start", 2 * n + 1), ("end", 2 * n + 1)])
        self.assertGreater(watch.most_in_flight, 1, "no two queries were processed at once")


# ---------------------------------------------------------------------------
# PostgreSQL stopped mid-run


_outage_cluster: Optional[pgsql_cluster.PgCluster] = None


def outage_cluster() -> pgsql_cluster.PgCluster:
    """A cluster of this module's own, so stopping it disturbs no other
    test's connections.  Start, stop and restart it from the main thread
    only: the server's parent-death signal follows the starting thread,
    and trial stops the reactor's thread pool after each test."""
    global _outage_cluster
    pgsql_cluster.skip_unless_available(admin=True)
    if _outage_cluster is None or not _outage_cluster.directory:
        import atexit
        _outage_cluster = pgsql_cluster.PgCluster().start()
        atexit.register(_outage_cluster.stop)
    _outage_cluster.resume()
    return _outage_cluster


class OutageTests(TestCase):
    timeout = 120
    #: SQL workers as greenlets (PyPy's default) or threads (CPython's).
    cooperative = False

    def setUp(self):
        self.cluster = outage_cluster()
        self.addCleanup(self.cluster.resume)
        self.access = self.cluster.create_kea_database()
        self.logs = LogCapture(self)

    def server(self, on_fail: str, tries: int, wait: int) -> Dhcp4Server:
        database = dict(self.access, **{"on-fail": on_fail, "max-reconnect-tries": tries,
                                        "reconnect-wait-time": wait, "connect-timeout": 2})
        return start_server(self, config(database, pool="10.1.0.10-10.1.0.250"), cooperative=self.cooperative)

    @defer.inlineCallbacks
    def run_with_outage(self, server: Dhcp4Server, clients: int = 400):
        """Clients one after another; PostgreSQL stopped after the fifth
        ACK and started again 0.5 s later.  Fires (acks, drops during the
        outage, acks after it)."""
        acks: List[Tuple[bytes, A]] = []
        drops: List[str] = []
        phase = {"down": False, "after": 0}

        @defer.inlineCallbacks
        def traffic():
            # Until five clients were served after the outage (bounded).
            for n in range(clients):
                if phase.get("resumed") and phase["after"] >= 5:
                    break
                hw = mac(7, n)
                offer = yield server.packet_handler.receive(query(DISCOVER, hw, xid=n), arrival())
                if message_type(offer) != OFFER:
                    if phase["down"]:
                        drops.append(getattr(offer, "reason", "?"))
                    yield task.deferLater(reactor, 0.02, lambda: None)
                    continue
                address = decode(offer.data).yiaddr
                ack = yield server.packet_handler.receive(
                    query(REQUEST, hw, xid=n, o50=address.packed, o54=SERVER.packed), arrival())
                if message_type(ack) == ACK:
                    acks.append((hw, decode(ack.data).yiaddr))
                    if phase.get("resumed"):
                        phase["after"] += 1
                elif phase["down"]:
                    drops.append(getattr(ack, "reason", "?"))
                yield task.deferLater(reactor, 0.01, lambda: None)

        @defer.inlineCallbacks
        def outage():
            yield wait_until(lambda: len(acks) >= 5)
            phase["down"] = True
            self.cluster.pause()
            yield task.deferLater(reactor, 0.5, lambda: None)
            self.cluster.resume()
            yield wait_until(lambda: not server.reconnect_control.recovering, timeout=10)
            phase["down"] = False
            phase["resumed"] = True

        yield defer.gatherResults([traffic(), outage()])
        return acks, drops, phase["after"]

    def assertAllKept(self, acks: List[Tuple[bytes, A]]) -> None:
        stored = db_leases(self.cluster, self.access)
        for hw, address in acks:
            self.assertEqual(stored.get(address), (hw, 0), address)
        self.assertEqual(len({a for _, a in acks}), len(acks))

    @defer.inlineCallbacks
    def test_stop_retry_exit_recovers(self):
        """stop-retry-exit with retries left: PostgreSQL stops mid-run, the
        query in flight is dropped, the DHCP service is disabled (origin
        db) while reconnecting every 100 ms, enabled again when PostgreSQL
        is back; serving resumes; every acknowledged lease is in the
        database; Kea's message IDs are logged; no exit."""
        server = self.server("stop-retry-exit", 100, 100)
        disabled = []
        state = server.network_state
        original = state.disable_service

        def spy(origin="user"):
            disabled.append(origin)
            original(origin)
        state.disable_service = spy
        acks, drops, after = yield self.run_with_outage(server)
        self.assertEqual(disabled, [DB_ORIGIN])
        self.assertTrue(state.is_service_enabled())
        self.assertTrue(drops)
        self.assertLessEqual(set(drops), {"DHCP4_PACKET_DROP_0007", "DHCP4_PACKET_DROP_0008"})
        self.assertIn("DHCP4_PACKET_DROP_0008", drops)
        self.assertGreater(after, 0)
        self.assertAllKept(acks)
        ids = self.logs.ids()
        for msgid in ("DATABASE_PGSQL_FATAL_ERROR", "DHCP4_DB_RECONNECT_LOST_CONNECTION",
                      "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_FAILED",
                      "DHCPSRV_PGSQL_LEASE_DB_RECONNECT_ATTEMPT_SCHEDULE", "DHCP4_DB_RECONNECT_SUCCEEDED"):
            self.assertIn(msgid, ids)
        self.assertEqual(server._shutdown.statuses, [])
        self.flushLoggedErrors()

    @defer.inlineCallbacks
    def test_serve_retry_continue_keeps_serving(self):
        """serve-retry-continue: the service is never disabled; queries
        during the outage fail (dropped, DHCP4_PACKET_DROP_0007) and
        serving resumes after reconnecting; nothing acknowledged is lost."""
        server = self.server("serve-retry-continue", 100, 100)
        acks, drops, after = yield self.run_with_outage(server)
        self.assertTrue(drops)
        self.assertEqual(set(drops), {"DHCP4_PACKET_DROP_0007"})
        self.assertGreater(after, 0)
        self.assertAllKept(acks)
        self.assertEqual(server._shutdown.statuses, [])
        self.flushLoggedErrors()

    @defer.inlineCallbacks
    def test_retries_exhausted_exit(self):
        """stop-retry-exit with 2 tries of 50 ms and PostgreSQL kept away:
        the query that finds it gone is dropped, lease4-get answers Kea's
        "fatal database error or connectivity lost", Kea's
        shutdownServer(EXIT_FAILURE) is asked for, the service stays
        disabled, and the lease acknowledged before is there afterwards."""
        server = self.server("stop-retry-exit", 2, 50)
        acks = []
        address, _ = yield dora(server.packet_handler, mac(8, 1))
        acks.append((mac(8, 1), address))
        self.cluster.pause()
        outcome = yield server.packet_handler.receive(query(DISCOVER, mac(8, 2)), arrival())
        self.assertEqual(outcome, Drop("DHCP4_PACKET_DROP_0007"))
        # Lease commands meanwhile: Kea 2.2's answer, observed.
        context = Context(server)
        runner = load_library_objects([(LEASE_CMDS, lease_cmds, {})], server=context)
        self.addCleanup(runner.unload_all)
        table = context.table = CommandTable(hooks=runner)
        answer = yield table.execute("lease4-get", {"ip-address": str(address)})
        self.assertEqual(answer, {"result": 1, "text": "fatal database error or connectivity lost"})
        ok = yield wait_until(lambda: server._shutdown.statuses, timeout=10)
        self.assertTrue(ok)
        self.assertEqual(server._shutdown.statuses, [1])
        self.assertFalse(server.network_state.is_service_enabled())
        self.cluster.resume()
        self.assertAllKept(acks)
        self.flushLoggedErrors()


# ---------------------------------------------------------------------------
# Real Kea on the same database


class CooperativeOutageTests(OutageTests):
    """The same outages with greenlet workers: a reconnect's blocking
    connect runs on a thread while the reactor goes on."""

    cooperative = True


class KeaClient:
    """Relayed DHCP clients of kea-dhcp4, from 127.0.0.3 with the relay-port
    sub-option (so Kea answers to our port, not 67).  Blocking: run it in
    a thread."""

    def __init__(self, port: int = KEA_CLIENT_PORT):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((str(KEA_RELAY), port))
        self.sock.settimeout(2.0)
        self.port = port

    def close(self) -> None:
        self.sock.close()

    def exchange(self, data: bytes, xid: int) -> Optional[Packet4]:
        for _ in range(3):
            self.sock.sendto(data, (str(SERVER), KEA_PORT))
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                try:
                    reply, _ = self.sock.recvfrom(4096)
                except socket.timeout:
                    break
                packet = decode(reply)
                if packet.xid == xid:
                    return packet
        return None

    def dora(self, hw: bytes, xid: int, tries: int = 6) -> Tuple[Optional[A], int]:
        naks = 0
        for attempt in range(tries):
            x = xid + attempt
            offer = self.exchange(query(DISCOVER, hw, xid=x, giaddr=KEA_RELAY, relay_port=self.port), x)
            if offer is None or offer.options[53][0] != OFFER:
                return None, naks
            ack = self.exchange(query(REQUEST, hw, xid=x, giaddr=KEA_RELAY, relay_port=self.port,
                                      o50=offer.yiaddr.packed, o54=SERVER.packed), x)
            if ack is not None and ack.options[53][0] == ACK:
                return ack.yiaddr, naks
            if ack is not None and ack.options[53][0] == NAK:
                naks += 1
                continue
            return None, naks
        return None, naks


class KeaSharesTheDatabaseTests(TestCase):
    timeout = 180

    def setUp(self):
        if not os.access(KEA_DHCP4, os.X_OK) or not os.path.exists(LEASE_CMDS):
            raise SkipTest("kea-dhcp4 or its lease_cmds hook is not installed")
        if os.geteuid() != 0:
            raise SkipTest("kea-dhcp4 needs root")
        self.access = database("kea")
        self.dir = tempfile.mkdtemp(prefix="kt-pgs-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.socket = os.path.join(self.dir, "ctrl")

    def start_kea(self, pool: str) -> subprocess.Popen:
        cfg = {"Dhcp4": {
            "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
            "lease-database": dict(self.access, **{"connect-timeout": 5}),
            "control-socket": {"socket-type": "unix", "socket-name": self.socket},
            "hooks-libraries": [{"library": LEASE_CMDS}],
            "valid-lifetime": 600,
            "subnet4": [{"id": 1, "subnet": "10.1.0.0/24",
                         "relay": {"ip-addresses": [str(RELAY), str(KEA_RELAY)]}, "pools": [{"pool": pool}]}],
            "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                         "output_options": [{"output": os.path.join(self.dir, "kea.log")}]}],
        }}
        path = os.path.join(self.dir, "kea.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ, KEA_PIDFILE_DIR=self.dir, KEA_LOCKFILE_DIR=self.dir, TZ="UTC")
        proc = subprocess.Popen([KEA_DHCP4, "-c", path, "-p", str(KEA_PORT)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.addCleanup(stop)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not os.path.exists(self.socket) and proc.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(self.socket):
            self.fail("kea-dhcp4 did not start: " + self.kea_log())
        return proc

    def kea_log(self) -> str:
        try:
            with open(os.path.join(self.dir, "kea.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def kea_command(self, command: str, arguments: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        return send_command(self.socket, command, arguments)

    @defer.inlineCallbacks
    def test_kea_and_us_share_pools(self):
        """kea-dhcp4 2.2 and a kea_twisted server on one PostgreSQL
        database, 20 relayed clients each at the same time from a pool of
        30: no address acknowledged to two clients, every acknowledged
        lease in the database with its client's hardware address, and
        each lease found by lease4-get on Kea's control socket and on
        ours."""
        pool = "10.1.0.10-10.1.0.39"
        self.start_kea(pool)
        server = start_server(self, config(self.access, pool=pool))
        context = Context(server)
        runner = load_library_objects([(LEASE_CMDS, lease_cmds, {})], server=context)
        self.addCleanup(runner.unload_all)
        table = context.table = CommandTable(hooks=runner)

        def kea_clients():
            client = KeaClient()
            try:
                return [(mac(9, n), client.dora(mac(9, n), xid=0x10000 + n * 10)) for n in range(20)]
            finally:
                client.close()

        ours_clients = [mac(4, n) for n in range(20)]
        kea_d = deferToThread(kea_clients)
        ours = yield defer.gatherResults([dora(server.packet_handler, hw, xid=n * 10)
                                          for n, hw in enumerate(ours_clients)])
        theirs = yield kea_d
        acks = [(hw, a) for hw, (a, _) in zip(ours_clients, ours) if a is not None]
        acks += [(hw, a) for hw, (a, _) in theirs if a is not None]
        self.assertTrue(any(a for _, (a, _) in theirs), "Kea acknowledged nothing: " + self.kea_log())
        self.assertTrue(any(a for a, _ in ours))
        addresses = [a for _, a in acks]
        self.assertEqual(len(addresses), len(set(addresses)), acks)
        self.assertEqual(len(acks), 30)
        stored = db_leases(cluster(), self.access)
        self.assertEqual({a: hw for hw, a in acks}, {a: hw for a, (hw, _) in stored.items()})
        for hw, address in acks:
            text = hw.hex(":")
            kea = self.kea_command("lease4-get", {"ip-address": str(address)})
            self.assertEqual((kea["result"], kea["arguments"]["hw-address"]), (0, text), kea)
            mine = yield table.execute("lease4-get", {"ip-address": str(address)})
            self.assertEqual((mine["result"], mine["arguments"]["hw-address"]), (0, text), mine)
            self.assertEqual(mine["arguments"]["cltt"], kea["arguments"]["cltt"])
