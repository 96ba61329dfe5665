#!/usr/bin/env python3
"""
Side-by-side lease rate (issue 8): real Kea 2.2 (single-threaded, then with
its ``multi-threading`` section) and kea_twisted, started in turn in one run
with the same loopback configuration and driven by the same ``perfdhcp``
ramp.  Run by hand, as root (port 67, a loopback alias for the relay):

    python3 bench/perfdhcp_compare.py                       # 4-way exchanges
    python3 bench/perfdhcp_compare.py --mix                 # + renew/release (-f/-F)
    python3 bench/perfdhcp_compare.py --only kea-twisted --rates 2000,4000
    python3 bench/perfdhcp_compare.py --python .venv-pypy3/bin/python --warmup 10   # on PyPy, JIT warmed
    python3 bench/perfdhcp_compare.py --scenario avalanche --clients 5000   # restart storm
    python3 bench/perfdhcp_compare.py --mode ha --rates 500,1000,2000     # HA pairs, TLS

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

``--scenario avalanche`` (restart storm): each server in turn gets all
``--clients`` at once from perfdhcp's avalanche scenario, which retransmits
(1, 2, 4 ... 64 s apart, +-1 s) until every client has its ACK; reported:
the time to serve them all, retransmissions, server CPU and RSS (bounded by
``--avalanche-timeout``).  ``--mode ha``: a load-balancing pair with mutual
TLS, two Kea then two kea_twisted, driven by two perfdhcp instances (see
bench/perfdhcp_ha.py for addresses and method).  ``--server-addr`` /
``--relay-addr`` move the single-server runs off 127.0.0.1 / 127.0.0.2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from kea_twisted.pypy_gc import PYPY_GC_SETTINGS  # noqa: E402  (standard library only)

RELAY = "127.0.0.2"
SERVER = "127.0.0.1"
KEA = "/usr/sbin/kea-dhcp4"
TWISTD = "/work/venv/bin/twistd"
DEFAULT_RATES = "1000,2000,3000,4000,5000,6000,8000,10000,12000,15000,20000"
UNANSWERED_LIMIT = 2.5  # per cent: ISC's "no drops" metric
CLK_TCK = os.sysconf("SC_CLK_TCK")


def dhcp4_config(workdir: str, *, server: str, relay: str, lease_database: dict, severity: str,
                 multi_threading: Optional[dict] = None, net: str = "10.10",
                 pool_last: Optional[str] = None) -> dict:
    """The benches' server configuration: one relayed ``net``.0.0/16
    subnet with three options and a pool up to ``pool_last`` (default
    ``net``.255.250), Kea's timers, one logger to ``workdir/server.log``;
    ``multi_threading`` (Kea's section) only when given.  perfdhcp_compare,
    pgsql_compare and hotpath_profile give their servers this one."""
    dhcp4: dict = {
        "interfaces-config": {"interfaces": ["lo/" + server], "dhcp-socket-type": "udp"},
        "lease-database": lease_database,
        "valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000,
    }
    if multi_threading is not None:
        dhcp4["multi-threading"] = multi_threading
    dhcp4["subnet4"] = [{
        "id": 1, "subnet": f"{net}.0.0/16", "relay": {"ip-addresses": [relay]},
        "pools": [{"pool": f"{net}.0.10 - " + (pool_last or f"{net}.255.250")}],
        "option-data": [
            {"name": "routers", "data": f"{net}.0.1"},
            {"name": "domain-name-servers", "data": f"{net}.0.2, {net}.0.3"},
            {"name": "domain-name", "data": "example.org"},
        ],
    }]
    dhcp4["loggers"] = [{"name": "kea-dhcp4", "output_options": [{"output": os.path.join(workdir, "server.log")}],
                         "severity": severity}]
    return {"Dhcp4": dhcp4}


def memfile_database(workdir: str) -> dict:
    """A lease file in ``workdir``, written through, no LFC during a run."""
    return {"type": "memfile", "persist": True, "name": os.path.join(workdir, "leases4.csv"), "lfc-interval": 0}


def config(workdir: str, *, multi_threading: bool, severity: str) -> dict:
    """The one configuration every server gets (Kea's multi-threading
    section differs only for the "kea-mt" run)."""
    return dhcp4_config(
        workdir, server=SERVER, relay=RELAY, lease_database=memfile_database(workdir), severity=severity,
        multi_threading=({"enable-multi-threading": True, "thread-pool-size": 0, "packet-queue-size": 64}
                         if multi_threading else {"enable-multi-threading": False}))


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


def stamp_seconds(whole: str, fraction: str) -> float:
    """perfdhcp prints packet times since its start with Boost's
    ``to_iso_string``: ``HHMMSS.ffffff`` (``000105.250000`` is 65.25 s)."""
    n = int(whole)
    return n // 10000 * 3600 + n // 100 % 100 * 60 + n % 100 + int(fraction) / 10 ** len(fraction)


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
                sent = stamp_seconds(p.group(1), p.group(2))
                recv = stamp_seconds(p.group(3), p.group(4))
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
    # The same server under the interpreter of --pypy, in the same run as
    # the others, so that CPython, PyPy and Kea are compared under one load.
    "kea-twisted-pypy": ("kea_twisted on PyPy", False),
}

KEA_TWISTED_NAMES = ("kea-twisted", "kea-twisted-pypy")


def python_for(args, name: str) -> Optional[str]:
    """The interpreter that runs server ``name`` (None: Kea, or the default)."""
    if name == "kea-twisted-pypy":
        return args.pypy
    return args.python if name == "kea-twisted" else None


def start_server(name: str, workdir: str, severity: str, python: Optional[str]) -> subprocess.Popen:
    path = os.path.join(workdir, "server.json")
    with open(path, "w") as f:
        json.dump(config(workdir, multi_threading=SERVERS[name][1], severity=severity), f, indent=1)
    if name.startswith("kea-twisted"):
        argv = twistd_argv(python)
        argv += ["-n", "--pidfile=", "kea4", "-c", path]
    else:
        os.makedirs("/run/kea", exist_ok=True)
        argv = [KEA, "-c", path]
    return launch(name, argv, workdir, SERVER)


def server_env(workdir: str) -> Dict[str, str]:
    """A server's environment: its PID and lock files in ``workdir``, this
    tree's kea_twisted, and PyPy's GC settings as the README says to run
    PyPy (:data:`PYPY_GC_SETTINGS` where not set; CPython and Kea ignore
    them)."""
    env = dict(PYPY_GC_SETTINGS)
    env.update(os.environ)
    env.update(KEA_PIDFILE_DIR=workdir, KEA_LOCKFILE_DIR=workdir, PYTHONPATH=ROOT)
    return env


def launch(name: str, argv: List[str], workdir: str, server: str, **env: str) -> subprocess.Popen:
    """Start a server (output to ``workdir/stdout.log``, its PID and lock
    files in ``workdir``, ``env`` added to the environment) and wait until
    it has bound ``server``:67; stopped and its output raised if it exits
    or takes more than 30 s."""
    env = dict(server_env(workdir), **env)
    out = open(os.path.join(workdir, "stdout.log"), "w")
    proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env)
    out.close()
    deadline = time.monotonic() + 30
    while not port_bound(server, 67):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            with open(os.path.join(workdir, "stdout.log")) as f:
                tail = f.read()[-2000:]
            raise RuntimeError(f"{name} did not bind {server}:67:\n{tail}")
        time.sleep(0.1)
    time.sleep(0.5)
    return proc


def stop_server(proc: subprocess.Popen, term_wait: float = 15, kill_wait: float = 15) -> None:
    """SIGTERM, up to ``term_wait`` s for the server to end, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=term_wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=kill_wait)


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


