"""The warehouse audit against the local stack's BigQuery (every manifest dataset and table)."""

from __future__ import annotations

import json

from devstack.stack import LocalStack
from shared.warehouse import audit


def test_audit_renders_for_the_local_stack(stack: LocalStack) -> None:
    result = audit.run(project=stack.project, location="EU", client=stack.bigquery())
    datasets = {d.name: d for d in result.datasets}
    for item in stack.manifest["datasets"]:
        assert item["id"] in datasets
    tables = {(t.dataset, t.name): t for d in result.datasets for t in d.tables}
    for table in stack.manifest["tables"]:
        found = tables[(table["dataset"], table["name"])]
        assert found.kind == "TABLE"
        assert [c.name for c in found.columns] == [
            c["name"] for c in stack.manifest.table_schema(table["name"])
        ]
        assert found.clustering == table.get("clustering", [])
        if "partition" in table and "field" in table["partition"]:
            assert found.partition_column == table["partition"]["field"]
        assert found.rows is not None and found.logical_bytes is not None
        assert found.monthly_cost_logical is not None
    for view in stack.manifest["views"]:
        assert tables[(view["dataset"], view["name"])].kind == "VIEW"
    doc = json.loads(json.dumps(result.to_json(), default=str))
    assert doc["totals"]["tables"] >= len(stack.manifest["tables"])
    text = audit.to_markdown(result)
    assert "| media_files | TABLE | uploaded_at | customer_id, record_id |" in text


def test_command_line_prints_markdown_and_json(stack: LocalStack) -> None:
    for fmt, check in (("markdown", "# Warehouse audit:"), ("json", '"totals"')):
        done = stack.run_module("shared.warehouse.audit", "--format", fmt, "--dataset", "ops")
        assert done.returncode == 0, done.stderr
        assert check in done.stdout
    assert json.loads(done.stdout)["datasets"][0]["name"] == "ops"
