"""Customer profiles and subscriptions: the record in BigQuery (written by MERGE, never streamed:
status changes by DML) and the copy admission reads in Firestore (``quota_customers``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.quotas import db, store
from shared.quotas.plans import STATUSES, TRIAL_DAYS, Plan, plan
from shared.quotas.validation import check_id, raise_if

_UPSERT_PROFILE = """
MERGE {profiles} AS T
USING (SELECT @customer_id AS customer_id) AS S ON T.customer_id = S.customer_id
WHEN MATCHED THEN UPDATE SET display_name = @name, status = @status, plan = @plan,
  trial_ends_at = @trial_ends_at, tenant_dataset = @tenant_dataset, updated_at = @now
WHEN NOT MATCHED THEN INSERT (customer_id, display_name, status, plan, trial_ends_at,
  tenant_dataset, created_at, updated_at)
VALUES (@customer_id, @name, @status, @plan, @trial_ends_at, @tenant_dataset, @now, @now)
"""

_UPSERT_SUBSCRIPTION = """
MERGE {subs} AS T
USING (SELECT @customer_id AS customer_id) AS S
ON T.customer_id = S.customer_id AND T.status = 'ACTIVE'
WHEN MATCHED THEN UPDATE SET plan = @plan, daily_pipeline_limit = @daily,
  concurrent_limit = @concurrent, monthly_api_call_limit = @monthly, team_member_limit = @members,
  provider_limit = @providers, updated_at = @now
WHEN NOT MATCHED THEN INSERT (subscription_id, customer_id, plan, status, daily_pipeline_limit,
  concurrent_limit, monthly_api_call_limit, team_member_limit, provider_limit, period_start,
  period_end, updated_at)
VALUES (@subscription_id, @customer_id, @plan, 'ACTIVE', @daily, @concurrent, @monthly,
  @members, @providers, @period_start, NULL, @now)
"""


def _checked_plan(
    customer_id: str,
    plan_name: str,
    status: str,
    daily_limit: int | None,
    concurrent_limit: int | None,
) -> Plan:
    """The plan of a valid upsert; InvalidInputError lists every problem of the arguments."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    if status not in STATUSES:
        problems.append(f"status must be one of {', '.join(STATUSES)}")
    chosen: Plan | None = None
    try:
        chosen = plan(plan_name)
    except ValueError as exc:
        problems.append(str(exc))
    for label, value in (("daily_limit", daily_limit), ("concurrent_limit", concurrent_limit)):
        if value is not None and (isinstance(value, bool) or not 0 <= value <= 100_000):
            problems.append(f"{label} must be between 0 and 100000")
    raise_if(problems)
    assert chosen is not None  # raise_if raised otherwise
    return chosen


def upsert_customer(
    customer_id: str,
    plan_name: str,
    *,
    status: str = "ACTIVE",
    display_name: str | None = None,
    trial_ends_at: datetime | None = None,
    daily_limit: int | None = None,
    concurrent_limit: int | None = None,
) -> None:
    """Create or update a customer and its active subscription (limits from the plan, or the
    overrides given; a TRIAL without an end gets the 14-day trial)."""
    chosen = _checked_plan(customer_id, plan_name, status, daily_limit, concurrent_limit)
    now = datetime.now(UTC)
    if status == "TRIAL" and trial_ends_at is None:
        trial_ends_at = now + timedelta(days=TRIAL_DAYS)
    tables = {"profiles": db.table("customer_profiles"), "subs": db.table("customer_subscriptions")}
    db.run(
        _UPSERT_PROFILE.format(**tables),
        {
            "customer_id": customer_id,
            "name": display_name or customer_id,
            "status": status,
            "plan": chosen.name,
            "trial_ends_at": trial_ends_at,
            "tenant_dataset": f"tenant_{customer_id.replace('-', '_').replace('.', '_')}"[:1024],
            "now": now,
        },
    )
    daily = chosen.daily_pipelines if daily_limit is None else daily_limit
    concurrent = chosen.concurrent if concurrent_limit is None else concurrent_limit
    db.run(
        _UPSERT_SUBSCRIPTION.format(**tables),
        {
            "customer_id": customer_id,
            "subscription_id": f"{customer_id}:{now.date().isoformat()}",
            "plan": chosen.name,
            "daily": daily,
            "concurrent": concurrent,
            "monthly": chosen.monthly_api_calls,
            "members": chosen.team_members,
            "providers": chosen.providers,
            "period_start": date(now.year, now.month, 1),
            "now": now,
        },
    )
    store.write_customer(
        customer_id,
        {
            "customer_id": customer_id,
            "status": status,
            "plan": chosen.name,
            "trial_ends_at": trial_ends_at,
            "daily_limit": daily,
            "concurrent_limit": concurrent,
            "monthly_api_call_limit": chosen.monthly_api_calls,
            "team_member_limit": chosen.team_members,
            "provider_limit": chosen.providers,
            "updated_at": now,
        },
        merge=False,
    )


def set_status(customer_id: str, status: str) -> bool:
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    if status not in STATUSES:
        problems.append(f"status must be one of {', '.join(STATUSES)}")
    raise_if(problems)
    _, affected = db.run(
        f"UPDATE {db.table('customer_profiles')} SET status = @status, updated_at = @now "
        "WHERE customer_id = @customer_id",
        {"customer_id": customer_id, "status": status, "now": datetime.now(UTC)},
    )
    if affected:
        store.write_customer(
            customer_id, {"status": status, "updated_at": datetime.now(UTC)}, merge=True
        )
    return affected > 0
