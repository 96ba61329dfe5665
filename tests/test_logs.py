"""
Tests for kea_twisted.logs: Kea's loggers configuration over twisted.logger.
"""

from __future__ import annotations

import io
import os
import time

from twisted.logger import LogLevel, globalLogPublisher
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
