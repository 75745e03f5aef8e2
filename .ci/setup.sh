#!/usr/bin/env bash
# Installs the toolchain components the other checks need, when they are missing.
set -euo pipefail
rustup component add rustfmt clippy
rustc --version
cargo --version
