"""
Valid lifetime (option 51) and T1/T2 (options 58/59) as Kea 2.2 computes
them (spec/dhcp4.md §9).

Pure values in, integers out.  Kea's sources, read for the rules:
``alloc_engine.cc`` ``AllocEngine::getValidLft`` (class first, then the
subnet; the client's hint clamped into ``[min, max]``),
``util/triplet.h`` (``Triplet::get(hint)``), ``cc/simple_parser.cc``
``parseIntTriplet`` (how a scope's ``valid-lifetime`` /
``min-valid-lifetime`` / ``max-valid-lifetime`` become a triplet) and
``dhcp4_srv.cc`` ``Dhcpv4Srv::setTeeTimes``.

Tests: tests/test_lifetimes.py
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional, Tuple

__all__ = [
    "INFINITY_LFT",
    "Triplet",
    "parse_triplet",
    "valid_lifetime",
    "tee_times",
    "kea_round",
]

#: Kea's ``Lease::INFINITY_LFT``: what a BOOTP client gets.
INFINITY_LFT = 0xFFFFFFFF


@dataclass(frozen=True)
class Triplet:
    """Kea's ``Triplet<uint32_t>``: a default bounded by ``min`` and ``max``.

    Build it with :func:`parse_triplet` from a scope's three keys; when only
    ``valid-lifetime`` is set, ``min == default == max`` and a client's
    requested lifetime is ignored.
    """

    min: int
    default: int
    max: int

    @classmethod
    def single(cls, value: int) -> "Triplet":
        """``Triplet(value)``: min, default and max all ``value``."""
        return cls(value, value, value)

    def get(self, hint: Optional[int] = None) -> int:
        """The default, or ``hint`` clamped into ``[min, max]``
        (``Triplet::get(hint)``: ``hint <= min`` gives min, ``hint >= max``
        gives max)."""
        if hint is None:
            return self.default
        if hint <= self.min:
            return self.min
        if hint >= self.max:
            return self.max
        return hint


def parse_triplet(
    name: str,
    value: Optional[int],
    min_value: Optional[int] = None,
    max_value: Optional[int] = None,
) -> Optional[Triplet]:
    """One scope's ``<name>``, ``min-<name>``, ``max-<name>`` as a triplet,
    or None when none of the three is set (``SimpleParser::parseIntTriplet``).

    Missing bounds default as Kea does: only the default set → all three
    equal; default + max → min = default; default + min → max = default;
    min only → all = min; max only → all = max.  Raises ``ValueError`` with
    Kea's text for the inconsistent cases (the caller adds the position).
    """
    has_v, has_min, has_max = value is not None, min_value is not None, max_value is not None
    if not (has_v or has_min or has_max):
        return None
    v = value if has_v else 0
    lo = min_value if has_min else 0
    hi = max_value if has_max else 0
    if has_v:
        if not has_min and not has_max:
            lo = hi = v
        elif not has_min:
            lo = v
        elif not has_max:
            hi = v
    elif has_min:
        if not has_max:
            v = hi = lo
        else:
            # Kea appends " in <position of the scope>".
            raise ValueError(
                "have min-%s and max-%s but no %s (default)" % (name, name, name)
            )
    else:
        lo = v = hi
    if lo > hi:
        if has_min and has_max:
            raise ValueError(
                "the value of min-%s (%d) is not less than max-%s (%d)" % (name, lo, name, hi)
            )
        if has_min:
            raise ValueError(
                "the value of min-%s (%d) is not less than (default) %s (%d)"
                % (name, lo, name, v)
            )
        raise ValueError(
            "the value of (default) %s (%d) is not less than max-%s (%d)" % (name, v, name, hi)
        )
    if v < lo or v > hi:
        raise ValueError(
            "the value of (default) %s (%d) is not between min-%s (%d) and max-%s (%d)"
            % (name, v, name, lo, name, hi)
        )
    return Triplet(lo, v, hi)


def valid_lifetime(
    class_triplets: Iterable[Optional[Triplet]],
    subnet_triplet: Triplet,
    requested: Optional[int] = None,
    bootp: bool = False,
) -> int:
    """The valid lifetime a lease gets (``AllocEngine::getValidLft``).

    :param class_triplets: for each class of the packet, in the packet's
        class order, that class's valid-lifetime triplet or None when the
        class does not set one.  The first one set wins.
    :param subnet_triplet: the subnet's triplet after inheritance (subnet,
        shared network, global).
    :param requested: the value of the query's option 51, or None.  Zero
        counts as not requested.
    :param bootp: the query is in class ``BOOTP``: infinite lifetime.

    Kea quirk kept: the "is it set?" test on the chosen candidate is on its
    *default value*, so a class whose valid-lifetime is 0 is passed over for
    the subnet's triplet (``if (!candidate_lft)`` converts to the integer).
    """
    if bootp:
        return INFINITY_LFT
    candidate: Optional[Triplet] = None
    for triplet in class_triplets:
        if triplet is not None:
            candidate = triplet
            break
    if candidate is None or candidate.default == 0:
        candidate = subnet_triplet
    if requested:
        return candidate.get(requested)
    return candidate.get()


def kea_round(x: float) -> int:
    """C's ``round()`` for a non-negative double: halves away from zero
    (``round(0.5 * 4001) == 2001``; Python's ``round`` would give 2000)."""
    whole = math.floor(x)
    # x - floor(x) is exact for doubles, so the comparison is too.
    if x - whole >= 0.5:
        whole += 1
    return int(whole)


def tee_times(
    valid: int,
    renew_timer: Optional[int] = None,
    rebind_timer: Optional[int] = None,
    calculate: bool = False,
    t1_percent: float = 0.5,
    t2_percent: float = 0.875,
) -> Tuple[Optional[int], Optional[int]]:
    """``(T1, T2)`` to send as options 58 and 59; None = not sent
    (``Dhcpv4Srv::setTeeTimes``).

    :param valid: the lifetime actually granted (option 51).
    :param renew_timer: ``renew-timer`` after inheritance, None when not
        configured anywhere (a configured 0 is a value: nothing calculated).
    :param rebind_timer: ``rebind-timer`` likewise.
    :param calculate: ``calculate-tee-times``.

    T2 = rebind-timer, else round(t2-percent × valid) when calculating, else
    0; sent only if 0 < T2 < valid.  T1 likewise from renew-timer and
    t1-percent; sent only if 0 < T1 < (T2 when T2 is sent, else valid).
    """
    t2 = 0
    if rebind_timer is not None:
        t2 = rebind_timer
    elif calculate:
        t2 = kea_round(t2_percent * valid) & 0xFFFFFFFF
    ceiling = valid
    t2_sent: Optional[int] = None
    if 0 < t2 < ceiling:
        t2_sent = t2
        ceiling = t2
    t1 = 0
    if renew_timer is not None:
        t1 = renew_timer
    elif calculate:
        t1 = kea_round(t1_percent * valid) & 0xFFFFFFFF
    t1_sent = t1 if 0 < t1 < ceiling else None
    return t1_sent, t2_sent
