#!/usr/bin/env bash
# The Eye's whole test suite: formatting, lints, every test of the workspace, the crash
# harness, the benchmark smoke run, the Python SDK, the Segment-style SDKs, the browser tests,
# the contract test and a short fuzzing run. Installs what a fresh machine lacks (chromium, cargo-fuzz, Python
# and npm packages) and starts PostgreSQL and NATS where they are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "test.sh: '$1' is required but not installed ($2)" >&2; exit 1; }
}
need cargo "install Rust with rustup: https://rustup.rs"
need mount "util-linux: used by the disk-full test"
need python3 "Python 3.9+ runs the Python SDK tests"
need npm "Node.js and npm run the console's browser tests"

# Debian's chromium for the browser tests (never a browser downloaded by a test tool), and
# curl, which runs the README's walk-through as written.
missing_packages=()
command -v chromium >/dev/null || missing_packages+=(chromium)
command -v curl >/dev/null || missing_packages+=(curl)
if ((${#missing_packages[@]})); then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "== installing ${missing_packages[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_packages[@]}" >/dev/null
    fi
    for tool in chromium curl; do
        command -v "$tool" >/dev/null || { echo "test.sh: $tool is required (apt-get install $tool)" >&2; exit 1; }
    done
fi

listening() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PostgreSQL (127.0.0.1:5432, database `test`) and NATS with JetStream (127.0.0.1:4222) back
# the scale-out tests. Start them where this machine has them installed; under CI=true their
# tests fail when they cannot be reached, elsewhere they report SKIPPED.
ensure_services() {
    if ! listening 5432 && command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        echo "== starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    fi
    if ! listening 4222 && command -v nats-server >/dev/null; then
        echo "== starting NATS with JetStream"
        mkdir -p /var/lib/nats-server 2>/dev/null || true
        start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
            -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
    fi
    for _ in $(seq 1 50); do listening 5432 && listening 4222 && break; sleep 0.2; done
    if listening 5432 && command -v psql >/dev/null; then
        psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
            || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
    fi
    local missing=()
    listening 5432 || missing+=("PostgreSQL on 127.0.0.1:5432")
    listening 4222 || missing+=("NATS with JetStream on 127.0.0.1:4222")
    if ((${#missing[@]})); then
        echo "test.sh: not reachable: ${missing[*]}" >&2
        [[ "${CI:-}" == "true" ]] && { echo "test.sh: required under CI=true" >&2; exit 1; }
        echo "test.sh: their tests will report SKIPPED" >&2
    fi
}
ensure_services

# Reuse builds between runs when nothing else is said; a fresh clone works either way.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/eye/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked

echo "== crash-consistency harness (3 cycles each; the full run is 20: see RELIABILITY.md)"
cargo build --locked -p eye -p eye-bench -p eye-crash
"$CARGO_TARGET_DIR/debug/eye-crash" --cycles 3 --eye "$CARGO_TARGET_DIR/debug/eye"
if listening 5432 && listening 4222; then
    # Restarts PostgreSQL and NATS (with the commands ensure_services uses) among its faults.
    "$CARGO_TARGET_DIR/debug/eye-crash" --cycles 4 --scale-out --eye "$CARGO_TARGET_DIR/debug/eye"
else
    echo "SKIPPED: scale-out crash cycles (PostgreSQL or NATS unreachable)"
fi

echo "== benchmark tool (seconds-long smoke run; no timing is asserted)"
"$CARGO_TARGET_DIR/debug/eye-bench" --smoke --eye "$CARGO_TARGET_DIR/debug/eye" >/dev/null
"$CARGO_TARGET_DIR/debug/eye-bench" --smoke --scale-out --eye "$CARGO_TARGET_DIR/debug/eye" >/dev/null

echo "== Python SDK (pytest)"
VENV="${EYE_PY_VENV:-$HOME/.cache/eye/venv}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "clients/python[test]"
EYE_BIN="$CARGO_TARGET_DIR/debug/eye" "$VENV/bin/python" -m pytest clients/python/tests -q

echo "== Segment-style SDKs, unchanged, against a live server (scripts/compat.sh)"
EYE_BIN="$CARGO_TARGET_DIR/debug/eye" EYE_PY_VENV="$VENV" bash scripts/compat.sh

echo "== web console (headless chromium)"
(cd console-tests && npm ci --no-audit --no-fund --silent)
EYE_BIN="$CARGO_TARGET_DIR/debug/eye" npm test --silent --prefix console-tests

echo "== contract: schemathesis against /openapi.json of a live server"
EYE_BIN="$CARGO_TARGET_DIR/debug/eye" EYE_PY_VENV="$VENV" scripts/contract.sh 40

echo "== fuzzing (10 s per target; a full campaign is scripts/fuzz.sh 600)"
if [[ "${EYE_SKIP_FUZZ:-}" == 1 ]]; then
    echo "SKIPPED: EYE_SKIP_FUZZ=1"
else
    EYE_FUZZ_TARGET_DIR="${EYE_FUZZ_TARGET_DIR:-$HOME/.cache/eye/fuzz-target}" scripts/fuzz.sh 10
fi
