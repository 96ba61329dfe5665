"""
Kea's statistics in the Prometheus text format, with the metric names,
help texts and labels that ``kea-exporter`` (PyPI, 0.7.1) produces from a
real Kea, so that dashboards built on it keep working.

kea-exporter asks Kea for ``config-get`` and ``statistic-get-all`` and maps
each statistic (its newest sample) to a gauge:

* ``pkt4-<type>-sent`` / ``-received`` (and ``pkt4-parse-failed``,
  ``pkt4-receive-drop``) -> ``kea_dhcp4_packets_sent_total`` /
  ``kea_dhcp4_packets_received_total`` with label ``operation``;
* ``subnet[ID].<name>`` -> one gauge per name with labels ``subnet`` (the
  prefix), ``subnet_id`` and, for address counts, ``pool`` (empty for
  subnet-wide values, the pool's text for ``subnet[ID].pool[N].<name>``);
  ``subnet[ID].v4-allocation-fail-<context>`` ->
  ``kea_dhcp4_allocations_failed_total`` with label ``context``;
* global sums and per-subnet ``cumulative-assigned-addresses`` are left out,
  as kea-exporter does; statistics it does not know are left out too.

The pool text is Kea's ``config-get`` spelling (``first-last``, or
``prefix/len`` when the range is exactly a prefix).  One deliberate
difference: kea-exporter reads only ``Dhcp4.subnet4`` from ``config-get``
and drops the statistics of subnets inside shared networks; this module
labels those too.

:class:`KeaCollector` is a ``prometheus_client`` collector over two
callables (the statistics as ``statistic-get-all`` returns them, and the
subnets), so it works over a running service (:func:`collector_for`), or
over answers fetched from any Kea.  :func:`metrics_site` and
:func:`listen` serve ``/metrics`` over HTTP with Twisted.  Nothing here
knows ``tap.py`` or the command line; they call :func:`endpoint_from` and
:func:`listen`.

The endpoint is configured, in this order, by the environment variable
``KEA_TWISTED_PROMETHEUS=[ADDRESS:]PORT`` (works with an unchanged systemd
unit through a drop-in ``Environment=``) or by the configuration's
``Dhcp4`` ``user-context`` (which Kea ignores, so the file stays valid for
Kea)::

    "user-context": { "kea-twisted": { "prometheus": { "address": "127.0.0.1", "port": 9547 } } }

Tests: tests/test_prometheus.py
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

from twisted.web.resource import Resource

__all__ = [
    "METRICS",
    "STATISTIC_MAP",
    "KeaCollector",
    "subnets_from_config",
    "subnets_from_config_get",
    "collector_for",
    "registry_for",
    "render",
    "pool_text",
    "endpoint_from",
    "MetricsResource",
    "metrics_site",
    "listen",
]

PREFIX = "kea_dhcp4"

# metric key -> (name, help, label names), as kea-exporter declares them.
METRICS: Dict[str, Tuple[str, str, Tuple[str, ...]]] = {
    "sent_packets": (f"{PREFIX}_packets_sent_total", "Packets sent", ("operation",)),
    "received_packets": (f"{PREFIX}_packets_received_total", "Packets received", ("operation",)),
    "addresses_allocation_fail": (f"{PREFIX}_allocations_failed_total", "Allocation fail count",
                                  ("subnet", "subnet_id", "context")),
    "addresses_assigned_total": (f"{PREFIX}_addresses_assigned_total", "Assigned addresses",
                                 ("subnet", "subnet_id", "pool")),
    "addresses_declined_total": (f"{PREFIX}_addresses_declined_total", "Declined counts",
                                 ("subnet", "subnet_id", "pool")),
    "addresses_declined_reclaimed_total": (f"{PREFIX}_addresses_declined_reclaimed_total",
                                           "Declined addresses that were reclaimed",
                                           ("subnet", "subnet_id", "pool")),
    "addresses_reclaimed_total": (f"{PREFIX}_addresses_reclaimed_total", "Expired addresses that were reclaimed",
                                  ("subnet", "subnet_id", "pool")),
    "addresses_total": (f"{PREFIX}_addresses_total", "Size of subnet address pool",
                        ("subnet", "subnet_id", "pool")),
    "reservation_conflicts_total": (f"{PREFIX}_reservation_conflicts_total", "Reservation conflict count",
                                    ("subnet", "subnet_id")),
    "leases_reused_total": (f"{PREFIX}_leases_reused_total",
                            "Number of times an IPv4 lease has been renewed in memory", ("subnet", "subnet_id")),
}


def _packet_map() -> Dict[str, Tuple[str, Dict[str, str]]]:
    table: Dict[str, Tuple[str, Dict[str, str]]] = {}
    for kind in ("ack", "nak", "offer"):
        table[f"pkt4-{kind}-sent"] = ("sent_packets", {"operation": kind})
    for kind in ("discover", "offer", "request", "ack", "nak", "release", "decline", "inform", "unknown"):
        table[f"pkt4-{kind}-received"] = ("received_packets", {"operation": kind})
    table["pkt4-parse-failed"] = ("received_packets", {"operation": "parse-failed"})
    table["pkt4-receive-drop"] = ("received_packets", {"operation": "drop"})
    return table


# statistic name (without the subnet/pool part) -> (metric key, fixed labels)
STATISTIC_MAP: Dict[str, Tuple[str, Dict[str, str]]] = {
    **_packet_map(),
    "v4-allocation-fail-subnet": ("addresses_allocation_fail", {"context": "subnet"}),
    "v4-allocation-fail-shared-network": ("addresses_allocation_fail", {"context": "shared-network"}),
    "v4-allocation-fail-no-pools": ("addresses_allocation_fail", {"context": "no-pools"}),
    "v4-allocation-fail-classes": ("addresses_allocation_fail", {"context": "classes"}),
    "v4-lease-reuses": ("leases_reused_total", {}),
    "assigned-addresses": ("addresses_assigned_total", {}),
    "declined-addresses": ("addresses_declined_total", {}),
    "reclaimed-declined-addresses": ("addresses_declined_reclaimed_total", {}),
    "reclaimed-leases": ("addresses_reclaimed_total", {}),
    "total-addresses": ("addresses_total", {}),
    "v4-reservation-conflicts": ("reservation_conflicts_total", {}),
}

# Global statistics kea-exporter leaves out (sums of per-subnet or
# per-type values).
GLOBAL_IGNORED = frozenset({
    "cumulative-assigned-addresses", "declined-addresses", "assigned-addresses",
    "reclaimed-declined-addresses", "reclaimed-leases", "v4-reservation-conflicts",
    "v4-allocation-fail", "v4-allocation-fail-subnet", "v4-allocation-fail-shared-network",
    "v4-allocation-fail-no-pools", "v4-allocation-fail-classes", "pkt4-sent", "pkt4-received",
    "v4-lease-reuses",
})
SUBNET_IGNORED = frozenset({"cumulative-assigned-addresses", "v4-allocation-fail"})

_SUBNET_STAT = re.compile(
    r"^subnet\[(?P<subnet_id>\d+)\]\.(pool\[(?P<pool_index>\d+)\]\.(?P<pool_metric>[\w-]+)|(?P<subnet_metric>[\w-]+))$"
)

# subnet id -> (prefix text, pool texts in configuration order)
Subnets = Mapping[int, Tuple[str, Tuple[str, ...]]]


def pool_text(first: IPv4Address, last: IPv4Address) -> str:
    """Kea's ``Pool4::toElement`` spelling: ``a/len`` when the range is
    exactly one prefix, else ``first-last``."""
    networks = list(summarize_address_range(first, last)) if first <= last else []
    if len(networks) == 1:
        return str(networks[0])
    return f"{first}-{last}"


def subnets_from_config(config: Any) -> Dict[int, Tuple[str, Tuple[str, ...]]]:
    """The subnets of a configuration model (shared networks included)."""
    found: Dict[int, Tuple[str, Tuple[str, ...]]] = {}
    for subnet in getattr(config, "subnets", ()) or ():
        prefix: IPv4Network = subnet.prefix
        found[subnet.id] = (str(prefix), tuple(pool_text(p.first, p.last) for p in subnet.pools))
    return found


def subnets_from_config_get(arguments: Mapping[str, Any]) -> Dict[int, Tuple[str, Tuple[str, ...]]]:
    """The subnets of a ``config-get`` answer's arguments (top-level and
    shared-network subnets)."""
    dhcp4 = arguments.get("Dhcp4", {})
    subnets = list(dhcp4.get("subnet4", []))
    for network in dhcp4.get("shared-networks", []):
        subnets.extend(network.get("subnet4", []))
    return {s["id"]: (s.get("subnet", ""), tuple(p.get("pool", "") for p in s.get("pools", [])))
            for s in subnets}


def samples(statistics: Mapping[str, Any], subnets: Subnets) -> Iterator[Tuple[str, Dict[str, str], float]]:
    """(metric key, labels, value) for every exported statistic."""
    for key, data in statistics.items():
        if key in GLOBAL_IGNORED or not data:
            continue
        value = data[0][0]
        labels: Dict[str, str] = {}
        match = _SUBNET_STAT.match(key)
        if match:
            metric = match.group("pool_metric") or match.group("subnet_metric")
            if metric in SUBNET_IGNORED:
                continue
            subnet_id = int(match.group("subnet_id"))
            subnet = subnets.get(subnet_id)
            if subnet is None:
                # kea-exporter: "subnet vanished from configuration".
                continue
            prefix, pools = subnet
            labels["subnet"] = prefix
            labels["subnet_id"] = str(subnet_id)
            if match.group("pool_index") is not None:
                index = int(match.group("pool_index"))
                if index >= len(pools):
                    continue
                labels["pool"] = pools[index]
            else:
                labels["pool"] = ""
            key = metric
        mapped = STATISTIC_MAP.get(key)
        if mapped is None:
            continue
        metric_key, fixed = mapped
        labels.update(fixed)
        wanted = METRICS[metric_key][2]
        yield metric_key, {k: v for k, v in labels.items() if k in wanted}, float(value)


class KeaCollector:
    """A ``prometheus_client`` collector of Kea's statistics.

    :param statistics: ``() -> {name: [[value, timestamp], ...]}`` (the
        ``statistic-get-all`` arguments; newest sample first).
    :param subnets: ``() -> {subnet_id: (prefix, pools)}``.
    """

    def __init__(self, statistics: Callable[[], Mapping[str, Any]], subnets: Callable[[], Subnets]):
        self._statistics = statistics
        self._subnets = subnets

    def describe(self) -> list:
        # No samples at registration time: prometheus_client then does not
        # call collect() during register().
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        families = {key: GaugeMetricFamily(name, help_text, labels=list(labels))
                    for key, (name, help_text, labels) in METRICS.items()}
        for metric_key, labels, value in samples(self._statistics(), self._subnets()):
            family = families[metric_key]
            family.add_metric([labels[name] for name in METRICS[metric_key][2]], value)
        return list(families.values())


def collector_for(server: Any) -> KeaCollector:
    """A collector over a running server (a Dhcp4Service or an
    IServerContext: anything with live ``stats`` and ``config``)."""
    return KeaCollector(lambda: server.stats.get_all(), lambda: subnets_from_config(server.config))


def registry_for(collector: KeaCollector):
    """A registry holding only ``collector`` (no process or Python
    metrics, which a Kea exporter does not have either)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render(registry: Any) -> bytes:
    """The text exposition format (``generate_latest``)."""
    from prometheus_client import generate_latest

    return generate_latest(registry)


