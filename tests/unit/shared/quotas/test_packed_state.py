"""The packed state fields and outbox documents: round trips, the previous layout, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.quotas import outbox, store

T0 = datetime(2026, 11, 24, 23, 59, 30, 123456, tzinfo=UTC)


def test_leases_round_trip_keeps_times_and_zones() -> None:
    leases: dict[str, dict[str, Any]] = {
        "run-1": {"pipeline": "p", "started_at": T0, "expires_at": T0 + timedelta(minutes=15)},
        "run 2/ü": {"pipeline": None, "started_at": T0, "expires_at": T0},
    }
    packed = store.pack_leases(leases)
    assert isinstance(packed, str)
    assert store.unpack_leases(packed) == leases
    assert store.unpack_leases(packed)["run-1"]["expires_at"].tzinfo is not None


def test_runs_round_trip() -> None:
    runs = {"a": T0, "b": T0 + timedelta(seconds=1)}
    assert store.unpack_runs(store.pack_runs(runs)) == runs


@pytest.mark.parametrize("absent", [None, ""])
def test_absent_fields_are_empty(absent: str | None) -> None:
    assert store.unpack_leases(absent) == {}
    assert store.unpack_runs(absent) == {}


def test_the_previous_map_layout_is_read_as_it_is() -> None:
    lease = {"pipeline": "p", "started_at": T0, "expires_at": T0}
    assert store.unpack_leases({"r": lease}) == {"r": lease}
    assert store.unpack_runs({"r": T0}) == {"r": T0}


def test_outbox_entry_holds_its_rows_and_a_deterministic_id() -> None:
    rows = [{"event_id": "e1", "n": 1}, {"event_id": "e2", "n": 2}]
    entry = outbox.entry(outbox.EVENTS, rows)
    assert entry["count"] == 2 and outbox.rows_of(entry) == rows
    assert outbox.entry_id(rows, "event_id") == outbox.entry_id(list(rows), "event_id")
    assert outbox.entry_id(rows, "event_id") != outbox.entry_id(rows[:1], "event_id")


def test_outbox_reads_the_previous_one_row_layout() -> None:
    assert outbox.rows_of({"table": outbox.EVENTS, "row": {"event_id": "e"}}) == [{"event_id": "e"}]


@pytest.mark.parametrize(
    "rows", [None, "", "not json", json.dumps({"a": 1}), "[]", json.dumps([1, 2]), "[{}, 3]"]
)
def test_an_unreadable_outbox_document_is_an_error_not_an_empty_list(rows: str | None) -> None:
    # the drain keeps such a document (and logs it) instead of deleting it as written
    with pytest.raises(ValueError):
        outbox.rows_of({"table": outbox.EVENTS, "rows": rows})


def _reference(entries: dict[str, Any], encode: Any) -> str:
    encoded = {key: encode(value) for key, value in entries.items()}
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"))


def _lease_json(lease: dict[str, Any]) -> dict[str, Any]:
    return {
        "pipeline": lease.get("pipeline"),
        "started_at": lease["started_at"].isoformat(),
        "expires_at": lease["expires_at"].isoformat(),
    }


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "extend", "drop"]),
            st.text(min_size=1, max_size=6),
            st.integers(min_value=0, max_value=10**6),
        ),
        max_size=30,
    )
)
def test_a_lanes_packer_writes_what_a_fresh_pack_writes_after_any_changes(
    changes: list[tuple[str, str, int]],
) -> None:
    """The packer re-encodes only changed entries, so it must notice every change, including
    a lease extended in place (a heartbeat mutates the lease dict)."""
    leases: dict[str, dict[str, Any]] = {}
    runs: dict[str, datetime] = {}
    lease_packer, run_packer = store.leases_packer(), store.runs_packer()
    for kind, run_id, seconds in changes:
        at = T0 + timedelta(seconds=seconds)
        if kind == "add":
            leases[run_id] = {"pipeline": "p", "started_at": at, "expires_at": at}
            runs[run_id] = at
        elif kind == "extend" and leases:
            next(iter(leases.values()))["expires_at"] = at  # in place, as a heartbeat does
        elif kind == "drop" and leases:
            leases.pop(next(iter(leases)))
        assert store.pack_leases(leases, lease_packer) == _reference(leases, _lease_json)
        assert store.pack_runs(runs, run_packer) == _reference(runs, datetime.isoformat)
        assert store.unpack_leases(store.pack_leases(leases, lease_packer)) == leases
