"""GitHub webhooks (payloads as GitHub documents them): pushes, pull requests, issues,
releases, workflow runs.

The event comes from the ``event_type`` attribute (the receiver takes it from
``X-GitHub-Event``), the action from the body (``pull_request`` + ``"action": "opened"`` ->
``pull_request.opened``). GitHub signs only the body, not ``X-GitHub-Event`` or
``X-GitHub-Delivery``: every handler requires the object its event implies (``pull_request``,
``issue``...), so a captured request replayed with another event header is dead-lettered, and
the dedup key is the body hash with the event (a replay with a new delivery id collapses).
A redelivery from GitHub has the same body, so it collapses as well.
"""

from __future__ import annotations

from typing import Any

from shared.webhooks import normalize as n
from shared.webhooks.rows import Context, TypedRow, platform_event

SOURCE = "github"


def provider_event_id(payload: dict[str, Any]) -> str | None:
    return None


def payload_event_type(payload: dict[str, Any]) -> str | None:
    return None


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise n.ValidationError(key, "must be an object (the event header and body disagree?)")
    return value


def _repository(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    repo = _object(payload, "repository")
    owner = n.text(n.get(repo, "owner.login"), "repository.owner.login", max_len=200)
    return owner, n.text(repo.get("full_name"), "repository.full_name", required=True)


def _flag(obj: dict[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    return value if isinstance(value, bool) else None


def _action(ctx: Context, payload: dict[str, Any]) -> str:
    action = n.text(payload.get("action"), "action", required=True, max_len=50)
    return f"{ctx.event_type}.{action}"


def push(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
    owner, repository = _repository(payload)
    ref = n.text(payload.get("ref"), "ref", required=True)
    after = n.text(payload.get("after"), "after", required=True, max_len=64)
    head = payload.get("head_commit")
    if isinstance(head, dict):
        occurred_at = n.timestamp(head.get("timestamp"), "head_commit.timestamp")
    else:  # a deleted branch has no head commit; pushed_at is epoch seconds then
        occurred_at = n.timestamp(n.get(payload, "repository.pushed_at"), "repository.pushed_at")
    commits = payload.get("commits") or []
    if not isinstance(commits, list):
        raise n.ValidationError("commits", "must be a list")
    return [
        platform_event(
            ctx,
            occurred_at=occurred_at,
            account_id=owner,
            event_type="push",
            entity_type="ref",
            entity_id=ref,
            entity_ids={"repository": repository, "after": after},
            properties={
                "commits": len(commits),
                "pusher": n.text(n.get(payload, "pusher.name"), "pusher.name", max_len=200),
                "forced": _flag(payload, "forced"),
                "deleted": _flag(payload, "deleted"),
            },
        )
    ]


def _numbered(key: str, time_field: str) -> Any:
    """pull_request / issues / release / workflow_run: one object with an id and a time."""

    def handle(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
        owner, repository = _repository(payload)
        obj = _object(payload, key)
        number = obj.get("number")
        return [
            platform_event(
                ctx,
                occurred_at=n.timestamp(obj.get(time_field), f"{key}.{time_field}"),
                account_id=owner,
                event_type=_action(ctx, payload),
                entity_type=key,
                entity_id=n.text(obj.get("id"), f"{key}.id", required=True),
                entity_ids={
                    "repository": repository,
                    "number": number if isinstance(number, int) else None,
                    "user": n.text(n.get(obj, "user.login"), f"{key}.user.login", max_len=200),
                },
                properties={
                    "state": n.text(obj.get("state"), f"{key}.state", max_len=50),
                    "status": n.text(obj.get("status"), f"{key}.status", max_len=50),
                    "conclusion": n.text(obj.get("conclusion"), f"{key}.conclusion", max_len=50),
                    "merged": _flag(obj, "merged"),
                    "tag_name": n.text(obj.get("tag_name"), f"{key}.tag_name", max_len=200),
                    "name": n.text(obj.get("name"), f"{key}.name", max_len=200),
                },
            )
        ]

    return handle


HANDLERS = {
    "push": push,
    "pull_request": _numbered("pull_request", "updated_at"),
    "issues": _numbered("issue", "updated_at"),
    "release": _numbered("release", "created_at"),
    "workflow_run": _numbered("workflow_run", "updated_at"),
}
