"""Uploads demo: one file of each class, an overwrite, a delete and a hostile file go through
the real bucket (fake-gcs notification -> bridge -> function); the rows are read back."""

from __future__ import annotations

import uuid
from typing import Any

from devstack.report import Report
from devstack.stack import LocalStack

ORDER = 30
TITLE = "Uploads: every stored file becomes a queryable row"

SAMPLES: list[tuple[str, bytes, str]] = [
    ("image/photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 500, "image/jpeg"),
    ("audio/voice memo.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 900, "audio/mpeg"),
    ("video/clip.mp4", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + b"\x00" * 2000, "video/mp4"),
    ("document/résumé.pdf", b"%PDF-1.7\n" + b"x" * 700, "application/pdf"),
    ("image/invoice.jpg", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 300, "image/jpeg"),  # hostile
    ("document/old-draft.pdf", b"%PDF-1.4\n" + b"y" * 100, "application/pdf"),
]


def run(stack: LocalStack, report: Report) -> None:
    report.section(TITLE)
    bucket = stack.storage().bucket(stack.buckets["uploads"])
    prefix = f"demo-{uuid.uuid4().hex[:6]}/sub-1001/"
    for path, data, ctype in SAMPLES:
        bucket.blob(prefix + path).upload_from_string(data, content_type=ctype)
    photo = bucket.blob(prefix + "image/photo.jpg")
    photo.upload_from_string(
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x01" + b"\x01" * 800, content_type="image/jpeg"
    )
    bucket.blob(prefix + "document/old-draft.pdf").delete()
    report.line(f"uploaded {len(SAMPLES)} files to gs://{bucket.name}/{prefix}, overwrote")
    report.line("image/photo.jpg, deleted document/old-draft.pdf")

    def current() -> list[dict[str, Any]] | None:
        rows = stack.query(
            f"SELECT name, generation, media_class, detected_type, size, status, reason "
            f"FROM `{stack.project}.warehouse.media_files_current` "
            "WHERE bucket = @b AND STARTS_WITH(name, @p) ORDER BY name",
            {"b": bucket.name, "p": prefix},
        )
        photo_rows = [r for r in rows if r["name"].endswith("photo.jpg")]
        newest = bool(photo_rows) and photo_rows[0]["generation"] == photo.generation
        return rows if len(rows) == 5 and newest else None

    rows = stack.wait_until(current, timeout=60, what="uploads rows in media_files_current")
    for row in rows:
        row["name"] = row["name"][len(prefix) :]
    report.line("media_files_current (one row per live object):")
    report.table(rows, ["name", "media_class", "detected_type", "size", "status", "reason"])
    hostile = [r for r in rows if r["name"] == "image/invoice.jpg"]
    if not hostile or hostile[0]["status"] != "rejected":
        raise RuntimeError(f"the executable named .jpg was not rejected: {hostile}")
    per_record = stack.query(
        f"SELECT customer_id, record_id, media_class, files, bytes "
        f"FROM `{stack.project}.warehouse.media_files_per_record` WHERE customer_id = @c "
        "ORDER BY media_class",
        {"c": prefix.split("/", maxsplit=1)[0]},
    )
    report.line("media_files_per_record:")
    report.table(per_record)
    for view, where in (
        ("media_storage_by_customer", "customer_id = @c"),
        ("media_rejected_last_day", "STARTS_WITH(name, @c)"),
    ):
        found = stack.query(
            f"SELECT * FROM `{stack.project}.warehouse.{view}` WHERE {where}",
            {"c": prefix.split("/", maxsplit=1)[0]},
        )
        report.line(f"{view}:")
        report.table(found, [c for c in found[0] if c not in ("bucket",)] if found else None)
    raw = stack.query(
        f"SELECT COUNT(*) AS n FROM `{stack.project}.warehouse.media_files` "
        "WHERE bucket = @b AND STARTS_WITH(name, @p)",
        {"b": bucket.name, "p": prefix},
    )[0]["n"]
    report.line(f"media_files holds {raw} event rows for these 5 live files (history kept).")
