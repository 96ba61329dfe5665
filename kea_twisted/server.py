"""
One DHCPv4 server over one configuration: the lease store, the compiled
runtime, the engine, and the periodic work (reclamation, LFC) as plain
methods that the Twisted service schedules.

No reactor here: time is an injected ``clock`` callable, so tests (and the
in-process conformance replay) drive it with ``task.Clock.seconds``.

Tests: tests/test_server.py, tests/test_conformance.py
"""

from __future__ import annotations

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
    """

    def __init__(self, config, *, clock: Callable[[], float], server_port: Optional[int] = None,
                 client_port: Optional[int] = None, hooks=None, stats=None, network_state=None,
                 interfaces: Optional[Mapping[str, Sequence[IPv4Address]]] = None,
                 fresh_statistics: bool = True):
        self.config = config
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
        self.lease_file: Optional[LeaseFile] = None
        self.store: Optional[MemfileLeaseStore] = None
        self.runtime: Optional[Dhcp4Runtime] = None
        self.engine: Optional[Dhcp4Engine] = None
        self._lease_reclaimer = None
        self._socket_addresses: Iterable[IPv4Address] = ()

    # -- lifecycle ---------------------------------------------------------

    def _open_store(self) -> MemfileLeaseStore:
        database = self.config.lease_database
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

        self.store = self._open_store()
        self.runtime = Dhcp4Runtime(
            self.config, self.store, Lease4, socket_addresses=self._socket_addresses,
            interface_addresses=interfaces,
            classifier=Classifier(self.config.client_classes, self.config.option_definitions),
        )
        self.engine = Dhcp4Engine(self.runtime, clock=self.clock, stats=self.stats, hooks=self.hooks,
                                  server_port=self.server_port, client_port=self.client_port,
                                  network_state=self.network_state)
        self._init_statistics()

    def _init_statistics(self) -> None:
        """Kea's statistics at configuration time: the packet counters, and
        per subnet the address totals and counts from the lease store."""
        from kea_twisted.stats import init_dhcp4_statistics, update_config_statistics

        if self.fresh_statistics:
            init_dhcp4_statistics(self.stats)
        capacities = [(s.id, sum(p.capacity for p in s.pools)) for s in self.config.subnets]
        update_config_statistics(self.stats, capacities, self.store.lease_counts())

    def stop(self) -> None:
        if self.lease_file is not None:
            self.lease_file.close()
            self.lease_file = None

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
                self.store, config, expire_callout=self._lease4_expire,
                recover_callout=self._lease4_recover,
            )
        return self._lease_reclaimer

    def _sync_callouts(self, point: str, **arguments) -> bool:
        """Run ``point``'s callouts for reclamation (Kea calls them inside
        the allocation engine, synchronously): True when they said SKIP.
        A callout answering with a Deferred is not waited for (logged)."""
        hooks = self.hooks
        if hooks is None or not hooks.has_callouts(point):
            return False
        from twisted.internet.defer import Deferred

        from kea_twisted.hooks import NextStep

        handle = hooks.create_handle(**arguments)
        try:
            step = hooks.call(point, handle)
            if isinstance(step, Deferred):
                log.error("{msgid} a {point} callout returned a Deferred: reclamation does not wait",
                          msgid="DHCPSRV_HOOK_CALLOUT_ASYNC", point=point)
                step.addErrback(lambda f: None)
                return False
            return step is NextStep.SKIP
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
            reclaimer = LeaseReclaimer(self.store, config, expire_callout=self._lease4_expire,
                                       recover_callout=self._lease4_recover)
        result = reclaimer.reclaim(int(self.clock()))
        for name, delta in result.stats:
            self.stats.add_value(name, delta)
        return result

    def flush_reclaimed(self):
        return self._reclaimer().flush(int(self.clock()))

    def lease_file_cleanup(self):
        """Rotate the live file and compact in a thread (never on the
        reactor): Kea's LFC, spec §15.4."""
        if self.lease_file is None:
            return None
        from twisted.internet.threads import deferToThread

        from kea_twisted.leasefile import run_lfc

        self.lease_file.rotate_for_lfc()
        return deferToThread(run_lfc, self.lease_file.path)
