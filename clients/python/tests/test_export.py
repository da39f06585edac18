"""Exports (`GET /v1/events/export`, `GET /v1/errors/export`) read by the data team's own
tools: pyarrow, pandas, Polars and DuckDB, each compared row for row with the JSON API."""

import csv
import datetime
import io
import json
import urllib.parse
import urllib.request

import duckdb
import pandas
import polars
import pyarrow
import pyarrow.parquet
import pytest

from conftest import EyeServer

EVENT_COLUMNS = [
    "id", "app", "session_id", "category", "name", "timestamp", "received_at", "event_id", "schema_version", "data",
    "user_id", "context", "original_timestamp",
]
ERROR_COLUMNS = [
    "id", "code", "message", "path", "app", "received_at", "category", "name", "session_id",
    "schema_version", "raw", "replayed_at", "replayed_event_id",
]
EVENT_TIMES = ("timestamp", "received_at", "original_timestamp")
JSON_COLUMNS = ("data", "context")
ERROR_TIMES = ("received_at", "replayed_at")


@pytest.fixture(scope="module")
def server():
    server = EyeServer()
    events = []
    for i in range(240):
        event = {
            "session_id": f"x-{i % 4}",
            "category": "page interaction" if i % 2 else "export test",
            "name": "pageview" if i % 2 else "ping",
            "data": {"host": "h", "path": f"/p/{i}", "note": 'comma, "quote"\nline', "n": i, "nested": {"ok": i % 3 == 0}},
            "timestamp": f"2021-03-01T08:{i // 60:02}:{i % 60:02}.{i:06}+01:00",
        }
        if i % 5 == 0:
            event["event_id"] = f"py-export-{i}"
        if i % 3 == 0:
            event["user_id"] = f"py-u-{i % 2}"
            event["context"] = {"page": {"url": f"https://h/p/{i}?q=a,b"}, "user_agent": 'Mozilla/5.0 "quoted"'}
        events.append(event)
    # Rejected ones, for the error store: a pageview without `path`, an unknown field.
    events.append({"session_id": "x-bad", "category": "page interaction", "name": "pageview", "data": {"host": "h"}, "timestamp": "2021-03-01 09:00:00"})
    events.append({"session_id": "x-bad", "category": "export test", "name": "ping", "data": {}, "timestamp": "2021-03-01 09:00:00", "sesion": 1})
    request = urllib.request.Request(
        server.url + "/v1/events",
        data=json.dumps(events).encode(),
        headers={"Authorization": f"Bearer {server.ingest_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["accepted"] == 240
    # A client whose clock is an hour ahead: The Eye corrects the timestamps, and keeps the
    # ones it sent as original_timestamp.
    skewed = [
        {"session_id": "x-skewed", "category": "export test", "name": "ping", "data": {}, "user_id": "py-u-skewed",
         "timestamp": f"2021-03-01T10:00:0{i}Z"}
        for i in range(3)
    ]
    request = urllib.request.Request(
        server.url + "/v1/events",
        data=json.dumps({"sent_at": "2021-03-01T11:00:00Z", "events": skewed}).encode(),
        headers={"Authorization": f"Bearer {server.ingest_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["accepted"] == 3
    server.drain()
    yield server
    server.stop()


def export(server, kind: str, fmt: str, **filters: str) -> tuple:
    query = urllib.parse.urlencode({**filters, "format": fmt})
    request = urllib.request.Request(f"{server.url}/v1/{kind}/export?{query}", headers={"Authorization": f"Bearer {server.query_key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Disposition"] == f'attachment; filename="{kind}.{fmt}"'
        return response.headers["Content-Type"], response.read()


def listed_errors(server) -> list:
    errors, cursor = [], ""
    while True:
        page = server.get("/v1/errors?" + urllib.parse.urlencode({"order": "asc", "limit": "1000", "cursor": cursor}))
        errors.extend(page["errors"])
        if not page["next_cursor"]:
            return errors
        cursor = page["next_cursor"]


def instant(value):
    """A timestamp from the API (RFC 3339 text) or a reader (datetime, pandas Timestamp) as a UTC instant."""
    if value is None or (not isinstance(value, str) and pandas.isna(value)):
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, pandas.Timestamp):
        value = value.to_pydatetime()
    assert value.tzinfo is not None, f"{value!r} is not timezone-aware"
    return value.astimezone(datetime.timezone.utc)


def comparable(record: dict, columns: list, times: tuple) -> dict:
    """A record with timestamps as UTC instants, `data` parsed, nulls (and NaN) as None."""
    row = {}
    for column in columns:
        value = record[column]
        if value == "":
            value = None  # CSV cannot tell an empty text from a null
        if column in times:
            value = instant(value)
        elif column in JSON_COLUMNS and isinstance(value, str):
            value = json.loads(value)
        elif value is not None and not isinstance(value, (str, dict)) and pandas.isna(value):
            value = None
        elif column == "schema_version" and value is not None:
            value = int(value)
        row[column] = value
    return row


def check(rows: list, listed: list, columns: list, times: tuple, reader: str) -> None:
    expected = [comparable(record, columns, times) for record in listed]
    actual = [comparable(row, columns, times) for row in rows]
    assert len(actual) == len(expected), reader
    for got, want in zip(actual, expected):
        assert got == want, f"{reader}: {got} != {want}"


CASES = [
    ("events", {}, EVENT_COLUMNS, EVENT_TIMES),
    ("events", {"session_id": "x-1"}, EVENT_COLUMNS, EVENT_TIMES),
    ("events", {"category": "page interaction", "from": "2021-03-01T07:01:00Z"}, EVENT_COLUMNS, EVENT_TIMES),
    ("events", {"user_id": "py-u-1"}, EVENT_COLUMNS, EVENT_TIMES),
    ("events", {"user_id": "py-u-skewed"}, EVENT_COLUMNS, EVENT_TIMES),
    ("errors", {}, ERROR_COLUMNS, ERROR_TIMES),
    ("errors", {"code": "unknown_field"}, ERROR_COLUMNS, ERROR_TIMES),
]


def test_a_corrected_timestamp_keeps_the_one_the_client_sent(server):
    rows = server.stored(user_id="py-u-skewed")
    assert [row["original_timestamp"] for row in rows] == [f"2021-03-01T10:00:0{i}.000000Z" for i in range(3)]
    assert all(instant(row["timestamp"]).year > 2021 for row in rows), "moved to the server's clock"


def listed(server, kind, filters):
    return server.stored(**filters) if kind == "events" else [
        e for e in listed_errors(server) if all(e[k] == v for k, v in filters.items())
    ]


@pytest.mark.parametrize("kind,filters,columns,times", CASES)
def test_parquet_reads_the_same_in_pyarrow_pandas_polars_and_duckdb(server, tmp_path, kind, filters, columns, times):
    content_type, body = export(server, kind, "parquet", **filters)
    assert content_type == "application/vnd.apache.parquet"
    expected = listed(server, kind, filters)
    assert expected, "the case selects something"
    path = tmp_path / f"{kind}.parquet"
    path.write_bytes(body)

    table = pyarrow.parquet.read_table(path)
    assert table.column_names == columns
    for column in times:
        assert table.schema.field(column).type == pyarrow.timestamp("us", tz="UTC"), column
    assert table.schema.field("schema_version").type == pyarrow.int64()
    check(table.to_pylist(), expected, columns, times, "pyarrow")

    frame = pandas.read_parquet(path)
    check(frame.to_dict("records"), expected, columns, times, "pandas")

    polars_frame = polars.read_parquet(path)
    assert polars_frame.schema["timestamp" if kind == "events" else "received_at"] == polars.Datetime("us", "UTC")
    check(polars_frame.to_dicts(), expected, columns, times, "polars")

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    cursor = connection.execute(f"SELECT * FROM read_parquet('{path}')")
    names = [description[0] for description in cursor.description]
    rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    check(rows, expected, columns, times, "duckdb")


@pytest.mark.parametrize("kind,filters,columns,times", CASES)
def test_csv_reads_the_same_in_pandas_polars_duckdb_and_the_csv_module(server, tmp_path, kind, filters, columns, times):
    content_type, body = export(server, kind, "csv", **filters)
    assert content_type.startswith("text/csv")
    expected = listed(server, kind, filters)
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(body)

    def nulls(rows):
        # CSV has no null: an empty field stands for one.
        return [{k: (None if v == "" else v) for k, v in row.items()} for row in rows]

    rows = nulls(list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline=""))))
    check(rows, expected, columns, times, "csv module")

    frame = pandas.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == columns
    check(nulls(frame.to_dict("records")), expected, columns, times, "pandas")

    polars_frame = polars.read_csv(path, infer_schema=False)
    check(polars_frame.to_dicts(), expected, columns, times, "polars")

    connection = duckdb.connect()
    cursor = connection.execute(f"SELECT * FROM read_csv('{path}', header = true, all_varchar = true)")
    names = [description[0] for description in cursor.description]
    check([dict(zip(names, values)) for values in cursor.fetchall()], expected, columns, times, "duckdb")


@pytest.mark.parametrize("kind,filters,columns,times", CASES)
def test_ndjson_lines_are_the_json_api_records(server, kind, filters, columns, times):
    content_type, body = export(server, kind, "ndjson", **filters)
    assert content_type == "application/x-ndjson"
    lines = [json.loads(line) for line in body.decode("utf-8").splitlines()]
    assert lines == listed(server, kind, filters)
    frame = pandas.read_json(io.BytesIO(body), lines=True, dtype=False)
    assert list(frame["id"]) == [line["id"] for line in lines]
