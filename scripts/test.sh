#!/usr/bin/env bash
# The Eye's whole test suite: formatting, lints, then every test of the workspace.
# Works on a fresh machine with a Rust toolchain; installs nothing else yet.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "test.sh: '$1' is required but not installed ($2)" >&2; exit 1; }
}
need cargo "install Rust with rustup: https://rustup.rs"
need mount "util-linux: used by the disk-full test"

# Reuse builds between runs when nothing else is said; a fresh clone works either way.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/eye/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
