"""
Path confinement: where a configuration may point the server at files.

Kea 2.6.3 closed CVE-2025-32801/32802/32803 (a ``config-set`` on the
control socket could load any library, or make the server write any file)
by accepting hook libraries, memfile lease files, log files and unix
control sockets only in one directory each, and ``config-write`` only next
to the ``-c`` file [src Kea-2.6.3 ``src/lib/util/filesystem.cc``
``PathChecker``, ``src/lib/process/daemon.cc`` ``checkWriteConfigFile``].
The directories come from the command line or Kea's environment variables
(:data:`ENVIRONMENT`), never from the configuration, so a ``config-set``
cannot widen them.

kea_twisted's rule (the project owners'): with no directory set by option
or environment, paths are unconfined as in Kea 2.2 and one warning says so
at start; once any directory is set, every kind is confined, the kinds not
set falling back to Kea's install directories (:data:`DEFAULTS`).  When
confined:

* a path whose directory is not exactly the allowed one is a config error
  in Kea's words: ``invalid path specified: '<dir>', supported path is
  '<allowed>'``;
* a bare file name is taken in the allowed directory (``my_hook.py`` ->
  ``<hooks dir>/my_hook.py``, ``kea-leases4.csv`` -> ``<data
  dir>/kea-leases4.csv``);
* a hook library whose file name is one of Kea's built-in libraries
  (``/opt/lib/kea/hooks/libdhcp_ha.so``) selects kea_twisted's built-in
  module wherever the path points: no file is opened, so nothing outside
  can be loaded through it;
* ``config-write`` writes only into the ``-c`` file's directory (Kea's
  ``file X must be in the same directory as the config file (C)``).

Pure: no reactor.  The policy in force is process-wide
(:func:`install_policy` at start, :func:`current_policy` when staging).

Tests: tests/test_paths.py
"""

from __future__ import annotations

import dataclasses
import os
import stat
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from kea_twisted.config.errors import ConfigError

__all__ = [
    "ENVIRONMENT",
    "DEFAULTS",
    "OPTIONS",
    "PathError",
    "PathPolicy",
    "current_policy",
    "install_policy",
    "confine_config",
    "insecure_permissions",
    "key_file_warning",
]

#: Kind -> Kea 2.6.3's environment variable naming its directory.
ENVIRONMENT: Dict[str, str] = {
    "hooks": "KEA_HOOKS_PATH",
    "data": "KEA_DHCP_DATA_DIR",
    "logs": "KEA_LOG_FILE_DIR",
    "sockets": "KEA_CONTROL_SOCKET_DIR",
}

#: Kind -> the command-line option (``--hooks-dir DIR``) of ``kea-twisted-dhcp4`` and ``twistd kea4``.
OPTIONS: Dict[str, str] = {
    "hooks": "hooks-dir",
    "data": "data-dir",
    "logs": "log-dir",
    "sockets": "socket-dir",
}

#: Kea's install directories (Debian's build), used for a kind left unset
#: once confinement is on.
DEFAULTS: Dict[str, str] = {
    "hooks": "/usr/lib/x86_64-linux-gnu/kea/hooks",
    "data": "/var/lib/kea",
    "logs": "/var/log/kea",
    "sockets": "/run/kea",
}

# Logger outputs that are not files.
_NOT_FILES = ("stdout", "stderr", "syslog")


class PathError(ValueError):
    """A path outside its allowed directory; ``str()`` is Kea's reason."""


def _strip(directory: str) -> str:
    # Kea drops trailing slashes so that the comparison with a parent path works.
    while len(directory) > 1 and directory.endswith("/"):
        directory = directory[:-1]
    return directory


def _same_directory(a: str, b: str) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


