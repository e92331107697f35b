"""Warehouse audit (seed 000 §1): inventory of datasets, tables, views, schemas,
partitioning/clustering, row counts, logical/physical bytes and monthly storage cost.

Read from INFORMATION_SCHEMA through the BigQuery door (:mod:`shared.bigquery`):
``region-LOC.INFORMATION_SCHEMA.SCHEMATA`` (datasets), ``DATASET.INFORMATION_SCHEMA.TABLES`` /
``COLUMNS`` (tables, views, schemas, partitioning and clustering columns) and
``region-LOC.INFORMATION_SCHEMA.TABLE_STORAGE`` (rows and bytes). Where a view is missing or
lacks a column (the local emulator has no physical-byte breakdown, for instance) the audit falls
back to the tables API for that table and says so in ``notes``; it never invents a figure.

    python -m shared.warehouse.audit [--format markdown|json] [--dataset D ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.errors import PermanentError

GIB = 1024**3
# BigQuery storage list prices (USD per GiB per month, EU and US multi-regions); the first
# 10 GiB per month are free per billing account (not subtracted here: one project of many).
PRICES = {
    "logical_active": 0.02,
    "logical_long_term": 0.01,
    "physical_active": 0.04,
    "physical_long_term": 0.02,
}
_LOCATION = re.compile(r"^[A-Za-z0-9-]{2,40}$")
_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")

Query = Callable[[str], list[dict[str, Any]]]


@dataclass
class Column:
    name: str
    type: str
    nullable: bool


@dataclass
class TableAudit:
    dataset: str
    name: str
    kind: str  # TABLE | VIEW | MATERIALIZED VIEW | ...
    columns: list[Column] = field(default_factory=list)
    partition_column: str | None = None
    clustering: list[str] = field(default_factory=list)
    rows: int | None = None
    logical_bytes: int | None = None
    long_term_logical_bytes: int | None = None
    physical_bytes: int | None = None
    long_term_physical_bytes: int | None = None
    source: str = "INFORMATION_SCHEMA"

    @property
    def monthly_cost_logical(self) -> float | None:
        return _monthly_cost(self.logical_bytes, self.long_term_logical_bytes, "logical")

    @property
    def monthly_cost_physical(self) -> float | None:
        return _monthly_cost(self.physical_bytes, self.long_term_physical_bytes, "physical")


def _monthly_cost(total: int | None, long_term: int | None, model: str) -> float | None:
    """Monthly storage cost of ``total`` bytes of which ``long_term`` are long-term, billed by
    the ``logical`` or ``physical`` model; None when BigQuery did not say."""
    if total is None:
        return None
    old = long_term or 0
    active = max(total - old, 0)
    return (active * PRICES[f"{model}_active"] + old * PRICES[f"{model}_long_term"]) / GIB


@dataclass
class DatasetAudit:
    name: str
    location: str | None
    tables: list[TableAudit] = field(default_factory=list)


@dataclass
class Audit:
    project: str
    location: str
    generated_at: str
    datasets: list[DatasetAudit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, Any]:
        tables = [t for d in self.datasets for t in d.tables]
        stored = [t for t in tables if t.kind != "VIEW"]
        return {
            "datasets": len(self.datasets),
            "tables": len(stored),
            "views": len(tables) - len(stored),
            "rows": sum(t.rows or 0 for t in stored),
            "logical_bytes": sum(t.logical_bytes or 0 for t in stored),
            "physical_bytes": sum(t.physical_bytes or 0 for t in stored),
            "monthly_cost_logical_usd": round(
                sum(t.monthly_cost_logical or 0.0 for t in stored), 6
            ),
            "monthly_cost_physical_usd": round(
                sum(t.monthly_cost_physical or 0.0 for t in stored), 6
            ),
            "physical_bytes_known": all(t.physical_bytes is not None for t in stored),
        }

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "project": self.project,
            "location": self.location,
            "generated_at": self.generated_at,
            "prices_usd_per_gib_month": PRICES,
            "totals": self.totals(),
            "notes": self.notes,
            "datasets": [],
        }
        for ds in self.datasets:
            tables = []
            for t in ds.tables:
                item = asdict(t)
                item["monthly_cost_logical_usd"] = t.monthly_cost_logical
                item["monthly_cost_physical_usd"] = t.monthly_cost_physical
                tables.append(item)
            out["datasets"].append({"name": ds.name, "location": ds.location, "tables": tables})
        return out


# ------------------------------------------------------------------ reading
def _validated(project: str, location: str, datasets: Sequence[str] | None) -> None:
    if not _PROJECT.fullmatch(project):
        raise ValueError(f"invalid project id {project!r}")
    if not _LOCATION.fullmatch(location):
        raise ValueError(f"invalid location {location!r}")
    for name in datasets or ():
        if not _DATASET.fullmatch(name):
            raise ValueError(f"invalid dataset {name!r}")


def _try(query: Query, sql: str, notes: list[str], what: str) -> list[dict[str, Any]] | None:
    try:
        return query(sql)
    except PermanentError as exc:  # a missing view or column: fall back and say why
        notes.append(f"{what}: unavailable ({type(exc).__name__}: {str(exc)[:160]})")
        return None


def collect(
    project: str,
    location: str,
    query: Query,
    get_table: Callable[[str], Any],
    datasets: Sequence[str] | None = None,
) -> Audit:
    """The audit of ``project``'s datasets in ``location`` (or only ``datasets``)."""
    _validated(project, location, datasets)
    region = f"`{project}`.`region-{location.lower()}`.INFORMATION_SCHEMA"
    audit = Audit(project, location, datetime.now(UTC).isoformat(timespec="seconds"))
    schemata = _try(
        query,
        f"SELECT schema_name, location FROM {region}.SCHEMATA ORDER BY schema_name",
        audit.notes,
        "SCHEMATA",
    )
    if schemata is None:
        raise RuntimeError("cannot list datasets: " + "; ".join(audit.notes))
    wanted = set(datasets) if datasets else None
    for row in schemata:
        name = str(row["schema_name"])
        if (wanted is None or name in wanted) and _DATASET.fullmatch(name):
            audit.datasets.append(DatasetAudit(name, row.get("location")))
    storage = _storage(query, region, audit.notes)
    for ds in audit.datasets:
        _tables(query, project, ds, audit.notes)
        for table in ds.tables:
            if table.kind == "VIEW":
                continue
            figures = storage.get((ds.name, table.name))
            if figures is not None:
                _apply_storage(table, figures)
            if figures is None or table.physical_bytes is None or table.partition_column is None:
                _fallback(table, get_table(f"{project}.{ds.name}.{table.name}"), audit.notes)
    return audit


