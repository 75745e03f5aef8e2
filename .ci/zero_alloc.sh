#!/usr/bin/env bash
# The allocation-counting binaries (tests/*zero_alloc*.rs and tests/leak.rs), built once
# in release and run several times over: a steady state that allocates now and then, or
# a leak that depends on thread timing, shows up as a flaky run. Stops at the first
# failure. RUNS=25 .ci/zero_alloc.sh for a longer soak.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs="${RUNS:-5}"
binaries=()
for file in tests/*zero_alloc*.rs tests/leak.rs; do
    binaries+=(--test "$(basename "$file" .rs)")
done

# valuetask-tower's counts: an erased tower service and an axum router, against stock.
tower=(-p valuetask-tower --test tower_zero_alloc --test axum_alloc)

cargo test --release --no-run "${binaries[@]}"
cargo test --release --no-run "${tower[@]}"
for ((run = 1; run <= runs; run++)); do
    echo "--- run $run of $runs"
    cargo test --release -q "${binaries[@]}"
    cargo test --release -q "${tower[@]}"
done
echo "all $runs runs passed"
