"""
Tests for hooks.ha.states and hooks.ha.communication: Kea 2.2's HA state
machine driven by events with plain ``now`` values (spec/ha.md §3, §5-§7,
ha_service.cc state handlers).
"""

from ipaddress import IPv4Address
from types import SimpleNamespace

from twisted.trial.unittest import SynchronousTestCase

from hooks.ha.communication import rfc1123, parse_rfc1123
from hooks.ha.config import parse_ha_config
from hooks.ha.states import (
    HAStateMachine, Log, ReplayBacklog, SendHAReset, SendHeartbeat, SendMaintenanceNotify,
    SetLocalDHCP, StartSync, Transition,
)

T0 = 1795584000.0
P1 = {"name": "server1", "url": "http://127.0.1.1:18001/", "role": "primary"}
P2 = {"name": "server2", "url": "http://127.0.1.2:18002/", "role": "secondary"}


def config(me="server1", mode="load-balancing", role2="secondary", **kw):
    ha = {"this-server-name": me, "mode": mode, "peers": [P1, dict(P2, role=role2)]}
    ha.update({k.replace("_", "-"): v for k, v in kw.items()})
    return parse_ha_config([ha])


def hb(state, now, scopes=(), unsent=0, skew=0):
    return [{"arguments": {"date-time": rfc1123(now + skew), "scopes": list(scopes), "state": state,
                           "unsent-update-count": unsent}, "result": 0, "text": "HA peer status returned."}]


def lease(n=1):
    return SimpleNamespace(address=IPv4Address(f"192.0.3.{n}"), hwaddr=b"\x02\x00\x00\x00\x01\x00",
                           client_id=None, valid_lifetime=3600, cltt=1795584000, subnet_id=1,
                           fqdn_fwd=False, fqdn_rev=False, hostname="", state=0, user_context=None)


def kinds(actions):
    """Actions without log lines, as (type name, key field) tuples."""
    out = []
    for a in actions:
        if isinstance(a, Log):
            continue
        if isinstance(a, Transition):
            out.append(("Transition", a.old, a.new))
        elif isinstance(a, SetLocalDHCP):
            out.append(("DHCP", a.enabled))
        else:
            out.append((type(a).__name__,))
    return out


def beat(m, now, answer_state=None, error=None, **kw):
    """Fire the heartbeat timer and feed the answer; returns actions."""
    sent = m.heartbeat_due(now)
    assert isinstance(sent[0], SendHeartbeat)
    if error is not None:
        return m.heartbeat_result(now, error=error)
    return m.heartbeat_result(now, hb(answer_state, now, **kw))


def to_load_balancing(m, now):
    beat(m, now, "waiting")
    m.sync_done(now, True)
    beat(m, now + 10, "ready")
    assert m.state == "load-balancing", m.state
    return now + 10


