"""Copy Firestore collections into the BigQuery tables the manifest declares for them.

- **Batches as load jobs.** Each batch of documents (ordered by document id) is appended with
  one load job: free, atomic (a batch lands whole or not at all) and DML-able at once, unlike
  streaming.
- **Resume.** The target table is the checkpoint: a run starts after the greatest ``doc_id``
  already copied, so an interrupted run (Ctrl-C, crash, lost connection) continues where the
  last committed batch ended, without duplicates and without a side file.
- **Verification.** Per collection: document count in Firestore vs rows and distinct ids in
  BigQuery, and a checksum (the sum modulo 2^256 of the SHA-256 of every ``doc_id`` + canonical
  JSON of the fields, so order does not matter) computed from the Firestore documents and,
  independently, from the JSON read back out of BigQuery. A document changed or deleted after it
  was copied, a lost or a duplicated row all show as a mismatch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from shared import bigquery, clients
from shared.resources import manifest, table_id
from shared.settings import get_settings

DEFAULT_BATCH = 500


@dataclass(frozen=True)
class Route:
    collection: str
    table: str  # manifest table name
    dataset: str

    def table_id(self) -> str:
        return table_id(get_settings().project_id, self.dataset, self.table)


def routes() -> dict[str, Route]:
    """Collection -> target table, from the manifest's ``firestore_collection`` entries."""
    return {
        t["firestore_collection"]: Route(t["firestore_collection"], t["name"], t["dataset"])
        for t in manifest()["tables"]
        if t.get("firestore_collection")
    }


# ------------------------------------------------------------------ canonical form
def plain(value: Any) -> Any:  # noqa: PLR0911 - one case per Firestore type
    """A Firestore value as JSON-safe data (the same on both sides of the checksum)."""
    from google.cloud.firestore_v1 import DocumentReference, GeoPoint

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return {"$float": str(value)}
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, GeoPoint):
        return {"$geo": [value.latitude, value.longitude]}
    if isinstance(value, DocumentReference):
        return {"$ref": value.path}
    return {"$repr": str(value)}


def canonical(fields: Any) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def doc_digest(doc_id: str, fields_json: str) -> str:
    return hashlib.sha256(f"{doc_id}\t{fields_json}".encode()).hexdigest()


def renormalize(data: Any) -> str:
    """Canonical JSON of a ``data`` value read back from BigQuery (object or JSON text)."""
    if isinstance(data, str):
        data = json.loads(data)
    return canonical(_integral(data))


