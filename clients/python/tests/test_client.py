"""The Python client against the real server."""

import http.server
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import urllib.error
from pathlib import Path

import pytest

from eye_client import ApiError, Client, EyeError, NetworkError


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


def test_the_user_and_context_are_stored_and_find_the_users_events_and_sessions(eye_server):
    sender = Client(eye_server.url, eye_server.ingest_key, flush_at_exit=False)
    context = {"page": {"url": "https://shop.example/pricing"}, "locale": "en-GB"}
    for session, user in (("py-user-a", "py-user-1"), ("py-user-b", "py-user-1"), ("py-user-c", "py-user-2")):
        sender.track(session, "page interaction", "pageview", {"host": "h", "path": "/"}, user_id=user, context=context)
    sender.track("py-user-d", "page interaction", "pageview", {"host": "h", "path": "/"}, timestamp="2021-01-01 09:15:27.243860")
    assert sender.flush(timeout=30)
    assert sender.stats.accepted == 4
    sender.close()
    eye_server.drain()
    reader = Client(eye_server.url, eye_server.query_key, flush_at_exit=False)
    events = reader.events(user_id="py-user-1")["events"]
    assert sorted(e["session_id"] for e in events) == ["py-user-a", "py-user-b"]
    assert all(e["user_id"] == "py-user-1" and e["context"] == context for e in events)
    [anonymous] = reader.events(session_id="py-user-d")["events"]
    assert (anonymous["user_id"], anonymous["context"]) == (None, None)
    assert anonymous["original_timestamp"] == "2021-01-01T09:15:27.243860Z"
    sessions = reader.sessions(user_id="py-user-1")["sessions"]
    assert sorted(s["session_id"] for s in sessions) == ["py-user-a", "py-user-b"]


def test_rejections_are_logged_without_a_callback(eye_server, caplog):
    client = Client(eye_server.url, eye_server.ingest_key)
    bad = client.track("py-log", "c", "n", {}, timestamp="not a time")
    with caplog.at_level("WARNING", logger="eye_client"):
        client.flush(timeout=30)
    client.close()
    assert any(bad in record.getMessage() and "invalid_timestamp" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "localhost:8000", "www.example.com", "ftp://127.0.0.1:8000", "http://", ""])
def test_a_url_without_a_scheme_is_refused_with_what_to_write(url):
    with pytest.raises(ValueError) as raised:
        Client(url, "eye_key", flush_at_exit=False)
    message = str(raised.value)
    assert "http://127.0.0.1:8000" in message and "https://" in message, message


def test_a_route_given_as_the_url_is_refused_and_a_proxy_prefix_is_kept():
    with pytest.raises(ValueError) as raised:
        Client("http://127.0.0.1:8000/v1", "eye_key", flush_at_exit=False)
    assert "'http://127.0.0.1:8000'" in str(raised.value)
    behind_proxy = Client("https://corp.example.com/eye/", "eye_key", flush_at_exit=False)
    assert behind_proxy._transport.url == "https://corp.example.com/eye"


def test_credentials_in_the_url_or_a_malformed_key_are_refused_without_echoing_them():
    with pytest.raises(ValueError) as raised:
        Client("http://jane:hunter2@127.0.0.1:8000", "eye_key", flush_at_exit=False)
    assert "hunter2" not in str(raised.value)
    for key in ("", "eye_s3cret\r\nX-Injected: 1", "eye s3cret"):
        with pytest.raises(ValueError) as raised:
            Client("http://127.0.0.1:8000", key, flush_at_exit=False)
        assert "s3cret" not in str(raised.value)


