"""The rules of the strict local BigQuery layer, without any HTTP: SQL checks and table state.

Real BigQuery refuses things local-bigquery (DuckDB) accepts. :mod:`devstack.strict` sits in
front of the emulator and asks this module, for every query job, whether BigQuery would refuse
it and how. Each refusal is a :class:`BigQueryError` carrying BigQuery's error reason, HTTP
status and message, so the official client raises what it raises in production.

Rules (see docs/bigquery-fidelity.md for each one and the test that proves it):
- SQL is parsed with sqlglot's BigQuery dialect; a text it cannot parse as a statement, an
  UPDATE/DELETE without WHERE, a table name not qualified with a dataset, or an ``@param`` that is
  not bound is refused with ``invalidQuery`` (HTTP 400).
- A mutating DML statement (UPDATE, DELETE, MERGE) on a table that received rows through
  legacy streaming (``insertAll``) in the last ``buffer_s`` seconds is refused with BigQuery's
  streaming-buffer error. Table-level: stricter than BigQuery, which only refuses statements
  whose rows are still buffered (documented divergence).
- At most ``max_running`` mutating statements run per table, at most ``max_queued`` wait; more
  are refused with ``rateLimitExceeded``. A statement that starts while another one on the
  same table runs aborts with "Could not serialize access ... due to concurrent update"
  (``overlap_conflicts``); ``conflict_rate`` aborts that share of all mutating statements at
  random (``make run``); ``force_conflicts`` aborts the next N statements of a table (tests).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from shared.errors import PipelineError

MUTATING = ("Update", "Delete", "Merge")
_STATEMENTS = (
    "Select",
    "Union",
    "Intersect",
    "Except",
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "TruncateTable",
    "Transaction",
    "Commit",
    "Rollback",
    "Declare",
    "Set",
    "Command",
    "Subquery",
    "Describe",
)


@dataclass
class BigQueryError(PipelineError):
    """BigQuery's answer to a job it refuses: error reason, HTTP status, message."""

    reason: str
    message: str
    status: int = 400
    rule: str = ""

    def error(self) -> dict[str, str]:
        return {"reason": self.reason, "location": "query", "message": self.message}

    def body(self) -> dict[str, Any]:
        """The error body BigQuery sends with a failed REST call (jobs.query, getQueryResults)."""
        status = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 500: "INTERNAL"}
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{**self.error(), "domain": "global", "locationType": "other"}],
                "status": status.get(self.status, "UNKNOWN"),
            }
        }


def syntax_error(detail: str) -> BigQueryError:
    return BigQueryError("invalidQuery", f"Syntax error: {detail}", 400, "sql")


