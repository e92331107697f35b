"""The orchestrator: one invocation of a refresh run.

Tables run in dependency order, ready ones by priority, independent branches concurrently
(bounded). Incremental tables process new partitions in chunks and checkpoint after each.
Every attempt is an audit row. Before the deadline the run stops launching work and returns
``continued``; the caller publishes a continuation message carrying the same run id, and the
next invocation skips tables the run already finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.errors import PipelineError, is_transient
from shared.refresh import faults, graph, validation
from shared.refresh.admission import Admission
from shared.refresh.definitions import Definition, dependencies
from shared.refresh.request import RefreshRequest
from shared.resources import manifest, table_id
from shared.retry import RetryPolicy

logger = logging.getLogger("shared.refresh.runner")
FINAL_DONE = ("success", "dry_run")


@dataclass
class Options:
    deadline_s: float = 480.0
    max_concurrency: int = 4
    lease_ttl_s: int = 900
    sleep: Callable[[float], None] = time.sleep


@dataclass
class TableOutcome:
    table: str
    status: str  # success | failed | skipped | locked | continued | dry_run | already_done
    attempts: int = 0
    rows_affected: int = 0
    bytes_processed: int = 0
    error: str | None = None


@dataclass
class RunResult:
    run_id: str
    status: str  # success | failed | continued
    tables: dict[str, TableOutcome] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "order": self.order,
            "tables": {
                name: {
                    "status": o.status,
                    "attempts": o.attempts,
                    "rows_affected": o.rows_affected,
                    "bytes_processed": o.bytes_processed,
                    "error": o.error,
                }
                for name, o in self.tables.items()
            },
        }


class _Cut(PipelineError):  # noqa: N818
    """The deadline passed between chunks."""

    def __init__(self, through: date | None) -> None:
        self.through = through


def chunks(start: date, end: date, size: int) -> list[tuple[date, date]]:
    out = []
    current = start
    while current <= end:
        last = min(end, current + timedelta(days=size - 1))
        out.append((current, last))
        current = last + timedelta(days=1)
    return out


def merge_sql(target: str, definition: Definition, columns: list[str], source: str) -> str:
    on = " AND ".join(f"T.{k} = S.{k}" for k in definition.key)
    if definition.partition_field:
        on += f" AND T.{definition.partition_field} BETWEEN @start_date AND @end_date"
    updates = ", ".join(f"{c} = S.{c}" for c in columns if c not in definition.key)
    cols = ", ".join(columns)
    values = ", ".join(f"S.{c}" for c in columns)
    return (
        f"MERGE `{target}` T\nUSING ({source}) S\nON {on}\n"
        f"WHEN MATCHED THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})"
    )


def replace_sql(target: str, columns: list[str], source: str) -> str:
    """One atomic statement: readers see the old rows or the new ones, never an empty table."""
    cols = ", ".join(columns)
    values = ", ".join(f"S.{c}" for c in columns)
    return (
        f"MERGE `{target}` T\nUSING ({source}) S\nON FALSE\n"
        f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})\n"
        "WHEN NOT MATCHED BY SOURCE THEN DELETE"
    )


class Runner:
    def __init__(
        self,
        store: Any,
        definitions: Mapping[str, Definition],
        options: Options | None = None,
        *,
        admission: Admission | None = None,
        local: bool = False,
    ) -> None:
        self.store = store
        self.definitions = dict(definitions)
        self.options = options or Options()
        self.admission = admission
        self.local = local
        self.deps = dependencies(self.definitions)
        graph.check_acyclic(self.deps)

    # ---------------------------------------------------------------- helpers
    def _target(self, definition: Definition, shadow: bool) -> str:
        name = definition.name + ("__shadow" if shadow else "")
        return table_id(self.store.project, definition.dataset, name)

    def _sql(self, definition: Definition) -> str:
        import string

        return string.Template(definition.sql).substitute(project=self.store.project)

    def _columns(self, definition: Definition) -> list[str]:
        return [f["name"] for f in manifest().table_schema(definition.name)]

    # ---------------------------------------------------------------- run
    def run(self, request: RefreshRequest) -> RunResult:  # noqa: PLR0912, PLR0915
        started = time.monotonic()
        deadline_s = self.options.deadline_s
        test = request.test if self.local else {}
        if isinstance(test.get("deadline_s"), int | float):
            deadline_s = min(deadline_s, float(test["deadline_s"]))
        deadline = started + deadline_s
        concurrency = request.concurrency or self.options.max_concurrency
        holder = f"{request.run_id}/{uuid.uuid4().hex[:8]}"
        overrides = {c["table_name"]: c for c in self.store.configs()}

        def enabled(name: str) -> bool:
            c = overrides.get(name, {})
            value = c.get("enabled_override")
            return bool(self.definitions[name].enabled if value is None else value)

        priority = {}
        for name, d in self.definitions.items():
            value = overrides.get(name, {}).get("priority_override")
            priority[name] = int(d.priority if value is None else value)

        unknown = set(request.tables or ()) - set(self.definitions)
        if unknown:
            raise ValueError(f"unknown tables {sorted(unknown)}")
        selected = graph.select(
            self.deps,
            request.tables,
            with_dependents=request.with_dependents,
            with_dependencies=request.with_dependencies,
        )
        if request.schedule and request.tables is None:
            selected = {n for n in selected if self.definitions[n].schedule == request.schedule}
        result = RunResult(request.run_id, "success")
        previous = self.store.run_rows(request.run_id)
        attempts: dict[str, int] = {}
        resume: dict[str, date] = {}
        finished: set[str] = set()
        for row in previous:
            name = row["table_name"]
            attempts[name] = max(attempts.get(name, 0), int(row["attempt"]))
            if row["status"] in FINAL_DONE:
                finished.add(name)
            if row["status"] == "continued" and row.get("partitions_to"):
                resume[name] = max(resume.get(name, row["partitions_to"]), row["partitions_to"])
        audit_lock = threading.Lock()

        def audit(row: dict[str, Any]) -> None:
            base = {
                "run_id": request.run_id,
                "run_type": request.run_type,
                "invocation": request.invocation,
                "dry_run": request.dry_run,
                "full_refresh": request.full_refresh,
                "customer_id": request.customer_id,
                "finished_at": datetime.now(UTC),
            }
            with audit_lock:
                self.store.audit([{**base, **row}])

        pending: set[str] = set()
        for name in sorted(selected):
            if name in finished:
                result.tables[name] = TableOutcome(name, "already_done", attempts.get(name, 0))
            elif not enabled(name):
                result.tables[name] = TableOutcome(name, "skipped", error="disabled")
            else:
                pending.add(name)
        done = {n for n, o in result.tables.items() if o.status == "already_done"}
        blocked: set[str] = set()
        cut = False

        def block_dependents(name: str, why: str) -> None:
            for dep in sorted(graph.dependents_of(self.deps, [name]) & pending):
                pending.discard(dep)
                blocked.add(dep)
                attempts[dep] = attempts.get(dep, 0) + 1
                now = datetime.now(UTC)
                audit(
                    {
                        "table_name": dep,
                        "attempt": attempts[dep],
                        "status": "skipped",
                        "started_at": now,
                        "error": f"dependency {name} {why}",
                    }
                )
                result.tables[dep] = TableOutcome(dep, "skipped", error=f"dependency {name} {why}")

        with cf.ThreadPoolExecutor(max_workers=concurrency) as pool:
            running: dict[cf.Future[TableOutcome], str] = {}
            while pending or running:
                # past the deadline no new table starts, except the first of an invocation
                # (so every continuation makes progress)
                if time.monotonic() < deadline or not result.order:
                    in_flight = running.values()
                    for name in graph.ready(self.deps, pending, done, priority, in_flight):
                        if len(running) >= concurrency:
                            break
                        pending.discard(name)
                        result.order.append(name)
                        running[
                            pool.submit(
                                self._refresh_table,
                                self.definitions[name],
                                request,
                                attempts.get(name, 0),
                                resume.get(name),
                                holder,
                                deadline,
                                test,
                                audit,
                                name in request.shadow,
                            )
                        ] = name
                elif not running:
                    cut = True
                    break
                if not running:
                    break
                finished_now, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
                for future in finished_now:
                    name = running.pop(future)
                    outcome = future.result()
                    result.tables[name] = outcome
                    if outcome.status in FINAL_DONE:
                        done.add(name)
                    elif outcome.status == "continued":
                        cut = True
                    else:
                        block_dependents(name, outcome.status)
        if cut or any(o.status == "continued" for o in result.tables.values()):
            result.status = "continued"
        elif any(
            o.status in ("failed", "locked", "skipped") and o.error != "disabled"
            for o in result.tables.values()
        ):
            result.status = "failed"
        return result

    # ---------------------------------------------------------------- one table
    def _refresh_table(  # noqa: PLR0912, PLR0915, PLR0917
        self,
        d: Definition,
        request: RefreshRequest,
        previous_attempts: int,
        resume_after: date | None,
        holder: str,
        deadline: float,
        test: dict[str, Any],
        audit: Callable[[dict[str, Any]], None],
        shadow_requested: bool,
    ) -> TableOutcome:
        attempt = previous_attempts
        outcome = TableOutcome(d.name, "failed")
        admitted_customer = None
        if d.customer_scope and request.customer_id and self.admission and not request.dry_run:
            ok, reason = self.admission.start(request.customer_id, d.name, request.run_id)
            if not ok:
                attempt += 1
                audit(
                    {
                        "table_name": d.name,
                        "attempt": attempt,
                        "status": "skipped",
                        "started_at": datetime.now(UTC),
                        "error": f"admission refused: {reason}",
                    }
                )
                return TableOutcome(
                    d.name, "skipped", attempt, error=f"admission refused: {reason}"
                )
            admitted_customer = request.customer_id
        leased = False
        if not request.dry_run:
            leased = self.store.acquire_lease(
                d.name, holder, request.run_id, self.options.lease_ttl_s
            )
            if not leased:
                other = self.store.lease_holder(d.name)
                attempt += 1
                audit(
                    {
                        "table_name": d.name,
                        "attempt": attempt,
                        "status": "locked",
                        "started_at": datetime.now(UTC),
                        "error": f"table is being refreshed by run {other}",
                    }
                )
                if admitted_customer and self.admission:
                    self.admission.finish(admitted_customer, d.name, request.run_id, False)
                return TableOutcome(d.name, "locked", attempt, error=f"locked by run {other}")
        try:
            policy = RetryPolicy(
                attempts=d.retries + 1, initial_s=d.retry_initial_s, maximum_s=30.0
            )
            delays = policy.delays()

            def attempt_row(status: str, **extra: Any) -> dict[str, Any]:
                """The audit row of this attempt with its statistics."""
                return {
                    "table_name": d.name,
                    "attempt": attempt,
                    "status": status,
                    "started_at": started,
                    "rows_affected": stats["rows"],
                    "bytes_processed": stats["bytes"],
                    "partitions_from": stats["from"],
                    "partitions_to": stats["to"],
                    **extra,
                }

            while True:
                attempt += 1
                started = datetime.now(UTC)
                stats = {"rows": 0, "bytes": 0, "from": None, "to": None}
                try:
                    self._execute(d, request, resume_after, deadline, test, stats, shadow_requested)
                    status = "dry_run" if request.dry_run else "success"
                    diff = None
                    if not request.dry_run:
                        target = self._target(d, d.shadow or shadow_requested)
                        validation.run_checks(self.store, d, target)
                        if d.shadow or shadow_requested:
                            diff = self._shadow_diff(d)
                    audit(attempt_row(status, shadow_diff=diff))
                    outcome = TableOutcome(
                        d.name, status, attempt, int(stats["rows"] or 0), int(stats["bytes"] or 0)
                    )
                    # `event` feeds the log-based metrics in terraform/monitoring.tf
                    logger.info(
                        "table %s refreshed",
                        d.name,
                        extra={"fields": {"event": "refresh_succeeded", "table": d.name}},
                    )
                    return outcome
                except _Cut as exc:
                    audit(
                        attempt_row(
                            "continued",
                            partitions_to=exc.through,
                            error="deadline reached; continues in a new invocation",
                        )
                    )
                    outcome = TableOutcome(d.name, "continued", attempt)
                    return outcome
                except Exception as exc:
                    transient = is_transient(exc) and not isinstance(exc, validation.CheckFailed)
                    delay = next(delays, None) if transient else None
                    status = "retrying" if delay is not None else "failed"
                    audit(attempt_row(status, error=f"{type(exc).__name__}: {exc}"[:2000]))
                    if delay is None:
                        logger.error(
                            "table %s failed: %s",
                            d.name,
                            exc,
                            extra={"fields": {"event": "refresh_failed", "table": d.name}},
                        )
                        outcome = TableOutcome(d.name, "failed", attempt, error=str(exc)[:500])
                        return outcome
                    logger.info("table %s transient error, retry in %.2fs: %s", d.name, delay, exc)
                    self.options.sleep(delay)
                    if stats["to"] is not None:
                        resume_after = stats["to"]  # type: ignore[assignment]
        finally:
            if leased:
                self.store.release_lease(d.name, holder)
            if admitted_customer and self.admission:
                self.admission.finish(
                    admitted_customer, d.name, request.run_id, outcome.status in FINAL_DONE
                )

    def _execute(  # noqa: PLR0912, PLR0917
        self,
        d: Definition,
        request: RefreshRequest,
        resume_after: date | None,
        deadline: float,
        test: dict[str, Any],
        stats: dict[str, Any],
        shadow: bool,
    ) -> None:
        shadow = d.shadow or shadow
        target = self._target(d, shadow)
        if shadow and not request.dry_run:
            self._ensure_shadow(d)
        source = self._sql(d)
        columns = self._columns(d)
        params: dict[str, Any] = {}
        if d.customer_scope:
            from shared.bigquery import typed

            params["customer_id"] = typed(request.customer_id, "STRING")
        faults_spec = test.get("faults") if isinstance(test.get("faults"), dict) else {}

        def statement(sql: str, extra: dict[str, Any]) -> None:
            faults.before_statement(faults_spec or {}, request.run_id, d.name)
            _, job = self.store.query(
                sql, {**params, **extra}, dry_run=request.dry_run, timeout_s=d.timeout_s
            )
            stats["bytes"] += int(job.total_bytes_processed or 0)
            if not request.dry_run:
                stats["rows"] += int(job.num_dml_affected_rows or 0)

        if d.incremental:
            as_of = request.as_of or datetime.now(UTC).date()
            checkpoint = None
            if resume_after is not None:
                start = resume_after + timedelta(days=1)
            elif request.full_refresh or shadow:
                start = as_of - timedelta(days=d.backfill_days - 1)
            else:
                checkpoint = self.store.checkpoint(d.name)
                if checkpoint is None:
                    start = as_of - timedelta(days=d.backfill_days - 1)
                else:
                    start = (
                        min(
                            checkpoint + timedelta(days=1),
                            as_of - timedelta(days=d.lookback_days - 1),
                        )
                        if d.lookback_days
                        else checkpoint + timedelta(days=1)
                    )
            sql = merge_sql(target, d, columns, source)
            for first, last in chunks(start, as_of, d.chunk_days):
                # at least one chunk per invocation, so a continuation always progresses
                if stats["to"] is not None and time.monotonic() >= deadline:
                    raise _Cut(stats["to"])
                statement(sql, {"start_date": first, "end_date": last})
                stats["from"] = stats["from"] or first
                stats["to"] = last
                if not request.dry_run and not shadow and not request.customer_id:
                    self.store.set_checkpoint(d.name, last, request.run_id)
            if stats["from"] is None:
                stats["from"] = start
                stats["to"] = as_of
            return
        if d.mode == "merge" or d.customer_scope:
            far = {"start_date": date(1970, 1, 1), "end_date": date(9999, 12, 31)}
            statement(merge_sql(target, d, columns, source), far)
            return
        cols = ", ".join(columns)
        if d.mode == "append":
            statement(f"INSERT INTO `{target}` ({cols})\nSELECT {cols} FROM ({source})", {})
        else:
            statement(replace_sql(target, columns, source), {})

    def _ensure_shadow(self, d: Definition) -> None:
        from google.cloud import bigquery

        live = self.store.client.get_table(self._target(d, False))
        shadow = bigquery.Table(self._target(d, True), schema=live.schema)
        self.store.client.create_table(shadow, exists_ok=True)

    def _shadow_diff(self, d: Definition) -> str:
        """Rows (on the key columns + compared columns) in one table and not the other."""
        import json

        cols = [c for c in self._columns(d) if c != "refreshed_at"]
        cl = ", ".join(cols)
        live, shadow = self._target(d, False), self._target(d, True)
        sql = (
            f"SELECT (SELECT COUNT(*) FROM (SELECT {cl} FROM `{shadow}` EXCEPT DISTINCT"
            f" SELECT {cl} FROM `{live}`)) AS only_in_shadow,"
            f" (SELECT COUNT(*) FROM (SELECT {cl} FROM `{live}` EXCEPT DISTINCT"
            f" SELECT {cl} FROM `{shadow}`)) AS only_in_live"
        )
        rows, _ = self.store.query(sql)
        return json.dumps({k: int(v or 0) for k, v in (rows[0] if rows else {}).items()})