def _integral(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


class Checksum:
    """Order-independent checksum: the sum of every document's SHA-256 modulo 2^256 (so both
    sides may be read in any order; a changed, missing or duplicated document changes it)."""

    def __init__(self) -> None:
        self._total = 0
        self.count = 0

    def add(self, doc_id: str, fields_json: str) -> None:
        self._total = (self._total + int(doc_digest(doc_id, fields_json), 16)) % 2**256
        self.count += 1

    def hexdigest(self) -> str:
        return format(self._total, "064x")


# ------------------------------------------------------------------ reading
def _collection(name: str) -> Any:
    return clients.firestore().collection(name)


def count_documents(collection: str) -> int:
    result = _collection(collection).count().get()
    return int(result[0][0].value)


def documents(collection: str, after: str | None = None, page: int = 500) -> Iterator[Any]:
    """Snapshots in document-id order, after ``after``, read page by page."""
    from google.cloud.firestore_v1.field_path import FieldPath

    col = _collection(collection)
    cursor = after
    while True:
        query = col.order_by(FieldPath.document_id()).limit(page)
        if cursor is not None:
            query = query.start_after({FieldPath.document_id(): col.document(cursor)})
        got = 0
        for snap in query.stream():
            got += 1
            cursor = snap.id
            yield snap
        if got < page:
            return


def row_of(snap: Any, collection: str, migration_id: str, now: datetime) -> dict[str, Any]:
    fields = plain(snap.to_dict() or {})
    text = canonical(fields)
    return {
        "doc_id": snap.id,
        "path": f"{collection}/{snap.id}",
        "data": fields,
        "doc_sha256": doc_digest(snap.id, text),
        "create_time": plain(snap.create_time) if snap.create_time else None,
        "update_time": plain(snap.update_time) if snap.update_time else None,
        "migration_id": migration_id,
        "migrated_at": now.isoformat(),
    }


# ------------------------------------------------------------------ progress in BigQuery
def copied(route: Route) -> tuple[int, str | None]:
    """(rows, greatest doc_id) already in the target table."""
    rows = bigquery.query(f"SELECT COUNT(*) AS n, MAX(doc_id) AS last FROM `{route.table_id()}`")
    return int(rows[0]["n"] or 0), rows[0]["last"]


def load_batch(route: Route, rows: list[dict[str, Any]]) -> None:
    """Append one batch with one load job (all rows or none)."""
    from google.cloud import bigquery as bq

    config = bq.LoadJobConfig(
        write_disposition="WRITE_APPEND",
        source_format=bq.SourceFormat.NEWLINE_DELIMITED_JSON,
        schema=[bq.SchemaField.from_api_repr(f) for f in manifest().table_schema(route.table)],
    )
    clients.bigquery().load_table_from_json(rows, route.table_id(), job_config=config).result(
        timeout=300
    )


def truncate(route: Route) -> int:
    return bigquery.dml(f"DELETE FROM `{route.table_id()}` WHERE TRUE")


# ------------------------------------------------------------------ plan, copy, verify
@dataclass
class Plan:
    collection: str
    table: str
    documents: int
    already_copied: int
    resume_after: str | None

    @property
    def to_copy(self) -> int:
        return max(0, self.documents - self.already_copied)


def plan(route: Route) -> Plan:
    rows, last = copied(route)
    return Plan(route.collection, route.table, count_documents(route.collection), rows, last)


def copy(
    route: Route,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] = lambda _n: None,
    load: Callable[[Route, list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Copy the documents after the last one already in the table; returns a summary."""
    load = load or load_batch
    _, last = copied(route)
    migration_id = f"mig-{uuid.uuid4().hex[:12]}"
    batches = written = 0
    batch: list[dict[str, Any]] = []
    now = datetime.now(UTC)

    def flush() -> None:
        nonlocal batches, written, batch
        load(route, batch)
        batches += 1
        written += len(batch)
        on_batch(len(batch))
        batch = []

    for snap in documents(route.collection, after=last, page=batch_size):
        batch.append(row_of(snap, route.collection, migration_id, now))
        if len(batch) >= batch_size:
            flush()
            if max_batches is not None and batches >= max_batches:
                break
    else:
        if batch:
            flush()
    rows_now, _ = copied(route)
    return {
        "collection": route.collection,
        "table": route.table,
        "migration_id": migration_id,
        "resumed_after": last,
        "batches": batches,
        "rows_written": written,
        "complete": rows_now >= count_documents(route.collection),
    }


@dataclass
class Verification:
    collection: str
    table: str
    firestore_documents: int
    bigquery_rows: int
    bigquery_distinct_ids: int
    firestore_checksum: str
    bigquery_checksum: str

    @property
    def ok(self) -> bool:
        return (
            self.firestore_documents == self.bigquery_rows == self.bigquery_distinct_ids
            and self.firestore_checksum == self.bigquery_checksum
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify(route: Route) -> Verification:
    source = Checksum()
    for snap in documents(route.collection):
        source.add(snap.id, canonical(plain(snap.to_dict() or {})))
    target = Checksum()
    rows = bigquery.query(f"SELECT doc_id, data FROM `{route.table_id()}`", timeout_s=600)
    for row in rows:
        target.add(str(row["doc_id"]), renormalize(row["data"]))
    distinct = len({row["doc_id"] for row in rows})
    return Verification(
        route.collection,
        route.table,
        source.count,
        target.count,
        distinct,
        source.hexdigest(),
        target.hexdigest(),
    )
