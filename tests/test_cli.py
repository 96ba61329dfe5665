"""
Tests for kea_twisted.cli: ``kea-twisted-dhcp4`` behaves like ``kea-dhcp4``
2.2 on the command line, with its PID file, lock file, signals and process
name.  Where real Kea is installed its answers are the reference.

Subprocess tests run on loopback with ``-p`` in 18400-18449 and
``KEA_PIDFILE_DIR``/``KEA_LOCKFILE_DIR`` in a temporary directory; every
process started here is ended by its PID.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from twisted.logger import LogLevel
from twisted.trial.unittest import SkipTest, SynchronousTestCase

import kea_twisted
from kea_twisted import cli
from kea_twisted.logs import LoggerSpec

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KEA = "/usr/sbin/kea-dhcp4"
SETPRIV = shutil.which("setpriv")

# Bounds for waiting on a child process (seconds); reached only on failure.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def kea_available() -> bool:
    return os.access(KEA, os.X_OK)


def require_kea() -> None:
    if not kea_available():
        raise SkipTest(f"{KEA} (Kea 2.2) is not installed")


# -- pure parts ------------------------------------------------------------------

class ParseCommandLineTests(SynchronousTestCase):
    def parse(self, *argv):
        return cli.parse_command_line(list(argv), prog="kea-dhcp4")

    def test_run(self):
        """-c FILE -p -P -d: a run with Kea's defaults otherwise (client port 0 = 68)."""
        self.assertEqual(self.parse("-c", "k.json"), cli.Invocation("run", "k.json"))
        self.assertEqual(
            self.parse("-d", "-c", "k.json", "-p", "18400", "-P", "18401"),
            cli.Invocation("run", "k.json", verbose=True, server_port=18400, client_port=18401),
        )

    def test_clustered_and_attached_values(self):
        """getopt clusters: -dck.json and -p18400 work as in kea-dhcp4."""
        self.assertEqual(self.parse("-dck.json", "-p18400"),
                         cli.Invocation("run", "k.json", verbose=True, server_port=18400))

    def test_check(self):
        """-t FILE is a check; the last of -c/-t names the file."""
        self.assertEqual(self.parse("-t", "a.json"), cli.Invocation("check", "a.json"))
        self.assertEqual(self.parse("-t", "a.json", "-c", "b.json"), cli.Invocation("check", "b.json"))

    def test_version_exits_when_met(self):
        """-v is handled when met: -v -x prints the version, -x -v is an error."""
        self.assertEqual(self.parse("-v", "-x").action, "version")
        failure = self.parse("-x", "-v")
        self.assertIsInstance(failure, cli.UsageFailure)
        self.assertEqual(failure.message, "kea-dhcp4: invalid option -- 'x'\n")

    def test_V_and_W(self):
        """-V and -W are the extended version and the configuration report."""
        self.assertEqual(self.parse("-V").action, "extended-version")
        self.assertEqual(self.parse("-W").action, "report")

    def test_T_is_not_a_kea_2_2_option(self):
        """-T appeared after Kea 2.2: 2.2 calls it invalid, so do we."""
        self.assertEqual(self.parse("-T", "k.json").message, "kea-dhcp4: invalid option -- 'T'\n")

    def test_long_option(self):
        """--help is glibc's invalid option '-' (no long options)."""
        self.assertEqual(self.parse("--help").message, "kea-dhcp4: invalid option -- '-'\n")

    def test_missing_argument(self):
        """-c without a file: glibc's 'option requires an argument'."""
        self.assertEqual(self.parse("-dc").message, "kea-dhcp4: option requires an argument -- 'c'\n")

    def test_no_config(self):
        """Neither -c nor -t: 'Configuration file not specified.' then usage."""
        self.assertEqual(self.parse().message, "Configuration file not specified.\n")
        self.assertEqual(self.parse("-d").message, "Configuration file not specified.\n")

    def test_operands(self):
        """An extra operand anywhere (or after --) is the bare usage text."""
        for argv in (["-c", "a", "b"], ["b", "-c", "a"], ["--", "-v"]):
            failure = self.parse(*argv)
            self.assertIsInstance(failure, cli.UsageFailure, argv)
            self.assertEqual(failure.message, "")

    def test_ports(self):
        """Ports: lexical_cast<int> then 1..65535, Kea's message per port."""
        for value in ("0", "65536", "abc", "12x", " 12", ""):
            self.assertEqual(
                self.parse("-c", "x", "-p", value).message,
                f"Failed to parse server port number: [{value}], 1-65535 allowed.\n",
            )
            self.assertEqual(
                self.parse("-c", "x", "-P", value).message,
                f"Failed to parse client port number: [{value}], 1-65535 allowed.\n",
            )
        self.assertEqual(self.parse("-c", "x", "-p", "+12").server_port, 12)
        self.assertEqual(self.parse("-c", "x", "-P", "65535").client_port, 65535)

    def test_usage_text(self):
        """Usage lists kea-dhcp4 2.2's options, exit code 1."""
        failure = self.parse()
        self.assertEqual(failure.exit_code, 1)
        self.assertIn("Usage: kea-dhcp4 -[v|V|W] [-d] [-{c|t} cfgfile] [-p number] [-P number]\n",
                      failure.text)