# -- the HTTP endpoint -------------------------------------------------------------

def _parse_endpoint(text: str) -> Tuple[str, int]:
    address, _, port = text.rpartition(":")
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return (address.strip("[]") or "127.0.0.1"), number


def endpoint_from(environ: Mapping[str, str], config: Any = None) -> Optional[Tuple[str, int]]:
    """``(address, port)`` to serve ``/metrics`` on, or None.

    ``KEA_TWISTED_PROMETHEUS=[ADDRESS:]PORT`` first (address defaults to
    127.0.0.1), else ``Dhcp4`` ``user-context`` ``kea-twisted`` →
    ``prometheus`` → ``address``/``port``.  Raises ValueError for a
    malformed value.
    """
    text = environ.get("KEA_TWISTED_PROMETHEUS")
    if text:
        return _parse_endpoint(text)
    context = getattr(config, "user_context", None) or {}
    settings = (context.get("kea-twisted") or {}).get("prometheus") if isinstance(context, Mapping) else None
    if not settings:
        return None
    port = settings.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError("user-context kea-twisted.prometheus.port must be an integer 1-65535")
    return str(settings.get("address", "127.0.0.1")), port


class MetricsResource(Resource):
    """``GET /metrics``: the registry rendered in the reactor thread.

    prometheus_client's own Twisted resource renders in the reactor's
    thread pool; the statistics are changed by the reactor thread, so
    they are read there instead (a render is a few milliseconds).
    """

    isLeaf = True

    def __init__(self, registry: Any):
        super().__init__()
        self.registry = registry

    def render(self, request) -> bytes:
        from prometheus_client import CONTENT_TYPE_LATEST

        if request.method not in (b"GET", b"HEAD"):
            request.setResponseCode(405)
            request.setHeader(b"allow", b"GET, HEAD")
            return b""
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return render(self.registry)


def metrics_site(registry: Any):
    """A twisted.web Site serving the registry at ``/metrics``."""
    from twisted.web.server import Site

    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry))
    return Site(root)


def listen(reactor: Any, registry: Any, address: str, port: int):
    """Listen on ``address:port``; returns the listening port."""
    return reactor.listenTCP(port, metrics_site(registry), interface=address)
