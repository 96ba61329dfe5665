"""
``kea-twisted-dhcp4``: the ``kea-dhcp4`` command line, for operators who swap
the binary and keep everything around it (Debian's unit, keactrl, Stork).

    kea-twisted-dhcp4 -c /etc/kea/kea-dhcp4.conf [-d] [-p 67] [-P 68]
    kea-twisted-dhcp4 -t FILE | -v | -V | -W

What is copied from Kea 2.2 (``src/bin/dhcp4/main.cc``, ``process/daemon.cc``,
``util/pid_file.cc``, ``log/interprocess``), observed with ``/usr/sbin/kea-dhcp4``:

* getopt ``dvVWc:p:P:t:`` processed in order (``-v -x`` prints the version,
  ``-x -v`` is an invalid option), glibc's messages, the usage text on
  stderr and exit 1 for every usage error; ``-T`` does not exist in 2.2.
* the PID file ``$KEA_PIDFILE_DIR/<config name>.kea-dhcp4.pid`` (default
  ``/run/kea``; the name is the config file's base name without its last
  extension), written before the configuration is loaded, removed at exit;
  a live PID in it refuses the start with ``kea-dhcp4 already running?
  Daemon::createPIDFile: PID: N exists, PID file: F`` and exit 1; an
  unreadable one is a fatal start-up error.
* the logger lock file ``$KEA_LOCKFILE_DIR/logger_lockfile`` (default
  ``/run/kea``, ``none`` disables it), a one-byte ``fcntl`` lock held while
  a log line is written; when it cannot be opened every log line is replaced
  by Kea's ``Unable to use interprocess sync lockfile`` on stderr.
* a foreground process: SIGTERM and SIGINT stop it with exit 0, SIGHUP
  reloads the configuration file (:class:`~kea_twisted.net.services.Dhcp4Service`).
* the process name: ``/proc/self/comm`` is set to ``kea-dhcp4`` with
  ``prctl(PR_SET_NAME)`` and the argument area is rewritten to
  ``kea-dhcp4 <arguments>``, so ``ps -e``, ``pgrep kea-dhcp4`` and tools
  reading ``/proc/<pid>/cmdline`` see the daemon they look for.

Beyond Kea: ``KEA_TWISTED_PROMETHEUS=[ADDRESS:]PORT`` in the environment (or
the config's ``user-context`` ``kea-twisted.prometheus``) serves the
statistics at ``http://ADDRESS:PORT/metrics`` in kea-exporter's metric names
(:mod:`kea_twisted.prometheus`; needs the ``prometheus`` extra).

Tests: tests/test_cli.py, tests/test_prometheus.py (the endpoint)
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO

import kea_twisted

__all__ = [
    "PROCESS_NAME",
    "Invocation",
    "UsageFailure",
    "parse_command_line",
    "usage_text",
    "pid_file_path",
    "PIDFile",
    "PIDFileError",
    "DaemonPIDExists",
    "LockingObserver",
    "set_process_name",
    "main",
]

PROCESS_NAME = "kea-dhcp4"
DEFAULT_RUN_DIR = "/run/kea"
SERVER_PORT = 67
_OPTSTRING = "dvVWc:p:P:t:"


# -- the command line ------------------------------------------------------

def usage_text() -> str:
    """Kea's usage text, with our name and version on the first line."""
    return (
        f"kea_twisted DHCPv4 server, version {kea_twisted.__version__} (stable)\n"
        "\n"
        f"Usage: {PROCESS_NAME} -[v|V|W] [-d] [-{{c|t}} cfgfile] [-p number] [-P number]\n"
        "  -v: print version number and exit\n"
        "  -V: print extended version and exit\n"
        "  -W: display the configuration report and exit\n"
        "  -d: debug mode with extra verbosity (former -v)\n"
        "  -c file: specify configuration file\n"
        "  -t file: check the configuration file syntax and exit\n"
        "  -p number: specify non-standard server port number 1-65535 (useful for testing only)\n"
        "  -P number: specify non-standard client port number 1-65535 (useful for testing only)\n"
    )


