"""Writes: Storage Write API writer vs legacy insertAll, side by side in one run, same rows.

For each area (uploads: one ``media_files`` row per object event through the real handler with
its ranged read from fake-gcs; webhooks: raw + typed rows per Stripe event through the real
router), the same events go, with the same concurrency, through:

- ``write-api group``: :mod:`shared.bigquery.writer` with group commit (what the product runs);
- ``insertAll group``: the previous writer (``bench/insertall_writer.py``, group commit);
- ``insertAll single``: one insertAll per request (the oldest baseline);
- ``bare`` limits: the same rows straight from the bare client to the local BigQuery, no
  handler (insert_rows_json in 500-row chunks on 8 threads; Write API appends of 500 rows,
  all sent before waiting).

Billed bytes per 1M events (published prices, docs/bigquery-writes.md):
insertAll = sum over rows of max(1 KB, JSON row bytes) at $0.05/GB; Write API = sum of the
serialized protobuf rows at $0.025/GB (first 2 TB a month free: shown without the free tier).
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import figure

THREADS = 32
UPLOAD_EVENTS = 150
WEBHOOK_EVENTS = 500
SINGLE_EVENTS = 200  # one-insert-per-request is slow: fewer events, same concurrency
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 256
INSERTALL_PRICE_PER_GB = 0.05
WRITE_API_PRICE_PER_GB = 0.025
INSERTALL_MIN_ROW_BYTES = 1024

Row = tuple[str, Mapping[str, Any]]


class Recorder:
    """Wraps a writer: counts rows and their billed-size estimates for both paths."""

    def __init__(self, inner: Any, table: str) -> None:
        from shared.bigquery.protorows import row_codec

        self.inner = inner
        self.codec = row_codec(table)
        self.lock = threading.Lock()
        self.json_billed = 0
        self.proto_bytes = 0
        self.rows = 0

    def write(self, rows: Sequence[Row]) -> None:
        json_billed = sum(
            max(INSERTALL_MIN_ROW_BYTES, len(json.dumps(r, default=str))) for _, r in rows
        )
        proto = sum(len(self.codec.encode(r)) for _, r in rows)
        with self.lock:
            self.json_billed += json_billed
            self.proto_bytes += proto
            self.rows += len(rows)
        self.inner.write(rows)

    @property
    def calls(self) -> int:
        return int(self.inner.stats.calls)

    @property
    def rows_sent(self) -> int:
        return int(self.inner.stats.rows)

    @property
    def round_trip_s(self) -> float:
        """Summed write round trips, send to answer (both sides are a StorageWriter: the
        insertAll baseline's insert runs inside its appender's ``append``)."""
        return float(self.inner.stats.append_ms) / 1000


def _insert(table: str, rows: list[Mapping[str, Any]], row_ids: list[str]) -> list[Any]:
    """The legacy insertAll, retried on transient errors (the local BigQuery sometimes answers
    concurrent insertAll calls with a 500 from a race in its insertId cache, or a 400 when
    its storage layer cannot commit concurrent transactions)."""
    from shared.bigquery import is_transient
    from shared.retry import RetryPolicy, call_with_retry

    def retryable(exc: BaseException) -> bool:
        # also the local BigQuery's "Failed to commit DuckLake transaction" (400) under
        # concurrent insertAll calls: an emulator limitation, not the baseline's fault
        return is_transient(exc) or "failed to commit" in str(exc).lower()

    def insert() -> list[Any]:
        # insertAll exactly as the legacy writer sends it, but without insertIds: the
        # emulator's insertId cache races under concurrent calls into several tables (500
        # KeyError). Dedup never relied on insertId; billing does not depend on it.
        from shared import clients

        nones: list[str | None] = [None] * len(row_ids)
        return list(
            clients.bigquery().insert_rows_json(table, rows, row_ids=nones, skip_invalid_rows=True)
        )

    return call_with_retry(
        insert,
        RetryPolicy(attempts=20, initial_s=0.1, maximum_s=1.0, deadline_s=120.0),
        retryable=retryable,
    )


def _writer(mode: str, table: str) -> Recorder:
    from bench.insertall_writer import BatchingWriter, TableWriter
    from shared.bigquery.writer import default_stream, table_writer

    full = default_stream(table).table_id
    inner: Any
    if mode == "write-api group":
        inner = table_writer(table, max_wait_s=0.01, deadline_s=120)
    elif mode == "write-api single":
        inner = table_writer(table, group_commit=False, deadline_s=120)
    elif mode == "insertAll group":
        inner = BatchingWriter(full, _insert, max_rows=500, max_wait_s=0.01)
    else:
        inner = TableWriter(full, _insert)
    return Recorder(inner, table)


def _run(calls: list[Callable[[], Any]]) -> float:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(c) for c in calls]:
            future.result()
    return time.perf_counter() - started


# ----------------------------------------------------------------------------- uploads
def _upload_events(bucket: Any, tag: str, count: int) -> list[Any]:
    from cloudevents.http import CloudEvent

    events = []
    for i in range(count):
        blob = bucket.blob(f"bench-{tag}/rec-{i % 20}/image/{i}.jpg")
        blob.upload_from_string(JPEG, content_type="image/jpeg")
        blob.reload()
        attributes = {
            "id": uuid.uuid4().hex,
            "type": "google.cloud.storage.object.v1.finalized",
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket.name}",
            "specversion": "1.0",
        }
        events.append(CloudEvent(attributes, dict(blob._properties)))
    return events


def _uploads(events: list[Any], mode: str) -> dict[str, Any]:
    from shared.uploads.handler import Dependencies, handle

    writer = _writer(mode, "media_files")
    deps = Dependencies(writer=writer)
    seconds = _run([functools.partial(handle, e, deps) for e in events])
    return _figures(len(events), seconds, [writer])


# ----------------------------------------------------------------------------- webhooks
def _messages(tag: str, count: int) -> list[Any]:
    from shared.events import PubSubMessage

    out = []
    for i in range(count):
        event = {
            "id": f"evt_bench_{tag}_{i}",
            "type": "charge.succeeded",
            "created": int(time.time()) - 60,
            "data": {"object": {"id": f"ch_{tag}_{i}", "amount": 100 + i, "currency": "usd"}},
        }
        out.append(
            PubSubMessage(
                event_id=f"{tag}-{i}",
                message_id=f"{tag}-{i}",
                topic="webhook-events",
                subscription=None,
                data=json.dumps(event).encode(),
                attributes={"source": "payments"},
                publish_time=datetime.now(UTC),
                delivery_attempt=None,
            )
        )
    return out


def _webhooks(messages: list[Any], mode: str) -> dict[str, Any]:
    from shared.webhooks.ingest import ingest
    from shared.webhooks.settings import SinkSettings
    from shared.webhooks.sink import WebhookSink

    writers: dict[str, Recorder] = {}
    lock = threading.Lock()

    def make(table: str) -> Recorder:
        with lock:
            writers[table] = _writer(mode, table)
            return writers[table]

    sink = WebhookSink(make, config=SinkSettings())
    seconds = _run([functools.partial(ingest, m, sink) for m in messages])
    return _figures(len(messages), seconds, list(writers.values()))


def _figures(events: int, seconds: float, writers: list[Recorder]) -> dict[str, Any]:
    calls = max(1, sum(w.calls for w in writers))
    return {
        "events_per_s": events / seconds,
        "calls_per_1000": sum(w.calls for w in writers) * 1000 / events,
        "rows_per_call": sum(w.rows_sent for w in writers) / calls,
        "round_trip_ms": sum(w.round_trip_s for w in writers) * 1000 / calls,
        "json_billed_per_event": sum(w.json_billed for w in writers) / events,
        "proto_bytes_per_event": sum(w.proto_bytes for w in writers) / events,
    }


# ----------------------------------------------------------------------------- bare client
def _bare_rows(area: str, stack: Any, bucket: Any) -> dict[str, list[Row]]:
    """The rows one batch of events produces, by table (built by the real code, not written)."""
    rows: dict[str, list[Row]] = {}
    if area == "webhooks":
        from shared.webhooks.ingest import route

        for message in _messages(f"bare{uuid.uuid4().hex[:6]}", WEBHOOK_EVENTS):
            for table, items in route(message).rows.items():
                rows.setdefault(table, []).extend(items)
    else:
        from shared.uploads.handler import Dependencies, handle

        collected: list[Row] = []

        class Collect:
            def write(self, items: Sequence[Row]) -> None:
                collected.extend(items)

        for event in _upload_events(bucket, "bare", UPLOAD_EVENTS):
            handle(event, Dependencies(writer=Collect()))
        rows["media_files"] = collected
    return rows


def _bare_insertall(rows: dict[str, list[Row]]) -> float:
    from shared.bigquery.writer import default_stream

    chunks = [
        (default_stream(t).table_id, items[i : i + 500])
        for t, items in rows.items()
        for i in range(0, len(items), 500)
    ]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda c: _insert(c[0], [r for _, r in c[1]], [k for k, _ in c[1]]),
                chunks,
            )
        )
    return time.perf_counter() - started


def _bare_write_api(rows: dict[str, list[Row]]) -> float:
    from shared.bigquery.protorows import row_codec
    from shared.bigquery.writer import default_stream

    started = time.perf_counter()
    futures = []
    for table, items in rows.items():
        stream, codec = default_stream(table), row_codec(table)
        encoded = [codec.encode(r) for _, r in items]
        for i in range(0, len(encoded), 500):
            futures.append(stream.append(encoded[i : i + 500], 120.0)[0])
    for future in futures:
        future.result(timeout=120)
    return time.perf_counter() - started


# ----------------------------------------------------------------------------- run
MODES = ("write-api group", "insertAll group", "insertAll single")


def _area(area: str, stack: Any, bucket: Any) -> list[dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    measure: Callable[[str, int], dict[str, Any]]
    if area == "uploads":

        def measure(mode: str, n: int) -> dict[str, Any]:
            return _uploads(_upload_events(bucket, uuid.uuid4().hex[:6], n), mode)

        events = UPLOAD_EVENTS
    else:

        def measure(mode: str, n: int) -> dict[str, Any]:
            return _webhooks(_messages(uuid.uuid4().hex[:6], n), mode)

        events = WEBHOOK_EVENTS
    measure("write-api group", 40)  # warm clients, streams and tables
    measure("insertAll group", 40)
    for mode in MODES:
        results[mode] = measure(mode, SINGLE_EVENTS if "single" in mode else events)
    bare = _bare_rows(area, stack, bucket)
    bare_events = WEBHOOK_EVENTS if area == "webhooks" else UPLOAD_EVENTS
    bare_insertall = bare_events / _bare_insertall(bare)
    bare_write = bare_events / _bare_write_api(bare)
    api, group, single = (results[m] for m in MODES)
    per_million_api = api["proto_bytes_per_event"] * 1e6
    per_million_insertall = group["json_billed_per_event"] * 1e6
    api_usd = per_million_api / 1e9 * WRITE_API_PRICE_PER_GB
    insertall_usd = per_million_insertall / 1e9 * INSERTALL_PRICE_PER_GB
    vs_group = "Write API vs insertAll group commit"
    return [
        figure(
            f"{area}: events/s, Write API group commit vs insertAll group commit "
            f"({THREADS} concurrent requests)",
            api["events_per_s"],
            "events/s",
            group["events_per_s"],
        ),
        figure(
            f"{area}: events/s, Write API group commit vs one insertAll per request",
            api["events_per_s"],
            "events/s",
            single["events_per_s"],
        ),
        figure(
            f"{area}: write calls per 1,000 events, {vs_group}",
            api["calls_per_1000"],
            "calls",
            group["calls_per_1000"],
            ratio_digits=3,
        ),
        figure(
            f"{area}: rows per write call, {vs_group}",
            api["rows_per_call"],
            "rows",
            group["rows_per_call"],
        ),
        figure(
            f"{area}: mean write round trip (ms), {vs_group}",
            api["round_trip_ms"],
            "ms",
            group["round_trip_ms"],
        ),
        figure(
            f"{area}: billed bytes per 1M events (MB), Write API vs insertAll",
            per_million_api / 1e6,
            "MB",
            per_million_insertall / 1e6,
            ratio_digits=3,
        ),
        figure(
            f"{area}: $ per 1M events (no free tier), Write API vs insertAll",
            api_usd,
            "USD",
            insertall_usd,
            digits=4,
            ratio_digits=3,
        ),
        figure(
            f"{area}: bare client limit, events/s, Write API vs insertAll (no handler)",
            bare_write,
            "events/s",
            bare_insertall,
        ),
        figure(
            f"{area}: Write API group commit as a fraction of the bare Write API limit",
            api["events_per_s"],
            "events/s",
            bare_write,
        ),
    ]


def run(areas: Sequence[str] = ("uploads", "webhooks")) -> list[dict[str, Any]]:
    import os

    from devstack.stack import LocalStack
    from shared import settings

    os.environ["UPLOADS_INSERT_DEADLINE_S"] = "120"  # a shared 2-core box: slow, not down
    settings.reset_cache()
    with LocalStack(Path(".local/bench-writes"), functions=[]) as stack:
        bucket = stack.storage().create_bucket(f"{stack.project}-bench-writes")
        figures: list[dict[str, Any]] = []
        for area in areas:
            found = _area(area, stack, bucket)
            for item in found:
                print(
                    f"  {item['name']}: {item['value']} vs {item['baseline']}"
                    f" (ratio {item['ratio']})",
                    flush=True,
                )
            figures += found
    return figures


if __name__ == "__main__":
    import sys

    for item in run(sys.argv[1:] or ("uploads", "webhooks")):
        print(item)
