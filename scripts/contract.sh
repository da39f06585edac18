#!/usr/bin/env bash
# Contract test: schemathesis (from PyPI) against /openapi.json of a live server, with every
# check and both generation modes: every documented operation gets requests the document
# calls valid (the server must accept them) and requests it calls invalid (the server must
# refuse them), and the run fails on any 5xx, on a status code, content type, header or body
# the document does not give for the operation, and on any way the server and the document
# disagree about what is valid.
#
#   scripts/contract.sh [MAX_EXAMPLES]     (default 40 per operation)
# Environment: EYE_BIN (default: the debug build), EYE_PY_VENV (where schemathesis goes).
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${1:-40}"
EYE="${EYE_BIN:-${CARGO_TARGET_DIR:-target}/debug/eye}"
VENV="${EYE_PY_VENV:-$HOME/.cache/eye/venv}"
[[ -x "$EYE" ]] || { echo "contract.sh: no eye binary at $EYE (build it, or set EYE_BIN)" >&2; exit 1; }
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis>=4,<5"

DATA="$(mktemp -d)"
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
KEY="$("$EYE" keys create --app contract --scope ingest,query,admin --data-dir "$DATA" 2>/dev/null)"
"$EYE" serve --listen 127.0.0.1:0 --data-dir "$DATA" --schemas schemas 2>"$DATA/server.log" &
SERVER=$!
for _ in $(seq 1 100); do
    ADDR="$(grep -o 'addr=[0-9.:]*' "$DATA/server.log" | head -1 | cut -d= -f2 || true)"
    [[ -n "$ADDR" ]] && break
    sleep 0.1
done
[[ -n "$ADDR" ]] || { cat "$DATA/server.log" >&2; echo "contract.sh: the server did not start" >&2; exit 1; }

# One stored session, so that GET /v1/sessions/{session_id} answers 200 too (and its answer
# is checked against the document) for the id schemathesis tries first.
curl -sf "http://$ADDR/v1/events" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"session_id": "0", "category": "contract", "name": "seed", "data": {}, "timestamp": "2021-01-01T00:00:00Z"}' >/dev/null
for _ in $(seq 1 100); do
    curl -sf "http://$ADDR/v1/sessions/0" -H "Authorization: Bearer $KEY" >/dev/null && break
    sleep 0.1
done

# Every check, both modes, on every operation but two: the live feed is an endless event
# stream, so a request for it never completes (the browser and HTTP tests cover it); and
# POST /v1/events, which runs on its own below.
run_schemathesis() {
    "$VENV/bin/schemathesis" run "http://$ADDR/openapi.json" \
        --header "Authorization: Bearer $KEY" \
        --checks all \
        --mode all \
        --exclude-path /v1/events/live \
        --max-examples "$EXAMPLES" \
        --request-timeout 10 \
        --seed 1 \
        --generation-database none \
        --suppress-health-check all \
        "$@"
}
# Four operations refuse some requests for how two parameters go together, which no JSON
# Schema of single parameters can state: a range whose `from` is not before its `to`; counts
# over time whose buckets times series pass 10,000 points, or whose rounded `to` passes year
# 9999; `metric=sessions` with a filter or `group_by`; and the session list refuses a
# cursor of the documented shape that it did not issue. They run below with
# `positive_data_acceptance` replaced by `valid_requests_are_refused_only_for_pairings`.
PAIRED=(--exclude-name "GET /v1/stats/events" --exclude-name "GET /v1/sessions"
    --exclude-name "GET /v1/events/export" --exclude-name "GET /v1/errors/export")
# The Segment-compatible routes judge each message on its own inside a 200 (the SDKs retry
# anything else), so a message the document's schema refuses is still answered 200: they run
# below without `negative_data_rejection`.
SEGMENT_PATHS='^/v1/(batch|track|page|screen|identify|group|alias|t|p|s|i|g|a)$'
run_schemathesis --exclude-name "POST /v1/events" --exclude-path-regex "$SEGMENT_PATHS" "${PAIRED[@]}"
run_schemathesis --include-path-regex "$SEGMENT_PATHS" --exclude-checks negative_data_rejection

# POST /v1/events judges each event of a batch on its own: a batch holding one event that
# the document's `Event` schema refuses is still answered 202 for the others (as the
# document says), and an event valid by `Event` may still be rejected for a reason no static
# document can state: the JSON Schema in force for its type (which this very run changes
# through PUT /v1/schemas), a timestamp later than the receive time. So for this operation
# `positive_data_acceptance` and `negative_data_rejection`, which judge whole requests, are
# excluded, and `ingest_verdicts_follow_the_document` (below) judges each event instead: a
# body whose shape the document refuses is refused whole (400, or 413 over maxItems), an
# event valid by `Event` is accepted or rejected only for one of those run-time reasons, and
# every event `Event` refuses is rejected.
cat >"$DATA/eye_contract_checks.py" <<'PYTHON'
import jsonschema_rs
import schemathesis

