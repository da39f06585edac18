"""A client whose clock is 10 minutes fast (the SDK run under faketime): The Eye corrects its
timestamps with the batch's `sentAt` (stored = received_at - (sentAt - timestamp)), so its
events land at the true time instead of being refused as `timestamp_in_future`, and keep the
client's own time as `original_timestamp`."""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_sdks import instant, unique

SKEW = timedelta(minutes=10)


@pytest.mark.parametrize("kind", ["segment", "rudder"])
def test_a_client_ten_minutes_fast_is_stored_at_the_true_time(eye, kind):
    faketime = shutil.which("faketime")
    assert faketime, "faketime is required (Debian package `faketime`; scripts/compat.sh installs it)"
    session = unique("skewed")
    # Only the wall clock is wrong, as on a real machine whose clock is off.
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    before = datetime.now(timezone.utc)
    child = subprocess.run(
        [faketime, "-f", "+10m", sys.executable, str(Path(__file__).with_name("skewed_client.py")), kind, eye.url, eye.ingest_key, session],
        capture_output=True, text=True, timeout=60, env=env,
    )
    after = datetime.now(timezone.utc)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])

    # faketime really moved the client's clock.
    client_clock = datetime.fromtimestamp(report["clock"], timezone.utc)
    assert before + SKEW - timedelta(seconds=1) <= client_clock <= after + SKEW + timedelta(seconds=1), (before, client_clock, after)
    assert not report["failures"], report["failures"]
    assert report["answers"], "the SDK sent nothing"
    for status, body in report["answers"]:
        answer = json.loads(body)
        assert status == 200 and answer["success"] is True and answer["rejected"] == 0, (status, body)

    eye.drain()
    stored = {event["event_id"]: event for event in eye.stored(session_id=session)}
    assert sorted(stored) == sorted(m["messageId"] for m in report["messages"]), stored
    assert not [e for e in eye.errors() if e.get("session_id") == session or session in e["raw"]]
    for message in report["messages"]:
        event = stored[message["messageId"]]
        sent = instant(message["timestamp"])
        assert sent - before > SKEW - timedelta(seconds=1), "the message carries the fast clock's time"
        timestamp = instant(event["timestamp"])
        # Within a second of the true time the SDK made the call...
        assert abs(timestamp - (sent - SKEW)) < timedelta(seconds=1), (event, message)
        assert before - timedelta(seconds=1) <= timestamp <= after + timedelta(seconds=1), (before, event, after)
        assert abs(timestamp - instant(event["received_at"])) < timedelta(seconds=5), event
        # ...and the client's own time kept.
        assert abs(instant(event["original_timestamp"]) - sent) < timedelta(milliseconds=1), (event, message)
        assert abs(instant(event["original_timestamp"]) - (timestamp + SKEW)) < timedelta(seconds=1), event
