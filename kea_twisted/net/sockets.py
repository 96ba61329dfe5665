"""
Service sockets from ``interfaces-config``: which sockets Kea 2.2 opens, and
what it does when some cannot be opened.

Which sockets [src ``src/lib/dhcpsrv/cfg_iface.cc`` ``openSockets``,
``src/lib/dhcp/iface_mgr.cc`` ``openSockets4``; obs]:

* ``"eth0"`` selects every IPv4 address of eth0, ``"eth0/192.0.2.1"`` only
  that one, ``"*"`` every address of every interface except the loopback.
  One socket per selected address, in the kernel's interface order, bound to
  the server port (``-p``).
* The loopback interface is usable only with ``"dhcp-socket-type": "udp"``
  and only when named explicitly; named with raw sockets (Kea's default),
  it fails with "must not open socket on the loopback interface lo"
  [obs kea-dhcp4 2.2].  A selected interface that is down, not running or
  has no IPv4 address fails too.  Each failure is a warning
  ``DHCPSRV_OPEN_SOCKET_FAIL`` and the rest are opened anyway; when nothing
  could be opened, ``DHCPSRV_NO_SOCKETS_OPEN``.
* Raw mode with several addresses on one interface warns
  ``DHCPSRV_MULTIPLE_RAW_SOCKETS_PER_IFACE`` (each socket sees every
  broadcast).

Failures [src ``CfgIface::openSocketsWithRetry``, ``ReconnectCtl``;
``ControlledDhcpv4Srv::openSocketsFailedCallback``; obs]: after the first
attempt, when some socket failed and ``service-sockets-max-retries`` > 0,
the missing ones are retried every ``service-sockets-retry-wait-time``
milliseconds (default 5000) up to that many times, keeping those already
open and serving on them meanwhile.  When failures remain after the last
attempt (immediately with the default 0 retries), Kea logs
``DHCP4_OPEN_SOCKETS_FAILED`` (INFO, with the maximum number of retries) and,
if ``service-sockets-require-all`` is true, shuts down with exit status 1;
otherwise it keeps serving on what it has.  Here that is
:attr:`ServiceSockets.finished`: it fires with the :class:`ServiceSockets`
when opening is over, or fails with :class:`ServiceSocketsFailed` when Kea
would exit.

Replies leave by the socket the query came in on (Kea's
``IfaceMgr::getSocket`` picks the socket whose address is the reply's
source, which is the receiving socket's).  With ``outbound-interface:
use-routing`` Kea clears the source and takes the interface's first socket;
we keep the receiving socket (the same one unless an interface has several
addresses).  ``re-detect`` needs nothing here: interfaces are detected
again at every attempt.  The client port (``-P``) and the relay port rules
are the engine's (:mod:`kea_twisted.destination`): the edge sends where
``Reply`` says.

Tests: tests/test_net_sockets.py
"""

from __future__ import annotations

import fcntl
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred

from kea_twisted.datagrams import IPacketHandler
from kea_twisted.logs import DBG_START, kea_logger
from kea_twisted.net.interfaces import ipv4_interfaces

__all__ = [
    "InterfaceFlags",
    "interface_flags",
    "SocketSettings",
    "settings_from",
    "parse_interface_entry",
    "plan_sockets",
    "ServiceSockets",
    "ServiceSocketsFailed",
    "open_service_sockets",
    "udp_opener",
    "open_udp_listener",
    "open_raw_listener",
]

dhcp4_log = kea_logger("dhcp4")
dhcpsrv_log = kea_logger("dhcpsrv")

_IFF_UP, _IFF_BROADCAST, _IFF_LOOPBACK, _IFF_RUNNING = 0x1, 0x2, 0x8, 0x40
_SIOCGIFFLAGS = 0x8913


@dataclass(frozen=True)
class InterfaceFlags:
    """The kernel's flags that decide whether Kea opens a socket."""

    up: bool = True
    running: bool = True
    loopback: bool = False
    broadcast: bool = True


