"""``plumb warehouse audit``: wraps :mod:`shared.warehouse.audit` (inventory, rows, bytes, cost)."""

from __future__ import annotations

import click

from ops.app import State, json_option, translate_errors


@click.group()
def warehouse() -> None:
    """The BigQuery warehouse as a whole."""


@warehouse.command("audit")
@click.option("--dataset", "datasets", multiple=True, help="Only this dataset (repeatable).")
@click.option("--location", help="BigQuery location (default: BIGQUERY_LOCATION).")
@json_option
@click.pass_obj
@translate_errors
def audit(state: State, datasets: tuple[str, ...], location: str | None) -> None:
    """Datasets, tables, views, schemas, partitioning/clustering, rows, bytes and monthly
    storage cost (Markdown; JSON with --json)."""
    from shared.warehouse import audit as lib

    target = state.target()
    result = lib.run(project=target.project, location=location, datasets=list(datasets) or None)
    state.emit(result.to_json(), lambda: click.echo(lib.to_markdown(result)))
