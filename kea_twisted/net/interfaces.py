"""
The machine's network interfaces and their IPv4 addresses.

Kea learns interfaces from the kernel (``IfaceMgr::detectIfaces``) and
refuses a configuration naming one that does not exist.  We ask the kernel
over rtnetlink (``RTM_GETADDR`` dump) so that every address is seen,
including secondary ones such as the ``127.0.3.x`` aliases the conformance
rig adds to ``lo`` (``SIOCGIFADDR`` only returns the first).  Interfaces with
no IPv4 address are listed too, with an empty address list.

The netlink answer is parsed by a pure function, tested on canned bytes.

Tests: tests/test_net_interfaces.py
"""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address
from typing import Dict, Iterator, List, Tuple

__all__ = ["ipv4_interfaces", "parse_rtm_newaddr_dump"]

_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # length, type

_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_IFA_ADDRESS = 1
_IFA_LOCAL = 2


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


def parse_rtm_newaddr_dump(data: bytes) -> Tuple[List[Tuple[int, IPv4Address, int]], bool]:
    """Parse netlink datagrams of an ``RTM_GETADDR`` dump.

    Returns ``([(ifindex, address, prefixlen), …], done)`` where ``done`` says
    an ``NLMSG_DONE`` was seen.  ``IFA_LOCAL`` is preferred over
    ``IFA_ADDRESS`` (they differ only on point-to-point links, where LOCAL is
    ours).
    """
    found: List[Tuple[int, IPv4Address, int]] = []
    done = False
    for msg_type, body in _messages(data):
        if msg_type in (_NLMSG_DONE, _NLMSG_ERROR):
            done = True
            continue
        if msg_type != _RTM_NEWADDR or len(body) < _IFADDRMSG.size:
            continue
        family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(body)
        if family != socket.AF_INET:
            continue
        attrs = {}
        offset = _IFADDRMSG.size
        while offset + _RTATTR.size <= len(body):
            length, attr_type = _RTATTR.unpack_from(body, offset)
            if length < _RTATTR.size or offset + length > len(body):
                break
            attrs[attr_type] = body[offset + _RTATTR.size : offset + length]
            offset += _align(length)
        raw = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS)
        if raw is not None and len(raw) == 4:
            found.append((index, IPv4Address(raw), prefixlen))
    return found, done


def _dump_addresses(timeout: float = 2.0) -> List[Tuple[int, IPv4Address, int]]:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.settimeout(timeout)
        request = _NLMSG_HEADER.pack(
            _NLMSG_HEADER.size + _IFADDRMSG.size, _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0
        ) + _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)
        sock.send(request)
        found: List[Tuple[int, IPv4Address, int]] = []
        for _ in range(10000):  # bounded: a dump ends with NLMSG_DONE
            chunk, done = parse_rtm_newaddr_dump(sock.recv(65536))
            found.extend(chunk)
            if done:
                break
        return found
    finally:
        sock.close()


def ipv4_interfaces() -> Dict[str, List[IPv4Address]]:
    """Every interface name of this machine, with its IPv4 addresses in the
    kernel's order (the first is what Kea calls the interface's address)."""
    names = {index: name for index, name in socket.if_nameindex()}
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
