#!/usr/bin/env bash
# Runs the benches and prints their reports. Installs what they need (scripts/deps.sh); each
# PostgreSQL bench gets its own throw-away server (pg_virtualenv), the ingest bench also starts
# its own mock Kafka cluster.
#   scripts/bench.sh                    every bench with its defaults
#   scripts/bench.sh ingest [ARGS...]   only the ingest bench (ARGS: see bench_ingest --help,
#                                       e.g. --samples 2000000 -o kafka.fetch.max.bytes=4194304)
#   scripts/bench.sh check [ARGS...]    only the deploy-check bench (see bench_check --help)
#   scripts/bench.sh detector [ARGS...] only the deploy simulation (see sim_detector --help)
#   scripts/bench.sh trendflags [ARGS...]  only the trend and flag-scan simulation
#                                       (sim_trend_flags [--trials N] [--seed S] [--users U])
#   scripts/bench.sh sim [ARGS...]      both simulations, no database (ARGS given to both: the
#                                       common ones are --trials N and --seed S)
# Builds into build-bench/ (or $BUILD_DIR), optimised with debug symbols, for perf.
# The ingest bench's server loads pg_stat_statements, so its report shows which statements
# PostgreSQL spent its time on. BENCH_PG_OPTS adds server settings, e.g.
#   BENCH_PG_OPTS="pg_stat_statements.track=all" scripts/bench.sh ingest
# also lists statements run by triggers (at some cost to the numbers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
which=${1:-all}
[ $# -gt 0 ] && shift
case $which in
all | ingest | check | detector | trendflags | sim) ;;
*)
    echo "usage: scripts/bench.sh [all | ingest|check|detector|trendflags|sim [ARGS...]]" >&2
    exit 2
    ;;
esac

"$root/scripts/deps.sh"
dir=$(BUILD_DIR=${BUILD_DIR:-$root/build-bench} "$root/scripts/build.sh" RelWithDebInfo)

if [ "$which" = all ] || [ "$which" = ingest ]; then
    echo "== bench_ingest"
    pg_opts=(-o shared_preload_libraries=pg_stat_statements)
    for o in ${BENCH_PG_OPTS:-}; do pg_opts+=(-o "$o"); done
    # -t: a temporary cluster directory even as root, so that a test suite running at the same
    # time (its cluster is named "regress" too) does not collide with this one.
    pg_virtualenv -t "${pg_opts[@]}" "$dir/bench/bench_ingest" "$@"
fi
if [ "$which" = all ] || [ "$which" = check ]; then
    echo "== bench_check"
    pg_virtualenv -t "$dir/bench/bench_check" "$@"
fi
if [ "$which" = all ] || [ "$which" = detector ] || [ "$which" = sim ]; then
    echo "== sim_detector"
    "$dir/bench/sim_detector" "$@"
fi
if [ "$which" = all ] || [ "$which" = trendflags ] || [ "$which" = sim ]; then
    echo "== sim_trend_flags"
    "$dir/bench/sim_trend_flags" "$@"
fi
