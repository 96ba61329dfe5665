"""Test hook library: records its server context and configuration events
in ``tests.hook_journal.JOURNALS[parameters['key']]`` and offers the
command ``context-test`` answering with the number of leases in the store.
Used by tests/test_hooks_service.py."""

from zope.interface import implementer

from kea_twisted.hooks import IHookLibrary
from tests.hook_journal import JOURNALS


@implementer(IHookLibrary)
class ContextLibrary:
    multi_threading_compatible = True

    def load(self, library):
        self.journal = JOURNALS[library.parameters["key"]]
        self.server = library.server
        self.journal.append(("load", library.server))
        library.register_command_handler("context-test", self.context_test)

    def unload(self):
        self.journal.append(("unload",))

    def dhcp4_srv_configured(self, handle):
        self.journal.append(("configured", handle.get_argument("io_context"),
                             handle.get_argument("server_config")))

    def context_test(self, handle):
        store = self.server.store
        handle.set_argument("response", {"result": 0, "text": "leases: %d" % len(store.get_all_leases4())})


context_library = ContextLibrary()
