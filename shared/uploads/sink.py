"""Where ``media_files`` rows go: one group-commit writer per instance, created on first use.

The insert uses a short client-side retry (20 s) instead of the library's 10 minutes, so a
BigQuery outage turns into a transient error quickly and the platform redelivers the event
(the row key makes the redelivery land exactly once in ``media_files_current``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from shared import clients
from shared.errors import TransientError
from shared.resources import manifest, table_id
from shared.settings import area_settings, get_settings
from shared.uploads.settings import UploadsSettings
from shared.writer import BatchingWriter, Row, TableWriter

TABLE = "media_files"
_lock = threading.Lock()
_writer: RowWriter | None = None


class RowWriter(Protocol):
    def write(self, rows: Sequence[Row]) -> None: ...


def media_files_table() -> str:
    dataset = manifest().table(TABLE)["dataset"]
    return table_id(get_settings().project_id, dataset, TABLE)


def insert(table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
    """insertAll with a bounded retry; connection failures become TransientError."""
    from google.cloud import bigquery

    try:
        result = clients.bigquery().insert_rows_json(
            table,
            rows,
            row_ids=row_ids,
            skip_invalid_rows=True,
            retry=bigquery.DEFAULT_RETRY.with_deadline(
                area_settings(UploadsSettings).insert_deadline_s
            ),
            timeout=30,
        )
    except (ConnectionError, OSError) as exc:
        raise TransientError(f"BigQuery insert failed: {exc}") from exc
    return list(result)


def make_writer(mode: str | None = None) -> RowWriter:
    """``batch`` (default): group commit; ``single``: one insertAll per event (the baseline)."""
    table = media_files_table()
    if (mode or area_settings(UploadsSettings).writer) == "single":
        return TableWriter(table, insert)
    return BatchingWriter(table, insert, max_rows=500, max_wait_s=0.02)


def writer() -> RowWriter:
    global _writer  # noqa: PLW0603 - one writer per instance, created lazily
    if _writer is None:
        with _lock:
            if _writer is None:
                _writer = make_writer()
    return _writer
