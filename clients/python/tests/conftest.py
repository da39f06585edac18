"""Real `eye` servers for the tests (started by eye_server.py, which the compatibility suite
shares), and Django configured for the integration tests. The binary comes from EYE_BIN, or
the workspace's debug build. Both servers load the shipped schemas (`<repo>/schemas`), so
every event the SDK and its Django integration send is judged as in production."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# EyeServer stays importable from here (`from conftest import EyeServer`).
from eye_server import SHIPPED_SCHEMAS, EyeServer, eye_binary  # noqa: E402,F401


@pytest.fixture(scope="session")
def eye_server():
    server = EyeServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def readme_server():
    """A server of its own for the README's examples (nothing else sends to it, so its error
    store shows every rejection of theirs), with one key holding the ingest and query scopes."""
    server = EyeServer()
    server.key = server.create_key("readme", "ingest", "query")
    yield server
    server.stop()


def pytest_configure() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoproject.settings")
        django.setup()
