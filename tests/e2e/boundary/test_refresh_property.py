"""Property at the refresh function's HTTP boundary: 1,000 generated ``refresh-requests`` pushes
(binary and structured CloudEvents, wrapped pushes, bodies that are not CloudEvents; scheduler
ticks of known and unknown schedules, random run ids, table names, dry-run and other flags,
unknown tables and fields, bad JSON) each end as a row, a dead letter plus 2xx, a 4xx, or a 5xx
that a retry cures; checked in BigQuery right after the answers, with the machine loaded.

"A row" here: an audit row in ``ops.refresh_runs`` of the request's run id: the ``run_id`` it
names, else the one derived from its Pub/Sub message id (a scheduler tick names none). A run
writes one per table attempt, a ``skipped`` row per disabled table, and one ``(no table)`` row
when it selects nothing (a schedule no table follows).

Cost: a batch holds 2-6 dry runs (of 1-2 tables or of a schedule's), junk (each with one flaw:
a dead letter) and, about one batch in four, one real refresh of one table, so real runs never
overlap (no lease conflicts, no delayed retries left behind) and the test stays in budget.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.stack import LocalStack
from shared.refresh import definitions
from shared.refresh.request import run_id_for_message
from tests.e2e.boundary import harness

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("refresh_retries_purged")]
TOTALS: dict[str, int] = {}
TABLES = sorted(definitions.load())
LEAF = "uploads_by_customer"
"""The table real runs refresh (no dependents: a real run touches only it)."""

text = st.text(max_size=20)
flag = st.sampled_from([False, False, True])  # True widens the run
JUNK = {  # one flaw that makes a request invalid (dead letter) or names an unknown table
    "zzz": 1,
    "dry_run": "yes",
    "tables": ["no_such_table"],
    "run_id": "a b",
    "schedule": "bad name",
    "run_type": "nope",
    "concurrency": 99,
    "as_of": "not-a-date",
    "with_dependents": "yes",
    "test": [],
}


@st.composite
def refresh_body(draw: st.DrawFn, kind: str) -> Any:
    """A refresh request of ``kind``: "run" (a dry run: of 1-2 tables, or of a schedule no
    table follows), "real" (a real run of LEAF), "junk" (invalid: a dead letter)."""
    body: dict[str, Any] = {}
    if draw(st.booleans()):  # scheduler ticks name no run id
        body["run_id"] = draw(st.sampled_from([f"bq-{uuid.uuid4().hex[:16]}", ""]))
    if kind == "real":
        return body | {"tables": [LEAF], "run_type": "manual"}
    body["dry_run"] = True
    if draw(st.booleans()):
        body["tables"] = draw(st.lists(st.sampled_from(TABLES), min_size=1, max_size=2))
    else:  # schedules no table follows; "daily" (a dry run of all five) is left to tests/e2e
        body["schedule"] = draw(st.sampled_from(["hourly", "weekly"]))
        body["run_type"] = "scheduled"
    for key in ("with_dependents", "with_dependencies", "full_refresh"):
        body[key] = draw(flag)
    extra = draw(st.sampled_from([{}, {"as_of": "2026-01-01"}, {"customer_id": "c-1"}]))
    body |= extra | draw(st.sampled_from([{}, {"concurrency": 2}, {"run_type": "backfill"}]))
    if kind == "run":
        return body
    flaw = draw(st.sampled_from([*JUNK, "not-an-object"]))
    if flaw == "not-an-object":
        return draw(st.one_of(st.lists(harness.json_scalar, max_size=2), harness.json_scalar))
    return body | {flaw: JUNK[flaw]}


@st.composite
def message(draw: st.DrawFn, kind: str) -> tuple[Any, str | None]:
    """The push's ``data`` field and the run id it names (None: derived from the message)."""
    if kind == "junk" and draw(st.integers(0, 5)) == 5:
        return base64.b64encode(draw(st.binary(max_size=60))).decode(), None
    body = draw(refresh_body(kind))
    run_id = (body.get("run_id") or None) if isinstance(body, dict) else None
    return base64.b64encode(json.dumps(body).encode()).decode(), run_id


@st.composite
def request(draw: st.DrawFn, project: str, kind: str) -> harness.Sent:
    data, run_id = draw(message(kind))
    attributes = {"origin": "cloud-scheduler"} if draw(st.booleans()) else {}
    sent = draw(harness.pubsub_request(project, "refresh-requests", data, attributes))
    # the run id the function uses: the one named, else derived from the message id (the
    # CloudEvent id; for a wrapped push the message id is that id too)
    if run_id is not None:
        sent.key = run_id
    elif sent.event_id is not None:
        sent.key = run_id_for_message(_message_id(sent) or sent.event_id)
    return sent


def _message_id(sent: harness.Sent) -> str | None:
    try:
        envelope = json.loads(sent.body)
        message_id = envelope.get("data", envelope)["message"].get("messageId")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return message_id if isinstance(message_id, str) else None


@st.composite
def batch_of(draw: st.DrawFn, project: str) -> list[harness.Sent]:
    """1-3 dry runs, junk, and (about one batch in four) a real run: a dry run costs a few
    BigQuery round trips, a dead letter one append."""
    runs = draw(st.integers(1, 3))  # 1-3 s each: 2-6 per batch made this test ~2 min
    real = draw(st.integers(0, 3)) == 3  # hypothesis draws 0 often: 3 is the rare case
    kinds = ["run"] * runs + ["junk"] * (harness.BATCH - runs - 1) + ["real" if real else "junk"]
    return [draw(request(project, kind)) for kind in kinds]


loaded = harness.loaded_fixture("refresh", TOTALS)


@pytest.mark.timeout(600)  # ~135 s at load 8 on 2 cores: the function serves 4 at a time
def test_every_refresh_request_ends_in_a_row_a_dead_letter_or_an_honest_status(
    stack: LocalStack, loaded: None
) -> None:
    url = stack.function_url("refresh")
    rows_sql = (
        f"SELECT run_id AS key FROM `{stack.project}.ops.refresh_runs` "
        "WHERE run_id IN UNNEST(@keys)"
    )

    @harness.batches
    @given(batch_of(stack.project))
    def check(batch: list[harness.Sent]) -> None:
        harness.post_all(url, batch, workers=8)
        harness.check_outcomes(stack, batch, rows_sql=rows_sql, function="refresh", totals=TOTALS)

    check()
    harness.assert_covered(TOTALS)
