"""A hook library shipped the way an installed package would ship one: a
Twisted plugin module (``twisted/plugins/``) whose object provides IPlugin
and IHookLibrary.  tests/test_hooks_plugins.py puts ``tests/plugin_pkg`` on
sys.path to make it "installed"."""

from twisted.plugin import IPlugin
from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary, NextStep


@implementer(IPlugin, IHookLibrary)
class DropAll:
    name = "kea_twisted_test_drop_all"

    def load(self, library):
        pass

    def unload(self):
        pass

    def pkt4_receive(self, handle):
        handle.next_step = NextStep.DROP


drop_all = DropAll()