RUN_TIME_VERDICTS = {"schema_violation", "timestamp_in_future", "timestamp_too_old", "unknown_event_type"}
_documented = {}


def documented(case):
    """The document's `Event` schema as a validator, and the most events a body may hold."""
    if not _documented:
        schemas = case.operation.schema.raw_schema["components"]["schemas"]
        event = {"$ref": "#/components/schemas/Event", "components": {"schemas": schemas}}
        _documented["event"] = jsonschema_rs.Draft202012Validator(event)
        timestamp = {"$ref": "#/components/schemas/Timestamp", "components": {"schemas": schemas}}
        _documented["timestamp"] = jsonschema_rs.Draft202012Validator(timestamp)
        _documented["max_items"] = schemas["EventArray"]["maxItems"]
    return _documented["event"], _documented["max_items"]


def events_of(body, max_items):
    """The events of a body, or the status refusing it whole."""
    if isinstance(body, dict) and "events" in body:
        if set(body) - {"events", "sent_at"}:
            return 400
        sent_at = body.get("sent_at")
        # A sent_at of the documented form may still be an impossible date (2021-02-30),
        # which only the parser refuses: the refusal is then 400 as well.
        if sent_at is not None and not _documented["timestamp"].is_valid(sent_at):
            return 400
        body = body["events"]
    elif isinstance(body, dict):
        return [body]
    if not isinstance(body, list) or not body:
        return 400
    return body if len(body) <= max_items else 413


@schemathesis.check
def ingest_verdicts_follow_the_document(ctx, response, case):
    """POST /v1/events: the verdict on each event is the document's (see contract.sh)."""
    if (case.method.upper(), case.path) != ("POST", "/v1/events"):
        return None
    if response.status_code in (401, 403, 415, 429, 503):
        return None
    event, max_items = documented(case)
    events = events_of(case.body, max_items)
    if response.status_code == 400 and isinstance(case.body, dict) and "sent_at" in case.body:
        message = response.json().get("error", {}).get("message", "")
        if "sent_at" in message and isinstance(case.body["sent_at"], str):
            return None
    if isinstance(events, int):
        if response.status_code != events:
            raise AssertionError(f"a body the document refuses whole was answered {response.status_code}, not {events}")
        return None
    if response.status_code not in (202, 422):
        raise AssertionError(f"a body of {len(events)} events was answered {response.status_code}, not 202 or 422")
    results = response.json()["results"]
    for index, (sent, result) in enumerate(zip(events, results, strict=True)):
        valid = event.is_valid(sent)
        if not valid and result["status"] == "accepted":
            raise AssertionError(f"event {index} breaks the document's Event schema but was accepted")
        if valid and result["status"] == "rejected" and result["error"]["code"] not in RUN_TIME_VERDICTS:
            raise AssertionError(f"event {index} is valid by the document but was rejected: {result['error']}")
    return None


PAIRINGS = (
    "must be later than from",
    "points per answer",
    "metric=sessions counts every session",
    "passes the end of year 9999",
    # A session cursor holds an instant and the session id's UTF-8 bytes: hex of the
    # documented shape may hold neither, and only a cursor the server issued is read.
    "not a cursor this server issued",
)


@schemathesis.check
def valid_requests_are_refused_only_for_pairings(ctx, response, case):
    """A request the document calls valid is answered 2xx, or refused 400 for one of the
    documented pairings of parameters (see contract.sh), said in its message."""
    if (case.method.upper(), case.path) not in {
        ("GET", "/v1/stats/events"), ("GET", "/v1/sessions"),
        ("GET", "/v1/events/export"), ("GET", "/v1/errors/export"),
    }:
        return None
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code < 400:
        return None
    if response.status_code in (401, 403, 429, 503):
        return None
    error = response.json().get("error", {})
    if response.status_code == 400 and error.get("code") == "invalid_parameter" and any(
        pairing in error.get("message", "") for pairing in PAIRINGS
    ):
        return None
    raise AssertionError(f"a request valid by the document was refused {response.status_code}: {error}")
PYTHON
PYTHONPATH="$DATA" SCHEMATHESIS_HOOKS=eye_contract_checks run_schemathesis \
    --include-name "POST /v1/events" \
    --exclude-checks positive_data_acceptance,negative_data_rejection
PYTHONPATH="$DATA" SCHEMATHESIS_HOOKS=eye_contract_checks run_schemathesis \
    --include-name "GET /v1/stats/events" --include-name "GET /v1/sessions" \
    --include-name "GET /v1/events/export" --include-name "GET /v1/errors/export" \
    --exclude-checks positive_data_acceptance
