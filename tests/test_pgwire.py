"""
Tests for kea_twisted/pgwire.py: the messages, the reader, SCRAM and MD5
with plain values; the connection against this process's throwaway
PostgreSQL cluster (tests/pgsql_cluster.py; skipped with the reason when
PostgreSQL or kea-admin is missing).
"""

from __future__ import annotations

import socket
import struct

from twisted.internet import reactor
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from kea_twisted.pgwire import (
    MessageReader, PgConnectionError, PgServerError, PgWireConnection, ScramSha256, WireResult,
    bind_execute_message, data_row, error_fields, md5_password, parse_message, python_encoding, query_message,
    startup_message,
)
from tests import pgsql_cluster


def _messages(data: bytes):
    reader = MessageReader()
    reader.feed(data)
    out = []
    while True:
        message = reader.next()
        if message is None:
            return out
        out.append(message)


class MessageTests(SynchronousTestCase):
    def test_startup_message(self):
        data = startup_message("kea", "leases")
        self.assertEqual(struct.unpack_from("!ii", data), (len(data), 196608))
        self.assertEqual(data[8:], b"user\x00kea\x00database\x00leases\x00\x00")

    def test_parse_then_sync(self):
        data = parse_message(b"s1", "SELECT $1", [20])
        self.assertEqual(_messages(data), [(b"P", b"s1\x00SELECT $1\x00\x00\x01\x00\x00\x00\x14"), (b"S", b"")])

    def test_bind_execute_sync(self):
        """Binary parameters (a NULL as length -1), binary results, the
        unnamed portal, every row, then Sync."""
        data = bind_execute_message(b"s1", [b"\x00\x07", None])
        bind, execute, sync = _messages(data)
        self.assertEqual(bind, (b"B", b"\x00s1\x00" + b"\x00\x01\x00\x01" + b"\x00\x02"
                                + b"\x00\x00\x00\x02\x00\x07" + b"\xff\xff\xff\xff" + b"\x00\x01\x00\x01"))
        self.assertEqual(execute, (b"E", b"\x00\x00\x00\x00\x00"))
        self.assertEqual(sync, (b"S", b""))

    def test_bind_execute_without_sync(self):
        """Without ``sync`` the statement ends at its Execute, for the next
        ones to join its transaction."""
        data = bind_execute_message(b"s1", [b"\x00\x07"], sync=False)
        self.assertEqual([kind for kind, _ in _messages(data)], [b"B", b"E"])
        self.assertEqual(data + b"S\x00\x00\x00\x04", bind_execute_message(b"s1", [b"\x00\x07"]))

    def test_query(self):
        self.assertEqual(_messages(query_message("SELECT 1")), [(b"Q", b"SELECT 1\x00")])

    def test_reader_takes_messages_fed_in_pieces(self):
        stream = (b"C" + struct.pack("!i", 13) + b"SELECT 1\x00" + b"Z" + struct.pack("!i", 5) + b"I")
        reader = MessageReader()
        got = []
        for i in range(len(stream)):
            reader.feed(stream[i:i + 1])
            message = reader.next()
            if message is not None:
                got.append(message)
        self.assertEqual(got, [(b"C", b"SELECT 1\x00"), (b"Z", b"I")])
        self.assertIsNone(reader.next())

    def test_reader_refuses_a_length_below_four(self):
        reader = MessageReader()
        reader.feed(b"Z\x00\x00\x00\x02")
        self.assertRaises(PgConnectionError, reader.next)

    def test_data_row(self):
        body = struct.pack("!h", 3) + struct.pack("!i", 2) + b"ab" + struct.pack("!i", -1) + struct.pack("!i", 0)
        self.assertEqual(data_row(body), [b"ab", None, b""])

    def test_server_error_text_and_sqlstate(self):
        body = (b"SERROR\x00VERROR\x00C23505\x00Mduplicate key value violates unique constraint \"lease4_pkey\"\x00"
                b"DKey (address)=(1) already exists.\x00\x00")
        error = PgServerError(error_fields(body))
        self.assertEqual(error.sqlstate, "23505")
        self.assertEqual(str(error), 'duplicate key value violates unique constraint "lease4_pkey"\n'
                                     "DETAIL:  Key (address)=(1) already exists.")

    def test_command_tuples(self):
        self.assertEqual([WireResult([], tag).command_tuples for tag in (b"INSERT 0 1", b"UPDATE 3", b"DELETE 0",
                                                                           b"SELECT 2", b"BEGIN", b"")],
                         [1, 3, 0, 2, None, None])

    def test_encodings(self):
        self.assertEqual([python_encoding(n) for n in ("UTF8", "SQL_ASCII", "LATIN1", "utf8")],
                         ["utf-8", "ascii", "latin-1", "utf-8"])


