"""Test hook library whose load() raises (a bad parameter)."""

from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary


@implementer(IHookLibrary)
class FailingLoad:
    def load(self, library):
        self.journal = library.parameters.get("journal", [])
        library.register_callout("pkt4_receive", lambda handle: None)
        raise ValueError("parameter 'x' is mandatory")

    def unload(self):
        self.journal.append(("unload", "failing"))


failing = FailingLoad()
