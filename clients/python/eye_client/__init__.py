"""Python client for The Eye.

``Client.track`` never waits on the network: events go to a bounded in-memory buffer and a
background thread sends them in batches, retrying network errors, 5xx, 408 and 429 with
exponential backoff and jitter (honouring ``Retry-After``). Every event gets an ``event_id``
(UUIDv7) when tracked, so retries never store it twice.
"""

from eye_client.client import Client, RejectedEvent, Stats

__all__ = ["Client", "RejectedEvent", "Stats"]
__version__ = "0.1.0"
