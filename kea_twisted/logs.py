"""
Kea's ``loggers`` on top of ``twisted.logger``.

Operators search Kea's logs by message ID (``DHCP4_LEASE_ALLOC``,
``DHCP4_PACKET_NAK_0001``…) and by logger name (``kea-dhcp4.packets``), and
configure output per logger name with a severity, a debug level and a list of
outputs (stdout, stderr, syslog, a file with rotation).  This module keeps
those semantics:

* code logs through ``twisted.logger.Logger(namespace=...)`` with one of
  Kea's logger names as the namespace (see :func:`kea_logger`), a ``msgid``
  field and, for debug events, a ``debuglevel`` field (Kea's ``DBG_*``
  constants are below);
* :class:`KeaLogObserver` routes each event to the most specific configured
  logger (``kea-dhcp4.packets`` falls back to ``kea-dhcp4``), filters by
  severity and debug level as Kea does, formats with Kea's log4cplus pattern
  (``%D{%Y-%m-%d %H:%M:%S.%q} %-5p [%c/%i.%t] %m\\n`` by default) and writes
  to the outputs.  Until :meth:`KeaLogObserver.configure` is called events
  are buffered, as Kea buffers log messages until its configuration is read
  (``logger_manager_impl.cc`` ``createBufferAppender``).

Tests: tests/test_logs.py
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any, Callable, Dict, IO, List, Optional, Sequence, Tuple

from twisted.logger import ILogObserver, LogLevel, Logger, formatEvent
from zope.interface import implementer

__all__ = [
    "ROOT_LOGGER",
    "DBG_START",
    "DBG_COMMAND",
    "DBG_TRACE_BASIC",
    "DBG_TRACE_BASIC_DATA",
    "DBG_TRACE_DETAIL",
    "DBG_TRACE_DETAIL_DATA",
    "kea_logger",
    "KeaLogger",
    "gate_emission",
    "enabled",
    "compile_pattern",
    "OutputSpec",
    "LoggerSpec",
    "KeaLogObserver",
    "format_pattern",
    "DEFAULT_CONSOLE_PATTERN",
    "DEFAULT_FILE_PATTERN",
    "DEFAULT_SYSLOG_PATTERN",
    "daemon_observer",
    "twistd_observer",
    "logger_specs",
]

ROOT_LOGGER = "kea-dhcp4"

# Kea's debug levels (src/lib/log/log_dbglevels.h; dhcp4_log.cc maps its
# DBG_DHCP4_* names onto these).
DBG_START = 0
DBG_COMMAND = 10
DBG_TRACE_BASIC = 40
DBG_TRACE_BASIC_DATA = 45
DBG_TRACE_DETAIL = 50
DBG_TRACE_DETAIL_DATA = 55

# Kea's default layouts (src/lib/log/output_option.cc).
DEFAULT_CONSOLE_PATTERN = "%D{%Y-%m-%d %H:%M:%S.%q} %-5p [%c/%i.%t] %m\n"
DEFAULT_FILE_PATTERN = DEFAULT_CONSOLE_PATTERN
DEFAULT_SYSLOG_PATTERN = "%-5p [%c.%t] %m\n"

# Kea severities, least to most severe; NONE silences a logger.
_SEVERITY_RANK = {"DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40, "FATAL": 50, "NONE": 100}
_LEVEL_TO_SEVERITY = {
    LogLevel.debug: "DEBUG",
    LogLevel.info: "INFO",
    LogLevel.warn: "WARN",
    LogLevel.error: "ERROR",
    LogLevel.critical: "FATAL",
}


# Kea's highest debug level: with no gate every event is published.
_MAX_DEBUGLEVEL = 99
_LEVELS = frozenset(LogLevel.iterconstants())

# Every KeaLogger, so a new gate or a reconfigured one can update what
# each of them writes (:meth:`KeaLogger._refresh`).
_loggers: "weakref.WeakSet[KeaLogger]" = weakref.WeakSet()


class KeaLogger(Logger):
    """A Twisted ``Logger`` that knows, from the process's Kea log observer
    (once one is installed with :func:`gate_emission`), which events would
    be written, and skips the others before building and publishing them:
    a debug line that the configuration turns off then costs an attribute
    test, not an event passed through the publisher and discarded by the
    observer.  Failures are always emitted.

    :ivar debug_level: the highest debug level written (-1: no debug
        line is); per-packet call sites test it before computing the
        fields of a debug line (``if log.debug_level >= 40: log.debug(…)``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.debug_level = _MAX_DEBUGLEVEL
        self._written = _LEVELS
        self._refresh()
        _loggers.add(self)

    def _refresh(self) -> None:
        """What the gate writes for this logger (everything without one)."""
        gate = _gate
        if gate is None:
            self.debug_level, self._written = _MAX_DEBUGLEVEL, _LEVELS
            return
        written = frozenset(level for level in _LEVELS if gate.wants(self.namespace, level, 0))
        debug = -1
        if LogLevel.debug in written:
            debug = _MAX_DEBUGLEVEL
            while debug >= 0 and not gate.wants(self.namespace, LogLevel.debug, debug):
                debug -= 1
        self.debug_level, self._written = debug, written

    def emit(self, level: LogLevel, format: Optional[str] = None, **kwargs: object) -> None:
        if _gate is None or "log_failure" in kwargs or "log_trace" in kwargs or level not in _LEVELS:
            Logger.emit(self, level, format, **kwargs)
            return
        if level not in self._written:
            return
        if level is LogLevel.debug and kwargs.get("debuglevel", 0) > self.debug_level:  # type: ignore[operator]
            return
        # Logger.emit's event, built here: Logger.emit checks the level
        # against LogLevel.iterconstants(), which sorts the constants on
        # every call (a tenth of a logged line's cost).
        event = kwargs
        event.update(log_logger=self, log_level=level, log_namespace=self.namespace,
                     log_source=self.source, log_format=format, log_time=time.time())
        self.observer(event)


def kea_logger(name: str) -> KeaLogger:
    """A Twisted logger publishing under Kea's logger ``name``.

    ``kea_logger("packets")`` and ``kea_logger("kea-dhcp4.packets")`` are the
    same logger (Kea prefixes child names with the daemon's root name).
    """
    if name != ROOT_LOGGER and not name.startswith(ROOT_LOGGER + "."):
        name = f"{ROOT_LOGGER}.{name}"
    return KeaLogger(namespace=name)


_gate: Optional["KeaLogObserver"] = None


def gate_emission(observer: Optional["KeaLogObserver"]) -> None:
    """Declare ``observer`` the process's only log destination: from then
    on :class:`KeaLogger` skips events it would not write (None: emit
    everything again).  Only for a daemon whose observer is the one that
    matters (twistd's ``--logger``): a test watching the global publisher
    would miss what the gate holds back."""
    global _gate
    _gate = observer
    _refresh_loggers()


def _refresh_loggers() -> None:
    for logger in list(_loggers):
        logger._refresh()


def enabled(logger: Logger, level: LogLevel, debuglevel: int = 0) -> bool:
    """Whether ``logger`` would write an event of ``level`` (and debug
    level) now; for call sites whose arguments are costly to compute."""
    if isinstance(logger, KeaLogger):
        if level is LogLevel.debug:
            return debuglevel <= logger.debug_level
        return level in logger._written
    gate = _gate
    return gate is None or gate.wants(logger.namespace, level, debuglevel)


@dataclass(frozen=True)
class OutputSpec:
    """One entry of a logger's ``output_options`` / ``output-options``."""

    output: str = "stdout"
    flush: bool = True
    maxsize: int = 10240000
    maxver: int = 1
    pattern: str = ""


@dataclass(frozen=True)
class LoggerSpec:
    """One entry of ``loggers``: Kea's defaults are INFO, debuglevel 0."""

    name: str
    severity: str = "INFO"
    debuglevel: int = 0
    output_options: Tuple[OutputSpec, ...] = field(default_factory=lambda: (OutputSpec(),))


_PATTERN_TOKEN = re.compile(r"%(-?)(\d*)([a-zA-Z%])(\{[^}]*\})?")


def format_pattern(
    pattern: str,
    *,
    when: float,
    severity: str,
    logger: str,
    message: str,
    pid: int,
    thread: int,
) -> str:
    """Render a log4cplus ``PatternLayout`` subset as Kea uses it.

    ``%D{fmt}``/``%d{fmt}`` local/UTC time through strftime with ``%q`` for
    milliseconds, ``%p`` severity, ``%c`` logger name, ``%i`` process id,
    ``%t`` thread id, ``%m`` message, ``%n`` newline, ``%%``; a ``-`` flag
    and a width pad like printf.
    """
    return compile_pattern(pattern)(when, severity, logger, message, pid, thread)


class _Clock:
    """``%D{fmt}``/``%d{fmt}``: strftime once per second (a log line per
    lease is the common case at INFO), the milliseconds added per line."""

    __slots__ = ("parts", "local", "second", "texts", "prefix", "suffix")

    def __init__(self, fmt: str, local: bool):
        self.parts = fmt.split("%q")
        self.local = local
        self.second: Optional[int] = None
        self.texts: List[str] = []
        # The usual format has one %q: the text around it, per second.
        self.prefix = self.suffix = ""

    def __call__(self, when: float) -> str:
        second = int(when // 1)
        if second != self.second:
            tm = time.localtime(when) if self.local else time.gmtime(when)
            self.texts = [time.strftime(part, tm) if part else "" for part in self.parts]
            if len(self.texts) == 2:
                self.prefix, self.suffix = self.texts
            self.second = second
        texts = self.texts
        if len(texts) == 1:
            return texts[0]
        if len(texts) == 2:
            return "%s%03d%s" % (self.prefix, int((when % 1) * 1000), self.suffix)
        return f"{int((when % 1) * 1000):03d}".join(texts)


@lru_cache(maxsize=64)
def compile_pattern(pattern: str) -> Callable[[float, str, str, str, int, int], str]:
    """A pattern turned once into a function ``(when, severity, logger,
    message, pid, thread) -> line`` (what :func:`format_pattern` renders)."""
    # The pattern becomes one %-format template over the fields in
    # pattern order (literal "%" doubled, a width as "%-5s" or "%5s"), and
    # a line is one itemgetter and one % operation, not a loop over the
    # pieces.  Fields: 0 severity, 1 pid, 2 logger, 3 message, 4 thread,
    # 5… the clocks.
    template: List[str] = []
    order: List[int] = []
    clocks: List[_Clock] = []

    def literal(text: str) -> None:
        template.append(text.replace("%", "%%"))

    pos = 0
    for match in _PATTERN_TOKEN.finditer(pattern):
        if match.start() > pos:
            literal(pattern[pos:match.start()])
        pos = match.end()
        left, width, conv, arg = match.groups()
        if conv in "Dd":
            order.append(5 + len(clocks))
            clocks.append(_Clock((arg or "{%Y-%m-%d %H:%M:%S,%q}")[1:-1], conv == "D"))
        elif conv in "picmt":
            order.append("picmt".index(conv))
        elif conv in "%n":
            text = "%" if conv == "%" else "\n"
            literal(text.ljust(int(width)) if width and left else text.rjust(int(width or 0)))
            continue
        else:
            literal(match.group(0))
            continue
        template.append("%" + ("-" if left and width else "") + (width or "") + "s")
    if pos < len(pattern):
        literal(pattern[pos:])
    fmt = "".join(template)
    pick = itemgetter(*order) if len(order) > 1 else (lambda values: tuple(values[i] for i in order))

    if len(clocks) == 1:
        clock = clocks[0]

        def render(when: float, severity: str, logger: str, message: str, pid: int, thread: int) -> str:
            return fmt % pick((severity, pid, logger, message, thread, clock(when)))
    else:
        def render(when: float, severity: str, logger: str, message: str, pid: int, thread: int) -> str:
            values: Tuple[Any, ...] = (severity, pid, logger, message, thread)
            for clock_ in clocks:
                values += (clock_(when),)
            return fmt % pick(values)

    return render


class _Sink:
    """Where formatted lines go: a stream, a rotating file, or syslog."""

    def __init__(self, spec: OutputSpec, streams: Dict[str, IO[str]], opener: Callable[..., IO[str]]):
        self.spec = spec
        self._file: Optional[IO[str]] = None
        self._stream: Optional[IO[str]] = None
        self._syslog_facility: Optional[str] = None
        out = spec.output
        if out in ("stdout", "stderr"):
            self._stream = streams[out]
            self.pattern = spec.pattern or DEFAULT_CONSOLE_PATTERN
        elif out == "syslog" or out.startswith("syslog:"):
            self._syslog_facility = out.partition(":")[2] or "user"
            self.pattern = spec.pattern or DEFAULT_SYSLOG_PATTERN
        else:
            self._opener = opener
            self._open()
            self.pattern = spec.pattern or DEFAULT_FILE_PATTERN
        self.render = compile_pattern(self.pattern)

    def _open(self) -> None:
        self._file = self._opener(self.spec.output, "a")
        # The size rotation is judged by: counted per line, so a line costs
        # no tell() (a seek system call); read once here.
        try:
            self._size = self._file.tell()
        except (OSError, ValueError):
            self._size = 0

    def write(self, line: str, severity: str) -> None:
        if self._stream is not None:
            self._stream.write(line)
            if self.spec.flush:
                self._stream.flush()
        elif self._file is not None:
            self._file.write(line)
            if self.spec.flush:
                self._file.flush()
            self._size += len(line) if line.isascii() else len(line.encode(self._encoding()))
            if self.spec.maxsize and self._size >= self.spec.maxsize:
                self._maybe_rotate()
        elif self._syslog_facility is not None:
            _write_syslog(self._syslog_facility, severity, line)

    def _encoding(self) -> str:
        return getattr(self._file, "encoding", None) or "utf-8"

    def _maybe_rotate(self) -> None:
        # log4cplus RollingFileAppender: past maxsize, file -> file.1 -> … ->
        # file.<maxver>; Kea treats maxsize 0 as "never rotate".  The file's
        # own size decides (as log4cplus's tellp), read once the lines
        # counted here reach maxsize.
        spec = self.spec
        if not spec.maxsize or self._file is None:
            return
        try:
            size = self._size = self._file.tell()
        except (OSError, ValueError):
            return
        if size < spec.maxsize:
            return
        self._file.close()
        path = spec.output
        for index in range(max(spec.maxver, 1) - 1, 0, -1):
            older = f"{path}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{path}.{index + 1}")
        os.replace(path, f"{path}.1")
        self._open()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_SYSLOG_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3, "FATAL": 2}


