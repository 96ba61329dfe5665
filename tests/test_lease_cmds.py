"""
Tests for hooks.lease_cmds: Kea 2.2's lease commands (spec/lease_cmds.md).

Commands go through a real :class:`~kea_twisted.hooks.HookRunner` and
:class:`~kea_twisted.commands.CommandTable`, over a fake server context
holding a real memfile store writing a real lease4.csv; a few go over a
real unix control socket and are compared byte for byte with Kea's
recorded answers.

Error texts carry Kea's ``(<wire>:0:N)`` positions when the command table
hands hook handlers the positioned command (``command_element``); until it
does, positions read ``<string>:0:0`` through the table, and
:class:`PositionTests` checks the wire positions by giving the handle the
positioned command directly.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from ipaddress import IPv4Address
from typing import Any, Dict, List, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

import hooks.lease_cmds as lease_cmds_module
from hooks.lease_cmds import (
    COMMANDS,
    LeaseCmds,
    client_id_from_text,
    duid_from_text,
    hwaddr_from_text,
    lease_cmds,
    parse_lease4,
    parse_lease4_plain,
    lease_to_element,
)
from kea_twisted.commands import CommandError, CommandTable, answer
from kea_twisted.config.element import MapElement, from_python
from kea_twisted.config.staging import BUILTIN_HOOK_LIBRARIES, stage_config_element
from kea_twisted.hooks import (
    IHookLibrary,
    IServerContext,
    command_hook_name,
    find_hook_library,
    load_library_objects,
)
from kea_twisted.kea_json import from_wire
from kea_twisted.leasefile import HEADER, LeaseFile, LeaseFileError
from kea_twisted.leases import Lease4, MemfileLeaseStore
from kea_twisted.net.control import ControlSocket
from kea_twisted.stats import StatsMgr
from tests.kea_socket import exchange_raw

LIBRARY = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"
#: The clock of spec §4's recorded answer.
NOW = 1795584818

SUBNETS = [
    {"id": 1, "subnet": "10.4.1.0/24", "pools": [{"pool": "10.4.1.10-10.4.1.19"}]},
    {"id": 2, "subnet": "10.4.2.0/24", "valid-lifetime": 600,
     "pools": [{"pool": "10.4.2.100-10.4.2.103"}]},
    {"id": 3, "subnet": "10.4.3.0/24", "pools": [{"pool": "10.4.3.10-10.4.3.19"}]},
]


def make_config(subnets: Optional[List[Dict[str, Any]]] = None, **extra: Any):
    """The spec's test configuration (subnets 1-3, valid-lifetime 4000)."""
    dhcp4: Dict[str, Any] = {"valid-lifetime": 4000,
                             "subnet4": SUBNETS if subnets is None else subnets}
    dhcp4.update(extra)
    return stage_config_element(from_python({"Dhcp4": dhcp4}), interfaces={})


CONFIG = make_config()
DDNS_CONFIG = make_config(**{"dhcp-ddns": {"enable-updates": True}})


@implementer(IServerContext)
class FakeServer:
    """The IServerContext the library sees: a clock, a model, a memfile
    store and statistics."""

    def __init__(self, clock: Any, config: Any, store: Any, stats: StatsMgr):
        self.reactor = clock
        self.config = config
        self.store = store
        self.stats = stats
        self.network_state = None
        self.table: Optional[CommandTable] = None

    def execute_command(self, command: str, arguments: Any = None) -> Deferred:
        return self.table.execute(command, arguments)


def _table_passes_elements() -> bool:
    """Whether CommandTable gives hook handlers the positioned command."""
    seen: List[Any] = []

    def probe(handle: Any) -> None:
        seen.append(handle.get_argument("command_element", None))
        handle.set_argument("response", answer(0, "ok"))

    @implementer(IHookLibrary)
    class Probe:
        def load(self, library: Any) -> None:
            library.register_command_handler("probe", probe)

        def unload(self) -> None:
            pass

    runner = load_library_objects([("probe", Probe(), {})])
    CommandTable(hooks=runner).process(from_wire(b'{"command": "probe", "arguments": {}}'))
    element = seen[0] if seen else None
    return isinstance(element, MapElement) and element["arguments"].pos is not None


POSITIONS = _table_passes_elements()


def command_text(name: str, arguments: Optional[str] = None) -> str:
    """A command as a client would write it (Kea's spacing in the spec)."""
    if arguments is None:
        return json.dumps({"command": name})
    return f'{{"command": "{name}", "arguments": {arguments}}}'


def expand(expected: str, text: str) -> str:
    """Fill the positions in ``expected`` as Kea 2.2 counts them on line 0
    (checked against kea-dhcp4): ``{args}`` is where the arguments map or
    list starts in ``text`` (1-based column), ``{v:key}`` where key's
    scalar value starts — Kea's scalars are one column early (0-based)."""
    def column(marker: str, base: int) -> str:
        return f"<wire>:0:{text.index(marker) + len(marker) + base}"

    if "{args}" in expected:
        expected = expected.replace("{args}", column('"arguments": ', 1))
    return re.sub(r"\{v:([a-z-]+)\}", lambda m: column(f'"{m.group(1)}": ', 0), expected)


def through_table(text: str) -> str:
    """Kea's text as it comes through a command table that does not pass
    positions: type errors lose theirs, SimpleParser errors read Kea's
    position for an element built in code."""
    if POSITIONS:
        return text
    text = re.sub(r" in \(<wire>:0:\d+\)", "", text)
    return re.sub(r"<wire>:0:\d+", "<string>:0:0", text)


class LeaseCmdsTestCase(SynchronousTestCase):
    """A server with the library loaded and an empty lease file."""

    def setUp(self) -> None:
        directory = self.mktemp()
        os.makedirs(directory)
        self.path = os.path.join(directory, "lease4.csv")
        self.lease_file = LeaseFile(self.path)
        self.lease_file.open()
        self.addCleanup(self.lease_file.close)
        self.clock = Clock()
        self.clock.advance(NOW)
        self.stats = StatsMgr(self.clock.seconds)
        self.store = MemfileLeaseStore(self.lease_file)
        self.server = FakeServer(self.clock, CONFIG, self.store, self.stats)
        self.runner = load_library_objects([(LIBRARY, lease_cmds, {})], server=self.server)
        self.addCleanup(self.runner.unload_all)
        self.table = CommandTable(hooks=self.runner)
        self.server.table = self.table

    # -- asking ----------------------------------------------------------------

    def ask_text(self, text: str) -> Dict[str, Any]:
        return self.successResultOf(self.table.process(from_wire(text.encode("utf-8"))))

    def ask(self, name: str, arguments: Any = None, raw: Optional[str] = None) -> Dict[str, Any]:
        """Run ``name`` with ``arguments`` (plain values) or ``raw`` text."""
        if raw is None and arguments is not None:
            raw = json.dumps(arguments)
        return self.ask_text(command_text(name, raw))

    def assertAnswer(self, name: str, raw: Optional[str], result: int, text: str) -> None:
        """``name`` with the raw arguments text is answered exactly
        ``{"result": result, "text": text}`` (positions filled in)."""
        request = command_text(name, raw)
        response = self.ask_text(request)
        self.assertEqual(response, {"result": result,
                                    "text": through_table(expand(text, request))},
                         request)

    # -- the lease file and statistics -------------------------------------------

    def rows(self) -> List[str]:
        with open(self.path, "rb") as f:
            lines = f.read().decode("latin-1").splitlines()
        self.assertEqual(lines[0], HEADER)
        return lines[1:]

    def stat(self, name: str, subnet_id: Optional[int] = None) -> Any:
        if subnet_id is not None:
            name = f"subnet[{subnet_id}].{name}"
        return self.stats.value(name)

    def add(self, address: str, hw: str, **extra: Any) -> Dict[str, Any]:
        arguments = {"ip-address": address, "hw-address": hw}
        arguments.update(extra)
        response = self.ask("lease4-add", arguments)
        self.assertEqual(response["result"], 0, response)
        return response

    def put(self, address: str, hwaddr: bytes, subnet_id: int = 1, **fields: Any) -> Lease4:
        """A lease in the store as the DHCP engine would put it."""
        values: Dict[str, Any] = dict(client_id=None, valid_lifetime=4000, cltt=NOW)
        values.update(fields)
        lease = Lease4(IPv4Address(address), hwaddr, subnet_id=subnet_id, **values)
        self.assertTrue(self.store.add_lease(lease))
        return lease

    def addresses(self, response: Dict[str, Any]) -> List[str]:
        return [lease["ip-address"] for lease in response["arguments"]["leases"]]


# ---------------------------------------------------------------------------


class LibraryTests(LeaseCmdsTestCase):
    """The library object, its loading and the commands it registers."""

    def test_interfaces(self):
        """The module has one object providing IHookLibrary and the fake
        server provides IServerContext."""
        self.assertTrue(verifyObject(IHookLibrary, lease_cmds))
        self.assertTrue(verifyObject(IServerContext, self.server))
        found = [v for v in vars(lease_cmds_module).values() if IHookLibrary.providedBy(v)]
        self.assertEqual(found, [lease_cmds])

    def test_builtin_mapping(self):
        """Kea's .so name loads this module's object."""
        self.assertEqual(BUILTIN_HOOK_LIBRARIES["libdhcp_lease_cmds.so"], "hooks.lease_cmds")
        self.assertIs(find_hook_library(LIBRARY), lease_cmds)

    def test_registers_every_command(self):
        """All 22 commands Kea registers in kea-dhcp4 (spec §12), and
        list-commands shows them."""
        self.assertEqual(len(COMMANDS), 22)
        self.assertEqual(sorted(self.runner.commands()), sorted(COMMANDS))
        listed = self.ask("list-commands")["arguments"]
        self.assertEqual(listed, sorted(COMMANDS + ("list-commands",)))

    def test_two_servers(self):
        """The one library object loaded by two servers answers each over
        its own store."""
        other_store = MemfileLeaseStore()
        other = FakeServer(self.clock, CONFIG, other_store, StatsMgr(self.clock.seconds))
        runner = load_library_objects([(LIBRARY, lease_cmds, {})], server=other)
        self.addCleanup(runner.unload_all)
        CommandTable(hooks=runner).process(from_wire(command_text(
            "lease4-add", '{"ip-address": "10.4.1.50", "hw-address": "01:02"}').encode()))
        self.assertEqual(len(other_store), 1)
        self.assertEqual(len(self.store), 0)

    def test_live_config(self):
        """Handlers read the server's configuration at each command."""
        self.server.config = make_config([{"id": 7, "subnet": "10.4.1.0/24"}])
        self.add("10.4.1.50", "01:02")
        self.assertEqual(self.store.get_lease4(IPv4Address("10.4.1.50")).subnet_id, 7)

    def test_execute_command(self):
        """Commands reach the library through execute_command too (other
        hook libraries use that)."""
        response = self.successResultOf(self.server.execute_command(
            "lease4-add", {"ip-address": "10.4.1.50", "hw-address": "01:02"}))
        self.assertEqual(response["result"], 0)

    def test_store_error_is_result_1(self):
        """A lease file that cannot be written answers result 1 with the
        error's text and changes nothing."""
        self.lease_file.close()
        response = self.ask("lease4-add", {"ip-address": "10.4.1.50", "hw-address": "01:02"})
        self.assertEqual(response["result"], 1)
        self.assertIn("closed stream", response["text"])
        self.assertEqual(len(self.store), 0)
        self.assertIsNone(self.stat("assigned-addresses", 1))
        self.assertEqual(len(self.flushLoggedErrors(LeaseFileError)), 1)

    def test_logging(self):
        """lease4-add logs Kea's LEASE_CMDS_ADD4 with the arguments text;
        a failure LEASE_CMDS_ADD4_FAILED."""
        from twisted.logger import capturedLogs

        with capturedLogs() as events:
            self.add("10.4.1.50", "01:02")
            self.ask("lease4-add", {"ip-address": "10.4.1.50", "hw-address": "01:02"})
        ids = [e.get("msgid") for e in events if "LEASE_CMDS" in str(e.get("msgid"))]
        self.assertEqual(ids, ["LEASE_CMDS_ADD4", "LEASE_CMDS_ADD4_FAILED"])


