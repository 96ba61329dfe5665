"""
Tests for kea_twisted.config.grammar: Kea 2.2's syntax-level verdicts
(keywords, types, enumerations, mandatory keywords, duplicates, the top
level), the normalized tree it returns, and Kea's own examples.

OBSERVED holds ``kea-dhcp4 -t`` outputs observed on Kea 2.2.0 (Debian's
2.2.0 package) for each input, after ``Syntax check failed with: ``, with
``{file}`` for the file's path; ``None`` means Kea's grammar accepted it
(Kea may still refuse it for semantic reasons, which is not this module's).
"""

from __future__ import annotations

import glob
import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from kea_twisted.config.element import MapElement, Position, from_python
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.grammar import (
    ANY_MAP,
    INTEGER,
    REAL,
    SCHEMAS,
    Enum,
    ListOf,
    MapOf,
    check_dhcp4,
    check_grammar,
)
from kea_twisted.config.loader import load_config_file, load_config_text

OBSERVED = [
    ('classes-empty',
     '{"Dhcp4": {"client-classes": []}}',
     '{file}:1.31: syntax error, unexpected ], expecting {'),
    ('classes-int',
     '{"Dhcp4": {"client-classes": [1]}}',
     '{file}:1.31: syntax error, unexpected integer, expecting {'),
    ('classes-int2',
     '{"Dhcp4": {"client-classes": [{"name": "a"}, 1]}}',
     '{file}:1.46: syntax error, unexpected integer, expecting "," or ]'),
    ('comment-then-uc',
     '{"Dhcp4": {"comment": "a", "user-context": {"b": 1}, "valid-lifetime": "x"}}',
     '{file}:1.72-74: syntax error, unexpected constant string, expecting integer'),
    ('dup-comment',
     '{"Dhcp4": {"comment": "a", "comment": "b"}}',
     '{file}:1.28-36: duplicate user-context/comment entries (previous at {file}:1:12)'),
    ('dup-global',
     '{"Dhcp4": {"valid-lifetime": 1,\n "valid-lifetime": 2}}',
     '{file}:2:2: duplicate valid-lifetime entries in Dhcp4 map (previous at {file}:1:30)'),
    ('dup-json',
     '{"Dhcp4": {"hooks-libraries": [{"library": "/x.so", "parameters": {"a": 1, "a": 2}}]}}',
     '{file}:1:76: duplicate a entries in JSON map (previous at {file}:1:73)'),
    ('dup-subnet-key',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "id": 1, "id": 2}]}}',
     '{file}:1:58: duplicate id entries in subnet4 map (previous at {file}:1:55)'),
    ('dup-user-context',
     '{"Dhcp4": {"user-context": {"a": 1}, "user-context": {"b": 1}}}',
     '{file}:1.38-51: duplicate user-context entries (previous at {file}:1:28)'),
    ('empty-class-entry',
     '{"Dhcp4": {"client-classes": [{}]}}',
     "missing parameter 'name' ({file}:1:31) [client-classes map between {file}:1:31 and {file}:1:32]"),
    ('empty-compat',
     '{"Dhcp4": {"compatibility": {}}}',
     '{file}:1.30: syntax error, unexpected }, expecting lenient-option-parsing or constant string'),
    ('empty-file',
     '',
     '{file}:1.1: syntax error, unexpected end of file, expecting {'),
    ('empty-option-data-entry',
     '{"Dhcp4": {"option-data": [{}]}}',
     None),
    ('empty-relay',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "relay": {}}]}}',
     '{file}:1.59: syntax error, unexpected }, expecting ip-address or ip-addresses'),
    ('empty-sanity',
     '{"Dhcp4": {"sanity-checks": {}}}',
     '{file}:1.30: syntax error, unexpected }, expecting lease-checks'),
    ('enum-db-type',
     '{"Dhcp4": {"lease-database": {"type": "sqlite"}}}',
     '{file}:1.39-46: syntax error, unexpected constant string, expecting memfile or mysql or postgresql'),
    ('enum-hri',
     '{"Dhcp4": {"host-reservation-identifiers": ["mac"]}}',
     '{file}:1.45-49: syntax error, unexpected constant string'),
    ('enum-hri-empty',
     '{"Dhcp4": {"host-reservation-identifiers": []}}',
     '{file}:1.45: syntax error, unexpected ]'),
    ('enum-hri2',
     '{"Dhcp4": {"host-reservation-identifiers": ["duid", "mac"]}}',
     '{file}:1.53-57: syntax error, unexpected constant string, expecting "," or ]'),
    ('enum-ncr-protocol',
     '{"Dhcp4": {"dhcp-ddns": {"enable-updates": false, "ncr-protocol": "sctp"}}}',
     '{file}:1.67-72: syntax error, unexpected constant string, expecting udp or tcp'),
    ('enum-on-fail',
     '{"Dhcp4": {"lease-database": {"type": "mysql", "on-fail": "x"}}}',
     '{file}:1.59-61: syntax error, unexpected constant string, expecting stop-retry-exit or serve-retry-exit or serve-retry-continue'),
    ('enum-outbound',
     '{"Dhcp4": {"interfaces-config": {"outbound-interface": "eth0"}}}',
     '{file}:1.56-61: syntax error, unexpected constant string, expecting same-as-inbound or use-routing'),
    ('enum-rcn',
     '{"Dhcp4": {"ddns-replace-client-name": "sometimes"}}',
     '{file}:1.40-50: syntax error, unexpected constant string'),
    ('enum-rcn-bool',
     '{"Dhcp4": {"ddns-replace-client-name": true}}',
     '{file}:1.40-43: boolean values for the replace-client-name are no longer supported'),
    ('enum-rcn-true-string',
     '{"Dhcp4": {"ddns-replace-client-name": "TRUE"}}',
     None),
    ('enum-reservation-mode',
     '{"Dhcp4": {"reservation-mode": "none"}}',
     '{file}:1.32-37: syntax error, unexpected constant string, expecting disabled or out-of-pool or global or all'),
    ('enum-reservation-mode-off',
     '{"Dhcp4": {"reservation-mode": "off"}}',
     None),
    ('json-True',
     '{"Dhcp4": {"authoritative": True}}',
     '{file}:1.29-32: JSON true reserved keyword is lower case only'),
    ('json-bad-char',
     '{"Dhcp4": {"valid-lifetime": @}}',
     '{file}:1.30: Invalid character: @'),
    ('json-bad-escape',
     '{"Dhcp4": {"server-tag": "a\\qb"}}',
     '{file}:1.26-31 (near 3): Bad escape in "a\\qb"'),
    ('json-ctrl-in-string',
     '{"Dhcp4": {"server-tag": "a\tb"}}',
     '{file}:1.26-30 (near 2): Invalid control in "a\tb"'),
    ('json-double-comma',
     '{"Dhcp4": {"valid-lifetime": 4000,, "renew-timer": 1}}',
     None),
    ('json-int-overflow',
     '{"Dhcp4": {"valid-lifetime": 99999999999999999999}}',
     '{file}:1.30-49: Failed to convert 99999999999999999999 to an integer.'),
    ('json-missing-brace',
     '{"Dhcp4": {"valid-lifetime": 4000}\n',
     '{file}:2.1: syntax error, unexpected end of file, expecting "," or }'),
    ('json-missing-brace-nl',
     '{"Dhcp4": {\n  "valid-lifetime": 4000,\n  "renew-timer": 1000\n',
     '{file}:4.1: syntax error, unexpected end of file, expecting "," or }'),
    ('json-missing-colon',
     '{"Dhcp4": {"valid-lifetime" 4000}}',
     '{file}:1.29-32: syntax error, unexpected integer, expecting :'),
    ('json-trailing-comma',
     '{"Dhcp4": {"valid-lifetime": 4000,}}',
     None),
    ('json-unclosed-comment',
     '{"Dhcp4": {\n/* x \n "valid-lifetime": 1}}',
     'Comment not closed. (/* in line 2'),
    ('json-unclosed-string',
     '{"Dhcp4": {"server-tag": "abc\n}}',
     '{file}:1.26: Invalid character: "'),
    ('json-unicode-escape',
     '{"Dhcp4": {"server-tag": "a\\u0100b"}}',
     '{file}:1.26-35 (near 4): Unsupported unicode escape in "a\\u0100b"'),
    ('keyword-as-value',
     '{"Dhcp4": {"valid-lifetime": "subnet4"}}',
     '{file}:1.30-38: syntax error, unexpected subnet4, expecting integer'),
    ('keyword-lexed-wrong-map',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "hosts-database": {}}]}}',
     '{file}:1.49-64: got unexpected keyword "hosts-database" in subnet4 map.'),
    ('keyword-wrong-map',
     '{"Dhcp4": {"pool": "x"}}',
     '{file}:1.12-17: got unexpected keyword "pool" in Dhcp4 map.'),
    ('lease-checks',
     '{"Dhcp4": {"sanity-checks": {"lease-checks": "maybe"}}}',
     "{file}:1.46-52: Unsupported 'lease-checks value: maybe, supported values are: none, warn, fix, fix-del, del"),
    ('loggers-empty',
     '{"Dhcp4": {"loggers": []}}',
     '{file}:1.24: syntax error, unexpected ], expecting {'),
    ('missing-class-name',
     '{"Dhcp4": {"client-classes": [\n  {"test": "member(\'ALL\')"}\n]}}',
     "missing parameter 'name' ({file}:2:3) [client-classes map between {file}:2:3 and {file}:2:27]"),
    ('missing-db-type',
     '{"Dhcp4": {"lease-database": {"name": "x"}}}',
     "missing parameter 'type' ({file}:1:12) [lease-database map between {file}:1:30 and {file}:1:42]"),
    ('missing-ddns',
     '{"Dhcp4": {"dhcp-ddns": {"server-ip": "127.0.0.1"}}}',
     "missing parameter 'enable-updates' ({file}:1:12) [dhcp-ddns map between {file}:1:25 and {file}:1:50]"),
    ('missing-library',
     '{"Dhcp4": {"hooks-libraries": [{"parameters": {}}]}}',
     "missing parameter 'library' ({file}:1:32) [hooks-libraries map between {file}:1:32 and {file}:1:49]"),
    ('missing-mt',
     '{"Dhcp4": {"multi-threading": {"thread-pool-size": 4}}}',
     "missing parameter 'enable-multi-threading' ({file}:1:12) [multi-threading map between {file}:1:31 and {file}:1:53]"),
    ('missing-option-def',
     '{"Dhcp4": {"option-def": [{"name": "x", "code": 222}]}}',
     "missing parameter 'type' ({file}:1:27) [option-def map between {file}:1:27 and {file}:1:52]"),
    ('missing-pool',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "pools": [{"client-class": "x"}]}]}}',
     "missing parameter 'pool' ({file}:1:59) [pools map between {file}:1:59 and {file}:1:79]"),
    ('missing-subnet',
     '{"Dhcp4": {"subnet4": [{"id": 1}]}}',
     "missing parameter 'subnet' ({file}:1:24) [subnet4 map between {file}:1:24 and {file}:1:32]"),
    ('num-dot5-int',
     '{"Dhcp4": {"valid-lifetime": .5}}',
     '{file}:1.30-31: syntax error, unexpected floating point, expecting integer'),
    ('num-exp',
     '{"Dhcp4": {"valid-lifetime": 1e3}}',
     '{file}:1.30-32: syntax error, unexpected floating point, expecting integer'),
    ('num-plus5',
     '{"Dhcp4": {"valid-lifetime": +5}}',
     '{file}:1.30-31: syntax error, unexpected floating point, expecting integer'),
    ('only-comment',
     '// nothing\n',
     '{file}:2.1: syntax error, unexpected end of file, expecting {'),
    ('queue-control-extra',
     '{"Dhcp4": {"dhcp-queue-control": {"enable-queue": false, "bogus": 1}}}',
     None),
    ('queue-control-missing',
     '{"Dhcp4": {"dhcp-queue-control": {"capacity": 5}}}',
     "missing parameter 'enable-queue' ({file}:1:12) [dhcp-queue-control map between {file}:1:34 and {file}:1:48]"),
    ('relay-both',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "relay": {"ip-address": "1.2.3.4",\n "ip-addresses": ["1.2.3.5"]}}]}}',
     '{file}:1.82: syntax error, unexpected ",", expecting }'),
    ('relay-ip-addresses',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "relay": {"ip-addresses": ["1.2.3.5"]}}]}}',
     None),
    ('sanity-second',
     '{"Dhcp4": {"sanity-checks": {"lease-checks": "warn", "bogus": 1}}}',
     '{file}:1.54-60: syntax error, unexpected constant string, expecting "," or }'),
    ('top-ca',
     '{"Control-agent": {}}',
     '{file}:1.2-16: syntax error, unexpected constant string, expecting Dhcp4'),
    ('top-ddns',
     '{"DhcpDdns": {}}',
     '{file}:1.2-11: syntax error, unexpected constant string, expecting Dhcp4'),
    ('top-dhcp4-list',
     '{"Dhcp4": []}',
     '{file}:1.11: syntax error, unexpected [, expecting {'),
    ('top-dhcp4-twice',
     '{"Dhcp4": {"valid-lifetime": 1}, "Dhcp4": {"valid-lifetime": 1}}',
     '{file}:1.34-40: syntax error, unexpected Dhcp4, expecting "," or }'),
    ('top-dhcp6',
     '{"Dhcp6": {}}',
     '{file}:1.2-8: syntax error, unexpected constant string, expecting Dhcp4'),
    ('top-empty',
     '{}',
     '{file}:1.2: syntax error, unexpected }, expecting Dhcp4'),
    ('top-list',
     '[]',
     '{file}:1.1: syntax error, unexpected [, expecting {'),
    ('top-logging',
     '{"Dhcp4": {"valid-lifetime": 1}, "Logging": {}}',
     '{file}:1.34-42: syntax error, unexpected constant string, expecting "," or }'),
    ('type-bool-int',
     '{"Dhcp4": {"authoritative": 1}}',
     '{file}:1.29: syntax error, unexpected integer, expecting boolean'),
    ('type-int-bool',
     '{"Dhcp4": {"renew-timer": true}}',
     '{file}:1.27-30: syntax error, unexpected boolean, expecting integer'),
    ('type-int-map',
     '{"Dhcp4": {"rebind-timer": {}}}',
     '{file}:1.28: syntax error, unexpected {, expecting integer'),
    ('type-int-string',
     '{"Dhcp4": {"valid-lifetime": "4000"}}',
     '{file}:1.30-35: syntax error, unexpected constant string, expecting integer'),
    ('type-list-map',
     '{"Dhcp4": {"subnet4": {}}}',
     '{file}:1.23: syntax error, unexpected {, expecting ['),
    ('type-map-list',
     '{"Dhcp4": {"interfaces-config": []}}',
     '{file}:1.33: syntax error, unexpected [, expecting {'),
    ('type-real-string',
     '{"Dhcp4": {"t2-percent": "0.8"}}',
     '{file}:1.26-30: syntax error, unexpected constant string, expecting floating point'),
    ('type-string-int',
     '{"Dhcp4": {"server-tag": 5}}',
     '{file}:1.26: syntax error, unexpected integer, expecting constant string'),
    ('type-string-null',
     '{"Dhcp4": {"server-tag": null}}',
     '{file}:1.26-29: syntax error, unexpected null, expecting constant string'),
    ('type-strings-int',
     '{"Dhcp4": {"interfaces-config": {"interfaces": [1]}}}',
     '{file}:1.49: syntax error, unexpected integer, expecting ]'),
    ('type-strings-int2',
     '{"Dhcp4": {"interfaces-config": {"interfaces": ["eth0", 1]}}}',
     '{file}:1.57: syntax error, unexpected integer, expecting ]'),
    ('type-strings-string',
     '{"Dhcp4": {"interfaces-config": {"interfaces": "eth0"}}}',
     '{file}:1.48-53: syntax error, unexpected constant string, expecting ['),
    ('type-user-context',
     '{"Dhcp4": {"user-context": "x"}}',
     '{file}:1.28-30: syntax error, unexpected constant string, expecting {'),
    ('unknown-class',
     '{"Dhcp4": {"client-classes": [{"name": "c", "bogus": 1}]}}',
     '{file}:1.45-51: got unexpected keyword "bogus" in client-classes map.'),
    ('unknown-compat',
     '{"Dhcp4": {"compatibility": {"bogus": 1}}}',
     '{file}:1.30-36: got unexpected keyword "bogus" in compatibility map.'),
    ('unknown-config-control',
     '{"Dhcp4": {"config-control": {"bogus": 1}}}',
     '{file}:1.31-37: syntax error, unexpected constant string, expecting config-databases or config-fetch-wait-time'),
    ('unknown-control-socket',
     '{"Dhcp4": {"control-socket": {"socket-type": "unix", "bogus": 1}}}',
     '{file}:1.54-60: got unexpected keyword "bogus" in control-socket map.'),
    ('unknown-ddns',
     '{"Dhcp4": {"dhcp-ddns": {"enable-updates": false, "bogus": 1}}}',
     '{file}:1.51-57: got unexpected keyword "bogus" in dhcp-ddns map.'),
    ('unknown-expired',
     '{"Dhcp4": {"expired-leases-processing": {"bogus": 1}}}',
     '{file}:1.42-48: syntax error, unexpected constant string'),
    ('unknown-global',
     '{"Dhcp4": {"bogus": 1}}',
     '{file}:1.12-18: got unexpected keyword "bogus" in Dhcp4 map.'),
    ('unknown-hooks',
     '{"Dhcp4": {"hooks-libraries": [{"library": "/x.so", "bogus": 1}]}}',
     '{file}:1.53-59: syntax error, unexpected constant string, expecting "," or }'),
    ('unknown-lease-db',
     '{"Dhcp4": {"lease-database": {"type": "memfile", "bogus": 1}}}',
     '{file}:1.50-56: got unexpected keyword "bogus" in lease-database map.'),
    ('unknown-logger',
     '{"Dhcp4": {"loggers": [{"name": "kea-dhcp4", "bogus": 1}]}}',
     '{file}:1.46-52: got unexpected keyword "bogus" in loggers map.'),
    ('unknown-mt',
     '{"Dhcp4": {"multi-threading": {"enable-multi-threading": false, "bogus": 1}}}',
     '{file}:1.65-71: got unexpected keyword "bogus" in multi-threading map.'),
    ('unknown-option-data',
     '{"Dhcp4": {"option-data": [{"name": "routers", "bogus": 1}]}}',
     '{file}:1.48-54: got unexpected keyword "bogus" in option-data map.'),
    ('unknown-output',
     '{"Dhcp4": {"loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout", "bogus": 1}]}]}}',
     '{file}:1.86-92: syntax error, unexpected constant string, expecting "," or }'),
    ('unknown-output-first',
     '{"Dhcp4": {"loggers": [{"name": "kea-dhcp4", "output_options": [{"bogus": 1}]}]}}',
     '{file}:1.66-72: syntax error, unexpected constant string'),
    ('unknown-pool',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "pools": [{"pool": "10.0.0.1-10.0.0.9", "bogus": 1}]}]}}',
     '{file}:1.89-95: got unexpected keyword "bogus" in pools map.'),
    ('unknown-relay',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "relay": {"bogus": 1}}]}}',
     '{file}:1.59-65: syntax error, unexpected constant string, expecting ip-address or ip-addresses'),
    ('unknown-reservation',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "reservations": [{"hw-address": "aa:bb:cc:dd:ee:ff", "bogus": 1}]}]}}',
     '{file}:1.102-108: got unexpected keyword "bogus" in reservations map.'),
    ('unknown-shared',
     '{"Dhcp4": {"shared-networks": [{"name": "n", "bogus": 1}]}}',
     '{file}:1.46-52: got unexpected keyword "bogus" in shared-networks map.'),
    ('unknown-subnet',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "bogus": 1}]}}',
     '{file}:1.49-55: got unexpected keyword "bogus" in subnet4 map.'),
    ('a9',
     '{"Dhcp4": {"user-context": {"a": 1, "a": 2}}}',
     '{file}:1:37: duplicate a entries in JSON map (previous at {file}:1:34)'),
    ('a11',
     '{"Dhcp4": {"t1-percent": .5}}',
     None),
    ('a24',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "relay": {"ip-address": "1.2.3.4"}}]}}',
     None),
    ('a25',
     '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "relay": {"ip-address": "1.2.3.4", "ip-addresses": []}}]}}',
     '{file}:1.82: syntax error, unexpected ",", expecting }'),
    ('a26',
     '{"Dhcp4": {"subnet4": [{"id": 1}]}}',
     "missing parameter 'subnet' ({file}:1:24) [subnet4 map between {file}:1:24 and {file}:1:32]"),
    ('a27',
     '{"Dhcp4": \n  {"valid-lifetime": 1,\n   "interfaces-config": {"bogus": true}}}',
     '{file}:3.26-32: got unexpected keyword "bogus" in interfaces-config map.'),
]

