"""
Tests for kea_twisted.hooks: Kea's hooks semantics (next steps, per-library
context, parking, command handlers) and the hooks-libraries loader.
"""

from __future__ import annotations

import os
from typing import Any, List

from twisted.internet.defer import Deferred, succeed
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from kea_twisted.hooks import (
    DEFAULT_PARKED_PACKET_LIMIT,
    HOOK_POINTS,
    CalloutHandle,
    HookLoadError,
    HookRunner,
    IHookLibrary,
    ILibraryHandle,
    LibraryHandle,
    NextStep,
    NoSuchArgument,
    NoSuchHook,
    ParkingError,
    ParkingLot,
    ParkingLotFull,
    command_hook_name,
    find_hook_library,
    load_hook_libraries,
    load_library_objects,
    validate_hook_libraries,
)

HERE = os.path.dirname(os.path.abspath(__file__))
HOOKLIBS = os.path.join(HERE, "hooklibs")
EXAMPLE = os.path.join(os.path.dirname(HERE), "examples", "hooks", "blocked_macs.py")


def hooklib(name: str) -> str:
    return os.path.join(HOOKLIBS, name)


def msgids(events) -> List[str]:
    return [e.get("msgid") for e in events if e.get("msgid")]


class FakeQuery:
    """A stand-in for Packet4: only what the example library reads."""

    def __init__(self, hwaddr_text: str):
        self.hwaddr_text = hwaddr_text


@implementer(IHookLibrary)
class Scripted:
    """A library object whose callouts are given per test."""

    def __init__(self, journal: List[Any], tag: str, **callouts):
        self.journal = journal
        self.tag = tag
        for name, fn in callouts.items():
            setattr(self, name, fn)

    def load(self, library):
        self.journal.append(("load", self.tag))
        self.library = library

    def unload(self):
        self.journal.append(("unload", self.tag))


def setting(step: NextStep, journal: List[Any], tag: str):
    def callout(handle):
        journal.append((tag, handle.current_hook, handle.current_library))
        handle.next_step = step

    return callout


def recording(journal: List[Any], tag: str):
    def callout(handle):
        journal.append((tag, handle.next_step))

    return callout


def runner_with(*libraries) -> HookRunner:
    return load_library_objects([(lib.tag, lib, {}) for lib in libraries])


class InterfaceTests(SynchronousTestCase):
    def test_verify_objects(self):
        """Every @implementer in the module and the example verifies:
        LibraryHandle provides ILibraryHandle, the STYLE.md example and the
        test library provide IHookLibrary."""
        runner = HookRunner()
        verifyObject(ILibraryHandle, LibraryHandle(runner, "x.py", 1, {}))
        verifyObject(IHookLibrary, find_hook_library(EXAMPLE))
        verifyObject(IHookLibrary, Scripted([], "a"))

    def test_next_step_numbers(self):
        """NextStep carries Kea's CalloutNextStep numbers."""
        self.assertEqual(
            [int(s) for s in (NextStep.CONTINUE, NextStep.SKIP, NextStep.DROP, NextStep.PARK)],
            [0, 1, 2, 3],
        )

    def test_hook_points_table(self):
        """The DHCPv4 hook points are data with Kea's argument names, e.g.
        leases4_committed has query4, leases4, deleted_leases4 and honours
        DROP and PARK; pkt4_receive treats SKIP like DROP."""
        for name in (
            "dhcp4_srv_configured", "cb4_updated", "buffer4_receive", "pkt4_receive",
            "subnet4_select", "host4_identifier", "lease4_select", "lease4_renew",
            "lease4_release", "lease4_decline", "lease4_expire", "lease4_recover",
            "leases4_committed", "pkt4_send", "buffer4_send", "command_processed",
            "context_create", "context_destroy",
        ):
            self.assertIn(name, HOOK_POINTS)
        committed = HOOK_POINTS["leases4_committed"]
        self.assertEqual(committed.arguments, ("query4", "leases4", "deleted_leases4"))
        self.assertEqual(set(committed.next_steps), {NextStep.DROP, NextStep.PARK})
        self.assertEqual(HOOK_POINTS["subnet4_select"].arguments, ("query4", "subnet4", "subnet4collection"))
        self.assertEqual(HOOK_POINTS["lease4_expire"].arguments, ("lease4", "remove_lease"))
        self.assertEqual(set(HOOK_POINTS["pkt4_receive"].next_steps), {NextStep.SKIP, NextStep.DROP})

    def test_command_hook_name(self):
        """Command handlers live on '$' + name with '-' spelled '_' (Kea's
        ServerHooks::commandToHookName)."""
        self.assertEqual(command_hook_name("lease4-get"), "$lease4_get")