def interface_flags(name: str) -> Optional[InterfaceFlags]:
    """``SIOCGIFFLAGS`` for ``name`` in this process's network namespace;
    None if there is no such interface."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        raw = fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, struct.pack("16sH14x", name.encode()[:15], 0))
    except OSError:
        return None
    finally:
        s.close()
    flags = struct.unpack_from("16sH", raw)[1]
    return InterfaceFlags(
        up=bool(flags & _IFF_UP),
        running=bool(flags & _IFF_RUNNING),
        loopback=bool(flags & _IFF_LOOPBACK),
        broadcast=bool(flags & _IFF_BROADCAST),
    )


@dataclass(frozen=True)
class SocketSettings:
    """``interfaces-config`` as plain values, Kea's defaults."""

    interfaces: Tuple[str, ...] = ()
    socket_type: str = "raw"
    outbound_interface: str = "same-as-inbound"
    re_detect: bool = False
    service_sockets_require_all: bool = False
    service_sockets_max_retries: int = 0
    service_sockets_retry_wait_time: int = 5000


_KEYS = {
    "interfaces": "interfaces",
    "dhcp-socket-type": "socket_type",
    "outbound-interface": "outbound_interface",
    "re-detect": "re_detect",
    "service-sockets-require-all": "service_sockets_require_all",
    "service-sockets-max-retries": "service_sockets_max_retries",
    "service-sockets-retry-wait-time": "service_sockets_retry_wait_time",
}


def settings_from(config: Any) -> SocketSettings:
    """Read ``interfaces-config`` from an object with the snake_case
    attributes (the config model's ``InterfacesConfig``), a mapping with
    Kea's keys (the JSON), or a :class:`SocketSettings`; missing values take
    Kea's defaults.  ``dhcp_socket_type`` is accepted for ``socket_type``."""
    if isinstance(config, SocketSettings):
        return config
    values: Dict[str, Any] = {}
    if isinstance(config, Mapping):
        for key, field in _KEYS.items():
            if key in config:
                values[field] = config[key]
    else:
        for field in _KEYS.values():
            if hasattr(config, field):
                values[field] = getattr(config, field)
        if "socket_type" not in values and hasattr(config, "dhcp_socket_type"):
            values["socket_type"] = config.dhcp_socket_type
    values["interfaces"] = tuple(values.get("interfaces") or ())
    return SocketSettings(**values)


def parse_interface_entry(entry: str) -> Tuple[str, Optional[IPv4Address]]:
    """``"eth0"`` → ``("eth0", None)``, ``"eth0/192.0.2.1"`` → ``("eth0",
    IPv4Address("192.0.2.1"))``, ``"*"`` → ``("*", None)``; spaces around
    either part are ignored, as Kea trims them.  Raises ``ValueError`` on an
    empty name or address or a bad address (the config loader rejects those
    first)."""
    name, sep, addr = entry.partition("/")
    name, addr = name.strip(), addr.strip()
    if not name:
        raise ValueError("empty interface name used in configuration")
    if not sep:
        return name, None
    if not addr:
        raise ValueError("empty address specified in the interface configuration")
    return name, IPv4Address(addr)


def plan_sockets(
    settings: SocketSettings,
    detected: Mapping[str, Sequence[IPv4Address]],
    flags: Callable[[str], Optional[InterfaceFlags]],
) -> Tuple[List[Tuple[str, IPv4Address]], List[str]]:
    """Kea's choice of sockets: ``([(iface, address), …], [error, …])``.

    :param detected: interface name → IPv4 addresses, in the kernel's order
        (:func:`kea_twisted.net.interfaces.ipv4_interfaces`).
    :param flags: interface name → its flags, or None if it does not exist.
    """
    wildcard = False
    names: List[str] = []
    explicit: Dict[str, List[IPv4Address]] = {}
    errors: List[str] = []
    for entry in settings.interfaces:
        try:
            name, addr = parse_interface_entry(entry)
        except ValueError as e:
            errors.append(str(e))
            continue
        if name == "*" and addr is None:
            wildcard = True
        elif addr is None:
            if name not in names:
                names.append(name)
        else:
            explicit.setdefault(name, []).append(addr)

    for name in list(names) + [n for n in explicit if n not in names]:
        if name not in detected:
            errors.append(f"fail to open socket on interface '{name}' as this interface doesn't exist")

    loopback_allowed = settings.socket_type == "udp"
    plan: List[Tuple[str, IPv4Address]] = []
    for name, addresses in detected.items():
        selected = name in names or name in explicit
        iface_flags = flags(name)
        if iface_flags is None:
            if selected:
                errors.append(f"fail to open socket on interface '{name}' as this interface doesn't exist")
            continue
        if iface_flags.loopback:
            if not selected:
                continue  # the wildcard never selects the loopback
            if not loopback_allowed:
                errors.append(f"must not open socket on the loopback interface {name}")
                continue
        elif not (wildcard or selected):
            continue
        if not iface_flags.up:
            errors.append(f"the interface {name} is down")
            continue
        if not iface_flags.running:
            errors.append(f"the interface {name} is not running")
            continue
        if not addresses:
            errors.append(f"the interface {name} has no usable IPv4 addresses configured")
            continue
        if wildcard or name in names:
            chosen = list(addresses)
        else:
            chosen = []
            for addr in explicit[name]:
                if addr in addresses:
                    chosen.append(addr)
                else:
                    errors.append(f"interface '{name}' doesn't have address '{addr}' assigned")
            chosen = [a for a in addresses if a in chosen]  # the kernel's order
        for addr in chosen:
            if (name, addr) not in plan:
                plan.append((name, addr))
    return plan, errors


