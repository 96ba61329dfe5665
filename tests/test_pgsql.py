"""
Tests for kea_twisted.pgsql: the PostgreSQL lease store on Kea 2.2's own
schema (``kea-admin db-init pgsql``), in a throwaway cluster
(tests/pgsql_cluster.py), and real kea-dhcp4 reading what it writes and
the other way round.

Skips with the reason when PostgreSQL's server programs, ``kea-admin``,
psycopg 3 (or, for the interoperability tests, kea-dhcp4 and root) are
missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import replace
from ipaddress import IPv4Address as A
from typing import Any, Dict, Optional

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from twisted.internet import reactor
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from tests.kea_socket import send_command
from kea_twisted.leases import ILeaseStore, ISyncLeaseStore, Lease4, NoSuchLease
from tests import pgsql_cluster

from kea_twisted.pgsql import (
    DbConnectionUnusable, DbInvalidTimeout, DbOpenError, DbOperationError, NoDatabaseName,
    PgConnectionParameters, PgLeaseStore, PgStorePool, SCHEMA_VERSION, SchemaVersionMismatch,
    ThreadedLeaseStore,
)

KEA_DHCP4 = "/usr/sbin/kea-dhcp4"
LEASE_CMDS = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"
#: kea-dhcp4's DHCP port in these tests (-p); never bound beyond loopback
#: use: its interface list is empty.
KEA_PORT = 18590

_databases: Dict[str, Dict[str, Any]] = {}


def cluster() -> pgsql_cluster.PgCluster:
    # These tests also read and write rows behind the store's back.
    return pgsql_cluster.shared_cluster_or_skip(admin=True)


def database(tag: str = "main") -> Dict[str, Any]:
    """A Kea database in this process's cluster, made once per tag."""
    c = cluster()
    access = _databases.get(tag)
    if access is None or access["port"] != c.port:
        access = _databases[tag] = c.create_kea_database()
    return dict(access)


def admin(access: Dict[str, Any]):
    """A superuser connection to a test database (for setting up and
    looking at rows behind the store's back)."""
    return pgsql_cluster.admin_connection(cluster().superuser_dsn(access["name"]))


def empty(access: Dict[str, Any]) -> None:
    with admin(access) as conn:
        # Row by row, so Kea's triggers bring lease4_stat back to zero.
        conn.execute("DELETE FROM lease4")


def mac(n: int) -> bytes:
    return bytes([0, 0, 0, 0, 0, n])


def lease(addr="10.0.0.10", hw=1, cid=None, valid=7200, cltt=1000, subnet=1, **kw) -> Lease4:
    return Lease4(A(addr), mac(hw) if isinstance(hw, int) else hw, cid, valid, cltt, subnet, **kw)


class _PgCase:
    """setUp: an emptied Kea database and a store on it."""

    def setUp(self):
        self.access = database()
        empty(self.access)
        self.store = self.open_store()

    def open_store(self, access: Optional[Dict[str, Any]] = None) -> PgLeaseStore:
        store = PgLeaseStore(access or self.access)
        self.addCleanup(store.close)
        return store


