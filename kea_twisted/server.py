"""
One DHCPv4 server over one configuration: the lease store, the compiled
runtime, the engine, and the periodic work (reclamation, LFC) as plain
methods that the Twisted service schedules.

No reactor here for memfile: time is an injected ``clock`` callable, so
tests (and the in-process conformance replay) drive it with
``task.Clock.seconds``, and the engine answers synchronously.

With ``lease-database`` type ``postgresql`` (:mod:`kea_twisted.pgsql`) the
engine, reclamation and lease commands run on worker threads, each with a
database connection of its own (:mod:`kea_twisted.threaded`; one thread
without ``multi-threading``, ``thread-pool-size`` threads with it): the network edge is
handed :attr:`Dhcp4Server.packet_handler` (Deferred outcomes), timers and
``reclaim`` answer Deferreds, hook libraries see a
:class:`~kea_twisted.pgsql.ThreadedLeaseStore` as ``store``, and a lost
connection is handled as ``on-fail`` says.  The database is opened (and
its lease counts read) synchronously when the configuration is committed,
as Kea does, before any packet is served.

Tests: tests/test_server.py, tests/test_conformance.py, tests/test_pgsql_server.py
"""

from __future__ import annotations

import platform

from ipaddress import IPv4Address
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence

from kea_twisted.dhcp4 import Dhcp4Engine
from kea_twisted.leasefile import LeaseFile
from kea_twisted.leases import Lease4, MemfileLeaseStore
from kea_twisted.logs import kea_logger
from kea_twisted.runtime import Dhcp4Runtime

__all__ = ["Dhcp4Server", "DEFAULT_LEASE_FILE"]

# Kea's default memfile location (Debian's build, --localstatedir=/var).
DEFAULT_LEASE_FILE = "/var/lib/kea/kea-leases4.csv"

log = kea_logger("dhcpsrv")