def _storage(query: Query, region: str, notes: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    rows = _try(query, f"SELECT * FROM {region}.TABLE_STORAGE", notes, "TABLE_STORAGE")
    if rows is None:
        return {}
    if rows and "active_physical_bytes" not in rows[0]:
        notes.append(
            "TABLE_STORAGE has no active/long-term physical breakdown here: physical bytes "
            "taken as all active (the tables API has no physical split either)"
        )
    return {
        (str(r["table_schema"]), str(r["table_name"])): r
        for r in rows
        if not r.get("deleted", False)
    }


def _tables(query: Query, project: str, ds: DatasetAudit, notes: list[str]) -> None:
    schema = f"`{project}.{ds.name}`.INFORMATION_SCHEMA"
    tables = _try(
        query,
        f"SELECT table_name, table_type FROM {schema}.TABLES ORDER BY table_name",
        notes,
        f"{ds.name}.TABLES",
    )
    for row in tables or []:
        kind = "TABLE" if row["table_type"] == "BASE TABLE" else str(row["table_type"])
        ds.tables.append(TableAudit(ds.name, str(row["table_name"]), kind))
    columns = _try(
        query,
        f"SELECT * FROM {schema}.COLUMNS ORDER BY table_name, ordinal_position",
        notes,
        f"{ds.name}.COLUMNS",
    )
    by_name = {t.name: t for t in ds.tables}
    clustering: dict[str, list[tuple[int, str]]] = {}
    for row in columns or []:
        table = by_name.get(str(row["table_name"]))
        if table is None:
            continue
        table.columns.append(
            Column(str(row["column_name"]), str(row["data_type"]), row["is_nullable"] == "YES")
        )
        if row.get("is_partitioning_column") == "YES":
            table.partition_column = str(row["column_name"])
        if row.get("clustering_ordinal_position") is not None:
            clustering.setdefault(table.name, []).append(
                (int(row["clustering_ordinal_position"]), str(row["column_name"]))
            )
    for name, cols in clustering.items():
        by_name[name].clustering = [c for _, c in sorted(cols)]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _apply_storage(table: TableAudit, row: Mapping[str, Any]) -> None:
    table.rows = _int(row.get("total_rows"))
    table.logical_bytes = _int(row.get("total_logical_bytes"))
    table.long_term_logical_bytes = _int(row.get("long_term_logical_bytes"))
    table.physical_bytes = _int(row.get("total_physical_bytes"))
    table.long_term_physical_bytes = _int(row.get("long_term_physical_bytes"))


def _fallback(table: TableAudit, api: Any, notes: list[str]) -> None:
    """Fill what INFORMATION_SCHEMA did not give from the tables API (and say so)."""
    filled = []
    if table.rows is None and api.num_rows is not None:
        table.rows = int(api.num_rows)
        filled.append("rows")
    if table.logical_bytes is None and api.num_bytes is not None:
        table.logical_bytes = int(api.num_bytes)
        filled.append("logical bytes")
    props = getattr(api, "_properties", {})
    if table.long_term_logical_bytes is None and props.get("numLongTermBytes") is not None:
        table.long_term_logical_bytes = int(props["numLongTermBytes"])
        filled.append("long-term bytes")
    if table.physical_bytes is None and props.get("numPhysicalBytes") is not None:
        table.physical_bytes = int(props["numPhysicalBytes"])
        filled.append("physical bytes")
    partitioning = getattr(api, "time_partitioning", None)
    if table.partition_column is None and partitioning is not None:
        table.partition_column = partitioning.field or "_PARTITIONTIME"
        filled.append("partitioning")
    if not table.clustering and getattr(api, "clustering_fields", None):
        table.clustering = list(api.clustering_fields)
        filled.append("clustering")
    if filled:
        table.source = "INFORMATION_SCHEMA + tables API"
        notes.append(f"{table.dataset}.{table.name}: {', '.join(filled)} from the tables API")


# ------------------------------------------------------------------ rendering
def _size(value: int | None) -> str:
    if value is None:
        return "n/a"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(audit: Audit) -> str:
    totals = audit.totals()
    lines = [
        f"# Warehouse audit: {audit.project} ({audit.location})",
        "",
        f"Generated {audit.generated_at}. {totals['datasets']} datasets, {totals['tables']} "
        f"tables, {totals['views']} views, {totals['rows']} rows, "
        f"{_size(totals['logical_bytes'])} logical / {_size(totals['physical_bytes'])} physical.",
        f"Monthly storage cost: {_usd(totals['monthly_cost_logical_usd'])} on the logical "
        f"billing model, {_usd(totals['monthly_cost_physical_usd'])} on the physical one "
        f"(list prices {json.dumps(PRICES)} USD/GiB/month; first 10 GiB/month free per "
        "billing account, not subtracted).",
        "",
    ]
    for ds in audit.datasets:
        lines += [
            f"## {ds.name} ({ds.location or 'location unknown'})",
            "",
            "| table | kind | partitioned by | clustered by | rows | logical | physical "
            "| cost/month (logical) |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for t in ds.tables:
            lines.append(
                f"| {_cell(t.name)} | {t.kind} | {t.partition_column or '-'} | "
                f"{', '.join(t.clustering) or '-'} | "
                f"{'-' if t.kind == 'VIEW' else (t.rows if t.rows is not None else 'n/a')} | "
                f"{'-' if t.kind == 'VIEW' else _size(t.logical_bytes)} | "
                f"{'-' if t.kind == 'VIEW' else _size(t.physical_bytes)} | "
                f"{'-' if t.kind == 'VIEW' else _usd(t.monthly_cost_logical)} |"
            )
        lines += ["", "<details><summary>schemas</summary>", ""]
        for t in ds.tables:
            columns = ", ".join(
                f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in t.columns
            )
            lines.append(f"- **{_cell(t.name)}**: {_cell(columns) or '(no columns reported)'}")
        lines += ["", "</details>", ""]
    if audit.notes:
        lines += ["## Notes", ""] + [f"- {_cell(n)}" for n in audit.notes] + [""]
    return "\n".join(lines)


# ------------------------------------------------------------------ entry point
def run(
    *,
    project: str | None = None,
    location: str | None = None,
    datasets: Sequence[str] | None = None,
    client: Any | None = None,
) -> Audit:
    """The audit through the BigQuery door (settings give the project, location and client)."""
    from shared import bigquery, clients
    from shared.settings import get_settings

    settings = get_settings()
    bq = client if client is not None else clients.bigquery()

    def query(sql: str) -> list[dict[str, Any]]:
        return bigquery.query(sql, client=bq)

    return collect(
        project or settings.project_id,
        location or settings.bigquery_location,
        query,
        bq.get_table,
        datasets,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.warehouse.audit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    parser.add_argument("--project", help="default: PROJECT_ID")
    parser.add_argument("--location", help="default: BIGQUERY_LOCATION")
    parser.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    args = parser.parse_args(argv)
    audit = run(project=args.project, location=args.location, datasets=args.dataset)
    if args.format == "json":
        sys.stdout.write(json.dumps(audit.to_json(), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(to_markdown(audit) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
