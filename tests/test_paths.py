"""
Tests for kea_twisted.paths: path confinement as Kea 2.6.3 (CVE-2025-32801/
32802/32803) -- the policy from options and environment, Kea's error words,
bare names placed in their directory, staging and config-set refusing
hook libraries, lease files, log files, control sockets and config-write
targets outside, with the server still serving; unconfined (Kea 2.2) when
no directory is set.  Every confined test sets its directories explicitly.
"""

from __future__ import annotations

import io
import os
import tempfile
from ipaddress import IPv4Address

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted import paths
from kea_twisted.config.element import from_python
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.staging import stage_config_element
from kea_twisted.hooks import HookLoadError, find_hook_library
from kea_twisted.paths import PathError, PathPolicy
from tests.fake_sockets import fake_sockets_factory, offered_address

LO = {"lo": [IPv4Address("127.0.0.1")]}

HOOK_SOURCE = '''
from zope.interface import implementer
from kea_twisted.hooks import IHookLibrary

@implementer(IHookLibrary)
class Lib:
    def load(self, handle):
        pass
    def unload(self):
        pass

library = Lib()
'''


def _dhcp4(**extra):
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "relay": {"ip-addresses": ["127.0.0.1"]},
                     "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]}],
    }
    dhcp4.update(extra)
    return {"Dhcp4": dhcp4}


def _stage(**extra):
    return stage_config_element(from_python(_dhcp4(**extra)), interfaces=LO)


class _Dirs:
    """Private hooks/data/logs/sockets/config/elsewhere directories."""

    def make_dirs(self, test):
        root = tempfile.mkdtemp(prefix="kt-paths-")
        test.addCleanup(_rmtree, root)
        self.root = root
        for name in ("hooks", "data", "logs", "sockets", "etc", "elsewhere"):
            path = os.path.join(root, name)
            os.mkdir(path, 0o750)
            setattr(self, name, path)
        return self

    def policy(self):
        return PathPolicy.from_sources({"hooks": self.hooks, "data": self.data, "logs": self.logs,
                                        "sockets": self.sockets}, environ={})


def _rmtree(root):
    import shutil

    shutil.rmtree(root, ignore_errors=True)


def _install(test, policy):
    previous = paths.install_policy(policy)
    test.addCleanup(paths.install_policy, previous)


