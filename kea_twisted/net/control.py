"""
Kea's unix ``control-socket``: one command per connection, the answer, then
close.

Thin Twisted shell over :class:`kea_twisted.kea_json.JSONFeed` and
:class:`kea_twisted.commands.CommandTable` ([src] Kea 2.2
``src/lib/config/command_mgr.cc``; spec/control-channel.md §1):

* Bytes go into a :class:`~kea_twisted.kea_json.JSONFeed` until the first
  complete JSON object (or list); the rest of the connection's input is
  ignored.  A scanner or parser failure is answered ``{ "result": 1,
  "text": "<Kea's error>" }``.  The answer is Kea's text form (no newline);
  then the connection is closed.
* Idle timeout 10 s, restarted on every read, stopped while the command is
  processed: ``Connection over control channel timed out`` (``, discarded
  partial command of N bytes`` when part of a command came).
* The whole command must arrive within :data:`COMMAND_DEADLINE` (60 s) of
  connecting, however steadily it dribbles in (Kea has no such bound):
  the same timeout answer;
* The client half-closes before a complete command: no answer, the
  connection is closed (Kea logs ``COMMAND_SOCKET_CLOSED_BY_FOREIGN_HOST``).
* :class:`ControlSocket` takes ``<socket-name>.lock`` (mode 0600,
  ``flock(LOCK_EX|LOCK_NB)``) before it removes whatever is at the path and
  binds; the socket gets the mode ``bind`` would give it under the process
  umask (0755 with umask 022).  Closing removes the socket and the lock
  file.  Failures raise :class:`ControlSocketError` with Kea's reasons
  (``cannot lock socket lockfile, <name>.lock, : Resource temporarily
  unavailable``).

Tests: tests/test_net_control.py, tests/test_hostile_control.py
"""

from __future__ import annotations

import errno
import fcntl
import os
from typing import Any, Dict, Optional, Set

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from kea_twisted.commands import RESULT_ERROR, CommandTable, answer
from kea_twisted.kea_json import MAX_COMMAND_SIZE, JSONFeed, KeaJSONError, to_kea_bytes

__all__ = [
    "TIMEOUT",
    "COMMAND_DEADLINE",
    "ControlSocketError",
    "ControlProtocol",
    "ControlFactory",
    "ControlSocket",
    "ControlSocketService",
    "socket_name_from_config",
]

log = Logger()

#: Kea's ``TIMEOUT_DHCP_SERVER_RECEIVE_COMMAND`` (10 000 ms), not configurable.
TIMEOUT = 10.0

#: The whole command must arrive within this many seconds of connecting.
#: Kea 2.2 restarts its 10 s timer on every read, so a client sending one
#: byte every 9 s holds a connection (and its buffer) for ever; ours ends
#: it with the same timeout answer.
COMMAND_DEADLINE = 60.0


class ControlSocketError(Exception):
    """The control socket cannot be opened; ``str()`` is Kea's reason."""


