"""
Tests for kea_twisted.net.control: Kea's unix control socket
(spec/control-channel.md §1.1, §1.2, §1.5).
"""

from __future__ import annotations

import os
import stat
import tempfile

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject
from twisted.internet.interfaces import IHalfCloseableProtocol

from kea_twisted.commands import CommandTable, answer, install_builtin_commands
from kea_twisted.net.control import (
    TIMEOUT,
    ControlFactory,
    ControlSocket,
    ControlSocketError,
    ControlSocketService,
    socket_name_from_config,
)

VERSION_ANSWER = b'{ "arguments": { "extended": "E" }, "result": 0, "text": "2.2.0" }'


def make_table() -> CommandTable:
    table = CommandTable()
    install_builtin_commands(table, extended="E", build_report="R")
    return table


class Connection:
    """A ControlProtocol on a StringTransport with a task.Clock."""

    def __init__(self, table=None):
        self.clock = Clock()
        self.factory = ControlFactory(table or make_table(), self.clock)
        self.protocol = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    @property
    def output(self) -> bytes:
        return self.transport.value()

    @property
    def closing(self) -> bool:
        return self.transport.disconnecting


class ProtocolTests(SynchronousTestCase):
    """One command per connection, the answer, then close."""

    def test_interface(self):
        """The protocol accepts half-closes."""
        self.assertTrue(verifyObject(IHalfCloseableProtocol, Connection().protocol))

    def test_one_command(self):
        """The answer in Kea's text, no newline, then the connection closes."""
        connection = Connection()
        connection.send(b'{"command":"version-get"}')
        self.assertEqual(connection.output, VERSION_ANSWER)
        self.assertTrue(connection.closing)

    def test_newlines_and_leading_whitespace(self):
        """\\n, \\r\\n and leading whitespace are fine."""
        for data in (b'{"command":"version-get"}\n', b'  \r\n {"command":"version-get"}\r\n'):
            connection = Connection()
            connection.send(data)
            self.assertEqual(connection.output, VERSION_ANSWER)

    def test_only_first_command(self):
        """A second command on the connection is ignored, also when it comes
        in a later write."""
        connection = Connection()
        connection.send(b'{"command":"version-get"}{"command":"list-commands"}')
        connection.send(b'{"command":"list-commands"}')
        self.assertEqual(connection.output, VERSION_ANSWER)

    def test_chunks_with_gaps(self):
        """4 chunks 4 s apart (12 s in all) are one command: every read
        restarts the 10 s timer."""
        connection = Connection()
        for chunk in (b'{"comm', b'and": "vers', b'ion-get", "argu', b'ments": {}}'):
            connection.clock.advance(4)
            connection.send(chunk)
        self.assertEqual(connection.output, VERSION_ANSWER)

    def test_gap_of_nine_seconds(self):
        """2 chunks 9 s apart are answered."""
        connection = Connection()
        connection.send(b'{"command": ')
        connection.clock.advance(9)
        connection.send(b'"version-get"}')
        self.assertEqual(connection.output, VERSION_ANSWER)

    def test_idle_timeout(self):
        """Connect and send nothing: after 10 s Kea's timeout answer."""
        connection = Connection()
        connection.clock.advance(TIMEOUT - 0.01)
        self.assertEqual(connection.output, b"")
        connection.clock.advance(0.01)
        self.assertEqual(connection.output, b'{ "result": 1, "text": '
                                            b'"Connection over control channel timed out" }')
        self.assertTrue(connection.closing)

    def test_partial_timeout(self):
        """24 bytes of command then silence: the partial-command text."""
        connection = Connection()
        connection.send(b'{"command":"version-get"')
        connection.clock.advance(TIMEOUT)
        self.assertEqual(connection.output, b'{ "result": 1, "text": "Connection over control '
                                            b'channel timed out, discarded partial command of '
                                            b'24 bytes" }')

    def test_timer_restarted_by_reads(self):
        """The timer counts from the last read."""
        connection = Connection()
        connection.clock.advance(9)
        connection.send(b"{")
        connection.clock.advance(9)
        self.assertEqual(connection.output, b"")
        connection.clock.advance(1)
        self.assertIn(b"discarded partial command of 1 bytes", connection.output)

    def test_half_close_before_command(self):
        """Partial JSON (or nothing) then SHUT_WR: no answer, closed at once,
        no timer left."""
        for data in (b'{"command":"version-get"', b""):
            connection = Connection()
            if data:
                connection.send(data)
            connection.protocol.readConnectionLost()
            self.assertEqual(connection.output, b"")
            self.assertTrue(connection.closing)
            connection.protocol.connectionLost(None)
            self.assertEqual(connection.clock.getDelayedCalls(), [])

    def test_half_close_after_command(self):
        """A complete command then SHUT_WR is answered."""
        table = make_table()
        pending = Deferred()
        table.register("slow", lambda command: pending)
        connection = Connection(table)
        connection.send(b'{"command":"slow"}')
        connection.protocol.readConnectionLost()
        self.assertFalse(connection.closing)
        pending.callback(answer(0, "ok"))
        self.assertEqual(connection.output, b'{ "result": 0, "text": "ok" }')
        self.assertTrue(connection.closing)

    def test_no_timeout_while_processing(self):
        """The timer stops while the command runs."""
        table = make_table()
        pending = Deferred()
        table.register("slow", lambda command: pending)
        connection = Connection(table)
        connection.send(b'{"command":"slow"}')
        connection.clock.advance(60)
        self.assertEqual(connection.output, b"")
        pending.callback(answer(0, "ok"))
        self.assertEqual(connection.output, b'{ "result": 0, "text": "ok" }')

    def test_answer_not_taken(self):
        """A peer that never reads the answer is cut off 10 s later."""
        connection = Connection()
        connection.send(b'{"command":"version-get"}')
        connection.clock.advance(TIMEOUT)
        self.assertTrue(connection.transport.disconnected)
        self.assertEqual(connection.output, VERSION_ANSWER)

    def test_closed_before_answer(self):
        """An answer for a connection already gone is dropped quietly."""
        table = make_table()
        pending = Deferred()
        table.register("slow", lambda command: pending)
        connection = Connection(table)
        connection.send(b'{"command":"slow"}')
        connection.protocol.connectionLost(None)
        pending.callback(answer(0, "ok"))
        self.assertEqual(connection.output, b"")
        self.assertEqual(connection.factory.connections, set())

    def test_malformed(self):
        """Scanner and parser errors are answered with Kea's texts."""
        cases = [
            (b"hello world", b'{ "result": 1, "text": "invalid first character h" }'),
            (b'{"command": version-get}',
             b'{ "result": 1, "text": "error: unexpected character v in <wire>:0:13" }'),
            (b'{"command": "version-get",}',
             b'{ "result": 1, "text": "String expected in <wire>:0:27" }'),
            (b'{"command":"foo-bar"}', b'{ "result": 2, "text": "\'foo-bar\' command not supported." }'),
        ]
        for data, expected in cases:
            connection = Connection()
            connection.send(data)
            self.assertEqual(connection.output, expected, data)
            self.assertTrue(connection.closing)

    def test_handler_error(self):
        """A raising handler: result 1, the connection answered and closed."""
        table = make_table()
        table.register("boom", lambda command: {}["missing"])
        connection = Connection(table)
        connection.send(b'{"command":"boom"}')
        self.assertEqual(connection.output, b'{ "result": 1, "text": "Error during command '
                                            b'processing: \'missing\'" }')
        self.flushLoggedErrors(KeyError)

    def test_unwritable_answer(self):
        """An answer Kea's text cannot express becomes an internal error."""
        table = make_table()
        table.register("odd", lambda command: {"result": 0, "arguments": object()})
        connection = Connection(table)
        connection.send(b'{"command":"odd"}')
        self.assertIn(b"internal server error", connection.output)
        self.flushLoggedErrors(TypeError)

    def test_close_if_idle(self):
        """Closing the socket closes idle connections, not busy ones."""
        table = make_table()
        pending = Deferred()
        table.register("slow", lambda command: pending)
        idle = Connection(table)
        busy = Connection(table)
        busy.send(b'{"command":"slow"}')
        idle.protocol.close_if_idle()
        busy.protocol.close_if_idle()
        self.assertTrue(idle.closing)
        self.assertFalse(busy.closing)

    def test_big_command(self):
        """A 200 KB command is answered."""
        connection = Connection()
        data = b'{"command":"version-get","arguments":{"pad":"' + b"y" * 200_000 + b'"}}'
        for i in range(0, len(data), 32768):
            connection.send(data[i:i + 32768])
        self.assertEqual(connection.output, VERSION_ANSWER)

    def test_huge_command(self):
        """A 10 MB command: one error answer, no unbounded buffer."""
        connection = Connection()
        connection.send(b'{"command":"version-get","arguments":{"pad":"')
        chunk = b"y" * 65536
        for _ in range(160):
            if connection.closing:
                break
            connection.send(chunk)
        self.assertEqual(connection.output,
                         b'{ "result": 1, "text": "command is larger than 8388608 bytes" }')


