"""
Tests for hooks.ha.config: Kea 2.2's ``high-availability`` parsing.

Every error text below was produced by the real hook (``kea-dhcp4 -c`` with
``libdhcp_ha.so`` 2.2.0; ``-t`` does not run the hook's ``load``).
"""

import commentjson
from twisted.trial.unittest import SynchronousTestCase

from hooks.ha.config import (
    HAConfigError, TLSFiles, Url, parse_ha_config,
)
from kea_twisted.config.element import Position, from_python

SEED = "/work/shared/seed/kea4-ha-load-balancing-server1-mt-with-tls.json"
P1 = {"name": "server1", "url": "http://127.0.0.1:18091/", "role": "primary"}
P2 = {"name": "server2", "url": "http://127.0.0.2:18092/", "role": "secondary"}


def p(base, **kw):
    d = dict(base)
    d.update({k.replace("_", "-"): v for k, v in kw.items()})
    return d


def base(**kw):
    ha = {"this-server-name": "server1", "mode": "load-balancing", "peers": [P1, P2]}
    ha.update({k.replace("_", "-"): v for k, v in kw.items()})
    return ha


def without(d, key):
    return {k: v for k, v in d.items() if k != key}


# (high-availability value, Kea's message) - observed on Kea 2.2.0.
KEA_ERRORS = {
    "hb_big": ([base(heartbeat_delay=65536)], "'heartbeat-delay' must not be greater than 65535"),
    "mrd_big": ([base(max_response_delay=70000)], "'max-response-delay' must not be greater than 65535"),
    "mad_neg": ([base(max_ack_delay=-1)], "'max-ack-delay' must not be negative"),
    "mad_big": ([base(max_ack_delay=65536)], "'max-ack-delay' must not be greater than 65535"),
    "hb_str": ([base(heartbeat_delay="10")], "invalid type specified for parameter 'heartbeat-delay'"),
    "hb_real": ([base(heartbeat_delay=10.0)], "invalid type specified for parameter 'heartbeat-delay'"),
    "mode_bad": ([base(mode="foo")], "unsupported value 'foo' for mode parameter"),
    "mode_missing": ([without(base(), "mode")], "missing parameter 'mode'"),
    "no_peers": ([without(base(), "peers")], "'peers' parameter missing in HA configuration"),
    "peers_map": ([base(peers={})], "'peers' parameter must be a list"),
    "two_rel": ([base(), base()], "invalid number of configurations in the HA configuration"
                " list. Expected exactly one configuration"),
    "not_list": (base(), "HA configuration must be a list"),
    "name_missing": ([without(base(), "this-server-name")], "missing parameter 'this-server-name'"),
    "name_blank": ([base(this_server_name="  ")], "'this-server-name' value must not be empty"),
    "not_a_peer": ([base(this_server_name="server3")], "no peer configuration specified for the 'server3'"),
    "role_bad": ([base(peers=[P1, p(P2, role="tertiary")])], "unsupported value 'tertiary' for role parameter"),
    "dup_peer": ([base(peers=[P1, P2, p(P2, url="http://127.0.0.3:1/")])],
                 "peer with name 'server2' already specified"),
    "two_primary": ([base(peers=[P1, p(P2, role="primary")])], "multiple primary servers specified"),
    "lb_standby": ([base(peers=[P1, p(P2, role="standby")])],
                   "standby servers not allowed in the load balancing configuration"),
    "lb_no_secondary": ([base(peers=[P1, p(P2, role="backup")])],
                        "secondary server required in the load balancing configuration"),
    "lb_wait": ([base(wait_backup_ack=True)],
                "'wait-backup-ack' must be set to false in the load balancing configuration"),
    "hs_secondary": ([base(mode="hot-standby")], "secondary servers not allowed in the hot standby configuration"),
    "hs_dul": ([base(mode="hot-standby", peers=[P1, p(P2, role="standby")], delayed_updates_limit=5)],
               "'delayed-updates-limit' must be set to 0 in the hot standby configuration"),
    "hs_wait": ([base(mode="hot-standby", peers=[P1, p(P2, role="standby")], wait_backup_ack=True)],
                "'wait-backup-ack' must be set to false in the hot standby configuration"),
    "pb_secondary": ([base(mode="passive-backup")], "secondary servers not allowed in the passive backup configuration"),
    "pb_standby": ([base(mode="passive-backup", peers=[P1, p(P2, role="standby")])],
                   "standby servers not allowed in the passive backup configuration"),
    "pb_noprimary": ([base(mode="passive-backup", peers=[p(P1, role="backup"), p(P2, role="backup")])],
                     "primary server required in the passive backup configuration"),
    "https_no_tls": ([base(peers=[P1, p(P2, url="https://127.0.0.2:18092/")])],
                     "bad url 'https://127.0.0.2:18092/': https scheme is not supported for server"
                     " server2 where TLS is disabled"),
    "tls_partial": ([base(peers=[p(P1, trust_anchor="/tmp/x"), P2])],
                    "bad TLS config for server server1: cert-file parameter is missing or empty:"
                    " all or none of TLS parameters must be set"),
    "tls_partial_g": ([base(cert_file="/tmp/x")],
                      "bad TLS config for server server1: trust-anchor parameter is missing or"
                      " empty: all or none of TLS parameters must be set"),
    "url_host": ([base(peers=[P1, p(P2, url="http://localhost:18092/")])],
                 "bad url 'http://localhost:18092/': Failed to convert string to address"
                 " 'localhost': Invalid argument for server server2"),
    "url_scheme": ([base(peers=[P1, p(P2, url="ftp://127.0.0.2:18092/")])],
                   "invalid URL: invalid scheme ftp in ftp://127.0.0.2:18092/ for server server2"),
    "url_noscheme": ([base(peers=[P1, p(P2, url="127.0.0.2:18092")])],
                     "invalid URL: invalid scheme 127.0.0.2 in 127.0.0.2:18092 for server server2"),
    "url_port": ([base(peers=[P1, p(P2, url="http://127.0.0.2:abc/")])],
                 "invalid URL: invalid port number abc in http://127.0.0.2:abc/ for server server2"),
    "sm_bad": ([base(state_machine={"states": [{"state": "foo", "pause": "always"}]})], "unknown state foo"),
    "sm_pause": ([base(state_machine={"states": [{"state": "waiting", "pause": "sometimes"}]})],
                 "unsupported value sometimes of 'pause' parameter"),
    "sm_dup": ([base(state_machine={"states": [{"state": "waiting", "pause": "always"}, {"state": "waiting"}]})],
               "duplicated configuration for the 'waiting' state"),
    "sm_map": ([base(state_machine=[])], "'state-machine' parameter must be a map"),
    "mt_list": ([base(multi_threading=[])], "multi-threading configuration must be a map"),
    "auth_both": ([base(peers=[P1, p(P2, basic_auth_password="a", basic_auth_password_file="/nonexist")])],
                  "only one of basic-auth-password and basic-auth-password-file parameter can be"
                  " configured in peer 'server2'"),
    "auth_file": ([base(peers=[P1, p(P2, basic_auth_password_file="/nonexist")])],
                  "bad password file in peer 'server2': can't open file '/nonexist': No such file or directory"),
    "auth_colon": ([base(peers=[P1, p(P2, basic_auth_user="a:b")])], "user 'a:b' must not contain a ':' in peer 'server2'"),
    "peer_name_blank": ([base(peers=[P1, p(P2, name=" ")])], "peer name must not be empty"),
    "peer_not_map": ([base(peers=[P1, "x"])], "peer configuration must be a map"),
    "bool_type": ([base(sync_leases=1)], "invalid type specified for parameter 'sync-leases'"),
    "missing_url": ([base(peers=[P1, {"name": "server2", "role": "secondary"}])], "missing parameter 'url'"),
}


