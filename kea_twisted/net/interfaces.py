"""
The machine's network interfaces and their IPv4 addresses.

Kea learns interfaces from the kernel (``IfaceMgr::detectIfaces``) and
refuses a configuration naming one that does not exist.  We ask the kernel
over rtnetlink (``RTM_GETADDR`` dump) so that every address is seen,
including secondary ones such as the ``127.0.3.x`` aliases the conformance
rig adds to ``lo`` (``SIOCGIFADDR`` only returns the first).  Interfaces with
no IPv4 address are listed too, with an empty address list.

Interface names come from ``socket.if_nameindex`` where the interpreter has
it; PyPy 7.3 (Debian 12's ``pypy3``) does not, and there an ``RTM_GETLINK``
dump over the same rtnetlink socket kind gives them (the kernel's own list
for this network namespace, as ``if_nameindex`` would).

The netlink answers are parsed by pure functions, tested on canned bytes.

Tests: tests/test_net_interfaces.py
"""

from __future__ import annotations

import os
import socket
import struct
from ipaddress import IPv4Address
from typing import Dict, Iterator, List, Tuple

__all__ = ["interface_names", "ipv4_interfaces", "parse_rtm_newaddr_dump", "parse_rtm_newlink_dump"]

_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_IFINFOMSG = struct.Struct("=BxHiII")  # family, pad, type, index, flags, change
_RTATTR = struct.Struct("=HH")  # length, type

_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_RTM_NEWLINK = 16
_RTM_GETLINK = 18
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFLA_IFNAME = 3


def _align(n: int) -> int:
    return (n + 3) & ~3


def _messages(data: bytes) -> Iterator[Tuple[int, bytes]]:
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(data):
        length, msg_type, _flags, _seq, _pid = _NLMSG_HEADER.unpack_from(data, offset)
        if length < _NLMSG_HEADER.size or offset + length > len(data):
            return
        yield msg_type, data[offset + _NLMSG_HEADER.size : offset + length]
        offset += _align(length)


def _attributes(body: bytes, offset: int) -> Dict[int, bytes]:
    attrs = {}
    while offset + _RTATTR.size <= len(body):
        length, attr_type = _RTATTR.unpack_from(body, offset)
        if length < _RTATTR.size or offset + length > len(body):
            break
        attrs[attr_type] = body[offset + _RTATTR.size : offset + length]
        offset += _align(length)
    return attrs


def _dump_bodies(data: bytes, wanted: int, header_size: int) -> Tuple[List[bytes], bool]:
    """The bodies of the ``wanted`` messages of a dump (those too short for
    their header left out), and whether the dump's end (``NLMSG_DONE``, or an
    ``NLMSG_ERROR`` answering the request) was seen."""
    bodies: List[bytes] = []
    done = False
    for msg_type, body in _messages(data):
        if msg_type in (_NLMSG_DONE, _NLMSG_ERROR):
            done = True
        elif msg_type == wanted and len(body) >= header_size:
            bodies.append(body)
    return bodies, done


def parse_rtm_newaddr_dump(data: bytes) -> Tuple[List[Tuple[int, IPv4Address, int]], bool]:
    """Parse netlink datagrams of an ``RTM_GETADDR`` dump.

    Returns ``([(ifindex, address, prefixlen), …], done)`` where ``done`` says
    an ``NLMSG_DONE`` was seen.  ``IFA_LOCAL`` is preferred over
    ``IFA_ADDRESS`` (they differ only on point-to-point links, where LOCAL is
    ours).
    """
    found: List[Tuple[int, IPv4Address, int]] = []
    bodies, done = _dump_bodies(data, _RTM_NEWADDR, _IFADDRMSG.size)
    for body in bodies:
        family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(body)
        if family != socket.AF_INET:
            continue
        attrs = _attributes(body, _IFADDRMSG.size)
        raw = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS)
        if raw is not None and len(raw) == 4:
            found.append((index, IPv4Address(raw), prefixlen))
    return found, done


def parse_rtm_newlink_dump(data: bytes) -> Tuple[List[Tuple[int, str]], bool]:
    """Parse netlink datagrams of an ``RTM_GETLINK`` dump.

    Returns ``([(ifindex, name), …], done)`` like ``socket.if_nameindex``
    plus whether an ``NLMSG_DONE`` was seen.  Names are the kernel's bytes
    decoded as ``if_nameindex`` does (filesystem encoding, surrogateescape).
    """
    found: List[Tuple[int, str]] = []
    bodies, done = _dump_bodies(data, _RTM_NEWLINK, _IFINFOMSG.size)
    for body in bodies:
        _family, _type, index, _flags, _change = _IFINFOMSG.unpack_from(body)
        raw = _attributes(body, _IFINFOMSG.size).get(_IFLA_IFNAME)
        if raw is not None:
            found.append((index, os.fsdecode(raw.split(b"\0", 1)[0])))
    return found, done


def _netlink_dump(request_type: int, family_message: bytes, parse, timeout: float = 2.0) -> list:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.settimeout(timeout)
        request = _NLMSG_HEADER.pack(
            _NLMSG_HEADER.size + len(family_message), request_type, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0
        ) + family_message
        sock.send(request)
        found: list = []
        for _ in range(10000):  # bounded: a dump ends with NLMSG_DONE
            chunk, done = parse(sock.recv(65536))
            found.extend(chunk)
            if done:
                break
        return found
    finally:
        sock.close()


def _dump_addresses() -> List[Tuple[int, IPv4Address, int]]:
    return _netlink_dump(_RTM_GETADDR, _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0), parse_rtm_newaddr_dump)


def _dump_links() -> List[Tuple[int, str]]:
    return _netlink_dump(_RTM_GETLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), parse_rtm_newlink_dump)


def interface_names() -> List[Tuple[int, str]]:
    """``[(ifindex, name), …]`` of this machine's interfaces: what
    ``socket.if_nameindex()`` answers, also on interpreters without it."""
    if_nameindex = getattr(socket, "if_nameindex", None)
    if if_nameindex is not None:
        return list(if_nameindex())
    return _dump_links()


def ipv4_interfaces() -> Dict[str, List[IPv4Address]]:
    """Every interface name of this machine, with its IPv4 addresses in the
    kernel's order (the first is what Kea calls the interface's address)."""
    names = {index: name for index, name in interface_names()}
    result: Dict[str, List[IPv4Address]] = {name: [] for name in names.values()}
    try:
        entries = _dump_addresses()
    except OSError:
        entries = []
    for index, address, _prefixlen in entries:
        name = names.get(index)
        if name is not None:
            result[name].append(address)
    return result
