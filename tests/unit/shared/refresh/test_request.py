"""request.parse: every problem of a body is listed, in one error, with its exact message."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.refresh import request


def _problems(body: Any) -> list[str]:
    with pytest.raises(request.RequestError) as caught:
        request.parse(body)
    return caught.value.problems


def test_a_valid_body_round_trips() -> None:
    body = {
        "run_id": "run:1.x",
        "run_type": "backfill",
        "schedule": "nightly",
        "tables": ["a", "b"],
        "with_dependents": True,
        "dry_run": True,
        "as_of": "2026-03-20",
        "customer_id": "c-1",
        "concurrency": 4,
        "invocation": 2,
        "shadow": ["b"],
        "delayed_attempt": 1,
        "test": {"fail": "a"},
    }
    parsed = request.parse(body)
    assert parsed.as_of == date(2026, 3, 20) and parsed.tables == ("a", "b")
    assert parsed.concurrency == 4 and parsed.invocation == 2 and parsed.delayed_attempt == 1
    assert request.parse(parsed.to_json()) == parsed


def test_defaults() -> None:
    parsed = request.parse({}, default_run_type="scheduled")
    assert parsed.run_id.startswith("run-") and parsed.run_type == "scheduled"
    assert (parsed.concurrency, parsed.invocation, parsed.delayed_attempt) == (None, 0, 0)
    assert parsed.tables is None and parsed.shadow == () and parsed.test == {}


# (field, invalid value, its problem), in the order parse reports them
INVALID: list[tuple[str, Any, str]] = [
    ("extra", 1, "unknown fields ['extra']"),
    ("run_id", "has space", "run_id must be 1-100 characters of [A-Za-z0-9_.:-]"),
    ("run_type", "weekly", f"run_type must be one of {request.RUN_TYPES}"),
    ("schedule", "1x", "schedule must be a name"),
    ("tables", ["ok", "no-dash"], "tables must be a list of table names"),
    ("dry_run", "yes", "dry_run must be true or false"),
    ("as_of", "tomorrow", "as_of must be an ISO date (YYYY-MM-DD)"),
    ("customer_id", "", "customer_id must be a string of 1-128 characters"),
    ("concurrency", 33, "concurrency must be an integer in [1, 32]"),
    ("invocation", None, "invocation must be an integer in [0, 1000]"),  # null is no default
    ("shadow", "a", "shadow must be a list of table names"),
    ("delayed_attempt", True, "delayed_attempt must be an integer in [0, 10]"),
    ("test", [], "test must be an object"),
]


def test_every_problem_is_listed() -> None:
    body = {key: value for key, value, _ in INVALID}
    assert _problems(body) == [problem for _, _, problem in INVALID]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "the request must be a JSON object"),
        ({"concurrency": 0}, "concurrency must be an integer in [1, 32]"),
        ({"concurrency": True}, "concurrency must be an integer in [1, 32]"),
        ({"invocation": 1001}, "invocation must be an integer in [0, 1000]"),
        ({"delayed_attempt": -1}, "delayed_attempt must be an integer in [0, 10]"),
        ({"tables": ["t"] * 501}, "tables: at most 500 tables"),
        ({"customer_id": "c" * 129}, "customer_id must be a string of 1-128 characters"),
    ],
)
def test_bounds(body: Any, problem: str) -> None:
    assert _problems(body) == [problem]


def test_null_is_absent_where_the_default_is_null() -> None:
    parsed = request.parse({"concurrency": None, "schedule": None, "as_of": None})
    assert parsed.concurrency is None and parsed.schedule is None and parsed.as_of is None


@pytest.mark.parametrize("key", ["run_id", "schedule"])
def test_a_trailing_newline_is_not_a_valid_name(key: str) -> None:
    # re.match with "$" accepts "x\n": the API answered 202 and published a run id with "\n"
    assert any(key in p for p in _problems({key: "daily\n"}))
    assert any("tables" in p for p in _problems({"tables": ["campaign_roi_daily\n"]}))


def test_the_api_answers_400_for_json_nested_too_deep_to_parse() -> None:
    from shared.refresh import api

    with pytest.raises(api.ApiError) as caught:
        api._json_body(b"[" * 30_000 + b"]" * 30_000)  # RecursionError was a 500
    assert caught.value.status == 400