class KeaErrorTextTests(SynchronousTestCase):
    def test_error_texts(self):
        """Each refused configuration gives exactly the message Kea 2.2's
        hook logged for it (positions aside: plain Python has none)."""
        for tag, (ha, expected) in KEA_ERRORS.items():
            with self.subTest(tag):
                e = self.assertRaises(HAConfigError, parse_ha_config, {"high-availability": ha})
                self.assertEqual(e.message, expected, tag)

    def test_log_text(self):
        """log_text is the body of Kea's HA_CONFIGURATION_FAILED line."""
        e = self.assertRaises(HAConfigError, parse_ha_config, [base(heartbeat_delay=65536)])
        self.assertEqual(e.log_text, "failed to configure High Availability hooks library:"
                                     " 'heartbeat-delay' must not be greater than 65535")

    def test_positions_from_elements(self):
        """With a positioned element tree, "missing parameter" names the
        enclosing map's position as Kea does."""
        tree = from_python([without(base(), "mode")], Position("kea.json", 18, 7))
        e = self.assertRaises(HAConfigError, parse_ha_config, tree)
        self.assertEqual(e.message, "missing parameter 'mode' (kea.json:18:7)")

    def test_missing_section(self):
        """No high-availability key: Kea's HA_MISSING_CONFIGURATION text."""
        e = self.assertRaises(HAConfigError, parse_ha_config, {})
        self.assertIn("high-availability parameter not specified", e.message)

    def test_sixteen_bit_maximum_accepted(self):
        """65535 is accepted for the three 16-bit delays (Kea: OK)."""
        c = parse_ha_config([base(heartbeat_delay=65535, max_response_delay=65535, max_ack_delay=65535)])
        self.assertEqual((c.heartbeat_delay, c.max_response_delay, c.max_ack_delay), (65535,) * 3)

    def test_password_file_reader(self):
        """basic-auth-password-file is read through the injected reader;
        the Authorization value is Basic base64(user:password)."""
        c = parse_ha_config([base(peers=[P1, p(P2, basic_auth_user="u", basic_auth_password_file="/pw")])],
                            read_file=lambda path: "secret")
        self.assertEqual(c.peer("server2").authorization, "Basic dTpzZWNyZXQ=")
        self.assertIsNone(c.peer("server1").authorization)


