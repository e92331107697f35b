"""One table of one run: admission, lease, attempts with in-run retries, audit rows.

The statements themselves (incremental chunks, merge, replace, append) are built by
:class:`Statements`; everything here is bookkeeping around them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from shared.bigquery import Typed, is_transient, typed
from shared.errors import PipelineError
from shared.refresh import sql, validation
from shared.refresh.definitions import Definition
from shared.refresh.ports import Admission, AuditRow, Faults, Params, Store
from shared.refresh.request import RefreshRequest
from shared.refresh.results import FINAL_DONE, TableOutcome
from shared.resources import manifest, table_id
from shared.retry import RetryPolicy

logger = logging.getLogger("shared.refresh.attempt")
SHADOW_SUFFIX = "__shadow"


@dataclass(frozen=True)
class Options:
    deadline_s: float = 480.0
    max_concurrency: int = 4
    lease_ttl_s: int = 900
    retry_maximum_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep


class Cut(PipelineError):  # noqa: N818
    """The deadline passed between chunks; ``through`` is the last partition done."""

    def __init__(self, through: date | None) -> None:
        super().__init__("deadline reached")
        self.through = through


class Auditor:
    """Writes audit rows with the run's own fields filled in (thread-safe)."""

    def __init__(self, store: Store, request: RefreshRequest) -> None:
        self.store = store
        self.base = AuditRow(
            run_id=request.run_id,
            table_name="",
            attempt=0,
            status="",
            started_at=datetime.now(UTC),
            finished_at=datetime.now(UTC),
            run_type=request.run_type,
            invocation=request.invocation,
            dry_run=request.dry_run,
            full_refresh=request.full_refresh,
            customer_id=request.customer_id,
            delayed_attempt=request.delayed_attempt,
        )
        self._lock = threading.Lock()

    def row(
        self,
        table: str,
        attempt: int,
        status: str,
        started_at: datetime | None = None,
        **fields: object,
    ) -> AuditRow:
        now = datetime.now(UTC)
        row = replace(
            self.base,
            table_name=table,
            attempt=attempt,
            status=status,
            started_at=started_at or now,
            finished_at=now,
        )
        return replace(row, **fields)  # type: ignore[arg-type]  # keys are AuditRow fields

    def write(self, table: str, attempt: int, status: str, **fields: object) -> None:
        self.store_row(self.row(table, attempt, status, None, **fields))

    def store_row(self, row: AuditRow) -> None:
        with self._lock:
            self.store.audit([row])


@dataclass(frozen=True)
class RunContext:
    """What every table of one invocation shares."""

    request: RefreshRequest
    store: Store
    auditor: Auditor
    options: Options
    faults: Faults
    admission: Admission | None
    holder: str
    deadline: float  # time.monotonic() value

    def target(self, definition: Definition, shadow: bool) -> str:
        name = definition.name + (SHADOW_SUFFIX if shadow else "")
        return table_id(self.store.project, definition.dataset, name)


@dataclass
class Stats:
    rows: int = 0
    bytes: int = 0
    first: date | None = None
    last: date | None = None


