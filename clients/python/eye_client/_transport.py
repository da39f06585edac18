"""HTTP to The Eye with urllib: posting batches (``{"sent_at", "events"}``, gzip above a size),
classifying answers, and the query requests. Redirects are never followed (the key would go along), and the key is
kept out of every repr, message and exception."""

import gzip
import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from eye_client.errors import ApiError, NetworkError

USER_AGENT = "eye-client-python/0.1.0"
EXAMPLE_URL = "http://127.0.0.1:8000"

# What a failed request can raise besides HTTPError: URLError (refused, unknown host), socket
# timeouts and resets (OSError), and a malformed answer (HTTPException).
_NETWORK_FAILURES = (urllib.error.URLError, OSError, http.client.HTTPException)


@dataclass
class Answer:
    """The outcome of one attempt to post a batch.

    kind is ``verdicts`` (202/422, ``results`` set), ``retry`` (network error, timeout, 5xx,
    408, 429; ``retry_after`` when the server said), ``too_large`` (413) or ``refused``
    (any other answer: retrying cannot help). ``status`` is the HTTP status, if one came.
    """

    kind: str
    results: Optional[List[Dict[str, Any]]] = None
    retry_after: Optional[float] = None
    reason: str = ""
    status: Optional[int] = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx answer becomes an HTTPError: following it would send the key somewhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


def check_url(url: Any) -> str:
    """The base URL without a trailing slash; ValueError (saying what to write) otherwise."""
    text = url if isinstance(url, str) else ""
    shown = _without_credentials(text)
    try:
        parts = urllib.parse.urlsplit(text.strip())
    except ValueError:  # an unbalanced IPv6 bracket
        parts = urllib.parse.urlsplit("")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"The Eye's url must not carry credentials ({shown!r}): "
            "give the key as the second argument, e.g. Client(\"https://eye.example.com\", key)"
        )
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok or parts.query or parts.fragment:
        suggestion = f" (did you mean 'http://{shown}'?)" if shown and "://" not in shown else ""
        raise ValueError(
            f"The Eye's url must be http:// or https://, a host and an optional port, e.g. "
            f"'{EXAMPLE_URL}' or 'https://eye.example.com'; got {shown!r}{suggestion}"
        )
    if "/v1" in parts.path.rstrip("/"):
        # A path is a reverse proxy's prefix; one that reaches into the API is a route given
        # by mistake, which the client adds itself.
        raise ValueError(
            f"The Eye's url names a route ({shown!r}): give the server's base URL, e.g. "
            f"'{parts.scheme}://{parts.netloc}' (the client adds /v1/...)"
        )
    return text.strip().rstrip("/")


def check_key(key: Any) -> str:
    """The key, if it can go in an Authorization header; ValueError (never echoing it) otherwise."""
    if not isinstance(key, str) or not key or any(not ("!" <= char <= "~") for char in key):
        raise ValueError("key must be an API key of The Eye (as `eye keys create` prints it): a non-empty string without spaces or control characters")
    return key


class Transport:
    def __init__(self, url: str, key: str, timeout: float, gzip_above_bytes: int) -> None:
        self.url = check_url(url)
        self._authorization = f"Bearer {check_key(key)}"
        self.timeout = timeout
        self.gzip_above_bytes = gzip_above_bytes
        self._opener = urllib.request.build_opener(_NoRedirects)

    def __repr__(self) -> str:
        return f"Transport({self.url!r})"

    def post_events(self, events: bytes) -> Answer:
        """Posts ``events`` (a JSON array) as one attempt, stamped with this attempt's
        ``sent_at``."""
        body = batch_body(events, sent_at())
        headers = {"Authorization": self._authorization, "Content-Type": "application/json", "User-Agent": USER_AGENT}
        if len(body) > self.gzip_above_bytes:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        request = urllib.request.Request(f"{self.url}/v1/events", data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return _verdicts(response.read())
        except urllib.error.HTTPError as error:
            status = error.code
            retry_after = _retry_after(error.headers.get("Retry-After") if error.headers else None)
            payload = _read(error)
            if status == 422:
                return _verdicts(payload)
            if status == 413:
                return Answer("too_large", reason=_describe(status, payload), status=status)
            if status in (408, 429) or status >= 500:
                return Answer("retry", retry_after=retry_after, reason=_describe(status, payload), status=status)
            return Answer("refused", reason=_describe(status, payload, error.headers), status=status)
        except _NETWORK_FAILURES as error:
            return Answer("retry", reason=self._network_reason(error))

    def get(self, path: str, query: Dict[str, str]) -> Any:
        """One request of the query API: the decoded JSON answer. Raises ``ApiError`` for an
        error answer, ``NetworkError`` when no answer came."""
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, headers={"Authorization": self._authorization, "User-Agent": USER_AGENT})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            raise _api_error(url, error) from None
        except _NETWORK_FAILURES as error:
            raise NetworkError(f"GET {url}: {self._network_reason(error)}", url=url) from None
        try:
            return json.loads(payload)
        except ValueError:
            raise ApiError(f"GET {url} answered {status} with a body that is not JSON", url=url, status=status) from None

    def _network_reason(self, error: BaseException) -> str:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return f"no answer within {self.timeout:g} s"
        if isinstance(reason, socket.gaierror):
            return f"the host does not resolve ({reason})"
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused (is The Eye running at this address?)"
        return f"cannot reach The Eye: {reason or type(reason).__name__}"


def sent_at() -> str:
    """Now, by this machine's clock, in RFC 3339 (UTC, microseconds)."""
    return datetime.now(timezone.utc).isoformat()


def batch_body(events: bytes, sent: str) -> bytes:
    """``{"sent_at": ..., "events": [...]}``: ``sent_at`` is this client's clock when the
    request leaves, so the server can correct every event's timestamp for a clock that is off
    (it stores ``received_at - (sent_at - timestamp)``). Made anew for every attempt: a retry
    leaves later, and its events are that much older."""
    return b'{"sent_at":' + json.dumps(sent).encode() + b',"events":' + events + b"}"


def _read(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except _NETWORK_FAILURES:
        return b""


def _api_error(url: str, error: urllib.error.HTTPError) -> ApiError:
    payload = _read(error)
    code, message = _problem(payload)
    if 300 <= error.code < 400:
        message = f"redirected to {error.headers.get('Location', '?')}, not followed (the key would go along): use the address the server answers at"
    text = f"GET {url} answered {error.code}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    retry_after = _retry_after(error.headers.get("Retry-After") if error.headers else None)
    return ApiError(text, url=url, status=error.code, code=code, message=message, retry_after=retry_after)


def _problem(payload: bytes) -> "tuple[Optional[str], str]":
    try:
        error = json.loads(payload)["error"]
        return str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return None, ""


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


def _describe(status: int, payload: bytes, headers: Any = None) -> str:
    code, message = _problem(payload)
    if 300 <= status < 400 and headers is not None:
        return f"{status}: redirected to {headers.get('Location', '?')}, not followed (the key would go along)"
    return f"{status} {code}: {message}" if code else str(status)


def _without_credentials(url: str) -> str:
    scheme, separator, rest = url.strip().rpartition("://")
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = authority.rpartition("@")[2]
    return f"{scheme}{separator}{authority}{slash}{tail}"