class PgLeaseStoreTests(_PgCase, SynchronousTestCase):
    def test_interfaces(self):
        """PgLeaseStore provides ISyncLeaseStore; ThreadedLeaseStore provides
        ILeaseStore."""
        verifyObject(ISyncLeaseStore, self.store)
        threaded = ThreadedLeaseStore(self.store, reactor, threadpool=object())
        verifyObject(ILeaseStore, threaded)

    def test_schema_version(self):
        """kea-admin made the schema Kea 2.2 expects (13.0)."""
        self.assertEqual(self.store.schema_version(), SCHEMA_VERSION)
        self.assertEqual(SCHEMA_VERSION, (13, 0))

    def test_add_and_duplicate(self):
        """add_lease stores the lease; a taken address answers False and
        leaves the stored lease as it was (Kea's addLease on a unique
        violation)."""
        l = lease(cid=b"\x01\x02", hostname="a", fqdn_fwd=True, user_context={"x": [1, "y"]})
        self.assertTrue(self.store.add_lease(l))
        self.assertFalse(self.store.add_lease(lease(hw=2)))
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")), l)
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")).user_context, {"x": [1, "y"]})
        self.assertEqual(len(self.store), 1)

    def test_duplicate_between_servers(self):
        """Two stores (two servers' connections) adding one address: the
        database lets exactly one of them have it."""
        other = self.open_store()
        results = [self.store.add_lease(lease(hw=1)), other.add_lease(lease(hw=2))]
        self.assertEqual(results, [True, False])
        self.assertEqual(other.get_lease4(A("10.0.0.10")).hwaddr, mac(1))

    def test_update_missing_raises(self):
        """update_lease of an address without a lease raises NoSuchLease."""
        self.assertRaises(NoSuchLease, self.store.update_lease, lease())
        self.assertIsNone(self.store.get_lease4(A("10.0.0.10")))

    def test_update_reindexes(self):
        """An update moves the lease between hw-address, client-id, subnet
        and hostname lookups."""
        self.store.add_lease(lease(hw=1, cid=b"\x01\x01", subnet=1, hostname="a"))
        new = lease(hw=2, cid=b"\x01\x02", subnet=2, hostname="b", cltt=2000, state=1)
        self.store.update_lease(new)
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(1)), [])
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(2)), [new])
        self.assertEqual(self.store.get_leases4_by_client_id(b"\x01\x01"), [])
        self.assertEqual(self.store.get_lease4_by_client_id_subnet(b"\x01\x02", 2), new)
        self.assertIsNone(self.store.get_lease4_by_client_id_subnet(b"\x01\x02", 1))
        self.assertEqual(self.store.get_leases4_by_subnet(1), [])
        self.assertEqual(self.store.get_leases4_by_hostname("b"), [new])

    def test_update_refused_after_another_server_changed_it(self):
        """Kea's optimistic check: a store that read a lease cannot update
        or delete it after another server changed it (NoSuchLease, False),
        and can once it has read the new row."""
        self.store.add_lease(lease(valid=100, cltt=1000))
        other = self.open_store()
        seen = other.get_lease4(A("10.0.0.10"))
        self.store.update_lease(replace(seen, cltt=5000))              # this server renews it
        self.assertRaises(NoSuchLease, other.update_lease, replace(seen, hwaddr=mac(9)))
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")).cltt, 5000)
        self.assertFalse(other.delete_lease(seen))
        self.assertIsNotNone(self.store.get_lease4(A("10.0.0.10")))
        fresh = other.get_lease4(A("10.0.0.10"))
        other.update_lease(replace(fresh, hwaddr=mac(9)))
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")).hwaddr, mac(9))

    def test_update_with_current(self):
        """update_lease(lease, current=...) checks against the lease the
        caller read, whatever this store saw last."""
        self.store.add_lease(lease(valid=100, cltt=1000))
        old = self.store.get_lease4(A("10.0.0.10"))
        self.store.update_lease(replace(old, cltt=2000))
        self.assertRaises(NoSuchLease, self.store.update_lease, replace(old, cltt=3000), current=old)
        self.store.update_lease(replace(old, cltt=3000), current=replace(old, cltt=2000))
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")).cltt, 3000)

    def test_delete(self):
        """delete_lease removes the row (True), then finds nothing (False)."""
        stored = lease(hostname="h")
        self.store.add_lease(stored)
        self.assertTrue(self.store.delete_lease(replace(stored, hostname="")))
        self.assertIsNone(self.store.get_lease4(A("10.0.0.10")))
        self.assertFalse(self.store.delete_lease(stored))

    def test_lookups(self):
        """hw-address and client-id lookups, with and without subnet, in
        memfile's order."""
        a = lease("10.0.0.1", hw=1, cid=b"\x01\x01", subnet=1)
        b = lease("10.0.1.1", hw=1, cid=b"\x01\x01", subnet=2)
        c = lease("10.0.0.2", hw=2, subnet=1)
        for l in (b, c, a):
            self.store.add_lease(l)
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(1)), [a, b])
        self.assertEqual(self.store.get_lease4_by_hwaddr_subnet(mac(1), 2), b)
        self.assertIsNone(self.store.get_lease4_by_hwaddr_subnet(mac(2), 2))
        self.assertEqual(self.store.get_leases4_by_client_id(b"\x01\x01"), [a, b])
        self.assertEqual(self.store.get_leases4_by_client_id(b""), [])
        self.assertIsNone(self.store.get_lease4_by_client_id_subnet(b"", 1))
        self.assertEqual(self.store.get_leases4_by_subnet(1), [a, c])
        self.assertEqual(self.store.get_all_leases4(), [a, c, b])
        self.assertEqual(len(self.store), 3)

    def test_prefetch_client4(self):
        """One statement reads a client's leases by client-id and by
        hw-address and the lease of one address; those lookups are then
        answered from it, in the separate statements' order, until a
        change through the store or forget_prefetched."""
        a = lease("10.0.0.1", hw=1, cid=b"\x01\x01", subnet=2)
        b = lease("10.0.0.2", hw=1, cid=b"\x01\x01", subnet=1)
        c = lease("10.0.0.3", hw=2, subnet=1)
        d = lease("10.0.0.4", hw=3, subnet=1)
        for l in (a, b, c, d):
            self.store.add_lease(l)
        self.store.prefetch_client4(b"\x01\x01", mac(1), A("10.0.0.3"), int(A("10.0.0.4")))
        # Behind the store's back: the prefetched rows are what was read.
        with admin(self.access) as conn:
            conn.execute("DELETE FROM lease4 WHERE address IN (%s, %s)", (int(A("10.0.0.3")), int(A("10.0.0.4"))))
        self.assertEqual(self.store.get_leases4_by_client_id(b"\x01\x01"), [b, a])
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(1)), [b, a])
        self.assertEqual(self.store.get_lease4(A("10.0.0.3")), c)
        # The candidate's row (the allocator's next pick) too.
        self.assertEqual(self.store.get_lease4(A("10.0.0.4")), d)
        # Other keys still go to the database.
        self.assertIsNone(self.store.get_lease4(A("10.0.0.9")))
        self.assertEqual(self.store.get_leases4_by_hwaddr(mac(2)), [])
        self.store.forget_prefetched()
        self.assertIsNone(self.store.get_lease4(A("10.0.0.3")))

    def test_prefetch_forgotten_on_change(self):
        """A change through the store drops the prefetched rows: the next
        lookup reads the database."""
        self.store.prefetch_client4(b"\x01\x01", mac(1), A("10.0.0.10"))
        self.assertIsNone(self.store.get_lease4(A("10.0.0.10")))
        l = lease("10.0.0.10", hw=1, cid=b"\x01\x01")
        self.assertTrue(self.store.add_lease(l))
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")), l)
        self.assertEqual(self.store.get_leases4_by_client_id(b"\x01\x01"), [l])

    def test_prefetch_without_keys(self):
        """No client-id, hw-address or address: nothing read for them."""
        self.store.add_lease(lease(hw=b"", cid=None, state=1))
        self.store.prefetch_client4(None, None, None)
        self.assertEqual(self.store.get_leases4_by_client_id(b""), [])
        self.assertEqual(len(self.store.get_leases4_by_hwaddr(b"")), 1)

    def test_prefetch_without_client_id_plans_once(self):
        """Where the leases have no client identifier (Kea's '' in
        client_id), the generic plan of the four-way lookup scans the whole
        table for "client_id = $1", so PostgreSQL plans it anew on every
        execution; the lookup of a client without one leaves that branch
        out and its generic plan is index scans only (PostgreSQL then
        stops planning it)."""
        from kea_twisted.pgsql import _SQL

        with admin(self.access) as conn:
            conn.execute("INSERT INTO lease4 (address, hwaddr, client_id, valid_lifetime, expire, subnet_id, "
                         "fqdn_fwd, fqdn_rev, hostname, state, user_context) SELECT 167772160 + g, "
                         "int8send(g), '', 3600, now(), 1, false, false, '', 0, '' FROM generate_series(1, 5000) g")
            conn.execute("ANALYZE lease4")
            conn.execute("SET plan_cache_mode = force_generic_plan")

            def generic_plan(name, types, args):
                conn.execute(f"PREPARE {name}({', '.join(types)}) AS {_SQL[name][0]}")
                return "\n".join(row[0] for row in conn.execute(f"EXPLAIN EXECUTE {name}({args})"))

            self.assertIn("Seq Scan", generic_plan("get_client", ["bytea", "bytea", "bigint", "bigint"],
                                                   "NULL, int8send(7), 167772167, 167772168"))
            plan = generic_plan("get_client_hw", ["bytea", "bigint", "bigint"], "int8send(7), 167772167, 167772168")
            self.assertNotIn("Seq Scan", plan)
            self.assertEqual(plan.count("Index Scan"), 3)
        self.store.prefetch_client4(None, b"\x00" * 7 + b"\x07", A("10.0.0.7"))
        self.assertEqual(self.store._conn.prepared, {"get_client_hw"})
        self.assertEqual([str(l.address) for l in self.store.get_leases4_by_hwaddr(b"\x00" * 7 + b"\x07")],
                         ["10.0.0.7"])
        self.assertEqual(self.store.get_lease4(A("10.0.0.7")).hwaddr, b"\x00" * 7 + b"\x07")

    def test_no_client_id_and_no_hwaddr(self):
        """A lease without client-id or hw-address (a declined one) is
        stored as Kea stores it (empty values) and reads back with None /
        b""; the empty hw-address finds it."""
        declined = lease(hw=b"", cid=None, state=1)
        self.store.add_lease(declined)
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")), declined)
        self.assertEqual(self.store.get_leases4_by_hwaddr(b""), [declined])

    def test_hostname_compared_in_lower_case(self):
        """get_leases4_by_hostname matches lower(hostname) against the name
        as given (Kea's GET_LEASE4_HOSTNAME)."""
        l = lease(hostname="Host.Example")
        self.store.add_lease(l)
        self.assertEqual(self.store.get_leases4_by_hostname("host.example"), [l])
        self.assertEqual(self.store.get_leases4_by_hostname("Host.Example"), [])

    def test_text_and_nulls(self):
        """Hostnames travel as UTF-8 text both ways; NULL columns written
        behind the store's back read as Kea reads them (no client id, no
        hostname, no user context)."""
        l = lease(hostname="h\u00f4te.example", user_context={"n": "\u00e9"})
        self.store.add_lease(l)
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")), l)
        self.assertEqual(self.store.get_leases4_by_hostname("h\u00f4te.example"), [l])
        with admin(self.access) as conn:
            self.assertEqual(conn.execute("SELECT hostname FROM lease4").fetchone()[0], "h\u00f4te.example")
            conn.execute("UPDATE lease4 SET client_id = NULL, hostname = NULL, user_context = NULL")
        self.assertEqual(self.open_store().get_lease4(A("10.0.0.10")),
                         replace(l, hostname="", user_context=None))

    def test_page(self):
        """Paging excludes the bound and returns up to limit leases in
        address order (Kea's getLeases4(lower_bound, page_size))."""
        for i in (5, 1, 3, 2, 4):
            self.store.add_lease(lease(f"10.0.0.{i}", hw=i))
        page = self.store.get_leases4_page(A("0.0.0.0"), 2)
        self.assertEqual([str(l.address) for l in page], ["10.0.0.1", "10.0.0.2"])
        page = self.store.get_leases4_page(A("10.0.0.2"), 2)
        self.assertEqual([str(l.address) for l in page], ["10.0.0.3", "10.0.0.4"])
        self.store.delete_lease(self.store.get_lease4(A("10.0.0.5")))
        self.assertEqual(self.store.get_leases4_page(A("10.0.0.4"), 2), [])
        self.store.add_lease(lease("255.255.255.254", hw=9))
        self.assertEqual([str(l.address) for l in self.store.get_leases4_page(A("128.0.0.0"), 5)],
                         ["255.255.255.254"])

    def test_expired_strictly_oldest_first_not_reclaimed(self):
        """get_expired_leases4: states 0 and 1 with expire < now (strictly,
        Kea's PostgreSQL query), oldest first, limited; state 2 and
        infinite lifetimes are never returned."""
        self.store.add_lease(lease("10.0.0.1", hw=1, valid=10, cltt=100))   # 110
        self.store.add_lease(lease("10.0.0.2", hw=b"", valid=5, cltt=100, state=1))  # 105
        self.store.add_lease(lease("10.0.0.3", hw=3, valid=10, cltt=90, state=2))   # 100
        self.store.add_lease(lease("10.0.0.4", hw=4, valid=10, cltt=101))   # 111
        self.store.add_lease(lease("10.0.0.5", hw=5, valid=0xFFFFFFFF, cltt=50))    # never
        got = self.store.get_expired_leases4(110, 0)
        self.assertEqual([str(l.address) for l in got], ["10.0.0.2"])
        got = self.store.get_expired_leases4(111, 0)
        self.assertEqual([str(l.address) for l in got], ["10.0.0.2", "10.0.0.1"])
        got = self.store.get_expired_leases4(200, 1)
        self.assertEqual([str(l.address) for l in got], ["10.0.0.2"])
        self.assertEqual(len(self.store.get_expired_leases4(10 ** 9, 0)), 3)

    def test_delete_expired_reclaimed(self):
        """State-2 leases with expire < now - secs go (strictly); others
        stay."""
        self.store.add_lease(lease("10.0.0.1", hw=1, valid=10, cltt=100, state=2))  # 110
        self.store.add_lease(lease("10.0.0.2", hw=2, valid=10, cltt=200, state=2))  # 210
        self.store.add_lease(lease("10.0.0.3", hw=3, valid=10, cltt=0))            # 10, state 0
        self.assertEqual(self.store.delete_expired_reclaimed_leases4(now=3710, secs=3600), 0)
        self.assertEqual(self.store.delete_expired_reclaimed_leases4(now=3711, secs=3600), 1)
        self.assertIsNone(self.store.get_lease4(A("10.0.0.1")))
        self.assertIsNotNone(self.store.get_lease4(A("10.0.0.3")))
        self.assertEqual(self.store.delete_expired_reclaimed_leases4(now=3811, secs=3600), 1)

    def test_wipe_not_implemented(self):
        """Kea 2.2's PostgreSQL backend has no wipeLeases4: same refusal,
        nothing deleted."""
        self.store.add_lease(lease())
        e = self.assertRaises(NotImplementedError, self.store.wipe_leases4, 1)
        self.assertEqual(str(e), "wipeLeases4 is not implemented for PostgreSQL backend")
        self.assertEqual(len(self.store), 1)

    def test_lease_counts_from_kea_triggers(self):
        """lease_counts reads lease4_stat, which Kea's triggers keep: states
        0 and 1 per subnet, following inserts, updates and deletes."""
        self.store.add_lease(lease("10.0.0.1", hw=1, subnet=1))
        self.store.add_lease(lease("10.0.0.2", hw=b"", subnet=1, state=1))
        self.store.add_lease(lease("10.0.0.3", hw=3, subnet=1))
        self.store.add_lease(lease("10.0.0.4", hw=4, subnet=2, state=2))
        self.assertEqual(self.store.lease_counts(), [(1, 0, 2), (1, 1, 1)])
        self.store.update_lease(lease("10.0.0.3", hw=3, subnet=2))
        self.store.delete_lease(self.store.get_lease4(A("10.0.0.1")))
        self.assertEqual(self.store.lease_counts(), [(1, 1, 1), (2, 0, 1)])

    def test_columns_as_kea_writes_them(self):
        """The row itself: address as a number, empty bytea (not NULL) for
        no client-id, expire as a timestamp of cltt + valid, user context
        as Kea's JSON text ("" when none), hostname "" not NULL."""
        self.store.add_lease(lease("10.0.0.1", hw=1, cid=None, valid=3600, cltt=1_700_000_000,
                                   user_context={"b": 1, "a": "é"}))
        self.store.add_lease(lease("10.0.0.2", hw=2, cid=b"\x01\x02"))
        with admin(self.access) as conn:
            rows = conn.execute(
                "SELECT address, hwaddr, client_id, valid_lifetime, extract(epoch from expire)::bigint, "
                "subnet_id, fqdn_fwd, fqdn_rev, hostname, state, user_context FROM lease4 ORDER BY address"
            ).fetchall()
        self.assertEqual(rows[0], (167772161, mac(1), b"", 3600, 1_700_003_600, 1, False, False, "", 0,
                                   '{ "a": "\\u00e9", "b": 1 }'))
        self.assertEqual((rows[1][2], rows[1][10]), (b"\x01\x02", ""))

    def test_infinite_lifetime_stored_as_cltt(self):
        """With the infinite lifetime Kea stores expire = cltt and reads the
        cltt back from it."""
        l = lease(valid=0xFFFFFFFF, cltt=1_800_000_000)
        self.store.add_lease(l)
        with admin(self.access) as conn:
            (expire,) = conn.execute("SELECT extract(epoch from expire)::bigint FROM lease4").fetchone()
        self.assertEqual(expire, 1_800_000_000)
        self.assertEqual(self.store.get_lease4(l.address), l)

    def test_time_beyond_kea_limit_refused(self):
        """An expire past Kea's MAX_DB_TIME (2^31 - 1) is refused before
        anything is written."""
        self.assertRaises(ValueError, self.store.add_lease, lease(valid=100, cltt=2 ** 31 - 50))
        self.assertEqual(len(self.store), 0)
        self.assertTrue(self.store.add_lease(lease(valid=49, cltt=2 ** 31 - 50)))

    def test_bad_user_context_in_database(self):
        """A row whose user context is not a JSON map cannot be converted
        (Kea's DbOperationError)."""
        self.store.add_lease(lease())
        with admin(self.access) as conn:
            conn.execute("UPDATE lease4 SET user_context = '[1, 2]'")
        self.assertRaises(DbOperationError, self.store.get_lease4, A("10.0.0.10"))

    def test_lost_connection(self):
        """A connection killed under the store makes it unusable
        (DbConnectionUnusable) until reconnect(); nothing is lost, and the
        statements prepared on the lost connection are prepared again."""
        self.store.add_lease(lease())
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")), lease())
        with admin(self.access) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = %s", (self.access["user"],))
        self.assertRaises(DbConnectionUnusable, self.store.get_lease4, A("10.0.0.10"))
        self.assertFalse(self.store.usable)
        self.assertRaises(DbConnectionUnusable, self.store.add_lease, lease("10.0.0.11"))
        self.store.reconnect()
        self.assertTrue(self.store.usable)
        self.assertEqual(self.store.get_lease4(A("10.0.0.10")), lease())

    def test_wrong_password(self):
        """A wrong password is an open error (Kea's DbOpenError)."""
        self.assertRaises(DbOpenError, PgLeaseStore, dict(self.access, password="wrong"))