class MainInProcessTests(SynchronousTestCase):
    def run_main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(list(argv), environ={}, stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    def test_version(self):
        """-v: the bare version on stdout, exit 0."""
        self.assertEqual(self.run_main("-v"), (0, kea_twisted.__version__ + "\n", ""))

    def test_extended_version(self):
        """-V: version first, then Kea's 'linked with:' and 'database:' sections."""
        code, out, err = self.run_main("-V")
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertEqual(lines[0], kea_twisted.__version__)
        self.assertIn("linked with:", lines)
        self.assertIn("database:", lines)
        self.assertIn("Memfile backend 2.1", lines)

    def test_report(self):
        """-W: a configuration report on stdout, exit 0."""
        code, out, err = self.run_main("-W")
        self.assertEqual(code, 0)
        self.assertIn("Version:           " + kea_twisted.__version__, out)
        self.assertIn("libdhcp_lease_cmds.so", out)

    def test_check_good_and_bad(self):
        """-t: exit 0 on a valid file, 1 with Kea's report on stderr otherwise."""
        d = self.mktemp()
        os.makedirs(d)
        good = write_config(d, "good.json", port_socket=None)
        bad = os.path.join(d, "bad.json")
        with open(bad, "w") as f:
            f.write('{"Dhcp4": {"subnet4": 5}}')
        self.assertEqual(self.run_main("-t", good), (0, "", ""))
        code, out, err = self.run_main("-t", bad)
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith("Syntax check failed with: "), err)

    def test_check_verbose(self):
        """-d -t prints 'Syntax check OK' on stderr, as kea-dhcp4 -d -t."""
        d = self.mktemp()
        os.makedirs(d)
        good = write_config(d, "good.json", port_socket=None)
        self.assertEqual(self.run_main("-d", "-t", good), (0, "", "Syntax check OK\n"))

    def test_usage_error(self):
        """A usage error writes message + usage on stderr and returns 1."""
        code, out, err = self.run_main("-x")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("kea-dhcp4: invalid option -- 'x'\nkea_twisted DHCPv4 server"))


