"""Property at the quotas function's HTTP boundary: 1,000 generated ``pipeline-events`` pushes
(binary and structured CloudEvents, wrapped pushes, bodies that are not CloudEvents; lifecycle
events of known, suspended, unknown and malformed customers, follow-ups of earlier runs, random
fields, bad JSON) each end as a row, a dead letter plus 2xx, a 4xx, or a 5xx that a retry cures;
checked right after the answers, with the machine loaded.

"A row" here: the usage event the decision wrote (``admitted`` / ``refused`` / ``duplicate`` for
``started``, ``heartbeat``, ``released`` / ``finish`` for ``completed`` / ``failed``), keyed by
(customer, run id, phase). It is committed in Firestore's outbox with the state change before
the 2xx and drained to ``customers.quota_usage_events`` right after, so the check reads the
outbox first, then BigQuery (a drained row reaches BigQuery before it leaves the outbox).

Scheduler sweep ticks (``{"type": "sweep"}``) are sent only with unknown sweep names (dead
letters): a valid sweep rebuilds the whole record and is covered by tests/e2e/quotas.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.stack import LocalStack
from shared.quotas import customers, outbox, store
from tests.e2e.boundary import harness

pytestmark = pytest.mark.stack
TOTALS: dict[str, int] = {}
RUN = uuid.uuid4().hex[:6]
ACTIVE = f"bq-active-{RUN}"
SUSPENDED = f"bq-suspended-{RUN}"
EARLIER: list[tuple[str, str]] = []
"""(customer, run id) of ``started`` events answered 2xx in earlier batches: follow-ups."""
PHASE = {"admitted": "start", "refused": "start", "duplicate": "start"}
PHASE |= {"released": "end", "finish": "end", "heartbeat": "heartbeat"}

text = st.text(max_size=20)
bad_ids = st.sampled_from(["", "bad/../id", "x" * 129, " lead", 7, None, ["a"]])


def event_key(customer: object, run_id: object, phase: str) -> str:
    return f"{customer}|{run_id}|{phase}"


@st.composite
def lifecycle_body(draw: st.DrawFn) -> tuple[Any, str | None]:
    """A message body and the key of the usage event it should write (None: no event)."""
    kind = draw(st.sampled_from(["started"] * 6 + ["heartbeat"] * 2 + ["completed", "failed"]))
    # the same draws whatever EARLIER holds (hypothesis replays draws; EARLIER is outside it)
    follow, pick = draw(st.booleans()), draw(st.integers(0, 2**16))
    customer = draw(
        st.sampled_from([ACTIVE] * 4 + [SUSPENDED, f"bq-unknown-{uuid.uuid4().hex[:8]}"])
    )
    run_id = f"r-{uuid.uuid4().hex[:12]}"
    if follow and kind != "started" and EARLIER:
        customer, run_id = EARLIER.pop(pick % len(EARLIER))
    body: dict[str, Any] = {"type": kind, "customer_id": customer, "run_id": run_id}
    if kind == "started":
        body["pipeline"] = draw(st.sampled_from(["ingest", "daily.rollup", "p:1"]))
    if draw(st.booleans()):
        body["lease_seconds"] = draw(
            st.one_of(st.integers(1, 86_400), st.sampled_from([0, -1, 86_401, "60", 1.5, True]))
        )
    if draw(st.integers(0, 9)) == 9:  # a malformed id: dead letter (hypothesis draws 0 often)
        body[draw(st.sampled_from(["customer_id", "run_id", "pipeline"]))] = draw(bad_ids)
    if draw(st.integers(0, 9)) == 9:
        body[draw(text)] = draw(harness.json_scalar)  # unknown fields are ignored
    phase = {"started": "start", "heartbeat": "heartbeat"}.get(kind, "end")
    return body, event_key(body.get("customer_id"), body.get("run_id"), phase)


@st.composite
def message(draw: st.DrawFn) -> tuple[Any, str | None]:
    """The push's ``data`` field and the row key."""
    shape = draw(st.sampled_from(["lifecycle"] * 12 + ["other"] * 3 + ["bytes", "not-base64"]))
    if shape == "lifecycle":
        body, key = draw(lifecycle_body())
        return base64.b64encode(json.dumps(body).encode()).decode(), key
    if shape == "other":
        body = draw(
            st.one_of(
                st.fixed_dictionaries({"type": st.just("sweep"), "sweep": text}),
                st.fixed_dictionaries({"type": text}),
                st.lists(harness.json_scalar, max_size=3),
                harness.json_scalar,
            )
        )
        return base64.b64encode(json.dumps(body).encode()).decode(), None
    if shape == "bytes":
        return base64.b64encode(draw(st.binary(max_size=100))).decode(), None
    return draw(st.sampled_from(["not base64!", "%%%"])), None


