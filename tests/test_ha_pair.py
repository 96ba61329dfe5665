"""
Two kea_twisted servers as a High Availability pair, end to end: the
built-in ``libdhcp_ha.so`` and ``libdhcp_lease_cmds.so`` loaded from the
configuration, heartbeats and lease updates over HTTP (and HTTPS with mutual
TLS, certificates made by the test), relayed DHCP on real UDP sockets on
loopback.

Both servers listen for DHCP on 127.0.0.1 (different ports, so no root is
needed) and for HA on 127.0.1.1 / 127.0.1.2; a relay on 127.0.0.3 sends every
DISCOVER to both and names its own port in option 82 (RFC 8357 relay-port),
so replies come back to it.  Timers are short (heartbeat 500 ms, partner
declared down after 2 s) so that failover happens within seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from ipaddress import IPv4Address

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase

from kea_twisted.config.element import from_python
from kea_twisted.config.staging import stage_config_element
from kea_twisted.net.services import Dhcp4Service
from kea_twisted.packet import Packet4, decode, encode

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CERTS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "kea-ha-rig", "make-certs.sh")
HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks/"   # Kea's names select the built-ins
SERVER_IP = "127.0.0.1"
RELAY_IP = "127.0.0.3"


class Relay(DatagramProtocol):
    """A DHCP relay agent on loopback: sends a query to several servers and
    collects the replies per transaction id."""

    def __init__(self):
        self.replies = {}

    def datagramReceived(self, data, addr):
        packet = decode(data)
        self.replies.setdefault(packet.xid, []).append((addr[1], packet))

    def send(self, packet: Packet4, ports):
        data = encode(packet)
        for port in ports:
            self.transport.write(data, (SERVER_IP, port))


def _ha_section(name, mode, ports, tls_dir=None, **timing):
    peers = []
    for index, peer in enumerate(("server1", "server2")):
        entry = {"name": peer, "url": f"http://127.0.1.{index + 1}:{ports[index]}/",
                 "role": ("primary", {"load-balancing": "secondary", "hot-standby": "standby",
                                      "passive-backup": "backup"}[mode])[index],
                 "auto-failover": True}
        if tls_dir:
            entry.update({"cert-file": os.path.join(tls_dir, f"{peer}_cert.pem"),
                          "key-file": os.path.join(tls_dir, f"{peer}_key.pem")})
        peers.append(entry)
    section = {"this-server-name": name, "mode": mode, "heartbeat-delay": 500, "max-response-delay": 2000,
               "max-ack-delay": 1000, "max-unacked-clients": 0, "sync-timeout": 5000, "peers": peers,
               "multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True,
                                   "http-listener-threads": 1, "http-client-threads": 1}}
    if tls_dir:
        section["trust-anchor"] = os.path.join(tls_dir, "CA.pem")
        section["require-client-certs"] = True
    section.update(timing)
    return section


def _config(name, mode, ports, workdir, tls_dir=None, lease_database=None):
    classes = [{"name": "s1", "test": "member('HA_server1')"}, {"name": "s2", "test": "member('HA_server2')"}]
    pools = [{"pool": "192.0.2.10 - 192.0.2.59", "client-class": "s1"},
             {"pool": "192.0.2.60 - 192.0.2.109", "client-class": "s2"}]
    if mode != "load-balancing":
        classes, pools = [], [{"pool": "192.0.2.10 - 192.0.2.109"}]
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo/" + SERVER_IP], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": True, "lfc-interval": 0,
                           "name": os.path.join(workdir, f"{name}-leases4.csv")},
        "valid-lifetime": 3600,
        "multi-threading": {"enable-multi-threading": True, "thread-pool-size": 1, "packet-queue-size": 16},
        "client-classes": classes,
        "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "relay": {"ip-addresses": [RELAY_IP]}, "pools": pools}],
        "hooks-libraries": [
            {"library": HOOKS + "libdhcp_lease_cmds.so"},
            {"library": HOOKS + "libdhcp_ha.so",
             "parameters": {"high-availability": [_ha_section(name, mode, ports, tls_dir)]}},
        ],
    }
    if not classes:
        del dhcp4["client-classes"]
    if lease_database is not None:
        dhcp4["lease-database"] = lease_database
        dhcp4["multi-threading"]["thread-pool-size"] = 4
        # Several pages, each written to the database on a worker.
        dhcp4["hooks-libraries"][1]["parameters"]["high-availability"][0]["sync-page-limit"] = 4
    return stage_config_element(from_python({"Dhcp4": dhcp4}))


class Pair:
    """Two services, their DHCP ports, and a relay."""

    def __init__(self, testcase, mode="load-balancing", tls_dir=None, base=18700, databases=None):
        self.testcase = testcase
        self.mode = mode
        self.tls_dir = tls_dir
        #: Each server's ``lease-database`` (None: memfile).
        self.databases = databases or (None, None)
        self.workdir = os.path.abspath(testcase.mktemp())
        os.makedirs(self.workdir)
        self.ha_ports = (base, base + 1)
        self.dhcp_ports = (base + 2, base + 3)
        self.services = {}
        self.relay = Relay()
        port = reactor.listenUDP(base + 4, self.relay, interface=RELAY_IP)
        self.relay_port = base + 4
        testcase.addCleanup(port.stopListening)

    def start(self, index):
        name = f"server{index + 1}"
        config = _config(name, self.mode, self.ha_ports, self.workdir, self.tls_dir, self.databases[index])
        service = Dhcp4Service(None, config,
                               reactor=reactor, server_port=self.dhcp_ports[index], observer=None,
                               install_signal_handlers=False)
        service.startService()
        self.services[name] = service
        self.testcase.addCleanup(lambda: service.running and service.stopService())
        return service

    def stop(self, name):
        return self.services.pop(name).stopService()

    def state(self, name):
        d = self.services[name].commands.process({"command": "ha-heartbeat"})
        return d.addCallback(lambda answer: answer.get("arguments", {}).get("state"))

    @inlineCallbacks
    def wait_state(self, name, wanted, timeout=30.0):
        waited = 0.0
        while waited < timeout:
            state = yield self.state(name)
            if state == wanted:
                return state
            yield deferLater(reactor, 0.2, lambda: None)
            waited += 0.2
        raise AssertionError(f"{name} not in {wanted} after {timeout} s (last: {state})")

    @inlineCallbacks
    def dora(self, client: int, ports=None, timeout=5.0):
        """DISCOVER to every running server, REQUEST to the one that offered;
        the (server port, ACK) pair, or None."""
        ports = ports or [self.dhcp_ports[int(n[-1]) - 1] for n in self.services]
        mac = bytes([2, 0, 0, 0, client >> 8, client & 0xFF])
        rai = {82: b"\x13\x02" + self.relay_port.to_bytes(2, "big")}
        xid = 0x10000 + client * 2
        self.relay.send(Packet4(op=1, xid=xid, chaddr=mac, giaddr=IPv4Address(RELAY_IP), hops=1,
                                options={53: b"\x01", **rai}), ports)
        offers = yield self._replies(xid, timeout)
        if not offers:
            return None
        port, offer = offers[0]
        self.relay.send(Packet4(op=1, xid=xid + 1, chaddr=mac, giaddr=IPv4Address(RELAY_IP), hops=1,
                                options={53: b"\x03", 50: offer.yiaddr.packed, 54: offer.options[54], **rai}),
                        [port])
        acks = yield self._replies(xid + 1, timeout)
        self.offers = offers
        return (port, acks[0][1]) if acks else None

    @inlineCallbacks
    def _replies(self, xid, timeout):
        waited = 0.0
        while waited < timeout and xid not in self.relay.replies:
            yield deferLater(reactor, 0.05, lambda: None)
            waited += 0.05
        # A little longer: a second server must not answer too.
        yield deferLater(reactor, 0.1, lambda: None)
        return self.relay.replies.get(xid, [])

    def leases(self, name):
        # An SQL store read from here blocks: the test's own connection.
        store = self.services[name].server.sync_store
        return {str(lease.address): lease.hwaddr for lease in store.get_all_leases4() if lease.state == 0}

    @inlineCallbacks
    def start_both(self, state1, state2):
        """Start server1 and server2; wait until they are in these states."""
        self.start(0)
        self.start(1)
        yield self.wait_state("server1", state1)
        yield self.wait_state("server2", state2)

    @inlineCallbacks
    def served_by(self, index, clients):
        """A DORA for each client: only server ``index + 1`` answers."""
        for client in clients:
            result = yield self.dora(client)
            self.testcase.assertEqual(result[0], self.dhcp_ports[index])
            self.testcase.assertEqual(len(self.offers), 1)

    @inlineCallbacks
    def replicated_leases(self):
        """server1's leases, checked to be server2's too once the lease
        updates had time to land."""
        yield deferLater(reactor, 0.5, lambda: None)
        leases = self.leases("server1")
        self.testcase.assertEqual(leases, self.leases("server2"))
        return leases


@inlineCallbacks
def load_balancing_failover_and_return(testcase, pair, clients, partner_down_clients):
    """Both reach load-balancing; each of ``clients`` is answered by
    exactly one server (by the hash); every lease lands on both; server2
    stopped -> server1 partner-down and serves ``partner_down_clients``;
    server2 back -> it syncs -> both load-balancing, no lease lost, no
    address given twice."""
    yield pair.start_both("load-balancing", "load-balancing")
    answered_by = {}
    for client in clients:
        result = yield pair.dora(client)
        testcase.assertIsNotNone(result, f"client {client} got no ACK")
        testcase.assertEqual(len(pair.offers), 1, f"client {client}: {len(pair.offers)} offers")
        answered_by[client] = result[0]
    testcase.assertEqual(len(set(answered_by.values())), 2, "the hash sent every client to one server")
    leases = yield pair.replicated_leases()
    testcase.assertEqual(len(leases), len(clients))

    yield pair.stop("server2")
    yield pair.wait_state("server1", "partner-down", timeout=30)
    for client in partner_down_clients:
        result = yield pair.dora(client)
        testcase.assertIsNotNone(result, f"client {client} not served in partner-down")
    total = len(clients) + len(partner_down_clients)
    testcase.assertEqual(len(pair.leases("server1")), total)

    pair.start(1)
    yield pair.wait_state("server2", "load-balancing", timeout=60)
    yield pair.wait_state("server1", "load-balancing", timeout=30)
    leases1, leases2 = pair.leases("server1"), pair.leases("server2")
    testcase.assertEqual(leases1, leases2)
    testcase.assertEqual(len(leases1), total)
    testcase.assertEqual(len(set(leases1.values())), total, "an address was given to two clients")


class HAPairTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def test_load_balancing_split_updates_failover_and_return(self):
        """Both reach load-balancing; each client is answered by exactly one
        server (by the hash); every lease lands on both; server2 stopped ->
        server1 partner-down and serves everyone; server2 back -> syncs ->
        both load-balancing, no lease lost, no address given twice."""
        yield load_balancing_failover_and_return(self, Pair(self, base=18700), range(1, 13), range(20, 26))

    @inlineCallbacks
    def test_hot_standby(self):
        """Hot-standby: the primary serves every client, the standby none;
        leases reach the standby; the standby takes over when the primary
        stops."""
        pair = Pair(self, mode="hot-standby", base=18710)
        yield pair.start_both("hot-standby", "hot-standby")
        yield pair.served_by(0, range(1, 6))
        yield pair.replicated_leases()
        yield pair.stop("server1")
        yield pair.wait_state("server2", "partner-down", timeout=30)
        result = yield pair.dora(30)
        self.assertEqual(result[0], pair.dhcp_ports[1])

    @inlineCallbacks
    def test_mutual_tls(self):
        """The same pair over HTTPS with mutual TLS (certificates made by the
        test with Kea's rig script) reaches load-balancing and passes leases."""
        if not os.path.exists(MAKE_CERTS) or not shutil.which("openssl"):
            raise SkipTest("needs ../shared/kea-ha-rig/make-certs.sh and openssl")
        tls_dir = os.path.abspath(self.mktemp())
        subprocess.run(["bash", MAKE_CERTS, tls_dir], check=True, capture_output=True,
                       env=dict(os.environ, S1_IP="127.0.1.1", S2_IP="127.0.1.2"))
        pair = Pair(self, tls_dir=tls_dir, base=18720)
        yield pair.start_both("load-balancing", "load-balancing")
        for client in range(1, 7):
            result = yield pair.dora(client)
            self.assertIsNotNone(result)
        yield pair.replicated_leases()

    @inlineCallbacks
    def test_passive_backup(self):
        """Passive-backup: the primary serves every client at once (no
        handshake needed) and sends each lease to the backup, which serves
        nobody."""
        pair = Pair(self, mode="passive-backup", base=18730)
        yield pair.start_both("passive-backup", "backup")
        yield pair.served_by(0, range(1, 6))
        leases = yield pair.replicated_leases()
        self.assertEqual(len(leases), 5)


class HAPairOnPostgreSQLTests(TestCase):
    """The pair with a PostgreSQL lease database each (Kea's HA keeps a
    copy of the leases on each server): the SQL workers are greenlets on
    the reactor thread, where HA's callouts run."""

    timeout = 180

    @inlineCallbacks
    def test_load_balancing_updates_failover_and_sync(self):
        """Both reach load-balancing; every lease is in both databases;
        server2 stopped -> server1 serves everyone; server2 back -> it
        fetches server1's leases page by page into its database -> both
        load-balancing with the same leases, no address given twice."""
        from tests import pgsql_cluster

        cluster = pgsql_cluster.shared_cluster_or_skip()
        pair = Pair(self, base=18740, databases=(cluster.create_kea_database(), cluster.create_kea_database()))
        yield load_balancing_failover_and_return(self, pair, range(1, 11), range(20, 24))
        # The servers' SQL workers were greenlets (HA's callouts use the reactor).
        self.assertTrue(pair.services["server1"].server.cooperative)
