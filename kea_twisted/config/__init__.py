"""
Kea's ``Dhcp4`` configuration: the dialect pre-pass, the positioned loader
and the immutable model built from it.
"""

__all__ = []
