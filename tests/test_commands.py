"""
Tests for kea_twisted.commands: parsing, dispatch, result codes and the
built-in commands, with the texts Kea 2.2 answered (spec/control-channel.md
§1.3, §2, §3; cases marked "real Kea" were also re-checked against a
running kea-dhcp4 2.2.0).
"""

from __future__ import annotations

import enum
import json
import os
import time

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.commands import (
    HA_ORIGIN,
    RESULT_EMPTY,
    RESULT_ERROR,
    RESULT_SUCCESS,
    RESULT_UNSUPPORTED,
    Command,
    CommandError,
    CommandTable,
    ElementTypeError,
    NetworkState,
    ServerStatus,
    answer,
    bool_value,
    element_get,
    install_builtin_commands,
    install_server_state_commands,
    install_statistic_commands,
    int_value,
    parse_command,
    string_value,
)
from kea_twisted.config.element import from_python
from kea_twisted.kea_json import JSONFeed, KeaJSONError, to_kea_text
from kea_twisted.stats import StatsMgr, clock_to_text, init_dhcp4_statistics, update_config_statistics

T0 = 1_795_584_000.0
TRANSCRIPT = "/work/shared/spec/recorded/control-transcript.jsonl"


def utc_text(t: float) -> str:
    return clock_to_text(t, time.gmtime)


def wire(table: CommandTable, data: bytes) -> dict:
    """What the control socket answers for ``data`` (synchronous handlers)."""
    feed = JSONFeed()
    feed.feed(data)
    if feed.failed:
        return answer(RESULT_ERROR, feed.error)
    assert feed.done, data
    try:
        element = feed.to_element()
    except KeaJSONError as error:
        return answer(RESULT_ERROR, str(error))
    results = []
    table.process(element).addCallback(results.append)
    assert results, "no synchronous answer"
    return results[0]


def kea_table(clock=None):
    """A table with the built-ins and the commands a server adds."""
    clock = clock or Clock()
    clock.advance(T0)
    stats = StatsMgr(clock.seconds, timestamp_text=utc_text)
    init_dhcp4_statistics(stats)
    update_config_statistics(stats, [(1, 10)])
    table = CommandTable()
    install_builtin_commands(table)
    install_statistic_commands(table, stats)
    network_state = NetworkState(clock)
    status = ServerStatus(clock.seconds, start_time=T0, pid=4242, last_commit_time=T0)
    install_server_state_commands(table, network_state, status)
    return table, stats, network_state, clock


SERVER_COMMANDS = ["config-backend-pull", "config-get", "config-reload", "config-set",
                   "config-test", "config-write", "leases-reclaim", "libreload",
                   "server-tag-get", "shutdown"]

KEA_LIST_COMMANDS = ["build-report", "config-backend-pull", "config-get", "config-reload",
                     "config-set", "config-test", "config-write", "dhcp-disable",
                     "dhcp-enable", "leases-reclaim", "libreload", "list-commands",
                     "server-tag-get", "shutdown", "statistic-get", "statistic-get-all",
                     "statistic-remove", "statistic-remove-all", "statistic-reset",
                     "statistic-reset-all", "statistic-sample-age-set",
                     "statistic-sample-age-set-all", "statistic-sample-count-set",
                     "statistic-sample-count-set-all", "status-get", "version-get"]

# spec §1.3, exactly (sent, result, text); also seen on a real Kea.
MALFORMED = [
    (b"hello world", 1, "invalid first character h"),
    (b'"version-get"', 1, 'invalid first character "'),
    (b'{"command": version-get}', 1, "error: unexpected character v in <wire>:0:13"),
    (b'{"command": "version-get",}', 1, "String expected in <wire>:0:27"),
    (b'["version-get"]', 1,
     "Error during command processing: Invalid command Element specified, expected map"),
    (b"{}", 1, "Error during command processing: Invalid answer specified, does not "
               "contain mandatory 'command'"),
    (b'{"arguments":{}}', 1, "Error during command processing: Invalid answer specified, "
                             "does not contain mandatory 'command'"),
    (b'{"command":5}', 1, "Error during command processing: 'command' element in command "
                          "message is not a string"),
    (b'{"command":""}', 2, "'' command not supported."),
    (b'{"command":"foo-bar"}', 2, "'foo-bar' command not supported."),
    (b'{"command":"Version-Get"}', 2, "'Version-Get' command not supported."),
    (b'{"command":" version-get"}', 2, "' version-get' command not supported."),
    (b'{"command":"version-get","foo":1}', 1,
     "Error during command processing: Received command contains unsupported parameter 'foo'"),
    (b'{"command":"lease4-get"}', 2, "'lease4-get' command not supported."),
]


