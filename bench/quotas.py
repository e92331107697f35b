"""Admission: the Firestore path vs the previous one-MERGE-per-admission BigQuery path.

Both run in the same stack and the same run, in three shapes: one caller alone (uncontended:
the round trips of one admission), 64 concurrent callers spread over 16 customers, and 64
concurrent callers on ONE customer. The machine's load average is reported with them.
Figures: admissions (answered calls) per second, p50/p95 latency of one call, calls that
ended in an error (neither admitted nor refused), and runs admitted past a limit (each
contended shape asks for more runs than the limits allow, so refusals are part of the load).
The MERGE path runs fewer calls (it manages ~1-4/s here).

The Firestore path's contended shapes run REPS times, each on customers of its own, and each
figure is the median of the repetitions (errors and runs past a limit: the sum): one shape of
1,024 calls lasts half a second, and its p95 moved by +-15 ms between repetitions of the same
code on this machine.

Before anything is measured, one unmeasured run of the 16-customer shape on customers of its
own warms the emulators' JIT: the first thousand commits of a fresh Firestore emulator cost it
two to four times the CPU of later ones, and real Firestore is never cold. The alerts topic
is warmed the same way (:func:`_warm_alerts_topic`).
"""

from __future__ import annotations

import itertools
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack.stack import REPO, LocalStack

CALLERS = 64
CUSTOMERS = 16
NEW_CALLS = 1024  # per shape
BASE_CALLS = 32  # per shape (the MERGE path is slow)
SPREAD_DAILY = 48  # per customer: 1024 calls over 16 customers ask 64 each -> 16 refused each
HOT_DAILY = 600  # one customer: 1024 calls -> 424 refused
SINGLE_CALLS = 200  # one caller, one customer, one call at a time: the uncontended round trips
REPS = 5  # of the Firestore path's contended shapes (medians reported)
PUBSUB_WARM = 500  # messages published on the alerts topic before anything is measured


