"""The one value -> query parameter converter."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from google.cloud import bigquery

from shared.bigquery.params import parameter_type, to_parameter, to_parameters, typed


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("x", "STRING"),
        (None, "STRING"),
        (True, "BOOL"),
        (False, "BOOL"),
        (7, "INT64"),
        (1.5, "FLOAT64"),
        (Decimal("1.25"), "NUMERIC"),
        (b"\x00\x01", "BYTES"),
        (dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), "TIMESTAMP"),
        (dt.date(2026, 1, 2), "DATE"),
    ],
)
def test_scalars(value: Any, kind: str) -> None:
    param = to_parameter("p", value)
    assert isinstance(param, bigquery.ScalarQueryParameter)
    assert (param.name, param.type_, param.value) == ("p", kind, value)


@pytest.mark.parametrize(
    ("value", "kind", "values"),
    [
        ([1, 2, 3], "INT64", [1, 2, 3]),  # integer lists stay integers (one of the old drifts)
        ((1, 2.5), "FLOAT64", [1.0, 2.5]),
        (["a", None, "b"], "STRING", ["a", None, "b"]),
        ([], "STRING", []),
        ([True], "BOOL", [True]),
        ([dt.date(2026, 1, 1)], "DATE", [dt.date(2026, 1, 1)]),
    ],
)
def test_arrays(value: Any, kind: str, values: list[Any]) -> None:
    param = to_parameter("a", value)
    assert isinstance(param, bigquery.ArrayQueryParameter)
    assert (param.array_type, param.values) == (kind, values)


def test_typed_nulls_and_empty_arrays() -> None:
    null_int = to_parameter("n", typed(None, "int64"))
    assert (null_int.type_, null_int.value) == ("INT64", None)
    assert to_parameter("b", typed(None, "BOOLEAN")).type_ == "BOOL"
    empty = to_parameter("e", typed([], "ARRAY<INT64>"))
    assert (empty.array_type, empty.values) == ("INT64", [])
    assert to_parameter("f", typed(3, "FLOAT64")).value == 3.0


def test_api_representation_is_what_bigquery_expects() -> None:
    rep = to_parameter("ids", [1, 2]).to_api_repr()
    assert rep["parameterType"] == {"type": "ARRAY", "arrayType": {"type": "INT64"}}
    assert [v["value"] for v in rep["parameterValue"]["arrayValues"]] == ["1", "2"]


@pytest.mark.parametrize("value", [object(), {"a": 1}, [1, "a"], [object()]])
def test_unknown_or_mixed_types_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        to_parameter("x", value)


@pytest.mark.parametrize("kind", ["STRUCT", "ARRAY<ARRAY<INT64>>", "", "VARCHAR"])
def test_unknown_explicit_types_are_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        typed(1, kind)


def test_to_parameters_keeps_names_and_order() -> None:
    params = to_parameters({"b": 1, "a": "x", "c": [1]})
    assert [p.name for p in params] == ["b", "a", "c"]
    assert to_parameters(None) == []
    assert parameter_type([1.0]) == "ARRAY<FLOAT64>"
