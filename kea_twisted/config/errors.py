"""
The one error type of configuration loading.

Kea reports two kinds of failure, and ``kea-dhcp4 -t`` prints them
differently:

* syntax errors from its bison grammar (unknown keyword, wrong type, bad
  JSON): ``Syntax check failed with: <file>:<line>.<col>[-<endcol>]: <msg>``;
* semantic errors from the parsers behind it (pool outside subnet, duplicate
  id, …): ``Error encountered: <msg> (<file>:<line>:<col>)``.

Both are :class:`ConfigError`; ``syntax`` tells which, so the command line
can print each as Kea does.

Tests: tests/test_config_loader.py, tests/test_config_model.py
"""

from __future__ import annotations

from typing import Optional

from kea_twisted.config.element import Position

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """A configuration Kea would refuse.

    :param message: Kea's wording where Kea's is clear.
    :param pos: where the offending element starts (semantic errors).
    :param syntax: True for errors Kea's grammar reports.
    :param location: for syntax errors, the bison-style location text
        (``file:1.36-42``) Kea prints before the message.
    """

    def __init__(
        self,
        message: str,
        pos: Optional[Position] = None,
        *,
        syntax: bool = False,
        location: Optional[str] = None,
    ):
        self.message = message
        self.pos = pos
        self.syntax = syntax
        self.location = location
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.syntax:
            return f"{self.location}: {self.message}" if self.location else self.message
        if self.pos is not None:
            return f"{self.message} ({self.pos})"
        return self.message

    def kea_report(self) -> str:
        """The line ``kea-dhcp4 -t`` prints for this error."""
        if self.syntax:
            return f"Syntax check failed with: {self}"
        return f"Error encountered: {self}"
