#!/usr/bin/env bash
# The Redis demo client (redis-demo/, package valuetask-redis): its tests against a real
# redis-server, then the benchmark in --quick mode (fails if valuetask allocates per GET).
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
cargo run --release -p valuetask-redis --bin redis-bench -- --quick
