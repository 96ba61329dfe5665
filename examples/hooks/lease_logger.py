"""
An example hook library: log every lease the server commits, and add one
option, chosen by the configuration, to every OFFER and ACK.

Configure it in ``hooks-libraries`` (a path to this file; kea_twisted
imports it as Kea opens a shared object)::

    {"library": "/etc/kea/hooks/lease_logger.py",
     "parameters": {"option-code": 252,
                    "option-text": "http://wpad.example.org/wpad.dat"}}

Two callouts, at Kea's hook points:

* ``leases4_committed``: the leases written for this query (``leases4``)
  and those removed (``deleted_leases4``), after the lease file has them;
* ``pkt4_send``: ``response4`` is the reply before it is packed, so an
  option set here goes on the wire.

``examples/hooks/lease_logger.json`` runs it on loopback.

Tests: tests/test_example_hooks.py
"""

from twisted.logger import Logger
from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary

log = Logger()

_OFFER, _ACK = 2, 5


@implementer(IHookLibrary)
class LeaseLogger:
    # No shared state across packets: safe with Kea's multi-threading on.
    multi_threading_compatible = True

    def __init__(self):
        self.option = None

    def load(self, library):
        # Parameters are checked once per (re)configuration: a bad value
        # fails the configuration with the library's name, as in Kea.
        code = library.parameters.get("option-code", 252)
        text = library.parameters.get("option-text")
        if not isinstance(code, int) or not 1 <= code <= 254:
            raise ValueError("'option-code' must be an integer from 1 to 254")
        if not isinstance(text, str) or not text:
            raise ValueError("'option-text' must be a non-empty string")
        self.option = (code, text.encode())

    def unload(self):
        self.option = None

    def leases4_committed(self, handle):
        for lease in handle.get_argument("leases4"):
            log.info("LEASE_LOGGER_COMMITTED {address} to {hwaddr} for {lifetime} s",
                     address=lease.address, hwaddr=lease.hwaddr.hex(":"), lifetime=lease.valid_lifetime)
        for lease in handle.get_argument("deleted_leases4"):
            log.info("LEASE_LOGGER_DELETED {address}", address=lease.address)

    def pkt4_send(self, handle):
        response = handle.get_argument("response4")
        if response.message_type in (_OFFER, _ACK):
            code, payload = self.option
            response.options[code] = payload


lease_logger = LeaseLogger()