@dataclass(frozen=True)
class PathPolicy:
    """The allowed directory of each kind (``hooks``, ``data``, ``logs``,
    ``sockets``) and whether they are enforced.  ``sources`` says where
    each came from (``option``, ``environment`` or ``default``)."""

    directories: Mapping[str, str] = dataclasses.field(default_factory=dict)
    confined: bool = False
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def unconfined(cls) -> "PathPolicy":
        """Kea 2.2's behaviour: any path is accepted."""
        return cls()

    @classmethod
    def from_sources(cls, options: Optional[Mapping[str, Optional[str]]] = None,
                     environ: Optional[Mapping[str, str]] = None) -> "PathPolicy":
        """The policy for ``options`` (kind -> directory or None; an option
        wins over the environment) and ``environ``.  Empty values count as
        unset.  Confined as soon as one kind is set."""
        options = options or {}
        environ = {} if environ is None else environ
        directories: Dict[str, str] = {}
        sources: Dict[str, str] = {}
        for kind, variable in ENVIRONMENT.items():
            value = options.get(kind)
            if value:
                directories[kind], sources[kind] = _strip(value), "option"
            elif environ.get(variable):
                directories[kind], sources[kind] = _strip(environ[variable]), "environment"
        if not directories:
            return cls.unconfined()
        for kind, default in DEFAULTS.items():
            if kind not in directories:
                directories[kind], sources[kind] = default, "default"
        return cls(directories=directories, confined=True, sources=sources)

    def directory(self, kind: str) -> Optional[str]:
        """The allowed directory of ``kind``, or None when unconfined."""
        return self.directories.get(kind) if self.confined else None

    # -- checks --------------------------------------------------------------

    def validate(self, kind: str, path: str) -> str:
        """``path`` as the server must use it: unchanged when unconfined; a
        bare name joined to the allowed directory; else the path when its
        directory is the allowed one.  Raises :class:`PathError`."""
        if not self.confined:
            return path
        allowed = self.directories[kind]
        text = path.strip()
        parent, name = os.path.split(text)
        if not name:
            raise PathError(f"path: '{text}' has no filename")
        if not parent:
            return os.path.join(allowed, name)
        if not _same_directory(parent, allowed) or ".." in parent.split("/"):
            raise PathError(f"invalid path specified: '{parent}', supported path is '{allowed}'")
        return text

    def hook_library(self, path: str, builtin_names: Any = ()) -> str:
        """The file to load for a ``hooks-libraries`` entry.  Built-in
        library names are returned unchanged (they select a module, not a
        file)."""
        if os.path.basename(path.strip()) in builtin_names:
            return path
        return self.validate("hooks", path)

    def lease_file(self, path: Optional[str]) -> Optional[str]:
        """The memfile lease file; None (Kea's default name) becomes
        ``<data dir>/kea-leases4.csv`` when confined."""
        if path is None:
            return os.path.join(self.directories["data"], "kea-leases4.csv") if self.confined else None
        return self.validate("data", path)

    def log_output(self, output: str) -> str:
        """A logger ``output``: stdout, stderr and syslog[:facility] pass."""
        if output in _NOT_FILES or output.startswith("syslog:"):
            return output
        return self.validate("logs", output)

    def control_socket(self, path: str) -> str:
        """A unix control socket's ``socket-name``."""
        return self.validate("sockets", path)

    def config_write(self, filename: str, config_file: Optional[str]) -> str:
        """Where ``config-write {"filename": ...}`` may write: anywhere when
        unconfined; else only in the ``-c`` file's directory (a bare name is
        put there), as Kea 2.6.3's ``checkWriteConfigFile``."""
        if not self.confined:
            return filename
        if not config_file:
            raise PathError("Unable to determine the configuration file directory")
        parent, name = os.path.split(filename)
        if not name:
            raise PathError(f"config file:{filename} is missing file name")
        config_dir = os.path.dirname(config_file) or "."
        if not parent:
            return os.path.join(config_dir, name)
        if _same_directory(parent, config_dir) and ".." not in parent.split("/"):
            return filename
        raise PathError(f"file {filename} must be in the same directory as the config file ({config_file})")

    # -- start-up ------------------------------------------------------------

    def startup_messages(self) -> List[str]:
        """What to log once at start: the unconfined warning, or the
        directories in force and any with unsafe permissions."""
        if not self.confined:
            variables = ", ".join(ENVIRONMENT.values())
            options = ", ".join("--" + o for o in OPTIONS.values())
            return [
                "paths are not confined (as in Kea 2.2): config-set can load any hook library and "
                "write lease, log, socket and config-write files anywhere; set the directories with "
                f"{options} or {variables}"
            ]
        messages = []
        for kind in ENVIRONMENT:
            warning = insecure_permissions(self.directories[kind])
            if warning:
                messages.append(f"{kind} directory {warning}")
        return messages