class AnswerTests(SynchronousTestCase):
    """answer(): Kea's createAnswer."""

    def test_shapes(self):
        """text only when non-empty, arguments only when given."""
        self.assertEqual(answer(0), {"result": 0})
        self.assertEqual(answer(0, ""), {"result": 0})
        self.assertEqual(answer(3, "none", {}), {"result": 3, "text": "none", "arguments": {}})
        self.assertEqual(answer(0, arguments=[]), {"result": 0, "arguments": []})

    def test_failure_needs_text(self):
        """A non-zero result without text is a programming error."""
        self.assertRaises(ValueError, answer, 1)

    def test_codes(self):
        """Kea's four result codes."""
        self.assertEqual((RESULT_SUCCESS, RESULT_ERROR, RESULT_UNSUPPORTED, RESULT_EMPTY),
                         (0, 1, 2, 3))


class ParseTests(SynchronousTestCase):
    """parse_command: Kea's parseCommand."""

    def test_plain_values(self):
        """Plain dicts work too; positions are then absent."""
        command = parse_command({"command": "x", "arguments": {"a": 1}, "service": ["dhcp4"],
                                 "remote-address": "1.2.3.4"})
        self.assertEqual((command.name, command.arguments), ("x", {"a": 1}))
        self.assertTrue(command.has_arguments)
        self.assertEqual(command.message["service"], ["dhcp4"])

    def test_absent_and_null_arguments(self):
        """Absent arguments and null arguments are told apart."""
        self.assertFalse(parse_command({"command": "x"}).has_arguments)
        null = parse_command({"command": "x", "arguments": None})
        self.assertTrue(null.has_arguments)
        self.assertIsNone(null.arguments)

    def test_first_unsupported_key_in_byte_order(self):
        """Kea names the first unsupported key of its sorted map."""
        with self.assertRaises(CommandError) as caught:
            parse_command({"command": "x", "zz": 1, "Aa": 2, "b": 3})
        self.assertEqual(str(caught.exception),
                         "Received command contains unsupported parameter 'Aa'")

    def test_unsupported_key_before_command_type(self):
        """The key check comes before the command-type check."""
        with self.assertRaises(CommandError) as caught:
            parse_command({"command": 5, "foo": 1})
        self.assertIn("unsupported parameter 'foo'", str(caught.exception))


class TypedAccessTests(SynchronousTestCase):
    """Kea's TypeError texts, with positions from the wire."""

    def test_texts(self):
        """get / intValue / stringValue / boolValue on the wrong type."""
        element = wire_element(b'{"a": [1], "b": "x"}')
        with self.assertRaises(ElementTypeError) as caught:
            element_get(element["a"], "k")
        self.assertEqual(str(caught.exception),
                         "get(string) called on a non-map Element in (<wire>:0:7)")
        with self.assertRaises(ElementTypeError) as caught:
            int_value(element["b"])
        self.assertEqual(str(caught.exception),
                         "intValue() called on non-integer Element in (<wire>:0:16)")
        self.assertRaises(ElementTypeError, string_value, element["a"])
        self.assertRaises(ElementTypeError, bool_value, element["b"])
        self.assertEqual(string_value(element["b"]), "x")

    def test_no_position(self):
        """Values built from plain Python carry no position suffix."""
        with self.assertRaises(ElementTypeError) as caught:
            int_value(from_python("x"))
        self.assertEqual(str(caught.exception), "intValue() called on non-integer Element")


def wire_element(data: bytes):
    feed = JSONFeed()
    feed.feed(data)
    return feed.to_element()


