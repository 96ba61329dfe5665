"""
Tests for kea_twisted.leasefile: the lease4.csv row codec, loading in Kea's
order, appending, and LFC — compared byte for byte with the real
``/usr/sbin/kea-lfc`` when it is installed (spec/dhcp4.md §15).
"""

from __future__ import annotations

import os
import random
import subprocess
from ipaddress import IPv4Address as A

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from zope.interface.verify import verifyObject

from kea_twisted.leasefile import (
    HEADER, LeaseFile, LeaseFileError, LeaseRowError, Schema, compact, escape, format_row,
    load_leases, parse_header, parse_row, read_leases, run_lfc, unescape,
)
from kea_twisted.leases import ILeaseSink, Lease4, MemfileLeaseStore
from tests.kea_socket import send_command

KEA_LFC = "/usr/sbin/kea-lfc"

SPEC_DECLINED = "10.0.0.19,,,86400,1795640442,1,0,0,,1,"
SPEC_DELETION = "10.0.0.14,00:00:00:00:00:02,,0,1795554037,1,0,0,,0,"
SPEC_RECLAIMED_DELETION = "10.0.0.15,00:00:00:00:00:03,,0,1795554037,1,0,0,,2,"
MAC2 = bytes.fromhex("000000000002")


def write(path: str, text: str) -> None:
    with open(path, "wb") as f:
        f.write(text.encode("latin-1"))


def read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("latin-1")