def _shape(call: Callable[[int], Any], n: int, callers: int = CALLERS) -> dict[str, Any]:
    """Run ``call(0..n-1)`` from ``callers`` concurrent callers; rate, p50/p95, errors.

    The callers are threads started before the clock and released together, each taking the
    next call number from a shared counter. In the cloud the callers are other machines, so
    the harness must not compete with the calls for this process's GIL: a thread pool's
    ``map`` created a future per call, 1,024 at the start of every shape, and that was ~20 %
    of the GIL's samples during the 16-customer shape (py-spy --gil, docs/quotas.md run 10).
    """
    latencies: list[float] = []
    outcomes: list[Any] = []
    numbers = itertools.count()
    taking = threading.Lock()
    ready = threading.Barrier(callers + 1)

    def caller() -> None:
        ready.wait()
        while True:
            with taking:
                i = next(numbers)
            if i >= n:
                return
            t0 = time.perf_counter()
            try:
                outcome = call(i)
            except Exception as exc:  # counted, never hidden
                outcome = exc
            latencies.append(time.perf_counter() - t0)
            outcomes.append(outcome)

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(callers)]
    for thread in threads:
        thread.start()
    ready.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    ordered = sorted(latencies)
    return {
        "rate": n / wall,
        "p50": ordered[len(ordered) // 2] * 1000,
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
        "errors": sum(isinstance(o, Exception) for o in outcomes),
        "admitted": [o for o in outcomes if getattr(o, "admitted", False)],
    }


def _warm_alerts_topic() -> None:
    """Publish ``PUBSUB_WARM`` messages on the alerts topic the way alerts go out. The warm-up
    shape crosses only 32 thresholds, and a fresh Pub/Sub emulator spent 1.7 ms of CPU per
    publish against 0.5 ms after 500 (docs/quotas.md, runs 10-11): CPU taken from the measured
    calls on these two cores, which real Pub/Sub never costs the instance."""
    from google.pubsub_v1.types import PubsubMessage

    from shared import clients
    from shared.quotas import alerts

    topic = clients.topic_path(alerts.TOPIC)
    for i in range(PUBSUB_WARM):
        message = PubsubMessage(data=b"{}", attributes={"alert_id": f"bench-warm-{i}"})
        clients.prompt_publisher().publish(topic=topic, messages=[message], timeout=60)


def _past_limits(admitted: list[Any], limit: int) -> int:
    per_customer: dict[str, int] = {}
    for result in admitted:
        if result.reason == "admitted":
            per_customer[result.customer_id] = per_customer.get(result.customer_id, 0) + 1
    return sum(max(0, n - limit) for n in per_customer.values())


def _contended(
    start: Callable[[str, str, str], Any],
    spread: list[str],
    hot: str,
    calls: int,
    limits: tuple[int, int],
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """The two contended shapes of one path: ``calls`` over the 16 ``spread`` customers, then
    on the one ``hot`` customer; and the runs each admitted past its daily limit."""
    shapes = {
        "16 customers": _shape(lambda i: start(spread[i % CUSTOMERS], "p", f"r{i}"), calls),
        "1 customer": _shape(lambda i: start(hot, "p", f"r{i}"), calls),
    }
    past = {
        shape: _past_limits(shapes[shape]["admitted"], limit)
        for shape, limit in zip(shapes, limits, strict=True)
    }
    return shapes, past


def _median_of(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """One shape's figures over its repetitions: medians, errors summed."""
    return {
        "rate": statistics.median(r["rate"] for r in reps),
        "p50": statistics.median(r["p50"] for r in reps),
        "p95": statistics.median(r["p95"] for r in reps),
        "errors": sum(r["errors"] for r in reps),
    }


def run() -> list[dict[str, Any]]:
    from bench import _quotas_merge
    from shared.quotas import admission, customers, outbox

    with LocalStack(Path(REPO / ".local" / "bench-quotas"), functions=[]):
        tag = uuid.uuid4().hex[:6]
        reps = [
            ([f"spread-{tag}-{r}-{i}" for i in range(CUSTOMERS)], f"hot-{tag}-{r}")
            for r in range(REPS)
        ]
        base_spread = [f"bspread-{tag}-{i}" for i in range(CUSTOMERS)]
        base_hot = f"bhot-{tag}"
        for spread, _ in reps:
            for customer in spread:
                customers.upsert_customer(
                    customer, "SCALE", daily_limit=SPREAD_DAILY, concurrent_limit=10_000
                )
        for customer in [hot for _, hot in reps] + [base_hot]:
            customers.upsert_customer(
                customer, "SCALE", daily_limit=HOT_DAILY, concurrent_limit=10_000
            )
        base_spread_limit = BASE_CALLS // CUSTOMERS - 1  # ask one more than allowed
        for customer in base_spread:
            customers.upsert_customer(
                customer, "SCALE", daily_limit=base_spread_limit, concurrent_limit=10_000
            )
        base_hot_limit = BASE_CALLS * 3 // 4
        customers.upsert_customer(
            base_hot, "SCALE", daily_limit=base_hot_limit, concurrent_limit=10_000
        )

        warm = [f"warm-{tag}-{i}" for i in range(CUSTOMERS)]
        for customer in warm:
            customers.upsert_customer(
                customer, "SCALE", daily_limit=SPREAD_DAILY, concurrent_limit=10_000
            )
        _shape(lambda i: admission.start(warm[i % CUSTOMERS], "p", f"r{i}"), NEW_CALLS)
        outbox.drain()  # the warm-up's rows, so their background drain runs in no measured shape
        _warm_alerts_topic()

        single_customer, single_base = f"single-{tag}", f"bsingle-{tag}"
        for customer in (single_customer, single_base):
            customers.upsert_customer(
                customer, "SCALE", daily_limit=10_000, concurrent_limit=10_000
            )
        admission.start(single_customer, "p", "warm")  # clients and channels open
        single = _shape(lambda i: admission.start(single_customer, "p", f"r{i}"), SINGLE_CALLS, 1)
        single_baseline = _shape(
            lambda i: _quotas_merge.start(single_base, "p", f"r{i}"), BASE_CALLS // 4, 1
        )
        runs = []
        for spread, hot in reps:
            runs.append(
                _contended(admission.start, spread, hot, NEW_CALLS, (SPREAD_DAILY, HOT_DAILY))
            )
            outbox.drain()  # this repetition's rows, before the next one is measured
        new = {shape: _median_of([shapes[shape] for shapes, _ in runs]) for shape in runs[0][0]}
        new_past = {shape: sum(past[shape] for _, past in runs) for shape in runs[0][1]}
        base, base_past = _contended(
            _quotas_merge.start,
            base_spread,
            base_hot,
            BASE_CALLS,
            (base_spread_limit, base_hot_limit),
        )
        outbox.drain()
        load = os.getloadavg()
    figures: list[tuple[str, float, str, float | None]] = [
        ("load average (1 min) at the end, 2 cores", load[0], "load", None),
        ("admissions/s (1 caller, uncontended)", single["rate"], "1/s", single_baseline["rate"]),
        ("admission p50 (1 caller, uncontended)", single["p50"], "ms", single_baseline["p50"]),
        ("admission p95 (1 caller, uncontended)", single["p95"], "ms", single_baseline["p95"]),
    ]
    for shape in ("16 customers", "1 customer"):
        n, b = new[shape], base[shape]
        label = f"{CALLERS} callers, {shape}"
        figures += [
            (f"admissions/s ({label})", n["rate"], "1/s", b["rate"]),
            (f"admission p50 ({label})", n["p50"], "ms", b["p50"]),
            (f"admission p95 ({label})", n["p95"], "ms", b["p95"]),
            (
                f"calls answered with an error ({label})",
                float(n["errors"]),
                "count",
                float(b["errors"]),
            ),
            (
                f"runs admitted past a limit ({label})",
                float(new_past[shape]),
                "count",
                float(base_past[shape]),
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
