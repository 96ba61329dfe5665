"""
PyPy's garbage-collector settings kea_twisted is run and measured with.

PyPy reads them from the environment only when it starts, so the server
can only advise them (:func:`pypy_gc_advice`, logged at start) and the
launchers set them: ``dev.sh`` and the benches (bench/perfdhcp_compare.py
imports this module, which needs nothing but the standard library).

Tests: tests/test_tap.py (PyPyGCAdviceTests)
"""

from __future__ import annotations

from typing import Mapping, Optional

__all__ = ["PYPY_GC_SETTINGS", "pypy_gc_advice"]

#: PyPy's GC settings kea_twisted is measured with (README, "Running under
#: PyPy"; bench/RESULTS.md), read only when PyPy starts:
#:
#: * ``PYPY_GC_NURSERY``: PyPy sizes the nursery from the CPU's cache (1 MB
#:   on the bench machine); the server's long-lived lease indexes make every
#:   minor collection costly: 4.5x the CPU per HA lease update with 1 MB
#:   (bench/ha_update_profile.py).
#: * ``PYPY_GC_INCREMENT_STEP``: memory marked per step of a major
#:   collection, by default twice the nursery: with 64 MB, steps of up to
#:   90 ms under HA load, hundreds of queries arriving meanwhile and most
#:   dropped by the packet queue; with 16 MB, steps of up to 27 ms.
PYPY_GC_SETTINGS = {"PYPY_GC_NURSERY": "64M", "PYPY_GC_INCREMENT_STEP": "16M"}


def pypy_gc_advice(implementation: str, environ: Mapping[str, str]) -> Optional[str]:
    """The warning for a PyPy started without :data:`PYPY_GC_SETTINGS` in
    its environment (each one the operator has not chosen), else None.
    PyPy reads them only when it starts, so they can only be advised
    here, not changed."""
    if implementation != "PyPy":
        return None
    missing = [f"{name}={value}" for name, value in PYPY_GC_SETTINGS.items() if name not in environ]
    if not missing:
        return None
    return (f"running on PyPy with its default GC settings: start it with {' '.join(missing)} "
            "in the environment (otherwise minor collections cost up to 4x the CPU per lease update "
            "and major collections pause the server for up to 90 ms)")
