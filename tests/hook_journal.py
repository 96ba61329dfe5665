"""Shared state for test hook libraries loaded from files (a ``.py``
library is imported afresh on each load, so its own globals do not last):
``JOURNALS[key]`` collects what the library saw."""

from collections import defaultdict

JOURNALS = defaultdict(list)
