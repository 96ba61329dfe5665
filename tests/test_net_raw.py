"""
Tests for kea_twisted.net.raw: the Ethernet/IPv4/UDP frame codec, the BPF
program, the reactor descriptor (over a socketpair) and, as root, a real
packet socket inside a network namespace the test creates.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import sys
import textwrap
from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer, reactor, utils
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor
from twisted.logger import capturedLogs
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject
from twisted.internet.interfaces import IReadDescriptor

from kea_twisted.datagrams import Arrival, Drop, IPacketHandler, Reply
from kea_twisted.net import raw
from kea_twisted.net.raw import (
    BROADCAST_MAC,
    ParsedFrame,
    RawDhcp4Port,
    bpf_program,
    build_frame,
    checksum,
    parse_frame,
)

A = IPv4Address
SERVER_MAC = bytes.fromhex("020000000001")
CLIENT_MAC = bytes.fromhex("001122334455")
RELAY_MAC = bytes.fromhex("0200000000aa")

# Built once and checked independently below (header sums) and by the kernel
# in the namespace test (which drops frames with bad checksums).
HELLO_FRAME = bytes.fromhex(
    "001122334455" "020000000001" "0800"
    "4510 0021 0000 4000 8011 38bb c0000201 ffffffff".replace(" ", "")
    + "0043 0044 000d f979".replace(" ", "")
    + b"hello".hex()
)


def _hello():
    return build_frame(
        b"hello",
        src_mac=SERVER_MAC,
        dst_mac=CLIENT_MAC,
        src_addr=A("192.0.2.1"),
        dst_addr=A("255.255.255.255"),
        src_port=67,
        dst_port=68,
    )


def _ones_sum(data):
    """An independent one's complement sum (byte-wise, carry folded at the end)."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] * 256 + data[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _query_frame(payload=b"DISCOVER", *, src=A("0.0.0.0"), dst=A("255.255.255.255"), sport=68, dport=67, mac=CLIENT_MAC):
    return build_frame(payload, src_mac=mac, dst_mac=BROADCAST_MAC, src_addr=src, dst_addr=dst, src_port=sport, dst_port=dport)


