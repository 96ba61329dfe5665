"""
Client classification in Kea's order (spec/expressions.md §7, §8;
``dhcp4_srv.cc`` ``classifyPacket``, ``evaluateClasses``,
``deferredUnpack``, ``requiredClassify``).

Pure.  Compiled once per configuration from the ``client-classes`` list.
A query's classes are one :class:`PacketClasses` list, in the order the
packet acquired them (Kea's ``ClientClasses``: insertion order, no
duplicates), which is also the order class options are taken in:

* classes a hook library gave the packet before classification
  (``buffer4_receive``: ``HA_<server>``, ``EXTERNAL_*``), after ``ALL``
  (Kea's ``Pkt::addClass`` always puts ``ALL`` first);
* ``ALL`` and ``VENDOR_CLASS_<option 60>``;
* pass 1: classes with a test that are neither ``only-if-required`` nor
  KNOWN/UNKNOWN-dependent, in config order, each seeing the classes added
  before it;
* the deferred options (43, 224-254) are then typed, a class's own
  ``option-def`` first (:meth:`Classifier.unpack_deferred`);
* when reserved classes must steer pool selection, the evaluated classes
  are dropped, the reserved ones added and pass 1 run again
  (:meth:`Classifier.reevaluate`; classes without a test, such as those
  added by hooks, stay);
* ``KNOWN``/``UNKNOWN``, then pass 2: the KNOWN/UNKNOWN-dependent classes (a
  class is dependent when its test names ``KNOWN``/``UNKNOWN`` or a
  dependent class through ``member()``);
* required classes, once an address is assigned: the names of the shared
  network's, subnet's and pool's ``require-client-classes``, in that order,
  evaluated when defined with a test.

A class test that fails to evaluate does not match.  Logging is Kea's
(``EVAL_RESULT`` on ``kea-dhcp4.options``, ``DHCP4_CLASS_ASSIGNED`` and the
required-class messages on ``kea-dhcp4.dhcp4``, ``EVAL_DEBUG_*`` per token on
``kea-dhcp4.eval``); what is logged is decided once per configuration from
its ``loggers`` (:class:`ClassLogging`), so a packet pays nothing for debug
lines nobody will see.

Tests: tests/test_classify.py, tests/test_conformance.py (class-* scenarios)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from kea_twisted.config.errors import ConfigError
from kea_twisted.expressions import (
    ExpressionError,
    PacketView,
    compile_expression,
    is_builtin_class,
)
from kea_twisted.logs import (
    DBG_TRACE_BASIC,
    DBG_TRACE_DETAIL,
    DBG_TRACE_DETAIL_DATA,
    ROOT_LOGGER,
    kea_logger,
    logger_specs,
)
from kea_twisted.options import DEFERRED_CODES, DHCP4_SPACE, STANDARD_DEFINITIONS, OptionDefinition

__all__ = [
    "ClassLogging",
    "Classifier",
    "PacketClasses",
    "compile_classes",
    "packet_label",
]

_KNOWN_NAMES = frozenset(("KNOWN", "UNKNOWN"))

options_log = kea_logger("options")
dhcp4_log = kea_logger("dhcp4")
eval_log = kea_logger("eval")


# --------------------------------------------------------------------------
# The classes of one packet

class PacketClasses(list):
    """The classes of one query, in the order it acquired them (Kea's
    ``ClientClasses``: a sequence without duplicates).  A plain list to
    its readers; :meth:`add` keeps it duplicate-free.

    :ivar deferred: after :meth:`Classifier.unpack_deferred`, the class
        option definitions chosen for the deferred codes in the query
        (code -> definition; empty when no class defines one), else None.
    """

    __slots__ = ("deferred",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        super().__init__()
        self.deferred: Optional[Dict[int, OptionDefinition]] = None
        for name in names:
            self.add(name)

    def add(self, name: str) -> bool:
        """Kea's ``Pkt::addClass``: append unless present; True if added."""
        if name in self:
            return False
        self.append(name)
        return True


def packet_label(query) -> str:
    """Kea's ``Pkt4::getLabel``: ``[hwtype=1 aa:bb:..], cid=[..], tid=0x..``."""
    cid = query.options.get(61)
    cid_text = cid.hex(":") if cid else "no info"
    return f"[hwtype={query.htype} {query.hwaddr_text}], cid=[{cid_text}], tid={query.xid:#x}"


# --------------------------------------------------------------------------
# Logging decided per configuration

