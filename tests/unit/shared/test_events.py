import base64
import json
from typing import Any

import pytest
from cloudevents.http import CloudEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events import (
    PUBSUB_PUBLISHED,
    STORAGE_DELETED,
    STORAGE_FINALIZED,
    EventDataError,
    pubsub_message_from_event,
    storage_object_from_event,
)

OBJECT = {
    "bucket": "b",
    "name": "c1/r1/image/cat.png",
    "generation": "1700000000000001",
    "size": "42",
    "contentType": "image/png",
    "md5Hash": "XUFAKrxLKna5cZ2REBfFkg==",
    "crc32c": "mnG7TA==",
    "storageClass": "STANDARD",
    "timeCreated": "2026-11-23T10:00:00.123Z",
    "updated": "2026-11-23T10:00:00.123Z",
    "metadata": {"record-id": "r1"},
}


def storage_event(data: Any, type_: str = STORAGE_FINALIZED) -> CloudEvent:
    attrs = {"id": "e1", "source": "//storage.googleapis.com/projects/_/buckets/b", "type": type_}
    return CloudEvent(attrs, data)


def pubsub_event(message: Any) -> CloudEvent:
    attrs = {
        "id": "m1",
        "source": "//pubsub.googleapis.com/projects/p/topics/webhook-events",
        "type": PUBSUB_PUBLISHED,
    }
    return CloudEvent(attrs, {"message": message, "subscription": "projects/p/subscriptions/s"})


def test_storage_object_is_decoded() -> None:
    obj = storage_object_from_event(storage_event(OBJECT))
    assert obj.name == "c1/r1/image/cat.png"
    assert obj.generation == 1700000000000001
    assert obj.size == 42
    assert obj.metadata == {"record-id": "r1"}
    assert obj.time_created is not None and obj.time_created.year == 2026
    assert not obj.is_delete
    assert storage_object_from_event(storage_event(OBJECT, STORAGE_DELETED)).is_delete


def test_storage_event_lists_every_problem() -> None:
    bad = {"bucket": 3, "generation": "x1", "size": "-4", "metadata": []}
    with pytest.raises(EventDataError) as info:
        storage_object_from_event(storage_event(bad, "something.else"))
    problems = " | ".join(info.value.problems)
    for text in (
        "event type",
        "data.bucket",
        "data.name",
        "data.generation",
        "data.size",
        "metadata",
    ):
        assert text in problems
    assert info.value.reason == "malformed_event"


def test_storage_event_with_non_object_data() -> None:
    with pytest.raises(EventDataError):
        storage_object_from_event(storage_event([1, 2]))
    with pytest.raises(EventDataError):
        storage_object_from_event(storage_event(b"\xff\xfe"))


def test_pubsub_message_is_decoded() -> None:
    message = {
        "data": base64.b64encode(b'{"a": 1}').decode(),
        "attributes": {"source": "shop"},
        "messageId": "123",
        "publishTime": "2026-11-23T10:00:00Z",
    }
    msg = pubsub_message_from_event(pubsub_event(message))
    assert msg.topic == "webhook-events"
    assert msg.message_id == "123"
    assert msg.json() == {"a": 1}
    assert msg.attributes == {"source": "shop"}
    assert msg.subscription == "projects/p/subscriptions/s"


def test_pubsub_bad_base64_and_attributes() -> None:
    with pytest.raises(EventDataError) as info:
        pubsub_message_from_event(pubsub_event({"data": "***", "attributes": {"a": 1}}))
    assert len(info.value.problems) == 2


def test_pubsub_non_json_data_is_permanent() -> None:
    message = {"data": base64.b64encode(b"not json").decode()}
    msg = pubsub_message_from_event(pubsub_event(message))
    with pytest.raises(EventDataError) as info:
        msg.json()
    assert info.value.reason == "invalid_json"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(data=json_values)
def test_any_storage_data_decodes_or_fails_cleanly(data: Any) -> None:
    try:
        storage_object_from_event(storage_event(data))
    except EventDataError as exc:
        assert exc.problems


@settings(max_examples=200, deadline=None)
@given(message=json_values)
def test_any_pubsub_message_decodes_or_fails_cleanly(message: Any) -> None:
    try:
        msg = pubsub_message_from_event(pubsub_event(message))
    except EventDataError as exc:
        assert exc.problems
    else:
        assert isinstance(msg.data, bytes)
        json.dumps(msg.attributes)


def test_unicode_digits_are_problems_not_crashes() -> None:
    """``"²".isdigit()`` is True and ``int("²")`` raises: a listed problem, never a crash."""
    with pytest.raises(EventDataError) as info:
        storage_object_from_event(
            storage_event({**OBJECT, "generation": "\u00b2", "size": "\uff11"})
        )
    problems = " | ".join(info.value.problems)
    assert "data.generation" in problems and "data.size" in problems


DEEP = b"[" * 100_000  # json.loads raises RecursionError, not ValueError


def test_deeply_nested_data_is_bad_data_not_a_crash() -> None:
    with pytest.raises(EventDataError):
        storage_object_from_event(storage_event(DEEP))
    message = {"data": base64.b64encode(DEEP).decode(), "messageId": "1"}
    with pytest.raises(EventDataError):
        pubsub_message_from_event(pubsub_event(message)).json()
