"""
A throwaway PostgreSQL cluster for tests: Kea's own lease schema, made by
Debian's ``kea-admin db-init pgsql``, on 127.0.0.1 in a temporary directory.

* ``initdb`` into a fresh temporary directory (as the ``postgres`` system
  user when the tests run as root: PostgreSQL refuses to run as root), with
  ``trust`` on the cluster's own UNIX socket (inside the temporary
  directory, so nobody else reaches it) and ``scram-sha-256`` on TCP, so the
  store and real Kea log in with a real user and password;
* the ``postgres`` server itself runs as a child process of the test (not
  daemonised by ``pg_ctl``), under ``setpriv --pdeathsig TERM``: if the
  test process dies without cleaning up, the server is told to stop too;
  it listens on 127.0.0.1 only, on the first free port of 18500-18589
  (18590-18599 are left for the Kea processes the tests run);
* durability is traded for speed (``fsync``/``synchronous_commit``/
  ``full_page_writes`` off): the cluster lives for one test module
  (``durable=True`` keeps PostgreSQL's defaults, every commit waiting for
  the disk: bench/pgsql_compare.py, with its own ``ports``);
* :meth:`PgCluster.create_kea_database` makes a database owned by a fresh
  login role and runs ``kea-admin db-init pgsql`` on it over TCP, exactly as
  an operator does.

:func:`shared_cluster` keeps one cluster per process (one test module, or
one trial worker) and stops it at exit; trial has no ``setUpClass``, so the
modules ask for it lazily in ``setUp`` and skip with the reason in
:data:`UNAVAILABLE` when PostgreSQL's server programs or ``kea-admin`` are
missing.

Run by tests/test_pgsql.py and tests/test_pgsql_server.py (which also
stops a cluster of its own mid-run and starts it again: :meth:`PgCluster.pause`
/ :meth:`PgCluster.resume`).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, List, Optional

__all__ = [
    "PORTS",
    "PgCluster",
    "find_program",
    "unavailable",
    "shared_cluster",
]

#: Ports the cluster may take (the brief's range, less Kea's 18590-18599).
PORTS = range(18500, 18590)

#: How long to wait for the server to accept connections, in seconds.
START_TIMEOUT = 30.0
#: How long to wait for it to stop after a fast shutdown, in seconds.
STOP_TIMEOUT = 15.0


def find_program(name: str) -> Optional[str]:
    """A PostgreSQL or Kea program: on PATH, else in Debian's versioned
    ``/usr/lib/postgresql/<major>/bin`` (the newest major)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")

    def major(path: str) -> int:
        try:
            return int(path.split("/")[4])
        except (IndexError, ValueError):
            return 0

    candidates.sort(key=major)
    return candidates[-1] if candidates else None


def unavailable() -> Optional[str]:
    """Why a cluster cannot be made here, or None."""
    for name in ("initdb", "postgres", "psql"):
        if find_program(name) is None:
            return f"PostgreSQL's {name} is not installed (apt-get install postgresql)"
    if shutil.which("kea-admin") is None:
        return "kea-admin is not installed (apt-get install kea-admin)"
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            return "setpriv (util-linux) is needed to run PostgreSQL as a non-root user"
        if _service_user() is None:
            return "running as root and no 'postgres' or 'nobody' user to run PostgreSQL as"
    return None


def admin_unavailable() -> Optional[str]:
    """Why a test that runs its own SQL through psycopg cannot run here
    (a cluster cannot be made, or psycopg is missing), or None."""
    reason = unavailable()
    if reason:
        return reason
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 is not installed (the test extra brings it on CPython)"
    return None


def skip_unless_available(admin: bool = False) -> None:
    """Skip the calling test (SkipTest, with the reason) when a cluster
    cannot be made here; with ``admin``, also when the test's own SQL
    cannot run (:func:`admin_unavailable`)."""
    reason = admin_unavailable() if admin else unavailable()
    if reason:
        from twisted.trial.unittest import SkipTest
        raise SkipTest(reason)


