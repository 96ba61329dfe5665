"""
What differs between the interpreters kea_twisted runs on.

``setup.cfg`` promises Python 3.9, and Debian 12's PyPy (``pypy3`` 7.3.11) is
a 3.9: ``dataclass(slots=True)`` arrived in 3.10.  On 3.9 the classes keep a
``__dict__``; nothing in kea_twisted relies on the absence of one, it only
saves memory (the lease objects of a large ``lease4.csv``), and PyPy's
instances are compact either way.

Tested by every module that builds these dataclasses, on each interpreter.
"""

from __future__ import annotations

import sys

__all__ = ["DATACLASS_SLOTS"]

#: Keyword arguments for ``dataclass`` asking for ``__slots__`` where the
#: running Python can make them.
DATACLASS_SLOTS: dict = {"slots": True} if sys.version_info >= (3, 10) else {}
