#!/usr/bin/env bash
# Installs the Debian packages regressd needs to build, test and run its demo. Installs only
# what is missing; needs root (or sudo).
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    librdkafka-dev libpq-dev libjansson-dev libgsl-dev libcurl4-openssl-dev libmicrohttpd-dev
    postgresql postgresql-common
    kcat curl procps jq
    prometheus-alertmanager
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