class Dhcp4Server:
    """A configured server, not yet on the network.

    :param config: the staged :class:`~kea_twisted.config.model.Dhcp4Config`.
    :param clock: current time in seconds.
    :param server_port, client_port: ``-p`` / ``-P`` (None: Kea's 67/68).
    :param interfaces: interface name -> addresses (subnet selection by
        interface); discovered from the kernel when None.
    :param reactor: for an SQL lease database: the reactor results are
        delivered in (the global one when None).
    :param shutdown: ``shutdown(exit_status)``, Kea's ``shutdownServer``
        when the lease database is lost for good and ``on-fail`` says exit
        (default: stop the reactor).
    :param packet_queue_size: datagrams waiting for the database worker
        before the oldest is dropped.
    :param cooperative: SQL workers as greenlets on the reactor thread
        (:mod:`kea_twisted.cooperative`) rather than threads
        (:mod:`kea_twisted.threaded`).  By default (None) greenlets on PyPy,
        when ``greenlet`` is there, and with the HA hook library (whose
        callouts use the reactor), and threads on CPython: measured on the
        2-core bench machine, PyPy's one thread does a DORA's Python and
        socket work in 0.23 ms of CPU, with no GIL hand-over; CPython's
        Python is slow enough that the kernel's share of each statement is
        better spent on another core, in parallel (bench/RESULTS.md).
    """

    def __init__(self, config, *, clock: Callable[[], float], server_port: Optional[int] = None,
                 client_port: Optional[int] = None, hooks=None, stats=None, network_state=None,
                 interfaces: Optional[Mapping[str, Sequence[IPv4Address]]] = None,
                 fresh_statistics: bool = True, reactor=None,
                 shutdown: Optional[Callable[[int], None]] = None,
                 packet_queue_size: Optional[int] = None, cooperative: Optional[bool] = None):
        self.config = config
        if cooperative is None:
            from kea_twisted.config.staging import ha_library

            # With HA the workers must be greenlets: its callouts use the
            # reactor (check_runnable refuses HA on SQL without greenlet).
            cooperative = platform.python_implementation() == "PyPy" or ha_library(config) is not None
        self.cooperative = cooperative
        self.clock = clock
        self.server_port = server_port
        self.client_port = client_port
        self.hooks = hooks
        if stats is None:
            from kea_twisted.stats import StatsMgr

            stats = StatsMgr(clock)
        self.stats = stats
        self.network_state = network_state
        self.interfaces = interfaces
        # False on reconfiguration: Kea sets the packet counters to 0 only
        # when the server starts; a reload keeps them.
        self.fresh_statistics = fresh_statistics
        self.reactor = reactor
        self._shutdown = shutdown
        self.packet_queue_size = packet_queue_size
        self.lease_file: Optional[LeaseFile] = None
        #: What hook libraries see: the memfile store, or for SQL a
        #: ThreadedLeaseStore answering Deferreds.
        self.store = None
        #: The blocking store the engine and the reclaimer use (for SQL:
        #: only on the worker thread).
        self.sync_store = None
        self.runtime: Optional[Dhcp4Runtime] = None
        self.engine: Optional[Dhcp4Engine] = None
        #: What the network edge is given: the engine itself (memfile), or
        #: a ThreadedPacketHandler (SQL).
        self.packet_handler = None
        #: SQL only: the worker pool, the statistics funnel, the recovery.
        self.worker = None
        self.stats_funnel = None
        self.reconnect_control = None
        self._shutdown_trigger = None
        self._lease_reclaimer = None
        self._socket_addresses: Iterable[IPv4Address] = ()

    # -- lifecycle ---------------------------------------------------------

    def _open_store(self):
        database = self.config.lease_database
        if database.type == "postgresql":
            from kea_twisted.cooperative import available as greenlets_available
            from kea_twisted.pgsql import PgStorePool, shared_connections
            from kea_twisted.threaded import worker_count

            # A store per worker, all opened now (Kea opens its lease
            # database when the configuration is committed); greenlet
            # workers share pipelined connections, threads have their own.
            workers = worker_count(self.config.multi_threading)
            cooperative = self.cooperative and greenlets_available()
            return PgStorePool(database, size=workers, cooperative=cooperative,
                               connections=shared_connections(workers) if cooperative else None)
        if database.type != "memfile":
            raise RuntimeError(f"lease database type '{database.type}' is not supported by kea_twisted yet")
        if not database.persist:
            return MemfileLeaseStore()
        path = database.name or DEFAULT_LEASE_FILE
        self.lease_file = LeaseFile(path)
        leases, stats = self.lease_file.load(max_row_errors=database.max_row_errors or 0)
        log.info("{msgid} loaded {count} leases from {path}", msgid="DHCPSRV_MEMFILE_LEASES_RELOAD",
                 count=len(leases), path=path)
        return MemfileLeaseStore(sink=self.lease_file, leases=leases.values())

    def start(self) -> None:
        interfaces = self.interfaces
        if interfaces is None:
            from kea_twisted.net.interfaces import ipv4_interfaces

            interfaces = ipv4_interfaces()
        from kea_twisted.classify import Classifier

        store = self._open_store()
        self.sync_store = self.store = store
        threaded = self.config.lease_database.type != "memfile"
        engine_stats = self.stats
        if threaded:
            from kea_twisted.threaded import StatsFunnel

            engine_stats = self.stats_funnel = StatsFunnel(self.stats, self.clock)
        try:
            self.runtime = Dhcp4Runtime(
                self.config, store, Lease4, socket_addresses=self._socket_addresses,
                interface_addresses=interfaces,
                classifier=Classifier(self.config.client_classes, self.config.option_definitions),
            )
            self.engine = Dhcp4Engine(self.runtime, clock=self.clock, stats=engine_stats, hooks=self.hooks,
                                      server_port=self.server_port, client_port=self.client_port,
                                      network_state=self.network_state)
            reset = getattr(self.network_state, "reset", None)
            if reset is not None:
                # Kea resets the database origin whenever the lease manager
                # is created again (ctrl_dhcp4_srv.cc processConfig).
                from kea_twisted.commands import DB_ORIGIN

                reset(DB_ORIGIN)
            # Read here, before the workers own the connections.
            self._init_statistics()
            if threaded:
                store.release_thread()
                self._start_worker(store)
            else:
                self.packet_handler = self.engine
        except BaseException:
            if threaded:
                self._stop_worker()
                store.close()
            raise

    # -- the SQL worker --------------------------------------------------------

    def _start_worker(self, store) -> None:
        """The engine on worker threads, each with one of ``store``'s
        connections: one thread, or Kea's ``thread-pool-size``."""
        import sys

        from kea_twisted.pgsql import ThreadedLeaseStore
        from kea_twisted.threaded import (
            DEFAULT_PACKET_QUEUE_SIZE, DbReconnectControl, ThreadedPacketHandler, new_worker_pool,
            serialise_picks, worker_count,
        )

        reactor = self.reactor
        if reactor is None:
            from twisted.internet import reactor
            self.reactor = reactor
        mt = self.config.multi_threading
        threads = worker_count(mt)
        # The workers' results come back through ``results``: the reactor
        # itself for threads, at once for greenlet workers (already on the
        # reactor thread).
        results = reactor
        if store.cooperative:
            from kea_twisted.cooperative import GreenletPool, InlineCalls

            pool = self.worker = GreenletPool(reactor, threads)
            pool.start()
            results = InlineCalls(reactor)
        else:
            pool = self.worker = new_worker_pool(threads)
        # If the reactor stops without our stop(), a thread must not keep
        # the process alive.
        self._shutdown_trigger = reactor.addSystemEventTrigger("during", "shutdown", self._stop_worker)
        self.store = ThreadedLeaseStore(store, results, pool)
        if self.packet_queue_size:
            queue_size = self.packet_queue_size
        elif mt.enable_multi_threading:
            # Kea's packet-queue-size; 0 is an unbounded queue.
            queue_size = mt.packet_queue_size or sys.maxsize
        else:
            queue_size = DEFAULT_PACKET_QUEUE_SIZE
        if store.cooperative:
            # One thread picks: a DISCOVER's first candidate can be read
            # with the client's lookups (one statement less per DORA).
            self.runtime.allocator.prefetch_candidate = True
        elif threads > 1:
            serialise_picks(self.runtime.allocator)
        self.packet_handler = ThreadedPacketHandler(self.engine, results, pool, stats=self.stats_funnel,
                                                    queue_size=queue_size, serialise_clients=threads > 1)
        control = self.reconnect_control = DbReconnectControl.from_parameters(
            reactor, self.network_state if self.network_state is not None else _NoNetworkState(),
            lambda: self.store.call_with_store(lambda s: s.reconnect()),
            self._shutdown_server, store.parameters)
        # The store calls this on the worker thread; recovery runs here.
        store.on_connection_lost = lambda: reactor.callFromThread(control.connection_lost)

    def _shutdown_server(self, status: int) -> None:
        if self._shutdown is not None:
            self._shutdown(status)
            return
        log.error("{msgid} shutting down: the lease database is lost", msgid="DHCP4_SHUTDOWN_REQUEST")
        self.exit_status = status
        self.reactor.callLater(0, self.reactor.stop)

    def _stop_worker(self) -> None:
        if self.reconnect_control is not None:
            self.reconnect_control.stop()
        handler = self.packet_handler
        if handler is not None and handler is not self.engine:
            handler.stop()
        pool, self.worker = self.worker, None
        if pool is not None:
            # Joins the worker: at most the statement in progress is waited for.
            pool.stop()
        trigger, self._shutdown_trigger = self._shutdown_trigger, None
        if trigger is not None and self.reactor is not None:
            try:
                self.reactor.removeSystemEventTrigger(trigger)
            except (ValueError, KeyError, TypeError):
                pass

    def _on_worker(self, fn, *args):
        """``fn(*args)`` on the worker thread (SQL) with its statistics
        applied on the reactor thread first; memfile: at once."""
        if self.worker is None:
            return fn(*args)
        from twisted.internet.threads import deferToThreadPool

        funnel = self.stats_funnel

        def done(result):
            funnel.flush()
            return result

        return deferToThreadPool(self.reactor, self.worker, fn, *args).addBoth(done)

    def _init_statistics(self) -> None:
        """Kea's statistics at configuration time: the packet counters, and
        per subnet the address totals and counts from the lease store."""
        from kea_twisted.stats import init_dhcp4_statistics, update_config_statistics

        if self.fresh_statistics:
            init_dhcp4_statistics(self.stats)
        capacities = [(s.id, sum(p.capacity for p in s.pools)) for s in self.config.subnets]
        update_config_statistics(self.stats, capacities, self.sync_store.lease_counts())

    def stop(self) -> None:
        if self.worker is not None or self.reconnect_control is not None:
            self._stop_worker()
            if self.stats_funnel is not None:
                self.stats_funnel.flush()
            if self.sync_store is not None:
                self.sync_store.close()
        if self.lease_file is not None:
            self.lease_file.close()
            self.lease_file = None

    def receive_backlog(self, reactor):
        """The bounded receive backlog the UDP sockets of this
        configuration share (:class:`~kea_twisted.net.udp.ReceiveBacklog`):
        ``multi-threading`` enabled with a non-zero ``packet-queue-size``
        (Kea's 0 is an unbounded queue) and memfile; None otherwise — Kea
        without multi-threading has no queue, and the SQL server's worker
        queue (:mod:`kea_twisted.threaded`) already is the bounded one.
        With a lease file, each turn's rows are written with one
        ``write(2)`` before that turn's replies are sent."""
        mt = self.config.multi_threading
        if not mt.enable_multi_threading or not mt.packet_queue_size or self.worker is not None \
                or self.config.lease_database.type != "memfile":
            return None
        from kea_twisted.net.udp import ReceiveBacklog

        # Each turn's lease rows are written together, before its replies.
        group = self.lease_file.grouped if self.lease_file is not None else None
        return ReceiveBacklog(mt.packet_queue_size, reactor, group=group)

    def set_socket_addresses(self, addresses: Iterable[IPv4Address]) -> None:
        self._socket_addresses = tuple(addresses)
        if self.runtime is not None:
            self.runtime.set_socket_addresses(self._socket_addresses)

    # -- periodic work -------------------------------------------------------

    def timer_intervals(self) -> Dict[str, float]:
        """Seconds until each periodic task (0: disabled)."""
        processing = self.config.expired_leases_processing
        database = self.config.lease_database
        return {
            "reclaim": processing.reclaim_timer_wait_time,
            "flush-reclaimed": processing.flush_reclaimed_timer_wait_time,
            "lfc": database.lfc_interval if database.persist and database.type == "memfile" else 0,
        }

    def run_timer(self, name: str):
        if name == "reclaim":
            return self.reclaim()
        if name == "flush-reclaimed":
            return self.flush_reclaimed()
        if name == "lfc":
            return self.lease_file_cleanup()
        raise KeyError(name)

    def _reclaimer(self):
        # One per configuration: it counts incomplete passes across runs.
        if self._lease_reclaimer is None:
            from dataclasses import fields

            from kea_twisted.reclaim import ExpirationConfig, LeaseReclaimer

            processing = self.config.expired_leases_processing
            config = ExpirationConfig(**{f.name: getattr(processing, f.name) for f in fields(ExpirationConfig)})
            self._lease_reclaimer = LeaseReclaimer(
                self.sync_store, config, expire_callout=self._lease4_expire,
                recover_callout=self._lease4_recover,
            )
        return self._lease_reclaimer

    def _sync_callouts(self, point: str, **arguments) -> bool:
        """Run ``point``'s callouts for reclamation (Kea calls them inside
        the allocation engine, synchronously): True when they said SKIP."""
        hooks = self.hooks
        if hooks is None or not hooks.has_callouts(point):
            return False
        from kea_twisted.hooks import NextStep

        handle = hooks.create_handle(**arguments)
        try:
            return hooks.call_now(point, handle) is NextStep.SKIP
        finally:
            hooks.release_handle(handle)

    def _lease4_expire(self, lease, remove_lease: bool) -> bool:
        return self._sync_callouts("lease4_expire", lease4=lease, remove_lease=remove_lease)

    def _lease4_recover(self, lease) -> bool:
        return self._sync_callouts("lease4_recover", lease4=lease)

    def reclaim(self, remove: Optional[bool] = None):
        """One reclamation pass; its statistics deltas applied as Kea does.

        ``remove`` is the ``leases-reclaim`` command: every expired lease
        at once, no time limit, deleted (True) or kept in state 2 (False).
        """
        if remove is None:
            reclaimer = self._reclaimer()
        else:
            from dataclasses import replace

            from kea_twisted.reclaim import LeaseReclaimer

            base = self._reclaimer()
            config = replace(base.config, max_reclaim_leases=0, max_reclaim_time=0,
                             flush_reclaimed_timer_wait_time=0 if remove else max(1, base.config.flush_reclaimed_timer_wait_time))
            reclaimer = LeaseReclaimer(self.sync_store, config, expire_callout=self._lease4_expire,
                                       recover_callout=self._lease4_recover)

        def counted(result):
            for name, delta in result.stats:
                self.stats.add_value(name, delta)
            return result

        if self.worker is None:
            return counted(reclaimer.reclaim(int(self.clock())))
        # SQL: on the worker thread, counted on the reactor thread; a Deferred.
        return self._on_worker(reclaimer.reclaim, int(self.clock())).addCallback(counted)

    def flush_reclaimed(self):
        """Remove reclaimed leases past hold-reclaimed-time (a Deferred
        with an SQL lease database)."""
        return self._on_worker(self._reclaimer().flush, int(self.clock()))

    def lease_file_cleanup(self):
        """Rotate the live file and compact in a thread (never on the
        reactor): Kea's LFC, spec §15.4."""
        if self.lease_file is None:
            return None
        from twisted.internet.threads import deferToThread

        from kea_twisted.leasefile import run_lfc

        self.lease_file.rotate_for_lfc()
        return deferToThread(run_lfc, self.lease_file.path)


class _NoNetworkState:
    """Stands in when the server was built without a NetworkState."""

    def disable_service(self, origin: str) -> None:
        pass

    def enable_service(self, origin: str) -> None:
        pass
