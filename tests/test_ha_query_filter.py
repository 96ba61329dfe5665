"""
Tests for hooks.ha.query_filter: Kea's load-balancing hash and scopes.
The 285 vectors were observed on a real Kea 2.2.0 load-balancing pair.
"""

import json

from twisted.trial.unittest import SynchronousTestCase

from hooks.ha.config import parse_ha_config
from hooks.ha.query_filter import (
    LB_MESSAGE_TYPES, QueryFilter, ScopeError, lb_hash, lb_key, load_balance,
)

VECTORS = "/work/shared/kea-ha-rig/lb-vectors.json"
P1 = {"name": "server1", "url": "http://127.0.0.1:18091/", "role": "primary"}
P2 = {"name": "server2", "url": "http://127.0.0.2:18092/", "role": "secondary"}


def config(mode="load-balancing", me="server1", role2="secondary", extra=()):
    peers = [P1, dict(P2, role=role2)] + list(extra)
    return parse_ha_config([{"this-server-name": me, "mode": mode, "peers": peers}])


class VectorTests(SynchronousTestCase):
    def setUp(self):
        with open(VECTORS) as f:
            self.vectors = json.load(f)["vectors"]

    def test_all_vectors(self):
        """All 285 observed key -> hash -> server results."""
        self.assertEqual(len(self.vectors), 285)
        for v in self.vectors:
            key = bytes.fromhex(v["key_hex"])
            self.assertEqual(lb_hash(key), v["hash"], v["key_hex"])
            self.assertEqual(("server1", "server2")[load_balance(key, 2)], v["server"], v["key_hex"])

    def test_vectors_through_filter(self):
        """The filter picks the key from client-id else chaddr and gives the
        observed class; exactly one of the two servers takes each query."""
        f1 = QueryFilter(config(me="server1"))
        f2 = QueryFilter(config(me="server2"))
        for v in self.vectors:
            cid = bytes.fromhex(v["client_id"]) if v["client_id"] else None
            hw = bytes.fromhex(v["chaddr"].replace(":", ""))
            d1, d2 = f1.decide(1, cid, hw), f2.decide(1, cid, hw)
            self.assertEqual(d1.scope_class, v["observed_ha_class"])
            self.assertEqual(d1.scope_class, d2.scope_class)
            self.assertEqual((d1.in_scope, d2.in_scope), (v["server"] == "server1", v["server"] == "server2"))


class HashTests(SynchronousTestCase):
    def test_table_examples(self):
        """spec/ha.md §4 table rows."""
        self.assertEqual(lb_hash(bytes.fromhex("f25d9b66d187")), 167)
        self.assertEqual(lb_hash(bytes.fromhex("0102")), 170)
        self.assertEqual(lb_hash(bytes.fromhex("011e91")), 166)

    def test_key_choice(self):
        """Option 61 data wins when non-empty; else chaddr; else None."""
        self.assertEqual(lb_key(b"\x01\x02", b"\xaa"), b"\x01\x02")
        self.assertEqual(lb_key(b"", b"\xaa"), b"\xaa")
        self.assertIsNone(lb_key(None, b""))

    def test_no_active_servers(self):
        """No active server: -1."""
        self.assertEqual(load_balance(b"x", 0), -1)


class ScopeTests(SynchronousTestCase):
    def test_non_ha_types_go_to_primary(self):
        """Types other than 1,3,4,7,8 are the primary's and always in scope."""
        f = QueryFilter(config(me="server2"))
        f.serve_no_scopes()
        d = f.decide(2, None, b"\x01")
        self.assertEqual((d.in_scope, d.scope_class), (True, "HA_server1"))
        self.assertEqual(LB_MESSAGE_TYPES, {1, 3, 4, 7, 8})

    def test_missing_identifier(self):
        """No client-id and no hw-address: dropped, no class."""
        d = QueryFilter(config()).decide(1, None, b"")
        self.assertEqual((d.in_scope, d.scope_class), (False, None))

    def test_hot_standby(self):
        """Hot-standby: every query is HA_<primary>; the standby serves
        nothing by default and the primary's scope in failover."""
        f = QueryFilter(config(mode="hot-standby", me="server2", role2="standby"))
        self.assertEqual(f.served_scopes(), [])
        d = f.decide(1, None, bytes.fromhex("f25d9b66d187"))
        self.assertEqual((d.in_scope, d.scope_class), (False, "HA_server1"))
        f.serve_failover_scopes()
        self.assertEqual(f.served_scopes(), ["server1"])

    def test_failover_and_default(self):
        """Partner-down scopes are both; default is own."""
        f = QueryFilter(config(me="server2"))
        self.assertEqual(f.served_scopes(), ["server2"])
        f.serve_failover_scopes()
        self.assertEqual(f.served_scopes(), ["server1", "server2"])

    def test_backup_peer_not_active(self):
        """A backup peer does not count as an active server and is never
        served in failover."""
        f = QueryFilter(config(extra=[{"name": "server3", "url": "http://127.0.0.3/", "role": "backup"}]))
        self.assertEqual(f.active_servers, 2)
        f.serve_failover_scopes()
        self.assertEqual(f.served_scopes(), ["server1", "server2"])

    def test_ha_scopes_bad_name(self):
        """ha-scopes with an unknown name keeps the old scopes; Kea's text."""
        f = QueryFilter(config())
        e = self.assertRaises(ScopeError, f.serve_scopes, ["server1", "nope"])
        self.assertEqual(str(e), "invalid server name specified 'nope' while enabling/disabling HA scopes")
        self.assertEqual(f.served_scopes(), ["server1"])
        f.serve_scopes([])
        self.assertEqual(f.served_scopes(), [])