class BuildFrameTests(SynchronousTestCase):
    def test_byte_exact(self):
        """Ethernet dst/src/0x0800; IPv4 ver/IHL 0x45, TOS 0x10, total
        length, id 0, DF, TTL 128, UDP, header checksum; UDP ports, length
        and checksum — as Kea's writeEthernetHeader/writeIpUdpHeader."""
        self.assertEqual(_hello(), HELLO_FRAME)

    def test_checksums_verify(self):
        """The IP header sums to 0xffff, and so does UDP with its pseudo-header."""
        frame = _hello()
        ip = frame[14:34]
        self.assertEqual(_ones_sum(ip), 0xFFFF)
        udp = frame[34:]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
        self.assertEqual(_ones_sum(pseudo + udp), 0xFFFF)

    def test_kea_fields(self):
        """TTL 128, DF set, TOS low delay, identification 0 (Kea's values)."""
        frame = _hello()
        self.assertEqual(frame[22], 128)
        self.assertEqual(frame[20:22], b"\x40\x00")
        self.assertEqual(frame[15], 0x10)
        self.assertEqual(frame[18:20], b"\x00\x00")

    def test_odd_payload(self):
        """An odd-length payload is summed with a zero pad byte (not sent)."""
        frame = build_frame(b"abc", src_mac=SERVER_MAC, dst_mac=CLIENT_MAC, src_addr=A("10.0.0.1"),
                            dst_addr=A("10.0.0.2"), src_port=67, dst_port=68)
        self.assertEqual(frame[-3:], b"abc")
        udp = frame[34:]
        self.assertEqual(_ones_sum(frame[26:34] + struct.pack("!BBH", 0, 17, len(udp)) + udp), 0xFFFF)

    def test_bad_mac(self):
        """A MAC that is not 6 bytes is refused."""
        self.assertRaises(ValueError, build_frame, b"", src_mac=b"\0", dst_mac=CLIENT_MAC, src_addr=A("10.0.0.1"),
                          dst_addr=A("10.0.0.2"), src_port=67, dst_port=68)

    def test_checksum_function(self):
        """checksum() folds carries and pads odd data, like Kea's calcChecksum."""
        self.assertEqual(checksum(b"\xff\xff\x00\x01"), 0x0001)
        self.assertEqual(checksum(b"\x01"), 0x0100)
        self.assertEqual(checksum(b"", 0x1FFFF), 0x0001)

    @given(st.binary(max_size=1500), st.integers(1, 65535), st.integers(1, 65535),
           st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
    @settings(max_examples=200)
    def test_round_trip(self, payload, sport, dport, src, dst):
        """parse_frame(build_frame(x)) gives x back, and the checksums verify."""
        frame = build_frame(payload, src_mac=SERVER_MAC, dst_mac=CLIENT_MAC, src_addr=A(src), dst_addr=A(dst),
                            src_port=sport, dst_port=dport)
        self.assertEqual(
            parse_frame(frame, dport),
            ParsedFrame(CLIENT_MAC, SERVER_MAC, A(src), A(dst), sport, dport, payload),
        )
        self.assertEqual(_ones_sum(frame[14:34]), 0xFFFF)


class ParseFrameTests(SynchronousTestCase):
    def test_broadcast_discover(self):
        """A client's broadcast from 0.0.0.0:68 to 255.255.255.255:67."""
        parsed = parse_frame(_query_frame(), 67, A("192.0.2.1"))
        self.assertEqual(parsed.payload, b"DISCOVER")
        self.assertEqual((parsed.src_addr, parsed.dst_addr), (A("0.0.0.0"), A("255.255.255.255")))
        self.assertEqual(parsed.src_mac, CLIENT_MAC)

    def test_unicast_to_us(self):
        """A unicast to the socket's address is accepted."""
        frame = _query_frame(src=A("192.0.2.9"), dst=A("192.0.2.1"))
        self.assertIsNotNone(parse_frame(frame, 67, A("192.0.2.1")))

    def test_unicast_to_other(self):
        """A unicast to another address is not ours (Kea's filter)."""
        frame = _query_frame(dst=A("192.0.2.2"))
        self.assertIsNone(parse_frame(frame, 67, A("192.0.2.1")))

    def test_wrong_port(self):
        """Another destination port is dropped."""
        self.assertIsNone(parse_frame(_query_frame(dport=68), 67))

    def test_not_ip(self):
        """An ARP (or any non-IPv4) frame is dropped."""
        frame = bytearray(_query_frame())
        frame[12:14] = b"\x08\x06"
        self.assertIsNone(parse_frame(bytes(frame), 67))

    def test_not_udp(self):
        """A TCP/ICMP protocol number is dropped."""
        frame = bytearray(_query_frame())
        frame[23] = 6
        self.assertIsNone(parse_frame(bytes(frame), 67))

    def test_fragment(self):
        """Fragments (offset or more-fragments) are dropped."""
        for flags in (b"\x00\x01", b"\x20\x00"):
            frame = bytearray(_query_frame())
            frame[20:22] = flags
            self.assertIsNone(parse_frame(bytes(frame), 67))

    def test_short_ihl(self):
        """An IP header length below 5 words is dropped."""
        frame = bytearray(_query_frame())
        frame[14] = 0x44
        self.assertIsNone(parse_frame(bytes(frame), 67))

    def test_ip_options_skipped(self):
        """IHL 6: the 4 option bytes are skipped to reach UDP."""
        plain = _query_frame(b"X" * 10)
        ip = bytearray(plain[14:34])
        ip[0] = 0x46
        ip[2:4] = struct.pack("!H", len(plain) - 14 + 4)
        frame = plain[:14] + bytes(ip) + b"\x01\x01\x01\x00" + plain[34:]
        self.assertEqual(parse_frame(frame, 67).payload, b"X" * 10)

    def test_truncated(self):
        """A frame shorter than its IP total length, or than the headers, is dropped."""
        frame = _query_frame(b"X" * 20)
        self.assertIsNone(parse_frame(frame[:-1], 67))
        self.assertIsNone(parse_frame(frame[:40], 67))

    def test_udp_length_too_big(self):
        """A UDP length beyond the IP payload is dropped."""
        frame = bytearray(_query_frame(b"X" * 20))
        frame[38:40] = struct.pack("!H", 100)
        self.assertIsNone(parse_frame(bytes(frame), 67))

    def test_ethernet_padding_ignored(self):
        """Padding after the IP datagram (short frames) is not payload."""
        frame = _query_frame(b"ab") + b"\0" * 16
        self.assertEqual(parse_frame(frame, 67).payload, b"ab")

    @given(st.binary(max_size=200))
    @settings(max_examples=500)
    def test_never_raises(self, data):
        """Any bytes: a ParsedFrame or None, never an exception."""
        result = parse_frame(data, 67, A("192.0.2.1"))
        self.assertTrue(result is None or isinstance(result, ParsedFrame))

    @given(st.binary(min_size=42, max_size=120), st.data())
    @settings(max_examples=300)
    def test_never_raises_ipv4_udp(self, data, more):
        """Random bytes behind a valid Ethernet/IPv4/UDP prefix never raise either."""
        frame = bytearray(data)
        frame[12:14] = b"\x08\x00"
        frame[14] = more.draw(st.sampled_from([0x45, 0x46, 0x4F, 0x40]))
        frame[23] = 17
        frame[36:38] = b"\x00\x43"
        result = parse_frame(bytes(frame), 67)
        self.assertTrue(result is None or isinstance(result, ParsedFrame))


def _run_bpf(program, frame):
    """A classic-BPF interpreter for the instructions bpf_program uses."""
    acc = x = 0
    pc = 0
    for _ in range(len(program) + 1):
        code, jt, jf, k = program[pc]
        cls = code & 0x07
        if cls == 0x06:
            return k
        if cls == 0x00:
            size = {0x00: 4, 0x08: 2, 0x10: 1}[code & 0x18]
            off = k + (x if code & 0xE0 == 0x40 else 0)
            if off + size > len(frame):
                return 0
            acc = int.from_bytes(frame[off : off + size], "big")
        elif cls == 0x01:
            if k >= len(frame):
                return 0
            x = (frame[k] & 0x0F) * 4
        elif cls == 0x05:
            op = code & 0xF0
            taken = acc == k if op == 0x10 else bool(acc & k)
            pc += jt if taken else jf
        pc += 1
    raise AssertionError("program did not return")


class BpfTests(SynchronousTestCase):
    def test_program_agrees_with_parser(self):
        """The kernel filter accepts exactly the frames parse_frame accepts
        on protocol, fragment, destination address and port."""
        program = bpf_program(A("192.0.2.1"), 67)
        cases = [
            _query_frame(),
            _query_frame(dst=A("192.0.2.1"), src=A("192.0.2.7")),
            _query_frame(dst=A("192.0.2.2")),
            _query_frame(dport=68),
            _query_frame(dport=10067),
        ]
        arp = bytearray(_query_frame())
        arp[12:14] = b"\x08\x06"
        tcp = bytearray(_query_frame())
        tcp[23] = 6
        frag = bytearray(_query_frame())
        frag[20:22] = b"\x00\x10"
        cases += [bytes(arp), bytes(tcp), bytes(frag)]
        for frame in cases:
            accepted = _run_bpf(program, frame) != 0
            self.assertEqual(accepted, parse_frame(frame, 67, A("192.0.2.1")) is not None, frame.hex())

    def test_program_port(self):
        """The port is a parameter (-p)."""
        program = bpf_program(A("192.0.2.1"), 10067)
        self.assertNotEqual(_run_bpf(program, _query_frame(dport=10067)), 0)
        self.assertEqual(_run_bpf(program, _query_frame(dport=67)), 0)

    def test_attach_to_packet_socket(self):
        """The kernel accepts the program (needs CAP_NET_RAW)."""
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(raw.ETH_P_ALL))
        except PermissionError:
            raise SkipTest("AF_PACKET needs root or CAP_NET_RAW")
        try:
            raw.attach_filter(sock, bpf_program(A("127.0.0.1"), 67))
        finally:
            sock.close()


