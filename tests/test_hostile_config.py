"""
Hostile configuration files (kea_twisted.config.dialect, .loader, staging):
20,000-deep nesting, include loops and chains, a 100 MB file, a file
multiplied by includes, a 20 MB file that is legitimate.  Each is refused
with a ConfigError (Kea's words where Kea has them) and no traceback, both
for ``-t`` and for ``config-reload`` on a running service, which keeps
serving.  The 100 MB case with real content and timings is
bench/hostile_config.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import time
from ipaddress import IPv4Address

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.config import dialect
from kea_twisted.config.element import from_python
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.staging import stage_config_element, stage_config_file
from tests.fake_sockets import fake_sockets_factory, offered_address

LO = {"lo": [IPv4Address("127.0.0.1")]}
DEEP = 20000

BASE = {
    "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
    "lease-database": {"type": "memfile", "persist": False},
    "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "relay": {"ip-addresses": ["127.0.0.1"]},
                 "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]}],
}


class _TempDir:
    def make(self, test):
        self.path = tempfile.mkdtemp(prefix="kt-hostile-cfg-")
        test.addCleanup(shutil.rmtree, self.path, True)
        return self

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.path, name)
        with open(path, "w") as f:
            f.write(text)
        return path


def base_text(user_context: str) -> str:
    """BASE with ``user-context`` set to raw JSON text."""
    text = json.dumps({"Dhcp4": BASE})
    return text[:-2] + ', "user-context": ' + user_context + "}}"


class FileTests(SynchronousTestCase):
    def setUp(self):
        self.dir = _TempDir().make(self)

    def assertRefused(self, path, contains):
        start = time.monotonic()
        with self.assertRaises(ConfigError) as e:
            stage_config_file(path, interfaces=LO)
        self.assertIn(contains, str(e.exception))
        self.assertLess(time.monotonic() - start, 10.0)
        return str(e.exception)

    def test_deep_lists_and_maps(self):
        """20,000 nested lists or maps, closed or not, anywhere in the
        file: ``configuration nested deeper than 200 levels`` at the place,
        no RecursionError."""
        cases = {
            "list.json": base_text('{"k": ' + "[" * DEEP + "]" * DEEP + "}"),
            "map.json": base_text('{"a": ' * DEEP + "1" + "}" * DEEP),
            "open.json": '{"Dhcp4": ' + "[" * DEEP,
            "top.json": "[" * DEEP + "]" * DEEP,
        }
        for name, text in cases.items():
            text = self.assertRefused(self.dir.write(name, text), "nested deeper than")
            self.assertIn(name, text)

    def test_include_loops(self):
        """A file including itself, and two including each other: Kea's
        ``Too many nested include.``, at once."""
        self_loop = os.path.join(self.dir.path, "self.json")
        self.dir.write("self.json", '{"Dhcp4": <?include "%s"?>}' % self_loop)
        self.assertRefused(self_loop, "Too many nested include.")
        a = os.path.join(self.dir.path, "a.json")
        b = os.path.join(self.dir.path, "b.json")
        self.dir.write("a.json", '{"Dhcp4": <?include "%s"?>}' % b)
        self.dir.write("b.json", '<?include "%s"?>' % a)
        self.assertRefused(a, "Too many nested include.")

    def test_include_chain_too_deep(self):
        """A chain of 20 distinct files: refused past Kea's 11 open includes."""
        for i in range(20):
            nxt = os.path.join(self.dir.path, f"c{i + 1}.json")
            self.dir.write(f"c{i}.json", '<?include "%s"?>' % nxt if i else '{"Dhcp4": <?include "%s"?>}' % nxt)
        self.dir.write("c20.json", "{}")
        self.assertRefused(os.path.join(self.dir.path, "c0.json"), "Too many nested include.")

    def test_hundred_megabyte_file(self):
        """A 100 MB file is refused before it is read (quickly, whatever it
        holds), naming the limit."""
        path = os.path.join(self.dir.path, "huge.json")
        with open(path, "w") as f:
            f.write(base_text("["))
            f.truncate(100 * 1024 * 1024)
        text = self.assertRefused(path, "is too large")
        self.assertIn(str(dialect.MAX_CONFIG_SIZE), text)

    def test_includes_multiplying_a_file(self):
        """One file under the limit included many times is held to the
        limit on everything read (limit lowered to keep the test small)."""
        self.patch(dialect, "MAX_CONFIG_SIZE", 50_000)
        part = os.path.join(self.dir.path, "part.json")
        self.dir.write("part.json", '"' + "x" * 20_000 + '"')
        items = ", ".join('<?include "%s"?>' % part for _ in range(10))
        self.assertRefused(self.dir.write("many.json", base_text("[" + items + "]")), "is too large")

    def test_twenty_megabyte_file_is_read(self):
        """A legitimate 20 MB configuration (a large user-context) is
        accepted; it takes seconds, not minutes."""
        item = '"' + "x" * 98 + '",'
        count = 20 * 1024 * 1024 // len(item)
        path = self.dir.write("big.json", base_text('{"k": [' + item * count + '"end"]}'))
        self.assertGreater(os.path.getsize(path), 20 * 1024 * 1024 - 200)
        start = time.monotonic()
        config = stage_config_file(path, interfaces=LO)
        self.assertEqual(len(config.subnet4), 1)
        self.assertLess(time.monotonic() - start, 120.0)

    def test_check_mode_reports_without_traceback(self):
        """``kea-twisted-dhcp4 -t`` on a 20,000-deep file exits 1 with one
        error line and no traceback."""
        from kea_twisted.cli import main
        from kea_twisted import paths

        self.addCleanup(paths.install_policy, paths.current_policy())
        path = self.dir.write("deep.json", base_text("[" * DEEP + "]" * DEEP))
        err = io.StringIO()
        self.assertEqual(main(["-t", path], environ={}, stdout=io.StringIO(), stderr=err), 1)
        self.assertIn("nested deeper than", err.getvalue())
        self.assertNotIn("Traceback", err.getvalue())