class RowCodecTests(SynchronousTestCase):
    def test_header(self):
        """The header is Kea 2.2's, exactly."""
        self.assertEqual(
            HEADER,
            "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context")

    def test_declined_row(self):
        """The spec's declined row: no hw-address nor client-id is fine in
        state 1; it reads and writes back identically."""
        lease = parse_row(SPEC_DECLINED)
        self.assertEqual(lease, Lease4(A("10.0.0.19"), b"", None, 86400, 1795640442 - 86400, 1, state=1))
        self.assertEqual(format_row(lease), SPEC_DECLINED)

    def test_deletion_row(self):
        """A deletion row (valid lifetime 0, expire = old cltt) round-trips."""
        lease = parse_row(SPEC_DELETION)
        self.assertEqual((lease.valid_lifetime, lease.cltt, lease.hwaddr), (0, 1795554037, MAC2))
        self.assertEqual(format_row(lease), SPEC_DELETION)
        self.assertEqual(format_row(parse_row(SPEC_RECLAIMED_DELETION)), SPEC_RECLAIMED_DELETION)

    def test_full_row(self):
        """Every column: lowercase hex with colons, 0/1 flags, escaped
        hostname, Kea's JSON text for the user context."""
        lease = Lease4(A("10.0.0.5"), bytes.fromhex("aabb0c000001"), b"\x01\xaa\xbb", 7200, 1000, 3,
                       True, False, "a,b&c", 0, {"b": 1, "a": [1, 2.5, "x"]})
        self.assertEqual(
            format_row(lease),
            '10.0.0.5,aa:bb:0c:00:00:01,01:aa:bb,7200,8200,3,1,0,a&#x2cb&#x26c,0,'
            '{ "a": [ 1&#x2c 2.5&#x2c "x" ]&#x2c "b": 1 }')
        self.assertEqual(parse_row(format_row(lease)), lease)

    def test_escape(self):
        """Only , and & are escaped, as &#x2c and &#x26."""
        self.assertEqual(escape("a,b"), "a&#x2cb")
        self.assertEqual(escape("a&#x2cb"), "a&#x26#x2cb")
        self.assertEqual(escape("plain;\"'x"), "plain;\"'x")
        self.assertEqual(unescape("a&#x2cb"), "a,b")
        self.assertEqual(unescape("&#x41&#X41"), "A&#X41")

    @given(st.text(alphabet=st.characters(max_codepoint=0xFF)))
    def test_escape_round_trip(self, text):
        """unescape(escape(s)) == s for any text."""
        self.assertEqual(unescape(escape(text)), text)

    def test_unescape_quirks(self):
        """Kea's unescaper: a tag without two hex digits stays as text,
        except at the end of a value where it becomes a NUL byte."""
        self.assertEqual(unescape("&#xZZq"), "&#xZZq")
        self.assertEqual(unescape("&#x2Zq"), "&#x2Zq")
        self.assertEqual(unescape("x&#x4"), "x\x004")
        self.assertEqual(unescape("a&#x2cb&#x"), "a,b\x00")

    def test_hostname_nul_cut_on_write(self):
        """Kea writes through const char*: a hostname stops at its NUL."""
        lease = parse_row("10.0.0.9,00:03,,7200,100,1,0,0,x&#x4,2,")
        self.assertEqual(lease.hostname, "x\x004")
        self.assertEqual(format_row(lease), "10.0.0.9,00:03,,7200,100,1,0,0,x,2,")

    def test_hostname_lowercased(self):
        """Kea's Lease constructor lowercases the hostname (ASCII only)."""
        self.assertEqual(parse_row("10.0.0.1,00:01,,1,2,1,0,0,Host&#x2cONE\xc9,0,").hostname, "host,one\xc9")

    def test_lexical_casts(self):
        """boost::lexical_cast: + accepted, - wraps in unsigned columns;
        booleans [+]0*1 or [+-]0*0."""
        lease = parse_row("10.0.0.1,00:01,,-1,100,+7,+1,-0,,00,")
        self.assertEqual((lease.valid_lifetime, lease.subnet_id, lease.fqdn_fwd, lease.fqdn_rev, lease.state),
                         (4294967295, 7, True, False, 0))
        self.assertEqual(format_row(lease), "10.0.0.1,00:01,,4294967295,100,7,1,0,,0,")
        self.assertEqual(parse_row("10.0.0.1,00:01,,1,-1,1,0,0,,0,").expire, 2 ** 64 - 1)

    def test_client_id_forms(self):
        """Client-id text: colons, spaces, a plain hex run with optional 0x
        and odd length padded (ClientId::fromText)."""
        for text, value in (("01:02", b"\x01\x02"), ("0x0102", b"\x01\x02"), ("ABC", b"\x0a\xbc"),
                            ("01 02 03", b"\x01\x02\x03"), ("a:b", b"\x0a\x0b")):
            self.assertEqual(parse_row(f"10.0.0.1,,{text},1,2,1,0,0,,0,").client_id, value, text)

    def test_bad_rows(self):
        """Rows Kea refuses, each with its reason."""
        cases = [
            ("10.0.0.1,00:01,,1,2,1,0,0,,0", "value index '10'"),
            ("10.0.0.1,00:01,,1,2,1,0,0", "value index '9'"),
            ("010.0.0.1,00:01,,1,2,1,0,0,,0,", "Failed to convert string to address"),
            ("::1,00:01,,1,2,1,0,0,,0,", "Failed to convert string to address"),
            ("10.0.0.1,00:01,1,1,2,1,0,0,,0,", "client-id is too short (1)"),
            ("10.0.0.1,00:01,0X0102,1,2,1,0,0,,0,", "not a valid string of hexadecimal digits"),
            ("10.0.0.1,00:01,0102 03,1,2,1,0,0,,0,", "invalid format of the decoded string"),
            ("10.0.0.1,00::01,,1,2,1,0,0,,0,", "two consecutive separators"),
            ("10.0.0.1,001,,1,2,1,0,0,,0,", "invalid format"),
            ("10.0.0.1,zz,,1,2,1,0,0,,0,", "not a valid hexadecimal digit"),
            ("10.0.0.1," + ":".join(["01"] * 21) + ",,1,2,1,0,0,,0,", "MAX_HWADDR_LEN"),
            ("10.0.0.1,,,1,2,1,0,0,,0,", "has neither hardware address or client id"),
            ("10.0.0.1,00:01,,1,2,1,2,0,,0,", "bad lexical cast"),
            ("10.0.0.1,00:01,,-1,2,1,-1,0,,0,", "bad lexical cast"),
            ("10.0.0.1,00:01,, 1,2,1,0,0,,0,", "bad lexical cast"),
            ("10.0.0.1,00:01,,4294967296,2,1,0,0,,0,", "bad lexical cast"),
            ("10.0.0.1,00:01,,1,2,1,0,0,,-4294967296,", "bad lexical cast"),
            ("10.0.0.1,00:01,,1,2,1,0,0,,0,[]", "is not a JSON map"),
            ('10.0.0.1,00:01,,1,2,1,0,0,,0,{"a":1}x', "Extra data"),
            ("10.0.0.1,00:01,,1,2,1,0,0,,0,\r", ""),
        ]
        for row, reason in cases:
            with self.assertRaises(LeaseRowError, msg=row) as cm:
                parse_row(row)
            self.assertIn(reason, str(cm.exception), row)

    def test_extra_columns_ignored(self):
        """Kea ignores its own column-count check: extra values are fine."""
        self.assertEqual(parse_row(SPEC_DECLINED + ",x,y"), parse_row(SPEC_DECLINED))

    def test_write_refuses_anonymous_lease(self):
        """Kea refuses to write a non-declined lease with neither hw-address
        nor client-id."""
        self.assertRaises(LeaseRowError, format_row, Lease4(A("10.0.0.1"), b"", None, 1, 1, 1))

    def test_headers(self):
        """Headers: ours; older (9 or 10 columns) need an upgrade; longer
        ones a downgrade; fewer than 9 or a wrong name are refused."""
        cols = HEADER.split(",")
        self.assertEqual(parse_header(HEADER), Schema())
        self.assertTrue(parse_header(",".join(cols[:9])).needs_upgrade)
        self.assertEqual(parse_header(",".join(cols[:10])).valid_columns, 10)
        self.assertTrue(parse_header(HEADER + ",extra").needs_downgrade)
        self.assertRaises(LeaseFileError, parse_header, ",".join(cols[:8]))
        self.assertRaises(LeaseFileError, parse_header, HEADER.replace("hostname", "hostnam"))

    def test_old_schema_rows(self):
        """In a 9-column file, short rows get state 0 and no context."""
        schema = parse_header(",".join(HEADER.split(",")[:9]))
        lease = parse_row("10.0.0.1,00:01,,10,100,1,0,0,h", schema)
        self.assertEqual((lease.state, lease.user_context), (0, None))
        self.assertEqual(parse_row("10.0.0.1,00:01,,10,100,1,0,0,h,1", schema).state, 1)
        self.assertRaises(LeaseRowError, parse_row, "10.0.0.1,00:01,,10,100,1,0,0", schema)