@implementer(IPacketHandler)
class ScriptedHandler:
    def __init__(self, *outcomes):
        self.received = []
        self.outcomes = list(outcomes)

    def receive(self, data, arrival):
        self.received.append((data, arrival))
        return self.outcomes.pop(0)


class FakePacketSocket:
    """Records sendto; hands out queued frames on recvfrom."""

    def __init__(self, frames=()):
        self.frames = list(frames)
        self.sent = []
        self.closed = False

    def fileno(self):
        return 99

    def recvfrom(self, n):
        if not self.frames:
            raise BlockingIOError()
        return self.frames.pop(0)

    def sendto(self, frame, addr):
        self.sent.append((frame, addr))

    def close(self):
        self.closed = True


def _port(handler, sock, reactor_=None, clock=None):
    return RawDhcp4Port(reactor_ or MemoryReactor(), handler, "kt0", A("192.0.2.1"), 67, sock,
                        local_mac=SERVER_MAC, clock=clock or Clock())


class DescriptorTests(SynchronousTestCase):
    def test_interface(self):
        """RawDhcp4Port provides IReadDescriptor."""
        verifyObject(IReadDescriptor, _port(ScriptedHandler(), FakePacketSocket()))

    def test_broadcast_arrival_and_reply(self):
        """A broadcast DISCOVER becomes a raw Arrival (to_broadcast, the
        socket's address as local_addr); the reply frame goes to the query's
        Ethernet source from the interface's MAC and address, port 67 -> 68."""
        clock = Clock()
        clock.advance(7)
        reply = Reply(b"OFFER", A("255.255.255.255"), 68)
        handler = ScriptedHandler(reply)
        sock = FakePacketSocket([(_query_frame(), ("kt0", 0x0800, 1, 1, CLIENT_MAC))])
        port = _port(handler, sock, clock=clock)
        port.doRead()
        [(data, arrival)] = handler.received
        self.assertEqual(data, b"DISCOVER")
        self.assertEqual(
            arrival,
            Arrival("kt0", A("192.0.2.1"), 67, A("0.0.0.0"), 68, to_broadcast=True, socket_type="raw", received=7),
        )
        [(frame, addr)] = sock.sent
        self.assertEqual(addr, ("kt0", 0x0800))
        self.assertEqual(
            parse_frame(frame, 68),
            ParsedFrame(CLIENT_MAC, SERVER_MAC, A("192.0.2.1"), A("255.255.255.255"), 67, 68, b"OFFER"),
        )

    def test_dest_mac_and_source_override(self):
        """Reply.dest_mac and Reply.source_addr win when set."""
        reply = Reply(b"ACK", A("192.0.2.50"), 68, source_addr=A("192.0.2.3"), dest_mac=bytes.fromhex("0a0b0c0d0e0f"))
        sock = FakePacketSocket([(_query_frame(), None)])
        _port(ScriptedHandler(reply), sock).doRead()
        parsed = parse_frame(sock.sent[0][0], 68)
        self.assertEqual((parsed.dst_mac, parsed.src_addr, parsed.dst_addr), (bytes.fromhex("0a0b0c0d0e0f"), A("192.0.2.3"), A("192.0.2.50")))

    def test_relayed_reply_to_relay_mac(self):
        """A relayed unicast query is answered to the relay's MAC (the
        frame's source), as Kea copies the query's remote hardware address."""
        reply = Reply(b"OFFER", A("192.0.2.254"), 67)
        q = build_frame(b"RELAYED", src_mac=RELAY_MAC, dst_mac=SERVER_MAC, src_addr=A("192.0.2.254"),
                        dst_addr=A("192.0.2.1"), src_port=67, dst_port=67)
        sock = FakePacketSocket([(q, ("kt0", 0x0800, 0, 1, RELAY_MAC))])
        handler = ScriptedHandler(reply)
        _port(handler, sock).doRead()
        self.assertFalse(handler.received[0][1].to_broadcast)
        self.assertEqual(parse_frame(sock.sent[0][0], 67).dst_mac, RELAY_MAC)

    def test_deferred_reply_keeps_query_mac(self):
        """A parked reply still goes to the Ethernet source of its query."""
        d = defer.Deferred()
        sock = FakePacketSocket([(_query_frame(), None)])
        _port(ScriptedHandler(d), sock).doRead()
        self.assertEqual(sock.sent, [])
        d.callback(Reply(b"late", A("255.255.255.255"), 68))
        self.assertEqual(parse_frame(sock.sent[0][0], 68).dst_mac, CLIENT_MAC)

    def test_skips_outgoing_other_iface_and_junk(self):
        """Our own outgoing frames, frames from another interface, and junk
        never reach the engine; reading stops when the socket is empty."""
        frames = [
            (_query_frame(), ("kt0", 0x0800, raw.PACKET_OUTGOING, 1, SERVER_MAC)),
            (_query_frame(), ("eth9", 0x0800, 1, 1, CLIENT_MAC)),
            (b"\x00" * 10, ("kt0", 0x0800, 1, 1, CLIENT_MAC)),
            (_query_frame(dst=A("192.0.2.77")), ("kt0", 0x0800, 0, 1, CLIENT_MAC)),
        ]
        handler = ScriptedHandler()
        _port(handler, FakePacketSocket(frames)).doRead()
        self.assertEqual(handler.received, [])

    def test_drop_sends_nothing(self):
        """Drop: no frame."""
        sock = FakePacketSocket([(_query_frame(), None)])
        _port(ScriptedHandler(Drop("x")), sock).doRead()
        self.assertEqual(sock.sent, [])

    def test_send_failure_logged(self):
        """A refused sendto is DHCP4_PACKET_SEND_FAIL, not an exception."""

        class Refusing(FakePacketSocket):
            def sendto(self, frame, addr):
                raise OSError(100, "Network is down")

        sock = Refusing([(_query_frame(), None)])
        with capturedLogs() as events:
            _port(ScriptedHandler(Reply(b"x", A("255.255.255.255"), 68)), sock).doRead()
        self.assertIn("DHCP4_PACKET_SEND_FAIL", [e.get("msgid") for e in events])

    def test_receive_error_logged(self):
        """A receive error other than EAGAIN is DHCP4_BUFFER_RECEIVE_FAIL."""

        class Broken(FakePacketSocket):
            def recvfrom(self, n):
                raise OSError(100, "Network is down")

        with capturedLogs() as events:
            _port(ScriptedHandler(), Broken()).doRead()
        self.assertIn("DHCP4_BUFFER_RECEIVE_FAIL", [e.get("msgid") for e in events])

    def test_start_stop_listening(self):
        """startListening registers the packet socket and the fallback drain
        with the reactor; stopListening removes both and closes them."""
        memory = MemoryReactor()
        sock, fallback = FakePacketSocket(), FakePacketSocket()
        port = RawDhcp4Port(memory, ScriptedHandler(), "kt0", A("192.0.2.1"), 67, sock, fallback, SERVER_MAC, Clock())
        port.startListening()
        self.assertEqual(len(memory.readers), 2)
        self.successResultOf(port.stopListening())
        self.assertEqual(memory.readers, set())
        self.assertTrue(sock.closed and fallback.closed)