class CalloutHandleTests(SynchronousTestCase):
    def test_arguments(self):
        """get_argument raises NoSuchArgument (a KeyError) or returns the
        default; reset clears arguments and the next step."""
        handle = CalloutHandle()
        handle.set_argument("query4", 1)
        self.assertEqual(handle.get_argument("query4"), 1)
        self.assertRaises(NoSuchArgument, handle.get_argument, "lease4")
        self.assertRaises(KeyError, handle.get_argument, "lease4")
        self.assertIsNone(handle.get_argument("lease4", None))
        handle.next_step = NextStep.DROP
        handle.reset(response4=2)
        self.assertEqual(handle.arguments, {"response4": 2})
        self.assertIs(handle.next_step, NextStep.CONTINUE)

    def test_parking_lot_needs_runner(self):
        """A handle outside a runner's call has no parking lot."""
        self.assertRaises(ParkingError, lambda: CalloutHandle().parking_lot)


class CallNowTests(SynchronousTestCase):
    def test_synchronous_steps_pass_through(self):
        """call_now gives the callouts' step when they answer at once."""
        journal: List[Any] = []
        runner = runner_with(Scripted(journal, "a", lease4_select=setting(NextStep.SKIP, journal, "a")))
        self.assertIs(runner.call_now("lease4_select", runner.create_handle()), NextStep.SKIP)

    def test_deferred_is_not_waited_for(self):
        """A callout answering with an unfired Deferred at a hook point the
        server cannot wait on: CONTINUE at once, HOOKS_CALLOUT_NOT_AWAITED
        logged."""
        gate = Deferred()
        runner = runner_with(Scripted([], "a", lease4_select=lambda handle: gate))
        with capturedLogs() as events:
            step = runner.call_now("lease4_select", runner.create_handle())
        self.assertIs(step, NextStep.CONTINUE)
        self.assertIn("HOOKS_CALLOUT_NOT_AWAITED", msgids(events))
        gate.callback(None)


