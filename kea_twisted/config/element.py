"""
Positioned configuration values: Kea's ``Element`` tree, in Python.

Kea keeps a position (file, line, column) on every parsed JSON value so that
errors can point at the offending element (``src/lib/cc/data.h``).  The
loader produces this tree; the model builder reads it and raises
:class:`~kea_twisted.config.errors.ConfigError` with the element's position.

Tests: tests/test_config_loader.py
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

__all__ = [
    "Position",
    "Element",
    "MapElement",
    "ListElement",
    "ScalarElement",
    "to_python",
    "from_python",
]


@dataclass(frozen=True)
class Position:
    """Where an element starts: ``file:line:col`` as Kea prints it (1-based)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Element:
    """A JSON value with the position it was read from.

    ``kind`` is one of ``map``, ``list``, ``string``, ``integer``, ``real``,
    ``boolean``, ``null`` (Kea's ``Element::types`` names).
    """

    kind: str = ""

    def __init__(self, pos: Optional[Position]):
        self.pos = pos

    def to_python(self) -> Any:
        raise NotImplementedError


class ScalarElement(Element):
    def __init__(self, kind: str, value: Any, pos: Optional[Position] = None):
        super().__init__(pos)
        self.kind = kind
        self.value = value

    def to_python(self) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"ScalarElement({self.kind}, {self.value!r}, {self.pos})"


class ListElement(Element):
    kind = "list"

    def __init__(self, items: List[Element], pos: Optional[Position] = None):
        super().__init__(pos)
        self.items = items

    def __iter__(self) -> Iterator[Element]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Element:
        return self.items[index]

    def to_python(self) -> List[Any]:
        return [item.to_python() for item in self.items]


class MapElement(Element):
    """A JSON object.  ``items`` keeps config order; ``key_pos`` holds where
    each key was written (Kea reports unknown keywords at the key)."""

    kind = "map"

    def __init__(
        self,
        items: Dict[str, Element],
        pos: Optional[Position] = None,
        key_pos: Optional[Dict[str, Position]] = None,
    ):
        super().__init__(pos)
        self.items = items
        self.key_pos = key_pos or {}

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def __getitem__(self, key: str) -> Element:
        return self.items[key]

    def get(self, key: str, default: Optional[Element] = None) -> Optional[Element]:
        return self.items.get(key, default)

    def keys(self):
        return self.items.keys()

    def to_python(self) -> Dict[str, Any]:
        return {key: value.to_python() for key, value in self.items.items()}


def to_python(element: Element) -> Any:
    """Strip positions: plain dicts, lists and scalars."""
    return element.to_python()


def from_python(value: Any, pos: Optional[Position] = None) -> Element:
    """Wrap plain JSON-like values (dict/list/str/int/float/bool/None) as
    elements, all carrying ``pos``.  For values that come from commands or
    tests rather than from a file (Kea's ``<string>`` / ``<wire>`` origin)."""
    if isinstance(value, dict):
        return MapElement(
            {str(k): from_python(v, pos) for k, v in value.items()},
            pos,
            {str(k): pos for k in value} if pos is not None else {},
        )
    if isinstance(value, (list, tuple)):
        return ListElement([from_python(v, pos) for v in value], pos)
    if isinstance(value, bool):
        return ScalarElement("boolean", value, pos)
    if isinstance(value, int):
        return ScalarElement("integer", value, pos)
    if isinstance(value, float):
        return ScalarElement("real", value, pos)
    if isinstance(value, str):
        return ScalarElement("string", value, pos)
    if value is None:
        return ScalarElement("null", None, pos)
    raise TypeError(f"not a JSON value: {value!r}")