class DefaultsTests(SynchronousTestCase):
    def test_defaults_load_balancing(self):
        """Kea's defaults (spec/ha.md §0), delayed-updates-limit 100 in LB."""
        c = parse_ha_config([base()])
        self.assertEqual(
            (c.heartbeat_delay, c.max_response_delay, c.max_ack_delay, c.max_unacked_clients,
             c.sync_timeout, c.sync_page_limit, c.delayed_updates_limit, c.send_lease_updates,
             c.sync_leases, c.wait_backup_ack, c.require_client_certs, c.restrict_commands,
             c.enable_multi_threading, c.http_dedicated_listener),
            (10000, 60000, 10000, 10, 60000, 10000, 100, True, True, False, True, False, False, False))
        self.assertTrue(c.this_server.auto_failover)
        self.assertTrue(c.allows_communication_recovery)
        self.assertEqual(c.sync_max_period, 60)

    def test_defaults_hot_standby(self):
        """delayed-updates-limit defaults to 0 outside load-balancing."""
        c = parse_ha_config([base(mode="hot-standby", peers=[P1, p(P2, role="standby")])])
        self.assertEqual(c.delayed_updates_limit, 0)
        self.assertEqual(c.normal_state, "hot-standby")

    def test_partner_and_order(self):
        """The partner is the other non-backup peer; the filter order is
        primary, secondary/standby, backups."""
        c = parse_ha_config([base(this_server_name="server2",
                                  peers=[p(P2, name="b"), p(P1, name="server2"),
                                         {"name": "server1", "url": "http://127.0.0.3/", "role": "backup"}])])
        self.assertEqual(c.partner.name, "b")
        self.assertEqual([x.name for x in c.ordered_peers()], ["server2", "b", "server1"])

    def test_state_machine_pausing(self):
        """state-machine pause values are kept per state; default never."""
        c = parse_ha_config([base(state_machine={"states": [{"state": "ready", "pause": "once"}]})])
        self.assertEqual((c.pausing("ready"), c.pausing("waiting")), ("once", "never"))

    def test_multi_threading_threads(self):
        """0 threads take the DHCP thread count; HA MT is off without DHCP MT."""
        c = parse_ha_config([base(multi_threading={"enable-multi-threading": True,
                                                   "http-dedicated-listener": True})])
        self.assertEqual(c.with_dhcp_threads(True, 2).http_listener_threads, 2)
        self.assertEqual(c.with_dhcp_threads(True, 2).listener_address(), ("127.0.0.1", 18091))
        self.assertFalse(c.with_dhcp_threads(False, 2).enable_multi_threading)
        self.assertIsNone(c.with_dhcp_threads(False, 2).listener_address())


