#!/usr/bin/env bash
# Builds regressd into build/ (or $BUILD_DIR) with warnings as errors.
#   scripts/build.sh [Release|RelWithDebInfo|Debug|Sanitize]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
type=${1:-RelWithDebInfo}
dir=${BUILD_DIR:-$root/build}
[ "$type" = Sanitize ] && dir=${BUILD_DIR:-$root/build-sanitize}
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DREGRESSD_WERROR=ON >/dev/null
cmake --build "$dir" -j "$(nproc)" >/dev/null
echo "$dir"
