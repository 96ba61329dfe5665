"""
Tests for the hook points of kea_twisted.dhcp4 (and the reclamation ones in
kea_twisted.server): Kea's arguments and next-step semantics, parking on
leases4_committed, failing callouts, and the packet statistics Kea keeps
around them (spec/control-channel.md §4.2).

An in-process server on a task.Clock; no sockets.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from kea_twisted.config.element import from_python
from kea_twisted.config.staging import stage_config_element
from kea_twisted.datagrams import Arrival, Drop, Reply
from kea_twisted.hooks import IHookLibrary, NextStep, load_library_objects
from kea_twisted.packet import Packet4, decode, encode
from kea_twisted.server import Dhcp4Server

RELAY = IPv4Address("127.0.5.1")
SERVER = IPv4Address("127.0.0.1")
EPOCH = 1_800_000_000


def _config(**extra):
    dhcp4 = {
        "interfaces-config": {"interfaces": ["lo"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "valid-lifetime": 600,
        "subnet4": [{
            "id": 1, "subnet": "192.0.2.0/24", "relay": {"ip-addresses": [str(RELAY)]},
            "pools": [{"pool": "192.0.2.10 - 192.0.2.12"}],
        }],
    }
    dhcp4.update(extra)
    return stage_config_element(from_python({"Dhcp4": dhcp4}), interfaces={"lo": [SERVER]})


def _query(mtype: int, mac: bytes = b"\x02\x00\x00\x00\x00\x01", **options) -> bytes:
    opts = {53: bytes([mtype])}
    for code, value in options.items():
        opts[int(code.lstrip("o"))] = value
    return encode(Packet4(op=1, xid=0x1234, chaddr=mac, giaddr=RELAY, hops=1, options=opts))


def _arrival() -> Arrival:
    return Arrival(iface="lo", local_addr=SERVER, local_port=67, remote_addr=RELAY, remote_port=67)


@implementer(IHookLibrary)
class Recorder:
    """A library whose callouts are set per test: ``callouts[name] = fn``."""

    def __init__(self, **callouts):
        self.calls = []
        for name, fn in callouts.items():
            setattr(self, name, self._wrap(name, fn))

    def _wrap(self, name, fn):
        def callout(handle):
            self.calls.append((name, dict(handle.arguments)))
            return fn(handle)
        return callout

    def load(self, handle):
        self.handle = handle

    def unload(self):
        pass


class HookedServer:
    def __init__(self, testcase, library, **config):
        self.clock = Clock()
        self.clock.advance(EPOCH)
        self.hooks = load_library_objects([("recorder", library, None)])
        self.server = Dhcp4Server(_config(**config), clock=self.clock.seconds, hooks=self.hooks,
                                  interfaces={"lo": [SERVER]})
        self.server.start()
        self.server.set_socket_addresses([SERVER])
        testcase.addCleanup(self.server.stop)
        testcase.addCleanup(self.hooks.unload_all)

    def send(self, data):
        return self.server.engine.receive(data, _arrival())

    def stat(self, name):
        return self.server.stats.value(name)

    def dora(self, mac=b"\x02\x00\x00\x00\x00\x01"):
        offer = self.send(_query(1, mac))
        address = decode(offer.data).yiaddr
        return self.send(_query(3, mac, o50=address.packed, o54=SERVER.packed))


def _result(d):
    if not isinstance(d, Deferred):
        return d
    out = []
    d.addBoth(out.append)
    return out[0] if out else None


class BufferReceiveTests(SynchronousTestCase):
    def test_drop_silences_without_counting(self):
        """buffer4_receive DROP: no reply, and (as in Kea) no pkt4-receive-drop."""
        def drop(handle):
            handle.next_step = NextStep.DROP
        s = HookedServer(self, Recorder(buffer4_receive=drop))
        outcome = s.send(_query(1))
        self.assertEqual(outcome, Drop("DHCP4_HOOK_BUFFER_RCVD_DROP"))
        self.assertEqual(s.stat("pkt4-receive-drop"), 0)
        self.assertEqual(s.stat("pkt4-received"), 1)

    def test_query_not_decoded_before_callout(self):
        """The callout gets the raw datagram; it may unpack it and SKIP, and
        a class it adds is the packet's (visible to pkt4_receive)."""
        seen = {}

        def unpack(handle):
            query = handle.get_argument("query4")
            seen["unpacked_before"] = query.unpacked
            seen["raw"] = query.raw
            query.unpack()
            query.add_class("HA_server1")
            handle.next_step = NextStep.SKIP

        def receive(handle):
            seen["classes"] = list(handle.get_argument("query4").classes)

        s = HookedServer(self, Recorder(buffer4_receive=unpack, pkt4_receive=receive))
        data = _query(1)
        self.assertIsInstance(s.send(data), Reply)
        self.assertFalse(seen["unpacked_before"])
        self.assertEqual(seen["raw"], data)
        # Kea's getClasses() at pkt4_receive: ALL first, then the hook's.
        self.assertEqual(seen["classes"], ["ALL", "HA_server1"])

    def test_rewritten_buffer_is_decoded(self):
        """A callout may replace the datagram (without unpacking): the engine
        decodes what the callout left."""
        def rewrite(handle):
            query = handle.get_argument("query4")
            query.raw = _query(1, mac=b"\x02\x00\x00\x00\x00\x09")

        s = HookedServer(self, Recorder(buffer4_receive=rewrite))
        reply = s.send(_query(1))
        self.assertEqual(decode(reply.data).chaddr, b"\x02\x00\x00\x00\x00\x09")

    def test_malformed_after_callout_counts_parse_failed(self):
        """A datagram the callouts let through but that does not parse is a
        parse failure as without hooks."""
        s = HookedServer(self, Recorder(buffer4_receive=lambda h: None))
        self.assertEqual(s.send(bytes(240)), Drop("DHCP4_PACKET_DROP_0001"))
        self.assertEqual(s.stat("pkt4-parse-failed"), 1)


