"""A test's client for Kea's unix control socket (kea-dhcp4's and
kea_twisted's): one command per connection, the answer read until it is
complete JSON or the server closes (spec/control-channel.md §1).
:func:`send_command` and :func:`send_message` block; :func:`exchange_raw`
runs on a reactor, for tests whose server runs in the same process.
The benchmarks (bench/), which run under a Python without Twisted, use the
blocking pair: Twisted is imported only by :func:`exchange_raw`."""

from __future__ import annotations

import json
import socket
from typing import Any, Dict, Optional

__all__ = ["exchange_raw", "send_command", "send_message"]


def send_command(path: str, command: str, arguments: Optional[Dict[str, Any]] = None,
                 timeout: float = 10.0) -> Dict[str, Any]:
    """Send ``command`` (with ``arguments`` unless None); the answer."""
    message: Dict[str, Any] = {"command": command}
    if arguments is not None:
        message["arguments"] = arguments
    return send_message(path, message, timeout)


def send_message(path: str, message: Any, timeout: float = 10.0) -> Any:
    """Send ``message`` as it is (any JSON value: tests of malformed
    commands need that); the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(message).encode())
        chunks = []
        for _ in range(10000):  # bounded: 640 MB at most
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            try:
                return json.loads(b"".join(chunks))
            except ValueError:
                continue
    return json.loads(b"".join(chunks))


def exchange_raw(reactor: Any, path: str, data: bytes) -> Any:
    """Send ``data`` as it is over a connection made by ``reactor`` (a
    running one: the socket is real); fires with the bytes answered until
    the server closed.  For malformed input and byte-exact answers."""
    from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol

    client = _raw_exchange_class()(data)
    connecting = connectProtocol(UNIXClientEndpoint(reactor, path), client)
    return connecting.addCallback(lambda _: client.done)


def _raw_exchange_class() -> Any:
    from twisted.internet.defer import Deferred
    from twisted.internet.protocol import Protocol

    class _RawExchange(Protocol):
        def __init__(self, data: bytes):
            self.data = data
            self.received = b""
            self.done: Deferred = Deferred()

        def connectionMade(self) -> None:
            self.transport.write(self.data)

        def dataReceived(self, data: bytes) -> None:
            self.received += data

        def connectionLost(self, reason: Any = None) -> None:
            # The server closes after answering; a reset while our surplus
            # bytes are unsent is part of a refusal.
            self.done.callback(self.received)

    return _RawExchange

