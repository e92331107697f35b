"""Test-only fault injection at the orchestrator's own statement boundary.

Honoured only when APP_ENV=local (the request's ``test.faults``): ``{"table": {"transient": n}}``
makes the first n statements of that table in the run raise the same exception class the
BigQuery client raises for a ``backendError`` (503); ``{"permanent": "text"}`` raises a 400;
``{"sleep_s": x}`` delays each statement (to measure concurrency).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()


def before_statement(faults: dict[str, Any], run_id: str, table: str) -> None:
    spec = faults.get(table)
    if not isinstance(spec, dict):
        return
    from google.api_core import exceptions

    sleep = spec.get("sleep_s")
    if isinstance(sleep, int | float) and 0 < sleep <= 60:
        time.sleep(float(sleep))
    if spec.get("permanent"):
        raise exceptions.BadRequest(f"injected permanent failure: {spec['permanent']}")
    transient = spec.get("transient")
    if isinstance(transient, int) and transient > 0:
        with _lock:
            _counts[(run_id, table)] += 1
            n = _counts[(run_id, table)]
        if n <= transient:
            raise exceptions.ServiceUnavailable(f"injected backendError {n}/{transient}")