class PairedSocket:
    """One end of an AF_UNIX datagram socketpair, dressed as a packet socket."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def recvfrom(self, n):
        return self.sock.recv(n), None

    def sendto(self, frame, addr):
        self.sock.send(frame)

    def close(self):
        self.sock.close()


class SocketPairTests(TestCase):
    @defer.inlineCallbacks
    def test_reactor_reads_descriptor(self):
        """With the real reactor: a frame written to the other end of a
        socketpair is read by the descriptor, answered, and the reply frame
        comes back on the pair."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(theirs.close)
        ours.setblocking(False)
        theirs.setblocking(False)
        answered = defer.Deferred()

        @implementer(IPacketHandler)
        class Handler:
            def receive(self, data, arrival):
                reactor.callLater(0, answered.callback, arrival)
                return Reply(data.upper(), A("255.255.255.255"), 68)

        port = RawDhcp4Port(reactor, Handler(), "kt0", A("192.0.2.1"), 67, PairedSocket(ours), local_mac=SERVER_MAC)
        port.startListening()
        self.addCleanup(port.stopListening)
        theirs.send(_query_frame(b"discover"))
        arrival = yield answered
        self.assertTrue(arrival.to_broadcast)
        parsed = parse_frame(theirs.recv(2048), 68)
        self.assertEqual((parsed.payload, parsed.dst_mac, parsed.src_mac), (b"DISCOVER", CLIENT_MAC, SERVER_MAC))


