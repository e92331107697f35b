"""The event flow: decode, judge, read the first bytes when needed, write one row.

Malformed events raise :class:`~shared.events.EventDataError` (dead letter + ack through
:func:`shared.handler.cloud_event_handler`); every well-formed event ends as a row, whatever
the object looks like. Transient Storage/BigQuery failures propagate (redelivery).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared.errors import PermanentError
from shared.events import STORAGE_DELETED, STORAGE_FINALIZED, CloudEventLike
from shared.events import storage_object_from_event as decode
from shared.settings import area_settings
from shared.uploads import detect, reader, rows, sink
from shared.uploads.naming import parse_name
from shared.uploads.settings import UploadsSettings

logger = logging.getLogger("shared.uploads")


def max_bytes() -> int:
    """``UPLOADS_MAX_BYTES``: larger objects are rejected as oversize (default 5 GiB)."""
    return area_settings(UploadsSettings).max_bytes


@dataclass
class Dependencies:
    read_head: reader.HeadReader = reader.read_head
    writer: sink.RowWriter | None = None


def handle(event: CloudEventLike, deps: Dependencies | None = None) -> dict[str, Any]:
    """Process one Storage CloudEvent; returns the row written."""
    deps = deps or Dependencies()
    obj = decode(event)
    if obj.event_type not in (STORAGE_FINALIZED, STORAGE_DELETED):
        raise PermanentError("unsupported_event_type", f"{obj.event_type} is not handled")
    path = parse_name(obj.name, obj.metadata)
    limit = max_bytes()
    head = None
    if rows.needs_read(obj, path, limit):
        head = deps.read_head(obj.bucket, obj.name, obj.generation, detect.SNIFF_BYTES)
    verdict = rows.judge(obj, path, head, limit)
    key, row = rows.build_row(obj, path, verdict)
    (deps.writer or sink.writer()).write([(key, row)])
    rejected = verdict.status == "rejected"
    # `event` feeds the log-based metric uploads/rejected (terraform/monitoring.tf)
    logger.log(
        logging.WARNING if rejected else logging.INFO,
        "media file %s",
        verdict.status,
        extra={
            "fields": {
                "event": "upload_rejected" if rejected else "upload_recorded",
                "row_key": key,
                "generation": obj.generation,
                "status": verdict.status,
                "reason": verdict.reason,
                "media_class": row["media_class"],
            }
        },
    )
    return row