@implementer(IHalfCloseableProtocol)
class ControlProtocol(Protocol):
    """One control connection (Kea's ``Connection``); the command table,
    the reactor and the limits are its factory's."""

    def __init__(self, factory: "ControlFactory"):
        self.factory = factory
        self._deadline_at: Optional[float] = None
        self.feed = JSONFeed(max_size=factory.max_size)
        self._timer: Any = None
        self._responding = False
        self._closed = False

    # -- timer -----------------------------------------------------------------

    def _schedule_timer(self) -> None:
        self._cancel_timer()
        reactor = self.factory.reactor
        delay = self.factory.timeout
        if self._deadline_at is not None and not self._responding:
            delay = max(0.0, min(delay, self._deadline_at - reactor.seconds()))
        self._timer = reactor.callLater(delay, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._responding:
            # The answer was written but the peer does not take it.
            self.transport.abortConnection()
            return
        log.info("{msgid} Timeout occurred for connection over control channel",
                 msgid="COMMAND_SOCKET_CONNECTION_TIMEOUT")
        text = "Connection over control channel timed out"
        size = self.feed.processed_size
        if size:
            text += f", discarded partial command of {size} bytes"
        self._send(answer(RESULT_ERROR, text))

    # -- Protocol ----------------------------------------------------------------

    def connectionMade(self) -> None:
        log.debug("{msgid} Opened socket for incoming command connection",
                  msgid="COMMAND_SOCKET_CONNECTION_OPENED")
        self._deadline_at = self.factory.reactor.seconds() + self.factory.deadline
        self._schedule_timer()

    def dataReceived(self, data: bytes) -> None:
        if self._responding or self._closed:
            return  # Kea reads nothing after the command.
        self._schedule_timer()
        self.feed.feed(data)
        if self.feed.need_data:
            return
        if self.feed.failed:
            self._reject(self.feed.error or "invalid command")
            return
        try:
            element = self.feed.to_element()
        except KeaJSONError as error:
            self._reject(str(error))
            return
        self._responding = True
        self._cancel_timer()  # a slow command must not time out
        d = self.factory.table.process(element)
        d.addErrback(self._process_failed)
        d.addCallback(self._send)

    def _reject(self, text: str) -> None:
        log.warn("{msgid} Error during command processing: {error}",
                 msgid="COMMAND_PROCESS_ERROR1", error=text)
        self._send(answer(RESULT_ERROR, text))

    @staticmethod
    def _process_failed(failure: Failure) -> Dict[str, Any]:
        log.failure("command processing failed", failure)
        return answer(RESULT_ERROR, "Error during command processing: "
                      + str(failure.value))

    def _send(self, response: Dict[str, Any]) -> None:
        self._responding = True
        if self._closed:
            return
        try:
            data = to_kea_bytes(response)
        except Exception:
            log.failure("cannot write the answer")
            data = to_kea_bytes(answer(RESULT_ERROR, "internal server error: "
                                       "cannot write the response"))
        self.transport.write(data)
        self.transport.loseConnection()
        # The peer has 10 s to take the answer (Kea reschedules its timer
        # for the send).
        self._schedule_timer()

    def readConnectionLost(self) -> None:
        if self._responding:
            return  # the answer is on its way
        if self.feed.processed_size:
            detail = f"discarding partial command of {self.feed.processed_size} bytes"
        else:
            detail = "no input data to discard"
        log.info("{msgid} Closed command socket by client, {detail}",
                 msgid="COMMAND_SOCKET_CLOSED_BY_FOREIGN_HOST", detail=detail)
        self._cancel_timer()
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:
        self._closed = True
        self._cancel_timer()
        self.factory.connections.discard(self)

    def close_if_idle(self) -> None:
        """Kea's ``Connection::stop`` on socket close: a connection whose
        command is being processed is left to answer."""
        if not self._responding and not self._closed:
            self._cancel_timer()
            self.transport.loseConnection()


class ControlFactory(Factory):
    """Makes :class:`ControlProtocol` s; keeps track of them."""

    def __init__(self, table: CommandTable, reactor: Any, timeout: float = TIMEOUT,
                 max_size: int = MAX_COMMAND_SIZE, deadline: float = COMMAND_DEADLINE):
        self.table = table
        self.reactor = reactor
        self.timeout = timeout
        self.max_size = max_size
        self.deadline = deadline
        self.connections: Set[ControlProtocol] = set()

    def buildProtocol(self, addr: Any) -> ControlProtocol:
        protocol = ControlProtocol(self)
        self.connections.add(protocol)
        return protocol


def socket_name_from_config(info: Any) -> str:
    """The ``socket-name`` of a ``control-socket`` map, with Kea's
    ``BadSocketInfo`` texts ([src] ``command_mgr.cc`` ``openCommandSocket``)."""
    if not info:
        raise ControlSocketError("Missing socket_info parameters, can't create socket.")
    socket_type = info.get("socket-type")
    if socket_type is None:
        raise ControlSocketError("Mandatory 'socket-type' parameter missing")
    if socket_type != "unix":
        raise ControlSocketError(f"Invalid 'socket-type' parameter value {socket_type}")
    name = info.get("socket-name")
    if name is None:
        raise ControlSocketError("Mandatory 'socket-name' parameter missing")
    if not isinstance(name, str):
        raise ControlSocketError("'socket-name' parameter expected to be a string")
    return name


def _umask() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


class ControlSocket:
    """The listening control socket at ``path`` and its lock file.

    :param reactor: provides ``listenUNIX`` and ``callLater``.
    :param mode: the socket file's mode; by default what ``bind`` gives
        under the process umask, as for Kea.
    """

    def __init__(self, path: str, table: CommandTable, reactor: Any,
                 timeout: float = TIMEOUT, mode: Optional[int] = None,
                 max_size: int = MAX_COMMAND_SIZE):
        self.path = path
        self.lock_path = path + ".lock"
        self.table = table
        self.reactor = reactor
        self.mode = mode
        self.factory = ControlFactory(table, reactor, timeout, max_size)
        self.port: Any = None
        self._lock_fd: Optional[int] = None

    def open(self) -> None:
        """Lock, remove what is at the path, listen.

        :raises ControlSocketError: Kea's reason text.
        """
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CREAT, 0o600)
        except OSError as error:
            raise ControlSocketError(
                f"cannot create socket lockfile, {self.lock_path}, : {os.strerror(error.errno)}"
            ) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            raise ControlSocketError(
                f"cannot lock socket lockfile, {self.lock_path}, : {os.strerror(error.errno)}"
            ) from error
        self._lock_fd = fd
        try:
            os.remove(self.path)
        except OSError:
            pass
        mode = self.mode if self.mode is not None else 0o777 & ~_umask()
        log.info("{msgid} Starting to accept connections via unix domain socket bound to {path}",
                 msgid="COMMAND_ACCEPTOR_START", path=self.path)
        try:
            self.port = self.reactor.listenUNIX(self.path, self.factory, mode=mode)
        except CannotListenError as error:
            self._release_lock(remove=False)
            raise ControlSocketError(_listen_reason(error)) from error

    def close(self) -> "Deferred[None]":
        """Stop listening, remove the socket and the lock file; idle
        connections are closed, ones whose command is running finish."""
        port, self.port = self.port, None
        for connection in list(self.factory.connections):
            connection.close_if_idle()
        if port is None:
            self._release_lock(remove=True)
            return succeed(None)
        d = maybeDeferred(port.stopListening)

        def cleanup(result: Any) -> Any:
            # Twisted unlinks the socket itself; make sure in any case.
            try:
                os.remove(self.path)
            except OSError:
                pass
            self._release_lock(remove=True)
            return None

        return d.addBoth(cleanup)

    def _release_lock(self, remove: bool) -> None:
        if self._lock_fd is None:
            return
        if remove:
            try:
                os.remove(self.lock_path)
            except OSError:
                pass
        os.close(self._lock_fd)
        self._lock_fd = None


def _listen_reason(error: CannotListenError) -> str:
    cause = error.socketError
    if isinstance(cause, OSError):
        if cause.errno is not None:
            return os.strerror(cause.errno)
        if "too long" in str(cause):
            return os.strerror(errno.ENAMETOOLONG)
        return str(cause)
    return str(cause)


class ControlSocketService(Service):
    """:class:`ControlSocket` as a service: opened on start, closed on
    stop."""

    def __init__(self, path: str, table: CommandTable, reactor: Any, **kwargs: Any):
        self.control = ControlSocket(path, table, reactor, **kwargs)

    def startService(self) -> None:
        self.control.open()
        Service.startService(self)

    def stopService(self) -> "Deferred[None]":
        Service.stopService(self)
        return self.control.close()
