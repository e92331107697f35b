"""``plumb customers create|list|suspend``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ops import bq
from ops.app import FailedError, State, json_option, table, translate_errors
from shared.quotas.plans import PLANS, STATUSES


@click.group()
def customers() -> None:
    """Customers, their plan and status."""


def _exists(customer_id: str) -> bool:
    rows = bq.query(
        f"SELECT COUNT(*) AS n FROM {bq.t('customer_profiles')} WHERE customer_id = @c",
        {"c": customer_id},
    )
    return bool(rows and rows[0]["n"])


@customers.command("create")
@click.argument("customer_id")
@click.option(
    "--plan",
    "plan_name",
    type=click.Choice(list(PLANS), case_sensitive=False),
    required=True,
    help="Plan whose limits the subscription copies.",
)
@click.option("--name", "display_name", help="Display name (default: the id).")
@click.option(
    "--trial-days",
    type=click.IntRange(1, 365),
    help="Start as TRIAL ending in this many days (default: ACTIVE).",
)
@click.option("--daily-limit", type=click.IntRange(0, 100_000), help="Override the plan's daily.")
@click.option(
    "--concurrent-limit", type=click.IntRange(0, 100_000), help="Override the plan's concurrent."
)
@json_option
@click.pass_obj
@translate_errors
def create(  # noqa: PLR0917
    state: State,
    customer_id: str,
    plan_name: str,
    display_name: str | None,
    trial_days: int | None,
    daily_limit: int | None,
    concurrent_limit: int | None,
) -> None:
    """Create (or update) CUSTOMER_ID with a plan; idempotent."""
    from shared.quotas import customers as lib

    state.target()
    existed = _exists(customer_id)
    status = "TRIAL" if trial_days else "ACTIVE"
    lib.upsert_customer(
        customer_id,
        plan_name,
        status=status,
        display_name=display_name,
        trial_ends_at=datetime.now(UTC) + timedelta(days=trial_days) if trial_days else None,
        daily_limit=daily_limit,
        concurrent_limit=concurrent_limit,
    )
    result = {
        "customer_id": customer_id,
        "plan": plan_name.upper(),
        "status": status,
        "action": "updated" if existed else "created",
    }
    state.emit(result, f"{result['action']} customer {customer_id} ({result['plan']}, {status})")


def list_rows(status: str | None = None) -> list[dict[str, Any]]:
    return bq.query(
        f"""SELECT p.customer_id, p.display_name, p.status, p.plan, p.trial_ends_at,
  s.daily_pipeline_limit AS daily_limit, s.concurrent_limit, p.created_at
FROM {bq.t("customer_profiles")} AS p
LEFT JOIN (
  SELECT * FROM {bq.t("customer_subscriptions")} WHERE status = 'ACTIVE'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY period_start DESC) = 1
) AS s ON s.customer_id = p.customer_id
WHERE (@status IS NULL OR p.status = @status)
ORDER BY p.customer_id""",
        {"status": status},
    )


@customers.command("list")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), help="Only these.")
@json_option
@click.pass_obj
@translate_errors
def list_(state: State, status: str | None) -> None:
    """Every customer with plan, status and limits."""
    state.target()
    rows = list_rows(status.upper() if status else None)
    state.emit({"customers": rows}, lambda: table(rows))


@customers.command("suspend")
@click.argument("customer_id")
@json_option
@click.pass_obj
@translate_errors
def suspend(state: State, customer_id: str) -> None:
    """Suspend CUSTOMER_ID: admission refuses its runs from now on (exit 1 if unknown)."""
    from shared.quotas import customers as lib

    state.target()
    if not lib.set_status(customer_id, "SUSPENDED"):
        raise FailedError(f"no customer {customer_id!r}")
    state.emit(
        {"customer_id": customer_id, "status": "SUSPENDED"}, f"suspended customer {customer_id}"
    )
