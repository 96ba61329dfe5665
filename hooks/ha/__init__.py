"""
Kea's High Availability hook library (``libdhcp_ha.so``), DHCPv4, Kea 2.2
compatible - the pure core.

* :mod:`hooks.ha.config` - the ``high-availability`` parameters, Kea's
  defaults and error texts, TLS file roles;
* :mod:`hooks.ha.query_filter` - the load-balancing hash and served scopes;
* :mod:`hooks.ha.communication` - what is known about the partner
  (heartbeat timer, clock skew, unacked clients, lease-update backlog);
* :mod:`hooks.ha.states` - the state machine, driven by events and ``now``;
* :mod:`hooks.ha.commands` - the JSON exchanged between peers.

The hook library object and its Twisted I/O (peer HTTP client, listener)
come on top of these.

Tests: tests/test_ha_config.py, tests/test_ha_query_filter.py,
tests/test_ha_states.py, tests/test_ha_commands.py
"""

__all__ = ["config", "query_filter", "communication", "states", "commands"]
