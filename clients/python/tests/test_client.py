"""The Python client against the real server."""

import subprocess
import sys
import textwrap
from pathlib import Path

from eye_client import Client


def test_tracked_events_are_batched_sent_and_counted(eye_server):
    client = Client(eye_server.url, eye_server.ingest_key, flush_events=7)
    ids = {client.track(f"py-{n % 3}", "page interaction", "pageview", {"host": "h", "path": "/"}) for n in range(30)}
    assert len(ids) == 30 and None not in ids
    assert client.flush(timeout=30)
    stats = client.stats
    assert (stats.sent, stats.accepted, stats.rejected, stats.failed, stats.dropped) == (30, 30, 0, 0, 0)
    client.close()
    eye_server.drain()
    stored = {event["event_id"] for event in eye_server.stored(category="page interaction") if event["session_id"].startswith("py-")}
    assert ids <= stored


def test_rejected_events_go_to_the_callback_and_are_not_retried(eye_server):
    rejected = []
    client = Client(eye_server.url, eye_server.ingest_key, on_rejected=rejected.append)
    bad = client.track("py-bad", "c", "n", {}, timestamp="2021-02-30 10:00:00")
    client.track("py-bad", "c", "n", {})
    client.flush(timeout=30)
    assert (client.stats.accepted, client.stats.rejected, client.stats.retried) == (1, 1, 0)
    assert [(r.event_id, r.code, r.path) for r in rejected] == [(bad, "invalid_timestamp", "/timestamp")]
    client.close()


def test_events_are_flushed_at_interpreter_exit(eye_server, tmp_path: Path):
    script = textwrap.dedent(
        f"""
        from eye_client import Client
        client = Client({eye_server.url!r}, {eye_server.ingest_key!r}, flush_interval=3600)
        client.track("py-exit", "page interaction", "pageview", {{"host": "h", "path": "/"}}, event_id="exit-1")
        """
    )
    package = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script], check=True, env={"PYTHONPATH": str(package)}, timeout=60)
    eye_server.drain()
    assert [e["event_id"] for e in eye_server.stored(session_id="py-exit")] == ["exit-1"]


def test_queries(eye_server):
    sender = Client(eye_server.url, eye_server.ingest_key)
    sender.track("py-query", "page interaction", "pageview", {"host": "h", "path": "/"})
    sender.close()
    eye_server.drain()
    reader = Client(eye_server.url, eye_server.query_key, flush_at_exit=False)
    page = reader.events(session_id="py-query")
    assert len(page["events"]) == 1
    assert reader.session("py-query")["event_count"] == 1
    assert "errors" in reader.errors(limit=1)


def test_rejections_are_logged_without_a_callback(eye_server, caplog):
    client = Client(eye_server.url, eye_server.ingest_key)
    bad = client.track("py-log", "c", "n", {}, timestamp="not a time")
    with caplog.at_level("WARNING", logger="eye_client"):
        client.flush(timeout=30)
    client.close()
    assert any(bad in record.getMessage() and "invalid_timestamp" in record.getMessage() for record in caplog.records)