@dataclass
class Invocation:
    """What the command line asks for.

    ``action`` is ``"version"``, ``"extended-version"``, ``"report"``,
    ``"check"`` or ``"run"``.  ``client_port`` 0 means "reply to 68", as in
    Kea.
    """

    action: str
    config_file: str = ""
    verbose: bool = False
    server_port: int = SERVER_PORT
    client_port: int = 0
    #: Path confinement directories by kind (kea_twisted.paths.OPTIONS).
    directories: Dict[str, str] = field(default_factory=dict)


@dataclass
class UsageFailure:
    """A usage error: ``message`` (may be empty) then the usage text on
    stderr, exit 1."""

    message: str = ""
    exit_code: int = 1
    text: str = field(default_factory=usage_text)


_INTEGER = re.compile(r"[+-]?[0-9]+\Z")


def _port(value: str, which: str):
    # boost::lexical_cast<int>: digits with an optional sign, nothing else.
    if _INTEGER.match(value):
        number = int(value)
        if 0 < number <= 65535:
            return number
    return UsageFailure(f"Failed to parse {which} port number: [{value}], 1-65535 allowed.\n")


def parse_command_line(argv: Sequence[str], prog: str = PROCESS_NAME):
    """``argv`` (without the program name) -> :class:`Invocation` or
    :class:`UsageFailure`.

    GNU getopt over ``dvVWc:p:P:t:``: options are handled as they are met
    (so ``-v`` exits before a later bad option is seen), operands are
    collected wherever they are and rejected at the end, ``--`` ends the
    options, and ``--long`` is the invalid option ``-``.
    """
    invocation = Invocation("run")
    operands: List[str] = []
    args, directories = _directory_options(list(argv), prog)
    if isinstance(args, UsageFailure):
        return args
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            operands.extend(args[i:])
            break
        if not arg.startswith("-") or arg == "-":
            operands.append(arg)
            continue
        j = 1
        while j < len(arg):
            letter = arg[j]
            j += 1
            spec = _OPTSTRING.find(letter)
            if letter == ":" or spec < 0:
                return UsageFailure(f"{prog}: invalid option -- '{letter}'\n")
            if spec + 1 < len(_OPTSTRING) and _OPTSTRING[spec + 1] == ":":
                if j < len(arg):
                    value, j = arg[j:], len(arg)
                elif i < len(args):
                    value, i = args[i], i + 1
                else:
                    return UsageFailure(f"{prog}: option requires an argument -- '{letter}'\n")
                if letter in "ct":
                    invocation.config_file = value
                    if letter == "t":
                        invocation.action = "check"
                elif letter == "p":
                    port = _port(value, "server")
                    if isinstance(port, UsageFailure):
                        return port
                    invocation.server_port = port
                else:
                    port = _port(value, "client")
                    if isinstance(port, UsageFailure):
                        return port
                    invocation.client_port = port
            elif letter == "d":
                invocation.verbose = True
            elif letter == "v":
                return Invocation("version")
            elif letter == "V":
                return Invocation("extended-version")
            else:  # W
                return Invocation("report")
    if operands:
        return UsageFailure()
    if not invocation.config_file:
        return UsageFailure("Configuration file not specified.\n")
    invocation.directories = directories
    return invocation


def _directory_options(args: List[str], prog: str):
    """Take kea_twisted's own long options (not in the usage text, which
    stays Kea's; README "Path confinement"): ``--hooks-dir DIR`` or
    ``--hooks-dir=DIR`` (:data:`kea_twisted.paths.OPTIONS`) out of ``args``
    before Kea's getopt sees them; anything else long stays Kea's invalid
    option ``-``.  Returns (rest, kind -> directory) or a UsageFailure."""
    from kea_twisted.paths import OPTIONS

    by_option = {"--" + option: kind for kind, option in OPTIONS.items()}
    rest: List[str] = []
    directories: Dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            rest.extend(args[i - 1:])
            break
        name, equals, value = arg.partition("=")
        if name not in by_option:
            rest.append(arg)
            continue
        if not equals:
            if i >= len(args):
                return UsageFailure(f"{prog}: option requires an argument -- '{name[2:]}'\n"), {}
            value, i = args[i], i + 1
        if not value:
            return UsageFailure(f"{prog}: option {name} needs a directory\n"), {}
        directories[by_option[name]] = value
    return rest, directories