class IdentifierTests(SynchronousTestCase):
    """Kea's readings of hw-address, client-id and DUID texts."""

    def test_hwaddr(self):
        """Groups of 1-2 hex digits separated by colons, any case; empty is
        no hw-address."""
        self.assertEqual(hwaddr_from_text("1a:b:1C:1d:1e:9"), bytes.fromhex("1a0b1c1d1e09"))
        self.assertEqual(hwaddr_from_text(""), b"")
        self.assertEqual(hwaddr_from_text(":".join(["ff"] * 20)), b"\xff" * 20)

    def test_hwaddr_errors(self):
        """Kea's texts for each malformed hw-address."""
        for text, message in [
            ("zz:zz", "'z' is not a valid hexadecimal digit in decoded string 'zz:zz'"),
            ("1A-1B-1C", "invalid format of the decoded string '1A-1B-1C'"),
            ("1a1b", "invalid format of the decoded string '1a1b'"),
            ("1a::1b", "two consecutive separators (':') specified in a decoded string '1a::1b'"),
            (":".join(["ff"] * 21), "address vector size exceeds MAX_HWADDR_LEN"),
        ]:
            with self.assertRaises(CommandError) as caught:
                hwaddr_from_text(text)
            self.assertEqual(str(caught.exception), message)

    def test_client_id(self):
        """Colon- or space-separated, or plain hex (odd length gets a
        leading 0; 0x allowed)."""
        self.assertEqual(client_id_from_text("01:02:03"), b"\x01\x02\x03")
        self.assertEqual(client_id_from_text("01 02 3"), b"\x01\x02\x03")
        self.assertEqual(client_id_from_text("abc"), b"\x0a\xbc")
        self.assertEqual(client_id_from_text("0x0102"), b"\x01\x02")
        self.assertEqual(client_id_from_text("ABCD"), b"\xab\xcd")

    def test_client_id_errors(self):
        """Kea's texts: bad digits, empty, too short, too long."""
        for text, message in [
            ("zz", "'zz' is not a valid string of hexadecimal digits"),
            ("'abc'", "''abc'' is not a valid string of hexadecimal digits"),
            ("", "Empty DUIDs are not allowed"),
            ("01", "client-id is too short (1), at least 2 is required"),
            ("ab" * 129, "DUID size is 129 bytes, exceeds maximum of 128"),
        ]:
            with self.assertRaises(CommandError) as caught:
                client_id_from_text(text)
            self.assertEqual(str(caught.exception), message)

    def test_duid(self):
        """A one-byte DUID is fine (the 2-byte minimum is client-id's)."""
        self.assertEqual(duid_from_text("01"), b"\x01")

    def test_lease_to_element(self):
        """Lease4::toElement: client-id and user-context only when set."""
        lease = Lease4(IPv4Address("10.4.1.10"), b"\x02\x00", None, 4000, NOW, 1)
        self.assertEqual(lease_to_element(lease), {
            "cltt": NOW, "fqdn-fwd": False, "fqdn-rev": False, "hostname": "",
            "hw-address": "02:00", "ip-address": "10.4.1.10", "state": 0, "subnet-id": 1,
            "valid-lft": 4000})
        self.assertEqual(list(lease_to_element(lease)), sorted(lease_to_element(lease)))


# ---------------------------------------------------------------------------
# lease4-add (spec §2, §11)

ADD_OK = '"ip-address": "10.4.1.61", "hw-address": "1a:1b:1c:1d:1e:61"'

#: (arguments text, Kea's text) — spec §2.3, every row, and a few more.
ADD_ERRORS = [
    ("{}", "missing parameter 'ip-address' ({args})"),
    ("[1]", "get(string) called on a non-map Element in ({args})"),
    # A scalar is one column early in Kea's count.
    ("null", "get(string) called on a non-map Element in (<wire>:0:39)"),
    ('{"ip-address": "10.4.1.61"}', "missing parameter 'hw-address' ({args})"),
    ('{"ip-address": 5, "hw-address": "01:02"}',
     "invalid type specified for parameter 'ip-address' ({v:ip-address})"),
    ('{"ip-address": "10.4.1.999", "hw-address": "01:02"}',
     "Failed to convert '10.4.1.999' to address: Failed to convert string to address "
     "'10.4.1.999': Invalid argument({v:ip-address})"),
    ('{"ip-address": "2001:db8::1", "hw-address": "01:02"}',
     "Non-IPv4 address specified: 2001:db8::1"),
    ('{"ip-address": "10.99.0.1", "hw-address": "01:02"}',
     "subnet-id not specified and failed to find a subnet for address 10.99.0.1"),
    ('{%s, "subnet-id": 2}' % ADD_OK,
     "The address 10.4.1.61 does not belong to subnet 10.4.2.0/24, subnet-id=2"),
    ('{%s, "subnet-id": 99}' % ADD_OK,
     "Invalid subnet-id: No IPv4 subnet with subnet-id=99 currently configured."),
    ('{%s, "subnet-id": "1"}' % ADD_OK,
     "invalid type specified for parameter 'subnet-id' ({v:subnet-id})"),
    ('{%s, "subnet-id": -1}' % ADD_OK,
     "out of range value (-1) specified for parameter 'subnet-id' ({v:subnet-id})"),
    ('{%s, "subnet-id": 4294967296}' % ADD_OK,
     "out of range value (4294967296) specified for parameter 'subnet-id' ({v:subnet-id})"),
    ('{"ip-address": "10.4.1.61", "hw-address": "zz:zz"}',
     "'z' is not a valid hexadecimal digit in decoded string 'zz:zz'"),
    ('{"ip-address": "10.4.1.61", "hw-address": "1A-1B-1C-1D-1E-07"}',
     "invalid format of the decoded string '1A-1B-1C-1D-1E-07'"),
    ('{"ip-address": "10.4.1.61", "hw-address": "1a1b1c1d1e08"}',
     "invalid format of the decoded string '1a1b1c1d1e08'"),
    ('{"ip-address": "10.4.1.61", "hw-address": 5}',
     "invalid type specified for parameter 'hw-address' ({v:hw-address})"),
    ('{"ip-address": "10.4.1.61", "hw-address": "%s"}' % ":".join(["1a"] * 26),
     "address vector size exceeds MAX_HWADDR_LEN"),
    ('{"ip-address": "10.4.2.103", "hw-address": ""}',
     "Lease4: 10.4.2.103, state: default has neither hardware address or client id"),
    ('{%s, "client-id": "zz"}' % ADD_OK, "'zz' is not a valid string of hexadecimal digits"),
    ('{%s, "client-id": "\'abc\'"}' % ADD_OK,
     "''abc'' is not a valid string of hexadecimal digits"),
    ('{%s, "client-id": ""}' % ADD_OK, "Empty DUIDs are not allowed"),
    ('{%s, "client-id": "01"}' % ADD_OK, "client-id is too short (1), at least 2 is required"),
    ('{%s, "client-id": 1}' % ADD_OK,
     "invalid type specified for parameter 'client-id' ({v:client-id})"),
    ('{%s, "valid-lft": -1}' % ADD_OK,
     "out of range value (-1) specified for parameter 'valid-lft' ({v:valid-lft})"),
    ('{%s, "valid-lft": "10"}' % ADD_OK,
     "invalid type specified for parameter 'valid-lft' ({v:valid-lft})"),
    ('{%s, "expire": 0}' % ADD_OK, "expiration time must be positive for address 10.4.1.61"),
    ('{%s, "expire": -5}' % ADD_OK, "expiration time must be positive for address 10.4.1.61"),
    ('{%s, "valid-lft": 3600, "expire": 100}' % ADD_OK,
     "expiration time must be greater than valid lifetime for address 10.4.1.61"),
    ('{%s, "expire": "x"}' % ADD_OK,
     "invalid type specified for parameter 'expire' ({v:expire})"),
    ('{%s, "state": 3}' % ADD_OK,
     "Invalid state value: 3, supported values are: 0 (default), 1 (declined) and 2 "
     "(expired-reclaimed)"),
    ('{%s, "state": -1}' % ADD_OK,
     "out of range value (-1) specified for parameter 'state' ({v:state})"),
    ('{%s, "state": 256}' % ADD_OK,
     "out of range value (256) specified for parameter 'state' ({v:state})"),
    ('{%s, "state": "0"}' % ADD_OK,
     "invalid type specified for parameter 'state' ({v:state})"),
    ('{%s, "fqdn-fwd": true}' % ADD_OK,
     "No hostname specified and either forward or reverse fqdn was set to true."),
    ('{%s, "fqdn-rev": true, "hostname": ""}' % ADD_OK,
     "No hostname specified and either forward or reverse fqdn was set to true."),
    ('{%s, "fqdn-rev": "yes"}' % ADD_OK,
     "invalid type specified for parameter 'fqdn-rev' ({v:fqdn-rev})"),
    ('{%s, "hostname": 5}' % ADD_OK,
     "invalid type specified for parameter 'hostname' ({v:hostname})"),
    ('{%s, "user-context": [1]}' % ADD_OK, "Invalid user context '[ 1 ]' is not a JSON map."),
    ('{%s, "user-context": "x"}' % ADD_OK, "Invalid user context '\"x\"' is not a JSON map."),
    ('{%s, "user-context": {"comment": "x"}, "comment": "y"}' % ADD_OK,
     "Duplicated comment entry '\"y\"' in user context '{ \"comment\": \"x\" }'"),
    ('{%s, "force-create": "yes"}' % ADD_OK,
     "invalid type specified for parameter 'force-create' ({v:force-create})"),
    # Kea's order: hw-address before client-id, state before user-context.
    ('{"ip-address": "10.4.1.61", "hw-address": "zz", "client-id": "zz"}',
     "'z' is not a valid hexadecimal digit in decoded string 'zz'"),
    ('{%s, "state": 9, "user-context": 1}' % ADD_OK,
     "Invalid state value: 9, supported values are: 0 (default), 1 (declined) and 2 "
     "(expired-reclaimed)"),
]