class StartupTests(SynchronousTestCase):
    def test_start_waiting(self):
        """Start: waiting, DHCP disabled, first heartbeat one heartbeat-delay later."""
        m = HAStateMachine(config(), T0)
        self.assertEqual(m.state, "waiting")
        self.assertEqual(kinds(m.start_actions), [("DHCP", False)])
        self.assertEqual(m.next_heartbeat_at, T0 + 10)
        self.assertEqual(m.scopes, [])

    def test_handshake_primary(self):
        """Partner waiting: waiting -> syncing (sync requested) -> ready on
        success; partner ready -> load-balancing with DHCP enabled (§3)."""
        m = HAStateMachine(config(), T0)
        acts = beat(m, T0 + 10, "waiting")
        self.assertEqual(kinds(acts), [("Transition", "waiting", "syncing"), ("StartSync",)])
        sync = [a for a in acts if isinstance(a, StartSync)][0]
        self.assertEqual((sync.peer, sync.max_period, sync.page_limit), ("server2", 60, 10000))
        self.assertIsNone(m.next_heartbeat_at)      # heartbeat stopped while syncing
        acts = m.sync_done(T0 + 10.011, True)
        self.assertEqual(kinds(acts), [("Transition", "syncing", "ready")])
        self.assertAlmostEqual(m.next_heartbeat_at, T0 + 20.011)
        acts = beat(m, T0 + 20.1, "ready")
        self.assertEqual(kinds(acts), [("Transition", "ready", "load-balancing"), ("DHCP", True)])
        self.assertEqual(m.scopes, ["server1"])

    def test_secondary_waits_for_primary(self):
        """Both waiting: only the primary moves; the secondary syncs once
        the primary is ready, and goes load-balancing when it sees it."""
        m = HAStateMachine(config(me="server2"), T0)
        beat(m, T0 + 10, "waiting")
        self.assertEqual(m.state, "waiting")
        beat(m, T0 + 20, "ready")
        self.assertEqual(m.state, "syncing")
        m.sync_done(T0 + 20, True)
        self.assertEqual(m.state, "ready")
        beat(m, T0 + 30, "ready")
        self.assertEqual(m.state, "ready")          # secondary does not win ties
        beat(m, T0 + 40, "load-balancing")
        self.assertEqual(m.state, "load-balancing")

    def test_sync_failure_stays_syncing(self):
        """A failed sync keeps syncing and retries at the next heartbeat."""
        m = HAStateMachine(config(), T0)
        beat(m, T0 + 10, "waiting")
        m.sync_done(T0 + 11, False, "connection refused")
        self.assertEqual(m.state, "syncing")
        acts = beat(m, T0 + 21, "waiting")
        self.assertIn(("StartSync",), kinds(acts))

    def test_sync_leases_false(self):
        """sync-leases false: waiting -> ready directly."""
        m = HAStateMachine(config(sync_leases=False, send_lease_updates=False), T0)
        beat(m, T0 + 10, "waiting")
        self.assertEqual(m.state, "ready")


