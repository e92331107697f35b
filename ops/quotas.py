"""``plumb quotas usage`` and ``plumb quotas admit`` (one run through the same admission path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from ops import bq
from ops.app import FailedError, State, json_option, table, translate_errors


@click.group()
def quotas() -> None:
    """Per-customer plan limits and today's usage."""


def usage_rows(customer_id: str | None = None) -> list[dict[str, Any]]:
    """Every customer with an active subscription and today's use of it (0 when idle).

    Runs admitted and leases held are the live state (Firestore); limits and alert flags come
    from the BigQuery record, which the lease sweep rebuilds every 5 minutes.
    """
    from shared.quotas import admission

    rows = _record_rows(customer_id)
    for row in rows:
        live = admission.usage(row["customer_id"])
        limit = row.get("daily_limit") or 0
        row["pipelines_run"] = live["admitted"]
        row["running"] = len(live["leases"])
        row["percent_of_daily_limit"] = round(100 * live["admitted"] / limit, 1) if limit else 0
    return rows


def _record_rows(customer_id: str | None) -> list[dict[str, Any]]:
    return bq.query(
        f"""SELECT p.customer_id, p.status, p.plan,
  IFNULL(u.pipelines_run, 0) AS pipelines_run,
  COALESCE(u.daily_limit, s.daily_pipeline_limit) AS daily_limit,
  IFNULL(u.running, 0) AS running,
  COALESCE(u.concurrent_limit, s.concurrent_limit) AS concurrent_limit,
  IFNULL(u.percent_of_daily_limit, 0) AS percent_of_daily_limit,
  IFNULL(u.warning_sent, FALSE) AS warning_sent,
  IFNULL(u.exceeded, FALSE) AS exceeded
FROM {bq.t("customer_profiles")} AS p
LEFT JOIN (
  SELECT * FROM {bq.t("customer_subscriptions")} WHERE status = 'ACTIVE'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY period_start DESC) = 1
) AS s ON s.customer_id = p.customer_id
LEFT JOIN {bq.t("quota_utilization_today")} AS u ON u.customer_id = p.customer_id
WHERE (@c IS NULL OR p.customer_id = @c)
ORDER BY p.customer_id""",
        {"c": customer_id},
    )


@quotas.command("usage")
@click.option("--customer", "customer_id", help="Only this customer (exit 1 when unknown).")
@json_option
@click.pass_obj
@translate_errors
def usage(state: State, customer_id: str | None) -> None:
    """Today's runs, leases held and limits per customer."""
    state.target()
    rows = usage_rows(customer_id)
    if customer_id and not rows:
        raise FailedError(f"no customer {customer_id!r}")
    state.emit({"usage": rows, "date": datetime.now(UTC).date()}, lambda: table(rows))


@quotas.command("admit")
@click.argument("customer_id")
@click.option("--pipeline", required=True, help="Pipeline name.")
@click.option("--run-id", help="Idempotency key of the run (default: a new one).")
@click.option(
    "--finish",
    "finish_status",
    type=click.Choice(["COMPLETED", "FAILED"]),
    help="Finish the run at once with this status (releases the lease).",
)
@json_option
@click.pass_obj
@translate_errors
def admit(
    state: State, customer_id: str, pipeline: str, run_id: str | None, finish_status: str | None
) -> None:
    """Ask admission for one run of CUSTOMER_ID (exit 1 when refused), as a runner would.

    Runners call the HTTP admission API with their customer's key; this is the same
    atomic admission for operators (e.g. to check a customer's limits by hand).
    """
    import uuid

    from shared.quotas import admission

    state.target()
    run = run_id or f"cli-{uuid.uuid4().hex[:12]}"
    result = admission.start(customer_id, pipeline, run)
    data = result.to_json()
    if result.admitted and finish_status:
        data["finished"] = admission.finish(run, finish_status, customer_id=customer_id)
    text = (
        f"{'admitted' if result.admitted else 'refused'} run {run} of {customer_id}: "
        f"{result.reason} (used {result.used}/{result.limit}, "
        f"running {result.running}/{result.concurrent_limit})"
    )
    state.emit(data, text)
    if not result.admitted:
        raise click.exceptions.Exit(1)
