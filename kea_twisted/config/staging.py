"""
Staging a configuration: file -> positioned tree -> grammar -> model.

Kea builds a new configuration completely, validates it, and only then swaps
it in (``cfgmgr.h`` staging/commit); ``-t`` and ``config-test`` are the same
without the swap.  This module is that pipeline, with no reactor.

Tests: tests/test_staging.py, tests/test_paths.py
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from kea_twisted.config.errors import ConfigError

__all__ = [
    "stage_config_file",
    "stage_config_element",
    "check_hook_libraries",
    "check_runnable",
    "BUILTIN_HOOK_LIBRARIES",
]

# Kea's hook library file names -> the built-in module in the ``hooks``
# package that stands in for it.
BUILTIN_HOOK_LIBRARIES = {
    "libdhcp_lease_cmds.so": "hooks.lease_cmds",
    "libdhcp_ha.so": "hooks.ha",
    "libdhcp_stat_cmds.so": "hooks.stat_cmds",
}


def check_hook_libraries(config, validate=None):
    """Kea refuses a configuration naming hook libraries it cannot load,
    listing all of them: ``hooks libraries failed to validate - library or
    libraries in error are: a, b`` at the position of the ``hooks-libraries``
    list [obs: kea-dhcp4 -t on Debian's examples].  A library can be loaded
    when it is a built-in stand-in for one of Kea's (``BUILTIN_HOOK_LIBRARIES``)
    that provides ``IHookLibrary``, or a Python file that does."""
    libraries = getattr(config, "hooks_libraries", ()) or ()
    if not libraries:
        return
    if validate is None:
        from kea_twisted.hooks import validate_hook_libraries as validate
    multi_threading = bool(getattr(getattr(config, "multi_threading", None), "enable_multi_threading", False))
    failures = validate([lib.library for lib in libraries], multi_threading=multi_threading)
    if failures:
        names = ", ".join(f.library for f in failures)
        raise ConfigError(
            "hooks libraries failed to validate - library or libraries in error are: " + names,
            getattr(libraries[0], "pos", None),
        )


def ha_library(config) -> Optional[Any]:
    """The configuration's ``libdhcp_ha.so`` entry, or None."""
    for library in getattr(config, "hooks_libraries", ()) or ():
        if str(library.library).rsplit("/", 1)[-1] == "libdhcp_ha.so":
            return library
    return None


def check_runnable(config) -> list:
    """What this configuration asks for that kea_twisted cannot do yet.

    Kea's ``-t`` accepts SQL databases without connecting, and so does ours;
    starting a server on one we cannot serve from (MySQL) must fail clearly
    instead.  Features that are configured but
    not available yet are returned as warnings for the start-up log, so that
    nothing is silently ignored.
    """
    database = config.lease_database
    if database.type == "postgresql":
        library = ha_library(config)
        if library is not None:
            from kea_twisted.cooperative import available as greenlets_available

            # HA's callouts drive the reactor (HTTP to the partner, timers):
            # the SQL workers must then be greenlets on the reactor thread.
            if not greenlets_available():
                raise ConfigError(
                    "libdhcp_ha.so with lease database type 'postgresql' needs the greenlet package "
                    "(pip install kea_twisted[postgresql])",
                    getattr(library, "pos", None) or database.pos,
                )
    elif database.type != "memfile":
        raise ConfigError(
            f"lease database type '{database.type}' is not supported by kea_twisted yet "
            "(memfile and postgresql only)",
            database.pos,
        )
    warnings = []
    for hosts in config.hosts_databases:
        warnings.append(f"hosts database of type '{hosts.type}' is not available yet: its reservations are not used")
    if config.dhcp_ddns.enable_updates:
        warnings.append("dhcp-ddns enable-updates is set but DNS updates are not available yet: no NameChangeRequests are sent")
    if config.config_control is not None and config.config_control.config_databases:
        warnings.append("config-control databases are not available: the configuration backend is not used")
    return warnings


def stage_config_element(root, *, interfaces: Optional[Mapping[str, Sequence]] = None):
    """Validate a whole top-level map (``{"Dhcp4": ...}``) into a model."""
    from kea_twisted.config.builder import build_config
    from kea_twisted.config.grammar import check_grammar

    dhcp4 = check_grammar(root)
    if interfaces is None:
        from kea_twisted.net.interfaces import ipv4_interfaces

        interfaces = ipv4_interfaces()
    config = build_config(dhcp4, interfaces=interfaces)
    from kea_twisted.paths import confine_config

    # Paths outside the directories set at start are refused here, so that
    # config-set and config-reload are held to them too (Kea 2.6.3).
    config = confine_config(config)
    from kea_twisted.classify import compile_classes

    compile_classes(config.client_classes, config.option_definitions)
    check_hook_libraries(config)
    return config


def stage_config_file(path: str, *, interfaces: Optional[Mapping[str, Sequence]] = None):
    """Load, check and build the configuration in ``path``; raise ConfigError."""
    from kea_twisted.config.loader import load_config_file

    return stage_config_element(load_config_file(path), interfaces=interfaces)
