"""
Tests for kea_twisted.tap and the twistd plugin: kea-dhcp4's command-line
habits as a twistd subcommand.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import List

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import kea_twisted
from kea_twisted import tap
from kea_twisted.pypy_gc import pypy_gc_advice
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.element import Position

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXAMPLES = os.path.join(ROOT, "examples")


class RecordingOptions(tap.Options):
    """Options whose exit is recorded instead of raised."""

    def __init__(self):
        super().__init__()
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.exit_code = None

    def _exit(self, code):
        self.exit_code = code
        self._exited = True


def parsed(argv: List[str]) -> RecordingOptions:
    """:class:`RecordingOptions` that parsed ``argv``."""
    options = RecordingOptions()
    options.parseOptions(argv)
    return options


def config_file(testcase: SynchronousTestCase, text: str) -> str:
    """A file of the test's own holding ``text``; its path."""
    path = testcase.mktemp()
    with open(path, "w") as f:
        f.write(text)
    return path


class OptionsTests(SynchronousTestCase):
    def test_version(self):
        """-v prints the bare version and exits 0, like kea-dhcp4 -v."""
        options = parsed(["-v"])
        self.assertEqual(options.stdout.getvalue(), kea_twisted.__version__ + "\n")
        self.assertEqual(options.exit_code, 0)

    def test_extended_version(self):
        """-V prints the version first, then details, and exits 0."""
        options = parsed(["-V"])
        self.assertTrue(options.stdout.getvalue().startswith(kea_twisted.__version__ + "\n"))
        self.assertEqual(options.exit_code, 0)

    def test_defaults(self):
        """Ports default to kea-dhcp4's 67 (server) and 68 (client)."""
        options = parsed(["-c", os.path.join(EXAMPLES, "kea4-local.json")])
        self.assertEqual((options["port"], options["client-port"]), (67, 68))
        self.assertIsNone(options.exit_code)

    def test_ports(self):
        """-p and -P set the server and client ports, as in kea-dhcp4."""
        options = RecordingOptions()
        options.parseOptions(
            ["-c", os.path.join(EXAMPLES, "kea4-local.json"), "-p", "6767", "-P", "6868"]
        )
        self.assertEqual((options["port"], options["client-port"]), (6767, 6868))

    def test_bad_port(self):
        """A port outside 1..65535 is a usage error."""
        self.assertRaises(usage.UsageError, RecordingOptions().parseOptions, ["-c", "x", "-p", "0"])
        self.assertRaises(
            usage.UsageError, RecordingOptions().parseOptions, ["-c", "x", "-p", "65536"]
        )

    def test_config_required(self):
        """Without -c, -t, -v or -V there is nothing to run."""
        self.assertRaises(usage.UsageError, RecordingOptions().parseOptions, [])

    def test_check_good(self):
        """-t on a valid configuration exits 0 and prints no error."""
        options = parsed(["-t", os.path.join(EXAMPLES, "kea4-local.json")])
        self.assertEqual(options.exit_code, 0)
        self.assertEqual(options.stderr.getvalue(), "")

    def test_check_bad_syntax(self):
        """-t prints grammar errors as kea-dhcp4 -t does and exits 1."""
        path = config_file(self, '{"Dhcp4": {"valid-lifetime": 4000, "bogus": 1}}')
        options = parsed(["-t", path])
        self.assertEqual(options.exit_code, 1)
        # Observed on Kea 2.2.0: Syntax check failed with: e1.json:1.36-42:
        # got unexpected keyword "bogus" in Dhcp4 map.
        self.assertEqual(
            options.stderr.getvalue(),
            f'Syntax check failed with: {path}:1.36-42: got unexpected keyword "bogus" in Dhcp4 map.\n',
        )

    def test_check_bad_semantics(self):
        """-t prints semantic errors as 'Error encountered: …' with the position."""
        path = config_file(self, '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/24", "id": 1, '
                                 '"pools": [{"pool": "10.0.1.1-10.0.1.5"}]}]}}')
        options = parsed(["-t", path])
        self.assertEqual(options.exit_code, 1)
        # Observed on Kea 2.2.0 (kea-dhcp4 -t).
        self.assertEqual(
            options.stderr.getvalue(),
            "Error encountered: subnet configuration failed: a pool of type V4, with the "
            "following address range: 10.0.1.1-10.0.1.5 does not match the prefix of a "
            f"subnet: 10.0.0.0/24 to which it is being added ({path}:1:24)\n",
        )

    def test_check_uses_stage(self):
        """check_config reports a ConfigError from staging in Kea's words."""
        def stage(path):
            raise ConfigError("boom", Position("f.json", 3, 4))

        err = io.StringIO()
        self.assertIsNone(tap.check_config("f.json", io.StringIO(), err, stage=stage))
        self.assertEqual(err.getvalue(), "Error encountered: boom (f.json:3:4)\n")


class PluginTests(SynchronousTestCase):
    def test_plugin_listed(self):
        """twistd finds the kea4 tap (a plugin that fails to import is skipped
        silently by twisted.plugin, so look for it by name)."""
        names = {maker.tapname for maker in getPlugins(IServiceMaker)}
        self.assertIn("kea4", names)

    def test_make_service(self):
        """makeService builds a service tree from parsed options."""
        options = parsed(["-c", os.path.join(EXAMPLES, "kea4-local.json"), "-p", "6767"])
        top = tap.makeService(options)
        self.assertTrue(list(top))


