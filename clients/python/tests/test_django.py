"""The Django middleware, helper and template tag, through Django's test client."""

import pytest
from django.test import Client as DjangoClient
from django.test import override_settings

from eye_client.django import get_client, reset_client


@pytest.fixture
def tracked(eye_server):
    with override_settings(EYE_URL=eye_server.url, EYE_KEY=eye_server.ingest_key, EYE_CLIENT_OPTIONS={"flush_interval": 3600}):
        reset_client()
        yield eye_server
        reset_client()


def stored_for(server, session_id):
    get_client().flush(timeout=30)
    server.drain()
    return server.stored(session_id=session_id)


def test_html_responses_record_a_pageview_with_a_first_party_session(tracked):
    browser = DjangoClient()
    response = browser.get("/", HTTP_REFERER="https://example.com/")
    cookie = response.cookies["eye_sid"]
    assert cookie["httponly"] and cookie.value
    browser.get("/")
    events = stored_for(tracked, cookie.value)
    assert [e["name"] for e in events] == ["pageview", "pageview"]
    assert events[0]["data"]["path"] == "/"
    assert events[0]["data"]["status"] == 200
    assert events[0]["data"]["referrer"] == "https://example.com/"


def test_static_files_and_non_html_responses_are_not_pageviews(tracked):
    browser = DjangoClient()
    browser.get("/")
    session = browser.cookies["eye_sid"].value
    browser.get("/api")
    browser.get("/static/app.css")
    assert [e["data"]["path"] for e in stored_for(tracked, session)] == ["/"]


def test_the_helper_and_the_template_tag_track_events(tracked):
    browser = DjangoClient()
    browser.get("/signup")
    session = browser.cookies["eye_sid"].value
    browser.get("/submit")
    events = stored_for(tracked, session)
    names = sorted((e["category"], e["name"]) for e in events)
    assert names == [("form interaction", "submit"), ("form interaction", "view"), ("page interaction", "pageview")]
    view = next(e for e in events if e["name"] == "view")
    assert view["data"]["form"] == "signup"


def test_the_django_session_key_is_used_when_there_is_one(tracked):
    browser = DjangoClient()
    browser.get("/login")
    response = browser.get("/")
    assert "eye_sid" not in response.cookies or response.cookies["eye_sid"].value == ""
    get_client().flush(timeout=30)
    tracked.drain()
    paths = [e["data"]["path"] for e in tracked.stored(name="pageview") if len(e["session_id"]) > 32]
    assert "/" in paths


def test_without_settings_tracking_is_a_no_op():
    with override_settings(EYE_URL=None, EYE_KEY=None):
        reset_client()
        assert get_client() is None
        assert DjangoClient().get("/").status_code == 200
