#!/usr/bin/env bash
# The declared `rust-version` is what CI builds: every manifest of the workspace declares
# the same one, and the publishable crates (what a user builds, every feature but the
# internal `loom`) are checked with exactly that toolchain; cargo itself refuses a
# toolchain older than the declaration. The other checks use the default toolchain. To support an
# older Rust, install its toolchain here and lower the declaration; nothing else.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

declared() { sed -n 's/^rust-version = "\(.*\)"$/\1/p' "$1"; }

msrv=$(declared Cargo.toml)
for manifest in macros/Cargo.toml redis-demo/Cargo.toml redis-demo/bench/Cargo.toml; do
    if [[ "$(declared "$manifest")" != "$msrv" ]]; then
        echo "$manifest declares rust-version $(declared "$manifest"), Cargo.toml $msrv" >&2
        exit 1
    fi
done

# rustup names an installed release by its full version (1.95.0), the manifest by its
# minor (1.95): take the newest installed patch release of the declared version.
pattern="^${msrv//./\\.}(\\.[0-9]+)?-"
if ! rustup toolchain list | grep -qE "$pattern"; then
    rustup toolchain install "$msrv" --profile minimal
fi
toolchain=$(rustup toolchain list | grep -E "$pattern" | sort -V | tail -n 1 | cut -d' ' -f1)
echo "rust-version $msrv: checking with $toolchain"
cargo "+$toolchain" check -p valuetask-macros -p valuetask --features valuetask/tokio
