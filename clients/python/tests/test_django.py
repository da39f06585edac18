"""The Django middleware, helper and template tag, through Django's test client."""

import json
import re

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


def test_a_logged_in_visit_keeps_one_eye_session_and_never_sends_the_django_session_key(tracked):
    browser = DjangoClient()
    browser.get("/")
    eye_sid = browser.cookies["eye_sid"].value
    browser.get("/login")
    django_session_key = browser.cookies["sessionid"].value
    assert len(django_session_key) >= 16, "the test logs in with a Django session"
    browser.get("/")
    browser.get("/submit")
    assert browser.cookies["eye_sid"].value == eye_sid, "the eye_sid cookie stays for the whole visit"
    events = stored_for(tracked, eye_sid)
    everything = json.dumps([tracked.stored(), tracked.errors()])
    assert django_session_key not in everything, "the Django session key is never sent"
    assert "sessionid" not in everything
    assert [(e["name"], e["data"]["path"]) for e in events] == [
        ("pageview", "/"),
        ("pageview", "/login"),
        ("pageview", "/"),
        ("submit", "/submit"),
    ], "one session before and after login"


def test_the_referrer_is_sent_without_credentials_query_string_or_fragment(tracked):
    browser = DjangoClient()
    browser.get("/", HTTP_REFERER="https://jane:hunter2@example.com/account/reset?token=s3cret&a=1#code=xyz")
    session = browser.cookies["eye_sid"].value
    [event] = stored_for(tracked, session)
    assert event["data"]["referrer"] == "https://example.com/account/reset"
    sent = json.dumps(event)
    assert not any(secret in sent for secret in ("hunter2", "jane", "s3cret", "xyz"))


def test_redirects_are_not_pageviews_so_secrets_in_their_urls_are_not_sent(tracked):
    browser = DjangoClient()
    browser.get("/")
    session = browser.cookies["eye_sid"].value
    assert browser.get("/reset/s3cret-token/").status_code == 302
    assert [e["data"]["path"] for e in stored_for(tracked, session)] == ["/"]
    assert "s3cret-token" not in json.dumps(tracked.stored())


def test_a_foreign_or_malformed_eye_sid_cookie_is_replaced_by_a_fresh_random_id(tracked):
    browser = DjangoClient()
    browser.cookies["eye_sid"] = "x" * 300
    browser.get("/")
    fresh = browser.cookies["eye_sid"].value
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert [e["data"]["path"] for e in stored_for(tracked, fresh)] == ["/"]


def test_without_settings_tracking_is_a_no_op():
    with override_settings(EYE_URL=None, EYE_KEY=None):
        reset_client()
        assert get_client() is None
        assert DjangoClient().get("/").status_code == 200
