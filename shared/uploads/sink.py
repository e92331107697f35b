"""Where ``media_files`` rows go: one group-commit writer per instance, created on first use.

Rows go through the Storage Write API (:mod:`shared.bigquery.writer`). Every append is bounded
(``UPLOADS_INSERT_DEADLINE_S``, 20 s) instead of a client's long default, so a BigQuery outage
turns into a transient error quickly and the platform redelivers the event (the row key makes
the redelivery land exactly once in ``media_files_current``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from shared.bigquery.writer import Row, table_writer
from shared.resources import manifest, table_id
from shared.settings import area_settings, get_settings
from shared.uploads.settings import UploadsSettings

TABLE = "media_files"
_lock = threading.Lock()
_writer: RowWriter | None = None


class RowWriter(Protocol):
    def write(self, rows: Sequence[Row]) -> None: ...


def media_files_table() -> str:
    dataset = manifest().table(TABLE)["dataset"]
    return table_id(get_settings().project_id, dataset, TABLE)


def make_writer(mode: str | None = None) -> RowWriter:
    """``batch`` (default): group commit; ``single``: one append per event (the baseline)."""
    config = area_settings(UploadsSettings)
    single = (mode or config.writer) == "single"
    return table_writer(
        TABLE,
        group_commit=not single,
        max_rows=500,
        max_wait_s=0.02,
        deadline_s=config.insert_deadline_s,
    )


def writer() -> RowWriter:
    global _writer  # noqa: PLW0603 - one writer per instance, created lazily
    if _writer is None:
        with _lock:
            if _writer is None:
                _writer = make_writer()
    return _writer