class PIDFileTests(SynchronousTestCase):
    def test_name(self):
        """<dir>/<config base name without last extension>.kea-dhcp4.pid."""
        self.assertEqual(cli.pid_file_path("/etc/kea/kea-dhcp4.conf", {}), "/run/kea/kea-dhcp4.kea-dhcp4.pid")
        self.assertEqual(cli.pid_file_path("a.b.json", {"KEA_PIDFILE_DIR": "/tmp/x"}), "/tmp/x/a.b.kea-dhcp4.pid")
        self.assertEqual(cli.pid_file_path("noext", {"KEA_PIDFILE_DIR": "/p"}), "/p/noext.kea-dhcp4.pid")

    def test_create_check_remove(self):
        """create writes 'PID\\n'; check sees our live PID; remove deletes."""
        path = self.mktemp()
        pid_file = cli.PIDFile(path)
        self.assertEqual(pid_file.check(), 0)
        pid_file.create()
        with open(path) as f:
            self.assertEqual(f.read(), f"{os.getpid()}\n")
        self.assertEqual(cli.PIDFile(path).check(), os.getpid())
        pid_file.remove()
        self.assertFalse(os.path.exists(path))

    def test_live_pid_refuses(self):
        """A live PID in the file raises DaemonPIDExists with Kea's text; the
        file is left alone."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
        pid_file = cli.PIDFile(path)
        e = self.assertRaises(cli.DaemonPIDExists, pid_file.create)
        self.assertEqual(str(e), f"Daemon::createPIDFile: PID: {os.getpid()} exists, PID file: {path}")
        pid_file.remove()
        self.assertTrue(os.path.exists(path))

    def test_dead_pid_is_replaced(self):
        """A PID no process has is stale: the file is taken over."""
        path = self.mktemp()
        child = subprocess.Popen([sys.executable, "-c", ""])
        child.wait()
        with open(path, "w") as f:
            f.write(f"{child.pid}\n")
        cli.PIDFile(path).create()
        with open(path) as f:
            self.assertEqual(f.read(), f"{os.getpid()}\n")

    def test_unreadable(self):
        """Garbage, an empty file or a number without a newline is Kea's
        'Unable to read PID from file' (ifstream >> int then good())."""
        path = self.mktemp()
        for text in ("garbage\n", "", "123"):
            with open(path, "w") as f:
                f.write(text)
            e = self.assertRaises(cli.PIDFileError, cli.PIDFile(path).check)
            self.assertEqual(str(e), f"Unable to read PID from file '{path}'")

    def test_unwritable(self):
        """A missing directory is 'Unable to open PID file ... for write'."""
        path = os.path.join(self.mktemp(), "x.kea-dhcp4.pid")
        e = self.assertRaises(cli.PIDFileError, cli.PIDFile(path).create)
        self.assertEqual(str(e), f"Unable to open PID file '{path}' for write")


class RecordingObserver:
    def __init__(self):
        self.events = []
        self.configured = None
        self._specs = {}

    def configure(self, loggers):
        self.configured = list(loggers)

    def close(self):
        pass

    def __call__(self, event):
        self.events.append(event)


class LockingObserverTests(SynchronousTestCase):
    def test_verbose_turns_loggers_to_debug_99(self):
        """-d: every configured logger, and the root, at DEBUG 99."""
        inner = RecordingObserver()
        observer = cli.LockingObserver(inner, None, verbose=True)
        observer.configure([LoggerSpec("kea-dhcp4.packets", severity="WARN")])
        self.assertEqual(
            sorted((s.name, s.severity, s.debuglevel) for s in inner.configured),
            [("kea-dhcp4", "DEBUG", 99), ("kea-dhcp4.packets", "DEBUG", 99)],
        )

    def test_lock_file_created(self):
        """The logger lock file is <dir>/logger_lockfile, mode 0660, and
        events pass through."""
        d = self.mktemp()
        os.makedirs(d)
        inner = RecordingObserver()
        observer = cli.LockingObserver(inner, d)
        event = {"log_namespace": "kea-dhcp4.dhcp4", "log_level": LogLevel.info, "msgid": "X"}
        observer(event)
        observer.close()
        self.assertEqual(inner.events, [event])
        mode = os.stat(os.path.join(d, "logger_lockfile")).st_mode & 0o777
        self.assertEqual(mode, 0o660)

    def test_lock_file_unusable(self):
        """No lock file: Kea's stderr line replaces each message."""
        d = os.path.join(self.mktemp(), "missing")
        inner = RecordingObserver()
        err = io.StringIO()
        observer = cli.LockingObserver(inner, d, stderr=err)
        observer({"log_namespace": "kea-dhcp4.dhcp4", "log_level": LogLevel.info, "msgid": "X"})
        self.assertEqual(inner.events, [])
        self.assertEqual(
            err.getvalue(),
            f"Unable to use interprocess sync lockfile (No such file or directory): {d}/logger_lockfile\n",
        )

    def test_lock_dir(self):
        """KEA_LOCKFILE_DIR: default /run/kea, 'none' (any case) disables."""
        self.assertEqual(cli.lock_dir_from({}), "/run/kea")
        self.assertEqual(cli.lock_dir_from({"KEA_LOCKFILE_DIR": "/x"}), "/x")
        self.assertIsNone(cli.lock_dir_from({"KEA_LOCKFILE_DIR": "NONE"}))

    def test_twisted_chatter_dropped(self):
        """Twisted's informational lines are left out; its errors and our
        messages (msgid) are kept."""
        inner = RecordingObserver()
        observer = cli.LockingObserver(inner, None)
        chatter = {"log_namespace": "twisted.internet.udp", "log_level": LogLevel.info}
        error = {"log_namespace": "twisted.internet.udp", "log_level": LogLevel.error}
        ours = {"log_namespace": "kea_twisted.net.control", "log_level": LogLevel.info, "msgid": "COMMAND_X"}
        for event in (chatter, error, ours):
            observer(event)
        self.assertEqual(inner.events, [error, ours])


