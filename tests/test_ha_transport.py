"""
Tests for hooks.ha.transport: the HA listener and partner client over real
loopback sockets (127.0.0.81/82, ports 18100-18199) with certificates made
by ``shared/kea-ha-rig/make-certs.sh`` in a temporary directory, plus
in-memory tests (task.Clock, StringTransport) for timeouts and limits, and
interoperability with a real Kea 2.2 started by the rig (skipped without
root, kea-dhcp4 or the rig).

The expected HTTP answers (statuses, bodies, header set) were observed on
Kea 2.2.0's HA listener for this module (curl against the rig's server2).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import treq
from twisted.internet import defer, reactor, task, tcp
from twisted.internet.address import IPv4Address
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import IListeningPort
from twisted.internet.testing import StringTransport
from twisted.internet.threads import deferToThread
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from twisted.web import resource, server
from twisted.web.client import Agent, HTTPConnectionPool
from zope.interface import implementer
from zope.interface.verify import verifyObject
from twisted.web.iweb import IPolicyForHTTPS
from twisted.internet.ssl import CertificateOptions, TLSVersion

from hooks.ha import commands
from hooks.ha.communication import rfc1123
from hooks.ha.config import HAConfigError, TLSFiles, parse_ha_config
from hooks.ha.transport import (
    HAListener, HATLS, PartnerBadAnswer, PartnerClient, PartnerConnectionError,
    PartnerError, PartnerHTTPError, PartnerTimeout, PartnerTLS, PartnerTLSError,
    ServerTLS, build_tls, execute_via, listen, tls_warnings,
)
from hooks.ha.transport import _TrustAnchor  # the trust root, for hand-made test clients

RIG = "/work/shared/kea-ha-rig"
S1_IP = "127.0.0.81"
S2_IP = "127.0.0.82"
# Unit tests scan 18100-18169 for a free port (trial -j2 may run two at
# once); interop tests use fixed ports 18170-18199, one pair per test.
UNIT_PORTS = range(18100, 18170)

_CERTS: Dict[str, str] = {}


def certs() -> str:
    """A directory of test certificates (made once per process)."""
    if "dir" in _CERTS:
        return _CERTS["dir"]
    if not shutil.which("openssl") or not os.path.exists(os.path.join(RIG, "make-certs.sh")):
        raise SkipTest("openssl or shared/kea-ha-rig/make-certs.sh missing")
    d = tempfile.mkdtemp(prefix="ha-transport-certs-")
    atexit.register(shutil.rmtree, d, True)
    env = dict(os.environ, S1_IP=S1_IP, S2_IP=S2_IP, EXTRAS="1")
    subprocess.run(["bash", os.path.join(RIG, "make-certs.sh"), d], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    # Keys private to their owner, except where a test wants otherwise.
    for name in os.listdir(d):
        if name.endswith("_key.pem"):
            os.chmod(os.path.join(d, name), 0o600)
    # A hashed CA directory (trust-anchor as a directory, Kea's CA path).
    capath = os.path.join(d, "capath")
    os.mkdir(capath)
    shutil.copy(os.path.join(d, "CA.pem"), capath)
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", os.path.join(d, "CA.pem")],
                       capture_output=True, text=True, check=True).stdout.strip()
    os.symlink("CA.pem", os.path.join(capath, h + ".0"))
    _CERTS["dir"] = d
    return d


def files(name: str, ca: str = "CA.pem", required: bool = True) -> TLSFiles:
    d = certs()
    return TLSFiles(os.path.join(d, ca), os.path.join(d, f"{name}_cert.pem"),
                    os.path.join(d, f"{name}_key.pem"), required)


class LogCapture:
    """Collects log events; ``wait(msgid)`` fires when one arrives."""

    def __init__(self, case: Any):
        self.events: List[Dict[str, Any]] = []
        self._waiting: List[Any] = []
        globalLogPublisher.addObserver(self)
        case.addCleanup(globalLogPublisher.removeObserver, self)

    def __call__(self, event: Dict[str, Any]) -> None:
        self.events.append(event)
        for msgid, d in list(self._waiting):
            if event.get("msgid") == msgid:
                self._waiting.remove((msgid, d))
                d.callback(event)

    def with_msgid(self, msgid: str) -> List[Dict[str, Any]]:
        return [e for e in self.events if e.get("msgid") == msgid]

    def wait(self, msgid: str, timeout: float = 5.0) -> defer.Deferred:
        found = self.with_msgid(msgid)
        if found:
            return defer.succeed(found[0])
        d: defer.Deferred = defer.Deferred()
        self._waiting.append((msgid, d))
        d.addTimeout(timeout, reactor)
        return d


class Recorder:
    """An ``execute`` that records commands and answers like a peer."""

    def __init__(self, state: str = "waiting"):
        self.commands: List[Dict[str, Any]] = []
        self.state = state
        self.first = defer.Deferred()
        self._waiting: Dict[str, defer.Deferred] = {}

    def wait_for(self, name: str) -> defer.Deferred:
        """Fires with the first command called ``name``."""
        for c in self.commands:
            if c["command"] == name:
                return defer.succeed(c)
        return self._waiting.setdefault(name, defer.Deferred())

    def __call__(self, command: Dict[str, Any]) -> Dict[str, Any]:
        self.commands.append(command)
        if not self.first.called:
            self.first.callback(command)
        waiter = self._waiting.pop(command.get("command"), None)
        if waiter is not None:
            waiter.callback(command)
        if command["command"] == "ha-heartbeat":
            # Our real clock: Kea terminates HA on a skew above 60 s.
            return commands.heartbeat_answer(self.state, rfc1123(time.time()), [], 0)
        return {"result": 2, "text": f"'{command['command']}' command not supported."}


@implementer(IPolicyForHTTPS)
class BareClientTLS:
    """A TLS client policy that trusts ``ca`` and presents ``cert`` (or no
    certificate at all): to play misbehaving partners."""

    def __init__(self, ca: str, cert: Optional[str] = None):
        kw: Dict[str, Any] = {"trustRoot": _TrustAnchor(os.path.join(certs(), ca)),
                              "raiseMinimumTo": TLSVersion.TLSv1_2}
        if cert is not None:
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization
            d = certs()
            with open(os.path.join(d, f"{cert}_cert.pem"), "rb") as f:
                kw["certificate"] = x509.load_pem_x509_certificate(f.read())
            with open(os.path.join(d, f"{cert}_key.pem"), "rb") as f:
                kw["privateKey"] = serialization.load_pem_private_key(f.read(), None)
        self.options = CertificateOptions(**kw)

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return self.options


class LoopbackMixin:
    """Start listeners on a free port of UNIT_PORTS; clean up after."""

    def start_listener(self, execute: Any = None, **kw: Any) -> defer.Deferred:
        execute = execute if execute is not None else Recorder()
        last: Optional[Exception] = None
        for port in UNIT_PORTS:  # bounded
            url = f"http://{S1_IP}:{port}/"
            try:
                listener = HAListener(reactor, url, execute, **kw)
                listener.startListening()
            except CannotListenError as e:
                last = e
                continue
            self.addCleanup(listener.stopListening)
            self.url = url
            self.execute = execute
            return defer.succeed(listener)
        raise SkipTest(f"no free port in 18100-18169: {last}")

    def client(self, **kw: Any) -> PartnerClient:
        c = PartnerClient(reactor, self.url, **kw)
        self.addCleanup(c.close)
        return c

    def raw_post(self, body: bytes, headers: Optional[Dict[bytes, List[bytes]]] = None,
                 method: bytes = b"POST", tls: Any = None) -> defer.Deferred:
        """(status, headers, body) of a hand-made request."""
        pool = HTTPConnectionPool(reactor, persistent=False)
        agent = Agent(reactor, contextFactory=tls, pool=pool) if tls else Agent(reactor, pool=pool)
        http = treq.client.HTTPClient(agent)
        url = self.url.replace("http://", "https://") if tls else self.url
        if headers is None:
            headers = {b"Content-Type": [b"application/json"]}
        d = http.request(method.decode(), url, data=body if body is not None else None, headers=headers)

        def got(response: Any) -> defer.Deferred:
            return response.content().addCallback(lambda raw: (response.code, response.headers, raw))

        d.addCallback(got)
        return d


HEARTBEAT = commands.heartbeat()


# ---------------------------------------------------------------------------
# Happy paths

class HappyPathTests(LoopbackMixin, TestCase):

    timeout = 30

    @defer.inlineCallbacks
    def test_mtls_heartbeat(self) -> Any:
        """Over mutual TLS (listener: server1's own files, client certs
        required; client: server2's files) the command map reaches
        ``execute`` unchanged and the answer comes back as a one-element
        list; the listener provides IListeningPort."""
        listener = yield self.start_listener(tls=ServerTLS(files("server1"), "server1"))
        self.assertTrue(verifyObject(IListeningPort, listener))
        c = self.client(tls=PartnerTLS(files("server2"), "server2"))
        answer = yield c.send(HEARTBEAT)
        self.assertEqual(self.execute.commands, [{"command": "ha-heartbeat", "service": ["dhcp4"]}])
        self.assertEqual(answer[0]["arguments"]["state"], "waiting")
        self.assertEqual(len(answer), 1)
        self.assertEqual(commands.parse_heartbeat_answer(answer).state, "waiting")

    @defer.inlineCallbacks
    def test_mtls_large_messages(self) -> Any:
        """Over mutual TLS, a 300 KB request and its 300 KB answer (many
        TLS records each way) arrive whole, on one connection with a small
        exchange before and after."""
        bulk = "".join(f"{n:07d}," for n in range(40000))

        def echo(command: Dict[str, Any]) -> Dict[str, Any]:
            return {"result": 0, "text": "echo", "arguments": command.get("arguments", {})}

        yield self.start_listener(execute=echo, tls=ServerTLS(files("server1"), "server1"),
                                  max_body=1 << 20)
        c = self.client(tls=PartnerTLS(files("server2"), "server2"), connections=1)
        small = yield c.send(commands.command("x-small", {"n": 1}))
        self.assertEqual(small[0]["arguments"], {"n": 1})
        answer = yield c.send(commands.command("x-bulk", {"bulk": bulk}))
        self.assertEqual(answer[0]["arguments"], {"bulk": bulk})
        small = yield c.send(commands.command("x-small", {"n": 2}))
        self.assertEqual(small[0]["arguments"], {"n": 2})
        self.assertEqual(c.connections_made, 1)

    @defer.inlineCallbacks
    def test_plain_heartbeat_and_keepalive(self) -> Any:
        """Plain HTTP works the same, and two requests share one persistent
        connection (Kea reuses its connection too)."""
        listener = yield self.start_listener()
        c = self.client()
        yield c.send(HEARTBEAT)
        yield c.send(commands.dhcp_disable(60))
        self.assertEqual(listener.connections, 1)
        self.assertEqual(self.execute.commands[1],
                         {"command": "dhcp-disable", "service": ["dhcp4"],
                          "arguments": {"origin": "ha-partner", "max-period": 60}})

    @defer.inlineCallbacks
    def test_wire_format(self) -> Any:
        """Kea's answer shape: 200, Content-Type application/json,
        Content-Length, Date, no Server header; body ``[ {…} ]`` in Kea's
        JSON text."""
        yield self.start_listener()
        status, headers, raw = yield self.raw_post(b'{"command": "ha-heartbeat", "service": ["dhcp4"]}')
        self.assertEqual(status, 200)
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertIsNotNone(headers.getRawHeaders(b"date"))
        self.assertIsNone(headers.getRawHeaders(b"server"))
        self.assertTrue(raw.startswith(b'[ { "arguments": { "date-time": '), raw)

    @defer.inlineCallbacks
    def test_capath_trust_anchor(self) -> Any:
        """A trust-anchor naming a hashed CA directory works on both sides
        (Kea's CA path)."""
        yield self.start_listener(tls=ServerTLS(files("server1", ca="capath"), "server1"))
        c = self.client(tls=PartnerTLS(files("server2", ca="capath"), "server2"))
        answer = yield c.send(HEARTBEAT)
        self.assertEqual(answer[0]["result"], 0)

    @defer.inlineCallbacks
    def test_no_client_cert_check_when_not_required(self) -> Any:
        """Relationship-level require-client-certs false: no certificate is
        asked for, so a client without one and a client with an expired one
        are both served (Kea: verification off, observed)."""
        yield self.start_listener(tls=ServerTLS(files("server1", required=False), "server1"))
        a = yield self.client(tls=BareClientTLS("CA.pem")).send(HEARTBEAT)
        b = yield self.client(tls=BareClientTLS("CA.pem", "expired")).send(HEARTBEAT)
        self.assertEqual((a[0]["result"], b[0]["result"]), (0, 0))

    @defer.inlineCallbacks
    def test_partner_wrong_san_accepted_by_default(self) -> Any:
        """The client checks no name by default (Kea works with a wrong-SAN
        partner): a listener presenting ``wrongname`` (SAN 10.255.255.1) is
        fine."""
        yield self.start_listener(tls=ServerTLS(files("wrongname"), "server1"))
        answer = yield self.client(tls=PartnerTLS(files("server2"))).send(HEARTBEAT)
        self.assertEqual(answer[0]["result"], 0)

    @defer.inlineCallbacks
    def test_verify_identity_opt_in(self) -> Any:
        """``verify_identity=True`` checks the partner's certificate against
        the URL's IP: server1's cert (SAN IP 127.0.0.81) passes, the
        wrong-SAN one fails with PartnerTLSError."""
        yield self.start_listener(tls=ServerTLS(files("server1"), "server1"))
        ok = yield self.client(tls=files("server2"), verify_identity=True).send(HEARTBEAT)
        self.assertEqual(ok[0]["result"], 0)
        yield self.start_listener(tls=ServerTLS(files("wrongname"), "server1"))
        c = self.client(tls=PartnerTLS(files("server2"), verify_identity=True))
        yield self.assertFailure(c.send(HEARTBEAT), PartnerTLSError)

    @defer.inlineCallbacks
    def test_execute_via_server_context(self) -> Any:
        """``execute_via`` adapts ``execute_command(name, arguments)``:
        arguments are passed when present, left out otherwise."""
        calls = []

        def execute_command(name: str, arguments: Any = None) -> defer.Deferred:
            calls.append((name, arguments))
            return defer.succeed({"result": 0, "text": "ok"})

        yield self.start_listener(execute_via(execute_command))
        c = self.client()
        yield c.send(HEARTBEAT)
        answer = yield c.send(commands.maintenance_notify(True))
        self.assertEqual(calls, [("ha-heartbeat", None), ("ha-maintenance-notify", {"cancel": True})])
        self.assertEqual(answer, [{"result": 0, "text": "ok"}])


# ---------------------------------------------------------------------------
# TLS refusals (each refused and logged as Kea logs it)

def _openssl_words() -> Any:
    """How the linked OpenSSL words the two plain-versus-TLS failures:
    (the listener's reason for plain HTTP on a TLS port, the TLS client's
    error against a plain-HTTP partner).  OpenSSL 3.0 (Kea's, Debian 12)
    and 4.0 say what Kea logs; OpenSSL 3.2 and 3.3, bundled in the
    cryptography releases that have PyPy 3.9 wheels, word both otherwise.
    The refusal itself is the same."""
    from OpenSSL import SSL
    text = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode("ascii", "replace")
    try:
        major, minor = (int(n) for n in text.split()[1].split(".")[:2])
    except (IndexError, ValueError):
        major, minor = 0, 0
    if major == 3 and minor in (2, 3):
        return "record layer failure", "record layer failure"
    return "http request", "wrong version number"


class TLSRefusalTests(LoopbackMixin, TestCase):

    timeout = 30

    @defer.inlineCallbacks
    def refused(self, client_tls: Any, reason: str) -> Any:
        log = LogCapture(self)
        yield self.start_listener(tls=ServerTLS(files("server1"), "server1"))
        yield self.assertFailure(self.client(tls=client_tls).send(HEARTBEAT), PartnerConnectionError)
        event = yield log.wait("HTTP_CONNECTION_HANDSHAKE_FAILED")
        self.assertEqual(event["reason"], reason)
        self.assertEqual(event["address"], "127.0.0.1")
        self.assertEqual(event["log_namespace"], "kea-dhcp4.http")
        self.assertEqual(self.execute.commands, [])

    def test_no_client_cert(self) -> Any:
        """A client presenting no certificate is refused (Kea: ``peer did
        not return a certificate``)."""
        return self.refused(BareClientTLS("CA.pem"), "peer did not return a certificate")

    def test_other_ca(self) -> Any:
        """A client certificate from another CA is refused (``certificate
        verify failed``)."""
        return self.refused(BareClientTLS("CA.pem", "other"), "certificate verify failed")

    def test_expired(self) -> Any:
        """An expired client certificate is refused (``certificate verify
        failed``)."""
        return self.refused(BareClientTLS("CA.pem", "expired"), "certificate verify failed")

    @defer.inlineCallbacks
    def test_plain_http_to_tls_listener(self) -> Any:
        """Plain HTTP sent to the TLS listener gets no HTTP answer: the
        connection closes and the listener logs ``http request`` (Kea)."""
        log = LogCapture(self)
        yield self.start_listener(tls=ServerTLS(files("server1"), "server1"))
        yield self.assertFailure(self.client().send(HEARTBEAT), PartnerConnectionError)
        event = yield log.wait("HTTP_CONNECTION_HANDSHAKE_FAILED")
        self.assertEqual(event["reason"], _openssl_words()[0])

    @defer.inlineCallbacks
    def test_client_refuses_untrusted_partner(self) -> Any:
        """The client refuses a partner whose certificate does not chain to
        the trust anchor: PartnerTLSError ``certificate verify failed``, the
        message Kea logs."""
        other = TLSFiles(os.path.join(certs(), "other_CA.pem"), files("other").cert_file, files("other").key_file)
        yield self.start_listener(tls=ServerTLS(other, "server1"))
        f = yield self.assertFailure(self.client(tls=PartnerTLS(files("server2"))).send(HEARTBEAT),
                                     PartnerTLSError)
        self.assertEqual(str(f), "certificate verify failed")

    @defer.inlineCallbacks
    def test_client_refuses_plain_partner(self) -> Any:
        """A TLS client talking to a plain-HTTP listener fails with
        PartnerTLSError (Kea: ``wrong version number``)."""
        yield self.start_listener()
        f = yield self.assertFailure(self.client(tls=PartnerTLS(files("server2"))).send(HEARTBEAT),
                                     PartnerTLSError)
        self.assertIn(_openssl_words()[1], str(f))


# ---------------------------------------------------------------------------
# Listener answers to odd requests (Kea 2.2 observed)

BAD_REQUEST = b'{ "result": 400, "text": "Bad Request" }'


class ListenerAnswerTests(LoopbackMixin, TestCase):

    timeout = 30

    @defer.inlineCallbacks
    def check(self, body: Optional[bytes], status: int, expected: bytes, **kw: Any) -> Any:
        yield self.start_listener()
        got = yield self.raw_post(body, **kw)
        self.assertEqual((got[0], got[2]), (status, expected))
        return got

    def test_bad_json(self) -> Any:
        """Unparsable JSON: 400 with Kea's stock map body."""
        return self.check(b'{"command":', 400, BAD_REQUEST)

    def test_trailing_data(self) -> Any:
        """Data after the JSON value: 400 (Kea's fromJSON)."""
        return self.check(b'{"command": "ha-heartbeat"} x', 400, BAD_REQUEST)

    def test_get(self) -> Any:
        """A GET: 400."""
        return self.check(None, 400, BAD_REQUEST, method=b"GET", headers={})

    def test_content_type_with_charset(self) -> Any:
        """``application/json; charset=utf-8``: 400 (Kea wants the bare
        type; its case does not matter)."""
        return self.check(b'{"command": "ha-heartbeat"}', 400, BAD_REQUEST,
                          headers={b"Content-Type": [b"application/json; charset=utf-8"]})

    @defer.inlineCallbacks
    def test_content_type_case(self) -> Any:
        """``Application/JSON`` is accepted (Kea compares without case)."""
        yield self.start_listener()
        got = yield self.raw_post(b'{"command": "ha-heartbeat"}',
                                  headers={b"Content-Type": [b"Application/JSON"]})
        self.assertEqual(got[0], 200)

    def test_empty_body(self) -> Any:
        """An empty body: 200 and Kea's ``NULL command parameter`` answer."""
        return self.check(b"", 200, b'[ { "result": 1, "text": "Command processing failed: NULL command parameter" } ]')

    def test_not_a_map(self) -> Any:
        """A JSON list: 200, result 1, Kea's parseCommand text."""
        return self.check(b"[1]", 200, b'[ { "result": 1, "text": "Error during command processing: '
                                      b'Invalid command Element specified, expected map" } ]')

    def test_unsupported_key(self) -> Any:
        """An unknown key in the command map: 200, result 1 (Kea)."""
        return self.check(b'{"command": "ha-heartbeat", "extra": 1}', 200,
                          b'[ { "result": 1, "text": "Error during command processing: '
                          b'Received command contains unsupported parameter \'extra\'" } ]')

    @defer.inlineCallbacks
    def test_missing_service_and_unknown_command(self) -> Any:
        """No ``service``: still executed (Kea ignores it); an unknown
        command is execute's answer (result 2) with status 200."""
        yield self.start_listener()
        got = yield self.raw_post(b'{"command": "no-such"}')
        self.assertEqual(got[0], 200)
        self.assertEqual(json.loads(got[2]), [{"result": 2, "text": "'no-such' command not supported."}])
        self.assertEqual(self.execute.commands, [{"command": "no-such"}])

    @defer.inlineCallbacks
    def test_execute_failure(self) -> Any:
        """An execute that raises gives a result-1 answer, not a dropped
        connection."""

        def boom(command: Dict[str, Any]) -> Any:
            raise RuntimeError("boom")

        yield self.start_listener(boom)
        answer = yield self.client().send(HEARTBEAT)
        self.assertEqual(answer, [{"result": 1, "text": "Error during command processing: boom"}])
        self.flushLoggedErrors(RuntimeError)

    @defer.inlineCallbacks
    def test_restrict_commands(self) -> Any:
        """With ``allowed_commands`` (restrict-commands) another command is
        403 Forbidden with Kea's stock body; allowed ones pass."""
        yield self.start_listener(allowed_commands=commands.HA_COMMANDS4)
        got = yield self.raw_post(b'{"command": "config-get"}')
        self.assertEqual((got[0], got[2]), (403, b'{ "result": 403, "text": "Forbidden" }'))
        answer = yield self.client().send(HEARTBEAT)
        self.assertEqual(answer[0]["result"], 0)

    @defer.inlineCallbacks
    def test_oversized_body(self) -> Any:
        """A body above ``max_body`` is refused with 413 before it is read,
        logged, and never executed."""
        log = LogCapture(self)
        yield self.start_listener(max_body=1000)
        big = commands.command("ha-heartbeat", {"x": "a" * 5000})
        f = yield self.assertFailure(self.client().send(big), PartnerHTTPError)
        self.assertEqual(f.status, 413)
        self.assertEqual(f.answer, {"result": 413, "text": "Request Entity Too Large"})
        self.assertEqual(self.execute.commands, [])
        self.assertTrue(log.with_msgid("HTTP_REQUEST_TOO_LARGE"))
        ok = yield self.client().send(commands.command("ha-heartbeat", {"x": "a" * 100}))
        self.assertEqual(ok[0]["result"], 0)


# ---------------------------------------------------------------------------
# Basic authentication

class BasicAuthTests(LoopbackMixin, TestCase):

    timeout = 30

    @defer.inlineCallbacks
    def test_accepted(self) -> Any:
        """Right credentials (tuple on both sides, or the Authorization
        value PeerConfig.authorization builds) are served."""
        yield self.start_listener(basic_auth=("u1", "p1"))
        a = yield self.client(basic_auth=("u1", "p1")).send(HEARTBEAT)
        header = "Basic " + base64.b64encode(b"u1:p1").decode()
        b = yield self.client(basic_auth=header).send(HEARTBEAT)
        self.assertEqual((a[0]["result"], b[0]["result"]), (0, 0))

    @defer.inlineCallbacks
    def test_refused(self) -> Any:
        """Wrong or missing credentials: 401 with Kea's Control Agent answer
        (stock body, WWW-Authenticate Basic realm), logged on kea-dhcp4.auth;
        nothing executed."""
        log = LogCapture(self)
        yield self.start_listener(basic_auth=("u1", "p1"))
        f = yield self.assertFailure(self.client(basic_auth=("u1", "bad")).send(HEARTBEAT), PartnerHTTPError)
        self.assertEqual((f.status, f.answer), (401, {"result": 401, "text": "Unauthorized"}))
        got = yield self.raw_post(b'{"command": "ha-heartbeat"}')
        self.assertEqual(got[0], 401)
        self.assertEqual(got[1].getRawHeaders(b"www-authenticate"), [b'Basic realm="kea-dhcp4-server"'])
        self.assertEqual(self.execute.commands, [])
        self.assertTrue(log.with_msgid("HTTP_CLIENT_REQUEST_NOT_AUTHORIZED"))
        self.assertTrue(log.with_msgid("HTTP_CLIENT_REQUEST_NO_AUTH_HEADER"))

    @defer.inlineCallbacks
    def test_bad_request_before_auth(self) -> Any:
        """As in Kea, a malformed request is 400 even without credentials
        (the request is finalized before authentication)."""
        yield self.start_listener(basic_auth=("u1", "p1"))
        got = yield self.raw_post(b"{")
        self.assertEqual(got[0], 400)


# ---------------------------------------------------------------------------
# Client failures

class _Fixed(resource.Resource):
    isLeaf = True

    def __init__(self, status: int, body: bytes):
        super().__init__()
        self.status, self.body = status, body

    def render(self, request: Any) -> Any:
        request.setResponseCode(self.status)
        if self.body is None:
            return server.NOT_DONE_YET  # never answers
        return self.body


class _CookieSetter(resource.Resource):
    """Answers every request with a Set-Cookie and records what came."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: List[Any] = []

    def render(self, request: Any) -> Any:
        self.requests.append((request.uri, request.requestHeaders.getRawHeaders(b"host"),
                              request.requestHeaders.getRawHeaders(b"cookie")))
        request.setHeader(b"set-cookie", b"session=1; Path=/")
        request.setHeader(b"content-type", b"application/json")
        return b'[ { "result": 0, "text": "ok" } ]'


class ClientRequestTests(LoopbackMixin, TestCase):
    """What the client sends, whatever the partner answers."""

    timeout = 30

    @defer.inlineCallbacks
    def test_no_cookies_kept(self) -> Any:
        """A partner's Set-Cookie is not sent back (Kea's client keeps no
        cookies); every request targets the URL's path with the host as
        Host."""
        recorder = _CookieSetter()
        for port in UNIT_PORTS:
            try:
                p = reactor.listenTCP(port, server.Site(recorder), interface=S1_IP)
            except CannotListenError:
                continue
            self.addCleanup(p.stopListening)
            break
        else:
            raise SkipTest("no free port")
        client = PartnerClient(reactor, f"http://{S1_IP}:{port}/ha/path", connections=1)
        self.addCleanup(client.close)
        for _ in range(2):
            answer = yield client.send(HEARTBEAT)
            self.assertEqual(answer, [{"result": 0, "text": "ok"}])
        self.assertEqual(recorder.requests, [(b"/ha/path", [S1_IP.encode()], None)] * 2)

    def test_prepared_url_is_treqs_uri(self) -> None:
        """The client's parsed URL gives treq the request target treq would
        compute from the text; a URL not already in URI form (or that
        hyperlink cannot convert) stays a plain URL, converted by treq as
        before."""
        from hyperlink import EncodedURL
        from hooks.ha.transport import _PreparedURL

        for text in ("http://127.0.0.81:8001/", "https://server2:443/", "http://10.0.0.1:80/a/b"):
            prepared = _PreparedURL.prepare(text)
            self.assertIsInstance(prepared, _PreparedURL)
            self.assertEqual(prepared.to_uri().to_text(), EncodedURL.from_text(text).to_uri().to_text())
        for text in ("http://[::1]:8001/", "http://exämple.org:8001/"):
            self.assertNotIsInstance(_PreparedURL.prepare(text), _PreparedURL)


class ClientFailureTests(LoopbackMixin, TestCase):

    timeout = 30

    def serve(self, status: int, body: Optional[bytes]) -> Any:
        """A fixed-answer HTTP server (body None: never answers)."""
        for port in UNIT_PORTS:
            try:
                p = reactor.listenTCP(port, server.Site(_Fixed(status, body)), interface=S1_IP)
            except CannotListenError:
                continue
            self.addCleanup(p.stopListening)
            self.url = f"http://{S1_IP}:{port}/"
            return p
        raise SkipTest("no free port")

    @defer.inlineCallbacks
    def test_connection_refused(self) -> Any:
        """Nobody listening: PartnerConnectionError ``Connection refused``
        (a PartnerError)."""
        port = self.serve(200, b"[]")
        yield port.stopListening()  # now nobody listens there
        f = yield self.assertFailure(self.client().send(HEARTBEAT), PartnerConnectionError)
        self.assertIsInstance(f, PartnerError)
        self.assertEqual(str(f), "Connection refused")
        self.assertEqual(f.url, self.url)

    @defer.inlineCallbacks
    def test_timeout(self) -> Any:
        """A partner that never answers: PartnerTimeout after ``timeout``."""
        self.serve(200, None)
        yield self.assertFailure(self.client(timeout=0.3).send(HEARTBEAT), PartnerTimeout)

    @defer.inlineCallbacks
    def test_map_answer(self) -> Any:
        """A bare map body is not accepted (Kea turns it into an error):
        PartnerBadAnswer naming the text."""
        self.serve(200, b'{ "result": 0, "text": "x" }')
        f = yield self.assertFailure(self.client().send(HEARTBEAT), PartnerBadAnswer)
        self.assertIn("must be a list", str(f))

    @defer.inlineCallbacks
    def test_not_json_and_empty_list(self) -> Any:
        """Non-JSON and an empty list: PartnerBadAnswer."""
        self.serve(200, b"<html>")
        yield self.assertFailure(self.client().send(HEARTBEAT), PartnerBadAnswer)
        self.serve(200, b"[ ]")
        f = yield self.assertFailure(self.client().send(HEARTBEAT), PartnerBadAnswer)
        self.assertEqual(str(f), "list of responses must not be empty")

    @defer.inlineCallbacks
    def test_http_status(self) -> Any:
        """Status 500: PartnerHTTPError with status and decoded body."""
        self.serve(500, b'{ "result": 500, "text": "Internal Server Error" }')
        f = yield self.assertFailure(self.client().send(HEARTBEAT), PartnerHTTPError)
        self.assertEqual(f.status, 500)
        self.assertEqual(str(f), "HTTP status 500: Internal Server Error")

    @defer.inlineCallbacks
    def test_close_cancels(self) -> Any:
        """close() fails requests in flight with PartnerConnectionError and
        later sends fail at once."""
        self.serve(200, None)
        c = PartnerClient(reactor, self.url)
        d = c.send(HEARTBEAT)
        yield c.close()
        f = yield self.assertFailure(d, PartnerConnectionError)
        self.assertEqual(str(f), "client closed")
        yield self.assertFailure(c.send(HEARTBEAT), PartnerConnectionError)


# ---------------------------------------------------------------------------
# In memory: idle timeout, size limit on a chunked body, request headers

class InMemoryListenerTests(SynchronousTestCase):

    def channel(self, **kw: Any) -> Any:
        clock = task.Clock()
        listener = HAListener(clock, "http://127.0.0.81:18101/", Recorder(), **kw)
        proto = listener.site.buildProtocol(IPv4Address("TCP", "127.0.0.82", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.82", 40000))
        proto.makeConnection(transport)
        return clock, listener, proto, transport

    def test_idle_timeout(self) -> None:
        """A connection silent for ``idle_timeout`` seconds is closed
        without an answer; before that it stays open."""
        clock, listener, proto, transport = self.channel(idle_timeout=30)
        clock.advance(29)
        self.assertFalse(transport.disconnecting)
        clock.advance(2)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_chunked_refused_and_oversized(self) -> None:
        """Chunked bodies are 400 (Kea wants Content-Length); a chunked body
        over ``max_body`` is cut off with 413."""
        clock, listener, proto, transport = self.channel(max_body=10)
        proto.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n20\r\n" + b"a" * 32 + b"\r\n0\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n"))
        self.assertTrue(transport.disconnecting)
        clock, listener, proto, transport = self.channel()
        proto.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 Bad Request\r\n"))

    def test_header_set(self) -> None:
        """The answer carries exactly Kea's headers: Content-Length (right),
        Content-Type application/json, Date - no Server, no chunking."""
        clock, listener, proto, transport = self.channel()
        body = b'{"command": "ha-heartbeat", "service": ["dhcp4"]}'
        proto.dataReceived(b"POST / HTTP/1.1\r\nHost: 127.0.0.81\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head, _, payload = transport.value().partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.assertEqual(lines[0], b"HTTP/1.1 200 OK")
        names = sorted(line.split(b":", 1)[0].lower() for line in lines[1:])
        self.assertEqual(names, [b"content-length", b"content-type", b"date"])
        self.assertIn(b"Content-Length: %d" % len(payload), lines)
        self.assertIn(b"Content-Type: application/json", lines)
        self.assertFalse(transport.disconnecting)  # keep-alive

    def test_http10_answered_as_10(self) -> None:
        """An HTTP/1.0 request is answered HTTP/1.0 (Kea does)."""
        clock, listener, proto, transport = self.channel()
        body = b'{"command": "ha-heartbeat"}'
        proto.dataReceived(b"POST / HTTP/1.0\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertTrue(transport.value().startswith(b"HTTP/1.0 200 OK\r\n"), transport.value())


class ClientRequestShapeTests(LoopbackMixin, TestCase):

    timeout = 30

    @defer.inlineCallbacks
    def test_headers_and_body(self) -> Any:
        """The client sends POST to the URL's path with Host = the host
        without port, Content-Type application/json, Authorization only
        with basic auth, and Kea's JSON text as the body."""
        seen: List[Any] = []

        class Capture(resource.Resource):
            isLeaf = True

            def render(self, request: Any) -> bytes:
                seen.append((request.method, request.path, request.requestHeaders.getRawHeaders(b"host"),
                             request.requestHeaders.getRawHeaders(b"content-type"),
                             request.requestHeaders.getRawHeaders(b"authorization"),
                             request.content.read()))
                return b'[ { "result": 0, "text": "ok" } ]'

        for port in UNIT_PORTS:
            try:
                p = reactor.listenTCP(port, server.Site(Capture()), interface=S1_IP)
                break
            except CannotListenError:
                continue
        self.addCleanup(p.stopListening)
        self.url = f"http://{S1_IP}:{port}/"
        yield self.client().send(commands.dhcp_disable(60))
        yield self.client(basic_auth=("u1", "p1")).send(HEARTBEAT)
        self.assertEqual(seen[0], (b"POST", b"/", [S1_IP.encode()], [b"application/json"], None,
                                   b'{ "arguments": { "max-period": 60, "origin": "ha-partner" }, '
                                   b'"command": "dhcp-disable", "service": [ "dhcp4" ] }'))
        self.assertEqual(seen[1][4], [b"Basic " + base64.b64encode(b"u1:p1")])


# ---------------------------------------------------------------------------
# The client's connections: reuse, bound, FIFO queue, replacement

class _WireTransport(StringTransport):
    """A transport that records the TCP_NODELAY switch (it does not provide
    ITCPTransport, so Twisted's own HTTP client does not set it here)."""

    def __init__(self) -> None:
        super().__init__()
        self.no_delay = False

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay = enabled


class _MemoryEndpoint:
    """Connections made at once (or failed, while ``refuse`` is set) on
    :class:`_WireTransport`s."""

    def __init__(self) -> None:
        self.made: List[Any] = []
        self.factories: List[Any] = []
        self.pending: List[defer.Deferred] = []
        self.refuse: Optional[Exception] = None
        self.hold = False

    def connect(self, factory: Any) -> defer.Deferred:
        self.factories.append(factory)
        if self.refuse is not None:
            return defer.fail(self.refuse)
        d: defer.Deferred = defer.Deferred()
        if self.hold:
            self.pending.append((d, factory))
            return d
        self.complete(d, factory)
        return d

    def complete(self, d: defer.Deferred, factory: Any) -> None:
        protocol = factory.buildProtocol(None)
        transport = _WireTransport()
        protocol.makeConnection(transport)
        self.made.append((protocol, transport))
        d.callback(protocol)


def _answer(text: str = "ok") -> bytes:
    body = b'[ { "result": 0, "text": "%s" } ]' % text.encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body


class ClientPoolMemoryTests(SynchronousTestCase):
    """PartnerClient (treq, Agent, HTTPConnectionPool behind a gate of
    ``connections`` requests) on in-memory connections and a fake clock."""

    def client(self, connections: int = 2, **kw: Any) -> Any:
        clock = task.Clock()
        endpoint = _MemoryEndpoint()
        c = PartnerClient(clock, "http://127.0.0.82:18102/", connections=connections, **kw)
        c._endpoint = lambda: endpoint
        return clock, endpoint, c

    def results(self, ds: List[defer.Deferred]) -> List[Any]:
        out: List[Any] = []
        for d in ds:
            d.addBoth(out.append)
        return out

    def test_bounded_connections_and_fifo_queue(self) -> None:
        """Five concurrent requests with a limit of two: two connections,
        the other three wait and go out in order as answers come back; no
        third connection is ever opened."""
        clock, endpoint, c = self.client(connections=2)
        ds = [c.send(commands.dhcp_disable(i)) for i in range(1, 6)]
        results = self.results(ds)
        self.assertEqual(len(endpoint.made), 2)
        self.assertEqual(c.open_connections, 2)
        order = []
        for _ in range(10):  # bounded: 5 answers needed
            busy = [(p, t) for p, t in endpoint.made if t.value()]
            if not busy:
                break
            for p, t in busy:
                order.append(json.loads(t.value().split(b"\r\n\r\n", 1)[1])["arguments"]["max-period"])
                t.clear()
                p.dataReceived(_answer())
        self.assertEqual(sorted(order), [1, 2, 3, 4, 5])
        self.assertEqual(order[:2], [1, 2])  # first come, first served
        self.assertEqual(order[2:4], [3, 4])
        self.assertEqual(len(results), 5)
        self.assertTrue(all(r == [{"result": 0, "text": "ok"}] for r in results), results)
        self.assertEqual(len(endpoint.made), 2)
        self.assertEqual(c.connections_made, 2)

    def test_sequential_requests_share_one_connection(self) -> None:
        """Requests one after the other use the same connection."""
        clock, endpoint, c = self.client(connections=4)
        for i in range(5):
            d = c.send(HEARTBEAT)
            protocol, transport = endpoint.made[0]
            transport.clear()
            protocol.dataReceived(_answer())
            self.assertEqual(self.successResultOf(d), [{"result": 0, "text": "ok"}])
        self.assertEqual(len(endpoint.made), 1)

    def test_request_in_one_turn_with_no_delay(self) -> None:
        """Head and body are written during ``send`` itself (same reactor
        turn: one segment, one TLS record), on a TCP_NODELAY socket, with
        Kea's headers (Host without port, Content-Length), persistent, and
        the pool's factory is quiet."""
        clock, endpoint, c = self.client(basic_auth=("u1", "p1"))
        c.send(commands.dhcp_disable(60))
        protocol, transport = endpoint.made[0]
        self.assertTrue(transport.no_delay)
        self.assertFalse(endpoint.factories[0].noisy)
        body = (b'{ "arguments": { "max-period": 60, "origin": "ha-partner" }, '
                b'"command": "dhcp-disable", "service": [ "dhcp4" ] }')
        head, _, sent_body = transport.value().partition(b"\r\n\r\n")
        self.assertEqual(sent_body, body)
        lines = head.split(b"\r\n")
        self.assertEqual(lines[0], b"POST / HTTP/1.1")
        headers = dict(line.split(b": ", 1) for line in lines[1:])
        self.assertEqual(headers.pop(b"Host"), b"127.0.0.82")
        self.assertEqual(headers.pop(b"Content-Type"), b"application/json")
        self.assertEqual(headers.pop(b"Authorization"), b"Basic " + base64.b64encode(b"u1:p1"))
        self.assertEqual(headers.pop(b"Content-Length"), b"%d" % len(body))
        self.assertEqual(headers, {b"Accept-Encoding": b"gzip"})  # treq's; Kea ignores it

    def test_lost_connection_is_replaced(self) -> None:
        """A connection the partner closed while idle is forgotten; the next
        request opens a new one and succeeds."""
        clock, endpoint, c = self.client()
        d = c.send(HEARTBEAT)
        protocol, transport = endpoint.made[0]
        protocol.dataReceived(_answer())
        self.successResultOf(d)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(c.open_connections, 0)
        d = c.send(HEARTBEAT)
        self.assertEqual(len(endpoint.made), 2)
        endpoint.made[1][0].dataReceived(_answer("again"))
        self.assertEqual(self.successResultOf(d)[0]["text"], "again")

    def test_closed_before_answer(self) -> None:
        """The partner closing a connection with a request on it fails that
        request (PartnerConnectionError); the queued one gets a new
        connection."""
        clock, endpoint, c = self.client(connections=1)
        first, second = c.send(HEARTBEAT), c.send(HEARTBEAT)
        endpoint.made[0][0].connectionLost(Failure(ConnectionDone()))
        f = self.failureResultOf(first, PartnerConnectionError)
        self.assertEqual(str(f.value), "connection closed before an answer")
        self.assertEqual(len(endpoint.made), 2)
        endpoint.made[1][0].dataReceived(_answer())
        self.successResultOf(second)

    def test_timeout_aborts_connection_and_queue_waits_count(self) -> None:
        """A request without an answer in ``timeout`` fails with
        PartnerTimeout and its connection is aborted (a late answer must not
        answer another request); a request waiting in the queue times out
        from its own send."""
        clock, endpoint, c = self.client(connections=1, timeout=10)
        first = c.send(HEARTBEAT)
        clock.advance(5)
        second = c.send(HEARTBEAT)
        clock.advance(5)
        self.failureResultOf(first, PartnerTimeout)
        self.assertTrue(endpoint.made[0][1].disconnected)  # aborted, not closed politely
        endpoint.made[0][0].connectionLost(Failure(ConnectionDone()))
        # The second one now has its own connection; without answer it
        # times out 10 s after it was sent.
        self.assertEqual(len(endpoint.made), 2)
        self.assertNoResult(second)
        clock.advance(5)
        self.failureResultOf(second, PartnerTimeout)
        self.assertTrue(endpoint.made[1][1].disconnected)

    def test_timeout_while_reading_body_aborts_connection(self) -> None:
        """An answer whose body stalls times out too; its connection stops
        reading and is closed, never reused: a late rest of the body cannot
        reach the next request."""
        clock, endpoint, c = self.client(connections=1, timeout=10)
        first = c.send(HEARTBEAT)
        protocol, transport = endpoint.made[0]
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 40\r\n\r\n[ { \"res")
        clock.advance(10)
        self.failureResultOf(first, PartnerTimeout)
        self.assertEqual(transport.producerState, "stopped")
        self.assertTrue(transport.disconnecting)
        second = c.send(HEARTBEAT)
        self.assertEqual(len(endpoint.made), 2)
        endpoint.made[1][0].dataReceived(_answer("fresh"))
        self.assertEqual(self.successResultOf(second)[0]["text"], "fresh")

    def test_cancel_aborts_connection(self) -> None:
        """A request cancelled by its caller fails with
        PartnerConnectionError ``request cancelled`` and its connection is
        aborted; the next request gets a new one."""
        clock, endpoint, c = self.client(connections=1)
        d = c.send(HEARTBEAT)
        d.cancel()
        self.assertEqual(str(self.failureResultOf(d, PartnerConnectionError).value), "request cancelled")
        self.assertTrue(endpoint.made[0][1].disconnected)
        endpoint.made[0][0].connectionLost(Failure(ConnectionDone()))
        d = c.send(HEARTBEAT)
        self.assertEqual(len(endpoint.made), 2)
        endpoint.made[1][0].dataReceived(_answer())
        self.successResultOf(d)

    def test_timeout_in_queue_leaves_the_queue(self) -> None:
        """A request that timed out while queued is never sent and does not
        hold up the queue."""
        clock, endpoint, c = self.client(connections=1, timeout=10)
        first = c.send(HEARTBEAT)
        clock.advance(5)
        second = c.send(commands.dhcp_disable(7), timeout=2)
        third = c.send(commands.dhcp_disable(8))
        clock.advance(2)
        self.failureResultOf(second, PartnerTimeout)
        protocol, transport = endpoint.made[0]
        self.assertIn(b"ha-heartbeat", transport.value())
        transport.clear()
        protocol.dataReceived(_answer())
        self.successResultOf(first)
        self.assertNotIn(b'"max-period": 7', transport.value())  # never sent
        self.assertIn(b'"max-period": 8', transport.value())  # next in line, same connection
        protocol.dataReceived(_answer())
        self.successResultOf(third)
        self.assertEqual(len(endpoint.made), 1)

    def test_connect_failure_fails_one_request(self) -> None:
        """A refused connection fails the request it was opened for (Kea's
        text); the next one gets its own attempt."""
        from twisted.internet.error import ConnectionRefusedError
        clock, endpoint, c = self.client(connections=1)
        endpoint.hold = True
        first, second = c.send(HEARTBEAT), c.send(HEARTBEAT)
        self.assertEqual(len(endpoint.pending), 1)
        d, factory = endpoint.pending.pop()
        d.errback(ConnectionRefusedError())
        f = self.failureResultOf(first, PartnerConnectionError)
        self.assertEqual(str(f.value), "Connection refused")
        self.assertNoResult(second)
        self.assertEqual(len(endpoint.pending), 1)
        endpoint.hold = False
        endpoint.complete(*endpoint.pending.pop())
        endpoint.made[0][0].dataReceived(_answer())
        self.successResultOf(second)

    def test_idle_connections_closed_after_20s(self) -> None:
        """A connection idle for 20 s is closed (before Kea's 30 s idle
        timeout); one in use is not."""
        clock, endpoint, c = self.client(connections=2, timeout=60)
        a, b = c.send(HEARTBEAT), c.send(HEARTBEAT)
        endpoint.made[0][0].dataReceived(_answer())
        clock.advance(19)
        self.assertFalse(endpoint.made[0][1].disconnecting)
        clock.advance(1)
        self.assertTrue(endpoint.made[0][1].disconnecting)
        self.assertFalse(endpoint.made[1][1].disconnecting)
        endpoint.made[1][0].dataReceived(_answer())
        self.successResultOf(b)

    def test_close(self) -> None:
        """close() fails queued and in-flight requests with ``client
        closed`` and aborts their connections; later sends fail at once."""
        clock, endpoint, c = self.client(connections=1)
        first, second = c.send(HEARTBEAT), c.send(HEARTBEAT)
        done = c.close()
        for d in (first, second):
            self.assertEqual(str(self.failureResultOf(d, PartnerConnectionError).value), "client closed")
        self.assertTrue(endpoint.made[0][1].disconnected)
        self.assertEqual(len(endpoint.made), 1)  # the queued one never connected
        self.successResultOf(done)
        self.failureResultOf(c.send(HEARTBEAT), PartnerConnectionError)

    def test_close_closes_idle_connections(self) -> None:
        """close() closes idle connections politely (TLS: close_notify) and
        fires once they are closed."""
        clock, endpoint, c = self.client(connections=2)
        a, b = c.send(HEARTBEAT), c.send(HEARTBEAT)
        for protocol, _ in endpoint.made:
            protocol.dataReceived(_answer())
        done = c.close()
        for protocol, transport in endpoint.made:
            self.assertTrue(transport.disconnecting)
            self.assertFalse(transport.disconnected)  # loseConnection, not abort
        self.assertNoResult(done)
        for protocol, _ in endpoint.made:
            protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(done)
        self.assertEqual(clock.getDelayedCalls(), [])  # the 20 s timers too

    def test_close_cancels_connection_attempt(self) -> None:
        """close() also cancels a connection still being made."""
        clock, endpoint, c = self.client(connections=1)
        endpoint.hold = True
        d = c.send(HEARTBEAT)
        attempt, _factory = endpoint.pending[0]
        self.successResultOf(c.close())
        self.assertTrue(attempt.called)  # cancelled (and its failure handled)
        self.assertEqual(c.open_connections, 0)
        self.assertEqual(str(self.failureResultOf(d, PartnerConnectionError).value), "client closed")


class DecodeJSONTests(SynchronousTestCase):
    """decode_json gives what Kea's parser gives (value or error text)."""

    TEXTS = [
        b'[ { "result": 0, "text": "ok", "arguments": { "a": [ 1, -2, 3.5, 1e5, true, false, null ] } } ]',
        b'{ "a": 1, "a": 2 }',                       # last duplicate wins
        b' \t\r\n{ "k\\/\\"": "x\\ny" } ',      # escapes, whitespace
        b'9223372036854775807', b'-9223372036854775808',
        b'9223372036854775808',                      # overflow: Kea's error
        b'1e400', b'NaN', b'Infinity', b'-Infinity',  # not Kea's JSON
        b'"\\u00e9"', b'"\\u0100"',                 # \u: Kea's bytes / error
        b'"caf\xc3\xa9"',                            # raw UTF-8: two Latin-1 chars
        b'[ 1, ]', b'{ "a": 1 } x', b'', b'01', b'"a\tb"',
    ]

    def outcome(self, fn: Any, raw: bytes) -> Any:
        from kea_twisted.kea_json import KeaJSONError
        try:
            return ("value", fn(raw))
        except KeaJSONError as e:
            return ("error", str(e))

    def test_same_as_kea_parser(self) -> None:
        from hooks.ha.transport import decode_json
        from kea_twisted.kea_json import from_json
        for raw in self.TEXTS:
            mine = self.outcome(decode_json, raw)
            kea = self.outcome(lambda r: from_json(r).to_python(), raw)
            self.assertEqual(mine, kea, raw)
            if mine[0] == "value":
                self.assertEqual(type(mine[1]), type(kea[1]), raw)


def _socket_of(transport: Any) -> Any:
    """The socket under a (TLS-wrapped) Twisted transport."""
    for _ in range(4):  # bounded: TLS over TCP at most
        if isinstance(transport, (tcp.Client, tcp.Server)):
            return transport.getHandle()
        transport = transport.transport
    raise AssertionError("no TCP transport found")


def _no_delay_on(transport: Any) -> int:
    return _socket_of(transport).getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


class ClientPoolLoopbackTests(LoopbackMixin, TestCase):
    """The client against the real listener over mutual TLS."""

    timeout = 60

    @defer.inlineCallbacks
    def test_burst_over_mtls_uses_pool_size_connections(self) -> Any:
        """40 lease-update-sized requests at once and 10 more one by one:
        every one answered, ``connections`` TLS connections opened and no
        more, TCP_NODELAY on both ends of each, and no "Starting factory"
        line in the log."""
        logs = LogCapture(self)
        listener = yield self.start_listener(tls=ServerTLS(files("server1"), "server1"))
        c = self.client(tls=PartnerTLS(files("server2"), "server2"), connections=3)
        answers = yield defer.gatherResults([c.send(commands.dhcp_disable(i)) for i in range(1, 41)])
        for _ in range(10):
            answers.append((yield c.send(HEARTBEAT)))
        self.assertEqual(len(answers), 50)
        self.assertEqual(len(self.execute.commands), 50)
        self.assertEqual(sorted(cmd["arguments"]["max-period"] for cmd in self.execute.commands[:40]),
                         list(range(1, 41)))
        self.assertEqual(c.connections_made, 3)
        self.assertEqual(c.open_connections, 3)
        self.assertEqual(listener.connections, 3)
        for protocol in c._connections:
            self.assertEqual(_no_delay_on(protocol.transport), 1)
        for channel in listener.site.connections:
            self.assertEqual(_no_delay_on(channel.transport), 1)
        texts = [formatEvent(e) for e in logs.events]
        self.assertFalse([t for t in texts if "Starting factory" in t or "Stopping factory" in t], texts)

    @defer.inlineCallbacks
    def test_timeout_aborts_live_connection(self) -> Any:
        """Over mutual TLS, a request the partner does not answer in time
        fails with PartnerTimeout and its connection is closed on both
        sides; the next request opens a new connection and is answered."""
        stall: List[defer.Deferred] = []

        def execute(command: Dict[str, Any]) -> Any:
            if command["command"] == "dhcp-disable":
                stall.append(defer.Deferred())
                return stall[-1]
            return Recorder()(command)

        listener = yield self.start_listener(execute, tls=ServerTLS(files("server1"), "server1"))
        c = self.client(tls=PartnerTLS(files("server2"), "server2"), connections=1, timeout=0.5)
        yield c.send(HEARTBEAT)
        [first] = list(c._connections)
        lost = _when_lost(first)
        yield self.assertFailure(c.send(commands.dhcp_disable(5)), PartnerTimeout)
        yield lost
        answer = yield c.send(HEARTBEAT)
        self.assertEqual(answer[0]["result"], 0)
        self.assertEqual(c.connections_made, 2)
        self.assertEqual(listener.connections, 1)  # the partner saw the first one go
        for d in stall:
            d.callback({"result": 0, "text": "late"})  # the late answer goes nowhere

    @defer.inlineCallbacks
    def test_listener_restart_reconnects(self) -> Any:
        """After the listener dropped its connections, the next request
        connects again and is answered."""
        listener = yield self.start_listener()
        c = self.client(connections=2)
        yield c.send(HEARTBEAT)
        lost = [_when_lost(protocol) for protocol in c._connections]
        for channel in list(listener.site.connections):
            channel.transport.loseConnection()
        yield defer.gatherResults(lost)
        self.assertEqual(c.open_connections, 0)
        yield c.send(HEARTBEAT)
        self.assertEqual(c.connections_made, 2)


def _when_lost(protocol: Any) -> defer.Deferred:
    """Fires after ``protocol`` (one of the client's HTTP11ClientProtocol)
    lost its connection."""
    lost: defer.Deferred = defer.Deferred()
    connection_lost = protocol.connectionLost

    def wrapper(reason: Failure) -> None:
        connection_lost(reason)
        lost.callback(None)

    protocol.connectionLost = wrapper
    return lost


# ---------------------------------------------------------------------------
# Configuration: loading TLS files, warnings

def ha_params(peer1: Dict[str, Any], peer2: Dict[str, Any], **top: Any) -> Dict[str, Any]:
    ha = {"this-server-name": "server1", "mode": "load-balancing",
          "peers": [dict(name="server1", url=f"http://{S1_IP}:18101/", role="primary", **peer1),
                    dict(name="server2", url=f"http://{S2_IP}:18102/", role="secondary", **peer2)]}
    ha.update(top)
    return {"high-availability": [ha]}


def tls_keys(name: str, ca: str = "CA.pem") -> Dict[str, str]:
    f = files(name, ca)
    return {"trust-anchor": f.trust_anchor, "cert-file": f.cert_file, "key-file": f.key_file}


class BuildTLSTests(SynchronousTestCase):

    def test_roles(self) -> None:
        """The own entry's files make the listener (cert required by the
        relationship-level flag), the partner entry's files the client."""
        tls = build_tls(parse_ha_config(ha_params(tls_keys("server1"), tls_keys("server2"))), log=False)
        self.assertIsInstance(tls, HATLS)
        self.assertEqual(tls.listener.files.cert_file, files("server1").cert_file)
        self.assertTrue(tls.listener.cert_required)
        self.assertEqual(list(tls.clients), ["server2"])
        self.assertEqual(tls.clients["server2"].files.cert_file, files("server2").cert_file)
        self.assertTrue(verifyObject(IPolicyForHTTPS, tls.clients["server2"]))

    def test_missing_ca(self) -> None:
        """A missing trust anchor is Kea's ``bad TLS config`` error naming
        the peer (peers checked in name order)."""
        keys = dict(tls_keys("server1"), **{"trust-anchor": "/nonexistent/CA.pem"})
        with self.assertRaises(HAConfigError) as e:
            build_tls(parse_ha_config(ha_params(keys, tls_keys("server2"))), log=False)
        self.assertEqual(str(e.exception.message),
                         "bad TLS config for server server1: load of CA file '/nonexistent/CA.pem'"
                         " failed: No such file or directory")

    def test_bad_cert_and_key(self) -> None:
        """A cert file that holds no certificate, a key that does not match
        the certificate: Kea's texts name the file."""
        keys = dict(tls_keys("server2"), **{"cert-file": files("server1").trust_anchor.replace("CA.pem", "CA.key")})
        with self.assertRaises(HAConfigError) as e:
            build_tls(parse_ha_config(ha_params(tls_keys("server1"), keys)), log=False)
        self.assertIn("bad TLS config for server server2: load of cert file", str(e.exception.message))
        keys = dict(tls_keys("server2"), **{"key-file": files("server1").key_file})
        with self.assertRaises(HAConfigError) as e:
            build_tls(parse_ha_config(ha_params(tls_keys("server1"), keys)), log=False)
        self.assertIn("bad TLS config for server server2: load of private key file", str(e.exception.message))

    def test_warnings(self) -> None:
        """require-client-certs in a peers entry is reported as ignored; a
        false relationship-level value as unverified clients; a key
        readable by others as a warning - and the TLS still loads."""
        d = certs()
        loose = os.path.join(d, "loose_key.pem")
        shutil.copy(files("server2").key_file, loose)
        os.chmod(loose, 0o644)
        p2 = dict(tls_keys("server2"), **{"key-file": loose, "require-client-certs": False})
        config = parse_ha_config(ha_params(tls_keys("server1"), p2, **{"require-client-certs": False}))
        got = [m for m, _ in tls_warnings(config)]
        self.assertEqual(got, ["HA_TLS_REQUIRE_CLIENT_CERTS_IGNORED", "HA_TLS_CLIENT_CERTS_NOT_VERIFIED",
                               "HA_TLS_KEY_FILE_READABLE"])
        events: List[Dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        tls = build_tls(config)
        self.assertFalse(tls.listener.cert_required)
        logged = [e for e in events if e.get("log_namespace") == "kea-dhcp4.ha-hooks"]
        self.assertEqual([e["msgid"] for e in logged], got)
        self.assertEqual({e["log_level"].name for e in logged}, {"warn"})

    def test_no_warnings_for_tidy_config(self) -> None:
        """Relationship-level require-client-certs and 0600 keys: no
        warnings."""
        config = parse_ha_config(ha_params(tls_keys("server1"), tls_keys("server2")))
        self.assertEqual(tls_warnings(config), [])


# ---------------------------------------------------------------------------
# Interoperability with a real Kea 2.2

def _rig() -> Any:
    if os.geteuid() != 0:
        raise SkipTest("real Kea needs root")
    if not shutil.which("kea-dhcp4"):
        raise SkipTest("kea-dhcp4 is not installed")
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so"):
        raise SkipTest("libdhcp_ha.so is missing")
    if not os.path.exists(os.path.join(RIG, "kea_ha_rig.py")):
        raise SkipTest("shared/kea-ha-rig is missing")
    if RIG not in sys.path:
        sys.path.insert(0, RIG)
    import kea_ha_rig
    return kea_ha_rig


class KeaInteropTests(TestCase):
    """Real Kea as server2 on 127.0.0.82; we are server1 on 127.0.0.81.
    Each test has its own ports and config tag."""

    timeout = 60

    def kea(self, s1_port: int, s2_port: int, tls: bool, auth: bool = False) -> defer.Deferred:
        rig = _rig()
        work = tempfile.mkdtemp(prefix="ha-transport-kea-")
        self.addCleanup(shutil.rmtree, work, True)
        over = dict(WORK_DIR=work, CERT_DIR=certs(), S1_IP=S1_IP, S2_IP=S2_IP,
                    S1_URL=f"http://{S1_IP}:{s1_port}/", S2_URL=f"http://{S2_IP}:{s2_port}/",
                    HEARTBEAT_DELAY=1000, LOG_SEVERITY="DEBUG")
        cfg = rig.render("server2", **over)
        cfg["Dhcp4"]["interfaces-config"]["interfaces"] = []  # no DHCP sockets: HA HTTP only
        ha = rig.ha_section(cfg)
        if not tls:
            rig.strip_tls(cfg)
        if auth:
            # Kea sends these to server1 (us) in an Authorization header.
            ha["peers"][0]["basic-auth-user"] = "u1"
            ha["peers"][0]["basic-auth-password"] = "p1"
        else:
            # Kea also checks require-client-certs at the relationship level.
            pass
        peer = rig.KeaPeer("server2", cfg=cfg, tag=f"ha-transport-{s2_port}", **over)
        self.addCleanup(deferToThread, peer.stop)
        d = deferToThread(peer.start, 20)
        d.addCallback(lambda _: peer)
        return d

    @defer.inlineCallbacks
    def test_our_client_to_kea_tls(self) -> Any:
        """PartnerClient presenting the partner entry's certificate (Kea's
        layout: server2's) gets Kea's heartbeat answer over TLS, twice on a
        kept connection."""
        yield self.kea(18170, 18171, tls=True)
        c = PartnerClient(reactor, f"http://{S2_IP}:18171/", tls=PartnerTLS(files("server2"), "server2"))
        self.addCleanup(c.close)
        answer = yield c.send(HEARTBEAT)
        hb = commands.parse_heartbeat_answer(answer)
        self.assertIn(hb.state, ("waiting", "syncing", "ready", "partner-down", "load-balancing",
                                 "communication-recovery"))
        again = yield c.send(commands.command("no-such-command"))
        self.assertEqual(again, [{"result": 2, "text": "'no-such-command' command not supported."}])

    @defer.inlineCallbacks
    def test_our_client_to_kea_plain(self) -> Any:
        """Plain HTTP to Kea's listener: heartbeat answer list."""
        yield self.kea(18172, 18173, tls=False)
        c = PartnerClient(reactor, f"http://{S2_IP}:18173/")
        self.addCleanup(c.close)
        answer = yield c.send(HEARTBEAT)
        self.assertEqual(answer[0]["result"], 0)
        self.assertIn("date-time", answer[0]["arguments"])

    @defer.inlineCallbacks
    def test_kea_refuses_our_client_without_right_ca(self) -> Any:
        """Kea refuses a client certificate from another CA (and we see a
        connection error, never an answer)."""
        yield self.kea(18174, 18175, tls=True)
        c = PartnerClient(reactor, f"http://{S2_IP}:18175/", tls=BareClientTLS("CA.pem", "other"))
        self.addCleanup(c.close)
        yield self.assertFailure(c.send(HEARTBEAT), PartnerConnectionError)

    @defer.inlineCallbacks
    def test_kea_heartbeats_reach_our_tls_listener(self) -> Any:
        """Real Kea's HA connects to our mTLS listener (server1's own files,
        client certs required) and its heartbeats reach ``execute``; told
        we are ``ready`` it syncs from us over the same listener, starting
        with dhcp-disable (max-period = sync-timeout 60000 / 1000).  (Told
        ``waiting``, the secondary waits for the primary to sync first.)"""
        rec = Recorder("ready")
        listener = yield listen(reactor, f"http://{S1_IP}:18176/", rec,
                                tls=ServerTLS(files("server1"), "server1"))
        self.addCleanup(listener.stopListening)
        yield self.kea(18176, 18177, tls=True)
        first = yield rec.first.addTimeout(20, reactor)
        self.assertEqual(first, {"command": "ha-heartbeat", "service": ["dhcp4"]})
        disable = yield rec.wait_for("dhcp-disable").addTimeout(20, reactor)
        self.assertEqual(disable, {"command": "dhcp-disable", "service": ["dhcp4"],
                                   "arguments": {"origin": "ha-partner", "max-period": 60}})

    @defer.inlineCallbacks
    def test_kea_basic_auth_reaches_our_plain_listener(self) -> Any:
        """Kea configured with basic-auth-user for server1 sends the
        credentials; our listener checking them serves Kea's heartbeat."""
        log = LogCapture(self)
        rec = Recorder("waiting")
        listener = yield listen(reactor, f"http://{S1_IP}:18178/", rec, basic_auth=("u1", "p1"))
        self.addCleanup(listener.stopListening)
        yield self.kea(18178, 18179, tls=False, auth=True)
        first = yield rec.first.addTimeout(20, reactor)
        self.assertEqual(first["command"], "ha-heartbeat")
        self.assertTrue(log.with_msgid("HTTP_CLIENT_REQUEST_AUTHORIZED"))
