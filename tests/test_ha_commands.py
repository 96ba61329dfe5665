"""
Tests for hooks.ha.commands: request bodies byte-for-byte as spec/ha.md
recorded them from Kea 2.2, and Kea's checks on answers.
"""

from ipaddress import IPv4Address
from types import SimpleNamespace

from twisted.trial.unittest import SynchronousTestCase

from hooks.ha import commands as c


def lease(**kw):
    d = dict(address=IPv4Address("192.0.3.126"), hwaddr=bytes.fromhex("020000000100"), client_id=None,
             valid_lifetime=3600, cltt=1795588099 - 3600, subnet_id=1, fqdn_fwd=False, fqdn_rev=False,
             hostname="", state=0, user_context=None)
    d.update(kw)
    return SimpleNamespace(**d)


class RequestTests(SynchronousTestCase):
    def test_heartbeat(self):
        """ha-heartbeat body exactly as recorded (§2)."""
        self.assertEqual(c.kea_json(c.heartbeat()), '{ "command": "ha-heartbeat", "service": [ "dhcp4" ] }')

    def test_dhcp_disable_enable(self):
        """dhcp-disable with max-period and origin; dhcp-enable; max-period 0 left out."""
        self.assertEqual(c.kea_json(c.dhcp_disable(60)),
                         '{ "arguments": { "max-period": 60, "origin": "ha-partner" },'
                         ' "command": "dhcp-disable", "service": [ "dhcp4" ] }')
        self.assertEqual(c.kea_json(c.dhcp_enable()),
                         '{ "arguments": { "origin": "ha-partner" }, "command": "dhcp-enable",'
                         ' "service": [ "dhcp4" ] }')
        self.assertEqual(c.dhcp_disable(0)["arguments"], {"origin": "ha-partner"})

    def test_notify_reset_maintenance(self):
        """ha-sync-complete-notify, ha-reset, ha-maintenance-notify bodies."""
        self.assertEqual(c.kea_json(c.sync_complete_notify()),
                         '{ "command": "ha-sync-complete-notify", "service": [ "dhcp4" ] }')
        self.assertEqual(c.kea_json(c.ha_reset()), '{ "command": "ha-reset", "service": [ "dhcp4" ] }')
        self.assertEqual(c.kea_json(c.maintenance_notify(False)),
                         '{ "arguments": { "cancel": false }, "command": "ha-maintenance-notify",'
                         ' "service": [ "dhcp4" ] }')

    def test_get_page(self):
        """lease4-get-page: from "start", then the last address; limit 0 refused."""
        self.assertEqual(c.lease4_get_page(None, 2)["arguments"], {"from": "start", "limit": 2})
        self.assertEqual(c.lease4_get_page(IPv4Address("192.0.3.231"), 2)["arguments"],
                         {"from": "192.0.3.231", "limit": 2})
        self.assertRaises(ValueError, c.lease4_get_page, None, 0)

    def test_lease4_update(self):
        """lease4-update as recorded: expire = cltt + valid-lft, force-create."""
        self.assertEqual(
            c.kea_json(c.lease4_update(lease())),
            '{ "arguments": { "expire": 1795588099, "force-create": true, "fqdn-fwd": false,'
            ' "fqdn-rev": false, "hostname": "", "hw-address": "02:00:00:00:01:00", "ip-address":'
            ' "192.0.3.126", "state": 0, "subnet-id": 1, "valid-lft": 3600 }, "command":'
            ' "lease4-update", "service": [ "dhcp4" ] }')

    def test_lease4_del_and_decline(self):
        """lease4-del has no force-create; a declined lease has an empty
        hw-address and state 1; client-id and user-context only when set."""
        body = c.lease4_del(lease(hwaddr=bytes.fromhex("020000000401"), cltt=1795588219 - 3600))
        self.assertEqual(body["arguments"], {
            "expire": 1795588219, "fqdn-fwd": False, "fqdn-rev": False, "hostname": "",
            "hw-address": "02:00:00:00:04:01", "ip-address": "192.0.3.126", "state": 0,
            "subnet-id": 1, "valid-lft": 3600})
        declined = c.lease4_update(lease(hwaddr=b"", state=1, valid_lifetime=86400, cltt=1795584631,
                                         address=IPv4Address("192.0.3.129")))["arguments"]
        self.assertEqual((declined["hw-address"], declined["state"], declined["expire"]), ("", 1, 1795671031))
        withcid = c.lease4_update(lease(client_id=b"\x01\x02", user_context={"a": 1}))["arguments"]
        self.assertEqual((withcid["client-id"], withcid["user-context"]), ("01:02", {"a": 1}))

    def test_engine_leases_as_any_lease(self):
        """A Lease4 of the engine (read directly) makes the element any
        object with its attributes makes, keys in the same order."""
        from kea_twisted.leases import Lease4

        for kw in ({}, {"hwaddr": b"", "state": 1}, {"client_id": b"\x01\x02", "user_context": {"a": 1}},
                   {"hostname": "h.example.", "fqdn_fwd": True, "fqdn_rev": True}):
            values = vars(lease(**kw))
            element = c.lease_to_element(Lease4(**values))
            expected = c.lease_to_element(lease(**kw))
            self.assertEqual(list(element.items()), list(expected.items()))
        self.assertEqual(c.hex_colons(b"\x0a\xff\x00"), "0a:ff:00")
        self.assertEqual(c.hex_colons(b""), "")
        self.assertEqual(c.hex_colons(None), "")

    def test_kea_json_empty(self):
        """Kea prints empty lists and maps with two spaces."""
        self.assertEqual(c.kea_json({"scopes": [], "m": {}}), '{ "m": {  }, "scopes": [  ] }')

    def test_kea_json_is_element_str(self):
        """A lease prints as Kea 2.2 printed it (spec/recorded/
        control-transcript.jsonl, raw-format lease4-get): the byte 0xE9 as
        \\u00e9, the double 1.5, keys in byte order."""
        printed = c.kea_json(c.lease_to_element(lease(
            address=IPv4Address("10.4.1.40"), hwaddr=bytes.fromhex("010203040506"), valid_lifetime=4000,
            cltt=1795585122, hostname='a"b\\c\xe9/\t',
            user_context={"z": 1, "a": [], "m": {}, "f": 1.5, "n": None, "t": True})))
        self.assertEqual(
            printed,
            '{ "cltt": 1795585122, "fqdn-fwd": false, "fqdn-rev": false, "hostname": "a\\"b\\\\c\\u00e9/\\t",'
            ' "hw-address": "01:02:03:04:05:06", "ip-address": "10.4.1.40", "state": 0, "subnet-id": 1,'
            ' "user-context": { "a": [  ], "f": 1.5, "m": {  }, "n": null, "t": true, "z": 1 },'
            ' "valid-lft": 4000 }')

    def test_request_headers(self):
        """Host without port, then Content-Length and Content-Type."""
        self.assertEqual(c.request_headers("127.0.1.2", b"x" * 53),
                         [("Host", "127.0.1.2"), ("Content-Length", "53"), ("Content-Type", "application/json")])


