"""The CLI's BigQuery access in one place: bound parameters, manifest table ids, DML retries.

Until the project-wide BigQuery door (``shared.bigquery``) lands this goes through the quota
area's runner, which already binds every value and retries serialization conflicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.quotas import db


def t(name: str) -> str:
    """Backticked fully qualified id of a manifest table or view."""
    return db.table(name)


def query(sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    rows, _ = db.run(sql, params)
    return rows


def dml(sql: str, params: Mapping[str, Any] | None = None) -> int:
    _, affected = db.run(sql, params)
    return affected
