"""Run quota SQL on BigQuery: bound parameters, validated table ids, serialization retries."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import bigquery
from shared.resources import manifest
from shared.settings import get_settings

# Real BigQuery aborts concurrent mutations of one table ("Could not serialize access ...");
# with many runners per customer a few retries with jittered backoff are normal: the one DML
# policy of shared.bigquery retries them, counted here.


@dataclass
class _Counters:
    serialization_retries: int = 0


counters = _Counters()
_counter_lock = threading.Lock()


def table(name: str) -> str:
    """Backticked fully qualified id of a manifest table or view."""
    return f"`{manifest().relation_id(get_settings().project_id, name)}`"


def _on_retry(_attempt: int, _exc: BaseException, _delay: float) -> None:
    with _counter_lock:
        counters.serialization_retries += 1


def run(sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Run one statement; returns (rows, DML affected rows). Transient errors (serialization
    conflicts first) are retried by the one DML policy of :mod:`shared.bigquery`."""
    return bigquery.execute(sql, params, on_retry=_on_retry)