class NextStepTests(SynchronousTestCase):
    def test_example_drops_listed_mac(self):
        """The STYLE.md example loads from its file with parameters and drops
        a listed hardware address (any case) at pkt4_receive, logging
        BLOCKED_MACS_DROP; other addresses continue."""
        runner = load_hook_libraries(
            [(EXAMPLE, {"blocked": ["1A:1B:1C:1D:1E:1F"]})], builtins={}
        )
        handle = runner.create_handle()
        handle.reset(query4=FakeQuery("1a:1b:1c:1d:1e:1f"))
        with capturedLogs() as events:
            self.assertIs(runner.call("pkt4_receive", handle), NextStep.DROP)
        self.assertIn("BLOCKED_MACS_DROP", msgids(events))
        handle.reset(query4=FakeQuery("1a:1b:1c:1d:1e:20"))
        self.assertIs(runner.call("pkt4_receive", handle), NextStep.CONTINUE)

    def test_example_with_packet4(self):
        """The example works on a real Packet4 when kea_twisted.packet is
        there (it reads hwaddr_text)."""
        try:
            from kea_twisted import packet
        except ImportError:
            raise self.skipTest("kea_twisted.packet not written yet")
        if not hasattr(packet, "Packet4"):
            raise self.skipTest("no Packet4")
        query = _some_packet4(packet)
        if query is None or not hasattr(query, "hwaddr_text"):
            raise self.skipTest("cannot build a Packet4 with hwaddr_text here")
        runner = load_hook_libraries([(EXAMPLE, {"blocked": [query.hwaddr_text]})], builtins={})
        handle = runner.create_handle(query4=query)
        self.assertIs(runner.call("pkt4_receive", handle), NextStep.DROP)

    def test_sync_path_returns_next_step(self):
        """Without Deferreds, call() returns a NextStep, not a Deferred; an
        unregistered hook point returns CONTINUE and has_callouts is
        False for it."""
        journal: List[Any] = []
        runner = runner_with(Scripted(journal, "a", pkt4_receive=setting(NextStep.SKIP, journal, "a")))
        self.assertTrue(runner.has_callouts("pkt4_receive"))
        self.assertFalse(runner.has_callouts("pkt4_send"))
        self.assertFalse(HookRunner().has_callouts("pkt4_receive"))
        handle = runner.create_handle()
        result = runner.call("pkt4_receive", handle)
        self.assertIs(result, NextStep.SKIP)
        self.assertNotIsInstance(result, Deferred)
        self.assertIs(runner.call("pkt4_send", handle), NextStep.CONTINUE)

    def test_reset_per_hook_point(self):
        """The next step is CONTINUE again at the start of each hook point:
        a DROP at pkt4_receive is not seen by subnet4_select callouts."""
        journal: List[Any] = []
        lib = Scripted(
            journal, "a",
            pkt4_receive=setting(NextStep.DROP, journal, "a"),
            subnet4_select=recording(journal, "seen"),
        )
        runner = runner_with(lib)
        handle = runner.create_handle()
        self.assertIs(runner.call("pkt4_receive", handle), NextStep.DROP)
        self.assertIs(runner.call("subnet4_select", handle), NextStep.CONTINUE)
        self.assertIn(("seen", NextStep.CONTINUE), journal)

    def test_library_order_and_overwrite(self):
        """Callouts run in library order, every one even after a DROP, and a
        later library's choice wins; the handle names the current hook and
        library during each callout."""
        journal: List[Any] = []
        first = Scripted(journal, "first", pkt4_receive=setting(NextStep.DROP, journal, "first"))
        second = Scripted(journal, "second", pkt4_receive=setting(NextStep.CONTINUE, journal, "second"))
        runner = runner_with(first, second)
        handle = runner.create_handle()
        self.assertIs(runner.call("pkt4_receive", handle), NextStep.CONTINUE)
        self.assertEqual(
            [j for j in journal if j[0] in ("first", "second")],
            [("first", "pkt4_receive", "first"), ("second", "pkt4_receive", "second")],
        )
        self.assertIsNone(handle.current_hook)
        self.assertIsNone(handle.current_library)

    def test_registered_callouts_order(self):
        """Standard (named) callouts come before ones registered in load();
        register_callout on another library keeps library order; an unknown
        hook name raises NoSuchHook."""
        journal: List[Any] = []

        @implementer(IHookLibrary)
        class Registering:
            tag = "reg"

            def load(self, library):
                library.register_callout("pkt4_receive", recording(journal, "extra1"))
                library.register_callout("pkt4_receive", recording(journal, "extra2"))
                self.handle = library
                self.bad = None
                try:
                    library.register_callout("pkt6_receive", recording(journal, "x"))
                except NoSuchHook as e:
                    self.bad = e

            def unload(self):
                pass

            def pkt4_receive(self, handle):
                journal.append(("standard", None))

        reg = Registering()
        later = Scripted(journal, "later", pkt4_receive=recording(journal, "later"))
        runner = load_library_objects([("reg", reg, {}), ("later", later, {})])
        self.assertIsInstance(reg.bad, NoSuchHook)
        # Registered after the second library was loaded: still before it.
        reg.handle.register_callout("pkt4_receive", recording(journal, "late-first"))
        runner.call("pkt4_receive", runner.create_handle())
        self.assertEqual(
            [j[0] for j in journal if j[0] not in ("load",)],
            ["standard", "extra1", "extra2", "late-first", "later"],
        )

    def test_exception_logged_and_others_run(self):
        """A raising callout is logged as HOOKS_CALLOUT_EXCEPTION on
        kea-dhcp4.callouts with the library's name; later callouts still run
        and the next step set before the exception stays (Kea leaves the
        status alone)."""
        journal: List[Any] = []

        def boom(handle):
            handle.next_step = NextStep.DROP
            raise RuntimeError("boom")

        bad = Scripted(journal, "bad.py", pkt4_receive=boom)
        good = Scripted(journal, "good.py", pkt4_receive=recording(journal, "good"))
        runner = runner_with(bad, good)
        with capturedLogs() as events:
            step = runner.call("pkt4_receive", runner.create_handle())
        self.assertIs(step, NextStep.DROP)
        self.assertIn(("good", NextStep.DROP), journal)
        [event] = [e for e in events if e.get("msgid") == "HOOKS_CALLOUT_EXCEPTION"]
        self.assertEqual(event["library"], "bad.py")
        self.assertEqual(event["hook"], "pkt4_receive")
        self.assertEqual(event["log_namespace"], "kea-dhcp4.callouts")
        self.assertIn("boom", event["error"])
        self.flushLoggedErrors(RuntimeError)

    def test_nonzero_status_logged(self):
        """A callout returning a non-zero int (Kea's error status) is logged
        as HOOKS_CALLOUT_ERROR and changes nothing else."""
        journal: List[Any] = []
        runner = runner_with(Scripted(journal, "a", pkt4_receive=lambda h: 1))
        with capturedLogs() as events:
            self.assertIs(runner.call("pkt4_receive", runner.create_handle()), NextStep.CONTINUE)
        self.assertIn("HOOKS_CALLOUT_ERROR", msgids(events))

    def test_deferred_callouts_in_order(self):
        """A callout returning a Deferred is waited for before the next
        callout runs; the result is then a Deferred of the next step.
        Coroutine callouts work too."""
        journal: List[Any] = []
        pending: Deferred = Deferred()

        def waits(handle):
            journal.append("waits-start")

            def done(_):
                journal.append("waits-done")
                handle.next_step = NextStep.DROP

            return pending.addCallback(done)

        async def coro(handle):
            journal.append(("coro", handle.next_step))
            await succeed(None)
            handle.next_step = NextStep.SKIP

        a = Scripted(journal, "a", pkt4_receive=waits)
        b = Scripted(journal, "b", pkt4_receive=coro)
        c = Scripted(journal, "c", pkt4_receive=recording(journal, "c"))
        runner = runner_with(a, b, c)
        handle = runner.create_handle()
        result = runner.call("pkt4_receive", handle)
        self.assertIsInstance(result, Deferred)
        self.assertEqual([j for j in journal if j != ("load", "a") and j[0] != "load"], ["waits-start"])
        pending.callback(None)
        self.assertIs(self.successResultOf(result), NextStep.SKIP)
        self.assertEqual(
            [j for j in journal if not (isinstance(j, tuple) and j[0] == "load")],
            ["waits-start", "waits-done", ("coro", NextStep.DROP), ("c", NextStep.SKIP)],
        )
        self.assertIsNone(handle.current_library)

    def test_failing_deferred_logged(self):
        """A callout whose Deferred fails is logged like a raising callout
        and the remaining callouts run."""
        journal: List[Any] = []
        pending: Deferred = Deferred()
        a = Scripted(journal, "a", pkt4_receive=lambda h: pending)
        b = Scripted(journal, "b", pkt4_receive=recording(journal, "b"))
        runner = runner_with(a, b)
        with capturedLogs() as events:
            result = runner.call("pkt4_receive", runner.create_handle())
            pending.errback(ValueError("late"))
        self.assertIs(self.successResultOf(result), NextStep.CONTINUE)
        self.assertIn(("b", NextStep.CONTINUE), journal)
        self.assertIn("HOOKS_CALLOUT_EXCEPTION", msgids(events))
        self.flushLoggedErrors(ValueError)

    def test_context_per_library_per_handle(self):
        """Each library sees its own context dict, kept across the hook
        points of one handle; a new handle starts empty; context_create and
        context_destroy callouts run when the handle is created and
        released."""
        journal: List[Any] = []

        def create(handle):
            handle.context["created"] = True

        def remember(handle):
            handle.context["seen"] = handle.context.get("seen", 0) + 1

        def look(handle):
            journal.append((handle.current_library, dict(handle.context)))

        def destroy(handle):
            journal.append(("destroy", handle.current_library, dict(handle.context)))

        a = Scripted(journal, "a", context_create=create, pkt4_receive=remember,
                     pkt4_send=look, context_destroy=destroy)
        b = Scripted(journal, "b", pkt4_send=look)
        runner = runner_with(a, b)
        handle = runner.create_handle()
        runner.call("pkt4_receive", handle)
        runner.call("pkt4_receive", handle)
        runner.call("pkt4_send", handle)
        self.assertIn(("a", {"created": True, "seen": 2}), journal)
        self.assertIn(("b", {}), journal)
        runner.release_handle(handle)
        self.assertIn(("destroy", "a", {"created": True, "seen": 2}), journal)
        other = runner.create_handle()
        runner.call("pkt4_send", other)
        self.assertEqual(journal[-2], ("a", {"created": True}))


