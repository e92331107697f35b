"""``plumb refresh trigger|status|history`` (and ``cutover`` once the refresh area offers it).

``trigger`` publishes the same request Cloud Scheduler and ``POST /trigger`` publish to the
``refresh-requests`` topic (validated by the same parser), so the run goes through the real
trigger; ``--wait`` follows it in ``ops.refresh_runs_current`` with a progress bar.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ops import bq, progress
from ops.app import FailedError, State, json_option, table, translate_errors

TERMINAL = ("success", "failed", "skipped", "locked", "dry_run", "already_done")
FAILED = ("failed", "locked")


def _definitions() -> dict[str, Any]:
    from shared.refresh import orchestrate

    return orchestrate.load_definitions()


def _deps() -> dict[str, set[str]]:
    from shared.refresh import definitions

    return definitions.dependencies(_definitions())


def expected_tables(request: Any) -> set[str]:
    from shared.refresh import graph

    return graph.select(
        _deps(),
        request.tables,
        with_dependents=request.with_dependents,
        with_dependencies=request.with_dependencies,
    )


def run_state(run_id: str) -> dict[str, str]:
    """Latest status per table of one run."""
    rows = bq.query(
        f"""SELECT table_name, status FROM {bq.t("refresh_runs_current")} WHERE run_id = @r
QUALIFY ROW_NUMBER() OVER (PARTITION BY table_name
  ORDER BY invocation DESC, attempt DESC, finished_at DESC) = 1""",
        {"r": run_id},
    )
    return {str(r["table_name"]): str(r["status"]) for r in rows}


@click.group()
def refresh() -> None:
    """Derived-table refreshes: trigger, follow, inspect."""


@refresh.command("trigger")
@click.option(
    "--table", "tables", multiple=True, help="Only these tables (repeatable; default all)."
)
@click.option("--with-dependents", is_flag=True, help="Also every table that reads them.")
@click.option("--with-dependencies", is_flag=True, help="Also every table they read.")
@click.option("--dry-run", is_flag=True, help="Plan and estimate, change nothing.")
@click.option("--full-refresh", is_flag=True, help="Rebuild from the backfill window.")
@click.option("--as-of", help="Refresh as of this date (YYYY-MM-DD).")
@click.option("--run-id", help="Idempotency key (default: a new run id).")
@click.option("--wait/--no-wait", default=False, help="Follow the run until every table ends.")
@click.option(
    "--timeout",
    type=click.IntRange(1, 3600),
    default=600,
    show_default=True,
    help="Seconds --wait waits.",
)
@json_option
@click.pass_obj
@translate_errors
def trigger(  # noqa: PLR0917
    state: State,
    tables: tuple[str, ...],
    with_dependents: bool,
    with_dependencies: bool,
    dry_run: bool,
    full_refresh: bool,
    as_of: str | None,
    run_id: str | None,
    wait: bool,
    timeout: int,
) -> None:
    """Publish a manual refresh request to the refresh-requests topic."""
    from shared import clients
    from shared.refresh import orchestrate
    from shared.refresh import request as refresh_request

    state.target()
    body: dict[str, Any] = {
        "run_type": "manual",
        "with_dependents": with_dependents,
        "with_dependencies": with_dependencies,
        "dry_run": dry_run,
        "full_refresh": full_refresh,
    }
    for key, value in (("tables", list(tables) or None), ("as_of", as_of), ("run_id", run_id)):
        if value is not None:
            body[key] = value
    req = refresh_request.parse(body)
    unknown = sorted(set(req.tables or ()) - set(_definitions()))
    if unknown:
        raise click.BadParameter(
            f"unknown tables {unknown}; known: {', '.join(sorted(_definitions()))}",
            param_hint="--table",
        )
    payload = req.to_json()
    message_id = (
        clients.publisher()
        .publish(
            clients.topic_path(orchestrate.REQUESTS_TOPIC),
            json.dumps(payload).encode(),
            run_id=req.run_id,
        )
        .result(timeout=60)
    )
    result: dict[str, Any] = {
        "run_id": req.run_id,
        "message_id": str(message_id),
        "topic": orchestrate.REQUESTS_TOPIC,
        "request": payload,
    }
    if not wait:
        state.emit(result, f"published run {req.run_id} to {orchestrate.REQUESTS_TOPIC}")
        return
    expected = expected_tables(req)
    final = _follow(req.run_id, expected, timeout, show=not state.json)
    result["tables"] = final
    failed = sorted(t for t, s in final.items() if s in FAILED or s not in TERMINAL)
    result["ok"] = not failed
    state.emit(result, lambda: table([{"table": t, "status": s} for t, s in sorted(final.items())]))
    if failed:
        click.echo(f"run {req.run_id}: not done or failed: {', '.join(failed)}", err=True)
        raise click.exceptions.Exit(1)


def _follow(run_id: str, expected: set[str], timeout: int, *, show: bool) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    with progress.bar(len(expected), f"run {run_id}", quiet=not show) as bar:
        done = 0
        while time.monotonic() < deadline:
            states = run_state(run_id)
            now_done = sum(1 for t in expected if states.get(t) in TERMINAL)
            bar.update(now_done - done)
            done = now_done
            if done >= len(expected):
                break
            time.sleep(1.0)
    return {t: states.get(t, "pending") for t in expected}


@refresh.command("status")
@json_option
@click.pass_obj
@translate_errors
def status(state: State) -> None:
    """Per table: enabled, priority, last status and last success."""
    from shared.refresh import api, orchestrate

    state.target()
    data = api.status(orchestrate.store())
    cols = [
        "table_name",
        "enabled",
        "priority",
        "last_status",
        "last_finished_at",
        "last_success_at",
        "last_error",
    ]
    state.emit(data, lambda: table(data["tables"], cols))


@refresh.command("history")
@click.option("--table", "table_name", help="Only this table.")
@click.option("--run-id", help="Only this run.")
@click.option("--status", "run_status", help="Only rows with this status (e.g. failed).")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@json_option
@click.pass_obj
@translate_errors
def history(
    state: State, table_name: str | None, run_id: str | None, run_status: str | None, limit: int
) -> None:
    """Audit rows, newest first."""
    from shared.refresh import api, orchestrate

    state.target()
    args = {"limit": str(limit)}
    for key, value in (("table", table_name), ("run_id", run_id), ("status", run_status)):
        if value is not None:
            args[key] = value
    try:
        data = api.history(orchestrate.store(), _definitions(), args)
    except api.ApiError as exc:
        raise FailedError(exc.message) from None
    cols = [
        "run_id",
        "table_name",
        "attempt",
        "status",
        "run_type",
        "started_at",
        "rows_affected",
        "error",
    ]
    state.emit(data, lambda: table(data["runs"], cols))


def _register_cutover() -> None:
    from ops.refresh_cutover import cutover

    refresh.add_command(cutover)


_register_cutover()