def extended_version() -> str:
    """``-V``: Kea's layout (version, build type, linked libraries,
    database backends), naming what kea_twisted runs on."""
    import platform
    import ssl

    import twisted

    return (
        f"{kea_twisted.__version__}\n"
        "python package\n"
        "linked with:\n"
        f"Python {platform.python_version()}\n"
        f"Twisted {twisted.__version__}\n"
        f"{ssl.OPENSSL_VERSION}\n"
        "database:\n"
        "Memfile backend 2.1\n"
    )


def config_report() -> str:
    """``-W``: Kea prints its configure report; ours says where and on
    what kea_twisted is installed."""
    import platform

    import twisted

    from kea_twisted.config.staging import BUILTIN_HOOK_LIBRARIES

    hooks_dir = os.path.dirname(os.path.abspath(__import__("hooks").__file__))
    lines = [
        " ",
        "        kea_twisted configuration report:",
        "     -=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-",
        " ",
        " Package:",
        "   Name:              kea_twisted",
        f"   Version:           {kea_twisted.__version__}",
        "   Compatible with:   kea-dhcp4 2.2",
        f"   OS Family:         {platform.system()}",
        " ",
        f"   Prefix:            {sys.prefix}",
        f"   Hooks directory:   {hooks_dir}",
        "   Built-in hooks:    " + " ".join(sorted(BUILTIN_HOOK_LIBRARIES)),
        " ",
        " Python:",
        f"   Version:           {platform.python_version()} ({platform.python_implementation()})",
        f"   Twisted:           {twisted.__version__}",
        " ",
        " Lease backends:",
        "   memfile",
        "",
    ]
    return "\n".join(lines) + "\n"


# -- the PID file ------------------------------------------------------------

class PIDFileError(Exception):
    """Kea's PIDFileError / PIDCantReadPID: fatal at start-up."""


class DaemonPIDExists(Exception):
    """Another live process owns the PID file."""


def pid_file_path(config_file: str, environ: Mapping[str, str], proc_name: str = PROCESS_NAME) -> str:
    """``<KEA_PIDFILE_DIR or /run/kea>/<name>.<proc_name>.pid`` where name is
    the config file's base name without its last extension (Kea's
    ``Filename::name()``: ``kea-dhcp4.conf`` -> ``kea-dhcp4``)."""
    directory = environ.get("KEA_PIDFILE_DIR", DEFAULT_RUN_DIR)
    base = os.path.basename(config_file)
    dot = base.rfind(".")
    name = base[:dot] if dot >= 0 else base
    if not name:
        raise PIDFileError(f"Daemon::makePIDFileName config file:{config_file} is missing file name")
    return f"{directory}/{name}.{proc_name}.pid"


# ``ifstream >> pid`` then ``good()``: the number must be followed by at
# least one more character (Kea writes "PID\n"; "123" alone is unreadable).
_PID_TEXT = re.compile(r"\s*([+-]?[0-9]+)(?![0-9]).", re.DOTALL)


class PIDFile:
    """Kea's ``util::PIDFile`` and ``Daemon::createPIDFile``."""

    def __init__(self, path: str):
        self.path = path
        self.owned = False

    def check(self) -> int:
        """The live PID in the file, or 0 (no file, or a dead process)."""
        try:
            with open(self.path) as f:
                text = f.read()
        except OSError:
            return 0
        match = _PID_TEXT.match(text)
        if match is None:
            raise PIDFileError(f"Unable to read PID from file '{self.path}'")
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except (OSError, OverflowError):
            # Kea counts only kill() == 0 as alive (EPERM is "not running").
            return 0
        return pid

    def create(self, pid: Optional[int] = None) -> None:
        live = self.check()
        if live > 0:
            raise DaemonPIDExists(f"Daemon::createPIDFile: PID: {live} exists, PID file: {self.path}")
        try:
            with open(self.path, "w") as f:
                f.write(f"{os.getpid() if pid is None else pid}\n")
        except OSError:
            raise PIDFileError(f"Unable to open PID file '{self.path}' for write") from None
        self.owned = True

    def remove(self) -> None:
        if not self.owned:
            return
        self.owned = False
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass


