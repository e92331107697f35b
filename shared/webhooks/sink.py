"""One writer per webhook table, shared by every concurrent request of the instance.

Group commit (default): :class:`shared.writer.BatchingWriter` per table, so rows of concurrent
pushes share one insertAll and each request returns after its own rows are written (a failed
batch fails exactly its requests, which Pub/Sub then redelivers). ``WEBHOOKS_GROUP_COMMIT=off``
writes one insertAll per request (the benchmark's baseline).

Inserts use a bounded client retry (``WEBHOOKS_INSERT_DEADLINE_S``): during a BigQuery outage
the request fails within seconds and Pub/Sub redelivers, instead of the client retrying for
ten minutes while the push times out.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from shared import clients
from shared.resources import manifest, table_id
from shared.settings import area_settings, get_settings
from shared.webhooks.settings import SinkSettings
from shared.writer import BatchingWriter, InsertFn, Row, TableWriter


class Writer(Protocol):
    def write(self, rows: Sequence[Row]) -> None: ...


def bounded_insert(deadline_s: float) -> InsertFn:
    def insert(table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
        from google.cloud.bigquery import DEFAULT_RETRY

        result = clients.bigquery().insert_rows_json(
            table,
            rows,
            row_ids=row_ids,
            skip_invalid_rows=True,
            retry=DEFAULT_RETRY.with_timeout(deadline_s),
            timeout=deadline_s,
        )
        return list(result)

    return insert


class WebhookSink:
    """Writers keyed by table name, created on first use."""

    def __init__(
        self,
        insert: InsertFn | None = None,
        *,
        group_commit: bool | None = None,
        max_wait_s: float | None = None,
        max_rows: int | None = None,
        config: SinkSettings | None = None,
    ) -> None:
        config = config or area_settings(SinkSettings)
        self.group_commit = group_commit if group_commit is not None else config.group_commit
        self.max_wait_s = max_wait_s if max_wait_s is not None else config.batch_max_wait_ms / 1000
        self.max_rows = max_rows or config.batch_max_rows
        self._insert = insert or bounded_insert(config.insert_deadline_s)
        self._writers: dict[str, Writer] = {}
        self._lock = threading.Lock()

    def writer(self, table: str) -> Writer:
        writer = self._writers.get(table)
        if writer is None:
            with self._lock:
                writer = self._writers.get(table)
                if writer is None:
                    dataset = manifest().table(table)["dataset"]
                    full = table_id(get_settings().project_id, dataset, table)
                    writer = (
                        BatchingWriter(
                            full, self._insert, max_rows=self.max_rows, max_wait_s=self.max_wait_s
                        )
                        if self.group_commit
                        else TableWriter(full, self._insert)
                    )
                    self._writers[table] = writer
        return writer

    def write(self, rows_by_table: Mapping[str, Sequence[Row]]) -> None:
        """Write each table's rows (in the given order); raise if any write failed."""
        for table, rows in rows_by_table.items():
            if rows:
                self.writer(table).write(rows)

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            table: writer.stats.as_dict()  # type: ignore[attr-defined]
            for table, writer in self._writers.items()
        }


_default: WebhookSink | None = None


def default_sink() -> WebhookSink:
    global _default  # noqa: PLW0603 - one sink per instance, created lazily
    if _default is None:
        _default = WebhookSink()
    return _default
