"""segment-analytics-python and rudder-sdk-python, unchanged, against The Eye's Segment-compatible
API: each SDK is only pointed at the server by its `host` option and given an ingest key as
its write key. Every message is queried back through `GET /v1/events` and checked against the
mapping of issue 22."""

import base64
import hashlib
import random
import uuid
from datetime import datetime, timedelta, timezone

from dateutil.parser import isoparse

HOST = "shop.example.com"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def instant(value: str) -> datetime:
    parsed = isoparse(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def batch_exchanges(sdk) -> list:
    return [exchange for exchange in sdk.exchanges if exchange.method == "POST"]


def check_answers(sdk, key: str, *, sent: int, rejected: int) -> list:
    """Every request went to /v1/batch with the key as HTTP Basic username and got exactly 200
    with the Segment-compatible answer; answers the messages sent, in order."""
    exchanges = batch_exchanges(sdk)
    assert exchanges, f"{sdk.distribution} sent nothing"
    messages, accepted_total, rejected_total = [], 0, 0
    for exchange in exchanges:
        assert exchange.url.endswith("/v1/batch"), exchange.url
        expected = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        assert exchange.headers.get("Authorization") == expected, exchange.headers
        assert exchange.status == 200, (exchange.status, exchange.answer)
        answer = exchange.answer_json()
        payload = exchange.payload()
        assert answer["success"] is True, answer
        assert answer["accepted"] + answer["rejected"] == len(payload["batch"]), answer
        assert len(answer["results"]) == len(payload["batch"]), answer
        accepted_total += answer["accepted"]
        rejected_total += answer["rejected"]
        messages.extend(payload["batch"])
    assert (accepted_total, rejected_total) == (sent - rejected, rejected), [e.answer_json() for e in exchanges]
    assert len(messages) == sent
    return messages


def check_stored(event: dict, message: dict, *, session_id: str, category: str, name: str, data: dict, sdk) -> None:
    """One stored event against the message the SDK sent (as it returned it from the call)."""
    assert event["event_id"] == message["messageId"], event
    assert event["session_id"] == session_id, event
    assert event.get("user_id") == message.get("userId"), event
    assert (event["category"], event["name"]) == (category, name), event
    assert event["data"] == data, event
    assert event["app"] == "shop", event
    expected_context = dict(message["context"])
    if category in ("identify", "group") and "traits" not in message:
        # Traits an SDK put in the context (RudderStack's) became the data and left the
        # context: PII rules protect data, not context.
        expected_context.pop("traits", None)
    assert event["context"] == expected_context, event
    assert event["context"]["library"] == {"name": sdk.library, "version": sdk.version}, event
    # The SDK's clock is right here: the stored time is the client's time (corrected by a
    # few milliseconds of transit at most), and original_timestamp is the client's time.
    sent = instant(message["timestamp"])
    assert abs(instant(event["timestamp"]) - sent) < timedelta(seconds=1), (event, message["timestamp"])
    assert event.get("original_timestamp"), event
    assert abs(instant(event["original_timestamp"]) - sent) < timedelta(milliseconds=1), (event, message["timestamp"])


def test_track_page_identify_are_stored_as_mapped(eye, sdk):
    session, user, anonymous = unique("session"), unique("user"), unique("anon")
    failures = []
    client = sdk.client(eye.url, eye.ingest_key, failures)
    cta = {"category": "page interaction", "host": HOST, "path": "/pricing", "element": "buy button"}
    _, track = client.track(user_id=user, anonymous_id=anonymous, event="cta click", properties=cta, context={"sessionId": session})
    page_properties = {"session_id": session, "host": HOST, "path": "/pricing"}
    _, page = client.page(user_id=user, anonymous_id=anonymous, name="Pricing", properties=page_properties)
    _, unnamed = client.page(user_id=user, properties={"host": HOST, "path": "/"}, context={"sessionId": session})
    traits = {"plan": "pro", "seats": 3, "verified": True}
    _, identify = client.identify(user_id=user, anonymous_id=session, traits=traits)
    # Only a userId: the session is the user.
    _, alone = client.track(user_id=user, event="pageview", properties={"category": "page interaction", "host": HOST, "path": "/"})
    # Breaks `page interaction/cta click`: no `element`.
    broken = {"category": "page interaction", "host": HOST, "path": "/pricing"}
    _, bad = client.track(user_id=user, event="cta click", properties=broken, context={"sessionId": session})
    client.flush()
    client.join()
    eye.drain()

    messages = check_answers(sdk, eye.ingest_key, sent=6, rejected=1)
    assert [m["messageId"] for m in messages] == [m["messageId"] for m in (track, page, unnamed, identify, alone, bad)]
    exchanges = batch_exchanges(sdk)
    if sdk.gzip_by_default:
        assert all(e.headers.get("Content-Encoding") == "gzip" and e.gzipped for e in exchanges), [e.headers for e in exchanges]
    else:
        assert all("Content-Encoding" not in e.headers and not e.gzipped for e in exchanges), [e.headers for e in exchanges]
    assert not failures, failures

    in_session = {event["event_id"]: event for event in eye.stored(session_id=session)}
    assert sorted(in_session) == sorted(m["messageId"] for m in (track, page, unnamed, identify)), in_session
    check_stored(in_session[track["messageId"]], track, session_id=session, category="page interaction", name="cta click",
                 data={"host": HOST, "path": "/pricing", "element": "buy button"}, sdk=sdk)
    check_stored(in_session[page["messageId"]], page, session_id=session, category="page", name="Pricing",
                 data=page_properties, sdk=sdk)
    check_stored(in_session[unnamed["messageId"]], unnamed, session_id=session, category="page", name="page",
                 data={"host": HOST, "path": "/"}, sdk=sdk)
    # rudder-sdk-python sends identify's traits in context.traits only, with no top-level
    # `traits`: The Eye takes them from there.
    if sdk.package == "rudderstack":
        assert "traits" not in identify and identify["context"]["traits"] == traits, identify
    check_stored(in_session[identify["messageId"]], identify, session_id=session, category="identify", name="identify",
                 data=traits, sdk=sdk)

    of_user = {event["event_id"]: event for event in eye.stored(user_id=user)}
    assert sorted(of_user) == sorted(m["messageId"] for m in (track, page, unnamed, identify, alone)), of_user
    check_stored(of_user[alone["messageId"]], alone, session_id=user, category="page interaction", name="pageview",
                 data={"host": HOST, "path": "/"}, sdk=sdk)

    rejected = [error for error in eye.errors(code="schema_violation") if bad["messageId"] in error["raw"]]
    assert len(rejected) == 1, eye.errors()
    error = rejected[0]
    assert error["code"] == "schema_violation", error
    assert error["path"] and error["path"].endswith("element"), error
    assert (error.get("category"), error.get("name")) == ("page interaction", "cta click"), error
    print(f"\n{sdk.distribution}: rejected message -> path {error['path']!r}, message {error['message']!r}")
    answers = [result for e in exchanges for result in e.answer_json()["results"]]
    print(f"{sdk.distribution}: answer results: {answers}")


def test_the_same_messages_sent_twice_are_stored_once(eye, sdk):
    session, user = unique("session"), unique("user")
    at = datetime.now(timezone.utc) - timedelta(minutes=1)
    ids = {kind: str(uuid.uuid4()) for kind in ("track", "page", "identify")}

    def send() -> None:
        failures = []
        client = sdk.client(eye.url, eye.ingest_key, failures)
        client.track(user_id=user, anonymous_id=session, event="cta click", timestamp=at, message_id=ids["track"],
                     properties={"category": "page interaction", "host": HOST, "path": "/", "element": "chat bubble"})
        client.page(user_id=user, anonymous_id=session, name="Home", timestamp=at, message_id=ids["page"],
                    properties={"host": HOST, "path": "/"})
        client.identify(user_id=user, anonymous_id=session, timestamp=at, message_id=ids["identify"], traits={"plan": "free"})
        client.flush()
        client.join()
        assert not failures, failures

    send()
    check_answers(sdk, eye.ingest_key, sent=3, rejected=0)
    sdk.exchanges.clear()
    send()
    # Duplicates are answered as accepted: a retry is always safe.
    check_answers(sdk, eye.ingest_key, sent=3, rejected=0)
    eye.drain()
    stored = eye.stored(session_id=session)
    assert sorted(event["event_id"] for event in stored) == sorted(ids.values()), stored


def test_the_other_encoding_is_understood_too(eye, sdk):
    """segment-analytics-python sends plain JSON by default and rudder-sdk-python gzip: each
    is also tried the other way."""
    session = unique("session")
    failures = []
    client = sdk.client(eye.url, eye.ingest_key, failures, gzip=not sdk.gzip_by_default)
    _, message = client.track(anonymous_id=session, event="form submitted", properties={"form": "newsletter"})
    client.flush()
    client.join()
    assert not failures, failures
    (exchange,) = batch_exchanges(sdk)
    assert exchange.gzipped == (not sdk.gzip_by_default), exchange.headers
    assert (exchange.headers.get("Content-Encoding") == "gzip") == (not sdk.gzip_by_default), exchange.headers
    check_answers(sdk, eye.ingest_key, sent=1, rejected=0)
    eye.drain()
    (event,) = eye.stored(session_id=session)
    check_stored(event, message, session_id=session, category="track", name="form submitted", data={"form": "newsletter"}, sdk=sdk)


def test_a_wrong_key_is_reported_by_the_sdk_with_the_servers_code_and_not_retried(eye, sdk, caplog):
    """401 with top-level `code` and `message`: both SDKs read them into their APIError (without
    them rudder-sdk-python raises a KeyError instead, which it retries as a network error)."""
    sdk.complaints_expected = True
    failures = []
    wrong = "eye_" + "A" * 43
    client = sdk.client(eye.url, wrong, failures, max_retries=2)
    client.track(anonymous_id=unique("session"), event="cta click", properties={"host": HOST})
    client.flush()
    client.join()
    assert len(batch_exchanges(sdk)) == 1, [(e.status, e.answer) for e in sdk.exchanges]
    (exchange,) = batch_exchanges(sdk)
    assert exchange.status == 401, (exchange.status, exchange.answer)
    answer = exchange.answer_json()
    assert answer["code"] == "unauthorized" and answer["message"], answer
    assert answer["error"]["code"] == "unauthorized", answer
    assert wrong not in exchange.answer.decode(), answer
    assert len(failures) == 1, failures
    error, batch = failures[0]
    assert isinstance(error, sdk.api_error()), repr(error)
    assert (error.status, error.code) == (401, "unauthorized"), repr(error)
    assert len(batch) == 1
    logged = [r.getMessage() for r in caplog.records if r.name.startswith(sdk.logger)]
    assert any("unauthorized" in line and "401" in line for line in logged), logged


def test_screen_group_alias_are_stored_as_mapped(eye, sdk):
    """The other calls of the Segment spec."""
    session, user, group = unique("session"), unique("user"), unique("group")
    failures = []
    client = sdk.client(eye.url, eye.ingest_key, failures)
    _, screen = client.screen(user_id=user, anonymous_id=session, name="Settings", properties={"tab": "billing"})
    _, unnamed = client.screen(user_id=user, anonymous_id=session, properties={"tab": "home"})
    _, grouped = client.group(user_id=user, anonymous_id=session, group_id=group, traits={"name": "Acme", "employees": 40})
    _, alias = client.alias(previous_id=session, user_id=user)
    client.flush()
    client.join()
    assert not failures, failures
    check_answers(sdk, eye.ingest_key, sent=4, rejected=0)
    eye.drain()
    stored = {event["event_id"]: event for event in eye.stored(user_id=user)}
    assert sorted(stored) == sorted(m["messageId"] for m in (screen, unnamed, grouped, alias)), stored
    check_stored(stored[screen["messageId"]], screen, session_id=session, category="screen", name="Settings",
                 data={"tab": "billing"}, sdk=sdk)
    check_stored(stored[unnamed["messageId"]], unnamed, session_id=session, category="screen", name="screen",
                 data={"tab": "home"}, sdk=sdk)
    check_stored(stored[grouped["messageId"]], grouped, session_id=session, category="group", name="group",
                 data={"name": "Acme", "employees": 40, "groupId": group}, sdk=sdk)
    # alias has no anonymousId: its session is the userId.
    check_stored(stored[alias["messageId"]], alias, session_id=user, category="alias", name="alias",
                 data={"previous_id": session}, sdk=sdk)


def test_long_message_ids_become_their_digest_and_numeric_session_ids_their_text(eye, sdk):
    """A messageId over 64 characters is stored as its SHA-256 (64 hex digits), the same for a
    resend, so it is still stored once; a numeric context.sessionId (as some browser SDKs
    send) becomes its decimal text."""
    session = random.randint(10**12, 10**13)
    long_id = "-".join(str(uuid.uuid4()) for _ in range(3))
    assert len(long_id) > 64
    for _ in range(2):
        failures = []
        client = sdk.client(eye.url, eye.ingest_key, failures)
        _, message = client.track(anonymous_id=unique("anon"), event="signup", message_id=long_id,
                                  properties={"plan": "pro"}, context={"sessionId": session})
        client.flush()
        client.join()
        assert not failures, failures
    check_answers(sdk, eye.ingest_key, sent=2, rejected=0)
    eye.drain()
    (event,) = eye.stored(session_id=str(session))
    assert event["event_id"] == hashlib.sha256(long_id.encode()).hexdigest(), event
    assert event["session_id"] == str(session)
    assert (event["category"], event["name"], event["data"]) == ("track", "signup", {"plan": "pro"}), event
    assert event["context"]["sessionId"] == session, event
