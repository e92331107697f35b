"""Property at the webhooks function's HTTP boundary: 1,000 generated Pub/Sub push requests
(binary and structured ``messagePublished`` CloudEvents and raw push wrappers; random sources,
event types, attributes, base64 / non-base64 data, JSON / non-JSON bodies, oversize) each end as
a row, a dead letter plus 2xx, a 4xx, or a 5xx that a retry cures; checked in BigQuery right
after the answers, with the machine loaded.

"A row" here: a ``warehouse.integration_raw_data`` row whose ``message_id`` is the request's
Pub/Sub message id (the CloudEvent id when the message carries none). Every accepted message
lands there, typed or not (an unknown source or event type is kept raw, never dropped); the
typed tables come on top for mapped events.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.stack import LocalStack
from shared.webhooks import contract, samples
from tests.e2e.boundary import harness

pytestmark = pytest.mark.stack
TOTALS: dict[str, int] = {}
SAMPLES = {name: samples.load(name) for name in samples.names()}

text = st.text(max_size=30)
json_value = st.recursive(
    harness.json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)
sources = st.one_of(
    st.sampled_from(["shopify", "stripe", "github", "adplatform", "meta_ads", "shop", "payments"]),
    st.sampled_from(["unknown-src", "Bad Source", "x", ""]),
    text,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


NON_SAMPLE: dict[str, st.SearchStrategy[Any]] = {
    "object": st.dictionaries(text, json_value, max_size=5).map(
        lambda v: b64(json.dumps(v).encode())
    ),
    "bytes": st.binary(max_size=200).map(b64),
    "scalar": json_value.map(lambda v: b64(json.dumps(v).encode())),
    "not-base64": st.sampled_from(["not base64!", "YWJj=x", "%%%"]),
    "raw": harness.json_scalar,  # a number, a bool, null or a non-base64 text
    "oversize": st.just(b64(b'{"pad": "' + b"x" * (contract.MAX_MESSAGE_BYTES + 10) + b'"}')),
}


@st.composite
def message_data(draw: st.DrawFn) -> tuple[Any, dict[str, str]]:
    """The message's ``data`` field (usually base64) and the attributes it came with."""
    kind = draw(
        st.sampled_from(
            ["sample"] * 16
            + ["object"] * 8
            + ["bytes", "scalar", "not-base64", "raw"] * 3
            + ["oversize"]  # about one a batch: 1.4 MB each
        )
    )
    if kind == "sample":
        body, attributes = SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))]
        if draw(st.booleans()):  # a re-sent or edited webhook: new content, same routing
            payload = json.loads(body)
            payload[draw(st.sampled_from(["note", "id", "type", "created_at"]))] = draw(json_value)
            body = json.dumps(payload).encode()
        return b64(body), attributes
    return draw(NON_SAMPLE[kind]), {}


@st.composite
def body_and_attributes(draw: st.DrawFn) -> tuple[Any, dict[str, Any] | Any]:
    """The message's ``data`` field and its attributes (random sources, types, ids, shapes)."""
    data, given_attributes = draw(message_data())
    sample = bool(given_attributes)
    attributes: dict[str, Any] = dict(given_attributes)
    if not sample or draw(st.sampled_from([False, False, True])):
        attributes["source"] = draw(sources)
    for name in ("event_type", "event_id", "delivery_id", "received_at"):
        choice = draw(st.sampled_from(["keep", "keep", "keep", "drop", "random"]))
        if choice == "drop":
            attributes.pop(name, None)
        elif choice == "random":
            attributes[name] = draw(
                st.one_of(text, st.just("2026-01-01T00:00:00Z"), st.just("x" * 300))
            )
    attributes |= draw(st.dictionaries(text, text, max_size=2))
    shape = draw(st.sampled_from(["ok"] * 12 + ["non-string", "list", "none"]))
    if shape == "non-string" and attributes:
        attributes[next(iter(attributes))] = draw(st.one_of(st.integers(), st.none()))
    elif shape == "list":
        return data, list(attributes)
    elif shape == "none":
        return data, None
    return data, attributes


@st.composite
def request(draw: st.DrawFn, project: str) -> harness.Sent:
    data, attributes = draw(body_and_attributes())
    # a row is keyed by the message id (the CloudEvent id when the message has none)
    return draw(harness.pubsub_request(project, contract.TOPIC, data, attributes))


loaded = harness.loaded_fixture("webhooks", TOTALS)


def test_every_push_ends_in_a_row_a_dead_letter_or_an_honest_status(
    stack: LocalStack, loaded: None
) -> None:
    url = stack.function_url("webhooks")

    rows_sql = (
        f"SELECT message_id AS key FROM `{stack.project}.warehouse.integration_raw_data` "
        "WHERE message_id IN UNNEST(@keys)"
    )

    @harness.batches
    @given(st.lists(request(stack.project), min_size=harness.BATCH, max_size=harness.BATCH))
    def check(batch: list[harness.Sent]) -> None:
        harness.post_all(url, batch, workers=16)
        harness.check_outcomes(stack, batch, rows_sql=rows_sql, function="webhooks", totals=TOTALS)

    check()
    harness.assert_covered(TOTALS)