class FailureTests(SynchronousTestCase):
    def setUp(self):
        self.m = HAStateMachine(config(heartbeat_delay=1000, max_response_delay=3000,
                                       max_ack_delay=1000, max_unacked_clients=2), T0)
        self.now = to_load_balancing(self.m, T0 + 1)

    def discover(self, now, mac, secs):
        """A DISCOVER of a server2-scope client (hash -> server2)."""
        return self.m.in_scope(now, 1, None, mac, secs)[0]

    def test_communication_recovery_then_partner_down(self):
        """spec/ha.md §3 t03: first failed heartbeat -> communication-recovery;
        partner-scope DISCOVERs with secs=0 count as connecting only, secs=3
        as unacked; more than max-unacked-clients -> partner-down at the
        next failed heartbeat, serving both scopes."""
        m, now = self.m, self.now
        acts = beat(m, now + 1, error="connection reset")
        self.assertEqual(kinds(acts), [("Transition", "load-balancing", "communication-recovery")])
        self.assertFalse(m.status(now + 1)["ha-servers"]["remote"]["communication-interrupted"])
        macs = [bytes.fromhex(h) for h in ("f25d9b66d187", "7effb5d46f9e", "aa2669ef4b6c", "a6dad4a26dd0")]
        t = now + 4
        for mac in macs:
            d = self.discover(t, mac, 0)
            self.assertEqual((d.in_scope, d.scope_class), (False, "HA_server2"))
        remote = m.status(t)["ha-servers"]["remote"]
        self.assertEqual((remote["connecting-clients"], remote["unacked-clients"],
                          remote["unacked-clients-left"], remote["last-state"]), (4, 0, 3, "unavailable"))
        for mac in macs[:3]:
            self.discover(t, mac, 3)
        self.assertEqual(m.status(t)["ha-servers"]["remote"]["unacked-clients-left"], 0)
        acts = beat(m, t + 1, error="timeout")
        self.assertEqual(kinds(acts), [("Transition", "communication-recovery", "partner-down")])
        self.assertEqual(m.scopes, ["server1", "server2"])
        self.assertTrue(self.discover(t + 2, macs[0], 3).in_scope)

    def test_straight_to_partner_down(self):
        """Addendum: unacked clients already above the limit when the
        first heartbeat fails -> load-balancing -> partner-down directly."""
        m, now = self.m, self.now
        t = now + 4                      # communication interrupted (> 3000 ms)
        for h in ("f25d9b66d187", "7effb5d46f9e", "aa2669ef4b6c"):
            self.discover(t, bytes.fromhex(h), 3)
        acts = beat(m, t, error="timeout")
        self.assertEqual(kinds(acts)[0], ("Transition", "load-balancing", "partner-down"))

    def test_secs_byte_swapped(self):
        """secs 0x0300 (3 in the wrong byte order) counts as 3 seconds."""
        m, now = self.m, self.now
        self.discover(now + 4, bytes.fromhex("f25d9b66d187"), 0x0300)
        self.assertEqual(m.comm.unacked_clients_count, 1)

    def test_partner_down_failback(self):
        """Partner-down: partner waiting -> stay; partner ready -> back to
        load-balancing (§3 "Partner comes back")."""
        m, now = self.m, self.now
        beat(m, now + 1, error="x")
        m.comm.poke_time = now - 100     # long silence
        m.comm.connecting_clients = {(b"a", b""): True, (b"b", b""): True, (b"c", b""): True}
        beat(m, now + 2, error="x")
        self.assertEqual(m.state, "partner-down")
        beat(m, now + 3, "waiting")
        self.assertEqual(m.state, "partner-down")
        beat(m, now + 4, "ready")
        self.assertEqual(m.state, "load-balancing")
        self.assertEqual(m.scopes, ["server1"])

    def test_lease_update_failure(self):
        """A failed lease4-update in load-balancing marks the partner
        unavailable -> communication-recovery; a good heartbeat with the
        partner in load-balancing and an empty backlog -> load-balancing."""
        m, now = self.m, self.now
        plan = m.lease_updates(now, [lease()])
        self.assertEqual(plan.park, 1)
        self.assertEqual(plan.requests[0][1]["command"], "lease4-update")
        acts = m.lease_update_result(now, "server2", False, error="fake failure, error code 1")
        self.assertIn(("Transition", "load-balancing", "communication-recovery"), kinds(acts))
        acts = beat(m, now + 1, "load-balancing", scopes=["server2"])
        self.assertIn(("Transition", "communication-recovery", "load-balancing"), kinds(acts))

    def test_backlog_replay(self):
        """communication-recovery queues updates; on recovery they are
        replayed (one lease4-update each) before load-balancing."""
        m, now = self.m, self.now
        beat(m, now + 1, error="x")
        plan = m.lease_updates(now + 1.5, [lease(1), lease(2)])
        self.assertEqual((plan.requests, plan.park), ((), 0))
        acts = beat(m, now + 2, "load-balancing")
        replay = [a for a in acts if isinstance(a, ReplayBacklog)][0]
        self.assertEqual([b["command"] for b in replay.bodies], ["lease4-update"] * 2)
        acts = m.backlog_done(now + 2.1, True)
        self.assertEqual(m.state, "load-balancing")

    def test_backlog_overflow_resets_partner(self):
        """Overflowing delayed-updates-limit -> ha-reset to the partner,
        then waiting."""
        m = HAStateMachine(config(heartbeat_delay=1000, delayed_updates_limit=1), T0)
        now = to_load_balancing(m, T0 + 1)
        beat(m, now + 1, error="x")
        m.lease_updates(now + 1.5, [lease(1), lease(2)])
        self.assertTrue(m.backlog.overflown)
        acts = beat(m, now + 2, "load-balancing")
        self.assertIn(("SendHAReset",), kinds(acts))
        m.reset_done(now + 2.1, True)
        self.assertIn(m.state, ("waiting", "syncing"))


