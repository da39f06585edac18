#!/usr/bin/env bash
# The Eye scaled out on one machine, over locally installed PostgreSQL and NATS JetStream:
# two ingest nodes, two workers and a query node (the topology of docker-compose.yml, without
# the reverse proxy: clients spread requests over the ingest nodes themselves).
#
#   scripts/cluster.sh start | stop | status
#
# Settings, from the environment:
#   EYE_BIN            the eye binary (default: target/release/eye, built when missing)
#   EYE_STORE          PostgreSQL URL   (default: postgres://postgres@127.0.0.1:5432/postgres)
#   EYE_QUEUE          NATS URL         (default: nats://127.0.0.1:4222)
#   EYE_CLUSTER_DIR    pids, logs and data directories (default: ./eye-cluster)
#   EYE_CLUSTER_PORTS  five ports: ingest-1 ingest-2 worker-1 worker-2 query (default: 8101-8105)
# Every other EYE_* setting (EYE_NATS_STREAM, EYE_MAX_ATTEMPTS, ...) reaches every node.
set -euo pipefail
cd "$(dirname "$0")/.."

STORE="${EYE_STORE:-postgres://postgres@127.0.0.1:5432/postgres}"
QUEUE="${EYE_QUEUE:-nats://127.0.0.1:4222}"
DIR="${EYE_CLUSTER_DIR:-eye-cluster}"
read -r -a PORTS <<< "${EYE_CLUSTER_PORTS:-8101 8102 8103 8104 8105}"
NODES=(ingest-1 ingest-2 worker-1 worker-2 query)
ROLES=(ingest ingest worker worker query)
# The nodes read these from the command line, not from the environment.
unset EYE_STORE EYE_QUEUE

binary() {
    if [[ -n "${EYE_BIN:-}" ]]; then echo "$EYE_BIN"; return; fi
    [[ -x target/release/eye ]] || cargo build --release -p eye >&2
    echo "target/release/eye"
}

start() {
    command -v curl >/dev/null || { echo "cluster.sh: curl is required" >&2; exit 1; }
    local eye; eye="$(binary)"
    mkdir -p "$DIR"
    "$eye" migrate --store "$STORE"
    for i in "${!NODES[@]}"; do
        local node="${NODES[$i]}" port="${PORTS[$i]}"
        mkdir -p "$DIR/$node"
        "$eye" serve --role "${ROLES[$i]}" --listen "127.0.0.1:$port" --store "$STORE" \
            --queue "$QUEUE" --data-dir "$DIR/$node" >"$DIR/$node.log" 2>&1 &
        echo $! >"$DIR/$node.pid"
    done
    for i in "${!NODES[@]}"; do
        local url="http://127.0.0.1:${PORTS[$i]}/readyz"
        for _ in $(seq 1 150); do
            curl -sf "$url" >/dev/null && break
            sleep 0.2
        done
        curl -sf "$url" >/dev/null || { echo "cluster.sh: ${NODES[$i]} did not become ready; see $DIR/${NODES[$i]}.log" >&2; stop; exit 1; }
        echo "${NODES[$i]} (${ROLES[$i]}) ready on http://127.0.0.1:${PORTS[$i]}"
    done
}

stop() {
    for node in "${NODES[@]}"; do
        local pidfile="$DIR/$node.pid"
        [[ -f "$pidfile" ]] || continue
        kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
    done
    for node in "${NODES[@]}"; do
        local pidfile="$DIR/$node.pid"
        [[ -f "$pidfile" ]] || continue
        local pid; pid="$(cat "$pidfile")"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

status() {
    for i in "${!NODES[@]}"; do
        local pidfile="$DIR/${NODES[$i]}.pid" state="stopped"
        [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && state="running (pid $(cat "$pidfile"))"
        echo "${NODES[$i]} (${ROLES[$i]}) on 127.0.0.1:${PORTS[$i]}: $state"
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