@dataclass
class StrictConfig:
    """The layer's knobs; every field can be changed at run time (``POST /_strict/config``)."""

    buffer_s: float = 120.0  # streaming buffer window after an insertAll
    max_running: int = 2  # mutating DML running per table
    max_queued: int = 20  # mutating DML waiting per table
    overlap_conflicts: bool = True  # a statement overlapping a running one on its table aborts
    conflict_rate: float = 0.0  # share of mutating statements aborted at random
    hold_s: float = 0.0  # extra time a mutating statement keeps its slot (makes overlap certain)
    check_sql: bool = True
    dry_run_min_bytes: int = 10 * 1024 * 1024  # BigQuery bills at least 10 MB per table
    force_conflicts: dict[str, int] = field(default_factory=dict)  # table -> next N abort
    seed: int | None = None

    def update(self, changes: Mapping[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown strict settings: {sorted(unknown)}")
        for key, value in changes.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Statement:
    """What the layer needs to know about one query text."""

    kind: str  # sqlglot class name of the (last meaningful) statement
    mutated: tuple[str, ...]  # dataset.table targets of UPDATE/DELETE/MERGE
    tables: tuple[str, ...]  # every dataset.table referenced


def _table_id(table: Any, default_dataset: str | None) -> str | None:
    name = table.name
    dataset = table.db or default_dataset
    if not dataset:
        return None
    return f"{dataset}.{name}"


def analyse(
    sql: str,
    *,
    bound: frozenset[str] = frozenset(),
    default_dataset: str | None = None,
) -> Statement:
    """Parse ``sql`` as BigQuery would; raise :class:`BigQueryError` where BigQuery refuses it."""
    import sqlglot
    from sqlglot import exp

    try:
        parsed = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise syntax_error(str(exc).splitlines()[0][:300]) from exc
    if not parsed:
        raise syntax_error("empty query")
    mutated: list[str] = []
    tables: list[str] = []
    kind = ""
    for statement in parsed:
        kind = type(statement).__name__
        _check_statement(statement, kind, bound)
        tables.extend(_tables(statement, default_dataset))
        if kind in MUTATING and isinstance(statement.this, exp.Table):
            table_id = _table_id(statement.this, default_dataset)
            if table_id:
                mutated.append(table_id)
    return Statement(kind, tuple(dict.fromkeys(mutated)), tuple(dict.fromkeys(tables)))


def _check_statement(statement: Any, kind: str, bound: frozenset[str]) -> None:
    from sqlglot import exp

    if kind not in _STATEMENTS:
        raise syntax_error(f"Unexpected {statement.sql(dialect='bigquery')[:60]!r} at [1:1]")
    if kind in ("Update", "Delete") and statement.args.get("where") is None:
        raise BigQueryError(
            "invalidQuery", f"{kind.upper()} must have a WHERE clause at [1:1]", 400, "sql"
        )
    for param in statement.find_all(exp.Parameter):
        name = param.name
        if name and not name.isdigit() and name.lower() not in bound:
            raise BigQueryError("invalidQuery", f"Query parameter '{name}' not found", 400, "sql")


def _tables(statement: Any, default_dataset: str | None) -> list[str]:
    """Every dataset.table the statement reads or writes (CTE names and UNNEST excluded)."""
    from sqlglot import exp

    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    found = []
    for table in statement.find_all(exp.Table):
        if not table.name or table.name.lower() in ctes:
            continue
        if isinstance(table.this, exp.Func) or table.find_ancestor(exp.Unnest):
            continue
        table_id = _table_id(table, default_dataset)
        if table_id is None:
            raise BigQueryError(
                "invalid",
                f'Table "{table.name}" must be qualified with a dataset (e.g. dataset.table).',
                400,
                "sql",
            )
        found.append(table_id)
    return found


def _label(project: str, table_id: str) -> str:
    return f"{project}:{table_id}" if project else table_id


def statement_key(sql: str, params: Any) -> str:
    """Identity of a statement and its parameters: a re-sent abort counts as a retry."""
    text = json.dumps([sql, params], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Counters:
    queries: int = 0
    mutating: int = 0
    conflicts_injected: int = 0
    conflicts_overlap: int = 0
    conflicts_random: int = 0
    conflicts_forced: int = 0
    retried: int = 0
    recovered: int = 0
    streaming_buffer_refusals: int = 0
    queue_refusals: int = 0
    sql_refusals: int = 0
    dry_runs: int = 0
    streamed_rows: int = 0


class TableGate:
    """Per-table streaming-buffer clock and mutating-DML slots (thread-safe)."""

    def __init__(self, config: StrictConfig, clock: Any = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.counters = Counters()
        self._cond = threading.Condition()
        self._streamed_at: dict[str, float] = {}
        self._running: dict[str, int] = {}
        self._queued: dict[str, int] = {}
        self._aborted: dict[str, int] = {}  # statement key -> times aborted, not yet recovered
        self._rng = random.Random(config.seed)

    # ---------------------------------------------------------------- streaming buffer
    def streamed(self, table_id: str, rows: int) -> None:
        with self._cond:
            self._streamed_at[table_id.lower()] = self.clock()
            self.counters.streamed_rows += rows

    def check_buffer(self, table_id: str, project: str = "") -> None:
        with self._cond:
            at = self._streamed_at.get(table_id.lower())
            if at is not None and self.clock() - at < self.config.buffer_s:
                self.counters.streaming_buffer_refusals += 1
                raise BigQueryError(
                    "invalidQuery",
                    f"UPDATE or DELETE statement over table {_label(project, table_id)} would "
                    "affect rows in "
                    "the streaming buffer, which is not supported",
                    400,
                    "streaming_buffer",
                )

    # ---------------------------------------------------------------- mutating DML slots
    def enter(self, tables: tuple[str, ...], key: str, project: str = "") -> None:
        """Take a running slot on every table (waiting in its queue), or raise a BigQueryError."""
        with self._cond:
            self.counters.mutating += 1
            if key in self._aborted:
                self.counters.retried += 1
            for table in tables:
                t = table.lower()
                if self._running.get(t, 0) >= self.config.max_running:
                    if self._queued.get(t, 0) >= self.config.max_queued:
                        self.counters.queue_refusals += 1
                        raise BigQueryError(
                            "rateLimitExceeded",
                            "Too many DML statements outstanding against table "
                            f"{_label(project, table)}, "
                            f"limit is {self.config.max_queued}.",
                            403,
                            "queue",
                        )
                    self._queued[t] = self._queued.get(t, 0) + 1
                    try:
                        while self._running.get(t, 0) >= self.config.max_running:
                            self._cond.wait()
                    finally:
                        self._queued[t] -= 1
            why = self._conflict(tables)
            if why:
                self.counters.conflicts_injected += 1
                name = f"conflicts_{why}"
                setattr(self.counters, name, getattr(self.counters, name) + 1)
                self._aborted[key] = self._aborted.get(key, 0) + 1
                raise BigQueryError(
                    "invalidQuery",
                    f"Could not serialize access to table {_label(project, tables[0])} due to "
                    "concurrent update",
                    400,
                    f"conflict_{why}",
                )
            for table in tables:
                t = table.lower()
                self._running[t] = self._running.get(t, 0) + 1

    def _conflict(self, tables: tuple[str, ...]) -> str:
        for table in tables:
            forced = self.config.force_conflicts.get(table, 0)
            if forced > 0:
                self.config.force_conflicts[table] = forced - 1
                return "forced"
        if self.config.overlap_conflicts and any(
            self._running.get(t.lower(), 0) > 0 for t in tables
        ):
            return "overlap"
        if self.config.conflict_rate > 0 and self._rng.random() < self.config.conflict_rate:
            return "random"
        return ""

    def leave(self, tables: tuple[str, ...], key: str, ok: bool) -> None:
        with self._cond:
            for table in tables:
                t = table.lower()
                self._running[t] = max(0, self._running.get(t, 0) - 1)
            if ok and self._aborted.pop(key, None) is not None:
                self.counters.recovered += 1
            self._cond.notify_all()

    def lost(self) -> int:
        """Aborted statements not (yet) re-sent successfully."""
        with self._cond:
            return len(self._aborted)

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            data = asdict(self.counters)
            data["lost"] = len(self._aborted)
            data["running"] = {k: v for k, v in self._running.items() if v}
            return data

    def reset(self) -> None:
        with self._cond:
            self.counters = Counters()
            self._streamed_at.clear()
            self._aborted.clear()
