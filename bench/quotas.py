"""Admission under 16 concurrent callers: the atomic MERGE vs a naive read-then-write.

Both run in the same stack and the same run. Figures: admissions per second, p50/p95 latency
of one admission, serialization retries (always 0 on the emulator, which never conflicts; real
BigQuery aborts concurrent mutations and the library retries them), and how many runs each
approach admitted past a daily limit of 6 when 32 callers race (the naive one over-admits).
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack.stack import REPO, LocalStack

CALLERS = 16
ADMISSIONS = 32
RACERS = 32


def _naive_start(customer: str, run_id: str) -> bool:
    """Check, then increment, in two statements: the anti-pattern admission replaces."""
    from shared.quotas import db

    usage = db.table("customer_usage_quotas")
    rows, _ = db.run(
        f"SELECT pipelines_run, daily_limit FROM {usage} WHERE customer_id = @c", {"c": customer}
    )
    if rows and rows[0]["pipelines_run"] >= rows[0]["daily_limit"]:
        return False
    db.run(
        f"MERGE {usage} AS T USING (SELECT @c AS customer_id) AS S "
        "ON T.customer_id = S.customer_id WHEN MATCHED THEN UPDATE SET "
        "pipelines_run = T.pipelines_run + 1",
        {"c": customer},
    )
    return True


def _timed(fn: Callable[[int], bool], n: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []

    def one(i: int) -> bool:
        t0 = time.perf_counter()
        ok = fn(i)
        latencies.append(time.perf_counter() - t0)
        return ok

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CALLERS) as pool:
        admitted = sum(pool.map(one, range(n)))
    return time.perf_counter() - t0, latencies, admitted


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run() -> list[dict[str, Any]]:
    from shared.quotas import admission, customers, db

    with LocalStack(Path(REPO / ".local" / "bench-quotas"), functions=[]):
        tag = uuid.uuid4().hex[:6]
        fast, naive = f"bench-{tag}", f"bench-naive-{tag}"
        for customer in (fast, naive):
            customers.upsert_customer(
                customer, "SCALE", daily_limit=100_000, concurrent_limit=100_000
            )
        # The naive customer needs its day row to exist before racing.
        admission.start(naive, "p", f"{naive}-seed", notify=False)
        retries_before = db.counters.serialization_retries
        secs, lat, _ = _timed(
            lambda i: admission.start(fast, "p", f"{fast}-{i}", notify=False).admitted, ADMISSIONS
        )
        retries = db.counters.serialization_retries - retries_before
        base_secs, base_lat, _ = _timed(lambda i: _naive_start(naive, f"{naive}-{i}"), ADMISSIONS)

        race, race_naive = f"race-{tag}", f"race-naive-{tag}"
        for customer in (race, race_naive):
            customers.upsert_customer(customer, "STARTER", concurrent_limit=100)
        admission.start(race_naive, "p", f"{race_naive}-seed", notify=False)
        _, _, atomic_admitted = _timed(
            lambda i: admission.start(race, "p", f"{race}-{i}", notify=False).admitted, RACERS
        )
        _, _, naive_admitted = _timed(lambda i: _naive_start(race_naive, str(i)), RACERS)
    rate, base_rate = ADMISSIONS / secs, ADMISSIONS / base_secs
    figures = [
        ("admissions per second (16 callers)", rate, "1/s", base_rate),
        ("admission latency p50", _pct(lat, 0.5), "ms", _pct(base_lat, 0.5)),
        ("admission latency p95", _pct(lat, 0.95), "ms", _pct(base_lat, 0.95)),
        ("serialization retries", float(retries), "count", None),
        (
            "runs admitted past daily limit 6 (50 racing)",
            float(atomic_admitted - 6),
            "count",
            float(naive_admitted + 1 - 6),
        ),
    ]
    return [
        {
            "name": f"quotas: {name}",
            "value": round(value, 3),
            "unit": unit,
            "baseline": None if baseline is None else round(baseline, 3),
            "ratio": round(value / baseline, 3) if baseline else None,
        }
        for name, value, unit, baseline in figures
    ]
