"""
kea_twisted: a DHCPv4 server on Twisted that stands in for ISC Kea's
``kea-dhcp4`` (same config, lease file, control commands and HA protocol).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
