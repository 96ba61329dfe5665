"""
``twistd kea4``: command-line options in ``kea-dhcp4``'s habits, and the
wiring of the service tree.  Nothing here decides anything about DHCP.

    twistd -n --pidfile= kea4 -c kea-dhcp4.conf [-p 67] [-P 68]
    twistd kea4 -t kea-dhcp4.conf      # check the configuration and exit
    twistd kea4 -v | -V                # version
    twistd kea4 --hooks-dir D --data-dir D --log-dir D --socket-dir D -c ...
                                       # confine paths (kea_twisted.paths)

Tests: tests/test_tap.py
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Mapping, Optional, TextIO

from twisted.application import service
from twisted.logger import Logger
from twisted.python import usage

import kea_twisted
from kea_twisted.pypy_gc import pypy_gc_advice
from kea_twisted.config.errors import ConfigError

__all__ = ["Options", "makeService", "check_config"]

log = Logger()


def check_config(path: str, out: TextIO, err: TextIO, stage=None):
    """Stage ``path`` as ``kea-dhcp4 -t`` does; return the model or None.

    Kea prints grammar errors to stderr as ``Syntax check failed with: …``
    and semantic ones as ``Error encountered: …`` [obs kea-dhcp4 2.2 -t].
    """
    if stage is None:
        from kea_twisted.config.staging import stage_config_file as stage
    try:
        return stage(path)
    except ConfigError as e:
        err.write(e.kea_report() + "\n")
        err.flush()
        return None


class Options(usage.Options):
    """kea-dhcp4's flags, as a twistd subcommand."""

    synopsis = "[-c FILE | -t FILE] [-p PORT] [-P PORT] [-v | -V]"
    longdesc = "A DHCPv4 server reading kea-dhcp4's configuration (Dhcp4 JSON)."

    optParameters = [
        ["config", "c", None, "Configuration file (Kea's Dhcp4 JSON)."],
        ["test", "t", None, "Check the configuration file and exit (0 valid, 1 not)."],
        ["port", "p", 67, "UDP port the server listens on and sends from.", int],
        ["client-port", "P", 68, "UDP port replies to clients are sent to.", int],
        ["hooks-dir", None, None, "Hook libraries only from DIR (else KEA_HOOKS_PATH)."],
        ["data-dir", None, None, "Lease files only in DIR (else KEA_DHCP_DATA_DIR)."],
        ["log-dir", None, None, "Log files only in DIR (else KEA_LOG_FILE_DIR)."],
        ["socket-dir", None, None, "Control sockets only in DIR (else KEA_CONTROL_SOCKET_DIR)."],
    ]

    # The environment paths are read from; tests inject their own.
    environ = None

    # Injected by tests; the real streams and exit otherwise.
    stdout: TextIO = sys.stdout
    stderr: TextIO = sys.stderr

    def _exit(self, code: int) -> None:
        raise SystemExit(code)

    def opt_version(self) -> None:
        """Print the version and exit (kea-dhcp4 -v)."""
        self.stdout.write(kea_twisted.__version__ + "\n")
        self._exit(0)

    opt_v = opt_version

    def opt_V(self) -> None:
        """Print the extended version and exit (kea-dhcp4 -V)."""
        import platform

        import twisted

        self.stdout.write(
            f"{kea_twisted.__version__}\n"
            f"kea_twisted on Python {platform.python_version()}, Twisted {twisted.__version__}\n"
            "lease backends: memfile\n"
        )
        self._exit(0)

    def postOptions(self) -> None:
        # Everything that must not start a server happens here: twistd calls
        # postOptions before it daemonizes or writes a PID file, so
        # ``twistd kea4 -t`` works without -n and leaves no PID file behind.
        if getattr(self, "_exited", False):
            return
        for key in ("port", "client-port"):
            if not 0 < self[key] < 65536:
                raise usage.UsageError(f"{key} must be between 1 and 65535")
        import os

        from kea_twisted.paths import OPTIONS, PathPolicy, install_policy

        # Set once from the command line and environment: config-set cannot change it.
        self.path_policy = PathPolicy.from_sources(
            {kind: self[option] for kind, option in OPTIONS.items()},
            os.environ if self.environ is None else self.environ,
        )
        install_policy(self.path_policy)
        if self["test"]:
            config = check_config(self["test"], self.stdout, self.stderr)
            self._exit(0 if config is not None else 1)
            return
        if not self["config"]:
            raise usage.UsageError("a configuration file is required: -c FILE")
        config = check_config(self["config"], self.stdout, self.stderr)
        if config is None:
            self._exit(1)
            return
        from kea_twisted.config.staging import check_runnable

        try:
            self.warnings = check_runnable(config)
        except ConfigError as e:
            self.stderr.write(e.kea_report() + "\n")
            self._exit(1)
            return
        self.staged = config
        parent = getattr(self, "parent", None)
        if parent is not None and not parent.get("logger") and not parent.get("logfile"):
            # Kea's log lines and loggers config instead of twistd's format.
            parent["logger"] = "kea_twisted.logs.twistd_observer"


def makeService(options: Options) -> service.IService:
    """The service tree for one server; wiring only."""
    from kea_twisted.net.services import Dhcp4Service

    top = service.MultiService()
    staged = getattr(options, "staged", None)
    if staged is None:
        from kea_twisted.config.staging import stage_config_file

        staged = stage_config_file(options["config"])
    policy = getattr(options, "path_policy", None)
    for message in policy.startup_messages() if policy is not None else ():
        log.warn("{msgid} {message}", msgid="KEA_TWISTED_PATHS", message=message)
    advice = pypy_gc_advice(platform.python_implementation(), os.environ)
    if advice is not None:
        log.warn("{msgid} {message}", msgid="KEA_TWISTED_PYPY_GC", message=advice)
    for warning in getattr(options, "warnings", ()):
        log.warn("{msgid} {warning}", msgid="DHCP4_FEATURE_NOT_AVAILABLE", warning=warning)
    dhcp4 = Dhcp4Service(
        options["config"],
        staged,
        server_port=options["port"],
        client_port=options["client-port"] if options["client-port"] != 68 else None,
    )
    dhcp4.setServiceParent(top)
    from twisted.internet import reactor

    reactor.addSystemEventTrigger("after", "shutdown", _exit_with_status, dhcp4)
    return top


def _exit_with_status(dhcp4) -> None:
    """``shutdown`` with ``exit-value`` (and a failed start): twistd has no
    exit code of its own to give, so leave with the service's once the
    reactor has stopped and the services are down."""
    status = int(getattr(dhcp4, "exit_status", 0) or 0)
    if status:
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
