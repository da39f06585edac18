"""Django integration: a shared client from settings, the session id of a request, and
``track(request, ...)`` for views.

The session id is The Eye's own first-party cookie (``eye_sid``, 128 random bits), the same
for the whole visit, before and after login. It is never derived from Django's session key
or any other cookie or header: events are readable by anyone holding a query key, so an
authentication secret in them would let a reader take over logged-in sessions.

Settings: ``EYE_URL`` and ``EYE_KEY`` (an ingest key; without them tracking is a no-op),
``EYE_CLIENT_OPTIONS`` (keyword arguments of ``eye_client.Client``), ``EYE_PAGEVIEWS``
(default True), ``EYE_PAGEVIEW_CATEGORY`` / ``EYE_PAGEVIEW_NAME`` (default "page interaction"
/ "pageview"), ``EYE_IGNORE_PATHS`` (path prefixes never tracked; default STATIC_URL,
MEDIA_URL and /favicon.ico), ``EYE_SESSION_COOKIE`` (default "eye_sid") and
``EYE_SESSION_COOKIE_AGE`` (seconds, default 1800, renewed on every response).
"""

import re
import threading
import uuid
from typing import Any, Mapping, Optional

from django.conf import settings

from eye_client.client import Client

default_app_config = "eye_client.django.apps.EyeConfig"

_lock = threading.Lock()
_client: Optional[Client] = None

COOKIE_ATTRIBUTE = "_eye_session_cookie"
# What the middleware issues is 32 hex digits; a cookie value it did not issue (too long, odd
# characters) is replaced by a fresh id rather than sent.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def get_client() -> Optional[Client]:
    """The process's client, built from settings on first use; None when not configured."""
    global _client
    url = getattr(settings, "EYE_URL", None)
    key = getattr(settings, "EYE_KEY", None)
    if not url or not key:
        return None
    with _lock:
        if _client is None:
            _client = Client(url, key, **getattr(settings, "EYE_CLIENT_OPTIONS", {}))
        return _client


def reset_client() -> None:
    """Closes and forgets the shared client (after a settings change, and in tests)."""
    global _client
    with _lock:
        client, _client = _client, None
    if client is not None:
        client.close(timeout=10.0)


def cookie_name() -> str:
    return getattr(settings, "EYE_SESSION_COOKIE", "eye_sid")


def session_id_for(request: Any) -> str:
    """The Eye's session id of the visit: the value of its own cookie (``EYE_SESSION_COOKIE``,
    default ``eye_sid``), or a fresh random one that the middleware sets on the response.
    Never the Django session key, nor anything else from an authentication cookie."""
    existing = getattr(request, COOKIE_ATTRIBUTE, None)
    if existing:
        return str(existing)
    cookie = request.COOKIES.get(cookie_name(), "")
    session_id = cookie if _SESSION_ID.fullmatch(cookie) else uuid.uuid4().hex
    setattr(request, COOKIE_ATTRIBUTE, session_id)
    return session_id


def host_of(request: Any) -> str:
    """The request's host as Django validates it (``ALLOWED_HOSTS``), else the server name."""
    try:
        return str(request.get_host())
    except Exception:  # DisallowedHost: never let tracking break a response
        return str(request.META.get("SERVER_NAME", "")) or "unknown"


def track(
    request: Any,
    category: str,
    name: str,
    data: Optional[Mapping[str, Any]] = None,
    *,
    user_id: Optional[str] = None,
    context: Optional[Mapping[str, Any]] = None,
) -> Optional[str]:
    """Tracks an event for the session of ``request``; adds ``host`` and ``path`` (without
    the query string) to ``data`` unless given. ``user_id`` and ``context`` go as given (the
    integration never adds a user of its own). Returns the event id, or None when not
    configured or dropped."""
    client = get_client()
    if client is None:
        return None
    payload = {"host": host_of(request), "path": request.path}
    payload.update(data or {})
    return client.track(session_id_for(request), category, name, payload, user_id=user_id, context=context)