class AnswerTests(SynchronousTestCase):
    HB = [{"arguments": {"date-time": "Wed, 25 Nov 2026 05:28:18 GMT", "scopes": ["server1"],
                         "state": "load-balancing", "unsent-update-count": 0},
           "result": 0, "text": "HA peer status returned."}]

    def test_heartbeat_answer_roundtrip(self):
        """Our heartbeat answer is the recorded shape and passes Kea's checks."""
        ours = c.heartbeat_answer("load-balancing", "Wed, 25 Nov 2026 05:28:18 GMT", ["server1"], 0)
        self.assertEqual([ours], self.HB)
        hb = c.parse_heartbeat_answer(self.HB)
        self.assertEqual((hb.state, hb.scopes, hb.unsent_update_count), ("load-balancing", ["server1"], 0))

    def test_map_body_is_error(self):
        """A bare map is turned into an error (answers must be lists)."""
        e = self.assertRaises(c.PeerAnswerError, c.verify_answer, {"result": 0, "text": "ok"})
        self.assertEqual(e.message, "ok, error code 1")

    def test_results(self):
        """0 and 3 pass; 1 gives "<text>, error code 1"; 2 is unsupported."""
        self.assertEqual(c.verify_answer([{"result": 3, "text": "0 IPv4 lease(s) found."}])[0], 3)
        e = self.assertRaises(c.PeerAnswerError, c.verify_answer, [{"result": 1, "text": "fake failure"}])
        self.assertEqual(str(e), "fake failure, error code 1")
        self.assertRaises(c.CommandUnsupported, c.verify_answer, [{"result": 2, "text": "x"}])
        self.assertRaises(c.PeerAnswerError, c.verify_answer, [])

    def test_heartbeat_checks(self):
        """state and date-time must be strings; unsent-update-count an integer."""
        bad = [{"arguments": {"state": "ready"}, "result": 0}]
        e = self.assertRaises(c.PeerAnswerError, c.parse_heartbeat_answer, bad)
        self.assertIn("date-time not returned", str(e))
        bad = [{"arguments": {"state": "ready", "date-time": "x", "unsent-update-count": "1"}, "result": 0}]
        self.assertRaises(c.PeerAnswerError, c.parse_heartbeat_answer, bad)

    def test_lease_page(self):
        """A full page names the next 'from'; a short one ends the sync."""
        lease1 = {"client-id": "01:02:00:00:00:99:01", "cltt": 1795584897, "fqdn-fwd": False,
                  "fqdn-rev": False, "hostname": "h.example", "hw-address": "02:00:00:00:99:01",
                  "ip-address": "192.0.3.140", "state": 0, "subnet-id": 1, "valid-lft": 3600}
        body = [{"arguments": {"count": 1, "leases": [lease1]}, "result": 0, "text": "1 IPv4 lease(s) found."}]
        self.assertEqual(c.parse_lease_page(body, 1).next_from, "192.0.3.140")
        self.assertIsNone(c.parse_lease_page(body, 2).next_from)
        empty = [{"arguments": {"count": 0, "leases": []}, "result": 3, "text": "0 IPv4 lease(s) found."}]
        self.assertEqual(c.parse_lease_page(empty, 2).leases, [])
        fields = c.lease_fields_from_element(lease1)
        self.assertEqual((fields["client_id"], fields["address"]),
                         (bytes.fromhex("01020000009901"), IPv4Address("192.0.3.140")))

    def test_command_arguments(self):
        """ha-scopes / ha-sync / ha-maintenance-notify argument checks."""
        self.assertEqual(c.parse_ha_scopes({"arguments": {"scopes": []}}), [])
        self.assertRaises(ValueError, c.parse_ha_scopes, {"arguments": {"scopes": [1]}})
        self.assertEqual(c.parse_ha_sync({"arguments": {"server-name": "server2", "max-period": 30}}),
                         ("server2", 30))
        e = self.assertRaises(ValueError, c.parse_ha_sync, {"arguments": {"server-name": "s", "max-period": 0}})
        self.assertEqual(str(e), "'max-period' must be a positive integer in the 'ha-sync' command")
        self.assertTrue(c.parse_maintenance_notify({"arguments": {"cancel": True}}))
