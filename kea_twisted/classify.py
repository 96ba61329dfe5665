"""
Client classification in Kea's order (spec/expressions.md §7, §8).

Pure.  Compiled once per configuration from the ``client-classes`` list:

* pass 1, on receipt: classes with a test that are neither
  ``only-if-required`` nor KNOWN/UNKNOWN-dependent, in config order, each
  seeing the classes added before it;
* pass 2, after host lookup and KNOWN/UNKNOWN: the KNOWN/UNKNOWN-dependent
  ones (a class is dependent when its test names ``KNOWN``/``UNKNOWN`` or a
  dependent class through ``member()``);
* required classes, once an address is assigned: the names of the shared
  network's, subnet's and pool's ``require-client-classes``, in that order,
  evaluated when defined with a test (others are skipped silently).

A class test that fails to evaluate does not match (Kea logs the error).

Tests: tests/test_classify.py, tests/test_conformance.py (class-* scenarios)
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

from kea_twisted.config.errors import ConfigError
from kea_twisted.expressions import ExpressionError, compile_expression

__all__ = ["Classifier", "compile_classes"]

_KNOWN_NAMES = frozenset(("KNOWN", "UNKNOWN"))


def _test_position(cls):
    source = getattr(cls, "source", None)
    if source is not None and hasattr(source, "get"):
        element = source.get("test")
        if element is not None and element.pos is not None:
            return element.pos
    return getattr(cls, "pos", None)


def compile_classes(classes: Sequence, definitions=None) -> Dict[str, object]:
    """Compile every class test; a bad test is Kea's configuration error
    ``expression: [<test>] error: <message> at (<file>:<line>:<col>)``."""
    compiled: Dict[str, object] = {}
    defined: List[str] = []
    for cls in classes:
        if cls.test:
            try:
                compiled[cls.name] = compile_expression(
                    cls.test, defined_classes=list(defined), option_definitions=definitions
                )
            except ExpressionError as e:
                pos = _test_position(cls)
                where = f" at ({pos})" if pos is not None else ""
                raise ConfigError(f"expression: [{cls.test}] error: {e.message}{where}") from None
        defined.append(cls.name)
    return compiled


class Classifier:
    """The compiled ``client-classes`` of one configuration."""

    def __init__(self, classes: Sequence, definitions=None):
        self._compiled = compile_classes(classes, definitions)
        dependent = set()
        for cls in classes:
            expression = self._compiled.get(cls.name)
            if expression is None:
                continue
            names = expression.dependencies
            if names & _KNOWN_NAMES or names & dependent:
                dependent.add(cls.name)
        self._pass1: List[Tuple[str, object]] = []
        self._pass2: List[Tuple[str, object]] = []
        for cls in classes:
            expression = self._compiled.get(cls.name)
            if expression is None or cls.only_if_required:
                continue
            (self._pass2 if cls.name in dependent else self._pass1).append((cls.name, expression))

    @staticmethod
    def _run(query, classes: List[str], tests: Iterable[Tuple[str, object]]) -> List[str]:
        for name, expression in tests:
            # Each test sees the classes added before it (a list, updated).
            if expression.evaluate(query, classes) and name not in classes:
                classes.append(name)
        return classes

    def pass1(self, query, classes: List[str]) -> List[str]:
        return self._run(query, list(classes), self._pass1)

    def pass2(self, query, classes: List[str]) -> List[str]:
        return self._run(query, list(classes), self._pass2)

    def required(self, query, classes: List[str], names: Sequence[str]) -> List[str]:
        tests = [(name, self._compiled[name]) for name in names if name in self._compiled]
        return self._run(query, list(classes), tests)
