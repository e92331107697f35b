"""Dead letters: permanent failures recorded with their reason and original bytes."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

Row = tuple[str, Mapping[str, Any]]

MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
TABLE = "dead_letters"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    function: str
    event_id: str
    reason: str
    detail: str = ""
    payload: bytes = b""
    event_type: str | None = None
    event_source: str | None = None
    topic: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dead_letter_id(self) -> str:
        key = "\x1f".join((self.function, self.event_id, self.reason))
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def to_row(self, now: datetime | None = None) -> dict[str, Any]:
        kept = self.payload[:MAX_PAYLOAD_BYTES]
        return {
            "dead_letter_id": self.dead_letter_id,
            "function": self.function,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_source": self.event_source,
            "topic": self.topic,
            "reason": self.reason,
            "detail": self.detail[:10_000],
            "payload": base64.b64encode(kept).decode(),
            "payload_size": len(self.payload),
            "payload_sha256": hashlib.sha256(self.payload).hexdigest(),
            "payload_truncated": len(kept) < len(self.payload),
            "attributes": json.loads(json.dumps(dict(self.attributes), default=str)),
            "received_at": (now or datetime.now(UTC)).isoformat(),
        }


class RowWriter(Protocol):
    def write(self, rows: Sequence[Row]) -> None: ...


class DeadLetterSink:
    """Writes dead letters to ``ops.dead_letters`` through the Storage Write API (group commit:
    a flood of bad events shares appends). The row key is the dead letter id."""

    def __init__(self, writer: RowWriter | None = None) -> None:
        self._writer = writer

    def _table(self) -> RowWriter:
        if self._writer is None:
            from shared.bigquery.writer import table_writer

            self._writer = table_writer(TABLE, max_wait_s=0.005)
        return self._writer

    def record(self, letter: DeadLetter) -> None:
        self._table().write([(letter.dead_letter_id, letter.to_row())])


default_sink = DeadLetterSink()
