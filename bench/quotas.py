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

Both contended shapes run on three deployments: ONE process (one quota-api instance serving
all 64 calls, as its manifest concurrency of 80 allows), and ``SCALE_OUTS`` processes (2 of 32
callers, 4 of 16: a scaled-out quota-api; Cloud Run's autoscaler aims at 60 % of the maximum
concurrency, so sustained load of this size runs on 2 instances or more). Calls are dealt to
whichever instance takes them, as Cloud Run's balancer does, so the instances race on a
customer's preconditions. On this machine the processes also share the two cores that each
instance would have alone in the cloud.

Before anything is measured, one unmeasured run of the 16-customer shape on customers of its
own warms the emulators' JIT: the first thousand commits of a fresh Firestore emulator cost it
two to four times the CPU of later ones, and real Firestore is never cold. The alerts topic
is warmed the same way (:func:`_warm_alerts_topic`).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from devstack.stack import REPO, LocalStack

CALLERS = 64
CUSTOMERS = 16
SCALE_OUTS = (2, 4)  # instances (processes of CALLERS // n callers) of a scaled-out quota-api
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
    return _figures(n, time.perf_counter() - t0, latencies, outcomes)


def _figures(n: int, wall: float, latencies: list[float], outcomes: list[Any]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "rate": n / wall,
        "p50": ordered[len(ordered) // 2] * 1000,
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000,
        "errors": sum(isinstance(o, Exception) for o in outcomes),
        "admitted": [o for o in outcomes if getattr(o, "admitted", False)],
    }


def _instance(jobs: Any, results: Any, counter: Any) -> None:
    """One quota-api instance (a process of its own: its GIL, lanes and clients), serving one
    job per shape until it gets None."""
    while (job := jobs.get()) is not None:
        customers, n, start_at, callers = job
        results.put((*_serve(customers, n, start_at, callers, counter), time.time()))


def _serve(
    customers: list[str], n: int, start_at: float, callers: int, counter: Any
) -> tuple[list[float], list[Any]]:
    """``callers`` threads released at the wall-clock instant ``start_at`` take call numbers
    from the counter every instance shares and call ``admission.start`` here."""
    from shared.quotas import admission

    latencies: list[float] = []
    outcomes: list[Any] = []

    def caller() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        while True:
            with counter.get_lock():
                i = counter.value
                counter.value += 1
            if i >= n:
                return
            t0 = time.perf_counter()
            outcome: Any
            try:
                outcome = admission.start(customers[i % len(customers)], "p", f"r{i}")
            except Exception as exc:  # counted, never hidden (as text: it crosses processes)
                outcome = RuntimeError(repr(exc))
            latencies.append(time.perf_counter() - t0)
            outcomes.append(outcome)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, outcomes


class _Instances:
    """``count`` processes running :func:`_instance`, started once (each imports and warms its
    own clients) and given one job per shape."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process holding gRPC
        self.counter = context.Value("q", 0)
        self.results = context.Queue()
        self.jobs = [context.Queue() for _ in range(count)]
        self.processes = [
            context.Process(target=_instance, args=(jobs, self.results, self.counter), daemon=True)
            for jobs in self.jobs
        ]

    def __enter__(self) -> _Instances:
        for process in self.processes:
            process.start()
        return self

    def __exit__(self, *_: object) -> None:
        for jobs in self.jobs:
            jobs.put(None)
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()

    def shape(self, customers: Sequence[str], n: int) -> dict[str, Any]:
        """``n`` calls over ``customers`` from every instance at once (call ``i`` is for
        customer ``i % len(customers)``, on whichever instance takes it)."""
        self.counter.value = 0
        start_at = time.time() + 0.5  # every instance's threads are up by then
        for jobs in self.jobs:
            jobs.put((list(customers), n, start_at, CALLERS // len(self.jobs)))
        latencies: list[float] = []
        outcomes: list[Any] = []
        ended = start_at
        for _ in self.jobs:
            done, answered, end = self.results.get(timeout=600)
            latencies += done
            outcomes += answered
            ended = max(ended, end)
        return _figures(n, ended - start_at, latencies, outcomes)


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
    *,
    instances: _Instances | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """The two contended shapes of one path: ``calls`` over the 16 ``spread`` customers, then
    on the one ``hot`` customer (from this process, or from ``instances``: the Firestore path
    only); and the runs each admitted past its daily limit."""
    shapes = {}
    if instances is not None:
        shapes["16 customers"] = _settled(instances.shape(spread, calls))
        shapes["1 customer"] = _settled(instances.shape([hot], calls))
    else:
        shapes["16 customers"] = _settled(
            _shape(lambda i: start(spread[i % CUSTOMERS], "p", f"r{i}"), calls)
        )
        shapes["1 customer"] = _settled(_shape(lambda i: start(hot, "p", f"r{i}"), calls))
    past = {
        shape: _past_limits(shapes[shape]["admitted"], limit)
        for shape, limit in zip(shapes, limits, strict=True)
    }
    return shapes, past


def _settled(figures: dict[str, Any]) -> dict[str, Any]:
    """``figures``, once the shape's outbox rows are drained and every process's background
    drain (due ``DRAIN_DELAY_S`` after its last commit) has run: no drain of one shape runs in
    the next, whichever deployment each was measured on."""
    from shared.quotas import outbox

    time.sleep(outbox.DRAIN_DELAY_S + 0.3)
    outbox.drain()
    return figures


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
    from shared.quotas import admission, customers

    with contextlib.ExitStack() as stack:
        stack.enter_context(LocalStack(Path(REPO / ".local" / "bench-quotas"), functions=[]))
        tag = uuid.uuid4().hex[:6]
        reps = [
            ([f"spread-{tag}-{r}-{i}" for i in range(CUSTOMERS)], f"hot-{tag}-{r}")
            for r in range(REPS)
        ]
        scaled_reps = {
            n: [
                ([f"i{n}spread-{tag}-{r}-{i}" for i in range(CUSTOMERS)], f"i{n}hot-{tag}-{r}")
                for r in range(REPS)
            ]
            for n in SCALE_OUTS
        }
        every_rep = reps + [rep for done in scaled_reps.values() for rep in done]
        base_spread = [f"bspread-{tag}-{i}" for i in range(CUSTOMERS)]
        base_hot = f"bhot-{tag}"
        for spread, _ in every_rep:
            for customer in spread:
                customers.upsert_customer(
                    customer, "SCALE", daily_limit=SPREAD_DAILY, concurrent_limit=10_000
                )
        for customer in [hot for _, hot in every_rep] + [base_hot]:
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
        scaled_warm = {n: [f"i{n}warm-{tag}-{i}" for i in range(CUSTOMERS)] for n in SCALE_OUTS}
        for customer in warm + [c for group in scaled_warm.values() for c in group]:
            customers.upsert_customer(
                customer, "SCALE", daily_limit=SPREAD_DAILY, concurrent_limit=10_000
            )
        scale_outs = {n: stack.enter_context(_Instances(n)) for n in SCALE_OUTS}
        _shape(lambda i: admission.start(warm[i % CUSTOMERS], "p", f"r{i}"), NEW_CALLS)
        for n, instances in scale_outs.items():
            # each instance's clients and channels open, and the warm-ups' rows drained
            _settled(instances.shape(scaled_warm[n], NEW_CALLS))
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
        runs: dict[str, list[tuple[dict[str, dict[str, Any]], dict[str, int]]]] = {
            "1 instance": [],
            **{f"{n} instances": [] for n in SCALE_OUTS},
        }
        for r, (spread, hot) in enumerate(reps):
            # the deployments alternate, so that all see the same machine
            runs["1 instance"].append(
                _contended(admission.start, spread, hot, NEW_CALLS, (SPREAD_DAILY, HOT_DAILY))
            )
            for n, instances in scale_outs.items():
                scaled_spread, scaled_hot = scaled_reps[n][r]
                runs[f"{n} instances"].append(
                    _contended(
                        admission.start,
                        scaled_spread,
                        scaled_hot,
                        NEW_CALLS,
                        (SPREAD_DAILY, HOT_DAILY),
                        instances=instances,
                    )
                )
        new = {
            (where, shape): _median_of([shapes[shape] for shapes, _ in done])
            for where, done in runs.items()
            for shape in done[0][0]
        }
        new_past = {
            (where, shape): sum(past[shape] for _, past in done)
            for where, done in runs.items()
            for shape in done[0][1]
        }
        base, base_past = _contended(
            _quotas_merge.start,
            base_spread,
            base_hot,
            BASE_CALLS,
            (base_spread_limit, base_hot_limit),
        )
        load = os.getloadavg()
    figures: list[tuple[str, float, str, float | None]] = [
        ("load average (1 min) at the end, 2 cores", load[0], "load", None),
        ("admissions/s (1 caller, uncontended)", single["rate"], "1/s", single_baseline["rate"]),
        ("admission p50 (1 caller, uncontended)", single["p50"], "ms", single_baseline["p50"]),
        ("admission p95 (1 caller, uncontended)", single["p95"], "ms", single_baseline["p95"]),
    ]
    for (where, shape), got in new.items():
        b = base[shape]  # the MERGE path, from one process
        label = f"{CALLERS} callers, {shape}, {where}"
        figures += [
            (f"admissions/s ({label})", got["rate"], "1/s", b["rate"]),
            (f"admission p50 ({label})", got["p50"], "ms", b["p50"]),
            (f"admission p95 ({label})", got["p95"], "ms", b["p95"]),
            (
                f"calls answered with an error ({label})",
                float(got["errors"]),
                "count",
                float(b["errors"]),
            ),
            (
                f"runs admitted past a limit ({label})",
                float(new_past[where, shape]),
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