# -- subprocesses -----------------------------------------------------------------

def write_config(directory, name="kea.json", *, port_socket="ctrl", extra=None):
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo/127.0.0.1"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "valid-lifetime": 4000,
        "subnet4": [{
            "id": 1, "subnet": "10.10.0.0/16", "relay": {"ip-addresses": ["127.0.0.2"]},
            "pools": [{"pool": "10.10.0.10 - 10.10.0.250"}],
        }],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
    }
    if port_socket:
        dhcp4["control-socket"] = {"socket-type": "unix", "socket-name": os.path.join(directory, port_socket)}
    dhcp4.update(extra or {})
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump({"Dhcp4": dhcp4}, f)
    return path


def cli_command():
    return [sys.executable, "-m", "kea_twisted.cli"]


class Daemon:
    """One child process with its stdout read line by line, no sleeping."""

    def __init__(self, argv, env, cwd=ROOT):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, cwd=cwd)
        self.lines = []
        self._pending = b""

    @property
    def pid(self):
        return self.proc.pid

    def wait_for(self, pattern, timeout=START_TIMEOUT):
        """Read stdout until a line matches ``pattern``; fail at timeout or EOF."""
        regex = re.compile(pattern)
        for line in self.lines:
            if regex.search(line):
                return line
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s: {self.lines}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"stdout closed before {pattern!r}: {self.lines} "
                                     f"stderr={self.proc.stderr.read()!r}")
            self._pending += chunk
            *complete, self._pending = self._pending.split(b"\n")
            for raw in complete:
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if regex.search(line):
                    return line

    def signal(self, signum):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signum)

    def finish(self, timeout=STOP_TIMEOUT):
        """Wait for exit; return (code, rest of stdout, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        text = self._pending.decode(errors="replace") + out.decode(errors="replace")
        self.lines.extend(text.splitlines())
        return self.proc.returncode, text, err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def discover(xid, mac, giaddr="127.0.0.2"):
    """A relayed DHCPDISCOVER (hops 1, giaddr on loopback) carrying RAI
    sub-option 19 (relay source port, RFC 8357), so that the reply comes
    back to the relay's source port instead of port 67."""
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 1, xid, 0, 0, bytes(4), bytes(4), bytes(4),
        socket.inet_aton(giaddr), mac + bytes(16 - len(mac)), bytes(64), bytes(128),
    )
    return header + b"\x63\x82\x53\x63" + bytes([53, 1, 1, 82, 4, 19, 2, 0, 0, 255])


