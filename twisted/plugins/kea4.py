"""
The ``twistd kea4`` plugin: a Kea-compatible DHCPv4 server.

Kept to one line of wiring so that a broken import elsewhere shows up as an
error when the service is made, not as a silently missing tap
(``twisted.plugin`` skips plugins that fail to import).
"""

from twisted.application.service import ServiceMaker

kea4 = ServiceMaker(
    "kea_twisted DHCPv4 server",
    "kea_twisted.tap",
    "A DHCPv4 server that is a drop-in for ISC Kea's kea-dhcp4",
    "kea4",
)
