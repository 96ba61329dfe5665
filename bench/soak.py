#!/usr/bin/env python3
"""
Soak run (issue 9): kea_twisted under a steady perfdhcp load for a bounded
time, with its RSS and open file descriptors sampled, to show that neither
grows.  Run by hand, as root (port 67, a loopback alias for the relay):

    python3 bench/soak.py --rate 3000 --seconds 600      # 70 % of the saturated rate

Everything stays on loopback: the server on 127.0.0.1, perfdhcp as a relay
on 127.0.0.2 (added to ``lo`` if missing, removed afterwards).  The server
is started and stopped by PID; perfdhcp runs for ``--seconds`` and stops by
itself.  Prints a Markdown section for ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAY = "127.0.0.2"


def config(workdir: str) -> dict:
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": ["lo/127.0.0.1"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": True,
                           "name": os.path.join(workdir, "leases4.csv"), "lfc-interval": 60},
        "valid-lifetime": 120, "renew-timer": 60, "rebind-timer": 90,
        "expired-leases-processing": {"reclaim-timer-wait-time": 5, "flush-reclaimed-timer-wait-time": 10,
                                      "hold-reclaimed-time": 30},
        "subnet4": [{"id": 1, "subnet": "10.10.0.0/16", "relay": {"ip-addresses": [RELAY]},
                     "pools": [{"pool": "10.10.0.10 - 10.10.255.250"}]}],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": os.path.join(workdir, "kea.log")}],
                     "severity": "WARN"}],
    }}


def sample(pid: int) -> tuple:
    with open(f"/proc/{pid}/status") as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, required=True, help="offered exchanges per second")
    parser.add_argument("--seconds", type=int, default=600, help="load duration (bounded, default 600)")
    parser.add_argument("--clients", type=int, default=50000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (port 67 and a loopback alias)", file=sys.stderr)
        return 2
    if not shutil.which("perfdhcp"):
        print("soak: perfdhcp missing (apt-get install kea-admin or kea-dhcp4-server)", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="kea-twisted-soak-")
    path = os.path.join(workdir, "kea.json")
    with open(path, "w") as f:
        json.dump(config(workdir), f)
    added_alias = subprocess.run(["ip", "addr", "add", RELAY + "/32", "dev", "lo"],
                                 capture_output=True).returncode == 0
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    server = subprocess.Popen([twistd, "-n", "--pidfile=", "kea4", "-c", path], cwd=workdir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    perf = None
    try:
        time.sleep(3)  # the server binds its sockets
        samples.append((0.0,) + sample(server.pid))
        perf = subprocess.Popen(["perfdhcp", "-4", "-l", RELAY, "-r", str(args.rate), "-R", str(args.clients),
                                 "-p", str(args.seconds), "127.0.0.1"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()
        deadline = started + args.seconds + 60
        while perf.poll() is None and time.monotonic() < deadline:
            time.sleep(args.interval)
            samples.append((time.monotonic() - started,) + sample(server.pid))
        if perf.poll() is None:
            perf.kill()
        output = perf.communicate()[0]
    finally:
        if perf is not None and perf.poll() is None:
            perf.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if added_alias:
            subprocess.run(["ip", "addr", "del", RELAY + "/32", "dev", "lo"], capture_output=True)
    sent = re.search(r"sent packets: (\d+)", output)
    received = re.search(r"received packets: (\d+)", output)
    drops = re.findall(r"drops: (\d+)", output)
    warm = [s for s in samples if s[0] >= min(60.0, args.seconds / 5)]
    first, last = (warm[0], warm[-1]) if len(warm) >= 2 else (samples[0], samples[-1])
    print(f"## Soak ({time.strftime('%Y-%m-%d')}, {args.seconds} s at {args.rate}/s offered)\n")
    print(f"python3 bench/soak.py --rate {args.rate} --seconds {args.seconds}\n")
    print("| | value |\n|---|---|")
    print(f"| perfdhcp sent / received | {sent.group(1) if sent else '?'} / {received.group(1) if received else '?'} |")
    print(f"| perfdhcp drops (DISCOVER-OFFER, REQUEST-ACK) | {', '.join(drops) or '?'} |")
    print(f"| RSS at start / after warm-up / end / max (KiB) | {samples[0][1]} / {first[1]} / {last[1]} / {max(s[1] for s in samples)} |")
    print(f"| open fds at start / end / max | {samples[0][2]} / {last[2]} / {max(s[2] for s in samples)} |")
    print(f"| RSS growth after warm-up | {last[1] - first[1]} KiB over {last[0] - first[0]:.0f} s |")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