class DispatchTests(SynchronousTestCase):
    """The table: malformed input, unknown names, errors, Deferreds."""

    def test_malformed_exchanges(self):
        """Every exchange of spec §1.3 with its exact answer."""
        table, *_ = kea_table()
        for data, result, text in MALFORMED:
            self.assertEqual(wire(table, data), {"result": result, "text": text}, data)

    def test_malformed_exchanges_as_text(self):
        """And byte for byte as Kea writes them."""
        table, *_ = kea_table()
        self.assertEqual(to_kea_text(wire(table, b'"version-get"')),
                         '{ "result": 1, "text": "invalid first character \\"" }')

    def test_last_duplicate_key_wins(self):
        """{"command":"foo","command":"version-get"} answers version-get."""
        table, *_ = kea_table()
        self.assertEqual(wire(table, b'{"command":"foo","command":"version-get"}')["text"],
                         "2.2.0")

    def test_service_and_remote_address_ignored(self):
        """service (any type) and remote-address are accepted and ignored."""
        table, *_ = kea_table()
        for extra in (b'"service":["dhcp4"]', b'"service":["dhcp6"]', b'"service":"dhcp4"',
                      b'"service":[]', b'"remote-address":"1.2.3.4"'):
            response = wire(table, b'{"command":"version-get",' + extra + b"}")
            self.assertEqual(response["result"], 0, extra)

    def test_arguments_of_any_type_for_version_get(self):
        """version-get ignores arguments [1], "x", null."""
        table, *_ = kea_table()
        for arguments in (b"[1]", b'"x"', b"null", b"{}"):
            response = wire(table, b'{"command":"version-get","arguments":' + arguments + b"}")
            self.assertEqual(response["text"], "2.2.0", arguments)

    def test_handler_exception(self):
        """A raising handler is result 1 'Error during command processing:'
        and the failure is logged."""
        table = CommandTable()
        table.register("boom", lambda command: 1 / 0)
        with capturedLogs() as events:
            response = self.successResultOf(table.execute("boom"))
        self.assertEqual(response, {"result": 1, "text": "Error during command processing: "
                                                          "division by zero"})
        self.assertTrue(any(e.get("log_failure") for e in events))
        self.flushLoggedErrors(ZeroDivisionError)

    def test_deferred_handler(self):
        """A handler may answer later with a Deferred."""
        table = CommandTable()
        pending: Deferred = Deferred()
        table.register("later", lambda command: pending)
        d = table.execute("later")
        self.assertNoResult(d)
        pending.callback(answer(0, "done"))
        self.assertEqual(self.successResultOf(d), {"result": 0, "text": "done"})

    def test_failing_deferred_handler(self):
        """A Deferred that fails is result 1 too."""
        table = CommandTable()

        def handler(command):
            d = Deferred()
            d.errback(CommandError("nope"))
            return d

        table.register("later2", handler)
        self.assertEqual(self.successResultOf(table.execute("later2")),
                         {"result": 1, "text": "Error during command processing: nope"})

    def test_no_response(self):
        """A handler answering None gets Kea's internal-error text."""
        table = CommandTable()
        table.register("none", lambda command: None)
        self.assertEqual(self.successResultOf(table.execute("none")),
                         {"result": 1, "text": "internal server error: no response generated"})

    def test_register_twice(self):
        """Kea refuses a second handler for one name; replace=True allows."""
        table = CommandTable()
        table.register("a", lambda c: answer(0))
        self.assertRaises(ValueError, table.register, "a", lambda c: answer(0))
        table.register("a", lambda c: answer(0, "new"), replace=True)
        self.assertEqual(self.successResultOf(table.execute("a"))["text"], "new")
        table.unregister("a")
        self.assertNotIn("a", table)
        self.assertRaises(ValueError, table.unregister, "a")
        self.assertRaises(ValueError, table.unregister, "list-commands")

    def test_handler_gets_positions(self):
        """Handlers see the positioned arguments."""
        seen = []
        table = CommandTable()
        table.register("x", lambda command: seen.append(command) or answer(0))
        wire(table, b'{"command":"x","arguments":{"a":1}}')
        command: Command = seen[0]
        self.assertEqual(str(command.arguments_element.pos), "<wire>:0:28")
        self.assertEqual(command.arguments, {"a": 1})


class FakeHooks:
    """The HookRunner surface CommandTable uses."""

    def __init__(self, commands, processed=None):
        self._commands = commands
        self.processed = processed
        self.calls = []
        self.released = 0

    def has_command(self, name):
        return name in self._commands

    def commands(self):
        return sorted(self._commands)

    def call_command(self, name, message, element=None):
        self.calls.append((name, message))
        return self._commands[name](message)

    def has_callouts(self, hook):
        return hook == "command_processed" and self.processed is not None

    def create_handle(self, **arguments):
        return FakeHandle(arguments)

    def call(self, hook, handle):
        return self.processed(handle)

    def release_handle(self, handle):
        self.released += 1


class FakeHandle:
    def __init__(self, arguments):
        self.arguments = arguments

    def get_argument(self, name, default=None):
        return self.arguments.get(name, default)


class ListCommandsTests(SynchronousTestCase):
    """list-commands and hook libraries' commands."""

    def test_kea_list(self):
        """With the server's commands registered the list is Kea's 26 names,
        sorted, no text, arguments ignored."""
        table, *_ = kea_table()
        for name in SERVER_COMMANDS:
            table.register(name, lambda command: answer(0))
        response = wire(table, b'{"command":"list-commands","arguments":{"x":1}}')
        self.assertEqual(response, {"result": 0, "arguments": KEA_LIST_COMMANDS})

    def test_hook_commands_merged(self):
        """Hook commands appear in sorted position and are dispatched to the
        hook library, which wins over a built-in of the same name."""
        table = CommandTable()
        table.register("version-get", lambda command: answer(0, "builtin"))
        hooks = FakeHooks({"lease4-get": lambda m: answer(3, "Lease not found."),
                           "version-get": lambda m: answer(0, "hooked")})
        table.hooks = hooks
        self.assertEqual(self.successResultOf(table.execute("list-commands"))["arguments"],
                         ["lease4-get", "list-commands", "version-get"])
        self.assertEqual(self.successResultOf(
            table.execute("lease4-get", {"ip-address": "10.0.0.1"})),
            {"result": 3, "text": "Lease not found."})
        self.assertEqual(hooks.calls[0], ("lease4-get", {"command": "lease4-get",
                                                         "arguments": {"ip-address": "10.0.0.1"}}))
        self.assertEqual(self.successResultOf(table.execute("version-get"))["text"], "hooked")
        self.assertIn("lease4-get", table)

    def test_command_processed(self):
        """command_processed callouts see name, arguments and response and
        may replace the response (how HA extends status-get)."""
        def processed(handle):
            if handle.arguments["name"] == "status-get":
                response = dict(handle.arguments["response"])
                response["arguments"] = dict(response["arguments"], **{"high-availability": []})
                handle.arguments["response"] = response

        table, *_ = kea_table()
        hooks = FakeHooks({}, processed)
        table.hooks = hooks
        response = self.successResultOf(table.execute("status-get"))
        self.assertEqual(response["arguments"]["high-availability"], [])
        self.assertEqual(hooks.released, 1)
        self.assertEqual(self.successResultOf(table.execute("version-get"))["text"], "2.2.0")


