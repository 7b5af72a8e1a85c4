#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and integration tests against a throw-away
# PostgreSQL (pg_virtualenv) and librdkafka's mock Kafka cluster. Installs what it needs.
#   scripts/test.sh              normal build
#   scripts/test.sh --sanitize   also the AddressSanitizer/UBSan build (CI does both)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=0
[ "${1:-}" = "--sanitize" ] && sanitize=1

"$root/scripts/deps.sh"

run_suite() {
    local dir=$1
    # One throw-away cluster for the run; every integration test creates its own database.
    # (Not -t: the PostgreSQL outage test stops and restarts the cluster with pg_ctlcluster,
    # which works on the system-wide throw-away cluster.)
    pg_virtualenv ctest --test-dir "$dir" --output-on-failure --timeout 300
}

echo "== build (RelWithDebInfo)"
dir=$("$root/scripts/build.sh" RelWithDebInfo)
echo "== tests"
run_suite "$dir"

if [ $sanitize -eq 1 ]; then
    echo "== build (Sanitize: address, undefined)"
    dir=$("$root/scripts/build.sh" Sanitize)
    echo "== tests under sanitizers"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_suite "$dir"
fi
