"""HTTP-boundary property harness: send a batch of generated requests to a function at once,
then read BigQuery right after the answers and check every input ended one of four ways:

(a) a row, (b) a dead letter with a reason plus a 2xx, (c) a 4xx for a malformed request,
(d) a 5xx only for a transient failure: re-sent as the platform would, it ends (a)-(c).

Inputs are batched (``BATCH`` per hypothesis example, sent concurrently) so 1,000 inputs per
function stay within the CI budget; a CPU load runs beside them (:func:`machine_load`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from devstack.stack import LocalStack
from shared.events import PUBSUB_PUBLISHED

BATCH = 50
RESENDS = 3
EXAMPLES = 1000 // BATCH  # hypothesis examples per function: >= 1,000 requests

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
"""A JSON scalar where a field wants something else (NaN and infinities included: json.dumps
writes them as tokens a strict parser refuses)."""

# One hypothesis example is a batch of BATCH requests. No shrinking: shrinking a 50-request batch
# costs minutes and the servers keep state between examples, so a failing batch is reported whole.
batches = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=(Phase.generate,),
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Sent:
    """One generated HTTP request and what became of it."""

    headers: dict[str, str]
    body: bytes
    event_id: str | None  # the CloudEvent id, under which a dead letter would be found
    key: str | None = None  # the key of the request's row (default: the event id)
    path: str = ""  # appended to the function's URL (a Pub/Sub push names its topic there)
    statuses: list[int] = field(default_factory=list)

    @property
    def row_key(self) -> str | None:
        return self.key or self.event_id

    @property
    def final(self) -> int:
        return self.statuses[-1]


class Resent(Protocol):
    statuses: list[int]


def send_concurrently[T: Resent](
    items: list[T], send_once: Callable[[requests.Session, T], int], workers: int
) -> None:
    """Send every item concurrently (``send_once`` returns the status); re-send a 5xx or a
    dropped connection (kept as 599) like a retrying client, at most RESENDS times, in order.
    Every status is kept: the last one is the answer."""

    def send(item: T) -> None:
        with requests.Session() as session:
            for _ in range(1 + RESENDS):
                try:
                    item.statuses.append(send_once(session, item))
                except requests.ConnectionError:
                    # an oversize body refused unread (413 + Connection: close) can reset the
                    # connection while we still send: re-sent, never counted as an answer
                    item.statuses.append(599)
                if item.statuses[-1] < 500:
                    return

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, items))


def post_all(url: str, batch: list[Sent], workers: int = 8) -> None:
    """POST every request concurrently; re-send 5xx answers (platform retry)."""

    def once(session: requests.Session, item: Sent) -> int:
        answer = session.post(url + item.path, data=item.body, headers=item.headers, timeout=120)
        return answer.status_code

    send_concurrently(batch, once, workers)


def written(
    stack: LocalStack,
    batch: list[Sent],
    *,
    function: str,
    rows_sql: str | None = None,
    rows_for: Callable[[list[str]], set[str]] | None = None,
) -> tuple[set[str], set[str]]:
    """(row keys found, event ids with a dead letter) for a batch, in ONE query when the rows
    are in BigQuery: ``rows_sql`` selects a ``key`` column of the keys in ``@keys``. A
    function whose record is elsewhere (Firestore) gives ``rows_for(keys) -> found keys``."""
    ids = sorted({s.event_id for s in batch if s.event_id})
    keys = sorted({s.row_key for s in batch if s.row_key})
    letters_sql = (
        f"SELECT 'dead_letter' AS kind, event_id AS key FROM `{stack.project}.ops.dead_letters` "
        "WHERE function = @f AND event_id IN UNNEST(@ids) AND reason IS NOT NULL"
    )
    params: dict[str, object] = {"f": function, "ids": ids or [""]}  # typed even when empty
    if rows_sql is not None:
        sql = f"SELECT 'row' AS kind, key FROM ({rows_sql}) UNION ALL {letters_sql}"
        params["keys"] = keys or [""]
    else:
        sql = letters_sql
    # first the other store: a row drained from it to BigQuery is there before it leaves it
    rows = rows_for(keys) if rows_for is not None and keys else set()
    found = stack.query(sql, params)
    rows |= {r["key"] for r in found if r["kind"] == "row"}
    return rows, {r["key"] for r in found if r["kind"] == "dead_letter"}


def check_outcomes(
    stack: LocalStack,
    batch: list[Sent],
    *,
    function: str,
    rows_sql: str | None = None,
    rows_for: Callable[[list[str]], set[str]] | None = None,
    totals: dict[str, int] | None = None,
) -> dict[str, int]:
    """Assert (a)-(d) for every request; return how many ended which way (also added to
    ``totals``, the test's running count)."""
    with_rows, letters = written(
        stack, batch, function=function, rows_sql=rows_sql, rows_for=rows_for
    )
    tally = {"row": 0, "dead_letter": 0, "4xx": 0, "5xx_then_ok": 0}
    for item in batch:
        assert item.final < 500, f"5xx that a retry did not cure: {item.statuses} {item.headers}"
        if len(item.statuses) > 1:
            tally["5xx_then_ok"] += 1
        if 400 <= item.final < 500:
            tally["4xx"] += 1
            continue
        assert 200 <= item.final < 300, item.statuses
        assert item.event_id, f"a 2xx for a request without an event id: {item.headers}"
        if item.row_key in with_rows:
            tally["row"] += 1
        elif item.event_id in letters:
            tally["dead_letter"] += 1
        else:
            raise AssertionError(
                f"2xx with nothing written: event {item.event_id} headers={item.headers} "
                f"body={item.body[:300]!r}"
            )
    if totals is not None:
        for key, value in tally.items():
            totals[key] = totals.get(key, 0) + value
    return tally


def assert_covered(
    totals: dict[str, int], kinds: tuple[str, ...] = ("row", "dead_letter", "4xx")
) -> None:
    """At least 1,000 requests answered (each counted once, however many 5xx it met first),
    and each of ``kinds`` seen at least once: a property run that never reached a branch
    proves nothing about it."""
    answered = sum(totals.get(k, 0) for k in ("row", "dead_letter", "4xx"))
    assert answered >= EXAMPLES * BATCH, f"only {answered} requests answered: {totals}"
    assert all(totals.get(k, 0) > 0 for k in kinds), totals


@contextlib.contextmanager
def machine_load(processes: int = 1) -> Iterator[None]:
    """Busy CPU beside the test (niced): the issue's losses showed only on a loaded machine."""
    burners = [
        subprocess.Popen(
            [sys.executable, "-c", "import os\nos.nice(5)\nwhile True: pass"],
            stdin=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    try:
        yield
    finally:
        for proc in burners:
            proc.kill()
            proc.wait(10)


@st.composite
def pubsub_request(
    draw: st.DrawFn,
    project: str,
    topic: str,
    data: Any,
    attributes: Any,
    *,
    key: str | None = None,
) -> Sent:
    """One Pub/Sub push of a message (``data``: its base64 data field, or anything) to a
    ``@cloud_event`` function, in a random mode: a binary or structured ``messagePublished``
    CloudEvent (sometimes of another type), the wrapped push body Pub/Sub sends (converted by
    functions-framework), a request without ``ce-id`` (read as a wrapped push), or a body
    that is not JSON. ``key`` is the row key; default: the message id, else the CloudEvent id.
    """
    event_id = uuid.uuid4().hex
    message_id = draw(st.sampled_from([uuid.uuid4().hex, uuid.uuid4().hex, None]))
    message: dict[str, Any] = {"data": data, "attributes": attributes}
    if message_id is not None:
        message["messageId"] = message_id
    if draw(st.booleans()):
        message["publishTime"] = draw(st.sampled_from(["2026-01-01T00:00:00.123Z", "yesterday"]))
    topic_path = f"projects/{project}/topics/{topic}"
    envelope = {"message": message, "subscription": f"projects/{project}/subscriptions/{topic}"}
    mode = draw(st.sampled_from(["binary", "structured", "push", "no-id", "bad-json"]))
    if mode in ("push", "no-id"):
        # a wrapped push: its CloudEvent id is the message id; without one it is neither a
        # CloudEvent nor a push (400). Without ce-id functions-framework reads it so too.
        headers = {"content-type": "application/json"}
        if mode == "no-id":
            headers |= {"ce-specversion": "1.0", "ce-type": PUBSUB_PUBLISHED, "ce-source": "//x"}
        path = f"/{topic_path}" if mode == "push" else ""
        return Sent(headers, json.dumps(envelope).encode(), message_id, key, path=path)
    attributes_ce = {
        "id": event_id,
        "type": draw(st.sampled_from([PUBSUB_PUBLISHED] * 7 + ["com.example.other"])),
        "source": f"//pubsub.googleapis.com/{topic_path}",
        "time": "2026-01-01T00:00:00Z",
    }
    key = key or message_id or event_id
    if mode in ("binary", "structured"):
        event = CloudEvent(attributes_ce, envelope)
        headers, body = (to_binary if mode == "binary" else to_structured)(event)
        headers = {k: str(v) for k, v in headers.items()}
        if mode == "binary":
            headers["content-type"] = draw(
                st.sampled_from(["application/json", "application/json; charset=utf-8"])
            )
        return Sent(headers, bytes(body or b""), event_id, key)
    headers = {f"ce-{k}": v for k, v in attributes_ce.items()} | {"ce-specversion": "1.0"}
    headers["content-type"] = draw(
        st.sampled_from(["application/json", "application/cloudevents+json", "text/plain"])
    )
    return Sent(headers, b'{"message": {"data": ' + draw(st.binary(max_size=20)), event_id, key)


@contextlib.contextmanager
def loaded_machine(label: str, totals: dict[str, int]) -> Iterator[None]:
    """The machine loaded for a module's property test; its outcome tally printed at the end."""
    with machine_load():
        yield
    print(f"\n{label} boundary outcomes over {sum(totals.values())} requests: {totals}")


def loaded_fixture(label: str, totals: dict[str, int]) -> Any:
    """A module-scoped fixture that keeps the machine loaded (:func:`loaded_machine`) while
    the module's property test runs: ``loaded = harness.loaded_fixture("uploads", TOTALS)``."""

    @pytest.fixture(scope="module")
    def loaded() -> Iterator[None]:
        with loaded_machine(label, totals):
            yield

    return loaded
