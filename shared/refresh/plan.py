"""Run planning: which tables a run covers, which are already done (resume), overrides.

Separate from the table attempts (``attempt.py``) and the scheduling loop (``runner.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from shared.errors import PermanentError
from shared.refresh import graph
from shared.refresh.definitions import Definition
from shared.refresh.ports import Override, PriorAttempt
from shared.refresh.request import RefreshRequest
from shared.refresh.results import FINAL_DONE, TableOutcome


@dataclass
class Plan:
    """One invocation's work, decided before any statement runs."""

    selected: set[str]
    pending: set[str]
    decided: dict[str, TableOutcome] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    resume: dict[str, date] = field(default_factory=dict)
    priority: dict[str, int] = field(default_factory=dict)
    shadow: set[str] = field(default_factory=set)


def select(
    request: RefreshRequest,
    definitions: Mapping[str, Definition],
    deps: Mapping[str, set[str]],
) -> set[str]:
    """The tables the request covers; PermanentError for a table no definition has."""
    unknown = set(request.tables or ()) - set(definitions)
    if unknown:
        raise PermanentError("unknown_table", f"unknown tables {sorted(unknown)}")
    selected = graph.select(
        deps,
        request.tables,
        with_dependents=request.with_dependents,
        with_dependencies=request.with_dependencies,
    )
    if request.schedule and request.tables is None:
        selected = {n for n in selected if definitions[n].schedule == request.schedule}
    return selected


def _resume(previous: list[PriorAttempt]) -> tuple[dict[str, int], dict[str, date], set[str]]:
    """Attempts so far, partitions done by continued attempts, finished tables."""
    attempts: dict[str, int] = {}
    resume: dict[str, date] = {}
    finished: set[str] = set()
    for row in previous:
        attempts[row.table] = max(attempts.get(row.table, 0), row.attempt)
        if row.status in FINAL_DONE:
            finished.add(row.table)
        if row.status == "continued" and row.partitions_to:
            resume[row.table] = max(resume.get(row.table, row.partitions_to), row.partitions_to)
    return attempts, resume, finished


def make_plan(
    request: RefreshRequest,
    definitions: Mapping[str, Definition],
    deps: Mapping[str, set[str]],
    overrides: Mapping[str, Override],
    previous: list[PriorAttempt],
) -> Plan:
    selected = select(request, definitions, deps)
    attempts, resume, finished = _resume(previous)
    plan = Plan(selected, set(), attempts=attempts, resume=resume)
    for name, d in definitions.items():
        o = overrides.get(name, Override())
        plan.priority[name] = d.priority if o.priority is None else o.priority
        if (d.shadow if o.shadow is None else o.shadow) or name in request.shadow:
            plan.shadow.add(name)
    for name in sorted(selected):
        o = overrides.get(name, Override())
        if name in finished:
            plan.decided[name] = TableOutcome(name, "already_done", attempts.get(name, 0))
        elif not (definitions[name].enabled if o.enabled is None else o.enabled):
            plan.decided[name] = TableOutcome(name, "skipped", error="disabled")
        else:
            plan.pending.add(name)
    return plan