def _write_syslog(facility: str, severity: str, line: str) -> None:
    import syslog

    code = getattr(syslog, "LOG_" + facility.upper(), syslog.LOG_USER)
    syslog.openlog(ROOT_LOGGER, 0, code)
    syslog.syslog(_SYSLOG_PRIORITY.get(severity, 6), line.rstrip("\n"))


@implementer(ILogObserver)
class KeaLogObserver:
    """Routes Twisted log events through Kea's ``loggers`` configuration.

    :param streams: ``{"stdout": …, "stderr": …}``, replaceable in tests.
    :param opener: opens log files (``open`` by default).
    :param buffer_limit: events kept before :meth:`configure`; Kea's buffer
        is unbounded, ours is bounded so a daemon that never configures
        cannot grow without end.
    """

    def __init__(
        self,
        streams: Optional[Dict[str, IO[str]]] = None,
        opener: Callable[..., IO[str]] = open,
        pid: Optional[int] = None,
        buffer_limit: int = 10000,
    ):
        self._streams = streams or {"stdout": sys.stdout, "stderr": sys.stderr}
        self._opener = opener
        self._pid = os.getpid() if pid is None else pid
        self._pid_text = str(self._pid)
        self._thread: Tuple[Optional[int], str] = (None, "")
        self._specs: Optional[Dict[str, LoggerSpec]] = None
        self._sinks: Dict[str, List[_Sink]] = {}
        self._buffer: List[dict] = []
        self._buffer_limit = buffer_limit
        self._limits_cache: Dict[str, Tuple[str, int, int]] = {}
        self._routes: Dict[Any, Tuple[str, int, int, Sequence[_Sink]]] = {}

    def configure(self, loggers: Sequence[LoggerSpec]) -> None:
        """Apply a (new) ``loggers`` list and flush buffered events.

        With no entry for the root logger Kea logs INFO to stdout, so that
        default is added when the configuration has none.
        """
        for sinks in self._sinks.values():
            for sink in sinks:
                sink.close()
        specs = {spec.name: spec for spec in loggers}
        specs.setdefault(ROOT_LOGGER, LoggerSpec(ROOT_LOGGER))
        self._specs = specs
        self._limits_cache = {}
        self._routes = {}
        self._sinks = {
            name: [_Sink(out, self._streams, self._opener) for out in spec.output_options]
            for name, spec in specs.items()
        }
        buffered, self._buffer = self._buffer, []
        for event in buffered:
            self(event)
        if _gate is self:
            _refresh_loggers()

    def close(self) -> None:
        for sinks in self._sinks.values():
            for sink in sinks:
                sink.close()
        self._sinks = {}
        self._routes = {}

    def _spec_for(self, name: str) -> Tuple[str, LoggerSpec]:
        """The most specific configured logger for ``name`` (Kea's child
        loggers inherit their parent's settings unless configured)."""
        assert self._specs is not None
        probe = name
        while True:
            spec = self._specs.get(probe)
            if spec is not None:
                return probe, spec
            if "." not in probe:
                return ROOT_LOGGER, self._specs[ROOT_LOGGER]
            probe = probe.rsplit(".", 1)[0]

    def _limits(self, namespace: str) -> Tuple[str, int, int]:
        """``(configured logger, lowest severity rank, debug level)`` for
        events of ``namespace``, worked out once per configuration."""
        limits = self._limits_cache.get(namespace)
        if limits is None:
            if namespace != ROOT_LOGGER and not namespace.startswith(ROOT_LOGGER + "."):
                # Twisted's own events (reactor start, ports) go to the root.
                namespace = ROOT_LOGGER
            configured, spec = self._spec_for(namespace)
            limits = (configured, _SEVERITY_RANK.get(spec.severity.upper(), 20), spec.debuglevel)
            self._limits_cache[namespace] = limits
        return limits

    def wants(self, namespace: str, level: LogLevel, debuglevel: int = 0) -> bool:
        """Whether an event of this logger, level and debug level would be
        written (True until :meth:`configure`: events are buffered then)."""
        if self._specs is None:
            return True
        _configured, lowest, max_debug = self._limits(namespace or ROOT_LOGGER)
        severity = _LEVEL_TO_SEVERITY.get(level, "INFO")
        if _SEVERITY_RANK[severity] < lowest:
            return False
        return severity != "DEBUG" or debuglevel <= max_debug

    def _route(self, namespace: str) -> Tuple[str, int, int, Sequence[_Sink]]:
        """``(logger name shown, lowest severity rank, debug level, sinks)``
        for events of ``namespace`` as published, once per configuration."""
        route = self._routes.get(namespace)
        if route is None:
            shown = namespace or ROOT_LOGGER
            if shown != ROOT_LOGGER and not shown.startswith(ROOT_LOGGER + "."):
                shown = ROOT_LOGGER
            configured, lowest, max_debug = self._limits(shown)
            route = self._routes[namespace] = (shown, lowest, max_debug, self._sinks.get(configured, ()))
        return route

    def __call__(self, event: dict) -> None:
        if self._specs is None:
            if len(self._buffer) < self._buffer_limit:
                self._buffer.append(event)
            return
        namespace, lowest, max_debug, sinks = self._route(event.get("log_namespace"))
        severity = _LEVEL_TO_SEVERITY.get(event.get("log_level"), "INFO")
        failure = event.get("log_failure")
        if failure is not None and severity == "INFO":
            severity = "ERROR"
        if _SEVERITY_RANK[severity] < lowest:
            return
        if severity == "DEBUG" and int(event.get("debuglevel", 0)) > max_debug:
            return
        message = _format(event)
        msgid = event.get("msgid")
        if msgid and not message.startswith(msgid):
            message = f"{msgid} {message}"
        if failure is not None:
            message = f"{message}\n{failure.getTraceback()}"
        when = event.get("log_time") or time.time()
        # The pattern shows ids as text: converted once, not per line.
        # (one tuple: threads may log at once).
        thread = self._thread
        if thread[0] != threading.get_ident():
            thread = self._thread = (threading.get_ident(), str(threading.get_ident()))
        for sink in sinks:
            sink.write(sink.render(when, severity, namespace, message, self._pid_text,  # type: ignore[arg-type]
                                   thread[1]), severity)  # type: ignore[arg-type]