class Pkt4ReceiveTests(SynchronousTestCase):
    def test_skip_drops(self):
        """pkt4_receive SKIP or DROP: Kea drops the query, counting nothing."""
        for step in (NextStep.SKIP, NextStep.DROP):
            def cut(handle, step=step):
                handle.next_step = step
            s = HookedServer(self, Recorder(pkt4_receive=cut))
            self.assertEqual(s.send(_query(1)), Drop("DHCP4_HOOK_PACKET_RCVD_SKIP"))
            self.assertEqual(s.stat("pkt4-receive-drop"), 0)

    def test_added_drop_class_drops(self):
        """A callout giving the packet the DROP class gets it dropped (_0010)."""
        s = HookedServer(self, Recorder(pkt4_receive=lambda h: h.get_argument("query4").add_class("DROP")))
        self.assertEqual(s.send(_query(1)), Drop("DHCP4_PACKET_DROP_0010"))
        self.assertEqual(s.stat("pkt4-receive-drop"), 1)

    def test_raising_callout_does_not_stop_the_server(self):
        """A callout that raises is logged; the query is answered."""
        def boom(handle):
            raise RuntimeError("broken library")
        s = HookedServer(self, Recorder(pkt4_receive=boom))
        self.assertIsInstance(s.send(_query(1)), Reply)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_failed_deferred_does_not_stop_the_server(self):
        """A callout whose Deferred fails is logged; the reply follows."""
        s = HookedServer(self, Recorder(pkt4_receive=lambda h: fail(RuntimeError("async broken"))))
        outcome = _result(s.send(_query(1)))
        self.assertIsInstance(outcome, Reply)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_deferred_callout_delays_the_reply(self):
        """A callout returning an unfired Deferred holds the query until it fires."""
        gate = Deferred()
        s = HookedServer(self, Recorder(pkt4_receive=lambda h: gate))
        outcome = s.send(_query(1))
        self.assertIsInstance(outcome, Deferred)
        self.assertNoResult(outcome)
        gate.callback(None)
        self.assertIsInstance(self.successResultOf(outcome), Reply)