class ServiceSocketsFailed(Exception):
    """Some service sockets could not be opened after every retry and
    ``service-sockets-require-all`` is true: Kea shuts down (exit 1)."""

    def __init__(self, max_retries: int, errors: Sequence[str]) -> None:
        super().__init__(
            f"maximum number of open service sockets attempts: {max_retries}, has been exhausted without success"
        )
        self.max_retries = max_retries
        self.errors = list(errors)


Opener = Callable[[Any, IPacketHandler, str, IPv4Address, int], Any]


def open_udp_listener(reactor: Any, handler: IPacketHandler, iface: str, addr: IPv4Address, port: int,
                      backlog: Any = None) -> Any:
    """A Kea-style UDP socket on the reactor (an ``IListeningPort``);
    ``backlog``: the server's :class:`~kea_twisted.net.udp.ReceiveBacklog`
    (multi-threading's ``packet-queue-size``), or None."""
    from kea_twisted.net.udp import Dhcp4Protocol, listen_udp, open_udp_socket

    sock = open_udp_socket(iface, addr, port)
    return listen_udp(reactor, sock, Dhcp4Protocol(handler, iface, addr, port, clock=reactor, backlog=backlog))


def udp_opener(backlog: Any) -> Opener:
    """An ``open_udp`` for :class:`ServiceSockets` whose sockets share
    ``backlog`` (a :class:`~kea_twisted.net.udp.ReceiveBacklog`)."""

    def open_udp(reactor: Any, handler: IPacketHandler, iface: str, addr: IPv4Address, port: int) -> Any:
        return open_udp_listener(reactor, handler, iface, addr, port, backlog=backlog)

    return open_udp


def open_raw_listener(reactor: Any, handler: IPacketHandler, iface: str, addr: IPv4Address, port: int) -> Any:
    """A raw (packet + fallback) socket pair on the reactor."""
    from kea_twisted.net.raw import RawDhcp4Port, open_raw_socket

    sock, fallback = open_raw_socket(iface, addr, port)
    listener = RawDhcp4Port(reactor, handler, iface, addr, port, sock, fallback)
    listener.startListening()
    return listener


