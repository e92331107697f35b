"""One writer per webhook table, shared by every concurrent request of the instance.

Rows go through the Storage Write API (:mod:`shared.bigquery.writer`): group commit (default)
shares one append between concurrent pushes and each request returns after its own rows are
acknowledged (a failed append fails exactly its requests, which Pub/Sub then redelivers; a row
BigQuery refuses fails only its own request, whose other rows land). ``WEBHOOKS_GROUP_COMMIT=off``
sends one append per request (the benchmark's baseline).

Every append is bounded by ``WEBHOOKS_INSERT_DEADLINE_S``: during a BigQuery outage the request
fails within seconds and Pub/Sub redelivers, instead of the push timing out.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from shared.bigquery.writer import Row, table_writer
from shared.errors import PermanentError
from shared.settings import area_settings
from shared.webhooks.settings import SinkSettings


class Writer(Protocol):
    def write(self, rows: Sequence[Row]) -> None: ...


class WebhookSink:
    """Writers keyed by table name, created on first use."""

    def __init__(
        self,
        make_writer: Callable[[str], Writer] | None = None,
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
        self.deadline_s = config.insert_deadline_s
        self._make_writer = make_writer or self._storage_writer
        self._writers: dict[str, Writer] = {}
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def _storage_writer(self, table: str) -> Writer:
        return table_writer(
            table,
            group_commit=self.group_commit,
            max_rows=self.max_rows,
            max_wait_s=self.max_wait_s,
            deadline_s=self.deadline_s,
        )

    def writer(self, table: str) -> Writer:
        writer = self._writers.get(table)
        if writer is None:
            with self._lock:
                writer = self._writers.get(table)
                if writer is None:
                    writer = self._make_writer(table)
                    self._writers[table] = writer
        return writer

    def write(self, rows_by_table: Mapping[str, Sequence[Row]]) -> None:
        """Write every table's rows at once (one round trip per request, not one per table);
        return when all are acknowledged. If several fail, a transient error wins over a
        permanent one, so the event is redelivered rather than dead-lettered half-written."""
        writes = [(t, rows) for t, rows in rows_by_table.items() if rows]
        if len(writes) <= 1:
            for table, rows in writes:
                self.writer(table).write(rows)
            return
        *others, (last_table, last_rows) = writes
        futures = [self._pool().submit(self.writer(t).write, rows) for t, rows in others]
        errors: list[BaseException] = []
        try:
            self.writer(last_table).write(last_rows)
        except Exception as exc:
            errors.append(exc)
        for future in futures:
            error = future.exception()
            if error is not None:
                errors.append(error)
        if errors:
            transient = [e for e in errors if not isinstance(e, PermanentError)]
            raise (transient or errors)[0]

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        # helpers only wait for their own append (never on queued work): no deadlock
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = concurrent.futures.ThreadPoolExecutor(
                        64, thread_name_prefix="webhooks-sink"
                    )
        return self._executor

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