class ClusterFixtureTests(SynchronousTestCase):
    def test_reasons_to_skip(self):
        """The fixture names what is missing: PostgreSQL's programs, then
        kea-admin."""
        real = pgsql_cluster.find_program
        self.patch(pgsql_cluster, "find_program", lambda name: None if name == "initdb" else real(name))
        self.assertIn("initdb", pgsql_cluster.unavailable())
        self.patch(pgsql_cluster, "find_program", real)
        which = shutil.which
        self.patch(pgsql_cluster.shutil, "which", lambda name: None if name == "kea-admin" else which(name))
        self.assertIn("kea-admin", pgsql_cluster.unavailable())

    def test_cluster_on_loopback_in_range(self):
        """The shared cluster listens on 127.0.0.1 on a port of 18500-18589
        and its data directory is private to this run."""
        c = cluster()
        self.assertIn(c.port, pgsql_cluster.PORTS)
        self.assertTrue(c.running)
        with admin(database()) as conn:
            self.assertEqual(conn.execute("SHOW listen_addresses").fetchone()[0], "127.0.0.1")
            self.assertEqual(conn.execute("SHOW data_directory").fetchone()[0],
                             os.path.join(c.directory, "data"))


class SchemaVersionTests(SynchronousTestCase):
    def test_mismatch(self):
        """A schema_version other than 13.0 refuses to open, with Kea's
        message."""
        access = database("old-schema")
        with admin(access) as conn:
            conn.execute("UPDATE schema_version SET version = 12, minor = 1")
        try:
            e = self.assertRaises(SchemaVersionMismatch, PgLeaseStore, access)
        finally:
            with admin(access) as conn:
                conn.execute("UPDATE schema_version SET version = 13, minor = 0")
        self.assertIsInstance(e, DbOpenError)
        self.assertEqual(str(e), "PostgreSQL schema version mismatch: need version: 13.0 found version: 12.1")
        PgLeaseStore(access).close()