KEA_EXAMPLES = sorted(glob.glob("/usr/share/doc/kea/examples/kea4/*.json"))
SEEDS = sorted(
    glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "seed", "*.json"))
    + glob.glob("/work/shared/seed/*.json")
)


def check_text(text: str, path: str) -> MapElement:
    with open(path, "w") as f:
        f.write(text)
    return check_grammar(load_config_file(path))


class ObservedTests(SynchronousTestCase):
    def test_observed_verdicts(self) -> None:
        """Each broken config gives Kea 2.2's exact message and location;
        each config Kea's grammar accepts passes."""
        tmp = self.mktemp()
        os.mkdir(tmp)
        for name, text, expected in OBSERVED:
            path = os.path.join(tmp, name)
            if expected is None:
                self.assertIsInstance(check_text(text, path), MapElement, name)
                continue
            try:
                check_text(text, path)
            except ConfigError as e:
                self.assertTrue(e.syntax, name)
                self.assertEqual(str(e), expected.replace("{file}", path), name)
                self.assertEqual(e.kea_report(), "Syntax check failed with: " + str(e))
            else:
                self.fail(f"{name}: accepted, Kea says {expected}")

    def test_known_divergence_keyword_after_missing_comma(self) -> None:
        """Kea names a keyword token where JSON breaks (``unexpected
        renew-timer``); the loader does not know the map there and says
        ``constant string`` (same location, same expectation)."""
        e = self.assertRaises(
            ConfigError,
            load_config_text,
            '{"Dhcp4": {"valid-lifetime": 4000 "renew-timer": 1}}',
            "f.json",
        )
        # Kea 2.2.0: f.json:1.35-47: syntax error, unexpected renew-timer, expecting "," or }
        self.assertEqual(
            str(e), 'f.json:1.35-47: syntax error, unexpected constant string, expecting "," or }'
        )


