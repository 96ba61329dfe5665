"""Test hook library whose callouts fail: pkt4_receive raises, pkt4_send
returns a failed Deferred.  Used by tests/test_example_hooks.py."""

from twisted.internet.defer import fail
from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary


@implementer(IHookLibrary)
class Raising:
    def load(self, library):
        pass

    def unload(self):
        pass

    def pkt4_receive(self, handle):
        raise RuntimeError("pkt4_receive is broken")

    def pkt4_send(self, handle):
        return fail(RuntimeError("pkt4_send is broken"))


raising = Raising()
