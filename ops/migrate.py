"""``plumb migrate firestore``: copy Firestore collections into their manifest tables."""

from __future__ import annotations

from typing import Any

import click

from ops import firestore_copy as fc
from ops import progress
from ops.app import State, json_option, table, translate_errors


@click.group()
def migrate() -> None:
    """One-off data migrations."""


@migrate.command("firestore")
@click.option(
    "--collection",
    "collections",
    multiple=True,
    help="Collection to copy (repeatable; default every one the manifest declares).",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=fc.DEFAULT_BATCH,
    show_default=True,
    help="Documents per load job.",
)
@click.option("--dry-run", is_flag=True, help="Count and plan, write nothing.")
@click.option("--restart", is_flag=True, help="Empty the target tables first instead of resuming.")
@click.option(
    "--max-batches", type=click.IntRange(1), help="Stop after N batches per collection (staging)."
)
@click.option("--verify-only", is_flag=True, help="Only compare counts and checksums.")
@click.option("--no-verify", is_flag=True, help="Skip the verification after copying.")
@json_option
@click.pass_obj
@translate_errors
def firestore(  # noqa: PLR0917
    state: State,
    collections: tuple[str, ...],
    batch: int,
    dry_run: bool,
    restart: bool,
    max_batches: int | None,
    verify_only: bool,
    no_verify: bool,
) -> None:
    """Copy COLLECTIONs (feedback, jobs) into BigQuery in batches, resuming after the last
    copied document, then verify counts and a checksum per collection (exit 1 on mismatch)."""
    if dry_run and (restart or verify_only):
        raise click.UsageError("--dry-run cannot be combined with --restart or --verify-only")
    state.target()
    known = fc.routes()
    chosen = list(collections) or sorted(known)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise click.BadParameter(
            f"{unknown} not declared in the manifest (known: {', '.join(sorted(known))})",
            param_hint="--collection",
        )
    routes = [known[c] for c in chosen]
    result: dict[str, Any] = {"dry_run": dry_run, "collections": []}
    if dry_run:
        plans = [fc.plan(r) for r in routes]
        rows = [{**vars(p), "to_copy": p.to_copy} for p in plans]
        result["collections"] = rows
        state.emit(result, lambda: table(rows))
        return
    ok = True
    for route in routes:
        entry: dict[str, Any] = {"collection": route.collection, "table": route.table}
        if not verify_only:
            if restart:
                entry["emptied_rows"] = fc.truncate(route)
            todo = fc.plan(route).to_copy
            with progress.bar(todo, f"{route.collection} -> {route.table}", quiet=state.json) as b:
                entry["copy"] = fc.copy(
                    route, batch_size=batch, max_batches=max_batches, on_batch=b.update
                )
        if not no_verify:
            check = fc.verify(route).to_json()
            entry["verify"] = check
            ok = ok and check["ok"]
        result["collections"].append(entry)
    result["ok"] = ok
    state.emit(result, lambda: _text(result))
    if not ok:
        click.echo("verification failed: counts or checksums differ", err=True)
        raise click.exceptions.Exit(1)


def _text(result: dict[str, Any]) -> None:
    for entry in result["collections"]:
        copied = entry.get("copy")
        if copied:
            after = copied["resumed_after"]
            click.echo(
                f"{entry['collection']} -> {entry['table']}: {copied['rows_written']} rows in "
                f"{copied['batches']} batch(es)"
                + (f", resumed after {after}" if after else "")
                + ("" if copied["complete"] else " (not complete: run again to resume)")
            )
        check = entry.get("verify")
        if check:
            same = check["firestore_checksum"] == check["bigquery_checksum"]
            click.echo(
                f"  verify: firestore {check['firestore_documents']} docs, bigquery "
                f"{check['bigquery_rows']} rows ({check['bigquery_distinct_ids']} distinct), "
                f"checksum {'match' if same else 'MISMATCH'}"
                f": {'OK' if check['ok'] else 'FAILED'}"
            )
