#!/usr/bin/env python3
"""
Side-by-side lease rate on PostgreSQL (issue 10): real Kea 2.2
(single-threaded, then with its ``multi-threading`` section) and
kea_twisted (without and with it), each against a fresh throwaway
PostgreSQL cluster with PostgreSQL's default durability (every commit waits
for the disk), initialised with ``kea-admin db-init pgsql``, driven by the
same ``perfdhcp`` ramp.  Run by hand, as root (port 67, a loopback alias
for the relay):

    .venv/bin/python bench/pgsql_compare.py        # psycopg is in the project venv
    .venv/bin/python bench/pgsql_compare.py --only kea-st,kt-mt8 --rates 200,400,800

Everything stays on loopback: the servers listen on 127.0.0.31:67, perfdhcp
acts as a relay on 127.0.0.32 (both added to ``lo`` if missing, removed at
the end if this script added them), the cluster listens on 127.0.0.1, on a port
of 15460-15479.  Each server gets a cluster of its own (made, used,
stopped and removed before the next one), is started, ramped and stopped
by its PID; every perfdhcp run is bounded by ``-p`` and a timeout, and the
ramp stops two steps past saturation.

Per offered rate: the achieved 4-way exchanges/s (ACKs over the sending
period), the share of exchanges left unanswered, median and 99th percentile
delay, the server's CPU and peak RSS (bench/perfdhcp_compare.py's measures
and table, imported from it), plus the PostgreSQL server's CPU (all its
processes), its committed transactions per second (``xact_commit``: every
autocommitted statement, reads included) and its WAL flushes per second
(``pg_stat_wal.wal_sync``: fewer flushes than writing transactions is
group commit at work).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.perfdhcp_compare import (  # noqa: E402  (after the path)
    CLK_TCK, KEA, UNANSWERED_LIMIT, Step, cpu_ticks, dhcp4_config, fmt_step, launch, parse_perfdhcp, peak_rss_kb,
    port_bound, print_ramp, stop_server, summary, twistd_argv, warm_up,
)
from tests.pgsql_cluster import PgCluster  # noqa: E402

SERVER = "127.0.0.31"
RELAY = "127.0.0.32"
CLUSTER_PORTS = range(15460, 15480)
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
TWISTD = os.path.join(ROOT, ".venv", "bin", "twistd")
DEFAULT_RATES = "200,400,600,800,1000,1300,1600,2000,2500,3000,4000"

#: name -> (title, kea_twisted?, multi-threading section or None)
SERVERS: Dict[str, Tuple[str, bool, Optional[dict]]] = {
    "kea-st": ("Kea 2.2 single-threaded", False, None),
    "kea-mt": ("Kea 2.2 multi-threading (thread-pool-size 0: one per core)", False,
               {"thread-pool-size": 0}),
    "kea-mt4": ("Kea 2.2 multi-threading, thread-pool-size 4", False, {"thread-pool-size": 4}),
    "kea-mt8": ("Kea 2.2 multi-threading, thread-pool-size 8", False, {"thread-pool-size": 8}),
    "kea-mt16": ("Kea 2.2 multi-threading, thread-pool-size 16", False, {"thread-pool-size": 16}),
    "kt-st": ("kea_twisted single-threaded", True, None),
    "kt-mt": ("kea_twisted multi-threading (thread-pool-size 0: one per core)", True,
              {"thread-pool-size": 0}),
    "kt-mt4": ("kea_twisted multi-threading, thread-pool-size 4", True, {"thread-pool-size": 4}),
    "kt-mt8": ("kea_twisted multi-threading, thread-pool-size 8", True, {"thread-pool-size": 8}),
    "kt-mt16": ("kea_twisted multi-threading, thread-pool-size 16", True, {"thread-pool-size": 16}),
    "kt-mt32": ("kea_twisted multi-threading, thread-pool-size 32", True, {"thread-pool-size": 32}),
    # The same servers under the interpreter of --pypy (a PyPy venv with
    # kea_twisted's dependencies; this tree's code comes first on its path).
    "ktp-st": ("kea_twisted on PyPy, single-threaded", True, None),
    "ktp-mt4": ("kea_twisted on PyPy, multi-threading, thread-pool-size 4", True, {"thread-pool-size": 4}),
    "ktp-mt8": ("kea_twisted on PyPy, multi-threading, thread-pool-size 8", True, {"thread-pool-size": 8}),
    "ktp-mt16": ("kea_twisted on PyPy, multi-threading, thread-pool-size 16", True, {"thread-pool-size": 16}),
    "ktp-mt32": ("kea_twisted on PyPy, multi-threading, thread-pool-size 32", True, {"thread-pool-size": 32}),
}


def config(workdir: str, database: dict, multi_threading: Optional[dict], severity: str) -> dict:
    """The one configuration every server gets; only ``multi-threading``
    differs."""
    mt = ({"enable-multi-threading": True, "packet-queue-size": 64, **multi_threading}
          if multi_threading is not None else {"enable-multi-threading": False})
    return dhcp4_config(
        workdir, server=SERVER, relay=RELAY, net="10.20", severity=severity, multi_threading=mt,
        lease_database={k: database[k] for k in ("type", "name", "host", "port", "user", "password")})


# ---------------------------------------------------------------------------
# the database side

def pg_ticks(cluster: PgCluster) -> int:
    """User+system time of the postmaster and all its children."""
    total = 0
    parent = cluster.process.pid if cluster.process else None
    if parent is None:
        return 0
    pids = {parent}
    # setpriv execs postgres in place: the postmaster is the Popen child.
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            pids.add(int(entry))
    for pid in pids:
        try:
            total += cpu_ticks(pid)
        except OSError:
            pass
    return total


def wal_syncs(cluster: PgCluster) -> Tuple[int, int]:
    """(WAL flushes, committed transactions) of the cluster so far."""
    import psycopg
    with psycopg.connect(cluster.superuser_dsn("postgres"), autocommit=True) as conn:
        syncs = conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0]
        commits = conn.execute("SELECT sum(xact_commit) FROM pg_stat_database").fetchone()[0]
    return int(syncs), int(commits)


# ---------------------------------------------------------------------------
# one server

def start_server(name: str, workdir: str, database: dict, args) -> subprocess.Popen:
    title, ours, mt = SERVERS[name]
    severity = args.severity
    path = os.path.join(workdir, "server.json")
    with open(path, "w") as f:
        json.dump(config(workdir, database, mt, severity), f, indent=1)
    if name.startswith("ktp-"):
        argv = twistd_argv(args.pypy) + ["-n", "--pidfile=", "kea4", "-c", path]
    elif ours:
        argv = [TWISTD, "-n", "--pidfile=", "kea4", "-c", path]
    else:
        argv = [KEA, "-c", path]
    # Kea writes expire as local time: its zone must be the cluster's (UTC).
    return launch(name, argv, workdir, SERVER, TZ="UTC")


class PgStep(Step):
    """A ramp step with the database's side."""

    def __init__(self, offered: int):
        super().__init__(offered=offered)
        self.pg_cpu = 0.0
        self.wal_flushes = 0.0
        self.commits = 0.0


