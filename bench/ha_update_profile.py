#!/usr/bin/env python3
"""
CPU per HA lease update (issue 8), in one process: two kea_twisted
``Dhcp4Service`` s as a load-balancing pair with mutual TLS (the built-in
``libdhcp_ha.so`` and ``libdhcp_lease_cmds.so`` from the configuration,
certificates made by ``shared/kea-ha-rig/make-certs.sh``), their HA
listeners on 127.0.5.1:18950 / 127.0.5.2:18951, their DHCP engines fed
datagrams directly (no DHCP sockets; tests/fake_sockets.py's stand-in).

Modes:

* ``dora`` (default): a DISCOVER and a REQUEST per client handed to both
  engines, as a relay sending to both servers does; the server whose scope
  the client is in answers (HA ``buffer4_receive``), its ACK waits for the
  partner's answer to the ``lease4-update`` (``leases4_committed``, the
  PartnerClient, the partner's HAListener, ``lease_cmds``).  CPU per
  exchange of the whole pair, the same work a real pair splits over its
  two processes.
* ``update``: only the lease update: ``PartnerClient.send(lease4-update)``
  from server1 to server2's listener and its answer (send side + receive
  side, no DHCP).

``--window`` requests are kept in flight (perfdhcp keeps many; the client
has 4 connections).  The figure is ``time.process_time()`` per exchange or
update, best of ``--rounds`` (wall-clock noise from other processes is
left out, not the machine's own speed: compare runs made one after the
other).  ``--profile`` prints cProfile's top ``--top`` functions of one
more round.  Instructions per update or exchange, which other processes
do not disturb: two runs under ``valgrind --tool=callgrind`` with
``--rounds 1`` and different ``-n`` (say 100 and 600); the difference of
their totals over the difference of their counts (each run also does
min(200, n) as a warm-up) leaves the start-up out.

    .venv/bin/python bench/ha_update_profile.py                  # µs per DORA
    .venv/bin/python bench/ha_update_profile.py --mode update
    .venv/bin/python bench/ha_update_profile.py --profile --top 40
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
        .venv/bin/python bench/ha_update_profile.py --mode update -n 600 --rounds 1

Loopback only (127.0.5.1-3, TCP 18950-18951 or ``--port`` and the next);
the relay address in the queries is 127.0.5.3.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from twisted.internet import defer, reactor, task  # noqa: E402
from twisted.logger import globalLogBeginner  # noqa: E402

from kea_twisted.config.element import from_python  # noqa: E402
from kea_twisted.config.staging import stage_config_element  # noqa: E402
from kea_twisted.datagrams import Arrival, Reply  # noqa: E402
from kea_twisted.logs import daemon_observer, gate_emission  # noqa: E402
from kea_twisted.net.services import Dhcp4Service  # noqa: E402
from kea_twisted.packet import Packet4, decode, encode  # noqa: E402

RIG = os.path.join(os.path.dirname(ROOT), "shared", "kea-ha-rig")
HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks/"  # Kea's names select the built-ins
SERVERS = {"server1": IPv4Address("127.0.5.1"), "server2": IPv4Address("127.0.5.2")}
#: server1's HA port; server2's is the next one (``--port``).
HA_PORT = 18950
RELAY = IPv4Address("127.0.5.3")
FIRST_ADDRESS = IPv4Address("10.10.0.10")


class Sockets:
    """No DHCP sockets: the bench hands datagrams to the engines."""

    finished = None

    def __init__(self, address: IPv4Address):
        self.address = address

    def addresses(self):
        return [self.address]

    def stop(self):
        return defer.succeed(None)


def make_certs(workdir: str) -> str:
    d = os.path.join(workdir, "certs")
    env = dict(os.environ, S1_IP=str(SERVERS["server1"]), S2_IP=str(SERVERS["server2"]))
    subprocess.run(["bash", os.path.join(RIG, "make-certs.sh"), d], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    for name in os.listdir(d):
        if name.endswith("_key.pem"):
            os.chmod(os.path.join(d, name), 0o600)
    return d


def config(name: str, workdir: str, certs: str, port: int):
    peers = []
    for index, peer in enumerate(SERVERS):
        peers.append({"name": peer, "url": f"http://{SERVERS[peer]}:{port + index}/",
                      "role": ("primary", "secondary")[index], "auto-failover": True,
                      "cert-file": os.path.join(certs, f"{peer}_cert.pem"),
                      "key-file": os.path.join(certs, f"{peer}_key.pem")})
    ha = {"this-server-name": name, "mode": "load-balancing", "heartbeat-delay": 1000,
          "max-response-delay": 5000, "max-ack-delay": 1000, "max-unacked-clients": 0,
          "sync-timeout": 5000, "peers": peers,
          "trust-anchor": os.path.join(certs, "CA.pem"), "require-client-certs": True,
          "multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True,
                              "http-listener-threads": 1, "http-client-threads": 1}}
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "valid-lifetime": 4000,
        "multi-threading": {"enable-multi-threading": True, "thread-pool-size": 1,
                            "packet-queue-size": 64},
        "client-classes": [{"name": "s1", "test": "member('HA_server1')"},
                           {"name": "s2", "test": "member('HA_server2')"}],
        "subnet4": [{"id": 1, "subnet": "10.10.0.0/16", "relay": {"ip-addresses": [str(RELAY)]},
                     "pools": [{"pool": "10.10.0.10 - 10.10.127.255", "client-class": "s1"},
                               {"pool": "10.10.128.0 - 10.10.255.250", "client-class": "s2"}]}],
        "hooks-libraries": [
            {"library": HOOKS + "libdhcp_lease_cmds.so"},
            {"library": HOOKS + "libdhcp_ha.so", "parameters": {"high-availability": [ha]}},
        ],
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                     "output_options": [{"output": os.path.join(workdir, f"{name}.log")}]}],
    }
    return stage_config_element(from_python({"Dhcp4": dhcp4}))


def mac(i: int) -> bytes:
    return b"\x02\x00" + i.to_bytes(4, "big")


def discover(i: int) -> bytes:
    return encode(Packet4(op=1, xid=2 * i, chaddr=mac(i), giaddr=RELAY, hops=1,
                          options={53: b"\x01"}))


def request(i: int, address: bytes, server_id: bytes) -> bytes:
    return encode(Packet4(op=1, xid=2 * i + 1, chaddr=mac(i), giaddr=RELAY, hops=1,
                          options={53: b"\x03", 50: address, 54: server_id}))


class Pair:
    def __init__(self, workdir: str, certs: str, port: int):
        self.services = {}
        for name, address in SERVERS.items():
            self.services[name] = Dhcp4Service(
                None, config(name, workdir, certs, port), reactor=reactor, server_port=67,
                sockets_factory=lambda r, ic, engine, port, address=address, **kw: Sockets(address),
                observer=daemon_observer, install_signal_handlers=False)
        self.arrivals = {name: Arrival(iface="lo", local_addr=address, local_port=67,
                                       remote_addr=RELAY, remote_port=67)
                         for name, address in SERVERS.items()}

    def start(self):
        for service in self.services.values():
            service.startService()

    def stop(self):
        return defer.gatherResults([s.stopService() for s in self.services.values()])

    def state(self, name):
        d = self.services[name].commands.process({"command": "ha-heartbeat"})
        return d.addCallback(lambda answer: answer.get("arguments", {}).get("state"))

    @defer.inlineCallbacks
    def wait_load_balancing(self, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for name in self.services:
                states.append((yield self.state(name)))
            if states == ["load-balancing"] * 2:
                return
            yield task.deferLater(reactor, 0.2, lambda: None)
        raise RuntimeError(f"pair not in load-balancing after {timeout} s: {states}")

    def engine(self, name):
        return self.services[name].server.engine

    @defer.inlineCallbacks
    def dora(self, i: int):
        """DISCOVER to both, REQUEST to both; True when one ACK came."""
        offers = []
        for name in self.services:
            out = yield self.engine(name).receive(discover(i), self.arrivals[name])
            if isinstance(out, Reply):
                offers.append(decode(out.data))
        if len(offers) != 1:
            return False
        offer = offers[0]
        acked = 0
        data = request(i, offer.yiaddr.packed, offer.options[54])
        for name in self.services:
            out = yield self.engine(name).receive(data, self.arrivals[name])
            if isinstance(out, Reply) and decode(out.data).options[53] == b"\x05":
                acked += 1
        return acked == 1

    def update(self, i: int):
        from hooks.ha import commands
        from kea_twisted.leases import Lease4

        service = self.services["server1"]
        client = _ha_service(service).clients["server2"]
        lease = Lease4(FIRST_ADDRESS + (i % 60000), mac(i), None, 4000, 1_800_000_000 + i, 1)
        d = client.send(commands.lease4_update(lease))
        return d.addCallback(lambda answer: answer[0].get("result") == 0)


def _ha_service(service):
    from hooks.ha import ha

    for instance in ha.instances:
        if instance.server is not None and instance.server.store is service.server.store:
            return instance.service
    raise RuntimeError("no HA instance for this service")


def run_window(step, first: int, n: int, window: int) -> "defer.Deferred[int]":
    """Run ``step(i)`` for ``first..first+n-1`` with ``window`` in flight;
    fires with the number that succeeded."""
    done = defer.Deferred()
    state = {"next": first, "left": n, "ok": 0}

    def launch():
        i = state["next"]
        state["next"] += 1
        step(i).addCallbacks(finished, failed)

    def finished(ok):
        state["ok"] += bool(ok)
        state["left"] -= 1
        if state["next"] < first + n:
            launch()
        elif state["left"] == 0:
            done.callback(state["ok"])

    def failed(failure):
        failure.printTraceback()
        finished(False)

    for _ in range(min(window, n)):
        launch()
    return done


@defer.inlineCallbacks
def bench(args, workdir):
    certs = make_certs(workdir)
    pair = Pair(workdir, certs, args.port)
    pair.start()
    try:
        yield pair.wait_load_balancing()
        for service in pair.services.values():
            # Its own listener, not another process's on the same port.
            if _ha_service(service).listener is None:
                raise RuntimeError("an HA listener did not start (port taken? see --port)")
        step = pair.dora if args.mode == "dora" else pair.update
        # Warm-up: connections opened, caches filled.
        ok = yield run_window(step, 1, min(200, args.n), args.window)
        first = 1000
        results = []
        for _ in range(args.rounds):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            ok = yield run_window(step, first, args.n, args.window)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            first += args.n
            if ok != args.n:
                raise RuntimeError(f"only {ok} of {args.n} succeeded")
            results.append(cpu)
            print(f"round: {args.n} {args.mode} in {cpu:.3f} s CPU ({wall:.3f} s wall):"
                  f" {1e6 * cpu / args.n:.1f} µs CPU each", flush=True)
        best = min(results)
        print(f"best: {1e6 * best / args.n:.1f} µs CPU per {args.mode} (window {args.window})")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            yield run_window(step, first, args.n, args.window)
            profiler.disable()
            if args.profile_out:
                profiler.dump_stats(args.profile_out)
            stats = pstats.Stats(profiler)
            stats.sort_stats(args.sort).print_stats(args.top)
    finally:
        yield pair.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("dora", "update"), default="dora")
    parser.add_argument("-n", type=int, default=2000, help="exchanges or updates per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=int, default=16, help="in flight at once")
    parser.add_argument("--port", type=int, default=HA_PORT,
                        help="server1's HA port, server2's is the next (18950-18958: two runs"
                             " at once must not share them)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--profile-out", help="also write the cProfile data there (pstats)")
    args = parser.parse_args()
    if args.n < 1 or args.rounds < 1 or args.window < 1:
        parser.error("-n, --rounds and --window must be at least 1")

    workdir = tempfile.mkdtemp(prefix="ha-update-profile-")
    # As twistd with --logger=kea_twisted.logs.twistd_observer.
    globalLogBeginner.beginLoggingTo([daemon_observer], discardBuffer=True, redirectStandardIO=False)
    gate_emission(daemon_observer)
    status = []

    def run():
        d = bench(args, workdir)
        d.addCallbacks(lambda _: status.append(0), lambda f: (f.printTraceback(), status.append(1)))
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(run)
    # Bounded whatever happens.
    guard = reactor.callLater(600, reactor.stop)
    try:
        reactor.run()
    finally:
        if guard.active():
            guard.cancel()
        shutil.rmtree(workdir, ignore_errors=True)
    return status[0] if status else 1


if __name__ == "__main__":
    sys.exit(main())