def warm_up(name: str, proc: subprocess.Popen, args, rate: int, workdir: str, *,
            step: Optional[Callable[..., Step]] = None, fmt: Optional[Callable[[Step], str]] = None,
            width: int = 12) -> None:
    """``--warmup``: one perfdhcp run of that many seconds at the ramp's
    first rate, before the ramp, for every server alike; its figures are
    printed and left out of the report.  PyPy's JIT compiles the hot path
    during the first few thousand packets, which would otherwise count
    against the first step (and the ramp stops after two bad steps).
    ``step(proc, rate, args, workdir)`` and ``fmt``: another bench's step
    runner and its row (bench/pgsql_compare.py); by default this one's."""
    warm_args = argparse.Namespace(**dict(vars(args), seconds=args.warmup))
    done = (step or run_step)(proc, rate, warm_args, workdir)
    os.replace(os.path.join(workdir, f"perfdhcp-{rate}.out"), os.path.join(workdir, "perfdhcp-warmup.out"))
    print(f"  {name:{width}} warm-up {args.warmup} s (not reported) {(fmt or fmt_step)(done)}", flush=True)
    time.sleep(1)


def warmup_note(args, rates: List[int]) -> str:
    return f"; each server warmed up {args.warmup} s at {rates[0]}/s first" if args.warmup > 0 else ""


