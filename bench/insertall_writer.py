"""The legacy insertAll writer, kept ONLY as the benchmark baseline (bench/uploads.py,
bench/webhooks.py): product code writes through :mod:`shared.bigquery.writer` (Storage Write API).

Streaming rows into BigQuery with deterministic row ids, per-row errors and group commit.

Row ids are used as ``insertId`` for best-effort dedup, but correctness never depends on
them: every table also carries a deterministic key that views dedup on (``QUALIFY``/MERGE).

:class:`BatchingWriter` implements group commit without a background thread (Cloud Functions
throttle CPU outside requests): the first caller becomes the *leader*, waits a few
milliseconds for concurrent callers to add their rows, writes one ``insertAll`` for all of
them, then hands leadership to the oldest waiting caller. Every caller returns only after its
own rows were written; a failed batch fails exactly the callers whose rows it held.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared import clients
from shared.errors import PermanentError

Row = tuple[str, Mapping[str, Any]]
"""(row id, row) pair: the row id is deterministic for the event the row came from."""


class InsertFn(Protocol):
    def __call__(self, table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
        """insertAll: returns BigQuery's per-row ``insertErrors`` (empty when all landed)."""
        ...


class RowsRejectedError(PermanentError):
    """BigQuery refused some rows as invalid (schema mismatch); others may have landed."""

    def __init__(self, table: str, errors: list[str]) -> None:
        super().__init__("rows_rejected", f"{table}: " + "; ".join(errors[:5]))
        self.errors = errors


def bigquery_insert(table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
    """The real insert: ``insert_rows_json`` with skip_invalid_rows so one bad row never blocks
    the others of a shared batch."""
    errors = clients.bigquery().insert_rows_json(
        table, rows, row_ids=row_ids, skip_invalid_rows=True
    )
    return list(errors)


@dataclass
class WriteStats:
    """Counters for benchmarks and logs."""

    calls: int = 0
    rows: int = 0
    batches_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "rows": self.rows, "batches_failed": self.batches_failed}


def _row_errors(table: str, insert_errors: list[Any], offset: int, count: int) -> list[str]:
    messages = []
    for item in insert_errors:
        index = int(item.get("index", -1))
        if offset <= index < offset + count:
            for err in item.get("errors", []):
                where = f" ({err['location']})" if err.get("location") else ""
                messages.append(f"row {index - offset}{where}: {err.get('message', err)}")
    return messages


class TableWriter:
    """Writes each call's rows in one insertAll (no batching across callers)."""

    def __init__(self, table: str, insert: InsertFn = bigquery_insert) -> None:
        self.table = table
        self._insert = insert
        self.stats = WriteStats()
        self._stats_lock = threading.Lock()

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        with self._stats_lock:
            self.stats.calls += 1
            self.stats.rows += len(rows)
        errors = self._insert(self.table, [r for _, r in rows], [i for i, _ in rows])
        messages = _row_errors(self.table, errors, 0, len(rows))
        if messages:
            raise RowsRejectedError(self.table, messages)


@dataclass
class _Pending:
    rows: Sequence[Row]
    size: int
    arrived: float
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    finished: bool = False
    error: BaseException | None = None


class BatchingWriter:
    """Group commit: rows from concurrent callers share one insertAll.

    A batch closes when it holds ``max_rows`` rows or ``max_bytes`` bytes, or when its oldest
    caller has waited ``max_wait_s``.
    """

    def __init__(
        self,
        table: str,
        insert: InsertFn = bigquery_insert,
        *,
        max_rows: int = 500,
        max_bytes: int = 5_000_000,
        max_wait_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self._insert = insert
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._queued_bytes = 0
        self._leader = False
        self.stats = WriteStats()

    def write(self, rows: Sequence[Row]) -> None:
        """Block until ``rows`` are written; raise if their batch failed."""
        if not rows:
            return
        size = sum(len(json.dumps(r, default=str)) for _, r in rows)
        pending = _Pending(rows=rows, size=size, arrived=self._clock())
        with self._cond:
            self._queue.append(pending)
            self._queued_rows += len(rows)
            self._queued_bytes += size
            if not self._leader:
                self._leader = True
                pending.lead = True
            elif self._full():
                self._cond.notify_all()
        while True:
            if pending.lead:
                self._lead(pending)
            else:
                pending.done.wait()
                pending.done.clear()
            if pending.finished:
                break
        if pending.error is not None:
            raise pending.error

    def _full(self) -> bool:
        return self._queued_rows >= self.max_rows or self._queued_bytes >= self.max_bytes

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = size = 0
        while self._queue:
            nxt = self._queue[0]
            if batch and (rows + len(nxt.rows) > self.max_rows or size + nxt.size > self.max_bytes):
                break
            batch.append(self._queue.popleft())
            rows += len(nxt.rows)
            size += nxt.size
        self._queued_rows -= rows
        self._queued_bytes -= size
        return batch

    def _lead(self, me: _Pending) -> None:
        with self._cond:
            deadline = me.arrived + self.max_wait_s
            while not self._full():
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = self._take_batch()
        self._commit(batch)
        with self._cond:
            me.lead = False
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.done.set()
            else:
                self._leader = False

    def _commit(self, batch: list[_Pending]) -> None:
        all_rows = [r for p in batch for _, r in p.rows]
        all_ids = [i for p in batch for i, _ in p.rows]
        self.stats.calls += 1
        self.stats.rows += len(all_rows)
        try:
            errors = self._insert(self.table, all_rows, all_ids)
        except BaseException as exc:  # every caller of the batch sees the failure
            self.stats.batches_failed += 1
            for p in batch:
                p.error = exc
        else:
            offset = 0
            for p in batch:
                messages = _row_errors(self.table, errors, offset, len(p.rows))
                if messages:
                    p.error = RowsRejectedError(self.table, messages)
                offset += len(p.rows)
        for p in batch:
            p.finished = True
            p.done.set()