class SubprocessCase(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kea-cli-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.env = dict(os.environ, KEA_PIDFILE_DIR=self.dir, KEA_LOCKFILE_DIR=self.dir,
                        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def start(self, argv, env=None, **kw):
        daemon = Daemon(argv, env or self.env, **kw)
        self.addCleanup(daemon.kill)
        return daemon

    def run_once(self, argv, env=None, timeout=60):
        proc = subprocess.run(argv, capture_output=True, env=env or self.env, cwd=ROOT, timeout=timeout)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def normalize_usage(text, prog):
    """Kea's stderr with the program path and the banner line made neutral."""
    lines = text.splitlines()
    out = []
    for line in lines:
        if line.startswith(prog + ": "):
            line = "PROG: " + line[len(prog) + 2:]
        if re.match(r"^(Kea|kea_twisted) DHCPv4 server, version ", line):
            line = "BANNER"
        out.append(line)
    return out


class FlagsAgainstKeaTests(SubprocessCase):
    """Each flag's output and exit code, compared with /usr/sbin/kea-dhcp4."""

    def test_usage_errors_match_kea(self):
        """Every usage error: same exit code, same stderr (program path and
        the version banner aside), nothing on stdout."""
        require_kea()
        ours_prog = os.path.join(ROOT, "kea_twisted", "cli.py")
        cases = [["-h"], [], ["-x"], ["-d"], ["-c"], ["-t"], ["-T"], ["-T", "k.json"], ["--help"],
                 ["-x", "-v"], ["-c", "a", "b"], ["--", "-v"], ["-p", "0", "-c", "x"],
                 ["-p", "abc", "-c", "x"], ["-p", "70000", "-c", "x"], ["-P", "0", "-c", "x"],
                 ["-P", " 1", "-c", "x"], ["-dc"]]
        for argv in cases:
            k_code, k_out, k_err = self.run_once([KEA, *argv])
            o_code, o_out, o_err = self.run_once([*cli_command(), *argv])
            self.assertEqual((o_code, o_out), (k_code, k_out), argv)
            self.assertEqual(normalize_usage(o_err, ours_prog), normalize_usage(k_err, KEA), argv)

    def test_version_flags_shape(self):
        """-v: one line; -V: version line first and 'linked with:'/'database:'
        sections; -W: a report; all exit 0 on stdout, as Kea's."""
        require_kea()
        for flag in ("-v", "-V", "-W", "-v -x".split()):
            argv = flag if isinstance(flag, list) else [flag]
            k = self.run_once([KEA, *argv])
            o = self.run_once([*cli_command(), *argv])
            self.assertEqual((o[0], o[2]), (k[0], k[2]), argv)
            self.assertTrue(o[1].endswith("\n"))
            if argv[0] == "-v":
                self.assertEqual(len(o[1].splitlines()), len(k[1].splitlines()))
            if argv[0] == "-V":
                for section in ("linked with:", "database:", "Memfile backend 2.1"):
                    self.assertIn(section, k[1].splitlines())
                    self.assertIn(section, o[1].splitlines())

    def test_check_matches_kea(self):
        """-t: same exit code and stderr for a good file, a grammar error, a
        missing file and a semantic error; -d -t adds 'Syntax check OK'."""
        require_kea()
        good = write_config(self.dir, "good.json")
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w") as f:
            f.write('{"Dhcp4": {"subnet4": 5}}')
        semantic = write_config(self.dir, "sem.json", extra={"subnet4": [
            {"id": 1, "subnet": "10.10.0.0/16", "pools": [{"pool": "10.20.0.1 - 10.20.0.5"}]}]})
        for argv in (["-t", good], ["-t", bad], ["-t", "missing.json"], ["-t", semantic],
                     ["-d", "-t", good], ["-d", "-t", semantic], ["-d", "-t", bad]):
            k_code, _, k_err = self.run_once([KEA, *argv])
            o_code, o_out, o_err = self.run_once([*cli_command(), *argv])
            self.assertEqual((o_code, o_err), (k_code, k_err), argv)
            self.assertEqual(o_out, "")


class RunningDaemonTests(SubprocessCase):
    """The daemon itself: PID file, second instance, name, signals."""

    def start_ours(self, config, port, *extra):
        daemon = self.start([*cli_command(), "-c", config, "-p", str(port), *extra])
        daemon.wait_for(r"DHCP4_STARTED")
        return daemon

    def test_pid_file_and_lock_file(self):
        """The PID file is <dir>/<name>.kea-dhcp4.pid holding 'PID\\n' while
        running and is removed at SIGTERM (exit 0); logger_lockfile is there."""
        config = write_config(self.dir, "kea-dhcp4.conf")
        daemon = self.start_ours(config, 18410, "-P", "18411")
        pid_path = os.path.join(self.dir, "kea-dhcp4.kea-dhcp4.pid")
        with open(pid_path) as f:
            self.assertEqual(f.read(), f"{daemon.pid}\n")
        self.assertEqual(os.stat(os.path.join(self.dir, "logger_lockfile")).st_mode & 0o777, 0o660)
        daemon.signal(signal.SIGTERM)
        code, out, err = daemon.finish()
        self.assertEqual(code, 0)
        self.assertIn("DHCP4_SHUTDOWN server shutdown", out)
        self.assertFalse(os.path.exists(pid_path))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "ctrl")))

    def test_sigint_stops(self):
        """SIGINT stops the server with exit 0, like SIGTERM."""
        config = write_config(self.dir)
        daemon = self.start_ours(config, 18412)
        daemon.signal(signal.SIGINT)
        code, out, err = daemon.finish()
        self.assertEqual(code, 0)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "kea.kea-dhcp4.pid")))

    def test_second_instance_refused(self):
        """A second start on the same config is refused with Kea's stderr
        line and log line, exit 1, and the first one's PID file stays."""
        config = write_config(self.dir)
        first = self.start_ours(config, 18413)
        pid_path = os.path.join(self.dir, "kea.kea-dhcp4.pid")
        code, out, err = self.run_once([*cli_command(), "-c", config, "-p", "18414"])
        expected = (f"kea-dhcp4 already running? Daemon::createPIDFile: PID: {first.pid} exists, "
                    f"PID file: {pid_path}\n")
        self.assertEqual((code, err), (1, expected))
        self.assertRegex(out, r"FATAL \[kea-dhcp4\.dhcp4/\d+\.\d+\] DHCP4_ALREADY_RUNNING " + re.escape(expected.strip()))
        with open(pid_path) as f:
            self.assertEqual(f.read(), f"{first.pid}\n")

    def test_refusal_is_mutual_with_kea(self):
        """Real Kea refuses to start next to us on the same config (it reads
        our PID file), and we refuse next to real Kea, with the same text."""
        require_kea()
        config = write_config(self.dir)
        pid_path = os.path.join(self.dir, "kea.kea-dhcp4.pid")
        ours = self.start_ours(config, 18415)
        k_code, _, k_err = self.run_once([KEA, "-c", config, "-p", "18416"])
        self.assertEqual((k_code, k_err), (1, f"kea-dhcp4 already running? Daemon::createPIDFile: PID: "
                                              f"{ours.pid} exists, PID file: {pid_path}\n"))
        ours.signal(signal.SIGTERM)
        self.assertEqual(ours.finish()[0], 0)

        kea = self.start([KEA, "-c", config, "-p", "18417"])
        kea.wait_for(r"DHCP4_STARTED")
        o_code, _, o_err = self.run_once([*cli_command(), "-c", config, "-p", "18418"])
        self.assertEqual((o_code, o_err), (1, f"kea-dhcp4 already running? Daemon::createPIDFile: PID: "
                                              f"{kea.pid} exists, PID file: {pid_path}\n"))
        kea.signal(signal.SIGTERM)
        self.assertEqual(kea.finish()[0], 0)

    def test_unreadable_pid_file(self):
        """A PID file without a PID is a fatal start-up error (exit 1), with
        Kea's stderr line, and is left in place."""
        config = write_config(self.dir)
        pid_path = os.path.join(self.dir, "kea.kea-dhcp4.pid")
        with open(pid_path, "w") as f:
            f.write("garbage\n")
        code, out, err = self.run_once([*cli_command(), "-c", config, "-p", "18419"])
        self.assertEqual((code, err), (1, f"kea-dhcp4: Fatal error during start up: Unable to read PID "
                                          f"from file '{pid_path}'\n"))
        self.assertIn("DHCP4_SERVER_FAILED server failed: Unable to read PID from file", out)
        if kea_available():
            k_code, k_out, k_err = self.run_once([KEA, "-c", config, "-p", "18419"])
            self.assertEqual((k_code, k_err), (code, err))
        self.assertTrue(os.path.exists(pid_path))

    def test_config_error_at_start(self):
        """A broken config at start: DHCP4_CONFIG_LOAD_FAIL, exit 1 (as
        Kea), the PID file removed again."""
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w") as f:
            f.write('{"Dhcp4": {"subnet4": 5}}')
        code, out, err = self.run_once([*cli_command(), "-c", bad, "-p", "18420"])
        self.assertEqual(code, 1)
        self.assertIn("DHCP4_CONFIG_LOAD_FAIL configuration error using file: " + bad, out)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "bad.kea-dhcp4.pid")))
        if kea_available():
            self.assertEqual(self.run_once([KEA, "-c", bad, "-p", "18420"])[0], code)

    def test_process_name(self):
        """comm is kea-dhcp4 (ps -e, pgrep) and cmdline reads kea-dhcp4 -c
        FILE -p PORT (ps -ef, psutil/gopsutil cmdline)."""
        config = write_config(self.dir)
        daemon = self.start_ours(config, 18421)
        with open(f"/proc/{daemon.pid}/comm") as f:
            self.assertEqual(f.read(), "kea-dhcp4\n")
        with open(f"/proc/{daemon.pid}/cmdline", "rb") as f:
            fields = [p.decode() for p in f.read().split(b"\0") if p]
        self.assertEqual(fields, ["kea-dhcp4", "-c", config, "-p", "18421"])
        if shutil.which("ps"):
            listing = subprocess.run(["ps", "-e", "-o", "pid=,comm="], capture_output=True, text=True).stdout
            self.assertIn((str(daemon.pid), "kea-dhcp4"),
                          [tuple(line.split(None, 1)) for line in listing.splitlines()])
            args = subprocess.run(["ps", "-p", str(daemon.pid), "-o", "args="], capture_output=True,
                                  text=True).stdout.strip()
            self.assertEqual(args, f"kea-dhcp4 -c {config} -p 18421")

    def test_sighup_reload(self):
        """SIGHUP reloads the file: a good file is applied, a broken one is
        logged and the old configuration keeps serving."""
        config = write_config(self.dir)
        daemon = self.start_ours(config, 18422)
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(r"DHCP4_DYNAMIC_RECONFIGURATION_SUCCESS")
        with open(config, "w") as f:
            f.write('{"Dhcp4": {"subnet4": 5}}')
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(r"ERROR .*DHCP4_CONFIG_LOAD_FAIL")
        offer = relay_exchange(18422, discover(0x1234, b"\x00\x11\x22\x33\x44\x55"))
        self.assertEqual(offer[4:8], struct.pack("!I", 0x1234))
        daemon.signal(signal.SIGTERM)
        self.assertEqual(daemon.finish()[0], 0)

    def test_serves_relayed_client(self):
        """The daemon answers a relayed DISCOVER on loopback with an OFFER
        from the pool, sent back to the relay."""
        config = write_config(self.dir)
        daemon = self.start_ours(config, 18423)
        offer = relay_exchange(18423, discover(0xBEEF, b"\x00\x11\x22\x33\x44\x66"))
        self.assertEqual(offer[0], 2)
        self.assertTrue(socket.inet_ntoa(offer[16:20]).startswith("10.10.0."))
        daemon.signal(signal.SIGTERM)
        self.assertEqual(daemon.finish()[0], 0)

    def test_verbose_logs_debug(self):
        """-d turns logging to DEBUG: DHCP4_START_INFO appears, with Kea's
        'verbose: yes'."""
        config = write_config(self.dir)
        daemon = self.start([*cli_command(), "-d", "-c", config, "-p", "18424"])
        line = daemon.wait_for(r"DHCP4_START_INFO")
        self.assertRegex(line, r"DEBUG \[kea-dhcp4\.dhcp4/\d+\.\d+\] DHCP4_START_INFO pid: \d+, "
                               r"server port: 18424, client port: 0, verbose: yes")
        daemon.wait_for(r"DHCP4_STARTED")
        daemon.signal(signal.SIGTERM)
        self.assertEqual(daemon.finish()[0], 0)


