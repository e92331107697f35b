"""docs/runbooks.md, the steps marked "tested", on the emulators with the same client calls:
restore a deleted object from its noncurrent generation, rebuild rows with the backfill; and the
per-record view counting usable files only (unknown class folders explicit, never NULL)."""

from __future__ import annotations

import io
import uuid
from typing import Any

from devstack.stack import LocalStack
from shared.uploads import backfill
from tests.e2e.uploads import helpers


def _versioned_bucket(stack: LocalStack) -> Any:
    return stack.ensure_bucket(f"{stack.project}-uploads-dr", versioned=True)


def test_restore_a_deleted_object_then_backfill(stack: LocalStack) -> None:
    url = stack.function_url("uploads")
    bucket = _versioned_bucket(stack)
    assert stack.storage().get_bucket(bucket.name).versioning_enabled
    p = f"dr-{uuid.uuid4().hex[:8]}/"
    name = f"{p}r1/image/photo.jpg"
    first = helpers.upload(bucket, name, helpers.JPEG + b"v1", "image/jpeg")
    assert helpers.post_event(url, helpers.FINALIZED, first) < 300
    second = helpers.upload(bucket, name, helpers.JPEG + b"v2", "image/jpeg")
    assert helpers.post_event(url, helpers.FINALIZED, second) < 300
    bucket.blob(name).delete()
    assert helpers.post_event(url, helpers.DELETED, second) < 300
    assert helpers.current(stack, bucket.name, p) == []

    # runbook 1, step 1: the generation to bring back, from the warehouse
    found = stack.query(
        f"SELECT generation, md5_hash FROM `{stack.project}.warehouse.media_files` "
        "WHERE bucket = @b AND name = @n AND event_kind = 'finalized' AND status = 'active' "
        "ORDER BY generation DESC LIMIT 1",
        {"b": bucket.name, "n": name},
    )
    assert [r["generation"] for r in found] == [int(second["generation"])]
    # step 2: copy that generation over the live name; its finalize event writes the row
    source = bucket.blob(name, generation=found[0]["generation"])
    restored = bucket.copy_blob(source, bucket, name, source_generation=found[0]["generation"])
    assert restored.download_as_bytes() == helpers.JPEG + b"v2"
    assert helpers.post_event(url, helpers.FINALIZED, helpers.resource_of(restored)) < 300
    rows = helpers.current(stack, bucket.name, p)
    assert [(r["name"], r["generation"], r["status"]) for r in rows] == [
        (name, int(restored.generation), "active")
    ]
    assert restored.md5_hash == found[0]["md5_hash"]

    # runbook 2: objects the function never saw are rebuilt by the backfill, idempotently
    unseen = {f"{p}r2/document/a.pdf": helpers.PDF, f"{p}r2/audio/b.mp3": helpers.MP3}
    for key, data in unseen.items():
        bucket.blob(key).upload_from_string(data, content_type="application/octet-stream")
    out = io.StringIO()
    assert backfill.run(bucket.name, p, dry_run=True, out=out, progress=backfill.Progress(out)) == 0
    assert len(helpers.current(stack, bucket.name, p)) == 1
    for _ in range(2):
        out = io.StringIO()
        code = backfill.run(bucket.name, p, out=out, progress=backfill.Progress(io.StringIO()))
        assert code == 0 and "OK" in out.getvalue(), out.getvalue()
    current = helpers.current(stack, bucket.name, p)
    assert sorted(r["name"] for r in current) == sorted([name, *unseen])
    assert all(r["status"] == "active" for r in current)


def test_per_record_view_counts_usable_files_only(stack: LocalStack) -> None:
    url = stack.function_url("uploads")
    bucket = _versioned_bucket(stack)
    customer = f"pr-{uuid.uuid4().hex[:8]}"
    uploads = [
        (f"{customer}/r1/image/ok.jpg", helpers.JPEG, "image/jpeg"),
        (f"{customer}/r1/image/evil.jpg", helpers.EXE, "image/jpeg"),
        (f"{customer}/r1/pictures/cat.jpg", helpers.JPEG, "image/jpeg"),
    ]
    for key, data, ctype in uploads:
        assert (
            helpers.post_event(url, helpers.FINALIZED, helpers.upload(bucket, key, data, ctype))
            < 300
        )
    rows = stack.query(
        "SELECT media_class, files, bytes, rejected_files "
        f"FROM `{stack.project}.warehouse.media_files_per_record` "
        "WHERE customer_id = @c AND record_id = 'r1' ORDER BY media_class",
        {"c": customer},
    )
    assert [(r["media_class"], r["files"], r["rejected_files"]) for r in rows] == [
        ("image", 1, 1),
        ("unknown", 0, 1),
    ]
    assert rows[0]["bytes"] == len(helpers.JPEG)
    current = {r["name"]: r for r in helpers.current(stack, bucket.name, customer)}
    unknown = current[f"{customer}/r1/pictures/cat.jpg"]
    assert (unknown["status"], unknown["media_class"]) == ("rejected", "unknown")
    assert unknown["reason"].startswith("media_class_unknown: media class 'pictures'")