class SubnetSelectTests(SynchronousTestCase):
    def test_arguments_and_skip(self):
        """subnet4_select sees the selected subnet and all of them; SKIP means
        no subnet: a DISCOVER goes unanswered, a REQUEST is NAKed."""
        def skip(handle):
            handle.next_step = NextStep.SKIP
        library = Recorder(subnet4_select=skip)
        s = HookedServer(self, library)
        self.assertEqual(s.send(_query(1)), Drop("DHCP4_SUBNET_SELECTION_FAILED"))
        name, arguments = library.calls[0]
        self.assertEqual(arguments["subnet4"].id, 1)
        self.assertEqual([x.id for x in arguments["subnet4collection"]], [1])
        nak = s.send(_query(3, o50=IPv4Address("192.0.2.10").packed))
        self.assertEqual(decode(nak.data).options[53], b"\x06")

    def test_drop(self):
        """subnet4_select DROP drops the query."""
        def drop(handle):
            handle.next_step = NextStep.DROP
        s = HookedServer(self, Recorder(subnet4_select=drop))
        self.assertEqual(s.send(_query(1)), Drop("DHCP4_HOOK_SUBNET4_SELECT_DROP"))


class LeasesCommittedTests(SynchronousTestCase):
    def test_arguments_on_request_and_release(self):
        """A REQUEST passes the new lease in leases4; an OFFER commits
        nothing; a RELEASE passes the released lease in deleted_leases4."""
        library = Recorder(leases4_committed=lambda h: None)
        s = HookedServer(self, library)
        ack = s.dora()
        address = decode(ack.data).yiaddr
        committed = [args for name, args in library.calls if name == "leases4_committed"]
        self.assertEqual(len(committed), 2)
        self.assertEqual((committed[0]["leases4"], committed[0]["deleted_leases4"]), ([], []))
        self.assertEqual([lease.address for lease in committed[1]["leases4"]], [address])
        s.send(encode(Packet4(op=1, xid=7, chaddr=b"\x02\x00\x00\x00\x00\x01", ciaddr=address,
                              options={53: b"\x07", 54: SERVER.packed})))
        released = [args for name, args in library.calls if name == "leases4_committed"][-1]
        self.assertEqual([lease.address for lease in released["deleted_leases4"]], [address])

    def test_park_then_unpark_sends_the_reply(self):
        """PARK holds the ACK until the library unparks the query."""
        lots = []

        def park(handle):
            if handle.get_argument("leases4"):
                lot = handle.parking_lot
                query = handle.get_argument("query4")
                lot.reference(query)
                lots.append((lot, query))
                handle.next_step = NextStep.PARK

        s = HookedServer(self, Recorder(leases4_committed=park))
        outcome = s.dora()
        self.assertIsInstance(outcome, Deferred)
        self.assertNoResult(outcome)
        lot, query = lots[0]
        lot.unpark(query)
        reply = self.successResultOf(outcome)
        self.assertEqual(decode(reply.data).options[53], b"\x05")
        self.assertEqual(s.stat("pkt4-ack-sent"), 1)

    def test_parked_then_dropped(self):
        """A library dropping its parked query: no reply, nothing sent."""
        lots = []

        def park(handle):
            if handle.get_argument("leases4"):
                lots.append((handle.parking_lot, handle.get_argument("query4")))
                lots[-1][0].reference(lots[-1][1])
                handle.next_step = NextStep.PARK

        s = HookedServer(self, Recorder(leases4_committed=park))
        outcome = s.dora()
        lot, query = lots[0]
        lot.drop(query)
        self.assertEqual(self.successResultOf(outcome), Drop("DHCP4_HOOK_LEASES4_COMMITTED_DROP"))
        self.assertEqual(s.stat("pkt4-ack-sent"), 0)

    def test_parking_lot_full_drops_and_counts(self):
        """With parked-packet-limit 1 and one query parked, the next one is
        dropped and counted in pkt4-receive-drop."""
        def park(handle):
            if handle.get_argument("leases4"):
                handle.parking_lot.reference(handle.get_argument("query4"))
                handle.next_step = NextStep.PARK

        s = HookedServer(self, Recorder(leases4_committed=park), **{"parked-packet-limit": 1})
        first = s.dora(b"\x02\x00\x00\x00\x00\x01")
        self.assertNoResult(first)
        before = s.stat("pkt4-receive-drop")
        # Kea parks every query proactively, so even a DISCOVER is refused.
        second = s.send(_query(1, b"\x02\x00\x00\x00\x00\x02"))
        self.assertEqual(second, Drop("DHCP4_HOOK_LEASES4_PARKING_LOT_FULL"))
        self.assertEqual(s.stat("pkt4-receive-drop"), before + 1)

    def test_drop_step(self):
        """leases4_committed DROP: the lease stays committed, no reply (the
        callouts run for the DISCOVER too, with no leases)."""
        def drop(handle):
            if handle.get_argument("leases4"):
                handle.next_step = NextStep.DROP
        s = HookedServer(self, Recorder(leases4_committed=drop))
        self.assertEqual(s.dora(), Drop("DHCP4_HOOK_LEASES4_COMMITTED_DROP"))
        self.assertEqual(len(s.server.store), 1)