# -- logging -----------------------------------------------------------------

class LockingObserver:
    """Kea's logging around the :class:`~kea_twisted.logs.KeaLogObserver`:

    * each event is written while holding a one-byte write lock on
      ``logger_lockfile`` (Kea's ``InterprocessSyncFile("logger")``, so that
      daemons sharing log files do not interleave lines); when the file
      cannot be opened Kea writes ``Unable to use interprocess sync lockfile
      (reason): path`` to stderr instead of the message;
    * ``-d`` (verbose) turns every configured logger to DEBUG with debug
      level 99, as Kea's ``LogConfigParser`` does in verbose mode.
    """

    def __init__(self, inner: Any, lock_dir: Optional[str], verbose: bool = False,
                 stderr: Optional[TextIO] = None):
        self.inner = inner
        self.verbose = verbose
        self.stderr = stderr if stderr is not None else sys.stderr
        self.lock_path = None if lock_dir is None else os.path.join(lock_dir, "logger_lockfile")
        self._fd: Optional[int] = None

    def configure(self, loggers) -> None:
        if self.verbose:
            from dataclasses import replace

            from kea_twisted.logs import ROOT_LOGGER, LoggerSpec

            loggers = [replace(spec, severity="DEBUG", debuglevel=99) for spec in loggers]
            if not any(spec.name == ROOT_LOGGER for spec in loggers):
                loggers.append(LoggerSpec(ROOT_LOGGER, severity="DEBUG", debuglevel=99))
        self.inner.configure(loggers)

    def close(self) -> None:
        self.inner.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open_lock(self) -> bool:
        if self._fd is not None:
            return True
        old = os.umask(0o111)
        try:
            self._fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o660)
        except OSError as e:
            self.stderr.write(
                f"Unable to use interprocess sync lockfile ({os.strerror(e.errno or errno.EIO)}): "
                f"{self.lock_path}\n"
            )
            self.stderr.flush()
            return False
        finally:
            os.umask(old)
        return True

    def __call__(self, event: dict) -> None:
        if _twisted_chatter(event):
            return
        if self.lock_path is None:
            self.inner(event)
            return
        if getattr(self.inner, "_specs", True) is None:
            # Still buffering until the configuration is read: nothing is
            # written yet, so nothing to lock.
            self.inner(event)
            return
        if not self._open_lock():
            return
        fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, 0)
        try:
            self.inner(event)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, 0)


def _twisted_chatter(event: dict) -> bool:
    """Twisted's own informational lines ("Starting protocol …", "Main
    loop terminated.") have no Kea counterpart: a Kea log has Kea's
    messages only.  Twisted's warnings and errors are kept."""
    from twisted.logger import LogLevel

    namespace = event.get("log_namespace") or ""
    if namespace == "kea-dhcp4" or namespace.startswith("kea-dhcp4.") or event.get("msgid"):
        return False
    return event.get("log_level") in (LogLevel.debug, LogLevel.info)


def lock_dir_from(environ: Mapping[str, str]) -> Optional[str]:
    """``KEA_LOCKFILE_DIR`` (``none``, any case, disables the lock)."""
    value = environ.get("KEA_LOCKFILE_DIR", DEFAULT_RUN_DIR)
    return None if value.lower() == "none" else value


# -- the process name ----------------------------------------------------------

def _argument_area():
    with open("/proc/self/stat") as f:
        data = f.read()
    # Fields after "(comm) ": field 3 is the state; arg_start and arg_end
    # are fields 48 and 49 (proc(5)).
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[45]), int(rest[46])


