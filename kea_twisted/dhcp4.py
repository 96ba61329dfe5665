"""
The DHCPv4 engine: one datagram in, a reply or a drop out, with Kea 2.2's
semantics (spec/dhcp4.md; ``dhcp4_srv.cc`` ``processPacket``).

Pure: no socket, no reactor.  The network edge calls
:meth:`Dhcp4Engine.receive` with the bytes and an :class:`Arrival`; the
engine answers with :class:`Reply`, :class:`Drop` or (when a hook library
parks the query) a Deferred of one.  Time comes from an injected callable.

The order of a packet's path is Kea's: ``buffer4_receive``; decode
(malformed → drop ``DHCP4_PACKET_DROP_0001``); classification pass 1;
``pkt4_receive``; accept() (message type, server identifier); DROP class;
the message handler (subnet selection + ``subnet4_select``, host lookup,
KNOWN/UNKNOWN and pass 2, allocation, lease commit); ``leases4_committed``;
``pkt4_send``; encode; ``buffer4_send``.

Tests: tests/test_dhcp4.py, tests/test_conformance.py
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from socket import inet_ntoa
from ipaddress import IPv4Address
from typing import Callable, Dict, List, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from zope.interface import implementer

from kea_twisted import destination
from kea_twisted.allocation import AllocationContext
from kea_twisted.hostnames import FqdnError
from kea_twisted.datagrams import Arrival, Drop, IPacketHandler, Reply
from kea_twisted.hooks import DEFAULT_PARKED_PACKET_LIMIT, NextStep, ParkingLotFull
from kea_twisted.logs import kea_logger
from kea_twisted.options import parse_suboptions as _parse_suboptions
from kea_twisted.packet import HEADER_LEN, UNSPECIFIED, MalformedPacket, Packet4, decode, encode
from kea_twisted.selection import selector_for

__all__ = ["Dhcp4Engine", "DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPDECLINE",
           "DHCPACK", "DHCPNAK", "DHCPRELEASE", "DHCPINFORM"]

DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPDECLINE = 1, 2, 3, 4
DHCPACK, DHCPNAK, DHCPRELEASE, DHCPINFORM = 5, 6, 7, 8
_ACCEPTED_TYPES = (DHCPDISCOVER, DHCPREQUEST, DHCPDECLINE, DHCPRELEASE, DHCPINFORM)
_TYPE_NAMES = {1: "DHCPDISCOVER", 2: "DHCPOFFER", 3: "DHCPREQUEST", 4: "DHCPDECLINE",
               5: "DHCPACK", 6: "DHCPNAK", 7: "DHCPRELEASE", 8: "DHCPINFORM"}
_RECEIVED_STAT = {1: "pkt4-discover-received", 2: "pkt4-offer-received",
                  3: "pkt4-request-received", 4: "pkt4-decline-received",
                  5: "pkt4-ack-received", 6: "pkt4-nak-received",
                  7: "pkt4-release-received", 8: "pkt4-inform-received"}
_SENT_STAT = {2: "pkt4-offer-sent", 5: "pkt4-ack-sent", 6: "pkt4-nak-sent"}

ZERO = UNSPECIFIED
_SKIP, _DROP, _PARK = NextStep.SKIP, NextStep.DROP, NextStep.PARK

packet_log = kea_logger("packets")
bad_packet_log = kea_logger("bad-packets")
lease_log = kea_logger("leases")
dhcp4_log = kea_logger("dhcp4")


class _Dropped(Exception):
    """Internal: stop processing this query with Kea's drop message ID.

    ``counted``: Kea adds to ``pkt4-receive-drop`` for the drops of
    ``accept()``, the DROP class and exceptions, not for a handler that
    simply has no answer (no subnet, no address, an unknown INIT-REBOOT):
    spec/control-channel.md §4.2.
    """

    def __init__(self, msgid: str, reason: str = "", counted: bool = True):
        super().__init__(msgid)
        self.msgid = msgid
        self.reason = reason
        self.counted = counted


@dataclass
class _Answer:
    """What a message handler produced: the reply (None: no reply) and the
    leases for ``leases4_committed``."""

    reply: Optional[Packet4]
    subnet: object = None
    leases: Sequence = ()
    deleted: Sequence = ()
    silence: str = ""


def _requested_option(query: Packet4) -> Optional[bytes]:
    """Option 50's address bytes as Kea reads them: the first 4 (decoding
    refused fewer); none when the option came in several instances (Kea
    keeps a fused option untyped and finds no address in it)."""
    if 50 in query.fused:
        return None
    opt50 = query.options.get(50)
    return opt50[:4] if opt50 is not None else None


def _repacked_rai(rai: bytes) -> bytes:
    """Option 82 as Kea echoes it: re-packed from the sub-options it could
    parse, in code order (its option collection is ordered by code); an
    overrunning sub-option and what follows are left out."""
    suboptions = sorted(_parse_suboptions(rai), key=lambda item: item[0])
    return b"".join(bytes((code, len(payload))) + payload for code, payload in suboptions)


def _drive(pipeline, value=None, failure: Optional[Failure] = None):
    """Run a pipeline generator.  It yields what it waits for: a plain value
    comes straight back (the hot path stays synchronous); a Deferred (a
    callout that returned one, a parked packet) resumes it when it fires,
    and the result is then a Deferred too."""
    while True:
        try:
            if failure is not None:
                item = failure.throwExceptionIntoGenerator(pipeline)
                failure = None
            else:
                item = pipeline.send(value)
        except StopIteration as stop:
            return stop.value
        if isinstance(item, Deferred):
            return item.addCallbacks(lambda v: _drive(pipeline, v),
                                     lambda f: _drive(pipeline, None, f))
        value = item


def _label(query: Packet4) -> str:
    """Kea's packet label: ``[hwtype=1 aa:bb:..], cid=[..], tid=0x..``."""
    cid = query.options.get(61)
    cid_text = cid.hex(":") if cid else "no info"
    return "[hwtype=%d %s], cid=[%s], tid=0x%x" % (query.htype, query.hwaddr.hex(":"), cid_text, query.xid)


