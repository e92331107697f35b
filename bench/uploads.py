"""Uploads bench: events/s of one instance under concurrent requests, and BigQuery write calls
per 1,000 events, with group commit (BatchingWriter) beside a one-insert-per-event baseline
(TableWriter), measured in the same run on the same emulators.

"One instance" is one process with 32 request threads calling the decorated handler, as
functions-framework does with ``concurrency: 32``; the HTTP layer, identical for both modes,
is left out so the figure isolates what the writer changes. Each event does the real ranged
read from fake-gcs and the real insertAll into the BigQuery emulator.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import figure

EVENTS = 150
THREADS = 32


def _events(stack: Any, bucket: Any, tag: str) -> list[Any]:
    from bench.writes import _upload_events

    return _upload_events(bucket, tag, EVENTS)


def _measure(events: list[Any], mode: str) -> tuple[float, float]:
    from shared.handler import cloud_event_handler
    from shared.uploads import sink
    from shared.uploads.handler import Dependencies, handle

    writer = sink.make_writer(mode)
    deps = Dependencies(writer=writer)

    def one(event: Any) -> None:
        handle(event, deps)

    fn = cloud_event_handler("uploads-bench")(one)
    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(fn, events))
    elapsed = time.perf_counter() - start
    stats = getattr(writer, "stats", None)
    calls = stats.calls if stats is not None else len(events)
    return len(events) / elapsed, calls * 1000 / len(events)


def run() -> list[dict[str, Any]]:
    import os

    from devstack.stack import LocalStack
    from shared import settings

    os.environ["UPLOADS_INSERT_DEADLINE_S"] = "120"  # a shared 2-core box: slow, not down
    settings.reset_cache()  # area settings are read once per process

    with LocalStack(Path(".local/bench-uploads"), functions=[]) as stack:
        bucket = stack.storage().create_bucket(f"{stack.project}-bench-uploads")
        batch_events = _events(stack, bucket, "batch")
        single_events = _events(stack, bucket, "single")
        _measure(_events(stack, bucket, "warmup")[:40], "single")  # warm clients and tables
        single_rate, single_calls = _measure(single_events, "single")
        batch_rate, batch_calls = _measure(batch_events, "batch")
    return [
        figure(
            f"uploads: events/s, one instance, {THREADS} concurrent requests",
            batch_rate,
            "events/s",
            single_rate,
        ),
        figure(
            "uploads: BigQuery write calls per 1,000 events",
            batch_calls,
            "calls",
            single_calls,
            ratio_digits=3,
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
