"""Team members and provider configs, limited by the plan, conflict-safe.

The gate is one Firestore document per customer and kind (``quota_members/{customer}``,
``quota_providers/{customer}``) holding who is in; an add reads it with the customer's limit
and commits with a precondition (:func:`shared.quotas.store.decide_and_commit`), so two
concurrent adds can never both take the last seat (a conditional BigQuery INSERT could: real
BigQuery runs the two statements on the same snapshot). The BigQuery row is the record,
written by an idempotent MERGE after the gate; an entry stays ``recorded: False`` until that
MERGE succeeded, and a repeated add finishes the job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared import clients
from shared.quotas import db, store
from shared.quotas.validation import check_id, raise_if

ROLES = ("OWNER", "ADMIN", "MEMBER", "VIEWER")
MEMBERS = "quota_members"
PROVIDERS = "quota_providers"

_RECORD_MEMBER = """
MERGE {members} AS T
USING (SELECT @c AS customer_id, @m AS member_id) AS S
ON T.customer_id = S.customer_id AND T.member_id = S.member_id
WHEN NOT MATCHED THEN INSERT (customer_id, member_id, email, role, active, created_at)
VALUES (@c, @m, @email, @role, TRUE, @now)
"""

_RECORD_PROVIDER = """
MERGE {providers} AS T
USING (SELECT @c AS customer_id, @p AS provider) AS S
ON T.customer_id = S.customer_id AND T.provider = S.provider
WHEN NOT MATCHED THEN INSERT (customer_id, provider, config, active, created_at)
VALUES (@c, @p, NULL, TRUE, @now)
"""


def _seats(collection: str, customer_id: str) -> Any:
    """The customer's seat document of one kind (``MEMBERS`` or ``PROVIDERS``)."""
    return clients.firestore().collection(collection).document(customer_id)


def _gate(
    collection: str, customer_id: str, item: str, limit_field: str, data: dict[str, Any]
) -> tuple[bool, bool]:
    """Take a seat for ``item``; returns (added now, still to record in BigQuery)."""
    ref = _seats(collection, customer_id)
    customer = store.customer_ref(customer_id)

    def decide() -> tuple[store.Plan, tuple[bool, bool]]:
        snaps = store.read([ref, customer])
        held = dict(store.plain(snaps[ref.path].to_dict()).get("items", {}))
        limit = int(store.plain(snaps[customer.path].to_dict()).get(limit_field, 0))
        plan = store.Plan()
        if item in held:
            return plan, (False, not held[item].get("recorded", False))
        if len(held) >= limit:
            return plan, (False, False)
        held[item] = {**data, "recorded": False}
        plan.write(ref, snaps[ref.path], {"customer_id": customer_id, "items": held})
        return plan, (True, True)

    return store.decide_and_commit(decide)


def _mark_recorded(collection: str, customer_id: str, item: str) -> None:
    ref = _seats(collection, customer_id)
    path = clients.firestore().field_path("items", item, "recorded")
    ref.update({path: True})


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
    now = datetime.now(UTC)
    added, to_record = _gate(
        MEMBERS, customer_id, member_id, "team_member_limit", {"email": email, "role": role}
    )
    if to_record:
        db.run(
            _RECORD_MEMBER.format(members=db.table("customer_team_members")),
            {"c": customer_id, "m": member_id, "email": email, "role": role, "now": now},
        )
        _mark_recorded(MEMBERS, customer_id, member_id)
    return added


def add_provider(customer_id: str, provider: str) -> bool:
    """True when added; False when the plan's provider limit is reached or already present."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "provider", provider)
    raise_if(problems)
    added, to_record = _gate(PROVIDERS, customer_id, provider, "provider_limit", {})
    if to_record:
        db.run(
            _RECORD_PROVIDER.format(providers=db.table("customer_provider_configs")),
            {"c": customer_id, "p": provider, "now": datetime.now(UTC)},
        )
        _mark_recorded(PROVIDERS, customer_id, provider)
    return added


def has_provider(customer_id: str, provider: str) -> bool:
    """Whether ``provider`` is one of the customer's configured providers (its seat taken)."""
    snap = _seats(PROVIDERS, customer_id).get()
    return provider in dict(store.plain(snap.to_dict()).get("items", {}))
