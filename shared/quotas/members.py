"""Team members and provider configs, limited by the plan: each add is ONE conditional INSERT
that counts the customer's active rows in the same statement (no read-then-write race)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.quotas import db
from shared.quotas.validation import check_id, raise_if

ROLES = ("OWNER", "ADMIN", "MEMBER", "VIEWER")

_ADD_MEMBER = """
INSERT INTO {members} (customer_id, member_id, email, role, active, created_at)
SELECT @c, @m, @email, @role, TRUE, @now
FROM {subs} AS s
WHERE s.customer_id = @c AND s.status = 'ACTIVE'
  AND (SELECT COUNT(*) FROM {members} WHERE customer_id = @c AND active) < s.team_member_limit
  AND NOT EXISTS(SELECT 1 FROM {members} WHERE customer_id = @c AND member_id = @m)
"""

_ADD_PROVIDER = """
INSERT INTO {providers} (customer_id, provider, config, active, created_at)
SELECT @c, @p, NULL, TRUE, @now
FROM {subs} AS s
WHERE s.customer_id = @c AND s.status = 'ACTIVE'
  AND (SELECT COUNT(*) FROM {providers} WHERE customer_id = @c AND active) < s.provider_limit
  AND NOT EXISTS(SELECT 1 FROM {providers} WHERE customer_id = @c AND provider = @p)
"""


def add_member(customer_id: str, member_id: str, email: str, role: str = "MEMBER") -> bool:
    """True when added; False when the plan's member limit is reached or already a member."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "member_id", member_id)
    if role not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        problems.append("email is not an email address")
    raise_if(problems)
    sql = _ADD_MEMBER.format(
        members=db.table("customer_team_members"), subs=db.table("customer_subscriptions")
    )
    _, added = db.run(
        sql,
        {"c": customer_id, "m": member_id, "email": email, "role": role, "now": datetime.now(UTC)},
    )
    return added == 1


def add_provider(customer_id: str, provider: str) -> bool:
    """True when added; False when the plan's provider limit is reached or already present."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "provider", provider)
    raise_if(problems)
    sql = _ADD_PROVIDER.format(
        providers=db.table("customer_provider_configs"), subs=db.table("customer_subscriptions")
    )
    _, added = db.run(sql, {"c": customer_id, "p": provider, "now": datetime.now(UTC)})
    return added == 1
