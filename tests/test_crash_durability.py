"""
Crash durability: nothing a client was told (DHCPACK) is lost when the
server dies, and no address goes to a second client after a restart.

A real server (``twistd -n --pidfile= kea4``) runs as a subprocess on
127.0.0.1 (ports 18310-18329, replies to the relay's port by ``-P``); a
client relaying from 127.0.0.2 runs DISCOVER/REQUEST exchanges and records
every ACK; the server is killed with SIGKILL in the middle of the stream
(right after a REQUEST left, before its answer is read), restarted on the
same configuration, and ``lease4.csv`` must hold every ACKed lease (same
address, same client, expiry not earlier).  The same during Lease File
Cleanup (``lfc-interval`` 1 s).  Then clients old and new exchange with the
restarted server: old ones keep their address, new ones never get an
address another client was ACKed.

The lease file's own damage (a torn last line, bad rows) is tested in
process: the rest loads, the rows are reported (``max-row-errors`` as
Kea), and the next row appended after a torn line is not glued to it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from ipaddress import IPv4Address
from typing import Dict, List, Optional, Tuple

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from kea_twisted.leasefile import HEADER, LeaseFile, LeaseFileError, load_leases
from kea_twisted.leases import Lease4

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_IP = "127.0.0.1"
RELAY_IP = "127.0.0.2"
COOKIE = bytes.fromhex("63825363")
VALID_LIFETIME = 4000


def _packet(mtype: int, chaddr: bytes, xid: int, options: bytes = b"") -> bytes:
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 1, xid, 0, 0, bytes(4), bytes(4), bytes(4),
                       IPv4Address(RELAY_IP).packed, chaddr.ljust(16, b"\0"), bytes(64), bytes(128))
    return head + COOKIE + bytes((53, 1, mtype)) + options + b"\xff"


def _parse(data: bytes) -> Tuple[int, int, IPv4Address, Dict[int, bytes]]:
    """(message type, xid, yiaddr, options) of a reply."""
    xid = struct.unpack("!I", data[4:8])[0]
    yiaddr = IPv4Address(data[16:20])
    options: Dict[int, bytes] = {}
    i = 240
    while i + 1 < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        options[data[i]] = data[i + 2:i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    return options.get(53, b"\0")[0], xid, yiaddr, options


def _mac(n: int) -> bytes:
    return bytes((2, 0xCD, 0, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))


class Ack:
    """What a client knows after a DHCPACK."""

    def __init__(self, chaddr: bytes, address: IPv4Address, not_before: int, lifetime: int):
        self.chaddr = chaddr
        self.address = address
        # The server's cltt is at least the second the REQUEST left.
        self.expire = not_before + lifetime

    def __repr__(self):
        return f"Ack({self.chaddr.hex(':')}, {self.address}, expire>={self.expire})"


class Server:
    """A ``twistd kea4`` subprocess on loopback."""

    def __init__(self, testcase: SynchronousTestCase, workdir: str, port: int, lfc_interval: int = 0):
        self.workdir = workdir
        self.port = port
        self.leasefile = os.path.join(workdir, "lease4.csv")
        self.config = os.path.join(workdir, "kea4.json")
        config = {"Dhcp4": {
            "interfaces-config": {"interfaces": ["lo/" + SERVER_IP], "dhcp-socket-type": "udp"},
            "lease-database": {"type": "memfile", "persist": True, "name": self.leasefile,
                               "lfc-interval": lfc_interval},
            "valid-lifetime": VALID_LIFETIME,
            "subnet4": [{"id": 1, "subnet": "10.77.0.0/16", "pools": [{"pool": "10.77.0.10 - 10.77.255.250"}],
                         "relay": {"ip-addresses": [RELAY_IP]}}],
            "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                         "output_options": [{"output": os.path.join(workdir, "kea4.log")}]}],
        }}
        with open(self.config, "w") as f:
            json.dump(config, f)
        self.process: Optional[subprocess.Popen] = None
        testcase.addCleanup(self.kill)

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=",
             "kea4", "-c", self.config, "-p", str(self.port), "-P", str(self.port + 1)],
            cwd=self.workdir, env=env, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.workdir, "stderr.log"), "ab"),
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def log_tail(self) -> str:
        parts = []
        for name in ("stderr.log", "kea4.log"):
            try:
                with open(os.path.join(self.workdir, name), errors="replace") as f:
                    parts.append(f.read()[-3000:])
            except OSError:
                pass
        return "\n".join(parts)


class Client:
    """A relay agent at 127.0.0.2 running DORA exchanges."""

    def __init__(self, testcase: SynchronousTestCase, server: Server):
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        testcase.addCleanup(self.sock.close)
        self.sock.bind((RELAY_IP, server.port + 1))
        self.xid = 0x77000000

    def _exchange(self, data: bytes, want: int, timeout: float) -> Optional[Tuple[int, IPv4Address, Dict[int, bytes]]]:
        xid = struct.unpack("!I", data[4:8])[0]
        self.sock.sendto(data, (SERVER_IP, self.server.port))
        return self._answer(xid, want, timeout)

    def _answer(self, xid: int, want: int, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(4096)
            except socket.timeout:
                return None
            mtype, rxid, yiaddr, options = _parse(data)
            if rxid == xid:
                return mtype, yiaddr, options

    def wait_ready(self, timeout: float = 60) -> None:
        """DISCOVER until the server answers (it is starting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.process is None or self.server.process.poll() is not None:
                raise AssertionError("server exited:\n" + self.server.log_tail())
            self.xid += 1
            if self._exchange(_packet(1, _mac(0xFFFFFF), self.xid), 2, 0.5) is not None:
                return
        raise AssertionError("server never answered:\n" + self.server.log_tail())

    def discover(self, chaddr: bytes, timeout: float = 5.0) -> Optional[IPv4Address]:
        self.xid += 1
        answer = self._exchange(_packet(1, chaddr, self.xid, bytes((55, 2, 1, 3))), 2, timeout)
        if answer is None or answer[0] != 2:
            return None
        return answer[1]

    def send_request(self, chaddr: bytes, address: IPv4Address) -> Tuple[int, int]:
        """Send a SELECTING REQUEST; (xid, second it left)."""
        self.xid += 1
        options = bytes((54, 4)) + IPv4Address(SERVER_IP).packed + bytes((50, 4)) + address.packed
        sent = int(time.time())
        self.sock.sendto(_packet(3, chaddr, self.xid, options), (SERVER_IP, self.server.port))
        return self.xid, sent

    def read_ack(self, chaddr: bytes, xid: int, sent: int, timeout: float = 5.0) -> Optional[Ack]:
        answer = self._answer(xid, 5, timeout)
        if answer is None or answer[0] != 5:
            return None
        lifetime = int.from_bytes(answer[2].get(51, b"\0\0\0\0"), "big")
        return Ack(chaddr, answer[1], sent, lifetime)

    def dora(self, chaddr: bytes) -> Optional[Ack]:
        offered = self.discover(chaddr)
        if offered is None:
            return None
        xid, sent = self.send_request(chaddr, offered)
        return self.read_ack(chaddr, xid, sent)


def _leases_by_address(path: str) -> Dict[IPv4Address, Lease4]:
    leases, _stats = load_leases(path)
    return leases


class CrashDurabilityTests(SynchronousTestCase):

    def _setup(self, port: int, lfc_interval: int = 0):
        if sys.platform != "linux":
            raise SkipTest("needs Linux loopback (127.0.0.2 without an alias)")
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        server = Server(self, workdir, port, lfc_interval)
        server.start()
        client = Client(self, server)
        client.wait_ready()
        return server, client

    def _kill_mid_stream(self, server: Server, client: Client, first: int, count: int,
                         kill_after: int) -> List[Ack]:
        """DORA for ``count`` clients; after ``kill_after`` ACKs, SIGKILL the
        server right after the next REQUEST left.  Returns the ACKs."""
        acks: List[Ack] = []
        for n in range(first, first + count):
            chaddr = _mac(n)
            offered = client.discover(chaddr)
            self.assertIsNotNone(offered, f"no OFFER for client {n}:\n{server.log_tail()}")
            xid, sent = client.send_request(chaddr, offered)
            if len(acks) == kill_after:
                server.kill()
                # An ACK already on its way may still be read; it counts.
                ack = client.read_ack(chaddr, xid, sent, timeout=0.5)
                if ack is not None:
                    acks.append(ack)
                return acks
            ack = client.read_ack(chaddr, xid, sent)
            self.assertIsNotNone(ack, f"no ACK for client {n}:\n{server.log_tail()}")
            acks.append(ack)
        self.fail("the kill point was never reached")

    def _check_file(self, server: Server, acks: List[Ack]) -> None:
        leases = _leases_by_address(server.leasefile)
        lost = []
        for ack in acks:
            lease = leases.get(ack.address)
            if lease is None or lease.hwaddr != ack.chaddr or lease.expire < ack.expire:
                lost.append((ack, lease))
        self.assertEqual(lost, [], "ACKed leases missing or changed in lease4.csv")

    def _after_restart(self, server: Server, client: Client, acks: List[Ack], new_first: int) -> None:
        """Old clients renew onto their own address; new ones never get an
        address another client was ACKed."""
        owner = {ack.address: ack.chaddr for ack in acks}
        for ack in acks[:10]:
            again = client.dora(ack.chaddr)
            self.assertIsNotNone(again, server.log_tail())
            self.assertEqual(again.address, ack.address)
        for n in range(new_first, new_first + 30):
            ack = client.dora(_mac(n))
            self.assertIsNotNone(ack, server.log_tail())
            self.assertNotIn(ack.address, owner, f"{ack.address} given to a second client")
            owner[ack.address] = ack.chaddr

    def test_sigkill_mid_stream(self):
        """SIGKILL right after a REQUEST left, 40 ACKs in: after a restart
        every ACKed lease is in lease4.csv (address, client, expiry), the
        restarted server keeps them, and gives none to another client."""
        server, client = self._setup(18310)
        acks = self._kill_mid_stream(server, client, 1, 200, kill_after=40)
        self.assertGreaterEqual(len(acks), 40)
        self._check_file(server, acks)
        server.start()
        client.wait_ready()
        self._after_restart(server, client, acks, 1000)
        server.stop()
        self._check_file(server, acks)

    def test_sigkill_twice(self):
        """Two crashes in a row, ACKs before each: nothing ACKed is lost."""
        server, client = self._setup(18312)
        acks = self._kill_mid_stream(server, client, 1, 100, kill_after=25)
        server.start()
        client.wait_ready()
        acks += self._kill_mid_stream(server, client, 200, 100, kill_after=25)
        self._check_file(server, acks)
        server.start()
        client.wait_ready()
        self._after_restart(server, client, acks, 2000)

    def test_sigkill_during_lfc(self):
        """With lfc-interval 1 s the file is rotated and compacted while
        clients are served; SIGKILL in the middle: the leases are still all
        there across lease4.csv, .1, .2 (Kea's loading order) after restart."""
        server, client = self._setup(18314, lfc_interval=1)
        acks: List[Ack] = []
        deadline = time.monotonic() + 60
        n = 1
        # Serve for a little over two LFC intervals, then kill mid-stream.
        started = time.monotonic()
        while time.monotonic() - started < 2.5 and time.monotonic() < deadline:
            ack = client.dora(_mac(n))
            self.assertIsNotNone(ack, server.log_tail())
            acks.append(ack)
            n += 1
        acks += self._kill_mid_stream(server, client, n, 100, kill_after=5)
        rotated = [p for p in os.listdir(server.workdir) if p.startswith("lease4.csv.")]
        self.assertTrue(rotated, "LFC never ran")
        server.start()
        client.wait_ready()
        # Loading reads .completed or .2 then .1, then the live file.
        leases, _ = load_leases(server.leasefile)
        lost = [a for a in acks if a.address not in leases or leases[a.address].hwaddr != a.chaddr
                or leases[a.address].expire < a.expire]
        self.assertEqual(lost, [])
        # New clients numbered past every one served so far (how many were
        # served in 2.5 s depends on the machine).
        self._after_restart(server, client, acks, n + 1000)


class LeaseFileDamageTests(SynchronousTestCase):
    """What a crash (or a disk) can leave in lease4.csv."""

    def setUp(self):
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        self.path = os.path.join(workdir, "lease4.csv")

    def _row(self, n: int, expire: int = 1_800_000_000) -> str:
        return f"10.0.0.{n},02:00:00:00:00:{n:02x},,4000,{expire},1,0,0,host{n},0,"

    def test_torn_last_line(self):
        """A last row cut in the middle (no newline) is reported and
        skipped; the rows before it load."""
        with open(self.path, "w") as f:
            f.write(HEADER + "\n" + self._row(1) + "\n" + self._row(2) + "\n" + self._row(3)[:17])
        leases, stats = load_leases(self.path)
        self.assertEqual(sorted(str(a) for a in leases), ["10.0.0.1", "10.0.0.2"])
        self.assertEqual(stats.read_errors, 1)
        self.assertEqual(stats.errors[0][1], 3)

    def test_append_after_torn_line(self):
        """The first row written after a restart on a torn file starts on a
        line of its own: it loads (Kea 2.2 would glue it to the fragment
        and lose it)."""
        with open(self.path, "w") as f:
            f.write(HEADER + "\n" + self._row(1) + "\n" + self._row(2)[:20])
        lease_file = LeaseFile(self.path)
        leases, _ = lease_file.load()
        self.assertEqual(list(map(str, leases)), ["10.0.0.1"])
        from kea_twisted.leasefile import parse_row

        lease_file.append(parse_row(self._row(5)))
        lease_file.close()
        leases, stats = load_leases(self.path)
        self.assertEqual(sorted(str(a) for a in leases), ["10.0.0.1", "10.0.0.5"])
        self.assertEqual(stats.read_errors, 1)

    def test_bad_rows_reported(self):
        """Bad rows anywhere are skipped, each reported with its row number
        and Kea's DHCPSRV_MEMFILE_LEASE_LOAD_ROW_ERROR; the others load."""
        from twisted.logger import globalLogPublisher

        rows = [self._row(1), "garbage", self._row(2), "10.0.0.300,02:00,,4000,1,1,0,0,,0,",
                "10.0.0.4,zz,,4000,1,1,0,0,,0,", self._row(3), "10.0.0.5,02:00,,abc,1,1,0,0,,0,",
                "10.0.0.6,02:00,,4000,1,1,2,0,,0,", "\x00\x00\x00"]
        with open(self.path, "w") as f:
            f.write(HEADER + "\n" + "\n".join(rows) + "\n")
        seen = []
        globalLogPublisher.addObserver(seen.append)
        try:
            leases, stats = load_leases(self.path)
        finally:
            globalLogPublisher.removeObserver(seen.append)
        self.assertEqual(sorted(str(a) for a in leases), ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        self.assertEqual([n for _, n, _ in stats.errors], [2, 4, 5, 7, 8, 9])
        logged = [e for e in seen if e.get("msgid") == "DHCPSRV_MEMFILE_LEASE_LOAD_ROW_ERROR"]
        self.assertEqual(len(logged), 6)

    def test_max_row_errors_refuses(self):
        """More bad rows than max-row-errors: loading fails with Kea's text
        (the server does not start on a file it cannot trust)."""
        with open(self.path, "w") as f:
            f.write(HEADER + "\n" + "\n".join(["x", self._row(1), "y", "z"]) + "\n")
        self.assertEqual(len(load_leases(self.path, max_row_errors=3)[0]), 1)
        e = self.assertRaises(LeaseFileError, load_leases, self.path, max_row_errors=2)
        self.assertIn("exceeded maximum number of failures 2", str(e))

    def test_crlf_and_blank_lines(self):
        """Blank lines are not rows; a CR at the end of a row is part of the
        last column (user context), as in Kea."""
        with open(self.path, "w") as f:
            f.write(HEADER + "\n\n" + self._row(1) + "\n\n\n" + self._row(2) + "\n")
        leases, stats = load_leases(self.path)
        self.assertEqual(len(leases), 2)
        self.assertEqual(stats.read_errors, 0)