class _Code(enum.IntEnum):
    TWO = 2


class RecordingHooks(FakeHooks):
    """FakeHooks that also record the element each call was given."""

    def __init__(self, commands, processed=None):
        super().__init__(commands, processed)
        self.elements = []

    def call_command(self, name, message, element=None):
        self.elements.append(element)
        return super().call_command(name, message, element)


class PlainHookCommandTests(SynchronousTestCase):
    """A plain command map for a hook library's command (an HA partner's
    lease update) skips the elements: the same message, answer and
    command_processed view as through parse_command, without building
    elements nobody reads."""

    REQUESTS = [
        {"command": "hooked"},
        {"command": "hooked", "arguments": None},
        {"command": "hooked", "arguments": {"ip-address": "10.0.0.1", "n": [1, 2.5, True, None]}},
        {"command": "hooked", "arguments": [("a", {"b": ()})], "service": ["dhcp4"]},
        {"command": "hooked", "arguments": {1: "int key", "x": {2: 3}}, "remote-address": "::1"},
        {"command": "hooked", "arguments": {"code": _Code.TWO}},
    ]

    def run_both(self, request, handler):
        """(answer, messages, elements, processed) through the plain path
        and through parse_command (a request given as elements)."""
        results = []
        for given in (request, from_python(request)):
            processed = []
            hooks = RecordingHooks({"hooked": handler},
                                   lambda handle: processed.append(
                                       (handle.arguments["name"], handle.arguments["arguments"])))
            table = CommandTable(hooks=hooks)
            response = self.successResultOf(table.process(given))
            results.append((response, [m for _, m in hooks.calls], hooks.elements, processed))
        return results

    def test_same_as_through_elements(self):
        for request in self.REQUESTS:
            (plain, plain_messages, plain_elements, plain_processed), \
                (parsed, parsed_messages, parsed_elements, parsed_processed) = \
                self.run_both(request, lambda m: answer(0, "ok", m.get("arguments")))
            self.assertEqual(plain, parsed, request)
            self.assertEqual(repr(plain_messages), repr(parsed_messages), request)
            self.assertEqual(repr(plain_processed), repr(parsed_processed), request)
            # No elements built on the plain path; parse_command passes its own.
            self.assertEqual(plain_elements, [None])
            self.assertIsNotNone(parsed_elements[0])

    def test_message_is_a_copy(self):
        """The library gets a copy: changing it changes nothing the caller
        holds (as with parse_command's to_python())."""
        request = {"command": "hooked", "arguments": {"list": [1, {"a": 1}]}}
        original = json.dumps(request)

        def mutate(message):
            message["arguments"]["list"][1]["a"] = 2
            message["arguments"]["list"].append(3)
            return answer(0, "ok")

        self.run_both(request, mutate)
        self.assertEqual(json.dumps(request), original)

    def test_failures_answered_alike(self):
        def refuse(message):
            raise CommandError("no such lease")

        def nothing(message):
            return None

        def deferred_failure(message):
            d = Deferred()
            d.errback(ValueError("late"))
            return d

        for handler in (refuse, nothing, deferred_failure):
            plain, parsed = self.run_both(self.REQUESTS[2], handler)
            self.assertEqual(plain[0], parsed[0], handler)
            self.assertEqual(plain[0]["result"], 1)
        self.flushLoggedErrors(ValueError)

    def test_not_json_fails_alike(self):
        """A value that is not JSON raises TypeError as parse_command's
        from_python does."""
        table = CommandTable(hooks=RecordingHooks({"hooked": lambda m: answer(0)}))
        for request in ({"command": "hooked", "arguments": {"a": object()}},
                        {"command": "hooked", "arguments": [{1, 2}]}):
            self.assertRaises(TypeError, from_python, request)
            self.assertRaises(TypeError, table.process, request)

    def test_other_maps_through_parse_command(self):
        """Unsupported keys, a non-string command, list-commands and
        built-in commands still go through parse_command."""
        hooks = RecordingHooks({"hooked": lambda m: answer(0, "hooked")})
        table = CommandTable(hooks=hooks)
        table.register("builtin", lambda command: answer(0, str(command.arguments_element.kind)))
        self.assertEqual(
            self.successResultOf(table.process({"command": "hooked", "zzz": 1, "bogus": 2})),
            {"result": 1, "text": "Error during command processing: Received command contains "
                                  "unsupported parameter 'bogus'"})
        self.assertEqual(self.successResultOf(table.process({"command": 1}))["text"],
                         "Error during command processing: 'command' element in command message "
                         "is not a string")
        self.assertEqual(self.successResultOf(table.process({"command": "list-commands"})),
                         {"result": 0, "arguments": ["builtin", "hooked", "list-commands"]})
        self.assertEqual(self.successResultOf(table.execute("builtin", {"a": 1})),
                         {"result": 0, "text": "map"})
        self.assertEqual(hooks.calls, [])

    def test_received_logged(self):
        table = CommandTable(hooks=RecordingHooks({"hooked": lambda m: answer(0)}))
        with capturedLogs() as events:
            table.process({"command": "hooked"})
        self.assertEqual([(e["msgid"], e["name"]) for e in events if "msgid" in e],
                         [("COMMAND_RECEIVED", "hooked")])


