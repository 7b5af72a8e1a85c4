#!/usr/bin/env bash
# The first thing to run: installs the Debian packages regressd needs, builds it, and runs
# `regressd demo` in a throw-away PostgreSQL cluster (pg_virtualenv -t: a temporary cluster,
# removed afterwards). The demo starts its own in-process Kafka broker; see
# `build/daemon/regressd demo --help`.
#   scripts/demo.sh [--quick] [--keep] [--samples N] [--seed S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

"$root/scripts/deps.sh"
echo "building regressd (scripts/build.sh) ..." >&2
dir=$("$root/scripts/build.sh")
exec pg_virtualenv -t "$dir/daemon/regressd" demo "$@"
