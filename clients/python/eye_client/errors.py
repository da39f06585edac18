"""What the query methods raise. No error ever carries the key: the URL, the status and the
server's own code and message only."""

from typing import Optional


class EyeError(Exception):
    """A request to The Eye failed. ``url`` is the request's URL (never with the key),
    ``status`` the HTTP status (None when no answer came), ``code`` and ``message`` the
    server's error code and message when it sent one."""

    def __init__(
        self,
        text: str = "",
        *,
        url: str = "",
        status: Optional[int] = None,
        code: Optional[str] = None,
        message: str = "",
    ) -> None:
        super().__init__(text)
        self.url = url
        self.status = status
        self.code = code
        self.message = message or text


class ApiError(EyeError):
    """The server answered with an error status (``{"error": {"code", "message"}}``): 400
    ``invalid_parameter``, 401 ``unauthorized``, 403 ``forbidden``, 404 ``not_found``, 429,
    503... ``retry_after`` holds the seconds of a ``Retry-After`` header, if any."""

    def __init__(self, text: str = "", *, retry_after: Optional[float] = None, **fields) -> None:
        super().__init__(text, **fields)
        self.retry_after = retry_after


class NetworkError(EyeError):
    """No HTTP answer: refused connection, unknown host, timeout, reset connection."""
