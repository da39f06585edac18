#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 600), from its seed corpus.
# New inputs go to a scratch directory; a crash lands in fuzz/artifacts/<target>/ and fails
# the script. Needs cargo-fuzz (installed here when missing) and a nightly compiler, or the
# stable one with RUSTC_BOOTSTRAP=1 (set here when no nightly toolchain is installed).
#
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-600}"
TARGETS=(body timestamp query_params schema_validation segment)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
TOOLCHAIN=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
export CARGO_TARGET_DIR="${EYE_FUZZ_TARGET_DIR:-$HOME/.cache/eye/fuzz-target}"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
for target in "${TARGETS[@]}"; do
    mkdir -p "$SCRATCH/$target"
    echo "== fuzz $target for ${SECONDS_EACH}s"
    status=0
    cargo "${TOOLCHAIN[@]}" fuzz run "$target" "$SCRATCH/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$SCRATCH/$target.log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|SUMMARY|Done [0-9]+ runs)' \
        "$SCRATCH/$target.log" || true
    if [[ $status -ne 0 ]]; then
        tail -40 "$SCRATCH/$target.log" >&2
        echo "fuzz: $target failed (status $status); failing inputs, if any: fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
