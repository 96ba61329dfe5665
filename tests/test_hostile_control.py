"""
Hostile input on the control socket (kea_twisted.net.control,
kea_twisted.kea_json.JSONFeed): a 10 MB command, 20,000-deep JSON, a client
dribbling bytes, an idle client, garbage.  Each gets a Kea-style
``{"result": 1, "text": ...}`` answer and a closed connection, no traceback
is logged, and the next connection is served.  Fakes (StringTransport,
task.Clock) for the protocol; one real unix socket for the whole path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from kea_twisted.commands import CommandTable, install_builtin_commands
from kea_twisted.kea_json import MAX_COMMAND_SIZE, MAX_DEPTH
from kea_twisted.net.control import COMMAND_DEADLINE, TIMEOUT, ControlFactory, ControlSocket
from tests.kea_socket import exchange_raw

TEN_MB = 10 * 1024 * 1024
DEEP = 20000


def make_table() -> CommandTable:
    table = CommandTable()
    install_builtin_commands(table, extended="E", build_report="R")
    return table


def big_command() -> bytes:
    return b'{"command": "config-test", "arguments": {"Dhcp4": {"x": "' + b"a" * TEN_MB + b'"}}}'


def deep_list() -> bytes:
    return b'{"command": "version-get", "arguments": ' + b"[" * DEEP + b"]" * DEEP + b"}"


def deep_map() -> bytes:
    return b'{"command": "version-get", "arguments": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}"


def _no_tracebacks(test) -> list:
    """Collect logged failures (tracebacks) for the test's duration."""
    failures = []

    def observe(event):
        if event.get("log_failure") is not None:
            failures.append(event)

    globalLogPublisher.addObserver(observe)
    test.addCleanup(globalLogPublisher.removeObserver, observe)
    return failures


class Connections:
    """A factory on a task.Clock; each ``connect()`` is a fresh protocol on
    a StringTransport."""

    def __init__(self):
        self.clock = Clock()
        self.factory = ControlFactory(make_table(), self.clock)

    def connect(self):
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def still_serving(self, test):
        protocol, transport = self.connect()
        protocol.dataReceived(b'{"command": "version-get"}')
        test.assertEqual(json.loads(transport.value())["result"], 0)
        test.assertTrue(transport.disconnecting)


