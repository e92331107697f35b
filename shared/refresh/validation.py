"""Validation checks run after each refresh: a failed check fails the table."""

from __future__ import annotations

from typing import Any

from shared.errors import PermanentError
from shared.refresh.definitions import Definition
from shared.refresh.ports import Store


class CheckFailed(PermanentError):  # noqa: N818
    """A validation check did not hold (permanent: not retried)."""

    def __init__(self, detail: str) -> None:
        super().__init__("validation_failed", detail)


def check_sql(table: str, check: dict[str, Any]) -> tuple[str, str]:
    """(SQL returning one row with column ``bad`` (true when failing), description)."""
    kind = check["type"]
    if kind == "row_count":
        low = int(check.get("min", 1))
        high = check.get("max")
        cond = f"n < {low}" + (f" OR n > {int(high)}" if high is not None else "")
        return f"SELECT n, ({cond}) AS bad FROM (SELECT COUNT(*) AS n FROM `{table}`)", (
            f"row_count in [{low}, {high}]"
        )
    if kind == "not_null":
        cols = check["columns"]
        cond = " OR ".join(f"{c} IS NULL" for c in cols)
        return f"SELECT COUNTIF({cond}) AS n, COUNTIF({cond}) > 0 AS bad FROM `{table}`", (
            f"not_null({', '.join(cols)})"
        )
    if kind == "unique":
        cols = ", ".join(check["columns"])
        return (
            f"SELECT COUNT(*) AS n, COUNT(*) > 0 AS bad FROM (SELECT {cols} FROM `{table}`"
            f" GROUP BY {cols} HAVING COUNT(*) > 1)",
            f"unique({cols})",
        )
    if kind == "freshness":
        col = check["column"]
        hours = int(check.get("max_age_hours", 24))
        return (
            f"SELECT TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), MAX({col}), HOUR) AS n,"
            f" (MAX({col}) IS NULL OR TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), MAX({col}), HOUR)"
            f" > {hours}) AS bad FROM `{table}`",
            f"freshness({col} <= {hours}h)",
        )
    raise ValueError(f"unknown check {kind!r}")


def run_checks(store: Store, definition: Definition, table: str) -> list[str]:
    """Run every check in ONE query (one job, not one per check); raise CheckFailed naming all
    that failed; return those that passed."""
    passed: list[str] = []
    failed: list[str] = []
    if not definition.checks:
        return passed
    checks = [check_sql(table, check) for check in definition.checks]
    combined = "\nUNION ALL\n".join(
        f"SELECT {i} AS i, CAST(n AS INT64) AS n, bad FROM ({sql})"
        for i, (sql, _) in enumerate(checks)
    )
    rows, _ = store.query(combined)
    by_index = {row.get("i"): row for row in rows}
    for i, (_, what) in enumerate(checks):
        row = by_index.get(i, {"bad": True, "n": None})  # a missing answer fails the check
        (failed if row.get("bad") else passed).append(f"{what} (value {row.get('n')})")
    if failed:
        raise CheckFailed("; ".join(failed))
    return passed
