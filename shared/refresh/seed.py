"""Deterministic seed rows for the refresh sources, so the demo and tests run before (or
without) the other functions. Loaded with load jobs (never streamed): sources may be read by
DML-based refreshes right away. Row values are a pure function of (day, index)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.imports import BIGQUERY_IMPORTS

PLATFORMS = ("google_ads", "meta", "tiktok")
CUSTOMERS = ("cust-a", "cust-b", "cust-c")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def campaign_metrics(day: date, campaigns: int = 4) -> list[dict[str, Any]]:
    rows = []
    for i in range(campaigns):
        seed = day.toordinal() * 7 + i
        key = f"seed-{PLATFORMS[i % 3]}-acct-{i % 2}-cmp-{i}-{day.isoformat()}"
        rows.append(
            {
                "metric_key": key,
                "event_key": f"seed-evt-{key}",
                "platform": PLATFORMS[i % len(PLATFORMS)],
                "account_id": f"acct-{i % 2}",
                "campaign_id": f"cmp-{i}",
                "metric_date": day.isoformat(),
                "impressions": 1000 + seed % 500,
                "clicks": 50 + seed % 40,
                "spend": str(100 + seed % 50),
                "conversions": str(5 + seed % 7),
                "revenue": str(150 + seed % 120),
                "currency": "EUR",
                "reported_at": _now(),
                "message_id": f"seed-{key}",
                "ingested_at": _now(),
            }
        )
    return rows


def platform_events(day: date, per_platform: int = 3) -> list[dict[str, Any]]:
    rows = []
    for p, platform in enumerate(PLATFORMS):
        for i in range(per_platform):
            key = f"seed-{day.isoformat()}-{p}-{i}"
            occurred = datetime(day.year, day.month, day.day, 12, i, tzinfo=UTC)
            rows.append(
                {
                    "event_key": key,
                    "platform": platform,
                    "account_id": f"acct-{i % 2}",
                    "event_type": "conversion" if i % 2 else "click",
                    "occurred_at": occurred.isoformat(),
                    "message_id": f"seed-{key}",
                    "ingested_at": _now(),
                }
            )
    return rows


def customer_usage(day: date) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": c,
            "usage_date": day.isoformat(),
            "pipelines_run": n + 1,
            "daily_limit": 100,
            "concurrent_limit": 5,
            "api_calls": 10 * (n + 1) + day.day,
        }
        for n, c in enumerate(CUSTOMERS)
    ]


def load_rows(client: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Append rows with one load job (not streaming)."""
    with BIGQUERY_IMPORTS:
        from google.cloud import bigquery

    if not rows:
        return
    config = bigquery.LoadJobConfig(write_disposition="WRITE_APPEND")
    client.load_table_from_json(rows, table, job_config=config).result()


def load(client: Any, project: str, through: date, days: int = 10) -> dict[str, int]:
    """Seed ``days`` days of sources ending at ``through``; returns rows per table."""
    days_list = [through - timedelta(days=n) for n in range(days - 1, -1, -1)]
    batches = {
        f"{project}.warehouse.campaign_metrics": [
            r for d in days_list for r in campaign_metrics(d)
        ],
        f"{project}.warehouse.platform_events": [r for d in days_list for r in platform_events(d)],
        f"{project}.customers.customer_usage_quotas": [
            r for d in days_list for r in customer_usage(d)
        ],
    }
    for table, rows in batches.items():
        load_rows(client, table, rows)
    return {t.rsplit(".", 1)[-1]: len(r) for t, r in batches.items()}
