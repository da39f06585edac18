"""The client: a bounded buffer, a background sender thread, counters and the query API."""

import atexit
import json
import logging
import random
import threading
import time
import urllib.parse
import weakref
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple, Union

from eye_client._ids import uuid7
from eye_client._transport import Transport
from eye_client.errors import ApiError


@dataclass(frozen=True)
class Stats:
    """Counters, in events. ``failed``: given up on (a 401, 403, 400..., or retries exhausted)."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    dropped: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True)
class RejectedEvent:
    """An event the server refused, as passed to ``on_rejected``."""

    event_id: str
    event: Dict[str, Any]
    code: str
    message: str
    path: Optional[str]


Timestamp = Union[datetime, str, None]

logger = logging.getLogger("eye_client")


class Client:
    """Sends events to The Eye in the background.

    ``track`` puts the event in a buffer of at most ``buffer_events`` events and returns its
    ``event_id`` at once (or ``None`` when the event was dropped). A background thread sends
    a batch when ``flush_events`` events or ``flush_bytes`` bytes are waiting, or every
    ``flush_interval`` seconds. When the buffer is full, ``overflow="drop_newest"`` (default)
    drops the new event; ``overflow="block"`` waits up to ``block_timeout`` seconds for room.
    The client flushes at interpreter exit unless ``flush_at_exit=False``.

    ``url`` is the server's base URL with its scheme (``http://127.0.0.1:8000``); anything
    else raises ValueError. The key appears in no repr, log message or exception.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        flush_events: int = 100,
        flush_bytes: int = 512 * 1024,
        flush_interval: float = 1.0,
        gzip_above_bytes: int = 4 * 1024,
        buffer_events: int = 10_000,
        overflow: str = "drop_newest",
        block_timeout: float = 1.0,
        max_retries: int = 10,
        backoff_base: float = 0.2,
        backoff_max: float = 30.0,
        timeout: float = 10.0,
        on_rejected: Optional[Callable[[RejectedEvent], None]] = None,
        flush_at_exit: bool = True,
    ) -> None:
        if overflow not in ("drop_newest", "block"):
            raise ValueError("overflow must be 'drop_newest' or 'block'")
        self._transport = Transport(url, key, timeout, gzip_above_bytes)
        self._flush_events = max(1, min(flush_events, 1000))
        self._flush_bytes = max(1, flush_bytes)
        self._flush_interval = flush_interval
        self._capacity = max(1, buffer_events)
        self._overflow = overflow
        self._block_timeout = block_timeout
        self._max_retries = max_retries
        self._backoff = (backoff_base, max(backoff_max, backoff_base))
        self._on_rejected = on_rejected
        self._buffer: Deque[Tuple[str, str]] = deque()
        self._bytes = 0
        self._unresolved = 0
        self._closed = False
        self._flush_requested = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._counts: Dict[str, int] = dict.fromkeys(("sent", "accepted", "rejected", "dropped", "retried", "failed"), 0)
        self._warned_statuses: set = set()
        self._thread = threading.Thread(target=self._run, name="eye-client", daemon=True)
        self._thread.start()
        if flush_at_exit:
            atexit.register(_close_at_exit, weakref.ref(self))

    def __repr__(self) -> str:
        return f"<eye_client.Client url={self._transport.url!r} buffered={self.buffered} closed={self._closed}>"

    # -- tracking ---------------------------------------------------------------------

    def track(
        self,
        session_id: str,
        category: str,
        name: str,
        data: Optional[Mapping[str, Any]] = None,
        timestamp: Timestamp = None,
        event_id: Optional[str] = None,
        *,
        user_id: Optional[str] = None,
        context: Optional[Mapping[str, Any]] = None,
    ) -> Optional[str]:
        """Queues one event; returns its ``event_id``, or ``None`` if it was dropped.

        ``user_id``: the user the application knows (1 to 128 characters), which
        ``events(user_id=...)`` and ``sessions(user_id=...)`` find. ``context``: where and
        how the event was sent (page, user agent, locale...), a mapping of at most 8 KiB as
        JSON. Both are left out of the event when not given."""
        event: Dict[str, Any] = {
            "session_id": session_id,
            "category": category,
            "name": name,
            "data": dict(data or {}),
            "timestamp": _timestamp(timestamp),
            "event_id": event_id,
        }
        if user_id is not None:
            event["user_id"] = user_id
        if context is not None:
            event["context"] = dict(context)
        return self.track_event(event)

    def track_event(self, event: Mapping[str, Any]) -> Optional[str]:
        """Queues a whole event (a mapping); adds ``event_id`` and ``timestamp`` when missing."""
        event = dict(event)
        event_id = event.get("event_id") or uuid7()
        event["event_id"] = event_id
        event["timestamp"] = _timestamp(event.get("timestamp"))
        line = json.dumps(event, separators=(",", ":"), default=str)
        with self._changed:
            if self._overflow == "block":
                deadline = time.monotonic() + self._block_timeout
                while len(self._buffer) >= self._capacity and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
            if self._closed:
                raise RuntimeError("the client is closed")
            if len(self._buffer) >= self._capacity:
                self._counts["dropped"] += 1
                return None
            self._buffer.append((event_id, line))
            self._bytes += len(line)
            self._unresolved += 1
            if len(self._buffer) >= self._flush_events or self._bytes >= self._flush_bytes:
                self._changed.notify_all()
        return event_id

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Sends what is buffered and waits until every event tracked so far is accepted,
        rejected or failed. Returns False if ``timeout`` seconds passed first.

        Accepted means durable in The Eye's queue: stored and queryable a few milliseconds
        later. To read them back at once, use ``session(id, wait=...)``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            self._flush_requested = True
            self._changed.notify_all()
            while self._unresolved > 0:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining if remaining is not None else 1.0)
        return True

    def close(self, timeout: Optional[float] = None) -> None:
        """Flushes, then stops the sender; ``track`` raises afterwards."""
        self.flush(timeout)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout)

    @property
    def stats(self) -> Stats:
        with self._lock:
            return Stats(**self._counts)

    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._buffer)

    # -- queries ----------------------------------------------------------------------

    def events(self, **filters: Any) -> Dict[str, Any]:
        """One page of ``GET /v1/events`` (filters: session_id, user_id, category, name, app,
        from_, to, order, limit, cursor). Needs a key with the query scope. Raises ``ApiError`` (with
        ``status``, ``code``, ``message``) for an error answer, ``NetworkError`` when the
        server cannot be reached."""
        return self._transport.get("/v1/events", _query(filters))

    def session(self, session_id: str, *, wait: float = 0.0, min_events: int = 1, **filters: Any) -> Dict[str, Any]:
        """``GET /v1/sessions/{session_id}`` (filters: limit, cursor): the session's summary
        and its first page of events. Needs a key with the query scope.

        The Eye stores events a few milliseconds after it acknowledges them, so right after
        ``flush()`` a session may not be stored yet (404) or not whole. With ``wait`` seconds,
        the request is repeated until the session holds at least ``min_events`` events or
        the time is up; then a session still unknown raises ``ApiError`` (status 404) and a
        shorter one is returned as it is (check ``event_count``). Other errors raise at once.
        """
        path = f"/v1/sessions/{urllib.parse.quote(session_id, safe='')}"
        deadline = time.monotonic() + max(0.0, wait)
        pause = 0.02
        while True:
            try:
                answer = self._transport.get(path, _query(filters))
                if answer.get("event_count", 0) >= min_events:
                    return answer
            except ApiError as error:
                if error.status != 404 or time.monotonic() >= deadline:
                    raise
            else:
                if time.monotonic() >= deadline:
                    return answer
            time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            pause = min(pause * 2, 0.5)

    def sessions(self, **filters: Any) -> Dict[str, Any]:
        """One page of ``GET /v1/sessions``, by last activity (filters: from_, to, app,
        min_events, has_event, user_id, order, limit, cursor); ``user_id`` lists that user's
        sessions. Raises like ``events``."""
        return self._transport.get("/v1/sessions", _query(filters))

    def errors(self, **filters: Any) -> Dict[str, Any]:
        """One page of ``GET /v1/errors`` (filters: code, app, category, name, from_, to,
        order, limit, cursor). Raises like ``events``."""
        return self._transport.get("/v1/errors", _query(filters))

    # -- the sender thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            with self._lock:
                self._counts["sent"] += len(batch)
            self._send(batch)

    def _next_batch(self) -> Optional[List[Tuple[str, str]]]:
        with self._changed:
            since = time.monotonic()
            while True:
                if not self._buffer:
                    self._flush_requested = False
                    if self._closed:
                        return None
                    self._changed.wait(1.0)
                    since = time.monotonic()
                    continue
                due = (
                    self._closed
                    or self._flush_requested
                    or len(self._buffer) >= self._flush_events
                    or self._bytes >= self._flush_bytes
                    or time.monotonic() - since >= self._flush_interval
                )
                if due:
                    break
                self._changed.wait(max(0.0, self._flush_interval - (time.monotonic() - since)))
            batch: List[Tuple[str, str]] = []
            size = 0
            while self._buffer and len(batch) < self._flush_events:
                event_id, line = self._buffer[0]
                if batch and size + len(line) > self._flush_bytes:
                    break
                self._buffer.popleft()
                batch.append((event_id, line))
                size += len(line)
            self._bytes -= size
            self._changed.notify_all()
            return batch

    def _send(self, batch: List[Tuple[str, str]]) -> None:
        pending = [batch]
        while pending:
            batch = pending.pop()
            events = ("[" + ",".join(line for _, line in batch) + "]").encode()
            attempt = 0
            while True:
                answer = self._transport.post_events(events)
                if answer.kind == "verdicts":
                    self._resolve(batch, answer.results or [])
                    break
                if answer.kind == "too_large" and len(batch) > 1:
                    half = len(batch) // 2
                    pending.extend([batch[half:], batch[:half]])
                    break
                if answer.kind == "retry" and attempt < self._max_retries:
                    with self._lock:
                        self._counts["retried"] += len(batch)
                    time.sleep(answer.retry_after if answer.retry_after is not None else self._backoff_for(attempt))
                    attempt += 1
                    continue
                self._warn_failed(answer, len(batch), attempt)
                self._finish(batch, "failed")
                break

    def _warn_failed(self, answer: Any, count: int, attempts: int) -> None:
        """A refusal (401, 403, 400...) is logged once per status, a batch given up every time."""
        url = f"{self._transport.url}/v1/events"
        if answer.kind == "retry":
            logger.warning("The Eye at %s: gave up on %d event(s) after %d retries, counted as failed: %s", url, count, attempts, answer.reason)
        elif answer.kind == "too_large":
            logger.warning("The Eye at %s refused an event as too large (%s), counted as failed", url, answer.reason)
        elif answer.status not in self._warned_statuses:
            self._warned_statuses.add(answer.status)
            logger.warning(
                "The Eye at %s answered %s; %d event(s) counted as failed, not retried "
                "(further %s answers of this client are only counted in stats.failed)",
                url,
                answer.reason,
                count,
                answer.status,
            )

    def _backoff_for(self, attempt: int) -> float:
        base, cap = self._backoff
        ceiling = min(cap, base * (2 ** min(attempt, 16)))
        return random.uniform(ceiling / 2, ceiling)

    def _resolve(self, batch: List[Tuple[str, str]], results: List[Dict[str, Any]]) -> None:
        rejected = []
        for result in results:
            if result.get("status") == "rejected":
                index = result.get("index", -1)
                if 0 <= index < len(batch):
                    rejected.append((batch[index], result.get("error") or {}))
        with self._changed:
            self._counts["accepted"] += len(batch) - len(rejected)
            self._counts["rejected"] += len(rejected)
        if self._on_rejected is None:
            for (event_id, _), error in rejected:
                logger.warning("The Eye rejected event %s: %s at %s: %s", event_id, error.get("code"), error.get("path"), error.get("message"))
        else:
            for (event_id, line), error in rejected:
                try:
                    self._on_rejected(
                        RejectedEvent(event_id, json.loads(line), error.get("code", ""), error.get("message", ""), error.get("path"))
                    )
                except Exception:  # a failing callback must not stop the sender
                    pass
        self._finish(batch, None)

    def _finish(self, batch: List[Tuple[str, str]], counter: Optional[str]) -> None:
        with self._changed:
            if counter:
                self._counts[counter] += len(batch)
            self._unresolved -= len(batch)
            self._changed.notify_all()


def _timestamp(value: Timestamp) -> str:
    if value is None:
        return datetime.now(timezone.utc).isoformat()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    return str(value)


def _query(filters: Mapping[str, Any]) -> Dict[str, str]:
    return {key.rstrip("_"): str(value) for key, value in filters.items() if value is not None}


def _close_at_exit(reference: "weakref.ReferenceType[Client]") -> None:
    client = reference()
    if client is not None and not client._closed:
        client.close(timeout=10.0)
