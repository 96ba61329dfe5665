"""
Built-in hook libraries.

A ``hooks-libraries`` entry naming Kea's shared object (for example
``/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so``) loads the
plugin of the same name from this package; other paths are loaded as Python
files providing ``IHookLibrary``.
"""

__all__ = []
