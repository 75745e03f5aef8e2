#!/usr/bin/env bash
# Loom models of ResetCore, the pool slot, the oneshot channel and the future pool
# (tests/loom.rs, its matrix at the head; the library's own models with --lib).
#
# `--cfg valuetask_loom` is our own cfg name: tokio and the other dev-dependencies
# change their internals under `cfg(loom)`, so they must never see that one. The loom
# build gets its own target dir so it does not invalidate the normal build's artefacts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# loom is an optional dependency behind the internal `loom` feature (so that a crate
# depending on this one never locks loom's tree); the cfg and the feature go together.
export RUSTFLAGS="--cfg valuetask_loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
export CARGO_TARGET_DIR=target/loom
exec cargo test -p valuetask --release --features loom --lib --test loom "$@"
