"""
Hook libraries contributed by installed packages through Twisted's plugin
system (kea_twisted.hooks.find_hook_library → twisted.plugin.getPlugins).
"""

from __future__ import annotations

import os
import sys

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.hooks import HookLoadError, find_hook_library

PLUGIN_PKG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin_pkg")


class InstalledPluginTests(SynchronousTestCase):
    def setUp(self):
        # What installing a package does: its directory on sys.path, and so
        # its twisted/plugins/ in twisted.plugins' search path (which
        # Twisted computes when twisted.plugins is first imported).
        import twisted.plugins

        plugins_dir = os.path.join(PLUGIN_PKG, "twisted", "plugins")
        sys.path.insert(0, PLUGIN_PKG)
        twisted.plugins.__path__.append(plugins_dir)
        self.addCleanup(sys.path.remove, PLUGIN_PKG)
        self.addCleanup(twisted.plugins.__path__.remove, plugins_dir)

        def forget_cache():
            cache = os.path.join(PLUGIN_PKG, "twisted", "plugins", "dropin.cache")
            if os.path.exists(cache):
                os.unlink(cache)
        self.addCleanup(forget_cache)

    def test_found_by_name(self):
        """A library entry naming an installed plugin loads that plugin."""
        library = find_hook_library("kea_twisted_test_drop_all")
        self.assertEqual(type(library).__name__, "DropAll")

    def test_found_by_basename_of_a_path(self):
        """A path whose basename is the plugin's name finds it too."""
        library = find_hook_library("/usr/lib/kea/hooks/kea_twisted_test_drop_all")
        self.assertEqual(library.name, "kea_twisted_test_drop_all")

    def test_unknown_name_fails_validation(self):
        """A name no plugin has is Kea's 'failed to validate' error."""
        error = self.assertRaises(HookLoadError, find_hook_library, "no_such_hook_library")
        self.assertIn("no_such_hook_library", str(error))
