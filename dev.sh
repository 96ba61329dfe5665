#!/usr/bin/env bash
# kea_twisted developer entry point.
#
#   ./dev.sh server   set up .venv and run the server on examples/kea4-local.json
#                     (loopback only, port 6767; stop it with Ctrl-C)
#   ./dev.sh test     set up .venv (as root also the Debian packages the tests
#                     use: Kea 2.2 as the oracle, iproute2, DHCP clients) and
#                     run the whole test suite; ends with "N passed, M failed"
#
# KEA_TWISTED_VENV moves the virtualenv (default .venv in this folder).
# KEA_TWISTED_PYTHON is the interpreter the virtualenv is made with (default
# python3); KEA_TWISTED_PYTHON=pypy3 runs both commands on PyPy (README,
# "Running under PyPy"), in .venv-pypy3 unless KEA_TWISTED_VENV is set.
set -euo pipefail
cd "$(dirname "$0")"
python=${KEA_TWISTED_PYTHON:-python3}
if [ "$python" = python3 ]; then
    venv=${KEA_TWISTED_VENV:-.venv}
else
    venv=${KEA_TWISTED_VENV:-.venv-$(basename "$python")}
fi

# PyPy's GC settings (read when PyPy starts; CPython ignores them): a 64 MB
# nursery, not PyPy's cache-sized default, which makes minor collections
# cost up to 4x the CPU per HA lease update, and major collections marked
# 16 MB per step, not twice the nursery, whose steps paused an HA server
# for up to 90 ms (README, "Running under PyPy").
export PYPY_GC_NURSERY=${PYPY_GC_NURSERY:-64M}
export PYPY_GC_INCREMENT_STEP=${PYPY_GC_INCREMENT_STEP:-16M}

setup_python() {
    if ! command -v "$python" >/dev/null; then
        echo "$python not found (Debian: apt-get install $python)" >&2
        exit 2
    fi
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    # A regular install, not -e: twistd finds the kea4 tap through
    # twisted/plugins/ in site-packages.
    if [ "$("$venv/bin/python" -c 'import platform; print(platform.python_implementation())')" = PyPy ]; then
        install_for_pypy
    else
        "$venv/bin/python" -m pip install -q '.[test]'
    fi
}

install_for_pypy() {
    # Debian 12's pypy3 (7.3.11) is a Python 3.9. cryptography releases from
    # 44 on have no wheel for it and would be built from source (Rust, and
    # crates.io): keep it below 44, whose PyPy 3.9 wheel exists (pip then
    # picks a pyOpenSSL that accepts cryptography's certificates).
    # psycopg is not in the test extra on PyPy (setup.cfg): its binary
    # package has no PyPy wheel, and the pure-Python one fails at connect on
    # PyPy 7.3.11's ctypes (pypy/pypy#3882), so the PostgreSQL tests skip,
    # saying why, instead of failing.
    local constraints
    constraints=$(mktemp)
    echo 'cryptography<44' > "$constraints"
    "$venv/bin/python" -m pip install -q --only-binary cryptography -c "$constraints" '.[test]'
    rm -f "$constraints"
}

debian_packages() {
    # The oracle (real Kea 2.2) and what the network tests need. Only as root
    # on a Debian-like machine; the suites that need them skip, saying why,
    # when they are missing.
    local wanted="kea-dhcp4-server kea-admin kea-ctrl-agent kea-doc iproute2 isc-dhcp-client udhcpc postgresql"
    [ "$python" != pypy3 ] || wanted="$wanted pypy3"
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "not root or no apt-get: Kea-dependent tests will skip"
        return 0
    fi
    local missing=""
    for p in $wanted; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
    mkdir -p /run/kea
}

trial_summary() {
    # trial's closing line -> "passed failed skipped"
    "$venv/bin/python" - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rc = int(sys.argv[2])
m = re.findall(r"^(PASSED|FAILED) \((.*)\)\s*$", text, re.M)
counts = dict(re.findall(r"(\w+)=(\d+)", m[-1][1])) if m else {}
passed = int(counts.get("successes", 0)) + int(counts.get("expectedFailures", 0))
failed = sum(int(counts.get(k, 0)) for k in ("failures", "errors", "unexpectedSuccesses"))
if not m or (rc != 0 and failed == 0):
    failed = max(failed, 1)
print(passed, failed, int(counts.get("skips", 0)))
PY
}