class BuiltinTests(SynchronousTestCase):
    """version-get, build-report."""

    def test_version_get(self):
        """text is the version, arguments.extended starts with it."""
        table, *_ = kea_table()
        response = wire(table, b'{"command":"version-get"}')
        self.assertEqual(response["result"], 0)
        self.assertEqual(response["text"], "2.2.0")
        self.assertTrue(response["arguments"]["extended"].startswith("2.2.0\n"))

    def test_version_get_configurable(self):
        """The texts can be given."""
        table = CommandTable()
        install_builtin_commands(table, extended="E", build_report="R")
        self.assertEqual(self.successResultOf(table.execute("version-get")),
                         {"result": 0, "text": "2.2.0", "arguments": {"extended": "E"}})
        self.assertEqual(self.successResultOf(table.execute("build-report")),
                         {"result": 0, "text": "R"})

    def test_build_report(self):
        """A long text, no arguments, Kea's opening line."""
        table, *_ = kea_table()
        response = wire(table, b'{"command":"build-report"}')
        self.assertEqual(set(response), {"result", "text"})
        self.assertTrue(response["text"].startswith(" \n        "))


class StatisticCommandTests(SynchronousTestCase):
    """statistic-* (spec §3), exact texts."""

    def setUp(self):
        self.table, self.stats, _, self.clock = kea_table()

    def run_command(self, name, arguments=None):
        message = {"command": name}
        if arguments is not None:
            message["arguments"] = arguments
        return wire(self.table, json.dumps(message).encode())

    def test_get(self):
        """statistic-get: samples newest first, no text."""
        self.clock.advance(1)
        self.stats.add_value("pkt4-received", 1)
        self.assertEqual(self.run_command("statistic-get", {"name": "pkt4-received"}),
                         {"result": 0, "arguments": {"pkt4-received": [
                             [1, utc_text(T0 + 1)], [0, utc_text(T0)]]}})

    def test_get_unknown(self):
        """Unknown name: empty map, result 0."""
        self.assertEqual(self.run_command("statistic-get", {"name": "no-such-stat"}),
                         {"result": 0, "arguments": {}})

    def test_name_errors(self):
        """Missing and non-string names, for every command taking one."""
        for command in ("statistic-get", "statistic-reset", "statistic-remove",
                        "statistic-sample-age-set", "statistic-sample-count-set"):
            self.assertEqual(self.run_command(command),
                             {"result": 1, "text": "Missing mandatory 'name' parameter."})
            self.assertEqual(self.run_command(command, {}),
                             {"result": 1, "text": "Missing mandatory 'name' parameter."})
            self.assertEqual(self.run_command(command, {"name": 5}),
                             {"result": 1, "text": "'name' parameter expected to be a string."})

    def test_non_map_arguments(self):
        """null arguments: Kea's get(string) TypeError with the position
        (real Kea: <wire>:0:39)."""
        self.assertEqual(wire(self.table, b'{"command":"statistic-get","arguments":null}'),
                         {"result": 1, "text": "Error during command processing: get(string) "
                                               "called on a non-map Element in (<wire>:0:39)"})

    def test_duration_not_integer(self):
        """A string duration: Kea's intValue() error (real Kea: <wire>:0:85)."""
        response = wire(self.table, b'{"command":"statistic-sample-age-set","arguments":'
                                    b'{"name":"pkt4-received","duration":"x"}}')
        self.assertEqual(response, {"result": 1, "text": "Error during command processing: "
                                    "intValue() called on non-integer Element in (<wire>:0:85)"})

    def test_get_all(self):
        """statistic-get-all: every statistic, no text."""
        response = self.run_command("statistic-get-all")
        self.assertEqual(response["result"], 0)
        self.assertNotIn("text", response)
        self.assertEqual(response["arguments"]["subnet[1].total-addresses"],
                         [[10, utc_text(T0)]])
        self.assertEqual(len(response["arguments"]), 26 + 7)

    def test_reset(self):
        """statistic-reset: [[0, now]]; unknown name is an error."""
        self.stats.add_value("pkt4-received", 5)
        self.clock.advance(2)
        self.assertEqual(self.run_command("statistic-reset", {"name": "pkt4-received"}),
                         {"result": 0, "text": "Statistic 'pkt4-received' reset."})
        self.assertEqual(self.run_command("statistic-get", {"name": "pkt4-received"}),
                         {"result": 0, "arguments": {"pkt4-received": [[0, utc_text(T0 + 2)]]}})
        self.assertEqual(self.run_command("statistic-reset", {"name": "no-such-stat"}),
                         {"result": 1, "text": "No 'no-such-stat' statistic found"})

    def test_remove(self):
        """statistic-remove, then again; it comes back on the next change."""
        self.assertEqual(self.run_command("statistic-remove", {"name": "pkt4-sent"}),
                         {"result": 0, "text": "Statistic 'pkt4-sent' removed."})
        self.assertEqual(self.run_command("statistic-get", {"name": "pkt4-sent"}),
                         {"result": 0, "arguments": {}})
        self.assertEqual(self.run_command("statistic-remove", {"name": "pkt4-sent"}),
                         {"result": 1, "text": "No 'pkt4-sent' statistic found"})
        self.stats.add_value("pkt4-sent", 1)
        self.assertEqual(self.run_command("statistic-get", {"name": "pkt4-sent"}),
                         {"result": 0, "arguments": {"pkt4-sent": [[1, utc_text(T0)]]}})

    def test_reset_all(self):
        """statistic-reset-all, arguments ignored; capacity reads 0."""
        for arguments in (None, {"x": 1}):
            self.assertEqual(self.run_command("statistic-reset-all", arguments),
                             {"result": 0, "text": "All statistics reset to neutral values."})
        self.assertEqual(self.stats.value("subnet[1].total-addresses"), 0)

    def test_remove_all(self):
        """statistic-remove-all: Kea's deprecation text, then nothing."""
        self.assertEqual(self.run_command("statistic-remove-all"),
                         {"result": 0, "text": "Warning: statistic-remove-all command is "
                                               "deprecated. All statistics removed."})
        self.assertEqual(self.run_command("statistic-get-all"), {"result": 0, "arguments": {}})

    def test_sample_count_set(self):
        """statistic-sample-count-set and its errors."""
        for i in range(5):
            self.stats.add_value("pkt4-received", 1)
        self.assertEqual(self.run_command("statistic-sample-count-set",
                                          {"name": "pkt4-received", "max-samples": 3}),
                         {"result": 0, "text": "Statistic 'pkt4-received' count limit is set."})
        self.assertEqual(len(self.stats.get("pkt4-received")["pkt4-received"]), 3)
        self.assertEqual(self.run_command("statistic-sample-count-set", {"name": "pkt4-received"}),
                         {"result": 1, "text": "Missing mandatory 'max-samples' parameter."})
        self.assertEqual(self.run_command("statistic-sample-count-set",
                                          {"name": "pkt4-received", "max-samples": "3"}),
                         {"result": 1, "text": "'max-samples' parameter expected to be an integer."})
        self.assertEqual(self.run_command("statistic-sample-count-set",
                                          {"name": "nope", "max-samples": 3}),
                         {"result": 1, "text": "No 'nope' statistic found"})

    def test_sample_count_zero_refused(self):
        """Kea 2.2 accepts max-samples 0 and then fails the statistic
        ('Observation storage container empty') and DHCP: refused here, the
        statistic still readable."""
        self.assertEqual(self.run_command("statistic-sample-count-set",
                                          {"name": "pkt4-received", "max-samples": 0}),
                         {"result": 1, "text": "'max-samples' parameter must not be zero"})
        self.assertEqual(self.run_command("statistic-get", {"name": "pkt4-received"})["result"], 0)

    def test_sample_count_out_of_range_refused(self):
        """Negative or above 32 bits (Kea truncates silently): refused."""
        for value in (-1, 2**32):
            self.assertEqual(self.run_command("statistic-sample-count-set",
                                              {"name": "pkt4-received", "max-samples": value}),
                             {"result": 1, "text": "'max-samples' parameter must be between 1 "
                                                   "and 4294967295"})

    def test_sample_count_set_all(self):
        """-all: set, zero refused (as Kea), missing."""
        self.assertEqual(self.run_command("statistic-sample-count-set-all", {"max-samples": 2}),
                         {"result": 0, "text": "All statistics count limit are set."})
        self.assertEqual(self.run_command("statistic-sample-count-set-all", {"max-samples": 0}),
                         {"result": 1, "text": "'max-samples' parameter must not be zero"})
        self.assertEqual(self.run_command("statistic-sample-count-set-all"),
                         {"result": 1, "text": "Missing mandatory 'max-samples' parameter."})
        for i in range(5):
            self.stats.add_value("pkt4-sent", 1)
        self.assertEqual(len(self.stats.get("pkt4-sent")["pkt4-sent"]), 2)

    def test_sample_age_set(self):
        """statistic-sample-age-set and its errors."""
        self.assertEqual(self.run_command("statistic-sample-age-set",
                                          {"name": "pkt4-received", "duration": 1}),
                         {"result": 0, "text": "Statistic 'pkt4-received' duration limit is set."})
        self.assertEqual(self.run_command("statistic-sample-age-set", {"name": "pkt4-received"}),
                         {"result": 1, "text": "Missing mandatory 'duration' parameter."})
        self.assertEqual(self.run_command("statistic-sample-age-set",
                                          {"name": "nope", "duration": 1}),
                         {"result": 1, "text": "No 'nope' statistic found"})
        self.clock.advance(1.5)
        self.stats.add_value("pkt4-received", 1)
        self.clock.advance(0.01)
        self.stats.add_value("pkt4-received", 1)
        self.assertEqual([v for v, _ in self.stats.get("pkt4-received")["pkt4-received"]],
                         [2, 1])

    def test_negative_duration_refused(self):
        """Kea 2.2 aborts on duration -3: refused here."""
        self.assertEqual(self.run_command("statistic-sample-age-set",
                                          {"name": "pkt4-received", "duration": -3}),
                         {"result": 1, "text": "'duration' parameter must not be negative"})
        self.assertEqual(self.run_command("statistic-sample-age-set-all", {"duration": -3}),
                         {"result": 1, "text": "'duration' parameter must not be negative"})

    def test_sample_age_set_all(self):
        """-all: 100 and 0 accepted; missing refused."""
        for duration in (100, 0):
            self.assertEqual(self.run_command("statistic-sample-age-set-all",
                                              {"duration": duration}),
                             {"result": 0, "text": "All statistics duration limit are set."})
        self.assertEqual(self.run_command("statistic-sample-age-set-all"),
                         {"result": 1, "text": "Missing mandatory 'duration' parameter."})

    def test_defaults_callback(self):
        """The running config learns the new defaults (Kea's
        addConfiguredGlobal in ctrl_dhcp4_srv.cc)."""
        seen = []
        table = CommandTable()
        install_statistic_commands(table, self.stats, lambda c, a: seen.append((c, a)))
        self.successResultOf(table.execute("statistic-sample-count-set-all", {"max-samples": 7}))
        self.successResultOf(table.execute("statistic-sample-age-set-all", {"duration": 30}))
        self.successResultOf(table.execute("statistic-sample-age-set-all", {"duration": -1}))
        self.assertEqual(seen, [(7, 0), (0, 30)])


