#!/usr/bin/env bash
# Smoke test of the project's benchmark table: every case runs (a few seconds in all),
# the table and the DESIGN.md targets print. The full run is the same without --quick.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --release --example prove_it -- --quick