class ParametersTests(SynchronousTestCase):
    def build(self, lease_database):
        from kea_twisted.config.builder import build_config
        from kea_twisted.config.element import from_python
        from kea_twisted.config.grammar import check_grammar
        config = build_config(check_grammar(from_python({"Dhcp4": {"lease-database": lease_database}})),
                              interfaces={"lo": ["127.0.0.1"]})
        return PgConnectionParameters.from_config(config.lease_database)

    def test_from_config_model(self):
        """Every lease-database key Kea 2.2 uses for PostgreSQL reaches the
        connection parameters from the config model."""
        p = self.build({"type": "postgresql", "name": "kea", "host": "127.0.0.1", "port": 18555,
                        "user": "u", "password": "p", "connect-timeout": 7, "max-reconnect-tries": 3,
                        "reconnect-wait-time": 500, "on-fail": "serve-retry-continue"})
        self.assertEqual((p.name, p.host, p.port, p.user, p.password, p.connect_timeout,
                          p.max_reconnect_tries, p.reconnect_wait_time, p.on_fail),
                         ("kea", "127.0.0.1", 18555, "u", "p", 7, 3, 500, "serve-retry-continue"))
        self.assertEqual(p.connect_kwargs(), {"host": "127.0.0.1", "port": 18555, "dbname": "kea",
                                              "user": "u", "password": "p", "connect_timeout": 7})
        self.assertNotIn("p ", p.redacted() + " ")
        self.assertIn("password=*****", p.redacted())

    def test_defaults(self):
        """Kea's defaults: host localhost, libpq's port, 5 s connect
        timeout, no retries, stop-retry-exit."""
        p = self.build({"type": "postgresql", "name": "kea"})
        self.assertEqual((p.host, p.port, p.connect_timeout, p.max_reconnect_tries, p.reconnect_wait_time,
                          p.on_fail), ("localhost", None, 5, 0, 0, "stop-retry-exit"))
        self.assertNotIn("port", p.connect_kwargs())

    def test_refusals(self):
        """No name: NoDatabaseName; connect-timeout 0: DbInvalidTimeout
        (Kea's texts)."""
        e = self.assertRaises(NoDatabaseName, PgConnectionParameters.from_map, {"type": "postgresql"})
        self.assertEqual(str(e), "must specify a name for the database")
        e = self.assertRaises(DbInvalidTimeout, PgConnectionParameters.from_map,
                              {"type": "postgresql", "name": "k", "connect-timeout": 0})
        self.assertEqual(str(e), "database connection timeout (0) must be an integer greater than 0")