def _outcome(parse, line):
    """A parser's answer to one row: the lease with every field, or the
    error's text."""
    try:
        lease = parse(line)
    except LeaseRowError as e:
        return ("error", str(e))
    return ("lease", lease, lease.user_context, type(lease.address))


# Values near the common row's edges: each column's form Kea writes, and the
# forms only the general reader handles (one-digit or 3-digit tokens, plain
# hex client-ids, signs, overlong numbers, escapes, capitals, 21-byte
# hw-addresses, extra columns...).
_COLUMN_VALUES = (
    ["10.0.0.1", "255.255.255.255", "0.0.0.0", "010.0.0.1", "10.0.0.256", "10.0.0", "1.2.3.4.5", "::1", "1.2.3.x"],
    ["", "00:01:02:03:04:05", "0A:bC:12", "1:02", "001:02", "01::02", ":".join(["ab"] * 20),
     ":".join(["ab"] * 21), "0g:01", "01 02"],
    ["", "01:02", "01", "0102", "0x0102", "01 02", ":".join(["cd"] * 128), ":".join(["cd"] * 129), "01:2g"],
    ["0", "7200", "000000007", "999999999", "4294967295", "4294967296", "+5", "-1", " 5", "", "x"],
    ["0", "1795554037", "9999999999999999999", "18446744073709551615", "18446744073709551616", "-1", "+2", ""],
    ["1", "0", "4294967295", "123456789", "+7", "-1", ""],
    ["0", "1", "+1", "-0", "00", "2", ""],
    ["0", "1", "01", "+0", "x"],
    ["", "host.example.org", "Host.Example", "a&#x2cb", "a&#x26b&", "x&#x4", "h\xc9", "h\xe9"],
    ["0", "1", "2", "3", "00", "+1", "4294967296", ""],
    ["", '{ "a": 1 }', '{ "a": { "b": 1&#x2c "c": [ 1&#x2c 2 ] } }', "[]", "{", '{"x": 2.50}', "\r"],
)


class CommonRowTests(SynchronousTestCase):
    """The fast reader for rows shaped as Kea writes them must answer
    exactly as the general reader, errors included."""

    def assertSameAsGeneral(self, line, schema=Schema()):
        from kea_twisted.leasefile import _parse_any_row

        self.assertEqual(_outcome(lambda l: parse_row(l, schema), line),
                         _outcome(lambda l: _parse_any_row(l, schema), line), line)

    def test_kea_rows_take_the_fast_path(self):
        """Rows Kea writes are read by the fast path (the general reader is
        not reached)."""
        from kea_twisted import leasefile

        rows = [SPEC_DECLINED, SPEC_DELETION, SPEC_RECLAIMED_DELETION,
                "10.0.0.21,00:01:02:03:04:05,01:00:01:02:03:04:05,3600,1795554037,7,1,1,"
                "host.example.org,0,{ \"ISC\": { \"relay-agent-info\": \"0x01\" } }"]
        general = leasefile._parse_any_row
        leasefile._parse_any_row = lambda *a: self.fail(f"general reader used for {a[0]}")
        try:
            fast = [parse_row(row) for row in rows]
        finally:
            leasefile._parse_any_row = general
        self.assertEqual(fast, [general(row, Schema()) for row in rows])

    def test_each_unusual_value_alone(self):
        """Each column's every value, the others as Kea writes them."""
        common = [values[1] for values in _COLUMN_VALUES]
        for index, values in enumerate(_COLUMN_VALUES):
            for value in values:
                columns = list(common)
                columns[index] = value
                self.assertSameAsGeneral(",".join(columns))

    @settings(max_examples=2000, deadline=None)
    @given(st.tuples(*(st.sampled_from(values) for values in _COLUMN_VALUES)),
           st.sampled_from(["", ",", ",x", ",x,y"]))
    def test_same_as_general_reader(self, columns, tail):
        """Any mix of common and unusual column values: same lease (every
        field, the user context too) or the same error."""
        self.assertSameAsGeneral(",".join(columns) + tail)

    def test_short_and_old_schema_rows(self):
        """Rows with fewer columns, and files of an older schema, are read
        as before."""
        row = "10.0.0.1,00:01,,10,100,1,0,0,h"
        for schema in (Schema(), parse_header(",".join(HEADER.split(",")[:9])),
                       parse_header(",".join(HEADER.split(",")[:10])), parse_header(HEADER + ",extra")):
            for line in (row, row + ",1", row + ",1,", row + ",1,,z"):
                self.assertSameAsGeneral(line, schema)

    def test_repeated_numbers_shared(self):
        """Valid lifetimes, subnet ids and states read from many rows are
        one int object each (memory of a large file)."""
        a = parse_row("10.0.0.1,00:01,,86400,1795554037,100000,0,0,,0,")
        b = parse_row("10.0.0.2,00:02,,86400,1795554038,100000,0,0,,0,")
        self.assertIs(a.valid_lifetime, b.valid_lifetime)
        self.assertIs(a.subnet_id, b.subnet_id)