_policy = PathPolicy.unconfined()


def current_policy() -> PathPolicy:
    """The policy staging applies (process-wide)."""
    return _policy


def install_policy(policy: PathPolicy) -> PathPolicy:
    """Make ``policy`` the process-wide one; returns the previous one (tests
    put it back in a cleanup)."""
    global _policy
    previous, _policy = _policy, policy
    return previous


def confine_config(config: Any, policy: Optional[PathPolicy] = None, builtin_names: Any = None) -> Any:
    """Check every path ``config`` (a :class:`~kea_twisted.config.model.Dhcp4Config`)
    names against ``policy`` (default :func:`current_policy`); return the
    model with bare names placed in their directories.  Raises
    :class:`ConfigError` at the offending entry's position."""
    policy = current_policy() if policy is None else policy
    if not policy.confined:
        return config
    if builtin_names is None:
        from kea_twisted.config.staging import BUILTIN_HOOK_LIBRARIES as builtin_names
    changes: Dict[str, Any] = {}
    for library in getattr(config, "hooks_libraries", ()) or ():
        try:
            policy.hook_library(library.library, builtin_names)
        except PathError as e:
            source = getattr(library, "source", None)
            raise ConfigError(str(e), getattr(source, "pos", None) or library.pos) from None
    database = getattr(config, "lease_database", None)
    if database is not None and database.type == "memfile" and database.persist:
        # A name filled in by the defaults (not configured) is Kea's default
        # file name, which Kea 2.6.3 places in the data directory.
        configured = database.name if "name" in (database.parameters or {}) else None
        try:
            name = policy.lease_file(configured)
        except PathError as e:
            raise ConfigError(f"Could not open lease file: {e}", database.pos) from None
        if name != database.name:
            changes["lease_database"] = dataclasses.replace(database, name=name)
    loggers = []
    for logger in getattr(config, "loggers", ()) or ():
        outputs = []
        for output in logger.output_options:
            try:
                outputs.append(dataclasses.replace(output, output=policy.log_output(output.output)))
            except PathError as e:
                raise ConfigError(f"Unable to open log file: {e}", logger.pos) from None
        loggers.append(dataclasses.replace(logger, output_options=tuple(outputs)))
    if loggers:
        changes["loggers"] = tuple(loggers)
    socket = getattr(config, "control_socket", None)
    if socket is not None and socket.socket_name:
        try:
            name = policy.control_socket(socket.socket_name)
        except PathError as e:
            raise ConfigError(f"Unable to set up control socket: {e}", socket.pos) from None
        if name != socket.socket_name:
            changes["control_socket"] = dataclasses.replace(socket, socket_name=name)
    return dataclasses.replace(config, **changes) if changes else config


def insecure_permissions(path: str) -> Optional[str]:
    """A warning when ``path`` is writable by group or others (anyone who
    can write there can plant a library or swap a file), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by group or others (mode {stat.S_IMODE(mode):04o})"
    return None


def key_file_warning(path: str) -> Optional[str]:
    """A warning when a private key file is readable by group or others.
    Warn, never refuse: operators share keys with a group on purpose."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"private key file {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o})"
    return None
