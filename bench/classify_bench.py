"""
Classification cost per packet with the seed configuration's six classes
(``../shared/seed/kea4-ha-load-balancing-server1-mt-with-tls.json``, its
``client-classes`` only, loopback needs nothing else), run by hand:

    python bench/classify_bench.py [--packets N] [--repeat R]

What one packet pays, as the engine does it: ``ALL``/hook classes/
``VENDOR_CLASS_``, pass 1 over the six tests (``member('HA_server1')`` true
for half the packets, as if the HA hook had classed them), the deferred
unpack, KNOWN/UNKNOWN and pass 2.  Packets are decoded beforehand (decoding
is not classification); each run classifies fresh copies, since the
classification writes ``query.classes``.  Logging as Kea's default loggers
would (INFO ``EVAL_RESULT`` for each match) is measured separately from
logging off, since the published events cost more than the tests.

Prints µs per packet (best of R runs); results go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from kea_twisted.classify import ClassLogging, Classifier  # noqa: E402
from kea_twisted.config.element import from_python  # noqa: E402
from kea_twisted.config.loader import load_config_file  # noqa: E402
from kea_twisted.packet import Packet4, decode, encode  # noqa: E402

SEED = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "seed",
                    "kea4-ha-load-balancing-server1-mt-with-tls.json")


def seed_classes():
    """The seed's client-classes, as the config builder models them."""
    from kea_twisted.config.staging import stage_config_element

    tree = load_config_file(SEED).to_python()
    classes = tree["Dhcp4"]["client-classes"]
    config = {"Dhcp4": {"interfaces-config": {"interfaces": []}, "client-classes": classes,
                        "lease-database": {"type": "memfile", "persist": False}}}
    model = stage_config_element(from_python(config), interfaces={"lo": []})
    return model.client_classes, model.option_definitions


def packets(n):
    """Half phones (option 60 'Aastra …'), half laptops; half of each
    classed HA_server1 by the hook."""
    out = []
    for i in range(n):
        vendor = b"Aastra 6757i" if i % 2 else b"MSFT 5.0"
        mac = bytes([2, 0, 0, 0, (i >> 8) & 0xFF, i & 0xFF])
        data = encode(Packet4(op=1, xid=i, chaddr=mac, options={53: b"\x01", 60: vendor, 55: b"\x01\x03\x06"}))
        out.append((data, ["HA_server1"] if (i // 2) % 2 else ["HA_server2"]))
    return out


def run(classifier, queries):
    start = time.perf_counter()
    for query in queries:
        classes = classifier.start(query)
        classifier.pass1(query, classes)
        classifier.unpack_deferred(query, classes)
        query.classes = classes
        classes.add("UNKNOWN")
        classifier.pass2(query, classes)
    return time.perf_counter() - start


def fresh(decoded):
    out = []
    for query, hook in decoded:
        q = copy.copy(query)
        q.classes = list(hook)
        out.append(q)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    classes, definitions = seed_classes()
    decoded = [(decode(data), hook) for data, hook in packets(args.packets)]
    print(f"seed classes: {', '.join(c.name for c in classes)}")
    for label, logging in (("logging off", ClassLogging(matches=False, errors=False)),
                           ("Kea default loggers (INFO EVAL_RESULT per match)", ClassLogging())):
        classifier = Classifier(classes, definitions, logging=logging)
        best = None
        for _ in range(args.repeat):
            queries = fresh(decoded)
            elapsed = run(classifier, queries)
            best = elapsed if best is None else min(best, elapsed)
        print(f"{label}: {best / len(decoded) * 1e6:.2f} µs per packet "
              f"({len(decoded)} packets, best of {args.repeat})")


if __name__ == "__main__":
    main()
