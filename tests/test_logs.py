"""
Tests for kea_twisted.logs: Kea's loggers configuration over twisted.logger.
"""

from __future__ import annotations

import io
import os
import time

from twisted.logger import InvalidLogLevelError, LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject
from twisted.logger import ILogObserver

from kea_twisted import logs
from kea_twisted.logs import KeaLogObserver, LoggerSpec, OutputSpec, format_pattern


def _event(namespace, text, level=LogLevel.info, **fields):
    event = {
        "log_namespace": namespace,
        "log_level": level,
        "log_format": text,
        "log_time": 1764057501.595,
    }
    event.update(fields)
    return event


class PatternTests(SynchronousTestCase):
    def test_default_console_pattern(self):
        """Kea's default layout: local time with milliseconds, severity padded
        to 5, [logger/pid.thread], message (as in kea-dhcp4's own output)."""
        line = format_pattern(
            logs.DEFAULT_CONSOLE_PATTERN,
            when=1764057501.595,
            severity="INFO",
            logger="kea-dhcp4.dhcpsrv",
            message="DHCPSRV_X text",
            pid=2451,
            thread=7,
        )
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1764057501.595))
        self.assertEqual(line, f"{stamp}.595 INFO  [kea-dhcp4.dhcpsrv/2451.7] DHCPSRV_X text\n")

    def test_syslog_pattern(self):
        """The syslog layout has no time and joins logger and thread with '.'."""
        line = format_pattern(
            logs.DEFAULT_SYSLOG_PATTERN, when=0, severity="WARN", logger="kea-dhcp4",
            message="m", pid=1, thread=2,
        )
        self.assertEqual(line, "WARN  [kea-dhcp4.2] m\n")

    def test_custom_pattern(self):
        """%p, %c, %m, %n, %% and right-aligned width."""
        line = format_pattern("%5p|%c|%m%n%%", when=0, severity="INFO", logger="a", message="b",
                              pid=1, thread=1)
        self.assertEqual(line, " INFO|a|b\n%")