class Statements:
    """The statements of one attempt of one table, with their statistics."""

    def __init__(self, ctx: RunContext, d: Definition, shadow: bool) -> None:
        self.ctx = ctx
        self.d = d
        self.shadow = shadow
        self.target = ctx.target(d, shadow)
        self.source = string.Template(d.sql).substitute(project=ctx.store.project)
        self.columns = [f["name"] for f in manifest().table_schema(d.name)]
        self.params: dict[str, Typed] = {}
        if d.customer_scope:
            self.params["customer_id"] = typed(ctx.request.customer_id, "STRING")
        self.stats = Stats()

    def run(self, resume_after: date | None) -> None:
        request = self.ctx.request
        if self.shadow and not request.dry_run:
            self.ctx.store.ensure_copy(self.ctx.target(self.d, False), self.target)
        if self.d.incremental:
            self._incremental(resume_after)
        elif self.d.mode == "merge" or self.d.customer_scope:
            far = {"start_date": date(1970, 1, 1), "end_date": date(9999, 12, 31)}
            self._statement(sql.merge_sql(self.target, self.d, self.columns, self.source), far)
        elif self.d.mode == "append":
            self._statement(sql.append_sql(self.target, self.columns, self.source), {})
        else:
            self._statement(sql.replace_sql(self.target, self.columns, self.source), {})

    def _statement(self, text: str, extra: Params) -> None:
        request = self.ctx.request
        self.ctx.faults.before_statement(request.run_id, self.d.name)
        _, stats = self.ctx.store.query(
            text, {**self.params, **extra}, dry_run=request.dry_run, timeout_s=self.d.timeout_s
        )
        self.stats.bytes += stats.bytes_processed
        if not request.dry_run:
            self.stats.rows += stats.rows_affected

    def window_start(self, resume_after: date | None, as_of: date) -> date:
        """First partition of this attempt: after a continuation, checkpoint or backfill."""
        d = self.d
        if resume_after is not None:
            return resume_after + timedelta(days=1)
        backfill = as_of - timedelta(days=d.backfill_days - 1)
        if self.ctx.request.full_refresh or self.shadow:
            return backfill
        checkpoint = self.ctx.store.checkpoint(d.name)
        if checkpoint is None:
            return backfill
        after = checkpoint + timedelta(days=1)
        return min(after, as_of - timedelta(days=d.lookback_days - 1)) if d.lookback_days else after

    def _checkpoint(self) -> None:
        """Record the last partition merged, once per attempt (also when cut or failing).

        Once, not per chunk: every refreshing table shares ``refresh_checkpoints``, and real
        BigQuery aborts concurrent DML on one table; merges are idempotent, so a crash between
        chunks only costs redoing them.
        """
        request = self.ctx.request
        if self.stats.last is None or request.dry_run or self.shadow or request.customer_id:
            return
        self.ctx.store.set_checkpoint(self.d.name, self.stats.last, request.run_id)

    def _incremental(self, resume_after: date | None) -> None:
        request = self.ctx.request
        as_of = request.as_of or datetime.now(UTC).date()
        start = self.window_start(resume_after, as_of)
        merge = sql.merge_sql(self.target, self.d, self.columns, self.source)
        try:
            for first, last in sql.chunks(start, as_of, self.d.chunk_days):
                # at least one chunk per invocation, so a continuation always progresses
                if self.stats.last is not None and time.monotonic() >= self.ctx.deadline:
                    raise Cut(self.stats.last)
                self._statement(merge, {"start_date": first, "end_date": last})
                self.stats.first = self.stats.first or first
                self.stats.last = last
        except BaseException:
            with contextlib.suppress(Exception):  # keep the partitions done; raise the cause
                self._checkpoint()
            raise
        self._checkpoint()
        if self.stats.first is None:
            self.stats.first, self.stats.last = start, as_of


