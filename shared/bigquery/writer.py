"""Rows into BigQuery through the Storage Write API: default stream, group commit, per-row errors.

Why not legacy ``insertAll``: the Write API costs half per byte ($0.025/GB, the first 2 TB a
month free) with no 1 KB minimum per row, and its rows can be changed by DML at once (no
streaming buffer). Python has no JSON writer for it, so this module builds one from the
manifest's JSON schemas (:mod:`shared.bigquery.protorows`).

How a write goes:

1. The caller's rows are encoded in its own thread. A row that does not fit its table (unknown
   or missing column, wrong type, invalid JSON) is rejected here, before anything is sent: it
   can never reach the stream, where invalid JSON would end the whole connection.
2. Group commit, leader-based (no background thread of ours: Cloud Functions throttle CPU
   outside requests). The oldest waiting caller is the leader: it waits up to ``max_wait_s``
   for others to add their rows (or until ``max_rows`` / ``max_bytes``), takes the batch, sends
   ONE append and hands leadership on at once, so the next batch forms while this one is in
   flight. The next batch leaves when the append in flight is answered (the leader then
   lingers ``max_wait_s`` more, so the callers just released join it), or at once when it is
   full (up to ``max_inflight`` appends, 2 by default). The leader waits for its own append's
   answer and finishes every caller of its batch.
3. BigQuery rejects a request with an invalid row whole and names the rows (``row_errors``):
   those rows become permanent errors of their callers; the good rows are sent again and land.
4. Other errors are classified (:func:`shared.bigquery.errors.classify`). Transient ones (the
   stream closed, BigQuery unavailable, a timeout) reset the stream and are retried within the
   writer's deadline; then every caller of the batch gets a ``TransientError`` and the platform
   redelivers its event. A retried append may land twice: rows carry deterministic keys and the
   ``*_current`` views deduplicate at read, so at-least-once stays correct.

Each call returns only after its own rows are acknowledged by BigQuery; then it raises
``RowsRejectedError`` (permanent, ``reason="rows_rejected"``) if some of its rows were refused:
its other rows have landed, the handler dead-letters the event with the reasons.

One stream per table per process (:func:`table_writer`), opened on first use and reopened after
a failure; the library re-sends the writer schema with the first request of each connection.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared import clients
from shared.bigquery.errors import classify
from shared.bigquery.protorows import RowCodec, RowEncodingError, row_codec
from shared.errors import PermanentError, TransientError
from shared.imports import BIGQUERY_IMPORTS
from shared.once import OncePerKey
from shared.retry import RetryPolicy

Row = tuple[str, Mapping[str, Any]]
"""(row key, row): the key is deterministic for the event; it names the row in errors."""

# Below the Write API's 10 MB request limit with room for the request envelope.
MAX_REQUEST_BYTES = 9_000_000
DEFAULT_DEADLINE_S = 30.0
OPEN_TIMEOUT_S = 10.0
OPEN_COOLDOWN_S = 1.0
OPEN_POLL_S = 0.005
APPEND_RETRY = RetryPolicy(attempts=4, initial_s=0.2, multiplier=2.0, maximum_s=2.0)
logger = logging.getLogger("shared.bigquery.writer")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


class RowsRejectedError(PermanentError):
    """BigQuery (or our encoder) refused some rows of a write; the caller's other rows landed."""

    def __init__(self, table: str, errors: list[str]) -> None:
        super().__init__("rows_rejected", f"{table}: " + "; ".join(errors[:5]))
        self.errors = errors


class AppendFuture(Protocol):
    def result(self, timeout: float | None = None) -> Any:
        """The append's response; raises the append's error."""
        ...


class Appender(Protocol):
    """Where serialized rows go: one append request per call (our boundary for tests)."""

    def append(self, rows: list[bytes], timeout: float) -> tuple[AppendFuture, int]:
        """Send one append (opening the stream within ``timeout`` if needed); returns its
        future and the stream generation it went to."""
        ...

    def reset(self, generation: int) -> None:
        """Drop the stream of ``generation`` (if still current): the next append reopens."""
        ...