@st.composite
def request(draw: st.DrawFn, project: str) -> harness.Sent:
    data, key = draw(message())
    attributes = draw(st.one_of(st.just({}), st.dictionaries(text, text, max_size=2)))
    # no key: nothing but a dead letter (or a 4xx) is acceptable
    return draw(
        harness.pubsub_request(project, "pipeline-events", data, attributes, key=key or "-")
    )


def outbox_keys(stack: LocalStack) -> set[str]:
    """Usage events still in Firestore's outbox (not drained to BigQuery yet)."""
    found = set()
    for snap in stack.firestore().collection(store.OUTBOX).stream():
        for row in outbox.rows_of(snap.to_dict() or {}):
            phase = PHASE.get(str(row.get("kind")))
            if phase:
                found.add(event_key(row.get("customer_id"), row.get("run_id"), phase))
    return found


@pytest.fixture(scope="module")
def loaded(stack: LocalStack) -> Iterator[None]:
    customers.upsert_customer(ACTIVE, "STARTER", daily_limit=100_000, concurrent_limit=100_000)
    customers.upsert_customer(SUSPENDED, "STARTER", status="SUSPENDED")
    with harness.loaded_machine("quotas", TOTALS):
        yield


def test_every_pipeline_event_ends_in_a_row_a_dead_letter_or_an_honest_status(
    stack: LocalStack, loaded: None
) -> None:
    url = stack.function_url("quotas")
    rows_sql = (
        "SELECT key FROM (SELECT CONCAT(customer_id, '|', IFNULL(run_id, ''), '|', "
        "CASE WHEN kind IN ('admitted', 'refused', 'duplicate') THEN 'start' "
        "WHEN kind IN ('released', 'finish') THEN 'end' ELSE kind END) AS key "
        f"FROM `{stack.project}.customers.quota_usage_events`) WHERE key IN UNNEST(@keys)"
    )

    @harness.batches
    @given(st.lists(request(stack.project), min_size=harness.BATCH, max_size=harness.BATCH))
    def check(batch: list[harness.Sent]) -> None:
        harness.post_all(url, batch, workers=16)
        harness.check_outcomes(
            stack,
            batch,
            rows_sql=rows_sql,
            rows_for=lambda keys: outbox_keys(stack) & set(keys),
            function="quotas",
            totals=TOTALS,
        )
        for item in batch:
            body = _lifecycle(item)
            if body and body.get("type") == "started" and 200 <= item.final < 300:
                EARLIER.append((body["customer_id"], body["run_id"]))

    check()
    harness.assert_covered(TOTALS)


def _lifecycle(item: harness.Sent) -> dict[str, Any] | None:
    """The lifecycle body a request carried, if it was well-formed enough to read back."""
    try:
        envelope = json.loads(item.body)
        data = envelope.get("data", envelope)["message"]["data"]
        body = json.loads(base64.b64decode(data, validate=True))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    ids = (body.get("customer_id"), body.get("run_id")) if isinstance(body, dict) else ()
    return body if all(isinstance(i, str) and i for i in ids) and ids else None
