"""
Kea's PostgreSQL lease database (``lease-database`` type ``postgresql``):
the very schema Kea 2.2 creates with ``kea-admin db-init pgsql``, read and
written as Kea's ``PgSqlLeaseMgr`` does, so that Kea servers and
kea_twisted servers can share one lease database.

Threading.  :class:`PgLeaseStore` is an :class:`ISyncLeaseStore` whose
every method is one round trip (autocommit, one statement each, as Kea
runs them; with greenlet workers the lease changes of several workers
share one transaction, :class:`_CommitGroup`) over its connection, its
own or one shared with other greenlet workers' stores
(:mod:`kea_twisted.pgwire`: PostgreSQL's protocol spoken here, no
driver).  It is meant to be used by **one worker
at a time**, never by the reactor itself.  :class:`PgStorePool` is the
multi-worker arrangement (Kea's ``PgSqlLeaseContextPool``): one
:class:`PgLeaseStore` per worker, so that the statements of several
workers are in flight at once.  A worker is a thread
(:class:`kea_twisted.threaded.WorkerPool`: the statement blocks it, the
GIL released; a connection per thread, as Kea has) or a greenlet on the
reactor thread (:class:`kea_twisted.cooperative.GreenletPool`: a
statement's wait is handed to the reactor, which meanwhile serves the
other workers; the stores share :func:`shared_connections` connections,
their statements pipelined, :meth:`PgWireConnection.share`);
:class:`kea_twisted.server.Dhcp4Server` picks greenlets on PyPy and
threads on CPython.  :class:`ThreadedLeaseStore` is the
:class:`ILeaseStore` over either: calls run in the worker pool and answer
with Deferreds fired on the reactor thread.  The lease statements are
prepared once per connection and run as Kea runs them (libpq's
``PQexecPrepared``: Bind, Execute, Sync), parameters and results in
binary; start-up and statistics use plain queries.

Kea facts kept here ([src] Kea 2.2 ``src/lib/dhcpsrv/pgsql_lease_mgr.cc``,
``src/lib/pgsql/pgsql_connection.cc``, ``pgsql_exchange.cc``,
``src/share/database/scripts/pgsql/dhcpdb_create.pgsql``):

* columns: ``address`` bigint (the address as an unsigned 32-bit number),
  ``hwaddr`` and ``client_id`` bytea (Kea writes an *empty* value, not
  NULL, when there is none), ``valid_lifetime`` bigint, ``expire``
  timestamptz (``cltt + valid_lifetime``; with the infinite lifetime
  0xffffffff Kea stores ``cltt`` itself and reads it back the same way),
  ``subnet_id`` bigint, ``fqdn_fwd``/``fqdn_rev`` boolean, ``hostname``
  varchar(255), ``state`` bigint (foreign key to ``lease_state``),
  ``user_context`` text (``""`` when none).  Kea 2.2's ``lease4`` has no
  hw-type, hw-address source or pool id column.  Times are read as
  ``extract(epoch from expire)::bigint`` and written here with
  ``to_timestamp(epoch)``, which no session time zone can shift (Kea itself
  writes local-time text and relies on its TZ matching the server's);
* Kea refuses an ``expire`` beyond 2147483647 (``MAX_DB_TIME``): so do we
  (``ValueError``), before anything is written;
* ``schema_version`` must be exactly 13.0 for Kea 2.2; anything else is
  :class:`SchemaVersionMismatch` with Kea's text;
* ``add_lease`` of a taken address: the primary key refuses the row
  (Kea sees SQLSTATE 23505; our insert says ``ON CONFLICT (address) DO
  NOTHING`` and sees no row inserted) and the answer is False — the
  database, not luck, keeps two servers from handing out one address;
* update and delete carry Kea's optimistic check: the row changes only if
  its ``expire`` is still what this store last read or wrote for that
  address (Kea's ``current_cltt_``/``current_valid_lft_``).  A row changed
  meanwhile by another server is not overwritten: ``update_lease`` raises
  :class:`~kea_twisted.leases.NoSuchLease` and ``delete_lease`` answers
  False, as Kea's do;
* expired leases: ``state != 2``, lifetime not infinite, ``expire < now``
  (strictly; memfile uses ``<=``), oldest first;
  ``delete_expired_reclaimed_leases4`` removes state-2 rows with
  ``expire < now - secs`` (strictly too);
* hostname lookups compare ``lower(hostname)`` with the name as given (so
  pass it in lower case, as Kea's ``lease4-get-by-hostname`` does);
* ``wipe_leases4`` is not implemented by Kea 2.2's PostgreSQL backend
  (``NotImplementedError`` with Kea's text);
* ``lease_counts`` reads ``lease4_stat``, which Kea's triggers keep for
  states 0 and 1 only (a negative count reads as 0, as in Kea);
* a lost connection (SQLSTATE classes 08, 53, 54, 57, 58, or none) makes
  the store unusable (:class:`DbConnectionUnusable`) until
  :meth:`PgLeaseStore.reconnect`, logs ``DATABASE_PGSQL_FATAL_ERROR`` and
  calls :attr:`PgLeaseStore.on_connection_lost` once (Kea's
  ``startRecoverDbConnection``); ``on-fail`` policy is the caller's
  (:class:`kea_twisted.threaded.DbReconnectControl`).

Where Kea returns rows in no stated order, lists here are in memfile's
order: (subnet id, address) for hw-address/client-id, address otherwise.
Single-lease lookups by hw-address or client-id and subnet return the
lowest address where Kea's PostgreSQL backend would raise
``MultipleRecords``.

Tests: tests/test_pgsql.py, tests/test_pgsql_server.py
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from kea_twisted import cooperative
from kea_twisted.kea_json import KeaJSONError, from_json, to_kea_bytes
from kea_twisted.leases import (
    ILeaseStore, ISyncLeaseStore, Lease4, NoSuchLease, STATE_EXPIRED_RECLAIMED, _SYNC_METHODS,
)
from kea_twisted.logs import DBG_TRACE_DETAIL, kea_logger
from kea_twisted.pgwire import PgConnectionError, PgServerError, PgWireConnection, WireResult

__all__ = [
    "SCHEMA_VERSION",
    "INFINITE_LIFETIME",
    "MAX_DB_TIME",
    "DbOpenError",
    "NoDatabaseName",
    "DbInvalidTimeout",
    "SchemaVersionMismatch",
    "DbConnectionUnusable",
    "DbOperationError",
    "PgConnectionParameters",
    "PgLeaseStore",
    "PgStorePool",
    "ThreadedLeaseStore",
]

log = kea_logger("dhcpsrv")
db_log = kea_logger("database")

#: ``PGSQL_SCHEMA_VERSION_MAJOR``/``MINOR`` of Kea 2.2 (``pgsql_connection.h``).
SCHEMA_VERSION: Tuple[int, int] = (13, 0)
#: Kea's ``Lease::INFINITY_LFT``.
INFINITE_LIFETIME = 0xFFFFFFFF
#: Kea's ``DatabaseConnection::MAX_DB_TIME``.
MAX_DB_TIME = 2147483647
#: Kea's ``PGSQL_DEFAULT_CONNECTION_TIMEOUT`` (seconds).
DEFAULT_CONNECT_TIMEOUT = 5

# SQLSTATE classes Kea treats as a lost connection (checkStatementError).
_FATAL_CLASSES = ("08", "53", "54", "57", "58")


class DbOpenError(Exception):
    """Kea's ``DbOpenError``: the lease database cannot be opened."""


