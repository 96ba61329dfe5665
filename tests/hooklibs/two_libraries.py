"""Test hook library file with two IHookLibrary objects: refused."""

from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary


@implementer(IHookLibrary)
class Nothing:
    def load(self, library):
        pass

    def unload(self):
        pass


first = Nothing()
second = Nothing()