class LoadTests(SynchronousTestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, "leases4.csv")

    def row(self, addr, valid=7200, expire=2000, hw="00:01", state=0, host=""):
        return f"{addr},{hw},,{valid},{expire},1,0,0,{host},{state},"

    def file(self, suffix, *rows, header=HEADER):
        write(self.path + suffix, "\n".join((header,) + rows) + "\n")

    def test_leases_by_address(self):
        """load_leases answers a read-only mapping by IPv4Address, in the
        order addresses were first read."""
        self.file("", self.row("10.0.0.2"), self.row("10.0.0.1"), self.row("10.0.0.2", host="again"))
        leases, _ = load_leases(self.path)
        self.assertEqual(list(leases), [A("10.0.0.2"), A("10.0.0.1")])
        self.assertEqual(len(leases), 2)
        self.assertEqual(leases[A("10.0.0.2")].hostname, "again")
        self.assertEqual(leases, {l.address: l for l in leases.values()})
        self.assertIn(A("10.0.0.1"), leases)
        for missing in (A("10.0.0.3"), int(A("10.0.0.1")), "10.0.0.1"):
            self.assertNotIn(missing, leases)
            self.assertRaises(KeyError, leases.__getitem__, missing)
        self.assertIsNone(leases.get(A("10.0.0.3")))

    def test_order_previous_input_live(self):
        """.2, then .1, then the file: later rows replace earlier ones; a
        valid lifetime of 0 removes the address."""
        self.file(".2", self.row("10.0.0.1", host="two"), self.row("10.0.0.2"), self.row("10.0.0.3"))
        self.file(".1", self.row("10.0.0.1", host="one"), self.row("10.0.0.2", valid=0))
        self.file("", self.row("10.0.0.3", host="live"), self.row("10.0.0.4", valid=0))
        leases, stats = load_leases(self.path)
        self.assertEqual({str(a): l.hostname for a, l in leases.items()},
                         {"10.0.0.1": "one", "10.0.0.3": "live"})
        self.assertEqual(stats.files, [self.path + ".2", self.path + ".1", self.path])
        self.assertEqual((stats.reads, stats.read_leases, stats.read_errors), (7, 7, 0))

    def test_completed_wins(self):
        """With .completed present, .2 and .1 are not read."""
        self.file(".completed", self.row("10.0.0.1", host="done"))
        self.file(".2", self.row("10.0.0.2"))
        self.file(".1", self.row("10.0.0.3"))
        leases, stats = load_leases(self.path)
        self.assertEqual([str(a) for a in leases], ["10.0.0.1"])
        self.assertEqual(stats.files, [self.path + ".completed"])

    def test_expired_kept(self):
        """Expired leases load (reclamation deals with them later)."""
        self.file("", self.row("10.0.0.1", valid=10, expire=20))
        leases, _ = load_leases(self.path)
        self.assertEqual(leases[A("10.0.0.1")].expire, 20)

    def test_row_errors_skipped(self):
        """Bad rows are skipped and reported; max-row-errors 0 = no limit;
        blank lines are not rows."""
        self.file("", "junk", "", self.row("10.0.0.1"), "10.0.0.2,,,1,2,1,0,0,,0,")
        leases, stats = load_leases(self.path)
        self.assertEqual(list(leases), [A("10.0.0.1")])
        self.assertEqual([(n, reason[:12]) for _, n, reason in stats.errors],
                         [(1, "Failed to co"), (3, "Lease4: 10.0")])

    def test_max_row_errors(self):
        """One error more than max-row-errors (per file) fails the load."""
        self.file("", "junk", "junk", self.row("10.0.0.1"))
        self.assertEqual(len(load_leases(self.path, max_row_errors=2)[0]), 1)
        self.assertRaises(LeaseFileError, load_leases, self.path, max_row_errors=1)

    def test_old_header_files(self):
        """Files from older Kea (no user_context; no state either) load and
        ask for a conversion (Kea then runs an LFC at startup)."""
        cols = HEADER.split(",")
        self.file(".1", "10.0.0.1,00:01,,10,100,1,0,0,h", header=",".join(cols[:9]))
        self.file("", "10.0.0.2,00:01,,10,100,1,0,0,h,1", header=",".join(cols[:10]))
        leases, stats = load_leases(self.path)
        self.assertEqual(sorted(l.state for l in leases.values()), [0, 1])
        self.assertTrue(stats.needs_conversion)

    def test_bad_header_refused(self):
        """A header Kea cannot read fails the whole load."""
        self.file("", self.row("10.0.0.1"), header="address,hwaddr")
        self.assertRaises(LeaseFileError, load_leases, self.path)

    def test_running_lfc_refuses(self):
        """A .pid file naming a live process (an LFC at work) refuses the
        load; a stale one does not."""
        write(self.path + ".pid", f"{os.getpid()}\n")
        self.assertRaises(LeaseFileError, load_leases, self.path)
        write(self.path + ".pid", "999999999\n")
        self.assertEqual(load_leases(self.path)[0], {})

    def test_kea_written_file_loads(self):
        """A file in Kea's own words (spec examples: allocation, renewal,
        release, decline, reclamation) loads to the expected state."""
        write(self.path, "\n".join([
            HEADER,
            "10.0.0.14,00:00:00:00:00:02,,7200,1795554037,1,0,0,,0,",
            "10.0.0.14,00:00:00:00:00:02,,7200,1795554037,1,0,0,,0,",
            "10.0.0.14,00:00:00:00:00:02,,0,1795554037,1,0,0,,0,",
            "10.0.0.15,00:00:00:00:00:03,01:00:00:00:00:00:03,7200,1795554100,1,1,1,a&#x2cb,0,",
            "10.0.0.19,00:00:00:00:00:04,,7200,1795554100,1,0,0,,0,",
            SPEC_DECLINED,
            "10.0.0.20,00:00:00:00:00:05,,7200,1795554100,1,0,0,,2,",
            "10.0.0.21,00:00:00:00:00:06,,7200,1795554100,1,0,0,,0,{ \"ISC\": { \"relay-agent-info\": \"0x01\" } }",
        ]) + "\n")
        leases, stats = load_leases(self.path)
        self.assertEqual(sorted(str(a) for a in leases), ["10.0.0.15", "10.0.0.19", "10.0.0.20", "10.0.0.21"])
        self.assertEqual(leases[A("10.0.0.15")].hostname, "a,b")
        self.assertEqual(leases[A("10.0.0.19")].state, 1)
        self.assertEqual(leases[A("10.0.0.21")].user_context, {"ISC": {"relay-agent-info": "0x01"}})
        self.assertEqual(stats.read_errors, 0)

    def test_empty_file(self):
        """An empty file is no error (Kea writes the header into it)."""
        stats = read_leases(b"", {}, name="empty")
        self.assertEqual((stats.files, stats.reads), (["empty"], 0))

    def test_check_hook(self):
        """The sanity-check seam may drop or change a lease."""
        self.file("", self.row("10.0.0.1"), self.row("10.0.0.2"))
        leases, _ = load_leases(self.path, check=lambda l: None if str(l.address) == "10.0.0.1" else l)
        self.assertEqual(list(leases), [A("10.0.0.2")])