class TableRefresh:
    """Refresh one table: admit, lease, attempt (with in-run retries), release."""

    def __init__(
        self, ctx: RunContext, d: Definition, attempts: int, resume: date | None, shadow: bool
    ) -> None:
        self.ctx = ctx
        self.d = d
        self.attempt = attempts
        self.resume = resume
        self.shadow = shadow
        self.started = datetime.now(UTC)

    def _refuse(self, status: str, error: str, retryable: bool = False) -> TableOutcome:
        self.attempt += 1
        self.ctx.auditor.write(self.d.name, self.attempt, status, error=error)
        return TableOutcome(self.d.name, status, self.attempt, error=error, retryable=retryable)

    def run(self, report: Callable[[TableOutcome], None] = lambda _: None) -> TableOutcome:
        """Refresh the table; ``report`` gets the outcome as soon as it is known, before the
        lease and quota are released (so dependents need not wait for that bookkeeping)."""
        ctx, name = self.ctx, self.d.name
        request = ctx.request
        customer = request.customer_id if self.d.customer_scope and not request.dry_run else None
        if customer and ctx.admission:
            ok, reason = ctx.admission.start(customer, name, request.run_id)
            if not ok:
                refused = self._refuse("skipped", f"admission refused: {reason}")
                report(refused)
                return refused
        leased = not request.dry_run and ctx.store.acquire_lease(
            name, ctx.holder, request.run_id, ctx.options.lease_ttl_s
        )
        outcome = TableOutcome(name, "failed", self.attempt)
        try:
            if not request.dry_run and not leased:
                other = ctx.store.lease_holder(name)
                outcome = self._refuse("locked", f"table is being refreshed by run {other}", True)
            else:
                outcome = self._attempts()
            report(outcome)
            return outcome
        finally:
            if leased:
                self._release()
            if customer and ctx.admission:
                ctx.admission.finish(customer, name, request.run_id, outcome.status in FINAL_DONE)

    def _release(self) -> None:
        try:
            self.ctx.store.release_lease(self.d.name, self.ctx.holder)
        except Exception as exc:  # the outcome is recorded; the lease expires on its own
            logger.warning("lease release of %s failed (expires by TTL): %s", self.d.name, exc)

    def _attempts(self) -> TableOutcome:
        policy = RetryPolicy(
            attempts=self.d.retries + 1,
            initial_s=self.d.retry_initial_s,
            maximum_s=self.ctx.options.retry_maximum_s,
        )
        delays = policy.delays()
        while True:
            outcome, statements, error = self._once()
            if outcome is not None:
                return outcome
            assert error is not None
            delay = next(delays, None) if _retryable(error) else None
            if delay is None:
                return self._failed(statements, error)
            self._audit(statements, "retrying", error=_describe(error))
            logger.info("table %s transient error, retry in %.2fs: %s", self.d.name, delay, error)
            self.ctx.options.sleep(delay)
            self.resume = statements.stats.last or self.resume

    def _once(self) -> tuple[TableOutcome | None, Statements, Exception | None]:
        """One attempt: its outcome, or the error that ended it."""
        self.attempt += 1
        self.started = datetime.now(UTC)
        statements = Statements(self.ctx, self.d, self.shadow)
        try:
            statements.run(self.resume)
            diff = self._validate(statements)
        except Cut as cut:
            self._audit(statements, "continued", partitions_to=cut.through, error=_CONTINUED)
            return TableOutcome(self.d.name, "continued", self.attempt), statements, None
        except Exception as exc:
            return None, statements, exc
        status = "dry_run" if self.ctx.request.dry_run else "success"
        self._audit(statements, status, shadow_diff=diff)
        # `event` feeds the log-based metrics in terraform/monitoring.tf
        logger.info(
            "table %s refreshed",
            self.d.name,
            extra={"fields": {"event": "refresh_succeeded", "table": self.d.name}},
        )
        s = statements.stats
        return TableOutcome(self.d.name, status, self.attempt, s.rows, s.bytes), statements, None

    def _validate(self, statements: Statements) -> str | None:
        """Run the checks on what was written; the shadow diff when writing a shadow."""
        if self.ctx.request.dry_run:
            return None
        validation.run_checks(self.ctx.store, self.d, statements.target)
        if not self.shadow:
            return None
        live = self.ctx.target(self.d, False)
        columns = [c for c in statements.columns if c != "refreshed_at"]
        stats = statements.stats
        if self.d.incremental and stats.first is not None and stats.last is not None:
            text = sql.diff_sql(live, statements.target, columns, self.d.partition_field)
            params: Params = {"start_date": stats.first, "end_date": stats.last}
        else:
            text, params = sql.diff_sql(live, statements.target, columns), {}
        rows, _ = self.ctx.store.query(text, params)
        counts = rows[0] if rows else {}
        return json.dumps({k: int(str(v or 0)) for k, v in counts.items()}, sort_keys=True)

    def _failed(self, statements: Statements, error: Exception) -> TableOutcome:
        self._audit(statements, "failed", error=_describe(error))
        logger.error(
            "table %s failed: %s",
            self.d.name,
            error,
            extra={"fields": {"event": "refresh_failed", "table": self.d.name}},
        )
        return TableOutcome(
            self.d.name,
            "failed",
            self.attempt,
            error=str(error)[:500],
            retryable=_retryable(error),
        )

    def _audit(self, statements: Statements, status: str, **fields: object) -> None:
        s = statements.stats
        values: dict[str, object] = {
            "shadow": self.shadow,
            "rows_affected": s.rows,
            "bytes_processed": s.bytes,
            "partitions_from": s.first,
            "partitions_to": s.last,
            **fields,
        }
        row = self.ctx.auditor.row(self.d.name, self.attempt, status, self.started, **values)
        self.ctx.auditor.store_row(row)


_CONTINUED = "deadline reached; continues in a new invocation"


def _retryable(error: Exception) -> bool:
    return is_transient(error) and not isinstance(error, validation.CheckFailed)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:2000]