class PolicyTests(SynchronousTestCase):
    def test_unconfined_without_directories(self):
        """No option and no Kea variable: unconfined, any path passes
        unchanged, and the start-up warning says so once."""
        policy = PathPolicy.from_sources({}, environ={"PATH": "/bin"})
        self.assertFalse(policy.confined)
        self.assertEqual(policy.validate("data", "/etc/passwd"), "/etc/passwd")
        self.assertEqual(policy.config_write("/etc/passwd", "/x/kea.conf"), "/etc/passwd")
        messages = policy.startup_messages()
        self.assertEqual(len(messages), 1)
        self.assertIn("not confined", messages[0])
        self.assertIn("KEA_HOOKS_PATH", messages[0])

    def test_environment_and_options(self):
        """Kea's variables set directories; an option wins over the
        variable; unset kinds fall back to Kea's install directories;
        trailing slashes are dropped (Kea's PathChecker)."""
        policy = PathPolicy.from_sources(
            {"data": "/srv/leases/", "logs": None},
            environ={"KEA_DHCP_DATA_DIR": "/ignored", "KEA_LOG_FILE_DIR": "/var/log/x//"})
        self.assertTrue(policy.confined)
        self.assertEqual(policy.directory("data"), "/srv/leases")
        self.assertEqual(policy.sources["data"], "option")
        self.assertEqual(policy.directory("logs"), "/var/log/x")
        self.assertEqual(policy.sources["logs"], "environment")
        self.assertEqual(policy.directory("hooks"), paths.DEFAULTS["hooks"])
        self.assertEqual(policy.directory("sockets"), paths.DEFAULTS["sockets"])

    def test_empty_values_are_unset(self):
        """An empty variable does not switch confinement on."""
        self.assertFalse(PathPolicy.from_sources({"data": ""}, environ={"KEA_HOOKS_PATH": ""}).confined)

    def test_validate_kea_words(self):
        """Outside the directory: Kea 2.6.3's ``invalid path specified:
        '<dir>', supported path is '<allowed>'``; a bare name goes into the
        directory; the directory itself passes; ``..`` cannot climb out."""
        policy = PathPolicy.from_sources({"data": "/var/lib/kea"}, environ={})
        with self.assertRaises(PathError) as e:
            policy.validate("data", "/tmp/leases.csv")
        self.assertEqual(str(e.exception), "invalid path specified: '/tmp', supported path is '/var/lib/kea'")
        self.assertEqual(policy.validate("data", "leases.csv"), "/var/lib/kea/leases.csv")
        self.assertEqual(policy.validate("data", "/var/lib/kea/leases.csv"), "/var/lib/kea/leases.csv")
        self.assertRaises(PathError, policy.validate, "data", "/var/lib/kea/../../../etc/passwd")
        self.assertRaises(PathError, policy.validate, "data", "/var/lib/kea/sub/x.csv")
        with self.assertRaises(PathError) as e:
            policy.validate("data", "/var/lib/kea/")
        self.assertIn("has no filename", str(e.exception))

    def test_log_outputs_that_are_not_files(self):
        """stdout, stderr and syslog[:facility] are not files: always pass."""
        policy = PathPolicy.from_sources({"logs": "/var/log/kea"}, environ={})
        for output in ("stdout", "stderr", "syslog", "syslog:local0"):
            self.assertEqual(policy.log_output(output), output)
        self.assertRaises(PathError, policy.log_output, "/etc/cron.d/x")

    def test_config_write_next_to_config_file(self):
        """Confined config-write: only the -c file's directory (a bare name
        is put there), Kea 2.6.3's words otherwise."""
        policy = PathPolicy.from_sources({"hooks": "/h"}, environ={})
        self.assertEqual(policy.config_write("new.json", "/etc/kea/kea-dhcp4.conf"), "/etc/kea/new.json")
        self.assertEqual(policy.config_write("/etc/kea/new.json", "/etc/kea/kea-dhcp4.conf"), "/etc/kea/new.json")
        with self.assertRaises(PathError) as e:
            policy.config_write("/etc/passwd", "/etc/kea/kea-dhcp4.conf")
        self.assertEqual(str(e.exception),
                         "file /etc/passwd must be in the same directory as the config file (/etc/kea/kea-dhcp4.conf)")
        self.assertRaises(PathError, policy.config_write, "/etc/kea/../passwd", "/etc/kea/kea-dhcp4.conf")

    def test_builtin_library_names_select_builtins(self):
        """A Kea-style path to a built-in library is not a file to open:
        accepted wherever it points; a .py elsewhere is refused."""
        policy = PathPolicy.from_sources({"hooks": "/usr/lib/kea/hooks"}, environ={})
        builtins = {"libdhcp_ha.so": "hooks.ha"}
        self.assertEqual(policy.hook_library("/opt/lib/kea/hooks/libdhcp_ha.so", builtins),
                         "/opt/lib/kea/hooks/libdhcp_ha.so")
        self.assertEqual(policy.hook_library("my_hook.py", builtins), "/usr/lib/kea/hooks/my_hook.py")
        self.assertRaises(PathError, policy.hook_library, "/tmp/evil.py", builtins)

    def test_permission_warnings(self):
        """A confined directory writable by others and a private key
        readable by others are warned about (never refused)."""
        dirs = _Dirs().make_dirs(self)
        os.chmod(dirs.hooks, 0o777)
        messages = dirs.policy().startup_messages()
        self.assertEqual(len(messages), 1)
        self.assertIn(dirs.hooks, messages[0])
        key = os.path.join(dirs.etc, "key.pem")
        with open(key, "w") as f:
            f.write("k")
        os.chmod(key, 0o600)
        self.assertIsNone(paths.key_file_warning(key))
        os.chmod(key, 0o644)
        self.assertIn("accessible by group or others", paths.key_file_warning(key))


