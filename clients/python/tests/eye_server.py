"""A real `eye serve` for the tests: shared by the Python SDK's tests (tests/conftest.py) and
the Segment-compatibility suite (clients/compat/python/conftest.py, which puts this folder on
sys.path).

The binary comes from EYE_BIN, or the workspace's debug build (built when missing). The server
listens on a random loopback port with a temporary data directory and loads the shipped
schemas (`<repo>/schemas`) unless told otherwise, so every event is judged as in production.
Its address is read from its log."""

import json
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHIPPED_SCHEMAS = ROOT / "schemas"


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
    """`eye serve` in a temporary data directory (named with `prefix`), with an ingest key
    (`ingest_key`, app "shop") and a query key (`query_key`) made before it starts."""

    def __init__(self, schemas: Path = SHIPPED_SCHEMAS, prefix: str = "eye-") -> None:
        assert sorted(schemas.glob("*.json")), f"no schemas in {schemas}"
        self.dir = tempfile.TemporaryDirectory(prefix=prefix)
        self.ingest_key = self.create_key("shop", "ingest")
        self.query_key = self.create_key("team", "query")
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

    def create_key(self, app: str, *scopes: str) -> str:
        """A new key of `app` holding `scopes`, made with `eye keys create`."""
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
        """GETs `path` with the query key; an error status fails the test, naming the path."""
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
        return self._all("events", filters)

    def errors(self, **filters: str) -> list:
        """Every error record (rejected events, refused bodies) matching the filters, all pages."""
        return self._all("errors", filters)

    def _all(self, kind: str, filters: dict) -> list:
        records, cursor = [], ""
        while True:
            page = self.get(f"/v1/{kind}?" + urllib.parse.urlencode({**filters, "limit": "1000", "cursor": cursor}))
            records.extend(page[kind])
            if not page["next_cursor"]:
                return records
            cursor = page["next_cursor"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.dir.cleanup()
