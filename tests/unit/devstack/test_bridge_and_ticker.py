import base64
import json
from datetime import UTC, datetime

import pytest

from devstack.bridge import cloud_event_request
from devstack.ticker import message_of, next_fire


def push_body(
    event_type: str = "OBJECT_FINALIZE", name: str = "c/r/image/a b.png"
) -> dict[str, object]:
    resource = {"bucket": "b", "name": name, "generation": "7"}
    return {
        "subscription": "projects/p/subscriptions/s",
        "message": {
            "data": base64.b64encode(json.dumps(resource).encode()).decode(),
            "attributes": {
                "bucketId": "b",
                "objectId": name,
                "eventType": event_type,
                "eventTime": "2026-11-23T10:00:00Z",
                "payloadFormat": "JSON_API_V1",
            },
            "messageId": "42",
        },
    }


def test_notification_becomes_eventarc_cloudevent() -> None:
    bucket, ce_type, headers, body = cloud_event_request(push_body())
    assert bucket == "b"
    assert ce_type == "google.cloud.storage.object.v1.finalized"
    assert headers["ce-id"] == "42"
    assert headers["ce-source"] == "//storage.googleapis.com/projects/_/buckets/b"
    assert headers["ce-subject"] == "objects/c/r/image/a%20b.png"
    assert headers["ce-time"] == "2026-11-23T10:00:00Z"
    assert json.loads(body)["generation"] == "7"


def test_delete_and_hostile_names_map_to_ascii_headers() -> None:
    _, ce_type, headers, _ = cloud_event_request(push_body("OBJECT_DELETE", "x/\u00e9\n\x00"))
    assert ce_type == "google.cloud.storage.object.v1.deleted"
    headers["ce-subject"].encode("ascii")


def test_unknown_notification_is_refused() -> None:
    with pytest.raises(KeyError):
        cloud_event_request(push_body("OBJECT_TELEPORT"))


def test_scheduler_message_is_stable_json() -> None:
    data, attributes = message_of(
        {"name": "daily", "topic": "t", "data": {"b": 1, "a": [2]}, "attributes": {"k": 1}}
    )
    assert data == b'{"a":[2],"b":1}'
    assert attributes == {"k": "1", "schedule": "daily"}


def test_next_fire_honours_cron_and_time_zone() -> None:
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    fire = next_fire({"cron": "0 3 * * *", "time_zone": "Europe/Berlin"}, now)
    assert fire.astimezone(UTC) == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
