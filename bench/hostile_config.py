#!/usr/bin/env python3
"""
Hostile configuration files (issue 9), by hand: legitimate-looking configs
of growing size (a large user-context), a 20,000-deep one and an include
loop, each staged as ``kea-twisted-dhcp4 -t`` would, with time and peak
memory.  The bounded cases are in tests/test_hostile_config.py; this one
writes real 100 MB of content (the test only checks the size refusal).

    python3 bench/hostile_config.py [--sizes 20,60,100]

Files go to a temporary directory that is removed at the end.  Prints a
Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from kea_twisted.config.errors import ConfigError  # noqa: E402
from kea_twisted.config.staging import stage_config_file  # noqa: E402

BASE = {
    "interfaces-config": {"interfaces": []},
    "lease-database": {"type": "memfile", "persist": False},
    "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.10 - 192.0.2.20"}]}],
}


def with_context(context: str) -> str:
    text = json.dumps({"Dhcp4": BASE})
    return text[:-2] + ', "user-context": ' + context + "}}"


def write_sized(path: str, megabytes: int) -> None:
    item = '"' + "x" * 98 + '",'
    count = megabytes * 1024 * 1024 // len(item)
    with open(path, "w") as f:
        f.write(with_context('{"k": [' + item * count + '"end"]}'))


def stage(path: str):
    start = time.monotonic()
    try:
        stage_config_file(path, interfaces={})
        outcome = "accepted"
    except ConfigError as e:
        outcome = "refused: " + str(e)[:90]
    except Exception as e:  # noqa: BLE001 - a crash is what this looks for
        outcome = f"CRASH {type(e).__name__}: {e}"[:120]
    return time.monotonic() - start, outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,60,100", help="config sizes in MB")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="kt-hostile-bench-")
    rows = []
    crashes = 0
    try:
        cases = []
        for mb in (int(s) for s in args.sizes.split(",") if s):
            path = os.path.join(work, f"size{mb}.json")
            write_sized(path, mb)
            cases.append((f"{mb} MB", path))
        deep = os.path.join(work, "deep.json")
        with open(deep, "w") as f:
            f.write(with_context('{"k": ' + "[" * 20000 + "]" * 20000 + "}"))
        cases.append(("20,000 deep", deep))
        loop = os.path.join(work, "loop.json")
        with open(loop, "w") as f:
            f.write('{"Dhcp4": <?include "%s"?>}' % loop)
        cases.append(("include loop", loop))
        for name, path in cases:
            seconds, outcome = stage(path)
            crashes += outcome.startswith("CRASH")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            rows.append((name, os.path.getsize(path), seconds, peak, outcome))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| config | bytes | seconds | peak RSS so far (MB) | outcome |")
    print("|---|---:|---:|---:|---|")
    for name, size, seconds, peak, outcome in rows:
        print(f"| {name} | {size} | {seconds:.2f} | {peak} | {outcome} |")
    print(f"\nconfigs tried: {len(rows)}, crashes: {crashes}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
