"""The runner against a small fake of our own Store boundary (no emulators)."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from shared.refresh import definitions, request
from shared.refresh.admission import Admission
from shared.refresh.runner import Options, Runner


class FakeJob:
    total_bytes_processed = 10
    num_dml_affected_rows = 3


class FakeStore:
    project = "demo-local"
    client = None

    def __init__(self) -> None:
        self.audits: list[dict[str, Any]] = []
        self.leases: dict[str, str] = {}
        self.checkpoints: dict[str, date] = {}
        self.statements: list[str] = []
        self.lock = threading.Lock()

    def configs(self) -> list[dict[str, Any]]:
        return []

    def run_rows(self, run_id: str) -> list[dict[str, Any]]:
        return [a for a in self.audits if a["run_id"] == run_id]

    def audit(self, rows: list[dict[str, Any]]) -> None:
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

    def query(self, sql: str, params: Any = None, **kw: Any) -> tuple[list[dict[str, Any]], Any]:
        with self.lock:
            self.statements.append(sql)
        if "AS bad" in sql:
            return [{"n": 0, "bad": False}], FakeJob()
        return [], FakeJob()


class FakeQuotas:
    def __init__(self, admit: bool) -> None:
        self.admit = admit
        self.finished: list[tuple[str, str]] = []

    def start(self, customer_id: str, pipeline: str, run_id: str) -> Any:
        class R:
            admitted = self.admit
            reason = "admitted" if self.admit else "daily_limit_reached"

        return R()

    def finish(self, run_id: str, status: str, *, customer_id: str | None = None) -> bool:
        self.finished.append((run_id, status))
        return True


def runner(store: FakeStore, **kw: Any) -> Runner:
    return Runner(store, definitions.load(), Options(sleep=lambda s: None), local=True, **kw)


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
    result = runner(store).run(request.parse(body))
    statuses = [(a["table_name"], a["status"]) for a in store.audits]
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
    runner(store).run(request.parse(body))
    before = len(store.audits)
    result = runner(store).run(request.parse({"run_id": "r3"}))
    redone = [a["table_name"] for a in store.audits[before:]]
    assert redone == ["uploads_by_customer"]
    assert result.tables["campaign_roi_daily"].status == "already_done"
    assert result.status == "success"


def test_held_lease_is_locked() -> None:
    store = FakeStore()
    store.leases["uploads_by_customer"] = "other-run/x"
    result = runner(store).run(request.parse({"run_id": "r4", "tables": ["uploads_by_customer"]}))
    assert result.tables["uploads_by_customer"].status == "locked"


def test_admission_refusal_skips_and_admitted_is_finished() -> None:
    refuse = FakeQuotas(admit=False)
    store = FakeStore()
    body = {"run_id": "r5", "tables": ["usage_by_customer_daily"], "customer_id": "cust-a"}
    result = runner(store, admission=Admission(refuse)).run(request.parse(body))
    outcome = result.tables["usage_by_customer_daily"]
    assert outcome.status == "skipped" and "daily_limit_reached" in (outcome.error or "")
    admit = FakeQuotas(admit=True)
    body["run_id"] = "r6"
    result = runner(FakeStore(), admission=Admission(admit)).run(request.parse(body))
    assert result.tables["usage_by_customer_daily"].status == "success"
    assert admit.finished == [("r6:usage_by_customer_daily", "COMPLETED")]


def test_dry_run_takes_no_lease_and_no_checkpoint() -> None:
    store = FakeStore()
    result = runner(store).run(request.parse({"run_id": "r7", "dry_run": True}))
    assert {o.status for o in result.tables.values()} == {"dry_run"}
    assert not store.checkpoints
