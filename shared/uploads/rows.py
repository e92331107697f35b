"""One ``media_files`` row per (bucket, name, generation, event kind), with a deterministic key.

The row key ignores the event id, so a redelivered event, a duplicate notification and the
backfill all produce the same key; ``media_files_current`` dedups on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.events import StorageObjectEvent
from shared.uploads import detect
from shared.uploads.naming import NamingProblem, ObjectPath

ACTIVE = "active"
DELETED = "deleted"
REJECTED = "rejected"
FINALIZED = "finalized"
DELETED_KIND = "deleted"
MAX_METADATA_CHARS = 64_000


def row_key(bucket: str, name: str, generation: int, kind: str) -> str:
    material = "\x1f".join((bucket, name, str(generation), kind))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def event_kind(event: StorageObjectEvent) -> str:
    return DELETED_KIND if event.is_delete else FINALIZED


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the function concluded about one object generation."""

    status: str
    reason: str | None = None
    detected_type: str | None = None
    detected_class: str | None = None


def needs_read(event: StorageObjectEvent, path: ObjectPath | NamingProblem, max_bytes: int) -> bool:
    """Only a finalized, well-named, non-empty, not oversize object is worth a ranged read."""
    return (
        not event.is_delete
        and isinstance(path, ObjectPath)
        and (event.size or 0) > 0
        and (event.size or 0) <= max_bytes
    )


def judge(
    event: StorageObjectEvent,
    path: ObjectPath | NamingProblem,
    head: bytes | None,
    max_bytes: int,
) -> Verdict:
    """The verdict for an event; ``head`` is the first bytes (None when it was not read)."""
    if event.is_delete:
        return Verdict(DELETED, "object_deleted")
    if isinstance(path, NamingProblem):
        return Verdict(REJECTED, f"{path.reason}: {path.detail}")
    if not event.size:
        return Verdict(REJECTED, "empty_object: the object has no bytes")
    if event.size > max_bytes:
        return Verdict(REJECTED, f"oversize: {event.size} bytes is more than the {max_bytes} limit")
    if head is None:
        return Verdict(DELETED, "object_vanished: the generation was gone before the ranged read")
    found = detect.sniff(head)
    verdict = _compare(found, path, event.content_type)
    return Verdict(verdict[0], verdict[1], found.mime, found.media_class)


def _compare(  # noqa: PLR0911 - one return per rule, checked in order
    found: detect.Detected, path: ObjectPath, content_type: str | None
) -> tuple[str, str | None]:
    if found.media_class == detect.EXECUTABLE:
        return REJECTED, f"executable_content: {found.mime} content in a {path.media_class} upload"
    ext_class = detect.EXTENSION_CLASSES.get(path.extension)
    if ext_class == detect.EXECUTABLE:
        return REJECTED, f"executable_extension: .{path.extension} files are not accepted"
    if found.media_class == "unknown":
        return REJECTED, "unrecognized_content: the first bytes match no known format"
    if not detect.compatible(found.media_class, path.media_class):
        return REJECTED, (
            f"type_mismatch: content is {found.mime} ({found.media_class}) "
            f"but the path says {path.media_class}"
        )
    if ext_class is not None and not detect.compatible(found.media_class, ext_class):
        return REJECTED, (
            f"extension_mismatch: content is {found.mime} but the extension is .{path.extension}"
        )
    declared = detect.content_type_class(content_type)
    if declared is not None and not detect.compatible(found.media_class, declared):
        return REJECTED, (
            f"content_type_mismatch: content is {found.mime} but declared {content_type!s:.100}"
        )
    expected = detect.EXTENSION_TYPES.get(path.extension)
    if expected is not None and expected != found.mime:
        # same media class, different format: kept (the file is usable) but flagged
        return ACTIVE, f"format_mismatch: .{path.extension} file contains {found.mime}"
    return ACTIVE, None


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def build_row(
    event: StorageObjectEvent,
    path: ObjectPath | NamingProblem,
    verdict: Verdict,
    *,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The (row id, row) pair for ``media_files``."""
    ingest = now or datetime.now(UTC)
    kind = event_kind(event)
    key = row_key(event.bucket, event.name, event.generation, kind)
    link = path if isinstance(path, ObjectPath) else None
    metadata = json.dumps(event.metadata, ensure_ascii=False, sort_keys=True)
    if len(metadata) > MAX_METADATA_CHARS:
        metadata = json.dumps({"_truncated": True, "keys": sorted(event.metadata)[:100]})
    uploaded = event.time_created or event.event_time or ingest
    row: dict[str, Any] = {
        "row_key": key,
        "event_kind": kind,
        "bucket": event.bucket,
        "name": event.name,
        "generation": event.generation,
        "size": event.size,
        "content_type": event.content_type,
        "detected_type": verdict.detected_type,
        "media_class": link.media_class if link else getattr(path, "media_class", None),
        "extension": link.extension if link else None,
        "md5_hash": event.md5_hash,
        "crc32c": event.crc32c,
        "storage_class": event.storage_class,
        "time_created": _ts(event.time_created),
        "updated": _ts(event.updated),
        "uploaded_at": _ts(uploaded),
        "metadata": json.loads(metadata),
        "customer_id": link.customer_id if link else getattr(path, "customer_id", None),
        "record_id": link.record_id if link else getattr(path, "record_id", None),
        "event_id": event.event_id,
        "event_type": event.event_type,
        "event_time": _ts(event.event_time),
        "ingest_time": ingest.isoformat(),
        "status": verdict.status,
        "reason": verdict.reason,
    }
    return key, _clean(row)


def _clean(value: Any) -> Any:
    """Strings anywhere in the row made encodable (event data is untrusted JSON)."""
    if isinstance(value, str):
        return _safe_text(value)
    if isinstance(value, dict):
        return {_safe_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _safe_text(text: str) -> str:
    """Lone surrogates cannot be encoded as JSON for BigQuery; replace them visibly."""
    return text.encode("utf-8", "replace").decode("utf-8")