class NoDatabaseName(DbOpenError):
    """Kea's ``NoDatabaseName``: no ``name`` in the access parameters."""


class DbInvalidTimeout(DbOpenError):
    """Kea's ``DbInvalidTimeout``: ``connect-timeout`` is not above 0."""


class SchemaVersionMismatch(DbOpenError):
    """The database's ``schema_version`` is not the one Kea 2.2 uses."""

    def __init__(self, found: Tuple[int, int], needed: Tuple[int, int] = SCHEMA_VERSION):
        self.found = found
        self.needed = needed
        super().__init__("PostgreSQL schema version mismatch: need version: %d.%d found version: %d.%d"
                         % (needed[0], needed[1], found[0], found[1]))


class DbConnectionUnusable(Exception):
    """Kea's ``DbConnectionUnusable``: the connection was lost; the store
    answers nothing until :meth:`PgLeaseStore.reconnect` succeeds."""


class DbOperationError(Exception):
    """Kea's ``DbOperationError``: a statement failed, or a row could not
    be converted."""


# ---------------------------------------------------------------------------
# Connection parameters


@dataclass(frozen=True)
class PgConnectionParameters:
    """What Kea's ``PgSqlConnection::openDatabase`` and ``ReconnectCtl``
    take from ``lease-database``, with Kea's defaults.

    ``reconnect_wait_time`` is in milliseconds (Kea's unit).  The TLS
    parameters are kept but, as in Kea 2.2 (``DHCPSRV_PGSQL_TLS_SUPPORT``:
    "its configuration is fully managed outside the C API"), not handed to
    libpq; the ``PGSSL*`` environment variables configure TLS.
    """

    name: str
    host: str = "localhost"
    port: Optional[int] = None
    user: Optional[str] = None
    password: Optional[str] = None
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    max_reconnect_tries: int = 0
    reconnect_wait_time: int = 0
    on_fail: str = "stop-retry-exit"
    readonly: bool = False
    trust_anchor: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    cipher_list: Optional[str] = None
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_config(cls, database: Any) -> "PgConnectionParameters":
        """From a :class:`kea_twisted.config.model.LeaseDatabase` (or any
        object with its attributes).  Raises :class:`NoDatabaseName` /
        :class:`DbInvalidTimeout` as Kea does when opening."""
        if not getattr(database, "name", None):
            raise NoDatabaseName("must specify a name for the database")
        timeout = getattr(database, "connect_timeout", None)
        if timeout is None:
            timeout = DEFAULT_CONNECT_TIMEOUT
        elif timeout <= 0 or timeout > 2 ** 31 - 1:
            raise DbInvalidTimeout("database connection timeout (%s) must be an integer greater than 0"
                                   % timeout)
        port = getattr(database, "port", None)
        # Kea falls back to libpq's default port for 0 or out-of-range values.
        if port is not None and not 0 < port <= 65535:
            port = None

        def _or(value: Any, default: Any) -> Any:
            return default if value is None else value

        return cls(
            name=database.name,
            host=_or(getattr(database, "host", None), "localhost"),
            port=port,
            user=getattr(database, "user", None),
            password=getattr(database, "password", None),
            connect_timeout=timeout,
            max_reconnect_tries=_or(getattr(database, "max_reconnect_tries", None), 0),
            reconnect_wait_time=_or(getattr(database, "reconnect_wait_time", None), 0),
            on_fail=_or(getattr(database, "on_fail", None), "stop-retry-exit"),
            readonly=bool(getattr(database, "readonly", False)),
            trust_anchor=getattr(database, "trust_anchor", None),
            cert_file=getattr(database, "cert_file", None),
            key_file=getattr(database, "key_file", None),
            cipher_list=getattr(database, "cipher_list", None),
            parameters=dict(getattr(database, "parameters", None) or {}),
        )

    @classmethod
    def from_map(cls, access: Mapping[str, Any]) -> "PgConnectionParameters":
        """From a ``lease-database`` map in Kea's spelling (tests, tools)."""

        class _View:
            pass

        view = _View()
        for key, value in access.items():
            setattr(view, key.replace("-", "_"), value)
        view.parameters = dict(access)
        return cls.from_config(view)

    @property
    def uses_tls(self) -> bool:
        return any(v is not None for v in (self.trust_anchor, self.cert_file, self.key_file, self.cipher_list))

    def connect_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for :meth:`PgWireConnection.connect` (libpq's names)."""
        kwargs: Dict[str, Any] = {"host": self.host, "dbname": self.name,
                                  "connect_timeout": self.connect_timeout}
        if self.port is not None:
            kwargs["port"] = self.port
        if self.user is not None:
            kwargs["user"] = self.user
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs

    def redacted(self) -> str:
        """Kea's ``redactedAccessString``: ``key=value`` pairs in key
        order, the password as ``*****``."""
        items = dict(self.parameters) or {
            "type": "postgresql", "name": self.name, "host": self.host,
            **({"port": self.port} if self.port is not None else {}),
            **({"user": self.user} if self.user is not None else {}),
        }
        # kea-dhcp4 appends "universe=4" to the access string
        # (ctrl_dhcp4_srv.cc setAppendedParameters) [obs: DHCPSRV_PGSQL_DB].
        items.setdefault("universe", 4)
        shown = []
        for key in sorted(items):
            value = items[key]
            if key == "password":
                value = "*****"
            elif isinstance(value, bool):
                value = "true" if value else "false"
            shown.append(f"{key}={value}")
        return " ".join(shown)


# ---------------------------------------------------------------------------
# SQL (our own statements over Kea's columns)
#
# The lease statements run as prepared statements with binary parameters
# and binary results (libpq's ``PQexecPrepared``, Kea's way): no query
# text to convert and no result text to parse, per statement.

# Parameter and result types (PostgreSQL type OIDs).
_INT8, _BYTEA, _BOOL, _TEXT, _FLOAT8 = 20, 17, 16, 25, 701

_COLUMNS = ("address, hwaddr, client_id, valid_lifetime, "
            "extract(epoch from expire)::bigint, subnet_id, fqdn_fwd, fqdn_rev, "
            "hostname, state, convert_to(user_context, 'UTF8')")
_SELECT = f"SELECT {_COLUMNS} FROM lease4"
# to_timestamp(double precision): epoch seconds, never shifted by a session time zone.
_EXPIRE_IS = "expire = to_timestamp($%d)"

#: name -> (SQL with $n parameters, parameter types).
_SQL: Dict[str, Tuple[str, Tuple[int, ...]]] = {
    "get_address": (f"{_SELECT} WHERE address = $1", (_INT8,)),
    "get_hwaddr": (f"{_SELECT} WHERE hwaddr = $1 ORDER BY subnet_id, address", (_BYTEA,)),
    "get_hwaddr_subnet": (f"{_SELECT} WHERE hwaddr = $1 AND subnet_id = $2 ORDER BY address LIMIT 1",
                          (_BYTEA, _INT8)),
    "get_client_id": (f"{_SELECT} WHERE client_id = $1 ORDER BY subnet_id, address", (_BYTEA,)),
    "get_client_id_subnet": (f"{_SELECT} WHERE client_id = $1 AND subnet_id = $2 ORDER BY address LIMIT 1",
                             (_BYTEA, _INT8)),
    # What an allocation asks first, in one round trip (see
    # PgLeaseStore.prefetch_client4): "get_client_id", "get_hwaddr" and
    # "get_address" (of the requested address, and of the allocator's next
    # candidate) as one union, each row tagged with its branch (the last
    # column), each branch in its own statement's order.
    "get_client": (f"SELECT {_COLUMNS}, 'c'::text FROM lease4 WHERE client_id = $1 UNION ALL "
                   f"SELECT {_COLUMNS}, 'h'::text FROM lease4 WHERE hwaddr = $2 UNION ALL "
                   f"SELECT {_COLUMNS}, 'a'::text FROM lease4 WHERE address = $3 UNION ALL "
                   f"SELECT {_COLUMNS}, 'n'::text FROM lease4 WHERE address = $4 ORDER BY 12, 6, 1",
                   (_BYTEA, _BYTEA, _INT8, _INT8)),
    # The same for a client without a client identifier (no "c" rows).
    # Not merely a NULL $1: where most rows have the empty client_id (Kea
    # writes '' for none), the generic plan of "client_id = $1" is a
    # sequential scan, so PostgreSQL keeps planning each execution anew
    # (measured: ~3x Kea's executor time per lookup, and the planning on
    # top); without that branch the generic plan is three index scans.
    "get_client_hw": (f"SELECT {_COLUMNS}, 'h'::text FROM lease4 WHERE hwaddr = $1 UNION ALL "
                      f"SELECT {_COLUMNS}, 'a'::text FROM lease4 WHERE address = $2 UNION ALL "
                      f"SELECT {_COLUMNS}, 'n'::text FROM lease4 WHERE address = $3 ORDER BY 12, 6, 1",
                      (_BYTEA, _INT8, _INT8)),
    "get_subnet": (f"{_SELECT} WHERE subnet_id = $1 ORDER BY address", (_INT8,)),
    "get_hostname": (f"{_SELECT} WHERE lower(hostname) = $1 ORDER BY address", (_TEXT,)),
    "get_all": (f"{_SELECT} ORDER BY address", ()),
    "get_page": (f"{_SELECT} WHERE address > $1 ORDER BY address LIMIT $2", (_INT8, _INT8)),
    "get_expired": (f"{_SELECT} WHERE state != $1 AND valid_lifetime != {INFINITE_LIFETIME} "
                    "AND expire < to_timestamp($2) ORDER BY expire, address LIMIT $3", (_INT8, _FLOAT8, _INT8)),
    # A taken address inserts nothing (0 rows) instead of failing with
    # 23505: the primary key decides as before, and a refused row does not
    # abort the other statements of a commit group (_CommitGroup).
    "insert": ("INSERT INTO lease4 (address, hwaddr, client_id, valid_lifetime, expire, subnet_id, "
               "fqdn_fwd, fqdn_rev, hostname, state, user_context) "
               "VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7, $8, $9, $10, convert_from($11, 'UTF8')) "
               "ON CONFLICT (address) DO NOTHING",
               (_INT8, _BYTEA, _BYTEA, _INT8, _FLOAT8, _INT8, _BOOL, _BOOL, _TEXT, _INT8, _BYTEA)),
    # update and delete carry the optimistic check Kea's UPDATE_LEASE4 /
    # DELETE_LEASE4 have; "update_any" is for an address this store has not
    # seen (nothing to compare with).
    "update": ("UPDATE lease4 SET hwaddr = $1, client_id = $2, valid_lifetime = $3, "
               "expire = to_timestamp($4), subnet_id = $5, fqdn_fwd = $6, fqdn_rev = $7, hostname = $8, "
               "state = $9, user_context = convert_from($10, 'UTF8') WHERE address = $11 AND "
               + _EXPIRE_IS % 12,
               (_BYTEA, _BYTEA, _INT8, _FLOAT8, _INT8, _BOOL, _BOOL, _TEXT, _INT8, _BYTEA, _INT8, _FLOAT8)),
    "update_any": ("UPDATE lease4 SET hwaddr = $1, client_id = $2, valid_lifetime = $3, "
                   "expire = to_timestamp($4), subnet_id = $5, fqdn_fwd = $6, fqdn_rev = $7, hostname = $8, "
                   "state = $9, user_context = convert_from($10, 'UTF8') WHERE address = $11",
                   (_BYTEA, _BYTEA, _INT8, _FLOAT8, _INT8, _BOOL, _BOOL, _TEXT, _INT8, _BYTEA, _INT8)),
    "delete": ("DELETE FROM lease4 WHERE address = $1 AND " + _EXPIRE_IS % 2, (_INT8, _FLOAT8)),
    "delete_reclaimed": ("DELETE FROM lease4 WHERE state = $1 AND expire < to_timestamp($2)", (_INT8, _FLOAT8)),
}
#: Plain statements (simple queries, text results: start-up, statistics, a count).
_PLAIN_SQL = {
    "stats": "SELECT subnet_id, state, leases FROM lease4_stat ORDER BY subnet_id, state",
    "version": "SELECT version, minor FROM schema_version",
    "count": "SELECT count(*) FROM lease4",
}

#: Prepared statement names.
_STATEMENT_KEYS = {name: b"kea_twisted_" + name.encode() for name in _SQL}

_pack_int8 = struct.Struct("!q").pack
_pack_float8 = struct.Struct("!d").pack
_unpack_int8 = struct.Struct("!q").unpack


def _encode_param(value: Any, oid: int, encoding: str) -> Optional[bytes]:
    """One parameter in PostgreSQL's binary format."""
    if value is None:
        return None
    if oid == _INT8:
        return _pack_int8(value)
    if oid == _BYTEA:
        return bytes(value)
    if oid == _BOOL:
        return b"\x01" if value else b"\x00"
    if oid == _FLOAT8:
        return _pack_float8(value)
    return value.encode(encoding)


def _int8(value: Optional[bytes]) -> Optional[int]:
    return None if value is None else _unpack_int8(value)[0]


def _decode_row(get: Callable[[int, int], Optional[bytes]], r: int, encoding: str) -> Tuple[Any, ...]:
    """Row ``r`` of a ``_COLUMNS`` result in binary format: ints, bytes,
    bools and the hostname as text (NULL as None)."""
    fwd, rev, hostname = get(r, 6), get(r, 7), get(r, 8)
    try:
        text = hostname.decode(encoding) if hostname is not None else None
    except UnicodeDecodeError as e:
        raise DbOperationError(f"Could not convert data to Lease4, reason: {e}") from None
    return (_int8(get(r, 0)), get(r, 1), get(r, 2), _int8(get(r, 3)), _int8(get(r, 4)), _int8(get(r, 5)),
            None if fwd is None else fwd != b"\x00", None if rev is None else rev != b"\x00",
            text, _int8(get(r, 9)), get(r, 10))


class _ClientRows:
    """The rows of one ``get_client`` statement, by branch."""

    __slots__ = ("client_id", "hwaddr", "address", "candidate", "by_client_id", "by_hwaddr", "at_address",
                 "at_candidate")

    def __init__(self, client_id: Optional[bytes], hwaddr: Optional[bytes], address: Optional[int],
                 candidate: Optional[int] = None) -> None:
        self.client_id, self.hwaddr, self.address, self.candidate = client_id, hwaddr, address, candidate
        self.by_client_id: List[Lease4] = []
        self.by_hwaddr: List[Lease4] = []
        self.at_address: Optional[Lease4] = None
        self.at_candidate: Optional[Lease4] = None


def _stored_expire(lease: Lease4) -> int:
    """The ``expire`` column for a lease, as Kea computes it (infinite
    lifetime: the cltt itself); ValueError past Kea's MAX_DB_TIME."""
    if lease.valid_lifetime == INFINITE_LIFETIME:
        expire = lease.cltt
    else:
        expire = lease.cltt + lease.valid_lifetime
    if expire > MAX_DB_TIME:
        raise ValueError(f"Time value is too large: {expire}")
    return expire


def _lease_values(lease: Lease4) -> Tuple[Any, ...]:
    if len(lease.hwaddr) > 20:
        # Kea's HWAddr::MAX_HWADDR_LEN, enforced by Kea itself (bytea has no limit).
        raise DbOperationError(f"Hardware address length : {len(lease.hwaddr)} exceeds maximum allowed of: 20")
    context = to_kea_bytes(lease.user_context) if lease.user_context is not None else b""
    return (lease.hwaddr or b"", lease.client_id or b"", lease.valid_lifetime, _stored_expire(lease),
            lease.subnet_id, lease.fqdn_fwd, lease.fqdn_rev, lease.hostname or "", lease.state, context)


def _lease_from_row(row: Sequence[Any]) -> Lease4:
    (address, hwaddr, client_id, valid, expire, subnet_id, fwd, rev, hostname, state, context) = row
    try:
        valid = int(valid or 0)
        expire = int(expire or 0)
        cltt = expire if valid == INFINITE_LIFETIME else expire - valid
        user_context = None
        if context:
            text = bytes(context).decode("latin-1")
            value = from_json(text).to_python()
            if not isinstance(value, dict):
                raise DbOperationError(f"user context '{text}' is not a JSON map")
            user_context = value
        return Lease4(
            address=IPv4Address(int(address)),
            hwaddr=bytes(hwaddr) if hwaddr is not None else b"",
            client_id=bytes(client_id) if client_id else None,
            valid_lifetime=valid,
            cltt=cltt,
            subnet_id=int(subnet_id or 0),
            fqdn_fwd=bool(fwd),
            fqdn_rev=bool(rev),
            hostname=hostname or "",
            state=int(state or 0),
            user_context=user_context,
        )
    except (ValueError, KeaJSONError, DbOperationError) as e:
        raise DbOperationError(f"Could not convert data to Lease4, reason: {e}") from None


def _is_fatal(error: Exception) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    return sqlstate is None or sqlstate[:2] in _FATAL_CLASSES


# ---------------------------------------------------------------------------
# The store


def _connect(parameters: PgConnectionParameters) -> PgWireConnection:
    """A new connection to the lease database whose schema is Kea 2.2's,
    logged as Kea logs it, its waits handed to the reactor when a greenlet
    worker uses it (a thread blocks); raises :class:`DbOpenError`."""
    p = parameters
    log.info("{msgid} opening PostgreSQL lease database: {access}",
             msgid="DHCPSRV_PGSQL_DB", access=p.redacted())
    if p.uses_tls:
        log.info("{msgid} Attempt to configure TLS: {access}",
                 msgid="DHCPSRV_PGSQL_TLS_SUPPORT", access=p.redacted())
    try:
        # On a thread when a greenlet worker reopens it: connecting may
        # wait up to connect-timeout, which the reactor must not.
        conn = cooperative.call_blocking(PgWireConnection.connect, **p.connect_kwargs())
    except (PgConnectionError, PgServerError) as e:
        raise DbOpenError(str(e).strip()) from None
    try:
        found = PgLeaseStore._version(conn)
        if found != SCHEMA_VERSION:
            raise SchemaVersionMismatch(found)
    except BaseException:
        conn.close()
        raise
    conn.wait = cooperative.worker_or(conn.wait)
    return conn


class _SharedConnection:
    """One connection of a :class:`PgStorePool` of greenlet workers, used by
    several of its stores at once (pipelined, :meth:`PgWireConnection.share`).
    A store that finds it lost and reopens it reopens it for all of them:
    the others find the new connection when they reopen in turn."""

    def __init__(self, parameters: PgConnectionParameters):
        self.parameters = parameters
        self.connection: Optional[PgWireConnection] = None

    def open(self) -> PgWireConnection:
        """The connection: the current one while it is open, else a new one."""
        conn = self.connection
        if conn is None or conn.closed:
            conn = _connect(self.parameters)
            conn.share(cooperative.current_worker, cooperative.Worker.park, cooperative.Worker.unpark)
            self.connection = conn
        return conn


#: Greenlet workers per shared connection (:func:`shared_connections`).
WORKERS_PER_CONNECTION = 8


def shared_connections(workers: int) -> int:
    """Connections for ``workers`` greenlet workers: one per 8 (rounded up).

    Measured on the 2-core bench machine (bench/RESULTS.md, session 9): 16
    workers pipelining their statements over one or two connections carried
    2,764-2,808 DORAs/s in four ramps, with PostgreSQL at 43-60 % of the
    cores, where 8 workers on a connection each carried 1,791-2,338/s with
    PostgreSQL at 63-65 %: fewer backends to wake and schedule, and several
    statements read per wake-up."""
    return max(1, -(-workers // WORKERS_PER_CONNECTION))


@implementer(ISyncLeaseStore)
class PgLeaseStore:
    """Kea's PostgreSQL lease manager for DHCPv4 leases.

    Opening connects and checks ``schema_version`` (raising
    :class:`DbOpenError` subclasses with Kea's texts).  Blocking: use it
    from one worker thread (see the module docstring), or wrap it in
    :class:`ThreadedLeaseStore`.

    :param parameters: a :class:`PgConnectionParameters`, a
        :class:`~kea_twisted.config.model.LeaseDatabase`, or a
        ``lease-database`` map.
    """

    def __init__(self, parameters: Any, shared: Optional["_SharedConnection"] = None):
        if isinstance(parameters, Mapping):
            parameters = PgConnectionParameters.from_map(parameters)
        elif not isinstance(parameters, PgConnectionParameters):
            parameters = PgConnectionParameters.from_config(parameters)
        self.parameters: PgConnectionParameters = parameters
        self._conn: Optional[PgWireConnection] = None
        # The connection of greenlet workers' stores, shared with other
        # stores of the same pool (None: a connection of its own).
        self._shared = shared
        # The connection's client encoding (text parameters and results).
        self._encoding = "utf-8"
        #: Called (on the thread using the store) when a statement finds the
        #: connection lost and marks it unusable: Kea's
        #: ``startRecoverDbConnection``.  Called once per loss; whoever set it
        #: hops to its own thread (``reactor.callFromThread``).
        self.on_connection_lost: Optional[Callable[[], None]] = None
        # address -> the expire column as this store last read or wrote it
        # (Kea keeps it in the lease object: current_cltt_ + current_valid_lft_).
        self._seen: Dict[int, int] = {}
        # One client's first lookups, read at once (prefetch_client4).
        self._prefetched: Optional[_ClientRows] = None
        #: The :class:`_CommitGroup` this store's lease changes join when
        #: made from a greenlet worker (set by :class:`PgStorePool`).
        self.commit_group: Optional[_CommitGroup] = None
        self._open()

    # -- connection -------------------------------------------------------------

    def _open(self) -> None:
        conn = self._shared.open() if self._shared is not None else _connect(self.parameters)
        self._conn = conn
        self._encoding = conn.encoding

    @staticmethod
    def _version(conn: PgWireConnection) -> Tuple[int, int]:
        try:
            result = conn.query(_PLAIN_SQL["version"])
        except (PgConnectionError, PgServerError) as e:
            raise DbOpenError("unable to execute PostgreSQL statement <%s>, reason: %s"
                              % (_PLAIN_SQL["version"], str(e).strip())) from None
        if not result.ntuples:
            raise DbOpenError("schema_version is empty")
        return int(result.get_value(0, 0)), int(result.get_value(0, 1))

    def schema_version(self) -> Tuple[int, int]:
        """``(version, minor)`` from ``schema_version`` (Kea's getVersion)."""
        return self._run(self._version)

    @property
    def usable(self) -> bool:
        """False after a lost connection, until :meth:`reconnect`."""
        return self._conn is not None and not self._conn.closed

    def reconnect(self) -> None:
        """Open a fresh connection (Kea recreates its lease manager):
        raises :class:`DbOpenError` if the database is still away."""
        self.close()
        self._seen.clear()
        self._prefetched = None
        self._open()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _run(self, action: Callable[[PgWireConnection], Any], statement: str = "run-statement") -> Any:
        """``action(connection)``, with Kea's handling of a failed
        statement."""
        conn = self._conn
        if conn is None or conn.closed:
            raise DbConnectionUnusable("fatal database error or connectivity lost")
        try:
            return action(conn)
        except (PgServerError, PgConnectionError) as e:
            if _is_fatal(e):
                # Kea's checkStatementError: DB_LOG_ERROR(PGSQL_FATAL_ERROR),
                # translated by the database logger to this ID.
                db_log.error("{msgid} Unrecoverable PostgreSQL error occurred: Statement: <{statement}>, "
                             "reason: {reason} (error code: {sqlstate}).",
                             msgid="DATABASE_PGSQL_FATAL_ERROR", statement=statement, reason=str(e).strip(),
                             sqlstate=getattr(e, "sqlstate", None) or "<sqlstate null>")
                self.close()
                callback = self.on_connection_lost
                if callback is not None:
                    try:
                        callback()
                    except Exception:
                        db_log.failure("{msgid} connection-lost callback failed",
                                       msgid="DATABASE_PGSQL_FATAL_ERROR")
                raise DbConnectionUnusable("fatal database error or connectivity lost") from e
            raise DbOperationError(f"Statement exec failed, sqlstate:[ {e.sqlstate} ], reason: {str(e).strip()}") \
                from e

    def _exec(self, name: str, params: Sequence[Any]) -> WireResult:
        """Lease statement ``name`` (prepared on this connection at its
        first use) with ``params``, binary both ways.  Raises
        :class:`PgServerError` (its SQLSTATE in ``sqlstate``) for a failed
        statement, :class:`PgConnectionError` for a lost connection."""
        return self._conn.exec_prepared(*self._bound(name, params))

    def _bound(self, name: str, params: Sequence[Any]) -> Tuple[bytes, List[Optional[bytes]]]:
        """Lease statement ``name``'s prepared name (preparing it on this
        connection at its first use) and ``params`` encoded."""
        sql, types = _SQL[name]
        key = _STATEMENT_KEYS[name]
        prepared = self._conn.prepared
        if name not in prepared:
            # Noted before it is sent: a store sharing the connection may
            # pipeline its own Bind of it right behind this Parse.
            prepared.add(name)
            try:
                self._conn.prepare(key, sql, types)
            except BaseException:
                prepared.discard(name)
                raise
        encoding = self._encoding
        return key, [_encode_param(v, t, encoding) for v, t in zip(params, types)]

    def _changed(self, name: str, params: Sequence[Any]) -> int:
        """Rows changed by lease statement ``name``."""
        return self._run(lambda c: self._exec(name, params).command_tuples or 0, name)

    def _write(self, name: str, params: Sequence[Any]) -> int:
        """Rows changed by the one-lease change ``name``: committed with
        the other workers' changes of the moment when this store is in a
        commit group and called from a greenlet worker, else on its own."""
        group = self.commit_group
        if group is None or cooperative.current_worker() is None:
            return self._changed(name, params)
        return group.write(self, name, params)

    def _changed_together(self, changes: Sequence[Tuple[str, Sequence[Any]]]) -> List[int]:
        """Rows changed by each of ``changes`` (``(name, params)``), run as
        one transaction; raises as :meth:`_run` does, and then none of
        them took effect."""

        def run(conn: PgWireConnection) -> List[int]:
            statements = [self._bound(name, params) for name, params in changes]
            return [result.command_tuples or 0 for result in conn.exec_prepared_together(statements)]

        return self._run(run, "commit-group")

    def _query(self, name: str, params: Sequence[Any] = ()) -> List[Lease4]:
        return self._leases(self._run(lambda c: self._exec(name, params), name))

    def _leases(self, result: Any) -> List[Lease4]:
        """The leases of a ``_COLUMNS`` result, their ``expire`` noted as seen."""
        get, encoding = result.get_value, self._encoding
        rows = [_decode_row(get, r, encoding) for r in range(result.ntuples)]
        leases = [_lease_from_row(r) for r in rows]
        seen = self._seen
        for row in rows:
            seen[row[0]] = row[4] or 0
        return leases

    def _one(self, name: str, params: Sequence[Any]) -> Optional[Lease4]:
        leases = self._query(name, params)
        return leases[0] if leases else None

    # -- one client's first lookups, in one statement --------------------------

    def prefetch_client4(self, client_id: Optional[bytes], hwaddr: Optional[bytes],
                         address: Optional[IPv4Address], candidate: Optional[int] = None) -> None:
        """Read what an allocation for one client asks first - its leases
        by client identifier, by hardware address, the lease of the address
        it asks for, and that of ``candidate`` (the address the allocator
        would pick first) - in one statement instead of four, and answer
        those lookups from it until :meth:`forget_prefetched` or a change
        through this store.

        Kea sends them as separate statements: 8 per DORA, against 4 here, or
        3 when the allocator passes its candidate.
        The rows are what the separate statements would have read a moment
        later; what another server changes in between is caught where Kea
        catches it, by the database (the primary key on insert, the
        ``expire`` check on update and delete)."""
        client_id = bytes(client_id) if client_id else None
        hwaddr = bytes(hwaddr) if hwaddr else None
        value = int(address) if address is not None else None
        if client_id is None:
            name, params = "get_client_hw", (hwaddr, value, candidate)
        else:
            name, params = "get_client", (client_id, hwaddr, value, candidate)
        result = self._run(lambda c: self._exec(name, params), name)
        rows = _ClientRows(client_id, hwaddr, value, candidate)
        for r, lease in enumerate(self._leases(result)):
            tag = result.get_value(r, 11)
            if tag == b"c":
                rows.by_client_id.append(lease)
            elif tag == b"h":
                rows.by_hwaddr.append(lease)
            elif tag == b"a":
                rows.at_address = lease
            else:
                rows.at_candidate = lease
        self._prefetched = rows

    def forget_prefetched(self) -> None:
        """Back to asking the database for every lookup."""
        self._prefetched = None

    # -- changes ----------------------------------------------------------------

    def add_lease(self, lease: Lease4) -> bool:
        self._prefetched = None  # a change: lookups go to the database again
        values = _lease_values(lease)
        address = int(lease.address)
        log.debug("{msgid} adding IPv4 lease with address {address}", msgid="DHCPSRV_PGSQL_ADD_ADDR4",
                  address=lease.address, debuglevel=DBG_TRACE_DETAIL)

        added = self._write("insert", (address,) + values) == 1
        if added:
            self._seen[address] = values[3]
        return added

    def update_lease(self, lease: Lease4, current: Optional[Lease4] = None) -> None:
        """Replace the lease at ``lease.address``.

        The row is changed only if its ``expire`` is still the one this
        store last saw for the address — or ``current``'s, when the caller
        passes the lease as it read it — so a lease another server changed
        meanwhile is not overwritten (:class:`NoSuchLease`, as Kea)."""
        self._prefetched = None
        values = _lease_values(lease)
        address = int(lease.address)
        expected = _stored_expire(current) if current is not None else self._seen.get(address)
        log.debug("{msgid} updating IPv4 lease for address {address}", msgid="DHCPSRV_PGSQL_UPDATE_ADDR4",
                  address=lease.address, debuglevel=DBG_TRACE_DETAIL)
        if expected is not None:
            count = self._write("update", values + (address, expected))
        else:
            count = self._write("update_any", values + (address,))
        if count == 0:
            self._seen.pop(address, None)
            raise NoSuchLease(f"unable to update lease for address {lease.address} as it does not exist")
        self._seen[address] = values[3]

    def delete_lease(self, lease: Lease4) -> bool:
        """Delete the lease at ``lease.address`` if its ``expire`` is still
        the one this store last saw (``lease``'s own when it has seen none);
        False otherwise."""
        self._prefetched = None
        address = int(lease.address)
        expected = self._seen.get(address)
        if expected is None:
            expected = _stored_expire(lease)
        log.debug("{msgid} deleted {address} from the lease database", msgid="DHCPSRV_PGSQL_DELETE_ADDR",
                  address=lease.address, debuglevel=DBG_TRACE_DETAIL)
        count = self._write("delete", (address, expected))
        self._seen.pop(address, None)
        return count == 1

    def delete_expired_reclaimed_leases4(self, now: int, secs: int) -> int:
        self._prefetched = None
        log.debug("{msgid} deleting reclaimed IPv4 leases that expired more than {secs} seconds ago",
                  msgid="DHCPSRV_PGSQL_DELETE_EXPIRED_RECLAIMED4", secs=secs, debuglevel=DBG_TRACE_DETAIL)
        return self._changed("delete_reclaimed", (STATE_EXPIRED_RECLAIMED, now - secs))

    def wipe_leases4(self, subnet_id: int) -> int:
        # Kea 2.2's PgSqlLeaseMgr::wipeLeases4 throws NotImplemented.
        raise NotImplementedError("wipeLeases4 is not implemented for PostgreSQL backend")

    # -- queries ------------------------------------------------------------------

    def get_lease4(self, address: IPv4Address) -> Optional[Lease4]:
        value = int(address)
        rows = self._prefetched
        if rows is not None:
            if rows.address == value:
                return rows.at_address
            if rows.candidate == value:
                return rows.at_candidate
        return self._one("get_address", (value,))

    def get_leases4_by_hwaddr(self, hwaddr: bytes) -> List[Lease4]:
        hwaddr = bytes(hwaddr)
        rows = self._prefetched
        if rows is not None and rows.hwaddr == hwaddr:
            return list(rows.by_hwaddr)
        return self._query("get_hwaddr", (hwaddr,))

    def get_lease4_by_hwaddr_subnet(self, hwaddr: bytes, subnet_id: int) -> Optional[Lease4]:
        return self._one("get_hwaddr_subnet", (bytes(hwaddr), subnet_id))

    def get_leases4_by_client_id(self, client_id: bytes) -> List[Lease4]:
        if not client_id:
            return []
        client_id = bytes(client_id)
        rows = self._prefetched
        if rows is not None and rows.client_id == client_id:
            return list(rows.by_client_id)
        return self._query("get_client_id", (client_id,))

    def get_lease4_by_client_id_subnet(self, client_id: bytes, subnet_id: int) -> Optional[Lease4]:
        if not client_id:
            return None
        return self._one("get_client_id_subnet", (bytes(client_id), subnet_id))

    def get_leases4_by_subnet(self, subnet_id: int) -> List[Lease4]:
        return self._query("get_subnet", (subnet_id,))

    def get_leases4_by_hostname(self, hostname: str) -> List[Lease4]:
        return self._query("get_hostname", (hostname,))

    def get_all_leases4(self) -> List[Lease4]:
        return self._query("get_all")

    def get_leases4_page(self, after_address: IPv4Address, limit: int) -> List[Lease4]:
        return self._query("get_page", (int(after_address), max(limit, 0)))

    def get_expired_leases4(self, now: int, max_leases: int) -> List[Lease4]:
        # Kea: 0 means all, done with the largest 32-bit limit.
        limit = max_leases if max_leases > 0 else 0xFFFFFFFF
        return self._query("get_expired", (STATE_EXPIRED_RECLAIMED, now, limit))

    def lease_counts(self) -> List[Tuple[int, int, int]]:
        rows = self._run(lambda c: c.query(_PLAIN_SQL["stats"]).rows)
        # Kea clamps a negative count to 0; absent and zero are the same here.
        return [(int(s), int(st), int(n)) for s, st, n in rows if n is not None and int(n) > 0]

    # -- conveniences ---------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._run(lambda c: c.query(_PLAIN_SQL["count"]).get_value(0, 0)))


# ---------------------------------------------------------------------------
# Lease changes of several greenlet workers, committed together


class _GroupedChange:
    """One lease change waiting in a :class:`_CommitGroup`: the statement,
    and the Deferred its worker waits on (fired with :data:`_LEAD` when the
    worker is to run the next transaction itself, else with its row count
    or its failure)."""

    __slots__ = ("name", "params", "waiting")

    def __init__(self, name: str, params: Sequence[Any]):
        self.name = name
        self.params = params
        self.waiting = defer.Deferred()


#: What a waiting change's Deferred is fired with to make its worker the leader.
_LEAD = object()


class _CommitGroup:
    """Group commit on the client side, for the greenlet workers of one
    :class:`PgStorePool`.

    A lease change is one statement and one commit, and every commit waits
    for its WAL flush; Kea's triggers make each insert or delete of a
    lease also update one ``lease4_stat`` row per subnet and state, locked
    until that commit is flushed.  Committed together, the changes of a
    busy moment share one flush and one turn of that row (measured at
    2,400 DORAs/s, thread-pool-size 8: WAL flushes per DORA 0.61 -> 0.27-0.43,
    PostgreSQL's CPU 70 % -> 59-64 %; the saturated rate did not move,
    bench/RESULTS.md, session 8).

    One transaction is in flight at a time (two or four in flight
    measured no better).  A worker whose change
    finds none in flight runs it at once; changes that arrive meanwhile
    wait, and when the transaction ends the first of them runs all of them
    as the next one (:meth:`PgWireConnection.exec_prepared_together`: one
    write, one Sync, one commit, one flush).  Nothing is answered before
    its commit is done: a worker's change returns, and its DHCPACK goes
    out, only after the transaction that holds it committed.  Idle, a
    change is one statement as before; busy, one flush serves many.

    If the transaction fails as a whole (all or nothing: a deadlock with
    another server, say) its changes are run again one by one, each with
    its own outcome.  A lost connection fails them all as the one
    statement would have: :class:`DbConnectionUnusable`, the leader's store
    reporting the loss.  Kea runs each change on its own; the rows written
    are the same, the primary key and the ``expire`` checks decide the
    same way, and the triggers see each row as Kea's would.
    """

    def __init__(self) -> None:
        self._waiting: List[_GroupedChange] = []
        self._in_flight = False
        #: Transactions run, and changes they carried (for tests and benchmarks).
        self.transactions = 0
        self.changes = 0

    def write(self, store: PgLeaseStore, name: str, params: Sequence[Any]) -> int:
        """Rows changed by ``name`` with ``params``, committed; called by a
        greenlet worker with its own ``store``."""
        change = _GroupedChange(name, params)
        self._waiting.append(change)
        if not self._in_flight:
            return self._lead(store, change)
        worker = cooperative.current_worker()
        try:
            outcome = worker.wait_deferred(change.waiting)
        except BaseException:
            # A worker ended while waiting (the pool stopped) leaves nothing behind.
            if change in self._waiting:
                self._waiting.remove(change)
            raise
        if outcome is _LEAD:
            return self._lead(store, change)
        return outcome

    def _lead(self, store: PgLeaseStore, mine: _GroupedChange) -> int:
        batch, self._waiting = self._waiting, []
        self._in_flight = True
        try:
            outcomes = self._run(store, batch)
        finally:
            self._in_flight = False
        self.transactions += 1
        self.changes += len(batch)
        if self._waiting:
            # The next transaction starts now, while this one's are answered.
            self._waiting[0].waiting.callback(_LEAD)
        result: Any = None
        for change, outcome in zip(batch, outcomes):
            if change is mine:
                result = outcome
            elif isinstance(outcome, Exception):
                change.waiting.errback(Failure(outcome))
            else:
                change.waiting.callback(outcome)
        if isinstance(result, Exception):
            raise result
        return result

    @staticmethod
    def _run(store: PgLeaseStore, batch: List[_GroupedChange]) -> List[Any]:
        """Each change's row count, or the exception it raises."""
        if len(batch) > 1:
            try:
                return store._changed_together([(c.name, c.params) for c in batch])
            except DbConnectionUnusable as e:
                return [e] * len(batch)
            except Exception:
                pass  # one of them failed: find out which, one by one
        outcomes: List[Any] = []
        for change in batch:
            try:
                outcomes.append(store._changed(change.name, change.params))
            except Exception as e:
                outcomes.append(e)
        return outcomes


# ---------------------------------------------------------------------------
# One store per worker (thread or greenlet)


class _GreenletLocal:
    """``threading.local`` for greenlet workers: an ``entry`` per greenlet."""

    def __init__(self) -> None:
        self._entries: Dict[Any, Any] = {}

    @property
    def entry(self) -> Any:
        return self._entries.get(cooperative.getcurrent())

    @entry.setter
    def entry(self, value: Any) -> None:
        if value is None:
            self._entries.pop(cooperative.getcurrent(), None)
        else:
            self._entries[cooperative.getcurrent()] = value


def _pooled_method(name: str) -> Callable[..., Any]:
    def method(self: "PgStorePool", *args: Any, **kwargs: Any) -> Any:
        store, lock = self._for_thread()
        with lock:
            return getattr(store, name)(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of the calling thread's own :class:`PgLeaseStore`."
    return method


@implementer(ISyncLeaseStore)
class PgStorePool:
    """Kea's multi-threaded PostgreSQL lease manager: one
    :class:`PgLeaseStore` per thread that uses the pool (a connection each;
    greenlet workers may share connections, below).

    A thread's first call binds it to a free store (a new connection when
    none is free, as Kea's ``PgSqlLeaseContextAlloc`` creates a context
    when its pool is empty) and keeps it, so that what a thread read is
    what its later writes check against (the optimistic ``expire`` check
    of :meth:`PgLeaseStore.update_lease`): two threads that read one lease
    and both change it do not both succeed.  :meth:`release_thread` gives
    the calling thread's store back (the reactor thread after its start-up
    reads).  ``size`` stores are opened at once, so a database that cannot
    be opened is refused at configuration time, as Kea refuses it.

    Each store has a lock, held for every call: :meth:`reconnect` (from
    whichever thread runs the recovery, Kea's critical section) waits for
    a statement in progress instead of swapping the connection under it.

    With ``cooperative`` the users are the greenlet workers of a
    :class:`kea_twisted.cooperative.GreenletPool` (all on the reactor
    thread): each worker is bound to a store as a thread is, and the locks
    are :class:`~kea_twisted.cooperative.WorkerLock`, which a waiting worker
    waits for without blocking the reactor.  Their stores may share
    ``connections`` connections (store ``n`` the ``n % connections``-th),
    pipelining their statements: each store keeps its own reads and
    ``expire`` checks, only the socket and the PostgreSQL backend are
    shared.  A lost shared connection is lost for every store on it; the
    first store that reopens it reopens it for them all.

    :param parameters: as :class:`PgLeaseStore`'s.
    :param size: stores opened now (the worker count).
    :param cooperative: bind stores to greenlets rather than threads.
    :param connections: with ``cooperative``, the connections the stores
        share (:func:`shared_connections`); None: one per store.
    """

    def __init__(self, parameters: Any, size: int = 1, cooperative: bool = False,
                 connections: Optional[int] = None):
        if isinstance(parameters, Mapping):
            parameters = PgConnectionParameters.from_map(parameters)
        elif not isinstance(parameters, PgConnectionParameters):
            parameters = PgConnectionParameters.from_config(parameters)
        self.parameters: PgConnectionParameters = parameters
        self._guard = threading.Lock()
        self.cooperative = cooperative
        self._local: Any = _GreenletLocal() if cooperative else threading.local()
        self._stores: List[Tuple[PgLeaseStore, Any]] = []
        self._free: List[Tuple[PgLeaseStore, Any]] = []
        self._on_connection_lost: Optional[Callable[[], None]] = None
        #: The greenlet workers' lease changes, committed together (None with threads).
        self.commit_group: Optional[_CommitGroup] = _CommitGroup() if cooperative else None
        self._shared: List[_SharedConnection] = (
            [_SharedConnection(parameters) for _ in range(max(1, connections))]
            if cooperative and connections is not None else [])
        try:
            for _ in range(max(1, size)):
                self._free.append(self._new_store())
        except BaseException:
            self.close()
            raise

    def _new_store(self) -> Tuple[PgLeaseStore, Any]:
        shared = self._shared[len(self._stores) % len(self._shared)] if self._shared else None
        store = PgLeaseStore(self.parameters, shared)
        store.on_connection_lost = self._on_connection_lost
        store.commit_group = self.commit_group
        entry = (store, cooperative.WorkerLock() if self.cooperative else threading.RLock())
        with self._guard:
            self._stores.append(entry)
        return entry

    def _for_thread(self) -> Tuple[PgLeaseStore, Any]:
        entry = getattr(self._local, "entry", None)
        if entry is None:
            with self._guard:
                entry = self._free.pop() if self._free else None
            if entry is None:
                entry = self._new_store()
            self._local.entry = entry
        return entry

    def release_thread(self) -> None:
        """The calling thread no longer uses the pool: its store is free
        for another thread."""
        entry = getattr(self._local, "entry", None)
        if entry is not None:
            self._local.entry = None
            with self._guard:
                self._free.append(entry)

    @property
    def size(self) -> int:
        """Stores opened (in use or free)."""
        return len(self._stores)

    @property
    def connection_count(self) -> int:
        """Connections the stores use (fewer than stores when shared)."""
        with self._guard:
            stores = list(self._stores)
        return len({id(store._conn) for store, _ in stores if store._conn is not None})

    @property
    def on_connection_lost(self) -> Optional[Callable[[], None]]:
        """Given to every store (see :attr:`PgLeaseStore.on_connection_lost`):
        called by the first statement of each store that finds its
        connection lost."""
        return self._on_connection_lost

    @on_connection_lost.setter
    def on_connection_lost(self, callback: Optional[Callable[[], None]]) -> None:
        self._on_connection_lost = callback
        with self._guard:
            stores = list(self._stores)
        for store, _ in stores:
            store.on_connection_lost = callback

    @property
    def usable(self) -> bool:
        with self._guard:
            stores = list(self._stores)
        return all(store.usable for store, _ in stores)

    def schema_version(self) -> Tuple[int, int]:
        store, lock = self._for_thread()
        with lock:
            return store.schema_version()

    def reconnect(self) -> None:
        """Open every store's connection again, one after the other, each
        while no thread is using it; raises :class:`DbOpenError` if the
        database is still away (the stores not reached yet keep their
        lost connections: the next attempt reopens them all)."""
        with self._guard:
            stores = list(self._stores)
        for store, lock in stores:
            with lock:
                store.reconnect()

    def close(self) -> None:
        with self._guard:
            stores, self._stores, self._free = self._stores, [], []
        for store, lock in stores:
            with lock:
                store.close()

    def __len__(self) -> int:
        store, lock = self._for_thread()
        with lock:
            return len(store)


for _name in _SYNC_METHODS + ("prefetch_client4", "forget_prefetched"):
    setattr(PgStorePool, _name, _pooled_method(_name))
del _name


# ---------------------------------------------------------------------------
# The Deferred face on a worker thread


def _threaded_method(name: str) -> Callable[..., defer.Deferred]:
    def method(self: "ThreadedLeaseStore", *args: Any, **kwargs: Any) -> defer.Deferred:
        return deferToThreadPool(self.reactor, self.threadpool, getattr(self.store, name), *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of the wrapped store, run on the store's thread."
    return method


@implementer(ILeaseStore)
class ThreadedLeaseStore:
    """:class:`ILeaseStore` over a blocking :class:`ISyncLeaseStore`: each
    call runs on a worker pool's thread and its Deferred fires on the
    reactor thread.

    :param store: the blocking store: a :class:`PgLeaseStore` on a
        one-thread pool (it sees one thread, in call order), or a
        :class:`PgStorePool` on a pool of any size.
    :param reactor: the reactor the Deferreds fire in.
    :param threadpool: a pool to use (its size is the caller's business);
        by default a started one-thread pool this object owns and stops in
        :meth:`close`.
    """

    def __init__(self, store: Any, reactor: Any, threadpool: Optional[ThreadPool] = None):
        self.store = store
        self.reactor = reactor
        self._owns_pool = threadpool is None
        if threadpool is None:
            threadpool = ThreadPool(minthreads=1, maxthreads=1, name="kea-lease-database")
            threadpool.start()
        self.threadpool = threadpool

    def call_with_store(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> defer.Deferred:
        """``fn(store, *args, **kwargs)`` on the store's thread, with the
        blocking store itself: several calls in a row (a lease command's
        read-check-write) run without anything else on the store between
        them.  The Deferred fires on the reactor thread."""
        return deferToThreadPool(self.reactor, self.threadpool, fn, self.store, *args, **kwargs)

    def close(self) -> defer.Deferred:
        """Close the store on its thread, then stop an owned pool."""
        d = deferToThreadPool(self.reactor, self.threadpool, getattr(self.store, "close", lambda: None))

        def stop(result: Any) -> Any:
            if self._owns_pool:
                self.threadpool.stop()
            return result

        return d.addBoth(stop)


for _name in _SYNC_METHODS:
    setattr(ThreadedLeaseStore, _name, _threaded_method(_name))
del _name
