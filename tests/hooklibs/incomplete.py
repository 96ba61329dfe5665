"""Test hook library that claims IHookLibrary but has no unload(): refused
by verifyObject."""

from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary


@implementer(IHookLibrary)
class Incomplete:
    def load(self, library):
        pass


incomplete = Incomplete()
