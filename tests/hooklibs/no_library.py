"""Test hook library file without any IHookLibrary object: refused."""

from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary


@implementer(IHookLibrary)
class OnlyTheClass:
    """The class implements IHookLibrary, but no instance provides it."""

    def load(self, library):
        pass

    def unload(self):
        pass