# --- Real packet sockets, inside a namespace the test creates ---------------

SERVER_SCRIPT = textwrap.dedent(
    """
    import sys
    from ipaddress import IPv4Address
    from twisted.internet import reactor
    from zope.interface import implementer
    from kea_twisted.datagrams import IPacketHandler, Reply
    from kea_twisted.net.raw import RawDhcp4Port, open_raw_socket

    @implementer(IPacketHandler)
    class Handler:
        def receive(self, data, arrival):
            print("ARRIVAL", arrival.iface, arrival.local_addr, arrival.remote_addr,
                  arrival.remote_port, arrival.to_broadcast, arrival.socket_type, flush=True)
            reactor.callLater(0.5, reactor.stop)
            return Reply(b"OFFER:" + data, IPv4Address("255.255.255.255"), 68)

    sock, fallback = open_raw_socket("kt0", IPv4Address("192.0.2.1"), 67)
    port = RawDhcp4Port(reactor, Handler(), "kt0", IPv4Address("192.0.2.1"), 67, sock, fallback)
    port.startListening()
    print("MAC", port.local_mac.hex(), flush=True)
    reactor.callLater(8, reactor.stop)
    reactor.run()
    """
)

CLIENT_SCRIPT = textwrap.dedent(
    """
    import select, socket, sys
    from ipaddress import IPv4Address as A
    from kea_twisted.net.raw import build_frame, parse_frame, BROADCAST_MAC, PACKET_OUTGOING

    pkt = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    pkt.bind(("kt1", 3))
    MAC = pkt.getsockname()[4]   # the frame must come back to kt1's own MAC
    print("MAC", MAC.hex())
    query = build_frame(b"DISCOVER-LIKE", src_mac=MAC, dst_mac=BROADCAST_MAC, src_addr=A("0.0.0.0"),
                        dst_addr=A("255.255.255.255"), src_port=68, dst_port=67)
    # A UDP socket on port 68: the kernel delivers the reply to it only if
    # its IP and UDP checksums are right.
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    udp.setsockopt(socket.SOL_SOCKET, 25, b"kt1\\0")
    udp.bind(("0.0.0.0", 68))
    frame = None
    for attempt in range(40):          # bounded: about 8 seconds
        pkt.send(query)
        ready, _, _ = select.select([pkt], [], [], 0.2)
        while ready:
            data, addr = pkt.recvfrom(65535)
            if addr[2] != PACKET_OUTGOING and parse_frame(data, 68) is not None:
                frame = data
                break
            ready, _, _ = select.select([pkt], [], [], 0)
        if frame:
            break
    if frame is None:
        print("NOREPLY")
        sys.exit(1)
    print("FRAME", frame.hex())
    ready, _, _ = select.select([udp], [], [], 1.0)
    print("KERNEL", udp.recv(2048).hex() if ready else "none")
    """
)