def run_step(proc: subprocess.Popen, cluster: PgCluster, rate: int, args, workdir: str) -> PgStep:
    step = PgStep(rate)
    argv = ["perfdhcp", "-4", "-l", RELAY, "-r", str(rate), "-R", str(args.clients),
            "-p", str(args.seconds), "-g", "single", "-W", "1000000", "-x", "t", SERVER]
    t0, c0, p0 = time.monotonic(), cpu_ticks(proc.pid), pg_ticks(cluster)
    w0 = wal_syncs(cluster)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 30)
    except subprocess.TimeoutExpired:
        step.error = "perfdhcp timed out"
        return step
    elapsed = time.monotonic() - t0
    step.cpu = 100.0 * (cpu_ticks(proc.pid) - c0) / CLK_TCK / elapsed
    step.pg_cpu = 100.0 * (pg_ticks(cluster) - p0) / CLK_TCK / elapsed
    w1 = wal_syncs(cluster)
    step.wal_flushes = (w1[0] - w0[0]) / elapsed
    step.commits = (w1[1] - w0[1]) / elapsed
    step.rss_kb = peak_rss_kb(proc.pid)
    with open(os.path.join(workdir, f"perfdhcp-{rate}.out"), "w") as f:
        f.write(done.stdout + done.stderr)
    parse_perfdhcp(done.stdout, step)
    ra = step.exchanges.get("REQUEST-ACK")
    step.achieved = (ra.received if ra else 0) / args.seconds
    if done.returncode not in (0, 3):  # 3: drops happened
        step.error = f"perfdhcp exit {done.returncode}: {done.stderr.strip()[-200:]}"
    return step