class StagingTests(SynchronousTestCase):
    """Staging (what -t, config-set, config-test and reload all run) with a
    confined policy installed."""

    def setUp(self):
        self.dirs = _Dirs().make_dirs(self)
        _install(self, self.dirs.policy())

    def assertRefused(self, prefix, **extra):
        with self.assertRaises(ConfigError) as e:
            _stage(**extra)
        self.assertTrue(str(e.exception).startswith(prefix), str(e.exception))
        return str(e.exception)

    def test_lease_file_outside(self):
        """A lease file outside the data directory: Kea's ``Could not open
        lease file: invalid path specified`` naming the allowed one."""
        text = self.assertRefused(
            "Could not open lease file: invalid path specified: '%s'" % self.dirs.elsewhere,
            **{"lease-database": {"type": "memfile", "name": os.path.join(self.dirs.elsewhere, "l.csv")}})
        self.assertIn("supported path is '%s'" % self.dirs.data, text)

    def test_lease_file_names_placed_in_data_dir(self):
        """A bare lease file name and the default name land in the data
        directory; one already there is kept."""
        config = _stage(**{"lease-database": {"type": "memfile", "name": "my.csv"}})
        self.assertEqual(config.lease_database.name, os.path.join(self.dirs.data, "my.csv"))
        config = _stage(**{"lease-database": {"type": "memfile"}})
        self.assertEqual(config.lease_database.name, os.path.join(self.dirs.data, "kea-leases4.csv"))
        inside = os.path.join(self.dirs.data, "x.csv")
        self.assertEqual(_stage(**{"lease-database": {"type": "memfile", "name": inside}}).lease_database.name,
                         inside)

    def test_log_file_outside(self):
        """A logger writing outside the log directory is refused; stdout
        and a file inside pass."""
        self.assertRefused("Unable to open log file: invalid path specified", loggers=[{
            "name": "kea-dhcp4", "severity": "INFO", "output_options": [{"output": "/etc/cron.d/evil"}]}])
        inside = os.path.join(self.dirs.logs, "kea.log")
        config = _stage(loggers=[{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}, {"output": inside}]}])
        self.assertEqual([o.output for o in config.loggers[0].output_options], ["stdout", inside])

    def test_control_socket_outside(self):
        """A control socket outside the socket directory is refused; a bare
        name goes into it."""
        self.assertRefused("Unable to set up control socket: invalid path specified", **{"control-socket": {
            "socket-type": "unix", "socket-name": os.path.join(self.dirs.elsewhere, "s")}})
        config = _stage(**{"control-socket": {"socket-type": "unix", "socket-name": "kea4.sock"}})
        self.assertEqual(config.control_socket.socket_name, os.path.join(self.dirs.sockets, "kea4.sock"))

    def test_hook_library_outside(self):
        """A Python hook library outside the hooks directory is refused
        with Kea's words, though the file exists and would load."""
        evil = os.path.join(self.dirs.elsewhere, "evil.py")
        with open(evil, "w") as f:
            f.write(HOOK_SOURCE)
        self.assertRefused("invalid path specified: '%s'" % self.dirs.elsewhere,
                           **{"hooks-libraries": [{"library": evil}]})

    def test_hook_library_bare_name_and_builtin_path(self):
        """``my_hook.py`` is found in the hooks directory; Kea's
        ``/opt/lib/kea/hooks/libdhcp_stat_cmds.so`` still selects the
        built-in."""
        with open(os.path.join(self.dirs.hooks, "my_hook.py"), "w") as f:
            f.write(HOOK_SOURCE)
        config = _stage(**{"hooks-libraries": [{"library": "my_hook.py"},
                                               {"library": "/opt/lib/kea/hooks/libdhcp_stat_cmds.so"}]})
        self.assertEqual(len(config.hooks_libraries), 2)
        library = find_hook_library("my_hook.py")
        self.assertEqual(type(library).__name__, "Lib")

    def test_find_hook_library_refuses_outside(self):
        """find_hook_library itself (used by every loader) refuses a file
        outside the hooks directory."""
        evil = os.path.join(self.dirs.elsewhere, "evil.py")
        with open(evil, "w") as f:
            f.write(HOOK_SOURCE)
        with self.assertRaises(HookLoadError) as e:
            find_hook_library(evil)
        self.assertIn("supported path is '%s'" % self.dirs.hooks, e.exception.failures[0].reason)


