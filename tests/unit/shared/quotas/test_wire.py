"""The quotas' raw protobuf writes: each value type, the precondition of each write kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.api_core.datetime_helpers import DatetimeWithNanoseconds

from shared.quotas import wire

T0 = datetime(2026, 11, 24, 23, 59, 30, 123456, tzinfo=UTC)
NAME = "projects/p/databases/(default)/documents/quota_leases/c1"


def test_each_value_type_has_its_own_kind() -> None:
    assert wire.value(None).WhichOneof("value_type") == "null_value"
    assert wire.value(True).boolean_value is True  # a bool is not encoded as an int
    assert wire.value(7).integer_value == 7
    assert wire.value(0.5).double_value == 0.5
    assert wire.value("ü").string_value == "ü"
    assert wire.value(T0).timestamp_value.ToDatetime(tzinfo=UTC) == T0
    nested = wire.value({"a": [1, "x"], "b": {"c": None}})
    listed = nested.map_value.fields["a"].array_value.values
    assert (listed[0].integer_value, listed[1].string_value) == (1, "x")
    assert nested.map_value.fields["b"].map_value.fields["c"].WhichOneof("value_type") == (
        "null_value"
    )


def test_an_unknown_type_raises_before_anything_is_written() -> None:
    with pytest.raises(TypeError, match="set"):
        wire.value({1, 2})
    with pytest.raises(TypeError):
        wire.timestamp("2026-11-24")


def test_timestamps_keep_their_nanoseconds() -> None:
    pb = wire.Timestamp(seconds=1_800_000_000, nanos=123_456_789)
    assert wire.timestamp(pb) is pb
    with_nanos = DatetimeWithNanoseconds.from_timestamp_pb(pb)
    assert wire.timestamp(with_nanos) == pb
    assert wire.timestamp(T0).nanos == 123_456_000


def test_an_update_sets_only_its_fields_if_the_document_is_as_read() -> None:
    read_at = wire.Timestamp(seconds=5, nanos=6)
    write = wire.update(NAME, {"leases": "{}", "updated_at": T0}, read_at)
    assert write.update.name == NAME
    assert list(write.update_mask.field_paths) == ["leases", "updated_at"]
    assert write.current_document.update_time == read_at
    assert write.update.fields["leases"].string_value == "{}"


def test_a_create_fails_if_the_document_exists() -> None:
    write = wire.create(NAME, {"count": 1})
    assert write.current_document.WhichOneof("condition_type") == "exists"
    assert write.current_document.exists is False
    assert not write.HasField("update_mask")  # the whole document


def test_a_set_has_no_precondition_and_an_update_of_an_existing_one_needs_it() -> None:
    whole = wire.set_document(NAME, {"count": 1})
    assert not whole.HasField("current_document")
    assert not whole.HasField("update_mask")
    existing = wire.update_existing(NAME, {"published": True})
    assert existing.current_document.exists is True
    assert list(existing.update_mask.field_paths) == ["published"]


def test_a_delete_names_its_document_without_a_precondition() -> None:
    write = wire.delete(NAME)
    assert write.delete == NAME and not write.HasField("current_document")


def test_the_due_query_reads_only_the_fields_asked_of_documents_due_by_then() -> None:
    query = wire.due_query("quota_outbox", "claimed_until", T0, ("table", "rows"), 500)
    assert [c.collection_id for c in query.from_] == ["quota_outbox"]
    assert [f.field_path for f in query.select.fields] == ["table", "rows"]
    condition = query.where.field_filter
    assert condition.field.field_path == "claimed_until"
    assert condition.op == condition.Operator.LESS_THAN_OR_EQUAL
    assert condition.value.timestamp_value.ToDatetime(tzinfo=UTC) == T0
    assert query.limit.value == 500