class ExampleTests(SynchronousTestCase):
    def test_kea_examples_pass(self) -> None:
        """Every example shipped with Kea 2.2 passes the grammar (their
        failures in Kea are semantic)."""
        if not KEA_EXAMPLES:
            raise SkipTest("Kea's examples are not installed")
        for path in KEA_EXAMPLES:
            self.assertIsInstance(check_grammar(load_config_file(path)), MapElement, path)

    def test_seed_configs_load_as_written(self) -> None:
        """The seed config (which spells ``output-options``) loads."""
        if not SEEDS:
            raise SkipTest("no seed config")
        for path in SEEDS:
            dhcp4 = check_grammar(load_config_file(path))
            for logger in dhcp4.get("loggers", ()) or ():
                self.assertNotIn("output-options", logger)


class ExtensionTests(SynchronousTestCase):
    def test_output_options_spellings(self) -> None:
        """``output-options`` (later Kea) is taken and stored as Kea 2.2's
        ``output_options``; giving both is a duplicate."""
        text = '{"Dhcp4": {"loggers": [{"name": "kea-dhcp4", "output-options": [{"output": "stdout"}]}]}}'
        dhcp4 = check_grammar(load_config_text(text))
        logger = dhcp4["loggers"][0]
        self.assertEqual(logger["output_options"].to_python(), [{"output": "stdout"}])
        both = (
            '{"Dhcp4": {"loggers": [{"name": "x", "output_options": [{"output": "stdout"}], '
            '"output-options": [{"output": "stdout"}]}]}}'
        )
        e = self.assertRaises(ConfigError, check_grammar, load_config_text(both, "f.json"))
        self.assertIn("duplicate output-options entries in loggers map", str(e))

    def test_relay_either_spelling(self) -> None:
        """``relay`` takes ``ip-address`` or ``ip-addresses`` (one of them)."""
        for relay in ('{"ip-address": "10.0.0.1"}', '{"ip-addresses": ["10.0.0.1"]}'):
            text = '{"Dhcp4": {"subnet4": [{"subnet": "10.0.0.0/8", "relay": %s}]}}' % relay
            check_grammar(load_config_text(text))