class NetworkStateCommandTests(SynchronousTestCase):
    """dhcp-disable, dhcp-enable (spec §2.10) and status-get (§2.3)."""

    def setUp(self):
        self.table, _, self.state, self.clock = kea_table()

    def run_raw(self, data: bytes) -> dict:
        return wire(self.table, data)

    def run_command(self, name, arguments=None):
        message = {"command": name}
        if arguments is not None:
            message["arguments"] = arguments
        return self.run_raw(json.dumps(message).encode())

    def test_disable_texts(self):
        """Every row of the spec table."""
        rows = [
            (None, 0, "DHCPv4 service disabled"),
            ({"max-period": 2}, 0, "DHCPv4 service disabled for 2 seconds"),
            ({"max-period": 0}, 1, "'max-period' must be positive integer"),
            ({"max-period": -5}, 1, "'max-period' must be positive integer"),
            ({"max-period": "10"}, 1, "'max-period' argument must be a number"),
            ({"origin": "foo"}, 1, "invalid value used for 'origin' parameter: foo"),
            ({"origin": 5}, 1, "'origin' argument must be a string"),
            ({"foo": 1}, 0, "DHCPv4 service disabled"),
            ([1], 1, "arguments for the 'dhcp-disable' command must be a map"),
        ]
        for arguments, result, text in rows:
            self.assertEqual(self.run_command("dhcp-disable", arguments),
                             {"result": result, "text": text}, arguments)
            self.state.enable_all("user")

    def test_disable_messages_concatenate(self):
        """Several complaints are run together, as Kea writes them (real
        Kea); an empty origin is '(empty string)'."""
        self.assertEqual(self.run_command("dhcp-disable", {"max-period": "10", "origin": 5}),
                         {"result": 1, "text": "'max-period' argument must be a number"
                                               "'origin' argument must be a string"})
        self.assertEqual(self.run_command("dhcp-disable", {"origin": ""}),
                         {"result": 1, "text": "invalid value used for 'origin' parameter: "
                                               "(empty string)"})
        self.assertTrue(self.state.is_service_enabled())

    def test_enable_texts(self):
        """dhcp-enable: 'DHCP service successfully enabled' whatever the
        state, max-period ignored; bad origin refused; null arguments."""
        for arguments in (None, {"max-period": 3}, {"origin": "ha-partner"}):
            self.assertEqual(self.run_command("dhcp-enable", arguments),
                             {"result": 0, "text": "DHCP service successfully enabled"})
        self.assertEqual(self.run_command("dhcp-enable", {"origin": "bogus"}),
                         {"result": 1, "text": "invalid value used for 'origin' parameter: bogus"})
        self.assertEqual(self.run_raw(b'{"command":"dhcp-enable","arguments":null}'),
                         {"result": 1, "text": "arguments for the 'dhcp-enable' command must be a map"})

    def test_per_origin(self):
        """disable(ha-partner)+enable(user): still disabled; enable(ha-partner)
        enables.  disable(user) twice + enable(user) once: enabled."""
        self.run_command("dhcp-disable", {"origin": "ha-partner"})
        self.run_command("dhcp-enable")
        self.assertFalse(self.state.is_service_enabled())
        self.run_command("dhcp-enable", {"origin": "ha-partner"})
        self.assertTrue(self.state.is_service_enabled())
        self.run_command("dhcp-disable")
        self.run_command("dhcp-disable", {"origin": "ha-partner"})
        self.run_command("dhcp-enable")
        self.assertFalse(self.state.is_service_enabled())
        self.run_command("dhcp-enable", {"origin": "ha-partner"})
        self.assertEqual(self.state.disabled_by_ha, HA_ORIGIN != "ha")
        self.run_command("dhcp-disable")
        self.run_command("dhcp-disable")
        self.run_command("dhcp-enable")
        self.assertTrue(self.state.is_service_enabled())

    def test_max_period(self):
        """The service comes back by itself after max-period."""
        self.run_command("dhcp-disable", {"max-period": 2})
        self.assertFalse(self.state.is_service_enabled())
        self.assertTrue(self.state.is_delayed_enable_all())
        self.clock.advance(1.9)
        self.assertFalse(self.state.is_service_enabled())
        self.clock.advance(0.2)
        self.assertTrue(self.state.is_service_enabled())
        self.assertFalse(self.state.is_delayed_enable_all())

    def test_enable_before_period(self):
        """dhcp-enable before the period ends re-enables at once."""
        self.run_command("dhcp-disable", {"max-period": 10})
        self.run_command("dhcp-enable")
        self.assertTrue(self.state.is_service_enabled())

    def test_status_get(self):
        """status-get: pid, uptime, reload in whole seconds,
        multi-threading-enabled, sockets ready; no text."""
        self.clock.advance(24.7)
        self.assertEqual(self.run_command("status-get", {"x": 1}), {
            "result": 0,
            "arguments": {"multi-threading-enabled": False, "pid": 4242, "reload": 24,
                          "sockets": {"status": "ready"}, "uptime": 24}})

    def test_status_get_socket_errors(self):
        """Socket errors: 'retrying' or 'failed' with the errors listed; no
        reload before the first commit."""
        table = CommandTable()
        clock = Clock()
        status = ServerStatus(clock.seconds, start_time=0, pid=1,
                              socket_errors=lambda: ["open failed"],
                              sockets_retrying=lambda: True)
        install_server_state_commands(table, NetworkState(clock), status)
        arguments = self.successResultOf(table.execute("status-get"))["arguments"]
        self.assertEqual(arguments["sockets"], {"status": "retrying", "errors": ["open failed"]})
        self.assertNotIn("reload", arguments)
        status.sockets_retrying = lambda: False
        arguments = self.successResultOf(table.execute("status-get"))["arguments"]
        self.assertEqual(arguments["sockets"]["status"], "failed")

    def test_status_default_pid(self):
        """The pid defaults to the process's."""
        self.assertEqual(ServerStatus(lambda: 0.0, 0.0).pid, os.getpid())

    def test_network_state_db_origin_counts(self):
        """The database origin counts disables."""
        state = NetworkState()
        state.disable_service("db")
        state.disable_service("db")
        state.enable_service("db")
        self.assertFalse(state.is_service_enabled())
        state.enable_service("db")
        self.assertTrue(state.is_service_enabled())
        self.assertRaises(ValueError, state.delayed_enable_all, 3, "db")
        self.assertRaises(ValueError, state.disable_service, "nobody")


class TranscriptTests(SynchronousTestCase):
    """The recorded Kea transcript's framing exchanges that need no server,
    replayed byte for byte (skipped without the spec directory)."""

    def test_framing_section(self):
        """Every raw framing request answered without version-dependent or
        server data gets Kea's exact raw answer."""
        if not os.path.exists(TRANSCRIPT):
            raise self.skipTest("no recorded transcript")
        table, *_ = kea_table()
        checked = 0
        with open(TRANSCRIPT) as transcript:
            for line in transcript:
                entry = json.loads(line)
                request = entry.get("request", {})
                raw = request.get("_raw_request") if isinstance(request, dict) else None
                if not isinstance(raw, str) or not raw or raw.startswith("<"):
                    continue
                response = entry.get("response")
                if not isinstance(response, dict) or "arguments" in response:
                    continue
                if "lease4" in raw or "Connection over" in response.get("text", ""):
                    continue
                self.assertEqual(to_kea_text(wire(table, raw.encode("latin-1"))),
                                 entry["raw"], raw)
                checked += 1
        self.assertTrue(checked >= 12, checked)
