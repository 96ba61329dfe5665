#!/usr/bin/env python3
"""
kea_twisted's per-packet cost without sockets (issue 8): a
:class:`~kea_twisted.server.Dhcp4Server` on a ``task.Clock`` with the
configuration of ``bench/perfdhcp_compare.py`` (memfile with a lease file in
a temporary directory, one relayed subnet, three options, loggers at INFO
written to a file through :class:`~kea_twisted.logs.KeaLogObserver` as the
daemon does), fed perfdhcp-like DISCOVER/REQUEST pairs through the UDP edge
(``Dhcp4Protocol.datagramReceived`` with an in-memory transport).

    /work/venv/bin/python bench/hotpath_profile.py                  # µs per exchange
    /work/venv/bin/python bench/hotpath_profile.py --profile        # + cProfile, top 30
    /work/venv/bin/python bench/hotpath_profile.py --full-pool      # pool nearly full first
    /work/venv/bin/python bench/hotpath_profile.py --full-pool-wrap -n 20 --profile
    valgrind --tool=callgrind /work/venv/bin/python bench/hotpath_profile.py -n 5000

``--full-pool-wrap`` starts the server on a lease file that leases every
address of a ``--pool-size`` pool (as after a restart with a full file)
but ``--free`` addresses spread over it, then runs the exchanges of new
clients: each DISCOVER walks the allocator's cursor over leased addresses,
and once the free ones are taken, over the whole pool to no answer.  Kea
drops those DISCOVERs; the replies and ACKs printed say how many were
answered.

Timings here are wall-clock and so only comparable within one run; use the
cProfile call counts or callgrind's instruction counts to judge a change.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from ipaddress import IPv4Address

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from twisted.internet.task import Clock  # noqa: E402
from twisted.logger import globalLogBeginner  # noqa: E402

from bench.perfdhcp_compare import dhcp4_config, memfile_database  # noqa: E402
from kea_twisted.config.element import from_python  # noqa: E402
from kea_twisted.config.staging import stage_config_element  # noqa: E402
from kea_twisted.logs import KeaLogObserver, logger_specs  # noqa: E402
from kea_twisted.net.udp import Dhcp4Protocol  # noqa: E402
from kea_twisted.packet import Packet4, encode  # noqa: E402
from kea_twisted.server import Dhcp4Server  # noqa: E402

SERVER = IPv4Address("127.0.0.1")
RELAY = IPv4Address("127.0.0.2")
EPOCH = 1_800_000_000
PRL = bytes([1, 28, 2, 3, 15, 6, 12])


def build_config(workdir: str, severity: str, pool_last: str):
    return dhcp4_config(workdir, server=str(SERVER), relay=str(RELAY), lease_database=memfile_database(workdir),
                        severity=severity, pool_last=pool_last)


def mac(i: int) -> bytes:
    return b"\x02\x00" + i.to_bytes(4, "big")


def discover(i: int) -> bytes:
    return encode(Packet4(op=1, xid=i, chaddr=mac(i), giaddr=RELAY, hops=1,
                          options={53: b"\x01", 55: PRL}), sort_options=False)


def request(i: int, address: bytes) -> bytes:
    return encode(Packet4(op=1, xid=i, chaddr=mac(i), giaddr=RELAY, hops=1,
                          options={53: b"\x03", 50: address, 54: SERVER.packed, 55: PRL}),
                  sort_options=False)


class Queries:
    """The same bytes as :func:`discover` / :func:`request`, spliced from
    one encoded template each (xid at 4, chaddr at 28, option 50's address
    after the cookie and option 53): encoding a query per exchange cost
    the bench ~8 % of the instructions it was measuring."""

    _XID, _MAC = slice(4, 8), slice(28, 34)

    def __init__(self):
        self._discover = discover(0)
        self._request = request(0, bytes(4))
        # 236-byte header, 4-byte cookie, 53 (3 bytes), then 50's code and length.
        self._addr = 240 + 3 + 2
        assert self._request[self._addr - 2] == 50 and request(7, b"\x0a\x0a\x00\x0b") == \
            self.request(7, b"\x0a\x0a\x00\x0b") and discover(7) == self.discover(7)

    @staticmethod
    def _splice(template: bytes, i: int) -> bytes:
        return template[:4] + i.to_bytes(4, "big") + template[8:28] + mac(i) + template[34:]

    def discover(self, i: int) -> bytes:
        return self._splice(self._discover, i)

    def request(self, i: int, address: bytes) -> bytes:
        data = self._splice(self._request, i)
        return data[:self._addr] + address + data[self._addr + 4:]


def write_full_lease_file(path: str, first: IPv4Address, size: int, free: int) -> None:
    """Leases for every address of the pool but ``free`` evenly spread
    ones, held by clients the bench never plays (valid past its end)."""
    from kea_twisted.leasefile import HEADER, format_row
    from kea_twisted.leases import Lease4

    spacing = size // free if free else 0
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        for i in range(size):
            if spacing and i % spacing == spacing - 1 and i // spacing < free:
                continue
            f.write(format_row(Lease4(first + i, b"\x04" + i.to_bytes(5, "big"), None, 40000,
                                      EPOCH - 1000, 1)) + "\n")


class Transport:
    """Keeps the last datagram written (the edge's ``transport.write``)."""

    def __init__(self):
        self.sent = 0
        self.last = b""

    def write(self, data, addr):
        self.sent += 1
        self.last = data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20000, help="exchanges (DISCOVER + REQUEST)")
    parser.add_argument("--severity", default="INFO")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--full-pool", action="store_true",
                        help="pool of n + 50 addresses: the allocator works on a nearly full pool")
    parser.add_argument("--full-pool-wrap", action="store_true",
                        help="start on a lease file filling a --pool-size pool but --free addresses")
    parser.add_argument("--pool-size", type=int, default=65000)
    parser.add_argument("--free", type=int, default=0)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="hotpath-")
    n = args.n
    pool_first = IPv4Address("10.10.0.10")
    pool_last = str(pool_first + n + 49) if args.full_pool else "10.10.255.250"
    if args.full_pool_wrap:
        pool_last = str(pool_first + args.pool_size - 1)
        write_full_lease_file(os.path.join(workdir, "leases4.csv"), pool_first, args.pool_size, args.free)
    config = stage_config_element(from_python(build_config(workdir, args.severity, pool_last)),
                                  interfaces={"lo": [SERVER]})
    observer = KeaLogObserver()
    observer.configure(logger_specs(config.loggers))
    globalLogBeginner.beginLoggingTo([observer], discardBuffer=True, redirectStandardIO=False)
    try:
        from kea_twisted.logs import gate_emission
    except ImportError:  # an older tree, to compare against
        pass
    else:
        gate_emission(observer)  # as twistd's --logger=kea_twisted.logs.twistd_observer does

    clock = Clock()
    clock.advance(EPOCH)
    server = Dhcp4Server(config, clock=clock.seconds, interfaces={"lo": [SERVER]})
    server.start()
    server.set_socket_addresses([SERVER])
    protocol = Dhcp4Protocol(server.engine, "lo", SERVER, 67, clock=clock)
    transport = Transport()
    protocol.transport = transport
    source = (str(RELAY), 67)
    queries = Queries()

    def run():
        for i in range(n):
            protocol.datagramReceived(queries.discover(i), source)
            offer = transport.last
            protocol.datagramReceived(queries.request(i, offer[16:20]), source)
            if i % 64 == 63:
                clock.advance(0.01)

    profiler = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if profiler:
        profiler.runcall(run)
    else:
        run()
    elapsed = time.perf_counter() - t0
    server.stop()
    observer.close()
    acks = server.stats.value("pkt4-ack-sent")
    print(f"{n} exchanges, {transport.sent} replies, {acks} ACKs, {len(server.store)} leases: "
          f"{elapsed / n * 1e6:.1f} µs per exchange ({n / elapsed:.0f}/s){' under cProfile' if profiler else ''}")
    if acks != n and not args.full_pool_wrap:
        print("WARNING: not every exchange ended with an ACK", file=sys.stderr)
        return 1
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats(args.sort).print_stats(30)
        total_calls = stats.total_calls  # type: ignore[attr-defined]
        print(f"function calls per exchange: {total_calls / n:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