class SendTests(SynchronousTestCase):
    def test_pkt4_send_changes_the_reply(self):
        """pkt4_send may add an option to response4 before it is packed."""
        def add(handle):
            handle.get_argument("response4").options[252] = b"http://wpad.example/"
        s = HookedServer(self, Recorder(pkt4_send=add))
        reply = s.send(_query(1))
        self.assertEqual(decode(reply.data).options[252], b"http://wpad.example/")

    def test_pkt4_send_drop(self):
        """pkt4_send DROP: nothing sent, pkt4-sent unchanged."""
        def drop(handle):
            handle.next_step = NextStep.DROP
        s = HookedServer(self, Recorder(pkt4_send=drop))
        self.assertEqual(s.send(_query(1)), Drop("DHCP4_HOOK_PACKET_SEND_DROP"))
        self.assertEqual(s.stat("pkt4-sent"), 0)

    def test_buffer4_send_sees_and_replaces_the_wire_data(self):
        """buffer4_send gets the packed response; what it leaves in raw is sent."""
        seen = []

        def tamper(handle):
            response = handle.get_argument("response4")
            seen.append(response.raw)
            response.raw = response.raw + b"\x00"

        s = HookedServer(self, Recorder(buffer4_send=tamper))
        reply = s.send(_query(1))
        self.assertEqual(reply.data, seen[0] + b"\x00")
        self.assertEqual(decode(seen[0]).options[53], b"\x02")

    def test_buffer4_send_skip(self):
        """buffer4_send SKIP: not sent."""
        def skip(handle):
            handle.next_step = NextStep.SKIP
        s = HookedServer(self, Recorder(buffer4_send=skip))
        self.assertEqual(s.send(_query(1)), Drop("DHCP4_HOOK_BUFFER_SEND_SKIP"))


class LeaseHookTests(SynchronousTestCase):
    def test_release_skip_keeps_the_lease(self):
        """lease4_release SKIP: the lease stays, assigned-addresses unchanged."""
        def skip(handle):
            handle.next_step = NextStep.SKIP
        s = HookedServer(self, Recorder(lease4_release=skip))
        address = decode(s.dora().data).yiaddr
        s.send(encode(Packet4(op=1, xid=7, chaddr=b"\x02\x00\x00\x00\x00\x01", ciaddr=address,
                              options={53: b"\x07", 54: SERVER.packed})))
        self.assertIsNotNone(s.server.store.get_lease4(address))
        self.assertEqual(s.stat("subnet[1].assigned-addresses"), 1)

    def test_decline_skip_keeps_the_lease(self):
        """lease4_decline SKIP: the lease is not declined."""
        def skip(handle):
            handle.next_step = NextStep.SKIP
        library = Recorder(lease4_decline=skip)
        s = HookedServer(self, library)
        address = decode(s.dora().data).yiaddr
        s.send(_query(4, o50=address.packed, o54=SERVER.packed))
        self.assertEqual(s.server.store.get_lease4(address).state, 0)
        self.assertEqual(s.stat("declined-addresses"), 0)
        self.assertEqual(library.calls[0][1]["lease4"].address, address)

    def test_lease4_expire_skip_and_reclaim_statistics(self):
        """Reclamation runs lease4_expire (SKIP leaves the lease) and applies
        Kea's statistics deltas either way."""
        def skip(handle):
            handle.next_step = NextStep.SKIP
        library = Recorder(lease4_expire=skip)
        s = HookedServer(self, library)
        address = decode(s.dora().data).yiaddr
        s.clock.advance(601)
        s.server.reclaim()
        self.assertEqual(library.calls[0][1]["lease4"].address, address)
        self.assertEqual(s.server.store.get_lease4(address).state, 0)
        self.assertEqual(s.stat("reclaimed-leases"), 1)
        self.assertEqual(s.stat("subnet[1].assigned-addresses"), 0)

    def test_reclaim_remove(self):
        """leases-reclaim's remove=true deletes the expired lease at once."""
        s = HookedServer(self, Recorder())
        address = decode(s.dora().data).yiaddr
        s.clock.advance(601)
        s.server.reclaim(remove=True)
        self.assertIsNone(s.server.store.get_lease4(address))