def _format(event: dict) -> str:
    """``formatEvent``; plain ``{name}`` formats (all of ours) through
    ``str.format_map``, several times cheaper than Twisted's formatter,
    which handles the rest (``{f()}`` calls, failures to format)."""
    fmt = event.get("log_format")
    if fmt is not None and "(" not in fmt:
        try:
            return fmt.format_map(event)
        except Exception:
            pass
    return formatEvent(event)


# The daemon's one observer: twistd asks for it by name (``--logger``, set
# by the kea4 subcommand) before the configuration is read, so it buffers
# until the service configures it with the ``loggers`` of the config.
daemon_observer = KeaLogObserver()


def twistd_observer() -> KeaLogObserver:
    """Log observer factory for ``twistd --logger=kea_twisted.logs.twistd_observer``:
    the daemon's observer, which then gates emission (:func:`gate_emission`)."""
    gate_emission(daemon_observer)
    return daemon_observer


def logger_specs(loggers) -> List[LoggerSpec]:
    """Model ``loggers`` entries (objects or plain dicts in Kea's spelling)
    to :class:`LoggerSpec` values."""

    def get(obj, *names, default=None):
        for name in names:
            if isinstance(obj, dict):
                if name in obj:
                    return obj[name]
            elif hasattr(obj, name):
                return getattr(obj, name)
        return default

    specs = []
    for entry in loggers or ():
        outputs = []
        for out in get(entry, "output_options", "output-options", default=()) or ():
            outputs.append(
                OutputSpec(
                    output=get(out, "output", default="stdout"),
                    flush=bool(get(out, "flush", default=True)),
                    maxsize=int(get(out, "maxsize", default=10240000)),
                    maxver=int(get(out, "maxver", default=1)),
                    pattern=get(out, "pattern", default="") or "",
                )
            )
        specs.append(
            LoggerSpec(
                name=get(entry, "name"),
                severity=(get(entry, "severity", default="INFO") or "INFO").upper(),
                debuglevel=int(get(entry, "debuglevel", default=0) or 0),
                output_options=tuple(outputs) or (OutputSpec(),),
            )
        )
    return specs