class LeaseFileTests(SynchronousTestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, "leases4.csv")
        self.lease = Lease4(A("10.0.0.14"), MAC2, None, 7200, 1795554037 - 7200, 1)

    def test_sink(self):
        """LeaseFile is an ILeaseSink."""
        verifyObject(ILeaseSink, LeaseFile(self.path))

    def test_creates_header_and_appends_at_once(self):
        """A missing file is created with the header; each row is on disk
        (in the OS) as soon as append returns."""
        f = LeaseFile(self.path)
        leases, _ = f.load()
        self.addCleanup(f.close)
        self.assertEqual(leases, {})
        self.assertEqual(read(self.path), HEADER + "\n")
        f.append(self.lease)
        self.assertEqual(read(self.path), HEADER + "\n" + "10.0.0.14,00:00:00:00:00:02,,7200,1795554037,1,0,0,,0,\n")

    def test_store_writes_through(self):
        """A memfile store over a LeaseFile: add, delete; the file reloads
        to the same state."""
        f = LeaseFile(self.path)
        store = MemfileLeaseStore(f, f.load()[0].values())
        store.add_lease(self.lease)
        store.add_lease(Lease4(A("10.0.0.15"), MAC2, None, 7200, 1000, 1))
        store.delete_lease(self.lease)
        f.close()
        # The deletion row's expire is the deleted lease's cltt.
        self.assertEqual(read(self.path).splitlines()[-1], "10.0.0.14,00:00:00:00:00:02,,0,1795546837,1,0,0,,0,")
        leases, _ = load_leases(self.path)
        self.assertEqual(list(leases), [A("10.0.0.15")])

    def test_grouped_rows(self):
        """flush_each_row=False keeps rows until flush()."""
        f = LeaseFile(self.path, flush_each_row=False)
        f.open()
        self.addCleanup(f.close)
        f.append(self.lease)
        self.assertEqual(read(self.path), HEADER + "\n")
        f.flush()
        self.assertEqual(len(read(self.path).splitlines()), 2)

    def test_old_file_appended_with_current_columns(self):
        """An old-format live file keeps its header; new rows have all 11
        columns (as Kea writes them) and the file still loads."""
        cols = HEADER.split(",")
        write(self.path, ",".join(cols[:9]) + "\n10.0.0.1,00:01,,10,100,1,0,0,h\n")
        f = LeaseFile(self.path)
        leases, stats = f.load()
        f.append(self.lease)
        f.close()
        self.assertTrue(stats.needs_conversion)
        leases, _ = load_leases(self.path)
        self.assertEqual(sorted(str(a) for a in leases), ["10.0.0.1", "10.0.0.14"])

    def test_closed_file_raises(self):
        """Appending to a closed file raises instead of losing the row."""
        self.assertRaises(LeaseFileError, LeaseFile(self.path).append, self.lease)

    def test_rotate_for_lfc(self):
        """At the LFC timer the live file becomes .1 and a fresh file (header
        only) takes its place; with .1 already there nothing moves."""
        f = LeaseFile(self.path)
        f.load()
        self.addCleanup(f.close)
        f.append(self.lease)
        self.assertTrue(f.rotate_for_lfc())
        self.assertEqual(len(read(self.path + ".1").splitlines()), 2)
        self.assertEqual(read(self.path), HEADER + "\n")
        f.append(self.lease)
        self.assertTrue(f.rotate_for_lfc())
        self.assertEqual(len(read(self.path).splitlines()), 2)
        self.assertIn("-x", f.lfc_command())

    def test_run_lfc(self):
        """Our LFC: .2 + .1 compacted into .2, .1 removed, latest row per
        address kept, deleted addresses gone."""
        write(self.path + ".2", HEADER + "\n" + SPEC_DECLINED + "\n"
              + "10.0.0.14,00:00:00:00:00:02,,7200,1795554037,1,0,0,,0,\n")
        write(self.path + ".1", HEADER + "\n" + SPEC_DELETION + "\n")
        self.assertTrue(run_lfc(self.path))
        self.assertFalse(os.path.exists(self.path + ".1"))
        self.assertFalse(os.path.exists(self.path + ".pid"))
        self.assertEqual(read(self.path + ".2"), HEADER + "\n" + SPEC_DECLINED + "\n")

    def test_run_lfc_large_files_same_as_compact(self):
        """Files of many rows (the output is written in pieces) compact to
        exactly compact()'s bytes."""
        rng = random.Random(3)
        older = [HEADER] + [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255},00:01:{i % 256:02x},,7200,"
                            f"{2000 + i},1,0,0,h{i}.example,0," for i in rng.sample(range(1 << 20), 20000)]
        newer = [HEADER] + [row.replace(",7200,", ",0,") for row in older[1:5000]]
        write(self.path + ".2", "\n".join(older) + "\n")
        write(self.path + ".1", "\n".join(newer) + "\n")
        expected = compact([("\n".join(older) + "\n").encode(), ("\n".join(newer) + "\n").encode()])
        self.assertTrue(run_lfc(self.path))
        with open(self.path + ".2", "rb") as f:
            self.assertEqual(f.read(), expected)
        self.assertEqual(expected.count(b"\n"), 1 + 20000 - 4999)

    def test_run_lfc_bad_input_rotates_nothing(self):
        """A compaction failure (bad header) leaves every file in place."""
        write(self.path + ".1", "nonsense\n")
        self.assertFalse(run_lfc(self.path))
        self.assertTrue(os.path.exists(self.path + ".1"))