class ParkingTests(SynchronousTestCase):
    def test_lot_semantics(self):
        """Kea's ParkingLot: park twice is an error; reference counts;
        unpark releases (and continues) at zero; drop forgets without
        continuing; unknown packets give False or ParkingError."""
        lot = ParkingLot()
        packet, continued = object(), []
        lot.park(packet, lambda: continued.append(1))
        self.assertRaises(ParkingError, lot.park, packet, lambda: None)
        self.assertEqual(lot.reference(packet), 1)
        self.assertEqual(lot.reference(packet), 2)
        self.assertTrue(lot.unpark(packet))
        self.assertEqual((continued, len(lot)), ([], 1))
        self.assertTrue(lot.unpark(packet))
        self.assertEqual((continued, len(lot)), ([1], 0))
        self.assertFalse(lot.unpark(packet))
        self.assertRaises(ParkingError, lot.reference, packet)
        dropped: List[int] = []
        lot.park(packet, lambda: continued.append(2), lambda: dropped.append(1))
        lot.reference(packet)
        self.assertTrue(lot.drop(packet))
        self.assertFalse(lot.drop(packet))
        self.assertEqual((continued, dropped), ([1], [1]))
        lot.park(packet, lambda: continued.append(3))
        lot.reference(packet)
        lot.reference(packet)
        self.assertTrue(lot.unpark(packet, force=True))
        self.assertEqual(continued, [1, 3])

    def _ha_like(self, journal):
        """A library parking at leases4_committed as the HA library does."""
        parked = []

        def committed(handle):
            lot = handle.parking_lot
            query = handle.arguments["query4"]
            lot.reference(query)
            parked.append((lot, query))
            handle.next_step = NextStep.PARK

        return Scripted(journal, "ha", leases4_committed=committed), parked

    def test_park_and_unpark(self):
        """call_parkable parks, the callout references and sets PARK, the
        result is PARK and the continuation runs when the library unparks."""
        journal: List[Any] = []
        lib, parked = self._ha_like(journal)
        runner = runner_with(lib)
        handle = runner.create_handle()
        query, sent = object(), []
        handle.reset(query4=query, leases4=[], deleted_leases4=[])
        step = runner.call_parkable("leases4_committed", handle, query, lambda: sent.append(query))
        self.assertIs(step, NextStep.PARK)
        self.assertEqual(len(runner.parking_lot("leases4_committed")), 1)
        [(lot, q)] = parked
        self.assertEqual(sent, [])
        lot.unpark(q)
        self.assertEqual(sent, [query])
        self.assertEqual(len(runner.parking_lot("leases4_committed")), 0)

    def test_library_drops_parked(self):
        """A library dropping a parked query: the continuation never runs,
        on_drop does."""
        journal: List[Any] = []
        lib, parked = self._ha_like(journal)
        runner = runner_with(lib)
        query, sent, dropped = object(), [], []
        handle = runner.create_handle(query4=query)
        runner.call_parkable("leases4_committed", handle, query, lambda: sent.append(1), on_drop=lambda: dropped.append(1))
        [(lot, q)] = parked
        lot.drop(q)
        self.assertEqual((sent, dropped), ([], [1]))

    def test_not_parked_unless_park(self):
        """When no callout sets PARK the packet leaves the lot and the step
        is returned (DROP here), without running on_unpark or on_drop."""
        journal: List[Any] = []
        runner = runner_with(Scripted(journal, "a", leases4_committed=setting(NextStep.DROP, journal, "a")))
        query, calls = object(), []
        handle = runner.create_handle(query4=query)
        step = runner.call_parkable("leases4_committed", handle, query, lambda: calls.append("u"), on_drop=lambda: calls.append("d"))
        self.assertIs(step, NextStep.DROP)
        self.assertEqual((len(runner.parking_lot("leases4_committed")), calls), (0, []))

    def test_deferred_then_park(self):
        """With a Deferred-returning callout first, the park decision is
        taken when the Deferred chain is done."""
        journal: List[Any] = []
        lib, parked = self._ha_like(journal)
        pending: Deferred = Deferred()
        slow = Scripted(journal, "slow", leases4_committed=lambda h: pending)
        runner = runner_with(slow, lib)
        query = object()
        handle = runner.create_handle(query4=query)
        result = runner.call_parkable("leases4_committed", handle, query, lambda: None)
        self.assertNoResult(result)
        pending.callback(None)
        self.assertIs(self.successResultOf(result), NextStep.PARK)
        self.assertTrue(runner.parking_lot("leases4_committed").is_parked(query))

    def test_parked_packet_limit(self):
        """At parked-packet-limit parked queries (Kea 2.2 default 256) the
        next one is refused before any callout runs (ParkingLotFull, Kea's
        DHCP4_HOOK_LEASES4_PARKING_LOT_FULL); 0 means no limit."""
        self.assertEqual(DEFAULT_PARKED_PACKET_LIMIT, 256)
        journal: List[Any] = []
        lib, parked = self._ha_like(journal)
        runner = runner_with(lib)
        for _ in range(2):
            q = object()
            runner.call_parkable("leases4_committed", runner.create_handle(query4=q), q, lambda: None, parked_packet_limit=2)
        q = object()
        with self.assertRaises(ParkingLotFull) as caught:
            runner.call_parkable("leases4_committed", runner.create_handle(query4=q), q, lambda: None, parked_packet_limit=2)
        self.assertEqual((caught.exception.limit, caught.exception.msgid), (2, "DHCP4_HOOK_LEASES4_PARKING_LOT_FULL"))
        self.assertEqual(len(parked), 2)
        runner.call_parkable("leases4_committed", runner.create_handle(query4=q), q, lambda: None, parked_packet_limit=0)
        self.assertEqual(len(runner.parking_lot("leases4_committed")), 3)

    def test_unload_drops_parked(self):
        """Unloading the libraries drops parked packets (Kea clears the
        parking lots when libraries are (re)loaded)."""
        journal: List[Any] = []
        lib, parked = self._ha_like(journal)
        runner = runner_with(lib)
        q, dropped = object(), []
        runner.call_parkable("leases4_committed", runner.create_handle(query4=q), q, lambda: None, on_drop=lambda: dropped.append(q))
        runner.unload_all()
        self.assertEqual(dropped, [q])