class UnconfinedStagingTests(SynchronousTestCase):
    def setUp(self):
        _install(self, PathPolicy.unconfined())

    def test_anything_goes_as_in_kea_22(self):
        """Unconfined: a lease file, log file, socket and library anywhere
        are accepted and left as written."""
        where = tempfile.mkdtemp(prefix="kt-paths-free-")
        self.addCleanup(_rmtree, where)
        lib = os.path.join(where, "lib.py")
        with open(lib, "w") as f:
            f.write(HOOK_SOURCE)
        config = _stage(**{
            "lease-database": {"type": "memfile", "name": os.path.join(where, "l.csv")},
            "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": os.path.join(where, "k.log")}]}],
            "control-socket": {"socket-type": "unix", "socket-name": os.path.join(where, "s")},
            "hooks-libraries": [{"library": lib}],
        })
        self.assertEqual(config.lease_database.name, os.path.join(where, "l.csv"))
        self.assertEqual(config.control_socket.socket_name, os.path.join(where, "s"))


class ServiceTests(SynchronousTestCase):
    """config-set and config-write on a running service, confined: every
    escape is refused and DHCP keeps being answered."""

    def setUp(self):
        from kea_twisted.net.services import Dhcp4Service

        self.dirs = _Dirs().make_dirs(self)
        _install(self, self.dirs.policy())
        self.config_file = os.path.join(self.dirs.etc, "kea-dhcp4.conf")
        self.reactor = MemoryReactorClock()
        self.service = Dhcp4Service(self.config_file, _stage(), reactor=self.reactor,
                                    sockets_factory=fake_sockets_factory(),
                                    observer=None, install_signal_handlers=False)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    pool = {f"192.0.2.{i}" for i in range(10, 21)}

    def _command(self, name, arguments):
        return self.successResultOf(self.service.commands.process({"command": name, "arguments": arguments}))

    def test_config_set_escapes_refused(self):
        """config-set naming a library, lease file, log file or socket
        outside its directory answers result 1 naming the allowed
        directory; the running configuration keeps serving."""
        evil_lib = os.path.join(self.dirs.elsewhere, "evil.py")
        with open(evil_lib, "w") as f:
            f.write(HOOK_SOURCE)
        outside = self.dirs.elsewhere
        attempts = [
            ({"hooks-libraries": [{"library": evil_lib}]}, self.dirs.hooks),
            ({"lease-database": {"type": "memfile", "name": os.path.join(outside, "l.csv")}}, self.dirs.data),
            ({"loggers": [{"name": "kea-dhcp4", "output_options": [{"output": os.path.join(outside, "x")}]}]},
             self.dirs.logs),
            ({"control-socket": {"socket-type": "unix", "socket-name": os.path.join(outside, "s")}},
             self.dirs.sockets),
        ]
        for extra, allowed in attempts:
            answer = self._command("config-set", _dhcp4(**extra))
            self.assertEqual(answer["result"], 1, extra)
            self.assertIn("supported path is '%s'" % allowed, answer["text"])
            self.assertIn(offered_address(self.service), self.pool)
        self.assertEqual(os.listdir(outside), ["evil.py"])

    def test_config_write_outside_refused(self):
        """config-write to a file outside the -c file's directory (the
        /etc/passwd probe) is refused and writes nothing; a bare name is
        written next to the -c file."""
        target = os.path.join(self.dirs.elsewhere, "passwd")
        answer = self._command("config-write", {"filename": target})
        self.assertEqual(answer["result"], 1)
        self.assertEqual(answer["text"], f"not allowed to write config into {target}: file {target} must be in "
                                         f"the same directory as the config file ({self.config_file})")
        self.assertFalse(os.path.exists(target))
        answer = self._command("config-write", {"filename": "saved.json"})
        self.assertEqual(answer["result"], 0, answer)
        self.assertTrue(os.path.exists(os.path.join(self.dirs.etc, "saved.json")))
        self.assertIn(offered_address(self.service), self.pool)