class SeedTLSTests(SynchronousTestCase):
    def setUp(self):
        with open(SEED) as f:
            seed = commentjson.loads(f.read())
        hooks = seed["Dhcp4"]["hooks-libraries"]
        self.params = [h for h in hooks if h["library"].endswith("libdhcp_ha.so")][0]["parameters"]
        self.config = parse_ha_config(self.params)

    def test_seed_parses(self):
        """Kea's shipped example parses; its peer-level
        require-client-certs is ignored (noted in ignored_keys)."""
        self.assertEqual(self.config.this_server_name, "server1")
        self.assertEqual(self.config.peer("server1").ignored_keys, ("require-client-certs",))
        self.assertEqual(self.config.max_ack_delay, 5000)

    def test_partner_cert_is_client_cert(self):
        """Surprise (spec/ha.md §1): towards server2, server1 presents the
        files of server2's entry; its listener uses its own entry's files."""
        self.assertEqual(self.config.client_tls("server2"),
                         TLSFiles("/usr/lib/kea/CA.pem", "/usr/lib/kea/server2_cert.pem",
                                  "/usr/lib/kea/server2_key.pem", True))
        self.assertEqual(self.config.listener_tls.cert_file, "/usr/lib/kea/server1_cert.pem")

    def test_require_client_certs_relationship_level(self):
        """Only the relationship-level key turns client-cert checking off."""
        ha = self.params["high-availability"][0]
        ha["peers"][0]["require-client-certs"] = False
        self.assertTrue(parse_ha_config(self.params).listener_tls.cert_required)
        ha["require-client-certs"] = False
        self.assertFalse(parse_ha_config(self.params).listener_tls.cert_required)

    def test_global_tls_fallback(self):
        """Relationship-level TLS files serve peers that lack their own."""
        c = parse_ha_config([base(trust_anchor="/ca", cert_file="/c", key_file="/k")])
        self.assertEqual(c.client_tls("server2"), TLSFiles("/ca", "/c", "/k", True))


class UrlTests(SynchronousTestCase):
    def test_parse(self):
        """Kea's Url: host without brackets, port, path."""
        u = Url.parse("http://[::1]:8080/x")
        self.assertEqual((u.scheme, u.stripped_hostname, u.port, u.path), ("http", "::1", 8080, "/x"))
        self.assertEqual(Url.parse("http://127.0.0.1").port, 0)
        self.assertEqual(Url.parse("http://").error, "hostname missing in http://")



class ListenerRestrictionTests(SynchronousTestCase):
    def test_listener_restricted_unless_explicitly_open(self):
        """The dedicated listener answers only partner commands by default
        (kea_twisted's choice, docs/compatibility.md); restrict-commands
        false written out opens it as in Kea 2.2; true restricts."""
        self.assertTrue(parse_ha_config([base()]).listener_restricted)
        self.assertFalse(parse_ha_config([base(restrict_commands=False)]).listener_restricted)
        self.assertTrue(parse_ha_config([base(restrict_commands=True)]).listener_restricted)
        self.assertFalse(parse_ha_config([base()]).restrict_commands)
