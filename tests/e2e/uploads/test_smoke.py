"""Uploads through the real bucket: fake-gcs notification -> bridge -> function -> BigQuery."""

from __future__ import annotations

import uuid

from devstack.stack import LocalStack
from tests.e2e.uploads import helpers


def test_one_of_each_class_overwrite_delete_and_hostile(stack: LocalStack) -> None:
    bucket = stack.storage().bucket(stack.buckets["uploads"])
    run = uuid.uuid4().hex[:8]
    base = f"c-{run}/rec-1"
    files = {
        f"{base}/image/photo.jpg": (helpers.JPEG, "image/jpeg"),
        f"{base}/audio/voice memo.mp3": (helpers.MP3, "audio/mpeg"),
        f"{base}/video/clip.mp4": (helpers.MP4, "video/mp4"),
        f"{base}/document/résumé.pdf": (helpers.PDF, "application/pdf"),
        f"{base}/image/evil.jpg": (helpers.EXE, "image/jpeg"),
        f"{base}/image/gone.png": (helpers.PNG, "image/png"),
        f"c-{run}/not-the-layout.txt": (b"hello", "text/plain"),
    }
    for name, (data, ctype) in files.items():
        bucket.blob(name).upload_from_string(data, content_type=ctype)
    overwrite = bucket.blob(f"{base}/image/photo.jpg")
    overwrite.upload_from_string(helpers.PNG + b"v2", content_type="image/png")
    overwrite.reload()
    bucket.blob(f"{base}/image/gone.png").delete()

    def settled() -> list[dict[str, object]] | None:
        rows = helpers.current(stack, bucket.name, f"c-{run}/")
        raw = helpers.raw_rows(stack, bucket.name, f"c-{run}/")
        # 7 + overwrite finalize + delete (+ a possible delete of the overwritten generation)
        return rows if len(rows) == 6 and len(raw) >= 9 else None

    rows = stack.wait_until(settled, timeout=60, what="uploads rows")
    by_name = {r["name"].rsplit("/", 1)[-1]: r for r in rows}
    assert set(by_name) == {
        "photo.jpg",
        "voice memo.mp3",
        "clip.mp4",
        "résumé.pdf",
        "evil.jpg",
        "not-the-layout.txt",
    }
    assert by_name["photo.jpg"]["generation"] == overwrite.generation
    assert by_name["photo.jpg"]["status"] == "active"  # PNG bytes named .jpg: flagged
    assert by_name["photo.jpg"]["reason"].startswith("format_mismatch")
    assert by_name["voice memo.mp3"]["status"] == "active"
    assert by_name["voice memo.mp3"]["detected_type"] == "audio/mpeg"
    assert by_name["clip.mp4"]["media_class"] == "video"
    assert by_name["résumé.pdf"]["detected_type"] == "application/pdf"
    assert by_name["résumé.pdf"]["customer_id"] == f"c-{run}"
    assert by_name["résumé.pdf"]["record_id"] == "rec-1"
    assert by_name["evil.jpg"]["status"] == "rejected"
    assert by_name["evil.jpg"]["reason"].startswith("executable_content")
    assert by_name["not-the-layout.txt"]["reason"].startswith("path_convention")
