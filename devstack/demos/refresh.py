"""Refresh demo: seed the sources, fire the ``refresh-daily`` scheduler tick through Pub/Sub,
then show the run's audit rows and the refreshed tables (ROI depends on two others)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from devstack.report import Report
from devstack.stack import LocalStack

ORDER = 80
TITLE = "Refreshes: scheduler tick -> dependency-ordered run, audit, derived tables"
RUNS = "`{p}.ops.refresh_runs_current`"


def run(stack: LocalStack, report: Report) -> None:
    from shared.refresh import seed

    report.section(TITLE)
    today = datetime.now(UTC).date()
    counts = seed.load(stack.bigquery(), stack.project, today, days=7)
    report.line(f"seeded sources (load jobs): {counts}")
    since = datetime.now(UTC)
    message_id = stack.tick("refresh-daily")
    report.line(f"scheduler tick refresh-daily -> refresh-requests (message {message_id})")
    runs = RUNS.format(p=stack.project)

    def finished() -> Any:
        rows = stack.query(
            f"SELECT run_id, COUNT(DISTINCT table_name) AS n FROM {runs}"
            " WHERE started_at >= @since AND run_type = 'scheduled'"
            " AND status IN ('success', 'failed', 'skipped', 'locked') GROUP BY run_id",
            {"since": since},
        )
        return next((r["run_id"] for r in rows if r["n"] >= 5), None)

    started = time.monotonic()
    run_id = stack.wait_until(finished, timeout=300, interval=1.0, what="the scheduled run")
    report.line(f"run {run_id} finished in ~{time.monotonic() - started:.0f}s; audit rows:")
    audit = stack.query(
        f"SELECT table_name, attempt, status, rows_affected, partitions_from, partitions_to,"
        f" TIMESTAMP_DIFF(finished_at, started_at, MILLISECOND) AS ms, error FROM {runs}"
        " WHERE run_id = @r ORDER BY started_at, attempt",
        {"r": run_id},
    )
    report.table(audit)
    # a table may retry (e.g. a serialization error from strict BigQuery): its last attempt counts
    last = {r["table_name"]: r for r in audit}
    if any(r["status"] != "success" for r in last.values()):
        raise RuntimeError(f"refresh run {run_id} did not fully succeed")
    report.line("warehouse.campaign_roi_daily (latest 6 rows):")
    report.table(
        stack.query(
            f"SELECT platform, metric_date, spend, revenue, ROUND(roi, 3) AS roi, events"
            f" FROM `{stack.project}.warehouse.campaign_roi_daily`"
            " ORDER BY metric_date DESC, platform LIMIT 6"
        )
    )
    report.line("ops.refresh_table_stats:")
    report.table(stack.query(f"SELECT * FROM `{stack.project}.ops.refresh_table_stats`"))
