"""
Staging a configuration: file -> positioned tree -> grammar -> model.

Kea builds a new configuration completely, validates it, and only then swaps
it in (``cfgmgr.h`` staging/commit); ``-t`` and ``config-test`` are the same
without the swap.  This module is that pipeline, with no reactor.

Tests: tests/test_staging.py
"""

from __future__ import annotations

import os
from typing import Callable, Mapping, Optional, Sequence

from kea_twisted.config.errors import ConfigError

__all__ = ["stage_config_file", "stage_config_element", "BUILTIN_HOOK_LIBRARIES"]

# Kea's hook library file names -> the built-in module in the ``hooks``
# package that stands in for it.
BUILTIN_HOOK_LIBRARIES = {
    "libdhcp_lease_cmds.so": "hooks.lease_cmds",
    "libdhcp_ha.so": "hooks.ha",
    "libdhcp_stat_cmds.so": "hooks.stat_cmds",
}


def _hook_library_available(path: str) -> bool:
    """True when ``path`` names a hook library kea_twisted can load: a
    built-in stand-in for one of Kea's libraries, or a Python file."""
    module = BUILTIN_HOOK_LIBRARIES.get(os.path.basename(path))
    if module is not None:
        import importlib.util

        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False
    return path.endswith(".py") and os.path.isfile(path)


def check_hook_libraries(config, available: Callable[[str], bool] = _hook_library_available):
    """Kea refuses a configuration naming hook libraries it cannot load,
    listing all of them: ``hooks libraries failed to validate - library or
    libraries in error are: a, b`` at the position of the first one
    [obs: kea-dhcp4 -t on Debian's examples]."""
    libraries = getattr(config, "hooks_libraries", ()) or ()
    failed = [lib for lib in libraries if not available(lib.library)]
    if failed:
        names = ", ".join(lib.library for lib in failed)
        raise ConfigError(
            "hooks libraries failed to validate - library or libraries in error are: " + names,
            getattr(failed[0], "pos", None),
        )


def stage_config_element(root, *, interfaces: Optional[Mapping[str, Sequence]] = None):
    """Validate a whole top-level map (``{"Dhcp4": ...}``) into a model."""
    from kea_twisted.config.builder import build_config
    from kea_twisted.config.grammar import check_grammar

    dhcp4 = check_grammar(root)
    config = build_config(dhcp4, interfaces=interfaces)
    check_hook_libraries(config)
    return config


def stage_config_file(path: str, *, interfaces: Optional[Mapping[str, Sequence]] = None):
    """Load, check and build the configuration in ``path``; raise ConfigError."""
    from kea_twisted.config.loader import load_config_file

    return stage_config_element(load_config_file(path), interfaces=interfaces)
