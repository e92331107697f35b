"""The outbox drain on the emulators: one document per commit, the previous one-row layout of
a rolling deploy, and a document it cannot read (kept and logged, never deleted unread)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from devstack.stack import LocalStack
from shared.quotas import admission, customers, outbox, store

pytestmark = pytest.mark.stack


def test_drain_lands_both_layouts_and_keeps_what_it_cannot_read(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    customer = f"outbox-{uuid.uuid4().hex[:8]}"
    customers.upsert_customer(customer, "STARTER", daily_limit=10, concurrent_limit=10)
    assert admission.start(customer, "p", "r1").admitted
    now = datetime.now(UTC)
    legacy_id = uuid.uuid4().hex
    legacy_row = {
        "event_id": legacy_id,
        "customer_id": customer,
        "run_id": "r-legacy",
        "kind": "released",
        "usage_date": now.date().isoformat(),
        "occurred_at": now.isoformat(),
        "status": "COMPLETED",
    }
    legacy = store.outbox_ref(legacy_id)
    legacy.set({"table": outbox.EVENTS, "row": legacy_row, "created_at": now,
                "claimed_until": datetime(1970, 1, 1, tzinfo=UTC)})  # fmt: skip
    broken = store.outbox_ref(f"broken-{uuid.uuid4().hex[:8]}")
    broken.set(outbox.entry(outbox.EVENTS, [{"event_id": "x"}]) | {"rows": "not json"})

    def landed() -> list[dict[str, object]] | None:
        outbox.drain()  # this call or the instance's background drain: either lands them
        rows = stack.query(
            f"SELECT kind, run_id FROM `{stack.project}.customers.quota_usage_events`"
            " WHERE customer_id = @c",
            {"c": customer},
        )
        return rows if len(rows) >= 2 else None

    try:
        events = stack.wait_until(landed, timeout=60, interval=1.0, what="both layouts drained")
        assert sorted((e["kind"], e["run_id"]) for e in events) == [
            ("admitted", "r1"),
            ("released", "r-legacy"),
        ]
        assert not legacy.get().exists  # written, then deleted
        assert broken.get().exists  # unreadable: kept for an operator
        assert any(broken.id in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    finally:
        broken.delete()


def test_a_claim_holds_against_a_second_drainer_and_a_deleted_document(
    stack: LocalStack,
) -> None:
    """Two drainers read the same page: the second claim fails on the first one's write, the
    claim moves ``claimed_until`` up to ``CLAIM_S`` ahead (every drain's query skips the rows
    until then), and a claim of a document another drainer already wrote and deleted fails
    too (nothing is written twice)."""
    rows = [{"event_id": f"claim-{uuid.uuid4().hex[:8]}", "kind": "admitted"}]
    doc = store.outbox_ref(outbox.entry_id(rows, "event_id"))
    # claimed by "someone" far ahead: no drain of the stack (instances, the sweep) takes it
    doc.set(outbox.entry(outbox.EVENTS, rows) | {"claimed_until": datetime(2100, 1, 1, tzinfo=UTC)})
    try:
        read = outbox._Held(store.name_of(doc), doc.id, doc.get().update_time, {})
        before = datetime.now(UTC)
        assert outbox._claim([read])  # the first drainer
        assert not outbox._claim([read])  # the second, on the same read
        claimed_until = doc.get().get("claimed_until")
        assert before < claimed_until <= datetime.now(UTC) + timedelta(seconds=outbox.CLAIM_S)
        again = outbox._Held(store.name_of(doc), doc.id, doc.get().update_time, {})
        doc.delete()
        assert not outbox._claim([again])
    finally:
        doc.delete()


def test_a_drain_takes_page_after_page_and_writes_each_row_once(stack: LocalStack) -> None:
    """More documents than one page (``DRAIN_PAGE``): one drain takes them page after page,
    every row lands in BigQuery exactly once, and every document is then deleted. The rows are
    whole usage events (limits included), as the lease sweep's record MERGE needs them."""
    customer = f"pages-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    total = outbox.DRAIN_PAGE + 150
    docs = []
    # held from before the documents exist: no background drain of this instance (one an
    # earlier test's commit started) takes a page of them
    with outbox._drain_lock:
        for start in range(0, total, 250):  # a commit holds at most 500 writes
            batch = stack.firestore().batch()
            for n in range(start, min(start + 250, total)):
                row = {"event_id": f"{customer}-{n}", "customer_id": customer, "run_id": f"r{n}",
                       "kind": "admitted", "usage_date": now.date().isoformat(),
                       "occurred_at": now.isoformat(), "daily_used": n + 1,
                       "daily_limit": total, "running": 0, "concurrent_limit": 1}  # fmt: skip
                doc = store.outbox_ref(outbox.entry_id([row], "event_id"))
                batch.set(doc, outbox.entry(outbox.EVENTS, [row]))
                docs.append(doc)
            batch.commit()
        assert outbox.drain() >= total  # one call, page after page

    def landed() -> dict[str, object] | None:
        rows = stack.query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS distinct_ids"
            f" FROM `{stack.project}.customers.quota_usage_events` WHERE customer_id = @c",
            {"c": customer},
        )
        return rows[0] if rows[0]["n"] >= total else None

    counts = stack.wait_until(landed, timeout=60, interval=1.0, what="every page in BigQuery")
    assert counts == {"n": total, "distinct_ids": total}
    assert not any(snap.exists for snap in stack.firestore().get_all(docs))
