"""
Tests for hooks.ha.service and hooks.ha.plugin: two kea_twisted servers in
one process forming an HA pair, on one task.Clock.

Each :class:`Node` is a real :class:`~kea_twisted.server.Dhcp4Server`
(engine, memfile store) with a real :class:`~kea_twisted.hooks.HookRunner`
holding the real ``lease_cmds`` and HA libraries, and a real
:class:`~kea_twisted.commands.CommandTable` (dhcp-disable/-enable,
status-get).  The HA transport is :class:`Link`, in memory: a client's
``send`` runs the partner's command table after a small latency on the
clock, and a test can make a peer refuse connections, hold requests (a
frozen partner: the request times out) or answer some commands with an
error.  DHCP queries are relayed datagrams handed to the engines.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.task import deferLater
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

import hooks.ha
from hooks.ha import commands
from hooks.ha.config import HAConfigError
from hooks.ha.plugin import COMMANDS, HAHookLibrary
from hooks.lease_cmds import LeaseCmds
from kea_twisted.commands import CommandTable, NetworkState, ServerStatus, install_server_state_commands
from kea_twisted.config.element import from_python
from kea_twisted.config.staging import stage_config_element
from kea_twisted.datagrams import Arrival, Drop, Reply
from kea_twisted.hooks import (
    HookLoadError, IHookLibrary, IServerContext, find_hook_library, load_library_objects,
)
from kea_twisted.leases import Lease4
from kea_twisted.packet import Packet4, decode, encode
from kea_twisted.server import Dhcp4Server
from kea_twisted.stats import StatsMgr

RELAY = IPv4Address("127.0.5.1")
SERVER_ADDR = {"server1": IPv4Address("127.0.1.1"), "server2": IPv4Address("127.0.1.2")}
URLS = {"server1": "http://127.0.1.1:18001/", "server2": "http://127.0.1.2:18002/"}
EPOCH = 1_800_000_000
LATENCY = 0.005

# spec/ha.md §4 (observed on a real pair): these MACs hash to these servers.
MAC1 = bytes.fromhex("020000000100")   # server1
MAC2 = bytes.fromhex("020000000101")   # server2
MACS1 = [bytes.fromhex(h) for h in ("020000000100", "020000000103", "020000000104")]
MACS2 = [bytes.fromhex(h) for h in ("020000000101", "020000000102", "020000000105")]

POOL1 = [IPv4Address("192.0.3.%d" % i) for i in range(10, 20)]
POOL2 = [IPv4Address("192.0.3.%d" % i) for i in range(20, 30)]


def dhcp4_config(name: str, extra: Optional[Dict[str, Any]] = None):
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "valid-lifetime": 3600,
        "client-classes": [{"name": "HA_server1"}, {"name": "HA_server2"}],
        "subnet4": [{
            "id": 1, "subnet": "192.0.3.0/24", "relay": {"ip-addresses": [str(RELAY)]},
            "pools": [{"pool": "192.0.3.10 - 192.0.3.19", "client-class": "HA_server1"},
                      {"pool": "192.0.3.20 - 192.0.3.29", "client-class": "HA_server2"}],
        }],
    }
    dhcp4.update(extra or {})
    return stage_config_element(from_python({"Dhcp4": dhcp4}),
                                interfaces={"lo": [SERVER_ADDR[name]]})


def ha_parameters(name: str, mode: str = "load-balancing", roles: Tuple[str, str] = ("primary", "secondary"),
                  urls: Dict[str, str] = URLS, **extra: Any) -> Dict[str, Any]:
    relationship: Dict[str, Any] = {
        "this-server-name": name,
        "mode": mode,
        "heartbeat-delay": 1000,
        "max-response-delay": 3000,
        "max-ack-delay": 1000,
        "max-unacked-clients": 2,
        "peers": [
            {"name": "server1", "url": urls["server1"], "role": roles[0]},
            {"name": "server2", "url": urls["server2"], "role": roles[1]},
        ],
    }
    relationship.update(extra)
    return {"high-availability": [relationship]}


def query(mtype: int, mac: bytes, secs: int = 0, xid: int = 0x1234,
          ciaddr: IPv4Address = IPv4Address(0), **options: bytes) -> bytes:
    opts = {53: bytes([mtype])}
    for code, value in options.items():
        opts[int(code.lstrip("o"))] = value
    return encode(Packet4(op=1, xid=xid, secs=secs, chaddr=mac, giaddr=RELAY, hops=1,
                          ciaddr=ciaddr, options=opts))


def result_of(d: Any) -> Any:
    """The value of an already-fired Deferred (or ``d`` itself)."""
    if not isinstance(d, Deferred):
        return d
    out: List[Any] = []
    d.addBoth(out.append)
    return out[0] if out else d


# --------------------------------------------------------------------------
# The in-memory transport.

class Link:
    """The network between nodes, keyed by server name.

    ``mode[name]``: "up" (answer after LATENCY), "down" (refuse), "hold"
    (never answer: the client's timeout fires).  ``errors[(name, command)]``
    = an answer map the node gives instead of running the command.
    ``held[name]``: commands held for manual release (``hold_commands``).
    """

    def __init__(self, clock: Clock):
        self.clock = clock
        self.nodes: Dict[str, "Node"] = {}
        self.mode: Dict[str, str] = {}
        self.errors: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.hold_commands: Dict[str, set] = {}
        self.held: List[Tuple[str, Dict[str, Any], Deferred]] = []
        self.sent: List[Tuple[str, str, Dict[str, Any]]] = []   # (from, to, body)

    def client_factory(self, sender: str) -> Callable[..., "FakeClient"]:
        def factory(reactor: Any, config: Any, peer_name: str) -> "FakeClient":
            return FakeClient(self, sender, peer_name)
        return factory

    def deliver(self, sender: str, to: str, body: Dict[str, Any], timeout: Optional[float]) -> Deferred:
        self.sent.append((sender, to, body))
        mode = self.mode.get(to, "down" if to not in self.nodes else "up")
        d: Deferred = Deferred()
        if timeout:
            d.addTimeout(timeout, self.clock)
        if mode == "down":
            self.clock.callLater(LATENCY, _errback_if_waiting, d,
                                 ConnectionRefusedError("Connection refused"))
            return d
        if mode == "hold":
            return d
        if body["command"] in self.hold_commands.get(to, ()):
            self.held.append((to, body, d))
            return d
        self.clock.callLater(LATENCY, self._answer, to, body, d)
        return d

    def _answer(self, to: str, body: Dict[str, Any], d: Deferred) -> None:
        if d.called:
            return
        error = self.errors.get((to, body["command"]))
        if error is not None:
            d.callback([error])
            return
        node = self.nodes.get(to)
        if node is None or self.mode.get(to) == "down":
            d.errback(ConnectionRefusedError("Connection refused"))
            return
        answer = node.execute_command(body["command"], body.get("arguments"))
        answer.addCallback(lambda a: [a]).chainDeferred(d)

    def release(self, command: Optional[str] = None) -> int:
        """Answer the held requests (of ``command``); how many."""
        keep, done = [], 0
        for to, body, d in self.held:
            if command is None or body["command"] == command:
                self._answer(to, body, d)
                done += 1
            else:
                keep.append((to, body, d))
        self.held = keep
        return done

    def commands_to(self, to: str, sender: Optional[str] = None) -> List[Dict[str, Any]]:
        return [b for s, t, b in self.sent if t == to and (sender is None or s == sender)]


def _errback_if_waiting(d: Deferred, error: Exception) -> None:
    if not d.called:
        d.errback(error)


class FakeClient:
    """What HAService needs of a partner client: ``send`` and ``close``."""

    def __init__(self, link: Link, sender: str, peer: str):
        self.link, self.sender, self.peer = link, sender, peer
        self.closed = False

    def send(self, command: Dict[str, Any], *, timeout: Optional[float] = None) -> Deferred:
        if self.closed:
            return fail(ConnectionRefusedError("client closed"))
        return self.link.deliver(self.sender, self.peer, command, timeout)

    def close(self) -> Deferred:
        self.closed = True
        return succeed(None)


# --------------------------------------------------------------------------
# A server.

@implementer(IServerContext)
class Node:
    """One kea_twisted server with lease_cmds and HA loaded."""

    def __init__(self, test: SynchronousTestCase, link: Link, name: str,
                 parameters: Dict[str, Any], dhcp_extra: Optional[Dict[str, Any]] = None,
                 **library_kwargs: Any):
        self.name = name
        self.link = link
        self.reactor = link.clock
        self.config = dhcp4_config(name, dhcp_extra)
        self.stats = StatsMgr(self.reactor.seconds)
        self.network_state = NetworkState(self.reactor)
        self.table = CommandTable()
        install_server_state_commands(self.table, self.network_state,
                                      ServerStatus(clock=self.reactor.seconds, start_time=EPOCH))
        library_kwargs.setdefault("client_factory", link.client_factory(name))
        library_kwargs.setdefault("listen", False)
        self.library = HAHookLibrary(**library_kwargs)
        self.runner = load_library_objects(
            [("libdhcp_lease_cmds.so", LeaseCmds(), {}), ("libdhcp_ha.so", self.library, parameters)],
            server=self)
        self.table.hooks = self.runner
        self.dhcp = Dhcp4Server(self.config, clock=self.reactor.seconds, hooks=self.runner,
                                stats=self.stats, network_state=self.network_state,
                                interfaces={"lo": [SERVER_ADDR[name]]})
        self.dhcp.start()
        self.dhcp.set_socket_addresses([SERVER_ADDR[name]])
        link.nodes[name] = self
        link.mode[name] = "up"
        test.addCleanup(self.shutdown)
        self.runner.call("dhcp4_srv_configured", self.runner.create_handle(
            io_context=self.reactor, network_state=self.network_state, json_config=None,
            server_config=self.config))

    @property
    def store(self) -> Any:
        return self.dhcp.store

    @property
    def service(self) -> Any:
        return self.library.service

    @property
    def state(self) -> str:
        return self.service.machine.state

    def execute_command(self, command: str, arguments: Any = None) -> Deferred:
        return self.table.execute(command, arguments)

    def command(self, name: str, arguments: Any = None) -> Any:
        return result_of(self.execute_command(name, arguments))

    def shutdown(self) -> None:
        """The process ends: libraries unloaded, off the link."""
        if self.link.nodes.get(self.name) is self:
            del self.link.nodes[self.name]
            self.link.mode[self.name] = "down"
        self.runner.unload_all()
        self.dhcp.stop()

    def receive(self, data: bytes) -> Any:
        return self.dhcp.engine.receive(data, Arrival(iface="lo", local_addr=SERVER_ADDR[self.name],
                                                      local_port=67, remote_addr=RELAY, remote_port=67))

    def discover(self, mac: bytes, secs: int = 0) -> Any:
        return result_of(self.receive(query(1, mac, secs=secs)))

    def request(self, mac: bytes, address: IPv4Address) -> Any:
        return self.receive(query(3, mac, o50=address.packed, o54=SERVER_ADDR[self.name].packed))

    def dora(self, mac: bytes) -> Any:
        offer = self.discover(mac)
        assert isinstance(offer, Reply), offer
        return self.request(mac, decode(offer.data).yiaddr)

    def addresses(self) -> Dict[IPv4Address, Tuple[bytes, int]]:
        return {l.address: (l.hwaddr, l.expire) for l in self.store.get_all_leases4()}


class PairTestCase(SynchronousTestCase):
    """Helpers for a pair on one clock."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH)
        self.link = Link(self.clock)

    def pair(self, mode: str = "load-balancing", roles: Tuple[str, str] = ("primary", "secondary"),
             **extra: Any) -> Tuple[Node, Node]:
        n1 = Node(self, self.link, "server1", ha_parameters("server1", mode, roles, **extra))
        n2 = Node(self, self.link, "server2", ha_parameters("server2", mode, roles, **extra))
        return n1, n2

    def advance(self, seconds: float, step: float = LATENCY) -> None:
        """Let ``seconds`` pass on the clock in small steps."""
        for _ in range(int(round(seconds / step))):
            self.clock.advance(step)

    def run_until(self, predicate: Callable[[], bool], limit: float = 60.0, step: float = LATENCY) -> float:
        """Advance until ``predicate()``; returns the seconds it took."""
        start = self.clock.seconds()
        for _ in range(int(limit / step)):
            if predicate():
                return self.clock.seconds() - start
            self.clock.advance(step)
        self.fail(f"condition not reached within {limit} s")

    def balanced(self, mode: str = "load-balancing", roles: Tuple[str, str] = ("primary", "secondary"),
                 **extra: Any) -> Tuple[Node, Node]:
        n1, n2 = self.pair(mode, roles, **extra)
        normal = {"load-balancing": "load-balancing", "hot-standby": "hot-standby"}[mode]
        self.run_until(lambda: n1.state == normal and n2.state == normal)
        return n1, n2


class StartupTests(PairTestCase):
    def test_both_reach_load_balancing(self):
        """Two servers started together go waiting -> syncing -> ready ->
        load-balancing (spec §3): each syncs from the other with dhcp-disable
        (origin ha-partner, max-period 60), lease4-get-page from "start" and
        ha-sync-complete-notify - no dhcp-enable - and ends with its DHCP
        service enabled."""
        n1, n2 = self.pair()
        self.assertEqual((n1.state, n2.state), ("waiting", "waiting"))
        self.assertFalse(n1.network_state.is_service_enabled())
        took = self.run_until(lambda: n1.state == n2.state == "load-balancing")
        self.assertLess(took, 5.0)
        self.assertTrue(n1.network_state.is_service_enabled())
        self.assertTrue(n2.network_state.is_service_enabled())
        for sender, to in (("server1", "server2"), ("server2", "server1")):
            names = [b["command"] for b in self.link.commands_to(to, sender)]
            self.assertEqual(names[0], "ha-heartbeat")
            i = names.index("dhcp-disable")
            self.assertEqual(names[i:i + 3], ["dhcp-disable", "lease4-get-page", "ha-sync-complete-notify"])
            self.assertNotIn("dhcp-enable", names)
            bodies = self.link.commands_to(to, sender)
            self.assertEqual(bodies[i]["arguments"], {"max-period": 60, "origin": "ha-partner"})
            self.assertEqual(bodies[i + 1]["arguments"], {"from": "start", "limit": 10000})

    def test_first_heartbeat_one_delay_after_start(self):
        """The first ha-heartbeat leaves heartbeat-delay after start-up, not
        before (spec §3)."""
        self.pair()
        self.advance(0.99)
        self.assertEqual(self.link.sent, [])
        self.advance(0.02)
        self.assertEqual([b["command"] for _, _, b in self.link.sent[:2]], ["ha-heartbeat"] * 2)

    def test_sync_pages_by_last_address(self):
        """With sync-page-limit 2 and 3 leases at the partner: dhcp-disable
        before each page, pages from "start" then from the last address of
        the full page, then ha-sync-complete-notify; the leases land in the
        syncing server's store as they are (spec §6)."""
        n1, n2 = self.pair(**{"sync-page-limit": 2})
        leases = [Lease4(IPv4Address("192.0.3.%d" % i), bytes([10, 0, 0, 0, 0, i]), None, 3600,
                         EPOCH - 100, 1, hostname=f"h{i}.example") for i in (230, 231, 232)]
        for lease in leases:
            n2.store.add_lease(lease)
        self.run_until(lambda: n1.state == "ready")
        bodies = self.link.commands_to("server2", "server1")
        names = [b["command"] for b in bodies]
        self.assertEqual(names, ["ha-heartbeat", "dhcp-disable", "lease4-get-page", "dhcp-disable",
                                 "lease4-get-page", "ha-sync-complete-notify"])
        self.assertEqual(bodies[2]["arguments"], {"from": "start", "limit": 2})
        self.assertEqual(bodies[4]["arguments"], {"from": "192.0.3.231", "limit": 2})
        self.assertEqual(sorted(n1.store.get_all_leases4(), key=lambda l: l.address), leases)

    def _sql_like_store(self, node: "Node", answer: Callable[[Callable[[Any], Any]], Deferred]) -> List[Any]:
        """Give ``node`` a store as an SQL one looks to hook libraries: its
        memfile store's methods, plus ``call_with_store`` answered by
        ``answer(fn)``. Returns the functions it was called with."""
        memfile = node.dhcp.store
        calls: List[Any] = []

        class SqlLike:
            def __getattr__(self, name: str) -> Any:
                return getattr(memfile, name)

            def call_with_store(self, fn: Callable[[Any], Any]) -> Deferred:
                calls.append(fn)
                return answer(fn)

        node.dhcp.store = SqlLike()
        return calls

    def test_sync_through_call_with_store(self):
        """With a store that runs work on its workers (PostgreSQL), each
        fetched page is written there, in a call_with_store call, and the
        paging goes on from its answer."""
        n1, n2 = self.pair(**{"sync-page-limit": 2})
        leases = [Lease4(IPv4Address("192.0.3.%d" % i), bytes([10, 0, 0, 0, 0, i]), None, 3600,
                         EPOCH - 100, 1) for i in (230, 231, 232)]
        for lease in leases:
            n2.store.add_lease(lease)
        memfile = n1.dhcp.store
        calls = self._sql_like_store(n1, lambda fn: succeed(fn(memfile)))
        self.run_until(lambda: n1.state == "ready")
        self.assertEqual(len(calls), 2)
        self.assertEqual(sorted(memfile.get_all_leases4(), key=lambda l: l.address), leases)

    def test_sync_failing_on_our_side_does_not_blame_the_partner(self):
        """A page that cannot be written (the worker pool stopping) fails
        the sync (HA_LEASES_SYNC_FAILED) without marking the partner
        unavailable: it answered."""
        n1, n2 = self.pair()
        calls = self._sql_like_store(n1, lambda fn: fail(RuntimeError("the worker pool is stopped")))
        with capturedLogs() as events:
            self.run_until(lambda: bool(calls))
        failed = [e for e in events if e.get("msgid") == "HA_LEASES_SYNC_FAILED"]
        self.assertEqual(len(failed), 1)
        self.assertIn("the worker pool is stopped", failed[0]["error"])
        self.assertNotEqual(n1.service.machine.comm.partner_state, "unavailable")

    def test_sync_keeps_newer_local_lease(self):
        """Sync replaces a local lease only when the partner's cltt is newer
        (Kea's asyncSyncLeasesInternal)."""
        n1, n2 = self.pair()
        address = IPv4Address("192.0.3.240")
        mine = Lease4(address, b"\x0a\x00\x00\x00\x00\x01", None, 3600, EPOCH - 10, 1)
        theirs = Lease4(address, b"\x0a\x00\x00\x00\x00\x02", None, 3600, EPOCH - 500, 1)
        n1.store.add_lease(mine)
        n2.store.add_lease(theirs)
        self.run_until(lambda: n1.state == n2.state == "load-balancing")
        self.assertEqual(n1.store.get_lease4(address), mine)
        self.assertEqual(n2.store.get_lease4(address), mine)

    def test_secondary_waits_for_a_waiting_primary(self):
        """A secondary seeing its partner in waiting stays waiting; the
        primary syncs first (ha_service.cc waitingStateHandler)."""
        n1, n2 = self.pair()
        self.advance(1.2)
        self.assertEqual(n2.state, "waiting")
        self.assertIn(n1.state, ("syncing", "ready"))

    def test_partner_absent_at_start(self):
        """With the partner not there, a server in waiting goes to
        partner-down at the first failed heartbeat after max-response-delay:
        its DHCP service is disabled, so there is no traffic to count
        unacked clients in and Kea's shouldPartnerDown answers yes.  It then
        serves both scopes."""
        n1 = Node(self, self.link, "server1", ha_parameters("server1"))
        self.advance(3.0)
        self.assertEqual(n1.state, "waiting")
        self.assertFalse(n1.network_state.is_service_enabled())
        self.run_until(lambda: n1.state == "partner-down", limit=1.1)
        self.assertTrue(n1.network_state.is_service_enabled())
        self.assertIsInstance(n1.discover(MAC2), Reply)


class LoadBalancingTests(PairTestCase):
    def test_scopes_split_by_the_hash(self):
        """In load-balancing exactly one server answers each client: the one
        Kea's hash picks (spec §4 vectors), from its own pool (the query
        carries HA_<server> before classification)."""
        n1, n2 = self.balanced()
        for mac in MACS1 + MACS2:
            own = n1 if mac in MACS1 else n2
            other = n2 if own is n1 else n1
            offer = own.discover(mac)
            self.assertIsInstance(offer, Reply)
            self.assertIn(decode(offer.data).yiaddr, POOL1 if own is n1 else POOL2)
            self.assertEqual(other.discover(mac), Drop("DHCP4_HOOK_BUFFER_RCVD_DROP"))

    def test_client_id_takes_precedence(self):
        """The hash runs over option 61 when present (spec §4: client-id
        01:00:11:22:33:44:55 hashes to server2 whatever the chaddr)."""
        n1, n2 = self.balanced()
        cid = bytes.fromhex("01001122334455")
        self.assertEqual(result_of(n1.receive(query(1, MAC1, o61=cid))), Drop("DHCP4_HOOK_BUFFER_RCVD_DROP"))
        self.assertIsInstance(result_of(n2.receive(query(1, MAC1, o61=cid))), Reply)

    def test_lease_is_parked_until_the_partner_answers(self):
        """A REQUEST's ACK waits for the partner's answer to lease4-update
        (spec §5): the update carries expire and force-create, the partner
        stores the same lease, then the ACK goes out."""
        n1, n2 = self.balanced()
        self.link.hold_commands["server2"] = {"lease4-update"}
        outcome = n1.dora(MAC1)
        self.assertIsInstance(outcome, Deferred)
        self.assertFalse(outcome.called)
        (to, body, _), = self.link.held
        args = body["arguments"]
        self.assertEqual(body["command"], "lease4-update")
        self.assertTrue(args["force-create"])
        self.assertEqual(args["hw-address"], "02:00:00:00:01:00")
        self.assertNotIn("cltt", args)
        self.assertEqual(self.link.release("lease4-update"), 1)
        self.advance(0.01)
        reply = result_of(outcome)
        self.assertIsInstance(reply, Reply)
        self.assertEqual(decode(reply.data).options[53], bytes([5]))
        address = decode(reply.data).yiaddr
        self.assertEqual(args["ip-address"], str(address))
        self.assertEqual(n2.addresses()[address], n1.addresses()[address])
        self.assertEqual(args["expire"], n1.addresses()[address][1])

    def test_every_lease_lands_on_both(self):
        """Leases allocated on either server reach the other; no address is
        given to two clients."""
        n1, n2 = self.balanced()
        for mac in MACS1 + MACS2:
            own = n1 if mac in MACS1 else n2
            d = own.dora(mac)
            self.advance(0.05)
            self.assertIsInstance(result_of(d), Reply)
        self.assertEqual(n1.addresses(), n2.addresses())
        self.assertEqual(len(n1.addresses()), 6)
        self.assertEqual(len({hw for hw, _ in n1.addresses().values()}), 6)

    def test_release_sends_lease4_del(self):
        """A RELEASE deletes the lease on the partner with lease4-del (no
        force-create)."""
        n1, n2 = self.balanced()
        d = n1.dora(MAC1)
        self.advance(0.05)
        address = decode(result_of(d).data).yiaddr
        n1.receive(query(7, MAC1, ciaddr=address, o54=SERVER_ADDR["server1"].packed))
        self.advance(0.05)
        body = self.link.commands_to("server2")[-1]
        self.assertEqual(body["command"], "lease4-del")
        self.assertNotIn("force-create", body["arguments"])
        self.assertNotIn(address, n2.addresses())

    def test_update_error_drops_the_reply(self):
        """A partner answering lease4-update with result 1: no reply at all
        (not a NAK), the lease stays local, and the server leaves
        load-balancing for communication-recovery, then returns at the next
        good heartbeat (spec §3)."""
        n1, n2 = self.balanced()
        self.link.errors[("server2", "lease4-update")] = {"result": 1, "text": "fake failure"}
        d = n1.dora(MAC1)
        self.advance(0.05)
        self.assertEqual(result_of(d), Drop("DHCP4_HOOK_LEASES4_COMMITTED_DROP"))
        self.assertEqual(len(n1.addresses()), 1)
        self.assertEqual(n1.state, "communication-recovery")
        del self.link.errors[("server2", "lease4-update")]
        self.run_until(lambda: n1.state == "load-balancing", limit=3)

    def test_partner_down_after_unacked_clients(self):
        """The partner stops answering: at the first failed heartbeat the
        server goes to communication-recovery; once max-response-delay has
        passed and more than max-unacked-clients partner clients retried
        with secs*1000 > max-ack-delay, the next heartbeat takes it to
        partner-down, where it serves the partner's clients from the
        partner's pool (spec §3)."""
        n1, n2 = self.balanced()
        n2.shutdown()
        took = self.run_until(lambda: n1.state == "communication-recovery", limit=3)
        self.assertLessEqual(took, 1.1)
        # secs 0 is not "unacked"; not answered either.
        for mac in MACS2:
            self.assertEqual(n1.discover(mac), Drop("DHCP4_HOOK_BUFFER_RCVD_DROP"))
        self.run_until(lambda: n1.service.machine.comm.is_communication_interrupted(self.clock.seconds()))
        for mac in MACS2:
            self.assertEqual(n1.discover(mac, secs=3), Drop("DHCP4_HOOK_BUFFER_RCVD_DROP"))
        status = n1.command("status-get")["arguments"]["high-availability"][0]["ha-servers"]["remote"]
        self.assertEqual(status["unacked-clients"], 3)
        self.assertEqual(status["unacked-clients-left"], 0)
        self.assertTrue(status["communication-interrupted"])
        self.run_until(lambda: n1.state == "partner-down", limit=1.1)
        self.assertEqual(n1.service.machine.scopes, ["server1", "server2"])
        offer = n1.discover(MAC2)
        self.assertIsInstance(offer, Reply)
        self.assertIn(decode(offer.data).yiaddr, POOL2)

    def test_frozen_partner_times_out(self):
        """A partner that accepts but never answers: the heartbeat waits out
        the 10 s request timeout, then the server leaves load-balancing
        (addendum: partner-down is decided when a heartbeat completes)."""
        n1, n2 = self.balanced()
        self.link.mode["server2"] = "hold"
        self.advance(5)
        self.assertEqual(n1.state, "load-balancing")
        self.run_until(lambda: n1.state != "load-balancing", limit=12)
        self.assertEqual(n1.state, "communication-recovery")

    def test_partner_returns_and_resyncs(self):
        """After partner-down the restarted partner syncs every lease
        (including those handed out meanwhile) and both are back in
        load-balancing; the survivor counted the updates it could not send."""
        n1, n2 = self.balanced(**{"max-unacked-clients": 0})
        d = n1.dora(MAC1)
        self.advance(0.05)
        self.assertIsInstance(result_of(d), Reply)
        n2.shutdown()
        self.run_until(lambda: n1.state == "partner-down", limit=10)
        d = n1.dora(MAC2)       # the partner's client, served by server1
        self.assertIsInstance(result_of(d), Reply)
        self.assertEqual(n1.command("ha-heartbeat")["arguments"]["unsent-update-count"], 1)
        n2b = Node(self, self.link, "server2", ha_parameters("server2", **{"max-unacked-clients": 0}))
        self.run_until(lambda: n1.state == n2b.state == "load-balancing", limit=10)
        self.assertEqual(n2b.addresses(), n1.addresses())
        self.assertEqual(len(n1.addresses()), 2)

    def test_backlog_replayed_after_recovery(self):
        """In communication-recovery a lease update is queued (the reply is
        not held) and replayed when the partner answers again; then back
        to load-balancing (delayed-updates-limit)."""
        n1, n2 = self.balanced()
        self.link.mode["server2"] = "down"
        self.run_until(lambda: n1.state == "communication-recovery", limit=3)
        d = n1.dora(MAC1)
        reply = result_of(d)
        self.assertIsInstance(reply, Reply)
        address = decode(reply.data).yiaddr
        self.assertEqual(len(n1.service.machine.backlog), 1)
        self.link.mode["server2"] = "up"
        self.run_until(lambda: n1.state == "load-balancing", limit=3)
        self.assertIn(address, n2.addresses())
        self.assertEqual(n2.addresses()[address], n1.addresses()[address])

    def test_backlog_overflow_resets_partner(self):
        """More updates than delayed-updates-limit in communication-recovery:
        when the partner is back the server sends it ha-reset and goes to
        waiting; both then resync."""
        n1, n2 = self.balanced(**{"delayed-updates-limit": 1})
        self.link.mode["server2"] = "down"
        self.run_until(lambda: n1.state == "communication-recovery", limit=3)
        for mac in MACS1[:2]:
            self.assertIsInstance(result_of(n1.dora(mac)), Reply)
        self.assertTrue(n1.service.machine.backlog.overflown)
        self.link.mode["server2"] = "up"
        self.run_until(lambda: any(b["command"] == "ha-reset" for b in self.link.commands_to("server2")),
                       limit=3)
        self.run_until(lambda: n1.state == n2.state == "load-balancing", limit=10)
        self.assertEqual(n1.addresses(), n2.addresses())


class HotStandbyTests(PairTestCase):
    def test_primary_serves_everyone_standby_gets_leases(self):
        """hot-standby: both reach hot-standby, the primary answers a client
        that would hash to server2, the standby answers nobody and serves no
        scope; the ACK waits for the standby's answer (spec §7)."""
        n1, n2 = self.balanced("hot-standby", ("primary", "standby"))
        self.assertEqual(n2.command("ha-heartbeat")["arguments"]["scopes"], [])
        self.assertEqual(n2.discover(MAC1), Drop("DHCP4_HOOK_BUFFER_RCVD_DROP"))
        self.link.hold_commands["server2"] = {"lease4-update"}
        d = n1.dora(MAC2)
        self.assertFalse(d.called)
        self.link.release()
        self.advance(0.01)
        reply = result_of(d)
        self.assertIsInstance(reply, Reply)
        self.assertIn(decode(reply.data).yiaddr, POOL1)
        self.assertEqual(n1.addresses(), n2.addresses())

    def test_standby_takes_over(self):
        """The primary stops: the standby goes to partner-down (no
        communication-recovery outside load-balancing) and serves."""
        n1, n2 = self.balanced("hot-standby", ("primary", "standby"), **{"max-unacked-clients": 0})
        n1.shutdown()
        with capturedLogs() as events:
            self.run_until(lambda: n2.state == "partner-down", limit=6)
        moves = [e["text"] for e in events if e.get("msgid") == "HA_STATE_TRANSITION"]
        self.assertEqual(moves, ["server transitions from HOT-STANDBY to PARTNER-DOWN state,"
                                 " partner state is UNDEFINED"])
        self.assertIsInstance(n2.discover(MAC1), Reply)


class PassiveBackupTests(PairTestCase):
    def test_updates_only_no_heartbeats(self):
        """passive-backup: the primary goes straight to passive-backup, sends
        no heartbeat, no sync, no dhcp-disable; the backup only gets lease
        updates, and without wait-backup-ack the ACK does not wait for it
        (spec §7).  status-get shows only "local"."""
        n1 = Node(self, self.link, "server1", ha_parameters("server1", "passive-backup", ("primary", "backup")))
        n2 = Node(self, self.link, "server2", ha_parameters("server2", "passive-backup", ("primary", "backup")))
        self.assertEqual(n1.state, "passive-backup")
        self.assertTrue(n1.network_state.is_service_enabled())
        self.advance(5)
        self.assertEqual(self.link.sent, [])
        self.link.hold_commands["server2"] = {"lease4-update"}
        reply = result_of(n1.dora(MAC2))
        self.assertIsInstance(reply, Reply)
        self.assertEqual([b["command"] for _, _, b in self.link.sent], ["lease4-update"])
        self.link.release()
        self.advance(0.01)
        self.assertEqual(n1.addresses(), n2.addresses())
        ha = n1.command("status-get")["arguments"]["high-availability"]
        self.assertEqual(ha, [{"ha-mode": "passive-backup", "ha-servers": {"local": {
            "role": "primary", "scopes": ["server1"], "state": "passive-backup"}}}])

    def test_backup_error_ignored_without_wait(self):
        """A failing backup does not stop the ACK (wait-backup-ack false)."""
        n1 = Node(self, self.link, "server1", ha_parameters("server1", "passive-backup", ("primary", "backup")))
        self.link.mode["server2"] = "down"
        self.assertIsInstance(result_of(n1.dora(MAC1)), Reply)
        self.advance(0.05)
        self.assertEqual(n1.state, "passive-backup")

    def test_wait_backup_ack(self):
        """wait-backup-ack true: the ACK waits for the backup; a failing
        backup means no reply."""
        params = ha_parameters("server1", "passive-backup", ("primary", "backup"), **{"wait-backup-ack": True})
        n1 = Node(self, self.link, "server1", params)
        Node(self, self.link, "server2", ha_parameters("server2", "passive-backup", ("primary", "backup")))
        self.link.hold_commands["server2"] = {"lease4-update"}
        d = n1.dora(MAC1)
        self.assertFalse(d.called)
        self.link.release()
        self.advance(0.01)
        self.assertIsInstance(result_of(d), Reply)
        self.link.mode["server2"] = "down"
        d = n1.dora(MAC2)
        self.advance(0.05)
        self.assertEqual(result_of(d), Drop("DHCP4_HOOK_LEASES4_COMMITTED_DROP"))


class MaintenanceTests(PairTestCase):
    def test_start_and_cancel(self):
        """ha-maintenance-start: the partner gets ha-maintenance-notify
        {cancel: false} and goes in-maintenance, this server
        partner-in-maintenance (serving both scopes); -cancel reverses both
        (spec §3 operator commands, Kea's texts)."""
        n1, n2 = self.balanced()
        d = n1.execute_command("ha-maintenance-start")
        self.advance(0.05)
        self.assertEqual(result_of(d), {"result": 0, "text": "Server is now in the partner-in-maintenance"
                                        " state and its partner is in-maintenance state. The partner can be"
                                        " now safely shut down."})
        self.assertEqual(self.link.commands_to("server2")[-1],
                         commands.maintenance_notify(False))
        self.assertEqual((n1.state, n2.state), ("partner-in-maintenance", "in-maintenance"))
        self.assertIsInstance(n1.discover(MAC2), Reply)
        self.assertFalse(n2.network_state.is_service_enabled())
        self.assertIsInstance(n2.discover(MAC2), Drop)
        d = n1.execute_command("ha-maintenance-cancel")
        self.advance(0.05)
        self.assertEqual(result_of(d), {"result": 0, "text": "Server maintenance successfully canceled."})
        self.assertEqual((n1.state, n2.state), ("load-balancing", "load-balancing"))

    def test_start_with_partner_down(self):
        """ha-maintenance-start with the partner unreachable: partner-down."""
        n1, n2 = self.balanced()
        self.link.mode["server2"] = "down"
        d = n1.execute_command("ha-maintenance-start")
        self.advance(0.05)
        self.assertEqual(result_of(d)["text"], "Server is now in the partner-down state as its partner"
                         " appears to be offline for maintenance.")
        self.assertEqual(n1.state, "partner-down")
        self.assertEqual(n1.service.machine.scopes, ["server1", "server2"])

    def test_cancel_when_not_in_maintenance(self):
        """ha-maintenance-cancel outside partner-in-maintenance: Kea's error."""
        n1, n2 = self.balanced()
        self.assertEqual(n1.command("ha-maintenance-cancel"), {
            "result": 1, "text": "Unable to cancel maintenance request because the server is not in"
            " the partner-in-maintenance state."})

    def test_partner_shut_down_in_maintenance(self):
        """The in-maintenance partner is shut down: the server goes
        partner-in-maintenance -> partner-down at its next heartbeat."""
        n1, n2 = self.balanced()
        n1.execute_command("ha-maintenance-start")
        self.advance(0.05)
        n2.shutdown()
        self.run_until(lambda: n1.state == "partner-down", limit=2)


class CommandTests(PairTestCase):
    def test_status_get_section(self):
        """status-get gets Kea's high-availability list (spec §3)."""
        n1, n2 = self.balanced()
        self.advance(1.5)  # one more heartbeat each: both saw the other in load-balancing
        answer = n1.command("status-get")
        self.assertEqual(answer["result"], 0)
        self.assertIn("pid", answer["arguments"])
        ha = answer["arguments"]["high-availability"]
        self.assertEqual(len(ha), 1)
        self.assertEqual(ha[0]["ha-mode"], "load-balancing")
        servers = ha[0]["ha-servers"]
        self.assertEqual(servers["local"], {"role": "primary", "scopes": ["server1"], "state": "load-balancing"})
        remote = servers["remote"]
        self.assertEqual(remote["role"], "secondary")
        self.assertEqual(remote["last-state"], "load-balancing")
        self.assertEqual(remote["last-scopes"], ["server2"])
        self.assertFalse(remote["communication-interrupted"])
        self.assertTrue(remote["in-touch"])

    def test_heartbeat_answer(self):
        """ha-heartbeat: state, RFC 1123 date-time, scopes, unsent count."""
        n1, n2 = self.balanced()
        answer = n1.command("ha-heartbeat")
        self.assertEqual(answer["text"], "HA peer status returned.")
        self.assertEqual(answer["arguments"]["state"], "load-balancing")
        self.assertEqual(answer["arguments"]["scopes"], ["server1"])
        self.assertTrue(answer["arguments"]["date-time"].endswith(" GMT"))
        self.assertEqual(answer["arguments"]["unsent-update-count"], 0)

    def test_scopes_continue_reset(self):
        """ha-scopes changes the served scopes (state unchanged), an unknown
        scope is refused; ha-continue when not paused; ha-reset goes to
        waiting and the pair comes back."""
        n1, n2 = self.balanced()
        self.assertEqual(n1.command("ha-scopes", {"scopes": ["server1", "server2"]}),
                         {"result": 0, "text": "New HA scopes configured."})
        self.assertIsInstance(n1.discover(MAC2), Reply)
        self.assertEqual(n1.command("ha-scopes", {"scopes": ["server3"]})["result"], 1)
        self.assertEqual(n1.command("ha-scopes", {})["text"], "'scopes' is mandatory for the 'ha-scopes' command")
        self.assertEqual(n1.command("ha-continue"), {"result": 0, "text": "HA state machine is not paused."})
        self.assertEqual(n1.command("ha-reset"), {"result": 0, "text": "HA state machine reset."})
        # Kea runs the waiting handler at once: with the partner known to be
        # in load-balancing it moves on to syncing, and syncs at the next
        # heartbeat.
        self.assertEqual(n1.state, "syncing")
        self.assertFalse(n1.network_state.is_service_enabled())
        self.run_until(lambda: n1.state == "load-balancing", limit=5)
        n1.service.machine.state = "waiting"  # as after a reset with an unknown partner
        self.assertEqual(n1.command("ha-reset"), {"result": 0, "text": "HA state machine already in WAITING state."})

    def test_ha_sync_command(self):
        """ha-sync {server-name, max-period}: dhcp-disable with that
        max-period, pages, ha-sync-complete-notify; the state is kept."""
        n1, n2 = self.balanced()
        n2.store.add_lease(Lease4(IPv4Address("192.0.3.250"), b"\x0a\x00\x00\x00\x00\x01", None, 3600,
                                  EPOCH, 1))
        before = len(self.link.commands_to("server2", "server1"))
        d = n1.execute_command("ha-sync", {"server-name": "server2", "max-period": 30})
        self.advance(0.1)
        self.assertEqual(result_of(d), {"result": 0, "text": "Lease database synchronization complete."})
        names = [b["command"] for b in self.link.commands_to("server2", "server1")[before:]
                 if b["command"] != "ha-heartbeat"]
        self.assertEqual(names, ["dhcp-disable", "lease4-get-page", "ha-sync-complete-notify"])
        disable = [b for b in self.link.commands_to("server2", "server1") if b["command"] == "dhcp-disable"][-1]
        self.assertEqual(disable["arguments"], {"max-period": 30, "origin": "ha-partner"})
        self.assertIn(IPv4Address("192.0.3.250"), n1.addresses())
        self.assertEqual(n1.state, "load-balancing")
        self.assertTrue(n2.network_state.is_service_enabled())

    def test_ha_sync_failure_reenables_partner(self):
        """A page that fails after the partner was disabled: dhcp-enable is
        sent and the answer carries the error."""
        n1, n2 = self.balanced()
        self.link.errors[("server2", "lease4-get-page")] = {"result": 1, "text": "broken"}
        d = n1.execute_command("ha-sync", {"server-name": "server2"})
        self.advance(0.1)
        self.assertEqual(result_of(d), {"result": 1, "text": "broken, error code 1"})
        self.assertEqual(self.link.commands_to("server2", "server1")[-1], commands.dhcp_enable())
        self.assertTrue(n2.network_state.is_service_enabled())

    def test_ha_sync_bad_arguments(self):
        """ha-sync argument checks answer Kea's texts; an unknown server
        leaves no answer, as Kea's throwing handler."""
        n1, n2 = self.balanced()
        self.assertEqual(n1.command("ha-sync")["text"], "arguments not found in the 'ha-sync' command")
        self.assertEqual(n1.command("ha-sync", {"server-name": "server2", "max-period": 0})["text"],
                         "'max-period' must be a positive integer in the 'ha-sync' command")
        self.assertEqual(n1.command("ha-sync", {"server-name": "nope"}),
                         {"result": 1, "text": "internal server error: no response generated"})

    def test_sync_complete_notify_and_maintenance_notify(self):
        """ha-sync-complete-notify enables the local service (not in
        partner-down); ha-maintenance-notify moves to in-maintenance and back."""
        n1, n2 = self.balanced()
        n2.network_state.disable_service("ha")
        self.assertEqual(n2.command("ha-sync-complete-notify")["text"],
                         "Server successfully notified about the synchronization completion.")
        self.assertTrue(n2.network_state.is_service_enabled())
        self.assertEqual(n2.command("ha-maintenance-notify", {"cancel": False}),
                         {"result": 0, "text": "Server is in-maintenance state."})
        self.assertEqual(n2.state, "in-maintenance")
        self.assertEqual(n2.command("ha-maintenance-notify", {"cancel": True}),
                         {"result": 0, "text": "Server maintenance canceled."})
        self.assertEqual(n2.state, "load-balancing")

    def test_commands_registered(self):
        """The nine ha-* commands Kea 2.2 registers, beside lease_cmds'."""
        n1 = Node(self, self.link, "server1", ha_parameters("server1"))
        names = n1.command("list-commands")["arguments"]
        for name in COMMANDS:
            self.assertIn(name, names)


class LibraryTests(PairTestCase):
    def test_library_object(self):
        """hooks.ha exposes exactly one IHookLibrary provider, the one the
        loader finds for libdhcp_ha.so."""
        verifyObject(IHookLibrary, hooks.ha.ha)
        self.assertIs(find_hook_library("/opt/lib/kea/hooks/libdhcp_ha.so"), hooks.ha.ha)
        providers = [v for v in vars(hooks.ha).values() if IHookLibrary.providedBy(v)]
        self.assertEqual(providers, [hooks.ha.ha])

    def test_bad_config_fails_load_with_keas_text(self):
        """A bad high-availability section fails the library's load with
        Kea's message."""
        library = HAHookLibrary(client_factory=self.link.client_factory("server1"), listen=False)
        params = ha_parameters("server1")
        params["high-availability"][0]["mode"] = "nope"
        with self.assertRaises(HookLoadError) as e:
            load_library_objects([("libdhcp_ha.so", library, params)], server=None)
        self.assertIn("unsupported value 'nope' for mode parameter", e.exception.failures[0].reason)
        self.assertIsNone(library.service)
        self.flushLoggedErrors(HAConfigError)

    def test_load_raises_keas_error(self):
        """load() itself raises HAConfigError with Kea's text."""
        library = HAHookLibrary()

        class Handle:
            parameters = {"high-availability": [{"mode": "nope"}]}
            server = None
        with self.assertRaises(HAConfigError) as e:
            library.load(Handle())
        self.assertEqual(e.exception.message, "unsupported value 'nope' for mode parameter")

    def test_check_only_load(self):
        """With no server (-t) the section is parsed, nothing is started and
        no command is registered."""
        library = HAHookLibrary()
        runner = load_library_objects([("libdhcp_ha.so", library, ha_parameters("server1"))], server=None)
        self.addCleanup(runner.unload_all)
        self.assertIsNotNone(library.config)
        self.assertEqual(runner.commands(), [])

    def test_unload_stops_everything(self):
        """unload: no HA timer left on the clock, clients closed, listener
        stopped."""
        stopped: List[bool] = []

        class Port:
            def stopListening(self) -> Deferred:
                stopped.append(True)
                return succeed(None)

        calls: List[Any] = []

        def listener_factory(reactor: Any, config: Any, execute: Any) -> Deferred:
            calls.append(execute)
            return succeed(Port())

        n1 = Node(self, self.link, "server1", ha_parameters("server1"),
                  listener_factory=listener_factory, listen=True)
        self.assertEqual(len(calls), 1)
        # the listener runs this server's command table
        self.assertEqual(result_of(calls[0]({"command": "ha-heartbeat", "service": ["dhcp4"]}))["text"],
                         "HA peer status returned.")
        client = n1.service.clients["server2"]
        self.assertTrue(self.clock.getDelayedCalls())
        n1.runner.unload_all()
        self.assertEqual(stopped, [True])
        self.assertTrue(client.closed)
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])

    def test_listener_follows_keas_rule(self):
        """By default the dedicated listener opens only with HA and DHCP
        multi-threading and http-dedicated-listener (else Kea relies on the
        Control Agent)."""
        calls: List[Any] = []

        def listener_factory(reactor: Any, config: Any, execute: Any) -> Deferred:
            calls.append(config.this_server.url.text)
            return succeed(None)

        mt = {"multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True}}
        Node(self, self.link, "server1", ha_parameters("server1", **mt), listener_factory=listener_factory,
             listen=None)
        self.assertEqual(calls, [])
        Node(self, self.link, "server2", ha_parameters("server2", **mt),
             dhcp_extra={"multi-threading": {"enable-multi-threading": True, "thread-pool-size": 2}},
             listener_factory=listener_factory, listen=None)
        self.assertEqual(calls, [URLS["server2"]])

    def test_listener_retried_while_port_busy(self):
        """After a reconfiguration the old port may close a turn later: the
        listener is tried again a few times."""
        from twisted.internet.error import CannotListenError
        attempts: List[float] = []

        def listener_factory(reactor: Any, config: Any, execute: Any) -> Deferred:
            attempts.append(self.clock.seconds())
            if len(attempts) < 3:
                return fail(CannotListenError("127.0.1.1", 18001, OSError("busy")))
            return succeed(None)

        Node(self, self.link, "server1", ha_parameters("server1"), listener_factory=listener_factory, listen=True)
        self.advance(1.0)
        self.assertEqual(len(attempts), 3)

    def test_malformed_query_dropped_and_counted(self):
        """buffer4_receive: a datagram that does not decode is dropped by
        the HA callout, counting pkt4-parse-failed and pkt4-receive-drop."""
        n1, n2 = self.balanced()
        data = bytearray(query(1, MAC1))
        data[2] = 30   # hlen > 20: Kea refuses the packet
        self.assertEqual(result_of(n1.receive(bytes(data))), Drop("DHCP4_HOOK_BUFFER_RCVD_DROP"))
        self.assertEqual(n1.stats.value("pkt4-parse-failed"), 1)
        self.assertEqual(n1.stats.value("pkt4-receive-drop"), 1)

    def test_ha_class_added(self):
        """The query gets HA_<scope> before classification, also when it is
        dropped as the partner's."""
        n1, n2 = self.balanced()
        seen: List[List[str]] = []
        svc = n1.service
        original = svc.in_scope

        def spy(q: Any) -> bool:
            r = original(q)
            seen.append(list(q.classes))
            return r

        svc.in_scope = spy
        n1.discover(MAC1)
        n1.discover(MAC2)
        self.assertEqual(seen, [["HA_server1"], ["HA_server2"]])


class MoreUpdateTests(PairTestCase):
    def test_decline_sends_declined_lease(self):
        """DECLINE -> lease4-update with state 1, empty hw-address,
        valid-lft = decline probation (spec §5)."""
        n1, n2 = self.balanced()
        d = n1.dora(MAC1)
        self.advance(0.05)
        address = decode(result_of(d).data).yiaddr
        n1.receive(query(4, MAC1, o50=address.packed, o54=SERVER_ADDR["server1"].packed))
        self.advance(0.05)
        body = self.link.commands_to("server2")[-1]
        self.assertEqual(body["command"], "lease4-update")
        self.assertEqual(body["arguments"]["state"], 1)
        self.assertEqual(body["arguments"]["hw-address"], "")
        self.assertEqual(body["arguments"]["valid-lft"], 86400)
        self.assertEqual(n2.store.get_lease4(address).state, 1)

    def test_old_partner_without_sync_complete_notify(self):
        """A partner answering ha-sync-complete-notify with result 2 (older
        than 2.2) gets dhcp-enable instead, and is not marked unavailable."""
        n1, n2 = self.pair()
        self.link.errors[("server2", "ha-sync-complete-notify")] = {
            "result": 2, "text": "'ha-sync-complete-notify' command not supported."}
        self.run_until(lambda: n1.state == "ready")
        names = [b["command"] for b in self.link.commands_to("server2", "server1")]
        self.assertEqual(names[-2:], ["ha-sync-complete-notify", "dhcp-enable"])
        self.assertEqual(n1.service.machine.comm.partner_state, "waiting")


class RealTransportTests(TestCase):
    """The same pair over hooks.ha.transport: real HTTP on loopback, the
    real reactor (short heartbeat-delay), default client and listener
    factories."""

    URLS = {"server1": "http://127.0.1.1:39471/", "server2": "http://127.0.1.2:39472/"}

    @inlineCallbacks
    def test_pair_over_http(self):
        """Both reach load-balancing over HTTP and a lease committed on one
        is on the other before the ACK leaves."""
        from twisted.internet import reactor
        link = Link(reactor)
        nodes = []
        for name in ("server1", "server2"):
            params = ha_parameters(name, urls=self.URLS, **{"heartbeat-delay": 100,
                                                             "max-response-delay": 2000})
            node = Node(self, link, name, params, client_factory=None, listen=True)
            nodes.append(node)
            self.addCleanup(node.network_state.stop)
            self.addCleanup(lambda n=node: n.service.stop() if n.service is not None else None)
        n1, n2 = nodes
        for _ in range(200):   # at most 10 s
            if n1.state == n2.state == "load-balancing":
                break
            yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual((n1.state, n2.state), ("load-balancing", "load-balancing"))
        outcome = n1.dora(MAC1)
        reply = yield outcome if isinstance(outcome, Deferred) else succeed(outcome)
        self.assertIsInstance(reply, Reply)
        address = decode(reply.data).yiaddr
        self.assertEqual(n2.addresses()[address], n1.addresses()[address])
        # nothing went through the in-memory link
        self.assertEqual(link.sent, [])


class SharedLibraryObjectTests(PairTestCase):
    def test_one_object_two_servers(self):
        """The module's single library object loaded by two servers in one
        process (as the loader does): each gets its own service, and
        unloading one leaves the other running."""
        shared = HAHookLibrary(client_factory=None, listen=False)
        shared.client_factory = lambda reactor, config, peer: FakeClient(self.link, config.this_server_name, peer)
        n1 = Node(self, self.link, "server1", ha_parameters("server1"), client_factory=shared.client_factory)
        n2 = Node(self, self.link, "server2", ha_parameters("server2"), client_factory=shared.client_factory)
        # rebuild both on the shared object
        for n in (n1, n2):
            n.runner.unload_all()
            n.runner = load_library_objects(
                [("libdhcp_lease_cmds.so", LeaseCmds(), {}),
                 ("libdhcp_ha.so", shared, ha_parameters(n.name))], server=n)
            n.table.hooks = n.runner
            n.dhcp.engine.hooks = n.runner
            n.library = shared
            n.runner.call("dhcp4_srv_configured", n.runner.create_handle(
                io_context=self.clock, network_state=n.network_state, json_config=None, server_config=None))
        s1, s2 = [i.service for i in shared.instances]
        self.assertIsNot(s1, s2)
        self.run_until(lambda: s1.machine.state == s2.machine.state == "load-balancing")
        n2.runner.unload_all()
        self.assertEqual([i.service for i in shared.instances], [s1])
        self.assertTrue(s1.running)
        self.assertFalse(s2.running)


class ClientSettingsTests(PairTestCase):
    """The client factory sees the HA multi-threading settings as Kea
    resolves them, which size the client's connection pool."""

    def configs(self, dhcp_mt: Dict[str, Any], ha_mt: Dict[str, Any]) -> List[Any]:
        seen: List[Any] = []

        def factory(reactor: Any, config: Any, peer: str) -> FakeClient:
            seen.append(config)
            return FakeClient(self.link, config.this_server_name, peer)

        Node(self, self.link, "server1", ha_parameters("server1", **{"multi-threading": ha_mt}),
             dhcp_extra={"multi-threading": dhcp_mt}, client_factory=factory)
        return seen

    def test_client_threads_follow_dhcp_threads(self) -> None:
        """HA and DHCP multi-threading on, http-client-threads 0: the client
        gets the DHCP thread-pool-size (Kea's rule), and so that many
        connections (at least DEFAULT_CONNECTIONS)."""
        from hooks.ha.transport import DEFAULT_CONNECTIONS, client_connections
        seen = self.configs({"enable-multi-threading": True, "thread-pool-size": 12},
                            {"enable-multi-threading": True, "http-dedicated-listener": True,
                             "http-client-threads": 0})
        self.assertEqual(len(seen), 1)
        self.assertTrue(seen[0].enable_multi_threading)
        self.assertEqual(seen[0].http_client_threads, 12)
        self.assertEqual(client_connections(seen[0]), max(12, DEFAULT_CONNECTIONS))

    def test_no_dhcp_threads_no_client_threads(self) -> None:
        """HA multi-threading without DHCP multi-threading is off (Kea):
        the default connection count."""
        from hooks.ha.transport import DEFAULT_CONNECTIONS, client_connections
        seen = self.configs({"enable-multi-threading": False},
                            {"enable-multi-threading": True, "http-client-threads": 12})
        self.assertFalse(seen[0].enable_multi_threading)
        self.assertEqual(client_connections(seen[0]), DEFAULT_CONNECTIONS)