def fmt_pg_step(s: PgStep) -> str:
    return fmt_step(s).rstrip("|").rstrip() + (f" | {s.pg_cpu:.0f} % | {s.commits:.0f} | {s.wal_flushes:.0f} |"
                                               if not s.error else "")


def ramp(name: str, args, rates: List[int]) -> List[PgStep]:
    workdir = tempfile.mkdtemp(prefix=f"pgsql-{name}-")
    cluster = PgCluster(ports=CLUSTER_PORTS, durable=True)
    steps: List[PgStep] = []
    try:
        cluster.start()
        database = cluster.create_kea_database("kea", "kea")
        proc = start_server(name, workdir, database, args)
        try:
            if args.warmup > 0:
                warm_up(name, proc, args, rates[0], workdir, width=8, fmt=fmt_pg_step,
                        step=lambda proc, rate, a, workdir: run_step(proc, cluster, rate, a, workdir))
            saturated = 0
            for rate in rates:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} (logs in {workdir})")
                step = run_step(proc, cluster, rate, args, workdir)
                steps.append(step)
                print(f"  {name:8} {fmt_pg_step(step)}", flush=True)
                if step.unanswered > 20 or (step.offered and step.achieved < 0.8 * step.offered):
                    saturated += 1
                    if saturated >= 2:
                        break
                time.sleep(1)
        finally:
            stop_server(proc)
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return steps


# ---------------------------------------------------------------------------
# report