class UpdatesAndCommandsTests(SynchronousTestCase):
    def test_unsent_updates_in_partner_down(self):
        """Updates are not sent in partner-down; they are counted and the
        heartbeat answer reports unsent-update-count (§2)."""
        m = HAStateMachine(config(), T0)
        m.maintenance_start(T0)
        m.maintenance_start_result(T0, communication_ok=False)
        self.assertEqual(m.state, "partner-down")
        plan = m.lease_updates(T0 + 1, [lease()])
        self.assertEqual((plan.requests, plan.park), ((), 0))
        ans = m.heartbeat_answer(T0 + 1)
        self.assertEqual(ans["arguments"]["unsent-update-count"], 1)
        self.assertEqual(ans["arguments"]["scopes"], ["server1", "server2"])
        self.assertEqual(ans["arguments"]["date-time"], rfc1123(T0 + 1))

    def test_partner_with_new_unsent_updates(self):
        """From partner-down, a ready partner with new unsent updates makes
        this server resync (waiting), not go back to load-balancing."""
        m = HAStateMachine(config(), T0)
        m.maintenance_start(T0)
        m.maintenance_start_result(T0, communication_ok=False)
        beat(m, T0 + 10, "ready", unsent=2)
        self.assertIn(m.state, ("waiting", "syncing"))

    def test_maintenance(self):
        """ha-maintenance-start -> notify {cancel:false} -> partner-in-
        maintenance (both scopes); cancel -> notify {cancel:true} -> back."""
        m = HAStateMachine(config(), T0)
        to_load_balancing(m, T0 + 1)
        answer, acts = m.maintenance_start(T0 + 20)
        self.assertIsNone(answer)
        self.assertEqual(acts, [SendMaintenanceNotify("server2", False)])
        answer, acts = m.maintenance_start_result(T0 + 20, True, 0)
        self.assertEqual(answer["text"], "Server is now in the partner-in-maintenance state and its partner"
                         " is in-maintenance state. The partner can be now safely shut down.")
        self.assertEqual((m.state, m.scopes), ("partner-in-maintenance", ["server1", "server2"]))
        answer, acts = m.maintenance_cancel(T0 + 21)
        self.assertEqual(acts[0].body["arguments"], {"cancel": True})
        answer, acts = m.maintenance_cancel_result(T0 + 21)
        self.assertEqual((answer["text"], m.state), ("Server maintenance successfully canceled.", "load-balancing"))

    def test_maintenance_notify_received(self):
        """Receiving ha-maintenance-notify -> in-maintenance (no scopes,
        DHCP off); cancel -> previous state; cancel when not in
        maintenance is an error."""
        m = HAStateMachine(config(me="server2"), T0)
        ans, _ = m.maintenance_notify(T0, True)
        self.assertEqual(ans["result"], 1)
        ans, acts = m.maintenance_notify(T0, False)
        self.assertEqual((ans["text"], m.state), ("Server is in-maintenance state.", "in-maintenance"))
        ans, acts = m.maintenance_notify(T0, True)
        self.assertEqual((ans["text"], m.state), ("Server maintenance canceled.", "waiting"))

    def test_ha_reset(self):
        """ha-reset: waiting (texts as Kea's)."""
        m = HAStateMachine(config(), T0)
        self.assertEqual(m.ha_reset(T0)[0]["text"], "HA state machine already in WAITING state.")
        to_load_balancing(m, T0 + 1)
        ans, acts = m.ha_reset(T0 + 30)
        self.assertEqual((ans["text"], m.state), ("HA state machine reset.", "syncing"))

    def test_sync_complete_notify(self):
        """ha-sync-complete-notify re-enables local DHCP (not in partner-down)."""
        m = HAStateMachine(config(me="server2"), T0)
        m.network_state.disable_service("ha")
        ans, acts = m.sync_complete_notify(T0)
        self.assertEqual(ans["text"], "Server successfully notified about the synchronization completion.")
        self.assertTrue(m.network_state.is_service_enabled())

    def test_ha_scopes_and_continue(self):
        """ha-scopes changes scopes; ha-continue when not paused."""
        m = HAStateMachine(config(), T0)
        self.assertEqual(m.ha_scopes(T0, ["server1", "server2"])[0]["text"], "New HA scopes configured.")
        self.assertEqual(m.scopes, ["server1", "server2"])
        self.assertEqual(m.ha_scopes(T0, ["x"])[0]["result"], 1)
        self.assertEqual(m.ha_continue(T0)[0]["text"], "HA state machine is not paused.")

    def test_pause(self):
        """state-machine pause always in ready: stays until ha-continue."""
        m = HAStateMachine(config(state_machine={"states": [{"state": "ready", "pause": "always"}]}), T0)
        beat(m, T0 + 10, "waiting")
        m.sync_done(T0 + 10, True)
        beat(m, T0 + 20, "ready")
        self.assertEqual(m.state, "ready")
        self.assertEqual(m.ha_continue(T0 + 21)[0]["text"], "HA state machine continues.")
        beat(m, T0 + 30, "ready")
        self.assertEqual(m.state, "load-balancing")

    def test_clock_skew_terminates(self):
        """A partner clock 61 s off -> terminated; 31 s only warns."""
        m = HAStateMachine(config(), T0)
        acts = beat(m, T0 + 10, "waiting", skew=31)
        self.assertIn("HA_HIGH_CLOCK_SKEW", [a.msgid for a in acts if isinstance(a, Log)])
        m = HAStateMachine(config(), T0)
        beat(m, T0 + 10, "waiting", skew=-61)
        self.assertEqual(m.state, "terminated")
        self.assertIsNone(m.next_heartbeat_at)

    def test_bad_heartbeat_answer(self):
        """An unknown partner state or a map body is a failed heartbeat."""
        m = HAStateMachine(config(), T0)
        m.heartbeat_due(T0 + 10)
        m.heartbeat_result(T0 + 10, [{"arguments": {"state": "bogus", "date-time": rfc1123(T0)}, "result": 0}])
        self.assertEqual(m.comm.partner_state, "unavailable")
        m.heartbeat_due(T0 + 20)
        m.heartbeat_result(T0 + 20, {"result": 0})
        self.assertEqual(m.comm.partner_state, "unavailable")