class CommandTests(SynchronousTestCase):
    def test_command_handler(self):
        """A handler registered in load() answers through the response
        argument; list of commands sorted; unknown command not present."""

        @implementer(IHookLibrary)
        class Cmds:
            def load(self, library):
                library.register_command_handler("lease4-get", self.get)
                library.register_command_handler("lease4-add", self.add)

            def unload(self):
                pass

            def get(self, handle):
                cmd = handle.arguments["command"]
                handle.arguments["response"] = {"result": 0, "arguments": cmd["arguments"]}

            def add(self, handle):
                d: Deferred = Deferred()
                d.addCallback(lambda _: handle.set_argument("response", {"result": 0, "text": "added"}))
                d.callback(None)
                return d

        runner = load_library_objects([("lease_cmds", Cmds(), {})])
        self.assertEqual(runner.commands(), ["lease4-add", "lease4-get"])
        self.assertTrue(runner.has_command("lease4-get"))
        self.assertFalse(runner.has_command("lease4-del"))
        self.assertEqual(set(runner.command_handlers), {"lease4-get", "lease4-add"})
        self.assertEqual(
            runner.call_command("lease4-get", {"command": "lease4-get", "arguments": {"ip-address": "10.0.0.1"}}),
            {"result": 0, "arguments": {"ip-address": "10.0.0.1"}},
        )
        self.assertEqual(
            self.successResultOf(runner.call_command("lease4-add", {"command": "lease4-add"})),
            {"result": 0, "text": "added"},
        )
        runner.unload_all()
        self.assertEqual(runner.commands(), [])
        self.assertFalse(runner.has_command("lease4-get"))

    def test_failing_handler_gives_none(self):
        """A raising handler is logged; the response stays None for the
        control channel to turn into result 1."""

        @implementer(IHookLibrary)
        class Bad:
            def load(self, library):
                library.register_command_handler("x-y", self.handler)

            def unload(self):
                pass

            def handler(self, handle):
                raise KeyError("nope")

        runner = load_library_objects([("bad", Bad(), {})])
        with capturedLogs() as events:
            self.assertIsNone(runner.call_command("x-y", {"command": "x-y"}))
        self.assertIn("HOOKS_CALLOUT_EXCEPTION", msgids(events))
        self.flushLoggedErrors(KeyError)

    def test_publish(self):
        """A library publishes state through its handle, visible by name."""

        @implementer(IHookLibrary)
        class Pub:
            def load(self, library):
                library.publish("state", "ready")

            def unload(self):
                pass

        runner = load_library_objects([("pub", Pub(), {})])
        self.assertEqual(runner.published, {"pub": {"state": "ready"}})