class CommandLineTests(SynchronousTestCase):
    def test_cli_options(self):
        """kea-twisted-dhcp4 takes --hooks-dir DIR and --data-dir=DIR
        around Kea's flags; other long options stay Kea's invalid '-'."""
        from kea_twisted.cli import Invocation, parse_command_line

        got = parse_command_line(["--hooks-dir", "/h", "-c", "k.conf", "--data-dir=/d", "-p", "1067"])
        self.assertIsInstance(got, Invocation)
        self.assertEqual(got.directories, {"hooks": "/h", "data": "/d"})
        self.assertEqual((got.config_file, got.server_port), ("k.conf", 1067))
        self.assertIn("invalid option -- '-'", parse_command_line(["--help"]).message)
        self.assertIn("requires an argument", parse_command_line(["-c", "k", "--log-dir"]).message)

    def test_cli_check_confined(self):
        """``-t`` with --data-dir refuses a lease file outside it (exit 1,
        Kea's words); without it the same file passes."""
        from kea_twisted.cli import main

        self.addCleanup(paths.install_policy, paths.current_policy())
        dirs = _Dirs().make_dirs(self)
        conf = os.path.join(dirs.etc, "k.conf")
        import json

        with open(conf, "w") as f:
            json.dump(_dhcp4(**{"interfaces-config": {"interfaces": []},
                                "lease-database": {"type": "memfile", "name": os.path.join(dirs.elsewhere, "l")}}),
                      f)
        err = io.StringIO()
        self.assertEqual(main(["-t", conf, "--data-dir", dirs.data], environ={}, stdout=io.StringIO(), stderr=err), 1)
        self.assertIn("supported path is '%s'" % dirs.data, err.getvalue())
        err = io.StringIO()
        self.assertEqual(main(["-t", conf], environ={}, stdout=io.StringIO(), stderr=err), 0, err.getvalue())
        err = io.StringIO()
        self.assertEqual(main(["-t", conf], environ={"KEA_DHCP_DATA_DIR": dirs.data}, stdout=io.StringIO(),
                              stderr=err), 1)

    def test_twistd_options(self):
        """``twistd kea4 --data-dir`` confines as the console script does;
        the environment is read when the option is absent."""
        from kea_twisted.tap import Options

        self.addCleanup(paths.install_policy, paths.current_policy())
        options = Options()
        options.environ = {"KEA_LOG_FILE_DIR": "/var/log/x"}
        options.stdout, options.stderr = io.StringIO(), io.StringIO()
        options._exit = lambda code: setattr(options, "exit_code", code)
        options.parseOptions(["--data-dir", "/srv/d", "-t", "/nonexistent.conf"])
        self.assertEqual(options.path_policy.directory("data"), "/srv/d")
        self.assertEqual(options.path_policy.directory("logs"), "/var/log/x")
        self.assertIs(paths.current_policy(), options.path_policy)
