#!/usr/bin/env bash
# ThreadSanitizer over the departure tests (tests/departure_*.rs: every way a half leaves,
# the memory reused at once) and the stress tests, on nightly with the standard library
# rebuilt instrumented (-Zbuild-std needs the nightly's rust-src). Its own target dir:
# sanitizer flags must not reach the normal build's artefacts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! rustup +nightly component list --installed | grep -q '^rust-src'; then
    rustup +nightly component add rust-src
fi

tests=(--test stress)
for file in tests/departure_*.rs; do
    tests+=(--test "$(basename "$file" .rs)")
done

export RUSTFLAGS="-Zsanitizer=thread"
export RUSTDOCFLAGS="-Zsanitizer=thread"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export CARGO_TARGET_DIR=target/tsan
exec cargo +nightly test -Zbuild-std --target "$(rustc -vV | sed -n 's/^host: //p')" "${tests[@]}" "$@"