class ReloadTests(SynchronousTestCase):
    """config-reload of a hostile file on a running service: Kea's
    ``Config reload failed`` answer, the old configuration keeps serving."""

    def setUp(self):
        from kea_twisted.net.services import Dhcp4Service

        self.dir = _TempDir().make(self)
        self.config_file = self.dir.write("kea-dhcp4.conf", json.dumps({"Dhcp4": BASE}))
        config = stage_config_element(from_python({"Dhcp4": BASE}), interfaces=LO)
        self.service = Dhcp4Service(self.config_file, config, reactor=MemoryReactorClock(),
                                    stage=lambda path: stage_config_file(path, interfaces=LO),
                                    sockets_factory=fake_sockets_factory(),
                                    observer=None, install_signal_handlers=False)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def test_reload_hostile_files(self):
        """The -c file replaced by a deep file, an include loop and a
        100 MB file in turn: each reload fails with the reason, DHCP is
        answered after each."""
        loop = os.path.join(self.dir.path, "loop.json")
        self.dir.write("loop.json", '<?include "%s"?>' % loop)
        hostile = [
            (base_text("[" * DEEP + "]" * DEEP), "nested deeper than"),
            ('{"Dhcp4": <?include "%s"?>}' % loop, "Too many nested include."),
        ]
        for text, reason in hostile:
            self.dir.write("kea-dhcp4.conf", text)
            got = self.successResultOf(self.service.commands.process({"command": "config-reload"}))
            self.assertEqual(got["result"], 1)
            self.assertIn(reason, got["text"])
            self.assertTrue(offered_address(self.service).startswith("192.0.2."))
        with open(self.config_file, "w") as f:
            f.truncate(100 * 1024 * 1024)
        got = self.successResultOf(self.service.commands.process({"command": "config-reload"}))
        self.assertEqual(got["result"], 1)
        self.assertIn("is too large", got["text"])
        self.assertTrue(offered_address(self.service).startswith("192.0.2."))