class LoaderTests(SynchronousTestCase):
    def test_py_path_with_parameters(self):
        """A .py path is imported, its single IHookLibrary object loaded with
        the entry's parameters; the library index is 1-based, and entries
        may be model objects with .library/.parameters."""
        journal: List[Any] = []

        class Entry:
            library = hooklib("recorder.py")
            parameters = {"journal": journal, "tag": "second"}

        runner = load_hook_libraries(
            [(hooklib("recorder.py"), {"journal": journal, "tag": "first"}), Entry()],
            builtins={},
        )
        self.assertEqual(journal, [("load", "first", 1), ("load", "second", 2)])
        self.assertEqual(runner.library_names(), [hooklib("recorder.py")] * 2)
        runner.call("pkt4_receive", runner.create_handle())
        self.assertEqual(journal[2:], [("pkt4_receive", "first"), ("pkt4_receive", "second")])

    def test_reimported_each_load(self):
        """Each load imports a .py file again (Kea re-opens the library), so
        two loads give two library objects."""
        self.assertIsNot(find_hook_library(hooklib("recorder.py")), find_hook_library(hooklib("recorder.py")))

    def test_builtin_mapping(self):
        """Kea's shared-object names map by basename to built-in modules
        (a fake table here: the real hooks modules may not exist yet)."""
        journal: List[Any] = []
        fake = {"libdhcp_recorder.so": "tests.hooklibs_builtin"}
        import sys
        import types

        module = types.ModuleType("tests.hooklibs_builtin")
        module.lib = Scripted(journal, "builtin", pkt4_receive=setting(NextStep.DROP, journal, "builtin"))
        sys.modules["tests.hooklibs_builtin"] = module
        self.addCleanup(sys.modules.pop, "tests.hooklibs_builtin", None)
        runner = load_hook_libraries([("/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_recorder.so", None)], fake)
        self.assertEqual(journal, [("load", "builtin")])
        self.assertIs(runner.call("pkt4_receive", runner.create_handle()), NextStep.DROP)
        # A built-in name whose module does not exist is a validation failure.
        failures = validate_hook_libraries(["/x/libdhcp_missing.so"], {"libdhcp_missing.so": "hooks.no_such_module"})
        self.assertEqual([f.library for f in failures], ["/x/libdhcp_missing.so"])

    def test_default_builtins_from_staging(self):
        """The default table is staging's BUILTIN_HOOK_LIBRARIES (not a
        copy): an unknown .so is refused."""
        failures = validate_hook_libraries(["/opt/libdhcp_unknown.so"])
        self.assertEqual(len(failures), 1)
        self.assertIn("not a built-in library", failures[0].reason)

    def test_validation_failures(self):
        """Missing file, import error, no IHookLibrary, two of them, and a
        verifyObject failure are all refused, listed together in Kea's text
        before anything is loaded."""
        journal: List[Any] = []
        bad = [
            hooklib("does_not_exist.py"),
            hooklib("broken_import.py"),
            hooklib("no_library.py"),
            hooklib("two_libraries.py"),
            hooklib("incomplete.py"),
        ]
        entries = [(hooklib("recorder.py"), {"journal": journal})] + [(p, None) for p in bad]
        with capturedLogs() as events:
            error = self.assertRaises(HookLoadError, load_hook_libraries, entries, {})
        self.assertEqual(journal, [])
        self.assertEqual(error.libraries, bad)
        self.assertEqual(
            str(error),
            "hooks libraries failed to validate - library or libraries in error are: " + ", ".join(bad),
        )
        reasons = [f.reason for f in error.failures]
        self.assertIn("no such file", reasons[0])
        self.assertIn("cannot import me", reasons[1])
        self.assertIn("no object provides IHookLibrary", reasons[2])
        self.assertIn("2 objects provide IHookLibrary", reasons[3])
        self.assertIn("unload", reasons[4])
        self.assertEqual({f.stage for f in error.failures}, {"validate"})
        self.assertIn("HOOKS_OPEN_ERROR", msgids(events))
        self.flushLoggedErrors(RuntimeError)

    def test_load_raising(self):
        """load() raising: HOOKS_LOAD_EXCEPTION names the library, its
        unload() runs, the libraries loaded before are unloaded in reverse,
        and the error is Kea's 'One or more hook libraries failed to load'
        with the failing library in .failures."""
        journal: List[Any] = []
        entries = [
            (hooklib("recorder.py"), {"journal": journal, "tag": "a"}),
            (hooklib("recorder.py"), {"journal": journal, "tag": "b"}),
            (hooklib("failing_load.py"), {"journal": journal}),
            (hooklib("recorder.py"), {"journal": journal, "tag": "c"}),
        ]
        with capturedLogs() as events:
            error = self.assertRaises(HookLoadError, load_hook_libraries, entries, {})
        self.assertEqual(str(error), "One or more hook libraries failed to load")
        self.assertEqual(error.libraries, [hooklib("failing_load.py")])
        self.assertEqual(error.failures[0].stage, "load")
        self.assertIn("parameter 'x' is mandatory", error.failures[0].reason)
        self.assertEqual(
            journal,
            [("load", "a", 1), ("load", "b", 2), ("unload", "failing"), ("unload", "b"), ("unload", "a")],
        )
        [event] = [e for e in events if e.get("msgid") == "HOOKS_LOAD_EXCEPTION"]
        self.assertEqual(event["library"], hooklib("failing_load.py"))
        self.flushLoggedErrors(ValueError)

    def test_load_returning_error(self):
        """load() returning a non-zero int fails like Kea's load() != 0."""

        @implementer(IHookLibrary)
        class Nonzero:
            def load(self, library):
                return 1

            def unload(self):
                pass

        with capturedLogs() as events:
            self.assertRaises(HookLoadError, load_library_objects, [("n", Nonzero(), {})])
        self.assertIn("HOOKS_LOAD_ERROR", msgids(events))

    def test_reload_order(self):
        """Reconfiguration: the new list is validated, then the previous
        libraries unload in reverse order, then all load again (even
        unchanged ones); a validation failure leaves the previous runner
        untouched."""
        journal: List[Any] = []
        entries = [
            (hooklib("recorder.py"), {"journal": journal, "tag": "a"}),
            (hooklib("recorder.py"), {"journal": journal, "tag": "b"}),
        ]
        first = load_hook_libraries(entries, {})
        del journal[:]
        self.assertRaises(
            HookLoadError, load_hook_libraries, entries + [(hooklib("nope.py"), None)], {}, previous=first
        )
        self.assertEqual(journal, [])
        self.assertTrue(first.has_callouts("pkt4_receive"))
        second = load_hook_libraries(entries, {}, previous=first)
        self.assertEqual(
            journal, [("unload", "b"), ("unload", "a"), ("load", "a", 1), ("load", "b", 2)]
        )
        self.assertFalse(first.has_callouts("pkt4_receive"))
        self.assertTrue(second.has_callouts("pkt4_receive"))
        del journal[:]
        self.assertTrue(second.unload_all())
        self.assertTrue(second.unload_all())
        self.assertEqual(journal, [("unload", "b"), ("unload", "a")])
        self.assertEqual(second.library_names(), [])

    def test_unload_exception(self):
        """unload() raising is logged (HOOKS_UNLOAD_EXCEPTION) and the other
        libraries still unload; unload_all reports False."""
        journal: List[Any] = []

        @implementer(IHookLibrary)
        class BadUnload:
            def load(self, library):
                pass

            def unload(self):
                raise RuntimeError("unload failed")

        runner = load_library_objects([("ok", Scripted(journal, "ok"), {}), ("bad", BadUnload(), {})])
        with capturedLogs() as events:
            self.assertFalse(runner.unload_all())
        self.assertIn(("unload", "ok"), journal)
        self.assertIn("HOOKS_UNLOAD_EXCEPTION", msgids(events))
        self.flushLoggedErrors(RuntimeError)

    def test_multi_threading(self):
        """With multi-threading, a library must say it is compatible (Kea
        checks multi_threading_compatible() only in MT mode)."""
        journal: List[Any] = []
        entry = [(hooklib("recorder.py"), {"journal": journal})]
        self.assertEqual(validate_hook_libraries([hooklib("recorder.py")]), [])
        failures = validate_hook_libraries([hooklib("recorder.py")], {}, multi_threading=True)
        self.assertEqual([f.reason for f in failures], ["not compatible with multi-threading"])
        self.assertEqual(validate_hook_libraries([EXAMPLE], {}, multi_threading=True), [])
        runner = load_hook_libraries(entry, {})
        self.assertFalse(runner.multi_threading_compatible)


def _some_packet4(packet_module):
    """Build a Packet4 if the module offers an obvious way; None otherwise."""
    packet4 = packet_module.Packet4
    for attempt in (
        lambda: packet4(chaddr=bytes.fromhex("1a1b1c1d1e1f") + bytes(10), hlen=6),
        lambda: packet4(chaddr=bytes.fromhex("1a1b1c1d1e1f")),
        lambda: packet4(),
    ):
        try:
            return attempt()
        except Exception:
            continue
    return None


class PlainHandleTests(SynchronousTestCase):
    def test_plain_handle_gets_parking_lot(self):
        """A CalloutHandle built without a runner still reaches the calling
        runner's parking lot inside a callout."""
        seen: List[Any] = []
        runner = runner_with(Scripted([], "a", leases4_committed=lambda h: seen.append(h.parking_lot)))
        runner.call("leases4_committed", CalloutHandle({"query4": object()}))
        self.assertEqual(seen, [runner.parking_lot("leases4_committed")])