def _enabled(specs, name: str, severity: int, debuglevel: int = 0) -> bool:
    """Would Kea's logger ``name`` print at this severity (10 DEBUG, 20
    INFO, 40 ERROR) and debug level, given the ``loggers`` specs?  The most
    specific configured logger decides; the root defaults to INFO."""
    ranks = {"DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50, "NONE": 100}
    by_name = {s.name: s for s in specs}
    probe = name
    spec = None
    while spec is None:
        spec = by_name.get(probe)
        if spec is None:
            if "." not in probe:
                break
            probe = probe.rsplit(".", 1)[0]
    if spec is None:
        return severity >= ranks["INFO"]
    if severity < ranks.get(spec.severity.upper(), 20):
        return False
    return severity > ranks["DEBUG"] or debuglevel <= spec.debuglevel


@dataclass(frozen=True)
class ClassLogging:
    """Which classification messages the configuration's loggers print.

    :ivar matches: ``INFO EVAL_RESULT Expression <class> evaluated to 1``.
    :ivar misses: the same at debug level 50 with ``0``.
    :ivar errors: ``ERROR EVAL_RESULT Expression <class> evaluated to <error>``.
    :ivar assigned: ``DHCP4_CLASS_ASSIGNED`` and the required-class
        messages (debug level 40, ``kea-dhcp4.dhcp4``).
    :ivar tokens: ``EVAL_DEBUG_*`` per evaluated token (debug level 55,
        ``kea-dhcp4.eval``).
    """

    matches: bool = True
    misses: bool = False
    errors: bool = True
    assigned: bool = False
    tokens: bool = False

    @classmethod
    def from_loggers(cls, loggers) -> "ClassLogging":
        """From a configuration's ``loggers`` (model entries or dicts)."""
        specs = logger_specs(loggers)
        options = ROOT_LOGGER + ".options"
        return cls(
            matches=_enabled(specs, options, 20),
            misses=_enabled(specs, options, 10, DBG_TRACE_DETAIL),
            errors=_enabled(specs, options, 40),
            assigned=_enabled(specs, ROOT_LOGGER + ".dhcp4", 10, DBG_TRACE_BASIC),
            tokens=_enabled(specs, ROOT_LOGGER + ".eval", 10, DBG_TRACE_DETAIL_DATA),
        )

    @property
    def any(self) -> bool:
        return self.matches or self.misses or self.errors or self.tokens


QUIET = ClassLogging(matches=False, errors=False)


# --------------------------------------------------------------------------
# Compilation

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


_Test = Tuple[str, object]


class Classifier:
    """The compiled ``client-classes`` of one configuration.

    :param classes: the model's ``client_classes`` (objects with ``name``,
        ``test``, ``only_if_required`` and optionally ``option_def``).
    :param definitions: the option definitions in force (standard plus the
        global ``option-def``).
    :param logging: what to log (:meth:`ClassLogging.from_loggers`); by
        default Kea's default loggers (``EVAL_RESULT`` matches and errors)
        until :class:`kea_twisted.runtime.Dhcp4Runtime` applies its
        configuration's ``loggers``.
    """

    def __init__(self, classes: Sequence, definitions=None, logging: Optional[ClassLogging] = None):
        self.definitions = definitions or STANDARD_DEFINITIONS
        self.logging = logging if logging is not None else ClassLogging()
        #: False when built without ``logging``: the runtime then applies
        #: its configuration's ``loggers``.
        self.logging_configured = logging is not None
        self._compiled = compile_classes(classes, definitions)
        self._defined = frozenset(cls.name for cls in classes)
        dependent = set()
        for cls in classes:
            expression = self._compiled.get(cls.name)
            if expression is None:
                continue
            names = expression.dependencies
            if names & _KNOWN_NAMES or names & dependent:
                dependent.add(cls.name)
        self._pass1: List[_Test] = []
        self._pass2: List[_Test] = []
        for cls in classes:
            expression = self._compiled.get(cls.name)
            if expression is None or cls.only_if_required:
                continue
            (self._pass1 if cls.name not in dependent else self._pass2).append((cls.name, expression))
        # Kea's removeDependentEvaluatedClasses drops the classes that have
        # a test (whatever added them); the others cannot be added back.
        self._evaluated = frozenset(self._compiled)
        # Class-level option-def: only dhcp4-space deferred codes (the
        # config builder refuses others, as Kea does).
        self._class_defs: Dict[str, Dict[int, OptionDefinition]] = {}
        for cls in classes:
            defs = {}
            for d in getattr(cls, "option_def", ()) or ():
                if d.space == DHCP4_SPACE and d.code in DEFERRED_CODES:
                    defs.setdefault(d.code, d.definition)
            if defs:
                self._class_defs[cls.name] = defs

    # -- stages --------------------------------------------------------

    def start(self, query) -> PacketClasses:
        """The classes before pass 1: ``ALL``, the classes hook libraries
        gave the packet (``query.classes``), ``VENDOR_CLASS_<60>``."""
        classes = PacketClasses()
        classes.append("ALL")
        for name in getattr(query, "classes", ()) or ():
            classes.add(name)
        vendor = query.options.get(60)
        if vendor is not None and 60 not in query.fused:
            # Only when Kea's option 60 is an OptionString: not fused, and
            # not empty or NULs only (the decoder leaves those out).
            classes.add("VENDOR_CLASS_" + vendor.decode("latin-1"))
        return classes

    def view(self, query, classes: List[str]) -> PacketView:
        """The packet as expressions see it at this stage (deferred options
        raw until :meth:`unpack_deferred`)."""
        deferred = getattr(classes, "deferred", None)
        return PacketView(query, classes, self.definitions, deferred is not None, deferred)

    def pass1(self, query, classes: List[str]) -> List[str]:
        """Pass 1 on ``classes`` (updated in place and returned)."""
        if not self._pass1:
            return classes  # no packet view to build for no test
        return self._run(self.view(query, classes), classes, self._pass1)

    def unpack_deferred(self, query, classes: PacketClasses) -> PacketClasses:
        """Kea's ``deferredUnpack``: from now on the deferred options of the
        query are typed, by the first of its classes (in order) that defines
        the code, else by the server's definitions.  Returns ``classes``."""
        chosen: Dict[int, OptionDefinition] = {}
        if self._class_defs and not DEFERRED_CODES.isdisjoint(query.options):
            for code in query.options:
                if code not in DEFERRED_CODES:
                    continue
                for name in classes:
                    d = self._class_defs.get(name, {}).get(code)
                    if d is not None:
                        chosen[code] = d
                        break
        classes.deferred = chosen
        return classes

    def reevaluate(self, query, classes: List[str], reserved: Sequence[str]) -> List[str]:
        """Reserved classes that steer pool selection: Kea drops the
        evaluated classes, adds the reserved ones and runs pass 1 again."""
        evaluated = self._evaluated
        kept = [name for name in classes if name not in evaluated]
        classes[:] = kept
        for name in reserved:
            if name not in classes:
                classes.append(name)
        return self.pass1(query, classes)

    def pass2(self, query, classes: List[str]) -> List[str]:
        """Pass 2 (KNOWN/UNKNOWN-dependent classes) on ``classes``."""
        if not self._pass2:
            return classes
        return self._run(self.view(query, classes), classes, self._pass2)

    def required(self, query, classes: List[str], names: Sequence[str]) -> List[str]:
        """``require-client-classes`` (network, subnet, pool order): each
        name defined with a test is evaluated; the others are skipped with
        Kea's debug message."""
        tests: List[_Test] = []
        log = self.logging.assigned
        for name in names:
            expression = self._compiled.get(name)
            if expression is not None:
                tests.append((name, expression))
            elif log:
                if name in self._defined:
                    dhcp4_log.debug("{msgid} required class {name} has no test expression",
                                    msgid="DHCP4_CLASS_UNTESTABLE", name=name, debuglevel=DBG_TRACE_BASIC)
                else:
                    dhcp4_log.debug("{msgid} required class {name} has no definition",
                                    msgid="DHCP4_CLASS_UNDEFINED", name=name, debuglevel=DBG_TRACE_BASIC)
        if not tests:
            return classes
        return self._run(self.view(query, classes), classes, tests)

    def is_configured(self, name: str) -> bool:
        return name in self._defined

    # -- evaluation --------------------------------------------------------

    def _run(self, view: PacketView, classes: List[str], tests: Sequence[_Test]) -> List[str]:
        logging = self.logging
        if not logging.any:
            for name, expression in tests:
                # Each test sees the classes added before it (view.classes
                # is this list).
                if expression.evaluate(view) and name not in classes:
                    classes.append(name)
            return classes
        emit = _emit_token if logging.tokens else None
        for name, expression in tests:
            failure: List[str] = []
            if emit is not None:
                matched = expression.evaluate_traced(view, emit, on_error=failure.append)
            else:
                matched = expression.evaluate(view, on_error=failure.append)
            if failure:
                if logging.errors:
                    options_log.error("{msgid} Expression {name} evaluated to {result}",
                                      msgid="EVAL_RESULT", name=name, result=failure[0])
                continue
            if matched:
                if logging.matches:
                    options_log.info("{msgid} Expression {name} evaluated to {result}",
                                     msgid="EVAL_RESULT", name=name, result=1)
                if name not in classes:
                    classes.append(name)
            elif logging.misses:
                options_log.debug("{msgid} Expression {name} evaluated to {result}", msgid="EVAL_RESULT",
                                  name=name, result=0, debuglevel=DBG_TRACE_DETAIL)
        return classes

    def log_assigned(self, query, classes: Sequence[str]) -> None:
        """``DHCP4_CLASS_ASSIGNED`` (debug 40) with these class names."""
        if self.logging.assigned and classes:
            dhcp4_log.debug("{msgid} {label}: client packet has been assigned to the following class(es): {classes}",
                            msgid="DHCP4_CLASS_ASSIGNED", label=packet_label(query), classes=", ".join(classes),
                            debuglevel=DBG_TRACE_BASIC)

    def log_unconfigured(self, query, classes: Sequence[str]) -> None:
        """``DHCP4_CLASS_UNCONFIGURED`` for each class of the packet that is
        neither built-in nor configured (Kea's ``buildCfgOptionList``)."""
        if not self.logging.assigned:
            return
        for name in classes:
            if name not in self._defined and not is_builtin_class(name):
                dhcp4_log.debug("{msgid} {label}: client packet belongs to an unconfigured class: {name}",
                                msgid="DHCP4_CLASS_UNCONFIGURED", label=packet_label(query), name=name,
                                debuglevel=DBG_TRACE_BASIC)


def _emit_token(msgid: str, text: str) -> None:
    eval_log.debug("{msgid} {text}", msgid=msgid, text=text, debuglevel=DBG_TRACE_DETAIL_DATA)