class _Label:
    """:func:`_label` worked out only when a log line is written: most
    debug lines are turned off, and the gate in kea_twisted.logs drops them
    before anything is formatted."""

    __slots__ = ("query",)

    def __init__(self, query: Packet4):
        self.query = query

    def __str__(self) -> str:
        return _label(self.query)

    def __format__(self, spec: str) -> str:
        return format(_label(self.query), spec)


class _AddressText:
    """An address in a log line, written with ``inet_ntoa`` (a C call)
    only when the line is: ``str(IPv4Address)`` is pure Python and costs
    four times as much, on the one line logged per lease at INFO."""

    __slots__ = ("address",)

    def __init__(self, address: IPv4Address):
        self.address = address

    def __str__(self) -> str:
        return inet_ntoa(self.address.packed)

    def __format__(self, spec: str) -> str:
        return format(inet_ntoa(self.address.packed), spec)


def _no_stat(name: str, value: int = 1) -> None:
    pass


@implementer(IPacketHandler)
class Dhcp4Engine:
    """Kea's DHCPv4 server logic over one runtime configuration.

    :param runtime: a :class:`kea_twisted.runtime.Dhcp4Runtime` (the
        configuration compiled for the hot path).
    :param clock: returns the current time in seconds (``reactor.seconds``).
    :param stats: a :class:`~kea_twisted.stats.StatsMgr` (optional).
    :param network_state: answers ``is_service_enabled()`` (``dhcp-disable``).
    :param hooks: a :class:`kea_twisted.hooks.HookRunner` (optional).
    :param server_port, client_port: ``-p`` / ``-P``.
    """

    def __init__(self, runtime, *, clock: Callable[[], float] = time.time, stats=None, hooks=None,
                 server_port: Optional[int] = None, client_port: Optional[int] = None,
                 network_state=None):
        self.runtime = runtime
        self.clock = clock
        self.stats = stats
        self.hooks = hooks
        self.server_port = server_port
        self.client_port = client_port
        self.network_state = network_state
        #: ``(name, delta=1)``: Kea's ``StatsMgr::addValue``, bound once.
        self._stat: Callable[..., None] = stats.add_value if stats is not None else _no_stat
        if stats is not None:
            runtime.allocator.on_stat = self._stat
        self._server_id_cache = (None, b"")

    # -- entry point -----------------------------------------------------

    def receive(self, data: bytes, arrival: Arrival):
        """Process one datagram: Reply, Drop, or a Deferred of one (when a
        callout returned a Deferred or parked the query)."""
        if self.network_state is not None and not self.network_state.is_service_enabled():
            # Kea checks this before processing: nothing is counted.
            bad_packet_log.debug("{msgid} DHCP service is globally disabled", msgid="DHCP4_PACKET_DROP_0008",
                                 debuglevel=40)
            return Drop("DHCP4_PACKET_DROP_0008")
        if len(data) < HEADER_LEN:
            # Kea cannot even build the packet object: only a log line.
            packet_log.error("{msgid} error on receive: Truncated DHCPv4 packet (len={n}) received, at least {min} is expected.",
                             msgid="DHCP4_BUFFER_RECEIVE_FAIL", n=len(data), min=HEADER_LEN)
            return Drop("DHCP4_BUFFER_RECEIVE_FAIL")
        return _drive(self._pipeline(data, arrival))

    def _hooked(self, point: str) -> bool:
        hooks = self.hooks
        return hooks is not None and hooks.has_callouts(point)

    def _pipeline(self, data: bytes, arrival: Arrival):
        """Kea's processPacket as a generator (see :func:`_drive`)."""
        self._stat("pkt4-received")
        hooks = self.hooks
        handle = None
        try:
            if self._hooked("buffer4_receive"):
                query = Packet4.received(data)
                self._set_arrival(query, arrival)
                handle = hooks.create_handle()
                step = yield self._call_hook("buffer4_receive", handle, query4=query)
                query = handle.arguments.get("query4", query)
                if step is _DROP:
                    dhcp4_log.debug("{msgid} callouts dropped the packet from {src} to {dst} on {iface}",
                                    msgid="DHCP4_HOOK_BUFFER_RCVD_DROP", src=arrival.remote_addr,
                                    dst=arrival.local_addr, iface=arrival.iface, debuglevel=40)
                    return Drop("DHCP4_HOOK_BUFFER_RCVD_DROP")
                try:
                    query.unpack()
                except MalformedPacket as e:
                    return self._parse_failed(arrival, e)
            else:
                try:
                    query = decode(data)
                except MalformedPacket as e:
                    return self._parse_failed(arrival, e)
                self._set_arrival(query, arrival)
            raw_type = query.options.get(53)
            self._stat(_RECEIVED_STAT.get(raw_type[0] if raw_type else 0, "pkt4-unknown-received"))
            try:
                if hooks is not None and handle is None:
                    handle = hooks.create_handle()
                return (yield from self._process(query, arrival, handle))
            except _Dropped as d:
                if d.counted:
                    self._stat("pkt4-receive-drop")
                bad_packet_log.debug("{msgid} {label}: {reason}", msgid=d.msgid, label=_Label(query),
                                     reason=d.reason, debuglevel=40)
                return Drop(d.msgid)
            except Exception:
                # Kea: any exception while processing drops the packet (_0007).
                self._stat("pkt4-receive-drop")
                bad_packet_log.failure("{msgid} {label}: exception processing packet",
                                       msgid="DHCP4_PACKET_DROP_0007", label=_Label(query))
                return Drop("DHCP4_PACKET_DROP_0007")
        finally:
            if handle is not None:
                hooks.release_handle(handle)

    @staticmethod
    def _set_arrival(query: Packet4, arrival: Arrival) -> None:
        query.iface = arrival.iface
        query.remote_addr = arrival.remote_addr
        query.remote_port = arrival.remote_port
        query.local_addr = arrival.local_addr
        query.local_port = arrival.local_port

    def _parse_failed(self, arrival: Arrival, e: MalformedPacket) -> Drop:
        self._stat("pkt4-parse-failed")
        self._stat("pkt4-receive-drop")
        bad_packet_log.debug(
            "{msgid} failed to parse packet from {src} to {dst}, received over interface {iface}, reason: {reason}, dropping",
            msgid="DHCP4_PACKET_DROP_0001", src=arrival.remote_addr, dst=arrival.local_addr,
            iface=arrival.iface, reason=str(e), debuglevel=40,
        )
        return Drop("DHCP4_PACKET_DROP_0001")

    def _call_hook(self, point: str, handle, **arguments):
        """Set the hook point's arguments and run its callouts: the next
        step, or a Deferred of it."""
        handle.reset(**arguments)
        return self.hooks.call(point, handle)

    # -- the pipeline --------------------------------------------------------

    def _process(self, query: Packet4, arrival: Arrival, handle):
        rt = self.runtime
        now = int(self.clock())
        classes: List[str] = rt.classify_pass1(query)

        # accept(): message type first (spec §2.4).
        raw_type = query.options.get(53)
        if raw_type is None:
            raise _Dropped("DHCP4_PACKET_DROP_0009", "no message type")
        if 53 in query.fused or len(raw_type) < 1:
            raise _Dropped("DHCP4_PACKET_DROP_0004", "invalid message type")
        mtype = raw_type[0]
        if mtype not in _ACCEPTED_TYPES:
            raise _Dropped("DHCP4_PACKET_DROP_0005" if mtype >= 19 else "DHCP4_PACKET_DROP_0006",
                           f"unsupported message type {mtype}")
        if (mtype == DHCPINFORM and query.giaddr == ZERO and arrival.remote_addr == ZERO
                and query.ciaddr == ZERO):
            raise _Dropped("DHCP4_PACKET_DROP_0002", "INFORM from an unknown source")
        server_id = query.options.get(54)
        if server_id is not None and not rt.accepts_server_id(query, server_id, classes):
            raise _Dropped("DHCP4_PACKET_DROP_0003", "not for this server")

        if self._hooked("pkt4_receive"):
            step = yield self._call_hook("pkt4_receive", handle, query4=query)
            query = handle.arguments.get("query4", query)
            if step is _SKIP or step is _DROP:
                dhcp4_log.debug("{msgid} {label}: callouts dropped the packet", msgid="DHCP4_HOOK_PACKET_RCVD_SKIP",
                                label=_Label(query), debuglevel=50)
                return Drop("DHCP4_HOOK_PACKET_RCVD_SKIP")
        if "DROP" in classes:
            raise _Dropped("DHCP4_PACKET_DROP_0010", "in DROP class")

        if mtype == DHCPDISCOVER:
            answer = yield from self._discover(query, arrival, classes, now, handle)
        elif mtype == DHCPREQUEST:
            answer = yield from self._request(query, arrival, classes, now, handle)
        elif mtype == DHCPRELEASE:
            answer = yield from self._release(query, handle)
        elif mtype == DHCPDECLINE:
            answer = yield from self._decline(query, classes, now, handle)
        else:
            answer = yield from self._inform(query, arrival, classes, now, handle)

        if self._hooked("leases4_committed"):
            dropped = yield from self._leases_committed(query, answer, handle)
            if dropped is not None:
                return dropped
        if answer.reply is None:
            return Drop(answer.silence)
        return (yield from self._send(query, answer, arrival, handle))

    def _leases_committed(self, query: Packet4, answer: "_Answer", handle):
        """``leases4_committed`` with Kea's parking (dhcp4_srv.cc
        processDhcp4Query): a Drop, or None to go on."""
        hooks = self.hooks
        released: Deferred = Deferred()
        handle.reset(query4=query, leases4=list(answer.leases), deleted_leases4=list(answer.deleted))
        limit = getattr(self.runtime.config, "parked_packet_limit", DEFAULT_PARKED_PACKET_LIMIT)
        try:
            step = yield hooks.call_parkable(
                "leases4_committed", handle, query, lambda: released.callback(True), limit,
                on_drop=lambda: released.callback(False),
            )
        except ParkingLotFull:
            self._stat("pkt4-receive-drop")
            packet_log.debug("{msgid} parked packet limit {limit} reached, dropping {label}",
                             msgid="DHCP4_HOOK_LEASES4_PARKING_LOT_FULL", limit=limit, label=_Label(query),
                             debuglevel=40)
            return Drop("DHCP4_HOOK_LEASES4_PARKING_LOT_FULL")
        if step is _PARK:
            dhcp4_log.debug("{msgid} {label}: packet parked by the callouts",
                            msgid="DHCP4_HOOK_LEASES4_COMMITTED_PARK", label=_Label(query), debuglevel=50)
            if not (yield released):
                return Drop("DHCP4_HOOK_LEASES4_COMMITTED_DROP")
            return None
        if step is _DROP:
            dhcp4_log.debug("{msgid} {label}: callouts dropped the response",
                            msgid="DHCP4_HOOK_LEASES4_COMMITTED_DROP", label=_Label(query), debuglevel=40)
            return Drop("DHCP4_HOOK_LEASES4_COMMITTED_DROP")
        return None

    def _send(self, query: Packet4, answer: "_Answer", arrival: Arrival, handle):
        """``pkt4_send``, pack, ``buffer4_send``, the sent statistics."""
        reply = answer.reply
        route = self._route(query, reply, arrival)
        skip_pack = False
        if self._hooked("pkt4_send"):
            step = yield self._call_hook("pkt4_send", handle, query4=query, response4=reply,
                                         subnet4=answer.subnet)
            if step is _DROP:
                dhcp4_log.debug("{msgid} {label}: callouts dropped the response",
                                msgid="DHCP4_HOOK_PACKET_SEND_DROP", label=_Label(query), debuglevel=40)
                return Drop("DHCP4_HOOK_PACKET_SEND_DROP")
            skip_pack = step is _SKIP
        if not skip_pack:
            reply.raw = encode(reply)
        if self._hooked("buffer4_send"):
            step = yield self._call_hook("buffer4_send", handle, response4=reply)
            if step is _SKIP or step is _DROP:
                dhcp4_log.debug("{msgid} {label}: callouts dropped the response",
                                msgid="DHCP4_HOOK_BUFFER_SEND_SKIP", label=_Label(query), debuglevel=50)
                return Drop("DHCP4_HOOK_BUFFER_SEND_SKIP")
            reply = handle.arguments.get("response4", reply)
        return self._sent(query, reply, route, arrival)

    # -- helpers shared by handlers ------------------------------------------

    def _client_id(self, query: Packet4) -> Optional[bytes]:
        cid = query.options.get(61)
        if cid is not None and not 2 <= len(cid) <= 128:
            # Kea's ClientId takes 2 to 128 bytes and throws otherwise.
            raise _Dropped("DHCP4_PACKET_DROP_0007", "client-id of invalid length")
        return cid

    def _check_identity(self, query: Packet4, client_id: Optional[bytes]) -> None:
        if not query.chaddr and not client_id:
            raise _Dropped("DHCP4_PACKET_DROP_0007", "no hw address and no client id")

    def _select_subnet(self, query: Packet4, arrival: Arrival, classes: List[str], handle):
        """Subnet selection, then ``subnet4_select`` (a generator: the
        subnet, or None).  SKIP means no subnet; DROP drops the query."""
        subnet = self.runtime.selector.select(selector_for(query, arrival), classes)
        if self._hooked("subnet4_select"):
            step = yield self._call_hook("subnet4_select", handle, query4=query, subnet4=subnet,
                                         subnet4collection=tuple(self.runtime.subnets.values()))
            if step is _DROP:
                raise _Dropped("DHCP4_HOOK_SUBNET4_SELECT_DROP", "callouts dropped the packet", counted=False)
            if step is _SKIP:
                return None
            subnet = handle.arguments.get("subnet4", subnet)
        return subnet

    def _host_phase(self, query: Packet4, subnet, classes: List[str], handle=None):
        """Host lookup, KNOWN/UNKNOWN, reserved classes, pass 2, DROP
        (expressions.md §7-§8)."""
        rt = self.runtime
        hosts, identifiers, host = rt.find_hosts(query, subnet, self._flex_id(handle))
        classes = rt.classify_after_hosts(query, classes, host, subnet, hosts)
        if "DROP" in classes:
            raise _Dropped("DHCP4_PACKET_DROP_0013", "in DROP class after host lookup")
        return hosts, identifiers, host, classes

    def _flex_id(self, handle):
        """``host4_identifier`` for a ``flex-id`` in host-reservation-identifiers:
        the callouts set ``id_value``; used when they leave CONTINUE and a
        value (dhcp4_srv.cc, Host::IDENT_FLEX).  Synchronous, as in Kea."""
        if handle is None or not self._hooked("host4_identifier"):
            return None

        def ask(query: Packet4) -> bytes:
            handle.reset(query4=query, id_type="flex-id", id_value=b"")
            step = self.hooks.call_now("host4_identifier", handle)
            value = handle.arguments.get("id_value") or b""
            return bytes(value) if step is NextStep.CONTINUE else b""

        return ask

    def _reply_base(self, query: Packet4, mtype: int) -> Packet4:
        """A reply with the query's header fields and the echoed options
        (spec §1, §10.1 step 1)."""
        rt = self.runtime
        # Kea cannot pack a hardware address longer than chaddr: for hlen
        # 17-20 the reply's chaddr is all zeros (conformance malformed-hlen17).
        # Positional (op, htype, hlen, hops, xid, secs, flags, ciaddr,
        # yiaddr, siaddr, giaddr, chaddr): one per reply, and keyword
        # matching costs as much again as building the packet.
        reply = Packet4(2, query.htype, min(query.hlen, 16), query.hops, query.xid, 0, query.flags,
                        ZERO, ZERO, ZERO, query.giaddr, query.chaddr if query.hlen <= 16 else b"")
        options: Dict[int, bytes] = {53: bytes([mtype])}
        cid = query.options.get(61)
        if cid is not None and rt.echo_client_id:
            options[61] = cid
        rai = query.options.get(82)
        if rai:
            echoed = _repacked_rai(rai)
            if echoed:
                options[82] = echoed
        sel = query.options.get(118)
        if sel is not None:
            options[118] = sel
        reply.options = options
        return reply

    def _route(self, query: Packet4, reply: Packet4, arrival: Arrival):
        """Server identifier and destination (spec §13); sets the flags."""
        rt = self.runtime
        mtype = reply.options[53][0]
        if 54 not in reply.options:
            reply.options[54] = self._server_id(arrival.local_addr)
        relay_port = None
        rai = query.relay_suboptions() if 82 in query.options else {}
        port_opt = rai.get(19)
        # Kea answers to the relay's source port whenever the relay-port
        # sub-option is there, whatever its length (checkRelayPort).
        if port_opt is not None and query.giaddr != ZERO:
            relay_port = query.remote_port or None
        route = destination.route_reply(
            query_type=query.options[53][0], query_flags=query.flags, ciaddr=query.ciaddr,
            giaddr=query.giaddr, remote_addr=arrival.remote_addr, local_addr=arrival.local_addr,
            reply_type=mtype, yiaddr=reply.yiaddr, direct_response=arrival.socket_type == "raw",
            use_routing=rt.use_routing and arrival.socket_type == "udp", relay_port=relay_port,
            server_port=self.server_port, client_port=self.client_port,
        )
        reply.flags = route.flags
        return route

    def _server_id(self, local_addr: IPv4Address) -> bytes:
        """Option 54 from the receiving socket's address, which is one
        object per socket: its bytes are remembered for the next query."""
        cached = self._server_id_cache
        if cached[0] is not local_addr:
            cached = self._server_id_cache = (local_addr, local_addr.packed)
        return cached[1]

    def _sent(self, query: Packet4, reply: Packet4, route, arrival: Arrival) -> Reply:
        mtype = reply.options[53][0]
        self._stat("pkt4-sent")
        stat = _SENT_STAT.get(mtype)
        if stat:
            self._stat(stat)
        if packet_log.debug_level >= 40:
            packet_log.debug("{msgid} {label}: trying to send packet {type} (type {mtype}) from {src}:{sport} to {dst}:{dport} on interface {iface}",
                             msgid="DHCP4_PACKET_SEND", label=_Label(query), type=_TYPE_NAMES.get(mtype, mtype),
                             mtype=mtype, src=route.source_addr, sport=route.source_port, dst=route.dest_addr,
                             dport=route.dest_port, iface=arrival.iface, debuglevel=40)
        return Reply(data=reply.raw, dest_addr=route.dest_addr, dest_port=route.dest_port,
                     iface=arrival.iface, source_addr=route.source_addr)

    def _nak(self, query: Packet4, subnet=None, old_lease=None) -> "_Answer":
        reply = self._reply_base(query, DHCPNAK)
        packet_log.debug("{msgid} {label}: NAK", msgid="DHCP4_PACKET_NAK_0001", label=_Label(query),
                         debuglevel=45)
        return _Answer(reply, subnet)

    # -- DISCOVER ------------------------------------------------------------

    def _discover(self, query: Packet4, arrival: Arrival, classes: List[str], now: int, handle):
        rt = self.runtime
        if 54 in query.options:
            # Kea throws while processing a DISCOVER carrying a server id.
            raise _Dropped("DHCP4_PACKET_DROP_0007", "server identifier in DISCOVER")
        client_id = self._client_id(query)
        self._check_identity(query, client_id)
        subnet = yield from self._select_subnet(query, arrival, classes, handle)
        if subnet is None:
            raise _Dropped("DHCP4_SUBNET_SELECTION_FAILED", "no subnet", counted=False)
        hosts, identifiers, host, classes = self._host_phase(query, subnet, classes, handle)
        requested = self._requested_address(query)
        reply = self._reply_base(query, DHCPOFFER)
        names = self._names(query, host, subnet)
        ctx = self._context(query, subnet, classes, client_id, requested, now, hosts, identifiers,
                            names, fake=True, handle=handle)
        result = rt.allocator.discover_lease4(ctx)
        if result.lease is None:
            raise _Dropped("DHCP4_PACKET_NAK_0003", "no address available", counted=False)
        self._fill_lease_reply(query, reply, result, classes, host, names, ctx)
        # An offer commits nothing: Kea's context has no new lease then.
        return _Answer(reply, result.subnet)

    # -- REQUEST -------------------------------------------------------------

    def _request(self, query: Packet4, arrival: Arrival, classes: List[str], now: int, handle):
        rt = self.runtime
        client_id = self._client_id(query)
        self._check_identity(query, client_id)
        opt50 = _requested_option(query)
        has_server_id = 54 in query.options
        if has_server_id:
            requested = IPv4Address(opt50) if opt50 is not None else (query.ciaddr if query.ciaddr != ZERO else None)
            init_reboot = False
        elif opt50 is not None:
            requested = IPv4Address(opt50)
            init_reboot = True
        elif query.ciaddr != ZERO:
            requested = query.ciaddr
            init_reboot = False
        else:
            requested = None
            init_reboot = False

        subnet = yield from self._select_subnet(query, arrival, classes, handle)
        if subnet is None:
            return self._nak(query)
        hosts, identifiers, host, classes = self._host_phase(query, subnet, classes, handle)

        if init_reboot:
            lease = rt.client_lease_in_network(query, client_id, subnet, classes)
            if lease is None:
                if not rt.authoritative(subnet):
                    raise _Dropped("DHCP4_NO_LEASE_INIT_REBOOT", "INIT-REBOOT of an unknown client",
                                   counted=False)
                return self._nak(query, subnet)
            if lease.address != requested:
                return self._nak(query, subnet)

        reply = self._reply_base(query, DHCPACK)
        reply.ciaddr = query.ciaddr
        names = self._names(query, host, subnet)
        ctx = self._context(query, subnet, classes, client_id, requested, now, hosts, identifiers,
                            names, fake=False, handle=handle)
        result = rt.allocator.request_lease4(ctx)
        if result.lease is None:
            if result.unknown_requested_addr and not self._in_any_pool(subnet, requested):
                # Outside every pool (classes aside): silence.  Inside a pool
                # the client's classes may not use: NAK (Kea's assignLease).
                raise _Dropped("DHCP4_UNKNOWN_ADDRESS_REQUESTED", "address outside the pools",
                               counted=False)
            return self._nak(query, subnet)
        lease = self._fill_lease_reply(query, reply, result, classes, host, names, ctx)
        lease_log.info("{msgid} {label}: lease {addr} has been allocated for {lft} seconds",
                       msgid="DHCP4_LEASE_ALLOC", label=_Label(query), addr=_AddressText(result.lease.address),
                       lft=result.lease.valid_lifetime)
        # leases4_committed: the new lease unless reused from the cache (not
        # committed), the old one when the client moved (dhcp4_srv.cc).
        old = result.old_lease
        return _Answer(reply, result.subnet,
                       leases=() if result.reusable_valid_lifetime else (lease,),
                       deleted=(old,) if old is not None and old.address != lease.address else ())

    @staticmethod
    def _in_any_pool(subnet, address) -> bool:
        """In a pool of the subnet or its shared network, whatever the
        classes (Kea walks getNextSubnet without classes here)."""
        value = int(address)
        current = subnet
        while current is not None:
            if current.in_pool(value):
                return True
            current = current.next_subnet(subnet)
        return False

    def _names(self, query: Packet4, host, subnet):
        try:
            return self.runtime.client_names(query, host, subnet)
        except FqdnError as e:
            # Kea fails to unpack such an option 81 and drops the packet.
            raise _Dropped("DHCP4_PACKET_DROP_0001", f"bad client FQDN: {e}")

    def _requested_address(self, query: Packet4) -> Optional[IPv4Address]:
        opt50 = _requested_option(query)
        if opt50 is not None:
            return IPv4Address(opt50)
        if query.ciaddr != ZERO:
            return query.ciaddr
        return None

    def _allocation_callouts(self, query: Packet4, handle):
        """``lease4_select``/``lease4_renew`` for the allocation engine, which
        calls them synchronously (a callout's Deferred is not waited for)."""
        hooks = self.hooks
        if hooks is None or not (hooks.has_callouts("lease4_select") or hooks.has_callouts("lease4_renew")):
            return None

        def call(point: str, **arguments):
            if not hooks.has_callouts(point):
                return False, arguments
            handle.reset(query4=query, **arguments)
            return hooks.call_now(point, handle) is _SKIP, dict(handle.arguments)

        return call

    def _context(self, query, subnet, classes, client_id, requested, now, hosts, identifiers,
                 names, *, fake: bool, handle=None) -> AllocationContext:
        rt = self.runtime
        hint = query.options.get(51)
        hint_value = int.from_bytes(hint[:4], "big") if hint is not None and len(hint) >= 4 else None
        hostname, fqdn_fwd, fqdn_rev = names.lease_hostname, names.fqdn_fwd, names.fqdn_rev

        def lifetime(s, _classes=classes, _hint=hint_value):
            return rt.valid_lifetime(s, _classes, _hint)

        return AllocationContext(
            subnet=subnet, classes=classes, hwaddr=query.chaddr, client_id=client_id,
            requested_address=requested, now=now, valid_lifetime=lifetime, fake_allocation=fake,
            hosts=hosts, host_identifiers=identifiers, hostname=hostname, fqdn_fwd=fqdn_fwd,
            fqdn_rev=fqdn_rev, relay_agent_info=query.options.get(82),
            callouts=self._allocation_callouts(query, handle) if handle is not None else None,
        )

    def _fill_lease_reply(self, query, reply, result, classes, host, names, ctx):
        """yiaddr, hostname/FQDN, lifetime and mask, required classes,
        options, fixed fields (spec §10.1).  Returns the lease as stored."""
        rt = self.runtime
        lease = result.lease
        subnet = result.subnet
        reply.yiaddr = lease.address
        final = names.after_allocation(lease.address)
        if final.generated and not ctx.fake_allocation:
            # Kea writes the lease once more with the generated name.
            lease = replace(lease, hostname=final.lease_hostname, fqdn_fwd=final.fqdn_fwd,
                            fqdn_rev=final.fqdn_rev)
            rt.store.update_lease(lease)
        for code, payload in final.name.options():
            reply.options[code] = payload
        # A lease reused from the cache goes out with its remaining lifetime.
        valid = result.reusable_valid_lifetime or lease.valid_lifetime
        reply.options[51] = valid.to_bytes(4, "big")
        reply.options[1] = subnet.netmask_packed
        t1, t2 = rt.tee_times(subnet, valid)
        if t1 is not None:
            reply.options[58] = t1.to_bytes(4, "big")
        if t2 is not None:
            reply.options[59] = t2.to_bytes(4, "big")
        rt.add_configured_options(query, reply, subnet, classes, host, lease.address)
        return lease

    # -- RELEASE -------------------------------------------------------------

    def _release(self, query: Packet4, handle):
        rt = self.runtime
        silence = _Answer(None, silence="release")
        client_id = query.options.get(61)
        lease = rt.store.get_lease4(query.ciaddr)
        if lease is None:
            lease_log.debug("{msgid} {label}: release of unknown address {addr}",
                            msgid="DHCP4_RELEASE_FAIL_NO_LEASE", label=_Label(query),
                            addr=query.ciaddr, debuglevel=40)
            return silence
        if not lease.belongs_to(client_id, query.chaddr):
            lease_log.debug("{msgid} {label}: release of {addr} by another client",
                            msgid="DHCP4_RELEASE_FAIL_WRONG_CLIENT", label=_Label(query),
                            addr=query.ciaddr, debuglevel=40)
            return silence
        if self._hooked("lease4_release"):
            step = yield self._call_hook("lease4_release", handle, query4=query, lease4=lease)
            if step is _SKIP or step is _DROP:
                # The callouts own the lease now: Kea neither deletes it nor counts.
                dhcp4_log.debug("{msgid} {label}: lease release skipped by the callouts",
                                msgid="DHCP4_HOOK_LEASE4_RELEASE_SKIP", label=_Label(query), debuglevel=50)
                return silence
        if rt.store.delete_lease(lease):
            self._stat(f"subnet[{lease.subnet_id}].assigned-addresses", -1)
            lease_log.info("{msgid} {label}: address {addr} was released properly.",
                           msgid="DHCP4_RELEASE", label=_Label(query), addr=lease.address)
            return _Answer(None, silence="release", deleted=(lease,))
        return silence

    # -- DECLINE -------------------------------------------------------------

    def _decline(self, query: Packet4, classes: List[str], now: int, handle):
        rt = self.runtime
        silence = _Answer(None, silence="decline")
        if 50 in query.fused:
            # Kea cannot read an address from an untyped (fused) option 50
            # and throws: dropped and counted.
            raise _Dropped("DHCP4_PACKET_DROP_0007", "DECLINE with a fused requested address")
        opt50 = query.options.get(50)
        if opt50 is None:
            raise _Dropped("DHCP4_PACKET_DROP_0007", "DECLINE without requested address")
        address = IPv4Address(opt50[:4])
        lease = rt.store.get_lease4(address)
        client_id = query.options.get(61)
        if lease is None:
            lease_log.warn("{msgid} {label}: decline of unknown address {addr}",
                           msgid="DHCP4_DECLINE_LEASE_NOT_FOUND", label=_Label(query), addr=address)
            return silence
        if not lease.belongs_to(client_id, query.chaddr):
            lease_log.warn("{msgid} {label}: decline of {addr} by another client",
                           msgid="DHCP4_DECLINE_LEASE_MISMATCH", label=_Label(query), addr=address)
            return silence
        declined = replace(
            lease, hwaddr=b"", client_id=None, hostname="", fqdn_fwd=False, fqdn_rev=False,
            state=1, cltt=now, valid_lifetime=rt.decline_probation_period,
        )
        if self._hooked("lease4_decline"):
            step = yield self._call_hook("lease4_decline", handle, query4=query, lease4=declined)
            if step is _SKIP or step is _DROP:
                dhcp4_log.debug("{msgid} {label}: lease decline skipped by the callouts",
                                msgid="DHCP4_HOOK_DECLINE_SKIP", label=_Label(query), debuglevel=50)
                return silence
        rt.store.update_lease(declined)
        self._stat(f"subnet[{lease.subnet_id}].declined-addresses")
        self._stat("declined-addresses")
        lease_log.info("{msgid} {label}: lease {addr} has been moved to the declined state for {secs} seconds",
                       msgid="DHCP4_DECLINE_LEASE", label=_Label(query), addr=address,
                       secs=rt.decline_probation_period)
        # Kea hands the declined lease to leases4_committed as a new lease.
        return _Answer(None, silence="decline", leases=(declined,))

    # -- INFORM --------------------------------------------------------------

    def _inform(self, query: Packet4, arrival: Arrival, classes: List[str], now: int, handle):
        rt = self.runtime
        subnet = yield from self._select_subnet(query, arrival, classes, handle)
        host = None
        if subnet is not None:
            _hosts, _ids, host, classes = self._host_phase(query, subnet, classes, handle)
        reply = self._reply_base(query, DHCPACK)
        reply.ciaddr = query.ciaddr
        if subnet is not None:
            rt.add_configured_options(query, reply, subnet, classes, host, None)
        if query.ciaddr != ZERO and query.giaddr != ZERO:
            # Relayed INFORM answered straight to ciaddr: not via the relay.
            reply.giaddr = ZERO
            reply.hops = 0
            reply.options.pop(82, None)
        return _Answer(reply, subnet)
