#!/usr/bin/env bash
# The Redis demo client (redis-demo/, package valuetask-redis): its tests against a real
# redis-server, then its benchmark (redis-demo/bench/, package valuetask-redis-bench) in
# --quick mode, which fails if valuetask allocates per GET.
# Installs redis-server when it is missing (CI runs as root with no stdin). The tests and
# the benchmark start their own redis-server on a free loopback port and kill it on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v redis-server >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y redis-server
fi
redis-server --version
cargo test -p valuetask-redis
# The client's package must not depend on the benchmark's peers.
if cargo tree -p valuetask-redis -e normal --prefix none | grep -E '^(redis|fred|hdrhistogram) '; then
    echo "valuetask-redis depends on a benchmark-only crate (above)" >&2
    exit 1
fi
cargo run --release -p valuetask-redis-bench -- --quick
