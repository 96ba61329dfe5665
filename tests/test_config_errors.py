"""
Kea 2.2's semantic configuration errors, reproduced by
:func:`kea_twisted.config.builder.build_config`.

Each file of tests/configs/model/broken/ was checked with ``kea-dhcp4 -t``
(Kea 2.2.0, Debian package, run from that folder) and the last line it
printed is in :data:`KEA_OBSERVED`; kea_twisted's loader + grammar + builder
must print the same line (``ConfigError.kea_report()``), or accept the file
when Kea did.  The machine is described as having ``lo`` (127.0.0.1) and
``eth0`` only, as the machine Kea ran on.

Not covered here: client-class ``test`` expressions (Kea parses them at
load; kea_twisted keeps the text until the expression module compiles it).

Tests for: kea_twisted/config/builder.py
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from kea_twisted.config.builder import build_config
from kea_twisted.config.element import from_python
from kea_twisted.config.errors import ConfigError
from kea_twisted.config.grammar import check_grammar
from kea_twisted.config.loader import load_config_file

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "model", "broken")
INTERFACES = {"lo": [IPv4Address("127.0.0.1")], "eth0": [IPv4Address("10.0.0.5")]}

# Generated from runs of `kea-dhcp4 -t` (Kea 2.2.0, Debian) on each file of
# tests/configs/model/broken/: every expected line below was observed, with
# the file names relative to that folder. "" means Kea accepted the file.
KEA_OBSERVED = {
    'subnet_bad_prefix': 'Error encountered: subnet configuration failed: Invalid subnet syntax (prefix/len expected):192.0.2.0 (subnet_bad_prefix.json:10:19)',
    'subnet_bad_len': 'Error encountered: subnet configuration failed: Invalid prefix length specified for subnet: 33 (subnet_bad_len.json:10:19)',
    'subnet_len_text': "Error encountered: subnet configuration failed: prefix length: 'abc' is not an integer (subnet_len_text.json:10:19)",
    'subnet_bad_addr': "Error encountered: subnet configuration failed: Failed to convert string to address '192.0.2.300': Invalid argument",
    'subnet_v6': 'Error encountered: subnet configuration failed: Non IPv4 prefix 2001:db8:: specified in subnet4',
    'subnet_missing': "Syntax check failed with: missing parameter 'subnet' (subnet_missing.json:9:7) [subnet4 map between subnet_missing.json:9:7 and subnet_missing.json:11:7]",
    'pool_outside': 'Error encountered: subnet configuration failed: a pool of type V4, with the following address range: 10.0.0.1-10.0.0.5 does not match the prefix of a subnet: 192.0.2.0/24 to which it is being added (pool_outside.json:9:7)',
    'pool_outside_prefix': 'Error encountered: subnet configuration failed: a pool of type V4, with the following address range: 10.0.0.0-10.0.0.15 does not match the prefix of a subnet: 192.0.2.0/24 to which it is being added (pool_outside_prefix.json:9:7)',
    'pool_overlap': 'Error encountered: subnet configuration failed: a pool of type V4, with the following address range: 192.0.2.15-192.0.2.30 overlaps with an existing pool in the subnet: 192.0.2.0/24 to which it is being added (pool_overlap.json:9:7)',
    'pool_reversed': 'Error encountered: Failed to create pool defined by: 192.0.2.20-192.0.2.10 (pool_reversed.json:14:21)',
    'pool_bad_text': 'Error encountered: invalid pool definition: 192.0.2.10. There are two acceptable formats <min address-max address> or <prefix/len> (pool_bad_text.json:14:21)',
    'pool_bad_addr': 'Error encountered: Failed to parse pool definition: 192.0.2.10-192.0.2.300 (pool_bad_addr.json:14:21)',
    'pool_bad_len': 'Error encountered: Failed to create pool defined by: 192.0.2.0/40 (pool_bad_len.json:14:21)',
    'pool_missing': "Syntax check failed with: missing parameter 'pool' (pool_missing.json:13:11) [pools map between pool_missing.json:13:11 and pool_missing.json:15:11]",
    'dup_subnet_id': "Error encountered: ID of the new IPv4 subnet '1' is already in use (dup_subnet_id.json:18:7)",
    'dup_subnet_prefix': "Error encountered: subnet with the prefix of '192.0.2.0/24' already exists (dup_subnet_prefix.json:18:7)",
    'subnet_id_zero': "Error encountered: ID of the new IPv4 subnet '1' is already in use (subnet_id_zero.json:13:7)",
    'subnet_no_id': '',
    'subnet_no_id_dup': "Error encountered: ID of the new IPv4 subnet '1' is already in use (subnet_no_id_dup.json:12:7)",
    'min_gt_max': 'Error encountered: the value of min-valid-lifetime (5000) is not less than max-valid-lifetime (4000)',
    'valid_lt_min': 'Error encountered: the value of min-valid-lifetime (200) is not less than (default) valid-lifetime (100)',
    'valid_gt_max': 'Error encountered: the value of (default) valid-lifetime (5000) is not less than max-valid-lifetime (4000)',
    'subnet_valid_gt_max': 'Error encountered: subnet configuration failed: the value of (default) valid-lifetime (5000) is not less than max-valid-lifetime (4000)',
    'subnet_min_gt_max': 'Error encountered: subnet configuration failed: the value of min-valid-lifetime (5000) is not less than max-valid-lifetime (4000)',
    'renew_gt_rebind': 'Error encountered: subnet configuration failed: the value of renew-timer (3000) is greater than the value of rebind-timer (2000)',
    'renew_gt_rebind_subnet': 'Error encountered: subnet configuration failed: the value of renew-timer (3000) is greater than the value of rebind-timer (2000)',
    'renew_gt_rebind_global_nosubnet': '',
    't1_pct_bad': '',
    't1_gt_t2': '',
    'resv_outside': "Error encountered: specified reservation '10.0.0.1' is not within the IPv4 subnet '192.0.2.0/24'",
    'resv_dup_hw': "Error encountered: failed to add new host using the HW address 'aa:bb:cc:dd:ee:ff' to the IPv4 subnet id '1' as this host has already been added",
    'resv_dup_addr': "Error encountered: failed to add new host using the HW address 'aa:bb:cc:dd:ee:01 and DUID '(null)' to the IPv4 subnet id '1' for the address 192.0.2.50: There's already a reservation for this address",
    'resv_dup_addr_notunique': '',
    'resv_no_id': 'Error encountered: one of the supported identifiers must be specified for host reservation: circuit-id, client-id, duid, flex-id, hw-address (resv_no_id.json:18:11)',
    'resv_two_ids': "Error encountered: the 'hw-address' and 'client-id' are mutually exclusive (resv_two_ids.json:18:11)",
    'resv_bad_hw': "Error encountered: invalid host identifier value 'zz:bb' (resv_bad_hw.json:18:11)",
    'resv_bad_addr': "Error encountered: Failed to convert string to address '192.0.2.500': Invalid argument (resv_bad_addr.json:20:27)",
    'resv_no_resource': 'Error encountered: specified reservation for DUID: hwtype=1 aa:bb:cc:dd:ee:ff must include at least one resource, i.e. hostname, IPv4 address, IPv6 address/prefix, options',
    'resv_global_dup': "Error encountered: failed to add new host using the HW address 'aa:bb:cc:dd:ee:ff' to the IPv4 subnet id '0' as this host has already been added",
    'resv_bad_hostname': '',
    'resv_bad_next_server': "Error encountered: Failed to convert string to address 'x': Invalid argument (resv_bad_next_server.json:20:28)",
    'resv_ipv6_addr': "Error encountered: address '::1' is not a valid IPv4 address (resv_ipv6_addr.json:20:27)",
    'opt_bad_data': "Error encountered: option data does not match option definition (space: dhcp4, code: 3): Failed to convert string to address '1.2.3': Invalid argument (opt_bad_data.json:11:17)",
    'opt_code_nodef': "Error encountered: definition for the option 'dhcp4.' having code '200' does not exist (opt_code_nodef.json:9:7)",
    'opt_code_nodef_ok': '',
    'opt_name_code_mismatch': "Error encountered: specified option name 'routers' does not match the option definition: 'dhcp4.domain-name-servers' (opt_name_code_mismatch.json:10:17)",
    'opt_unknown_name': "Error encountered: definition for the option 'dhcp4.foo-bar' having code '0' does not exist (opt_unknown_name.json:10:17)",
    'opt_code_0': "Error encountered: invalid option code '0': reserved for PAD (opt_code_0.json:9:7)",
    'opt_code_255': "Error encountered: invalid option code '255': reserved for END (opt_code_255.json:9:7)",
    'opt_code_256': "Error encountered: invalid option code '256', it must not be greater than '255' (opt_code_256.json:10:17)",
    'opt_no_code_name': "Error encountered: option data configuration requires one of 'code' or 'name' parameters to be specified (opt_no_code_name.json:9:7)",
    'opt_subnet_bad': "Error encountered: option data does not match option definition (space: dhcp4, code: 3): Failed to convert string to address '1.2.3': Invalid argument (opt_subnet_bad.json:20:21)",
    'opt_pool_bad': "Error encountered: option data does not match option definition (space: dhcp4, code: 3): Failed to convert string to address 'x': Invalid argument (opt_pool_bad.json:18:25) (opt_pool_bad.json:15:13)",
    'opt_bad_space': "Error encountered: invalid option space name 'bad space' (opt_bad_space.json:12:18)",
    'optdef_dup': "Error encountered: option definition with name 'foo' already exists in option space 'dhcp4' (optdef_dup.json:14:7)",
    'optdef_dup_code': "Error encountered: option definition with code '222' already exists in option space 'dhcp4' (optdef_dup_code.json:14:7)",
    'optdef_bad_type': 'Error encountered: option type 18 not supported. (optdef_bad_type.json:9:7)',
    'optdef_std_code': "Error encountered: unable to override definition of option '3' in standard option space 'dhcp4' (optdef_std_code.json:9:7)",
    'optdef_std_name': "Error encountered: unable to override definition of option 'routers' in standard option space 'dhcp4' (optdef_std_name.json:9:7)",
    'optdef_code_0': "Error encountered: invalid option code '0': reserved for PAD (optdef_code_0.json:11:17)",
    'optdef_code_256': "Error encountered: invalid option code '256', it must not be greater than '255' (optdef_code_256.json:11:17)",
    'optdef_record_bad': "Error encountered: invalid record type values specified for the option definition: attempted to add invalid data type 'unknown' to the record. (optdef_record_bad.json:13:25)",
    'optdef_record_empty': "Error encountered: invalid number of data fields: 0 specified for the option of type 'record'. Expected at least 2 fields. (optdef_record_empty.json:9:7)",
    'optdef_bad_name': "Error encountered: invalid option name 'foo bar' (optdef_bad_name.json:9:7)",
    'optdef_array_encap': "Error encountered: option 'dhcp4.foo', comprising an array of data fields may not encapsulate any option space (optdef_array_encap.json:9:7)",
    'optdef_self_encap': "Error encountered: option must not encapsulate an option space it belongs to: 'dhcp4.foo' is set to encapsulate 'dhcp4' (optdef_self_encap.json:9:7)",
    'optdef_other_space_std_code': '',
    'class_dup': "Error encountered: Can't add class: Client Class: a has already been defined (class_dup.json:12:7)",
    'class_builtin_test': "Error encountered: built-in class 'ALL' test expression must be empty",
    'class_empty_name': "Error encountered: not empty parameter 'name' is required class_empty_name.json:10:17)",
    'class_no_name': "Syntax check failed with: missing parameter 'name' (class_no_name.json:9:7) [client-classes map between class_no_name.json:9:7 and class_no_name.json:11:7]",
    'class_bad_opt': "Error encountered: option data does not match option definition (space: dhcp4, code: 3): Failed to convert string to address '1.2.3': Invalid argument (class_bad_opt.json:14:21)",
    'class_bad_next_server': "Error encountered: Invalid next-server value specified: 'x' (class_bad_next_server.json:11:24)",
    'sn_dup': "Error encountered: duplicate network 'a' found in the configuration (sn_dup.json:8:5)",
    'sn_no_name': "Error encountered: missing parameter 'name' (sn_no_name.json:9:7)",
    'sn_subnet_twice': "Error encountered: ID of the new IPv4 subnet '1' is already in use",
    'sn_subnet_and_global': "Error encountered: ID of the new IPv4 subnet '1' is already in use (sn_subnet_and_global.json:25:7)",
    'sn_iface_missing': 'Error encountered: Specified network interface name eth1 for shared network frog is not present in the system (sn_iface_missing.json:11:22)',
    'sn_auth_mismatch': 'Error encountered: Subnet 192.0.2.0/24 has different authoritative setting false than the shared-network itself: true',
    'sn_iface_mismatch': 'Error encountered: Subnet 192.0.3.0/24 has specified interface eth0, but earlier subnet in the same shared-network or the shared-network itself used lo',
    'subnet_iface_missing': 'Error encountered: subnet configuration failed: Specified network interface name eth1 for subnet 192.0.2.0/24 is not present in the system (subnet_iface_missing.json:17:22)',
    'iface_missing': "Error encountered: Failed to select interface: interface 'eth1961' doesn't exist in the system (iface_missing.json:5:9) (iface_missing.json:4:7)",
    'iface_missing_addr': "Error encountered: Failed to select interface: interface 'lo' doesn't have address '127.0.0.2' assigned (iface_missing_addr.json:5:9) (iface_missing_addr.json:4:7)",
    'iface_bad_addr': "Error encountered: Failed to select interface: Failed to convert string to address 'abc': Invalid argument (iface_bad_addr.json:5:9) (iface_bad_addr.json:4:7)",
    'iface_star_twice': "Error encountered: Failed to select interface: the wildcard interface '*' can only be specified once (iface_star_twice.json:6:9) (iface_star_twice.json:4:7)",
    'iface_dup': "Error encountered: Failed to select interface: interface 'lo' has already been specified (iface_dup.json:6:9) (iface_dup.json:4:7)",
    'iface_star_addr': "Error encountered: Failed to select interface: wildcard interface name '*' must not be used in conjunction with an address (iface_star_addr.json:5:9) (iface_star_addr.json:4:7)",
    'iface_empty': 'Error encountered: Failed to select interface: empty interface name used in configuration (iface_empty.json:5:9) (iface_empty.json:4:7)',
    'lease_db_pg': '',
    'lease_db_mysql': '',
    'hosts_db_mysql': '',
    'lease_db_noname': '',
    'lease_db_bad_lfc': 'Error encountered: lfc-interval value: -1 is out of range, expected value: 0..4294967295 (lease_db_bad_lfc.json:10:23)',
    'next_server_bad': '',
    'next_server_v6': '',
    'subnet_next_server_bad': 'Error encountered: subnet configuration failed: invalid parameter next-server : abc(subnet_next_server_bad.json:17:24)',
    'sname_long': '',
    'file_long': '',
    'relay_bad': 'Error encountered: address abc is not a valid: IPv4address (relay_bad.json:18:11)',
    'relay_v6': 'Error encountered: address ::1 is not a: IPv4address (relay_v6.json:18:11)',
    'resmode_and_flags': "Error encountered: invalid use of both 'reservation-mode' and one of 'reservations-global', 'reservations-in-subnet' or 'reservations-out-of-pool' parameters",
    'hri_bad': 'Syntax check failed with: hri_bad.json:10.7-13: syntax error, unexpected constant string, expecting "," or ]',
    'hri_dup': "Error encountered: duplicate host identifier 'hw-address' (hri_dup.json:10:7)",
    'hostname_char_set_bad': '',
    'cache_threshold_bad': 'Error encountered: subnet configuration failed: cache-threshold: 1.5 is invalid, it must be greater than 0.0 and less than 1.0',
    'ddns_sender_bad': "Syntax check failed with: missing parameter 'enable-updates' (ddns_sender_bad.json:8:5) [dhcp-ddns map between ddns_sender_bad.json:8:18 and ddns_sender_bad.json:10:5]",
    'ddns_server_bad': "Syntax check failed with: missing parameter 'enable-updates' (ddns_server_bad.json:8:5) [dhcp-ddns map between ddns_server_bad.json:8:18 and ddns_server_bad.json:10:5]",
    'mt_queue_type': '',
    'negative_valid': '',
    'big_valid': '',
    'negative_renew_subnet': 'Error encountered: subnet configuration failed: the value of renew-timer (-5) must be a positive number',
    'o4o6_bad': 'Error encountered: subnet configuration failed: Missing / in the 4o6-subnet parameter:2001:db8::, expected format: prefix6/length',
    'subnet_class_ok': '',
    'require_empty_class': 'Error encountered: subnet configuration failed: invalid class name (require_empty_class.json:18:11)',
    'dhcp4o6_port_big': "Error encountered: out of range value (70000) specified for parameter 'dhcp4o6-port' (dhcp4o6_port_big.json:8:21)",
    'subnet_id_big': "Error encountered: subnet configuration failed: The 'id' value (4294967296) is not within expected range: (0 - 4294967294)",
    'subnet_id_neg': "Error encountered: subnet configuration failed: The 'id' value (-1) is not within expected range: (0 - 4294967294)",
    'ctrl_sock': '',
    'loggers_bad_sev': '',
    'resv_client_id_bad': "Error encountered: invalid host identifier value 'xyz' (resv_client_id_bad.json:18:11)",
    'resv_global_addr': '',
    'resv_flex_empty': 'Error encountered: empty host identifier used (resv_flex_empty.json:18:11)',
    'resv_circuit_quoted': '',
    'resv_dup_hostname': '',
    'resv_unknown_class': '',
    'valid_zero': '',
    'sample_count': '',
    'parked_neg': '',
    'decline_neg': "Error encountered: out of range value (-1) specified for parameter 'decline-probation-period' (decline_neg.json:8:33)",
    'expired_neg': "Error encountered: value for configuration parameter 'max-reclaim-leases' must not be negative (expired_neg.json:9:29)",
    'mt_neg': "Syntax check failed with: missing parameter 'enable-multi-threading' (mt_neg.json:8:5) [multi-threading map between mt_neg.json:8:24 and mt_neg.json:10:5]",
    'sanity_bad': "Syntax check failed with: sanity_bad.json:9.23-29: Unsupported 'lease-checks value: bogus, supported values are: none, warn, fix, fix-del, del",
    'optdef_bad_space': "Error encountered: invalid option space name 'a b' (optdef_bad_space.json:13:18)",
    'opt_vendor_space': '',
    'valid_neg_subnet': '',
    'valid_big_subnet': '',
    'gl_next_server_bad_subnet': '',
    'subnet_sname_long': 'Error encountered: subnet configuration failed: server-hostname must be at most 63 bytes long, it is 64 (subnet_sname_long.json:17:28)',
    'subnet_hcs_bad': "Error encountered: subnet configuration failed: hostname-char-set '[a-' is not a valid regular expression",
    't1_pct_bad_calc': 'Error encountered: subnet configuration failed: t1-percent:  1.5 is invalid it must be greater than 0.0 and less than 1.0',
    't1_gt_t2_calc': 'Error encountered: subnet configuration failed: t1-percent:  0.9 is invalid, it must be less than t2-percent: 0.8',
    't2_bad_global_calc': 'Error encountered: subnet configuration failed: t2-percent:  1.5 is invalid, it must be greater than 0.0 and less than 1.0',
    'sn_dup_id_same': "Error encountered: can't store subnet because of conflict (sn_dup_id_same.json:21:11)",
    'sn_dup_prefix_same': "Error encountered: can't store subnet because of conflict (sn_dup_prefix_same.json:21:11)",
    'sn_dup_prefix_two': "Error encountered: subnet with the prefix of '192.0.2.0/24' already exists",
    'sn_renew_rebind_nosub': 'Error encountered: the value of renew-timer (3000) is greater than the value of rebind-timer (2000)',
    'sn_renew_rebind_sub': 'Error encountered: the value of renew-timer (3000) is greater than the value of rebind-timer (2000)',
    'sn_valid_max': 'Error encountered: the value of (default) valid-lifetime (5000) is not less than max-valid-lifetime (4000)',
    'sn_resv_outside': "Error encountered: specified reservation '10.0.0.1' is not within the IPv4 subnet '192.0.2.0/24'",
    'sn_bad_opt': "Error encountered: option data does not match option definition (space: dhcp4, code: 3): Failed to convert string to address 'x': Invalid argument (sn_bad_opt.json:14:21)",
    'sn_next_server': 'Error encountered: invalid parameter next-server : x(sn_next_server.json:11:24)',
    'sn_pool_outside': 'Error encountered: subnet configuration failed: a pool of type V4, with the following address range: 10.0.0.1-10.0.0.2 does not match the prefix of a subnet: 192.0.2.0/24 to which it is being added (sn_pool_outside.json:12:11)',
    'resv_opt_bad': "Error encountered: option data does not match option definition (space: dhcp4, code: 3): Failed to convert string to address 'x': Invalid argument (resv_opt_bad.json:23:25)",
    'resv_dup_cid': 'Error encountered: failed to add duplicate IPv4 host using identifier: client-id=010203',
    'resv_dup_duid': "Error encountered: failed to add new host using the DUID '01:02:03' to the IPv4 subnet id '1' as this host has already been added",
    'resv_dup_circuit': 'Error encountered: failed to add duplicate IPv4 host using identifier: circuit-id=010203',
    'resv_dup_flex': 'Error encountered: failed to add duplicate IPv4 host using identifier: flex-id=616263',
    'resv_dup_addr_global': "Error encountered: failed to add new host using the HW address 'aa:bb:cc:dd:ee:01 and DUID '(null)' to the IPv4 subnet id '0' for the address 10.0.0.1: There's already a reservation for this address",
    'resv_dup_addr_cid': "Error encountered: failed to add new host using the HW address '(null) and DUID '(null)' to the IPv4 subnet id '1' for the address 192.0.2.50: There's already a reservation for this address",
    'resv_hw_dashes': "Error encountered: invalid host identifier value 'aa-bb-cc-dd-ee-ff' (resv_hw_dashes.json:18:11)",
    'resv_hw_plain': '',
    'resv_hw_empty': 'Error encountered: empty host identifier used (resv_hw_empty.json:18:11)',
    'resv_addr_zero': "Error encountered: must not make reservation for the '0.0.0.0' address (resv_addr_zero.json:20:27)",
    'resv_sname_long': 'Error encountered: server hostname length must not exceed 63 (resv_sname_long.json:20:32)',
    'resv_class_empty': 'Error encountered: specified reservation for DUID: hwtype=1 aa:bb:cc:dd:ee:ff must include at least one resource, i.e. hostname, IPv4 address, IPv6 address/prefix, options',
    'resv_hostname_empty': 'Error encountered: specified reservation for DUID: hwtype=1 aa:bb:cc:dd:ee:ff must include at least one resource, i.e. hostname, IPv4 address, IPv6 address/prefix, options',
    'class_builtin_known': "Error encountered: built-in class 'KNOWN' test expression must be empty",
    'class_builtin_vendor': '',
    'class_builtin_drop': '',
    'class_builtin_all_notest': '',
    'class_lifetimes': 'Error encountered: the value of (default) valid-lifetime (5000) is not less than max-valid-lifetime (4000)',
    'class_optdef_bad': "Error encountered: Not allowed option definition for code '222' in space 'dhcp4' at (class_optdef_bad.json:12:11)",
    'class_sname_long': 'Error encountered: server-hostname must be at most 63 bytes long, it is 64 (class_sname_long.json:11:28)',
    'opt_data_def_custom': "Error encountered: option data does not match option definition (space: dhcp4, code: 222): unable to convert '300' to numeric type. This value is expected to be in the range of 0..255 (opt_data_def_custom.json:18:17)",
    'opt_custom_space_nodef': "Error encountered: definition for the option 'isc.foo' having code '0' does not exist (opt_custom_space_nodef.json:10:17)",
    'opt_custom_space_code': '',
    'opt_always_send': '',
    'opt_dup': '',
    'iface_star_plus': '',
    'iface_lo_addr_ok': '',
    'iface_lo_two_addr': "Error encountered: Failed to select interface: interface 'lo' has already been specified (iface_lo_two_addr.json:6:9) (iface_lo_two_addr.json:4:7)",
    'iface_spaces': '',
    'hr_ids_auto': 'Syntax check failed with: hr_ids_auto.json:9.7-12: syntax error, unexpected constant string',
    'subnet_iface_lo': '',
    'sn_iface_lo_subnet_eth9': 'Error encountered: subnet configuration failed: Specified network interface name eth9 for subnet 192.0.2.0/24 is not present in the system (sn_iface_lo_subnet_eth9.json:21:26)',
    'relay_ip_address': '',
    'min_only_global': 'Error encountered: the value of min-valid-lifetime (9000) is not less than (default) valid-lifetime (7200)',
    'max_only_global': 'Error encountered: the value of (default) valid-lifetime (7200) is not less than max-valid-lifetime (100)',
    'valid_not_between': 'Error encountered: the value of (default) valid-lifetime (100) is not between min-valid-lifetime (200) and max-valid-lifetime (300)',
    'ddns_prefix_bad': '',
    'ddns_suffix_bad': '',
    'ddns_enable_bad': "Error encountered: Failed to convert 'abc' to address: Failed to convert string to address 'abc': Invalid argument(ddns_enable_bad.json:10:20)",
    'ddns_same': 'Error encountered: D2ClientConfig error: server and sender cannot share the exact same IP address/port: 127.0.0.1/53001 (ddns_same.json:11:20)',
    'ddns_v6': 'Error encountered: D2ClientConfig error: address family mismatch: server-ip: ::1 is: IPv6 while sender-ip: 127.0.0.1 is: IPv4 (ddns_v6.json:11:20)',
    'cc_fetch': '',
    'queue_cap0': '',
    'iface_outbound': '',
    'hooks_params': '',
    'relay_dup': 'Error encountered: cannot add address: 10.0.0.1 to relay info: RelayInfo already contains address: 10.0.0.1 (relay_dup.json:18:11)',
    'class_next_server_v6': "Error encountered: Invalid next-server value: '::1', must be IPv4 address (class_next_server_v6.json:11:24)",
    'resv_next_server_bcast': "Error encountered: invalid next server address '255.255.255.255' (resv_next_server_bcast.json:20:28)",
}


def kea_line(path: str) -> str:
    """What kea_twisted prints for ``kea-dhcp4 -t path`` ("" if accepted)."""
    try:
        build_config(check_grammar(load_config_file(path)), interfaces=INTERFACES)
    except ConfigError as e:
        return e.kea_report()
    return ""


class KeaObservedErrorsTests(SynchronousTestCase):
    """Every broken config gives Kea's exact line, position included."""

    def setUp(self):
        self._cwd = os.getcwd()
        os.chdir(HERE)
        self.addCleanup(os.chdir, self._cwd)

    def test_table_size(self):
        """The table covers at least 30 rejected configurations, and every
        fixture file has an observed verdict."""
        self.assertGreaterEqual(sum(1 for v in KEA_OBSERVED.values() if v), 30)
        files = {f[:-5] for f in os.listdir(HERE) if f.endswith(".json")}
        self.assertEqual(files, set(KEA_OBSERVED))

    def test_all(self):
        """kea_twisted's verdict on each file is Kea's, word for word."""
        wrong = {}
        for name, expected in sorted(KEA_OBSERVED.items()):
            got = kea_line(name + ".json")
            if got != expected:
                wrong[name] = (expected, got)
        self.assertEqual(wrong, {})