def admin_connection(dsn: str):
    """psycopg's connection for a test's own SQL behind the store's back
    (its parameters and typed rows); the test skips without psycopg (PyPy:
    its pure-Python binding fails on PyPy 7.3.11's ctypes)."""
    from twisted.trial.unittest import SkipTest
    try:
        import psycopg
    except ImportError:
        raise SkipTest("psycopg 3 is not installed (the test extra brings it on CPython)") from None
    return psycopg.connect(dsn, autocommit=True)


def _service_user() -> Optional[pwd.struct_passwd]:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


#: Ports claimed by running (or paused) clusters of any process on this
#: machine: one file per port holding the claimant's PID.  A paused cluster
#: (an outage test) leaves its port free at the socket level, where a
#: cluster of the other trial worker (``-j 2``) would otherwise take it and
#: make the paused one's restart fail.
PORT_CLAIMS = os.path.join(tempfile.gettempdir(), "kea-twisted-pg-ports")


def _claim_port(port: int) -> bool:
    """Claim ``port`` for this process; False if a live process holds it."""
    os.makedirs(PORT_CLAIMS, exist_ok=True)
    path = os.path.join(PORT_CLAIMS, str(port))
    for _ in range(2):  # bounded: once more after clearing a dead claim
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    holder = int(f.read().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder == os.getpid():
                return False  # another cluster of this process has it
            if holder and _alive(holder):
                return False
            try:
                os.unlink(path)  # the claimant died without releasing it
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def _release_port(port: Optional[int]) -> None:
    if port is None:
        return
    path = os.path.join(PORT_CLAIMS, str(port))
    try:
        with open(path) as f:
            mine = f.read().strip() == str(os.getpid())
        if mine:
            os.unlink(path)
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PgCluster:
    """One PostgreSQL server in a temporary directory.

    ``start()`` makes and starts it, ``stop()`` stops it (fast shutdown by
    PID, then harder signals, each wait bounded) and removes the directory.
    """

    superuser = "pgsuper"

    def __init__(self, ports: range = PORTS, durable: bool = False) -> None:
        self.ports = ports
        self.durable = durable
        self.directory: Optional[str] = None
        self.port: Optional[int] = None
        self.host = "127.0.0.1"
        self.process: Optional[subprocess.Popen] = None
        self._log = None
        self._counter = 0

    # -- running programs as the server's user --------------------------------

    def _as_owner(self, argv: List[str], pdeathsig: bool = False) -> List[str]:
        prefix: List[str] = []
        if os.geteuid() == 0:
            user = _service_user()
            assert user is not None
            prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                      "--clear-groups"]
        if pdeathsig and shutil.which("setpriv"):
            prefix = (prefix or ["setpriv"]) + ["--pdeathsig", "TERM"]
        return prefix + argv

    def _run(self, argv: List[str], env: Optional[Dict[str, str]] = None, timeout: float = 120) -> str:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=env, timeout=timeout, cwd=self.directory)
        out = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{out}")
        return out

    # -- life cycle ------------------------------------------------------------

    def start(self) -> "PgCluster":
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.directory = tempfile.mkdtemp(prefix="kea_twisted_pg_")
        try:
            if os.geteuid() == 0:
                user = _service_user()
                os.chown(self.directory, user.pw_uid, user.pw_gid)
            data = os.path.join(self.directory, "data")
            self._run(self._as_owner([
                find_program("initdb"), "-D", data, "-U", self.superuser,
                "--auth-local=trust", "--auth-host=scram-sha-256",
                "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
            ]))
            self._start_server(data)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self, data: str) -> None:
        for port in self.ports:
            if not _claim_port(port):
                continue
            if not _port_free(port):
                _release_port(port)
                continue
            if self._launch(data, port):
                return
            # Lost a race for the port (or another failure): try the next one.
            self._stop_process()
            _release_port(port)
        raise RuntimeError("could not start PostgreSQL on any port of %s-%s:\n%s"
                           % (self.ports[0], self.ports[-1], self.server_log()))

    def pause(self) -> None:
        """Stop the server (fast shutdown: every committed transaction is
        on disk) and keep its data directory and port, for :meth:`resume`."""
        self._stop_process()

    def resume(self) -> None:
        """Start a paused server again on the same port and data."""
        if self.running:
            return
        # The stopped postmaster may still hold its port or lock file for a
        # moment on a loaded machine: a few bounded attempts.
        for attempt in range(5):
            if self._launch(os.path.join(self.directory, "data"), self.port):
                return
            self._stop_process()
            time.sleep(0.2 * (attempt + 1))  # another process releasing its port
        raise RuntimeError("PostgreSQL did not start again on port %s:\n%s" % (self.port, self.server_log()))

    def _launch(self, data: str, port: int) -> bool:
        log_path = os.path.join(self.directory, "server.log")
        speed: List[str] = [] if self.durable else [
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "shared_buffers=16MB"]
        argv = self._as_owner([
            find_program("postgres"), "-D", data,
            "-c", "listen_addresses=127.0.0.1", "-c", f"port={port}",
            "-c", f"unix_socket_directories={self.directory}",
            *speed, "-c", "max_connections=40",
            # Kea writes expire as local-time text without a zone and
            # relies on the server's zone matching its own: pin both
            # (the tests run Kea with TZ=UTC).
            "-c", "timezone=UTC",
        ], pdeathsig=True)
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=self.directory)
        self.port = port
        return self._wait_ready()

    def _wait_ready(self) -> bool:
        from kea_twisted.pgwire import PgConnectionError, PgWireConnection
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                PgWireConnection.connect(host=self.directory, port=self.port, user=self.superuser,
                                         dbname="postgres", connect_timeout=2).close()
                return True
            except PgConnectionError:
                time.sleep(0.05)
        return False

    def server_log(self) -> str:
        if self.directory is None:
            return ""
        try:
            with open(os.path.join(self.directory, "server.log"), "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            # SIGINT is PostgreSQL's fast shutdown; SIGQUIT immediate.
            for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
                try:
                    os.kill(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if process is not None and process.poll() is None:
            process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Stop the server (by PID), release its port and remove its directory."""
        self._stop_process()
        _release_port(self.port)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- databases ---------------------------------------------------------------

    def superuser_dsn(self, dbname: str) -> str:
        return f"host={self.directory} port={self.port} user={self.superuser} dbname={dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the cluster's superuser over its private socket."""
        return self._run([find_program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                          "-h", self.directory, "-p", str(self.port), "-U", self.superuser,
                          "-d", dbname, "-c", sql])

    def create_kea_database(self, name: Optional[str] = None, user: Optional[str] = None,
                            password: str = "kea-secret") -> Dict[str, object]:
        """A new database owned by a new login role, initialised with
        ``kea-admin db-init pgsql`` over TCP; returns its ``lease-database``
        map (Kea's spelling)."""
        self._counter += 1
        name = name or f"kea{self._counter}"
        user = user or f"keauser{self._counter}"
        self.psql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        self.psql(f"CREATE DATABASE {name} OWNER {user}")
        self._run(["kea-admin", "db-init", "pgsql", "-u", user, "-p", password, "-n", name,
                   "-h", self.host, "-P", str(self.port)],
                  env=dict(os.environ, PGCONNECT_TIMEOUT="10"))
        return {"type": "postgresql", "name": name, "host": self.host, "port": self.port,
                "user": user, "password": password}


_shared: Optional[PgCluster] = None


def shared_cluster_or_skip(admin: bool = False) -> PgCluster:
    """:func:`shared_cluster`, or the calling test skipped
    (:func:`skip_unless_available`)."""
    skip_unless_available(admin)
    return shared_cluster()


def shared_cluster() -> PgCluster:
    """This process's cluster, started on first use and stopped at exit.

    Raises RuntimeError (with the reason) if it cannot be started; callers
    skip.  Start it from the main thread: the server's parent-death signal
    follows the thread that started it."""
    global _shared
    if _shared is None or not _shared.running:
        if _shared is not None:
            _shared.stop()
        cluster = PgCluster()
        cluster.start()
        _shared = cluster
        atexit.register(cluster.stop)
    return _shared