class ThreadedStoreTests(_PgCase, TestCase):
    def test_calls_run_off_the_reactor_thread(self):
        """ThreadedLeaseStore answers with Deferreds fired on the reactor
        thread, runs the store on its own thread, and turns errors into
        failures."""
        import threading
        threaded = ThreadedLeaseStore(self.store, reactor)
        threads = []
        real_get = self.store.get_lease4

        def spy(address):
            threads.append(threading.current_thread())
            return real_get(address)

        self.store.get_lease4 = spy

        d = threaded.add_lease(lease())
        d.addCallback(self.assertTrue)
        d.addCallback(lambda _: threaded.get_lease4(A("10.0.0.10")))
        d.addCallback(self.assertEqual, lease())
        d.addCallback(lambda _: self.assertEqual([t is threading.main_thread() for t in threads], [False]))
        d.addCallback(lambda _: threaded.update_lease(lease("10.0.0.99")))
        d.addCallbacks(lambda _: self.fail("update of a missing lease succeeded"),
                       lambda f: f.trap(NoSuchLease))
        d.addCallback(lambda _: threaded.close())
        d.addCallback(lambda _: self.assertFalse(self.store.usable))
        return d


class PgStorePoolTests(_PgCase, SynchronousTestCase):
    def test_one_connection_per_thread(self):
        """Kea's context pool: ``size`` connections opened at once; each
        thread keeps its own store, so a thread's stale read makes its own
        update fail (Kea's optimistic check) even though another thread's
        succeeded; a thread beyond ``size`` opens one more connection, and
        a released one is reused; reconnect() reopens them all."""
        from concurrent.futures import ThreadPoolExecutor

        pool = PgStorePool(self.access, size=2)
        self.addCleanup(pool.close)
        verifyObject(ISyncLeaseStore, pool)
        self.assertEqual((pool.size, pool.usable, pool.schema_version()), (2, True, SCHEMA_VERSION))
        executors = [ThreadPoolExecutor(1) for _ in range(3)]
        for executor in executors:
            self.addCleanup(executor.shutdown)

        def on(n, fn, *args):
            return executors[n].submit(fn, *args).result(30)

        original = lease()
        self.assertTrue(pool.add_lease(original))  # this thread's store
        self.assertEqual(on(0, pool.get_lease4, A("10.0.0.10")), original)  # the other one
        self.assertEqual(pool.size, 2)
        pool.update_lease(replace(original, cltt=2000))
        self.assertRaises(NoSuchLease, on, 0, pool.update_lease, replace(original, hostname="stale"))
        self.assertEqual(pool.get_lease4(A("10.0.0.10")).cltt, 2000)
        self.assertEqual(on(1, len, pool), 1)
        self.assertEqual(pool.size, 3)
        pool.release_thread()
        self.assertEqual(on(2, pool.get_lease4, A("10.0.0.10")).cltt, 2000)
        self.assertEqual(pool.size, 3)
        pool.reconnect()
        self.assertEqual([on(n, len, pool) for n in range(3)] + [len(pool)], [1, 1, 1, 1])
        self.assertEqual(pool.size, 4)
        pool.close()
        self.assertEqual(pool.size, 0)