class TwistdCommandTests(SynchronousTestCase):
    """The real ``twistd`` command, as an operator runs it."""

    def _twistd(self, *args, cwd):
        # twistd itself (``python -m twisted`` is the newer ``twist``); the
        # source tree first on the path, so twisted/plugins/kea4.py is found
        # whether or not the package is installed.
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        return subprocess.run(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def test_check_without_n_writes_no_pidfile(self):
        """``twistd kea4 -t`` works without -n and leaves no twistd.pid."""
        cwd = self.mktemp()
        os.makedirs(cwd)
        result = self._twistd("kea4", "-t", os.path.join(EXAMPLES, "kea4-local.json"), cwd=cwd)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(os.listdir(cwd), [])

    def test_check_bad_exit_1(self):
        """``twistd kea4 -t`` on a broken file exits 1 with Kea's message on stderr."""
        cwd = self.mktemp()
        os.makedirs(cwd)
        path = os.path.join(cwd, "bad.json")
        with open(path, "w") as f:
            f.write('{"Dhcp6": {}}')
        result = self._twistd("kea4", "-t", path, cwd=cwd)
        self.assertEqual(result.returncode, 1)
        self.assertIn("Syntax check failed with:", result.stderr)
        self.assertEqual(sorted(os.listdir(cwd)), ["bad.json"])

    def test_help_lists_kea4(self):
        """``twistd --help`` lists the kea4 command."""
        cwd = self.mktemp()
        os.makedirs(cwd)
        result = self._twistd("--help", cwd=cwd)
        self.assertIn("kea4", result.stdout)


class RunnableTests(SynchronousTestCase):
    def test_sql_lease_database_refused_at_start(self):
        """-t accepts a MySQL lease database (as Kea -t does), -c refuses to
        start on it with a clear error (PostgreSQL is supported)."""
        path = config_file(self, '{"Dhcp4": {"lease-database": {"type": "mysql", "name": "kea"}}}')
        check = parsed(["-t", path])
        self.assertEqual(check.exit_code, 0)
        run = parsed(["-c", path])
        self.assertEqual(run.exit_code, 1)
        self.assertIn("lease database type 'mysql' is not supported by kea_twisted yet",
                      run.stderr.getvalue())

    def test_unavailable_features_warned(self):
        """DDNS updates configured but not available: a warning, not silence."""
        path = config_file(self, '{"Dhcp4": {"dhcp-ddns": {"enable-updates": true}}}')
        run = parsed(["-c", path])
        self.assertIsNone(run.exit_code)
        self.assertTrue(any("DNS updates" in w for w in run.warnings))


class ShutdownExitValueTests(SynchronousTestCase):
    """``shutdown`` with ``exit-value`` ends twistd with that status, as
    kea-dhcp4 (spec/control-channel.md §2.9)."""

    def test_exit_value(self):
        """A running ``twistd -n kea4`` told ``shutdown {"exit-value": 7}``
        answers "Shutting down." and exits 7."""
        import json
        import time

        from tests.kea_socket import send_command

        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        sock_path = os.path.join(workdir, "ctrl")
        config = {"Dhcp4": {
            "interfaces-config": {"interfaces": ["lo/127.0.0.1"], "dhcp-socket-type": "udp"},
            "control-socket": {"socket-type": "unix", "socket-name": sock_path},
            "lease-database": {"type": "memfile", "persist": False},
            "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]}],
        }}
        path = os.path.join(workdir, "kea.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        process = subprocess.Popen(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=",
             "kea4", "-c", path, "-p", "18071"],
            cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.addCleanup(lambda: process.poll() is None and (process.kill(), process.wait()))
        deadline = time.monotonic() + 60
        while not os.path.exists(sock_path) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)  # waiting for another process, not for our own timers
        self.assertTrue(os.path.exists(sock_path), "control socket never appeared")
        answer = send_command(sock_path, "shutdown", {"exit-value": 7})
        self.assertEqual(answer, {"result": 0, "text": "Shutting down."})
        self.assertEqual(process.wait(timeout=30), 7)


class PyPyGCAdviceTests(SynchronousTestCase):
    """PyPy's GC settings are read only at start: the server says when PyPy
    runs without the ones it is measured with (bench/RESULTS.md: 4x the CPU
    per HA lease update, 90 ms pauses), and nothing on CPython or for a
    setting the operator chose."""

    def test_pypy_defaults_advised(self):
        advice = pypy_gc_advice("PyPy", {"PATH": "/usr/bin"})
        self.assertIsNotNone(advice)
        self.assertIn("PYPY_GC_NURSERY=64M PYPY_GC_INCREMENT_STEP=16M", advice)

    def test_only_the_missing_one_advised(self):
        advice = pypy_gc_advice("PyPy", {"PYPY_GC_NURSERY": "8M"})
        self.assertIn("PYPY_GC_INCREMENT_STEP=16M", advice)
        self.assertNotIn("PYPY_GC_NURSERY", advice)

    def test_chosen_settings_or_cpython_quiet(self):
        self.assertIsNone(pypy_gc_advice("PyPy", {"PYPY_GC_NURSERY": "8M", "PYPY_GC_INCREMENT_STEP": "4M"}))
        self.assertIsNone(pypy_gc_advice("CPython", {}))
