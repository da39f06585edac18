"""Real `eye` servers for the tests, and Django configured for the integration tests. The
binary comes from EYE_BIN, or the workspace's debug build. Both servers load the shipped
schemas (`<repo>/schemas`), so every event the SDK and its Django integration send is judged
as in production."""

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHIPPED_SCHEMAS = ROOT / "schemas"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def eye_binary() -> str:
    configured = os.environ.get("EYE_BIN")
    if configured:
        return configured
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    candidate = Path(target) / "debug" / "eye"
    if not candidate.exists():
        subprocess.run(["cargo", "build", "-p", "eye"], cwd=ROOT, check=True)
    return str(candidate)


class EyeServer:
    def __init__(self, schemas: Path = SHIPPED_SCHEMAS) -> None:
        assert sorted(schemas.glob("*.json")), f"no schemas in {schemas}"
        self.dir = tempfile.TemporaryDirectory()
        self.ingest_key = self._key("shop", "ingest")
        self.query_key = self._key("team", "query")
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

    def _key(self, app: str, *scopes: str) -> str:
        flags = [argument for scope in scopes for argument in ("--scope", scope)]
        result = subprocess.run(
            [eye_binary(), "keys", "create", "--app", app, *flags, "--data-dir", self.dir.name],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def _read_logs(self) -> None:
        """Hands each line of the server's standard error to `_wait_for_address` (None at its
        end) until the server listens; reads the rest only so that the pipe never fills."""
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
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def drain(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with urllib.request.urlopen(self.url + "/readyz", timeout=5) as response:
                if json.loads(response.read())["queue_depth"] == 0:
                    return
            time.sleep(0.02)
        raise AssertionError("the queue did not drain")

    def stored(self, **filters: str) -> list:
        """Every stored event matching the filters, following pagination."""
        events, cursor = [], ""
        while True:
            page = self.get("/v1/events?" + urllib.parse.urlencode({**filters, "limit": "1000", "cursor": cursor}))
            events.extend(page["events"])
            if not page["next_cursor"]:
                return events
            cursor = page["next_cursor"]

    def errors(self) -> list:
        """Every error record (rejected events, refused bodies), following pagination."""
        errors, cursor = [], ""
        while True:
            page = self.get("/v1/errors?" + urllib.parse.urlencode({"limit": "1000", "cursor": cursor}))
            errors.extend(page["errors"])
            if not page["next_cursor"]:
                return errors
            cursor = page["next_cursor"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.dir.cleanup()


@pytest.fixture(scope="session")
def eye_server():
    server = EyeServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def readme_server():
    """A server of its own for the README's examples (nothing else sends to it, so its error
    store shows every rejection of theirs), with one key holding the ingest and query scopes."""
    server = EyeServer()
    server.key = server._key("readme", "ingest", "query")
    yield server
    server.stop()


def pytest_configure() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoproject.settings")
        django.setup()
