"""
Tests for hooks.stat_cmds: ``stat-lease4-get`` / ``stat-lease6-get`` through
the hook runner and the command table, with Kea 2.2's arguments, texts and
result shape.  The answers were recorded from the real
``libdhcp_stat_cmds.so``; where Kea is installed, one test replays the same
setup against it and compares every answer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from ipaddress import IPv4Address

from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from zope.interface.verify import verifyObject

from hooks import stat_cmds
from kea_twisted.commands import CommandTable, install_builtin_commands
from kea_twisted.config.element import from_python
from kea_twisted.config.staging import BUILTIN_HOOK_LIBRARIES, stage_config_element
from kea_twisted.hooks import IHookLibrary, load_hook_libraries, load_library_objects
from kea_twisted.leases import Lease4, MemfileLeaseStore
from kea_twisted.stats import StatsMgr, update_config_statistics
from tests.kea_socket import send_command, send_message

T0 = 1_795_584_000.25  # 2026-11-25 05:20:00.25 UTC
KEA = "/usr/sbin/kea-dhcp4"
KEA_HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks"

SUBNETS = [
    {"id": 1, "subnet": "10.1.0.0/24", "pools": [{"pool": "10.1.0.10 - 10.1.0.19"}]},
    {"id": 2, "subnet": "10.2.0.0/24", "pools": [{"pool": "10.2.0.10 - 10.2.0.29"}]},
    {"id": 5, "subnet": "10.5.0.0/24", "pools": [{"pool": "10.5.0.10 - 10.5.0.13"}]},
]

# (address, hw-address, state, valid-lft, expire) - the same leases are
# added to real Kea with lease4-add in the comparison test.
LEASES = [
    ("10.1.0.10", "00:00:00:00:00:01", 0, 4000, None),
    ("10.1.0.11", "00:00:00:00:00:02", 0, 4000, None),
    ("10.1.0.12", "00:00:00:00:00:03", 1, 4000, None),
    ("10.5.0.10", "00:00:00:00:00:04", 2, 4000, None),   # reclaimed: not counted
    ("10.5.0.11", "00:00:00:00:00:05", 0, 10, 1000),     # expired, not reclaimed: counted
]

# Commands and the answers real Kea 2.2 gave after that setup (timestamps
# aside), recorded with /usr/sbin/kea-dhcp4 and libdhcp_stat_cmds.so.
COLUMNS = ["subnet-id", "total-addresses", "cumulative-assigned-addresses",
           "assigned-addresses", "declined-addresses"]
CASES = [
    ({"command": "stat-lease4-get"},
     {"result": 0, "text": "stat-lease4-get[all subnets]: 3 rows found",
      "rows": [[1, 10, 0, 2, 1], [2, 20, 0, 0, 0], [5, 4, 0, 1, 0]]}),
    ({"command": "stat-lease4-get", "arguments": {}},
     {"result": 0, "text": "stat-lease4-get[all subnets]: 3 rows found",
      "rows": [[1, 10, 0, 2, 1], [2, 20, 0, 0, 0], [5, 4, 0, 1, 0]]}),
    ({"command": "stat-lease4-get", "arguments": {"other": 1}},
     {"result": 0, "text": "stat-lease4-get[all subnets]: 3 rows found",
      "rows": [[1, 10, 0, 2, 1], [2, 20, 0, 0, 0], [5, 4, 0, 1, 0]]}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-id": 1}},
     {"result": 0, "text": "stat-lease4-get[subnet-id=1]: 1 rows found", "rows": [[1, 10, 0, 2, 1]]}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-range": {"first-subnet-id": 2, "last-subnet-id": 5}}},
     {"result": 0, "text": "stat-lease4-get[subnets 2 through 5]: 2 rows found",
      "rows": [[2, 20, 0, 0, 0], [5, 4, 0, 1, 0]]}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-id": 3}},
     {"result": 3, "text": "stat-lease4-get[subnet-id=3]: no matching data, subnet-id: 3 does not exist",
      "arguments": {}}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-id": 99999999999}},
     {"result": 3, "text": "stat-lease4-get[subnet-id=1215752191]: no matching data, "
                           "subnet-id: 1215752191 does not exist", "arguments": {}}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-range": {"first-subnet-id": 3, "last-subnet-id": 4}}},
     {"result": 3, "text": "stat-lease4-get[subnets 3 through 4]: no matching data, selected ID range: "
                           "3 through 4 includes no known subnets", "arguments": {}}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-id": 0}},
     {"result": 1, "text": "'subnet-id' parameter must be > 0"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-id": "1"}},
     {"result": 1, "text": "'subnet-id' parameter is not integer"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-id": 1.5}},
     {"result": 1, "text": "'subnet-id' parameter is not integer"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-id": True}},
     {"result": 1, "text": "'subnet-id' parameter is not integer"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-range": {"first-subnet-id": 5, "last-subnet-id": 2}}},
     {"result": 1, "text": "'last-subnet-id' must be greater than 'first-subnet-id'"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-range": {"first-subnet-id": 2}}},
     {"result": 1, "text": "'last-subnet-id' parameter missing or not an integer"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-range": {"last-subnet-id": 2}}},
     {"result": 1, "text": "'first-subnet-id' parameter missing or not an integer"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-range": {"first-subnet-id": 0, "last-subnet-id": 2}}},
     {"result": 1, "text": "'first-subnet-id' parameter must be > 0"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-range": {"first-subnet-id": 1, "last-subnet-id": -2}}},
     {"result": 1, "text": "'last-subnet-id' parameter must be > 0"}),
    ({"command": "stat-lease4-get", "arguments": {"subnet-range": [1, 2]}},
     {"result": 1, "text": "subnet-range parameter is not a map"}),
    ({"command": "stat-lease4-get",
      "arguments": {"subnet-id": 1, "subnet-range": {"first-subnet-id": 1, "last-subnet-id": 2}}},
     {"result": 1, "text": "cannot specify both subnet-id and subnet-range"}),
    ({"command": "stat-lease4-get", "arguments": [1]},
     {"result": 1, "text": "'arguments' parameter is not a map"}),
    ({"command": "stat-lease4-get", "arguments": "x"},
     {"result": 1, "text": "'arguments' parameter is not a map"}),
    ({"command": "stat-lease6-get"},
     {"result": 3, "text": "stat-lease6-get[all subnets]: no matching data, selected ID range: "
                           "0 through 0 includes no known subnets", "arguments": {}}),
    ({"command": "stat-lease6-get", "arguments": {"subnet-id": 0}},
     {"result": 1, "text": "'subnet-id' parameter must be > 0"}),
]


def expected_answer(expected, timestamp):
    if "rows" not in expected:
        return expected
    return {"result": expected["result"], "text": expected["text"],
            "arguments": {"result-set": {"columns": COLUMNS, "rows": expected["rows"], "timestamp": timestamp}}}


def lease_of(address, hwaddr, state, valid, expire):
    cltt = (expire - valid) if expire is not None else int(T0)
    return Lease4(IPv4Address(address), bytes.fromhex(hwaddr.replace(":", "")), None, valid, cltt,
                  int(IPv4Address(address).packed[1]), state=state)


class Context:
    """An IServerContext made of plain parts."""

    def __init__(self, reactor, config, store, stats):
        self.reactor, self.config, self.store, self.stats = reactor, config, store, stats
        self.network_state = None

    def execute_command(self, command, arguments=None):
        raise NotImplementedError


def setup_server(subnets=SUBNETS, leases=LEASES):
    clock = Clock()
    clock.advance(T0)
    config = stage_config_element(
        from_python({"Dhcp4": {"subnet4": subnets}}), interfaces={"lo": [IPv4Address("127.0.0.1")]})
    store = MemfileLeaseStore()
    for lease in leases:
        store.add_lease(lease_of(*lease))
    stats = StatsMgr(clock.seconds)
    update_config_statistics(stats, [(s.id, sum(int(p.last) - int(p.first) + 1 for p in s.pools))
                                     for s in config.subnets])
    context = Context(clock, config, store, stats)
    runner = load_library_objects([("libdhcp_stat_cmds.so", stat_cmds.library, {})], server=context)
    table = CommandTable(hooks=runner)
    install_builtin_commands(table)
    return clock, context, runner, table


def run(table, message):
    results = []
    table.process(from_python(message)).addCallback(results.append)
    assert results, "no synchronous answer"
    return results[0]


class LibraryTests(SynchronousTestCase):
    def test_provides_hook_library(self):
        """The module has exactly one object providing IHookLibrary, the
        one the loader takes."""
        found = [v for v in vars(stat_cmds).values() if IHookLibrary.providedBy(v)]
        self.assertEqual(found, [stat_cmds.library])
        verifyObject(IHookLibrary, stat_cmds.library)

    def test_builtin_name_loads(self):
        """Kea's path to libdhcp_stat_cmds.so loads this library and
        registers both commands."""
        runner = load_hook_libraries([(f"{KEA_HOOKS}/libdhcp_stat_cmds.so", {})], BUILTIN_HOOK_LIBRARIES)
        self.addCleanup(runner.unload_all)
        self.assertEqual(runner.commands(), ["stat-lease4-get", "stat-lease6-get"])

    def test_list_commands(self):
        """list-commands shows the two commands once the library is loaded."""
        _, _, runner, table = setup_server()
        self.addCleanup(runner.unload_all)
        names = run(table, {"command": "list-commands"})["arguments"]
        self.assertIn("stat-lease4-get", names)
        self.assertIn("stat-lease6-get", names)


class StatLease4GetTests(SynchronousTestCase):
    def test_recorded_answers(self):
        """Every recorded Kea answer, through the command table; the
        timestamp is the server clock in UTC with microseconds."""
        _, _, runner, table = setup_server()
        self.addCleanup(runner.unload_all)
        for message, expected in CASES:
            self.assertEqual(run(table, message), expected_answer(expected, "2026-11-25 05:20:00.250000"),
                             message)

    def test_arguments_null_is_not_a_map(self):
        """'arguments': null is present and not a map, as in Kea."""
        _, _, runner, table = setup_server()
        self.addCleanup(runner.unload_all)
        self.assertEqual(run(table, {"command": "stat-lease4-get", "arguments": None}),
                         {"result": 1, "text": "'arguments' parameter is not a map"})

    def test_no_subnets(self):
        """No subnet configured: result 3, 'selected ID range: 0 through 0'."""
        _, _, runner, table = setup_server(subnets=[], leases=[])
        self.addCleanup(runner.unload_all)
        self.assertEqual(run(table, {"command": "stat-lease4-get"}), {
            "result": 3, "arguments": {},
            "text": "stat-lease4-get[all subnets]: no matching data, selected ID range: 0 through 0 "
                    "includes no known subnets"})

    def test_live_statistics_and_store(self):
        """Counts follow the store and statistics at the time of the call:
        a new lease, a decline and cumulative-assigned-addresses."""
        clock, context, runner, table = setup_server()
        self.addCleanup(runner.unload_all)
        context.store.add_lease(lease_of("10.2.0.10", "00:00:00:00:00:10", 0, 4000, None))
        context.store.add_lease(lease_of("10.2.0.11", "00:00:00:00:00:11", 1, 4000, None))
        context.stats.add_value("subnet[2].cumulative-assigned-addresses", 7)
        clock.advance(1.5)
        answer = run(table, {"command": "stat-lease4-get", "arguments": {"subnet-id": 2}})
        self.assertEqual(answer["arguments"]["result-set"]["rows"], [[2, 20, 7, 1, 1]])
        self.assertEqual(answer["arguments"]["result-set"]["timestamp"], "2026-11-25 05:20:01.750000")

    def test_orphaned_leases_ignored(self):
        """Leases of a subnet no longer configured are not reported (Kea's
        'orphaned statistics')."""
        leases = LEASES + [("10.9.0.10", "00:00:00:00:00:09", 0, 4000, None)]
        _, _, runner, table = setup_server(leases=leases)
        self.addCleanup(runner.unload_all)
        rows = run(table, {"command": "stat-lease4-get"})["arguments"]["result-set"]["rows"]
        self.assertEqual([r[0] for r in rows], [1, 2, 5])


class SelectionTests(SynchronousTestCase):
    def test_texts(self):
        """The parameter texts Kea puts in its answers."""
        self.assertEqual(stat_cmds.Selection().text(), "[all subnets]")
        self.assertEqual(stat_cmds.Selection("single", 4).text(), "[subnet-id=4]")
        self.assertEqual(stat_cmds.Selection("range", 2, 9).text(), "[subnets 2 through 9]")

    def test_timestamp_text(self):
        """ptimeToText: UTC, six fractional digits, rounding carried."""
        self.assertEqual(stat_cmds.timestamp_text(0.0), "1970-01-01 00:00:00.000000")
        self.assertEqual(stat_cmds.timestamp_text(59.9999999), "1970-01-01 00:01:00.000000")


# -- against real Kea ----------------------------------------------------------------

class AgainstKeaTests(SynchronousTestCase):
    def test_same_answers_as_kea(self):
        """Real Kea with libdhcp_lease_cmds + libdhcp_stat_cmds, the same
        subnets and leases (lease4-add): every case answers the same,
        timestamps aside."""
        if not (os.access(KEA, os.X_OK) and os.path.exists(f"{KEA_HOOKS}/libdhcp_stat_cmds.so")):
            raise SkipTest("real Kea 2.2 with libdhcp_stat_cmds.so is not installed")
        from tests.test_cli import Daemon

        directory = tempfile.mkdtemp(prefix="kea-stat-")
        self.addCleanup(shutil.rmtree, directory, True)
        ctrl = os.path.join(directory, "ctrl")
        config = os.path.join(directory, "kea.json")
        with open(config, "w") as f:
            json.dump({"Dhcp4": {
                "interfaces-config": {"interfaces": ["lo/127.0.0.1"]},
                "control-socket": {"socket-type": "unix", "socket-name": ctrl},
                "lease-database": {"type": "memfile", "persist": False},
                "hooks-libraries": [{"library": f"{KEA_HOOKS}/libdhcp_lease_cmds.so"},
                                    {"library": f"{KEA_HOOKS}/libdhcp_stat_cmds.so"}],
                "subnet4": SUBNETS,
                "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
            }}, f)
        env = dict(os.environ, KEA_PIDFILE_DIR=directory, KEA_LOCKFILE_DIR=directory)
        kea = Daemon([KEA, "-c", config, "-p", "18431"], env)
        self.addCleanup(kea.kill)
        kea.wait_for("DHCP4_STARTED")
        for address, hwaddr, state, valid, expire in LEASES:
            arguments = {"ip-address": address, "hw-address": hwaddr, "state": state, "valid-lft": valid}
            if expire is not None:
                arguments["expire"] = expire
            self.assertEqual(send_command(ctrl, "lease4-add", arguments)["result"], 0)

        _, _, runner, table = setup_server()
        self.addCleanup(runner.unload_all)
        for message, _expected in CASES:
            theirs = send_message(ctrl, message)
            ours = run(table, message)
            for answer in (theirs, ours):
                result_set = answer.get("arguments", {}).get("result-set") if isinstance(
                    answer.get("arguments"), dict) else None
                if result_set is not None:
                    result_set.pop("timestamp")
            self.assertEqual(ours, theirs, message)
        kea.signal(signal.SIGTERM)
        self.assertEqual(kea.finish()[0], 0)
