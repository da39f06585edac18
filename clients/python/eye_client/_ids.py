"""UUIDv7 event ids (time-ordered), built from the standard library."""

import os
import time
import uuid


def uuid7() -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then random bits, as RFC 9562 lays out."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value &= ~(0xF << 76)
    value |= 0x7 << 76  # version 7
    value &= ~(0x3 << 62)
    value |= 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))
