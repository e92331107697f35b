"""Each rule of the strict BigQuery layer fires through the official client, and our retry
policy survives the transient ones with exact rows.

The layer runs here in-process in front of the session stack's raw emulator, so these tests
prove the rules whether the stack itself runs strict (BIGQUERY_STRICT) or not.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from devstack.stack import LocalStack
from devstack.strict import StrictBigQuery, StrictControl
from devstack.strict_rules import StrictConfig
from shared.errors import is_transient
from shared.retry import RetryPolicy, call_with_retry

pytestmark = pytest.mark.stack
DATASET = "strict_rules"
FAST = RetryPolicy(attempts=40, initial_s=0.05, maximum_s=1.0, deadline_s=90)


@pytest.fixture(scope="module")
def layer(stack: LocalStack) -> Iterator[StrictBigQuery]:
    with StrictBigQuery(stack.bigquery_upstream, StrictConfig(buffer_s=3600)) as strict:
        yield strict


@pytest.fixture(scope="module")
def client(stack: LocalStack, layer: StrictBigQuery) -> bigquery.Client:
    bq = bigquery.Client(
        project=stack.project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=layer.url),
    )
    bq.create_dataset(DATASET, exists_ok=True)
    return bq


@pytest.fixture
def table(client: bigquery.Client, layer: StrictBigQuery) -> Iterator[str]:
    name = f"{DATASET}.t_{uuid.uuid4().hex[:8]}"
    client.query(f"CREATE TABLE {name} (id STRING, n INT64)").result()
    client.query(f"INSERT INTO {name} (id, n) VALUES ('a', 0), ('b', 0)").result()
    layer.gate.reset()
    yield name
    layer.config.update(StrictConfig().as_dict())


def run(client: bigquery.Client, sql: str, **params: Any) -> Any:
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(k, "INT64", v) for k, v in params.items()]
    )
    job = client.query(sql, job_config=config)
    job.result()
    return job


def rows(client: bigquery.Client, table: str) -> dict[str, int]:
    return {r["id"]: r["n"] for r in client.query_and_wait(f"SELECT id, n FROM {table}")}


def reason(exc: api_exceptions.GoogleAPICallError) -> str:
    return str(exc.errors[0]["reason"]) if exc.errors else ""


def test_dml_over_streamed_rows_is_refused_like_bigquery(
    client: bigquery.Client, table: str
) -> None:
    assert client.insert_rows_json(table, [{"id": "c", "n": 0}]) == []
    with pytest.raises(api_exceptions.BadRequest) as info:
        run(client, f"UPDATE {table} SET n = 1 WHERE id = 'c'")
    assert "would affect rows in the streaming buffer, which is not supported" in str(info.value)
    assert reason(info.value) == "invalidQuery"
    assert not is_transient(info.value)  # a design error: retrying cannot help
    assert rows(client, table)["c"] == 0


def test_overlapping_mutations_abort_and_our_retry_policy_recovers(
    client: bigquery.Client, table: str, layer: StrictBigQuery
) -> None:
    layer.config.update({"hold_s": 0.3})

    def add(i: int) -> None:
        call_with_retry(
            lambda: run(client, f"UPDATE {table} SET n = n + @d WHERE id = 'a'", d=i), FAST
        )

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(add, [1, 2, 3, 4]))
    counters = StrictControl(layer.url).counters()
    assert counters["conflicts_overlap"] >= 1
    assert counters["retried"] >= counters["conflicts_injected"]
    assert counters["lost"] == 0
    assert rows(client, table) == {"a": 10, "b": 0}  # every increment exactly once


def test_serialization_error_has_bigquerys_shape(
    client: bigquery.Client, table: str, layer: StrictBigQuery
) -> None:
    layer.config.update({"force_conflicts": {table: 1}})
    with pytest.raises(api_exceptions.BadRequest) as info:
        run(client, f"UPDATE {table} SET n = 5 WHERE id = 'b'")
    assert f"Could not serialize access to table {client.project}:{table}" in str(info.value)
    assert "due to concurrent update" in str(info.value)
    assert reason(info.value) == "invalidQuery"
    assert is_transient(info.value)
    assert rows(client, table)["b"] == 0  # the aborted statement changed nothing
    job = run(client, f"UPDATE {table} SET n = 5 WHERE id = 'b'")
    assert job.num_dml_affected_rows == 1


def test_beyond_twenty_queued_mutations_bigquery_refuses(
    client: bigquery.Client, table: str, layer: StrictBigQuery
) -> None:
    layer.config.update({"overlap_conflicts": False, "hold_s": 0.5, "max_queued": 2})
    errors: list[BaseException] = []

    def once(i: int) -> None:
        try:
            client.query(f"UPDATE {table} SET n = n + 1 WHERE id = 'a'", job_retry=None).result()
        except api_exceptions.GoogleAPICallError as exc:
            errors.append(exc)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(once, range(6)))
    assert errors, "6 concurrent statements with 2 running and 2 queued must refuse some"
    # a failed job maps rateLimitExceeded to 429; the REST answer (jobs.query) is a 403
    assert all(isinstance(e, api_exceptions.TooManyRequests) for e in errors)
    assert {reason(e) for e in errors if isinstance(e, api_exceptions.GoogleAPICallError)} == {
        "rateLimitExceeded"
    }
    assert all("Too many DML statements outstanding" in str(e) for e in errors)
    assert rows(client, table)["a"] == 6 - len(errors)


def test_sql_bigquery_refuses_is_refused(client: bigquery.Client, table: str) -> None:
    for sql, message in [
        (f"DELETE FROM {table}", "DELETE must have a WHERE clause"),
        ("SELECT * FROM t", "must be qualified with a dataset"),
        (f"SELECT @missing FROM {table}", "Query parameter 'missing' not found"),
    ]:
        with pytest.raises(api_exceptions.BadRequest, match=message):
            client.query(sql).result()
        with pytest.raises(api_exceptions.BadRequest, match=message):
            client.query_and_wait(sql)
    assert len(rows(client, table)) == 2


def test_dry_run_estimates_bytes(client: bigquery.Client, table: str) -> None:
    job = client.query(f"SELECT * FROM {table}", job_config=bigquery.QueryJobConfig(dry_run=True))
    assert job.total_bytes_processed is not None
    assert job.total_bytes_processed >= 10 * 1024 * 1024
    assert StrictControl(str(client._connection.API_BASE_URL)).counters()["dry_runs"] == 1
