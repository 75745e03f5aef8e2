#!/usr/bin/env bash
# The departure tests (every path by which a half of a oneshot channel or a future-pool
# block leaves, each followed at once by reuse of the memory) under Miri's data-race
# checker over several seeds, then under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tests=(--test departure_oneshot --test departure_future_pool)
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..4" \
    cargo +nightly miri test "${tests[@]}"
RUSTFLAGS="-Zsanitizer=thread" \
    cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu "${tests[@]}"
