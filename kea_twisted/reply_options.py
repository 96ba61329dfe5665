"""
Which configured options go into an OFFER/ACK, and with which values
(spec/dhcp4.md §10; ``dhcp4_srv.cc`` ``buildCfgOptionList``,
``appendRequestedOptions``, ``appendRequestedVendorOptions``,
``appendBasicOptions``).

Pure: the option sources in precedence order (host reservation, pool,
subnet, shared network, each class in packet order, global), each a mapping
``code -> ConfiguredOption``, and the query's parameter request list in; the
options to add out.  Options already in the reply (53, 61, 82, 118, 12/81,
51, 1, 58/59) are never replaced: that is why configured 51 or 1 have no
effect while a configured 54 does.

Tests: tests/test_reply_options.py
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

__all__ = ["ConfiguredOption", "OptionSource", "select_options", "BASIC_OPTIONS", "vendor_options"]

# Options Kea adds whenever configured, requested or not: routers,
# domain-name-servers, domain-name, dhcp-server-identifier.
BASIC_OPTIONS = (3, 6, 15, 54)


@dataclass(frozen=True)
class ConfiguredOption:
    """One ``option-data`` entry, compiled: the payload bytes on the wire."""

    code: int
    payload: bytes
    always_send: bool = False
    space: str = "dhcp4"


OptionSource = Mapping[int, ConfiguredOption]


def _first(sources: Sequence[OptionSource], code: int) -> Optional[ConfiguredOption]:
    for source in sources:
        option = source.get(code)
        if option is not None:
            return option
    return None


def _wanted(requested: Iterable[int], sources: Sequence[OptionSource]) -> List[int]:
    """Requested codes in request order without repeats, then every code
    marked always-send in any source (§10.4)."""
    wanted: List[int] = []
    seen = set()
    for code in requested:
        if code not in seen:
            seen.add(code)
            wanted.append(code)
    for source in sources:
        for code, option in source.items():
            if option.always_send and code not in seen:
                seen.add(code)
                wanted.append(code)
    return wanted


def select_options(
    sources: Sequence[OptionSource],
    requested: Iterable[int],
    present: Iterable[int],
) -> Dict[int, bytes]:
    """The configured options to add to a reply, ``code -> payload``.

    :param sources: option sources, highest precedence first (§10.2).
    :param requested: option 55's codes in PRL order.
    :param present: codes already in the reply; never replaced.

    The answer depends only on these, and the sources are the
    configuration's own mappings, the same objects for every query until
    the next reconfiguration: answers are remembered per (sources,
    requested, present), so a run of clients with the same parameter
    request list costs one dictionary lookup each.
    """
    # An empty source adds nothing (and may be a fresh ``{}`` per query).
    sources = [source for source in sources if source]
    taken = frozenset(present)
    requested = bytes(requested) if not isinstance(requested, bytes) else requested
    key = (tuple(map(id, sources)), requested, taken)
    hit = _SELECTED.get(key)
    # The key holds ids only: check that they still name the same objects.
    if hit is not None and all(a is b for a, b in zip(hit[0], sources)):
        return dict(hit[1])
    out = _select(sources, requested, taken)
    if len(_SELECTED) >= _SELECTED_LIMIT:
        _SELECTED.clear()
    _SELECTED[key] = (tuple(sources), out)
    return dict(out)


_SELECTED: Dict[tuple, tuple] = {}
_SELECTED_LIMIT = 1024


def _select(sources: Sequence[OptionSource], requested: Iterable[int], taken) -> Dict[int, bytes]:
    out: Dict[int, bytes] = {}
    for code in _wanted(requested, sources):
        if code in taken or code in out:
            continue
        option = _first(sources, code)
        if option is not None:
            out[code] = option.payload
    for code in BASIC_OPTIONS:
        if code in taken or code in out:
            continue
        option = _first(sources, code)
        if option is not None:
            out[code] = option.payload
    return out


def vendor_options(
    vendor_sources: Sequence[Mapping[int, ConfiguredOption]],
    enterprise: int,
    requested: Iterable[int],
) -> Optional[bytes]:
    """Option 125's payload for one vendor (§10.5): sub-options requested
    (for 4491, the query's 125 sub-option 1 lists them) or always-send, the
    first source that has each; None when there are none."""
    data = b""
    for code in sorted(_wanted(requested, vendor_sources)):
        option = _first(vendor_sources, code)
        if option is not None:
            data += bytes([code, len(option.payload)]) + option.payload
    if not data:
        return None
    return enterprise.to_bytes(4, "big") + bytes([len(data)]) + data