# -- comparison with the real kea-lfc -------------------------------------------


def _random_row(rng: random.Random) -> str:
    if rng.random() < 0.7:
        host = rng.choice(["", "host1", "Mixed,Case&x", "x&#x4"])
        cols = [f"10.0.{rng.randint(0, 1)}.{rng.randint(0, 30)}",
                rng.choice(["00:01:02:03:04:%02x" % rng.randint(0, 9), "", "A:b"]),
                rng.choice(["", "01:02:%02x" % rng.randint(0, 5), "0x0102ab"]),
                rng.choice(["0", "7200", "86400", "10", "+5"]),
                str(rng.randint(0, 2_000_000_000)), str(rng.randint(1, 4)),
                rng.choice("01"), rng.choice("01"),
                escape(host) if "&#x" not in host else host,
                rng.choice(["0", "1", "2"]),
                rng.choice(["", escape('{ "a": 1 }'), escape('{"z":{"y":null,"x":[1,2.50]}}')])]
    else:
        cols = [rng.choice(["10.0.0.1", "010.0.0.1", "", "10.0.0"]), rng.choice(["zz", "00::01", "", "00:01"]),
                rng.choice(["1", "", "01 02"]), rng.choice(["-1", "x", "1"]), rng.choice(["-1", "5", " 5"]),
                "1", rng.choice(["2", "-0", "+1"]), "0", "h", rng.choice(["7", "", "0"]),
                rng.choice(["[]", "{}", "{", ""])]
    if rng.random() < 0.1:
        cols = cols[:rng.randint(8, 11)] + ["extra"] * rng.randint(0, 2)
    return ",".join(cols)