def test_query_errors_carry_the_status_code_and_message_of_the_server(eye_server):
    reader = Client(eye_server.url, eye_server.query_key, flush_at_exit=False)
    with pytest.raises(ApiError) as raised:
        reader.events(limit=5000)
    error = raised.value
    assert isinstance(error, EyeError) and not isinstance(error, urllib.error.HTTPError)
    assert (error.status, error.code) == (400, "invalid_parameter")
    assert "limit" in error.message
    assert error.url.startswith(eye_server.url + "/v1/events?")
    assert "400" in str(error) and "invalid_parameter" in str(error) and "limit" in str(error)
    with pytest.raises(ApiError) as raised:
        reader.session("py-never-seen")
    assert (raised.value.status, raised.value.code) == (404, "not_found")
    with pytest.raises(ApiError) as raised:
        Client(eye_server.url, eye_server.ingest_key, flush_at_exit=False).errors()
    assert (raised.value.status, raised.value.code) == (403, "forbidden")
    wrong_key = "eye_" + "7" * 64
    with pytest.raises(ApiError) as raised:
        Client(eye_server.url, wrong_key, flush_at_exit=False).events()
    assert (raised.value.status, raised.value.code) == (401, "unauthorized")
    assert wrong_key not in f"{raised.value} {raised.value!r} {raised.value.message}"


def test_network_failures_of_queries_name_the_url_and_never_the_key():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "eye_" + "5" * 64
    client = Client(f"http://127.0.0.1:{port}", key, flush_at_exit=False, timeout=5)
    with pytest.raises(NetworkError) as raised:
        client.session("py-s")
    error = raised.value
    assert isinstance(error, EyeError) and error.status is None and error.code is None
    assert f"http://127.0.0.1:{port}/v1/sessions/py-s" in str(error)
    shown = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert key not in shown + repr(error) + repr(client) + str(client.stats)


def test_the_key_is_never_sent_to_another_place_on_a_redirect():
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(302 if self.path.startswith("/v1/") else 200)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = Client(f"http://127.0.0.1:{server.server_address[1]}", "eye_key", flush_at_exit=False)
        with pytest.raises(ApiError) as raised:
            client.events()
        assert raised.value.status == 302 and "/elsewhere" in str(raised.value)
        client.track("s", "c", "n", {})
        assert client.flush(timeout=30)
        assert client.stats.failed == 1
        assert [path for path, _ in seen] == ["/v1/events", "/v1/events"], "the redirect is never followed"
        client.close()
    finally:
        server.shutdown()


def test_a_wrong_key_is_logged_once_as_a_warning_naming_the_url_and_status(eye_server, caplog):
    caplog.set_level(logging.WARNING, logger="eye_client")
    wrong_key = "eye_" + "3" * 64
    client = Client(eye_server.url, wrong_key, flush_at_exit=False)
    for n in range(3):
        client.track("py-401", "page interaction", "pageview", {"host": "h", "path": "/"})
        assert client.flush(timeout=30)
    assert client.stats.failed == 3
    client.close()
    warnings = [r for r in caplog.records if r.name == "eye_client" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "401" in message and f"{eye_server.url}/v1/events" in message, message
    assert all(wrong_key not in r.getMessage() for r in caplog.records)


def test_session_waits_until_what_was_flushed_is_stored(eye_server):
    sender = Client(eye_server.url, eye_server.ingest_key, flush_events=5, flush_at_exit=False)
    reader = Client(eye_server.url, eye_server.query_key, flush_at_exit=False)
    for attempt in range(5):  # each attempt on a new session: the first query comes right after flush
        session_id = f"py-wait-{attempt}"
        ids = [sender.track(session_id, "page interaction", "pageview", {"host": "h", "path": f"/{n}"}) for n in range(12)]
        assert sender.flush(timeout=30)
        session = reader.session(session_id, wait=10.0, min_events=12)
        assert session["event_count"] == 12
        assert sorted(e["event_id"] for e in session["events"]) == sorted(ids)
    sender.close()


def test_waiting_for_a_session_ends_at_its_deadline(eye_server):
    reader = Client(eye_server.url, eye_server.query_key, flush_at_exit=False)
    started = time.monotonic()
    with pytest.raises(ApiError) as raised:
        reader.session("py-never-stored", wait=0.5)
    elapsed = time.monotonic() - started
    assert raised.value.status == 404 and 0.5 <= elapsed < 5, elapsed
    sender = Client(eye_server.url, eye_server.ingest_key, flush_at_exit=False)
    sender.track("py-short", "page interaction", "pageview", {"host": "h", "path": "/"})
    sender.close()
    started = time.monotonic()
    session = reader.session("py-short", wait=0.5, min_events=2)  # never reached: what there is
    assert session["event_count"] == 1 and 0.5 <= time.monotonic() - started < 5
