"""
The HA peers' HTTP(S) transport: the listener a partner calls and the
client that calls the partner, interoperable with Kea 2.2's
``libdhcp_ha.so`` (spec/ha.md §0-§2, observed again for this module with
a real Kea on loopback).

**TLS** (:func:`build_tls`, :class:`ServerTLS`, :class:`PartnerTLS`).
Every peer's ``trust-anchor``/``cert-file``/``key-file`` are loaded when the
configuration is applied, as Kea's ``HAConfig::validate`` does; a failure is
:class:`~hooks.ha.config.HAConfigError` ``bad TLS config for server <name>:
load of CA file '<path>' failed: <OpenSSL reason>`` (``CA directory``,
``cert file``, ``private key file`` likewise).  The trust anchor is a file
or, when it names a directory, an OpenSSL hashed CA path (``c_rehash``), as
Kea's ``TlsContext`` reads it; the cert file may hold a chain.

* Listener (own peer entry's files): with relationship-level
  ``require-client-certs`` true it demands a client certificate and checks
  only that it chains to the trust anchor (no name or IP check, Kea checks
  none); false turns verification **off** - no certificate is even asked
  for (Kea: ``verify_none``; observed: no cert, other-CA and expired certs
  all accepted).
* Client (the *partner's* entry's files, Kea's surprise): verifies the
  partner's certificate against the trust anchor, no name check by default
  (a wrong-SAN Kea partner works with Kea).  ``verify_identity=True``
  (:class:`PartnerTLS`, :class:`PartnerClient`, :func:`build_tls`) adds a
  ``service_identity`` check of the certificate against the host of the
  partner's URL (IP SAN for an address, DNS SAN for a name) - stricter than
  Kea, off by default.
* TLS 1.2 and 1.3 (Kea on OpenSSL 3 refuses 1.0/1.1); Twisted's cipher
  list, which includes the ECDHE-RSA-AES-GCM suites Kea negotiates but
  drops a few legacy ones Kea's OpenSSL default still accepts
  (AES128-SHA without forward secrecy).
* Warnings (logger ``kea-dhcp4.ha-hooks``) where the configuration leaves
  checks weaker than its author may mean: ``require-client-certs`` written
  in a ``peers`` entry (Kea 2.2 ignores it there) -
  ``HA_TLS_REQUIRE_CLIENT_CERTS_IGNORED``; relationship-level
  ``require-client-certs: false`` with TLS - ``HA_TLS_CLIENT_CERTS_NOT_VERIFIED``;
  a private key readable by group/others - ``HA_TLS_KEY_FILE_READABLE``
  (a warning, never a refusal; Kea says nothing).

**Listener** (:func:`listen`, :class:`HAListener`) - Kea's ``CmdHttpListener``
with ``CmdResponseCreator``, as observed:

* any path is accepted (Kea ignores the target); the method must be POST,
  ``Content-Type`` exactly ``application/json`` (case-insensitive, no
  parameters: ``; charset=utf-8`` is refused), a ``Content-Length`` body
  (chunked is refused) holding one JSON value (Kea's parser, trailing data
  refused) - otherwise ``400 Bad Request`` with body
  ``{ "result": 400, "text": "Bad Request" }`` (a map, not a list);
* an empty body answers 200 ``[ { "result": 1, "text": "Command processing
  failed: NULL command parameter" } ]``; a body that is not a command map
  answers 200 with Kea's ``parseCommand`` text (``Error during command
  processing: Invalid command Element specified, expected map``, unknown
  keys, non-string ``command``); ``service`` is not looked at;
* otherwise ``execute(command_dict)`` runs the command; its answer map is
  sent as ``[ answer ]`` with ``200 OK``, ``Content-Type: application/json``,
  ``Content-Length``, ``Date`` (no ``Server`` header), HTTP/1.0 answered as
  1.0; keep-alive for HTTP/1.1; unknown commands are ``execute``'s business
  (Kea: 200, result 2);
* ``allowed_commands`` (the plugin passes :data:`hooks.ha.commands.HA_COMMANDS4`
  when ``restrict-commands`` is true): another command is ``403 Forbidden``
  ``{ "result": 403, "text": "Forbidden" }`` (Kea's ``filterCommand``);
* ``basic_auth`` (opt-in): **Kea 2.2 does not check credentials on its HA
  listener** (``CmdResponseCreator::http_auth_config_`` is never set, still
  so in 2.6; observed: no/wrong ``Authorization`` accepted).  Kea's client
  sends ``Authorization: Basic …`` built from the ``basic-auth-user`` of
  the peer it calls, so with identical configurations the partner presents
  *our own* entry's credentials: pass ``(user, password)`` of the own peer
  entry to check them.  A failure is answered as Kea's Control Agent does:
  ``401 Unauthorized``, ``WWW-Authenticate: Basic realm="…"``, body
  ``{ "result": 401, "text": "Unauthorized" }``; logged
  ``HTTP_CLIENT_REQUEST_NO_AUTH_HEADER`` / ``…_BAD_AUTH_HEADER`` /
  ``…_NOT_AUTHORIZED`` (logger ``kea-dhcp4.auth``).  The 400 checks come
  first, as in Kea (the request is finalized before authentication);
* ``max_body`` (ours; Kea has no limit - a 2 MB body was accepted): a larger
  ``Content-Length`` (or chunked stream) is answered at once
  ``413 Request Entity Too Large`` ``{ "result": 413, "text": "Request
  Entity Too Large" }`` and the connection is closed
  (``HTTP_REQUEST_TOO_LARGE``, logger ``kea-dhcp4.http``);
* ``idle_timeout``: a connection with no traffic for that long is closed
  without an answer (Kea: 30 s, ``TIMEOUT_AGENT_IDLE_CONNECTION_TIMEOUT``).
  Kea also answers ``408 Request Timeout`` to a request left incomplete
  for 10 s; here a stalled request is only cut by the idle timeout (which
  every received byte restarts);
* a TLS ClientHello sent to the plain listener is answered ``400`` at once
  and the connection closed (Kea's parser fails the same way; the TLS client
  then reports ``wrong version number``);
* TLS handshake failures are logged as Kea does, ``HTTP_CONNECTION_HANDSHAKE_FAILED
  TLS handshake with <address> failed with <OpenSSL reason>`` (INFO, logger
  ``kea-dhcp4.http``): ``peer did not return a certificate``,
  ``certificate verify failed``, ``http request`` (plain HTTP sent to the
  TLS port).

**Client** (:class:`PartnerClient`): treq over an ``Agent`` with an
``HTTPConnectionPool(persistent=True)``, shaped as Kea's ``HttpClient`` - a
few persistent connections per partner (:func:`client_connections`: Kea
keeps one, or ``http-client-threads`` with HA multi-threading; here at least
:data:`DEFAULT_CONNECTIONS`), one request at a time on each.  A
``DeferredSemaphore`` of that size lets that many requests into treq at a
time, the others wait in a FIFO queue; the pool keeps as many idle
connections (``maxPersistentPerHost``), so a request opens a connection
only when none is idle and fewer than the limit are open: a burst of lease
updates costs no new TCP/TLS handshakes (the pool alone keeps two and
opened a new connection for every further request in flight).  Idle
connections are dropped after 20 s, before Kea's 30 s idle timeout closes
them under us; one whose request timed out or was cancelled is aborted (a
late answer must never be read); a lost one is replaced by the next
request.  Connections are made by the client's own endpoint: TLS from
:class:`PartnerTLS`, ``TCP_NODELAY`` so that no request or answer waits
for a delayed ACK (the listener sets it too), and no "Starting factory"
log line per connection.  The body is written in the same reactor turn as
the head (one segment; Twisted's TLS makes one record of them).

A request is ``POST <url path or />`` with ``Host: <host without port>``,
``Content-Type: application/json``, with basic auth ``Authorization``, and
``Content-Length``; the body is Kea's JSON text.  An ``http://`` URL with TLS
files speaks TLS (Kea does).  No cookies are kept (Kea's client keeps none):
a ``Set-Cookie`` in an answer is never sent back.  :meth:`PartnerClient.send` fires with the
decoded JSON list (Kea's strings: Latin-1 characters for bytes, as
:mod:`kea_twisted.kea_json`); result codes are the caller's business
(:func:`hooks.ha.commands.verify_answer`).  It fails with a
:class:`PartnerError`: :class:`PartnerConnectionError` (refused, reset,
closed before an answer), :class:`PartnerTLSError` (handshake or
certificate failure, message = OpenSSL's reason, e.g. ``certificate verify
failed`` as Kea logs it), :class:`PartnerTimeout` (no complete answer in
``timeout`` seconds, default 10 s = Kea's ``TIMEOUT_DEFAULT_HTTP_CLIENT_REQUEST``),
:class:`PartnerHTTPError` (status other than 200; ``.answer`` holds a
decoded body, e.g. Kea's ``{ "result": 400, … }`` map),
:class:`PartnerBadAnswer` (not JSON, not a list, empty list).

**Multi-threading, mapped honestly.**  Twisted does all network I/O on one
thread, so the HA ``multi-threading`` map changes *where* the partner's
requests arrive, not how many threads serve them:

* ``enable-multi-threading`` + ``http-dedicated-listener`` true (after
  :meth:`HAConfig.with_dhcp_threads`, i.e. DHCP multi-threading on too):
  Kea opens its own listener on the host:port of this server's ``url``;
  the plugin calls :func:`listen` there (:meth:`HAConfig.listener_address`).
* otherwise Kea opens no HA listener: the partner's commands reach the
  server through ``kea-ctrl-agent``, which forwards them to the control
  socket - kea_twisted serves the same socket, so the same Control Agent
  setup works; the plugin then does not call :func:`listen`.
* ``http-listener-threads``: accepted and ignored - the reactor serves
  every connection (the listener accepts any number).
  ``http-client-threads``: the number of connections to each partner (Kea
  uses it so), at least :data:`DEFAULT_CONNECTIONS` - concurrency is by
  connections, not threads.

Tests: tests/test_ha_transport.py
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import stat
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Set, Tuple, Union)

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError, ConnectionClosed
from twisted.internet.interfaces import IHandshakeListener, IListeningPort, IStreamClientEndpoint
from twisted.internet.ssl import CertificateOptions, TLSVersion, optionsForClientTLS
from twisted.internet._sslverify import IOpenSSLTrustRoot
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import LogLevel
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.client import (Agent, HTTPConnectionPool, PotentialDataLoss, ResponseDone,
                                ResponseFailed, ResponseNeverReceived)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgentEndpointFactory, IBodyProducer, IPolicyForHTTPS
from twisted.web.resource import Resource
from hyperlink import EncodedURL
from treq.client import HTTPClient
from zope.interface import implementer

from hooks.ha.commands import REQUEST_TIMEOUT
from hooks.ha.config import HAConfig, TLSFiles, Url, tls_error
from kea_twisted.commands import CommandError, parse_command
from kea_twisted.kea_json import KeaJSONError, decode_json, to_kea_bytes
from kea_twisted.logs import DBG_COMMAND, enabled, kea_logger

__all__ = [
    "IDLE_TIMEOUT",
    "MAX_BODY",
    "REQUEST_TIMEOUT",
    "BASIC_AUTH_REALM",
    "ServerTLS",
    "PartnerTLS",
    "HATLS",
    "build_tls",
    "tls_warnings",
    "PartnerError",
    "PartnerConnectionError",
    "PartnerTLSError",
    "PartnerTimeout",
    "PartnerHTTPError",
    "PartnerBadAnswer",
    "PartnerClient",
    "DEFAULT_CONNECTIONS",
    "client_connections",
    "decode_json",
    "HAListener",
    "listen",
    "execute_via",
]

#: Seconds without traffic after which the listener closes a connection
#: (Kea's ``TIMEOUT_AGENT_IDLE_CONNECTION_TIMEOUT``).
IDLE_TIMEOUT = 30.0

#: Largest request body the listener reads (ours: Kea has none).  Kea's HA
#: requests are well under 1 KiB; this leaves room for anything a peer or an
#: operator may send.
MAX_BODY = 1 << 20

#: ``WWW-Authenticate`` realm of a 401 (Kea's Control Agent uses its own
#: name, ``kea-control-agent``; Kea's HA listener has no authentication).
BASIC_AUTH_REALM = "kea-dhcp4-server"

#: Seconds a pooled idle connection to the partner is kept: below Kea's
#: 30 s idle timeout so that we never reuse a connection Kea is closing.
_CACHED_CONNECTION_TIMEOUT = 20.0

#: Fewest connections a client keeps to a partner (see
#: :func:`client_connections`), so the fewest lease updates in flight.
#: Updates a pair can carry per second are at most (updates in flight) /
#: (round trip), and a round trip through two one-thread servers under
#: load takes milliseconds (a partner reads, answers and writes on later
#: reactor turns, behind the datagrams of its own turn).  With 4, a PyPy
#: pair at 2,000 exchanges/s offered answered 0.8x a Kea pair, each server
#: waiting at half a core with its queries parked behind the window; with
#: 16 it carried 2,310/s (bench/RESULTS.md); 64 did no better.
DEFAULT_CONNECTIONS = 16


ha_log = kea_logger("ha-hooks")
http_log = kea_logger("http")
auth_log = kea_logger("auth")
command_log = kea_logger("commands")


# --------------------------------------------------------------------------
# TLS

def _openssl_reason(error: BaseException) -> str:
    """The OpenSSL reason text of an error (what Kea's ``ec.message()``
    shows): the last entry of pyOpenSSL's error queue."""
    if isinstance(error, SSL.Error) and error.args:
        queue = error.args[0]
        if isinstance(queue, list) and queue:
            entry = queue[-1]
            if isinstance(entry, tuple) and len(entry) == 3 and entry[2]:
                return str(entry[2])
        if isinstance(queue, str) and queue:
            return queue
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error, ValueError) and "no certificates" in str(error).lower():
        return "no certificate found"
    return str(error) or error.__class__.__name__


