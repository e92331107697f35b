"""The spine's promises, through real emulators and real triggers."""

import json
import time
from pathlib import Path
from typing import Any

from devstack.stack import LocalStack
from tests.conftest import TEST_BUCKET


def _records(record_dir: Path, name: str) -> list[dict[str, Any]]:
    path = record_dir / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_storage_upload_arrives_as_eventarc_cloudevent(stack: LocalStack, record_dir: Path) -> None:
    name = "c1/r1/document/rapport final é.txt"
    blob = stack.storage().bucket(TEST_BUCKET).blob(name)
    blob.upload_from_string(b"hello world", content_type="text/plain", timeout=30)
    blob.reload()

    def arrived() -> list[dict[str, Any]]:
        return [r for r in _records(record_dir, "recorder.jsonl") if r["data"].get("name") == name]

    (event,) = stack.wait_until(arrived, what="finalized CloudEvent")
    attrs, data = event["attributes"], event["data"]
    assert attrs["type"] == "google.cloud.storage.object.v1.finalized"
    assert attrs["source"] == f"//storage.googleapis.com/projects/_/buckets/{TEST_BUCKET}"
    assert attrs["subject"] == "objects/c1/r1/document/rapport%20final%20%C3%A9.txt"
    assert attrs["specversion"] == "1.0"
    assert data["bucket"] == TEST_BUCKET
    assert data["generation"] == str(blob.generation)
    assert data["size"] == "11"
    assert data["md5Hash"] == blob.md5_hash
    assert data["crc32c"] == blob.crc32c
    assert data["contentType"] == "text/plain"

    blob.delete()
    deleted = stack.wait_until(
        lambda: [r for r in arrived() if r["attributes"]["type"].endswith(".deleted")],
        what="deleted CloudEvent",
    )
    assert deleted[0]["data"]["generation"] == str(blob.generation)


def test_pubsub_publish_arrives_as_cloudevent(stack: LocalStack, record_dir: Path) -> None:
    message_id = stack.publish("spine-recorder", b'{"hello": "world"}', source="shop")

    def arrived() -> list[dict[str, Any]]:
        return [
            r
            for r in _records(record_dir, "recorder-pubsub.jsonl")
            if r["data"]["message"].get("messageId") == message_id
        ]

    (event,) = stack.wait_until(arrived, what="messagePublished CloudEvent")
    assert event["attributes"]["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert event["attributes"]["source"].endswith(
        f"/projects/{stack.project}/topics/spine-recorder"
    )
    assert event["data"]["message"]["attributes"] == {"source": "shop"}


def test_permanent_error_is_dead_lettered_and_acknowledged(
    stack: LocalStack, record_dir: Path
) -> None:
    message_id = stack.publish(
        "spine-probe", json.dumps({"key": "perm-1", "mode": "permanent"}).encode()
    )
    rows = stack.wait_until(
        lambda: stack.query(
            f"SELECT * FROM `{stack.project}.ops.dead_letters_current` WHERE event_id = @id",
            {"id": message_id},
        ),
        what="dead letter row",
    )
    assert rows[0]["reason"] == "probe_rejected"
    assert rows[0]["function"] == "probe"
    assert rows[0]["topic"] == "spine-probe"
    assert json.loads(rows[0]["payload"]) == {"key": "perm-1", "mode": "permanent"}
    # acknowledged: a nack would be redelivered within about a second; none comes
    time.sleep(3)
    attempts = [r for r in _records(record_dir, "probe-attempts.jsonl") if r["key"] == "perm-1"]
    assert len(attempts) == 1


def test_transient_error_is_redelivered_until_success(stack: LocalStack, record_dir: Path) -> None:
    body = {"key": "trans-1", "mode": "transient", "fail_times": 2}
    stack.publish("spine-probe", json.dumps(body).encode())
    done = stack.wait_until(
        lambda: [r for r in _records(record_dir, "probe-done.jsonl") if r["key"] == "trans-1"],
        timeout=60,
        what="success after redeliveries",
    )
    assert len(done) == 1
    attempts = [r for r in _records(record_dir, "probe-attempts.jsonl") if r["key"] == "trans-1"]
    assert len(attempts) == 3  # two transient failures, then success
    dead = stack.query(
        f"SELECT COUNT(*) AS n FROM `{stack.project}.ops.dead_letters` WHERE function = 'probe' "
        "AND JSON_VALUE(attributes, '$.\"ce-type\"') IS NOT NULL AND reason != 'probe_rejected'"
    )
    assert dead[0]["n"] == 0
