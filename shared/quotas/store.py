"""Where the quotas' transactional state lives in Firestore, and how it is changed.

Every document is keyed by the customer, so two customers never touch the same document:

- ``quota_customers/{customer}``: status, plan and limits (a copy of the BigQuery profile and
  subscription, written by :mod:`shared.quotas.customers`);
- ``quota_leases/{customer}``: the leases held now (``run_id -> pipeline, started_at,
  expires_at``) and ``next_expiry`` for the lost-lease sweep; independent of the day, so a run
  that outlives midnight keeps its slot;
- ``quota_days/{customer}@{YYYY-MM-DD}``: runs admitted that day (count + run ids);
- ``quota_alerts/{alert_id}``: one marker per (customer, period, metric, threshold);
- ``quota_outbox/{id}``: the BigQuery rows of one commit, committed with the state change that
  caused them and drained into BigQuery afterwards (see :mod:`shared.quotas.outbox`).

The leases and the day's runs are each stored as ONE compact JSON string field
(:func:`pack_leases`, :func:`pack_runs`), not as a Firestore map: every commit rewrites the
whole document, and a map of n entries costs n nested values to encode in the client and n
index entries on the server at each commit. Measured on the emulator (64 callers, 16
customers, 48 runs a day each), packing halved the caller's CPU and cut the emulator's by a
quarter (docs/quotas.md, run 6). Nothing queries inside them
(``next_expiry`` is the sweep's field), and Terraform exempts them from indexing.

Changes are optimistic, never transactional: read the documents, decide, then commit one
batch whose writes carry preconditions (``last_update_time`` of what was read, or ``create``
for a document that did not exist). A batch commit is atomic; a failed precondition means
someone else changed the state in between, so we re-read and decide again after a jittered
backoff. Nothing holds a lock, so a hot document never livelocks the way a transactional
read-modify-write does on the emulator (and on real Firestore, where server client libraries
take pessimistic locks and contended transactions queue for the lock and abort).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared import clients
from shared.errors import TransientError

CUSTOMERS = "quota_customers"
LEASES = "quota_leases"
DAYS = "quota_days"
ALERTS = "quota_alerts"
OUTBOX = "quota_outbox"
PACKED_FIELDS = ((LEASES, "leases"), (DAYS, "runs"), (OUTBOX, "rows"))
"""(collection, field): one JSON string each, exempt from indexing (terraform/firestore.tf)"""

COMMIT_DEADLINE_S = 20.0
BACKOFF_FIRST_S = 0.005
BACKOFF_MAX_S = 0.2


def customer_ref(customer_id: str) -> Any:
    return clients.firestore().collection(CUSTOMERS).document(customer_id)


def leases_ref(customer_id: str) -> Any:
    return clients.firestore().collection(LEASES).document(customer_id)


def day_ref(customer_id: str, day: date) -> Any:
    # '@' never occurs in a validated id, so "customer@day" is unambiguous
    return clients.firestore().collection(DAYS).document(f"{customer_id}@{day.isoformat()}")


def alert_ref(alert_id: str) -> Any:
    return clients.firestore().collection(ALERTS).document(alert_id)


def outbox_ref(event_id: str) -> Any:
    return clients.firestore().collection(OUTBOX).document(event_id)


@dataclass
class Plan:
    """The writes one decision wants committed atomically."""

    updates: list[tuple[Any, Any, dict[str, Any]]] = field(default_factory=list)
    """(ref, snapshot read, new fields): update with precondition, or create if it was missing"""
    creates: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    """(ref, data): documents that must not exist yet (markers, outbox rows)"""
    committed: dict[str, Any] = field(default_factory=dict)
    """after the commit: ``update_time`` of each updated document, by path"""

    def write(self, ref: Any, snapshot: Any, fields: dict[str, Any]) -> None:
        self.updates.append((ref, snapshot, fields))

    def create(self, ref: Any, data: dict[str, Any]) -> None:
        self.creates.append((ref, data))

    @property
    def empty(self) -> bool:
        return not self.updates and not self.creates


class Conflict(TransientError):  # noqa: N818 - a signal, never leaves the quotas package
    """Someone else committed first: decide again (raised by :func:`commit_writes`)."""


def read(refs: Iterable[Any]) -> dict[str, Any]:
    """Snapshots of ``refs`` in one round trip, by document path."""
    wanted = list(refs)
    return {snap.reference.path: snap for snap in clients.firestore().get_all(wanted)}


@dataclass
class Kept:
    """A document as this instance last committed it (the data it was decided on with the
    fields written over it, and the commit's ``update_time``): stands in for a snapshot, so a
    write based on it carries the same ``last_update_time`` precondition a fresh read would
    give."""

    reference: Any
    data: dict[str, Any]
    update_time: Any
    exists: bool = True

    @classmethod
    def of(cls, snapshot: Any) -> Kept:
        """A snapshot as kept: its data copied once here, not at every later decision (a
        snapshot's ``to_dict`` deep-copies each time)."""
        if isinstance(snapshot, Kept):
            return snapshot
        data = plain(snapshot.to_dict())
        return cls(snapshot.reference, data, snapshot.update_time, snapshot.exists)

    def to_dict(self) -> dict[str, Any] | None:
        return dict(self.data) if self.exists else None


def commit(plan: Plan) -> dict[str, Any]:
    """Commit ``plan`` atomically; :class:`Conflict` when a precondition failed. Returns the
    commit's ``update_time`` of each updated document, by path (protobuf Timestamps)."""
    from shared.quotas import wire

    if plan.empty:
        return {}
    writes = [
        wire.update(name_of(ref), fields, snapshot.update_time)
        if snapshot is not None and snapshot.exists
        else wire.create(name_of(ref), fields)
        for ref, snapshot, fields in plan.updates
    ]
    writes += [wire.create(name_of(ref), data) for ref, data in plan.creates]
    results = commit_writes(writes)
    # write results come in the order of the writes: the updates first
    return {
        ref.path: result.update_time
        for (ref, _, _), result in zip(plan.updates, results, strict=False)
    }


def name_of(ref: Any) -> str:
    """A document reference's full resource name, as a raw write names it."""
    return f"{clients.firestore_database()}/documents/{ref.path}"


def commit_writes(writes: list[Any]) -> Any:
    """Commit raw protobuf writes (:mod:`shared.quotas.wire`) atomically through the GAPIC
    client: the request ``WriteBatch.commit`` sends, for a quarter less of the caller's CPU per
    admission. :class:`Conflict` when a precondition failed; returns the write results."""
    from google.api_core import exceptions as gexc
    from google.cloud.firestore_v1.types import firestore as api

    request = api.CommitRequest.wrap(
        api.CommitRequest.pb()(database=clients.firestore_database(), writes=writes)
    )
    try:
        response = clients.firestore_api().commit(
            request=request, metadata=clients.firestore_metadata()
        )
    except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Conflict, gexc.Aborted) as exc:
        raise Conflict("quota_conflict", str(exc)) from exc
    return api.CommitResponse.pb(response).write_results


def run_query(structured_query: Any) -> list[Any]:
    """Run a raw ``StructuredQuery`` (:func:`shared.quotas.wire.due_query`) on the database's
    top-level collections through the GAPIC client; the documents found, as protobuf."""
    from google.cloud.firestore_v1.types import firestore as api

    request = api.RunQueryRequest.wrap(
        api.RunQueryRequest.pb()(
            parent=f"{clients.firestore_database()}/documents", structured_query=structured_query
        )
    )
    found = []
    for response in clients.firestore_api().run_query(
        request=request, metadata=clients.firestore_metadata()
    ):
        pb = api.RunQueryResponse.pb(response)
        if pb.HasField("document"):
            found.append(pb.document)
    return found


def decide_and_commit[T](decide: Callable[[], tuple[Plan, T]]) -> T:
    """Run ``decide`` (read + decide) and commit its plan; again after a jittered backoff on a
    conflict, until :data:`COMMIT_DEADLINE_S` (then a TransientError: the caller may retry)."""
    deadline = time.monotonic() + COMMIT_DEADLINE_S
    delay = BACKOFF_FIRST_S
    attempts = 0
    while True:
        attempts += 1
        plan, outcome = decide()
        try:
            plan.committed = commit(plan)
        except Conflict:
            if time.monotonic() + delay > deadline:
                raise TransientError(
                    "quota_contended", f"state kept changing ({attempts} attempts)"
                ) from None
            time.sleep(random.uniform(0, delay))  # jitter, not crypto
            delay = min(BACKOFF_MAX_S, delay * 2)
            continue
        return outcome


def write_customer(customer_id: str, fields: dict[str, Any], *, merge: bool) -> None:
    """Write the customer's limits/status document, and touch its leases document in the same
    batch: an instance deciding from the snapshots it kept (see :mod:`shared.quotas.admission`)
    validates them by the leases document's precondition, so this change makes it read again."""
    from datetime import UTC, datetime

    db = clients.firestore()
    batch = db.batch()
    if merge:
        batch.set(customer_ref(customer_id), fields, merge=True)
    else:
        batch.set(customer_ref(customer_id), fields)
    batch.set(
        leases_ref(customer_id),
        {"customer_id": customer_id, "profile_changed_at": datetime.now(UTC)},
        merge=True,
    )
    batch.commit()


def plain(data: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(data or {})


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Packer:
    """Packs entries (``key -> value``) to the text ``_json`` gives their encoded mapping, but
    encodes again only the entries whose version changed since its last call. A lane packs
    the same leases and runs at every commit, and with 48 runs a day their ISO times and JSON
    were ~15 % of an admission's CPU (docs/quotas.md, run 9). One per lane (its leader packs).
    A version compares instants, so a time re-read in another representation of the same
    instant keeps its first text, which reads back as the same time.
    """

    def __init__(self, version: Callable[[Any], Any], encode: Callable[[Any], Any]) -> None:
        self._version = version
        self._encode = encode
        self._fragments: dict[str, tuple[Any, str]] = {}

    def pack(self, entries: Mapping[str, Any]) -> str:
        fragments: dict[str, tuple[Any, str]] = {}
        for key in sorted(entries):
            version = self._version(entries[key])
            known = self._fragments.get(key)
            if known is None or known[0] != version:
                known = (version, f"{_json(key)}:{_json(self._encode(entries[key]))}")
            fragments[key] = known
        self._fragments = fragments
        return "{" + ",".join(fragment for _, fragment in fragments.values()) + "}"


def _lease_version(lease: Mapping[str, Any]) -> tuple[Any, ...]:
    return (lease.get("pipeline"), lease["started_at"], lease["expires_at"])


def _lease_json(lease: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "pipeline": lease.get("pipeline"),
        "started_at": lease["started_at"].isoformat(),
        "expires_at": lease["expires_at"].isoformat(),
    }


def leases_packer() -> Packer:
    return Packer(_lease_version, _lease_json)


def runs_packer() -> Packer:
    return Packer(lambda at: at, lambda at: at.isoformat())


def pack_leases(leases: Mapping[str, Mapping[str, Any]], packer: Packer | None = None) -> str:
    """``run_id -> {pipeline, started_at, expires_at}`` as one string (times in ISO 8601)."""
    return (packer or leases_packer()).pack(leases)


def unpack_leases(value: Any) -> dict[str, dict[str, Any]]:
    """The inverse of :func:`pack_leases` (an absent field is no leases). A Firestore map (the
    previous layout, still written by an instance of the previous release during a rolling
    deploy) is read as it is."""
    if isinstance(value, Mapping):
        return {run_id: dict(lease) for run_id, lease in value.items()}
    return {
        run_id: {
            "pipeline": lease.get("pipeline"),
            "started_at": datetime.fromisoformat(lease["started_at"]),
            "expires_at": datetime.fromisoformat(lease["expires_at"]),
        }
        for run_id, lease in (json.loads(value) if value else {}).items()
    }


def pack_runs(runs: Mapping[str, datetime], packer: Packer | None = None) -> str:
    """``run_id -> admitted_at`` as one string (times in ISO 8601)."""
    return (packer or runs_packer()).pack(runs)


def unpack_runs(value: Any) -> dict[str, datetime]:
    """The inverse of :func:`pack_runs` (an absent field is no runs; a map, the previous
    layout, is read as it is)."""
    if isinstance(value, Mapping):
        return dict(value)
    return {r: datetime.fromisoformat(at) for r, at in (json.loads(value) if value else {}).items()}
