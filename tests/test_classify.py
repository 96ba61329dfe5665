"""
Tests for kea_twisted.classify: Kea's classification passes and the
configuration error for a bad class test (spec/expressions.md §8, §9).
"""

from __future__ import annotations

from types import SimpleNamespace

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.classify import Classifier, compile_classes
from kea_twisted.config.element import from_python
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.loader import load_config_text
from kea_twisted.config.staging import stage_config_element
from kea_twisted.packet import Packet4


def cls(name, test="", only_if_required=False):
    return SimpleNamespace(name=name, test=test, only_if_required=only_if_required, source=None, pos=None)


def packet(vendor=b""):
    options = {53: b"\x01"}
    if vendor:
        options[60] = vendor
    return Packet4(chaddr=b"\x02\0\0\0\0\x01", options=options)


class PassTests(SynchronousTestCase):
    def test_pass1_sees_earlier_classes(self):
        """Pass-1 classes run in config order, each seeing those before it."""
        c = Classifier([cls("phones", "substring(option[60].hex,0,6) == 'Aastra'"),
                        cls("laptops", "not member('phones')")])
        self.assertEqual(c.pass1(packet(b"Aastra 6757i"), ["ALL"]), ["ALL", "phones"])
        self.assertEqual(c.pass1(packet(b"MSFT 5.0"), ["ALL"]), ["ALL", "laptops"])

    def test_known_dependent_in_pass2(self):
        """A class depending on KNOWN, directly or through another class,
        waits for pass 2."""
        c = Classifier([cls("k", "member('KNOWN')"), cls("via", "member('k')"), cls("plain", "'a' == 'a'")])
        self.assertEqual(c.pass1(packet(), ["ALL"]), ["ALL", "plain"])
        self.assertEqual(c.pass2(packet(), ["ALL", "plain", "KNOWN"]), ["ALL", "plain", "KNOWN", "k", "via"])

    def test_only_if_required(self):
        """only-if-required classes run only when required."""
        c = Classifier([cls("req", "'a' == 'a'", only_if_required=True)])
        self.assertEqual(c.pass1(packet(), ["ALL"]), ["ALL"])
        self.assertEqual(c.required(packet(), ["ALL"], ["req", "undefined"]), ["ALL", "req"])


class ConfigErrorTests(SynchronousTestCase):
    def test_undefined_member(self):
        """member() of a class not defined earlier: Kea's error text and the
        test's position (observed: kea-dhcp4 2.2 -t)."""
        text = '{"Dhcp4": {"client-classes": [{"name": "a", "test": "member(' + "'b'" + ')"}]}}'
        with self.assertRaises(ConfigError) as ctx:
            stage_config_element(load_config_text(text, "ec.json"), interfaces={"lo": []})
        self.assertEqual(
            ctx.exception.kea_report(),
            "Error encountered: expression: [member('b')] error: <string>:1.8-10: "
            "Not defined client class 'b' at (ec.json:1:53)",
        )

    def test_compile_without_positions(self):
        """Trees without positions still give the message."""
        with self.assertRaises(ConfigError):
            compile_classes([cls("a", "known")])