class NormalizedTreeTests(SynchronousTestCase):
    def test_comment_folded_into_user_context(self) -> None:
        """``comment`` becomes ``user-context.comment``, merged with a
        ``user-context`` given beside it (Kea's parser does the same)."""
        text = '{"Dhcp4": {"comment": "c", "user-context": {"a": 1}}}'
        dhcp4 = check_grammar(load_config_text(text))
        self.assertEqual(dhcp4["user-context"].to_python(), {"a": 1, "comment": "c"})
        self.assertNotIn("comment", dhcp4)

    def test_keyword_positions(self) -> None:
        """A map or list under a keyword has the keyword's position, as in
        Kea; list entries and scalars keep their own."""
        text = '{"Dhcp4": {\n  "subnet4": [\n    {"subnet": "10.0.0.0/8"}]}}'
        dhcp4 = check_grammar(load_config_text(text, "p.json"))
        self.assertEqual(dhcp4.pos, Position("p.json", 1, 2))
        self.assertEqual(dhcp4["subnet4"].pos, Position("p.json", 2, 3))
        self.assertEqual(dhcp4["subnet4"][0].pos, Position("p.json", 3, 5))
        self.assertEqual(dhcp4["subnet4"][0]["subnet"].pos, Position("p.json", 3, 16))

    def test_enum_spellings_canonical(self) -> None:
        """Kea's lexer spellings become the canonical value: ``off`` is
        ``disabled``, ``UDP`` is ``udp`` in dhcp-ddns, ``TRUE`` is
        ``when-present``."""
        text = (
            '{"Dhcp4": {"reservation-mode": "off", "ddns-replace-client-name": "TRUE", '
            '"dhcp-ddns": {"enable-updates": false, "ncr-protocol": "UDP", "ncr-format": "json"}}}'
        )
        dhcp4 = check_grammar(load_config_text(text))
        self.assertEqual(dhcp4["reservation-mode"].value, "disabled")
        self.assertEqual(dhcp4["ddns-replace-client-name"].value, "when-present")
        self.assertEqual(dhcp4["dhcp-ddns"]["ncr-protocol"].value, "udp")
        self.assertEqual(dhcp4["dhcp-ddns"]["ncr-format"].value, "JSON")

    def test_from_python_trees(self) -> None:
        """Trees from commands (no positions) are checked too."""
        root = from_python({"Dhcp4": {"valid-lifetime": 10, "subnet4": [{"subnet": "10.0.0.0/8"}]}})
        self.assertEqual(check_grammar(root)["valid-lifetime"].value, 10)
        e = self.assertRaises(ConfigError, check_dhcp4, from_python({"bogus": 1}))
        self.assertEqual(e.message, 'got unexpected keyword "bogus" in Dhcp4 map.')


