#!/usr/bin/env python3
"""
Side-by-side lease rate (issue 8): real Kea 2.2 (single-threaded, then with
its ``multi-threading`` section) and kea_twisted, started in turn in one run
with the same loopback configuration and driven by the same ``perfdhcp``
ramp.  Run by hand, as root (port 67, a loopback alias for the relay):

    python3 bench/perfdhcp_compare.py                       # 4-way exchanges
    python3 bench/perfdhcp_compare.py --mix                 # + renew/release (-f/-F)
    python3 bench/perfdhcp_compare.py --only kea-twisted --rates 2000,4000

Everything stays on loopback: the servers listen on 127.0.0.1:67, perfdhcp
acts as a relay on 127.0.0.2 (added to ``lo`` if missing, removed at the
end if this script added it).  Each server is started, ramped and stopped
by its PID before the next one starts; every perfdhcp run is bounded by
``-p`` and a timeout.

Per offered rate it records the achieved 4-way exchanges/s (ACKs received
over the sending period; perfdhcp waits 1 s more for late replies), the share
of exchanges left unanswered (1 - ACKs received / DISCOVERs sent; perfdhcp
counts a reply later than 1 s as lost), the median and 99th percentile of
the per-exchange delay (DISCOVER-OFFER and REQUEST-ACK pooled, from
``-x t``), and the server's CPU (user+system time of all its threads over
the run, % of one core) and peak RSS.  It prints a table per server, the
highest rate with < 2.5 % unanswered (ISC's own metric), the saturated rate
(the best achieved rate), and the ratios kea_twisted / Kea, ready for
bench/RESULTS.md.

Not here yet: the HA load-balancing pair with TLS and the restart storm
(``--scenario avalanche``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAY = "127.0.0.2"
SERVER = "127.0.0.1"
KEA = "/usr/sbin/kea-dhcp4"
TWISTD = "/work/venv/bin/twistd"
DEFAULT_RATES = "1000,2000,3000,4000,5000,6000,8000,10000,12000,15000,20000"
UNANSWERED_LIMIT = 2.5  # per cent: ISC's "no drops" metric
CLK_TCK = os.sysconf("SC_CLK_TCK")


def config(workdir: str, *, multi_threading: bool, severity: str) -> dict:
    """The one configuration every server gets (Kea's multi-threading
    section differs only for the "kea-mt" run)."""
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": ["lo/" + SERVER], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": True,
                           "name": os.path.join(workdir, "leases4.csv"), "lfc-interval": 0},
        "valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000,
        "multi-threading": ({"enable-multi-threading": True, "thread-pool-size": 0, "packet-queue-size": 64}
                            if multi_threading else {"enable-multi-threading": False}),
        "subnet4": [{
            "id": 1, "subnet": "10.10.0.0/16", "relay": {"ip-addresses": [RELAY]},
            "pools": [{"pool": "10.10.0.10 - 10.10.255.250"}],
            "option-data": [
                {"name": "routers", "data": "10.10.0.1"},
                {"name": "domain-name-servers", "data": "10.10.0.2, 10.10.0.3"},
                {"name": "domain-name", "data": "example.org"},
            ],
        }],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": os.path.join(workdir, "server.log")}],
                     "severity": severity}],
    }}


# ---------------------------------------------------------------------------
# perfdhcp output

@dataclass
class Exchange:
    sent: int = 0
    received: int = 0
    delays: List[float] = field(default_factory=list)  # ms


@dataclass
class Step:
    offered: int
    achieved: float = 0.0
    exchanges: Dict[str, Exchange] = field(default_factory=dict)
    cpu: float = 0.0  # % of one core
    rss_kb: int = 0
    error: str = ""

    @property
    def unanswered(self) -> float:
        """Per cent of 4-way exchanges started (DISCOVERs) that did not end
        with an ACK."""
        do = self.exchanges.get("DISCOVER-OFFER")
        ra = self.exchanges.get("REQUEST-ACK")
        if do is None or not do.sent:
            return 100.0
        return 100.0 * (1 - (ra.received if ra else 0) / do.sent)

    def delay(self, q: float) -> Optional[float]:
        delays = sorted(d for x in self.exchanges.values() for d in x.delays)
        if not delays:
            return None
        return delays[min(len(delays) - 1, int(q * len(delays)))]


_SECTION = re.compile(r"^\*\*\*Statistics for: (.+?)\*\*\*$")
_TIMESTAMPS = re.compile(r"^\*\*\*Timestamps for packets: (.+?)\*\*\*$")
_STAMP = re.compile(r"^sent / received: (\d+)\.(\d+) / (\d+)\.(\d+)$")


def parse_perfdhcp(text: str, step: Step) -> None:
    m = re.search(r"^Rate: ([\d.]+) 4-way exchanges/second", text, re.M)
    if m:
        step.achieved = float(m.group(1))
    current: Optional[Exchange] = None
    stamps: Optional[Exchange] = None
    for line in text.splitlines():
        s = _SECTION.match(line)
        if s:
            current = step.exchanges.setdefault(s.group(1), Exchange())
            stamps = None
            continue
        t = _TIMESTAMPS.match(line)
        if t:
            stamps = step.exchanges.setdefault(t.group(1), Exchange())
            current = None
            continue
        if stamps is not None:
            p = _STAMP.match(line)
            if p:
                sent = int(p.group(1)) + int(p.group(2)) / 1e6
                recv = int(p.group(3)) + int(p.group(4)) / 1e6
                stamps.delays.append((recv - sent) * 1000.0)
                continue
        if current is not None:
            if line.startswith("sent packets:"):
                current.sent = int(line.split(":")[1])
            elif line.startswith("received packets:"):
                current.received = int(line.split(":")[1])


# ---------------------------------------------------------------------------
# /proc sampling

def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+)", f.read())
    return int(m.group(1)) if m else 0


def port_bound(addr: str, port: int) -> bool:
    want = "%08X:%04X" % (int.from_bytes(bytes(map(int, addr.split("."))), "little"), port)
    with open("/proc/net/udp") as f:
        return any(line.split()[1] == want for line in f.readlines()[1:])


# ---------------------------------------------------------------------------
# one server

SERVERS = {
    "kea-st": ("Kea 2.2 single-threaded", False),
    "kea-mt": ("Kea 2.2 multi-threading", True),
    "kea-twisted": ("kea_twisted", False),
}


def start_server(name: str, workdir: str, severity: str, python: Optional[str]) -> subprocess.Popen:
    path = os.path.join(workdir, "server.json")
    with open(path, "w") as f:
        json.dump(config(workdir, multi_threading=SERVERS[name][1], severity=severity), f, indent=1)
    if name.startswith("kea-twisted"):
        argv = ([python, "-m", "twisted.scripts.twistd"] if python else [TWISTD])
        argv += ["-n", "--pidfile=", "kea4", "-c", path]
    else:
        os.makedirs("/run/kea", exist_ok=True)
        argv = [KEA, "-c", path]
    env = dict(os.environ, KEA_PIDFILE_DIR=workdir, KEA_LOCKFILE_DIR=workdir, PYTHONPATH=ROOT)
    out = open(os.path.join(workdir, "stdout.log"), "w")
    proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env)
    out.close()
    deadline = time.monotonic() + 30
    while not port_bound(SERVER, 67):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            with open(os.path.join(workdir, "stdout.log")) as f:
                tail = f.read()[-2000:]
            raise RuntimeError(f"{name} did not bind {SERVER}:67:\n{tail}")
        time.sleep(0.1)
    time.sleep(0.5)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def run_step(proc: subprocess.Popen, rate: int, args, workdir: str) -> Step:
    step = Step(offered=rate)
    argv = ["perfdhcp", "-4", "-l", RELAY, "-r", str(rate), "-R", str(args.clients),
            "-p", str(args.seconds), "-g", "single", "-W", "1000000", "-x", "t"]
    if args.mix:
        # A fifth of the rate each as renewals and releases of acquired leases.
        argv += ["-f", str(rate // 5), "-F", str(rate // 5)]
    argv.append(SERVER)
    t0, c0 = time.monotonic(), cpu_ticks(proc.pid)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 30)
    except subprocess.TimeoutExpired:
        step.error = "perfdhcp timed out"
        return step
    elapsed = time.monotonic() - t0
    step.cpu = 100.0 * (cpu_ticks(proc.pid) - c0) / CLK_TCK / elapsed
    step.rss_kb = peak_rss_kb(proc.pid)
    with open(os.path.join(workdir, f"perfdhcp-{rate}.out"), "w") as f:
        f.write(done.stdout + done.stderr)
    parse_perfdhcp(done.stdout, step)
    # perfdhcp's own "Rate" divides by the run time plus the -W wait:
    # count the ACKs over the sending period instead.
    ra = step.exchanges.get("REQUEST-ACK")
    step.achieved = (ra.received if ra else 0) / args.seconds
    if done.returncode not in (0, 3):  # 3: drops happened
        step.error = f"perfdhcp exit {done.returncode}: {done.stderr.strip()[-200:]}"
    return step


def ramp(name: str, args, rates: List[int]) -> List[Step]:
    workdir = tempfile.mkdtemp(prefix=f"perfdhcp-{name}-")
    proc = start_server(name, workdir, args.severity, args.python if name == "kea-twisted" else None)
    steps: List[Step] = []
    saturated = 0
    try:
        for rate in rates:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} (logs in {workdir})")
            step = run_step(proc, rate, args, workdir)
            steps.append(step)
            print(f"  {name:12} {fmt_step(step)}", flush=True)
            # Two steps well past saturation are enough: stop the ramp.
            if step.unanswered > 20 or (step.offered and step.achieved < 0.8 * step.offered):
                saturated += 1
                if saturated >= 2:
                    break
            time.sleep(1)
    finally:
        stop_server(proc)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return steps


# ---------------------------------------------------------------------------
# report

def fmt_ms(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}"


def fmt_step(s: Step) -> str:
    return (f"| {s.offered} | {s.achieved:.0f} | {s.unanswered:.2f} % | {fmt_ms(s.delay(0.5))} | "
            f"{fmt_ms(s.delay(0.99))} | {s.cpu:.0f} % | {s.rss_kb / 1024:.0f} MiB |"
            + (f" {s.error}" if s.error else ""))


def summary(steps: List[Step]):
    ok = [s for s in steps if s.unanswered < UNANSWERED_LIMIT and not s.error]
    best_ok = max(ok, key=lambda s: s.achieved, default=None)
    saturated = max(steps, key=lambda s: s.achieved, default=None)
    return best_ok, saturated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default=DEFAULT_RATES, help="offered 4-way exchanges/s, ascending")
    parser.add_argument("--seconds", type=int, default=5, help="perfdhcp -p per step (bounded)")
    parser.add_argument("--clients", type=int, default=20000, help="perfdhcp -R (pool: 65521 addresses)")
    parser.add_argument("--mix", action="store_true", help="renew/release mix: -f and -F at rate/5 each")
    parser.add_argument("--only", default="kea-st,kea-mt,kea-twisted", help="servers, comma separated")
    parser.add_argument("--severity", default="INFO", help="loggers' severity for every server (Kea's default: INFO)")
    parser.add_argument("--python", default=None,
                        help="interpreter for kea_twisted (e.g. a PyPy venv's python); default: /work/venv's twistd")
    parser.add_argument("--keep", action="store_true", help="keep the work directories (logs, perfdhcp output)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("perfdhcp_compare: needs root (port 67 and a loopback alias)", file=sys.stderr)
        return 2
    for tool in ("perfdhcp", KEA):
        if not shutil.which(tool):
            print(f"perfdhcp_compare: {tool} missing", file=sys.stderr)
            return 2
    if port_bound(SERVER, 67):
        print(f"perfdhcp_compare: {SERVER}:67 is already in use", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")]
    names = [n for n in args.only.split(",") if n]
    added_alias = subprocess.run(["ip", "addr", "add", RELAY + "/32", "dev", "lo"],
                                 capture_output=True).returncode == 0
    results: Dict[str, List[Step]] = {}
    try:
        for name in names:
            print(f"{SERVERS[name][0]}:", flush=True)
            results[name] = ramp(name, args, rates)
    finally:
        if added_alias:
            subprocess.run(["ip", "addr", "del", RELAY + "/32", "dev", "lo"], capture_output=True)

    interp = "CPython " + platform.python_version()
    if args.python:
        interp = subprocess.run([args.python, "-c", "import platform,sys; print(platform.python_implementation(), "
                                 "platform.python_version())"], capture_output=True, text=True).stdout.strip()
    print()
    print(f"## perfdhcp side by side ({'4-way + renew/release mix' if args.mix else '4-way exchanges'})")
    print()
    print(f"- Date: {time.strftime('%Y-%m-%d %H:%M')}; machine: {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"- kea_twisted on {interp}; loggers at {args.severity}; perfdhcp -R {args.clients} -p {args.seconds}"
          f"{' -f/-F rate/5' if args.mix else ''}; load average before: {os.getloadavg()[0]:.2f}")
    print()
    for name, steps in results.items():
        print(f"### {SERVERS[name][0]}")
        print()
        print("| offered/s | exchanges/s | unanswered | median ms | p99 ms | CPU | peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for s in steps:
            print(fmt_step(s))
        best_ok, saturated = summary(steps)
        print()
        print(f"highest rate with < {UNANSWERED_LIMIT} % unanswered: "
              f"{best_ok.achieved:.0f}/s (offered {best_ok.offered})" if best_ok else "no step under the limit")
        print(f"saturated rate: {saturated.achieved:.0f}/s" if saturated else "no step")
        print()
    kt = results.get("kea-twisted")
    if kt:
        kt_ok, kt_sat = summary(kt)
        for name in ("kea-st", "kea-mt"):
            if name not in results:
                continue
            ok, sat = summary(results[name])
            parts = []
            if sat and kt_sat and sat.achieved:
                parts.append(f"saturated {kt_sat.achieved / sat.achieved:.2f}")
            if ok and kt_ok and ok.achieved:
                parts.append(f"< {UNANSWERED_LIMIT} % unanswered {kt_ok.achieved / ok.achieved:.2f}")
            print(f"kea_twisted / {SERVERS[name][0]}: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