class AddTests(LeaseCmdsTestCase):
    """lease4-add (spec §2, §11)."""

    def test_minimal(self):
        """Defaults: the subnet's valid-lifetime, cltt now, no hostname,
        state 0; one lease4.csv row; assigned-addresses +1 and nothing
        else (spec §2.2, §11)."""
        response = self.ask("lease4-add", {"ip-address": "10.4.1.50",
                                           "hw-address": "1a:1b:1c:1d:1e:01"})
        self.assertEqual(response, {"result": 0,
                                    "text": "Lease for address 10.4.1.50, subnet-id 1 added."})
        got = self.ask("lease4-get", {"ip-address": "10.4.1.50"})["arguments"]
        self.assertEqual(got, {"cltt": NOW, "fqdn-fwd": False, "fqdn-rev": False,
                               "hostname": "", "hw-address": "1a:1b:1c:1d:1e:01",
                               "ip-address": "10.4.1.50", "state": 0, "subnet-id": 1,
                               "valid-lft": 4000})
        self.assertEqual(self.rows(), [f"10.4.1.50,1a:1b:1c:1d:1e:01,,4000,{NOW + 4000},1,0,0,,0,"])
        self.assertEqual(self.stat("assigned-addresses", 1), 1)
        self.assertEqual(sorted(self.stats.names()), ["subnet[1].assigned-addresses"])

    def test_all_fields(self):
        """The spec's all-fields example: cltt = expire - valid-lft,
        hostname lowercased, comment inside user-context; its row."""
        arguments = ('{"ip-address": "10.4.1.11", "hw-address": "1a:1b:1c:1d:1e:02", '
                     '"client-id": "01:1a:1b:1c:1d:1e:02", "subnet-id": 1, "valid-lft": 3600, '
                     '"expire": 1795587818, "fqdn-fwd": true, "fqdn-rev": true, '
                     '"hostname": "Host-A.Example.org.", "state": 0, '
                     '"user-context": {"a": 1, "b": [1, 2]}, "comment": "hello"}')
        response = self.ask("lease4-add", raw=arguments)
        self.assertEqual(response, {"result": 0,
                                    "text": "Lease for address 10.4.1.11, subnet-id 1 added."})
        got = self.ask("lease4-get", {"ip-address": "10.4.1.11"})
        self.assertEqual(got, {"result": 0, "text": "IPv4 lease found.", "arguments": {
            "client-id": "01:1a:1b:1c:1d:1e:02", "cltt": 1795584218, "fqdn-fwd": True,
            "fqdn-rev": True, "hostname": "host-a.example.org.",
            "hw-address": "1a:1b:1c:1d:1e:02", "ip-address": "10.4.1.11", "state": 0,
            "subnet-id": 1, "user-context": {"a": 1, "b": [1, 2], "comment": "hello"},
            "valid-lft": 3600}})
        self.assertEqual(self.rows(), [
            '10.4.1.11,1a:1b:1c:1d:1e:02,01:1a:1b:1c:1d:1e:02,3600,1795587818,1,1,1,'
            'host-a.example.org.,0,{ "a": 1&#x2c "b": [ 1&#x2c 2 ]&#x2c "comment": "hello" }'])

    def test_hw_address_forms(self):
        """One-digit groups are padded, upper case is stored lower."""
        self.add("10.4.2.102", "1a:b:1c:1d:1e:9")
        self.add("10.4.2.103", "1A:1B:1C:1D:1E:0A")
        leases = self.ask("lease4-get-all")["arguments"]["leases"]
        self.assertEqual([lease["hw-address"] for lease in leases],
                         ["1a:0b:1c:1d:1e:09", "1a:1b:1c:1d:1e:0a"])

    def test_client_id_forms(self):
        """Plain hex client-ids: an odd length gets a leading 0."""
        self.add("10.4.1.20", "01:02", **{"client-id": "abc"})
        self.add("10.4.1.21", "01:03", **{"client-id": "01 02 03"})
        leases = self.ask("lease4-get-all")["arguments"]["leases"]
        self.assertEqual([lease["client-id"] for lease in leases], ["0a:bc", "01:02:03"])

    def test_no_hw_address_with_client_id(self):
        """An empty hw-address is fine when there is a client-id."""
        self.add("10.4.1.20", "", **{"client-id": "01:02"})
        self.assertEqual(self.rows(), [f"10.4.1.20,,01:02,4000,{NOW + 4000},1,0,0,,0,"])

    def test_valid_lifetime_zero(self):
        """valid-lft 0 is allowed; the row's expire is the cltt (spec §11.1)."""
        self.add("10.4.1.15", "1a:1b:1c:1d:1e:06", **{"valid-lft": 0})
        self.assertEqual(self.rows(), [f"10.4.1.15,1a:1b:1c:1d:1e:06,,0,{NOW},1,0,0,,0,"])

    def test_subnet_default_lifetime(self):
        """The default valid-lft is the subnet's (600 in subnet 2)."""
        self.add("10.4.2.100", "01:02")
        self.assertEqual(self.store.get_lease4(IPv4Address("10.4.2.100")).valid_lifetime, 600)

    def test_past_expire_counts(self):
        """An expire in the past is accepted and still counts in
        assigned-addresses (spec §11.2)."""
        self.add("10.4.1.16", "01:02", expire=1000, **{"valid-lft": 100})
        lease = self.store.get_lease4(IPv4Address("10.4.1.16"))
        self.assertEqual((lease.cltt, lease.expire), (900, 1000))
        self.assertEqual(self.stat("assigned-addresses", 1), 1)

    def test_any_address_of_the_subnet(self):
        """Network, broadcast and out-of-pool addresses are accepted."""
        for address in ("10.4.3.0", "10.4.3.255", "10.4.1.50"):
            self.add(address, "01:02")
        self.assertEqual(len(self.store), 3)

    def test_unknown_keys_ignored(self):
        """Unknown keys and force-create are ignored by add."""
        self.add("10.4.1.50", "01:02", foo="bar", **{"force-create": True})
        self.assertEqual(len(self.store), 1)

    def test_subnet_id_zero_selects(self):
        """subnet-id 0 is the same as none: the subnet holding the address."""
        self.add("10.4.3.7", "01:02", **{"subnet-id": 0})
        self.assertEqual(self.store.get_lease4(IPv4Address("10.4.3.7")).subnet_id, 3)

    def test_classed_subnet_not_selected(self):
        """A subnet with a client-class is never chosen by address [obs],
        only named by subnet-id."""
        subnets = [dict(SUBNETS[0]), dict(SUBNETS[2], **{"client-class": "foo"})]
        self.server.config = make_config(subnets)
        self.assertAnswer("lease4-add", '{"ip-address": "10.4.3.5", "hw-address": "01:02"}', 1,
                          "subnet-id not specified and failed to find a subnet for address "
                          "10.4.3.5")
        self.add("10.4.3.5", "01:02", **{"subnet-id": 3})

    def test_hostname_ascii_lowercase(self):
        """Only ASCII letters are lowercased (Kea's C locale); other
        characters are kept and written as Kea's single bytes."""
        self.add("10.4.1.50", "01:02", hostname="Ab\u00c9.Example.")
        self.assertEqual(self.store.get_lease4(IPv4Address("10.4.1.50")).hostname,
                         "ab\u00c9.example.")
        with open(self.path, "rb") as f:
            self.assertIn(b",ab\xc9.example.,", f.read())

    def test_declined_and_reclaimed_statistics(self):
        """State 1 counts assigned and declined (subnet and global);
        state 2 counts nothing (spec §11.2)."""
        self.add("10.4.1.10", "01:02", state=1)
        self.assertEqual(self.stat("assigned-addresses", 1), 1)
        self.assertEqual(self.stat("declined-addresses", 1), 1)
        self.assertEqual(self.stat("declined-addresses"), 1)
        self.add("10.4.1.11", "01:03", state=2)
        self.assertEqual(self.stat("assigned-addresses", 1), 1)
        self.assertEqual(self.stat("declined-addresses"), 1)
        self.assertIsNone(self.stat("cumulative-assigned-addresses", 1))
        self.assertEqual(self.rows()[1].split(",")[9], "2")

    def test_duplicate(self):
        """A taken address, with the same or another hw-address."""
        self.add("10.4.1.50", "01:02")
        for hw in ("01:02", "01:03"):
            self.assertAnswer("lease4-add", '{"ip-address": "10.4.1.50", "hw-address": "%s"}'
                              % hw, 1, "IPv4 lease already exists.")
        self.assertEqual(len(self.rows()), 1)
        self.assertEqual(self.stat("assigned-addresses", 1), 1)

    def test_no_arguments(self):
        """Without arguments."""
        self.assertAnswer("lease4-add", None, 1, "no parameters specified for the command")

    def test_errors(self):
        """Every refusal of spec §2.3 with Kea's text; nothing is stored,
        written or counted."""
        for arguments, text in ADD_ERRORS:
            self.assertAnswer("lease4-add", arguments, 1, text)
        self.assertEqual(len(self.store), 0)
        self.assertEqual(self.rows(), [])
        self.assertEqual(self.stats.names(), [])


# ---------------------------------------------------------------------------
# lease4-get (spec §3)

DHCP_LEASE = {"client-id": "01:02:00:00:00:09:01", "cltt": NOW, "fqdn-fwd": False,
              "fqdn-rev": False, "hostname": "dhcp-client", "hw-address": "02:00:00:00:09:01",
              "ip-address": "10.4.1.10", "state": 0, "subnet-id": 1, "valid-lft": 4000}

