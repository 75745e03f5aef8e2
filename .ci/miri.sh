#!/usr/bin/env bash
# Miri over the library's unit tests and the integration tests, then the departure tests
# (tests/departure_*.rs) under many seeds: undefined behaviour, Stacked Borrows
# violations, data races and leaks in the unsafe code, under strict provenance (no
# pointer made from an integer).
#
# Tests that cannot run under Miri, or would take too long (tokio's multi-thread
# runtime, stress loops, the counting global allocator), carry
# `#[cfg_attr(miri, ignore = "...")]` in their own file. tests/loom.rs compiles to
# nothing without `--cfg valuetask_loom`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

installed=$(rustup +nightly component list --installed)
missing=()
for component in miri rust-src; do
    grep -q "^${component}" <<<"$installed" || missing+=("$component")
done
if ((${#missing[@]})); then
    rustup +nightly component add "${missing[@]}"
fi

cargo +nightly miri setup
flags="${MIRIFLAGS:--Zmiri-strict-provenance}"
MIRIFLAGS="$flags" cargo +nightly miri test --lib --tests "$@"

# The departure tests again, each under several schedules: Miri's data-race checker and
# its weak-memory emulation see a different interleaving per seed. SEEDS=0..32 for a soak.
departure=()
for file in tests/departure_*.rs; do
    departure+=(--test "$(basename "$file" .rs)")
done
MIRIFLAGS="$flags -Zmiri-many-seeds=${SEEDS:-0..8}" \
    exec cargo +nightly miri test "${departure[@]}" "$@"
