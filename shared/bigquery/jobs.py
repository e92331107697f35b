"""Query jobs: reads with a bounded deadline, DML with the one conflict-retry policy, dry runs.

Every statement binds its values through :mod:`shared.bigquery.params` and reports failures
through :func:`shared.bigquery.errors.classify`: callers see our ``TransientError`` (retry /
let the platform redeliver) or ``PermanentError`` (dead-letter), never a raw client error.

Why DML has its own retry: real BigQuery runs at most two mutating statements per table at
once, queues about twenty and aborts the loser of a conflict with "Could not serialize access
to table ... due to concurrent update". The aborted statement did not apply, so retrying it with
jittered backoff is correct; every DML in the product is written to be idempotent or
conditional (MERGE on a deterministic key, ``UPDATE ... WHERE`` a precondition), so even a retry
after an ambiguous failure (a timeout after the server committed) cannot apply twice.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from shared import clients
from shared.bigquery.errors import classify, is_conflict, is_transient
from shared.bigquery.params import to_parameters
from shared.imports import BIGQUERY_IMPORTS
from shared.retry import RetryPolicy, call_with_retry

QUERY_TIMEOUT_S = 60.0
# One policy for every mutating statement of the product (was two: refresh and quotas).
DML_RETRY = RetryPolicy(attempts=10, initial_s=0.2, multiplier=2.0, maximum_s=8.0, deadline_s=90.0)
# Reads: a few quick retries of transient errors within the caller's deadline.
QUERY_RETRY = RetryPolicy(attempts=4, initial_s=0.2, multiplier=2.0, maximum_s=2.0, deadline_s=60.0)


@dataclass
class JobStats:
    """Counters for logs and benches (process-wide)."""

    queries: int = 0
    dml: int = 0
    conflict_retries: int = 0
    transient_retries: int = 0


stats = JobStats()
_stats_lock = threading.Lock()


def _count(field: str) -> None:
    with _stats_lock:
        setattr(stats, field, getattr(stats, field) + 1)


def _config(params: Mapping[str, Any] | None, *, dry_run: bool = False) -> Any:
    with BIGQUERY_IMPORTS:
        from google.cloud import bigquery

    return bigquery.QueryJobConfig(query_parameters=to_parameters(params), dry_run=dry_run)


def _client(client: Any | None) -> Any:
    return client if client is not None else clients.bigquery()


def run_job(
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    timeout_s: float = QUERY_TIMEOUT_S,
    client: Any | None = None,
) -> tuple[list[dict[str, Any]], Any]:
    """Run one statement once and wait at most ``timeout_s``; returns (rows, finished job).

    Raw client errors propagate (the retrying callers classify them).
    """
    with BIGQUERY_IMPORTS:
        from google.cloud.bigquery import DEFAULT_RETRY

    api_retry = DEFAULT_RETRY.with_deadline(timeout_s)
    job = _client(client).query(
        sql, job_config=_config(params), retry=api_retry, job_retry=None, timeout=timeout_s
    )
    rows = [dict(row.items()) for row in job.result(timeout=timeout_s, retry=api_retry)]
    return rows, job


def _retrying[T](
    fn: Callable[[], T],
    policy: RetryPolicy,
    on_retry: Callable[[int, BaseException, float], None] | None,
) -> T:
    def counted(attempt: int, exc: BaseException, delay: float) -> None:
        _count("conflict_retries" if is_conflict(exc) else "transient_retries")
        if on_retry is not None:
            on_retry(attempt, exc, delay)

    try:
        return call_with_retry(fn, policy, retryable=is_transient, on_retry=counted)
    except Exception as exc:
        raise classify(exc) from exc


def query(
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    timeout_s: float = QUERY_TIMEOUT_S,
    client: Any | None = None,
) -> list[dict[str, Any]]:
    """Rows of a read-only statement as dicts; transient errors retried within ``timeout_s``."""
    _count("queries")
    started = time.monotonic()

    def once() -> list[dict[str, Any]]:
        remaining = max(1.0, timeout_s - (time.monotonic() - started))
        return run_job(sql, params, timeout_s=remaining, client=client)[0]

    return _retrying(once, dataclasses.replace(QUERY_RETRY, deadline_s=timeout_s), None)


def execute(
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    timeout_s: float = QUERY_TIMEOUT_S,
    client: Any | None = None,
    policy: RetryPolicy = DML_RETRY,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Run any statement (a script, a MERGE that also returns rows...) under the DML policy.

    Returns (rows, affected rows). Serialization conflicts and other transient errors are
    retried with ``policy`` (jittered exponential backoff, bounded by its deadline); then the
    classified error raises.
    """
    _count("dml")

    def once() -> tuple[list[dict[str, Any]], int]:
        rows, job = run_job(sql, params, timeout_s=timeout_s, client=client)
        return rows, int(job.num_dml_affected_rows or 0)

    return _retrying(once, policy, on_retry)


class ExecuteOptions(TypedDict, total=False):
    """:func:`execute`'s keyword options (``dml`` takes the same)."""

    timeout_s: float
    client: Any | None
    policy: RetryPolicy
    on_retry: Callable[[int, BaseException, float], None] | None


def dml(
    sql: str, params: Mapping[str, Any] | None = None, **options: Unpack[ExecuteOptions]
) -> int:
    """Run a mutating statement under :data:`DML_RETRY`; returns the affected rows."""
    return execute(sql, params, **options)[1]


def dry_run_bytes(
    sql: str, params: Mapping[str, Any] | None = None, *, client: Any | None = None
) -> int:
    """Bytes the statement would process (BigQuery's dry run; the local emulator says 0)."""
    try:
        job = _client(client).query(sql, job_config=_config(params, dry_run=True))
    except Exception as exc:
        raise classify(exc) from exc
    return int(job.total_bytes_processed or 0)
