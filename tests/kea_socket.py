"""A test's client for Kea's unix control socket (kea-dhcp4's and
kea_twisted's): one command per connection, the answer read until it is
complete JSON or the server closes (spec/control-channel.md §1)."""

from __future__ import annotations

import json
import socket
from typing import Any, Dict, Optional

__all__ = ["send_command"]


def send_command(path: str, command: str, arguments: Optional[Dict[str, Any]] = None,
                 timeout: float = 10.0) -> Dict[str, Any]:
    message: Dict[str, Any] = {"command": command}
    if arguments is not None:
        message["arguments"] = arguments
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps(message).encode())
        chunks = []
        for _ in range(10000):  # bounded: 640 MB at most
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            try:
                return json.loads(b"".join(chunks))
            except ValueError:
                continue
    return json.loads(b"".join(chunks))