GET_CASES = [
    ('{"ip-address": "10.4.1.99"}', 3, "Lease not found."),
    ('{"identifier-type": "hw-address", "identifier": "02:00:00:00:09:01", "subnet-id": 2}',
     3, "Lease not found."),
    ('{"identifier-type": "hw-address", "identifier": "02:00:00:00:09:01"}',
     1, "Mandatory 'subnet-id' parameter missing."),
    ("{}", 1, "Mandatory 'subnet-id' parameter missing."),
    ('{"subnet-id": 1}', 1,
     "No 'ip-address' provided and 'identifier-type' is either missing or not a string."),
    ('{"identifier": "02:00:00:00:09:01", "subnet-id": 1}', 1,
     "No 'ip-address' provided and 'identifier-type' is either missing or not a string."),
    ('{"identifier-type": "hw-address", "subnet-id": 1}', 1,
     "No 'ip-address' provided and 'identifier' is either missing or not a string."),
    ('{"identifier-type": "duid", "identifier": "01:02", "subnet-id": 1}', 1,
     "Query by duid is not allowed in v4."),
    ('{"identifier-type": "flex-id", "identifier": "01:02", "subnet-id": 1}', 1,
     "Incorrect identifier type: flex-id, the only supported values are: address, "
     "hw-address, duid"),
    ('{"identifier-type": "foo", "identifier": "01:02", "subnet-id": 1}', 1,
     "Incorrect identifier type: foo, the only supported values are: address, hw-address, duid"),
    ('{"identifier-type": "hw-address", "identifier": "xyz", "subnet-id": 1}', 1,
     "invalid format of the decoded string 'xyz'"),
    ('{"identifier-type": "client-id", "identifier": "zz", "subnet-id": 1}', 1,
     "'zz' is not a valid string of hexadecimal digits"),
    ('{"identifier-type": "hw-address", "identifier": "01:02", "subnet-id": "1"}', 1,
     "'subnet-id' parameter is not integer."),
    ('{"identifier-type": "address", "identifier": "10.4.1.10", "subnet-id": 1}', 3,
     "Lease not found."),
    ('{"identifier-type": "hw-address", "identifier": "01:02", "subnet-id": 1, "iaid": "x"}', 1,
     "intValue() called on non-integer Element in ({v:iaid})"),
    ('{"ip-address": "abc"}', 1, "Failed to convert string to address 'abc': Invalid argument"),
    ('{"ip-address": 5}', 1, "'ip-address' is not a string."),
    ('{"ip-address": "2001:db8::1"}', 1, "Invalid IPv4 address specified: 2001:db8::1"),
    ('{"ip-address": "10.4.1.10", "update-ddns": "x"}', 1, "'update-ddns' is not a boolean"),
    ('{"ip-address": "10.4.1.10", "type": 5}', 1,
     "stringValue() called on non-string Element in ({v:type})"),
    ('{"ip-address": "10.4.1.10", "type": "XX"}', 1,
     "Invalid lease type specified: XX, only supported values are: IA_NA, IA_TA, IA_PD and V4"),
    (None, 1, "Parameters missing or are not a map."),
    ("[1]", 1, "Parameters missing or are not a map."),
]


class GetTests(LeaseCmdsTestCase):
    """lease4-get (spec §3)."""

    def setUp(self) -> None:
        super().setUp()
        self.put("10.4.1.10", bytes.fromhex("020000000901"),
                 client_id=bytes.fromhex("01020000000901"), hostname="dhcp-client")
        self.rows_before = self.rows()

    def found(self, raw: str) -> None:
        self.assertEqual(self.ask("lease4-get", raw=raw),
                         {"result": 0, "text": "IPv4 lease found.", "arguments": DHCP_LEASE}, raw)

    def test_by_address(self):
        """By address: a DHCP lease shows as in spec §1."""
        self.found('{"ip-address": "10.4.1.10"}')

    def test_by_identifiers(self):
        """By hw-address or client-id in a subnet; upper-case identifiers
        match; ip-address wins over an identifier; lease type is accepted."""
        self.found('{"identifier-type": "hw-address", "identifier": "02:00:00:00:09:01", '
                   '"subnet-id": 1}')
        self.found('{"identifier-type": "client-id", "identifier": "01:02:00:00:00:09:01", '
                   '"subnet-id": 1}')
        self.found('{"identifier-type": "hw-address", "identifier": "02:00:00:00:09:01", '
                   '"subnet-id": 1, "iaid": 5}')
        self.found('{"ip-address": "10.4.1.10", "identifier-type": "hw-address", '
                   '"identifier": "ff:ff", "subnet-id": 3}')
        self.found('{"ip-address": "10.4.1.10", "type": "IA_NA"}')

    def test_expired_lease(self):
        """An expired lease is returned like any other (spec §1)."""
        self.add("10.4.1.12", "01:02", expire=1000, **{"valid-lft": 0})
        response = self.ask("lease4-get", {"ip-address": "10.4.1.12"})
        self.assertEqual((response["result"], response["arguments"]["cltt"]), (0, 1000))

    def test_cases(self):
        """Not found (result 3) and every refusal of spec §3; no side
        effects."""
        for raw, result, text in GET_CASES:
            self.assertAnswer("lease4-get", raw, result, text)
        self.assertEqual(self.rows(), self.rows_before)
        self.assertEqual(self.stats.names(), [])


# ---------------------------------------------------------------------------
# lease4-get-all, lease4-get-page (spec §4, §5)


class GetAllTests(LeaseCmdsTestCase):
    """lease4-get-all (spec §4)."""

    def setUp(self) -> None:
        super().setUp()
        for address in ("10.4.1.50", "10.4.3.10", "10.4.3.11", "10.4.1.10", "10.4.2.102",
                        "10.4.3.0", "10.4.3.255"):
            self.add(address, "01:02")

    def test_all(self):
        """Without arguments: every lease, ascending address."""
        response = self.ask("lease4-get-all")
        self.assertEqual((response["result"], response["text"]), (0, "7 IPv4 lease(s) found."))
        self.assertEqual(self.addresses(response), [
            "10.4.1.10", "10.4.1.50", "10.4.2.102", "10.4.3.0", "10.4.3.10", "10.4.3.11",
            "10.4.3.255"])
        self.assertEqual(response["arguments"]["leases"][0],
                         self.ask("lease4-get", {"ip-address": "10.4.1.10"})["arguments"])

    def test_subnets(self):
        """``subnets``: subnet by subnet in the listed order."""
        response = self.ask("lease4-get-all", {"subnets": [3, 2]})
        self.assertEqual(response["text"], "5 IPv4 lease(s) found.")
        self.assertEqual(self.addresses(response),
                         ["10.4.3.0", "10.4.3.10", "10.4.3.11", "10.4.3.255", "10.4.2.102"])
        self.assertEqual(self.addresses(self.ask("lease4-get-all", {"subnets": [2]})),
                         ["10.4.2.102"])

    def test_empty(self):
        """Nothing found is result 3 with an empty list."""
        empty = {"arguments": {"leases": []}, "result": 3, "text": "0 IPv4 lease(s) found."}
        self.assertEqual(self.ask("lease4-get-all", {"subnets": []}), empty)
        self.assertEqual(self.ask("lease4-get-all", {"subnets": [99]}), empty)
        self.ask("lease4-wipe")
        self.assertEqual(self.ask("lease4-get-all"), empty)

    def test_errors(self):
        """Refusals, including ``{}`` (an arguments map needs subnets)."""
        for raw, text in [
            ('{"subnets": 2}', "'subnets' parameter must be a list"),
            ('{"subnets": ["2"]}', "listed subnet identifiers must be numbers"),
            ("{}", "'subnets' parameter not specified"),
            ('{"foo": 1}', "'subnets' parameter not specified"),
            ("[1]", "get(string) called on a non-map Element in ({args})"),
        ]:
            self.assertAnswer("lease4-get-all", raw, 1, text)


class GetPageTests(LeaseCmdsTestCase):
    """lease4-get-page (spec §5)."""

    def setUp(self) -> None:
        super().setUp()
        for address in ("10.4.1.10", "10.4.1.11", "10.4.1.12", "10.4.1.13", "10.4.1.14",
                        "10.4.1.15", "10.4.2.102", "10.4.3.255"):
            self.add(address, "01:02")

    def page(self, start: str, limit: int, **extra: Any) -> Dict[str, Any]:
        arguments = {"from": start, "limit": limit}
        arguments.update(extra)
        return self.ask("lease4-get-page", arguments)

    def test_pages(self):
        """Ascending address over all subnets, ``from`` excluded, any
        address as ``from``; 0.0.0.0 is start; subnets ignored."""
        first = self.page("start", 3)
        self.assertEqual((first["result"], first["text"], first["arguments"]["count"]),
                         (0, "3 IPv4 lease(s) found.", 3))
        self.assertEqual(self.addresses(first), ["10.4.1.10", "10.4.1.11", "10.4.1.12"])
        self.assertEqual(self.addresses(self.page("10.4.1.12", 3)),
                         ["10.4.1.13", "10.4.1.14", "10.4.1.15"])
        self.assertEqual(self.addresses(self.page("10.4.2.0", 1)), ["10.4.2.102"])
        self.assertEqual(self.page("0.0.0.0", 3, subnets=[2]), first)
        self.assertEqual(len(self.addresses(self.page("start", 1000000))), 8)
        self.assertEqual(len(self.addresses(self.page("start", 4294967295))), 8)

    def test_past_the_end(self):
        """Past the end: count 0, result 3."""
        empty = {"arguments": {"count": 0, "leases": []}, "result": 3,
                 "text": "0 IPv4 lease(s) found."}
        self.assertEqual(self.page("10.4.3.255", 3), empty)
        self.assertEqual(self.page("255.255.255.255", 3), empty)

    def test_errors(self):
        """Every refusal of spec §5."""
        self.assertAnswer("lease4-get-page", None, 1,
                          "no parameters specified for the lease4-get-page command")
        for raw, text in [
            ('{"limit": 3}', "'from' parameter not specified"),
            ('{"from": 5, "limit": 3}', "'from' parameter must be a string"),
            ('{"from": "begin", "limit": 3}',
             "'from' parameter value is neither 'start' keyword nor a valid IPv4 address"),
            ('{"from": "2001:db8::", "limit": 3}',
             "'from' parameter value 2001:db8:: is not an IPv4 address"),
            ('{"from": "start"}', "'limit' parameter not specified"),
            ('{"from": "start", "limit": "2"}', "'limit' parameter must be a number"),
            ('{"from": "start", "limit": 0}', "page size of retrieved leases must not be 0"),
            ('{"from": "start", "limit": -1}',
             "page size of retrieved leases must not be greater than 4294967295"),
            ('{"from": "start", "limit": 4294967296}',
             "page size of retrieved leases must not be greater than 4294967295"),
            ("[1]", "get(string) called on a non-map Element in ({args})"),
        ]:
            self.assertAnswer("lease4-get-page", raw, 1, text)


