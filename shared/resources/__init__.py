"""The one definition of every resource: datasets, tables, views, topics, subscriptions,
buckets, schedules and functions.

Each area of the product owns one JSON fragment in this folder (``core.json``,
``uploads.json``...); table schemas are BigQuery JSON schema files under ``schemas/`` and views
are SQL files under ``views/``. The local bootstrap (``devstack``) and Terraform both read these
files; ``tests/`` proves they agree. The folder ships inside every function's archive, so the
code reads table and topic names from here instead of repeating them.
"""

from __future__ import annotations

import functools
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent
# Defaults of fields an entry may leave out, as terraform/manifest.tf and devstack/bootstrap.py
# apply them.
TIMEOUT_S = 540  # a function's timeout_s
CONCURRENCY = 8  # a function's concurrency (requests per instance)
ACK_DEADLINE_S = 60  # a subscription's ack_deadline_seconds
_SECTIONS = (
    "datasets",
    "tables",
    "views",
    "topics",
    "subscriptions",
    "buckets",
    "schedules",
    "functions",
    "queues",
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
_RESOURCE_NAME = re.compile(r"^[a-z][a-z0-9-_]{1,62}$")


class ManifestError(ConfigurationError):
    """The resource definitions are inconsistent."""


@dataclass(frozen=True)
class Manifest:
    """All fragments merged; each section is a list of plain dicts as written in JSON."""

    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __getitem__(self, section: str) -> list[dict[str, Any]]:
        return self.sections.get(section, [])

    def _by(self, section: str, key: str, value: str) -> dict[str, Any]:
        for item in self[section]:
            if item.get(key) == value:
                return item
        raise KeyError(f"no {section[:-1]} named {value!r} in the resource manifest")

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        return self._by("datasets", "id", dataset_id)

    def table(self, name: str) -> dict[str, Any]:
        return self._by("tables", "name", name)

    def view(self, name: str) -> dict[str, Any]:
        return self._by("views", "name", name)

    def relation_id(self, project: str, name: str) -> str:
        """Fully qualified id of a manifest table or view (validated identifiers)."""
        try:
            dataset = self.table(name)["dataset"]
        except KeyError:
            dataset = self.view(name)["dataset"]
        return table_id(project, str(dataset), name)

    def topic(self, name: str) -> dict[str, Any]:
        return self._by("topics", "name", name)

    def subscription(self, name: str) -> dict[str, Any]:
        return self._by("subscriptions", "name", name)

    def bucket(self, key: str) -> dict[str, Any]:
        return self._by("buckets", "key", key)

    def schedule(self, name: str) -> dict[str, Any]:
        return self._by("schedules", "name", name)

    def function(self, name: str) -> dict[str, Any]:
        return self._by("functions", "name", name)

    def table_schema(self, name: str) -> list[dict[str, Any]]:
        """The BigQuery JSON schema of a table (list of field dicts)."""
        schema: list[dict[str, Any]] = json.loads((ROOT / self.table(name)["schema"]).read_text())
        return schema

    def view_sql(self, name: str, project: str) -> str:
        """The view's SQL with ``${project}`` substituted (as Terraform's templatefile does)."""
        text = (ROOT / self.view(name)["sql"]).read_text()
        return string.Template(text).substitute(project=project)

    def bucket_name(self, key: str, project: str) -> str:
        template: str = self.bucket(key)["name"]
        return string.Template(template).substitute(project=project)


def table_id(project: str, dataset: str, table: str) -> str:
    """A fully qualified table id from validated identifiers (safe to put in SQL backticks)."""
    for part in (dataset, table):
        if not _IDENTIFIER.fullmatch(part):
            raise ValueError(f"invalid BigQuery identifier {part!r}")
    if not re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", project):
        raise ValueError(f"invalid project id {project!r}")
    return f"{project}.{dataset}.{table}"


def load(root: Path = ROOT) -> Manifest:
    """Merge every ``*.json`` fragment in ``root`` and validate cross references."""
    sections: dict[str, list[dict[str, Any]]] = {name: [] for name in _SECTIONS}
    for path in sorted(root.glob("*.json")):
        fragment = json.loads(path.read_text())
        unknown = set(fragment) - set(_SECTIONS) - {"$comment"}
        if unknown:
            raise ManifestError(f"{path.name}: unknown sections {sorted(unknown)}")
        for name in _SECTIONS:
            for item in fragment.get(name, []):
                sections[name].append({**item, "_fragment": path.name})
    manifest = Manifest(sections)
    _validate(manifest, root)
    return manifest


def _unique(manifest: Manifest, section: str, key: str) -> set[str]:
    seen: set[str] = set()
    for item in manifest[section]:
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise ManifestError(f"{section}: every entry needs a {key!r}: {item}")
        if value in seen:
            raise ManifestError(f"{section}: {value!r} is declared twice")
        seen.add(value)
    return seen


def _validate(manifest: Manifest, root: Path) -> None:
    datasets = _unique(manifest, "datasets", "id")
    tables = _unique(manifest, "tables", "name")
    _unique(manifest, "views", "name")
    topics = _unique(manifest, "topics", "name")
    _unique(manifest, "subscriptions", "name")
    buckets = _unique(manifest, "buckets", "key")
    _unique(manifest, "schedules", "name")
    functions = _unique(manifest, "functions", "name")
    _validate_names(datasets | tables, topics)
    _validate_tables(manifest, root, datasets)
    _validate_messaging(manifest, topics, buckets, functions)


def _validate_names(identifiers: set[str], topics: set[str]) -> None:
    for name in identifiers:
        if not _IDENTIFIER.fullmatch(name):
            raise ManifestError(f"{name!r} is not a valid BigQuery identifier")
    for name in topics:
        if not _RESOURCE_NAME.fullmatch(name):
            raise ManifestError(f"topic {name!r} is not a valid Pub/Sub name")


def _validate_tables(manifest: Manifest, root: Path, datasets: set[str]) -> None:
    for item in manifest["tables"] + manifest["views"]:
        if item.get("dataset") not in datasets:
            raise ManifestError(f"{item['name']}: unknown dataset {item.get('dataset')!r}")
    for table in manifest["tables"]:
        if not (root / table["schema"]).is_file():
            raise ManifestError(f"{table['name']}: schema file {table['schema']} is missing")
        fields = {f["name"] for f in json.loads((root / table["schema"]).read_text())}
        partition = table.get("partition") or {}
        if partition.get("field") and partition["field"] not in fields:
            raise ManifestError(f"{table['name']}: partition field is not in the schema")
        for column in table.get("clustering", []):
            if column not in fields:
                raise ManifestError(f"{table['name']}: clustering column {column!r} not in schema")
    for view in manifest["views"]:
        if not (root / view["sql"]).is_file():
            raise ManifestError(f"{view['name']}: SQL file {view['sql']} is missing")


def _validate_messaging(
    manifest: Manifest, topics: set[str], buckets: set[str], functions: set[str]
) -> None:
    timeouts = {f["name"]: int(f.get("timeout_s", TIMEOUT_S)) for f in manifest["functions"]}
    for sub in manifest["subscriptions"]:
        for key in ("topic", "dead_letter_topic"):
            if sub.get(key) and sub[key] not in topics:
                raise ManifestError(f"subscription {sub['name']}: unknown {key} {sub[key]!r}")
        push = sub.get("push_function")
        if push and push not in functions:
            raise ManifestError(f"subscription {sub['name']}: unknown push_function")
        # A push waits for the answer at most the ack deadline, then Pub/Sub pushes again: a
        # handler still inside its own timeout would run twice at once (two sweeps, two MERGEs
        # on one table: real BigQuery aborts one of them).
        if push and timeouts[push] > int(sub.get("ack_deadline_seconds", ACK_DEADLINE_S)):
            raise ManifestError(
                f"subscription {sub['name']}: ack_deadline_seconds is below {push}'s timeout_s"
            )
    for schedule in manifest["schedules"]:
        if schedule.get("topic") not in topics:
            raise ManifestError(f"schedule {schedule['name']}: unknown topic")
    for function in manifest["functions"]:
        trigger = function.get("trigger", {})
        if trigger.get("type") == "storage" and trigger.get("bucket") not in buckets:
            raise ManifestError(f"function {function['name']}: unknown bucket")
        for topic in function.get("publishes", []):
            if topic not in topics:
                raise ManifestError(f"function {function['name']}: publishes unknown {topic!r}")


@functools.cache
def manifest() -> Manifest:
    """The manifest shipped with this code, loaded once."""
    return load()