class ObserverTests(SynchronousTestCase):
    def setUp(self):
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.observer = KeaLogObserver(streams={"stdout": self.out, "stderr": self.err}, pid=1)

    def test_interface(self):
        """The observer is an ILogObserver."""
        verifyObject(ILogObserver, self.observer)

    def test_buffered_until_configured(self):
        """Events before configuration are kept and written once configured,
        as Kea buffers log messages until it has read its loggers."""
        self.observer(_event("kea-dhcp4.dhcp4", "{msgid} started", msgid="DHCP4_STARTED"))
        self.assertEqual(self.out.getvalue(), "")
        self.observer.configure([])
        self.assertIn("INFO  [kea-dhcp4.dhcp4/1.", self.out.getvalue())
        self.assertIn("] DHCP4_STARTED started\n", self.out.getvalue())

    def test_msgid_prefixed(self):
        """A message whose text lacks its msgid gets it in front."""
        self.observer.configure([])
        self.observer(_event("kea-dhcp4.leases", "lease {a} allocated", msgid="DHCP4_LEASE_ALLOC", a="10.0.0.1"))
        self.assertIn("] DHCP4_LEASE_ALLOC lease 10.0.0.1 allocated\n", self.out.getvalue())

    def test_severity_filter(self):
        """A logger at WARN drops INFO and keeps WARN and ERROR."""
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="WARN")])
        self.observer(_event("kea-dhcp4.dhcp4", "info"))
        self.observer(_event("kea-dhcp4.dhcp4", "warn", level=LogLevel.warn))
        self.observer(_event("kea-dhcp4.dhcp4", "error", level=LogLevel.error))
        text = self.out.getvalue()
        self.assertNotIn("info", text)
        self.assertIn("WARN  [", text)
        self.assertIn("ERROR [", text)

    def test_none_silences(self):
        """Severity NONE writes nothing, even FATAL."""
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="NONE")])
        self.observer(_event("kea-dhcp4", "x", level=LogLevel.critical))
        self.assertEqual(self.out.getvalue(), "")

    def test_debuglevel(self):
        """DEBUG messages pass only up to the logger's debuglevel."""
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="DEBUG", debuglevel=40)])
        self.observer(_event("kea-dhcp4.packets", "basic", level=LogLevel.debug, debuglevel=40))
        self.observer(_event("kea-dhcp4.packets", "detail", level=LogLevel.debug, debuglevel=55))
        text = self.out.getvalue()
        self.assertIn("basic", text)
        self.assertNotIn("detail", text)

    def test_child_logger_inherits_and_overrides(self):
        """kea-dhcp4.packets uses its own entry; kea-dhcp4.leases falls back
        to the root entry (Kea's logger hierarchy)."""
        self.observer.configure([
            LoggerSpec("kea-dhcp4", severity="WARN"),
            LoggerSpec("kea-dhcp4.packets", severity="DEBUG", debuglevel=99,
                       output_options=(OutputSpec(output="stderr"),)),
        ])
        self.observer(_event("kea-dhcp4.packets", "pkt", level=LogLevel.debug, debuglevel=50))
        self.observer(_event("kea-dhcp4.leases", "lease"))
        self.assertIn("pkt", self.err.getvalue())
        self.assertEqual(self.out.getvalue(), "")

    def test_twisted_events_go_to_root(self):
        """Events from other namespaces (Twisted's own) use the root logger."""
        self.observer.configure([])
        self.observer(_event("twisted.internet.udp", "port opened"))
        self.assertIn("[kea-dhcp4/1.", self.out.getvalue())

    def test_file_output_and_rotation(self):
        """A file output rotates past maxsize into .1 … .maxver."""
        path = os.path.abspath(self.mktemp())
        self.observer.configure([
            LoggerSpec("kea-dhcp4", output_options=(OutputSpec(output=path, maxsize=200, maxver=2),)),
        ])
        self.addCleanup(self.observer.close)
        for i in range(12):
            self.observer(_event("kea-dhcp4", "message number {i}", i=i))
        self.assertTrue(os.path.exists(path + ".1"))
        self.assertTrue(os.path.exists(path + ".2"))
        self.assertFalse(os.path.exists(path + ".3"))
        # log4cplus rolls over after the write that crossed maxsize.
        texts = []
        for name in (path, path + ".1"):
            with open(name) as f:
                texts.append(f.read())
        self.assertIn("message number 11", "".join(texts))

    def test_kea_logger_namespace(self):
        """kea_logger() publishes under Kea's full logger name."""
        self.assertEqual(logs.kea_logger("packets").namespace, "kea-dhcp4.packets")
        self.assertEqual(logs.kea_logger("kea-dhcp4.leases").namespace, "kea-dhcp4.leases")

    def test_through_publisher(self):
        """A real Logger's event reaches the observer with its msgid."""
        self.observer.configure([])
        globalLogPublisher.addObserver(self.observer)
        self.addCleanup(globalLogPublisher.removeObserver, self.observer)
        logs.kea_logger("dhcp4").info("{msgid} server up", msgid="DHCP4_STARTED")
        self.assertIn("] DHCP4_STARTED server up\n", self.out.getvalue())


class _Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)


