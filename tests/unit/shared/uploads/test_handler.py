"""The event flow with fakes at our own boundaries (head reader, row writer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shared import settings
from shared.bigquery.writer import Row
from shared.events import STORAGE_DELETED, STORAGE_FINALIZED, EventDataError
from shared.uploads import rows
from shared.uploads.handler import Dependencies, handle

FINALIZED = STORAGE_FINALIZED
DELETED = STORAGE_DELETED


class Event:
    def __init__(self, data: Any, type_: str = FINALIZED, id_: str = "e1") -> None:
        self.data = data
        self.attrs = {"id": id_, "type": type_, "time": "2026-01-01T00:00:00Z"}

    def __getitem__(self, key: str) -> Any:
        return self.attrs[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


class Writer:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def write(self, rows: Sequence[Row]) -> None:
        self.rows.extend(rows)


def resource(name: str = "acme/r1/image/a.jpg", **extra: Any) -> dict[str, Any]:
    return {
        "bucket": "b",
        "name": name,
        "generation": "7",
        "size": "100",
        "contentType": "image/jpeg",
        "md5Hash": "m",
        "crc32c": "c",
        "timeCreated": "2026-01-01T00:00:00Z",
        "metadata": {"k": "v"},
        **extra,
    }


def run(event: Event, head: bytes | None = b"\xff\xd8\xff\xe0") -> tuple[dict[str, Any], list[Any]]:
    reads: list[Any] = []

    def read_head(bucket: str, name: str, generation: int, n: int) -> bytes | None:
        reads.append((bucket, name, generation, n))
        return head

    writer = Writer()
    row = handle(event, Dependencies(read_head=read_head, writer=writer))
    assert writer.rows == [(row["row_key"], row)]
    return row, reads


def test_active_jpeg_row() -> None:
    row, reads = run(Event(resource()))
    assert reads == [("b", "acme/r1/image/a.jpg", 7, 64)]  # ranged read, generation pinned
    assert row["status"] == "active" and row["reason"] is None
    assert row["customer_id"] == "acme" and row["record_id"] == "r1"
    assert row["detected_type"] == "image/jpeg" and row["metadata"] == {"k": "v"}
    assert row["row_key"] == rows.row_key("b", "acme/r1/image/a.jpg", 7, "finalized")


def test_row_key_ignores_event_id_and_separates_kinds() -> None:
    a, _ = run(Event(resource(), id_="one"))
    b, _ = run(Event(resource(), id_="two"))
    d, reads = run(Event(resource(), DELETED))
    assert a["row_key"] == b["row_key"] != d["row_key"]
    assert reads == [] and d["status"] == "deleted"


def test_executable_named_jpg_is_rejected() -> None:
    row, _ = run(Event(resource()), head=b"MZ\x90\x00")
    assert row["status"] == "rejected" and row["reason"].startswith("executable_content")


def test_vanished_object_is_recorded_as_gone() -> None:
    row, _ = run(Event(resource()), head=None)
    assert row["status"] == "deleted" and row["reason"].startswith("object_vanished")


def test_empty_and_oversize_are_rejected_without_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    row, reads = run(Event(resource(size="0")))
    assert reads == [] and row["reason"].startswith("empty_object")
    monkeypatch.setenv("UPLOADS_MAX_BYTES", "50")
    settings.reset_cache()
    try:
        row, reads = run(Event(resource()))
    finally:
        monkeypatch.undo()
        settings.reset_cache()
    assert reads == [] and row["reason"].startswith("oversize")


def test_malformed_event_is_a_permanent_error() -> None:
    with pytest.raises(EventDataError):
        run(Event({"bucket": "b"}))
    with pytest.raises(EventDataError):
        run(Event("not json"))