class StatisticsTests(SynchronousTestCase):
    def test_unknown_and_server_types_counted(self):
        """Every parsed packet counts one type statistic, dropped or not:
        no option 53 and type 13 as unknown, an OFFER as offer-received."""
        s = HookedServer(self, Recorder())
        s.send(encode(Packet4(op=1, chaddr=b"\x02" * 6, giaddr=RELAY, options={12: b"x"})))
        s.send(_query(13))
        s.send(_query(2))
        self.assertEqual(s.stat("pkt4-unknown-received"), 2)
        self.assertEqual(s.stat("pkt4-offer-received"), 1)
        self.assertEqual(s.stat("pkt4-receive-drop"), 3)

    def test_truncated_counts_nothing(self):
        """A 150-byte datagram is not even a packet for Kea: nothing counted."""
        s = HookedServer(self, Recorder())
        self.assertEqual(s.send(bytes(150)), Drop("DHCP4_BUFFER_RECEIVE_FAIL"))
        self.assertEqual(s.stat("pkt4-received"), 0)
        self.flushLoggedErrors()

    def test_no_subnet_is_not_a_receive_drop(self):
        """A DISCOVER from an unknown relay: no reply, no pkt4-receive-drop."""
        s = HookedServer(self, Recorder())
        data = encode(Packet4(op=1, chaddr=b"\x02" * 6, giaddr=IPv4Address("127.0.9.9"),
                              options={53: b"\x01"}))
        self.assertEqual(s.send(data), Drop("DHCP4_SUBNET_SELECTION_FAILED"))
        self.assertEqual(s.stat("pkt4-receive-drop"), 0)
        self.assertEqual(s.stat("pkt4-discover-received"), 1)

    def test_allocation_statistics(self):
        """A DORA counts assigned and cumulative (subnet and global); a
        renewal of the same lease counts nothing more; exhausting the pool
        of 3 counts Kea's failure statistics for the subnet too."""
        s = HookedServer(self, Recorder())
        ack = s.dora(b"\x02\x00\x00\x00\x00\x01")
        address = decode(ack.data).yiaddr
        self.assertEqual(s.stat("subnet[1].assigned-addresses"), 1)
        self.assertEqual(s.stat("subnet[1].cumulative-assigned-addresses"), 1)
        self.assertEqual(s.stat("cumulative-assigned-addresses"), 1)
        s.send(encode(Packet4(op=1, xid=9, chaddr=b"\x02\x00\x00\x00\x00\x01", ciaddr=address,
                              giaddr=RELAY, options={53: b"\x03"})))
        self.assertEqual(s.stat("subnet[1].assigned-addresses"), 1)
        for last in (2, 3):
            s.dora(bytes([2, 0, 0, 0, 0, last]))
        self.assertEqual(s.stat("subnet[1].assigned-addresses"), 3)
        self.assertEqual(s.send(_query(1, b"\x02\x00\x00\x00\x00\x04")), Drop("DHCP4_PACKET_NAK_0003"))
        for name in ("v4-allocation-fail", "v4-allocation-fail-subnet", "v4-allocation-fail-classes"):
            self.assertEqual(s.stat(name), 1, name)
            self.assertEqual(s.stat(f"subnet[1].{name}"), 1, name)
        self.assertEqual(s.stat("v4-allocation-fail-shared-network"), 0)


