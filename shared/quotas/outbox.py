"""The outbox: BigQuery rows committed in Firestore with the change that caused them.

An admission (or release, heartbeat, lost lease, refusal) writes its usage event as a document
``quota_outbox/{event_id}`` in the same atomic batch as the state change, so the record can
never miss a committed change and the caller is answered without waiting for BigQuery.
:func:`drain` moves outbox rows into BigQuery (Storage Write API, ``shared.bigquery.writer``; the
tables are append-only and read deduplicated by that id) and deletes them only once written.
It runs right after a commit in a background thread of the instance (:func:`drain_soon`) and
on every lease sweep (Cloud Scheduler, every 5 minutes) as the backstop for an instance that
stopped or was throttled before draining.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import clients
from shared.quotas import store
from shared.resources import manifest, table_id
from shared.settings import get_settings

logger = logging.getLogger("shared.quotas.outbox")
EVENTS = "quota_usage_events"
ALERT_LOG = "quota_alert_log"
DRAIN_PAGE = 500
DRAIN_DELAY_S = 1.0
"""Rows committed within this delay are drained together (fewer, larger inserts)."""

_drain_lock = threading.Lock()
_drain_wanted = threading.Event()


CLAIM_S = 120
"""A drainer owns the rows it claimed for this long (then another may take them over)."""
_UNCLAIMED = datetime(1970, 1, 1, tzinfo=UTC)


def entry(table: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """An outbox document: the rows of one commit for ``table``, as one JSON string.

    One document per commit, not per row, and one string field, not a map per row: a document
    per row costs a write (and an index entry per field) on the admission's commit, and again
    in the drain's query, claim and delete; a map per row is indexed field by field.
    """
    return {
        "table": table,
        "rows": json.dumps(rows, sort_keys=True, separators=(",", ":")),
        "count": len(rows),
        "created_at": datetime.now(UTC),
        "claimed_until": _UNCLAIMED,
    }


def entry_id(rows: list[dict[str, Any]], key: str) -> str:
    """A document id derived from the rows' ``key``: the same rows can never make two
    documents (creating an existing id fails like any other precondition)."""
    digest = hashlib.sha256("|".join(str(row[key]) for row in rows).encode()).hexdigest()
    return digest[:40]


def rows_of(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows an outbox document holds; ValueError when it holds none we can read.

    A document of the previous layout (one ``row`` map per event, written by an instance of
    the previous release during a rolling deploy) is read too.
    """
    if isinstance(data.get("row"), Mapping):
        return [dict(data["row"])]
    rows = json.loads(str(data.get("rows")))  # ValueError (JSONDecodeError) if malformed
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError("an outbox document must hold a non-empty list of rows")
    return rows


@dataclass(frozen=True, slots=True)
class _Held:
    """One outbox document as the drain's query returned it."""

    name: str
    """its full resource name"""
    id: str
    update_time: Any
    """a protobuf Timestamp: the claim's precondition"""
    data: dict[str, Any]
    """the fields :func:`rows_of` reads"""


def _due_page() -> list[_Held]:
    """One page of outbox documents nobody holds a claim on, read as raw protobuf with only
    the fields the drain reads: the high-level client's snapshots cost five times the CPU to
    decode (see :mod:`shared.quotas.wire`), taken from the admissions the instance serves."""
    from google.cloud.firestore_v1 import _helpers

    from shared.quotas import wire

    query = wire.due_query(
        store.OUTBOX, "claimed_until", datetime.now(UTC), ("table", "rows", "row"), DRAIN_PAGE
    )
    page = []
    for doc in store.run_query(query):
        fields = doc.fields
        data: dict[str, Any] = {k: fields[k].string_value for k in ("table", "rows") if k in fields}
        if "row" in fields:  # the previous one-row layout: a map
            data["row"] = _helpers.decode_value(fields["row"], clients.firestore())
        page.append(_Held(doc.name, doc.name.rpartition("/")[2], doc.update_time, data))
    return page


def _claim(page: list[_Held]) -> bool:
    """Claim a page for this drainer: one commit of precondition updates, so two drainers
    (instances, the sweep) never write the same rows twice; False when another was first."""
    from google.api_core.exceptions import NotFound

    from shared.quotas import wire

    until = datetime.now(UTC) + timedelta(seconds=CLAIM_S)
    try:
        store.commit_writes(
            [wire.update(held.name, {"claimed_until": until}, held.update_time) for held in page]
        )
    except (store.Conflict, NotFound):
        return False
    return True


def _table(name: str) -> str:
    return table_id(get_settings().project_id, manifest().table(name)["dataset"], name)


def write_now(table: str, rows: list[dict[str, Any]], *, key: str) -> None:
    """Insert ``rows`` into ``table`` now, with ``row[key]`` as row id (raises on failure)."""
    from shared.bigquery.writer import table_writer

    table_writer(table, group_commit=False).write([(str(row[key]), row) for row in rows])


def drain(limit: int = 10 * DRAIN_PAGE) -> int:
    """Claim pending outbox rows, write them to BigQuery, then delete them; returns rows
    written. A drainer that dies after its claim leaves the rows to the next drain after
    :data:`CLAIM_S` (written at least once; the tables are read deduplicated)."""
    from shared.quotas import wire

    written = 0
    contended = 0
    while written < limit and contended < 3:
        page = _due_page()
        if not page:
            break
        if not _claim(page):  # another drainer took (part of) this page: look again
            contended += 1
            continue
        by_table: dict[str, list[tuple[_Held, list[dict[str, Any]]]]] = defaultdict(list)
        for held in page:
            try:
                by_table[str(held.data.get("table"))].append((held, rows_of(held.data)))
            except ValueError:  # kept for an operator, never deleted unread; claimed again later
                logger.error("outbox document %s holds no readable rows: kept", held.id)
        for table, group in by_table.items():
            rows = [
                (f"{held.id}#{i}", row)
                for held, held_rows in group
                for i, row in enumerate(held_rows)
            ]
            if table in (EVENTS, ALERT_LOG):
                from shared.bigquery.writer import table_writer

                table_writer(table, group_commit=False).write(rows)
            else:  # never written by this code: keep it out of the way, loudly
                logger.error("outbox row for unknown table %r dropped", table)
            store.commit_writes([wire.delete(held.name) for held, _ in group])
            written += len(rows)
        if len(page) < DRAIN_PAGE:
            break
    return written


def drain_soon() -> None:
    """Drain in a background thread of this instance (one at a time; best effort)."""
    _drain_wanted.set()
    if not _drain_lock.acquire(blocking=False):
        return
    threading.Thread(target=_drain_loop, name="quota-outbox-drain", daemon=True).start()


def _drain_loop() -> None:
    try:
        while _drain_wanted.is_set():
            time.sleep(DRAIN_DELAY_S)
            _drain_wanted.clear()
            try:
                drain()
            except Exception:
                logger.warning("outbox drain failed; the sweep drains it", exc_info=True)
                return
    finally:
        _drain_lock.release()
    if _drain_wanted.is_set():  # asked again between our last check and the release
        drain_soon()