class NamespaceTests(TestCase):
    """A RawDhcp4Port on one end of a veth pair in a fresh network
    namespace, a client on the other end in a second one; nothing touches
    the host's interfaces."""

    timeout = 30

    def setUp(self):
        if os.geteuid() != 0:
            raise SkipTest("needs root (network namespaces, AF_PACKET)")
        self.ip = shutil.which("ip")
        if self.ip is None:
            raise SkipTest("needs iproute2's ip")
        self.server_ns = f"kt-test-{os.getpid()}-s"
        self.client_ns = f"kt-test-{os.getpid()}-c"
        import subprocess

        def run(*args):
            subprocess.run([self.ip, *args], check=True, capture_output=True, timeout=10)

        for ns in (self.server_ns, self.client_ns):
            try:
                run("netns", "add", ns)
            except subprocess.CalledProcessError as e:
                raise SkipTest(f"cannot create a network namespace: {e.stderr.decode().strip()}")
            self.addCleanup(subprocess.run, [self.ip, "netns", "del", ns], capture_output=True, timeout=10)
        # Both ends are created inside the server's namespace, then one moves
        # to the client's: no interface ever exists in the host namespace.
        run("-n", self.server_ns, "link", "add", "kt0", "type", "veth", "peer", "name", "kt1")
        run("-n", self.server_ns, "link", "set", "kt1", "netns", self.client_ns)
        run("-n", self.server_ns, "addr", "add", "192.0.2.1/24", "dev", "kt0")
        run("-n", self.client_ns, "addr", "add", "192.0.2.2/24", "dev", "kt1")
        run("-n", self.server_ns, "link", "set", "kt0", "up")
        run("-n", self.client_ns, "link", "set", "kt1", "up")

    def _in_ns(self, ns, script):
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return utils.getProcessOutputAndValue(
            self.ip, ["netns", "exec", ns, sys.executable, "-c", script], env={"PYTHONPATH": repo}, path=repo
        )

    @defer.inlineCallbacks
    def test_broadcast_discover_answered(self):
        """A broadcast from 0.0.0.0:68 reaches the engine as a raw broadcast
        Arrival; the reply frame goes to the client's MAC from the
        interface's MAC and address, 67 -> 255.255.255.255:68, TTL 128, and
        the kernel accepts its checksums."""
        server = self._in_ns(self.server_ns, SERVER_SCRIPT)
        client = self._in_ns(self.client_ns, CLIENT_SCRIPT)
        (s_out, s_err, s_code), (c_out, c_err, c_code) = yield defer.gatherResults([server, client])
        self.assertEqual(s_code, 0, s_err.decode())
        self.assertEqual(c_code, 0, c_out.decode() + c_err.decode())
        s_lines = dict(line.split(" ", 1) for line in s_out.decode().splitlines())
        c_lines = dict(line.split(" ", 1) for line in c_out.decode().splitlines())
        self.assertEqual(s_lines["ARRIVAL"], "kt0 192.0.2.1 0.0.0.0 68 True raw")
        frame = bytes.fromhex(c_lines["FRAME"])
        parsed = parse_frame(frame, 68)
        self.assertEqual(parsed.dst_mac.hex(), c_lines["MAC"])
        self.assertEqual(parsed.src_mac.hex(), s_lines["MAC"])
        self.assertEqual((parsed.src_addr, parsed.dst_addr), (A("192.0.2.1"), A("255.255.255.255")))
        self.assertEqual((parsed.src_port, parsed.dst_port), (67, 68))
        self.assertEqual(parsed.payload, b"OFFER:DISCOVER-LIKE")
        self.assertEqual(frame[22], 128)
        self.assertEqual(bytes.fromhex(c_lines["KERNEL"]), b"OFFER:DISCOVER-LIKE")