def ramp(name: str, args, rates: List[int]) -> List[Step]:
    workdir = tempfile.mkdtemp(prefix=f"perfdhcp-{name}-")
    proc = start_server(name, workdir, args.severity, python_for(args, name))
    steps: List[Step] = []
    saturated = 0
    try:
        if args.warmup > 0:
            warm_up(name, proc, args, rates[0], workdir)
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


def print_ramp(title: str, steps: List[Step], columns: Sequence[str] = (),
               fmt: Optional[Callable[[Step], str]] = None) -> None:
    """One server's ramp as a Markdown table under ``title`` (``columns``
    after the common ones, each row by ``fmt``), then its two rates."""
    heads = ["offered/s", "exchanges/s", "unanswered", "median ms", "p99 ms", "CPU", "peak RSS", *columns]
    print(title)
    print()
    print("| " + " | ".join(heads) + " |")
    print("|" + "---|" * len(heads))
    for s in steps:
        print((fmt or fmt_step)(s))
    best_ok, saturated = summary(steps)
    print()
    print(f"highest rate with < {UNANSWERED_LIMIT} % unanswered: "
          f"{best_ok.achieved:.0f}/s (offered {best_ok.offered})" if best_ok else "no step under the limit")
    print(f"saturated rate: {saturated.achieved:.0f}/s" if saturated else "no step")
    print()


def summary(steps: List[Step]):
    ok = [s for s in steps if s.unanswered < UNANSWERED_LIMIT and not s.error]
    best_ok = max(ok, key=lambda s: s.achieved, default=None)
    saturated = max(steps, key=lambda s: s.achieved, default=None)
    return best_ok, saturated


# ---------------------------------------------------------------------------
# helpers shared with the other modes (bench/perfdhcp_ha.py)

def twistd_argv(python: Optional[str]) -> List[str]:
    """How to start twistd: with ``--python``, that interpreter runs
    twistd's ``run()`` (``-m twisted.scripts.twistd`` does nothing: the
    module has no ``__main__`` block); else this tree's venv's twistd, or
    /work/venv's."""
    if python:
        return [python, "-c", "from twisted.scripts.twistd import run; run()"]
    local = os.path.join(ROOT, ".venv", "bin", "twistd")
    return [TWISTD if os.path.exists(TWISTD) or not os.path.exists(local) else local]


