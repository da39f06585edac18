"""Python client for The Eye.

``Client.track`` never waits on the network: events go to a bounded in-memory buffer and a
background thread sends them in batches, retrying network errors, 5xx, 408 and 429 with
exponential backoff and jitter (honouring ``Retry-After``). Every event gets an ``event_id``
(UUIDv7) when tracked, so retries never store it twice.

Query methods raise ``ApiError`` (the server's ``status``, ``code`` and ``message``) or
``NetworkError`` (no answer), both ``EyeError``; the key is never part of an error, a log
message or a repr.
"""

from eye_client.client import Client, RejectedEvent, Stats
from eye_client.errors import ApiError, EyeError, NetworkError

__all__ = ["ApiError", "Client", "EyeError", "NetworkError", "RejectedEvent", "Stats"]
__version__ = "0.1.0"
