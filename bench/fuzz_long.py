"""
The long hostile-packet run (issue 9), by hand: 100,000 fuzzed and replayed
malformed packets into one in-process server, then a valid DISCOVER and
REQUEST; RSS after a warm-up and at the end, tracebacks counted.

    /work/venv/bin/python bench/fuzz_long.py [--packets 100000] [--seed 9]

Packets: every 10th is one of the CVE replay cases
(tests/test_hostile_packets.py CASES); the rest are valid DISCOVER/REQUEST/
RELEASE/INFORM queries with random options (random codes and lengths, some
past the end), then cut short and/or with 0-4 bytes overwritten.  The
server's clock advances 0.1 s per packet (leases of 4000 s expire and
are reused) and expired leases are reclaimed every 1000 packets.

Exit status 1 when any traceback other than the known one was logged, a
packet raised out of receive(), the final DISCOVER/REQUEST was not
answered, or more than 1 MiB of Python memory grew between 75 % and the end of the run,
leases wiped at both points (tracemalloc: a leak, as opposed to the lease
store growing with the client identities the fuzz keeps inventing).  RSS is printed every 10 %.  The figures go to
bench/RESULTS.md by hand.

Tests for the bounded version: tests/test_hostile_packets.py
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
import tracemalloc
from ipaddress import IPv4Address

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from twisted.internet.task import Clock  # noqa: E402
from twisted.logger import globalLogBeginner  # noqa: E402

from kea_twisted.datagrams import Drop, Reply  # noqa: E402
from kea_twisted.packet import decode  # noqa: E402
from tests.test_hostile_packets import (  # noqa: E402
    CASES, CONFIG, EPOCH, _known, SERVER_IP, VALID_DISCOVER, counters, feed, fuzzed, mac, make_server, opt, query,
)

def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args(argv)

    rnd = random.Random(args.seed)
    clock = Clock()
    clock.advance(EPOCH)
    # A /16 pool: 4000 clients never exhaust it, so the last DISCOVER
    # measures the server, not the pool.
    config = json.loads(json.dumps(CONFIG))
    subnet = config["Dhcp4"]["subnet4"][0]
    subnet["subnet"] = "10.0.0.0/16"
    subnet["pools"] = [{"pool": "10.0.0.10 - 10.0.255.250"}]
    server = make_server(clock, config)
    failures = []
    known = [0]

    def watch(event):
        if event.get("log_failure") is not None:
            if _known(event):
                known[0] += 1
            elif len(failures) < 20:
                failures.append(event["log_failure"].getTraceback())
            else:
                failures.append("...")

    # Our observer is the only destination: nothing is printed.
    globalLogBeginner.beginLoggingTo([watch], discardBuffer=True, redirectStandardIO=False)
    raised = replies = drops = 0
    # The store fills up with the 4000 clients' leases in the first half
    # (leases last 4000 s, 40,000 packets): growth is measured after it.
    warmup = max(1, args.packets // 2)
    step = max(1, args.packets // 10)
    rss_start = rss_kib()
    rss_warm = None
    samples = []
    # A leak grows with packets; the lease store grows with the client
    # identities the fuzz keeps inventing (legitimate state).  So the
    # leases are wiped at 75 % and at the end, and the Python memory
    # still allocated (tracemalloc, started at 50 %) is compared.
    checkpoint = warmup + (args.packets - warmup) // 2
    traced_mid = 0
    snapshot_mid = [None]

    def traced_without_leases() -> int:
        server.store.wipe_leases4(1)
        gc.collect()
        snapshot_mid[0] = snapshot_mid[0] or tracemalloc.take_snapshot()
        return tracemalloc.get_traced_memory()[0]

    started = time.perf_counter()
    try:
        for i in range(args.packets):
            if i == warmup:
                rss_warm = rss_kib()
                tracemalloc.start()
            if i == checkpoint:
                traced_mid = traced_without_leases()
            if i % step == 0:
                samples.append((i, rss_kib(), len(server.store.get_all_leases4())))
            data = CASES[i // 10 % len(CASES)][1] if i % 10 == 0 else fuzzed(rnd, i)
            try:
                result = feed(server, clock, data)
            except Exception as e:  # counted: must be zero
                raised += 1
                failures.append(repr(e))
                continue
            if isinstance(result, Reply):
                replies += 1
            elif isinstance(result, Drop):
                drops += 1
            clock.advance(0.1)
            if i % 1000 == 999:
                # What the service's reclamation timer would have done.
                server.reclaim()
        elapsed = time.perf_counter() - started
        rss_end = rss_kib()
        offer = feed(server, clock, VALID_DISCOVER)
        offered = decode(offer.data) if isinstance(offer, Reply) else None
        ack = None
        if offered is not None:
            ack = feed(server, clock, query(opt(50, offered.yiaddr.packed) + opt(54, IPv4Address(SERVER_IP).packed),
                                            chaddr=mac(999), mtype=3, xid=0x5A00FFFE))
        acked = isinstance(ack, Reply) and decode(ack.data).message_type == 5
        stats = counters(server)
        leases = len(server.store.get_all_leases4())
        del offer, ack, result, data
        traced_end = traced_without_leases()
        top = tracemalloc.take_snapshot().compare_to(snapshot_mid[0], "lineno")[:5]
        tracemalloc.stop()
        kept_kib = (traced_end - traced_mid) // 1024
    finally:
        server.stop()

    growth = (rss_end - rss_warm) / rss_warm if rss_warm else 0.0
    print(f"packets sent           {args.packets} (seed {args.seed}), {elapsed:.1f} s, "
          f"{args.packets / elapsed:.0f} packets/s")
    print(f"replies / drops        {replies} / {drops}")
    print(f"raised out of receive  {raised}")
    print(f"tracebacks logged      {len(failures)} unknown, {known[0]} known (tests/test_hostile_packets.py _OPT50)")
    print(f"pkt4-received          {stats['pkt4-received']}")
    print(f"pkt4-parse-failed      {stats['pkt4-parse-failed']}")
    print(f"pkt4-receive-drop      {stats['pkt4-receive-drop']}")
    print(f"leases in store        {leases}")
    print(f"RSS start / after {warmup} / end   {rss_start} / {rss_warm} / {rss_end} KiB "
          f"({growth * 100:+.1f} % after warm-up)")
    print("RSS KiB / leases by packets: " + ", ".join(f"{i}: {r}/{n}" for i, r, n in samples))
    print(f"Python memory growth from {checkpoint} to {args.packets} packets, leases wiped at both: {kept_kib} KiB")
    for stat in top:
        print("   ", stat)
    print(f"valid DISCOVER after   {'OFFER' if offered else 'no answer'}, REQUEST {'ACK' if acked else 'no ACK'}")
    for tb in failures[:3]:
        print(tb)
    ok = raised == 0 and not failures and offered is not None and acked and kept_kib < 1024
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