class GetByTests(LeaseCmdsTestCase):
    """lease4-get-by-hw-address, -by-client-id, -by-hostname (spec §6)."""

    def setUp(self) -> None:
        super().setUp()
        self.add("10.4.1.10", "1a:1b:1c:1d:1e:01", hostname="host-a.example.org.",
                 **{"client-id": "01:02:03"})
        self.add("10.4.2.100", "1a:1b:1c:1d:1e:01", hostname="Host-A.example.org.")
        self.add("10.4.3.10", "1a:1b:1c:1d:1e:02", **{"client-id": "01:02:03"})

    def test_found(self):
        """Every subnet is searched; hw-address and hostname are
        case-insensitive."""
        response = self.ask("lease4-get-by-hw-address", {"hw-address": "1A:1B:1C:1D:1E:01"})
        self.assertEqual((response["result"], response["text"]), (0, "2 IPv4 lease(s) found."))
        self.assertEqual(self.addresses(response), ["10.4.1.10", "10.4.2.100"])
        self.assertEqual(self.addresses(self.ask("lease4-get-by-client-id",
                                                 {"client-id": "01:02:03"})),
                         ["10.4.1.10", "10.4.3.10"])
        self.assertEqual(self.addresses(self.ask("lease4-get-by-hostname",
                                                 {"hostname": "HOST-a.example.org."})),
                         ["10.4.1.10", "10.4.2.100"])

    def test_not_found(self):
        """Nothing found: result 3; a hostname without its trailing dot is
        not the same hostname."""
        empty = {"arguments": {"leases": []}, "result": 3, "text": "0 IPv4 lease(s) found."}
        self.assertEqual(self.ask("lease4-get-by-hostname", {"hostname": "host-a.example.org"}),
                         empty)
        self.assertEqual(self.ask("lease4-get-by-hw-address", {"hw-address": "ff:ff"}), empty)
        self.assertEqual(self.ask("lease4-get-by-client-id", {"client-id": "ff:ff"}), empty)

    def test_errors(self):
        """Every refusal of spec §6."""
        for name, raw, text in [
            ("lease4-get-by-hw-address", '{"hw-address": "1a1b1c1d1e01"}',
             "invalid format of the decoded string '1a1b1c1d1e01'"),
            ("lease4-get-by-hw-address", '{"hw-address": "zz"}',
             "'z' is not a valid hexadecimal digit in decoded string 'zz'"),
            ("lease4-get-by-hw-address", '{"hw-address": 5}',
             "'hw-address' parameter must be a string"),
            ("lease4-get-by-hw-address", "{}", "'hw-address' parameter not specified"),
            ("lease4-get-by-hw-address", None, "Command arguments missing or a not a map."),
            ("lease4-get-by-hw-address", "[1]", "Command arguments missing or a not a map."),
            ("lease4-get-by-client-id", '{"client-id": "zz"}',
             "'zz' is not a valid string of hexadecimal digits"),
            ("lease4-get-by-client-id", '{"client-id": ""}', "Empty DUIDs are not allowed"),
            ("lease4-get-by-client-id", '{"client-id": 5}',
             "'client-id' parameter must be a string"),
            ("lease4-get-by-client-id", "{}", "'client-id' parameter not specified"),
            ("lease4-get-by-client-id", None, "Command arguments missing or a not a map."),
            ("lease4-get-by-hostname", '{"hostname": ""}', "'hostname' parameter is empty"),
            ("lease4-get-by-hostname", '{"hostname": 5}', "'hostname' parameter must be a string"),
            ("lease4-get-by-hostname", "{}", "'hostname' parameter not specified"),
            ("lease4-get-by-hostname", None, "Command arguments missing or a not a map."),
        ]:
            self.assertAnswer(name, raw, 1, text)


# ---------------------------------------------------------------------------
# lease4-update (spec §7, §11)


class UpdateTests(LeaseCmdsTestCase):
    """lease4-update (spec §7, §11)."""

    def test_replaces_the_lease(self):
        """Fields not given take their defaults, not the old values: the
        DHCP lease loses its client-id and hostname and gets cltt now; the
        row is the whole new lease."""
        self.put("10.4.1.10", bytes.fromhex("020000000901"),
                 client_id=bytes.fromhex("01020000000901"), hostname="dhcp-client", cltt=NOW - 50)
        self.clock.advance(18)
        response = self.ask("lease4-update", {"ip-address": "10.4.1.10",
                                              "hw-address": "02:00:00:00:09:01", "valid-lft": 50})
        self.assertEqual(response, {"result": 0, "text": "IPv4 lease updated."})
        got = self.ask("lease4-get", {"ip-address": "10.4.1.10"})["arguments"]
        self.assertEqual(got, {"cltt": NOW + 18, "fqdn-fwd": False, "fqdn-rev": False,
                               "hostname": "", "hw-address": "02:00:00:00:09:01",
                               "ip-address": "10.4.1.10", "state": 0, "subnet-id": 1,
                               "valid-lft": 50})
        self.assertEqual(self.rows()[-1], f"10.4.1.10,02:00:00:00:09:01,,50,{NOW + 68},1,0,0,,0,")

    def test_missing_lease(self):
        """A missing lease is result 1 (not 3); force-create adds it."""
        self.assertAnswer(
            "lease4-update", '{"ip-address": "10.4.1.70", "hw-address": "01:02"}', 1,
            "failed to update the lease with address 10.4.1.70 either because the lease has been "
            "deleted or it has changed in the database, in both cases a retry might succeed")
        self.assertEqual(self.rows(), [])
        response = self.ask("lease4-update", {"ip-address": "10.4.1.70", "hw-address": "01:02",
                                              "force-create": True})
        self.assertEqual(response, {"result": 0, "text": "IPv4 lease added."})
        self.assertEqual(self.rows(), [f"10.4.1.70,01:02,,4000,{NOW + 4000},1,0,0,,0,"])
        self.assertEqual(self.stat("assigned-addresses", 1), 1)

    def test_force_create_existing(self):
        """force-create on an existing lease updates it."""
        self.add("10.4.1.70", "01:02")
        response = self.ask("lease4-update", {"ip-address": "10.4.1.70", "hw-address": "01:03",
                                              "force-create": True})
        self.assertEqual(response, {"result": 0, "text": "IPv4 lease updated."})
        self.assertEqual(self.stat("assigned-addresses", 1), 1)

    def test_errors(self):
        """The add checks apply; update's own texts."""
        self.add("10.4.1.70", "01:02")
        self.assertAnswer("lease4-update", None, 1,
                          "no parameters specified for lease4-update command")
        self.assertAnswer("lease4-update", "{}", 1, "missing parameter 'ip-address' ({args})")
        self.assertAnswer("lease4-update", '{"ip-address": "10.4.1.70"}', 1,
                          "missing parameter 'hw-address' ({args})")
        self.assertAnswer("lease4-update",
                          '{"ip-address": "10.4.1.70", "hw-address": "01:02", "subnet-id": 2}', 1,
                          "The address 10.4.1.70 does not belong to subnet 10.4.2.0/24, "
                          "subnet-id=2")
        self.assertAnswer("lease4-update", '{"ip-address": "10.4.1.70", "hw-address": "01:02", '
                          '"force-create": "yes"}', 1,
                          "invalid type specified for parameter 'force-create' ({v:force-create})")
        for raw, text in ADD_ERRORS[3:]:
            if "10.4.2.103" in raw:
                continue  # the lease file's refusal needs an address without a lease
            self.assertAnswer("lease4-update", raw, 1, text)
        self.assertEqual(len(self.rows()), 1)

    def update_state(self, state: int, subnet_id: int = 1) -> None:
        address = "10.4.1.20" if subnet_id == 1 else "10.4.2.100"
        response = self.ask("lease4-update", {"ip-address": address, "hw-address": "01:02",
                                              "state": state, "subnet-id": subnet_id})
        self.assertEqual(response["result"], 0, response)

    def counters(self) -> tuple:
        return (self.stat("assigned-addresses", 1), self.stat("declined-addresses", 1),
                self.stat("declined-addresses"))

    def test_state_statistics(self):
        """Kea's updateStatsOnUpdate: 0→1 declined +1; 1→0 declined -1;
        0→2 nothing; 2→0 assigned +1; 2→1 assigned and declined +1
        (spec §11.2)."""
        self.add("10.4.1.20", "01:02")
        self.assertEqual(self.counters(), (1, None, None))
        self.update_state(1)
        self.assertEqual(self.counters(), (1, 1, 1))
        self.update_state(0)
        self.assertEqual(self.counters(), (1, 0, 0))
        self.update_state(2)
        self.assertEqual(self.counters(), (1, 0, 0))
        self.update_state(0)
        self.assertEqual(self.counters(), (2, 0, 0))
        self.update_state(2)
        self.update_state(1)
        self.assertEqual(self.counters(), (3, 1, 1))

    def test_reclaimed_then_deleted_stays_high(self):
        """SURPRISE kept: a 0→2 update then a delete leaves
        assigned-addresses one too high (spec §11.2)."""
        self.add("10.4.1.20", "01:02")
        self.update_state(2)
        self.ask("lease4-del", {"ip-address": "10.4.1.20"})
        self.assertEqual(self.stat("assigned-addresses", 1), 1)

    def test_subnet_move(self):
        """A lease moved to another subnet leaves the old count and joins
        the new one."""
        self.add("10.4.1.20", "01:02", state=1)
        self.server.config = make_config([{"id": 1, "subnet": "10.4.1.0/24"},
                                          {"id": 5, "subnet": "10.4.1.0/25"}])
        response = self.ask("lease4-update", {"ip-address": "10.4.1.20", "hw-address": "01:02",
                                              "subnet-id": 5, "state": 1})
        self.assertEqual(response["result"], 0)
        self.assertEqual((self.stat("assigned-addresses", 1), self.stat("assigned-addresses", 5)),
                         (0, 1))
        self.assertEqual((self.stat("declined-addresses", 1), self.stat("declined-addresses", 5),
                          self.stat("declined-addresses")), (0, 1, 1))


# ---------------------------------------------------------------------------
# lease4-del (spec §8)