class AuthenticationTests(SynchronousTestCase):
    def test_scram_rfc7677_vector(self):
        """RFC 7677 section 3: user "user", password "pencil"."""
        scram = ScramSha256("pencil", nonce="rOprNGfwEbeRWgbNEkqO", user="user")
        self.assertEqual(scram.first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        final = scram.final(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        self.assertEqual(final, b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        scram.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        self.assertRaises(PgConnectionError, scram.verify, b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        self.assertRaises(PgConnectionError, scram.verify, b"e=invalid-proof")

    def test_scram_refuses_a_nonce_not_extending_ours(self):
        scram = ScramSha256("pencil", nonce="abc")
        self.assertRaises(PgConnectionError, scram.final, b"r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")

    def test_md5(self):
        """concat('md5', md5(concat(md5(concat(password, user)), salt)))."""
        self.assertEqual(md5_password("kea", "kea-secret", b"\x01\x02\x03\x04"),
                         b"md5b7710f9e2ce4fb1aac8b8483694fc4f9\x00")


class ConnectionTests(SynchronousTestCase):
    """Against a real PostgreSQL 15."""

    def setUp(self):
        self.cluster = pgsql_cluster.shared_cluster_or_skip()
        self.access = self.cluster.create_kea_database()

    def connect(self, **overrides):
        a = dict(self.access, **overrides)
        conn = PgWireConnection.connect(host=a["host"], port=a["port"], user=a["user"], password=a["password"],
                                        dbname=a["name"], connect_timeout=5)
        self.addCleanup(conn.close)
        return conn

    def test_scram_login_and_simple_query(self):
        conn = self.connect()
        self.assertEqual(conn.encoding, "utf-8")
        result = conn.query("SELECT version, minor FROM schema_version")
        self.assertEqual(result.rows, [[b"13", b"0"]])
        self.assertEqual(result.tag, b"SELECT 1")

    def test_wrong_password(self):
        e = self.assertRaises(PgConnectionError, self.connect, password="nope")
        self.assertIn('password authentication failed for user "%s"' % self.access["user"], str(e))

    def test_refused(self):
        e = self.assertRaises(PgConnectionError, self.connect, port=pgsql_cluster.PORTS[-1] + 9)
        self.assertIn("Connection refused", str(e))

    def test_unix_socket_directory(self):
        """A host that is a path is the directory of the server's socket
        (trust for the superuser in the test cluster)."""
        conn = PgWireConnection.connect(host=self.cluster.directory, port=self.cluster.port,
                                        user=self.cluster.superuser, dbname="postgres")
        self.addCleanup(conn.close)
        self.assertEqual(conn.query("SELECT 1 + 1").rows, [[b"2"]])

    def test_prepared_binary_both_ways(self):
        conn = self.connect()
        conn.prepare(b"t1", "SELECT $1::bigint + 1, $2::bytea, $3::text IS NULL", [20, 17, 25])
        result = conn.exec_prepared(b"t1", [struct.pack("!q", 41), b"\x00\xff", None])
        self.assertEqual(result.rows, [[struct.pack("!q", 42), b"\x00\xff", b"\x01"]])
        self.assertEqual(result.get_value(0, 1), b"\x00\xff")
        self.assertEqual(result.ntuples, 1)

    def test_server_error_keeps_the_connection(self):
        conn = self.connect()
        conn.query("CREATE TEMP TABLE t (a bigint PRIMARY KEY)")
        conn.prepare(b"ins", "INSERT INTO t VALUES ($1)", [20])
        self.assertEqual(conn.exec_prepared(b"ins", [struct.pack("!q", 1)]).command_tuples, 1)
        e = self.assertRaises(PgServerError, conn.exec_prepared, b"ins", [struct.pack("!q", 1)])
        self.assertEqual(e.sqlstate, "23505")
        self.assertFalse(conn.closed)
        self.assertEqual(conn.query("SELECT count(*) FROM t").rows, [[b"1"]])
        e = self.assertRaises(PgServerError, conn.prepare, b"bad", "SELECT FROM nowhere_at_all", [])
        self.assertEqual(e.sqlstate, "42P01")

    def test_statements_together_one_transaction(self):
        """exec_prepared_together: one result per statement, in order, all
        committed by the one Sync; when one fails, its error is raised and
        none of them took effect (the implicit transaction rolled back), and
        the connection serves on."""
        conn = self.connect()
        conn.query("CREATE TEMP TABLE t (a bigint PRIMARY KEY)")
        conn.prepare(b"ins", "INSERT INTO t VALUES ($1) ON CONFLICT (a) DO NOTHING", [20])
        conn.prepare(b"strict", "INSERT INTO t VALUES ($1)", [20])
        one, two = struct.pack("!q", 1), struct.pack("!q", 2)
        results = conn.exec_prepared_together([(b"ins", [one]), (b"ins", [two]), (b"ins", [one])])
        self.assertEqual([r.command_tuples for r in results], [1, 1, 0])
        three = struct.pack("!q", 3)
        e = self.assertRaises(PgServerError, conn.exec_prepared_together, [(b"ins", [three]), (b"strict", [two])])
        self.assertEqual(e.sqlstate, "23505")
        self.assertFalse(conn.closed)
        self.assertEqual(conn.query("SELECT a FROM t ORDER BY a").rows, [[b"1"], [b"2"]])

    def test_terminated_backend_is_a_lost_connection(self):
        conn = self.connect()
        pid = int(conn.query("SELECT pg_backend_pid()").rows[0][0])
        self.cluster.psql(f"SELECT pg_terminate_backend({pid})")
        e = self.assertRaises(PgConnectionError, conn.query, "SELECT 1")
        self.assertIsNone(e.sqlstate)
        self.assertTrue(conn.closed)
        self.assertRaises(PgConnectionError, conn.query, "SELECT 1")

    def test_waits_go_to_the_wait_hook(self):
        """The socket is non-blocking: each time an answer is not in yet the
        connection calls ``wait(fd, write)`` (a greenlet worker's hand-over
        to the reactor) instead of blocking."""
        conn = self.connect()
        waits = []

        def wait(fd, write):
            waits.append((fd, write))
            s = socket.socket(fileno=socket.dup(fd))
            try:
                s.settimeout(5)
                import select
                select.select([] if write else [s], [s] if write else [], [], 5)
            finally:
                s.close()

        conn.wait = wait
        self.assertEqual(conn.query("SELECT pg_sleep(0.05), 7").rows[0][1], b"7")
        self.assertTrue(waits)
        self.assertEqual(set(waits), {(conn.fileno(), False)})


class SharedConnectionTests(TestCase):
    """A connection shared by greenlet workers (:meth:`PgWireConnection.share`),
    against a real PostgreSQL 15: statements pipelined, answers read in
    order, each by its own worker."""

    def setUp(self):
        from kea_twisted import cooperative
        if not cooperative.available():
            raise SkipTest("greenlet is not installed")
        self.cooperative = cooperative
        self.cluster = pgsql_cluster.shared_cluster_or_skip()
        a = self.cluster.create_kea_database()
        self.conn = PgWireConnection.connect(host=a["host"], port=a["port"], user=a["user"],
                                             password=a["password"], dbname=a["name"], connect_timeout=5)
        self.addCleanup(self.conn.close)
        self.in_line_while_waiting = []
        wait = cooperative.worker_or(self.conn.wait)

        def noting_wait(fd, write):
            self.in_line_while_waiting.append(self.conn.in_line)
            wait(fd, write)

        self.conn.wait = noting_wait
        self.conn.share(cooperative.current_worker, cooperative.Worker.park, cooperative.Worker.unpark)
        self.workers = cooperative.GreenletPool(reactor, size=4)
        self.workers.start()
        self.addCleanup(self.workers.stop)

    def on_workers(self, *calls):
        from twisted.internet.defer import DeferredList
        from twisted.internet.threads import deferToThreadPool

        ds = [deferToThreadPool(reactor, self.workers, fn, *args) for fn, *args in calls]
        d = DeferredList(ds, consumeErrors=True)
        d.addCallback(lambda results: [value if ok else value.type for ok, value in results])
        return d

    def test_each_worker_reads_its_own_answer(self):
        """Four workers' statements in flight at once on the one connection;
        each gets
        its own answer, an error only fails its own statement, and
        afterwards the connection serves as before, also outside a worker."""
        conn = self.conn
        conn.prepare(b"n", "SELECT $1::bigint * 10, pg_sleep(0.02)", [20])

        def times_ten(n):
            return struct.unpack("!q", conn.exec_prepared(b"n", [struct.pack("!q", n)]).rows[0][0])[0]

        d = self.on_workers((times_ten, 1), (conn.query, "SELECT FROM nowhere_at_all"), (times_ten, 3),
                            (times_ten, 4))
        # Every worker ran up to its wait: all four statements are sent.
        self.assertEqual(conn.in_line, 4)

        def check(outcomes):
            self.assertEqual(outcomes, [10, PgServerError, 30, 40])
            # Only the first in line waits for the socket (the answers of the
            # others came in with the earlier ones or after a wait of theirs).
            self.assertTrue(self.in_line_while_waiting)
            self.assertEqual(conn.in_line, 0)
            self.assertFalse(conn.closed)
            self.assertEqual(conn.query("SELECT 6 * 7").rows, [[b"42"]])

        return d.addCallback(check)

    def test_an_abandoned_statement_is_read_and_dropped(self):
        """A worker that ends while its statement waits in line (the pool
        stopping) leaves its answer to be read and dropped by whoever reads
        up to it: the next worker gets its own answer, not that one."""
        conn = self.conn
        seen, who = {}, {}

        def query(tag, sql):
            who[tag] = self.cooperative.current_worker()
            seen[tag] = conn.query(sql).rows

        from twisted.internet.defer import gatherResults
        from twisted.internet.threads import deferToThreadPool

        first = deferToThreadPool(reactor, self.workers, query, "first", "SELECT 1, pg_sleep(0.05)")
        deferToThreadPool(reactor, self.workers, query, "second", "SELECT 2")  # never answered
        third = deferToThreadPool(reactor, self.workers, query, "third", "SELECT 3")
        # All three are in line now; the second's worker ends where it waits.
        self.assertEqual(conn.in_line, 3)
        who["second"]._kill()
        d = gatherResults([first, third])

        def check(outcomes):
            self.assertEqual(seen, {"first": [[b"1", b""]], "third": [[b"3"]]})
            self.assertEqual(conn.in_line, 0)
            self.assertEqual(conn.query("SELECT 4").rows, [[b"4"]])

        return d.addCallback(check)

    def test_lost_while_in_line_fails_everyone_in_line(self):
        """The backend ended while statements wait in line: the first finds
        the connection lost, so does everyone behind it (nobody waits
        forever for a socket that is gone), and the connection is closed."""
        conn = self.conn
        pid = int(conn.query("SELECT pg_backend_pid()").rows[0][0])
        d = self.on_workers((conn.query, "SELECT pg_sleep(5)"), (conn.query, "SELECT 2"), (conn.query, "SELECT 3"))
        self.cluster.psql(f"SELECT pg_terminate_backend({pid})")
        d.addCallback(self.assertEqual, [PgConnectionError] * 3)
        d.addCallback(lambda _: self.assertTrue(conn.closed))
        d.addCallback(lambda _: self.assertEqual(conn.in_line, 0))
        return d

    def test_outside_a_worker_while_workers_are_in_line_refused(self):
        conn = self.conn
        d = self.on_workers((lambda: conn.query("SELECT 1, pg_sleep(0.05)").rows,))
        e = self.assertRaises(PgConnectionError, conn.query, "SELECT 2")
        self.assertIn("in use by a worker", str(e))
        d.addCallback(self.assertEqual, [[[b"1", b""]]])
        return d

    def test_closed_under_the_line_wakes_the_reader(self):
        """Closed by someone else (a store reconnecting) while workers wait
        in line: the socket is shut down rather than closed, so the worker
        waiting for it in the reactor wakes, and everyone in line fails as
        on a lost connection; the socket is closed when the line is empty."""
        conn = self.conn
        d = self.on_workers((conn.query, "SELECT pg_sleep(5)"), (conn.query, "SELECT 2"))
        self.assertEqual(conn.in_line, 2)
        conn.close()
        self.assertTrue(conn.closed)
        d.addCallback(self.assertEqual, [PgConnectionError] * 2)
        d.addCallback(lambda _: self.assertEqual((conn.in_line, conn._closing), (0, None)))
        return d
