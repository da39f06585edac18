"""HTTP to The Eye with urllib: posting batches (gzip above a size) and classifying answers."""

import gzip
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, List, Optional


@dataclass
class Answer:
    """The outcome of one attempt to post a batch.

    kind is ``verdicts`` (202/422, ``results`` set), ``retry`` (network error, timeout, 5xx,
    408, 429; ``retry_after`` when the server said), ``too_large`` (413) or ``refused``
    (any other answer: retrying cannot help).
    """

    kind: str
    results: Optional[List[Dict[str, Any]]] = None
    retry_after: Optional[float] = None
    reason: str = ""


class Transport:
    def __init__(self, url: str, key: str, timeout: float, gzip_above_bytes: int) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.gzip_above_bytes = gzip_above_bytes

    def post_events(self, body: bytes) -> Answer:
        headers = {
            "Authorization": f"Bearer {self.key}",
            "Content-Type": "application/json",
            "User-Agent": "eye-client-python/0.1.0",
        }
        if len(body) > self.gzip_above_bytes:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        request = urllib.request.Request(f"{self.url}/v1/events", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _verdicts(response.read())
        except urllib.error.HTTPError as error:
            status = error.code
            retry_after = _retry_after(error.headers.get("Retry-After") if error.headers else None)
            payload = error.read()
            if status == 422:
                return _verdicts(payload)
            if status == 413:
                return Answer("too_large", reason=_describe(status, payload))
            if status in (408, 429) or status >= 500:
                return Answer("retry", retry_after=retry_after, reason=_describe(status, payload))
            return Answer("refused", reason=_describe(status, payload))
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as error:
            return Answer("retry", reason=str(error))

    def get(self, path: str, query: Dict[str, str]) -> Any:
        """One request of the query API; raises ``urllib.error.HTTPError`` on an error answer."""
        from urllib.parse import urlencode

        suffix = f"?{urlencode(query)}" if query else ""
        request = urllib.request.Request(f"{self.url}{path}{suffix}", headers={"Authorization": f"Bearer {self.key}"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())


def _verdicts(payload: bytes) -> Answer:
    try:
        return Answer("verdicts", results=json.loads(payload)["results"])
    except (ValueError, KeyError, TypeError) as error:
        return Answer("retry", reason=f"unreadable answer: {error}")


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return min(float(value.strip()), 3600.0)
    except ValueError:
        return None  # an HTTP date: fall back to backoff


def _describe(status: int, payload: bytes) -> str:
    try:
        error = json.loads(payload)["error"]
        return f"{status}: {error['message']} ({error['code']})"
    except (ValueError, KeyError, TypeError):
        return str(status)
