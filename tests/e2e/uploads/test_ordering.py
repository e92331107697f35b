"""Redelivery, duplicates and out-of-order events, POSTed to the function as Eventarc would.

Objects live in a bucket the bridge does not route, so the test alone decides the order in
which the function sees the events.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devstack.stack import LocalStack
from tests.e2e.uploads import helpers


@pytest.fixture(scope="module")
def direct_bucket(stack: LocalStack) -> Any:
    return stack.ensure_bucket(f"{stack.project}-uploads-direct")


def test_three_redeliveries_of_every_event_out_of_order(
    stack: LocalStack, direct_bucket: Any
) -> None:
    url = stack.function_url("uploads")
    p = f"c-{uuid.uuid4().hex[:8]}/r1"
    keep = helpers.upload(direct_bucket, f"{p}/image/a.png", helpers.PNG, "image/png")
    v1 = helpers.upload(direct_bucket, f"{p}/audio/b.mp3", helpers.MP3, "audio/mpeg")
    v2 = helpers.upload(direct_bucket, f"{p}/audio/b.mp3", helpers.MP3 + b"v2", "audio/mpeg")
    dead = helpers.upload(direct_bucket, f"{p}/document/c.pdf", helpers.PDF, "application/pdf")
    direct_bucket.blob(f"{p}/document/c.pdf").delete()
    # newest first, the older generation arrives late, the delete arrives before its finalize
    events = [
        (helpers.FINALIZED, v2),
        (helpers.DELETED, dead),
        (helpers.FINALIZED, keep),
        (helpers.FINALIZED, v1),
        (helpers.FINALIZED, dead),
    ]
    for event_type, resource in events:
        event_id = uuid.uuid4().hex
        for _ in range(3):  # Eventarc redelivers with the same id
            assert helpers.post_event(url, event_type, resource, event_id) < 300
    for event_type, resource in events:  # a duplicate notification with a fresh id
        assert helpers.post_event(url, event_type, resource) < 300

    rows = helpers.current(stack, direct_bucket.name, p)
    assert [(r["name"], r["generation"], r["status"]) for r in rows] == [
        (f"{p}/audio/b.mp3", int(v2["generation"]), "active"),
        (f"{p}/image/a.png", int(keep["generation"]), "active"),
    ]
    raw = helpers.raw_rows(stack, direct_bucket.name, p)
    # 20 deliveries, 5 deterministic keys (the emulator's insertId dedup is exact, BigQuery's
    # is best effort: the view's QUALIFY on row_key is what makes the count right there)
    assert len({r["row_key"] for r in raw}) == 5
    # the old generation was already overwritten when its late event came: recorded as gone
    late = [r for r in raw if r["generation"] == int(v1["generation"])]
    assert {r["status"] for r in late} == {"deleted"}
    assert all(r["reason"].startswith("object_vanished") for r in late)


def test_delete_then_late_finalize_does_not_resurrect(
    stack: LocalStack, direct_bucket: Any
) -> None:
    url = stack.function_url("uploads")
    p = f"c-{uuid.uuid4().hex[:8]}/r2"
    res = helpers.upload(direct_bucket, f"{p}/image/x.jpg", helpers.JPEG, "image/jpeg")
    # the object still exists (the delete event raced ahead of the real delete, e.g. replay)
    assert helpers.post_event(url, helpers.DELETED, res) < 300
    assert helpers.post_event(url, helpers.FINALIZED, res) < 300
    assert helpers.current(stack, direct_bucket.name, p) == []
    # a new generation after the delete is live again
    res2 = helpers.upload(direct_bucket, f"{p}/image/x.jpg", helpers.JPEG + b"2", "image/jpeg")
    assert helpers.post_event(url, helpers.FINALIZED, res2) < 300
    rows = helpers.current(stack, direct_bucket.name, p)
    assert [(r["generation"], r["status"]) for r in rows] == [(int(res2["generation"]), "active")]


def test_bad_input_gets_a_row_or_a_dead_letter(stack: LocalStack, direct_bucket: Any) -> None:
    url = stack.function_url("uploads")
    p = f"c-{uuid.uuid4().hex[:8]}"
    empty = helpers.upload(direct_bucket, f"{p}/r/document/empty.txt", b"", "text/plain")
    vanished = helpers.upload(direct_bucket, f"{p}/r/image/v.png", helpers.PNG, "image/png")
    direct_bucket.blob(f"{p}/r/image/v.png").delete()
    base = {"bucket": direct_bucket.name, "generation": "1", "size": "10"}
    cases: list[tuple[dict[str, Any], str]] = [
        (empty, "empty_object"),
        ({**empty, "name": f"{p}/r/image/../../etc/passwd"}, "path_traversal"),
        ({**base, "name": f"{p}/r/image/bad\x07name.jpg"}, "control_characters"),
        ({**base, "name": f"{p}/r/sound/x.mp3"}, "media_class_unknown"),
        ({**base, "name": f"{p}UPPER CASE/r/image/x.jpg"}, "customer_id_format"),
        ({**base, "name": f"{p}/r/image/x.jpg", "size": str(10**13)}, "oversize"),
        (
            {**base, "name": f"{p}/r/image/y.jpg", "metadata": {"record-id": "other"}},
            "record_link_conflict",
        ),
    ]
    for resource, _ in cases:
        assert helpers.post_event(url, helpers.FINALIZED, resource) < 300
    assert helpers.post_event(url, helpers.FINALIZED, vanished) < 300
    rows = {r["name"]: r for r in helpers.raw_rows(stack, direct_bucket.name, p)}
    for resource, reason in cases:
        row = rows[resource["name"]]
        assert row["status"] == "rejected", resource["name"]
        assert row["reason"].startswith(reason), (resource["name"], row["reason"])
    assert rows[vanished["name"]]["status"] == "deleted"
    assert rows[f"{p}/r/image/v.png"]["reason"].startswith("object_vanished")
    # the rejected objects are still in the bucket, so they are listed (with their status)
    live = helpers.current(stack, direct_bucket.name, p)
    assert all(r["status"] == "rejected" for r in live)

    # malformed events: acknowledged (2xx) and dead-lettered with a reason
    ids = [uuid.uuid4().hex for _ in range(3)]
    assert helpers.post_event(url, helpers.FINALIZED, {"bucket": 5}, ids[0]) < 300
    assert helpers.post_event(url, helpers.FINALIZED, {"name": "x"}, ids[1]) < 300
    assert helpers.post_event(url, "google.cloud.storage.object.v1.archived", base, ids[2]) < 300
    letters = stack.wait_until(
        lambda: (d := helpers.dead_letters(stack, ids)) and len(d) == 3 and d,
        timeout=30,
        what="dead letters",
    )
    assert {d["reason"] for d in letters} == {"malformed_event"}
