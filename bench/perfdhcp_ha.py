"""
HA load-balancing pair with mutual TLS, side by side (issue 8): two real
Kea 2.2 (``libdhcp_ha.so`` + ``libdhcp_lease_cmds.so``), then two
kea_twisted with the same configuration (the same ``hooks-libraries``
paths, which kea_twisted maps to its built-in HA and lease_cmds plugins),
each pair ramped by the same perfdhcp load.  Run through
``perfdhcp_compare.py --mode ha`` (as root).

Addresses (loopback aliases, added if missing and removed at the end if
added here): DHCP on 127.0.0.11:67 (server1) and 127.0.0.12:67 (server2);
HA listeners https://127.0.1.11:18911/ and https://127.0.1.12:18912/ (the
peers' ``url`` is ``http://`` as in Kea's examples: the TLS parameters turn
TLS on); relays 127.0.0.21 and 127.0.0.22, both listed in the subnet's
``relay.ip-addresses``.

Kea's load balancing needs every client packet at both servers (each
answers only the clients its hash gives it).  The driver is two perfdhcp
instances started together with the same rate, client count and seed, one
relaying from 127.0.0.21 to server1 and one from 127.0.0.22 to server2.
perfdhcp numbers its clients' MACs sequentially from the base MAC (checked:
two instances with the same ``-R`` send the same MAC sequence, xid for
xid), so both servers see the same clients in the same order, as behind
a relay with two ``helper-address`` lines.  Each instance sees the other
server's half of its DISCOVERs unanswered (about 50 % "drops" each, by
design).  Per step: achieved exchanges/s = ACKs of both instances over the
sending period; unanswered = 1 - (ACKs of both) / (DISCOVERs of the
instance that sent more); delays pool both instances' answered exchanges;
CPU is both servers' user+system time (% of one core, summed), RSS each
server's peak.  No forwarder process is involved, so the only extra CPU is
the second perfdhcp (perfdhcp costs about a core at high rates: on this
2-core machine the client side competes with the servers, for both pairs
alike).

Multi-threading: Kea 2.2 opens an HA listener of its own only with HA
``multi-threading`` (``enable-multi-threading`` + ``http-dedicated-listener``),
which it accepts only with DHCP multi-threading on; without it the partner
must go through a ``kea-ctrl-agent`` per server (and TLS there).  Both
pairs therefore run Kea's recommended HA+MT shape (Kea's
``ha-load-balancing-server1-mt-with-tls.json``): DHCP ``multi-threading``
on (``thread-pool-size`` 0 = one per core, ``packet-queue-size`` 64), HA
``multi-threading`` on with a dedicated listener and automatic thread
counts.  kea_twisted reads the same section (its HA listener then binds
the peer URL; thread counts are accepted and the reactor serves).

Before a pair is driven both servers must report ``load-balancing`` to
``ha-heartbeat`` over their control sockets.  After the pair's ramp, it
reports the HA state of each server after every step (a server leaving
``load-balancing`` under load is a finding), and compares the two lease
files: every live lease should be in both, with the same client (lease
updates); an address held by two clients would be a double allocation.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import perfdhcp_compare as pc

sys.path.insert(0, pc.ROOT)
from tests.kea_socket import send_command  # noqa: E402  (blocking; no Twisted needed)

HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks/"
MAKE_CERTS = os.path.join(os.path.dirname(pc.ROOT), "shared", "kea-ha-rig", "make-certs.sh")
NAMES = ("server1", "server2")
DHCP_ADDRS = ("127.0.0.11", "127.0.0.12")
RELAY_ADDRS = ("127.0.0.21", "127.0.0.22")
HA_LISTENERS = (("127.0.1.11", 18911), ("127.0.1.12", 18912))
HEARTBEAT_DELAY = 2000      # ms; Kea's default 10000 only makes the start slower
MAX_RESPONSE_DELAY = 10000  # ms
LOAD_BALANCING_TIMEOUT = 120.0  # s for both servers to reach load-balancing

PAIRS = {
    "kea": "Kea 2.2 HA pair",
    "kea-twisted": "kea_twisted HA pair",
    # Both servers under --pypy's interpreter.
    "kea-twisted-pypy": "kea_twisted HA pair on PyPy",
}


def ha_config(index: int, work: str, certs: str, severity: str) -> dict:
    """The configuration of server1 (index 0) or server2 (index 1); the
    same for both pairs."""
    name = NAMES[index]
    peers = [{"name": peer, "url": "http://%s:%d/" % HA_LISTENERS[i],
              "role": ("primary", "secondary")[i],
              "trust-anchor": os.path.join(certs, "CA.pem"),
              "cert-file": os.path.join(certs, f"{peer}_cert.pem"),
              "key-file": os.path.join(certs, f"{peer}_key.pem")}
             for i, peer in enumerate(NAMES)]
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": ["lo/" + DHCP_ADDRS[index]], "dhcp-socket-type": "udp"},
        "control-socket": {"socket-type": "unix", "socket-name": os.path.join(work, f"{name}.sock")},
        "lease-database": {"type": "memfile", "persist": True, "lfc-interval": 0,
                           "name": os.path.join(work, f"{name}-leases4.csv")},
        "valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000,
        "multi-threading": {"enable-multi-threading": True, "thread-pool-size": 0, "packet-queue-size": 64},
        "hooks-libraries": [
            {"library": HOOKS + "libdhcp_lease_cmds.so"},
            {"library": HOOKS + "libdhcp_ha.so", "parameters": {"high-availability": [{
                "this-server-name": name, "mode": "load-balancing",
                "heartbeat-delay": HEARTBEAT_DELAY, "max-response-delay": MAX_RESPONSE_DELAY,
                # Mutual TLS: a global HA parameter in Kea 2.2 (default true).
                "require-client-certs": True,
                "multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True,
                                    "http-listener-threads": 0, "http-client-threads": 0},
                "peers": peers}]}},
        ],
        "subnet4": [{
            "id": 1, "subnet": "10.10.0.0/16", "relay": {"ip-addresses": list(RELAY_ADDRS)},
            # Load balancing: each server allocates from its own half only.
            "pools": [{"pool": "10.10.0.10 - 10.10.127.254", "client-class": "HA_server1"},
                      {"pool": "10.10.128.1 - 10.10.255.250", "client-class": "HA_server2"}],
            "option-data": [
                {"name": "routers", "data": "10.10.0.1"},
                {"name": "domain-name-servers", "data": "10.10.0.2, 10.10.0.3"},
                {"name": "domain-name", "data": "example.org"},
            ],
        }],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": os.path.join(work, f"{name}.log")}],
                     "severity": severity}],
    }}


def make_certs(work: str) -> str:
    """A throw-away CA and the two peers' certificates (SANs name the HA
    listener addresses; Kea checks only the CA)."""
    certs = os.path.join(work, "certs")
    env = dict(os.environ, S1_IP=HA_LISTENERS[0][0], S2_IP=HA_LISTENERS[1][0])
    subprocess.run(["bash", MAKE_CERTS, certs], env=env, check=True, capture_output=True, timeout=120)
    return certs


class HAServer:
    """One server of a pair: real kea-dhcp4 or kea_twisted under twistd."""

    def __init__(self, index: int, kind: str, work: str, certs: str, args):
        self.index, self.kind, self.name = index, kind, NAMES[index]
        self.work = work
        self.cfgfile = os.path.join(work, f"{self.name}.json")
        self.cfg = ha_config(index, work, certs, args.severity)
        with open(self.cfgfile, "w") as f:
            json.dump(self.cfg, f, indent=1)
        self.sock = self.cfg["Dhcp4"]["control-socket"]["socket-name"]
        self.lease_file = self.cfg["Dhcp4"]["lease-database"]["name"]
        self.python = pc.python_for(args, kind)
        self.proc: Optional[subprocess.Popen] = None

    def argv(self) -> List[str]:
        if self.kind == "kea":
            return [pc.KEA, "-c", self.cfgfile]
        return pc.twistd_argv(self.python) + ["-n", "--pidfile=", "kea4", "-c", self.cfgfile]

    def start(self) -> None:
        env = pc.server_env(self.work)
        out = open(os.path.join(self.work, f"{self.name}.out"), "w")
        self.proc = subprocess.Popen(self.argv(), cwd=self.work, stdout=out, stderr=subprocess.STDOUT, env=env)
        out.close()

    def wait_ready(self, deadline: float) -> None:
        """Until DHCP, the control socket and the HA listener are all open."""
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} {self.name} exited rc={self.proc.returncode}: "
                                   + self.output_tail())
            if (pc.port_bound(DHCP_ADDRS[self.index], 67) and os.path.exists(self.sock)
                    and self.listener_open()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} {self.name} not ready: " + self.output_tail())
            time.sleep(0.1)

    def listener_open(self) -> bool:
        try:
            socket.create_connection(HA_LISTENERS[self.index], timeout=0.5).close()
            return True
        except OSError:
            return False

    def output_tail(self) -> str:
        parts = []
        for path in (os.path.join(self.work, f"{self.name}.out"), os.path.join(self.work, f"{self.name}.log")):
            try:
                with open(path, errors="replace") as f:
                    parts.append(f.read()[-1500:])
            except FileNotFoundError:
                pass
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc is not None:
            pc.stop_server(self.proc)
            self.proc = None

    def command(self, command: str, timeout: float = 5.0) -> dict:
        return send_command(self.sock, command, timeout=timeout)

    def state(self) -> str:
        try:
            return str(self.command("ha-heartbeat").get("arguments", {}).get("state"))
        except (OSError, ValueError) as e:
            return f"? ({e.__class__.__name__})"


def wait_load_balancing(servers: List[HAServer], timeout: float) -> float:
    """Seconds until both servers answer ``ha-heartbeat`` with
    ``load-balancing``."""
    t0 = time.monotonic()
    while True:
        states = [s.state() for s in servers]
        if all(st == "load-balancing" for st in states):
            return time.monotonic() - t0
        for s in servers:
            if s.proc.poll() is not None:
                raise RuntimeError(f"{s.kind} {s.name} exited: " + s.output_tail())
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"not in load-balancing after {timeout:.0f} s: {states}")
        time.sleep(0.5)


# ---------------------------------------------------------------------------
# one step: two perfdhcp instances, one per server

@dataclass
class HAStep(pc.Step):
    acks: Tuple[int, int] = (0, 0)          # ACKs from server1, server2
    cpus: Tuple[float, float] = (0.0, 0.0)  # % of one core each
    rss: Tuple[int, int] = (0, 0)           # peak RSS KiB each
    states: Tuple[str, str] = ("", "")      # HA states after the step


def merge(step: HAStep, parts: List[pc.Step]) -> None:
    """Both instances' counts as one load: the DISCOVERs of one instance
    (the clients), the ACKs of both."""
    do = pc.Exchange(sent=max(p.exchanges.get("DISCOVER-OFFER", pc.Exchange()).sent for p in parts))
    ra = pc.Exchange()
    for p in parts:
        part_do = p.exchanges.get("DISCOVER-OFFER", pc.Exchange())
        part_ra = p.exchanges.get("REQUEST-ACK", pc.Exchange())
        do.received += part_do.received
        do.delays += part_do.delays
        ra.sent += part_ra.sent
        ra.received += part_ra.received
        ra.delays += part_ra.delays
    step.exchanges = {"DISCOVER-OFFER": do, "REQUEST-ACK": ra}
    step.acks = tuple(p.exchanges.get("REQUEST-ACK", pc.Exchange()).received for p in parts)


def run_ha_step(servers: List[HAServer], rate: int, args, work: str) -> HAStep:
    step = HAStep(offered=rate)
    procs, outs = [], []
    t0 = time.monotonic()
    c0 = [pc.cpu_ticks(s.proc.pid) for s in servers]
    try:
        for i in range(2):
            argv = ["perfdhcp", "-4", "-l", RELAY_ADDRS[i], "-r", str(rate), "-R", str(args.clients),
                    "-p", str(args.seconds), "-g", "single", "-W", "1000000", "-x", "t",
                    "-s", str(args.seed), DHCP_ADDRS[i]]
            out = open(os.path.join(work, f"perfdhcp-{rate}-{NAMES[i]}.out"), "w+")
            outs.append(out)
            procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + args.seconds + 30
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                step.error = "perfdhcp timed out"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    elapsed = time.monotonic() - t0
    step.cpus = tuple(100.0 * (pc.cpu_ticks(s.proc.pid) - c) / pc.CLK_TCK / elapsed for s, c in zip(servers, c0))
    step.cpu = sum(step.cpus)
    step.rss = tuple(pc.peak_rss_kb(s.proc.pid) for s in servers)
    step.rss_kb = max(step.rss)
    parts = []
    for p, out in zip(procs, outs):
        out.seek(0)
        part = pc.Step(offered=rate)
        pc.parse_perfdhcp(out.read(), part)
        out.close()
        parts.append(part)
        if p.returncode not in (0, 3) and not step.error:  # 3: drops (the partner's half, here)
            step.error = f"perfdhcp exit {p.returncode}"
    merge(step, parts)
    step.achieved = sum(step.acks) / args.seconds
    step.states = tuple(s.state() for s in servers)
    return step


# ---------------------------------------------------------------------------
# lease files after the ramp

def live_leases(path: str) -> Dict[str, str]:
    """address -> hwaddr of the last row of each address, if live."""
    leases: Dict[str, str] = {}
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if int(row["valid_lifetime"] or 0) == 0 or int(row["state"] or 0) != 0:
                    leases.pop(row["address"], None)
                else:
                    leases[row["address"]] = row["hwaddr"].lower()
    except FileNotFoundError:
        pass
    return leases


COUNTERS = ("pkt4-received", "pkt4-ack-sent", "pkt4-receive-drop")


def server_counters(server: HAServer) -> str:
    """A few of the server's own statistics over the whole ramp (drops
    include the packets parked beyond ``parked-packet-limit``)."""
    try:
        stats = server.command("statistic-get-all", timeout=10.0).get("arguments", {})
        return ", ".join(f"{name} {stats[name][0][0]}" for name in COUNTERS if name in stats)
    except (OSError, ValueError, AttributeError) as e:
        return f"statistics unavailable ({e.__class__.__name__})"


def compare_lease_files(servers: List[HAServer]) -> str:
    one, two = (live_leases(s.lease_file) for s in servers)
    both = set(one) & set(two)
    differ = sum(1 for a in both if one[a] != two[a])
    clients = {}
    for leases in (one, two):
        for address, hwaddr in leases.items():
            clients.setdefault(hwaddr, set()).add(address)
    multi = sum(1 for addresses in clients.values() if len(addresses) > 1)
    return (f"lease files: server1 {len(one)} live, server2 {len(two)} live, {len(both)} in both, "
            f"{len(set(one) ^ set(two))} in one only, {differ} with different clients, "
            f"{multi} clients holding more than one address")


# ---------------------------------------------------------------------------
# a pair's ramp, and the whole mode

def ramp_pair(kind: str, args, rates: List[int], certs: str, work: str) -> Tuple[List[HAStep], str]:
    servers = [HAServer(i, kind, work, certs, args) for i in range(2)]
    steps: List[HAStep] = []
    try:
        for s in servers:
            s.start()
        deadline = time.monotonic() + 60
        for s in servers:
            s.wait_ready(deadline)
        took = wait_load_balancing(servers, LOAD_BALANCING_TIMEOUT)
        print(f"  both in load-balancing after {took:.1f} s", flush=True)
        if args.warmup > 0:
            # As perfdhcp_compare.warm_up: every pair alike, not reported
            # (a PyPy pair's JIT warms over ~20 s of load on the HA path).
            warm_args = argparse.Namespace(**dict(vars(args), seconds=args.warmup))
            warm = run_ha_step(servers, rates[0], warm_args, work)
            print(f"  {kind:12} warm-up {args.warmup} s (not reported) {fmt_ha_step(warm)}", flush=True)
            time.sleep(1)
        saturated = 0
        for rate in rates:
            for s in servers:
                if s.proc.poll() is not None:
                    raise RuntimeError(f"{s.name} exited with {s.proc.returncode}: " + s.output_tail())
            step = run_ha_step(servers, rate, args, work)
            steps.append(step)
            print(f"  {kind:12} {fmt_ha_step(step)}", flush=True)
            if step.unanswered > 20 or step.achieved < 0.8 * step.offered:
                saturated += 1
                if saturated >= 2:
                    break
            time.sleep(1)
        # Let the last lease updates land before the servers stop (an
        # update cut by the partner's SIGTERM is not a finding).
        time.sleep(3)
        counters = "; ".join(f"{s.name}: {server_counters(s)}" for s in servers)
    finally:
        for s in servers:
            s.stop()
    return steps, compare_lease_files(servers) + "\n" + counters


def fmt_ha_step(s: HAStep) -> str:
    return (f"| {s.offered} | {s.achieved:.0f} | {s.unanswered:.2f} % | {pc.fmt_ms(s.delay(0.5))} | "
            f"{pc.fmt_ms(s.delay(0.99))} | {s.cpus[0]:.0f} + {s.cpus[1]:.0f} % | "
            f"{s.rss[0] / 1024:.0f} / {s.rss[1] / 1024:.0f} MiB | {s.acks[0]} / {s.acks[1]} | "
            f"{s.states[0]} / {s.states[1]} |" + (f" {s.error}" if s.error else ""))


def run(args) -> int:
    """``--mode ha``: both pairs in turn, then the table."""
    pairs = [p for p in args.pairs.split(",") if p]
    for p in pairs:
        if p not in PAIRS:
            print(f"perfdhcp_compare: unknown pair {p!r} (kea, kea-twisted, kea-twisted-pypy)", file=sys.stderr)
            return 2
    for addr, port in [(a, 67) for a in DHCP_ADDRS] + [(a, 67) for a in RELAY_ADDRS]:
        if pc.port_bound(addr, port):
            print(f"perfdhcp_compare: {addr}:{port} is already in use", file=sys.stderr)
            return 2
    rates = [int(r) for r in args.rates.split(",")]
    work = tempfile.mkdtemp(prefix="perfdhcp-ha-")
    results: Dict[str, Tuple[List[HAStep], str]] = {}
    load_before = os.getloadavg()[0]
    addresses = list(DHCP_ADDRS) + list(RELAY_ADDRS) + [a for a, _ in HA_LISTENERS]
    try:
        with pc.loopback_aliases(addresses):
            certs = make_certs(work)
            for kind in pairs:
                print(f"{PAIRS[kind]}:", flush=True)
                pair_work = os.path.join(work, kind)
                os.makedirs(pair_work)
                results[kind] = ramp_pair(kind, args, rates, certs, pair_work)
                print(f"  {results[kind][1]}", flush=True)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("## perfdhcp side by side: HA load-balancing pair, mutual TLS")
    print()
    print(f"- Date: {time.strftime('%Y-%m-%d %H:%M')}; machine: {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"- kea_twisted on {pc.interpreter(args.python)}; loggers at {args.severity}; two perfdhcp -R {args.clients} "
          f"-p {args.seconds} -s {args.seed} (one per server, same clients); DHCP and HA multi-threading on "
          f"for both pairs{pc.warmup_note(args, rates)}; load average before: {load_before:.2f}")
    print()
    for kind, (steps, leases) in results.items():
        print(f"### {PAIRS[kind]}")
        print()
        print("| offered/s | exchanges/s | unanswered | median ms | p99 ms | CPU s1 + s2 | peak RSS s1 / s2 "
              "| ACKs s1 / s2 | HA state after |")
        print("|---|---|---|---|---|---|---|---|---|")
        for s in steps:
            print(fmt_ha_step(s))
        best_ok, saturated = pc.summary(steps)
        print()
        print(f"highest rate with < {pc.UNANSWERED_LIMIT} % unanswered: "
              f"{best_ok.achieved:.0f}/s (offered {best_ok.offered})" if best_ok else "no step under the limit")
        print(f"saturated rate: {saturated.achieved:.0f}/s" if saturated else "no step")
        print()
        print(leases)
        print()
    for kt_name in pc.KEA_TWISTED_NAMES:
        if "kea" in results and kt_name in results:
            print(f"{PAIRS[kt_name]} / Kea pair: " + pc.ratio_text(results[kt_name][0], results["kea"][0]))
    return 0
