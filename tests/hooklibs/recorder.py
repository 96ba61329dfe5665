"""Test hook library: appends what happens to the ``journal`` list passed in
its parameters, tagged with the ``tag`` parameter.  Used by tests/test_hooks.py."""

from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary, NextStep


@implementer(IHookLibrary)
class Recorder:
    version = 1

    def load(self, library):
        self.journal = library.parameters["journal"]
        self.tag = library.parameters.get("tag", library.name)
        self.journal.append(("load", self.tag, library.index))
        step = library.parameters.get("pkt4_receive_step")
        self.step = None if step is None else NextStep[step]

    def unload(self):
        self.journal.append(("unload", self.tag))

    def pkt4_receive(self, handle):
        self.journal.append(("pkt4_receive", self.tag))
        if self.step is not None:
            handle.next_step = self.step


recorder = Recorder()