class DelTests(LeaseCmdsTestCase):
    """lease4-del (spec §8, §11)."""

    def setUp(self) -> None:
        super().setUp()
        self.clock.advance(18)
        self.add("10.4.1.70", "1a:1b:1c:1d:1e:70", state=2)
        self.add("10.4.1.71", "1a:1b:1c:1d:1e:71", **{"client-id": "01:02:03"})
        self.add("10.4.1.72", "1a:1b:1c:1d:1e:72", state=1)

    def test_by_address(self):
        """Deleted once, then not found; the row is the old lease with
        valid-lft 0 and expire = its cltt (spec §11.1)."""
        self.assertEqual(self.ask("lease4-del", {"ip-address": "10.4.1.70"}),
                         {"result": 0, "text": "IPv4 lease deleted."})
        self.assertEqual(self.rows()[-1], f"10.4.1.70,1a:1b:1c:1d:1e:70,,0,{NOW + 18},1,0,0,,2,")
        self.assertEqual(self.ask("lease4-del", {"ip-address": "10.4.1.70"}),
                         {"result": 3, "text": "IPv4 lease not found."})
        self.assertEqual(len(self.rows()), 4)

    def test_by_identifiers(self):
        """By hw-address or client-id in a subnet; another subnet finds
        nothing."""
        arguments = {"identifier-type": "hw-address", "identifier": "1a:1b:1c:1d:1e:72"}
        self.assertEqual(self.ask("lease4-del", dict(arguments, **{"subnet-id": 2})),
                         {"result": 3, "text": "IPv4 lease not found."})
        self.assertEqual(self.ask("lease4-del", dict(arguments, **{"subnet-id": 1}))["result"], 0)
        self.assertEqual(self.ask("lease4-del", {"identifier-type": "client-id",
                                                 "identifier": "01:02:03",
                                                 "subnet-id": 1})["result"], 0)
        self.assertEqual(len(self.store), 1)

    def test_statistics(self):
        """State 0: assigned -1; state 1: assigned and declined -1; state
        2: nothing (spec §11.2)."""
        self.assertEqual((self.stat("assigned-addresses", 1), self.stat("declined-addresses")),
                         (2, 1))
        self.ask("lease4-del", {"ip-address": "10.4.1.70"})
        self.assertEqual(self.stat("assigned-addresses", 1), 2)
        self.ask("lease4-del", {"ip-address": "10.4.1.72"})
        self.assertEqual((self.stat("assigned-addresses", 1), self.stat("declined-addresses", 1),
                          self.stat("declined-addresses")), (1, 0, 0))
        self.ask("lease4-del", {"ip-address": "10.4.1.71"})
        self.assertEqual(self.stat("assigned-addresses", 1), 0)

    def test_update_ddns(self):
        """update-ddns true deletes normally (DDNS off)."""
        self.assertEqual(self.ask("lease4-del", {"ip-address": "10.4.1.71",
                                                 "update-ddns": True})["result"], 0)

    def test_errors(self):
        """Every refusal of spec §8; nothing deleted."""
        for raw, result, text in [
            ('{"ip-address": "10.99.0.1"}', 3, "IPv4 lease not found."),
            ('{"identifier-type": "hw-address", "identifier": "1a:1b:1c:1d:1e:70"}', 1,
             "Mandatory 'subnet-id' parameter missing."),
            ("{}", 1, "Mandatory 'subnet-id' parameter missing."),
            ('{"identifier-type": "duid", "identifier": "01:02", "subnet-id": 1}', 1,
             "Delete by duid is not allowed in v4."),
            ('{"identifier-type": "address", "identifier": "10.4.1.70", "subnet-id": 1}', 3,
             "IPv4 lease not found."),
            ('{"ip-address": "bad"}', 1, "Failed to convert string to address 'bad': Invalid argument"),
            (None, 1, "Parameters missing or are not a map."),
            ('{"ip-address": "10.4.1.70", "update-ddns": "x"}', 1, "'update-ddns' is not a boolean"),
        ]:
            self.assertAnswer("lease4-del", raw, result, text)
        self.assertEqual(len(self.store), 3)


# ---------------------------------------------------------------------------
# lease4-wipe (spec §9)


class WipeTests(LeaseCmdsTestCase):
    """lease4-wipe (spec §9, §11)."""

    def setUp(self) -> None:
        super().setUp()
        self.add("10.4.1.10", "01:02")
        self.add("10.4.2.100", "01:02", state=1)
        for address in ("10.4.3.0", "10.4.3.10", "10.4.3.11"):
            self.add(address, "01:02")
        self.add("10.4.3.255", "01:02", state=1)

    def test_one_subnet(self):
        """One subnet: its leases go (one deletion row each), its
        counters are zeroed and the global declined count drops by its
        old value."""
        self.assertEqual(self.ask("lease4-wipe", {"subnet-id": 3}),
                         {"result": 0, "text": "Deleted 4 IPv4 lease(s) from subnet(s) 3"})
        self.assertEqual(len(self.store), 2)
        self.assertEqual([row.split(",")[3] for row in self.rows()[6:]], ["0"] * 4)
        self.assertEqual((self.stat("assigned-addresses", 3), self.stat("declined-addresses", 3),
                          self.stat("declined-addresses")), (0, 0, 1))
        self.assertEqual(self.ask("lease4-wipe", {"subnet-id": 3}),
                         {"result": 3, "text": "Deleted 0 IPv4 lease(s) from subnet(s) 3"})
        self.assertEqual(self.ask("lease4-wipe", {"subnet-id": 99}),
                         {"result": 3, "text": "Deleted 0 IPv4 lease(s) from subnet(s) 99"})

    def test_all_subnets(self):
        """No arguments or subnet-id 0: every configured subnet, in id
        order; every counter zeroed; leases of unconfigured subnets stay."""
        self.put("10.9.0.1", b"\x01\x02", subnet_id=9)
        self.assertEqual(self.ask("lease4-wipe"),
                         {"result": 0, "text": "Deleted 6 IPv4 lease(s) from subnet(s) 1 2 3"})
        self.assertEqual([lease.subnet_id for lease in self.store], [9])
        for subnet_id in (1, 2, 3):
            self.assertEqual(self.stat("assigned-addresses", subnet_id), 0)
            self.assertEqual(self.stat("declined-addresses", subnet_id), 0)
        self.assertEqual(self.stat("declined-addresses"), 0)
        self.assertEqual(self.ask("lease4-wipe", {"subnet-id": 0}),
                         {"result": 3, "text": "Deleted 0 IPv4 lease(s) from subnet(s) 1 2 3"})

    def test_errors(self):
        """A non-integer subnet-id; a non-map arguments value."""
        self.assertAnswer("lease4-wipe", '{"subnet-id": "1"}', 1,
                          "invalid type specified for parameter 'subnet-id' ({v:subnet-id})")
        self.assertAnswer("lease4-wipe", "[1]", 1,
                          "contains(string) called on a non-map Element in ({args})")
        self.assertEqual(len(self.store), 6)


# ---------------------------------------------------------------------------
# lease4-resend-ddns (spec §10)


class ResendDdnsTests(LeaseCmdsTestCase):
    """lease4-resend-ddns (spec §10)."""

    def setUp(self) -> None:
        super().setUp()
        self.add("10.4.1.30", "01:02", hostname="ddns.example.org.",
                 **{"fqdn-fwd": True, "fqdn-rev": True})
        self.add("10.4.1.31", "01:02", hostname="nofqdn.example.org.")
        self.add("10.4.1.32", "01:02")

    def test_ddns_off(self):
        """DDNS off: one answer for existing and missing leases."""
        for address in ("10.4.1.30", "10.4.1.99"):
            self.assertEqual(self.ask("lease4-resend-ddns", {"ip-address": address}),
                             {"result": 1, "text": "DDNS updating is not enabled"})

    def test_ddns_on(self):
        """DDNS on: Kea's texts per lease (no arguments in the answer)."""
        self.server.config = DDNS_CONFIG
        for address, result, text in [
            ("10.4.1.30", 0, "NCR generated for: 10.4.1.30, hostname: ddns.example.org."),
            ("10.4.1.31", 1, "Neither forward nor reverse updates enabled for lease for: "
                             "10.4.1.31"),
            ("10.4.1.32", 1, "Lease for: 10.4.1.32, has no hostname, nothing to update"),
            ("10.4.1.99", 3, "No lease found for: 10.4.1.99"),
        ]:
            self.assertEqual(self.ask("lease4-resend-ddns", {"ip-address": address}),
                             {"result": result, "text": text})

    def test_errors(self):
        """Address refusals; no arguments (Kea 2.2 aborts) answers as {}."""
        self.server.config = DDNS_CONFIG
        for raw, text in [
            ('{"ip-address": "bad"}', "'bad' is not a valid IP address."),
            ('{"ip-address": "2001:db8::1"}', "Invalid IPv4 address specified: 2001:db8::1"),
            ('{"ip-address": 5}', "'ip-address' is not a string."),
            ("{}", "'ip-address' parameter is missing."),
            (None, "'ip-address' parameter is missing."),
            ("[1]", "get(string) called on a non-map Element in ({args})"),
        ]:
            self.assertAnswer("lease4-resend-ddns", raw, 1, text)


# ---------------------------------------------------------------------------
# lease6-* in kea-dhcp4 (spec §12, observed on Kea 2.2)