class GateTests(SynchronousTestCase):
    """KeaLogger asks the gating observer before it publishes (issue 8:
    no formatting when the level is off)."""

    def setUp(self):
        self.observer = KeaLogObserver(streams={"stdout": io.StringIO(), "stderr": io.StringIO()}, pid=1)
        self.seen = _Recorder()
        globalLogPublisher.addObserver(self.seen)
        self.addCleanup(globalLogPublisher.removeObserver, self.seen)
        self.addCleanup(logs.gate_emission, None)
        self.log = logs.kea_logger("packets")

    def test_no_gate_publishes_everything(self):
        """Without a gate every event reaches the publisher (tests and
        embedders keep seeing what they watch)."""
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="WARN")])
        self.log.debug("{msgid} x", msgid="A", debuglevel=40)
        self.assertEqual([e["msgid"] for e in self.seen.events], ["A"])

    def test_gate_holds_back_what_the_observer_drops(self):
        """With the observer as gate, events below the severity or above the
        debug level are not published; the others are."""
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="DEBUG", debuglevel=40),
                                 LoggerSpec("kea-dhcp4.leases", severity="WARN")])
        logs.gate_emission(self.observer)
        self.log.debug("{msgid}", msgid="KEPT", debuglevel=40)
        self.log.debug("{msgid}", msgid="TOO_DEEP", debuglevel=45)
        logs.kea_logger("leases").info("{msgid}", msgid="BELOW_WARN")
        logs.kea_logger("leases").warn("{msgid}", msgid="WARNED")
        self.assertEqual([e["msgid"] for e in self.seen.events], ["KEPT", "WARNED"])
        self.assertTrue(logs.enabled(self.log, LogLevel.debug, 40))
        self.assertFalse(logs.enabled(self.log, LogLevel.debug, 45))

    def test_gate_open_until_configured(self):
        """Before configuration the observer buffers everything, so the gate
        lets everything through."""
        logs.gate_emission(self.observer)
        self.log.debug("{msgid}", msgid="EARLY", debuglevel=99)
        self.assertEqual([e["msgid"] for e in self.seen.events], ["EARLY"])

    def test_failures_always_published(self):
        """A failure is emitted even by a logger turned off entirely."""
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="NONE")])
        logs.gate_emission(self.observer)
        try:
            1 / 0
        except ZeroDivisionError:
            self.log.failure("{msgid}", msgid="BOOM")
        self.assertEqual([e["msgid"] for e in self.seen.events], ["BOOM"])
        self.flushLoggedErrors(ZeroDivisionError)

    def test_reconfiguration_moves_the_gate(self):
        """A new loggers configuration changes what passes at once."""
        logs.gate_emission(self.observer)
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="WARN")])
        self.log.info("{msgid}", msgid="OFF")
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="INFO")])
        self.log.info("{msgid}", msgid="ON")
        self.assertEqual([e["msgid"] for e in self.seen.events], ["ON"])


    def test_debug_level_follows_the_gate(self):
        """``KeaLogger.debug_level`` (what per-packet call sites test
        before building a debug line) is Kea's maximum without a gate, the
        configured debug level or -1 with one, and moves with a
        reconfiguration of the gating observer."""
        leases = logs.kea_logger("leases")
        self.assertEqual(self.log.debug_level, 99)
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="DEBUG", debuglevel=40),
                                 LoggerSpec("kea-dhcp4.leases", severity="INFO")])
        self.assertEqual(self.log.debug_level, 99)  # not the gate yet
        logs.gate_emission(self.observer)
        self.assertEqual((self.log.debug_level, leases.debug_level), (40, -1))
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="INFO")])
        self.assertEqual(self.log.debug_level, -1)
        logs.gate_emission(None)
        self.assertEqual(self.log.debug_level, 99)

    def test_gated_event_as_twisted_builds_it(self):
        """An event KeaLogger builds itself (gated) carries the fields
        ``Logger.emit`` sets, and an invalid level is still refused by
        Twisted's own check."""
        self.observer.configure([LoggerSpec("kea-dhcp4", severity="INFO")])
        logs.gate_emission(self.observer)
        self.log.info("{msgid} {n}", msgid="SEEN", n=3)
        (event,) = self.seen.events
        self.assertEqual((event["log_namespace"], event["log_level"], event["log_format"], event["log_logger"]),
                         ("kea-dhcp4.packets", LogLevel.info, "{msgid} {n}", self.log))
        self.assertIn("log_source", event)
        self.assertIsInstance(event["log_time"], float)
        self.log.emit("not-a-level", "{msgid}", msgid="BAD")  # type: ignore[arg-type]
        self.assertEqual(self.seen.events[-1]["log_level"], LogLevel.critical)
        self.flushLoggedErrors(InvalidLogLevelError)


