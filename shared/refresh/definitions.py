"""Refresh definitions: one ``definitions/<table>.sql`` file per derived table.

The file starts with a block comment ``/* refresh { ...JSON settings... } */`` followed by the
SQL (a SELECT). The SQL names tables as `` `${project}.dataset.table` `` and, for incremental
(``merge``) tables, filters its partition column with the bound parameters ``@start_date`` and
``@end_date`` (inclusive DATEs). Customer-scoped definitions also receive ``@customer_id``
(NULL for all customers). Only stdlib parsing: the folder ships inside the deploy archive.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent / "definitions"
MODES = ("merge", "replace", "append")
CHECK_TYPES = ("row_count", "not_null", "unique", "freshness")
_HEADER = re.compile(r"\A\s*/\*\s*refresh\s*(\{.*?\})\s*\*/\s*(.*)\Z", re.S)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
_REFERENCE = re.compile(r"`\$\{project\}\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)`")
_KNOWN = {
    "target",
    "mode",
    "key",
    "partition_field",
    "priority",
    "schedule",
    "lookback_days",
    "backfill_days",
    "chunk_days",
    "timeout_s",
    "retries",
    "retry_initial_s",
    "checks",
    "enabled",
    "customer_scope",
    "shadow",
    "description",
}


class DefinitionError(ConfigurationError):
    """A definition file (or the set of them) is invalid; ``problems`` lists every issue."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Definition:
    """A derived table and how to refresh it."""

    name: str
    dataset: str
    sql: str
    mode: str = "replace"
    key: tuple[str, ...] = ()
    partition_field: str | None = None
    priority: int = 50
    schedule: str = "daily"
    lookback_days: int = 2
    backfill_days: int = 30
    chunk_days: int = 7
    timeout_s: int = 300
    retries: int = 3
    retry_initial_s: float = 1.0
    checks: tuple[dict[str, Any], ...] = ()
    enabled: bool = True
    customer_scope: str | None = None
    shadow: bool = False
    description: str = ""
    reads: tuple[tuple[str, str], ...] = field(default=())

    @property
    def target(self) -> str:
        return f"{self.dataset}.{self.name}"

    @property
    def incremental(self) -> bool:
        return self.mode == "merge" and self.partition_field is not None

    def settings(self) -> dict[str, Any]:
        """The settings as stored in ``refresh_configs.definition`` (JSON)."""
        return {
            "mode": self.mode,
            "key": list(self.key),
            "partition_field": self.partition_field,
            "priority": self.priority,
            "schedule": self.schedule,
            "lookback_days": self.lookback_days,
            "backfill_days": self.backfill_days,
            "chunk_days": self.chunk_days,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "checks": list(self.checks),
            "enabled": self.enabled,
            "customer_scope": self.customer_scope,
            "shadow": self.shadow,
            "reads": [f"{d}.{t}" for d, t in self.reads],
        }


def _int(  # noqa: PLR0917
    settings: dict[str, Any], key: str, default: int, low: int, high: int, p: list[str]
) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        p.append(f"{key} must be an integer in [{low}, {high}]")
        return default
    return value


def _header(text: str, source: str) -> tuple[dict[str, Any], str]:
    """The JSON settings and the SQL of a definition file."""
    match = _HEADER.match(text)
    if not match:
        raise DefinitionError([f"{source}: must start with /* refresh {{...JSON...}} */"])
    try:
        settings = json.loads(match.group(1))
    except ValueError as exc:
        raise DefinitionError([f"{source}: settings are not JSON: {exc}"]) from None
    if not isinstance(settings, dict):
        raise DefinitionError([f"{source}: settings must be a JSON object"])
    return settings, match.group(2).strip().rstrip(";").strip()


def _target(settings: dict[str, Any], p: list[str]) -> tuple[str, str]:
    target = settings.get("target")
    if not isinstance(target, str) or target.count(".") != 1:
        p.append("target must be 'dataset.table'")
        return "", ""
    dataset, name = target.split(".")
    if not (_IDENT.fullmatch(dataset) and _IDENT.fullmatch(name)):
        p.append(f"target {target!r} is not a valid identifier")
    return dataset, name


def _shape(settings: dict[str, Any], sql: str, p: list[str]) -> tuple[str, list[str], str | None]:
    """Mode, key and partition column, checked against each other and the SQL."""
    mode = settings.get("mode", "replace")
    if mode not in MODES:
        p.append(f"mode must be one of {MODES}")
    key = settings.get("key", [])
    if not isinstance(key, list) or not all(
        isinstance(k, str) and _IDENT.fullmatch(k) for k in key
    ):
        p.append("key must be a list of column names")
        key = []
    partition = settings.get("partition_field")
    if partition is not None and not (isinstance(partition, str) and _IDENT.fullmatch(partition)):
        p.append("partition_field must be a column name")
        partition = None
    if mode == "merge" and not key:
        p.append("merge mode needs a key")
    if mode == "merge" and partition and ("@start_date" not in sql or "@end_date" not in sql):
        p.append("an incremental (merge) definition must filter on @start_date and @end_date")
    return (mode if mode in MODES else "replace"), key, partition


