"""The SQL the orchestrator generates (identifiers validated upstream, values always bound)."""

from __future__ import annotations

from datetime import date, timedelta

from shared.refresh.definitions import Definition


def chunks(start: date, end: date, size: int) -> list[tuple[date, date]]:
    """[start, end] cut into inclusive windows of at most ``size`` days."""
    out = []
    current = start
    while current <= end:
        last = min(end, current + timedelta(days=size - 1))
        out.append((current, last))
        current = last + timedelta(days=1)
    return out


def merge_sql(target: str, definition: Definition, columns: list[str], source: str) -> str:
    """MERGE by key; an incremental table only touches partitions in [@start_date, @end_date]."""
    on = " AND ".join(f"T.{k} = S.{k}" for k in definition.key)
    if definition.partition_field:
        on += f" AND T.{definition.partition_field} BETWEEN @start_date AND @end_date"
    updates = ", ".join(f"{c} = S.{c}" for c in columns if c not in definition.key)
    cols = ", ".join(columns)
    values = ", ".join(f"S.{c}" for c in columns)
    return (
        f"MERGE `{target}` T\nUSING ({source}) S\nON {on}\n"
        f"WHEN MATCHED THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})"
    )


def replace_sql(target: str, columns: list[str], source: str) -> str:
    """One atomic statement: readers see the old rows or the new ones, never an empty table."""
    cols = ", ".join(columns)
    values = ", ".join(f"S.{c}" for c in columns)
    return (
        f"MERGE `{target}` T\nUSING ({source}) S\nON FALSE\n"
        f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})\n"
        "WHEN NOT MATCHED BY SOURCE THEN DELETE"
    )


def append_sql(target: str, columns: list[str], source: str) -> str:
    cols = ", ".join(columns)
    return f"INSERT INTO `{target}` ({cols})\nSELECT {cols} FROM ({source})"


def diff_sql(live: str, shadow: str, columns: list[str], partition_field: str | None = None) -> str:
    """Rows (on the compared columns) in one table and not the other.

    With ``partition_field`` both sides are limited to ``[@start_date, @end_date]``: an
    incremental shadow run writes only its window, and the live table's older partitions
    (beyond the backfill window) are not a difference.
    """
    cl = ", ".join(columns)
    where = f" WHERE {partition_field} BETWEEN @start_date AND @end_date" if partition_field else ""
    return (
        f"SELECT (SELECT COUNT(*) FROM (SELECT {cl} FROM `{shadow}`{where} EXCEPT DISTINCT"
        f" SELECT {cl} FROM `{live}`{where})) AS only_in_shadow,"
        f" (SELECT COUNT(*) FROM (SELECT {cl} FROM `{live}`{where} EXCEPT DISTINCT"
        f" SELECT {cl} FROM `{shadow}`{where})) AS only_in_live"
    )
