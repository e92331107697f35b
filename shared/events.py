"""Decode CloudEvents (Storage via Eventarc, Pub/Sub push) into typed objects.

Every way an event can be malformed gives an :class:`EventDataError` (a permanent error) that
lists all problems found, not just the first.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.errors import PermanentError

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
STORAGE_DELETED = "google.cloud.storage.object.v1.deleted"
STORAGE_METADATA_UPDATED = "google.cloud.storage.object.v1.metadataUpdated"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
STORAGE_EVENT_TYPES = (STORAGE_FINALIZED, STORAGE_DELETED, STORAGE_METADATA_UPDATED)


class CloudEventLike(Protocol):
    """What functions-framework hands a ``@cloud_event`` function."""

    data: Any

    def __getitem__(self, key: str) -> Any: ...

    def get(self, key: str, default: Any = None) -> Any: ...


class EventDataError(PermanentError):
    """The event (or its data) is malformed; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str], reason: str = "malformed_event") -> None:
        super().__init__(reason, "; ".join(problems))
        self.problems = problems


def parse_timestamp(value: object) -> datetime | None:
    """RFC 3339 timestamp (``Z`` or offset) to an aware datetime; None when absent or invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _attr(event: CloudEventLike, name: str) -> str:
    try:
        value = event[name]
    except (KeyError, TypeError):
        return ""
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class StorageObjectEvent:
    """One Cloud Storage object event: the JSON API object resource plus envelope fields."""

    event_id: str
    event_type: str
    event_time: datetime | None
    bucket: str
    name: str
    generation: int
    size: int | None
    content_type: str | None
    md5_hash: str | None
    crc32c: str | None
    storage_class: str | None
    time_created: datetime | None
    updated: datetime | None
    metadata: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_delete(self) -> bool:
        return self.event_type == STORAGE_DELETED


def _optional_int(data: Mapping[str, Any], key: str, problems: list[str]) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        problems.append(f"data.{key} must be an integer or a string of digits")
        return None
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 20:  # "²".isdigit() is True
        problems.append(f"data.{key}={text[:40]!r} is not a non-negative integer")
        return None
    return int(text)


def _optional_str(data: Mapping[str, Any], key: str, problems: list[str]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"data.{key} must be a string")
        return None
    return value


def _object_resource(data: Any, problems: list[str]) -> dict[str, Any]:
    """The event's data as the object resource (a JSON object); raises with every problem."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: a dead letter
            raise EventDataError(["event data is not JSON"]) from None
    if not isinstance(data, dict):
        raise EventDataError([*problems, "event data must be a JSON object (the object resource)"])
    return data


def _metadata(data: dict[str, Any], problems: list[str]) -> dict[str, str]:
    """The object's custom metadata as strings (absent or null: none)."""
    raw = data.get("metadata")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append("data.metadata must be an object")
        return {}
    return {str(k): str(v) for k, v in raw.items()}


def storage_object_from_event(event: CloudEventLike) -> StorageObjectEvent:
    """Decode a ``google.cloud.storage.object.v1.*`` CloudEvent."""
    problems: list[str] = []
    event_id = _attr(event, "id")
    event_type = _attr(event, "type")
    if not event_id:
        problems.append("event id is missing")
    if event_type not in STORAGE_EVENT_TYPES:
        problems.append(f"event type {event_type!r} is not a Cloud Storage object event")
    data = _object_resource(event.data, problems)
    bucket = _optional_str(data, "bucket", problems) or ""
    name = _optional_str(data, "name", problems) or ""
    if not bucket:
        problems.append("data.bucket is missing")
    if not name:
        problems.append("data.name is missing")
    generation = _optional_int(data, "generation", problems)
    if generation is None and "generation" not in data:
        problems.append("data.generation is missing")
    size = _optional_int(data, "size", problems)
    metadata = _metadata(data, problems)
    strings = {
        key: _optional_str(data, key, problems)
        for key in ("contentType", "md5Hash", "crc32c", "storageClass", "timeCreated", "updated")
    }
    if problems:
        raise EventDataError(problems)
    return StorageObjectEvent(
        event_id=event_id,
        event_type=event_type,
        event_time=parse_timestamp(_attr(event, "time")),
        bucket=bucket,
        name=name,
        generation=generation or 0,
        size=size,
        content_type=strings["contentType"],
        md5_hash=strings["md5Hash"],
        crc32c=strings["crc32c"],
        storage_class=strings["storageClass"],
        time_created=parse_timestamp(strings["timeCreated"]),
        updated=parse_timestamp(strings["updated"]),
        metadata=metadata,
        raw=data,
    )


@dataclass(frozen=True, slots=True)
class PubSubMessage:
    """One Pub/Sub message delivered as a ``messagePublished`` CloudEvent."""

    event_id: str
    message_id: str
    topic: str
    subscription: str | None
    data: bytes
    attributes: dict[str, str]
    publish_time: datetime | None
    delivery_attempt: int | None

    def json(self) -> Any:
        """The message data parsed as JSON; EventDataError when it is not."""
        try:
            return json.loads(self.data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise EventDataError([f"message data is not JSON: {exc}"], "invalid_json") from None


def pubsub_message_from_event(event: CloudEventLike) -> PubSubMessage:
    """Decode a ``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent."""
    problems: list[str] = []
    event_id = _attr(event, "id")
    if not event_id:
        problems.append("event id is missing")
    event_type = _attr(event, "type")
    if event_type != PUBSUB_PUBLISHED:
        problems.append(f"event type {event_type!r} is not a Pub/Sub message event")
    data = event.data
    if not isinstance(data, dict):
        raise EventDataError([*problems, "event data must be an object with a message"])
    message = data.get("message")
    if not isinstance(message, dict):
        raise EventDataError([*problems, "data.message is missing or not an object"])
    payload = b""
    encoded = message.get("data", "")
    if encoded is None:
        encoded = ""
    if not isinstance(encoded, str):
        problems.append("message.data must be a base64 string")
    else:
        try:
            payload = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            problems.append("message.data is not valid base64")
    attributes_raw = message.get("attributes") or {}
    if not isinstance(attributes_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes_raw.items()
    ):
        problems.append("message.attributes must map strings to strings")
        attributes_raw = {}
    message_id = message.get("messageId") or message.get("message_id") or event_id
    attempt = data.get("deliveryAttempt")
    if problems:
        raise EventDataError(problems)
    source = _attr(event, "source")
    topic = source.rsplit("/topics/", 1)[-1] if "/topics/" in source else ""
    subscription = data.get("subscription")
    return PubSubMessage(
        event_id=event_id,
        message_id=str(message_id),
        topic=topic,
        subscription=subscription if isinstance(subscription, str) else None,
        data=payload,
        attributes=dict(attributes_raw),
        publish_time=parse_timestamp(message.get("publishTime") or message.get("publish_time")),
        delivery_attempt=attempt if isinstance(attempt, int) else None,
    )
