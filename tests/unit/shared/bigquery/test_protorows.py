"""Runtime protobuf descriptors from BigQuery JSON schemas, and rows encoded to them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from shared.bigquery.protorows import (
    RowCodec,
    RowEncodingError,
    date_days,
    descriptor_for,
    row_codec,
    timestamp_micros,
)
from shared.resources import manifest

FD = descriptor_pb2.FieldDescriptorProto  # type: ignore[attr-defined]

SCHEMA: list[dict[str, Any]] = [
    {"name": "id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "n", "type": "INT64"},
    {"name": "i", "type": "INTEGER"},
    {"name": "f", "type": "FLOAT64"},
    {"name": "num", "type": "NUMERIC"},
    {"name": "big", "type": "BIGNUMERIC"},
    {"name": "b", "type": "BOOL"},
    {"name": "raw", "type": "BYTES"},
    {"name": "ts", "type": "TIMESTAMP"},
    {"name": "d", "type": "DATE"},
    {"name": "dtm", "type": "DATETIME"},
    {"name": "tm", "type": "TIME"},
    {"name": "j", "type": "JSON"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {
        "name": "items",
        "type": "RECORD",
        "mode": "REPEATED",
        "fields": [
            {"name": "sku", "type": "STRING"},
            {"name": "qty", "type": "INT64"},
            {"name": "meta", "type": "RECORD", "fields": [{"name": "k", "type": "STRING"}]},
        ],
    },
]


def test_descriptor_maps_every_type() -> None:
    desc = descriptor_for(SCHEMA)
    by_name = {f.name: f for f in desc.field}
    expected = {
        "id": FD.TYPE_STRING,
        "n": FD.TYPE_INT64,
        "i": FD.TYPE_INT64,
        "f": FD.TYPE_DOUBLE,
        "num": FD.TYPE_STRING,
        "big": FD.TYPE_STRING,
        "b": FD.TYPE_BOOL,
        "raw": FD.TYPE_BYTES,
        "ts": FD.TYPE_INT64,
        "d": FD.TYPE_INT32,
        "dtm": FD.TYPE_STRING,
        "tm": FD.TYPE_STRING,
        "j": FD.TYPE_STRING,
        "tags": FD.TYPE_STRING,
        "items": FD.TYPE_MESSAGE,
    }
    assert {name: f.type for name, f in by_name.items()} == expected
    assert [f.number for f in desc.field] == list(range(1, len(SCHEMA) + 1))
    assert by_name["tags"].label == FD.LABEL_REPEATED
    assert by_name["items"].label == FD.LABEL_REPEATED
    assert by_name["id"].label == FD.LABEL_OPTIONAL  # proto2 optional: NULL = not set
    # nested types live inside the row message: the descriptor is self-contained
    (items,) = desc.nested_type
    assert by_name["items"].type_name == items.name
    assert [f.name for f in items.field] == ["sku", "qty", "meta"]
    assert items.field[2].type_name == items.nested_type[0].name


def test_row_round_trip() -> None:
    codec = RowCodec(SCHEMA)
    row = {
        "id": "a",
        "n": 5,
        "i": "6",
        "f": 2,
        "num": Decimal("12.50"),
        "big": 3,
        "b": "true",
        "raw": "AAE=",  # base64 text, insertAll's convention
        "ts": "2026-01-02T03:04:05.000006Z",
        "d": dt.date(1970, 1, 3),
        "dtm": dt.datetime(2026, 1, 2, 3, 4, 5),
        "tm": "10:11:12",
        "j": {"x": [1, None]},
        "tags": ["p", None, "q"],
        "items": [{"sku": "s", "qty": 2, "meta": {"k": "v"}}, {"sku": "t"}],
    }
    back = codec.decode(codec.encode(row))
    assert back["id"] == "a"
    assert back["n"] == "5"  # int64 as JSON string in MessageToDict
    assert back["i"] == "6"
    assert back["f"] == 2.0
    assert back["num"] == "12.50"
    assert back["big"] == "3"
    assert back["b"] is True
    assert back["raw"] == "AAE="
    assert int(back["ts"]) == timestamp_micros(dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC))
    assert back["d"] == 2
    assert back["dtm"] == "2026-01-02T03:04:05"
    assert back["j"] == '{"x":[1,null]}'
    assert back["tags"] == ["p", "q"]
    assert back["items"] == [{"sku": "s", "qty": "2", "meta": {"k": "v"}}, {"sku": "t"}]


def test_nulls_are_unset() -> None:
    codec = RowCodec(SCHEMA)
    assert codec.decode(codec.encode({"id": "x", "n": None, "tags": None})) == {"id": "x"}


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        (dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC), 1_000_000),
        (dt.datetime(1970, 1, 1, 0, 0, 1), 1_000_000),  # naive = UTC
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01 00:00:02 UTC", 2_000_000),
        (1.5, 1_500_000),  # epoch seconds, as insertAll reads numbers
        (dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.UTC), -1_000_000),
    ],
)
def test_timestamps(value: Any, micros: int) -> None:
    assert timestamp_micros(value) == micros


@pytest.mark.parametrize("value", [1e12, -1e12, float("nan"), float("inf"), True, "yesterday"])
def test_timestamps_outside_bigquery_range_are_refused(value: Any) -> None:
    with pytest.raises(RowEncodingError):
        timestamp_micros(value)


def test_dates() -> None:
    assert date_days("1970-01-02") == 1
    assert date_days(dt.date(1969, 12, 31)) == -1
    with pytest.raises(RowEncodingError):
        date_days(dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"n": 1}, "id: missing required field"),
        ({"id": "a", "nope": 1}, "no such field: nope"),
        ({"id": "a", "n": "x"}, "n: "),
        ({"id": "a", "n": True}, "n: "),
        ({"id": "a", "n": 2**63}, "out of INT64 range"),
        ({"id": "a", "f": "abc"}, "f: "),
        ({"id": "a", "num": "NaN"}, "num: "),
        ({"id": "a", "b": 1}, "b: "),
        ({"id": "a", "raw": "not base64!"}, "raw: "),
        ({"id": "a", "ts": "yesterday"}, "ts: "),
        ({"id": "a", "d": "2026-13-01"}, "d: "),
        ({"id": "a", "j": "{not json"}, "j: invalid JSON"),
        ({"id": "a", "j": float("nan")}, "j: "),
        ({"id": {"x": 1}}, "id: "),
        ({"id": "a", "tags": "p"}, "tags: expected a list"),
        ({"id": "a", "items": [{"qty": "many"}]}, "items[0].qty: "),
        ({"id": "a", "items": [{"meta": {"zz": 1}}]}, "items[0].meta: no such field"),
        ({"id": "a", "items": ["x"]}, "items[0]: expected an object"),
    ],
)
def test_bad_rows_name_the_column(row: dict[str, Any], message: str) -> None:
    with pytest.raises(RowEncodingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        RowCodec(SCHEMA).encode(row)


def test_unsupported_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        RowCodec([{"name": "x", "type": "INTERVAL"}])
    with pytest.raises(ValueError, match="protobuf-compatible"):
        RowCodec([{"name": "bad-name", "type": "STRING"}])


def test_every_manifest_table_has_a_codec() -> None:
    for table in manifest()["tables"]:
        codec = row_codec(table["name"])
        assert codec is row_codec(table["name"])  # built once per process
        assert len(codec.descriptor.field) == len(manifest().table_schema(table["name"]))
