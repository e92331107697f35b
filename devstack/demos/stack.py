"""The stack itself: emulators, functions, resources created from the manifest."""

from __future__ import annotations

from devstack.report import Report
from devstack.stack import LocalStack

ORDER = 0
TITLE = "Local stack"


def run(stack: LocalStack, report: Report) -> None:
    report.section(TITLE)
    report.line(f"started in {stack.started_in:.1f}s, project {stack.project}")
    report.table(
        [{"process": n, "pid": p.pid, "log": str(p.log_path)} for n, p in stack.processes.items()]
    )
    report.line("BigQuery tables and views created from shared/resources (read back):")
    rows = []
    for item in [*stack.manifest["tables"], *stack.manifest["views"]]:
        table = stack.bigquery().get_table(f"{stack.project}.{item['dataset']}.{item['name']}")
        rows.append(
            {
                "dataset": item["dataset"],
                "name": item["name"],
                "type": table.table_type,
                "partitioned by": table.time_partitioning.field if table.time_partitioning else "",
                "clustered by": ",".join(table.clustering_fields or []),
            }
        )
    report.table(rows)
