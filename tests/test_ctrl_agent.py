"""
kea_twisted behind a real ``kea-ctrl-agent`` 2.2 (issue 11): every command
kea_twisted serves, sent over HTTP with ``"service": ["dhcp4"]``, comes back
wrapped in a list as the agent wraps real Kea's (spec/control-channel.md §5),
and the same sequence sent to a real ``kea-dhcp4`` behind its own agent gets
the same answers (times, PIDs, uptimes and build texts compared by shape);
``kea-shell`` through the agent prints the same for both.

Processes: kea_twisted (``python -m kea_twisted.cli``, the
``kea-twisted-dhcp4`` entry point), ``/usr/sbin/kea-dhcp4`` and
``/usr/sbin/kea-ctrl-agent``, each in its own temporary directory with
``KEA_PIDFILE_DIR``/``KEA_LOCKFILE_DIR`` there, on loopback only: DHCP (UDP)
and the agents (TCP) on ports 18450-18469: one number per server (its UDP
port and its agent's TCP port), different for every test method, so that
trial's workers do not collide.  Every process is ended by its PID in a cleanup.
Tests skip when the agent, ``kea-shell`` or ``kea-dhcp4`` is missing.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.test_cli import ROOT, START_TIMEOUT, STOP_TIMEOUT, cli_command

KEA_DHCP4 = "/usr/sbin/kea-dhcp4"
KEA_CTRL_AGENT = "/usr/sbin/kea-ctrl-agent"
KEA_SHELL = shutil.which("kea-shell") or "/usr/sbin/kea-shell"
LEASE_CMDS = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"

#: Bound on one HTTP exchange with an agent (seconds); reached only on failure.
HTTP_TIMEOUT = 20.0

#: Leases in the lease file both servers start from: enough for a
#: ``lease4-get-all`` answer of a few hundred kilobytes.
LEASE_COUNT = 1000
#: Far-future and long-past expiry times for those leases.
FUTURE = 2000000000
PAST = 1000000000


def require(*paths: str) -> None:
    for path in paths:
        if not os.access(path, os.X_OK):
            raise SkipTest(f"{path} (Kea 2.2) is not installed")


# -- configuration -------------------------------------------------------------

def lease_file_text() -> str:
    """A Kea 2.2 lease4.csv: LEASE_COUNT live leases in subnet 1 and three
    expired ones (for ``leases-reclaim``)."""
    rows = ["address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
            "hostname,state,user_context"]
    for n in range(LEASE_COUNT):
        address = f"10.10.{1 + n // 250}.{1 + n % 250}"
        mac = f"02:00:00:00:{n >> 8:02x}:{n & 0xff:02x}"
        rows.append(f"{address},{mac},01:{mac},4000,{FUTURE + n},1,0,0,host-{n}.example.org,0,")
    for n in range(3):
        rows.append(f"10.10.9.{n + 1},02:00:00:09:00:{n:02x},,4000,{PAST + n},1,0,0,,0,")
    return "\n".join(rows) + "\n"


def dhcp4_config(directory: str) -> Dict[str, Any]:
    """The same configuration for both servers, every path inside
    ``directory``.  The reclamation timer is off so that only the
    ``leases-reclaim`` command reclaims, at the same step for both."""
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": ["lo/127.0.0.1"], "dhcp-socket-type": "udp"},
        "control-socket": {"socket-type": "unix", "socket-name": os.path.join(directory, "ctrl")},
        "lease-database": {"type": "memfile", "persist": True, "lfc-interval": 0,
                           "name": os.path.join(directory, "leases.csv")},
        "expired-leases-processing": {"reclaim-timer-wait-time": 0},
        "hooks-libraries": [{"library": LEASE_CMDS}],
        "valid-lifetime": 4000,
        "subnet4": [{
            "id": 1, "subnet": "10.10.0.0/16", "relay": {"ip-addresses": ["127.0.0.2"]},
            "pools": [{"pool": "10.10.0.10 - 10.10.0.250"}],
        }],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
    }}


def agent_config(directory: str, port: int) -> Dict[str, Any]:
    return {"Control-agent": {
        "http-host": "127.0.0.1", "http-port": port,
        "control-sockets": {"dhcp4": {"socket-type": "unix", "socket-name": os.path.join(directory, "ctrl")}},
        "loggers": [{"name": "kea-ctrl-agent", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
    }}


def write_json(path: str, value: Any) -> str:
    with open(path, "w") as f:
        json.dump(value, f, indent=1)
    return path


# -- HTTP to the agent -----------------------------------------------------------

def post(port: int, body: Any) -> Tuple[int, str, str]:
    """POST ``body`` (a value, or text sent as is) to the agent on
    127.0.0.1:port; (status, content type, body text)."""
    data = body if isinstance(body, str) else json.dumps(body)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        connection.request("POST", "/", body=data.encode(), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        connection.close()


def request(command: str, arguments: Any = None, service: Any = ("dhcp4",)) -> Dict[str, Any]:
    body: Dict[str, Any] = {"command": command, "service": list(service)}
    if arguments is not None:
        body["arguments"] = arguments
    return body


# -- what may differ between two servers -------------------------------------------

TIMESTAMP = re.compile(r"\A\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\Z")


def normalize(command: str, value: Any, directory: str, pid: int, now: float) -> Any:
    """One agent answer (the parsed list) with what legitimately differs
    between two servers made neutral, and checked while at it:

    * the server's directory in any string -> ``<dir>``;
    * statistics sample times (``YYYY-MM-DD HH:MM:SS.ffffff``) -> ``<time>``;
    * ``status-get``: ``pid`` must be the server's (-> ``<pid>``),
      ``uptime`` and ``reload`` non-negative integers (-> ``<seconds>``);
    * ``version-get``'s ``extended`` and ``build-report``'s text name the
      build: strings (-> ``<build>``); ``extended`` starts with the version;
    * a lease's ``cltt`` within two minutes of ``now`` -> ``<now>``.

    Anything else is left as it is, so the comparison sees it.
    """

    def walk(node: Any, key: Optional[str] = None) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            if TIMESTAMP.match(node):
                return "<time>"
            return node.replace(directory, "<dir>")
        if key == "cltt" and isinstance(node, int) and abs(node - now) < 120:
            return "<now>"
        return node

    result = walk(value)
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, dict):
            continue
        arguments = item.get("arguments")
        if command == "status-get" and isinstance(arguments, dict) and item.get("result") == 0:
            if arguments.get("pid") != pid:
                raise AssertionError(f"status-get pid {arguments.get('pid')} is not the server's {pid}")
            arguments["pid"] = "<pid>"
            for name in ("uptime", "reload"):
                seconds = arguments.get(name)
                if not isinstance(seconds, int) or seconds < 0:
                    raise AssertionError(f"status-get {name}: {seconds!r}")
                arguments[name] = "<seconds>"
        if command == "version-get" and isinstance(arguments, dict):
            extended = arguments.get("extended")
            if not isinstance(extended, str) or not extended.startswith(item.get("text", "") + "\n"):
                raise AssertionError(f"version-get extended: {extended!r}")
            arguments["extended"] = "<build>"
        if command == "build-report" and isinstance(item.get("text"), str):
            item["text"] = "<build>"
    return result


# -- the command sequence ------------------------------------------------------------

#: (command, arguments, result Kea 2.2 answers) — every command kea_twisted
#: serves with lease_cmds loaded, with harmless arguments, in an order that
#: moves state (leases, statistics, the network state) the same way on both
#: servers.  ``{dir}`` in a string is the server's own directory;
#: ``RUNNING_CONFIG`` is replaced by the server's ``config-get`` answer.
#: ``shutdown`` is sent last, separately.  Results were observed with Kea
#: 2.2 behind kea-ctrl-agent 2.2.
RUNNING_CONFIG = object()
MAC = "1a:1b:1c:1d:1e:1f"
SEQUENCE: List[Tuple[str, Any, int]] = [
    ("list-commands", None, 0),
    ("version-get", None, 0),
    ("build-report", None, 0),
    ("status-get", None, 0),
    ("config-get", None, 0),
    ("config-test", RUNNING_CONFIG, 0),
    ("config-test", {"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "pools": [{"pool": "11.0.0.1-11.0.0.2"}]}]}}, 1),
    ("config-test", None, 1),
    ("server-tag-get", None, 0),
    ("statistic-get-all", None, 0),
    ("statistic-get", {"name": "pkt4-received"}, 0),
    ("statistic-get", {"name": "subnet[1].assigned-addresses"}, 0),
    ("statistic-get", {"name": "no-such-statistic"}, 0),
    ("dhcp-disable", {"max-period": 100}, 0),
    ("status-get", None, 0),
    ("dhcp-enable", None, 0),
    ("dhcp-disable", {"origin": "ha-partner"}, 0),
    ("dhcp-enable", {"origin": "ha-partner"}, 0),
    ("dhcp-disable", {"max-period": -1}, 1),
    ("lease4-get", {"ip-address": "10.10.9.1"}, 0),
    ("leases-reclaim", {"remove": False}, 0),
    ("lease4-get", {"ip-address": "10.10.9.1"}, 0),
    # Already reclaimed leases are not reclaimed (nor removed) again.
    ("leases-reclaim", {"remove": True}, 0),
    ("lease4-get", {"ip-address": "10.10.9.1"}, 0),
    ("leases-reclaim", {"remove": "yes"}, 1),
    ("lease4-get-all", None, 0),
    # Before any lease4-add: Kea lists a subnet's leases in insertion order
    # (here the file's, which is also address order); see LeaseOrderTests.
    ("lease4-get-all", {"subnets": [1, 2]}, 0),
    ("lease4-get-page", {"from": "start", "limit": 100}, 0),
    ("lease4-get-page", {"from": "10.10.2.50", "limit": 3}, 0),
    ("lease4-add", {"ip-address": "10.10.0.20", "hw-address": MAC, "valid-lft": 3600, "expire": FUTURE,
                    "hostname": "h\u00fcst\"\\x.example.org", "user-context": {"a": 1.5, "b": [True, None]}}, 0),
    ("lease4-add", {"ip-address": "10.10.0.20", "hw-address": MAC}, 1),
    ("lease4-add", {"ip-address": "10.10.0.21", "hw-address": "1a:1b:1c:1d:1e:21"}, 0),
    ("lease4-get", {"ip-address": "10.10.0.20"}, 0),
    ("lease4-get", {"ip-address": "10.10.0.21"}, 0),
    ("lease4-get", {"identifier-type": "hw-address", "identifier": MAC, "subnet-id": 1}, 0),
    ("lease4-get", {"ip-address": 5}, 1),
    ("lease4-get-by-hw-address", {"hw-address": MAC}, 0),
    ("lease4-get-by-client-id", {"client-id": "01:02:00:00:00:00:07"}, 0),
    ("lease4-get-by-client-id", {"client-id": "01:02:03"}, 3),
    ("lease4-get-by-hostname", {"hostname": "host-7.example.org"}, 0),
    ("lease4-update", {"ip-address": "10.10.0.20", "hw-address": "1a:1b:1c:1d:1e:20",
                       "hostname": "x.example.org", "expire": FUTURE, "valid-lft": 3600}, 0),
    ("lease4-get-by-hostname", {"hostname": "x.example.org"}, 0),
    ("lease4-resend-ddns", {"ip-address": "10.10.0.20"}, 1),
    ("statistic-get", {"name": "subnet[1].assigned-addresses"}, 0),
    ("lease4-del", {"ip-address": "10.10.0.20"}, 0),
    ("lease4-del", {"ip-address": "10.10.0.20"}, 3),
    ("lease4-wipe", {"subnet-id": 1}, 0),
    ("lease4-get-all", None, 3),
    ("lease6-get", {"ip-address": "2001:db8::1"}, 3),
    ("lease6-get-all", None, 3),
    ("lease6-add", {"ip-address": "2001:db8::1", "duid": "01:02:03:04", "iaid": 1, "subnet-id": 1}, 1),
    ("lease6-del", {"ip-address": "2001:db8::1"}, 3),
    ("lease6-get-by-duid", {"duid": "01:02:03:04"}, 3),
    ("lease6-get-by-hostname", {"hostname": "x"}, 3),
    ("lease6-get-page", {"from": "start", "limit": 1}, 3),
    ("lease6-update", {"ip-address": "2001:db8::1", "duid": "01:02:03:04", "iaid": 1, "subnet-id": 1}, 1),
    ("lease6-wipe", None, 3),
    ("lease6-resend-ddns", {"ip-address": "2001:db8::1"}, 1),
    ("lease6-bulk-apply", {"deleted-leases": [], "leases": []}, 3),
    ("statistic-reset", {"name": "pkt4-received"}, 0),
    ("statistic-sample-age-set", {"name": "pkt4-received", "duration": 1245}, 0),
    ("statistic-sample-count-set", {"name": "pkt4-received", "max-samples": 100}, 0),
    ("statistic-sample-count-set", {"name": "pkt4-received", "max-samples": 1.5}, 1),
    ("statistic-sample-age-set-all", {"duration": 1245}, 0),
    ("statistic-sample-count-set-all", {"max-samples": 100}, 0),
    ("statistic-get", {"name": "pkt4-received"}, 0),
    ("statistic-reset-all", None, 0),
    ("statistic-remove", {"name": "pkt4-received"}, 0),
    ("statistic-get", {"name": "pkt4-received"}, 0),
    ("statistic-remove-all", None, 0),
    ("statistic-get-all", None, 0),
    ("config-write", {"filename": "{dir}/written.json"}, 0),
    ("config-write", {"filename": "{dir}/no-such-dir/x.json"}, 1),
    ("config-backend-pull", None, 3),
    ("libreload", None, 0),
    ("config-reload", None, 0),
    ("config-set", RUNNING_CONFIG, 0),
    ("status-get", None, 0),
    ("statistic-get", {"name": "subnet[1].total-addresses"}, 0),
    ("list-commands", None, 0),
    ("no-such-command", None, 2),
]


class Server:
    """One DHCPv4 server (kea_twisted or Kea) and its kea-ctrl-agent, each
    in ``directory``; ``agent_port`` is the agent's HTTP port."""

    def __init__(self, case: SynchronousTestCase, directory: str, argv_head: List[str],
                 dhcp_port: int, agent_port: int, leases: Optional[str] = None):
        self.directory = directory
        self.agent_port = agent_port
        os.makedirs(directory)
        env = dict(os.environ, KEA_PIDFILE_DIR=directory, KEA_LOCKFILE_DIR=directory,
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(os.path.join(directory, "leases.csv"), "w") as f:
            f.write(lease_file_text() if leases is None else leases)
        self.config = write_json(os.path.join(directory, "kea.json"), dhcp4_config(directory))
        write_json(os.path.join(directory, "agent.json"), agent_config(directory, agent_port))
        self.dhcp4 = start(case, [*argv_head, "-c", self.config, "-p", str(dhcp_port)], env)
        self.dhcp4.wait_for(r"DHCP4_STARTED")
        self.agent = start(case, [KEA_CTRL_AGENT, "-c", os.path.join(directory, "agent.json")], env)
        self.agent.wait_for(r"CTRL_AGENT_STARTED")

    def send(self, body: Any) -> Tuple[int, str, Any]:
        status, content_type, text = post(self.agent_port, body)
        return status, content_type, json.loads(text)

    def arguments_for(self, arguments: Any) -> Any:
        if arguments is RUNNING_CONFIG:
            _, _, answer = self.send(request("config-get"))
            return answer[0]["arguments"]
        if isinstance(arguments, dict):
            return {k: v.replace("{dir}", self.directory) if isinstance(v, str) else v
                    for k, v in arguments.items()}
        return arguments

    def normalized(self, command: str, answer: Any) -> Any:
        return normalize(command, answer, self.directory, self.dhcp4.pid, time.time())


class Process:
    """A child process whose output (stdout and stderr together) is read
    by a thread all along, so that a chatty server never blocks on a full
    pipe; :meth:`wait_for` waits on a condition, not by sleeping."""

    def __init__(self, argv: List[str], env: Dict[str, str]):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
        self.lines: List[str] = []
        self.closed = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        for raw in self.proc.stdout:
            with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> str:
        """The first output line matching ``pattern``; fails at the
        timeout or when the output ends first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    raise AssertionError(f"{self.argv[0]}: no line matching {pattern!r}: {self.lines}")
                self._changed.wait(remaining)

    def finish(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait (bounded) for the exit; the exit code."""
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM, wait (bounded), SIGKILL if it does not go; by PID only."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(STOP_TIMEOUT)
        self.proc.stdout.close()


def start(case: SynchronousTestCase, argv: List[str], env: Dict[str, str]) -> Process:
    process = Process(argv, env)
    case.addCleanup(process.stop)
    return process


class AgentCase(SynchronousTestCase):
    """A temporary directory holding each server's files (short paths: the
    control socket's name must fit ``sun_path``)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kea-ca-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)

    # One port number per server: its DHCP (UDP) port and its agent's
    # HTTP (TCP) port.  Each test method has its own numbers, as trial -j
    # may run any two at the same time.

    def ours(self, port: int, leases: Optional[str] = None) -> Server:
        # The same length as "kea-d" so that config-write sizes compare.
        return Server(self, os.path.join(self.dir, "ktw-d"), cli_command(), port, port, leases)

    def kea(self, port: int, leases: Optional[str] = None) -> Server:
        return Server(self, os.path.join(self.dir, "kea-d"), [KEA_DHCP4], port, port, leases)


class NormalizeTests(SynchronousTestCase):
    """The comparison's normalizer hides only what may differ."""

    def test_keeps_values(self):
        """Results, texts, lease fields and statistic values survive."""
        answer = [{"result": 0, "arguments": {"pkt4-received": [[3, "2026-01-02 03:04:05.123456"]],
                                              "cltt": 1999996400, "hostname": "/d/x"}, "text": "t"}]
        self.assertEqual(normalize("statistic-get", answer, "/d", 1, 1.0e9),
                         [{"result": 0, "arguments": {"pkt4-received": [[3, "<time>"]],
                                                      "cltt": 1999996400, "hostname": "<dir>/x"},
                           "text": "t"}])

    def test_status_get_pid_checked(self):
        """status-get's pid must be the server's; uptime and reload must be
        non-negative integers."""
        answer = [{"result": 0, "arguments": {"pid": 7, "uptime": 3, "reload": 3, "sockets": {"status": "ready"}}}]
        self.assertEqual(normalize("status-get", answer, "/d", 7, 0)[0]["arguments"],
                         {"pid": "<pid>", "uptime": "<seconds>", "reload": "<seconds>",
                          "sockets": {"status": "ready"}})
        self.assertRaises(AssertionError, normalize, "status-get", answer, "/d", 8, 0)
        answer[0]["arguments"]["uptime"] = -1
        self.assertRaises(AssertionError, normalize, "status-get", answer, "/d", 7, 0)

    def test_cltt_near_now(self):
        """A cltt of 'now' (a lease added without expire) is compared by
        time window, not value."""
        answer = [{"result": 0, "arguments": {"cltt": 1000}}]
        self.assertEqual(normalize("lease4-get", answer, "/d", 1, 1050)[0]["arguments"]["cltt"], "<now>")
        self.assertEqual(normalize("lease4-get", answer, "/d", 1, 5000)[0]["arguments"]["cltt"], 1000)

    def test_version_extended_checked(self):
        """version-get's extended text must start with the version line."""
        good = [{"result": 0, "text": "2.2.0", "arguments": {"extended": "2.2.0\nx"}}]
        self.assertEqual(normalize("version-get", good, "/d", 1, 0)[0]["arguments"]["extended"], "<build>")
        bad = [{"result": 0, "text": "2.2.0", "arguments": {"extended": "2.3.0\nx"}}]
        self.assertRaises(AssertionError, normalize, "version-get", bad, "/d", 1, 0)


class AgentTests(AgentCase):
    """kea_twisted behind kea-ctrl-agent, no real kea-dhcp4 needed."""


    def test_every_command_wrapped_in_a_list(self):
        """Every command list-commands names is covered by SEQUENCE; each
        step's answer comes back HTTP 200, application/json, as a list of
        one map with Kea's result code for that step (and a text string or
        arguments where present)."""
        require(KEA_CTRL_AGENT)
        server = self.ours(18450)
        status, content_type, answer = server.send(request("list-commands"))
        self.assertEqual((status, content_type), (200, "application/json"))
        covered = {name for name, _, _ in SEQUENCE} | {"shutdown"}
        self.assertEqual(sorted(set(answer[0]["arguments"]) - covered), [])
        for step, (command, arguments, result) in enumerate(SEQUENCE):
            body = request(command, server.arguments_for(arguments))
            status, content_type, answer = server.send(body)
            where = f"step {step}: {command} {arguments!r}: {answer!r}"
            self.assertEqual((status, content_type), (200, "application/json"), where)
            self.assertIsInstance(answer, list, where)
            self.assertEqual(len(answer), 1, where)
            self.assertIsInstance(answer[0], dict, where)
            self.assertEqual(answer[0]["result"], result, where)
            self.assertTrue(set(answer[0]) <= {"result", "text", "arguments"}, where)
            if "text" in answer[0]:
                self.assertIsInstance(answer[0]["text"], str, where)

    def test_two_services_and_shutdown(self):
        """"service": ["dhcp4", "dhcp4"] is two answers, each the one a
        single forward gives; a bad "service" is the agent's own answer;
        shutdown through the agent answers and the server exits 0 and
        removes its socket, after which the agent reports it offline."""
        require(KEA_CTRL_AGENT)
        server = self.ours(18451)
        _, _, one = server.send(request("config-get"))
        _, _, two = server.send(request("config-get", service=["dhcp4", "dhcp4"]))
        self.assertEqual(two, one + one)
        _, _, answer = server.send('{"command": "version-get", "service": "dhcp4"}')
        self.assertEqual(answer, [{"result": 1, "text": "service value must be a list"}])
        _, _, answer = server.send(request("shutdown"))
        self.assertEqual(answer, [{"result": 0, "text": "Shutting down."}])
        code = server.dhcp4.finish()
        self.assertEqual(code, 0)
        self.assertFalse(os.path.exists(os.path.join(server.directory, "ctrl")))
        _, _, answer = server.send(request("version-get"))
        self.assertEqual(answer[0]["result"], 1)
        self.assertIn("The server is likely to be offline", answer[0]["text"])


class AgainstKeaTests(AgentCase):
    """The same requests to kea_twisted and to kea-dhcp4, each behind its
    own kea-ctrl-agent 2.2."""


    def test_sequence_matches_kea(self):
        """Every step of SEQUENCE: same HTTP status and content type, and
        the same answer list after normalize(); then shutdown answers the
        same and both exit 0."""
        require(KEA_CTRL_AGENT, KEA_DHCP4)
        ours, kea = self.ours(18452), self.kea(18453)
        for step, (command, arguments, _) in enumerate(SEQUENCE):
            replies = []
            for server in (ours, kea):
                status, content_type, answer = server.send(request(command, server.arguments_for(arguments)))
                replies.append((status, content_type, server.normalized(command, answer)))
            self.assertEqual(replies[0], replies[1], f"step {step}: {command} {arguments!r}")
        with open(os.path.join(ours.directory, "written.json")) as f:
            ours_written = json.load(f)
        with open(os.path.join(kea.directory, "written.json")) as f:
            kea_written = json.load(f)
        self.assertEqual(normalize("", ours_written, ours.directory, 0, 0),
                         normalize("", kea_written, kea.directory, 0, 0))
        answers = [server.send(request("shutdown"))[2] for server in (ours, kea)]
        self.assertEqual(answers[0], answers[1])
        self.assertEqual([ours.dhcp4.finish(), kea.dhcp4.finish()], [0, 0])

    def test_malformed_commands_match_kea(self):
        """Commands the server refuses (not a map, no command, a bad key,
        bad argument types) get the same answers from both, through the
        agent."""
        require(KEA_CTRL_AGENT, KEA_DHCP4)
        ours, kea = self.ours(18454), self.kea(18455)
        bodies = [
            '{"service": ["dhcp4"]}',
            '{"command": 5, "service": ["dhcp4"]}',
            '{"command": "", "service": ["dhcp4"]}',
            '{"command": "Version-get", "service": ["dhcp4"]}',
            '{"command": "version-get", "service": ["dhcp4"], "extra": 1}',
            '{"command": "lease4-get", "service": ["dhcp4"], "arguments": 5}',
            '{"command": "lease4-get", "service": ["dhcp4"], "arguments": {}}',
            '{"command": "status-get", "service": ["dhcp4"], "arguments": null}',
            '{"command": "config-set", "service": ["dhcp4"], "arguments": {"Dhcp4": []}}',
            '{"command": "config-test", "service": ["dhcp4"], "arguments": {"Dhcp4": {}, "Dhcp6": {}}}',
            '{"command": "config-write", "service": ["dhcp4"], "arguments": {"filename": 5}}',
            '{"command": "statistic-get", "service": ["dhcp4"], "arguments": {"name": 5}}',
            '{"command": "dhcp-disable", "service": ["dhcp4"], "arguments": {"origin": "nobody"}}',
        ]
        for body in bodies:
            command = json.loads(body).get("command")
            replies = []
            for server in (ours, kea):
                status, content_type, answer = server.send(body)
                replies.append((status, content_type, server.normalized(command, answer)))
            self.assertEqual(replies[0], replies[1], body)


class WireConfigTests(AgentCase):
    """config-test with Dhcp4 entries of the wrong JSON kind
    (docs/compatibility.md, "Wrong JSON types over the control channel"
    and "config-set / config-test error texts": refused, with the file
    grammar's words where Kea's wire path names its element accessor)."""

    #: (fragment, Kea 2.2's text through the agent; None: Kea accepts it)
    CASES = [
        ('"subnet4": 5', "listValue() called on non-list Element in (<wire>:0:39)"),
        ('"subnet4": {}', "listValue() called on non-list Element in (<wire>:0:40)"),
        ('"subnet4": [5]', "get(string) called on a non-map Element in (<wire>:0:41)"),
        ('"option-def": 5', "listValue() called on non-list Element in (<wire>:0:42)"),
        ('"interfaces-config": 5', "get(string) called on a non-map Element in (<wire>:0:49)"),
        ('"lease-database": []', "mapValue() called on non-map Element in (<wire>:0:47)"),
        ('"control-socket": 5',
         "Specified control-socket is expected to be a map, i.e. a structure defined within { }"),
        ('"dhcp-ddns": 5', "moveDdnsParams dhcp-ddns is not a map"),
        ('"loggers": 5', None),
        ('"user-context": 5', None),
    ]

    def test_wrong_kinds_refused(self):
        """Every case is refused (result 1, a text naming the position),
        including the two Kea's config-test lets through; Kea's own answers
        are as recorded in CASES."""
        require(KEA_CTRL_AGENT, KEA_DHCP4)
        ours, kea = self.ours(18456), self.kea(18457)
        for fragment, kea_text in self.CASES:
            body = ('{"command": "config-test", "service": ["dhcp4"], "arguments": {"Dhcp4": {%s}}}'
                    % fragment)
            status, content_type, answer = ours.send(body)
            self.assertEqual((status, content_type, len(answer), answer[0]["result"]),
                             (200, "application/json", 1, 1), fragment)
            self.assertRegex(answer[0]["text"], r"<wire>:0[.:]\d+", fragment)
            _, _, kea_answer = kea.send(body)
            if kea_text is None:
                self.assertEqual(kea_answer[0]["result"], 0, fragment)
            else:
                self.assertEqual(kea_answer, [{"result": 1, "text": kea_text}], fragment)


class LeaseOrderTests(AgentCase):
    """The order of leases that share a subnet, hostname, hw-address or
    client-id (docs/compatibility.md, "lease_cmds").  Kea 2.2's memfile
    indexes are boost ``ordered_non_unique`` on (hw-address, subnet-id),
    (client-id, subnet-id), subnet-id and hostname: leases with equal keys
    stay in insertion order (file order, then adds; an update leaves a
    lease in place), and a lookup by (identifier, subnet) takes the first of
    them.  kea_twisted answers the same leases in address order, and its
    lookup takes the lowest address."""

    LEASES = "\n".join([
        "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context",
        f"10.10.3.5,02:aa:00:00:00:01,01:02:aa,4000,{FUTURE},1,0,0,same.example.org,0,",
        f"10.10.1.7,02:aa:00:00:00:01,01:02:aa,4000,{FUTURE},1,0,0,same.example.org,0,",
        f"10.10.2.1,02:aa:00:00:00:01,01:02:aa,4000,{FUTURE},1,0,0,same.example.org,0,",
        "",
    ])
    INSERTION_ORDER = ["10.10.3.5", "10.10.1.7", "10.10.2.1", "10.10.0.99"]

    def test_same_leases_in_address_order(self):
        """Leases loaded out of address order, one added, one updated: each
        listing has the same leases as Kea's, ours by address and Kea's in
        insertion order; the (identifier, subnet) lookups find the lowest
        address here and the first inserted lease in Kea."""
        require(KEA_CTRL_AGENT, KEA_DHCP4)
        ours, kea = self.ours(18460, self.LEASES), self.kea(18461, self.LEASES)
        lease = {"hw-address": "02:aa:00:00:00:01", "client-id": "01:02:aa", "hostname": "same.example.org"}
        for server in (ours, kea):
            for command, arguments in (("lease4-add", dict(lease, **{"ip-address": "10.10.0.99", "expire": FUTURE})),
                                       ("lease4-update", dict(lease, **{"ip-address": "10.10.3.5",
                                                                        "expire": FUTURE + 1}))):
                self.assertEqual(server.send(request(command, arguments))[2][0]["result"], 0)
        by_address = sorted(self.INSERTION_ORDER, key=lambda a: tuple(int(x) for x in a.split(".")))
        for command, arguments in (("lease4-get-all", {"subnets": [1]}),
                                   ("lease4-get-by-hostname", {"hostname": "same.example.org"}),
                                   ("lease4-get-by-hw-address", {"hw-address": "02:aa:00:00:00:01"}),
                                   ("lease4-get-by-client-id", {"client-id": "01:02:aa"})):
            o, k = (server.normalized(command, server.send(request(command, arguments))[2])
                    for server in (ours, kea))
            o_leases, k_leases = o[0]["arguments"].pop("leases"), k[0]["arguments"].pop("leases")
            self.assertEqual(o, k, command)
            self.assertEqual([lease["ip-address"] for lease in o_leases], by_address, command)
            self.assertEqual([lease["ip-address"] for lease in k_leases], self.INSERTION_ORDER, command)
            key = lambda lease: lease["ip-address"]  # noqa: E731
            self.assertEqual(sorted(o_leases, key=key), sorted(k_leases, key=key), command)
        for identifier_type, identifier in (("hw-address", "02:aa:00:00:00:01"), ("client-id", "01:02:aa")):
            arguments = {"identifier-type": identifier_type, "identifier": identifier, "subnet-id": 1}
            o, k = (server.send(request("lease4-get", arguments))[2][0]["arguments"]["ip-address"]
                    for server in (ours, kea))
            self.assertEqual((o, k), (by_address[0], self.INSERTION_ORDER[0]), identifier_type)


class KeaShellTests(AgentCase):
    """``kea-shell`` 2.2 through kea-ctrl-agent."""


    #: (command, the arguments kea-shell reads on stdin, services)
    CALLS = [
        ("list-commands", "", ["dhcp4"]),
        ("version-get", "", ["dhcp4"]),
        ("status-get", "", ["dhcp4"]),
        ("config-get", "", ["dhcp4"]),
        ("statistic-get", '"name": "subnet[1].assigned-addresses"', ["dhcp4"]),
        ("lease4-add", '"ip-address": "10.10.0.20", "hw-address": "1a:1b:1c:1d:1e:1f", "expire": 2000000000',
         ["dhcp4"]),
        ("lease4-get", '"ip-address": "10.10.0.20"', ["dhcp4"]),
        ("lease4-get-by-hostname", '"hostname": "host-3.example.org"', ["dhcp4"]),
        ("lease4-get-page", '"from": "start", "limit": 20', ["dhcp4"]),
        ("lease4-del", '"ip-address": "10.10.0.20"', ["dhcp4"]),
        ("lease4-get", '"ip-address": "10.10.0.20"', ["dhcp4"]),
        ("lease4-get", '"ip-address": 7', ["dhcp4"]),
        ("dhcp-disable", '"max-period": 30', ["dhcp4", "dhcp4"]),
        ("dhcp-enable", "", ["dhcp4"]),
        ("statistic-get-all", "", ["dhcp4"]),
        ("no-such-command", "", ["dhcp4"]),
    ]

    def shell(self, server: Server, command: str, stdin: str, services: List[str]) -> Tuple[int, Any]:
        argv = [KEA_SHELL, "--host", "127.0.0.1", "--port", str(server.agent_port), "--timeout", "20"]
        for service in services:
            argv += ["--service", service]
        # kea-shell runs on the system's python3: trial -j hands its workers
        # a PYTHONPATH of our interpreter's directories, which must not leak.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        proc = subprocess.run([*argv, command], input=stdin.encode(), capture_output=True,
                              env=env, timeout=HTTP_TIMEOUT + 10)
        text = proc.stdout.decode()
        try:
            printed = server.normalized(command, json.loads(text))
        except ValueError:
            printed = text + proc.stderr.decode()
        return proc.returncode, printed

    def test_same_answers_as_kea(self):
        """Each call prints the same answer (normalized) with exit 0 for
        kea_twisted and for Kea, and for kea_twisted it is the agent's
        list of answers."""
        require(KEA_CTRL_AGENT, KEA_SHELL, KEA_DHCP4)
        ours, kea = self.ours(18458), self.kea(18459)
        for command, stdin, services in self.CALLS:
            o = self.shell(ours, command, stdin, services)
            k = self.shell(kea, command, stdin, services)
            self.assertEqual(o, k, command)
            self.assertEqual(o[0], 0, f"{command}: {o[1]!r}")
            self.assertIsInstance(o[1], list, command)
            self.assertEqual(len(o[1]), len(services), command)