@implementer(IOpenSSLTrustRoot)
class _TrustAnchor:
    """``trust-anchor`` loaded by OpenSSL itself, as Kea does: a PEM file
    (any number of CA certificates) or a hashed CA directory."""

    def __init__(self, path: str):
        self.path = path
        self.is_dir = os.path.isdir(path)

    def _addCACertsToContext(self, context: SSL.Context) -> None:
        if self.is_dir:
            context.load_verify_locations(None, self.path)
        else:
            context.load_verify_locations(self.path)

    def check(self, server_name: str) -> None:
        """Load once into a scratch context to report errors at
        configuration time (Kea loads the files in ``validate``)."""
        what = "CA directory" if self.is_dir else "CA file"
        try:
            if not self.is_dir and not os.path.exists(self.path):
                raise OSError(2, os.strerror(2))
            self._addCACertsToContext(SSL.Context(SSL.TLS_METHOD))
        except (SSL.Error, OSError) as e:
            raise tls_error(server_name, f"load of {what} '{self.path}' failed: {_openssl_reason(e)}")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _load_identity(files: TLSFiles, server_name: str) -> Tuple[Any, List[Any], Any]:
    """cert-file (leaf first, then its chain, as
    ``use_certificate_chain_file``) and key-file (PEM, unencrypted), as
    ``cryptography`` objects (pyOpenSSL's X509/PKey are deprecated).  The
    reason in an error is cryptography's, not always OpenSSL's words."""
    try:
        certs = x509.load_pem_x509_certificates(_read(files.cert_file))
    except (OSError, ValueError) as e:
        raise tls_error(server_name, f"load of cert file '{files.cert_file}' failed: {_openssl_reason(e)}")
    try:
        key = serialization.load_pem_private_key(_read(files.key_file), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise tls_error(server_name, f"load of private key file '{files.key_file}' failed: {_openssl_reason(e)}")
    return certs[0], list(certs[1:]), key


def _warn_key_readable(files: TLSFiles, server_name: str) -> Optional[Tuple[str, str]]:
    try:
        mode = os.stat(files.key_file).st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return ("HA_TLS_KEY_FILE_READABLE",
                f"private key file '{files.key_file}' of server {server_name} is readable by"
                f" {'others' if mode & stat.S_IROTH else 'its group'} (mode {stat.S_IMODE(mode):04o})")
    return None


class ServerTLS:
    """The listener's TLS, from the own peer entry's files
    (``HAConfig.listener_tls``): a server connection creator for
    :class:`~twisted.protocols.tls.TLSMemoryBIOFactory`.

    ``files.cert_required`` True: a client certificate is required and
    checked against the trust anchor only; False: none is asked for.
    Raises :class:`~hooks.ha.config.HAConfigError` with Kea's text.
    """

    def __init__(self, files: TLSFiles, server_name: str = ""):
        self.files = files
        self.server_name = server_name
        self.trust_anchor = _TrustAnchor(files.trust_anchor)
        self.trust_anchor.check(server_name)
        cert, chain, key = _load_identity(files, server_name)
        self.cert_required = files.cert_required
        kwargs: Dict[str, Any] = dict(
            privateKey=key, certificate=cert, extraCertChain=chain or None,
            raiseMinimumTo=TLSVersion.TLSv1_2,
        )
        if files.cert_required:
            # A trust root implies verify_peer + fail_if_no_peer_cert, the
            # mode Kea sets.
            kwargs["trustRoot"] = self.trust_anchor
        self.options = CertificateOptions(**kwargs)
        try:
            self.options.getContext()  # key/cert mismatch surfaces here
        except SSL.Error as e:
            raise tls_error(server_name, f"load of private key file '{files.key_file}' failed: "
                                         f"{_openssl_reason(e)}")

    def getContext(self) -> SSL.Context:
        return self.options.getContext()

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        return self.options.serverConnectionForTLS(tlsProtocol)


@implementer(IPolicyForHTTPS)
class PartnerTLS:
    """TLS for requests to one partner (``HAConfig.client_tls(name)``: the
    partner entry's files, so the certificate presented is that entry's
    cert-file, as Kea does).  The partner's certificate must chain to the
    trust anchor; ``verify_identity`` adds a check of its SAN against the
    host of the URL (off by default: Kea checks no name).

    Raises :class:`~hooks.ha.config.HAConfigError` with Kea's text.
    """

    def __init__(self, files: TLSFiles, server_name: str = "", *, verify_identity: bool = False):
        self.files = files
        self.server_name = server_name
        self.verify_identity = verify_identity
        self.trust_anchor = _TrustAnchor(files.trust_anchor)
        self.trust_anchor.check(server_name)
        cert, chain, key = _load_identity(files, server_name)
        self._cert, self._chain, self._key = cert, chain, key
        self._options = CertificateOptions(
            privateKey=key, certificate=cert, extraCertChain=chain or None,
            trustRoot=self.trust_anchor, raiseMinimumTo=TLSVersion.TLSv1_2,
        )
        try:
            self._options.getContext()
        except SSL.Error as e:
            raise tls_error(server_name, f"load of private key file '{files.key_file}' failed: "
                                         f"{_openssl_reason(e)}")

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        if not self.verify_identity:
            # Chain check only: CertificateOptions verifies against the
            # trust root and calls no name check.
            return self._options
        host = hostname.decode("ascii") if isinstance(hostname, bytes) else hostname
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return optionsForClientTLS(
            host, trustRoot=self.trust_anchor,
            extraCertificateOptions={"privateKey": self._key, "certificate": self._cert,
                                     "extraCertChain": self._chain or None,
                                     "raiseMinimumTo": TLSVersion.TLSv1_2},
        )


@dataclass
class HATLS:
    """Every TLS context of a relationship: ``listener`` (None: plain
    HTTP) and one :class:`PartnerTLS` per other peer that uses TLS."""

    listener: Optional[ServerTLS] = None
    clients: Dict[str, PartnerTLS] = field(default_factory=dict)
    warnings: List[Tuple[str, str]] = field(default_factory=list)


def tls_warnings(config: HAConfig) -> List[Tuple[str, str]]:
    """``(msgid, text)`` for configurations that leave TLS checks weaker
    (or other) than written.  Pure apart from ``os.stat`` of key files."""
    out: List[Tuple[str, str]] = []
    for peer in config.peers:
        if "require-client-certs" in peer.ignored_keys:
            out.append(("HA_TLS_REQUIRE_CLIENT_CERTS_IGNORED",
                        f"'require-client-certs' in the peer entry of {peer.name} is ignored"
                        " (Kea 2.2 reads it only next to 'this-server-name'); the listener"
                        f" {'requires' if config.require_client_certs else 'does not verify'}"
                        " client certificates"))
    own = config.listener_tls
    if own is not None and not own.cert_required:
        out.append(("HA_TLS_CLIENT_CERTS_NOT_VERIFIED",
                    "'require-client-certs' is false: the HA listener accepts any client,"
                    " with no, expired or foreign certificates"))
    seen: Set[str] = set()
    for peer in config.peers:
        if peer.tls is None or peer.tls.key_file in seen:
            continue
        seen.add(peer.tls.key_file)
        w = _warn_key_readable(peer.tls, peer.name)
        if w is not None:
            out.append(w)
    return out


def build_tls(config: HAConfig, *, verify_identity: bool = False, log: bool = True) -> HATLS:
    """Load every peer's TLS files as Kea's ``validate`` does (peers in
    name order, so the first error is Kea's): the own entry's files make
    the listener's context, the others' the clients'.  Logs
    :func:`tls_warnings` (logger ``kea-dhcp4.ha-hooks``) unless ``log`` is
    False.  Raises :class:`~hooks.ha.config.HAConfigError`."""
    result = HATLS()
    for peer in sorted(config.peers, key=lambda p: p.name):
        if peer.tls is None:
            continue
        if peer.name == config.this_server_name:
            result.listener = ServerTLS(peer.tls, peer.name)
        else:
            result.clients[peer.name] = PartnerTLS(peer.tls, peer.name, verify_identity=verify_identity)
    result.warnings = tls_warnings(config)
    if log:
        for msgid, text in result.warnings:
            ha_log.warn("{msgid} {text}", msgid=msgid, text=text)
    return result


# --------------------------------------------------------------------------
# Client

class PartnerError(Exception):
    """A request to the partner failed; ``str()`` is the reason as Kea
    would log it, ``url`` the partner's URL."""

    def __init__(self, message: str, url: str = ""):
        super().__init__(message)
        self.message = message
        self.url = url


class PartnerConnectionError(PartnerError):
    """No answer: connection refused, reset, or closed before the answer."""


class PartnerTLSError(PartnerConnectionError):
    """The TLS handshake failed (partner's certificate not trusted, ours
    refused, plain HTTP on the other side…); ``str()`` is OpenSSL's reason."""


class PartnerTimeout(PartnerError):
    """No complete answer within the request timeout."""


class PartnerHTTPError(PartnerError):
    """An HTTP status other than 200.  ``status``: the code; ``body``: the
    raw body; ``answer``: the decoded JSON body or None."""

    def __init__(self, message: str, url: str = "", status: int = 0,
                 body: bytes = b"", answer: Any = None):
        super().__init__(message, url)
        self.status = status
        self.body = body
        self.answer = answer


class PartnerBadAnswer(PartnerError):
    """A 200 answer whose body is not a non-empty JSON list."""

    def __init__(self, message: str, url: str = "", body: bytes = b""):
        super().__init__(message, url)
        self.body = body


def _reasons(failure: Failure) -> List[Failure]:
    """The failures inside Agent's wrapper exceptions."""
    value = failure.value
    inner = getattr(value, "reasons", None)
    if isinstance(value, (ResponseNeverReceived, ResponseFailed)) or inner:
        out: List[Failure] = []
        for f in inner or ():
            out.extend(_reasons(f) if isinstance(f, Failure) else [])
        return out or [failure]
    return [failure]


def _classify(failure: Failure, url: str, timed_out: bool, closed: bool = False) -> Failure:
    if failure.check(PartnerError):
        return failure
    if timed_out or failure.check(defer.TimeoutError):
        return Failure(PartnerTimeout("Timeout", url))
    if closed:
        return Failure(PartnerConnectionError("client closed", url))
    reasons = _reasons(failure)
    for f in reasons:
        if f.check(SSL.Error):
            return Failure(PartnerTLSError(_openssl_reason(f.value), url))
        if f.type is not None and f.type.__module__.startswith("service_identity"):
            return Failure(PartnerTLSError(f"certificate identity check failed: {f.value}", url))
    for f in reasons:
        if f.check(defer.CancelledError):
            return Failure(PartnerConnectionError("request cancelled", url))
        if f.check(ConnectError):
            text = getattr(f.value, "osError", None)
            text = os.strerror(text) if isinstance(text, int) else _connect_text(f.value)
            return Failure(PartnerConnectionError(text, url))
        if f.check(ConnectionClosed):
            return Failure(PartnerConnectionError("connection closed before an answer", url))
    f = reasons[0]
    return Failure(PartnerConnectionError(f"{f.type.__name__}: {f.value}", url))


def _connect_text(error: ConnectError) -> str:
    from twisted.internet.error import ConnectionRefusedError, TCPTimedOutError
    if isinstance(error, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(error, TCPTimedOutError):
        return "Connection timed out"
    return str(error)


def _no_delay(transport: Any) -> None:
    """TCP_NODELAY on the socket under ``transport`` (a TLS wrapper hands
    the call down): a request or answer is one small write that must not
    wait for the ACK of the previous one (Nagle + delayed ACK = ~40 ms)."""
    for _ in range(4):  # TLS over TCP at most; bounded anyway
        if transport is None:
            return
        set_no_delay = getattr(type(transport), "setTcpNoDelay", None)
        if set_no_delay is not None:
            try:
                transport.setTcpNoDelay(True)
            except (OSError, AttributeError, NotImplementedError):
                pass
            return
        transport = getattr(transport, "transport", None)


@implementer(IBodyProducer)
class _BodyProducer:
    """A request body written at once when the request goes out.

    treq's default producer for bytes (``FileBodyProducer``) writes from a
    cooperator task, a reactor turn after the head; this one writes in the
    same turn, so head and body reach the socket together (and Twisted's
    TLS, which gathers one turn's writes, puts them in one record)."""

    def __init__(self, body: bytes):
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> "Deferred[None]":
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class _Body(Protocol):
    """Collects a response body into ``done``.  Cancelling ``done`` closes
    the connection at once: the rest of that answer is never read, so the
    connection never returns to the pool for another request."""

    def __init__(self) -> None:
        self.done: Deferred = Deferred(self._stop)
        self.chunks: List[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.done.called:
            return  # cancelled
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)

    def _stop(self, _: Deferred) -> None:
        # The transport is the response's IPushProducer: stopProducing
        # stops reading the socket now, loseConnection closes it where
        # stopProducing only pauses.
        if self.transport is not None:
            self.transport.stopProducing()
            self.transport.loseConnection()


class _PreparedURL(EncodedURL):
    """The partner's URL, already in the URI form treq sends.

    treq turns the URL it is given into the request target with
    ``to_uri().to_text()`` at every request (hyperlink rebuilds the URL and
    runs IDNA over the host: ~5 % of a lease update's CPU).  For a URL
    whose URI form is itself, this one answers both from what was computed
    once; :meth:`prepare` makes a plain URL of any other."""

    _uri_text = ""

    @classmethod
    def prepare(cls, text: str) -> EncodedURL:
        plain = EncodedURL.from_text(text)
        try:
            uri_text = plain.to_uri().to_text()
        except Exception:
            return plain  # treq fails the same way at each request
        if plain.to_text() != uri_text:
            return plain  # not in URI form as written: treq converts it each time
        url = cls.from_text(text)
        url._uri_text = uri_text
        return url

    def to_uri(self) -> "_PreparedURL":
        return self

    def to_text(self, with_password: bool = False) -> str:
        return self._uri_text


class _NoCookies(CookieJar):
    """treq's cookie jar for the partner client: it keeps no cookies, as
    Kea's ``HttpClient`` keeps none (and a Kea listener sets none), and so
    skips the ``http.cookiejar`` work treq's ``CookieAgent`` does on every
    request and answer."""

    def add_cookie_header(self, request: Any) -> None:
        pass

    def extract_cookies(self, response: Any, request: Any) -> None:
        pass


@implementer(IStreamClientEndpoint, IAgentEndpointFactory)
class _PartnerEndpoint:
    """The Agent's only endpoint: connections to the client's partner
    (``PartnerClient._endpoint``: TLS when it has some), made quietly (the
    pool's factory is noisy: a "Starting factory" line per connection in
    Kea's log), with TCP_NODELAY, counted.  The Agent asks for an endpoint
    for every request, cached connection or not: the real one is only
    built when a connection is opened."""

    def __init__(self, client: "PartnerClient"):
        self.client = client

    def endpointForURI(self, uri: Any) -> "_PartnerEndpoint":
        return self

    def connect(self, factory: Any) -> Deferred:
        factory.noisy = False
        d = self.client._endpoint().connect(factory)
        d.addCallback(self.client._connected)
        return d


class PartnerClient:
    """Sends commands to one partner's HA listener with treq, over a few
    persistent connections, as Kea's ``HttpClient`` does.

    At most ``connections`` requests are in flight (a
    :class:`~twisted.internet.defer.DeferredSemaphore` in front of treq);
    the others wait in a FIFO queue.  Under the gate, Twisted's
    :class:`~twisted.web.client.HTTPConnectionPool` keeps up to
    ``connections`` idle connections and hands one out per request: a
    request opens a connection only when none is idle, i.e. only while
    fewer than ``connections`` are open - never a new connection per
    request.  A connection is closed after it sat idle for 20 s (before
    Kea's 30 s idle timeout), when a request on it timed out or was
    cancelled (Twisted's Agent aborts it; a cancelled body read closes it),
    or when the partner closed it; the next request opens a new one.

    :param reactor: the reactor (``IReactorTCP`` + ``IReactorTime``).
    :param url: the partner's ``url`` (a :class:`~hooks.ha.config.Url` or
        text); an ``http://`` URL with ``tls`` speaks TLS (Kea does).
    :param tls: a :class:`PartnerTLS`, or :class:`~hooks.ha.config.TLSFiles`
        (loaded here; Kea's errors), or None for plain HTTP.
    :param basic_auth: ``(user, password)`` to send, or a ready
        ``Authorization`` value (``PeerConfig.authorization``), or None.
    :param timeout: seconds for the whole exchange (queue, connect, send,
        answer).
    :param verify_identity: with ``tls`` as TLSFiles: check the partner's
        certificate against the URL's host (off: Kea checks no name).
    :param connections: most connections to the partner (Kea: 1 without HA
        multi-threading, ``http-client-threads`` with it;
        :func:`client_connections`).
    """

    def __init__(self, reactor: Any, url: Union[Url, str], *,
                 tls: Union[PartnerTLS, TLSFiles, None] = None,
                 basic_auth: Union[Tuple[str, str], str, None] = None,
                 timeout: float = REQUEST_TIMEOUT,
                 verify_identity: bool = False,
                 connections: int = DEFAULT_CONNECTIONS):
        self.reactor = reactor
        self.url = url if isinstance(url, Url) else Url.parse(url)
        if not self.url.valid:
            raise ValueError(self.url.error)
        if isinstance(tls, TLSFiles):
            tls = PartnerTLS(tls, verify_identity=verify_identity)
        self.tls = tls
        self.timeout = timeout
        if connections < 1:
            raise ValueError(f"connections must be at least 1, not {connections}")
        self.max_connections = connections
        if isinstance(basic_auth, tuple):
            user, password = basic_auth
            basic_auth = "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
        self._authorization = basic_auth
        self._host = self.url.stripped_hostname
        self._port = self.url.port or (443 if self.url.scheme == "https" else 80)
        scheme = "https" if tls is not None else "http"
        # Parsed once (treq would parse the text at every request), its
        # URI form too (see _PreparedURL); the hostname keeps IPv6 brackets.
        self._target = _PreparedURL.prepare(f"{scheme}://{self.url.hostname}:{self._port}{self.url.path or '/'}")
        self._headers = Headers({b"Host": [self._host.encode("utf-8")],
                                 b"Content-Type": [b"application/json"]})
        if basic_auth:
            self._headers.setRawHeaders(b"Authorization", [basic_auth.encode("latin-1")])
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = connections  # never more idle than the gate lets out
        self.pool.cachedConnectionTimeout = _CACHED_CONNECTION_TIMEOUT
        self.pool.retryAutomatically = False  # Twisted never retries a POST anyway
        agent = Agent.usingEndpointFactory(reactor, _PartnerEndpoint(self), pool=self.pool)
        # treq's jar, and every request's ``cookies`` too: a jar (so treq
        # does not build one from ``None`` each time) that stays empty.
        self._no_cookies = _NoCookies()
        self._http = HTTPClient(agent, cookiejar=self._no_cookies, data_to_body_producer=_BodyProducer)
        self._gate = defer.DeferredSemaphore(connections)
        self._pending: Set[Deferred] = set()
        #: Connections opened (pruned of lost ones as new ones come).
        self._connections: Set[Any] = set()
        self._closed = False
        #: Connections opened so far (for tests and diagnostics).
        self.connections_made = 0

    @classmethod
    def for_peer(cls, reactor: Any, config: HAConfig, peer_name: str, *,
                 tls: Optional[PartnerTLS] = None, verify_identity: bool = False,
                 **kwargs: Any) -> "PartnerClient":
        """A client for ``peer_name`` with Kea's choices: that entry's TLS
        files (``tls`` overrides, e.g. ``build_tls(config).clients[name]``),
        its ``basic-auth-user``/password and :func:`client_connections`
        connections.  ``kwargs``: ``timeout``, ``connections``."""
        peer = config.peer(peer_name)
        if tls is None and peer.tls is not None:
            tls = PartnerTLS(peer.tls, peer.name, verify_identity=verify_identity)
        kwargs.setdefault("connections", client_connections(config))
        return cls(reactor, peer.url, tls=tls, basic_auth=peer.authorization, **kwargs)

    @property
    def open_connections(self) -> int:
        """Connections open now (idle or carrying a request)."""
        return sum(1 for c in self._connections if c.state != "CONNECTION_LOST")

    def send(self, command: Mapping[str, Any], *, timeout: Optional[float] = None) -> "Deferred[List[Any]]":
        """POST ``command`` (a map such as :func:`hooks.ha.commands.command`
        builds) and fire with the decoded JSON list answer, or fail with a
        :class:`PartnerError`."""
        url = self.url.text
        if self._closed:
            return defer.fail(PartnerConnectionError("client closed", url))
        body = to_kea_bytes(command)
        timed_out = [False]

        def on_timeout(result: Any, timeout: float) -> Any:
            timed_out[0] = True
            return result

        d = self._gate.acquire()  # cancelling it leaves the queue
        d.addCallback(self._post, body)
        limit = self.timeout if timeout is None else timeout
        if limit:
            d.addTimeout(limit, self.reactor, onTimeoutCancel=on_timeout)
        d.addErrback(lambda f: _classify(f, url, timed_out[0], self._closed))
        d.addErrback(self._log_failure, url)
        self._pending.add(d)
        d.addBoth(self._forget, d)
        return d

    def _forget(self, result: Any, d: Deferred) -> Any:
        self._pending.discard(d)
        return result

    def _post(self, _gate: Any, body: bytes) -> "Deferred[List[Any]]":
        """Send ``body`` (the gate is ours); give the gate back when the
        exchange is over, whatever its outcome."""
        if self._closed:
            self._gate.release()
            raise PartnerConnectionError("client closed", self.url.text)
        d = self._http.request("POST", self._target, data=body, headers=self._headers.copy(),
                               cookies=self._no_cookies, allow_redirects=False, unbuffered=True)
        d.addCallback(self._read_answer, self.url.text)
        d.addBoth(self._release)
        return d

    def _release(self, result: Any) -> Any:
        # The answer is complete, so its connection is back in the pool
        # (HTTP11ClientProtocol returns it before the body's end is
        # delivered): the next waiting request takes it.
        self._gate.release()
        return result

    def _endpoint(self) -> Any:
        """Where connections come from (tests put an in-memory one here)."""
        endpoint: Any = HostnameEndpoint(self.reactor, self._host, self._port,
                                         timeout=self.timeout or REQUEST_TIMEOUT)
        if self.tls is not None:
            endpoint = wrapClientTLS(self.tls.creatorForNetloc(self._host.encode("utf-8"), self._port),
                                     endpoint)
        return endpoint

    def _connected(self, protocol: Any) -> Any:
        """A new connection (an ``HTTP11ClientProtocol``) of the pool."""
        # Recent Twisted's HTTP11ClientProtocol sets it too, but only where
        # the transport provides ITCPTransport (not all Twisted versions
        # setup.cfg allows): a request or answer must not wait for the ACK
        # of the previous one (Nagle + delayed ACK = ~40 ms).
        _no_delay(protocol.transport)
        self.connections_made += 1
        self._connections = {c for c in self._connections if c.state != "CONNECTION_LOST"}
        self._connections.add(protocol)
        return protocol

    # -- answers ---------------------------------------------------------------

    @staticmethod
    def _read_answer(response: Any, url: str) -> "Deferred[List[Any]]":
        body = _Body()
        response.deliverBody(body)

        def decode(raw: bytes) -> List[Any]:
            parsed: Any = None
            error: Optional[str] = None
            try:
                parsed = decode_json(raw) if raw.strip() else None
            except KeaJSONError as e:
                error = str(e)
            if response.code != 200:
                text = parsed.get("text") if isinstance(parsed, dict) else None
                raise PartnerHTTPError(
                    f"HTTP status {response.code}" + (f": {text}" if isinstance(text, str) else ""),
                    url, response.code, raw, parsed)
            if error is not None:
                raise PartnerBadAnswer(f"answer is not JSON: {error}", url, raw)
            if parsed is None:
                raise PartnerBadAnswer("no body found in the response", url, raw)
            if not isinstance(parsed, list):
                text = parsed.get("text") if isinstance(parsed, dict) else None
                raise PartnerBadAnswer(
                    "body of the response must be a list" + (f" ({text})" if isinstance(text, str) else ""),
                    url, raw)
            if not parsed:
                raise PartnerBadAnswer("list of responses must not be empty", url, raw)
            return parsed

        return body.done.addCallback(decode)

    @staticmethod
    def _log_failure(failure: Failure, url: str) -> Failure:
        http_log.debug("{msgid} bad response received when communicating with {url}: {error}",
                       msgid="HTTP_BAD_SERVER_RESPONSE_RECEIVED", url=url, error=str(failure.value),
                       debuglevel=DBG_COMMAND)
        return failure

    def close(self) -> "Deferred[None]":
        """Fail waiting requests and those in flight with
        :class:`PartnerConnectionError` ``client closed`` (cancelling them
        aborts their connections and connection attempts) and close the
        pool's idle connections (TLS close_notify first); fires when the
        idle ones are closed (aborted ones close at the next reactor turn)."""
        self._closed = True
        for d in list(self._pending):
            d.cancel()
        return self.pool.closeCachedConnections()


def client_connections(config: HAConfig) -> int:
    """How many connections a client keeps to each partner: Kea's
    ``HttpClient`` pool size - 1 without HA multi-threading, else
    ``http-client-threads`` (call on :meth:`HAConfig.with_dhcp_threads`'s
    result, where 0 has become the DHCP thread count), at least
    :data:`DEFAULT_CONNECTIONS` since one reactor thread serves them all
    (more requests in flight let the partner read several per turn)."""
    if config.enable_multi_threading and config.http_client_threads:
        return max(DEFAULT_CONNECTIONS, config.http_client_threads)
    return DEFAULT_CONNECTIONS


# --------------------------------------------------------------------------
# Listener

def execute_via(execute_command: Callable[..., "Deferred[Dict[str, Any]]"]) -> Callable[[Dict[str, Any]], "Deferred[Dict[str, Any]]"]:
    """Adapt ``IServerContext.execute_command(name, arguments=None)`` to the
    ``execute(command_dict)`` :func:`listen` calls."""

    def execute(command: Dict[str, Any]) -> "Deferred[Dict[str, Any]]":
        if "arguments" in command:
            return execute_command(command["command"], command["arguments"])
        return execute_command(command["command"])

    return execute


#: The keys Kea's ``parseCommand`` accepts in a command map
#: (:func:`kea_twisted.commands.parse_command` decides for any other map).
_COMMAND_KEYS = frozenset(("command", "arguments", "service", "remote-address"))


def _stock(status: int, text: str) -> bytes:
    return to_kea_bytes({"result": status, "text": text})


class _HARequest(server.Request):
    """Refuses an oversized body as soon as its size is known."""

    def gotLength(self, length: Optional[int]) -> None:
        self._received = 0
        limit = self.channel.site.max_body
        if length is not None and length > limit:
            self.channel.refuse(413, "Request Entity Too Large",
                                f"request body of {length} bytes exceeds the limit of {limit} bytes")
            # Twisted still wants somewhere to put any bytes already read.
            super().gotLength(0)
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.channel.refused:
            return
        self._received += len(data)
        limit = self.channel.site.max_body
        if self._received > limit:
            self.channel.refuse(413, "Request Entity Too Large",
                                f"request body exceeds the limit of {limit} bytes")
            return
        super().handleContentChunk(data)


@implementer(IHandshakeListener)
class _HAChannel(http.HTTPChannel):
    """Kea's connection-level behaviour: handshake failures logged, data
    after a refusal ignored."""

    refused = False
    _handshake_done = False
    _seen_data = False

    def connectionMade(self) -> None:
        super().connectionMade()
        _no_delay(self.transport)
        self.site.connections.add(self)

    def handshakeCompleted(self) -> None:
        self._handshake_done = True

    def dataReceived(self, data: bytes) -> None:
        if self.refused:
            return
        if not self._seen_data:
            self._seen_data = True
            if not self.site.tls and data[:1] == b"\x16":
                # A TLS ClientHello on the plain listener: Kea's parser
                # fails at once and answers 400; Twisted's would wait for a
                # line end until the idle timeout.
                self.refuse(400, "Bad Request", "TLS handshake sent to a plain HTTP listener",
                            msgid="HTTP_BAD_CLIENT_REQUEST_RECEIVED")
                return
        super().dataReceived(data)

    def refuse(self, status: int, text: str, reason: str,
               msgid: str = "HTTP_REQUEST_TOO_LARGE") -> None:
        """Answer ``status`` with Kea's stock body and close, reading no more."""
        if self.refused:
            return
        self.refused = True
        http_log.info("{msgid} request from {address} refused: {reason}",
                      msgid=msgid, address=_peer_address(self.transport), reason=reason)
        body = _stock(status, text)
        head = (f"HTTP/1.1 {status} {text}\r\nContent-Length: {len(body)}\r\n"
                f"Content-Type: application/json\r\nDate: {http.datetimeToString().decode()}\r\n"
                "Connection: close\r\n\r\n").encode("ascii")
        self.transport.write(head + body)
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure) -> None:
        self.site.connections.discard(self)
        if reason.check(SSL.Error) and self.site.tls and not self._handshake_done:
            http_log.info("{msgid} TLS handshake with {address} failed with {reason}",
                          msgid="HTTP_CONNECTION_HANDSHAKE_FAILED",
                          address=_peer_address(self.transport), reason=_openssl_reason(reason.value))
        super().connectionLost(reason)


def _peer_address(transport: Any) -> str:
    try:
        peer = transport.getPeer()
    except Exception:
        return "?"
    return getattr(peer, "host", str(peer))


class _HAResource(Resource):
    isLeaf = True

    def __init__(self, execute: Callable[[Dict[str, Any]], Any], *,
                 authorization: Optional[str], realm: str,
                 allowed_commands: Optional[Iterable[str]]):
        super().__init__()
        self.execute = execute
        self.authorization = authorization
        self.realm = realm
        self.allowed = frozenset(allowed_commands) if allowed_commands is not None else None

    # -- answers --------------------------------------------------------------

    @staticmethod
    def _send(request: server.Request, status: int, body: bytes,
              extra: Sequence[Tuple[bytes, bytes]] = ()) -> bytes:
        request.setResponseCode(status)
        request.responseHeaders.removeHeader(b"server")
        request.responseHeaders.setRawHeaders(b"content-type", [b"application/json"])
        for name, value in extra:
            request.responseHeaders.setRawHeaders(name, [value])
        request.setHeader(b"content-length", str(len(body)).encode("ascii"))
        return body

    def _bad_request(self, request: server.Request, reason: str) -> bytes:
        http_log.debug("{msgid} bad request received from {address}: {reason}",
                       msgid="HTTP_BAD_CLIENT_REQUEST_RECEIVED",
                       address=_peer_address(request.transport), reason=reason,
                       debuglevel=DBG_COMMAND)
        return self._send(request, 400, _stock(400, "Bad Request"))

    def _answer(self, request: server.Request, answer: Any) -> bytes:
        if not isinstance(answer, list):
            answer = [answer]
        return self._send(request, 200, to_kea_bytes(answer))

    # -- checks ----------------------------------------------------------------

    def _authorized(self, request: server.Request) -> bool:
        if self.authorization is None:
            return True
        values = request.requestHeaders.getRawHeaders(b"authorization")
        address = _peer_address(request.transport)
        if not values:
            auth_log.info("{msgid} received HTTP request without required authentication header",
                          msgid="HTTP_CLIENT_REQUEST_NO_AUTH_HEADER", address=address)
            return False
        value = values[0].decode("latin-1").strip()
        reason = None
        if len(value) < 8:
            reason = "header content is too short"
        elif value[:5].lower() != "basic":
            reason = "not basic authentication"
        if reason is not None:
            auth_log.info("{msgid} received HTTP request with malformed authentication header: {reason}",
                          msgid="HTTP_CLIENT_REQUEST_BAD_AUTH_HEADER", reason=reason, address=address)
            return False
        token = value[5:].strip()
        if hmac.compare_digest(token.encode("latin-1"), self.authorization.encode("latin-1")):
            try:
                user = base64.b64decode(token).decode("utf-8", "replace").split(":", 1)[0]
            except (binascii.Error, ValueError):
                user = "?"
            auth_log.info("{msgid} received HTTP request authorized for '{user}'",
                          msgid="HTTP_CLIENT_REQUEST_AUTHORIZED", user=user)
            return True
        auth_log.info("{msgid} received HTTP request with not matching authentication header",
                      msgid="HTTP_CLIENT_REQUEST_NOT_AUTHORIZED", address=address)
        return False

    def render(self, request: server.Request) -> Any:
        if getattr(request.channel, "refused", False):
            return server.NOT_DONE_YET  # already answered 413, closing
        if enabled(http_log, LogLevel.debug, DBG_COMMAND):  # one per lease update: skip the work
            http_log.debug("{msgid} received HTTP request from {address}",
                           msgid="HTTP_CLIENT_REQUEST_RECEIVED", address=_peer_address(request.transport),
                           debuglevel=DBG_COMMAND)
        # Kea finalizes the request (method, headers, JSON body) before
        # anything else: these are 400s whatever the credentials.
        if request.method != b"POST":
            return self._bad_request(request, f"method {request.method.decode('latin-1')} is not POST")
        ctype = request.requestHeaders.getRawHeaders(b"content-type")
        if not ctype or ctype[0].strip().lower() != b"application/json":
            return self._bad_request(request, "Content-Type is not application/json")
        if request.requestHeaders.getRawHeaders(b"content-length") is None:
            return self._bad_request(request, "no Content-Length")
        raw = request.content.read()
        value: Any = None
        if raw:
            try:
                value = decode_json(raw)
            except KeaJSONError as e:
                return self._bad_request(request, f"invalid JSON body: {e}")
        if not self._authorized(request):
            return self._send(request, 401, _stock(401, "Unauthorized"),
                              [(b"www-authenticate", f'Basic realm="{self.realm}"'.encode("latin-1"))])
        if not raw:
            return self._answer(request, {"result": 1, "text": "Command processing failed: NULL command parameter"})
        if self.allowed is not None:
            name = value.get("command") if isinstance(value, dict) else None
            if isinstance(name, str) and name and name not in self.allowed:
                http_log.debug("{msgid} rejecting command '{name}' from {address}",
                               msgid="COMMAND_HTTP_LISTENER_COMMAND_REJECTED", name=name,
                               address=_peer_address(request.transport), debuglevel=DBG_COMMAND)
                return self._send(request, 403, _stock(403, "Forbidden"))
        if (isinstance(value, dict) and isinstance(value.get("command"), str)
                and all(key in _COMMAND_KEYS for key in value)):
            # What parse_command accepts, without building elements again
            # (every lease update comes this way).
            name, message = value["command"], value
        else:
            try:
                command = parse_command(value)
            except CommandError as e:
                return self._answer(request, {"result": 1, "text": f"Error during command processing: {e}"})
            name, message = command.name, command.message
        d = defer.maybeDeferred(self.execute, message)

        def failed(failure: Failure) -> Dict[str, Any]:
            http_log.failure("HA listener: command {name} failed", failure, name=name)
            return {"result": 1, "text": f"Error during command processing: {failure.value}"}

        def finish(answer: Any) -> None:
            if answer is None:
                answer = {"result": 1, "text": "internal server error: no response generated"}
            try:
                body = self._answer(request, answer)
            except Exception:
                http_log.failure("HA listener: cannot write the answer")
                body = self._answer(request, {"result": 1, "text": "internal server error: cannot write the response"})
            if not request._disconnected:
                request.write(body)
                request.finish()

        d.addErrback(failed)
        d.addCallback(finish)
        d.addErrback(lambda f: http_log.failure("HA listener: answer lost", f))
        return server.NOT_DONE_YET


class _HASite(server.Site):
    requestFactory = _HARequest
    protocol = _HAChannel

    def __init__(self, resource: Resource, reactor: Any, *, max_body: int,
                 idle_timeout: Optional[float], tls: bool):
        try:
            # Twisted would parse every POST's Content-Type with the email
            # package to look for a form (~0.2 ms a request); the resource
            # checks the type itself.
            super().__init__(resource, timeout=idle_timeout, reactor=reactor,
                             parsePOSTFormSubmission=False)
        except TypeError:  # Twisted before 24.10 has no such switch
            super().__init__(resource, timeout=idle_timeout, reactor=reactor)
        self.max_body = max_body
        self.tls = tls
        self.connections: Set[_HAChannel] = set()
        self.noisy = False

    def log(self, request: Any) -> None:
        pass  # Kea writes no access log


@implementer(IListeningPort)
class HAListener:
    """The HA listener; provides ``IListeningPort``.  :meth:`stopListening`
    also closes the open connections (keep-alive ones included), so a
    reconfiguration or a test leaves nothing behind.

    See :func:`listen` for the parameters."""

    def __init__(self, reactor: Any, url: Union[Url, str],
                 execute: Callable[[Dict[str, Any]], Any], *,
                 tls: Union[ServerTLS, TLSFiles, None] = None,
                 basic_auth: Union[Tuple[str, str], str, None] = None,
                 max_body: int = MAX_BODY,
                 idle_timeout: Optional[float] = IDLE_TIMEOUT,
                 allowed_commands: Optional[Iterable[str]] = None,
                 realm: str = BASIC_AUTH_REALM):
        self.reactor = reactor
        self.url = url if isinstance(url, Url) else Url.parse(url)
        if not self.url.valid:
            raise ValueError(self.url.error)
        if isinstance(tls, TLSFiles):
            tls = ServerTLS(tls)
        self.tls = tls
        if isinstance(basic_auth, tuple):
            user, password = basic_auth
            basic_auth = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
        elif isinstance(basic_auth, str) and basic_auth.lower().startswith("basic "):
            basic_auth = basic_auth[6:].strip()
        resource = _HAResource(execute, authorization=basic_auth, realm=realm,
                               allowed_commands=allowed_commands)
        self.site = _HASite(resource, reactor, max_body=max_body,
                            idle_timeout=idle_timeout, tls=tls is not None)
        self.factory: Any = (TLSMemoryBIOFactory(tls.options, False, self.site)
                             if tls is not None else self.site)
        self.port: Any = None

    def startListening(self) -> None:
        port = self.url.port or (443 if self.url.scheme == "https" else 80)
        self.port = self.reactor.listenTCP(port, self.factory, interface=self.url.stripped_hostname)
        # Kea's text; one thread: the reactor serves every connection.
        command_log.debug("{msgid} Command HTTP listener started with {threads} threads, listening on"
                          " {address}:{port}, use TLS: {tls}", msgid="COMMAND_HTTP_LISTENER_STARTED",
                          threads=1, address=self.url.stripped_hostname, port=port,
                          tls=str(self.tls is not None).lower(), debuglevel=DBG_COMMAND)

    def stopListening(self) -> "Deferred[None]":
        if self.port is None:
            return defer.succeed(None)
        port, self.port = self.port, None
        d = defer.maybeDeferred(port.stopListening)
        for channel in list(self.site.connections):
            channel.transport.loseConnection()
        return d

    def getHost(self) -> Any:
        return self.port.getHost() if self.port is not None else None

    @property
    def connections(self) -> int:
        """Open connections (for tests and diagnostics)."""
        return len(self.site.connections)


def listen(reactor: Any, url: Union[Url, str],
           execute: Callable[[Dict[str, Any]], "Deferred[Dict[str, Any]]"], *,
           tls: Union[ServerTLS, TLSFiles, None] = None,
           basic_auth: Union[Tuple[str, str], str, None] = None,
           max_body: int = MAX_BODY,
           idle_timeout: Optional[float] = IDLE_TIMEOUT,
           allowed_commands: Optional[Iterable[str]] = None,
           realm: str = BASIC_AUTH_REALM) -> "Deferred[HAListener]":
    """Listen on the host:port of ``url`` for the partner's commands.

    :param execute: ``execute(command_dict) -> answer map`` or a Deferred of
        one (``command_dict`` has ``command`` and, when sent, ``arguments``
        and ``service``); the plugin passes
        ``execute_via(handle.server.execute_command)``.  A failure becomes a
        result-1 answer.
    :param tls: :class:`ServerTLS` (or TLSFiles, loaded here) or None.
    :param basic_auth: ``(user, password)`` (or ``Basic …`` / the base64
        token) that requests must carry; None (Kea 2.2): not checked.
    :param max_body: larger request bodies are refused with 413.
    :param idle_timeout: seconds of silence before a connection is closed
        (None: never).
    :param allowed_commands: when given, other commands get 403 (Kea's
        ``restrict-commands``).
    :returns: a Deferred firing with the started :class:`HAListener`
        (an ``IListeningPort``), or failing with ``CannotListenError``.
    """
    listener = HAListener(reactor, url, execute, tls=tls, basic_auth=basic_auth,
                          max_body=max_body, idle_timeout=idle_timeout,
                          allowed_commands=allowed_commands, realm=realm)
    d = defer.maybeDeferred(listener.startListening)
    d.addCallback(lambda _: listener)
    return d