class CommitGroupTests(_PgCase, TestCase):
    """The greenlet workers' lease changes, committed together."""

    def setUp(self):
        from kea_twisted import cooperative
        if not cooperative.available():
            raise SkipTest("greenlet is not installed")
        super().setUp()
        self.pool = PgStorePool(self.access, size=5, cooperative=True)
        self.addCleanup(self.pool.close)
        self.workers = cooperative.GreenletPool(reactor, size=5)
        self.workers.start()
        self.addCleanup(self.workers.stop)

    def on_workers(self, *calls):
        """Each call on a worker of its own, all queued at once; their
        outcomes (a value, or the exception's class)."""
        from twisted.internet.defer import DeferredList
        from twisted.internet.threads import deferToThreadPool

        ds = [deferToThreadPool(reactor, self.workers, fn, *args) for fn, *args in calls]
        d = DeferredList(ds, consumeErrors=True)
        d.addCallback(lambda results: [value if ok else value.type for ok, value in results])
        return d

    def hold_address(self, address: str):
        """An admin transaction that has inserted ``address`` and not yet
        ended: a change of that address waits for it in the database (the
        primary key), so the changes queued after it are sure to wait
        together. Returns the admin connection; ROLLBACK it to let go."""
        conn = admin(self.access)
        self.addCleanup(conn.close)
        conn.execute("BEGIN")
        conn.execute("INSERT INTO lease4 (address, hwaddr, client_id, valid_lifetime, expire, subnet_id, "
                     "fqdn_fwd, fqdn_rev, hostname, state, user_context) VALUES "
                     "(%s, '', '', 1, now(), 1, false, false, '', 0, '')", (int(A(address)),))
        return conn

    def test_waiting_changes_share_one_transaction_each_with_its_outcome(self):
        """The first change runs at once (and waits in the database); the
        four that arrive meanwhile go as one transaction when it ends. Each
        gets its own answer: added, refused (the address is taken), failed
        (the database refuses the row: the others are run again one by one,
        so they are not lost), stale (Kea's expire check). The rows are
        what the changes made one at a time would leave, and Kea's triggers
        counted them."""
        taken = lease("10.0.0.20", hw=9)
        self.assertTrue(self.store.add_lease(taken))
        holder = self.hold_address("10.0.0.10")
        d = self.on_workers(
            (self.pool.add_lease, lease("10.0.0.10", hw=1)),
            (self.pool.add_lease, lease("10.0.0.11", hw=2)),
            (self.pool.add_lease, lease("10.0.0.20", hw=3)),
            (self.pool.add_lease, lease("10.0.0.12", hw=4, hostname="x" * 300)),  # varchar(255)
            (self.pool.update_lease, replace(taken, hostname="stale"), replace(taken, cltt=5)),
        )
        holder.execute("ROLLBACK")

        def check(outcomes):
            self.assertEqual(outcomes, [True, True, False, DbOperationError, NoSuchLease])
            group = self.pool.commit_group
            self.assertEqual((group.transactions, group.changes), (2, 5))
            self.assertEqual({str(l.address): l.hwaddr for l in self.store.get_all_leases4()},
                             {"10.0.0.10": mac(1), "10.0.0.11": mac(2), "10.0.0.20": mac(9)})
            self.assertEqual(self.store.get_lease4(A("10.0.0.20")), taken)
            self.assertEqual(self.store.lease_counts(), [(1, 0, 3)])

        return d.addCallback(check)

    def test_each_worker_goes_on_from_what_was_committed_for_it(self):
        """A worker's later change on its own store checks against what the
        group committed for it (the expire noted: its update passes Kea's
        check); outside a worker a change runs on its own."""
        holder = self.hold_address("10.0.0.10")
        d = self.on_workers(*[(self.pool.add_lease, lease(f"10.0.0.{10 + n}", hw=n + 1)) for n in range(5)])
        holder.execute("ROLLBACK")
        d.addCallback(lambda outcomes: self.assertEqual(outcomes, [True] * 5))
        d.addCallback(lambda _: self.assertEqual(
            (self.pool.commit_group.transactions, self.pool.commit_group.changes), (2, 5)))
        d.addCallback(lambda _: self.on_workers(
            *[(self.pool.update_lease, lease(f"10.0.0.{10 + n}", hw=n + 1, cltt=2000)) for n in range(5)]))
        d.addCallback(lambda outcomes: self.assertEqual(outcomes, [None] * 5))

        def outside(_):
            group = self.pool.commit_group
            self.assertEqual(group.changes, 10)
            before = group.transactions
            self.assertTrue(self.pool.add_lease(lease("10.0.0.30", hw=30)))
            self.assertEqual(group.transactions, before)
            self.assertEqual(self.store.get_lease4(A("10.0.0.14")), lease("10.0.0.14", hw=5, cltt=2000))
            self.assertEqual(len(self.store), 6)

        return d.addCallback(outside)

    def test_lost_connection_fails_every_change_of_the_transaction(self):
        """The connections lost while changes wait: the first change fails,
        and so does each of those that waited (their transaction's leader
        finds its own connection lost), as their own statements would have
        (DbConnectionUnusable); each leader's store reports its loss, and
        nothing was written."""
        lost = []
        self.pool.on_connection_lost = lambda: lost.append(True)
        holder = self.hold_address("10.0.0.10")
        d = self.on_workers(
            (self.pool.add_lease, lease("10.0.0.10", hw=1)),
            (self.pool.add_lease, lease("10.0.0.11", hw=2)),
            (self.pool.add_lease, lease("10.0.0.12", hw=3)),
        )
        holder.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        holder.execute("ROLLBACK")

        def check(outcomes):
            self.assertEqual(outcomes, [DbConnectionUnusable] * 3)
            self.assertEqual(lost, [True, True])
            group = self.pool.commit_group
            self.assertEqual((group.transactions, group.changes), (2, 3))
            self.assertEqual(len(self.open_store()), 0)

        return d.addCallback(check)