class TableTests(SynchronousTestCase):
    def test_table_shape(self) -> None:
        """The keyword table: a few facts of Kea 2.2's grammar."""
        g = SCHEMAS["global_params"]
        self.assertEqual(g.keys["valid-lifetime"], INTEGER)
        self.assertEqual(g.keys["t1-percent"], REAL)
        self.assertEqual(g.keys["user-context"], ANY_MAP)
        self.assertEqual(g.keys["subnet4"], ListOf("subnet4_params", "subnet4", ("subnet",), True))
        self.assertEqual(g.keys["interfaces-config"], MapOf("interfaces_config_params", "interfaces-config"))
        socket = SCHEMAS["interfaces_config_params"].keys["dhcp-socket-type"]
        self.assertIsInstance(socket, Enum)
        self.assertEqual(socket.values, ("raw", "udp"))
        self.assertEqual(SCHEMAS["queue_control_params"].unknown, "any")


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from(KEA_EXAMPLES[:6] or [None]),
        st.lists(
            st.tuples(
                st.sampled_from(["delete", "duplicate", "swap"]),
                st.integers(min_value=0, max_value=100_000),
                st.integers(min_value=0, max_value=100_000),
            ),
            max_size=4,
        ),
    )
    def test_mutated_examples_give_map_or_config_error(self, path, edits) -> None:
        """Mutating Kea's examples (deleting or duplicating characters,
        swapping two tokens' text) gives the Dhcp4 map or one ConfigError."""
        if path is None:
            raise SkipTest("Kea's examples are not installed")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for op, a, b in edits:
            i, j = sorted((a % (len(text) + 1), b % (len(text) + 1)))
            if op == "delete":
                text = text[:i] + text[i + 1 :]
            elif op == "duplicate":
                text = text[:i] + text[i : i + 1] + text[i:]
            else:
                text = text[:i] + text[j : j + 8] + text[i + 8 : j] + text[i : i + 8] + text[j + 8 :]
        try:
            dhcp4 = check_grammar(load_config_text(text, path))
        except ConfigError:
            return
        self.assertIsInstance(dhcp4, MapElement)

    @settings(max_examples=200, deadline=None)
    @given(
        st.dictionaries(
            st.sampled_from(sorted(SCHEMAS["global_params"].keys) + ["bogus"]),
            st.recursive(
                st.none() | st.booleans() | st.integers(-5, 5) | st.floats(0, 1) | st.sampled_from(
                    ["udp", "raw", "memfile", "10.0.0.0/8", "x", "off"]
                ),
                lambda c: st.lists(c, max_size=3)
                | st.dictionaries(st.sampled_from(["name", "subnet", "pool", "type", "x"]), c, max_size=3),
                max_leaves=8,
            ),
            max_size=5,
        )
    )
    def test_random_dhcp4_values(self, value) -> None:
        """Random values under real keywords: the Dhcp4 map or one
        ConfigError, never another exception."""
        import json

        try:
            check_grammar(load_config_text(json.dumps({"Dhcp4": value})))
        except ConfigError:
            pass