class ConfigTests(SynchronousTestCase):
    """socket_name_from_config: Kea's BadSocketInfo texts."""

    def test_texts(self):
        """Each missing or wrong field."""
        cases = [
            ({}, "Missing socket_info parameters, can't create socket."),
            ({"socket-name": "x"}, "Mandatory 'socket-type' parameter missing"),
            ({"socket-type": "tcp"}, "Invalid 'socket-type' parameter value tcp"),
            ({"socket-type": "unix"}, "Mandatory 'socket-name' parameter missing"),
            ({"socket-type": "unix", "socket-name": 5},
             "'socket-name' parameter expected to be a string"),
        ]
        for info, text in cases:
            with self.assertRaises(ControlSocketError) as caught:
                socket_name_from_config(info)
            self.assertEqual(str(caught.exception), text)
        self.assertEqual(socket_name_from_config({"socket-type": "unix", "socket-name": "/a"}),
                         "/a")


class Client(Protocol):
    """Sends ``data``, half-closes optionally, collects the answer to EOF."""

    def __init__(self, data: bytes, half_close: bool = False):
        self.data = data
        self.half_close = half_close
        self.received = b""
        self.done: Deferred = Deferred()

    def connectionMade(self):
        self.transport.write(self.data)
        if self.half_close:
            self.transport.loseWriteConnection()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.done.callback(self.received)