def relay_exchange(server_port, query, timeout=10.0):
    """Send ``query`` from a relay at 127.0.0.2 (any port) to the server
    and return its reply (sent to the relay's port: see :func:`discover`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.2", 0))
        sock.settimeout(timeout)
        sock.sendto(query, ("127.0.0.1", server_port))
        data, _ = sock.recvfrom(4096)
        return data
    finally:
        sock.close()


class DebianUnitTests(SubprocessCase):
    """Debian's kea-dhcp4-server.service command line, as _kea with only
    CAP_NET_BIND_SERVICE and CAP_NET_RAW (setpriv), binary swapped."""

    def test_unit_command_line_as_kea_user(self):
        """``kea-dhcp4 -c CONF`` as _kea with the unit's ambient capabilities
        and KEA_LOCKFILE_DIR starts, writes its PID file, answers a relayed
        client on loopback and stops on SIGTERM with exit 0.  (A -p in our
        port range replaces the unit's port 67, which a stock install holds.)"""
        if os.geteuid() != 0:
            raise SkipTest("needs root to switch to _kea with setpriv")
        if SETPRIV is None:
            raise SkipTest("setpriv (util-linux) is not installed")
        try:
            user = pwd.getpwnam("_kea")
        except KeyError:
            raise SkipTest("user _kea (Debian's kea-common) does not exist")
        lock_dir = os.path.join(self.dir, "lock")
        os.mkdir(lock_dir)
        for path in (self.dir, lock_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
        config = write_config(self.dir, "kea-dhcp4.conf")
        os.chmod(config, 0o644)
        env = dict(self.env, KEA_LOCKFILE_DIR=lock_dir, HOME="/")
        argv = [SETPRIV, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
                "--inh-caps=-all,+net_bind_service,+net_raw", "--ambient-caps=-all,+net_bind_service,+net_raw",
                "--bounding-set=-all,+net_bind_service,+net_raw",
                *cli_command(), "-c", config, "-p", "18425"]
        daemon = self.start(argv, env=env)
        daemon.wait_for(r"DHCP4_STARTED")
        with open(f"/proc/{daemon.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        self.assertEqual(int(status["Uid"].split()[1]), user.pw_uid)
        wanted = (1 << 10) | (1 << 13)  # CAP_NET_BIND_SERVICE, CAP_NET_RAW
        self.assertEqual(int(status["CapEff"], 16), wanted)
        with open(os.path.join(self.dir, "kea-dhcp4.kea-dhcp4.pid")) as f:
            self.assertEqual(f.read(), f"{daemon.pid}\n")
        self.assertTrue(os.path.exists(os.path.join(lock_dir, "logger_lockfile")))
        offer = relay_exchange(18425, discover(0xCAFE, b"\x00\x11\x22\x33\x44\x77"))
        self.assertEqual(offer[0], 2)
        daemon.signal(signal.SIGTERM)
        self.assertEqual(daemon.finish()[0], 0)
