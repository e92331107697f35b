"""Gradual cut-over of one table: ``shadow -> live`` after N clean shadow runs, and back.

A table in shadow mode is refreshed into ``<table>__shadow`` and each successful shadow attempt
records its diff against the live table. :func:`promote` switches the table to live only if
its last ``min_clean_runs`` shadow attempts since its last cut-over (final ones, not dry runs)
all succeeded (so every validation query passed) and found no difference; otherwise
:class:`CutoverRefusedError` lists why. :func:`demote` switches back to shadow at once. Both
record a row in ``ops.refresh_cutovers`` (who, why, the evidence). The state is the table's
``shadow_override`` in ``ops.refresh_configs``; the runner reads it through the overrides.
The API (``POST /configs/<table>/promote|demote``) and the CLI call these functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.errors import PermanentError
from shared.refresh.definitions import Definition
from shared.refresh.store import Store

CLEAN_DIFF = {"only_in_live": 0, "only_in_shadow": 0}


class CutoverRefusedError(PermanentError):
    """The table may not be promoted yet; ``problems`` says why."""

    def __init__(self, table: str, problems: list[str]) -> None:
        super().__init__("cutover_refused", f"{table}: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Evidence:
    """What the guard looked at: the latest shadow attempts, newest first."""

    runs: list[dict[str, str | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Cutover:
    table: str
    action: str
    mode: str  # the table's mode afterwards: live | shadow
    clean_runs: int
    evidence: Evidence


def is_shadow(st: Store, definition: Definition) -> bool:
    override = st.overrides().get(definition.name)
    value = override.shadow if override else None
    return definition.shadow if value is None else value


def evidence(st: Store, table: str, min_clean_runs: int) -> Evidence:
    """The guard: the last ``min_clean_runs`` shadow attempts since the last cut-over."""
    rows, _ = st.query(
        f"""SELECT run_id, status, shadow_diff, error
FROM `{st.t("refresh_runs_current")}`
WHERE table_name = @table AND shadow AND NOT COALESCE(dry_run, FALSE)
  AND status IN ('success', 'failed')
  AND finished_at > COALESCE(
    (SELECT MAX(at) FROM `{st.t("refresh_cutovers")}` WHERE table_name = @table),
    TIMESTAMP '1970-01-01 00:00:00+00')
ORDER BY finished_at DESC
LIMIT @n""",
        {"table": table, "n": min_clean_runs},
    )
    keys = ("run_id", "status", "shadow_diff")
    runs = [{k: None if r.get(k) is None else str(r.get(k)) for k in keys} for r in rows]
    problems = []
    if len(runs) < min_clean_runs:
        problems.append(f"{len(runs)} shadow runs since the last cut-over, {min_clean_runs} needed")
    for run in runs:
        if run["status"] != "success":
            problems.append(f"run {run['run_id']} failed (refresh or validation)")
        elif _diff(run["shadow_diff"]) != CLEAN_DIFF:
            problems.append(f"run {run['run_id']} differs from live: {run['shadow_diff']}")
    return Evidence(runs, problems)


def _diff(text: str | None) -> dict[str, int] | None:
    try:
        value = json.loads(text or "null")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def promote(
    st: Store,
    definition: Definition,
    *,
    min_clean_runs: int,
    actor: str,
    reason: str = "",
) -> Cutover:
    """Shadow -> live, if the guard passes; CutoverRefusedError otherwise (nothing changes)."""
    if not is_shadow(st, definition):
        raise CutoverRefusedError(definition.name, ["the table is already live"])
    found = evidence(st, definition.name, min_clean_runs)
    if not found.clean:
        raise CutoverRefusedError(definition.name, found.problems)
    st.set_override(definition.name, shadow=False)
    _record(st, definition.name, "promote", actor, reason, found)
    return Cutover(definition.name, "promote", "live", len(found.runs), found)


def demote(st: Store, definition: Definition, *, actor: str, reason: str = "") -> Cutover:
    """Live -> shadow (no guard: going back must always be possible)."""
    st.set_override(definition.name, shadow=True)
    _record(st, definition.name, "demote", actor, reason, Evidence())
    return Cutover(definition.name, "demote", "shadow", 0, Evidence())


def _record(st: Store, table: str, action: str, actor: str, reason: str, ev: Evidence) -> None:  # noqa: PLR0917
    st.dml(
        f"""INSERT INTO `{st.t("refresh_cutovers")}`
  (table_name, action, actor, reason, clean_runs, evidence, at)
VALUES (@table, @action, @actor, @reason, @clean, @evidence, @at)""",
        {
            "table": table,
            "action": action,
            "actor": actor[:200],
            "reason": reason[:1000],
            "clean": len(ev.runs),
            "evidence": json.dumps({"runs": ev.runs}, sort_keys=True),
            "at": datetime.now(UTC),
        },
    )


def _wired(table: str) -> tuple[Store, Definition, int]:
    from shared.refresh import orchestrate

    defs = orchestrate.load_definitions()
    if table not in defs:
        raise PermanentError("unknown_table", f"unknown table {table[:100]!r}")
    return orchestrate.store(), defs[table], orchestrate.config().cutover_min_clean_runs


def promote_table(
    table: str, *, actor: str, reason: str = "", min_clean_runs: int | None = None
) -> Cutover:
    """:func:`promote` with the function's own store and settings (for the CLI)."""
    st, definition, needed = _wired(table)
    return promote(
        st, definition, min_clean_runs=min_clean_runs or needed, actor=actor, reason=reason
    )


def demote_table(table: str, *, actor: str, reason: str = "") -> Cutover:
    """:func:`demote` with the function's own store (for the CLI)."""
    st, definition, _ = _wired(table)
    return demote(st, definition, actor=actor, reason=reason)
