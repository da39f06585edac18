"""A real `eye serve` for the Segment-compatibility tests, and the SDKs under test, unchanged.

The server is started by clients/python/tests/eye_server.py (shared with the Python SDK's
tests). It runs from EYE_BIN (or the workspace's debug build) on a random loopback port, with
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
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The server is the one the Python SDK's tests start: clients/python/tests/eye_server.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))
from eye_server import EyeServer  # noqa: E402

DISTRIBUTIONS = ("segment-analytics-python", "rudder-sdk-python")


@pytest.fixture(scope="session")
def eye():
    server = EyeServer(prefix="eye-compat-")
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
