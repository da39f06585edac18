#!/usr/bin/env bash
# Segment compatibility: the real, unchanged SDKs (segment-analytics-python, rudder-sdk-python
# from PyPI, @segment/analytics-node from npm, each at its current version) against a real
# `eye serve` on a random loopback port. See clients/compat/.
#
#   EYE_BIN=target/debug/eye bash scripts/compat.sh
#
# EYE_BIN defaults to $CARGO_TARGET_DIR/debug/eye (built when missing). Installs what is
# missing: the Python packages in the virtualenv ${EYE_PY_VENV:-~/.cache/eye/venv}, faketime
# with apt-get (when root), the node packages with `npm ci`. Anything still missing is an
# error, never a skip; a skipped test fails the run under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

fail() { echo "compat.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "'$1' is required but not installed ($2)"; }
need python3 "Python 3.9+ runs the Python SDKs"
need node "Node.js 18+ runs @segment/analytics-node"
need npm "npm installs @segment/analytics-node"

if [[ -z "${EYE_BIN:-}" ]]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/eye/target}"
    EYE_BIN="$CARGO_TARGET_DIR/debug/eye"
    if [[ ! -x "$EYE_BIN" ]]; then
        need cargo "or set EYE_BIN to an eye binary"
        echo "== building eye ($EYE_BIN)"
        cargo build --locked -p eye
    fi
fi
[[ -x "$EYE_BIN" ]] || fail "EYE_BIN=$EYE_BIN is not an executable eye binary"
EYE_BIN="$(cd "$(dirname "$EYE_BIN")" && pwd)/$(basename "$EYE_BIN")"
export EYE_BIN

# faketime runs a Python SDK with a clock 10 minutes fast.
if ! command -v faketime >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "== installing faketime"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
    fi
    need faketime "apt-get install faketime"
fi

echo "== Python SDKs (virtualenv ${EYE_PY_VENV:-$HOME/.cache/eye/venv})"
VENV="${EYE_PY_VENV:-$HOME/.cache/eye/venv}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
# --upgrade: the SDKs are tested at their current versions, whatever the venv held before.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade -r clients/compat/python/requirements.txt
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as m
for name in ("segment-analytics-python", "rudder-sdk-python"):
    print(f"SDK version: {name} {m.version(name)}")
EOF

echo "== Node SDK (npm ci in clients/compat/node)"
(cd clients/compat/node && npm ci --no-audit --no-fund --silent)
echo "SDK version: @segment/analytics-node $(node -p 'require("./clients/compat/node/node_modules/@segment/analytics-node/package.json").version')"
echo "faketime: $(dpkg-query -W -f='${Version}' faketime 2>/dev/null || echo 'version unknown')"
echo "eye: $EYE_BIN"

echo "== pytest clients/compat/python"
python_started=$SECONDS
"$VENV/bin/python" -m pytest clients/compat/python -v -s -rs
echo "(python suites: $((SECONDS - python_started)) s)"

echo "== node --test clients/compat/node"
node_started=$SECONDS
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
(cd clients/compat/node && node --test --test-concurrency=1 segment.test.mjs) 2>&1 | tee "$log"
grep -qE '^# pass [1-9]' "$log" || fail "node ran no test"
grep -qE '^# (skipped|todo) [1-9]' "$log" && fail "node skipped tests: that is a failure"
echo "(node suite: $((SECONDS - node_started)) s)"

echo "== compat: passed in $((SECONDS - started)) s"
