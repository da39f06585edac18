"""Backoff, Retry-After, idempotent retries and bounded memory, through injected faults."""

import json
import time
from datetime import datetime, timezone

from eye_client import Client
from faults import FaultServer, unreachable_server


def test_retries_honour_retry_after_and_never_duplicate(eye_server):
    proxy = FaultServer(eye_server.url, [("status", 429, 1), ("status", 503, None), ("reset",), ("hang", 3.0)])
    client = Client(proxy.url, eye_server.ingest_key, backoff_base=0.05, backoff_max=0.2, timeout=1.5)
    ids = {client.track(f"pyf-{n}", "page interaction", "pageview", {"host": "h", "path": "/"}) for n in range(20)}
    assert client.flush(timeout=60)
    stats = client.stats
    assert (stats.accepted, stats.failed, stats.retried) == (20, 0, 80), stats
    assert len(proxy.requests) == 5
    assert proxy.requests[1][0] - proxy.requests[0][0] >= 0.95, "Retry-After: 1 honoured"
    client.close()
    proxy.stop()
    eye_server.drain()
    stored = [e["event_id"] for e in eye_server.stored() if e["session_id"].startswith("pyf-")]
    assert sorted(stored) == sorted(ids), "every event stored exactly once"


def test_every_attempt_says_when_it_was_sent(eye_server):
    proxy = FaultServer(eye_server.url, [("status", 503, None)])
    client = Client(proxy.url, eye_server.ingest_key, backoff_base=0.2, backoff_max=0.2)
    tracked_at = datetime.now(timezone.utc)
    event_id = client.track("pys-1", "page interaction", "pageview", {"host": "h", "path": "/"})
    assert client.flush(timeout=30)
    assert client.stats.accepted == 1
    client.close()
    proxy.stop()
    first, retry = [json.loads(body) for body in proxy.bodies]
    assert first["events"] == retry["events"] and first["events"][0]["event_id"] == event_id
    sent = [datetime.fromisoformat(body["sent_at"]) for body in (first, retry)]
    assert all(at.tzinfo is not None for at in sent)
    assert tracked_at <= sent[0]
    assert (sent[1] - sent[0]).total_seconds() >= 0.09, "the retry is stamped when it leaves"
    # This machine's clock is the server's: the correction is the transit time only.
    eye_server.drain()
    [stored] = eye_server.stored(session_id="pys-1")
    original = datetime.fromisoformat(stored["original_timestamp"].replace("Z", "+00:00"))
    corrected = datetime.fromisoformat(stored["timestamp"].replace("Z", "+00:00"))
    assert abs((corrected - original).total_seconds()) < 2, stored


def test_other_client_errors_are_not_retried(eye_server):
    proxy = FaultServer(eye_server.url, [])
    client = Client(proxy.url, "eye_not_a_key")
    client.track("s", "c", "n", {})
    client.flush(timeout=30)
    assert (client.stats.failed, client.stats.retried) == (1, 0)
    assert len(proxy.requests) == 1
    client.close()
    proxy.stop()


def test_large_batches_are_gzipped(eye_server):
    proxy = FaultServer(eye_server.url, [])
    client = Client(proxy.url, eye_server.ingest_key, gzip_above_bytes=1024)
    client.track("pyz", "c", "n", {})
    client.flush(timeout=30)
    for n in range(40):
        client.track(f"pyz-{n}", "c", "n", {"padding": "x" * 50})
    client.flush(timeout=30)
    assert client.stats.accepted == 41
    encodings = [headers.get("Content-Encoding") for _, headers in proxy.requests]
    assert encodings == [None, "gzip"]
    client.close()
    proxy.stop()


def test_memory_stays_bounded_when_the_server_is_away():
    server = unreachable_server()
    client = Client(server.url, "eye_key", buffer_events=10, flush_events=5, flush_at_exit=False)
    outcomes = [client.track(f"s{n}", "c", "n", {}) for n in range(100)]
    dropped = outcomes.count(None)
    assert dropped >= 85
    assert client.buffered <= 10
    assert client.stats.dropped == dropped

    blocking = Client(server.url, "eye_key", buffer_events=1, flush_interval=3600, overflow="block", block_timeout=0.1, flush_at_exit=False)
    assert blocking.track("s", "c", "n", {}) is not None
    started = time.monotonic()
    assert blocking.track("s", "c", "n", {}) is None
    assert time.monotonic() - started >= 0.09
    server.stop()
