import base64
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from shared import settings
from shared.bigquery.protorows import row_codec
from shared.dead_letters import DeadLetterSink
from shared.errors import PermanentError, TransientError
from shared.events import PUBSUB_PUBLISHED
from shared.handler import cloud_event_handler


@pytest.fixture(autouse=True)
def local_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "PROJECT_ID": "demo-local",
        "APP_ENV": "local",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:1",
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:1",
        "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:1",
        "BIGQUERY_WRITE_EMULATOR_HOST": "127.0.0.1:1",
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1",
    }.items():
        monkeypatch.setenv(key, value)
    settings.get_settings.cache_clear()
    yield
    settings.get_settings.cache_clear()


class RecordingWriter:
    def __init__(self) -> None:
        self.rows: list[Mapping[str, Any]] = []

    def write(self, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        for key, row in rows:
            assert key == row["dead_letter_id"]
            row_codec("dead_letters").encode(row)  # the row fits the table's Write API schema
            self.rows.append(row)


def event() -> CloudEvent:
    return CloudEvent(
        {
            "id": "m-1",
            "source": "//pubsub.googleapis.com/projects/p/topics/t",
            "type": PUBSUB_PUBLISHED,
        },
        {
            "message": {
                "data": base64.b64encode(b"\x00raw").decode(),
                "attributes": {"source": "shop"},
            }
        },
    )


def test_permanent_error_is_dead_lettered_and_acknowledged() -> None:
    insert = RecordingWriter()

    @cloud_event_handler("probe", sink=DeadLetterSink(insert))
    def handle(_: Any) -> None:
        raise PermanentError("bad_input", "field x")

    handle(event())  # returns normally: the event is acknowledged
    (row,) = insert.rows
    assert row["reason"] == "bad_input"
    assert row["event_id"] == "m-1"
    assert row["topic"] == "t"
    assert base64.b64decode(row["payload"]) == b"\x00raw"
    assert row["attributes"]["source"] == "shop"
    assert row["payload_size"] == 4


def test_dead_letter_id_is_deterministic() -> None:
    insert = RecordingWriter()

    @cloud_event_handler("probe", sink=DeadLetterSink(insert))
    def handle(_: Any) -> None:
        raise PermanentError("bad_input")

    handle(event())
    handle(event())
    assert insert.rows[0]["dead_letter_id"] == insert.rows[1]["dead_letter_id"]


@pytest.mark.parametrize("error", [TransientError("down"), KeyError("bug")])
def test_other_errors_are_re_raised_for_redelivery(error: Exception) -> None:
    insert = RecordingWriter()

    @cloud_event_handler("probe", sink=DeadLetterSink(insert))
    def handle(_: Any) -> None:
        raise error

    with pytest.raises(type(error)):
        handle(event())
    assert insert.rows == []


def test_failing_dead_letter_write_is_retried_not_lost() -> None:
    class Broken:
        def write(self, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
            raise ConnectionError("bigquery down")

    @cloud_event_handler("probe", sink=DeadLetterSink(Broken()))
    def handle(_: Any) -> None:
        raise PermanentError("bad_input")

    with pytest.raises(ConnectionError):
        handle(event())


def test_request_parsing_failures_are_400_and_our_failures_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import functions_framework
    from werkzeug.exceptions import NotFound

    from shared import settings
    from shared.handler import _malformed_request
    from shared.retry import call_with_retry

    monkeypatch.setenv("PROJECT_ID", "p")
    monkeypatch.setenv("APP_ENV", "local")
    settings.get_settings.cache_clear()

    app = functions_framework.create_app(
        "on_object_event", "functions/uploads/main.py", "cloudevent"
    )
    client = app.test_client()
    base = {"ce-source": "//x", "ce-specversion": "1.0", "ce-type": "t", "ce-id": "1"}
    not_utf8 = client.post(
        "/",
        data=b'{"a": \xff}',
        headers={**base, "content-type": "application/cloudevents+json"},
    )
    assert not_utf8.status_code == 400
    not_an_object = client.post("/", data=b"[1]", headers={"content-type": "application/json"})
    assert not_an_object.status_code == 400
    assert _malformed_request(NotFound()).code == 404

    try:  # raised inside shared/: a failure of our own code stays a 500 (retried)
        call_with_retry(lambda: 1 // 0, retryable=lambda e: False)
    except ZeroDivisionError as exc:
        status = _malformed_request(exc)[1]
    assert status == 500
    settings.get_settings.cache_clear()