class ModeTests(SynchronousTestCase):
    def test_passive_backup(self):
        """passive-backup primary: straight to passive-backup, DHCP on,
        no heartbeat; updates to the backup not awaited; status shows only local."""
        c = parse_ha_config([{"this-server-name": "server1", "mode": "passive-backup",
                              "peers": [P1, dict(P2, role="backup")]}])
        m = HAStateMachine(c, T0)
        self.assertEqual(m.state, "passive-backup")
        self.assertIsNone(m.next_heartbeat_at)
        self.assertTrue(m.network_state.is_service_enabled())
        plan = m.lease_updates(T0, [lease()])
        self.assertEqual((len(plan.requests), plan.park, plan.requests[0][2]), (1, 0, False))
        self.assertEqual(m.status(T0), {"ha-mode": "passive-backup", "ha-servers": {
            "local": {"role": "primary", "scopes": ["server1"], "state": "passive-backup"}}})

    def test_hot_standby(self):
        """hot-standby: the primary serves every query; the standby none."""
        m = HAStateMachine(config(mode="hot-standby", role2="standby"), T0)
        beat(m, T0 + 10, "waiting")
        m.sync_done(T0 + 10, True)
        beat(m, T0 + 20, "ready")
        self.assertEqual((m.state, m.scopes), ("hot-standby", ["server1"]))
        d, _ = m.in_scope(T0 + 21, 1, None, bytes.fromhex("f25d9b66d187"))
        self.assertEqual((d.in_scope, d.scope_class), (True, "HA_server1"))


class CommunicationTests(SynchronousTestCase):
    def test_rfc1123(self):
        """date-time format and parse round trip."""
        self.assertEqual(rfc1123(1795584478.0), "Wed, 25 Nov 2026 05:27:58 GMT")
        self.assertEqual(parse_rfc1123("Wed, 25 Nov 2026 05:27:58 GMT"), 1795584478.0)
