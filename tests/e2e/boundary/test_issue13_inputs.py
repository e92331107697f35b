"""Issue 13's two inputs, sent straight to the uploads function: each ends as a row or a dead
letter that is readable as soon as the 2xx arrives (never a 2xx with nothing written)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests
from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent

from devstack.stack import LocalStack
from shared.events import STORAGE_FINALIZED

pytestmark = pytest.mark.stack


def resource(bucket: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "storage#object",
        "bucket": bucket,
        "name": name,
        "generation": "1700000000000001",
        "size": "1024",
        "contentType": "image/jpeg",
        "md5Hash": "1B2M2Y8AsgTpgAmY7PHSjg==",
        "timeCreated": "2026-01-01T00:00:00.000Z",
        "updated": "2026-01-01T00:00:00.000Z",
        **extra,
    }


def outcome(stack: LocalStack, bucket: str, name: str, event_id: str) -> dict[str, int]:
    rows = stack.query(
        f"SELECT COUNT(*) AS n FROM `{stack.project}.warehouse.media_files` "
        "WHERE bucket = @b AND name = @n",
        {"b": bucket, "n": name},
    )
    letters = stack.query(
        f"SELECT COUNT(*) AS n FROM `{stack.project}.ops.dead_letters` "
        "WHERE function = 'uploads' AND event_id = @e",
        {"e": event_id},
    )
    return {"rows": rows[0]["n"], "dead_letters": letters[0]["n"]}


def test_structured_mode_cloudevent_is_written_before_the_2xx(stack: LocalStack) -> None:
    bucket = stack.buckets.get("uploads", "uploads")
    name = f"c1/r1/image/structured-{uuid.uuid4().hex[:8]}.jpg"
    event = CloudEvent(
        {
            "id": uuid.uuid4().hex,
            "type": STORAGE_FINALIZED,
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "subject": f"objects/{name}",
            "time": "2026-01-01T00:00:00Z",
            "datacontenttype": "application/json",
        },
        resource(bucket, name),
    )
    headers, body = to_structured(event)
    assert headers["content-type"] == "application/cloudevents+json"
    answer = requests.post(stack.function_url("uploads"), data=body, headers=headers, timeout=120)
    assert answer.status_code == 200, answer.text
    assert outcome(stack, bucket, name, event["id"]) == {"rows": 1, "dead_letters": 0}


def test_two_thousand_metadata_keys_end_in_a_row_or_dead_letter(stack: LocalStack) -> None:
    bucket = stack.buckets.get("uploads", "uploads")
    name = f"c1/r1/image/meta-{uuid.uuid4().hex[:8]}.jpg"
    metadata = {f"key-{i:04d}": "v" * 50 for i in range(2000)}
    data = resource(bucket, name, metadata=metadata)
    assert 120_000 < len(json.dumps(data)) < 140_000  # the issue's ~130 KB object resource
    event_id = uuid.uuid4().hex
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-type": STORAGE_FINALIZED,
        "ce-subject": f"objects/{name}",
        "ce-time": "2026-01-01T00:00:00Z",
        "Content-Type": "application/json",
    }
    answer = requests.post(
        stack.function_url("uploads"), data=json.dumps(data), headers=headers, timeout=120
    )
    assert answer.status_code == 200, answer.text
    seen = outcome(stack, bucket, name, event_id)
    assert seen["rows"] + seen["dead_letters"] == 1, seen
