"""
An example hook library: drop queries from listed hardware addresses.

Configure it in ``hooks-libraries``::

    {"library": "/etc/kea/hooks/blocked_macs.py",
     "parameters": {"blocked": ["1a:1b:1c:1d:1e:1f"]}}

It drops at ``pkt4_receive``: after classification, before subnet
selection, allocation and the lease-file write (Kea treats SKIP and DROP the
same there, ``dhcp4_srv.cc`` ``processPacket``).

Tests: tests/test_hooks.py
"""

from twisted.logger import Logger
from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary, NextStep

log = Logger()


def _normalise(mac: str) -> str:
    # Kea prints hardware addresses as lowercase colon-separated hex.
    return mac.strip().lower().replace("-", ":")


@implementer(IHookLibrary)
class BlockedMacs:
    """Drops at pkt4_receive: before allocation and the lease-file write."""

    multi_threading_compatible = True

    def __init__(self):
        self._blocked = frozenset()

    def load(self, library):
        # Read once; Kea reloads every library on each reconfiguration.
        blocked = library.parameters.get("blocked", [])
        if not isinstance(blocked, list) or not all(isinstance(m, str) for m in blocked):
            raise ValueError("'blocked' must be a list of hardware addresses")
        self._blocked = frozenset(_normalise(m) for m in blocked)

    def unload(self):
        self._blocked = frozenset()

    def pkt4_receive(self, handle):
        mac = handle.arguments["query4"].hwaddr_text
        if mac in self._blocked:
            log.info("{msgid} dropping {mac}", msgid="BLOCKED_MACS_DROP", mac=mac)
            handle.next_step = NextStep.DROP


blocked_macs = BlockedMacs()
