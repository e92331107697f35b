"""Plans as data: the limits every subscription copies when it starts."""

from __future__ import annotations

from dataclasses import dataclass

TRIAL_DAYS = 14
CONCURRENT_LIMIT = 3


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    team_members: int
    providers: int
    daily_pipelines: int
    monthly_api_calls: int
    concurrent: int = CONCURRENT_LIMIT


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("STARTER", team_members=2, providers=3, daily_pipelines=6, monthly_api_calls=10_000),
        Plan("PROFESSIONAL", 6, 6, 25, monthly_api_calls=100_000),
        Plan("SCALE", 11, 10, 100, monthly_api_calls=1_000_000),
    )
}
STATUSES = ("ACTIVE", "TRIAL", "SUSPENDED", "CANCELLED")


def plan(name: str) -> Plan:
    """The plan called ``name`` (case-insensitive); ValueError for an unknown plan."""
    found = PLANS.get(name.upper()) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"unknown plan {name!r} (expected one of {', '.join(PLANS)})")
    return found
