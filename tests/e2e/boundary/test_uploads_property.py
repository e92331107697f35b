"""Property at the uploads function's HTTP boundary: 1,000 generated requests (binary and
structured CloudEvents, random content types, headers, bodies and object resources) each end
as a row, a dead letter plus 2xx, a 4xx, or a 5xx that a retry cures; checked in BigQuery right
after the answers, with the machine loaded."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from devstack.stack import LocalStack
from shared.events import STORAGE_DELETED, STORAGE_FINALIZED, STORAGE_METADATA_UPDATED
from tests.e2e.boundary import harness

pytestmark = pytest.mark.stack
TOTALS: dict[str, int] = {}

text = st.text(max_size=30)
digits = st.integers(min_value=0, max_value=2**63).map(str)


@st.composite
def object_resource(draw: st.DrawFn, bucket: str) -> dict[str, Any]:
    name = draw(
        st.one_of(
            st.builds(
                lambda c, r, k, f: f"c{c}/r{r}/{k}/{f}",
                st.integers(0, 99),
                st.integers(0, 99),
                st.sampled_from(["image", "audio", "video", "document", "other", ".."]),
                st.text(min_size=1, max_size=20),
            ),
            st.text(max_size=60),
        )
    )
    resource: dict[str, Any] = {
        "kind": "storage#object",
        "bucket": draw(st.one_of(st.just(bucket), text)),
        # unique, so a row is never an earlier event's row of the same object generation
        "name": f"{name}-{uuid.uuid4().hex[:8]}",
        "generation": draw(st.one_of(digits, st.integers(), harness.json_scalar)),
        "size": draw(st.one_of(digits, st.integers(-5, 10**12), harness.json_scalar)),
        "contentType": draw(st.one_of(st.none(), st.sampled_from(["image/jpeg", "text/plain"]))),
        "timeCreated": draw(st.one_of(st.just("2026-01-01T00:00:00Z"), text)),
        "updated": "2026-01-01T00:00:00Z",
    }
    metadata = draw(
        st.one_of(
            st.none(),
            st.dictionaries(text, text, max_size=5),
            st.just({f"key-{i:04d}": "v" * 50 for i in range(2000)}),  # issue 13: ~130 KB
            harness.json_scalar,
        )
    )
    if metadata is not None:
        resource["metadata"] = metadata
    for key in draw(st.sets(st.sampled_from(sorted(resource)), max_size=2)):
        del resource[key]  # missing fields
    return resource


@st.composite
def request(draw: st.DrawFn, bucket: str) -> harness.Sent:
    event_id = uuid.uuid4().hex
    ce_type = draw(
        st.sampled_from(
            [STORAGE_FINALIZED, STORAGE_FINALIZED, STORAGE_DELETED, STORAGE_METADATA_UPDATED, "x"]
        )
    )
    data: Any = draw(
        st.one_of(
            object_resource(bucket),
            object_resource(bucket),
            harness.json_scalar,
            st.lists(harness.json_scalar, max_size=3),
        )
    )
    attributes = {
        "id": event_id,
        "type": ce_type,
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "subject": "objects/x",
        "time": "2026-01-01T00:00:00Z",
    }
    mode = draw(st.sampled_from(["binary", "structured", "raw-bytes", "no-id", "bad-json"]))
    if mode in ("binary", "structured"):
        event = CloudEvent(attributes, data)
        headers, body = (to_binary if mode == "binary" else to_structured)(event)
        headers = {k: str(v) for k, v in headers.items()}
        if mode == "binary":
            headers["content-type"] = (
                draw(st.sampled_from(["application/json", "application/json; charset=utf-8", ""]))
                or "application/json"
            )
        return harness.Sent(headers, bytes(body or b""), event_id)
    if mode == "raw-bytes":
        headers = {f"ce-{k}": v for k, v in attributes.items()} | {"ce-specversion": "1.0"}
        headers["content-type"] = draw(st.sampled_from(["application/octet-stream", "text/plain"]))
        return harness.Sent(headers, draw(st.binary(max_size=200)), event_id)
    if mode == "no-id":
        headers = {f"ce-{k}": v for k, v in attributes.items() if k != "id"}
        headers |= {"ce-specversion": "1.0", "content-type": "application/json"}
        return harness.Sent(headers, json.dumps(data).encode(), None)
    headers = {f"ce-{k}": v for k, v in attributes.items()} | {"ce-specversion": "1.0"}
    headers["content-type"] = draw(
        st.sampled_from(["application/json", "application/cloudevents+json"])
    )
    return harness.Sent(
        headers, b'{"bucket": "x", "name": ' + draw(st.binary(max_size=20)), event_id
    )


loaded = harness.loaded_fixture("uploads", TOTALS)


def test_every_request_ends_in_a_row_a_dead_letter_or_an_honest_status(
    stack: LocalStack, loaded: None
) -> None:
    bucket = stack.buckets.get("uploads", "uploads")
    url = stack.function_url("uploads")

    rows_sql = (
        f"SELECT event_id AS key FROM `{stack.project}.warehouse.media_files` "
        "WHERE event_id IN UNNEST(@keys)"
    )

    @harness.batches
    @given(st.lists(request(bucket), min_size=harness.BATCH, max_size=harness.BATCH))
    def check(batch: list[harness.Sent]) -> None:
        harness.post_all(url, batch)
        harness.check_outcomes(stack, batch, rows_sql=rows_sql, function="uploads", totals=TOTALS)

    check()
    harness.assert_covered(TOTALS, kinds=("row", "dead_letter"))
