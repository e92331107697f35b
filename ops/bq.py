"""The CLI's BigQuery access: the project's one door (:mod:`shared.bigquery`: bound parameters,
deadlines, the one DML conflict-retry policy) plus manifest table ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared import bigquery
from shared.resources import manifest
from shared.settings import get_settings


def t(name: str) -> str:
    """Backticked fully qualified id of a manifest table or view."""
    return f"`{manifest().relation_id(get_settings().project_id, name)}`"


def query(sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    return bigquery.query(sql, params)


def dml(sql: str, params: Mapping[str, Any] | None = None) -> int:
    return bigquery.dml(sql, params)
