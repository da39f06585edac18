"""``PageviewMiddleware``: a pageview event for every HTML response that is not a redirect,
and The Eye's first-party session cookie. Add
``"eye_client.django.middleware.PageviewMiddleware"`` to MIDDLEWARE.

A pageview's data is ``host``, ``path`` (no query string), ``method``, ``status`` and, when
the browser sent one, ``referrer`` reduced to scheme, host and path (no credentials, query
string or fragment, where tokens travel). No cookie and no other header is ever sent."""

from typing import Any, Callable, Optional
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from eye_client.django import COOKIE_ATTRIBUTE, cookie_name, session_id_for, track


class PageviewMiddleware:
    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        if self._should_track(request, response):
            data = {"method": request.method, "status": response.status_code}
            referrer = _safe_referrer(request.META.get("HTTP_REFERER"))
            if referrer:
                data["referrer"] = referrer
            track(
                request,
                getattr(settings, "EYE_PAGEVIEW_CATEGORY", "page interaction"),
                getattr(settings, "EYE_PAGEVIEW_NAME", "pageview"),
                data,
            )
        cookie = getattr(request, COOKIE_ATTRIBUTE, None)
        if cookie:
            response.set_cookie(
                cookie_name(),
                cookie,
                max_age=getattr(settings, "EYE_SESSION_COOKIE_AGE", 1800),
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response

    def _should_track(self, request: Any, response: Any) -> bool:
        if not getattr(settings, "EYE_PAGEVIEWS", True):
            return False
        if not response.get("Content-Type", "").startswith("text/html"):
            return False
        if 300 <= response.status_code < 400:  # a redirect is no page viewed (and may carry a token)
            return False
        if any(prefix and request.path.startswith(prefix) for prefix in _ignored_paths()):
            return False
        session_id_for(request)  # make sure the cookie is set on this response
        return True


def _ignored_paths() -> list:
    configured = getattr(settings, "EYE_IGNORE_PATHS", None)
    if configured is not None:
        return list(configured)
    # An unset MEDIA_URL reads as "/" in recent Django: a root prefix would ignore every page.
    defaults = [getattr(settings, "STATIC_URL", None) or "/static/", getattr(settings, "MEDIA_URL", None) or "/media/"]
    return [prefix for prefix in defaults if prefix.strip("/")] + ["/favicon.ico"]


def _safe_referrer(value: Optional[str]) -> Optional[str]:
    """Scheme, host, port and path of a referrer; nothing else (credentials, query string and
    fragment may hold tokens). None for anything that is not an http(s) URL."""
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))