class StoreMachine(RuleBasedStateMachine):
    """Random operations on the PostgreSQL store against a dict, with
    Kea's PostgreSQL rules for expiration (strict)."""

    ADDRESSES = [A("10.0.0.%d" % i) for i in range(1, 7)]

    def __init__(self):
        super().__init__()
        access = database()
        empty(access)
        self.store = PgLeaseStore(access)
        self.model: Dict[A, Lease4] = {}

    leases = st.builds(
        Lease4,
        address=st.sampled_from(ADDRESSES),
        hwaddr=st.sampled_from([b"", mac(1), mac(2)]),
        client_id=st.sampled_from([None, b"\x01\x01", b"\x01\x02"]),
        valid_lifetime=st.integers(0, 50),
        cltt=st.integers(0, 50),
        subnet_id=st.integers(1, 3),
        hostname=st.sampled_from(["", "a", "b"]),
        state=st.integers(0, 2),
    )

    def teardown(self):
        self.store.close()

    def by(self, pred):
        return sorted((l for l in self.model.values() if pred(l)), key=lambda l: (l.subnet_id, l.address))

    @rule(l=leases)
    def add(self, l):
        expected = l.address not in self.model
        assert self.store.add_lease(l) == expected
        if expected:
            self.model[l.address] = l

    @rule(l=leases)
    def update(self, l):
        if l.address in self.model:
            self.store.update_lease(l)
            self.model[l.address] = l
        else:
            try:
                self.store.update_lease(l)
            except NoSuchLease:
                pass
            else:
                raise AssertionError("update of a missing lease succeeded")

    @rule(address=st.sampled_from(ADDRESSES))
    def delete(self, address):
        expected = address in self.model
        assert self.store.delete_lease(lease(str(address))) == expected
        self.model.pop(address, None)

    @rule(now=st.integers(0, 120), secs=st.integers(0, 30))
    def flush(self, now, secs):
        doomed = [l for l in self.model.values() if l.state == 2 and l.expire < now - secs]
        assert self.store.delete_expired_reclaimed_leases4(now, secs) == len(doomed)
        for l in doomed:
            del self.model[l.address]

    @rule(now=st.integers(0, 120), limit=st.integers(0, 4))
    def expired(self, now, limit):
        want = sorted((l for l in self.model.values() if l.state != 2 and l.expire < now),
                      key=lambda l: (l.expire, l.address))
        if limit:
            want = want[:limit]
        assert self.store.get_expired_leases4(now, limit) == want

    @rule(cid=st.sampled_from([None, b"\x01\x01", b"\x01\x02"]),
          hw=st.sampled_from([None, b"", mac(1), mac(2)]),
          address=st.sampled_from([None] + ADDRESSES))
    def prefetch(self, cid, hw, address):
        """The lookups that follow (the invariant's) may be answered from
        the prefetched rows until a change: they must still agree."""
        self.store.prefetch_client4(cid, hw, address)

    @rule()
    def forget(self):
        self.store.forget_prefetched()

    @invariant()
    def lookups_agree(self):
        store = self.store
        for address in self.ADDRESSES:
            assert store.get_lease4(address) == self.model.get(address)
        assert store.get_all_leases4() == sorted(self.model.values(), key=lambda l: l.address)
        for hw in (b"", mac(1), mac(2)):
            assert store.get_leases4_by_hwaddr(hw) == self.by(lambda l: l.hwaddr == hw)
            for sid in (1, 3):
                want = sorted((l for l in self.model.values() if l.hwaddr == hw and l.subnet_id == sid),
                              key=lambda l: l.address)
                assert store.get_lease4_by_hwaddr_subnet(hw, sid) == (want[0] if want else None)
        for cid in (b"\x01\x01", b"\x01\x02"):
            assert store.get_leases4_by_client_id(cid) == self.by(lambda l: l.client_id == cid)
        for sid in (1, 2, 3):
            assert store.get_leases4_by_subnet(sid) == sorted(
                (l for l in self.model.values() if l.subnet_id == sid), key=lambda l: l.address)
        for name in ("", "a"):
            assert store.get_leases4_by_hostname(name) == sorted(
                (l for l in self.model.values() if l.hostname == name), key=lambda l: l.address)
        counts: Dict[Any, int] = {}
        for l in self.model.values():
            if l.state in (0, 1):
                counts[(l.subnet_id, l.state)] = counts.get((l.subnet_id, l.state), 0) + 1
        assert store.lease_counts() == sorted((s, st_, n) for (s, st_), n in counts.items())


StoreMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)


class StoreMachineTests(SynchronousTestCase):
    def test_against_model(self):
        """Random add/update/delete/flush sequences: every lookup, the
        expiration query and Kea's trigger-kept counts equal a naive scan
        of a dict (hypothesis stateful, on the real database)."""
        cluster()
        StoreMachine.TestCase("runTest").runTest()


# ---------------------------------------------------------------------------
# Real Kea on the same database