def set_process_name(arguments: Sequence[str], name: str = PROCESS_NAME) -> bool:
    """Make the process look like ``name arguments…`` to ``ps``.

    ``prctl(PR_SET_NAME)`` sets ``/proc/self/comm`` (``ps -e``, ``pgrep``,
    psutil's ``name()``); the kernel reads ``/proc/self/cmdline`` from the
    process's own argument memory, so that is overwritten in place with the
    new NUL-separated arguments when they fit (they do: the interpreter's and
    the script's paths are dropped).  Returns whether both were done; a
    failure is harmless and leaves the Python names visible.
    """
    import ctypes
    import ctypes.util

    done = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        pr_set_name = 15
        if libc.prctl(pr_set_name, name.encode()[:15], 0, 0, 0) != 0:
            done = False
    except (OSError, AttributeError):
        done = False
    try:
        start, end = _argument_area()
        title = b"".join(part.encode(errors="surrogateescape") + b"\0" for part in [name, *arguments])
        size = end - start
        if size <= 0 or len(title) > size:
            return False
        ctypes.memmove(start, title + b"\0" * (size - len(title)), size)
    except (OSError, ValueError, IndexError):
        return False
    return done


# -- running -------------------------------------------------------------------

def _check(invocation: Invocation, stdout: TextIO, stderr: TextIO) -> int:
    """``-t``: no PID file, no lock file, Kea's verdict and exit code."""
    from kea_twisted.config.errors import ConfigError
    from kea_twisted.config.staging import stage_config_file

    try:
        stage_config_file(invocation.config_file)
    except ConfigError as e:
        report = e.kea_report()
        if invocation.verbose and not report.startswith("Syntax check failed"):
            stderr.write("Syntax check OK\n")
        stderr.write(report + "\n")
        return 1
    if invocation.verbose:
        stderr.write("Syntax check OK\n")
    return 0


def _run(invocation: Invocation, environ: Mapping[str, str], stderr: TextIO, reactor: Any = None) -> int:
    from twisted.logger import globalLogBeginner

    from kea_twisted.logs import daemon_observer, kea_logger

    log = kea_logger("dhcp4")
    observer = LockingObserver(daemon_observer, lock_dir_from(environ), invocation.verbose, stderr)
    globalLogBeginner.beginLoggingTo([observer], discardBuffer=True, redirectStandardIO=False)

    def fatal_before_config() -> None:
        # The configuration was not read: Kea's default logging applies.
        observer.configure([])

    log.debug("{msgid} pid: {pid}, server port: {server}, client port: {client}, verbose: {verbose}",
              msgid="DHCP4_START_INFO", debuglevel=0, pid=os.getpid(), server=invocation.server_port,
              client=invocation.client_port, verbose="yes" if invocation.verbose else "no")
    log.info("{msgid} Kea DHCPv4 server version {version} (stable) starting", msgid="DHCP4_STARTING",
             version=kea_twisted.__version__)

    pid_file = None
    try:
        pid_file = PIDFile(pid_file_path(invocation.config_file, environ))
        pid_file.create()
    except DaemonPIDExists as e:
        stderr.write(f"{PROCESS_NAME} already running? {e}\n")
        log.critical("{msgid} {name} already running? {reason}", msgid="DHCP4_ALREADY_RUNNING",
                     name=PROCESS_NAME, reason=str(e))
        fatal_before_config()
        return 1
    except PIDFileError as e:
        stderr.write(f"{PROCESS_NAME}: Fatal error during start up: {e}\n")
        log.critical("{msgid} server failed: {reason}", msgid="DHCP4_SERVER_FAILED", reason=str(e))
        fatal_before_config()
        return 1
    try:
        return _serve(invocation, log, observer, stderr, reactor, environ)
    finally:
        pid_file.remove()
        observer.close()


def start_metrics(service: Any, environ: Mapping[str, str], reactor: Any, log: Any):
    """The optional Prometheus endpoint (:func:`kea_twisted.prometheus.endpoint_from`):
    the listening port, or None.  A problem with it is logged and the DHCP
    service keeps running."""
    from kea_twisted import prometheus

    try:
        endpoint = prometheus.endpoint_from(environ, service.config)
    except ValueError as e:
        log.error("{msgid} Prometheus endpoint not started: {reason}", msgid="KEA_TWISTED_PROMETHEUS_FAILED",
                  reason=str(e))
        return None
    if endpoint is None:
        return None
    try:
        registry = prometheus.registry_for(prometheus.collector_for(service))
        port = prometheus.listen(reactor, registry, *endpoint)
    except ImportError:
        log.error("{msgid} Prometheus endpoint not started: prometheus-client is not installed "
                  "(pip install kea_twisted[prometheus])", msgid="KEA_TWISTED_PROMETHEUS_FAILED")
        return None
    except Exception as e:  # noqa: BLE001 - e.g. the address is in use
        log.error("{msgid} Prometheus endpoint not started: {reason}", msgid="KEA_TWISTED_PROMETHEUS_FAILED",
                  reason=str(e))
        return None
    log.info("{msgid} Prometheus metrics on http://{address}:{port}/metrics",
             msgid="KEA_TWISTED_PROMETHEUS_LISTENING", address=endpoint[0], port=endpoint[1])
    return port