class AllocationHookTests(SynchronousTestCase):
    def test_lease4_select_arguments_and_skip(self):
        """lease4_select runs for the offer (fake_allocation True) and the
        ACK (False); SKIP on the REQUEST means no lease: NAK, nothing stored."""
        def select(handle):
            if not handle.get_argument("fake_allocation"):
                handle.next_step = NextStep.SKIP
        library = Recorder(lease4_select=select)
        s = HookedServer(self, library)
        reply = s.dora()
        self.assertEqual(decode(reply.data).options[53], b"\x06")
        self.assertEqual([args["fake_allocation"] for _, args in library.calls], [True, False])
        self.assertEqual(library.calls[0][1]["subnet4"].id, 1)
        self.assertEqual(len(s.server.store), 0)

    def test_lease4_select_may_change_the_lease(self):
        """A callout may hand back a changed lease; that one is stored."""
        from dataclasses import replace

        def longer(handle):
            handle.set_argument("lease4", replace(handle.get_argument("lease4"), valid_lifetime=7777))
        s = HookedServer(self, Recorder(lease4_select=longer))
        address = decode(s.dora().data).yiaddr
        self.assertEqual(s.server.store.get_lease4(address).valid_lifetime, 7777)

    def test_lease4_renew_skip_keeps_the_stored_lease(self):
        """lease4_renew SKIP: a renewal leaves the stored lease untouched."""
        def skip(handle):
            handle.next_step = NextStep.SKIP
        library = Recorder(lease4_renew=skip)
        s = HookedServer(self, library)
        address = decode(s.dora().data).yiaddr
        before = s.server.store.get_lease4(address)
        s.clock.advance(100)
        s.send(encode(Packet4(op=1, xid=9, chaddr=b"\x02\x00\x00\x00\x00\x01", ciaddr=address,
                              giaddr=RELAY, options={53: b"\x03"})))
        self.assertEqual(s.server.store.get_lease4(address), before)
        renew_calls = [args for name, args in library.calls if name == "lease4_renew"]
        self.assertEqual(renew_calls[-1]["lease4"].address, address)
        self.assertEqual(renew_calls[-1]["hwaddr"], b"\x02\x00\x00\x00\x00\x01")


class HostIdentifierTests(SynchronousTestCase):
    def test_flex_id_from_the_callout_finds_the_reservation(self):
        """With flex-id in host-reservation-identifiers, host4_identifier's
        id_value is the identifier looked up: the reserved address comes back."""
        def flex(handle):
            query = handle.get_argument("query4")
            handle.set_argument("id_value", query.options.get(60, b""))
        extra = {"host-reservation-identifiers": ["flex-id", "hw-address"]}
        s = HookedServer(self, Recorder(host4_identifier=flex), **extra)
        s.server.stop()
        subnet = {"id": 1, "subnet": "192.0.2.0/24", "relay": {"ip-addresses": [str(RELAY)]},
                  "pools": [{"pool": "192.0.2.10 - 192.0.2.12"}],
                  "reservations": [{"flex-id": "'phone-7'", "ip-address": "192.0.2.77"}]}
        s.server = Dhcp4Server(_config(subnet4=[subnet], **extra), clock=s.clock.seconds,
                               hooks=s.hooks, interfaces={"lo": [SERVER]})
        s.server.start()
        s.server.set_socket_addresses([SERVER])
        offer = s.send(_query(1, o60=b"phone-7"))
        self.assertEqual(str(decode(offer.data).yiaddr), "192.0.2.77")
        other = s.send(_query(1, b"\x02\x00\x00\x00\x00\x02", o60=b"laptop"))
        self.assertEqual(str(decode(other.data).yiaddr), "192.0.2.10")