def interpreter(python: Optional[str]) -> str:
    if not python:
        return "CPython " + platform.python_version()
    return subprocess.run([python, "-c", "import platform; print(platform.python_implementation(), "
                           "platform.python_version())"], capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def loopback_aliases(addresses: List[str]):
    """Adds the addresses to ``lo`` (Kea's ``lo/<addr>`` needs the address
    on the interface, perfdhcp ``-l`` binds it); removes at the end those
    that were added here."""
    present = subprocess.run(["ip", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
    added = []
    try:
        for addr in addresses:
            if f"inet {addr}/" in present or addr in added:
                continue
            if subprocess.run(["ip", "addr", "add", addr + "/32", "dev", "lo"], capture_output=True).returncode == 0:
                added.append(addr)
        yield
    finally:
        for addr in added:
            subprocess.run(["ip", "addr", "del", addr + "/32", "dev", "lo"], capture_output=True)


def ratio_text(twisted_steps: List[Step], kea_steps: List[Step]) -> str:
    kt_ok, kt_sat = summary(twisted_steps)
    ok, sat = summary(kea_steps)
    parts = []
    if sat and kt_sat and sat.achieved:
        parts.append(f"saturated {kt_sat.achieved / sat.achieved:.2f}")
    if ok and kt_ok and ok.achieved:
        parts.append(f"< {UNANSWERED_LIMIT} % unanswered {kt_ok.achieved / ok.achieved:.2f}")
    return ", ".join(parts) or "no comparable step"


# ---------------------------------------------------------------------------
# restart storm: perfdhcp --scenario avalanche

@dataclass
class Avalanche:
    clients: int
    seconds: Optional[float] = None  # perfdhcp's "It took": all clients served in this time
    packets_sent: int = 0
    retransmissions: int = 0
    exchanges: Dict[str, Exchange] = field(default_factory=dict)
    served_at: List[float] = field(default_factory=list)  # s from the first DISCOVER to each ACK, sorted
    cpu: float = 0.0  # % of one core
    rss_kb: int = 0
    error: str = ""

    def served(self, share: float) -> Optional[float]:
        """Seconds until ``share`` of the clients had their ACK (the time
        to serve all is a tail: one client unlucky five times waits
        1+2+4+8+16 s, whatever the server)."""
        n = int(share * self.clients + 0.999999)
        if n < 1 or len(self.served_at) < n:
            return None
        return self.served_at[n - 1]

    @property
    def acks(self) -> int:
        ra = self.exchanges.get("REQUEST-ACK")
        return ra.received if ra else 0

    @property
    def discovers(self) -> int:
        do = self.exchanges.get("DISCOVER-OFFER")
        return do.sent if do else 0


_AVALANCHE_TOOK = re.compile(r"^It took (\d+):(\d+):([\d.]+) to provision (\d+) clients", re.M)
_AVALANCHE_SENT = re.compile(r"^Requests sent \+ resent: (\d+)", re.M)
_AVALANCHE_RESENT = re.compile(r"^Requests resent: (\d+)", re.M)


def parse_avalanche(text: str, run: Avalanche) -> None:
    """perfdhcp's closing lines (Kea 2.2: "It took 00:00:03.224585 to
    provision 1000 clients." then "Requests sent + resent: N" and
    "Requests resent: N"), and its per-exchange counters (their "sent"
    counts first sends only)."""
    counts = Step(offered=0)
    parse_perfdhcp(text, counts)
    run.exchanges = counts.exchanges
    m = _AVALANCHE_TOOK.search(text)
    if m:
        run.seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    m = _AVALANCHE_SENT.search(text)
    if m:
        run.packets_sent = int(m.group(1))
    m = _AVALANCHE_RESENT.search(text)
    if m:
        run.retransmissions = int(m.group(1))
    first_sent, acked, section = None, [], None
    for line in text.splitlines():
        t = _TIMESTAMPS.match(line)
        if t:
            section = t.group(1)
            continue
        if line.startswith("***"):
            section = None
            continue
        p = _STAMP.match(line) if section in ("DISCOVER-OFFER", "REQUEST-ACK") else None
        if p:
            sent = stamp_seconds(p.group(1), p.group(2))
            if section == "DISCOVER-OFFER":
                first_sent = sent if first_sent is None else min(first_sent, sent)
            else:
                acked.append(stamp_seconds(p.group(3), p.group(4)))
    if first_sent is not None:
        run.served_at = sorted(a - first_sent for a in acked)


def run_avalanche(proc: subprocess.Popen, args, workdir: str) -> Avalanche:
    """All ``--clients`` start at once; perfdhcp retransmits each DISCOVER
    or REQUEST (1, 2, 4 … 64 s ± 1 s) until every client has its ACK.  It
    has no time limit of its own: at ``--avalanche-timeout`` it gets SIGINT
    (it then prints what it has) and the run counts as not complete."""
    run = Avalanche(clients=args.clients)
    argv = ["perfdhcp", "-4", "-l", RELAY, "-R", str(args.clients), "--scenario", "avalanche",
            "-g", "single", "-x", "t", SERVER]
    path = os.path.join(workdir, "perfdhcp-avalanche.out")
    t0, c0 = time.monotonic(), cpu_ticks(proc.pid)
    with open(path, "w+") as out:
        perf = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            perf.wait(timeout=args.avalanche_timeout)
        except subprocess.TimeoutExpired:
            run.error = f"not all served in {args.avalanche_timeout} s"
            perf.send_signal(signal.SIGINT)
            try:
                perf.wait(timeout=15)
            except subprocess.TimeoutExpired:
                perf.kill()
                perf.wait()
        elapsed = time.monotonic() - t0
        run.cpu = 100.0 * (cpu_ticks(proc.pid) - c0) / CLK_TCK / elapsed
        run.rss_kb = peak_rss_kb(proc.pid)
        out.seek(0)
        parse_avalanche(out.read(), run)
    if run.error:
        run.seconds = None  # interrupted: "It took" is the time until SIGINT
    elif perf.returncode != 0:
        run.error = f"perfdhcp exit {perf.returncode}"
    elif run.seconds is None:
        run.error = "no 'It took' line in perfdhcp's output"
    return run


def avalanche_all(args, names: List[str]) -> Dict[str, Avalanche]:
    results: Dict[str, Avalanche] = {}
    for name in names:
        workdir = tempfile.mkdtemp(prefix=f"perfdhcp-avalanche-{name}-")
        proc = start_server(name, workdir, args.severity, python_for(args, name))
        try:
            results[name] = run_avalanche(proc, args, workdir)
        finally:
            stop_server(proc)
        print(f"  {name:12} {fmt_avalanche(results[name])}", flush=True)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        time.sleep(1)
    return results


def fmt_avalanche(r: Avalanche) -> str:
    took = f"{r.seconds:.2f} s" if r.seconds is not None else "not complete"
    half, most = (f"{v:.2f} s" if v is not None else "-" for v in (r.served(0.5), r.served(0.95)))
    return (f"| {r.clients} | {half} | {most} | {took} | {r.retransmissions} | {r.discovers} | {r.acks} | {r.cpu:.0f} % | "
            f"{r.rss_kb / 1024:.0f} MiB |" + (f" {r.error}" if r.error else ""))


def report_avalanche(args, results: Dict[str, Avalanche], load_before: float) -> None:
    print()
    print("## perfdhcp side by side: restart storm (`--scenario avalanche`)")
    print()
    print(f"- Date: {time.strftime('%Y-%m-%d %H:%M')}; machine: {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"- kea_twisted on {interpreter(args.python)}; loggers at {args.severity}; perfdhcp -R {args.clients} "
          f"--scenario avalanche -g single, bounded by {args.avalanche_timeout} s; load average before: "
          f"{load_before:.2f}")
    print()
    print("| server | clients | 50 % served | 95 % served | all served | retransmissions | DISCOVERs (first sends) "
          "| ACKs | CPU | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {SERVERS[name][0]} " + fmt_avalanche(r))
    kt = results.get("kea-twisted")
    if not kt:
        return
    print()
    for name in ("kea-st", "kea-mt"):
        r = results.get(name)
        if not r:
            continue
        parts = []
        for label, kea_t, kt_t in (("95 % served", r.served(0.95), kt.served(0.95)),
                                   ("all served", r.seconds, kt.seconds)):
            if kea_t and kt_t:
                parts.append(f"{label} {kea_t / kt_t:.2f}")
        print(f"{SERVERS[name][0]} time / kea_twisted time: " + (", ".join(parts) or "not comparable"))


# ---------------------------------------------------------------------------
# mode selection

def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("single", "ha"), default="single",
                        help="single server (default) or an HA load-balancing pair with TLS (bench/perfdhcp_ha.py)")
    parser.add_argument("--scenario", choices=("basic", "avalanche"), default="basic",
                        help="avalanche: all --clients at once, retransmitting until served (single server only)")
    parser.add_argument("--avalanche-timeout", type=int, default=120, help="bound of one avalanche run (s)")
    parser.add_argument("--pairs", default="kea,kea-twisted", help="--mode ha: pairs, comma separated")
    parser.add_argument("--seed", type=int, default=1, help="--mode ha: perfdhcp -s of both instances")
    parser.add_argument("--server-addr", default=SERVER, help="single server: DHCP address (a loopback address)")
    parser.add_argument("--relay-addr", default=RELAY, help="single server: perfdhcp's relay address")


def use_addresses(args) -> None:
    global SERVER, RELAY
    SERVER, RELAY = args.server_addr, args.relay_addr


def run_other_mode(args) -> Optional[int]:
    """``--mode ha`` or ``--scenario avalanche``; None for the ramp."""
    if args.mode == "ha":
        if args.scenario != "basic" or args.mix:
            print("perfdhcp_compare: --mode ha runs the basic 4-way ramp only", file=sys.stderr)
            return 2
        import perfdhcp_ha
        return perfdhcp_ha.run(args)
    if args.scenario == "avalanche":
        if port_bound(SERVER, 67):
            print(f"perfdhcp_compare: {SERVER}:67 is already in use", file=sys.stderr)
            return 2
        names = [n for n in args.only.split(",") if n]
        load_before = os.getloadavg()[0]
        with loopback_aliases([SERVER, RELAY]):
            results = avalanche_all(args, names)
        report_avalanche(args, results, load_before)
        return 0
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default=DEFAULT_RATES, help="offered 4-way exchanges/s, ascending")
    parser.add_argument("--seconds", type=int, default=5, help="perfdhcp -p per step (bounded)")
    parser.add_argument("--clients", type=int, default=20000, help="perfdhcp -R (pool: 65521 addresses)")
    parser.add_argument("--mix", action="store_true", help="renew/release mix: -f and -F at rate/5 each")
    parser.add_argument("--only", default="kea-st,kea-mt,kea-twisted", help="servers, comma separated")
    parser.add_argument("--severity", default="INFO", help="loggers' severity for every server (Kea's default: INFO)")
    parser.add_argument("--python", default=None,
                        help="interpreter for kea_twisted (e.g. a PyPy venv's python); default: /work/venv's twistd, else this tree's .venv")
    parser.add_argument("--keep", action="store_true", help="keep the work directories (logs, perfdhcp output)")
    parser.add_argument("--pypy", default=None, metavar="PYTHON",
                        help="interpreter of the kea-twisted-pypy server (a PyPy venv's python, e.g. "
                             ".venv-pypy3/bin/python); add kea-twisted-pypy to --only")
    parser.add_argument("--warmup", type=int, default=0, metavar="SECONDS",
                        help="ramp: a perfdhcp run of SECONDS at the first rate before the ramp, every server alike, "
                             "not reported (PyPy's JIT warm-up); default 0: none")
    add_mode_arguments(parser)
    args = parser.parse_args()
    use_addresses(args)
    if os.geteuid() != 0:
        print("perfdhcp_compare: needs root (port 67 and a loopback alias)", file=sys.stderr)
        return 2
    for tool in ("perfdhcp", KEA):
        if not shutil.which(tool):
            print(f"perfdhcp_compare: {tool} missing", file=sys.stderr)
            return 2
    other = run_other_mode(args)
    if other is not None:
        return other
    if port_bound(SERVER, 67):
        print(f"perfdhcp_compare: {SERVER}:67 is already in use", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")]
    names = [n for n in args.only.split(",") if n]
    results: Dict[str, List[Step]] = {}
    with loopback_aliases([SERVER, RELAY]):
        for name in names:
            print(f"{SERVERS[name][0]}:", flush=True)
            results[name] = ramp(name, args, rates)

    interp = "CPython " + platform.python_version()
    if args.python:
        interp = subprocess.run([args.python, "-c", "import platform,sys; print(platform.python_implementation(), "
                                 "platform.python_version())"], capture_output=True, text=True).stdout.strip()
    print()
    print(f"## perfdhcp side by side ({'4-way + renew/release mix' if args.mix else '4-way exchanges'})")
    print()
    print(f"- Date: {time.strftime('%Y-%m-%d %H:%M')}; machine: {os.cpu_count()} CPUs, {platform.platform()}")
    if args.pypy and "kea-twisted-pypy" in names:
        interp += " (kea-twisted-pypy: " + subprocess.run(
            [args.pypy, "-c", "import platform; print(platform.python_implementation(), platform.python_version())"],
            capture_output=True, text=True).stdout.strip() + ")"
    print(f"- kea_twisted on {interp}; loggers at {args.severity}; perfdhcp -R {args.clients} -p {args.seconds}"
          f"{' -f/-F rate/5' if args.mix else ''}{warmup_note(args, rates)}; load average before: "
          f"{os.getloadavg()[0]:.2f}")
    print()
    for name, steps in results.items():
        print_ramp(f"### {SERVERS[name][0]}", steps)
    for kt_name in KEA_TWISTED_NAMES:
        kt = results.get(kt_name)
        if not kt:
            continue
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
            print(f"{SERVERS[kt_name][0]} / {SERVERS[name][0]}: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