class ProtocolTests(SynchronousTestCase):
    def setUp(self):
        self.failures = _no_tracebacks(self)
        self.connections = Connections()

    def tearDown(self):
        self.assertEqual(self.failures, [])

    def assertRefused(self, transport, text):
        got = json.loads(transport.value())
        self.assertEqual(got, {"result": 1, "text": text})
        self.assertTrue(transport.disconnecting)
        self.connections.still_serving(self)

    def test_ten_megabyte_command_at_once(self):
        """10 MB in one read: ``command is larger than 8388608 bytes`` and
        the buffer stops at the limit."""
        protocol, transport = self.connections.connect()
        protocol.dataReceived(big_command())
        self.assertLessEqual(protocol.feed.processed_size, MAX_COMMAND_SIZE + 1)
        self.assertRefused(transport, f"command is larger than {MAX_COMMAND_SIZE} bytes")

    def test_ten_megabyte_command_in_pieces(self):
        """The same in 64 KiB reads; what comes after the answer is not
        read or buffered."""
        protocol, transport = self.connections.connect()
        data = big_command()
        for start in range(0, len(data), 65536):
            protocol.dataReceived(data[start:start + 65536])
        self.assertLessEqual(protocol.feed.processed_size, MAX_COMMAND_SIZE + 65536)
        self.assertRefused(transport, f"command is larger than {MAX_COMMAND_SIZE} bytes")

    def test_deep_json(self):
        """20,000-deep lists and maps are refused at depth 128, without
        recursion."""
        for data in (deep_list(), deep_map()):
            protocol, transport = self.connections.connect()
            protocol.dataReceived(data)
            self.assertRefused(transport, f"JSON nesting deeper than {MAX_DEPTH} levels")

    def test_deep_json_unclosed(self):
        """Opening brackets only, dribbled in small reads: refused as soon
        as the depth passes the limit."""
        protocol, transport = self.connections.connect()
        protocol.dataReceived(b'{"command": "version-get", "arguments": ')
        for _ in range(DEEP // 100):
            protocol.dataReceived(b"[" * 100)
            if transport.disconnecting:
                break
        self.assertRefused(transport, f"JSON nesting deeper than {MAX_DEPTH} levels")

    def test_slow_client_dribbling(self):
        """One byte every 9 s never trips the 10 s idle timer, but the
        whole command must arrive within COMMAND_DEADLINE: then Kea's
        timeout answer with the discarded size."""
        protocol, transport = self.connections.connect()
        sent = 0
        for _ in range(int(COMMAND_DEADLINE) + 10):  # bounded
            if transport.disconnecting:
                break
            protocol.dataReceived(b" " if sent else b"{")
            sent += 1
            self.connections.clock.advance(TIMEOUT - 1)
        self.assertTrue(transport.disconnecting)
        self.assertLessEqual(self.connections.clock.seconds(), COMMAND_DEADLINE + TIMEOUT)
        self.assertRefused(transport, "Connection over control channel timed out, "
                                      f"discarded partial command of {protocol.feed.processed_size} bytes")
        self.assertGreater(protocol.feed.processed_size, 1)

    def test_idle_client(self):
        """A client that sends nothing is answered after 10 s."""
        protocol, transport = self.connections.connect()
        self.connections.clock.advance(TIMEOUT)
        self.assertRefused(transport, "Connection over control channel timed out")

    def test_garbage(self):
        """Bytes that are not JSON are answered with the parser's error."""
        protocol, transport = self.connections.connect()
        protocol.dataReceived(b"\x00\xff{]]]" + os.urandom(64))
        got = json.loads(transport.value())
        self.assertEqual(got["result"], 1)
        self.assertTrue(transport.disconnecting)
        self.connections.still_serving(self)

    def test_deadline_does_not_cut_a_slow_answer(self):
        """The deadline bounds receiving only: a command being processed
        past it is still answered."""
        table = make_table()
        pending = Deferred()
        table.register("slow-command", lambda command: pending)
        clock = Clock()
        protocol = ControlFactory(table, clock).buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b'{"command": "slow-command"}')
        clock.advance(COMMAND_DEADLINE * 2)
        self.assertEqual(transport.value(), b"")
        pending.callback({"result": 0, "text": "done"})
        self.assertEqual(json.loads(transport.value()), {"result": 0, "text": "done"})


class RealSocketTests(TestCase):
    """The whole path on a real unix socket in a private directory."""

    timeout = 60

    def setUp(self):
        self.failures = _no_tracebacks(self)
        directory = tempfile.mkdtemp(prefix="kt-hostile-ctl-")
        self.addCleanup(shutil.rmtree, directory, True)
        self.path = os.path.join(directory, "kea4.sock")
        control = ControlSocket(self.path, make_table(), reactor)
        control.open()
        self.addCleanup(control.close)

    def ask(self, data: bytes) -> Deferred:
        return exchange_raw(reactor, self.path, data)

    @inlineCallbacks
    def test_hostile_then_served(self):
        """A 10 MB command and a 20,000-deep one are refused over the real
        socket; version-get is answered after each; nothing is logged as a
        traceback."""
        for data, text in ((big_command(), f"command is larger than {MAX_COMMAND_SIZE} bytes"),
                           (deep_list(), f"JSON nesting deeper than {MAX_DEPTH} levels")):
            received = yield self.ask(data)
            self.assertEqual(json.loads(received), {"result": 1, "text": text})
            received = yield self.ask(b'{"command": "version-get"}')
            self.assertEqual(json.loads(received)["result"], 0)
        self.assertEqual(self.failures, [])