run_trial() {
    local log=$1
    set +e
    PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m twisted.trial -j 2 tests 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

run_conformance() {
    # Kea's recorded answers over real sockets (../shared/conformance): needs
    # root (port 67, loopback aliases). Scenarios listed in
    # tests/conformance_pending.txt are left out (they run in-process as
    # expected failures), and so are those of tests/conformance_wallclock.txt
    # (timing-dependent answers; exact in-process on a Clock).
    local log=$1 harness=../shared/conformance/dhcpdiff.py
    if [ ! -f "$harness" ]; then
        echo "conformance harness skipped: $harness not found (../shared beside the repository)" | tee "$log"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "conformance harness skipped: needs root (UDP port 67, loopback aliases)" | tee "$log"
        return 0
    fi
    local only=()
    while read -r name _rest; do
        grep -q "^$name	" tests/conformance_pending.txt tests/conformance_wallclock.txt || only+=(--only "$name")
    done < <(python3 "$harness" list --scenarios "$(dirname "$harness")/scenarios" --scenarios tests/scenarios \
             | grep -E "^[a-z][a-z0-9-]+ ")
    set +e
    PATH="$PWD/$venv/bin:$PATH" python3 "$harness" run --server 'twistd -n --pidfile= kea4 -c {config}' \
        --scenarios "$(dirname "$harness")/scenarios" --scenarios tests/scenarios "${only[@]}" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

run_realclients() {
    # Real dhclient/udhcpc clients in network namespaces against the server
    # on raw sockets (../shared/realclients): needs root and iproute2.
    local log=$1 script=../shared/realclients/realclients.py
    if [ ! -f "$script" ]; then
        echo "real clients skipped: $script not found (../shared beside the repository)" | tee "$log"
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
        echo "real clients skipped: needs root and network namespaces (ip netns)" | tee "$log"
        return 0
    fi
    if ! command -v dhclient >/dev/null || ! command -v udhcpc >/dev/null; then
        echo "real clients skipped: dhclient/udhcpc not installed (isc-dhcp-client, udhcpc)" | tee "$log"
        return 0
    fi
    # single: kea_twisted alone; ha / ha-tls: a kea_twisted pair, then
    # kea_twisted beside real Kea 2.2 in each role, each stopped in turn.
    local kt='twistd -n --pidfile= kea4 -c {config}' kea='kea-dhcp4 -c {config}'
    local rc=0 passed=0 failed=0 one p f
    one=$(mktemp)
    run_one() {
        echo "--- realclients $*" | tee -a "$log"
        PATH="$PWD/$venv/bin:$PATH" timeout 600 python3 "$script" "$@" 2>&1 | tee "$one" >> "$log"
        local r=${PIPESTATUS[0]}
        read -r p f < <(closing_counts "$one" "$r")
        tail -1 "$one"
        passed=$(( passed + p )); failed=$(( failed + f ))
        [ "$r" = 0 ] || rc=1
    }
    : > "$log"
    set +e
    run_one --scenario single --server "$kt"
    run_one --scenario ha --server "$kt" --server2 "$kt"
    run_one --scenario ha-tls --server "$kt" --server2 "$kt"
    if command -v kea-dhcp4 >/dev/null; then
        run_one --scenario ha --server "$kt" --server2 "$kea"
        run_one --scenario ha-tls --server "$kt" --server2 "$kea"
        run_one --scenario ha-tls --server "$kea" --server2 "$kt"
        run_one --scenario ha-tls --stop 1 --server "$kea" --server2 "$kt"
    else
        echo "real clients with real Kea as HA partner skipped: kea-dhcp4 not installed" | tee -a "$log"
    fi
    set -e
    rm -f "$one"
    echo "$passed passed, $failed failed" >> "$log"
    return "$rc"
}

closing_counts() {
    # "N passed, M failed" of a log -> "N M"; none and a failure -> "0 1"
    if grep -qE '^[0-9]+ passed, [0-9]+ failed' "$1"; then
        grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -1 | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/'
    elif [ "$2" != 0 ]; then
        echo "0 1"
    else
        echo "0 0"
    fi
}

run_tests() {
    local tlog clog rlog t0
    tlog=$(mktemp); clog=$(mktemp); rlog=$(mktemp)
    t0=$(date +%s)
    echo "=== trial (unit, in-process conformance, Kea-backed tests)"
    run_trial "$tlog" && trc=0 || trc=$?
    echo "=== trial took $(( $(date +%s) - t0 ))s"
    t0=$(date +%s)
    echo "=== conformance harness over real sockets"
    run_conformance "$clog" && crc=0 || crc=$?
    echo "=== conformance took $(( $(date +%s) - t0 ))s"
    t0=$(date +%s)
    echo "=== real DHCP clients in network namespaces"
    run_realclients "$rlog" && rrc=0 || rrc=$?
    echo "=== real clients took $(( $(date +%s) - t0 ))s"
    read -r tp tf ts < <(trial_summary "$tlog" "$trc")
    read -r cp cf < <(closing_counts "$clog" "$crc")
    read -r rp rf < <(closing_counts "$rlog" "$rrc")
    rm -f "$tlog" "$clog" "$rlog"
    echo "trial: $tp passed, $tf failed, $ts skipped; conformance harness: $cp passed, $cf failed; real clients: $rp passed, $rf failed"
    echo "$(( tp + cp + rp )) passed, $(( tf + cf + rf )) failed, $ts skipped"
    [ "$tf" = 0 ] && [ "$cf" = 0 ] && [ "$rf" = 0 ]
}

case "${1:-}" in
    server)
        setup_python
        exec "$venv/bin/twistd" -n --pidfile= kea4 -c examples/kea4-local.json -p 6767
        ;;
    test)
        debian_packages
        setup_python
        run_tests
        ;;
    *)
        sed -n '2,13p' "$0"
        exit 2
        ;;
esac
