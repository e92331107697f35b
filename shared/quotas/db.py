"""Run quota SQL on BigQuery: bound parameters, validated table ids, serialization retries."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared import clients
from shared.resources import manifest, table_id
from shared.retry import RetryPolicy, call_with_retry
from shared.settings import get_settings

# Real BigQuery aborts concurrent mutations of one table ("Could not serialize access ...");
# with many runners per customer a few retries with jittered backoff are normal.
DML_RETRY = RetryPolicy(attempts=10, initial_s=0.1, multiplier=2.0, maximum_s=4.0, deadline_s=60.0)


@dataclass
class _Counters:
    serialization_retries: int = 0


counters = _Counters()
_counter_lock = threading.Lock()


def table(name: str) -> str:
    """Backticked fully qualified id of a manifest table or view."""
    m = manifest()
    try:
        dataset = m.table(name)["dataset"]
    except KeyError:
        dataset = m.view(name)["dataset"]
    return f"`{table_id(get_settings().project_id, dataset, name)}`"


def _param(name: str, value: Any) -> Any:
    from google.cloud import bigquery

    if isinstance(value, list | tuple):
        return bigquery.ArrayQueryParameter(name, "STRING", [str(v) for v in value])
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, datetime):
        kind = "TIMESTAMP"
    elif isinstance(value, date):
        kind = "DATE"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)


def _on_retry(_attempt: int, _exc: BaseException, _delay: float) -> None:
    with _counter_lock:
        counters.serialization_retries += 1


def run(sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Run one statement; returns (rows, DML affected rows). Transient errors are retried."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[_param(k, v) for k, v in (params or {}).items()]
    )

    def once() -> tuple[list[dict[str, Any]], int]:
        job = clients.bigquery().query(sql, job_config=config)
        rows = [dict(row.items()) for row in job.result()]
        return rows, int(job.num_dml_affected_rows or 0)

    return call_with_retry(once, DML_RETRY, on_retry=_on_retry)