LEASE6_CASES = [
    ("lease6-get", '{"ip-address": "2001:db8::1"}', 3, "Lease not found."),
    ("lease6-get", '{"ip-address": "10.0.0.1"}', 1, "Invalid IPv6 address specified: 10.0.0.1"),
    ("lease6-get", None, 1, "Parameters missing or are not a map."),
    ("lease6-get", '{"subnet-id": 1, "identifier-type": "duid", "identifier": "01:02:03"}',
     3, "Lease not found."),
    ("lease6-get", '{"subnet-id": 1, "identifier-type": "duid", "identifier": "01:02:03", '
                   '"iaid": 5}', 3, "Lease not found."),
    ("lease6-get", '{"subnet-id": 1, "identifier-type": "hw-address", "identifier": "01:02:03"}',
     1, "Query by hw-address is not allowed in v6."),
    ("lease6-get", '{"subnet-id": 1, "identifier-type": "client-id", "identifier": "01:02:03"}',
     1, "Query by client-id is not allowed in v6."),
    ("lease6-get", '{"ip-address": "2001:db8::1", "type": "IA_PD"}', 3, "Lease not found."),
    ("lease6-get", '{"ip-address": "2001:db8::1", "type": "XX"}', 1,
     "Invalid lease type specified: XX, only supported values are: IA_NA, IA_TA, IA_PD and V4"),
    ("lease6-get", '{"subnet-id": 1, "identifier-type": "duid", "identifier": "01:02:03", '
                   '"iaid": "x"}', 1, "intValue() called on non-integer Element in ({v:iaid})"),
    ("lease6-get", '{"subnet-id": 1, "identifier-type": "duid", "identifier": ""}', 1,
     "Empty DUIDs are not allowed"),
    ("lease6-get-all", '{"subnets": [1]}', 3, "0 IPv6 lease(s) found."),
    ("lease6-get-all", "{}", 1, "'subnets' parameter not specified"),
    ("lease6-get-page", '{"from": "10.0.0.1", "limit": 3}', 1,
     "'from' parameter value 10.0.0.1 is not an IPv6 address"),
    ("lease6-get-page", None, 1, "no parameters specified for the lease6-get-page command"),
    ("lease6-get-page", '{"from": "start"}', 1, "'limit' parameter not specified"),
    ("lease6-get-page", '{"from": "start", "limit": 0}', 1,
     "page size of retrieved leases must not be 0"),
    ("lease6-get-by-duid", '{"duid": ""}', 1, "Empty DUIDs are not allowed"),
    ("lease6-get-by-duid", "{}", 1, "'duid' parameter not specified"),
    ("lease6-get-by-duid", '{"duid": 5}', 1, "'duid' parameter must be a string"),
    ("lease6-get-by-duid", None, 1, "Command arguments missing or a not a map."),
    ("lease6-get-by-hostname", '{"hostname": ""}', 1, "'hostname' parameter is empty"),
    ("lease6-get-by-hostname", '{"hostname": 5}', 1, "'hostname' parameter must be a string"),
    ("lease6-del", '{"ip-address": "2001:db8::1"}', 3, "IPv6 lease not found."),
    ("lease6-del", '{"ip-address": "10.0.0.1"}', 1, "Invalid IPv6 address specified: 10.0.0.1"),
    ("lease6-del", '{"subnet-id": 1, "identifier-type": "duid", "identifier": "01:02:03"}', 3,
     "IPv6 lease not found."),
    ("lease6-del", '{"subnet-id": 1, "identifier-type": "hw-address", "identifier": "01:02:03"}',
     1, "Delete by hw-address is not allowed in v6."),
    ("lease6-del", None, 1, "Parameters missing or are not a map."),
    ("lease6-wipe", None, 3, "Deleted 0 IPv6 lease(s) from subnet(s)"),
    ("lease6-wipe", '{"subnet-id": 1}', 3, "Deleted 0 IPv6 lease(s) from subnet(s) 1"),
    ("lease6-wipe", '{"subnet-id": "1"}', 1,
     "invalid type specified for parameter 'subnet-id' ({v:subnet-id})"),
    ("lease6-update", '{"ip-address": "2001:db8::1", "duid": "01:02:03", "iaid": 1, '
                      '"subnet-id": 1}', 1,
     "Invalid subnet-id: No IPv6 subnet with subnet-id=1 currently configured."),
    ("lease6-update", None, 1, "no parameters specified for lease6-update command"),
    ("lease6-update", "{}", 1, "missing parameter 'ip-address' ({args})"),
    ("lease6-add", '{"ip-address": "2001:db8::1", "duid": "01:02:03", "iaid": 1, '
                   '"subnet-id": 1}', 1,
     "Invalid subnet-id: No IPv6 subnet with subnet-id=1 currently configured."),
    ("lease6-add", '{"ip-address": "2001:db8::1", "duid": "01:02:03", "iaid": 1}', 1,
     "subnet-id not specified and failed to find a subnet for address 2001:db8::1"),
    ("lease6-add", '{"ip-address": "2001:db8::1"}', 1, "missing parameter 'duid' ({args})"),
    ("lease6-add", '{"ip-address": "10.4.1.1"}', 1, "Non-IPv6 address specified: 10.4.1.1"),
    ("lease6-add", "{}", 1, "missing parameter 'ip-address' ({args})"),
    ("lease6-add", None, 1, "no parameters specified for the command"),
    ("lease6-add", '{"ip-address": "2001:db8::2", "duid": "", "type": "IA_PD"}', 1,
     "Empty DUIDs are not allowed"),
    ("lease6-add", '{"ip-address": "2001:db8::2", "duid": "zz"}', 1,
     "'zz' is not a valid string of hexadecimal digits"),
    ("lease6-bulk-apply", None, 1, "Command arguments missing or a not a map."),
    ("lease6-bulk-apply", "{}", 1, "neither 'deleted-leases' nor 'leases' parameter specified"),
    ("lease6-bulk-apply", '{"deleted-leases": [], "leases": []}', 3,
     "Bulk apply of 0 IPv6 leases completed."),
    ("lease6-bulk-apply", '{"deleted-leases": [{"ip-address": "2001:db8::1"}], "leases": '
                          '[{"ip-address": "2001:db8::2", "duid": "01:02:03", "iaid": 1, '
                          '"subnet-id": 1}]}', 1,
     "Invalid subnet-id: No IPv6 subnet with subnet-id=1 currently configured."),
    ("lease6-bulk-apply", '{"deleted-leases": [{"ip-address": "10.0.0.1"}]}', 1,
     "Invalid IPv6 address specified: 10.0.0.1"),
    ("lease6-bulk-apply", '{"leases": {}}', 1, "the 'leases' parameter must be a list"),
    ("lease6-bulk-apply", '{"deleted-leases": 1}', 1,
     "the 'deleted-leases' parameter must be a list"),
    ("lease6-bulk-apply", '{"leases": [{"ip-address": "2001:db8::2", "duid": "01:02:03", '
                          '"type": "IA_PD"}]}', 1, "missing parameter 'prefix-len' (<wire>:0:59)"),
    ("lease6-bulk-apply", '{"leases": [{"ip-address": "2001:db8::2", "duid": "01:02:03", '
                          '"type": "IA_PD", "prefix-len": 64}]}', 1,
     "Subnet-id is 0 or not specified. This is allowed for address leases only, not prefix "
     "leases."),
    ("lease6-bulk-apply", '{"leases": [{"ip-address": "2001:db8::2", "duid": "01:02:03", '
                          '"type": "IA_XX"}]}', 1,
     "Incorrect lease type: IA_XX, the only supported values are: na, ta and pd"),
    ("lease6-resend-ddns", '{"ip-address": "2001:db8::1"}', 1, "DDNS updating is not enabled"),
    ("lease6-resend-ddns", '{"ip-address": "10.0.0.1"}', 1,
     "Invalid IPv6 address specified: 10.0.0.1"),
    ("lease6-resend-ddns", "{}", 1, "'ip-address' parameter is missing."),
    ("lease6-resend-ddns", None, 1, "'ip-address' parameter is missing."),
]


class Lease6Tests(LeaseCmdsTestCase):
    """The lease6 commands answer against kea-dhcp4's empty IPv6 side
    with the texts recorded from Kea 2.2."""

    def test_cases(self):
        """Every recorded lease6 answer without arguments in it."""
        for name, raw, result, text in LEASE6_CASES:
            request = command_text(name, raw)
            response = self.ask_text(request)
            response.pop("arguments", None)
            self.assertEqual(response, {"result": result,
                                        "text": through_table(expand(text, request))}, request)

    def test_empty_lists(self):
        """get-all, get-page, get-by-* answer empty lists."""
        empty = {"arguments": {"leases": []}, "result": 3, "text": "0 IPv6 lease(s) found."}
        self.assertEqual(self.ask("lease6-get-all"), empty)
        self.assertEqual(self.ask("lease6-get-by-duid", {"duid": "01:02:03"}), empty)
        self.assertEqual(self.ask("lease6-get-by-hostname", {"hostname": "a.example."}), empty)
        self.assertEqual(self.ask("lease6-get-page", {"from": "start", "limit": 3}),
                         {"arguments": {"count": 0, "leases": []}, "result": 3,
                          "text": "0 IPv6 lease(s) found."})

    def test_bulk_apply_deletions(self):
        """A deletion by address is reported as not found; one by DUID that
        finds nothing is skipped (observed)."""
        response = self.ask("lease6-bulk-apply", {"deleted-leases": [
            {"ip-address": "2001:db8::1"},
            {"subnet-id": 1, "identifier-type": "duid", "identifier": "01:02:03"}]})
        self.assertEqual(response, {
            "arguments": {"failed-deleted-leases": [
                {"error-message": "lease not found", "ip-address": "2001:db8::1", "result": 3,
                 "type": "IA_NA"}]},
            "result": 3, "text": "Bulk apply of 0 IPv6 leases completed."})

    def test_wipe_statistics(self):
        """lease6-wipe in kea-dhcp4 zeroes the v6 subnet names and, in the
        all-subnets form, the global declined-addresses [obs]."""
        self.add("10.4.1.10", "01:02", state=1)
        self.ask("lease6-wipe", {"subnet-id": 1})
        self.assertEqual((self.stat("assigned-nas", 1), self.stat("assigned-pds", 1),
                          self.stat("declined-addresses", 1), self.stat("declined-addresses")),
                         (0, 0, 0, 0))
        self.assertEqual(self.stat("assigned-addresses", 1), 1)
        self.stats.set_value("declined-addresses", 5)
        self.ask("lease6-wipe")
        self.assertEqual(self.stat("declined-addresses"), 0)
        self.assertEqual(len(self.store), 1)

    def test_resend_ddns_on(self):
        """DDNS on: there is never an IPv6 lease."""
        self.server.config = DDNS_CONFIG
        self.assertEqual(self.ask("lease6-resend-ddns", {"ip-address": "2001:db8::1"}),
                         {"result": 3, "text": "No lease found for: 2001:db8::1"})


# ---------------------------------------------------------------------------
# Positions


