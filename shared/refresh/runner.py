"""The orchestrator: one invocation of a refresh run.

Tables run in dependency order (``graphlib.TopologicalSorter`` tracks readiness), ready ones by
priority, independent branches concurrently (bounded). A table that does not finish blocks its
dependents (audited ``skipped``). Before the deadline the run stops launching work and returns
``continued``; the caller publishes a continuation message carrying the same run id, and the
next invocation skips tables the run already finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import graphlib
import queue
import time
import uuid
from collections.abc import Mapping

from shared.refresh import graph
from shared.refresh.attempt import Auditor, Options, RunContext, TableRefresh
from shared.refresh.definitions import Definition, dependencies
from shared.refresh.plan import Plan, make_plan
from shared.refresh.ports import NO_FAULTS, Admission, Faults, Store
from shared.refresh.request import RefreshRequest
from shared.refresh.results import FINAL_DONE, RunResult, TableOutcome

__all__ = ["NO_TABLE", "Options", "RunResult", "Runner", "TableOutcome"]
NO_TABLE = "(no table)"
"""``table_name`` of the audit row of a run that selected no table."""


class Runner:
    def __init__(
        self,
        store: Store,
        definitions: Mapping[str, Definition],
        options: Options | None = None,
        *,
        admission: Admission | None = None,
        faults: Faults = NO_FAULTS,
    ) -> None:
        self.store = store
        self.definitions = dict(definitions)
        self.options = options or Options()
        self.admission = admission
        self.faults = faults
        self.deps = dependencies(self.definitions)
        graph.check_acyclic(self.deps)

    def plan(self, request: RefreshRequest) -> Plan:
        return make_plan(
            request,
            self.definitions,
            self.deps,
            self.store.overrides(),
            self.store.run_rows(request.run_id),
        )

    def run(self, request: RefreshRequest) -> RunResult:
        plan = self.plan(request)
        ctx = RunContext(
            request=request,
            store=self.store,
            auditor=Auditor(self.store, request),
            options=self.options,
            faults=self.faults,
            admission=self.admission,
            holder=f"{request.run_id}/{uuid.uuid4().hex[:8]}",
            deadline=time.monotonic() + self.options.deadline_s,
        )
        result = RunResult(request.run_id, "success", dict(plan.decided))
        self._audit_decided(ctx, plan)
        cut = _Schedule(self, ctx, plan, result).run(request.concurrency)
        result.conclude(cut)
        return result

    @staticmethod
    def _audit_decided(ctx: RunContext, plan: Plan) -> None:
        """Audit what the plan decided without running, so no request is answered with
        nothing written: disabled tables (``skipped``, attempt 0), and a run that selects no
        table at all (a schedule no table follows) as one ``skipped`` row for NO_TABLE.
        Tables already done by this run keep their earlier rows."""
        for name, outcome in sorted(plan.decided.items()):
            if outcome.status == "skipped":
                ctx.auditor.write(name, 0, "skipped", error=outcome.error)
        if not plan.selected:
            why = f"schedule {ctx.request.schedule!r}" if ctx.request.schedule else "request"
            ctx.auditor.write(NO_TABLE, 0, "skipped", error=f"no table selected by the {why}")


class _Schedule:
    """The scheduling loop of one invocation."""

    def __init__(self, runner: Runner, ctx: RunContext, plan: Plan, result: RunResult) -> None:
        self.runner = runner
        self.ctx = ctx
        self.plan = plan
        self.result = result
        self.sorter = graphlib.TopologicalSorter(
            {n: runner.deps[n] & plan.selected for n in plan.selected}
        )
        self.sorter.prepare()
        self.ready: list[str] = []
        self.outcomes: queue.SimpleQueue[tuple[str, TableOutcome | BaseException]] = (
            queue.SimpleQueue()
        )

    def _collect_ready(self) -> None:
        """Move newly ready tables to the queue; decided tables (done, disabled) pass through."""
        while self.sorter.is_active():
            fresh = self.sorter.get_ready()
            if not fresh:
                break
            for name in fresh:
                if name in self.plan.pending:
                    self.ready.append(name)
                else:
                    self.sorter.done(name)  # already done or disabled: does not block
        self.ready.sort(key=lambda n: (-self.plan.priority.get(n, 0), n))

    def _start(self, pool: cf.ThreadPoolExecutor, name: str) -> None:
        self.result.order.append(name)
        table = TableRefresh(
            self.ctx,
            self.runner.definitions[name],
            self.plan.attempts.get(name, 0),
            self.plan.resume.get(name),
            name in self.plan.shadow,
        )

        def work() -> None:
            try:
                table.run(lambda outcome: self.outcomes.put((name, outcome)))
            except BaseException as exc:
                self.outcomes.put((name, exc))

        pool.submit(work)

    def run(self, concurrency: int | None) -> bool:
        """Run until every ready table is done; True when the deadline cut the run short.

        A table reports its outcome before releasing its lease, so its dependents start while
        that bookkeeping finishes (hence twice the workers of the concurrency limit).
        """
        limit = concurrency or self.runner.options.max_concurrency
        running: set[str] = set()
        reported: set[str] = set()
        cut = False
        with cf.ThreadPoolExecutor(max_workers=2 * limit) as pool:
            while True:
                self._collect_ready()
                # past the deadline no new table starts, except the first of an invocation
                # (so every continuation makes progress)
                may_start = time.monotonic() < self.ctx.deadline or not self.result.order
                while may_start and self.ready and len(running) < limit:
                    name = self.ready.pop(0)
                    running.add(name)
                    self._start(pool, name)
                if self.ready and not may_start:
                    cut = True
                if not running:
                    break
                name, outcome = self.outcomes.get()
                if isinstance(outcome, BaseException):
                    if name in reported:  # failed after its outcome was recorded
                        continue
                    raise outcome
                reported.add(name)
                running.discard(name)
                cut = self._finish(name, outcome) or cut
        return cut

    def _finish(self, name: str, outcome: TableOutcome) -> bool:
        """Record an outcome; True if the table continues in a later invocation."""
        self.result.tables[name] = outcome
        if outcome.status in FINAL_DONE:
            self.sorter.done(name)
        elif outcome.status != "continued":
            self._block_dependents(name, outcome.status)
        return outcome.status == "continued"

    def _block_dependents(self, name: str, why: str) -> None:
        blocked = graph.dependents_of(self.runner.deps, [name]) & self.plan.pending
        for dep in sorted(blocked - set(self.result.tables)):
            self.plan.pending.discard(dep)
            attempt = self.plan.attempts.get(dep, 0) + 1
            error = f"dependency {name} {why}"
            self.ctx.auditor.write(dep, attempt, "skipped", error=error)
            self.result.tables[dep] = TableOutcome(dep, "skipped", attempt, error=error)
