"""
Integration test of hook libraries on the wire: the example library
examples/hooks/lease_logger.py (and a library whose callouts fail) loaded by
a running kea_twisted service on real UDP sockets on loopback; a relay at
127.0.0.3 sends a DISCOVER and reads the OFFER (the relay names its port in
option 82's relay-port sub-option, RFC 8357, so no test needs port 67).
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import TestCase

from kea_twisted.config.element import from_python
from kea_twisted.config.staging import stage_config_element
from kea_twisted.net.services import Dhcp4Service
from kea_twisted.packet import Packet4, decode, encode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "hooks", "lease_logger.py")
RAISING = os.path.join(ROOT, "tests", "hooklibs", "raising_lib.py")
SERVER = "127.0.0.1"
RELAY = "127.0.0.3"
PORT = 18067
RELAY_PORT = 18068


class Relay(DatagramProtocol):
    def __init__(self):
        self.replies = []
        self.waiting = None

    def datagramReceived(self, data, addr):
        self.replies.append(data)
        if self.waiting is not None:
            waiting, self.waiting = self.waiting, None
            waiting.callback(data)

    def next_reply(self, timeout=5.0):
        self.waiting = Deferred()
        call = reactor.callLater(timeout, self.waiting.cancel)
        return self.waiting.addBoth(lambda r: call.active() and call.cancel() or r)


def _config(libraries):
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo/" + SERVER], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "subnet4": [{"id": 1, "subnet": "10.10.0.0/16", "relay": {"ip-addresses": [RELAY]},
                     "pools": [{"pool": "10.10.0.10 - 10.10.0.20"}]}],
        "hooks-libraries": libraries,
    }
    return stage_config_element(from_python({"Dhcp4": dhcp4}))


class ExampleHookOnTheWireTests(TestCase):
    timeout = 20

    def _start(self, libraries):
        service = Dhcp4Service(None, _config(libraries), reactor=reactor, server_port=PORT,
                               observer=None, install_signal_handlers=False)
        service.startService()
        self.addCleanup(service.stopService)
        relay = Relay()
        port = reactor.listenUDP(RELAY_PORT, relay, interface=RELAY)
        self.addCleanup(port.stopListening)
        return relay, port

    def _discover(self, port):
        query = Packet4(op=1, xid=0x4242, chaddr=b"\x02\x00\x00\x00\x42\x01", giaddr=IPv4Address(RELAY),
                        hops=1, options={53: b"\x01", 82: b"\x13\x02" + RELAY_PORT.to_bytes(2, "big")})
        port.write(encode(query), (SERVER, PORT))

    def test_example_library_adds_its_option(self):
        """lease_logger.py puts its configured option 252 into the OFFER."""
        relay, port = self._start([{"library": EXAMPLE,
                                    "parameters": {"option-code": 252, "option-text": "http://wpad.example/"}}])
        reply = relay.next_reply()
        self._discover(port)

        def check(data):
            offer = decode(data)
            self.assertEqual(offer.options[53], b"\x02")
            self.assertEqual(offer.options[252], b"http://wpad.example/")

        return reply.addCallback(check)

    def test_failing_callouts_do_not_stop_the_server(self):
        """A library whose callouts raise or fail asynchronously is logged,
        and the server still answers."""
        relay, port = self._start([{"library": RAISING}])
        reply = relay.next_reply()
        self._discover(port)

        def check(data):
            self.assertEqual(decode(data).options[53], b"\x02")
            self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

        return reply.addCallback(check)

    def test_bad_parameter_fails_the_configuration(self):
        """A bad parameter makes load() fail: starting the service raises the
        hook load error naming the library."""
        from kea_twisted.hooks import HookLoadError

        service = Dhcp4Service(None, _config([{"library": EXAMPLE, "parameters": {"option-code": 999,
                                                                               "option-text": "x"}}]),
                               reactor=reactor, server_port=PORT, observer=None, install_signal_handlers=False)
        error = self.assertRaises(HookLoadError, service.startService)
        self.assertEqual(error.libraries, [EXAMPLE])
        self.flushLoggedErrors(ValueError)
