"""The outbox's documents: their rows, a deterministic id, the previous layout, bad input."""

from __future__ import annotations

import json

import pytest

from shared.quotas import outbox


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
