"""The runner against a small fake of our own Store boundary (no emulators)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from shared.refresh import definitions, request
from shared.refresh.attempt import Options
from shared.refresh.faults import TestKnobs
from shared.refresh.ports import AuditRow, Override, Params, PriorAttempt, QueryStats, Row
from shared.refresh.runner import NO_TABLE, Runner


class FakeStore:
    """The orchestrator's Store Protocol in memory; checks pass unless ``failing`` names the
    table whose check queries report bad rows."""

    project = "demo-local"

    def __init__(self, failing: str = "") -> None:
        self.audits: list[AuditRow] = []
        self.leases: dict[str, str] = {}
        self.checkpoints: dict[str, date] = {}
        self.statements: list[str] = []
        self.overriding: dict[str, Override] = {}
        self.failing = failing
        self.lock = threading.Lock()

    def overrides(self) -> dict[str, Override]:
        return self.overriding

    def run_rows(self, run_id: str) -> list[PriorAttempt]:
        return [
            PriorAttempt(a.table_name, a.attempt, a.status, a.partitions_to)
            for a in self.audits
            if a.run_id == run_id
        ]

    def audit(self, rows: Sequence[AuditRow]) -> None:
        with self.lock:
            self.audits.extend(rows)

    def acquire_lease(self, table: str, holder: str, run_id: str, ttl_s: int) -> bool:
        with self.lock:
            if self.leases.get(table, holder) != holder:
                return False
            self.leases[table] = holder
            return True

    def release_lease(self, table: str, holder: str) -> None:
        with self.lock:
            if self.leases.get(table) == holder:
                del self.leases[table]

    def lease_holder(self, table: str) -> str | None:
        return self.leases.get(table)

    def checkpoint(self, table: str) -> date | None:
        return self.checkpoints.get(table)

    def set_checkpoint(self, table: str, through: date, run_id: str) -> None:
        self.checkpoints[table] = through

    def ensure_copy(self, source_table: str, copy_table: str) -> None:
        self.statements.append(f"COPY {source_table} {copy_table}")

    def query(
        self,
        sql: str,
        params: Params | None = None,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
    ) -> tuple[list[Row], QueryStats]:
        with self.lock:
            self.statements.append(sql)
        if "AS bad" in sql:
            bad = bool(self.failing) and f".{self.failing}`" in sql
            checks = sql.count(" AS i,")
            return [{"i": i, "n": 3 if bad else 0, "bad": bad} for i in range(checks)], QueryStats(
                10, 0
            )
        if "only_in_shadow" in sql:
            return [{"only_in_shadow": 0, "only_in_live": 0}], QueryStats(10, 0)
        return [], QueryStats(10, 3)


class FakeAdmission:
    def __init__(self, admit: bool) -> None:
        self.admit = admit
        self.finished: list[tuple[str, str, bool]] = []

    def start(self, customer_id: str, table: str, run_id: str) -> tuple[bool, str]:
        return self.admit, "admitted" if self.admit else "daily_limit_reached"

    def finish(self, customer_id: str, table: str, run_id: str, ok: bool) -> None:
        self.finished.append((run_id, table, ok))


def runner(store: FakeStore, body: Mapping[str, object] | None = None, **kw: Any) -> Runner:
    knobs = TestKnobs.parse((body or {}).get("test", {}))  # type: ignore[arg-type]
    options = Options(sleep=lambda s: None)
    return Runner(store, definitions.load(), options, faults=knobs.faults, **kw)


def test_run_order_and_checkpoints() -> None:
    store = FakeStore()
    result = runner(store).run(
        request.parse({"run_id": "r1", "concurrency": 1, "as_of": "2026-03-20"})
    )
    assert result.status == "success"
    assert result.order == [
        "campaign_performance_daily",
        "platform_events_daily",
        "campaign_roi_daily",
        "usage_by_customer_daily",
        "uploads_by_customer",
    ]
    assert store.checkpoints["campaign_roi_daily"] == date(2026, 3, 20)
    assert not store.leases


def test_transient_then_success_and_permanent_skips_dependents() -> None:
    store = FakeStore()
    body = {
        "run_id": "r2",
        "test": {
            "faults": {
                "uploads_by_customer": {"transient": 2},
                "platform_events_daily": {"permanent": "boom"},
            }
        },
    }
    result = runner(store, body).run(request.parse(body))
    statuses = [(a.table_name, a.status) for a in store.audits]
    assert [s for t, s in statuses if t == "uploads_by_customer"] == [
        "retrying",
        "retrying",
        "success",
    ]
    assert result.tables["platform_events_daily"].status == "failed"
    assert result.tables["campaign_roi_daily"].status == "skipped"
    assert result.tables["campaign_performance_daily"].status == "success"
    assert result.status == "failed"


def test_resume_does_not_redo_finished_tables() -> None:
    store = FakeStore()
    body = {"run_id": "r3", "test": {"faults": {"uploads_by_customer": {"permanent": "x"}}}}
    runner(store, body).run(request.parse(body))
    before = len(store.audits)
    result = runner(store).run(request.parse({"run_id": "r3"}))
    redone = [a.table_name for a in store.audits[before:]]
    assert redone == ["uploads_by_customer"]
    assert result.tables["campaign_roi_daily"].status == "already_done"
    assert result.status == "success"


def test_held_lease_is_locked() -> None:
    store = FakeStore()
    store.leases["uploads_by_customer"] = "other-run/x"
    result = runner(store).run(request.parse({"run_id": "r4", "tables": ["uploads_by_customer"]}))
    assert result.tables["uploads_by_customer"].status == "locked"


def test_admission_refusal_skips_and_admitted_is_finished() -> None:
    refuse = FakeAdmission(admit=False)
    store = FakeStore()
    body = {"run_id": "r5", "tables": ["usage_by_customer_daily"], "customer_id": "cust-a"}
    result = runner(store, admission=refuse).run(request.parse(body))
    outcome = result.tables["usage_by_customer_daily"]
    assert outcome.status == "skipped" and "daily_limit_reached" in (outcome.error or "")
    admit = FakeAdmission(admit=True)
    body["run_id"] = "r6"
    result = runner(FakeStore(), admission=admit).run(request.parse(body))
    assert result.tables["usage_by_customer_daily"].status == "success"
    assert admit.finished == [("r6", "usage_by_customer_daily", True)]


def test_dry_run_takes_no_lease_and_no_checkpoint() -> None:
    store = FakeStore()
    result = runner(store).run(request.parse({"run_id": "r7", "dry_run": True}))
    assert {o.status for o in result.tables.values()} == {"dry_run"}
    assert not store.checkpoints


def test_failing_validation_fails_the_table_and_skips_its_dependents() -> None:
    store = FakeStore(failing="platform_events_daily")
    result = runner(store).run(request.parse({"run_id": "r8", "as_of": "2026-03-20"}))
    failed = result.tables["platform_events_daily"]
    assert failed.status == "failed" and "not_null" in (failed.error or "")
    assert not failed.retryable  # a failed check is permanent: no in-run or delayed retry
    assert [a.status for a in store.audits if a.table_name == "platform_events_daily"] == ["failed"]
    roi = result.tables["campaign_roi_daily"]
    assert roi.status == "skipped" and roi.error == "dependency platform_events_daily failed"
    assert result.tables["campaign_performance_daily"].status == "success"
    assert result.status == "failed"


def test_shadow_override_writes_the_shadow_table_and_audits_the_diff() -> None:
    store = FakeStore()
    store.overriding["uploads_by_customer"] = Override(shadow=True)
    result = runner(store).run(request.parse({"run_id": "r9", "tables": ["uploads_by_customer"]}))
    assert result.status == "success"
    row = next(a for a in store.audits if a.status == "success")
    assert row.shadow and row.shadow_diff == '{"only_in_live": 0, "only_in_shadow": 0}'
    assert any("uploads_by_customer__shadow" in s for s in store.statements)


def test_disabled_dependency_does_not_block_and_priority_override_reorders() -> None:
    store = FakeStore()
    store.overriding["platform_events_daily"] = Override(enabled=False)
    store.overriding["uploads_by_customer"] = Override(priority=999)
    result = runner(store).run(request.parse({"run_id": "r10", "concurrency": 1}))
    assert result.tables["platform_events_daily"].error == "disabled"
    assert result.order[0] == "uploads_by_customer"
    assert result.tables["campaign_roi_daily"].status == "success"
    assert result.status == "success"


def test_in_flight_dependency_blocks_dependents_until_it_finishes() -> None:
    store = FakeStore()
    body = {"run_id": "r11", "test": {"faults": {"platform_events_daily": {"sleep_s": 0.2}}}}
    result = runner(store, body).run(request.parse(body))
    order = result.order
    assert order.index("campaign_roi_daily") > order.index("platform_events_daily")
    started_roi = min(a.started_at for a in store.audits if a.table_name == "campaign_roi_daily")
    finished_platform = max(
        a.finished_at for a in store.audits if a.table_name == "platform_events_daily"
    )
    assert started_roi >= finished_platform


def test_a_run_that_selects_no_table_is_audited() -> None:
    """refresh-hourly ticks while no table follows "hourly": one `skipped` row, not nothing."""
    store = FakeStore()
    result = runner(store).run(request.parse({"run_id": "r20", "schedule": "hourly"}))
    assert result.status == "success" and not result.tables
    [row] = store.audits
    assert (row.run_id, row.table_name, row.status) == ("r20", NO_TABLE, "skipped")
    assert row.error == "no table selected by the schedule 'hourly'"


def test_a_disabled_table_is_audited_skipped() -> None:
    store = FakeStore()
    store.overriding["uploads_by_customer"] = Override(enabled=False)
    runner(store).run(request.parse({"run_id": "r21", "tables": ["uploads_by_customer"]}))
    assert [(a.table_name, a.attempt, a.status, a.error) for a in store.audits] == [
        ("uploads_by_customer", 0, "skipped", "disabled")
    ]


def test_a_message_without_run_id_gets_one_derived_from_its_message_id() -> None:
    """A redelivered scheduler tick resumes the same run (and its rows name the message)."""
    first = request.parse({}, default_run_id=request.run_id_for_message("1213"))
    again = request.parse({}, default_run_id=request.run_id_for_message("1213"))
    other = request.parse({}, default_run_id=request.run_id_for_message("1214"))
    assert first.run_id == again.run_id != other.run_id
    assert request.parse({"run_id": "mine"}, default_run_id="x").run_id == "mine"
