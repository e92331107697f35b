"""The legacy insertAll writer, kept ONLY as the benchmark baseline (bench/writes.py): product
code writes through :mod:`shared.bigquery.writer` (Storage Write API).

It is not a second group-commit implementation: it is the product's
:class:`~shared.bigquery.writer.StorageWriter` over an :class:`InsertAllAppender`, so the
baseline differs from the product in exactly one place, the request each batch becomes
(one ``insertAll`` of JSON rows instead of one ``AppendRows`` of protobuf rows), plus the legacy
writer's two habits: one request in flight per table (``max_inflight=1``) and no retry inside
the writer (a failed batch fails its callers at once).

Row keys travel to ``insertAll`` as ``insertId`` (best-effort dedup; correctness never depended
on them: every table carries a deterministic key that views dedup on). Rows are sent with
``skipInvalidRows=false``: BigQuery then refuses the whole request when a row is invalid and
names it (the others come back as ``stopped``), which is the Write API's contract too, so the
writer's "reject the named rows, resend the others" path serves both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Protocol

from shared import clients
from shared.bigquery.writer import Row, RowsRejectedError, StorageWriter
from shared.errors import PermanentError
from shared.retry import RetryPolicy

__all__ = ["BatchingWriter", "InsertAllAppender", "RowsRejectedError", "TableWriter"]

NO_RETRY = RetryPolicy(attempts=1)
_KEY = "__insert_id"  # the envelope field carrying a row's key to the appender


class InsertFn(Protocol):
    def __call__(self, table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
        """insertAll: returns BigQuery's per-row ``insertErrors`` (empty when all landed)."""
        ...


def bigquery_insert(table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
    """The real insert: ``insert_rows_json`` refusing the request when a row is invalid."""
    errors = clients.bigquery().insert_rows_json(
        table, rows, row_ids=row_ids, skip_invalid_rows=False
    )
    return list(errors)


class InsertRowsRefusedError(PermanentError):
    """insertAll named invalid rows; shaped like a refused append (``response.row_errors``)."""

    def __init__(self, table: str, row_errors: list[SimpleNamespace]) -> None:
        super().__init__("rows_rejected", f"{table}: {len(row_errors)} invalid rows")
        self.response = SimpleNamespace(row_errors=row_errors)


class _Answered:
    """insertAll is synchronous: its answer is known when ``append`` returns."""

    def result(self, timeout: float | None = None) -> None:
        return None


class InsertAllAppender:
    """The writer's :class:`~shared.bigquery.writer.Appender` as one insertAll per append."""

    def __init__(self, table: str, insert: InsertFn = bigquery_insert) -> None:
        self.table = table
        self._insert = insert

    def append(self, rows: list[bytes], timeout: float) -> tuple[_Answered, int]:
        envelopes = [json.loads(r) for r in rows]
        ids = [str(e.pop(_KEY)) for e in envelopes]
        refused = _refused(self._insert(self.table, envelopes, ids))
        if refused:
            raise InsertRowsRefusedError(self.table, refused)
        return _Answered(), 0

    def reset(self, generation: int) -> None:
        """Nothing to reset: insertAll has no stream."""


def _refused(insert_errors: list[Any]) -> list[SimpleNamespace]:
    """insertAll's ``insertErrors`` as append row errors (index, code, message)."""
    refused = []
    for item in insert_errors:
        for err in item.get("errors", []):
            if err.get("reason") == "stopped":  # valid, unwritten because another row was not
                continue
            where = f" ({err['location']})" if err.get("location") else ""
            message = f"{err.get('message', err)}{where}"
            code = err.get("reason", "")
            refused.append(
                SimpleNamespace(index=int(item.get("index", -1)), code=code, message=message)
            )
    return refused


def _encode(envelope: Mapping[str, Any]) -> bytes:
    return json.dumps(envelope, default=str).encode()


class _InsertAllWriter(StorageWriter):
    def __init__(self, table: str, insert: InsertFn, **options: Any) -> None:
        super().__init__(
            table, InsertAllAppender(table, insert), _encode, retry=NO_RETRY, **options
        )

    def write(self, rows: Sequence[Row]) -> None:
        super().write([(key, {**row, _KEY: key}) for key, row in rows])


class TableWriter(_InsertAllWriter):
    """Writes each call's rows in one insertAll (no batching across callers)."""

    def __init__(self, table: str, insert: InsertFn = bigquery_insert) -> None:
        super().__init__(table, insert, group_commit=False)


class BatchingWriter(_InsertAllWriter):
    """Group commit: rows from concurrent callers share one insertAll, one at a time.

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
    ) -> None:
        super().__init__(
            table,
            insert,
            max_rows=max_rows,
            max_bytes=max_bytes,
            max_wait_s=max_wait_s,
            max_inflight=1,
        )