def _make_case(name, expected):
    def test(self):
        self.assertEqual(kea_line(name + ".json"), expected)

    test.__doc__ = "%s: Kea says %r" % (name, expected or "(accepted)")
    return test


for _name, _expected in KEA_OBSERVED.items():
    setattr(KeaObservedErrorsTests, "test_" + _name, _make_case(_name, _expected))


class ErrorShapeTests(SynchronousTestCase):
    """The ConfigError itself: semantic, with ``pos`` split off."""

    def test_position_split(self):
        """A positioned Kea message keeps its text in ``message`` and the
        position in ``pos``; ``str()`` is Kea's ``message (file:line:col)``."""
        cwd = os.getcwd()
        os.chdir(HERE)
        self.addCleanup(os.chdir, cwd)
        with self.assertRaises(ConfigError) as ctx:
            build_config(check_grammar(load_config_file("dup_subnet_id.json")), interfaces=INTERFACES)
        error = ctx.exception
        self.assertFalse(error.syntax)
        self.assertEqual(error.message, "ID of the new IPv4 subnet '1' is already in use")
        self.assertEqual((error.pos.file, error.pos.line, error.pos.col), ("dup_subnet_id.json", 18, 7))

    def test_no_position_from_python(self):
        """Trees without positions (control commands) give messages without
        a ``(None)`` left in them."""
        tree = from_python({"subnet4": [{"subnet": "192.0.2.0/24", "id": 1,
                                         "pools": [{"pool": "10.0.0.1 - 10.0.0.5"}]}]})
        with self.assertRaises(ConfigError) as ctx:
            build_config(tree, interfaces=INTERFACES)
        self.assertNotIn("None", str(ctx.exception))
        self.assertTrue(str(ctx.exception).startswith("subnet configuration failed: a pool of type V4"))
