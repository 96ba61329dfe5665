"""
An HA pair with Kea 2.2's defaults (issue 11): kea_twisted as ``server1``
and a real ``kea-dhcp4`` 2.2 as ``server2``, each behind its own real
``kea-ctrl-agent`` 2.2, in load-balancing.  The HA section has no
``multi-threading`` (and DHCP multi-threading is off), so neither server
opens an HA listener of its own: each peer's ``url`` is the *agent* in front
of that peer, and the partner's heartbeats, lease updates and sync requests
arrive through that agent (``"service": ["dhcp4"]``, answered as a list).

Pinned, over plain HTTP and over the agents' TLS (mutual: each agent has
``cert-required``, each HA client presents a certificate from the test CA):

* kea_twisted opens no TCP listener at all (checked in /proc before its
  agent starts, and its agent then binds the peer URL's address);
* both servers reach ``load-balancing`` (``ha-heartbeat`` through each agent);
* relayed DORAs: each server answers the clients of its own scope, and each
  lease then appears on the other server (``lease4-get`` through its agent);
* Kea stopped: kea_twisted goes to ``partner-down`` and serves a client of
  Kea's scope, renewing the address Kea had given it.

Processes (``Process`` from tests/test_ctrl_agent.py, output read by a
thread, waits on conditions): DHCP on 127.0.0.1 (kea_twisted and Kea on
different ``-p`` ports), agents on 127.0.1.1 / 127.0.1.2, a relay socket on
127.0.0.3 that names its own port in option 82 (RFC 8357 sub-option 19) so
replies come back to it.  Ports 18850-18869.  Every process is ended by its
PID in a cleanup.  Skips without kea-dhcp4 / kea-ctrl-agent / the hook
libraries / openssl, or when not root (Kea's DHCP socket).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from ipaddress import IPv4Address
from typing import Any, Dict, List, Optional, Set, Tuple

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from kea_twisted.packet import Packet4, decode, encode
from tests.test_cli import ROOT, cli_command
from tests.test_ctrl_agent import KEA_CTRL_AGENT, KEA_DHCP4, Process, start, write_json

HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks/"
LEASE_CMDS = HOOKS + "libdhcp_lease_cmds.so"
HA = HOOKS + "libdhcp_ha.so"
MAKE_CERTS = os.path.join(os.path.dirname(ROOT), "shared", "kea-ha-rig", "make-certs.sh")

SERVER_IP = "127.0.0.1"
RELAY_IP = "127.0.0.3"
AGENT_IPS = ("127.0.1.1", "127.0.1.2")
NAMES = ("server1", "server2")

#: HA timers (ms): short, so that start-up and failover take seconds.
HEARTBEAT_DELAY = 1000
MAX_RESPONSE_DELAY = 3000

#: Bounds (seconds), reached only on failure.
HTTP_TIMEOUT = 20.0
STATE_TIMEOUT = 60.0
REPLY_TIMEOUT = 3.0

#: Clients sent through the pair: enough that both scopes get some.
CLIENTS = range(1, 13)


def require() -> None:
    for path in (KEA_DHCP4, KEA_CTRL_AGENT):
        if not os.access(path, os.X_OK):
            raise SkipTest(f"{path} (Kea 2.2) is not installed")
    for path in (LEASE_CMDS, HA):
        if not os.path.exists(path):
            raise SkipTest(f"{path} (Kea 2.2 hook library) is not installed")
    if os.geteuid() != 0:
        raise SkipTest("kea-dhcp4 needs root for its DHCP socket")


# -- configuration ------------------------------------------------------------------

def ha_section(name: str, agent_ports: Tuple[int, int], certs: Optional[str]) -> Dict[str, Any]:
    """Kea 2.2's defaults: no ``multi-threading`` map, so no dedicated
    listener; each peer's URL is its agent.  With ``certs``, each peer
    entry names that peer's files (Kea's client presents the *partner's*
    entry's certificate, which the partner's agent checks against the CA)."""
    scheme = "https" if certs else "http"
    peers = []
    for index, (peer, role) in enumerate(zip(NAMES, ("primary", "secondary"))):
        entry: Dict[str, Any] = {"name": peer, "url": f"{scheme}://{AGENT_IPS[index]}:{agent_ports[index]}/",
                                 "role": role, "auto-failover": True}
        if certs:
            entry.update({"trust-anchor": os.path.join(certs, "CA.pem"),
                          "cert-file": os.path.join(certs, f"{peer}_cert.pem"),
                          "key-file": os.path.join(certs, f"{peer}_key.pem")})
        peers.append(entry)
    return {"this-server-name": name, "mode": "load-balancing", "heartbeat-delay": HEARTBEAT_DELAY,
            "max-response-delay": MAX_RESPONSE_DELAY, "max-ack-delay": 1000, "max-unacked-clients": 0,
            "sync-timeout": 10000, "peers": peers}


def dhcp4_config(name: str, directory: str, agent_ports: Tuple[int, int],
                 certs: Optional[str]) -> Dict[str, Any]:
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": ["lo/" + SERVER_IP], "dhcp-socket-type": "udp"},
        "control-socket": {"socket-type": "unix", "socket-name": os.path.join(directory, "ctrl")},
        "lease-database": {"type": "memfile", "persist": True, "lfc-interval": 0,
                           "name": os.path.join(directory, "leases.csv")},
        "multi-threading": {"enable-multi-threading": False},
        "valid-lifetime": 3600,
        "client-classes": [{"name": "s1", "test": "member('HA_server1')"},
                           {"name": "s2", "test": "member('HA_server2')"}],
        "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "relay": {"ip-addresses": [RELAY_IP]},
                     "pools": [{"pool": "192.0.2.10 - 192.0.2.59", "client-class": "s1"},
                               {"pool": "192.0.2.60 - 192.0.2.109", "client-class": "s2"}]}],
        "hooks-libraries": [
            {"library": LEASE_CMDS},
            {"library": HA, "parameters": {"high-availability": [ha_section(name, agent_ports, certs)]}},
        ],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
    }}


def agent_config(directory: str, host: str, port: int, tls: Optional[Tuple[str, str, str]]) -> Dict[str, Any]:
    agent: Dict[str, Any] = {
        "http-host": host, "http-port": port,
        "control-sockets": {"dhcp4": {"socket-type": "unix", "socket-name": os.path.join(directory, "ctrl")}},
        "loggers": [{"name": "kea-ctrl-agent", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
    }
    if tls:
        agent.update({"trust-anchor": tls[0], "cert-file": tls[1], "key-file": tls[2], "cert-required": True})
    return {"Control-agent": agent}


# -- what is listening -----------------------------------------------------------------

def listening_tcp_ports(pid: int) -> Set[Tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that process
    ``pid`` holds (its fds' socket inodes matched against /proc/net/tcp)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.add((str(IPv4Address(bytes.fromhex(address)[::-1])), int(port, 16)))
    return found


# -- the pair ---------------------------------------------------------------------------

class Pair:
    """server1 (kea_twisted) and server2 (Kea), each with its agent, and a
    relay socket.  ``base``: agents on base, base+1; DHCP on base+2,
    base+3; the relay on base+4."""

    def __init__(self, case: SynchronousTestCase, base: int, tls: bool):
        self.case = case
        self.dir = tempfile.mkdtemp(prefix="kea-hca-")
        os.chmod(self.dir, 0o755)
        case.addCleanup(shutil.rmtree, self.dir, True)
        self.certs: Optional[str] = None
        if tls:
            self.certs = os.path.join(self.dir, "certs")
            if shutil.which("openssl") is None:
                raise SkipTest("openssl is not installed (test certificates)")
            subprocess.run(["bash", MAKE_CERTS, self.certs], check=True, capture_output=True, timeout=120)
        self.agent_ports = (base, base + 1)
        self.dhcp_ports = (base + 2, base + 3)
        self.relay_port = base + 4
        self.relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        case.addCleanup(self.relay.close)
        self.relay.bind((RELAY_IP, self.relay_port))
        self.dhcp: Dict[str, Process] = {}
        self.agents: Dict[str, Process] = {}

    def directory(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def env(self, name: str) -> Dict[str, str]:
        directory = self.directory(name)
        return dict(os.environ, KEA_PIDFILE_DIR=directory, KEA_LOCKFILE_DIR=directory,
                    PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def start_server(self, index: int) -> Process:
        name = NAMES[index]
        directory = self.directory(name)
        os.makedirs(directory)
        config = write_json(os.path.join(directory, "dhcp4.json"),
                            dhcp4_config(name, directory, self.agent_ports, self.certs))
        head = cli_command() if index == 0 else [KEA_DHCP4]
        process = start(self.case, [*head, "-c", config, "-p", str(self.dhcp_ports[index])], self.env(name))
        process.wait_for(r"DHCP4_STARTED")
        self.dhcp[name] = process
        return process

    def start_agent(self, index: int) -> Process:
        name = NAMES[index]
        directory = self.directory(name)
        tls = None
        if self.certs:
            tls = (os.path.join(self.certs, "CA.pem"), os.path.join(self.certs, f"{name}_cert.pem"),
                   os.path.join(self.certs, f"{name}_key.pem"))
        config = write_json(os.path.join(directory, "agent.json"),
                            agent_config(directory, AGENT_IPS[index], self.agent_ports[index], tls))
        process = start(self.case, [KEA_CTRL_AGENT, "-c", config], self.env(name))
        process.wait_for(r"CTRL_AGENT_STARTED")
        self.agents[name] = process
        return process

    # -- commands through an agent ---------------------------------------------------

    def command(self, name: str, command: str, arguments: Any = None) -> Dict[str, Any]:
        """``command`` for ``name``'s DHCP server through its agent (with a
        client certificate over TLS); the single answer in the list."""
        index = NAMES.index(name)
        body: Dict[str, Any] = {"command": command, "service": ["dhcp4"]}
        if arguments is not None:
            body["arguments"] = arguments
        host, port = AGENT_IPS[index], self.agent_ports[index]
        if self.certs:
            context = ssl.create_default_context(cafile=os.path.join(self.certs, "CA.pem"))
            context.check_hostname = False
            context.load_cert_chain(os.path.join(self.certs, "client_cert.pem"),
                                    os.path.join(self.certs, "client_key.pem"))
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=HTTP_TIMEOUT, context=context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT)
        try:
            connection.request("POST", "/", body=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read().decode())
        finally:
            connection.close()
        self.case.assertIsInstance(answer, list, f"{name} {command}: {answer!r}")
        self.case.assertEqual(len(answer), 1, f"{name} {command}: {answer!r}")
        return answer[0]

    def state(self, name: str) -> Optional[str]:
        return self.command(name, "ha-heartbeat").get("arguments", {}).get("state")

    def wait_state(self, name: str, wanted: str) -> None:
        """Wait for ``name``'s HA_STATE_TRANSITION line into ``wanted``
        (a condition wait on its output), then confirm with ha-heartbeat
        through the agent."""
        self.dhcp[name].wait_for(rf"HA_STATE_TRANSITION.* to {wanted.upper()} state", timeout=STATE_TIMEOUT)
        self.case.assertEqual(self.state(name), wanted, name)

    # -- DHCP through the relay ---------------------------------------------------------

    def _send(self, packet: Packet4, ports: List[int]) -> None:
        data = encode(packet)
        for port in ports:
            self.relay.sendto(data, (SERVER_IP, port))

    def _replies(self, xid: int) -> List[Tuple[int, Packet4]]:
        """Replies with ``xid`` until none came for REPLY_TIMEOUT (the
        first may take that long; a second server must not answer too)."""
        replies = []
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return replies
            self.relay.settimeout(remaining)
            try:
                data, (_, port) = self.relay.recvfrom(4096)
            except socket.timeout:
                return replies
            packet = decode(data)
            if packet.xid == xid:
                replies.append((port, packet))
                # One reply is expected; wait a short while for a second.
                deadline = min(deadline, time.monotonic() + 0.3)

    def dora(self, client: int, ports: List[int]) -> Optional[Tuple[int, Packet4]]:
        """DISCOVER to each of ``ports``, REQUEST to the server that
        offered; (that server's port, the ACK) or None."""
        mac = bytes([2, 0, 0, 0, client >> 8, client & 0xFF])
        rai = {82: b"\x13\x02" + self.relay_port.to_bytes(2, "big")}
        xid = 0x20000 + client * 2
        self._send(Packet4(op=1, xid=xid, chaddr=mac, giaddr=IPv4Address(RELAY_IP), hops=1,
                           options={53: b"\x01", **rai}), ports)
        offers = self._replies(xid)
        if not offers:
            return None
        self.case.assertEqual(len(offers), 1, f"client {client}: more than one offer")
        port, offer = offers[0]
        self._send(Packet4(op=1, xid=xid + 1, chaddr=mac, giaddr=IPv4Address(RELAY_IP), hops=1,
                           options={53: b"\x03", 50: offer.yiaddr.packed, 54: offer.options[54], **rai}), [port])
        acks = [(p, a) for p, a in self._replies(xid + 1) if a.options.get(53) == b"\x05"]
        return acks[0] if acks else None


def mac_text(client: int) -> str:
    return ":".join(f"{b:02x}" for b in bytes([2, 0, 0, 0, client >> 8, client & 0xFF]))


class HAThroughAgentsTests(SynchronousTestCase):
    """kea_twisted (server1) + Kea 2.2 (server2), HA through kea-ctrl-agent."""

    def run_pair(self, base: int, tls: bool) -> None:
        require()
        pair = Pair(self, base, tls)
        ours = pair.start_server(0)
        # Kea's rule: no HA listener without HA multi-threading; kea_twisted
        # then listens on no TCP port at all (its control socket is unix).
        self.assertEqual(listening_tcp_ports(ours.pid), set())
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((AGENT_IPS[0], pair.agent_ports[0]), timeout=HTTP_TIMEOUT).close()
        agent = pair.start_agent(0)
        pair.start_server(1)
        pair.start_agent(1)
        self.assertEqual(listening_tcp_ports(ours.pid), set())
        self.assertEqual(listening_tcp_ports(agent.pid), {(AGENT_IPS[0], pair.agent_ports[0])})

        for name in NAMES:
            pair.wait_state(name, "load-balancing")

        # Each client is answered by exactly one server (the load-balancing
        # hash), from its own pool; the lease is then on both servers.
        served: Dict[int, Tuple[str, str]] = {}
        for client in CLIENTS:
            result = pair.dora(client, list(pair.dhcp_ports))
            self.assertIsNotNone(result, f"client {client}: no ACK")
            port, ack = result
            name = NAMES[pair.dhcp_ports.index(port)]
            address = str(ack.yiaddr)
            last = int(address.rsplit(".", 1)[1])
            self.assertEqual(name, "server1" if 10 <= last <= 59 else "server2", f"client {client}: {address}")
            served[client] = (name, address)
        self.assertEqual({name for name, _ in served.values()}, set(NAMES), served)
        for client, (name, address) in served.items():
            for other in NAMES:
                answer = pair.command(other, "lease4-get", {"ip-address": address})
                self.assertEqual(answer.get("result"), 0, f"{other}: {address}: {answer!r}")
                self.assertEqual(answer["arguments"]["hw-address"], mac_text(client), other)
                self.assertEqual(answer["arguments"]["state"], 0, other)
        # The partner's lease updates came in through each agent (the test
        # itself sends neither command).
        for name in NAMES:
            pair.agents[name].wait_for(r"COMMAND_RECEIVED.*'lease4-(update|bulk-apply)'")

        # Kea stops (its agent stays, answering "server is likely offline"):
        # kea_twisted takes over Kea's scope.
        pair.dhcp["server2"].stop()
        pair.wait_state("server1", "partner-down")
        kea_clients = [client for client, (name, _) in served.items() if name == "server2"]
        client = kea_clients[0]
        result = pair.dora(client, list(pair.dhcp_ports))
        self.assertIsNotNone(result, f"client {client} of Kea's scope: no ACK in partner-down")
        port, ack = result
        self.assertEqual(port, pair.dhcp_ports[0])
        self.assertEqual(str(ack.yiaddr), served[client][1])
        # kea_twisted still opened no listener of its own.
        self.assertEqual(listening_tcp_ports(ours.pid), set())

    def test_plain_http(self):
        """Start-up to load-balancing, lease updates both ways and failover
        with both agents on plain HTTP; kea_twisted opens no TCP listener."""
        self.run_pair(18850, tls=False)

    def test_agent_tls(self):
        """The same with each agent on TLS requiring client certificates
        and the HA peers' TLS files in the HA section (https:// URLs)."""
        self.run_pair(18860, tls=True)
