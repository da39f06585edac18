"""Every code example of clients/python/README.md, read from the README itself and run against
a real server holding the shipped schemas (`<repo>/schemas`): each event it tracks must be
accepted and stored, and nothing may land in the error store.

The examples use the placeholders `http://127.0.0.1:8000` and `"eye_..."`, replaced here by
the test server's address and a key with the ingest and query scopes. A `print(...)  # text`
line must print exactly `text`."""

import re
import sys
import types
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.template import engines
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import path

from eye_client import Client
from eye_client.django import get_client, reset_client

README = Path(__file__).resolve().parents[1] / "README.md"
URL = "http://127.0.0.1:8000"
KEY = '"eye_..."'


def blocks(language: str) -> list:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def kind(block: str) -> str:
    if "MIDDLEWARE" in block:
        return "settings"
    if re.search(r"^def \w+\(request\b", block, re.M):
        return "view"
    if "Client(" in block:
        return "client"
    return "unknown"


def filled(block: str, server) -> str:
    assert URL in block and KEY in block, f"an example without the placeholders {URL} and {KEY}:\n{block}"
    return block.replace(URL, server.url).replace(KEY, repr(server.key))


def expected_output(block: str) -> list:
    return [match.group(1).strip() for match in re.finditer(r"^\s*print\(.*\)\s+#\s*(.+)$", block, re.M)]


@pytest.fixture
def recorded(monkeypatch):
    """The id of every event the examples track (None for a dropped one)."""
    ids = []
    original = Client.track_event

    def track_event(self, event):
        event_id = original(self, event)
        ids.append(event_id)
        return event_id

    monkeypatch.setattr(Client, "track_event", track_event)
    return ids


def assert_all_stored(server, ids: list) -> None:
    assert ids, "the example tracks no event"
    assert None not in ids, "an event was dropped"
    server.drain()
    stored = {event["event_id"] for event in server.stored()}
    assert set(ids) <= stored, "every tracked event is stored"
    assert server.errors() == [], "nothing was rejected by the shipped schemas"


def test_every_example_of_the_readme_is_run_by_a_test():
    python = blocks("python")
    kinds = [kind(block) for block in python]
    assert "unknown" not in kinds, [block for block in python if kind(block) == "unknown"]
    assert {"client", "settings", "view"} <= set(kinds), kinds
    assert blocks("django"), "the template tag example"
    assert len(python) + len(blocks("django")) == len(re.findall(r"^```(?:python|django)$", README.read_text(encoding="utf-8"), re.M))


@pytest.mark.parametrize("number", range(sum(kind(block) == "client" for block in blocks("python"))))
def test_the_client_examples_are_accepted_and_stored(readme_server, recorded, capsys, number):
    block = [block for block in blocks("python") if kind(block) == "client"][number]
    exec(compile(filled(block, readme_server), f"README.md (client example {number + 1})", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == expected_output(block)
    assert_all_stored(readme_server, recorded)


def readme_settings(server) -> dict:
    [block] = [block for block in blocks("python") if kind(block) == "settings"]
    namespace: dict = {}
    exec(compile(filled(block, server), "README.md (Django settings)", "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


def test_the_django_settings_example_runs_as_written(readme_server, recorded):
    example = readme_settings(readme_server)
    apps = [app for app in example.pop("INSTALLED_APPS") if app is not Ellipsis]
    assert set(apps) <= set(settings.INSTALLED_APPS), "the test project installs what the README says"
    # `...` stands for the project's own middleware (here Django's sessions, for /login).
    listed = example.pop("MIDDLEWARE")
    own = [entry for entry in settings.MIDDLEWARE if entry not in listed]
    middleware = [name for entry in listed for name in (own if entry is Ellipsis else [entry])]
    with override_settings(MIDDLEWARE=middleware, **example):
        reset_client()
        try:
            browser = DjangoClient()
            browser.get("/")
            browser.get("/login")
            browser.get("/signup")
            session = browser.cookies["eye_sid"].value
            get_client().flush(timeout=30)
        finally:
            reset_client()
    assert_all_stored(readme_server, recorded)
    pages = [(e["name"], e["data"]["path"]) for e in readme_server.stored(session_id=session) if e["name"] == "pageview"]
    assert pages == [("pageview", "/"), ("pageview", "/login"), ("pageview", "/signup")]


def test_the_django_view_and_template_examples_are_accepted_and_stored(readme_server, recorded):
    routes = []
    for number, block in enumerate(block for block in blocks("python") if kind(block) == "view"):
        module = types.ModuleType(f"readme_views_{number}")
        exec(compile(block, f"README.md (Django view example {number + 1})", "exec"), module.__dict__)
        views = [value for value in module.__dict__.values() if isinstance(value, types.FunctionType) and value.__module__ == module.__name__]
        assert views, block
        routes += [(f"readme/{number}/{view.__name__}", view) for view in views]
    for number, block in enumerate(blocks("django")):
        template = engines["django"].from_string(block)
        routes.append((f"readme/template/{number}", lambda request, template=template: HttpResponse(template.render({}, request))))
    urls = types.ModuleType("readme_urls")
    urls.urlpatterns = [path(route, view) for route, view in routes]
    sys.modules[urls.__name__] = urls
    example = readme_settings(readme_server)
    try:
        with override_settings(ROOT_URLCONF=urls.__name__, EYE_URL=example["EYE_URL"], EYE_KEY=example["EYE_KEY"]):
            reset_client()
            try:
                browser = DjangoClient()
                for route, _ in routes:
                    assert browser.get(f"/{route}").status_code < 400
                    assert browser.post(f"/{route}", {"email": "jane@example.com"}).status_code < 400
                get_client().flush(timeout=30)
            finally:
                reset_client()
    finally:
        del sys.modules[urls.__name__]
    assert_all_stored(readme_server, recorded)
    tracked = {(e["category"], e["name"]) for e in readme_server.stored()}
    assert ("form interaction", "submit") in tracked, "the view example's event is stored"
