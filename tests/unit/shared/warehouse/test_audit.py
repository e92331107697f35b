"""shared.warehouse.audit with small fakes at its own boundary (a query function, get_table)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from shared.errors import PermanentError
from shared.warehouse import audit

GIB = 1024**3


def _fake(storage: bool = True, physical_split: bool = True) -> Any:
    def query(sql: str) -> list[dict[str, Any]]:
        if "SCHEMATA" in sql:
            return [
                {"schema_name": "ops", "location": "EU"},
                {"schema_name": "warehouse", "location": "EU"},
            ]
        if "TABLE_STORAGE" in sql:
            if not storage:
                raise PermanentError("notFound", "no such view")
            row = {
                "table_schema": "warehouse",
                "table_name": "facts",
                "total_rows": 10,
                "total_logical_bytes": 3 * GIB,
                "long_term_logical_bytes": GIB,
                "total_physical_bytes": GIB,
                "deleted": False,
            }
            if physical_split:
                row["long_term_physical_bytes"] = 0
                row["active_physical_bytes"] = GIB
            return [row]
        if "`a-project.warehouse`.INFORMATION_SCHEMA.TABLES" in sql:
            return [
                {"table_name": "facts", "table_type": "BASE TABLE"},
                {"table_name": "facts_current", "table_type": "VIEW"},
            ]
        if "`a-project.warehouse`.INFORMATION_SCHEMA.COLUMNS" in sql:
            return [
                {
                    "table_name": "facts",
                    "column_name": "day",
                    "data_type": "DATE",
                    "is_nullable": "NO",
                    "is_partitioning_column": "YES",
                    "clustering_ordinal_position": None,
                },
                {
                    "table_name": "facts",
                    "column_name": "customer_id",
                    "data_type": "STRING",
                    "is_nullable": "YES",
                    "is_partitioning_column": "NO",
                    "clustering_ordinal_position": 1,
                },
                {
                    "table_name": "facts_current",
                    "column_name": "day",
                    "data_type": "DATE",
                    "is_nullable": "YES",
                },
            ]
        return []

    def get_table(path: str) -> Any:
        return SimpleNamespace(
            num_rows=7,
            num_bytes=GIB,
            time_partitioning=SimpleNamespace(field="day"),
            clustering_fields=["customer_id"],
            _properties={"numLongTermBytes": "0", "numPhysicalBytes": str(GIB // 2)},
        )

    return query, get_table


def test_inventory_costs_and_both_renderings() -> None:
    query, get_table = _fake()
    result = audit.collect("a-project", "EU", query, get_table)
    assert [d.name for d in result.datasets] == ["ops", "warehouse"]
    facts, view = result.datasets[1].tables
    assert (facts.kind, facts.partition_column, facts.clustering) == (
        "TABLE",
        "day",
        ["customer_id"],
    )
    assert (facts.rows, facts.logical_bytes, facts.physical_bytes) == (10, 3 * GIB, GIB)
    # 2 GiB active at $0.02 + 1 GiB long-term at $0.01; physical 1 GiB active at $0.04
    assert facts.monthly_cost_logical == pytest.approx(0.05)
    assert facts.monthly_cost_physical == pytest.approx(0.04)
    assert view.kind == "VIEW" and [c.name for c in view.columns] == ["day"]
    assert result.notes == []
    doc = json.loads(json.dumps(result.to_json(), default=str))
    assert doc["totals"]["tables"] == 1 and doc["totals"]["views"] == 1
    assert doc["totals"]["monthly_cost_logical_usd"] == pytest.approx(0.05)
    text = audit.to_markdown(result)
    assert "| facts | TABLE | day | customer_id | 10 | 3.0 GiB | 1.0 GiB | $0.0500 |" in text
    assert "| facts_current | VIEW |" in text and "day DATE NOT NULL" in text


def test_missing_views_fall_back_to_the_tables_api_and_say_so() -> None:
    query, get_table = _fake(storage=False)
    result = audit.collect("a-project", "EU", query, get_table)
    facts = result.datasets[1].tables[0]
    assert (facts.rows, facts.logical_bytes, facts.physical_bytes) == (7, GIB, GIB // 2)
    assert facts.source == "INFORMATION_SCHEMA + tables API"
    assert any(n.startswith("TABLE_STORAGE: unavailable") for n in result.notes)
    assert any("warehouse.facts: rows, logical bytes" in n for n in result.notes)
    assert "## Notes" in audit.to_markdown(result)


def test_partial_table_storage_is_reported() -> None:
    query, get_table = _fake(physical_split=False)
    result = audit.collect("a-project", "EU", query, get_table)
    assert any("no active/long-term physical breakdown" in n for n in result.notes)


def test_only_the_requested_datasets() -> None:
    query, get_table = _fake()
    result = audit.collect("a-project", "EU", query, get_table, ["ops"])
    assert [d.name for d in result.datasets] == ["ops"]


@pytest.mark.parametrize(
    ("project", "location", "datasets"),
    [("A-Project", "EU", None), ("a-project", "eu`; DROP", None), ("a-project", "EU", ["x y"])],
)
def test_identifiers_are_validated(project: str, location: str, datasets: list[str] | None) -> None:
    query, get_table = _fake()
    with pytest.raises(ValueError, match="invalid"):
        audit.collect(project, location, query, get_table, datasets)