def _serve(invocation: Invocation, log, observer: LockingObserver, stderr: TextIO, reactor: Any,
           environ: Mapping[str, str]) -> int:
    from kea_twisted.config.errors import ConfigError
    from kea_twisted.config.staging import check_runnable, stage_config_file

    from kea_twisted.paths import current_policy

    for message in current_policy().startup_messages():
        log.warn("{msgid} {message}", msgid="KEA_TWISTED_PATHS", message=message)
    path = invocation.config_file
    try:
        config = stage_config_file(path)
        warnings = check_runnable(config)
    except ConfigError as e:
        observer.configure([])
        log.error("{msgid} configuration error using file: {path}, reason: {reason}",
                  msgid="DHCP4_CONFIG_LOAD_FAIL", path=path, reason=str(e))
        log.error("{msgid} failed to initialize Kea server: configuration error using file '{path}': {reason}",
                  msgid="DHCP4_INIT_FAIL", path=path, reason=str(e))
        return 1

    if reactor is None:
        from twisted.internet import reactor
    from kea_twisted.net.services import Dhcp4Service

    service = Dhcp4Service(
        path, config, reactor=reactor, server_port=invocation.server_port,
        client_port=invocation.client_port or None, observer=observer,
    )
    for warning in warnings:
        log.warn("{msgid} {warning}", msgid="DHCP4_FEATURE_NOT_AVAILABLE", warning=warning)
    failed: List[BaseException] = []
    metrics: List[Any] = []

    def start() -> None:
        try:
            service.startService()
        except Exception as e:  # noqa: BLE001 - any start-up failure is fatal, as in Kea
            failed.append(e)
            log.failure("{msgid} failed to initialize Kea server: {reason}", msgid="DHCP4_INIT_FAIL",
                        reason=str(e))
            reactor.stop()
            return
        port = start_metrics(service, environ, reactor, log)
        if port is not None:
            metrics.append(port)

    def stop():
        for port in metrics:
            port.stopListening()
        if service.running:
            log.info("{msgid} shutdown of server requested", msgid="DHCP4_SHUTDOWN_REQUEST")
            return service.stopService()
        return None

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.run()
    if failed:
        return 1
    return int(getattr(service, "exit_status", 0) or 0)


def main(argv: Optional[Sequence[str]] = None, *, environ: Optional[Mapping[str, str]] = None,
         stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None, reactor: Any = None) -> int:
    """The ``kea-twisted-dhcp4`` console script; returns the exit code."""
    prog = sys.argv[0] if argv is None else PROCESS_NAME
    if argv is None:
        argv = sys.argv[1:]
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr

    invocation = parse_command_line(argv, prog)
    if isinstance(invocation, UsageFailure):
        stderr.write(invocation.message + invocation.text)
        return invocation.exit_code
    if invocation.action == "version":
        stdout.write(kea_twisted.__version__ + "\n")
        return 0
    if invocation.action == "extended-version":
        stdout.write(extended_version())
        return 0
    if invocation.action == "report":
        stdout.write(config_report())
        return 0
    from kea_twisted.paths import PathPolicy, install_policy

    # Set once from the command line and environment: config-set cannot change it.
    install_policy(PathPolicy.from_sources(invocation.directories, environ))
    if invocation.action == "check":
        return _check(invocation, stdout, stderr)
    set_process_name(argv)
    return _run(invocation, environ, stderr, reactor)


def console_script() -> None:
    """Entry point: ``sys.exit(main())``."""
    sys.exit(main())


if __name__ == "__main__":
    console_script()