class RealSocketTests(TestCase):
    """ControlSocket on a real unix socket in a temporary directory."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="kt-ctrl-")
        self.path = os.path.join(self.directory, "kea4.sock")
        self.addCleanup(self._remove_directory)

    def _remove_directory(self):
        for name in os.listdir(self.directory):
            os.remove(os.path.join(self.directory, name))
        os.rmdir(self.directory)

    def open(self) -> ControlSocket:
        control = ControlSocket(self.path, make_table(), reactor)
        control.open()
        self.addCleanup(control.close)
        return control

    @inlineCallbacks
    def ask(self, data: bytes, half_close: bool = False):
        client = Client(data, half_close)
        yield connectProtocol(UNIXClientEndpoint(reactor, self.path), client)
        received = yield client.done
        return received

    @inlineCallbacks
    def test_command_over_socket(self):
        """A real client gets Kea's answer and EOF; the socket has the
        umask's mode and the 0600 lock file exists."""
        self.open()
        received = yield self.ask(b'{"command":"version-get"}')
        self.assertEqual(received, VERSION_ANSWER)
        umask = os.umask(0o022)
        os.umask(umask)
        mode = os.stat(self.path).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o777 & ~umask)
        self.assertEqual(stat.S_IMODE(os.stat(self.path + ".lock").st_mode), 0o600)

    @inlineCallbacks
    def test_half_close_partial(self):
        """Partial command then SHUT_WR: no answer, EOF."""
        self.open()
        received = yield self.ask(b'{"command":"version-get"', half_close=True)
        self.assertEqual(received, b"")

    @inlineCallbacks
    def test_concurrent_connections(self):
        """While one connection holds half a command another is served; the
        first is answered when it completes (spec §1.1)."""
        self.open()
        first = Client(b'{"command":')
        yield connectProtocol(UNIXClientEndpoint(reactor, self.path), first)
        second = yield self.ask(b'{"command":"build-report"}')
        self.assertEqual(second, b'{ "result": 0, "text": "R" }')
        self.assertFalse(first.done.called)
        first.transport.write(b'"version-get"}')
        received = yield first.done
        self.assertEqual(received, VERSION_ANSWER)

    @inlineCallbacks
    def test_stale_file_removed_and_cleanup(self):
        """A stale file at the path is replaced; closing removes the socket
        and the lock file."""
        with open(self.path, "w") as stale:
            stale.write("stale")
        control = ControlSocket(self.path, make_table(), reactor)
        control.open()
        self.assertTrue(stat.S_ISSOCK(os.stat(self.path).st_mode))
        yield control.close()
        self.assertFalse(os.path.exists(self.path))
        self.assertFalse(os.path.exists(self.path + ".lock"))

    def test_second_instance_locked(self):
        """A second socket on the same path fails with Kea's text and the
        first one's socket stays."""
        self.open()
        with self.assertRaises(ControlSocketError) as caught:
            ControlSocket(self.path, make_table(), reactor).open()
        self.assertEqual(str(caught.exception),
                         f"cannot lock socket lockfile, {self.path}.lock, : "
                         "Resource temporarily unavailable")
        self.assertTrue(stat.S_ISSOCK(os.stat(self.path).st_mode))

    def test_missing_directory(self):
        """A missing directory: Kea's lockfile text."""
        path = os.path.join(self.directory, "nodir", "x.sock")
        with self.assertRaises(ControlSocketError) as caught:
            ControlSocket(path, make_table(), reactor).open()
        self.assertEqual(str(caught.exception),
                         f"cannot create socket lockfile, {path}.lock, : No such file or directory")

    def test_name_too_long(self):
        """A path longer than sun_path: 'File name too long'; the lock file
        stays behind as with Kea."""
        path = os.path.join(self.directory, "a" * 120 + ".sock")
        with self.assertRaises(ControlSocketError) as caught:
            ControlSocket(path, make_table(), reactor).open()
        self.assertEqual(str(caught.exception), "File name too long")
        self.assertTrue(os.path.exists(path + ".lock"))

    @inlineCallbacks
    def test_service(self):
        """ControlSocketService opens on start and cleans up on stop."""
        service = ControlSocketService(self.path, make_table(), reactor)
        service.startService()
        self.assertTrue(os.path.exists(self.path))
        yield service.stopService()
        self.assertFalse(os.path.exists(self.path))
        self.assertFalse(os.path.exists(self.path + ".lock"))
