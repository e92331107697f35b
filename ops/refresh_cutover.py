"""``plumb refresh cutover status|promote|demote TABLE``: the gradual cut-over of one table
(shadow -> live after N clean shadow runs, and back), through :mod:`shared.refresh.cutover`."""

from __future__ import annotations

import getpass
from typing import Any

import click

from ops.app import FailedError, State, json_option, translate_errors


def _actor() -> str:
    try:
        return f"plumb:{getpass.getuser()}"
    except (KeyError, OSError):
        return "plumb"


def _summary(done: Any) -> dict[str, Any]:
    return {
        "table": done.table,
        "action": done.action,
        "mode": done.mode,
        "clean_runs": done.clean_runs,
        "evidence": done.evidence.runs,
    }


@click.group()
def cutover() -> None:
    """Shadow -> live cut-over of a derived table, guarded by clean shadow runs."""


@cutover.command("status")
@click.argument("table")
@click.option("--min-clean-runs", type=click.IntRange(1, 100), help="Default: the setting.")
@json_option
@click.pass_obj
@translate_errors
def status(state: State, table: str, min_clean_runs: int | None) -> None:
    """Mode of TABLE and whether promote would pass its guard now (changes nothing)."""
    from shared.refresh import cutover as lib

    state.target()
    st, definition, needed = lib._wired(table)
    found = lib.evidence(st, table, min_clean_runs or needed)
    data = {
        "table": table,
        "mode": "shadow" if lib.is_shadow(st, definition) else "live",
        "min_clean_runs": min_clean_runs or needed,
        "promotable": found.clean,
        "problems": found.problems,
        "evidence": found.runs,
    }

    def text() -> None:
        click.echo(f"{table}: {data['mode']}; promote {'would pass' if found.clean else 'refused'}")
        for problem in found.problems:
            click.echo(f"  - {problem}")

    state.emit(data, text)


@cutover.command("promote")
@click.argument("table")
@click.option("--reason", default="", help="Recorded with the cut-over.")
@click.option("--min-clean-runs", type=click.IntRange(1, 100), help="Default: the setting.")
@json_option
@click.pass_obj
@translate_errors
def promote(state: State, table: str, reason: str, min_clean_runs: int | None) -> None:
    """Switch TABLE from shadow to live if its last clean shadow runs allow (exit 1 if not)."""
    from shared.refresh import cutover as lib

    state.target()
    try:
        done = lib.promote_table(
            table, actor=_actor(), reason=reason, min_clean_runs=min_clean_runs
        )
    except lib.CutoverRefusedError as exc:
        raise FailedError(f"promote refused: {exc.detail}") from None
    state.emit(_summary(done), f"{table} is live ({done.clean_runs} clean shadow runs)")


@cutover.command("demote")
@click.argument("table")
@click.option("--reason", default="", help="Recorded with the cut-over.")
@json_option
@click.pass_obj
@translate_errors
def demote(state: State, table: str, reason: str) -> None:
    """Switch TABLE back to shadow at once (always allowed)."""
    from shared.refresh import cutover as lib

    state.target()
    done = lib.demote_table(table, actor=_actor(), reason=reason)
    state.emit(_summary(done), f"{table} is in shadow mode")
