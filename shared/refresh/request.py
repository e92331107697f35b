"""The refresh request: what Cloud Scheduler, the API and continuations publish."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from shared.errors import PermanentError

RUN_TYPES = ("scheduled", "manual", "continuation", "retry", "backfill")
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
_KEYS = {
    "run_id",
    "run_type",
    "schedule",
    "tables",
    "with_dependents",
    "with_dependencies",
    "dry_run",
    "full_refresh",
    "as_of",
    "customer_id",
    "concurrency",
    "invocation",
    "shadow",
    "delayed_attempt",
    "test",
}


class RequestError(PermanentError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid_refresh_request", "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RefreshRequest:
    run_id: str
    run_type: str = "manual"
    schedule: str | None = None
    tables: tuple[str, ...] | None = None
    with_dependents: bool = False
    with_dependencies: bool = False
    dry_run: bool = False
    full_refresh: bool = False
    as_of: date | None = None
    customer_id: str | None = None
    concurrency: int | None = None
    invocation: int = 0
    shadow: tuple[str, ...] = ()
    delayed_attempt: int = 0
    test: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tables"] = list(self.tables) if self.tables is not None else None
        data["shadow"] = list(self.shadow)
        data["as_of"] = self.as_of.isoformat() if self.as_of else None
        return {k: v for k, v in data.items() if v not in (None, {}, [])}

    def continuation(self) -> RefreshRequest:
        from dataclasses import replace

        return replace(self, invocation=self.invocation + 1)


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:16]}"


def _bool(body: dict[str, Any], key: str, problems: list[str]) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        problems.append(f"{key} must be true or false")
        return False
    return value


def _tables(value: Any, key: str, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(t, str) and _TABLE.fullmatch(t) for t in value
    ):
        problems.append(f"{key} must be a list of table names")
        return None
    if len(value) > 500:
        problems.append(f"{key}: at most 500 tables")
        return None
    return tuple(value)


def _int(
    body: dict[str, Any],
    key: str,
    low: int,
    high: int,
    problems: list[str],
    *,
    default: int | None = None,
) -> int | None:
    """``body[key]`` as an integer in [low, high], ``default`` when absent (null is allowed
    only when the default is None); an invalid value is noted and gives ``default``."""
    value = body.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{key} must be an integer in [{low}, {high}]")
        return default
    return value


def _matching(
    body: dict[str, Any], key: str, pattern: re.Pattern[str], message: str, problems: list[str]
) -> str | None:
    """``body[key]`` when it is a string matching ``pattern``; None when absent or invalid."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        problems.append(message)
        return None
    return value


def _as_of(value: Any, problems: list[str]) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append("as_of must be an ISO date (YYYY-MM-DD)")
        return None


def _customer(value: Any, problems: list[str]) -> str | None:
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= 128):
        problems.append("customer_id must be a string of 1-128 characters")
        return None
    return value


def _test_hooks(value: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.append("test must be an object")
        return {}
    return value


def run_id_for_message(message_id: str) -> str:
    """The run id of a message that names none (a Cloud Scheduler tick): derived from its
    Pub/Sub message id, so a redelivered tick resumes the same run instead of starting a
    second one, and its audit rows can be found from the message."""
    return f"msg-{hashlib.sha256(message_id.encode()).hexdigest()[:24]}"


def parse(
    body: Any, *, default_run_type: str = "manual", default_run_id: str | None = None
) -> RefreshRequest:
    """Validate a request body (a JSON object); RequestError lists every problem.

    A body without ``run_id`` gets ``default_run_id`` (else a new random id)."""
    if not isinstance(body, dict):
        raise RequestError(["the request must be a JSON object"])
    problems: list[str] = []
    unknown = set(body) - _KEYS
    if unknown:
        problems.append(f"unknown fields {sorted(str(k) for k in unknown)[:10]}")
    run_id = body.get("run_id") or default_run_id or new_run_id()
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):  # .match: "$" accepts "x\n"
        problems.append("run_id must be 1-100 characters of [A-Za-z0-9_.:-]")
    run_type = body.get("run_type", default_run_type)
    if run_type not in RUN_TYPES:
        problems.append(f"run_type must be one of {RUN_TYPES}")
    request = RefreshRequest(
        run_id=str(run_id),
        run_type=str(run_type),
        schedule=_matching(body, "schedule", _TABLE, "schedule must be a name", problems),
        tables=_tables(body.get("tables"), "tables", problems),
        with_dependents=_bool(body, "with_dependents", problems),
        with_dependencies=_bool(body, "with_dependencies", problems),
        dry_run=_bool(body, "dry_run", problems),
        full_refresh=_bool(body, "full_refresh", problems),
        as_of=_as_of(body.get("as_of"), problems),
        customer_id=_customer(body.get("customer_id"), problems),
        concurrency=_int(body, "concurrency", 1, 32, problems),
        invocation=_int(body, "invocation", 0, 1000, problems, default=0) or 0,
        shadow=_tables(body.get("shadow"), "shadow", problems) or (),
        delayed_attempt=_int(body, "delayed_attempt", 0, 10, problems, default=0) or 0,
        test=_test_hooks(body.get("test", {}), problems),
    )
    if problems:
        raise RequestError(problems)
    return request