class KeaSharesTheDatabaseTests(_PgCase, SynchronousTestCase):
    """kea-dhcp4 (lease-database postgresql, lease_cmds) and PgLeaseStore
    on one database."""

    def setUp(self):
        if not os.access(KEA_DHCP4, os.X_OK) or not os.path.exists(LEASE_CMDS):
            raise SkipTest("kea-dhcp4 or its lease_cmds hook is not installed")
        if os.geteuid() != 0:
            raise SkipTest("kea-dhcp4 needs root")
        super().setUp()
        # Short path: UNIX socket names are limited to 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="kt-pg-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.socket = os.path.join(self.dir, "ctrl")

    def kea_config(self, access: Dict[str, Any]) -> str:
        config = {"Dhcp4": {
            "interfaces-config": {"interfaces": [], "dhcp-socket-type": "udp"},
            "lease-database": dict(access, **{"connect-timeout": 5}),
            "control-socket": {"socket-type": "unix", "socket-name": self.socket},
            "hooks-libraries": [{"library": LEASE_CMDS}],
            "subnet4": [{"id": 1, "subnet": "10.0.0.0/24", "pools": [{"pool": "10.0.0.10-10.0.0.99"}]}],
            "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                         "output_options": [{"output": os.path.join(self.dir, "kea.log")}]}],
        }}
        path = os.path.join(self.dir, "kea.json")
        with open(path, "w") as f:
            json.dump(config, f)
        return path

    def run_kea(self, access: Dict[str, Any]) -> subprocess.Popen:
        path = self.kea_config(access)
        # Kea writes expire as local-time text and the server reads it in
        # its own zone (UTC, tests/pgsql_cluster.py): Kea's TZ must match,
        # or Kea's leases are shifted by the offset (observed: 4 h with
        # America/New_York).  PgLeaseStore is zone-proof either way.
        env = dict(os.environ, KEA_PIDFILE_DIR=self.dir, KEA_LOCKFILE_DIR=self.dir, TZ="UTC")
        proc = subprocess.Popen([KEA_DHCP4, "-c", path, "-p", str(KEA_PORT)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            proc.stdout.close()
        self.addCleanup(stop)
        return proc

    def start_kea(self, access: Optional[Dict[str, Any]] = None) -> subprocess.Popen:
        proc = self.run_kea(access or self.access)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if os.path.exists(self.socket) or proc.poll() is not None:
                break
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

    def command(self, command: str, arguments: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        return send_command(self.socket, command, arguments)

    def test_kea_reads_our_leases(self):
        """Leases PgLeaseStore wrote are what kea-dhcp4 answers to
        lease4-get: hw-address, client-id, cltt, lifetime, subnet, FQDN
        flags, hostname, state and user context."""
        self.store.add_lease(Lease4(A("10.0.0.10"), bytes.fromhex("000102030405"), b"\x01\x02\x03", 7200,
                                    2_000_000_000, 1, True, False, "host.example", 0, {"ISC": {"x": [1, "y"]}}))
        self.store.add_lease(Lease4(A("10.0.0.11"), b"", None, 86400, 1_900_000_000, 1, state=1))
        self.store.add_lease(Lease4(A("10.0.0.12"), bytes.fromhex("0a0b0c0d0e0f"), None, 0xFFFFFFFF,
                                    1_800_000_000, 1))
        self.start_kea()
        answer = self.command("lease4-get", {"ip-address": "10.0.0.10"})
        self.assertEqual(answer["result"], 0, answer)
        got = answer["arguments"]
        self.assertEqual((got["hw-address"], got["client-id"], got["valid-lft"], got["cltt"], got["subnet-id"],
                          got["fqdn-fwd"], got["fqdn-rev"], got["hostname"], got["state"], got["user-context"]),
                         ("00:01:02:03:04:05", "01:02:03", 7200, 2_000_000_000, 1, True, False, "host.example", 0,
                          {"ISC": {"x": [1, "y"]}}))
        answer = self.command("lease4-get", {"ip-address": "10.0.0.11"})
        self.assertEqual((answer["result"], answer["arguments"]["state"], answer["arguments"]["cltt"]),
                         (0, 1, 1_900_000_000), answer)
        self.assertNotIn("client-id", answer["arguments"])
        answer = self.command("lease4-get", {"ip-address": "10.0.0.12"})
        self.assertEqual((answer["arguments"]["valid-lft"], answer["arguments"]["cltt"]),
                         (0xFFFFFFFF, 1_800_000_000), answer)
        # Kea 2.2 cannot wipe a PostgreSQL subnet either, in the same words.
        ours = self.assertRaises(NotImplementedError, self.store.wipe_leases4, 1)
        self.assertEqual(self.command("lease4-wipe", {"subnet-id": 1}), {"result": 1, "text": str(ours)})

    def test_we_read_keas_leases_and_duplicates_are_refused(self):
        """Leases kea-dhcp4 added (lease4-add) read back here field for
        field; an address held by either side cannot be added by the
        other; Kea's lease4-del of our lease is seen here."""
        self.store.add_lease(lease("10.0.0.30", hw=3))
        self.start_kea()
        answer = self.command("lease4-add", {
            "ip-address": "10.0.0.20", "hw-address": "0a:0b:0c:0d:0e:0f", "client-id": "01:aa:bb",
            "valid-lft": 3600, "expire": 1_900_003_600, "subnet-id": 1, "fqdn-fwd": True, "fqdn-rev": True,
            "hostname": "kea.example", "state": 0, "user-context": {"b": 2.5, "a": "x"}})
        self.assertEqual(answer["result"], 0, answer)
        got = self.store.get_lease4(A("10.0.0.20"))
        self.assertEqual(got, Lease4(A("10.0.0.20"), bytes.fromhex("0a0b0c0d0e0f"), b"\x01\xaa\xbb", 3600,
                                     1_900_000_000, 1, True, True, "kea.example", 0, {"b": 2.5, "a": "x"}))
        self.assertFalse(self.store.add_lease(lease("10.0.0.20", hw=4)))
        answer = self.command("lease4-add", {"ip-address": "10.0.0.30", "hw-address": "0a:0b:0c:0d:0e:01"})
        self.assertEqual(answer["result"], 1, answer)
        self.assertEqual(self.store.get_lease4(A("10.0.0.30")).hwaddr, mac(3))
        answer = self.command("lease4-del", {"ip-address": "10.0.0.30"})
        self.assertEqual(answer["result"], 0, answer)
        self.assertIsNone(self.store.get_lease4(A("10.0.0.30")))
        # Kea's counts and ours come from the same lease4_stat rows.
        self.assertEqual(self.store.lease_counts(), [(1, 0, 1)])

    def test_kea_refuses_the_same_schema_version(self):
        """Real kea-dhcp4 refuses a database whose schema_version is not
        13.0 with the same text as PgLeaseStore."""
        access = database("kea-old-schema")
        with admin(access) as conn:
            conn.execute("UPDATE schema_version SET version = 12, minor = 1")

        def restore():
            with admin(access) as conn:
                conn.execute("UPDATE schema_version SET version = 13, minor = 0")
        self.addCleanup(restore)
        ours = self.assertRaises(SchemaVersionMismatch, PgLeaseStore, access)
        proc = self.run_kea(access)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("kea-dhcp4 did not give up on a wrong schema version")
        text = output.decode("utf-8", "replace") + self.kea_log()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(str(ours), text)


class SharedConnectionsTests(_PgCase, TestCase):
    """Greenlet workers' stores sharing a few pipelined connections."""

    def setUp(self):
        from kea_twisted import cooperative
        if not cooperative.available():
            raise SkipTest("greenlet is not installed")
        super().setUp()
        self.pool = PgStorePool(self.access, size=6, cooperative=True, connections=2)
        self.addCleanup(self.pool.close)
        self.workers = cooperative.GreenletPool(reactor, size=6)
        self.workers.start()
        self.addCleanup(self.workers.stop)

    on_workers = CommitGroupTests.on_workers

    def test_rule(self):
        from kea_twisted.pgsql import shared_connections
        self.assertEqual([shared_connections(n) for n in (1, 8, 9, 16, 17)], [1, 1, 2, 2, 3])

    def test_six_stores_two_connections_each_its_own_answers(self):
        self.assertEqual((self.pool.size, self.pool.connection_count), (6, 2))
        d = self.on_workers(*[(self.pool.add_lease, lease(f"10.0.0.{10 + n}", hw=n + 1)) for n in range(6)])
        d.addCallback(self.assertEqual, [True] * 6)
        d.addCallback(lambda _: self.on_workers(
            *[(self.pool.get_lease4, A(f"10.0.0.{10 + n}")) for n in range(6)]))
        d.addCallback(self.assertEqual, [lease(f"10.0.0.{10 + n}", hw=n + 1) for n in range(6)])
        # Each store keeps its own expire checks: all six updates pass.
        d.addCallback(lambda _: self.on_workers(
            *[(self.pool.update_lease, lease(f"10.0.0.{10 + n}", hw=n + 1, cltt=2000)) for n in range(6)]))
        d.addCallback(self.assertEqual, [None] * 6)
        d.addCallback(lambda _: self.assertEqual(
            [l.cltt for l in self.open_store().get_all_leases4()], [2000] * 6))
        return d

    def test_lost_for_every_store_on_it_and_reopened_once(self):
        """Both backends ended: every store's statement fails as a lost
        connection; reconnect() opens two connections again (the first store
        of each reopens it for the others) and all six serve again."""
        lost = []
        self.pool.on_connection_lost = lambda: lost.append(True)
        self.assertTrue(self.open_store().add_lease(lease()))
        with admin(self.access) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        d = self.on_workers(*[(self.pool.get_lease4, A("10.0.0.10"))] * 6)

        def check(outcomes):
            self.assertEqual(outcomes, [DbConnectionUnusable] * 6)
            self.assertTrue(lost)
            self.assertFalse(self.pool.usable)
            self.pool.reconnect()
            self.assertTrue(self.pool.usable)
            self.assertEqual(self.pool.connection_count, 2)
            return self.on_workers(*[(self.pool.get_lease4, A("10.0.0.10"))] * 6)

        d.addCallback(check)
        d.addCallback(self.assertEqual, [lease()] * 6)
        return d