class ServiceSockets:
    """The open service sockets of one configuration, and the retries.

    :param reactor: ``IReactorSocket`` + ``IReactorFDSet`` + ``IReactorTime``.
    :param settings: see :func:`settings_from`.
    :param handler: the engine.
    :param server_port: ``-p`` (67).
    :param detect, flags: interface discovery (injectable for tests).
    :param open_udp, open_raw: ``(reactor, handler, iface, addr, port) ->
        listener``; raise ``OSError`` when the socket cannot be opened.

    :ivar listeners: ``{(iface, address): listener}`` for the open sockets;
        each listener has ``stopListening()``.
    :ivar finished: see the module docstring.
    """

    def __init__(
        self,
        reactor: Any,
        settings: Any,
        handler: IPacketHandler,
        server_port: int = 67,
        *,
        detect: Callable[[], Mapping[str, Sequence[IPv4Address]]] = ipv4_interfaces,
        flags: Callable[[str], Optional[InterfaceFlags]] = interface_flags,
        open_udp: Opener = open_udp_listener,
        open_raw: Opener = open_raw_listener,
    ) -> None:
        self.reactor = reactor
        self.settings = settings_from(settings)
        self.handler = handler
        self.server_port = server_port
        self._detect = detect
        self._flags = flags
        self._open = open_udp if self.settings.socket_type == "udp" else open_raw
        self.listeners: Dict[Tuple[str, IPv4Address], Any] = {}
        self.finished: Deferred = Deferred()
        self.last_errors: List[str] = []
        self._retries_left = max(0, int(self.settings.service_sockets_max_retries))
        self._pending: Any = None
        self._started = False
        self._stopped = False

    def start(self) -> Deferred:
        """The first attempt (synchronous); returns :attr:`finished`."""
        if not self._started:
            self._started = True
            dhcp4_log.debug(
                "{msgid} opening service sockets on port {port}",
                msgid="DHCP4_OPEN_SOCKET",
                debuglevel=DBG_START,
                port=self.server_port,
            )
            self._attempt(initial=True)
        return self.finished

    def addresses(self) -> List[IPv4Address]:
        """The addresses of the open sockets (Kea accepts a server
        identifier equal to any of them, spec/dhcp4.md §4)."""
        return [addr for (_iface, addr) in self.listeners]

    def _attempt(self, initial: bool = False) -> None:
        self._pending = None
        if self._stopped:
            return
        try:
            detected = self._detect()
        except OSError as e:
            detected = {}
            errors = [f"interface detection failed: {e}"]
        else:
            errors = []
        plan, plan_errors = plan_sockets(self.settings, detected, self._flags)
        errors.extend(plan_errors)
        if initial and self.settings.socket_type == "raw":
            per_iface: Dict[str, int] = {}
            for iface, _addr in plan:
                per_iface[iface] = per_iface.get(iface, 0) + 1
            if any(n > 1 for n in per_iface.values()):
                dhcpsrv_log.warn(
                    "{msgid} current configuration will result in opening multiple broadcast capable sockets"
                    " on some interfaces and some DHCP messages may be duplicated",
                    msgid="DHCPSRV_MULTIPLE_RAW_SOCKETS_PER_IFACE",
                )
        for iface, addr in plan:
            if (iface, addr) in self.listeners:
                continue
            try:
                self.listeners[(iface, addr)] = self._open(self.reactor, self.handler, iface, addr, self.server_port)
            except OSError as e:
                errors.append(
                    f"Failed to open socket on interface {iface}, reason: {addr}/port={self.server_port}:"
                    f" {e.strerror or e}"
                )
        for error in errors:
            dhcpsrv_log.warn("{msgid} failed to open socket: {reason}", msgid="DHCPSRV_OPEN_SOCKET_FAIL", reason=error)
        if initial and not self.listeners:
            dhcpsrv_log.warn(
                "{msgid} no interface configured to listen to DHCP traffic", msgid="DHCPSRV_NO_SOCKETS_OPEN"
            )
        self.last_errors = errors
        if errors and self._retries_left > 0:
            self._retries_left -= 1
            wait = max(0, int(self.settings.service_sockets_retry_wait_time)) / 1000.0
            self._pending = self.reactor.callLater(wait, self._attempt)
            return
        if errors:
            dhcp4_log.info(
                "{msgid} maximum number of open service sockets attempts: {max_retries},"
                " has been exhausted without success",
                msgid="DHCP4_OPEN_SOCKETS_FAILED",
                max_retries=self.settings.service_sockets_max_retries,
            )
            if self.settings.service_sockets_require_all:
                self.finished.errback(ServiceSocketsFailed(self.settings.service_sockets_max_retries, errors))
                return
        self.finished.callback(self)

    def stop(self) -> Deferred:
        """Cancel a pending retry and close every socket; fires when all are
        closed.  :attr:`finished` fires (with self) if it had not yet."""
        self._stopped = True
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None
        listeners, self.listeners = list(self.listeners.values()), {}
        d = DeferredList([maybeDeferred(listener.stopListening) for listener in listeners], consumeErrors=True)
        if not self.finished.called:
            self.finished.callback(self)
        return d.addCallback(lambda _: None)


def open_service_sockets(
    reactor: Any, settings: Any, handler: IPacketHandler, server_port: int = 67, **kwargs: Any
) -> ServiceSockets:
    """Make a :class:`ServiceSockets`, run its first attempt, return it."""
    sockets = ServiceSockets(reactor, settings, handler, server_port, **kwargs)
    sockets.start()
    return sockets