def _checks(settings: dict[str, Any], p: list[str]) -> list[dict[str, Any]]:
    checks = settings.get("checks", [])
    if not isinstance(checks, list) or not all(
        isinstance(c, dict) and c.get("type") in CHECK_TYPES for c in checks
    ):
        p.append(f"checks must be a list of objects with type in {CHECK_TYPES}")
        return []
    for check in checks:
        for column in [
            *check.get("columns", []),
            *([check["column"]] if "column" in check else []),
        ]:
            if not isinstance(column, str) or not _IDENT.fullmatch(column):
                p.append(f"check column {column!r} is not a column name")
    return checks


def _flags(settings: dict[str, Any], sql: str, p: list[str]) -> tuple[str | None, float]:
    """Customer scope, the boolean flags and the first retry delay."""
    scope = settings.get("customer_scope")
    if scope is not None and not (isinstance(scope, str) and _IDENT.fullmatch(scope)):
        p.append("customer_scope must be the customer id column name")
    if scope and "@customer_id" not in sql:
        p.append("a customer-scoped definition must filter on @customer_id")
    for flag in ("enabled", "shadow"):
        if not isinstance(settings.get(flag, flag != "shadow"), bool):
            p.append(f"{flag} must be true or false")
    retry_initial = settings.get("retry_initial_s", 1.0)
    if isinstance(retry_initial, bool) or not isinstance(retry_initial, int | float):
        p.append("retry_initial_s must be a number")
        retry_initial = 1.0
    if not sql.lower().lstrip("( \n").startswith(("select", "with")):
        p.append("the SQL must be a single SELECT (or WITH ... SELECT)")
    return scope, float(retry_initial)


def parse(text: str, source: str = "<definition>") -> Definition:
    """Parse one definition file; DefinitionError lists every problem in it."""
    settings, sql = _header(text, source)
    p: list[str] = []
    unknown = set(settings) - _KNOWN
    if unknown:
        p.append(f"unknown settings {sorted(unknown)}")
    dataset, name = _target(settings, p)
    mode, key, partition = _shape(settings, sql, p)
    checks = _checks(settings, p)
    scope, retry_initial = _flags(settings, sql, p)
    definition = Definition(
        name=name,
        dataset=dataset,
        sql=sql,
        mode=mode,
        key=tuple(key),
        partition_field=partition,
        priority=_int(settings, "priority", 50, 0, 1000, p),
        schedule=str(settings.get("schedule", "daily")),
        lookback_days=_int(settings, "lookback_days", 2, 0, 366, p),
        backfill_days=_int(settings, "backfill_days", 30, 1, 3660, p),
        chunk_days=_int(settings, "chunk_days", 7, 1, 366, p),
        timeout_s=_int(settings, "timeout_s", 300, 1, 3600, p),
        retries=_int(settings, "retries", 3, 0, 10, p),
        retry_initial_s=retry_initial,
        checks=tuple(checks),
        enabled=bool(settings.get("enabled", True)),
        customer_scope=scope,
        shadow=bool(settings.get("shadow", False)),
        description=str(settings.get("description", "")),
        reads=tuple(dict.fromkeys(_REFERENCE.findall(sql))),
    )
    if p:
        raise DefinitionError([f"{source}: {problem}" for problem in p])
    return definition


def load(root: Path = ROOT) -> dict[str, Definition]:
    """Every definition in ``root`` by table name; DefinitionError lists all problems."""
    problems: list[str] = []
    found: dict[str, Definition] = {}
    for path in sorted(root.glob("*.sql")):
        try:
            definition = parse(path.read_text(), path.name)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        if definition.name in found:
            problems.append(f"{path.name}: table {definition.name!r} is defined twice")
        found[definition.name] = definition
    if problems:
        raise DefinitionError(problems)
    return found


def validate_references(definitions: dict[str, Definition], declared: set[tuple[str, str]]) -> None:
    """Every table a definition reads is another definition's target or a declared source."""
    targets = {(d.dataset, d.name) for d in definitions.values()}
    problems = [
        f"{d.name}: reads {ds}.{t}, which no definition or source declares"
        for d in definitions.values()
        for ds, t in d.reads
        if (ds, t) not in targets | declared
    ]
    if problems:
        raise DefinitionError(problems)


def dependencies(definitions: dict[str, Definition]) -> dict[str, set[str]]:
    """Table name -> names of the definitions it reads."""
    by_target = {(d.dataset, d.name): d.name for d in definitions.values()}
    return {
        d.name: {by_target[ref] for ref in d.reads if ref in by_target} - {d.name}
        for d in definitions.values()
    }