class PositionTests(LeaseCmdsTestCase):
    """Kea's ``(<wire>:0:N)`` positions, from the positioned command given
    to the handler as ``command_element`` (what the command table is to
    pass); the numbers in test_spec_positions are the spec's."""

    def ask_direct(self, text: str) -> Dict[str, Any]:
        element = from_wire(text.encode("utf-8"))
        name = element["command"].to_python()
        handle = self.runner.create_handle(command=element.to_python(), command_element=element,
                                           response=None)
        self.runner.call(command_hook_name(name), handle)
        return handle.get_argument("response")

    def test_spec_positions(self):
        """The columns recorded from Kea in spec §2.3, §7 and for
        lease4-get's ``type``."""
        for text, message in [
            ('{"command": "lease4-add", "arguments": {}}',
             "missing parameter 'ip-address' (<wire>:0:40)"),
            ('{"command": "lease4-add", "arguments": [1]}',
             "get(string) called on a non-map Element in (<wire>:0:40)"),
            ('{"command": "lease4-add", "arguments": {"ip-address": 5}}',
             "invalid type specified for parameter 'ip-address' (<wire>:0:54)"),
            ('{"command": "lease4-add", "arguments": {"ip-address": "10.4.1.999", '
             '"hw-address": "01:02"}}',
             "Failed to convert '10.4.1.999' to address: Failed to convert string to address "
             "'10.4.1.999': Invalid argument(<wire>:0:54)"),
            ('{"command": "lease4-update", "arguments": {}}',
             "missing parameter 'ip-address' (<wire>:0:43)"),
            ('{"command": "lease4-update", "arguments": {"ip-address": "10.4.1.70"}}',
             "missing parameter 'hw-address' (<wire>:0:43)"),
            ('{"command": "lease4-get", "arguments": {"ip-address": "10.4.1.1", "type": 5}}',
             "stringValue() called on non-string Element in (<wire>:0:74)"),
            ('{"command": "lease4-wipe", "arguments": {"subnet-id": "1"}}',
             "invalid type specified for parameter 'subnet-id' (<wire>:0:54)"),
            ('{"command": "lease6-wipe", "arguments": {"subnet-id": "1"}}',
             "invalid type specified for parameter 'subnet-id' (<wire>:0:54)"),
        ]:
            self.assertEqual(self.ask_direct(text), {"result": 1, "text": message}, text)

    def test_add_errors(self):
        """Every lease4-add refusal with its exact wire position."""
        for arguments, expected in ADD_ERRORS:
            text = command_text("lease4-add", arguments)
            self.assertEqual(self.ask_direct(text), {"result": 1, "text": expand(expected, text)})

    def test_without_element(self):
        """Given only plain values, positions read Kea's ZERO_POSITION."""
        handle = self.runner.create_handle(command={"command": "lease4-add", "arguments": {}},
                                           response=None)
        self.runner.call(command_hook_name("lease4-add"), handle)
        self.assertEqual(handle.get_argument("response"),
                         {"result": 1, "text": "missing parameter 'ip-address' (<string>:0:0)"})


class PlainCommandTests(SynchronousTestCase):
    """A plain command map (how the HA listener hands a partner's lease
    update to the command table) is answered exactly as the same map
    wrapped in position-less elements was before the table passed plain
    maps through: same answers, lease file rows and statistics."""

    def server(self) -> LeaseCmdsTestCase:
        case = LeaseCmdsTestCase()
        case.mktemp = self.mktemp
        case.addCleanup = self.addCleanup
        case.setUp()
        return case

    def sequence(self) -> List[Any]:
        lease = {"ip-address": "10.4.1.12", "hw-address": "01:02:03:04:05:06",
                 "client-id": "01:02:03", "expire": NOW + 4000, "valid-lft": 4000,
                 "subnet-id": 1, "fqdn-fwd": True, "fqdn-rev": True, "hostname": "Host.Example.",
                 "state": 0, "force-create": True}
        steps: List[Any] = [("lease4-update", lease), ("lease4-update", dict(lease, state=1)),
                            ("lease4-update", dict(lease, **{"force-create": False})),
                            ("lease4-del", {"ip-address": "10.4.1.12"}),
                            ("lease4-update", None), ("lease4-update", [1]),
                            ("lease4-update", dict(lease, **{"user-context": {"a": [1, {}]},
                                                            "comment": "c"})),
                            ("lease4-update", dict(lease, **{"user-context": {"comment": "x"},
                                                            "comment": "c"})),
                            ("lease4-update", dict(lease, **{"user-context": [1]})),
                            ("lease4-get", {"ip-address": "10.4.1.12", "type": 5})]
        for raw, _text in ADD_ERRORS:
            steps.append(("lease4-add", json.loads(raw)))
            steps.append(("lease4-update", json.loads(raw)))
        return steps

    def test_same_as_elements_without_positions(self):
        plain, wrapped = self.server(), self.server()
        for name, arguments in self.sequence():
            message: Dict[str, Any] = {"command": name}
            if arguments is not None:
                message["arguments"] = arguments
            got = plain.successResultOf(plain.table.execute(name, arguments))
            expected = wrapped.successResultOf(wrapped.table.process(from_python(message)))
            self.assertEqual(got, expected, message)
        self.assertEqual(plain.rows(), wrapped.rows())
        self.assertGreater(len(plain.rows()), 3)
        self.assertEqual(plain.stats.get_all(), wrapped.stats.get_all())

    def test_plain_parser_accepts_only_what_elements_accept(self):
        """The plain lease4-update parser (an HA partner's updates) makes
        the lease the element parser makes from the same map, and declines
        every map the element parser refuses (which then answers it with
        Kea's text, as above)."""
        config = self.server().server.config
        accepted = 0
        for name, arguments in self.sequence():
            if name != "lease4-update":
                continue
            plain = parse_lease4_plain(config, arguments, NOW)
            try:
                expected = parse_lease4(config, from_python(arguments), NOW)
            except CommandError:
                expected = None
            if plain is not None:
                accepted += 1
                self.assertEqual(plain, expected, arguments)
        # The three lease updates, and the lease with neither hw-address
        # nor client-id, which only the lease file refuses.
        self.assertEqual(accepted, 4)


# ---------------------------------------------------------------------------
# Over a real unix control socket


class ControlSocketTests(TestCase):
    """Raw answers over the unix socket, against Kea's recorded text."""

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="kt-lease-cmds-")
        self.addCleanup(self._remove_directory)
        self.lease_file = LeaseFile(os.path.join(self.directory, "lease4.csv"))
        self.lease_file.open()
        self.addCleanup(self.lease_file.close)
        self.clock = Clock()
        self.clock.advance(NOW)
        self.server = FakeServer(self.clock, CONFIG, MemfileLeaseStore(self.lease_file),
                                 StatsMgr(self.clock.seconds))
        self.runner = load_library_objects([(LIBRARY, LeaseCmds(), {})], server=self.server)
        self.addCleanup(self.runner.unload_all)
        table = CommandTable(hooks=self.runner)
        self.server.table = table
        self.path = os.path.join(self.directory, "kea4.sock")
        control = ControlSocket(self.path, table, reactor)
        control.open()
        self.addCleanup(control.close)

    def _remove_directory(self) -> None:
        for name in os.listdir(self.directory):
            os.remove(os.path.join(self.directory, name))
        os.rmdir(self.directory)

    def ask(self, data: bytes) -> Deferred:
        return exchange_raw(reactor, self.path, data)

    @inlineCallbacks
    def test_recorded_answers(self):
        """lease4-add then lease4-get-all answer byte for byte as Kea did
        (spec §4's raw text; its cltt is this test's clock)."""
        received = yield self.ask(b'{"command": "lease4-add", "arguments": {"ip-address": '
                                  b'"10.4.2.102", "hw-address": "1a:b:1c:1d:1e:9"}}')
        self.assertEqual(received, b'{ "result": 0, "text": "Lease for address 10.4.2.102, '
                                   b'subnet-id 2 added." }')
        received = yield self.ask(b'{"command": "lease4-get-all"}')
        self.assertEqual(received, (
            b'{ "arguments": { "leases": [ { "cltt": 1795584818, "fqdn-fwd": false, '
            b'"fqdn-rev": false, "hostname": "", "hw-address": "1a:0b:1c:1d:1e:09", '
            b'"ip-address": "10.4.2.102", "state": 0, "subnet-id": 2, "valid-lft": 600 } ] }, '
            b'"result": 0, "text": "1 IPv4 lease(s) found." }'))

    @inlineCallbacks
    def test_empty_answers(self):
        """Kea's empty answers, with Kea's ``[  ]``."""
        received = yield self.ask(b'{"command": "lease4-get", "arguments": '
                                  b'{"ip-address": "10.4.1.99"}}')
        self.assertEqual(received, b'{ "result": 3, "text": "Lease not found." }')
        received = yield self.ask(b'{"command": "lease4-get-page", "arguments": '
                                  b'{"from": "start", "limit": 3}}')
        self.assertEqual(received, b'{ "arguments": { "count": 0, "leases": [  ] }, '
                                   b'"result": 3, "text": "0 IPv4 lease(s) found." }')
        received = yield self.ask(b'{"command": "lease6-get-all"}')
        self.assertEqual(received, b'{ "arguments": { "leases": [  ] }, "result": 3, '
                                   b'"text": "0 IPv6 lease(s) found." }')

    @inlineCallbacks
    def test_lease_shape_with_real_time(self):
        """With the real clock, a lease's cltt is now and the answer has
        Kea's shape (times compared by shape)."""
        self.server.reactor = reactor
        before = int(reactor.seconds())
        yield self.ask(b'{"command": "lease4-add", "arguments": {"ip-address": "10.4.1.50", '
                       b'"hw-address": "1a:1b:1c:1d:1e:01"}}')
        received = yield self.ask(b'{"command": "lease4-get", "arguments": '
                                  b'{"ip-address": "10.4.1.50"}}')
        match = re.fullmatch(
            rb'\{ "arguments": \{ "cltt": (\d+), "fqdn-fwd": false, "fqdn-rev": false, '
            rb'"hostname": "", "hw-address": "1a:1b:1c:1d:1e:01", "ip-address": "10.4.1.50", '
            rb'"state": 0, "subnet-id": 1, "valid-lft": 4000 \}, "result": 0, '
            rb'"text": "IPv4 lease found." \}', received)
        self.assertIsNotNone(match, received)
        self.assertTrue(before <= int(match.group(1)) <= int(reactor.seconds()))

    @inlineCallbacks
    def test_position_over_the_wire(self):
        """A SimpleParser error names the arguments' column in the text
        the client sent (spec §2.3) once the table passes positions."""
        received = yield self.ask(b'{"command": "lease4-add", "arguments": {}}')
        expected = through_table("missing parameter 'ip-address' (<wire>:0:40)")
        self.assertEqual(received, b'{ "result": 1, "text": "%s" }' % expected.encode())

    @inlineCallbacks
    def test_resend_ddns_without_arguments(self):
        """Kea 2.2 aborts here; kea_twisted answers and keeps serving."""
        received = yield self.ask(b'{"command": "lease4-resend-ddns"}')
        self.assertEqual(received, b'{ "result": 1, "text": "\'ip-address\' parameter is '
                                   b'missing." }')
        received = yield self.ask(b'{"command": "lease6-resend-ddns"}')
        self.assertEqual(received, b'{ "result": 1, "text": "\'ip-address\' parameter is '
                                   b'missing." }')
        received = yield self.ask(b'{"command": "lease4-get-all"}')
        self.assertIn(b'"result": 3', received)