class FileSizeTests(SynchronousTestCase):
    """The rotation size is counted per line (no tell() per line) from the
    file's size when opened, in bytes of the file's encoding."""

    def setUp(self):
        self.path = os.path.abspath(self.mktemp())
        self.observer = KeaLogObserver(pid=1)
        self.addCleanup(self.observer.close)

    def _configure(self, maxsize):
        self.observer.configure([LoggerSpec("kea-dhcp4", output_options=(
            OutputSpec(output=self.path, maxsize=maxsize, maxver=1, pattern="%m%n"),))])

    def test_existing_content_counts(self):
        """A file already holding 95 bytes rotates after the first line
        that takes it to 100."""
        with open(self.path, "w") as f:
            f.write("x" * 95)
        self._configure(100)
        self.observer(_event("kea-dhcp4", "abc"))
        self.assertFalse(os.path.exists(self.path + ".1"))
        self.observer(_event("kea-dhcp4", "d"))
        self.assertTrue(os.path.exists(self.path + ".1"))
        with open(self.path + ".1") as f:
            self.assertEqual(f.read(), "x" * 95 + "abc\nd\n")

    def test_non_ascii_counted_in_bytes(self):
        """A non-ASCII line counts its encoded bytes, as tell() would."""
        self._configure(12)
        self.observer(_event("kea-dhcp4", "\u00e9\u00e9\u00e9\u00e9\u00e9"))  # 5 characters, 11 bytes in UTF-8
        self.assertFalse(os.path.exists(self.path + ".1"))
        self.observer(_event("kea-dhcp4", "z"))
        self.assertTrue(os.path.exists(self.path + ".1"))

    def test_size_from_file_when_counted_reaches_maxsize(self):
        """Someone else truncating the file: the count is corrected from
        the file at the threshold, and nothing rotates early."""
        self._configure(10)
        self.observer(_event("kea-dhcp4", "12345678"))
        with open(self.path, "w"):
            pass  # truncated behind the observer's back
        self.observer(_event("kea-dhcp4", "ab"))
        self.assertFalse(os.path.exists(self.path + ".1"))


class FastFormattingTests(SynchronousTestCase):
    def test_pattern_literals(self):
        """Literal text with braces and percent signs, and a padded %%,
        come out as written."""
        render = logs.compile_pattern("{%m} 100%% %-3%|%3n|%x")
        self.assertEqual(render(0.0, "INFO", "l", "a{b}", 1, 2), "{a{b}} 100% %  |  \n|%x")

    def test_compiled_pattern_matches_each_second(self):
        """The compiled pattern renders milliseconds per line while the
        rest of the timestamp is worked out once per second."""
        render = logs.compile_pattern("%D{%S.%q} %m%n")
        self.assertEqual(render(time.mktime((2025, 1, 1, 0, 0, 7, 0, 0, -1)) + 0.25, "INFO", "l", "a", 1, 2),
                         "07.250 a\n")
        self.assertEqual(render(time.mktime((2025, 1, 1, 0, 0, 7, 0, 0, -1)) + 0.5, "INFO", "l", "b", 1, 2),
                         "07.500 b\n")
        self.assertEqual(render(time.mktime((2025, 1, 1, 0, 0, 8, 0, 0, -1)), "INFO", "l", "c", 1, 2),
                         "08.000 c\n")

    def test_twisted_only_formats_still_work(self):
        """Formats that str.format_map cannot do (Twisted's ``{f()}`` calls)
        are rendered by Twisted's formatter."""
        out = io.StringIO()
        observer = KeaLogObserver(streams={"stdout": out, "stderr": io.StringIO()}, pid=1)
        observer.configure([])
        observer(_event("kea-dhcp4.dhcp4", "{msgid} n={n()}", msgid="X", n=lambda: 3))
        observer(_event("kea-dhcp4.dhcp4", "{msgid} {missing}", msgid="Y"))
        self.assertIn("] X n=3\n", out.getvalue())
        self.assertIn("Unable to format event", out.getvalue())
