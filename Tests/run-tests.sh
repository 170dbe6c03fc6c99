#!/usr/bin/env bash
# Runs every test after `swift build --build-tests`, in two `swift test` processes at once:
#
#   [e2e]  the EndToEndTests module: real balctl-server / balctl-heartbeat / named / haproxy /
#          PostgreSQL processes, and mostly waiting on their timers (failover delays, leases,
#          a 90 s outage), so it leaves a core idle most of the time;
#   [unit] every other module: mostly CPU (fuzzers, parsers, real ufw/haproxy/MariaDB runs).
#
# Each process runs its own tests one at a time (--no-parallel): tests that time a reply or
# set process-wide state (proxy variables, environment) never share a process with another
# test. The two processes share nothing but the machine: every test makes its own temp
# directories and picks free ports. On two cores this takes the wall time from the sum of
# both halves to about the longer one.
#
# Both outputs stream live, each line prefixed; the script fails when either half fails.
# `Tests/run-tests.sh e2e` or `Tests/run-tests.sh unit` runs one half.
set -uo pipefail
export NO_COLOR=1  # plain lines in CI logs
cd "$(dirname "$0")/.."

# The browser suites (EndToEndTests.Dashboard*: headless Chromium, mostly CPU, ~1 min) run in the
# unit half, which is the shorter one: the e2e half sets the wall time.
e2e='^EndToEndTests\.(?!Dashboard)'
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# The test binary is run directly: two `swift test` processes on one .build fight over
# SwiftPM's build database even with --skip-build. It holds the swift-testing tests (this
# package has no XCTest cases; the check below keeps it that way rather than skip them).
if grep -rlq --include='*.swift' 'XCTestCase' Tests; then
    echo "Tests/ has XCTest cases: this runner only runs swift-testing tests; use swift test" >&2
    exit 2
fi
bin="$(swift build --show-bin-path)/balctlPackageTests.xctest"
[ -x "$bin" ] || { echo "$bin is missing: run swift build --build-tests first" >&2; exit 2; }

run_half() { # name, filter flag, regex
    { "$bin" --testing-library swift-testing --no-parallel "$2" "$3" 2>&1; echo $? > "$logs/$1.rc"; } \
        | sed -u "s/^/[$1] /" | tee "$logs/$1.out"
}

# What failed, again at the very end: CI keeps only the tail of a long log.
failures() { # name
    grep -E '✘|recorded an issue|Expectation failed|Caught error|Fatal error' "$logs/$1.out" 2>/dev/null | cut -c1-600 | head -60
}

case "${1:-all}" in
    e2e) run_half e2e --filter "$e2e"; failures e2e; exit "$(cat "$logs/e2e.rc")" ;;
    unit) run_half unit --skip "$e2e"; failures unit; exit "$(cat "$logs/unit.rc")" ;;
    all) ;;
    *) echo "usage: $0 [all|e2e|unit]" >&2; exit 2 ;;
esac

start=$(date +%s)
run_half e2e --filter "$e2e" &
e2e_pid=$!
run_half unit --skip "$e2e"
wait "$e2e_pid"

status=0
for half in unit e2e; do
    rc=$(cat "$logs/$half.rc" 2>/dev/null || echo 1)
    echo "[$half] exit status $rc"
    [ "$rc" = 0 ] || { status=1; echo "[$half] failures:"; failures "$half"; }
done
echo "tests: $(( $(date +%s) - start )) s wall for both halves; $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
