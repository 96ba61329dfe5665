#!/usr/bin/env python3
"""
Failover under load (issue 9): an HA load-balancing pair with mutual TLS on
loopback, a bounded stream of relayed DORA exchanges, one server killed with
SIGKILL in the middle of it and restarted; then checks that nothing was lost
and nothing was given twice.  Run by hand, as root (real Kea writes under
its PID/lock directories; both run here in a temporary directory):

    /work/venv/bin/python bench/failover_under_load.py --pair twisted-twisted --kill server2
    /work/venv/bin/python bench/failover_under_load.py --pair twisted-kea --kill server2   # Kea is server2
    /work/venv/bin/python bench/failover_under_load.py --pair kea-twisted --kill server2   # Kea is server1

``--pair A-B``: server1 (primary) is A, server2 (secondary) is B; ``twisted``
is ``twistd -n --pidfile= kea4 -c CFG -p PORT`` from this tree, ``kea`` is
``kea-dhcp4 -c CFG -p PORT``.  Both serve DHCP on 127.0.0.1 (ports base+2,
base+3), HA over HTTPS with client certificates on 127.0.1.1:base and
127.0.1.2:base+1 (certificates from ``../shared/kea-ha-rig/make-certs.sh``).
The client is a relay on 127.0.0.3:base+4 that sends every DISCOVER to both
servers and names its port in option 82 sub-option 19 (RFC 8357), so no port
67 is needed; it records every DHCPACK (address, client, expiry).

Timeline: both reach ``load-balancing``; clients start at ``--rate`` per
second (``--clients`` in all; a client retransmits every second and gives up
after ``--client-timeout`` s); at ``--kill-at`` s the victim gets SIGKILL; the
survivor must reach ``partner-down`` within heartbeat-delay +
max-response-delay (+1 s); ``--down-for`` s later the victim is restarted;
both must be back in ``load-balancing``.  ``--kill server2,server1`` kills
each role in turn, ``--kill-gap`` s after the pair is back.  Then, over the whole run: no
address ACKed to two clients or held by two clients in either lease file or
between the servers, and every ACKed lease present on both servers (by
``lease4-get-all`` over each control socket, and in each ``lease4.csv``) with
the same client and an expiry not earlier than the ACK's.

Everything is loopback, ports base..base+4 (default 18800), processes ended
by PID, the temporary directory removed.  Prints a Markdown section for
``bench/RESULTS.md``; exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.kea_socket import send_command  # noqa: E402  (blocking; no Twisted needed)

MAKE_CERTS = os.path.join(os.path.dirname(ROOT), "shared", "kea-ha-rig", "make-certs.sh")
HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks/"
SERVER_IP = "127.0.0.1"
RELAY_IP = "127.0.0.3"
HA_IPS = ("127.0.1.1", "127.0.1.2")
NAMES = ("server1", "server2")
HEARTBEAT_DELAY = 1000
MAX_RESPONSE_DELAY = 3000
VALID_LIFETIME = 3600


# --- configuration -----------------------------------------------------------

def dhcp4_config(index: int, ports: Dict[str, int], work: str, certs: str) -> Dict[str, Any]:
    name = NAMES[index]
    peers = []
    for i, peer in enumerate(NAMES):
        peers.append({"name": peer, "url": f"http://{HA_IPS[i]}:{ports['ha'][i]}/",
                      "role": ("primary", "secondary")[i], "auto-failover": True,
                      "trust-anchor": os.path.join(certs, "CA.pem"),
                      "cert-file": os.path.join(certs, f"{peer}_cert.pem"),
                      "key-file": os.path.join(certs, f"{peer}_key.pem")})
    ha = {"this-server-name": name, "mode": "load-balancing",
          "heartbeat-delay": HEARTBEAT_DELAY, "max-response-delay": MAX_RESPONSE_DELAY,
          "max-ack-delay": 1000, "max-unacked-clients": 0, "sync-timeout": 30000,
          "multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True,
                              "http-listener-threads": 2, "http-client-threads": 2},
          "trust-anchor": os.path.join(certs, "CA.pem"), "require-client-certs": True,
          "peers": peers}
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": ["lo/" + SERVER_IP], "dhcp-socket-type": "udp"},
        "control-socket": {"socket-type": "unix", "socket-name": os.path.join(work, f"{name}.sock")},
        "lease-database": {"type": "memfile", "persist": True, "lfc-interval": 0,
                           "name": os.path.join(work, f"{name}-leases4.csv")},
        "valid-lifetime": VALID_LIFETIME,
        "multi-threading": {"enable-multi-threading": True, "thread-pool-size": 2, "packet-queue-size": 64},
        "client-classes": [{"name": "s1", "test": "member('HA_server1')"},
                           {"name": "s2", "test": "member('HA_server2')"}],
        "subnet4": [{"id": 1, "subnet": "10.77.0.0/16", "relay": {"ip-addresses": [RELAY_IP]},
                     "pools": [{"pool": "10.77.1.1 - 10.77.2.254", "client-class": "s1"},
                               {"pool": "10.77.3.1 - 10.77.4.254", "client-class": "s2"}]}],
        "hooks-libraries": [
            {"library": HOOKS + "libdhcp_lease_cmds.so"},
            {"library": HOOKS + "libdhcp_ha.so", "parameters": {"high-availability": [ha]}},
        ],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": os.path.join(work, f"{name}.log")}],
                     "severity": "INFO"}],
    }}


class Server:
    """One server process (kea_twisted under twistd, or real kea-dhcp4)."""

    def __init__(self, index: int, kind: str, ports: Dict[str, int], work: str, certs: str):
        self.index, self.kind, self.name = index, kind, NAMES[index]
        self.work = work
        self.port = ports["dhcp"][index]
        self.ha_addr = (HA_IPS[index], ports["ha"][index])
        self.cfgfile = os.path.join(work, f"{self.name}-{kind}.json")
        self.cfg = dhcp4_config(index, ports, work, certs)
        with open(self.cfgfile, "w") as f:
            json.dump(self.cfg, f, indent=2)
        self.sock = self.cfg["Dhcp4"]["control-socket"]["socket-name"]
        self.lease_file = self.cfg["Dhcp4"]["lease-database"]["name"]
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    def argv(self) -> List[str]:
        if self.kind == "kea":
            return ["kea-dhcp4", "-c", self.cfgfile, "-p", str(self.port)]
        return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "kea4", "-c", self.cfgfile, "-p", str(self.port)]

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ, KEA_PIDFILE_DIR=self.work, KEA_LOCKFILE_DIR=self.work,
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.starts += 1
        out = open(os.path.join(self.work, f"{self.name}.out.{self.starts}"), "w")
        self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} ({self.kind}) exited rc={self.proc.returncode}: "
                                   + open(out.name).read()[-2000:])
            try:
                socket.create_connection(self.ha_addr, timeout=0.5).close()
                if os.path.exists(self.sock):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} ({self.kind}) did not open its HA listener in {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if sig == signal.SIGKILL and os.path.exists(self.sock):
            os.unlink(self.sock)    # a killed server leaves its socket file behind

    def command(self, command: str, arguments: Any = None, timeout: float = 10.0) -> Any:
        return send_command(self.sock, command, arguments, timeout=timeout)

    def state(self) -> Optional[str]:
        try:
            answer = self.command("ha-heartbeat", timeout=2.0)
            return (answer or {}).get("arguments", {}).get("state")
        except (OSError, ValueError):
            return None

    def status_state(self) -> Optional[str]:
        answer = self.command("status-get")
        return answer["arguments"]["high-availability"][0]["ha-servers"]["local"]["state"]

    def leases_by_command(self) -> Dict[str, Tuple[str, int]]:
        answer = self.command("lease4-get-all", timeout=30.0)
        out = {}
        for lease in (answer or {}).get("arguments", {}).get("leases", []):
            if lease.get("state", 0) == 0:
                out[lease["ip-address"]] = (lease["hw-address"].lower(), lease["cltt"] + lease["valid-lft"])
        return out


def read_lease_file(path: str) -> Tuple[Dict[str, Tuple[str, int]], Dict[str, set]]:
    """Final (hwaddr, expire) per address, and every hwaddr each address was
    ever written for in a live row (no releases or expiries happen here, so
    two are a double allocation)."""
    final: Dict[str, Tuple[str, int]] = {}
    history: Dict[str, set] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            address = row["address"]
            if int(row["valid_lifetime"] or 0) == 0 or int(row["state"] or 0) != 0:
                final.pop(address, None)
                continue
            hwaddr = row["hwaddr"].lower()
            final[address] = (hwaddr, int(row["expire"]))
            history.setdefault(address, set()).add(hwaddr)
    return final, history


# --- the relay client --------------------------------------------------------

def dhcp_packet(mtype: int, mac: bytes, xid: int, secs: int, relay_port: int,
                requested: Optional[bytes] = None, server_id: Optional[bytes] = None) -> bytes:
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 1, xid, secs, 0, b"\0" * 4, b"\0" * 4,
                         b"\0" * 4, socket.inet_aton(RELAY_IP), mac.ljust(16, b"\0"), b"", b"")
    options = bytes([53, 1, mtype])
    if requested:
        options += bytes([50, 4]) + requested
    if server_id:
        options += bytes([54, 4]) + server_id
    options += bytes([82, 4, 19, 2]) + relay_port.to_bytes(2, "big")
    return header + b"\x63\x82\x53\x63" + options + b"\xff"


def parse_reply(data: bytes) -> Optional[Dict[str, Any]]:
    if len(data) < 240 or data[236:240] != b"\x63\x82\x53\x63":
        return None
    options, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        if i + 1 >= len(data):
            break
        options.setdefault(data[i], data[i + 2:i + 2 + data[i + 1]])
        i += 2 + data[i + 1]
    return {"xid": struct.unpack("!I", data[4:8])[0], "yiaddr": data[16:20],
            "mac": data[28:34], "type": options.get(53, b"\0")[0], "options": options}


class Client:
    __slots__ = ("n", "mac", "state", "xid", "started", "sent", "secs", "offer", "server_port",
                 "discovers", "requests")

    def __init__(self, n: int):
        self.n = n
        self.mac = bytes([0x02, 0x77, 0, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF])
        self.state = "new"
        self.xid = 0
        self.started = self.sent = 0.0
        self.secs = 0
        self.offer: Optional[Dict[str, Any]] = None
        self.server_port = 0
        self.discovers = self.requests = 0


class Load:
    """Starts ``clients`` clients at ``rate``/s; each does DORA through the
    relay socket, retransmitting every second, giving up after
    ``client_timeout`` s.  Every ACK is recorded."""

    def __init__(self, relay_port: int, server_ports: Tuple[int, int], clients: int, rate: float,
                 client_timeout: float):
        self.relay_port = relay_port
        self.server_ports = server_ports
        self.clients = [Client(n) for n in range(1, clients + 1)]
        self.by_xid: Dict[int, Client] = {}
        self.rate = rate
        self.client_timeout = client_timeout
        self.acks: List[Tuple[str, str, float, int, float]] = []   # address, mac, expiry, port, time
        self.naks = 0
        self.multi_offers = 0          # DISCOVERs answered by both servers
        self.offers_seen: Dict[int, set] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((RELAY_IP, relay_port))
        self.sock.setblocking(False)
        self.stop = False
        self.t0 = 0.0
        self.next_xid = 0x1000

    def _send(self, client: Client, now: float) -> None:
        self.next_xid += 1
        client.xid = self.next_xid
        self.by_xid[client.xid] = client
        client.secs = int(now - client.started)
        client.sent = now
        if client.state == "request":
            client.requests += 1
            data = dhcp_packet(3, client.mac, client.xid, client.secs, self.relay_port,
                               client.offer["yiaddr"], client.offer["options"].get(54))
            ports = [client.server_port]
        else:
            client.state = "discover"
            client.discovers += 1
            data = dhcp_packet(1, client.mac, client.xid, client.secs, self.relay_port)
            ports = list(self.server_ports)
        for port in ports:
            try:
                self.sock.sendto(data, (SERVER_IP, port))
            except OSError:
                pass    # ICMP port unreachable reported on a later send: the server is down

    def run(self) -> None:
        self.t0 = time.monotonic()
        hard_end = self.t0 + len(self.clients) / self.rate + self.client_timeout + 5
        started = 0
        while not self.stop and time.monotonic() < hard_end:
            now = time.monotonic()
            while started < len(self.clients) and self.t0 + started / self.rate <= now:
                client = self.clients[started]
                client.started = now
                self._send(client, now)
                started += 1
            active = False
            for client in self.clients[:started]:
                if client.state in ("discover", "request"):
                    active = True
                    if now - client.started > self.client_timeout:
                        client.state = "failed"
                    elif now - client.sent > 1.0:
                        if client.state == "request":
                            client.state = "discover"   # no ACK: start over, as a client does
                        self._send(client, now)
            if started == len(self.clients) and not active:
                break
            readable, _, _ = select.select([self.sock], [], [], 0.02)
            if readable:
                self._drain(time.monotonic())

    def _drain(self, now: float) -> None:
        for _ in range(1000):
            try:
                data, source = self.sock.recvfrom(4096)
            except (BlockingIOError, ConnectionRefusedError):
                return
            except OSError:
                continue
            reply = parse_reply(data)
            if reply is None:
                continue
            client = self.by_xid.get(reply["xid"])
            if client is None or reply["mac"] != client.mac:
                continue
            if reply["type"] == 2:
                self.offers_seen.setdefault(reply["xid"], set()).add(source[1])
                if len(self.offers_seen[reply["xid"]]) == 2:
                    self.multi_offers += 1
                if client.state == "discover" and client.xid == reply["xid"]:
                    client.offer = reply
                    client.server_port = source[1]
                    client.state = "request"
                    self._send(client, now)
            elif reply["type"] == 5 and client.state == "request" and client.xid == reply["xid"]:
                lifetime = struct.unpack("!I", reply["options"].get(51, b"\0\0\0\0"))[0]
                self.acks.append((socket.inet_ntoa(reply["yiaddr"]), client.mac.hex(":"),
                                  time.time() + lifetime, source[1], now - self.t0))
                client.state = "done"
            elif reply["type"] == 6 and client.xid == reply["xid"]:
                self.naks += 1
                client.state = "discover"
                client.sent = 0.0   # DISCOVER again at once


# --- the run -----------------------------------------------------------------

def wait_state(server: Server, wanted: str, timeout: float, poll: float = 0.1) -> Optional[float]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if server.state() == wanted:
            return time.monotonic() - t0
        time.sleep(poll)
    return None


def run(args: argparse.Namespace) -> int:
    kinds = args.pair.split("-")
    base = args.base
    ports = {"ha": (base, base + 1), "dhcp": (base + 2, base + 3), "relay": base + 4}
    work = tempfile.mkdtemp(prefix="failover-")
    servers: List[Server] = []
    result: Dict[str, Any] = {"pair": args.pair}
    try:
        certs = os.path.join(work, "certs")
        subprocess.run(["bash", MAKE_CERTS, certs], check=True, capture_output=True,
                       env=dict(os.environ, S1_IP=HA_IPS[0], S2_IP=HA_IPS[1]))
        for entry in os.listdir(certs):
            if entry.endswith("_key.pem"):
                os.chmod(os.path.join(certs, entry), 0o600)   # private keys: owner only
        servers = [Server(i, kinds[i], ports, work, certs) for i in range(2)]
        for server in servers:
            server.start()
        for server in servers:
            if wait_state(server, "load-balancing", 60) is None:
                raise RuntimeError(f"{server.name} not in load-balancing after 60 s: {server.state()}")
        victims = args.kill.split(",")
        result["victim_kinds"] = [servers[NAMES.index(v)].kind for v in victims]
        bound = (HEARTBEAT_DELAY + MAX_RESPONSE_DELAY) / 1000 + 1.0
        result["partner_down_bound_s"] = bound
        kills: List[Dict[str, Any]] = []

        load = Load(ports["relay"], ports["dhcp"], args.clients, args.rate, args.client_timeout)
        thread = threading.Thread(target=load.run, daemon=True)
        thread.start()
        time.sleep(args.kill_at)
        for number, name in enumerate(victims):
            if number:
                time.sleep(args.kill_gap)   # both back in load-balancing for a while
            victim = servers[NAMES.index(name)]
            survivor = servers[1 - NAMES.index(name)]
            acks_before_kill = len(load.acks)
            victim.kill(signal.SIGKILL)
            killed_at = time.monotonic()
            down = wait_state(survivor, "partner-down", 30, poll=0.05)
            time.sleep(max(0.0, args.down_for - (time.monotonic() - killed_at)))
            acks_while_down = len(load.acks) - acks_before_kill
            restarted_at = time.monotonic()
            victim.start()
            back = []
            for server in (victim, survivor):
                t = wait_state(server, "load-balancing", 90)
                back.append(None if t is None else time.monotonic() - restarted_at)
            kills.append({"victim": name, "kind": victim.kind, "partner_down_s": down,
                          "back_to_lb_s": None if None in back else max(back),
                          "acks_before_kill": acks_before_kill, "acks_while_down": acks_while_down,
                          "load_time_s": killed_at - load.t0})
        result["kills"] = kills
        thread.join(len(load.clients) / args.rate + args.client_timeout + 30)
        load.stop = True
        thread.join(5)
        time.sleep(2.0)    # the last lease updates

        # status-get must agree with ha-heartbeat
        states = {s.name: s.status_state() for s in servers}
        by_command = {s.name: s.leases_by_command() for s in servers}
        for server in servers:
            server.kill(signal.SIGTERM)
        files = {s.name: read_lease_file(s.lease_file) for s in servers}

        # --- checks
        holders: Dict[str, set] = {}
        for address, mac, _, _, _ in load.acks:
            holders.setdefault(address, set()).add(mac)
        doubles = {a for a, macs in holders.items() if len(macs) > 1}
        for name in NAMES:
            final, history = files[name]
            doubles |= {a for a, macs in history.items() if len(macs) > 1}
            doubles |= {a for a, (mac, _) in by_command[name].items() if holders.get(a, {mac}) != {mac}}
        for a in set(files["server1"][0]) & set(files["server2"][0]):
            if files["server1"][0][a][0] != files["server2"][0][a][0]:
                doubles.add(a)
        lost = []
        for address, mac, expiry, _, _ in load.acks:
            for name in NAMES:
                for source, table in (("lease4-get-all", by_command[name]), ("lease4.csv", files[name][0])):
                    held = table.get(address)
                    if held is None or held[0] != mac or held[1] < int(expiry) - 2:
                        lost.append((name, source, address, mac, held))
        answered = sum(1 for c in load.clients if c.state == "done")
        result.update({
            "clients": len(load.clients), "answered": answered,
            "unanswered": len(load.clients) - answered,
            "discovers": sum(c.discovers for c in load.clients),
            "requests": sum(c.requests for c in load.clients),
            "exchanges": sum(c.discovers for c in load.clients),
            "acks": len(load.acks), "naks": load.naks, "multi_offers": load.multi_offers,
            "acks_by_port": {p: sum(1 for a in load.acks if a[3] == p) for p in ports["dhcp"]},
            "final_states": states,
            "leases": {n: (len(by_command[n]), len(files[n][0])) for n in NAMES},
            "lost": len(lost), "lost_sample": lost[:5], "doubles": len(doubles),
            "doubles_sample": sorted(doubles)[:5],
            "kills_survived": sum(1 for k in kills if k["partner_down_s"] is not None
                                  and k["partner_down_s"] <= bound and k["back_to_lb_s"] is not None),
        })
    finally:
        for server in servers:
            try:
                server.kill(signal.SIGTERM)
            except Exception:
                pass
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(result)
    ok = (result["lost"] == 0 and result["doubles"] == 0 and result["unanswered"] == 0
          and result["kills_survived"] == len(result["kills"])
          and all(s == "load-balancing" for s in result["final_states"].values()))
    print(f"\nresult: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def fmt(value: Optional[float]) -> str:
    return "never" if value is None else f"{value:.1f} s"


def report(r: Dict[str, Any]) -> None:
    kinds = r["pair"].split("-")
    label = {"twisted": "kea_twisted", "kea": "Kea 2.2"}
    victims = ", then ".join(f"{k['victim']} ({label[k['kind']]}) at {k['load_time_s']:.0f} s"
                             for k in r["kills"])
    print(f"#### server1 = {label[kinds[0]]}, server2 = {label[kinds[1]]}; SIGKILL {victims}\n")
    print("| figure | value |\n|---|---|")
    rows = [
        ("clients (DORA each, retransmit 1 s)", r["clients"]),
        ("exchanges tried (DISCOVERs sent / REQUESTs sent)", f"{r['discovers']} / {r['requests']}"),
        ("ACKs (per kill: before it / while partner down)", f"{r['acks']} ("
         + "; ".join(f"{k['acks_before_kill']} / {k['acks_while_down']}" for k in r["kills"]) + ")"),
        ("ACKs per server port", ", ".join(f"{p}: {n}" for p, n in r["acks_by_port"].items())),
        ("NAKs; DISCOVERs offered by both", f"{r['naks']}; {r['multi_offers']}"),
        ("clients answered / not", f"{r['answered']} / {r['unanswered']}"),
        ("kills survived", f"{r['kills_survived']} of {len(r['kills'])}"),
        ("time to partner-down, per kill (bound)",
         ", ".join(fmt(k["partner_down_s"]) for k in r["kills"]) + f" ({r['partner_down_bound_s']:.1f} s)"),
        ("time from restart to both load-balancing, per kill", ", ".join(fmt(k["back_to_lb_s"]) for k in r["kills"])),
        ("final states (status-get)", ", ".join(f"{k}: {v}" for k, v in r["final_states"].items())),
        ("leases held (lease4-get-all / lease4.csv)",
         ", ".join(f"{k}: {a} / {b}" for k, (a, b) in r["leases"].items())),
        ("leases lost (must be 0)", r["lost"]),
        ("double allocations (must be 0)", r["doubles"]),
    ]
    for name, value in rows:
        print(f"| {name} | {value} |")
    if r["lost"]:
        print(f"\nlost (sample): {r['lost_sample']}")
    if r["doubles"]:
        print(f"\ndoubles (sample): {r['doubles_sample']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", choices=["twisted-twisted", "twisted-kea", "kea-twisted", "kea-kea"],
                        default="twisted-twisted")
    parser.add_argument("--kill", default="server2",
                        help="server(s) to SIGKILL in turn, comma-separated: server2 or server2,server1")
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--rate", type=float, default=6.0, help="new clients per second")
    parser.add_argument("--kill-at", type=float, default=12.0, help="seconds into the load")
    parser.add_argument("--down-for", type=float, default=10.0, help="seconds from kill to restart")
    parser.add_argument("--kill-gap", type=float, default=5.0,
                        help="seconds in load-balancing between one restart and the next kill")
    parser.add_argument("--client-timeout", type=float, default=30.0)
    parser.add_argument("--base", type=int, default=18800, help="first of five ports (18800-18849)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    if not 18800 <= args.base <= 18845:
        parser.error("--base must keep ports within 18800-18849")
    if not args.kill or any(v not in NAMES for v in args.kill.split(",")):
        parser.error("--kill takes server1 and/or server2, comma-separated")
    if os.geteuid() != 0:
        print("warning: not root; real Kea needs root", file=sys.stderr)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