def best_against_best(table: Dict[str, Any], rates_given: bool = False) -> List[str]:
    """The best kea_twisted server against the best Kea server, under
    the unanswered limit and saturated: ``table`` maps a server to
    ``summary()``'s pair of steps, or (``rates_given``) of rates."""
    lines = []
    for which, label in ((1, "saturated"), (0, f"< {UNANSWERED_LIMIT} % unanswered")):
        scored = {True: [], False: []}
        for name, pair in table.items():
            value = pair[which]
            rate = value if rates_given else (value.achieved if value is not None else None)
            if rate:
                scored[SERVERS[name][1]].append((rate, name))
        if scored[True] and scored[False]:
            (our_rate, our_name), (kea_rate, kea_name) = max(scored[True]), max(scored[False])
            lines.append(f"{label}: best kea_twisted ({our_name}) {our_rate:.0f}/s / best Kea ({kea_name}) "
                         f"{kea_rate:.0f}/s = {our_rate / kea_rate:.2f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default=DEFAULT_RATES, help="offered 4-way exchanges/s, ascending")
    parser.add_argument("--seconds", type=int, default=5, help="perfdhcp -p per step (bounded)")
    parser.add_argument("--clients", type=int, default=20000, help="perfdhcp -R (pool: 65521 addresses)")
    parser.add_argument("--only", default="kea-st,kea-mt,kea-mt8,kea-mt16,kt-st,kt-mt,kt-mt8,kt-mt16",
                        help="servers, comma separated, of " + ",".join(SERVERS))
    parser.add_argument("--severity", default="INFO", help="loggers' severity (Kea's default: INFO)")
    parser.add_argument("--pypy", default=None, metavar="PYTHON",
                        help="interpreter of the ktp-* servers (a PyPy venv's python with kea_twisted's "
                             "dependencies; the servers run this tree's code)")
    parser.add_argument("--warmup", type=int, default=0, metavar="SECONDS",
                        help="a perfdhcp run of SECONDS at the first rate before each ramp, not reported "
                             "(PyPy's JIT warm-up); default 0: none")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the servers this many times, every other round in reverse order (a server's "
                             "place in the run shifts its rate on this machine); report per round and the "
                             "medians")
    parser.add_argument("--keep", action="store_true", help="keep the work directories (logs, perfdhcp output)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("pgsql_compare: needs root (port 67 and a loopback alias)", file=sys.stderr)
        return 2
    for tool in ("perfdhcp", KEA, "kea-admin"):
        if not shutil.which(tool):
            print(f"pgsql_compare: {tool} missing", file=sys.stderr)
            return 2
    if port_bound(SERVER, 67):
        print(f"pgsql_compare: {SERVER}:67 is already in use", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")]
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        print(f"pgsql_compare: unknown servers {unknown}", file=sys.stderr)
        return 2
    if any(n.startswith("ktp-") for n in names) and not args.pypy:
        print("pgsql_compare: the ktp-* servers need --pypy", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    # The server's and the relay's addresses on lo (Kea binds only an
    # address its interface has); removed at the end if added here.
    added = [address for address in (SERVER, RELAY)
             if subprocess.run(["ip", "addr", "add", address + "/32", "dev", "lo"],
                               capture_output=True).returncode == 0]
    rounds: List[Dict[str, List[PgStep]]] = []
    try:
        for number in range(max(1, args.rounds)):
            results: Dict[str, List[PgStep]] = {}
            rounds.append(results)
            for name in (names if number % 2 == 0 else names[::-1]):
                print(f"{SERVERS[name][0]}" + (f" (round {number + 1}):" if args.rounds > 1 else ":"), flush=True)
                try:
                    results[name] = ramp(name, args, rates)
                except RuntimeError as e:
                    print(f"  {name}: {e}", flush=True)
                    results[name] = []
    finally:
        for address in added:
            subprocess.run(["ip", "addr", "del", address + "/32", "dev", "lo"], capture_output=True)

    version = "import platform; print(platform.python_implementation(), platform.python_version())"
    interp = subprocess.run([PYTHON if os.path.exists(PYTHON) else sys.executable, "-c", version],
                            capture_output=True, text=True).stdout.strip()
    if args.pypy and any(n.startswith("ktp-") for n in names):
        interp += " (ktp-*: " + subprocess.run([args.pypy, "-c", version], capture_output=True,
                                               text=True).stdout.strip() + ")"
    print()
    print("## perfdhcp side by side on PostgreSQL 15 (4-way exchanges)")
    print()
    print(f"- Date: {time.strftime('%Y-%m-%d %H:%M')}; machine: {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"- kea_twisted on {interp}; loggers at {args.severity}; perfdhcp -R {args.clients} -p {args.seconds}; "
          f"a fresh durable cluster per server (fsync on); load average before: {load_before:.2f}, "
          f"after: {os.getloadavg()[0]:.2f}")
    print()
    for number, results in enumerate(rounds):
        if len(rounds) > 1:
            print(f"### Round {number + 1}: {', '.join(results)}")
            print()
        for name, steps in results.items():
            print_ramp(("#### " if len(rounds) > 1 else "### ") + SERVERS[name][0], steps,
                       ("PostgreSQL CPU", "transactions/s", "WAL flushes/s"), fmt_pg_step)
        for line in best_against_best({n: summary(s) for n, s in results.items() if s}):
            print(line)
        print()
    if len(rounds) > 1:
        print(f"### Medians of {len(rounds)} rounds")
        print()
        medians: Dict[str, Tuple[Optional[float], Optional[float]]] = {}
        for name in names:
            per_round = [summary(r[name]) for r in rounds if r.get(name)]
            row = []
            for which in (0, 1):
                rates_seen = [v[which].achieved if v[which] else 0.0 for v in per_round]
                row.append(statistics.median(rates_seen) if rates_seen else None)
            medians[name] = (row[0], row[1])
            print(f"- {name}: < {UNANSWERED_LIMIT} % unanswered {row[0] or 0:.0f}/s, saturated {row[1] or 0:.0f}/s "
                  f"(rounds: {', '.join(f'{v[1].achieved:.0f}' if v[1] else '-' for v in per_round)})")
        print()
        for line in best_against_best(medians, rates_given=True):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
