"""A real `eye serve` for the Segment-compatibility tests, and the SDKs under test, unchanged.

The server runs from EYE_BIN (or the workspace's debug build) on a random loopback port, with
a temporary data directory and the repository's schemas/, so each message is judged as in
production. Each SDK is pointed at it through its own `host` option; what it puts on the wire
is observed with a response hook on the `requests` session of the SDK's request module (the
SDK's code is not touched).

A skipped test is a failure under CI=true: nothing here may pass by not running."""

import gzip
import importlib.metadata
import json
import logging
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHIPPED_SCHEMAS = ROOT / "schemas"
DISTRIBUTIONS = ("segment-analytics-python", "rudder-sdk-python")


def eye_binary() -> str:
    configured = os.environ.get("EYE_BIN")
    if configured:
        assert os.access(configured, os.X_OK), f"EYE_BIN={configured} is not an executable"
        return configured
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    candidate = Path(target) / "debug" / "eye"
    if not candidate.exists():
        subprocess.run(["cargo", "build", "-p", "eye"], cwd=ROOT, check=True)
    return str(candidate)


class EyeServer:
    def __init__(self, schemas: Path = SHIPPED_SCHEMAS) -> None:
        assert sorted(schemas.glob("*.json")), f"no schemas in {schemas}"
        self.dir = tempfile.TemporaryDirectory(prefix="eye-compat-")
        self.ingest_key = self.key("shop", "ingest")
        self.query_key = self.key("analytics", "query")
        self.process = subprocess.Popen(
            [eye_binary(), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir.name, "--schemas", str(schemas)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.listening = threading.Event()
        threading.Thread(target=self._read_logs, daemon=True).start()
        self.url = self._wait_for_address()

    def key(self, app: str, scope: str) -> str:
        result = subprocess.run(
            [eye_binary(), "keys", "create", "--app", app, "--scope", scope, "--data-dir", self.dir.name],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def _read_logs(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if not self.listening.is_set():
                self.lines.put(line)
        self.lines.put(None)

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + 30
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                self.process.kill()
                raise RuntimeError("the eye server did not log its address within 30 s:\n" + "".join(seen))
            if line is None:
                raise RuntimeError("the eye server exited without listening:\n" + "".join(seen))
            seen.append(line)
            match = re.search(r"listening addr=(\S+)", line)
            if match:
                self.listening.set()
                return f"http://{match.group(1)}"

    def get(self, path: str) -> dict:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.query_key}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"GET {path}: {error.code} {error.read()!r}") from None

    def drain(self) -> None:
        """Waits (10 s at most) until the server processed everything it acknowledged."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with urllib.request.urlopen(self.url + "/readyz", timeout=5) as response:
                if json.loads(response.read())["queue_depth"] == 0:
                    return
            time.sleep(0.02)
        raise AssertionError("the queue did not drain within 10 s")

    def stored(self, **filters: str) -> list:
        """Every stored event matching the filters (`session_id`, `user_id`...), all pages."""
        events, cursor = [], ""
        while True:
            page = self.get("/v1/events?" + urllib.parse.urlencode({**filters, "limit": "1000", "cursor": cursor}))
            events.extend(page["events"])
            if not page["next_cursor"]:
                return events
            cursor = page["next_cursor"]

    def errors(self, **filters: str) -> list:
        errors, cursor = [], ""
        while True:
            page = self.get("/v1/errors?" + urllib.parse.urlencode({**filters, "limit": "1000", "cursor": cursor}))
            errors.extend(page["errors"])
            if not page["next_cursor"]:
                return errors
            cursor = page["next_cursor"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.dir.cleanup()


@pytest.fixture(scope="session")
def eye():
    server = EyeServer()
    yield server
    server.stop()


@dataclass
class Exchange:
    """One request an SDK sent and the answer it got, as seen by `requests`."""

    method: str
    url: str
    headers: dict
    body: bytes
    status: int
    answer_headers: dict
    answer: bytes

    @property
    def gzipped(self) -> bool:
        return self.body[:2] == b"\x1f\x8b"

    def payload(self) -> dict:
        return json.loads(gzip.decompress(self.body) if self.gzipped else self.body)

    def answer_json(self):
        return json.loads(self.answer)


@dataclass
class Sdk:
    """One SDK under test: its distribution, module, logger and what it is known to send."""

    distribution: str
    package: str
    logger: str
    library: str
    gzip_by_default: bool
    exchanges: list = field(default_factory=list)
    # Set by a test whose SDK must report a failure (logged as an error by the SDK).
    complaints_expected: bool = False

    @property
    def version(self) -> str:
        return importlib.metadata.version(self.distribution)

    def modules(self):
        if self.package == "segment":
            from segment.analytics import client, request
        else:
            from rudderstack.analytics import client, request
        return client, request

    def client(self, url: str, key: str, failures: list, **options):
        """A client of the SDK's own, pointed at `url` by its `host` option; every failure it
        reports through `on_error` lands in `failures`."""
        client, _ = self.modules()
        return client.Client(key, host=url, on_error=lambda error, batch: failures.append((error, batch)), **options)

    def api_error(self):
        return self.modules()[1].APIError

    def _record(self, response, *args, **kwargs):
        request = response.request
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        self.exchanges.append(
            Exchange(request.method, request.url, dict(request.headers), body, response.status_code, dict(response.headers), response.content)
        )

    def observe(self):
        """Starts recording every exchange of the SDK's module-level `requests` session."""
        self.exchanges = []
        hooks = self.modules()[1]._session.hooks["response"]
        hooks.append(self._record)
        return lambda: hooks.remove(self._record)


SDKS = {
    "segment": Sdk("segment-analytics-python", "segment", "segment", "analytics-python", gzip_by_default=False),
    # rudder-sdk-python names its library (and User-Agent) "analytics-python" too.
    "rudder": Sdk("rudder-sdk-python", "rudderstack", "rudderstack", "analytics-python", gzip_by_default=True),
}


@pytest.fixture(params=sorted(SDKS), ids=sorted(SDKS))
def sdk(request, caplog):
    """Each SDK in turn, its exchanges recorded; the test fails if the SDK logged a warning
    or an error (its way of reporting a failed upload besides `on_error`)."""
    chosen = SDKS[request.param]
    chosen.complaints_expected = False
    caplog.set_level(logging.DEBUG, logger=chosen.logger)
    stop = chosen.observe()
    yield chosen
    stop()
    records = caplog.get_records("call")
    complaints = [r.getMessage() for r in records if r.name.startswith(chosen.logger) and r.levelno >= logging.WARNING]
    if not chosen.complaints_expected:
        assert not complaints, f"{chosen.distribution} logged: {complaints}"


def pytest_report_header(config):
    lines = []
    for distribution in DISTRIBUTIONS:
        try:
            lines.append(f"SDK under test: {distribution} {importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"SDK under test: {distribution} NOT INSTALLED")
    return lines


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") == "true" and skipped:
        print(f"\n{skipped} test(s) skipped under CI=true: that is a failure")
        session.exitstatus = 1