@dataclass
class WriteStats:
    """Counters for benches and logs."""

    calls: int = 0  # append requests sent (resends included)
    rows: int = 0  # rows sent (resends included)
    batches_failed: int = 0
    resends: int = 0  # requests re-sent without their rejected rows
    retries: int = 0  # requests retried after a transient failure
    rejected_rows: int = 0
    append_ms: int = 0  # summed round trips, send to answer (resends and failures included)

    def as_dict(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "rows": self.rows,
            "batches_failed": self.batches_failed,
            "resends": self.resends,
            "retries": self.retries,
            "rejected_rows": self.rejected_rows,
            "append_ms": self.append_ms,
        }


# ----------------------------------------------------------------------------- real stream
def stream_path(table_id: str) -> str:
    """``project.dataset.table`` -> the Write API's default stream of that table."""
    project, dataset, table = table_id.split(".")
    return f"projects/{project}/datasets/{dataset}/tables/{table}/streams/_default"


class _PolledFuture:
    """An AppendRowsFuture waited on with fine-grained polling of ``done()``.

    The library's own ``result()`` polls through ``google.api_core``'s retry machinery (an
    exception per poll, jittered sleeps up to 1 s and more by default); with a 2-20 ms
    jittered poll the caller still woke 5-8 ms (p50) after the answer had arrived (measured,
    docs/bigquery-writes.md). A plain 1-4 ms poll: only the leader of an append in flight
    waits here (at most ``max_inflight`` threads per table), so the cost is small."""

    def __init__(self, future: Any) -> None:
        self._future = future

    def result(self, timeout: float | None = None) -> Any:
        future = self._future
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while not future.done():
            if deadline is not None and time.monotonic() >= deadline:
                raise concurrent.futures.TimeoutError(f"append not answered in {timeout:.1f}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.004)
        return future.result(timeout=0)


def shorten_open_poll(library: Any) -> None:
    """The library's open polls every 80 ms (``_WRITE_OPEN_INTERVAL``) for the RPC to become
    active, which happens only once the server has answered the first append: the first append
    of every connection lost up to 80 ms (40 on average) to that sleep. Poll every 5 ms instead
    (one thread, only while a connection opens). If a later library renames the constant,
    nothing breaks here (a unit test notices)."""
    interval = getattr(library, "_WRITE_OPEN_INTERVAL", None)
    if isinstance(interval, int | float) and interval > OPEN_POLL_S:
        library._WRITE_OPEN_INTERVAL = OPEN_POLL_S


class DefaultStream:
    """One long-lived ``AppendRowsStream`` on a table's ``_default`` stream."""

    def __init__(
        self,
        table_id: str,
        codec: RowCodec,
        client: Callable[[], Any] = clients.bigquery_write,
    ) -> None:
        self.table_id = table_id
        self._codec = codec
        self._client = client
        self._lock = threading.Lock()
        self._stream: Any = None
        self._generation = 0
        self.open_timeout_s = OPEN_TIMEOUT_S
        self._open_failed_until = 0.0
        self._sender: concurrent.futures.ThreadPoolExecutor | None = None
        self.opened: dict[str, float] = {}  # spans of the last open (ms), for logs and benches

    def _open(self, spans: dict[str, float]) -> Any:
        with BIGQUERY_IMPORTS:
            from google.cloud.bigquery_storage_v1 import types, writer

        shorten_open_poll(writer)
        started = time.perf_counter()
        client = self._client()  # first use: credentials, transport, channel (lazy connect)
        spans["client_ms"] = _ms_since(started)
        started = time.perf_counter()
        template = types.AppendRowsRequest(
            write_stream=stream_path(self.table_id),
            proto_rows=types.AppendRowsRequest.ProtoData(
                writer_schema=types.ProtoSchema(proto_descriptor=self._codec.descriptor)
            ),
        )
        stream = writer.AppendRowsStream(client, template)
        spans["stream_ms"] = _ms_since(started)
        return stream

    def append(self, rows: list[bytes], timeout: float) -> tuple[AppendFuture, int]:
        started = time.perf_counter()
        with BIGQUERY_IMPORTS:  # first use: ~0.2 s of imports
            from google.cloud.bigquery_storage_v1 import types

        imported = _ms_since(started)
        request = types.AppendRowsRequest(
            proto_rows=types.AppendRowsRequest.ProtoData(rows=types.ProtoRows(serialized_rows=rows))
        )
        spans: dict[str, float] | None = None
        with self._lock:
            if self._stream is None:
                if time.monotonic() < self._open_failed_until:
                    raise TransientError(f"{self.table_id}: Write API stream unavailable")
                spans = {"import_ms": imported}
                self._stream = self._open(spans)
                self._sender = concurrent.futures.ThreadPoolExecutor(1, "bq-write-send")
                self._generation += 1
            stream, generation = self._stream, self._generation
            sent = time.perf_counter()
            future = self._bounded_send(stream, request, min(timeout, self.open_timeout_s))
        if spans is not None:
            # the library opens the RPC inside the first send and returns once the server
            # has answered it: this span is connect + the first append's whole round trip
            spans["first_append_ms"] = _ms_since(sent)
            self.opened = spans
            logger.info(
                "Write API stream opened: %s",
                self.table_id,
                extra={
                    "fields": {"event": "bigquery_stream_opened", "table": self.table_id, **spans}
                },
            )
        return _PolledFuture(future), generation

    def _bounded_send(self, stream: Any, request: Any, timeout: float) -> Any:
        """``stream.send`` with a bound: a send opens the connection when the library's is
        down (first use, or after the library renewed a broken one), and the library waits
        for that open up to 10 minutes holding its own lock. Sends run on one helper thread
        per stream, so the caller can give up in time."""
        assert self._sender is not None
        pending = self._sender.submit(stream.send, request)
        try:
            return pending.result(timeout=max(0.05, timeout))
        except BaseException as exc:
            # Failed or still opening: drop the stream (its helper thread ends when the open
            # does) and refuse new opens for a moment, so concurrent writers fail fast instead
            # of queueing behind one open after another.
            self._stream = None
            self._sender.shutdown(wait=False)
            self._open_failed_until = time.monotonic() + OPEN_COOLDOWN_S
            threading.Thread(target=_close_quietly, args=(stream,), daemon=True).start()
            if isinstance(exc, concurrent.futures.TimeoutError):
                raise TransientError(
                    f"{self.table_id}: Write API stream did not open in {timeout:.1f}s"
                ) from None
            raise

    def reset(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._stream is None:
                return
            stream, self._stream = self._stream, None
            if self._sender is not None:
                self._sender.shutdown(wait=False)
        threading.Thread(target=_close_quietly, args=(stream,), daemon=True).start()

    def close(self) -> None:
        self.reset(self._generation)


def _close_quietly(stream: Any) -> None:
    with contextlib.suppress(Exception):  # already closed or broken: we only drop it
        stream.close()


# ----------------------------------------------------------------------------- group commit
@dataclass
class _Pending:
    keys: list[str]
    encoded: list[bytes]
    size: int
    arrived: float
    deadline: float
    errors: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    finished: bool = False
    error: BaseException | None = None


def row_errors(exc: BaseException) -> dict[int, str]:
    """Per-row errors of a rejected append (index in the request -> message), or {}."""
    response = getattr(exc, "response", None)
    found: dict[int, str] = {}
    for item in getattr(response, "row_errors", None) or ():
        code = getattr(item, "code", "")
        code_name = getattr(code, "name", str(code))
        found[int(item.index)] = f"{code_name}: {item.message}" if code_name else item.message
    return found


class StorageWriter:
    """Group commit of one table's rows over an :class:`Appender`.

    ``group_commit=False`` sends one append per call (the benchmark's baseline).
    """

    def __init__(
        self,
        table: str,
        appender: Appender,
        encode: Callable[[Mapping[str, Any]], bytes],
        *,
        group_commit: bool = True,
        max_rows: int = 500,
        max_bytes: int = MAX_REQUEST_BYTES,
        max_wait_s: float = 0.01,
        max_inflight: int = 2,
        deadline_s: float = DEFAULT_DEADLINE_S,
        retry: RetryPolicy = APPEND_RETRY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table
        self._appender = appender
        self._encode = encode
        self.group_commit = group_commit
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.max_wait_s = max_wait_s
        self.max_inflight = max(1, max_inflight)
        self.deadline_s = deadline_s
        self._retry = retry
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._queued_bytes = 0
        self._inflight = 0
        self._leader = False
        self._stats_lock = threading.Lock()
        self.stats = WriteStats()

    # ------------------------------------------------------------------ public
    def write(self, rows: Sequence[Row]) -> None:
        """Block until ``rows`` are acknowledged; raise if some could not be written."""
        if not rows:
            return
        pending = self._prepare(rows)
        if pending.encoded:
            if self.group_commit:
                self._enqueue_and_wait(pending)
            else:
                with self._cond:
                    self._inflight += 1
                self._commit([pending])
        if pending.error is not None:
            raise pending.error
        if pending.errors:
            raise RowsRejectedError(self.table, pending.errors)

    def _prepare(self, rows: Sequence[Row]) -> _Pending:
        keys: list[str] = []
        encoded: list[bytes] = []
        errors: list[str] = []
        for key, row in rows:
            try:
                data = self._encode(row)
            except RowEncodingError as exc:
                errors.append(f"row {key}: {exc}")
                continue
            keys.append(key)
            encoded.append(data)
        if errors:
            with self._stats_lock:
                self.stats.rejected_rows += len(errors)
        now = self._clock()
        return _Pending(
            keys=keys,
            encoded=encoded,
            size=sum(len(b) for b in encoded),
            arrived=now,
            deadline=now + self.deadline_s,
            errors=errors,
        )

    # ------------------------------------------------------------------ leader / followers
    def _enqueue_and_wait(self, pending: _Pending) -> None:
        with self._cond:
            self._queue.append(pending)
            self._queued_rows += len(pending.encoded)
            self._queued_bytes += pending.size
            if not self._leader:
                self._leader = True
                pending.lead = True
            elif self._full():
                self._cond.notify_all()
        while True:
            if pending.lead:
                self._lead(pending)
            else:
                pending.done.wait()
                pending.done.clear()
            if pending.finished:
                return

    def _full(self) -> bool:
        return self._queued_rows >= self.max_rows or self._queued_bytes >= self.max_bytes

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = size = 0
        while self._queue:
            nxt = self._queue[0]
            if batch and (
                rows + len(nxt.encoded) > self.max_rows or size + nxt.size > self.max_bytes
            ):
                break
            batch.append(self._queue.popleft())
            rows += len(nxt.encoded)
            size += nxt.size
        self._queued_rows -= rows
        self._queued_bytes -= size
        return batch

    def _may_send(self) -> bool:
        """One append in flight per table; a further one (up to ``max_inflight``) only with a
        full batch. A second append of a partial batch would only queue behind the first on
        the same connection (the local BigQuery serves a connection's appends one at a time)
        and leave with half the rows: measured 0.6x the throughput (docs/bigquery-writes.md)."""
        limit = self.max_inflight if self._full() else 1
        return self._inflight < limit

    def _lead(self, me: _Pending) -> None:
        with self._cond:
            wait_until = me.arrived + self.max_wait_s
            while True:
                if not self._may_send():
                    self._cond.wait()  # notified when an append finishes or the batch fills
                    # linger once more after the append in flight finished: the callers it
                    # just released come back with their next rows and join this batch
                    # (else the requests split into two half-size batches for good)
                    if self._may_send():
                        wait_until = max(wait_until, self._clock() + self.max_wait_s)
                    continue
                now = self._clock()
                if self._full() or now >= wait_until:
                    break
                self._cond.wait(max(0.001, wait_until - now))
            batch = self._take_batch()
            self._inflight += 1
            # hand leadership on now: the next batch forms (and is sent) while this one flies
            me.lead = False
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.done.set()
            else:
                self._leader = False
        self._commit(batch)

    # ------------------------------------------------------------------ one batch
    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._send_until_done(batch)
        except BaseException as exc:  # never leave a caller waiting
            for p in batch:
                if p.error is None:
                    p.error = exc
        finally:
            # release the batch's callers first, then wake the next leader (it lingers for them)
            for p in batch:
                p.finished = True
                p.done.set()
            with self._cond:
                self._inflight -= 1
                self._cond.notify_all()

    def _send_until_done(self, batch: list[_Pending]) -> None:
        owners = [(p, i) for p in batch for i in range(len(p.encoded))]
        remaining = list(range(len(owners)))
        deadline = min(p.deadline for p in batch)
        delays = self._retry.delays()
        while remaining:
            payload = [owners[i][0].encoded[owners[i][1]] for i in remaining]
            with self._stats_lock:
                self.stats.calls += 1
                self.stats.rows += len(payload)
            generation = -1
            sent = time.perf_counter()
            try:
                future, generation = self._appender.append(
                    payload, max(0.05, deadline - self._clock())
                )
                future.result(timeout=max(0.05, deadline - self._clock()))
                self._count_round_trip(sent)
                return
            except Exception as exc:
                self._count_round_trip(sent)
                rejected = row_errors(exc)
                if rejected:
                    kept = self._reject(owners, remaining, rejected)
                    if len(kept) == len(remaining):  # errors name no row we sent: give up
                        self._fail(owners, remaining, classify(exc))
                        return
                    remaining = kept
                    continue
                failure = classify(exc)
                delay = next(delays, None)
                if isinstance(failure, PermanentError) or delay is None:
                    self._fail(owners, remaining, failure)
                    return
                if generation >= 0:
                    self._appender.reset(generation)
                if self._clock() + delay >= deadline:
                    self._fail(owners, remaining, TransientError(f"{self.table}: {failure}"))
                    return
                with self._stats_lock:
                    self.stats.retries += 1
                self._sleep(delay)

    def _count_round_trip(self, sent: float) -> None:
        elapsed_ms = round((time.perf_counter() - sent) * 1000)
        with self._stats_lock:
            self.stats.append_ms += elapsed_ms

    def _reject(
        self, owners: list[tuple[_Pending, int]], remaining: list[int], rejected: dict[int, str]
    ) -> list[int]:
        kept = []
        for position, index in enumerate(remaining):
            message = rejected.get(position)
            if message is None:
                kept.append(index)
                continue
            pending, row = owners[index]
            pending.errors.append(f"row {pending.keys[row]}: {message}")
        with self._stats_lock:
            self.stats.rejected_rows += len(remaining) - len(kept)
            self.stats.resends += 1 if kept else 0
        return kept

    def _fail(
        self, owners: list[tuple[_Pending, int]], remaining: list[int], error: BaseException
    ) -> None:
        with self._stats_lock:
            self.stats.batches_failed += 1
        for index in remaining:
            pending = owners[index][0]
            if pending.error is None:
                pending.error = error


# ----------------------------------------------------------------------------- registry
_streams: OncePerKey[str, DefaultStream] = OncePerKey()


def default_stream(table: str) -> DefaultStream:
    """The process's one stream to a manifest table (created on first use)."""

    def make() -> DefaultStream:
        from shared.resources import manifest, table_id
        from shared.settings import get_settings

        dataset = manifest().table(table)["dataset"]
        return DefaultStream(table_id(get_settings().project_id, dataset, table), row_codec(table))

    return _streams.get(table, make)


def table_writer(table: str, **options: Any) -> StorageWriter:
    """A writer of a manifest table over the process's one stream to it.

    ``options`` are :class:`StorageWriter`'s (``group_commit``, ``max_wait_s``...). Callers
    keep the writer they get (one per table per instance); writers share the stream.
    """
    stream = default_stream(table)
    return StorageWriter(stream.table_id, stream, row_codec(table).encode, **options)


def reset() -> None:
    """Close every stream (tests; after a fork)."""
    for stream in _streams.clear():
        stream.close()
