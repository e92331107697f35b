"""Where the quotas' transactional state lives in Firestore, and how it is changed.

Every document is keyed by the customer, so two customers never touch the same document:

- ``quota_customers/{customer}``: status, plan and limits (a copy of the BigQuery profile and
  subscription, written by :mod:`shared.quotas.customers`);
- ``quota_runs/{customer}@{run_id}``: one run: pending while its start is decided, then
  admitted with its lease (``lease_expires_at`` while held; the lost-lease sweep's field);
  refused runs leave no document, so a refused run id may be tried again;
- ``quota_tickets/{customer}@{YYYY-MM-DD}``: ``tickets``, the day's admission counter;
- ``quota_running/{customer}``: ``running``, the leases held now; independent of the day, so
  a run that outlives midnight keeps its slot;
- ``quota_alerts/{alert_id}``: one marker per (customer, period, metric, threshold);
- ``quota_outbox/{id}``: the BigQuery rows of one commit, committed with the state change that
  caused them and drained into BigQuery afterwards (see :mod:`shared.quotas.outbox`).

The two counters change only by ``increment`` transforms, never read-modify-write, so callers
on any number of instances never conflict on them (:mod:`shared.quotas.admission` says why the
count stays exact). Run documents change with preconditions (``create``, or the
``update_time`` of what was read), so two changes of one run never both commit. Nothing holds
a lock, so a hot customer never livelocks the way a transactional read-modify-write does on
the emulator (and on real Firestore, where server client libraries take pessimistic locks and
contended transactions queue for the lock and abort).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared import clients
from shared.errors import TransientError
from shared.retry import RetryPolicy, call_with_retry

CUSTOMERS = "quota_customers"
RUNS = "quota_runs"
TICKETS = "quota_tickets"
RUNNING = "quota_running"
ALERTS = "quota_alerts"
OUTBOX = "quota_outbox"
PACKED_FIELDS = ((OUTBOX, "rows"),)
"""(collection, field): one JSON string each, exempt from indexing (terraform/firestore.tf)"""
RUN_LEASE_INDEX = (RUNS, ("customer_id", "lease_expires_at"))
"""the one composite index the queries need (terraform/firestore.tf ``run_leases``)"""
TTL_FIELD = "expire_at"
"""Firestore's TTL policy deletes a document of ``TTL_COLLECTIONS`` after this time
(terraform/firestore.tf): a run's, or a day's tickets"""
TTL_COLLECTIONS = (RUNS, TICKETS)

COMMIT_DEADLINE_S = 20.0
BACKOFF_FIRST_S = 0.005
BACKOFF_MAX_S = 0.2
UNAVAILABLE_RETRY = RetryPolicy(
    attempts=100, initial_s=0.1, multiplier=1.3, maximum_s=5.0, deadline_s=COMMIT_DEADLINE_S
)
"""A commit that met UNAVAILABLE or RESOURCE_EXHAUSTED: the GAPIC method's default backoff,
within the commit deadline (which binds long before the attempts do)"""
PROFILE_TTL_S = 1.0
"""How long an instance decides on a customer's limits and status as it last read them. A
change made on another instance reaches this one's decisions within this time; one made here
at once (:func:`write_customer` forgets the copy)."""


def customer_ref(customer_id: str) -> Any:
    return clients.firestore().collection(CUSTOMERS).document(customer_id)


def run_ref(customer_id: str, run_id: str) -> Any:
    # '@' never occurs in a validated id, so "customer@run" is unambiguous
    return clients.firestore().collection(RUNS).document(f"{customer_id}@{run_id}")


def tickets_ref(customer_id: str, day: date) -> Any:
    return clients.firestore().collection(TICKETS).document(f"{customer_id}@{day.isoformat()}")


def running_ref(customer_id: str) -> Any:
    return clients.firestore().collection(RUNNING).document(customer_id)


def alert_ref(alert_id: str) -> Any:
    return clients.firestore().collection(ALERTS).document(alert_id)


def outbox_ref(event_id: str) -> Any:
    return clients.firestore().collection(OUTBOX).document(event_id)


_profiles: dict[str, tuple[float, dict[str, Any]]] = {}
_profiles_lock = threading.Lock()


def profile(customer_id: str) -> dict[str, Any]:
    """The customer's ``quota_customers`` document (empty if none), read at most once per
    :data:`PROFILE_TTL_S` per instance. A copy: the caller may keep it."""
    now = time.monotonic()
    with _profiles_lock:
        known = _profiles.get(customer_id)
    if known is not None and now - known[0] < PROFILE_TTL_S:
        return dict(known[1])
    data = plain(customer_ref(customer_id).get().to_dict())
    with _profiles_lock:
        _profiles[customer_id] = (now, data)
    return dict(data)


def forget_profile(customer_id: str) -> None:
    with _profiles_lock:
        _profiles.pop(customer_id, None)


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
    """Commit raw protobuf writes (:mod:`shared.quotas.wire`) atomically on Firestore's bare
    Commit method (:func:`shared.clients.firestore_commit`). :class:`Conflict` when a
    precondition failed; returns the write results.

    UNAVAILABLE and RESOURCE_EXHAUSTED are tried again (the project's one retry loop,
    :func:`shared.retry.call_with_retry`, with :data:`UNAVAILABLE_RETRY`) until
    :data:`COMMIT_DEADLINE_S`, as the GAPIC method's default retry does. That is safe for
    every commit here: each one creates a document or holds an ``update_time`` precondition
    (or only deletes), so a commit that landed although its answer was lost fails again as a
    :class:`Conflict`, and the caller decides from what it reads."""
    import grpc
    from google.api_core import exceptions as gexc
    from google.cloud.firestore_v1.types import firestore as api

    commit, metadata = clients.firestore_commit()
    request = api.CommitRequest.pb()(database=clients.firestore_database(), writes=writes)
    deadline = time.monotonic() + COMMIT_DEADLINE_S

    def attempt() -> Any:
        try:
            left = max(deadline - time.monotonic(), 0.001)
            return commit(request, metadata=metadata, timeout=left).write_results
        except grpc.RpcError as rpc_error:
            exc = gexc.from_grpc_error(rpc_error)
        if isinstance(
            exc, gexc.FailedPrecondition | gexc.AlreadyExists | gexc.Conflict | gexc.Aborted
        ):
            raise Conflict("quota_conflict", str(exc)) from exc
        raise exc

    return call_with_retry(
        attempt,
        UNAVAILABLE_RETRY,
        retryable=lambda exc: isinstance(exc, gexc.ServiceUnavailable | gexc.ResourceExhausted),
        sleep=time.sleep,
        clock=time.monotonic,
    )


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


def retry_conflicts[T](attempt: Callable[[], T]) -> T:
    """Run ``attempt`` (read, decide, commit) again after a jittered backoff while it raises
    :class:`Conflict`, until :data:`COMMIT_DEADLINE_S` (then a TransientError: the caller may
    retry)."""
    deadline = time.monotonic() + COMMIT_DEADLINE_S
    delay = BACKOFF_FIRST_S
    attempts = 0
    while True:
        attempts += 1
        try:
            return attempt()
        except Conflict:
            if time.monotonic() + delay > deadline:
                raise TransientError(
                    "quota_contended", f"state kept changing ({attempts} attempts)"
                ) from None
            time.sleep(random.uniform(0, delay))  # jitter, not crypto
            delay = min(BACKOFF_MAX_S, delay * 2)


def decide_and_commit[T](decide: Callable[[], tuple[Plan, T]]) -> T:
    """Run ``decide`` (read + decide) and commit its plan, again on a conflict
    (:func:`retry_conflicts`)."""

    def attempt() -> T:
        plan, outcome = decide()
        plan.committed = commit(plan)
        return outcome

    return retry_conflicts(attempt)


def write_customer(customer_id: str, fields: dict[str, Any], *, merge: bool) -> None:
    """Write the customer's limits/status document; this instance's next decision reads it
    again (others within :data:`PROFILE_TTL_S`)."""
    ref = customer_ref(customer_id)
    if merge:
        ref.set(fields, merge=True)
    else:
        ref.set(fields)
    forget_profile(customer_id)


def plain(data: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(data or {})
