"""
Kea's High Availability hook library (``libdhcp_ha.so``), DHCPv4, Kea 2.2
compatible.

The pure core:

* :mod:`hooks.ha.config` - the ``high-availability`` parameters, Kea's
  defaults and error texts, TLS file roles;
* :mod:`hooks.ha.query_filter` - the load-balancing hash and served scopes;
* :mod:`hooks.ha.communication` - what is known about the partner
  (heartbeat timer, clock skew, unacked clients, lease-update backlog);
* :mod:`hooks.ha.states` - the state machine, driven by events and ``now``;
* :mod:`hooks.ha.commands` - the JSON exchanged between peers.

On top of it:

* :mod:`hooks.ha.service` - the running service: timers on the reactor,
  heartbeats, lease updates with parked responses, sync, maintenance;
* :mod:`hooks.ha.transport` - the HTTP(S) client and listener between peers;
* :mod:`hooks.ha.plugin` - the hook library object, :data:`ha`, the one
  ``IHookLibrary`` provider the hooks loader finds here.

Tests: tests/test_ha_config.py, tests/test_ha_query_filter.py,
tests/test_ha_states.py, tests/test_ha_commands.py,
tests/test_ha_transport.py, tests/test_ha_service.py
"""

from hooks.ha.plugin import ha

__all__ = ["config", "query_filter", "communication", "states", "commands", "service",
           "transport", "plugin", "ha"]