def _random_file(rng: random.Random) -> bytes:
    cols = HEADER.split(",")
    header = rng.choice([HEADER] * 6 + [",".join(cols[:9]), ",".join(cols[:10]), HEADER + ",extra"])
    rows = [_random_row(rng) for _ in range(rng.randint(0, 60))]
    return ("\n".join([header] + rows) + "\n").encode("latin-1")


class KeaLfcComparisonTests(SynchronousTestCase):
    def setUp(self):
        if not os.access(KEA_LFC, os.X_OK):
            raise SkipTest(f"{KEA_LFC} is not installed")
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def kea_lfc(self, base: str) -> bytes:
        proc = subprocess.run(
            [KEA_LFC, "-4", "-x", base + ".2", "-i", base + ".1", "-o", base + ".output",
             "-f", base + ".completed", "-p", base + ".pid", "-c", "ignored-path", "-d"],
            capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn(b"LFC_FAIL", proc.stdout + proc.stderr)
        self.assertFalse(os.path.exists(base + ".1"))
        with open(base + ".2", "rb") as f:
            return f.read()

    def test_generated_inputs_byte_identical(self):
        """On 40 generated .2/.1 pairs (valid rows, odd rows, old and newer
        headers, escapes, JSON contexts), compact() writes exactly the bytes
        kea-lfc writes."""
        rng = random.Random(20240607)
        for case in range(40):
            base = os.path.join(self.dir, f"case{case}")
            inputs = []
            for suffix in (".2", ".1"):
                if rng.random() < 0.85:
                    data = _random_file(rng)
                    with open(base + suffix, "wb") as f:
                        f.write(data)
                    inputs.append(data)
            ours = compact(inputs)
            self.assertEqual(ours, self.kea_lfc(base), f"case {case}")

    def test_run_lfc_matches_kea_lfc(self):
        """run_lfc leaves the same .2 as kea-lfc from the same files."""
        rng = random.Random(99)
        files = {".2": _random_file(rng), ".1": _random_file(rng)}
        for name in ("ours", "kea"):
            for suffix, data in files.items():
                with open(os.path.join(self.dir, name) + suffix, "wb") as f:
                    f.write(data)
        self.assertTrue(run_lfc(os.path.join(self.dir, "ours")))
        self.assertEqual(read(os.path.join(self.dir, "ours.2")).encode("latin-1"),
                         self.kea_lfc(os.path.join(self.dir, "kea")))

    def test_our_file_through_kea_lfc(self):
        """A file we wrote through a store is read by kea-lfc without a
        single row error and compacts to what our loader holds."""
        base = os.path.join(self.dir, "leases4.csv")
        f = LeaseFile(base)
        store = MemfileLeaseStore(f, f.load()[0].values())
        for i in range(20):
            store.add_lease(Lease4(A(f"10.0.0.{i}"), bytes([0, 1, 2, 3, 4, i]), b"\x01" + bytes([i]),
                                   7200, 1000 + i, 1, i % 2 == 0, False, f"host,{i}&",
                                   user_context={"i": i, "s": "a,b"} if i % 3 else None))
        for i in range(0, 20, 4):
            store.delete_lease(store.get_lease4(A(f"10.0.0.{i}")))
        f.close()
        os.rename(base, base + ".1")
        proc = subprocess.run(
            [KEA_LFC, "-4", "-x", base + ".2", "-i", base + ".1", "-o", base + ".output",
             "-f", base + ".completed", "-p", base + ".pid", "-c", "ignored-path", "-d"],
            capture_output=True, timeout=30)
        self.assertNotIn(b"ROW_ERROR", proc.stdout + proc.stderr)
        leases, stats = load_leases(base)
        self.assertEqual(stats.read_errors, 0)
        self.assertEqual(sorted(leases.values(), key=lambda l: l.address),
                         [l for l in store.get_all_leases4()])


# -- the real kea-dhcp4 reads our file, we read its file ------------------------

KEA_DHCP4 = "/usr/sbin/kea-dhcp4"
LEASE_CMDS = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"


class KeaDhcp4InteropTests(SynchronousTestCase):
    """Runs kea-dhcp4 with *no* DHCP interface at all (``interfaces: []``,
    port 16767 anyway; no DHCP packet is sent or received — 127.0.9.1 is not
    assigned on this machine's lo) with the lease_cmds hook, and talks to it
    over its UNIX control socket only."""

    def setUp(self):
        if not os.access(KEA_DHCP4, os.X_OK) or not os.path.exists(LEASE_CMDS):
            raise SkipTest("kea-dhcp4 or its lease_cmds hook is not installed")
        if os.geteuid() != 0:
            raise SkipTest("kea-dhcp4 needs root")
        # Short path: UNIX socket names are limited to 107 bytes.
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="kt-lease-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.dir])
        self.leases = os.path.join(self.dir, "leases4.csv")
        self.socket = os.path.join(self.dir, "ctrl")

    def start_kea(self):
        import json
        import time
        config = {"Dhcp4": {
            "interfaces-config": {"interfaces": [], "dhcp-socket-type": "udp"},
            "lease-database": {"type": "memfile", "name": self.leases, "lfc-interval": 0},
            "control-socket": {"socket-type": "unix", "socket-name": self.socket},
            "hooks-libraries": [{"library": LEASE_CMDS}],
            "subnet4": [{"id": 1, "subnet": "10.0.0.0/24", "pools": [{"pool": "10.0.0.10-10.0.0.99"}]}],
            "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                         "output_options": [{"output": os.path.join(self.dir, "kea.log")}]}],
        }}
        path = os.path.join(self.dir, "kea.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, KEA_PIDFILE_DIR=self.dir, KEA_LOCKFILE_DIR=self.dir)
        proc = subprocess.Popen([KEA_DHCP4, "-c", path, "-p", "16767"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        self.addCleanup(stop)
        for _ in range(100):  # at most 10 s
            if os.path.exists(self.socket) or proc.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(self.socket):
            self.fail("kea-dhcp4 did not start: " + read(os.path.join(self.dir, "kea.log")))
        return proc

    def command(self, command, arguments=None):
        return send_command(self.socket, command, arguments)

    def test_kea_reads_our_file_and_we_read_kea(self):
        """kea-dhcp4 loads a file we wrote (every lease, hostname escapes,
        declined and reclaimed states, user context) without rewriting it;
        what it appends for lease4-add/lease4-del loads back here."""
        f = LeaseFile(self.leases)
        store = MemfileLeaseStore(f, f.load()[0].values())
        store.add_lease(Lease4(A("10.0.0.10"), bytes.fromhex("000102030405"), b"\x01\x02\x03", 7200,
                               2_000_000_000, 1, True, True, "a,b&c.example", 0, {"ISC": {"x": [1, "y"]}}))
        store.add_lease(Lease4(A("10.0.0.11"), b"", None, 86400, 2_000_000_000, 1, state=1))
        store.add_lease(Lease4(A("10.0.0.12"), bytes.fromhex("000102030406"), None, 100, 1000, 1, state=2))
        store.add_lease(Lease4(A("10.0.0.13"), bytes.fromhex("000102030407"), None, 100, 2_000_000_000, 1))
        store.delete_lease(store.get_lease4(A("10.0.0.13")))
        f.close()
        before = read(self.leases)
        self.start_kea()
        self.assertEqual(read(self.leases), before)
        answer = self.command("lease4-get-all")
        self.assertEqual(answer["result"], 0, answer)
        got = {l["ip-address"]: l for l in answer["arguments"]["leases"]}
        self.assertEqual(sorted(got), ["10.0.0.10", "10.0.0.11", "10.0.0.12"])
        first = got["10.0.0.10"]
        self.assertEqual((first["hw-address"], first["client-id"], first["hostname"], first["state"],
                          first["fqdn-fwd"], first["cltt"], first["valid-lft"], first["user-context"]),
                         ("00:01:02:03:04:05", "01:02:03", "a,b&c.example", 0, True, 2_000_000_000, 7200,
                          {"ISC": {"x": [1, "y"]}}))
        self.assertEqual(got["10.0.0.11"]["state"], 1)
        self.assertEqual(got["10.0.0.12"]["state"], 2)

        answer = self.command("lease4-add", {"ip-address": "10.0.0.20", "hw-address": "0a:0b:0c:0d:0e:0f",
                                             "hostname": "Kea,Host", "user-context": {"b": 2.5, "a": "x,y"}})
        self.assertEqual(answer["result"], 0, answer)
        answer = self.command("lease4-del", {"ip-address": "10.0.0.10"})
        self.assertEqual(answer["result"], 0, answer)
        leases, stats = load_leases(self.leases)
        self.assertEqual(stats.read_errors, 0)
        self.assertEqual(sorted(str(a) for a in leases), ["10.0.0.11", "10.0.0.12", "10.0.0.20"])
        added = leases[A("10.0.0.20")]
        self.assertEqual((added.hwaddr, added.hostname, added.user_context),
                         (bytes.fromhex("0a0b0c0d0e0f"), "kea,host", {"a": "x,y", "b": 2.5}))
        self.assertEqual(read(self.leases)[len(before):].splitlines()[-1].split(",")[3], "0")
