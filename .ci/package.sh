#!/usr/bin/env bash
# The publishable crates package and build as crates.io would get them: `cargo package`
# lists, packs and builds each from its .crate (valuetask against the packed
# valuetask-macros). The other workspace members are `publish = false`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo package -p valuetask-macros -p valuetask
