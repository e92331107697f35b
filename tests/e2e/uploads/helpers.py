"""Helpers for the uploads end-to-end tests (sample content, CloudEvents, queries)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devstack.stack import LocalStack
from shared.events import STORAGE_DELETED, STORAGE_FINALIZED

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 200
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + b"\x00" * 200
PDF = b"%PDF-1.7\n" + b"x" * 200
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
FINALIZED = STORAGE_FINALIZED
DELETED = STORAGE_DELETED


def current(stack: LocalStack, bucket: str, prefix: str) -> list[dict[str, Any]]:
    return stack.query(
        f"SELECT name, generation, status, reason, media_class, detected_type, customer_id, "
        f"record_id, size FROM `{stack.project}.warehouse.media_files_current` "
        "WHERE bucket = @b AND STARTS_WITH(name, @p) ORDER BY name",
        {"b": bucket, "p": prefix},
    )


def raw_rows(stack: LocalStack, bucket: str, prefix: str) -> list[dict[str, Any]]:
    return stack.query(
        f"SELECT row_key, name, generation, event_kind, status, reason, event_id "
        f"FROM `{stack.project}.warehouse.media_files` "
        "WHERE bucket = @b AND STARTS_WITH(name, @p) ORDER BY name, generation",
        {"b": bucket, "p": prefix},
    )


def dead_letters(stack: LocalStack, event_ids: list[str]) -> list[dict[str, Any]]:
    return stack.query(
        f"SELECT event_id, reason, detail FROM `{stack.project}.ops.dead_letters_current` "
        "WHERE function = 'uploads' AND event_id IN UNNEST(@ids)",
        {"ids": event_ids},
    )


def post_event(
    url: str, event_type: str, resource: dict[str, Any], event_id: str | None = None
) -> int:
    """POST a binary-mode CloudEvent exactly as Eventarc (and devstack.bridge) sends it."""
    bucket = resource.get("bucket", "b")
    event = CloudEvent(
        {
            "id": event_id or uuid.uuid4().hex,
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "type": event_type,
            "subject": "objects/x",
            "time": "2026-01-01T00:00:00Z",
            "datacontenttype": "application/json",
        },
        resource,
    )
    headers, body = to_binary(event)
    return requests.post(url, data=body, headers=headers, timeout=60).status_code


def upload(bucket: Any, name: str, data: bytes, ctype: str) -> dict[str, Any]:
    """Upload ``data`` as ``name``; returns the object's resource (as a notification has it)."""
    blob = bucket.blob(name)
    blob.upload_from_string(data, content_type=ctype)
    blob.reload()
    return resource_of(blob)


def resource_of(blob: Any) -> dict[str, Any]:
    """The JSON API object resource (what a Storage notification carries)."""
    return dict(blob._properties)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
