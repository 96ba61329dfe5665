"""
PostgreSQL's frontend/backend protocol (version 3.0), the part the lease
store speaks: start-up and password authentication (cleartext, MD5,
SCRAM-SHA-256), prepared statements run with binary parameters and
results (Parse once; then Bind, Execute and Sync in one write, as libpq's
``PQexecPrepared`` does), and simple queries for the few plain statements.

Why our own, next to psycopg: the store runs Kea's handful of prepared
statements, nothing else, and it must do so from code that waits in two
ways.  On worker threads it blocks in ``recv`` (the GIL released); on a
greenlet worker (:mod:`kea_twisted.cooperative`) it hands the wait to the
reactor, so that one thread drives every connection with no GIL hand-over
and no thread switch per statement.  psycopg's C binding is CPython's
only, and its pure-Python libpq binding (ctypes) cannot be used on PyPy
7.3.11 (its connection object keeps a weak reference in a ``py_object``,
which that PyPy refuses) and measured slower than CPython there anyway
(938 exchanges/s against CPython's 1,300 on the same bench).  This module
is plain Python over a socket, which PyPy's JIT compiles like the rest of
the server.  Measured on the bench machine with 8 connections and one
thread, a DORA's four statements cost 0.093 ms of CPU on PyPy and 0.131
ms on CPython (bench/RESULTS.md).

Layout: the message encoders, :class:`MessageReader` (bytes in, messages
out), :class:`ScramSha256` and :class:`WireResult` are pure; only
:class:`PgWireConnection` touches a socket, and its waiting is pluggable
(``wait``: ``None`` blocks the calling thread; a callable ``wait(fd,
write)`` is called whenever the socket would block).

Pipelining (:meth:`PgWireConnection.share`): greenlet workers on one
thread may share a connection.  Each statement is sent at once, behind
those already sent, and the answers are read in the order the statements
went out: the worker whose statement is first in line reads (waiting for
the socket), the others are parked until their turn comes.  PostgreSQL
runs them one after the other with no round trip between them, which on
the 2-core bench machine cost its backends less than a connection per
worker and answered sooner (bench/RESULTS.md, session 9).  Every statement
ends with its own Sync, so each is its own implicit transaction, as on a
connection of its own, and an error fails only its statement.

Errors: a statement the server refuses raises :class:`PgServerError` with
the SQLSTATE and the message fields; a connection that cannot be opened,
or that breaks, raises :class:`PgConnectionError` (no SQLSTATE, as libpq
reports a lost connection) and the connection is closed for good.

Reference: PostgreSQL 15 documentation, chapter 55 "Frontend/Backend
Protocol"; RFC 5802 and RFC 7677 (SCRAM-SHA-256, without channel binding).

Tests: tests/test_pgwire.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import select
import socket
import struct
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Set, Tuple, TypeVar

__all__ = [
    "MessageReader",
    "PgConnectionError",
    "PgServerError",
    "PgWireConnection",
    "ScramSha256",
    "WireResult",
    "bind_execute_message",
    "parse_message",
    "python_encoding",
    "query_message",
    "startup_message",
]

PROTOCOL_VERSION = 196608  # 3.0
DEFAULT_PORT = 5432

_int32 = struct.Struct("!i")
_int16 = struct.Struct("!h")
_header = struct.Struct("!ci")
_SYNC = b"S\x00\x00\x00\x04"
_TERMINATE = b"X\x00\x00\x00\x04"
#: Execute of the unnamed portal, all rows.
_EXECUTE = b"E\x00\x00\x00\x09\x00\x00\x00\x00\x00"
_NULL = b"\xff\xff\xff\xff"

Wait = Callable[[int, bool], None]
_T = TypeVar("_T")


class PgServerError(Exception):
    """A statement the server refused (an ``ErrorResponse``).

    ``fields`` maps the field type letters to their text (``C`` the
    SQLSTATE, ``M`` the message, ``D`` the detail ...).  ``str()`` is the
    message with its detail and hint lines, as libpq's result message
    without the severity prefix."""

    def __init__(self, fields: Dict[str, str]):
        self.fields = fields
        self.sqlstate: Optional[str] = fields.get("C")
        lines = [fields.get("M", "")]
        if "D" in fields:
            lines.append("DETAIL:  " + fields["D"])
        if "H" in fields:
            lines.append("HINT:  " + fields["H"])
        super().__init__("\n".join(lines))


class PgConnectionError(Exception):
    """The connection could not be opened, or broke: no SQLSTATE."""

    sqlstate: Optional[str] = None


# ---------------------------------------------------------------------------
# Messages (pure)


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + _int32.pack(len(payload) + 4) + payload


def startup_message(user: str, database: str, options: Optional[Dict[str, str]] = None) -> bytes:
    """The ``StartupMessage`` (no type byte): protocol 3.0 and the
    connection parameters."""
    parts = [b"user\x00", user.encode(), b"\x00", b"database\x00", database.encode(), b"\x00"]
    for key, value in (options or {}).items():
        parts += [key.encode(), b"\x00", value.encode(), b"\x00"]
    payload = _int32.pack(PROTOCOL_VERSION) + b"".join(parts) + b"\x00"
    return _int32.pack(len(payload) + 4) + payload


def parse_message(name: bytes, sql: str, types: Sequence[int]) -> bytes:
    """``Parse`` of a named statement with its parameter type OIDs, then
    ``Sync``."""
    payload = (name + b"\x00" + sql.encode() + b"\x00" + _int16.pack(len(types))
               + b"".join(_int32.pack(t) for t in types))
    return _message(b"P", payload) + _SYNC


def bind_execute_message(name: bytes, params: Sequence[Optional[bytes]], sync: bool = True) -> bytes:
    """``Bind`` (all parameters and all result columns binary), ``Execute``
    and ``Sync``: one statement, one write.  Without ``sync`` the statement
    joins the ones sent after it in one transaction, up to their ``Sync``."""
    n = len(params)
    parts = [b"\x00", name, b"\x00\x00\x01\x00\x01", _int16.pack(n)]
    for value in params:
        if value is None:
            parts.append(_NULL)
        else:
            parts.append(_int32.pack(len(value)))
            parts.append(value)
    parts.append(b"\x00\x01\x00\x01")
    payload = b"".join(parts)
    return b"B" + _int32.pack(len(payload) + 4) + payload + (_EXECUTE + _SYNC if sync else _EXECUTE)


def query_message(sql: str) -> bytes:
    """A simple ``Query`` (text results)."""
    return _message(b"Q", sql.encode() + b"\x00")


def error_fields(body: bytes) -> Dict[str, str]:
    """The fields of an ``ErrorResponse`` or ``NoticeResponse`` body."""
    fields: Dict[str, str] = {}
    for item in body.split(b"\x00"):
        if item:
            fields[chr(item[0])] = item[1:].decode("utf-8", "replace")
    return fields


def data_row(body: bytes) -> List[Optional[bytes]]:
    """The column values of a ``DataRow`` body (NULL as None)."""
    count = _int16.unpack_from(body)[0]
    values: List[Optional[bytes]] = []
    append = values.append
    offset = 2
    unpack = _int32.unpack_from
    for _ in range(count):
        size = unpack(body, offset)[0]
        offset += 4
        if size < 0:
            append(None)
        else:
            append(body[offset:offset + size])
            offset += size
    return values


class MessageReader:
    """Backend messages out of a byte stream: :meth:`feed` what arrived,
    :meth:`next` a whole ``(type, body)`` or None until more arrives."""

    __slots__ = ("_buffer", "_offset")

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0

    def feed(self, data: bytes) -> None:
        if self._offset:
            self._buffer = self._buffer[self._offset:] + data
            self._offset = 0
        else:
            self._buffer += data

    def next(self) -> Optional[Tuple[bytes, bytes]]:
        buffer, offset = self._buffer, self._offset
        if len(buffer) - offset < 5:
            return None
        kind, size = _header.unpack_from(buffer, offset)
        end = offset + 1 + size
        if size < 4:
            raise PgConnectionError(f"invalid message length {size} from the server")
        if len(buffer) < end:
            return None
        self._offset = end
        return kind, buffer[offset + 5:end]


class ScramSha256:
    """The client side of SCRAM-SHA-256 without channel binding (RFC 5802,
    RFC 7677), as PostgreSQL runs it: :meth:`first` for the
    ``SASLInitialResponse``, :meth:`final` with the server's first message,
    :meth:`verify` with its final one."""

    MECHANISM = "SCRAM-SHA-256"

    def __init__(self, password: str, nonce: Optional[str] = None, user: str = ""):
        self.password = password
        self.nonce = nonce if nonce is not None else base64.b64encode(os.urandom(18)).decode()
        # PostgreSQL takes the user from the start-up message and ignores
        # this one: libpq sends it empty.
        self._client_first_bare = f"n={user},r={self.nonce}"
        self._server_signature = b""

    def first(self) -> bytes:
        return ("n,," + self._client_first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        attrs = dict(item.split("=", 1) for item in text.split(","))
        nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self.nonce):
            raise PgConnectionError("SCRAM: the server's nonce does not extend ours")
        # PostgreSQL's SASLprep of an ASCII password is the password itself.
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + nonce
        auth_message = ",".join((self._client_first_bare, text, without_proof)).encode()
        signature = hmac.new(stored_key, auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        self._server_signature = hmac.new(server_key, auth_message, "sha256").digest()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify(self, server_final: bytes) -> None:
        attrs = dict(item.split("=", 1) for item in server_final.decode().split(","))
        if "e" in attrs:
            raise PgConnectionError("SCRAM authentication failed: " + attrs["e"])
        if not hmac.compare_digest(base64.b64decode(attrs.get("v", "")), self._server_signature):
            raise PgConnectionError("SCRAM: the server's signature does not match")


def md5_password(user: str, password: str, salt: bytes) -> bytes:
    """The ``PasswordMessage`` of MD5 authentication."""
    inner = hashlib.md5(password.encode() + user.encode()).hexdigest().encode()
    return b"md5" + hashlib.md5(inner + salt).hexdigest().encode() + b"\x00"


#: PostgreSQL encoding names -> Python codecs (what psycopg maps them to).
_ENCODINGS = {"UTF8": "utf-8", "SQL_ASCII": "ascii", "LATIN1": "latin-1", "LATIN9": "iso8859-15",
              "WIN1252": "cp1252", "EUC_JP": "euc_jp", "SJIS": "shift_jis"}


def python_encoding(name: str) -> str:
    """The Python codec of a ``client_encoding``."""
    return _ENCODINGS.get(name.upper(), "utf-8")


class WireResult:
    """One statement's outcome: its rows (binary or text column values,
    NULL as None) and its command tag.  Answers the few questions the store
    asked libpq's ``PGresult``: :attr:`ntuples`, :meth:`get_value`,
    :attr:`command_tuples`."""

    __slots__ = ("rows", "tag")

    def __init__(self, rows: List[List[Optional[bytes]]], tag: bytes):
        self.rows = rows
        self.tag = tag

    @property
    def ntuples(self) -> int:
        return len(self.rows)

    def get_value(self, row: int, column: int) -> Optional[bytes]:
        return self.rows[row][column]

    @property
    def command_tuples(self) -> Optional[int]:
        """Rows a command touched (the tag's last number), None for a tag
        without one."""
        last = self.tag.rsplit(b" ", 1)[-1]
        return int(last) if last.isdigit() else None


# ---------------------------------------------------------------------------
# The connection (a socket)


def _default_wait(fd: int, write: bool) -> None:
    """Block the calling thread until ``fd`` is ready (the GIL released)."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT if write else select.POLLIN)
    poller.poll()


class PgWireConnection:
    """One connection to a PostgreSQL server, one statement at a time.

    :meth:`connect` opens it (blocking, bounded by ``connect_timeout``);
    afterwards the socket is non-blocking and every wait for it goes to
    :attr:`wait` (``wait(fd, write)``; the default blocks the calling
    thread in ``poll``), so a greenlet worker can set its own.
    """

    def __init__(self, sock: socket.socket):
        self._sock: Optional[socket.socket] = sock
        self._fd = sock.fileno()
        self._reader = MessageReader()
        #: The server's ``ParameterStatus`` values (``client_encoding`` ...).
        self.parameters: Dict[str, str] = {}
        self.wait: Wait = _default_wait
        #: Names of the statements prepared on this connection (by whichever
        #: of the stores sharing it prepared them first).
        self.prepared: Set[str] = set()
        # Shared between workers (share()): who is calling, how to park
        # and unpark a worker, and the line of statements sent and not yet
        # answered, first sent first.
        self._current: Optional[Callable[[], Any]] = None
        self._park: Optional[Callable[[Any], None]] = None
        self._unpark: Optional[Callable[[Any], None]] = None
        self._line: Deque[_InLine] = deque()
        self._closing: Optional[socket.socket] = None

    # -- opening --------------------------------------------------------------

    @classmethod
    def connect(cls, host: str = "localhost", port: Optional[int] = None, user: Optional[str] = None,
                password: Optional[str] = None, dbname: Optional[str] = None,
                connect_timeout: Optional[float] = None) -> "PgWireConnection":
        """Open and authenticate (libpq's rules for ``host``: a path is the
        directory of the server's Unix socket)."""
        port = port or DEFAULT_PORT
        user = user or _local_user()
        dbname = dbname or user
        try:
            if host.startswith("/"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(connect_timeout)
                sock.connect(os.path.join(host, f".s.PGSQL.{port}"))
            else:
                sock = socket.create_connection((host, port), timeout=connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise PgConnectionError(f'connection to server at "{host}", port {port} failed: '
                                    f"{e.strerror or e}") from None
        conn = cls(sock)
        try:
            # Still blocking, bounded by connect_timeout.
            conn._start_up(user, password, dbname)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        return conn

    # -- statements -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._sock is None

    def fileno(self) -> int:
        return self._fd

    @property
    def encoding(self) -> str:
        return python_encoding(self.parameters.get("client_encoding", "UTF8"))

    def share(self, current: Callable[[], Any], park: Callable[[Any], None],
              unpark: Callable[[Any], None]) -> None:
        """Let the greenlet workers of one thread use this connection at
        once, pipelined (see the module's docstring).  ``current()`` is the
        calling worker (None outside one: then the line must be empty, and
        the call waits as an unshared one would); ``park(worker)`` switches
        away from the calling worker until ``unpark(worker)`` resumes it."""
        self._current, self._park, self._unpark = current, park, unpark

    @property
    def in_line(self) -> int:
        """Statements sent and not yet answered (shared connections)."""
        return len(self._line)

    def _exchange(self, data: bytes, read: Callable[[], _T]) -> _T:
        """Send ``data`` (whole statements, the last ending in Sync) and
        read its answer with ``read``; on a shared connection, in line."""
        if self._current is None:
            self._send(data)
            return read()
        me = self._current()
        line = self._line
        if me is None and line:
            raise PgConnectionError("the connection is in use by a worker")
        self._send(data)
        place = _InLine(me)
        line.append(place)
        whole = False
        try:
            if line[0] is not place:
                self._park(me)
            result = read()
            whole = True
            return result
        except (PgServerError, PgConnectionError):
            whole = True  # read up to ReadyForQuery, or the connection is gone
            raise
        finally:
            if line[0] is place:
                if not whole:
                    # Stopped in the middle of its answer: whatever the next
                    # in line would read might be the rest of this one.
                    self._lost("a pipelined answer was left half read")
                self._next_in_line()
            else:
                # Ended before its turn (the worker pool stopping): whoever
                # reads up to it reads its answer and throws it away.
                place.abandoned = True

    def _next_in_line(self) -> None:
        """The first in line has read its answer: the answers of abandoned
        statements after it are read and dropped, then the next worker in
        line is resumed to read its own."""
        line = self._line
        line.popleft()
        while line and line[0].abandoned:
            if self._sock is not None:
                try:
                    self._results()
                except (PgServerError, PgConnectionError):
                    pass
            line.popleft()
        if line:
            self._unpark(line[0].worker)
        elif self._closing is not None:
            closing, self._closing = self._closing, None
            closing.close()

    def prepare(self, name: bytes, sql: str, types: Sequence[int]) -> None:
        """Prepare statement ``name`` on this connection."""
        self._exchange(parse_message(name, sql, types), self._result)

    def exec_prepared(self, name: bytes, params: Sequence[Optional[bytes]]) -> WireResult:
        """Run prepared statement ``name``, parameters and results binary."""
        return self._exchange(bind_execute_message(name, params), self._result)

    def exec_prepared_together(self, statements: Sequence[Tuple[bytes, Sequence[Optional[bytes]]]]) \
            -> List[WireResult]:
        """Run prepared statements ``(name, params)`` as one transaction:
        every Bind/Execute and a single Sync in one write, so the server
        commits them together (one WAL flush) when the Sync arrives
        (chapter 55.2.3: outside BEGIN, a Sync ends the implicit transaction
        of the messages before it).  One result per statement, in order; or
        the first statement's error raised, and then none of them took
        effect (the server skips the rest up to the Sync and rolls back)."""
        return self._exchange(b"".join([bind_execute_message(name, params, sync=False)
                                         for name, params in statements]) + _SYNC, self._results)

    def query(self, sql: str) -> WireResult:
        """Run one plain statement (results as text)."""
        return self._exchange(query_message(sql), self._result)

    def close(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.send(_TERMINATE)
        except OSError:
            pass
        self._drop_socket()

    # -- I/O --------------------------------------------------------------------

    def _lost(self, reason: str) -> PgConnectionError:
        self._drop_socket()
        return PgConnectionError(reason)

    def _drop_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._line:
            # The first in line may be waiting for this socket in the
            # reactor, which would never hear of a closed descriptor: shut
            # it down instead (the reader wakes and finds the connection
            # gone) and close it once the line is empty.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._closing = sock
        else:
            sock.close()

    def _send(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise PgConnectionError("the connection is closed")
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                if self._line:
                    # Another worker waits to read this socket, and a
                    # statement must not be sent in pieces between others'
                    # (a few statements per worker never fill the buffer;
                    # a server that stopped reading them has gone wrong).
                    raise self._lost("could not send data to server: the pipeline is full") from None
                self.wait(self._fd, True)
                continue
            except OSError as e:
                raise self._lost(f"could not send data to server: {e.strerror or e}") from None
            view = view[sent:]

    def _receive(self) -> None:
        while True:
            sock = self._sock
            if sock is None:
                raise PgConnectionError("the connection is closed")
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                self.wait(self._fd, False)
                continue
            except OSError as e:
                raise self._lost(f"could not receive data from server: {e.strerror or e}") from None
            if not data:
                raise self._lost("server closed the connection unexpectedly\n\tThis probably means the server "
                                 "terminated abnormally\n\tbefore or while processing the request.")
            self._reader.feed(data)
            return

    def _next_message(self) -> Tuple[bytes, bytes]:
        while True:
            message = self._reader.next()
            if message is not None:
                return message
            self._receive()

    def _result(self) -> WireResult:
        """Read up to ``ReadyForQuery``: the rows and tag, or the error."""
        results = self._results()
        return results[-1] if results else WireResult([], b"")

    def _results(self) -> List[WireResult]:
        """Read up to ``ReadyForQuery``: each completed statement's rows and
        tag, or the error."""
        results: List[WireResult] = []
        rows: List[List[Optional[bytes]]] = []
        error: Optional[PgServerError] = None
        while True:
            kind, body = self._next_message()
            if kind == b"D":
                rows.append(data_row(body))
            elif kind == b"C":
                results.append(WireResult(rows, body.rstrip(b"\x00")))
                rows = []
            elif kind == b"Z":
                if error is not None:
                    raise error
                return results
            elif kind == b"E":
                error = PgServerError(error_fields(body))
                if _fatal_severity(error):
                    # The server ends the session (e.g. an administrator's
                    # shutdown): no ReadyForQuery follows.
                    raise self._lost(str(error))
            elif kind == b"S":
                _parameter_status(body, self.parameters)
            # Anything else ('1', '2', 'n', 'T', 'N', 'A', ...) carries nothing
            # the store asks for.

    def _start_up(self, user: str, password: Optional[str], dbname: str) -> None:
        """Start-up and authentication, until the server is ready for
        queries (its parameters in :attr:`parameters`)."""

        def need_password() -> str:
            if password is None:
                raise PgConnectionError("fe_sendauth: no password supplied")
            return password

        send = self._send
        send(startup_message(user, dbname))
        scram: Optional[ScramSha256] = None
        while True:
            kind, body = self._next_message()
            if kind == b"R":
                code = _int32.unpack_from(body)[0]
                if code == 0:
                    continue
                if code == 3:
                    send(_message(b"p", need_password().encode() + b"\x00"))
                elif code == 5:
                    send(_message(b"p", md5_password(user, need_password(), body[4:8])))
                elif code == 10:
                    mechanisms = [m.decode() for m in body[4:].split(b"\x00") if m]
                    if ScramSha256.MECHANISM not in mechanisms:
                        raise PgConnectionError(f"none of the server's SASL mechanisms {mechanisms} is supported")
                    scram = ScramSha256(need_password())
                    first = scram.first()
                    send(_message(b"p", ScramSha256.MECHANISM.encode() + b"\x00" + _int32.pack(len(first)) + first))
                elif code == 11 and scram is not None:
                    send(_message(b"p", scram.final(body[4:])))
                elif code == 12 and scram is not None:
                    scram.verify(body[4:])
                else:
                    raise PgConnectionError(f"authentication method {code} is not supported")
            elif kind == b"E":
                fields = error_fields(body)
                raise PgConnectionError(f'connection to server failed: {fields.get("S", "FATAL")}:  '
                                        f'{fields.get("M", "")}')
            elif kind == b"S":
                _parameter_status(body, self.parameters)
            elif kind == b"Z":
                return
            # 'K' (the cancel key), 'N' (notices): nothing the store needs.


class _InLine:
    """A statement sent on a shared connection whose answer is not read yet."""

    __slots__ = ("worker", "abandoned")

    def __init__(self, worker: Any):
        self.worker = worker
        self.abandoned = False


def _fatal_severity(error: PgServerError) -> bool:
    return error.fields.get("V", error.fields.get("S")) in ("FATAL", "PANIC")


def _parameter_status(body: bytes, parameters: Dict[str, str]) -> None:
    name, value = body.split(b"\x00")[:2]
    parameters[name.decode()] = value.decode()


def _local_user() -> str:
    import getpass
    return getpass.getuser()


