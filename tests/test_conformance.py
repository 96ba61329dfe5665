"""
Kea's recorded answers (../shared/conformance), replayed in-process.

The differential harness ``dhcpdiff.py`` plays each scenario over real
sockets against a server process (root, port 67).  This module plays the
same scenarios straight into :class:`kea_twisted.server.Dhcp4Server` with a
fake clock, and compares replies and the lease file with Kea's golden
answers using the harness's own comparison code — so the conformance suite
runs in every test run, without root or sockets.

Scenarios kea_twisted does not pass yet are listed in ``PENDING`` with the
reason: they run as expected failures, and one that starts passing is
reported (trial's unexpected success) so the list is kept honest.

Tests of this module need ``../shared/conformance`` beside the repository
(CI has it); they skip, saying so, when it is missing.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from ipaddress import IPv4Address
from types import SimpleNamespace

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.environ.get(
    "KEA_TWISTED_CONFORMANCE", os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "conformance")
)
SCENARIOS = os.path.join(CONFORMANCE, "scenarios")
# Scenarios recorded from Kea 2.2 by this project (dhcpdiff.py record --kea
# --scenarios tests/scenarios), for behaviour the shared set does not cover.
LOCAL_SCENARIOS = os.path.join(HERE, "scenarios")



def _pending():
    """Scenario name -> why it does not pass yet (tests/conformance_pending.txt,
    shared with dev.sh)."""
    pending = {}
    with open(os.path.join(HERE, "conformance_pending.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.rstrip("\n").partition("\t")
                pending[name] = reason
    return pending


PENDING = _pending()

# A fixed, plausible wall-clock start so lease expiry values look real.
EPOCH = 1_795_000_000


def _dhcpdiff():
    if not os.path.isfile(os.path.join(CONFORMANCE, "dhcpdiff.py")):
        raise SkipTest(f"{CONFORMANCE} missing (../shared/conformance beside the repository)")
    if CONFORMANCE not in sys.path:
        sys.path.insert(0, CONFORMANCE)
    import dhcpdiff  # type: ignore

    return dhcpdiff


def _scenario_dirs():
    """Scenario name -> its directory, shared ones and ours."""
    found = {}
    for base in (SCENARIOS, LOCAL_SCENARIOS):
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            if os.path.isfile(os.path.join(base, name, "scenario.json")):
                found.setdefault(name, os.path.join(base, name))
    return found


def _scenario_names():
    return sorted(_scenario_dirs())


class _Replay:
    """One scenario played into an in-process server."""

    def __init__(self, testcase, name):
        self.dhcpdiff = _dhcpdiff()
        self.testcase = testcase
        self.name = name
        directory = _scenario_dirs()[name]
        with open(os.path.join(directory, "scenario.json")) as f:
            self.scenario = json.load(f)
        self.scenario["name"] = name
        with open(os.path.join(directory, "golden.json")) as f:
            self.golden = json.load(f)
        self.workdir = os.path.abspath(testcase.mktemp())
        os.makedirs(self.workdir)
        self.leasefile = os.path.join(self.workdir, "leases4.csv")
        self.clock = Clock()
        self.clock.advance(EPOCH)

    def _config(self):
        from kea_twisted.config.element import from_python
        from kea_twisted.config.staging import stage_config_element

        values = {"leasefile": self.leasefile, "workdir": self.workdir}
        cfg = self.dhcpdiff.fill(copy.deepcopy(self.scenario["config"]), values)
        for fname, text in self.scenario.get("files", {}).items():
            with open(os.path.join(self.workdir, fname), "w") as f:
                f.write(self.dhcpdiff.fill(text, values))
        interfaces = {"lo": [IPv4Address("127.0.0.1"), IPv4Address("127.0.3.1")]}
        return stage_config_element(from_python(cfg), interfaces=interfaces)

    def _start(self, config):
        from kea_twisted.server import Dhcp4Server

        server = Dhcp4Server(config, clock=self.clock.seconds, server_port=None, client_port=None)
        server.start()
        server.set_socket_addresses([IPv4Address(self.dhcpdiff.SERVER_IP)])
        return server

    def play(self):
        from kea_twisted.datagrams import Arrival, Reply

        dd = self.dhcpdiff
        config = self._config()
        server = self._start(config)
        record = {"steps": [], "server": {}}
        times, row_steps = [], []
        try:
            for i, step in enumerate(self.scenario["steps"]):
                times.append(self.clock.seconds())
                entry = {}
                if "sleep" in step:
                    self.clock.advance(min(float(step["sleep"]), 30.0))
                elif "restart" in step:
                    entry["restart"] = True
                    server.stop()
                    server = self._start(config)
                elif "send" in step:
                    ip, port = dd.endpoint_of(step)
                    data = dd.build_packet(step["send"], ip if port == 67 else "0.0.0.0")
                    arrival = Arrival(
                        iface="lo", local_addr=IPv4Address(dd.SERVER_IP), local_port=67,
                        remote_addr=IPv4Address(ip), remote_port=port, socket_type="udp",
                        received=self.clock.seconds(),
                    )
                    outcome = server.engine.receive(data, arrival)
                    if isinstance(outcome, Deferred):
                        results = []
                        outcome.addCallback(results.append)
                        outcome = results[0] if results else None
                    replies = []
                    if isinstance(outcome, Reply) and self._deliverable(outcome):
                        replies.append(
                            ((str(outcome.dest_addr), outcome.dest_port), (dd.SERVER_IP, 67), outcome.data)
                        )
                    entry["replies"] = [dd.reply_record(x) for x in replies]
                    # The harness listens 0.1 s after a reply, or the step's
                    # whole wait (0.5 s by default) when Kea stayed silent.
                    golden_steps = self.golden.get("steps", [])
                    expected = golden_steps[i].get("replies") if i < len(golden_steps) else None
                    self.clock.advance(0.1 if expected else float(step.get("wait", 0.5)))
                record["steps"].append(entry)
                seen = len(dd.read_leases(self.leasefile)[1])
                row_steps += [i] * (seen - len(row_steps))
        finally:
            server.stop()
        record["server"]["alive_at_end"] = True
        header, rows = dd.read_leases(self.leasefile)
        record["leases"] = {"header": header, "rows": rows}
        record["_times"] = times
        args = SimpleNamespace(expire_tolerance=3)
        return dd.compare_record(self.scenario, self.golden, record, args)

    @staticmethod
    def _deliverable(reply):
        """A UDP socket on loopback cannot send to 255.255.255.255 (Kea
        logs DHCP4_PACKET_SEND_FAIL); the harness sees nothing then."""
        return str(reply.dest_addr) != "255.255.255.255"


class ConformanceTests(SynchronousTestCase):
    """One test per recorded scenario (generated below)."""


def _make_test(name):
    def test(self):
        diffs = _Replay(self, name).play()
        self.assertEqual(diffs, [], "\n".join(diffs))

    test.__name__ = "test_" + name.replace("-", "_")
    test.__doc__ = f"Scenario {name}: replies and lease file as Kea 2.2 recorded them."
    reason = PENDING.get(name)
    if reason:
        test.todo = reason
    return test


for _name in _scenario_names():
    _test = _make_test(_name)
    setattr(ConformanceTests, _test.__name__, _test)

if not _scenario_names():

    def test_scenarios_present(self):
        raise SkipTest(f"no scenarios under {SCENARIOS} (../shared/conformance beside the repository)")

    ConformanceTests.test_scenarios_present = test_scenarios_present
