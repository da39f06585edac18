"""Django integration: a shared client from settings, the session id of a request, and
``track(request, ...)`` for views.

Settings: ``EYE_URL`` and ``EYE_KEY`` (an ingest key; without them tracking is a no-op),
``EYE_CLIENT_OPTIONS`` (keyword arguments of ``eye_client.Client``), ``EYE_PAGEVIEWS``
(default True), ``EYE_PAGEVIEW_CATEGORY`` / ``EYE_PAGEVIEW_NAME`` (default "page interaction"
/ "pageview"), ``EYE_IGNORE_PATHS`` (path prefixes never tracked; default STATIC_URL,
MEDIA_URL and /favicon.ico), ``EYE_SESSION_COOKIE`` (default "eye_sid") and
``EYE_SESSION_COOKIE_AGE`` (seconds, default 1800, renewed on every response).
"""

import threading
import uuid
from typing import Any, Mapping, Optional

from django.conf import settings

from eye_client.client import Client

default_app_config = "eye_client.django.apps.EyeConfig"

_lock = threading.Lock()
_client: Optional[Client] = None

COOKIE_ATTRIBUTE = "_eye_session_cookie"


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
    """The Django session key when the request has one, else a first-party cookie id (set
    on the response by the middleware)."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None) if session is not None else None
    if key:
        return str(key)
    existing = getattr(request, COOKIE_ATTRIBUTE, None) or request.COOKIES.get(cookie_name())
    if existing:
        setattr(request, COOKIE_ATTRIBUTE, existing)
        return str(existing)
    fresh = uuid.uuid4().hex
    setattr(request, COOKIE_ATTRIBUTE, fresh)
    return fresh


def track(request: Any, category: str, name: str, data: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """Tracks an event for the session of ``request``; adds host and path to ``data`` unless
    given. Returns the event id, or None when not configured or dropped."""
    client = get_client()
    if client is None:
        return None
    payload = {"host": request.META.get("HTTP_HOST", ""), "path": request.path}
    payload.update(data or {})
    return client.track(session_id_for(request), category, name, payload)
