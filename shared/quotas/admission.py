"""Admission, leases, heartbeats and releases on Firestore, keyed by (customer, run).

**Tickets, not read-modify-write.** A start is two commits and no read (see
:mod:`shared.quotas.store` for the documents):

1. *claim*: create the run's document (pending) and add 1 to the day's ``tickets`` and to the
   customer's ``running``, with no precondition on the counters. The commit's write results
   give both counters' values after this increment: the call's ticket and its running slot.
2. *answer*: the call is admitted when its ticket is at most the daily limit and its slot at
   most the concurrent limit. The answer is written to the run's document before the caller
   gets it; a refusal deletes the run's document and gives both increments back.

Exact, on any number of instances: only refusals give increments back, so the counters never
fall below the runs admitted (today; holding a lease). Of two admitted calls, the one whose
increment committed later counted the other's, so the k-th admission saw at least k and an
admission needs its value to be at most the limit. Different instances never conflict: the
server applies increments one after the other (no precondition to fail), where the previous
design (read, decide, commit with a precondition) made instances sharing a customer retry each
other's commits (p95 341-482 ms on 4 instances: docs/quotas.md, runs 13-14).

The price: a call may be refused while a refusal racing it is about to give its increment
back, so near a limit a racing caller can be refused for a slot freed a moment later (a limit
is never exceeded; the caller asks again). A crash between the two commits leaves a pending
run document that nobody was answered for: a repeat of that run, or the lease sweep after
:data:`PENDING_GRACE_S`, refuses it and gives its increments back, guarded by the document's
update time so that happens once.

**One hot customer stays exact and answered.** Inside one instance, starts for the same
customer are coalesced: the first caller becomes the leader, takes every start waiting for
that customer and claims them in one commit (``increment(k)``: k consecutive tickets), answers
them in a second, and hands the lane on (group commit). Heartbeats and finishes touch only
their run's document and ``running``, one commit each.

Every change also writes its usage events (admitted, refused, duplicate, heartbeat, released,
lost) into the outbox in the same commit, so BigQuery's record can never miss a committed
change (:mod:`shared.quotas.outbox` drains it), and a daily threshold crossed by an admission
creates its alert marker in the commit that admits it, so an alert is due exactly once
(:mod:`shared.quotas.alerts` publishes it).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.errors import TransientError
from shared.quotas import alerts, outbox, store
from shared.quotas.validation import check_id, check_lease, check_status, raise_if

logger = logging.getLogger("shared.quotas.admission")
DEFAULT_LEASE_S = 15 * 60
ACTIVE_STATUSES = ("ACTIVE", "TRIAL")
PENDING_GRACE_S = 60
"""A run document still pending this long after its claim was abandoned by its instance (it
stopped between the two commits, or the answer's commit failed): a repeat or the lease sweep
refuses it. Well beyond the commit deadline (:data:`shared.quotas.store.COMMIT_DEADLINE_S`)."""
RUN_RETENTION_DAYS = 35
"""An admitted run's document (its idempotency key) lives this long after its last change
(Firestore's TTL policy on ``expire_at``); a lease outlives it only by being renewed."""
RECLAIM_EVERY_S = 1.0
"""At most this often per customer and instance, a concurrency refusal looks for expired
leases of the customer (so a crashed runner's slot comes back before the next sweep)."""


def _now() -> datetime:
    """The decision clock (one place, so a test can move it past midnight)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    admitted: bool
    reason: str
    customer_id: str = ""
    run_id: str = ""
    used: int | None = None
    limit: int | None = None
    running: int | None = None
    concurrent_limit: int | None = None
    lease_expires_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "admitted": self.admitted,
            "reason": self.reason,
            "customer_id": self.customer_id,
            "run_id": self.run_id,
            "used": self.used,
            "limit": self.limit,
            "running": self.running,
            "concurrent_limit": self.concurrent_limit,
            "lease_expires_at": self.lease_expires_at.isoformat()
            if self.lease_expires_at
            else None,
        }


@dataclass(eq=False)
class _Op:
    """One start waiting in its customer's lane."""

    run_id: str
    pipeline: str
    lease_seconds: int = DEFAULT_LEASE_S
    api_call: bool = False
    wake: threading.Event = field(default_factory=threading.Event)
    """set when the call is answered, or when it is promoted to lead its lane"""
    answered: bool = False
    result: AdmissionResult | None = None
    error: BaseException | None = None


# ---------------------------------------------------------------- public calls
def start(
    customer_id: str,
    pipeline: str,
    run_id: str,
    *,
    lease_seconds: int = DEFAULT_LEASE_S,
    api_call: bool = False,
) -> AdmissionResult:
    """Admit ``run_id`` if today's runs < daily limit and leases held < concurrent limit.

    Idempotent per (customer, run id): a repeated call of an admitted run answers
    ``already_admitted``; a refused run may be tried again. Raises InvalidInputError for
    malformed arguments (nothing changes); refusals are results.
    """
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "pipeline", pipeline)
    check_id(problems, "run_id", run_id)
    check_lease(problems, lease_seconds)
    raise_if(problems)
    return _submit(customer_id, _Op(run_id, pipeline, lease_seconds, api_call))


def heartbeat(
    customer_id: str, run_id: str, *, lease_seconds: int = DEFAULT_LEASE_S, api_call: bool = False
) -> bool:
    """Extend the customer's lease of ``run_id``; False when it holds none (finished, lost)."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "run_id", run_id)
    check_lease(problems, lease_seconds)
    raise_if(problems)

    def extend(change: _RunChange) -> bool:
        if not change.held_now():
            change.event("heartbeat", reason="no_lease", api_call=api_call)
            return False
        change.write(lease_expires_at=change.now + timedelta(seconds=lease_seconds))
        # every heartbeat has its event, from the API or pipeline-events alike (no input is
        # answered with nothing written to the record)
        change.event("heartbeat", pipeline=change.data.get("pipeline"), api_call=api_call)
        return True

    return _change_run(customer_id, run_id, extend)


def finish(run_id: str, status: str, *, customer_id: str, api_call: bool = False) -> bool:
    """Release the customer's lease of ``run_id``; True only for the call that released it.

    A finish after the lease expired (the run is recorded LOST) releases nothing: False.
    """
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "run_id", run_id)
    final = check_status(problems, status)
    raise_if(problems)

    def release(change: _RunChange) -> bool:
        if not change.held_now():
            change.event("finish", status=final, reason="no_lease", api_call=api_call)
            return False
        change.end(final, "released", api_call=api_call)
        return True

    return _change_run(customer_id, run_id, release)


def reclaim(customer_id: str) -> int:
    """Drop the customer's expired leases (recorded LOST); returns how many."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    raise_if(problems)
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        store.run_ref("x", "x")
        .parent.where(filter=FieldFilter("customer_id", "==", customer_id))
        .where(filter=FieldFilter("lease_expires_at", "<=", _now()))
    )
    return sum(lose_if_expired(customer_id, snap.get("run_id")) for snap in query.stream())


def lose_if_expired(customer_id: str, run_id: str) -> bool:
    """Record the run LOST and free its slot if its lease expired; True if this call did."""

    return _change_run(customer_id, run_id, _RunChange.expire)


def abandon_if_stale(customer_id: str, run_id: str) -> bool:
    """Refuse a run whose claim was never answered (see :data:`PENDING_GRACE_S`) and give its
    increments back; True if this call did."""

    return _change_run(customer_id, run_id, _RunChange.abandon)


def usage(customer_id: str, day: date | None = None) -> dict[str, Any]:
    """The customer's state now: runs admitted on ``day`` and leases held (for reports, tests)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    day = day or _now().date()
    tickets = store.plain(store.tickets_ref(customer_id, day).get().to_dict())
    runs = store.run_ref("x", "x").parent.where(
        filter=FieldFilter("customer_id", "==", customer_id)
    )
    admitted = runs.where(filter=FieldFilter("day", "==", day.isoformat())).where(
        filter=FieldFilter("answer", "==", "admitted")
    )
    held = runs.where(filter=FieldFilter("lease_expires_at", ">", datetime(1970, 1, 1, tzinfo=UTC)))
    return {
        "customer_id": customer_id,
        "day": day.isoformat(),
        "admitted": int(tickets.get("tickets", 0)),
        "run_ids": sorted(snap.get("run_id") for snap in admitted.stream()),
        "leases": {
            snap.get("run_id"): {
                "pipeline": snap.get("pipeline"),
                "started_at": snap.get("started_at"),
                "expires_at": snap.get("lease_expires_at"),
            }
            for snap in held.stream()
        },
    }


def not_in_standing(profile: dict[str, Any], now: datetime) -> str | None:
    """Why a customer (its ``quota_customers`` document) may not act now, or None."""
    status = profile.get("status")
    if not profile:
        return "unknown_customer"
    if status == "SUSPENDED":
        return "customer_suspended"
    if status == "CANCELLED":
        return "customer_cancelled"
    trial_ends = profile.get("trial_ends_at")
    if status == "TRIAL" and (trial_ends is None or trial_ends <= now):
        return "trial_expired"
    if status not in ACTIVE_STATUSES:
        return "no_active_subscription"
    return None


# ---------------------------------------------------------------- usage events
def _limit(profile: dict[str, Any], name: str) -> int:
    return int(profile.get(name) or 0)


def _event(
    customer_id: str,
    profile: dict[str, Any],
    now: datetime,
    kind: str,
    run_id: str,
    *,
    key: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One usage event row; ``key`` makes its id deterministic (a state change), else it is
    unique per call (a refusal or a duplicate call: each call counts)."""
    basis = f"{customer_id}|{run_id}|{kind}|{key}" if key else uuid.uuid4().hex
    return {
        "event_id": hashlib.sha256(basis.encode()).hexdigest()[:32],
        "customer_id": customer_id,
        "run_id": run_id or None,
        "kind": kind,
        "usage_date": now.date().isoformat(),
        "occurred_at": now.isoformat(),
        "daily_used": None,
        "daily_limit": _limit(profile, "daily_limit"),
        "running": None,
        "concurrent_limit": _limit(profile, "concurrent_limit"),
        **fields,
    }


def _outbox_write(events: list[dict[str, Any]]) -> Any:
    from shared.quotas import wire

    ref = store.outbox_ref(outbox.entry_id(events, "event_id"))
    return wire.create(store.name_of(ref), outbox.entry(outbox.EVENTS, events))


# ---------------------------------------------------------------- one run's changes
class _RunChange:
    """One change of one run's document, decided on a fresh read and committed with the read's
    update time as precondition, with its events and its ``running`` decrement."""

    def __init__(self, customer_id: str, run_id: str) -> None:
        self.customer_id = customer_id
        self.run_id = run_id
        self.ref = store.run_ref(customer_id, run_id)
        self.snapshot = self.ref.get()
        self.data = store.plain(self.snapshot.to_dict())
        self.profile = store.profile(customer_id)
        self.now = _now()
        self.writes: list[Any] = []
        self.events: list[dict[str, Any]] = []

    def event(self, kind: str, *, key: str | None = None, **fields: Any) -> None:
        self.events.append(
            _event(self.customer_id, self.profile, self.now, kind, self.run_id, key=key, **fields)
        )

    def held(self) -> bool:
        return self.data.get("lease_expires_at") is not None

    def held_now(self) -> bool:
        """Held and not expired; an expired lease is recorded LOST here."""
        return self.held() and not self.expire()

    def write(self, remove: tuple[str, ...] = (), **fields: Any) -> None:
        from shared.quotas import wire

        fields[store.TTL_FIELD] = self.now + timedelta(days=RUN_RETENTION_DAYS)
        self.writes.append(
            wire.update(store.name_of(self.ref), fields, self.snapshot.update_time, remove)
        )

    def free_slot(self) -> None:
        from shared.quotas import wire

        self.writes.append(
            wire.increment(store.name_of(store.running_ref(self.customer_id)), {"running": -1})
        )

    def end(self, status: str, kind: str, **fields: Any) -> None:
        """The lease ends (released or lost): the slot is free, the run keeps its answer."""
        started = self.data["started_at"]
        self.write(("lease_expires_at",), status=status, finished_at=self.now)
        self.free_slot()
        self.event(
            kind,
            key=started.isoformat(),
            pipeline=self.data.get("pipeline"),
            status=status,
            started_at=started.isoformat(),
            **fields,
        )

    def expire(self) -> bool:
        if not self.held() or self.data["lease_expires_at"] > self.now:
            return False
        self.end("LOST", "lost")
        logger.warning(
            "lease expired, run recorded LOST",
            extra={"fields": {"customer_id": self.customer_id, "run_id": self.run_id}},
        )
        return True

    def abandon(self) -> bool:
        """Refuse a pending run whose claim is older than the grace; give both increments back."""
        from shared.quotas import wire

        pending = self.data.get("pending_since")
        if pending is None or self.now - pending < timedelta(seconds=PENDING_GRACE_S):
            return False
        self.writes.append(wire.delete(store.name_of(self.ref), self.snapshot.update_time))
        self.writes += _give_back(self.customer_id, date.fromisoformat(self.data["day"]), 1)
        self.event("refused", pipeline=self.data.get("pipeline"), reason="unanswered")
        return True

    def commit(self) -> None:
        if self.events:
            self.writes.append(_outbox_write(self.events))
        if self.writes:
            store.commit_writes(self.writes)


def _change_run[T](customer_id: str, run_id: str, decide: Callable[[_RunChange], T]) -> T:
    def attempt() -> T:
        change = _RunChange(customer_id, run_id)
        outcome = decide(change)
        change.commit()
        return outcome

    outcome = store.retry_conflicts(attempt)
    outbox.drain_soon()
    return outcome


def _unchanged(snapshot: Any, claimed: Any) -> bool:
    """Whether a run's document is still as our claim created it."""
    from shared.quotas import wire

    return bool(snapshot.exists) and wire.timestamp(snapshot.update_time) == claimed


def _give_back(customer_id: str, day: date, n: int) -> list[Any]:
    """The writes that give ``n`` claims' increments back (refused or abandoned)."""
    from shared.quotas import wire

    return [
        wire.increment(store.name_of(store.tickets_ref(customer_id, day)), {"tickets": -n}),
        wire.increment(store.name_of(store.running_ref(customer_id)), {"running": -n}),
    ]


# ---------------------------------------------------------------- group commit per customer
class _Lane:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[_Op] = []
        self.leading = False
        self.reclaimed_at = float("-inf")
        """when a concurrency refusal last looked for expired leases (its leader only)"""


_lanes: dict[str, _Lane] = {}
_lanes_lock = threading.Lock()


def _lane(customer_id: str) -> _Lane:
    with _lanes_lock:
        lane = _lanes.get(customer_id)
        if lane is None:
            lane = _lanes[customer_id] = _Lane()
        return lane


def _submit(customer_id: str, op: _Op) -> AdmissionResult:
    lane = _lane(customer_id)
    with lane.lock:
        lane.pending.append(op)
        lead = not lane.leading
        if lead:
            lane.leading = True
    while True:
        if lead:
            _lead_once(customer_id, lane)
        op.wake.wait()
        op.wake.clear()
        if op.answered:
            break
        lead = True  # promoted: the previous leader handed the lane to this call
    if op.error is not None:
        raise op.error
    assert op.result is not None
    return op.result


def _take(pending: list[_Op]) -> tuple[list[_Op], list[_Op]]:
    """The batch (the first call of each run id) and what stays pending (a repeat of a run id
    in the same batch waits for the first one's answer)."""
    batch: list[_Op] = []
    rest: list[_Op] = []
    seen: set[str] = set()
    for op in pending:
        (rest if op.run_id in seen else batch).append(op)
        seen.add(op.run_id)
    return batch, rest


def _lead_once(customer_id: str, lane: _Lane) -> None:
    """Claim and answer every start waiting in the lane (the leader's own among them), then
    hand the lane to the oldest call that arrived meanwhile: a leader never serves later
    batches, so its own latency is one batch, not the length of a burst."""
    batch: list[_Op] = []
    outcome = _Outcome()
    try:
        # a customer not known here is read BEFORE the batch is taken: the calls that arrive
        # during the read join this batch instead of waiting for the next one
        profile = store.profile(customer_id)
        with lane.lock:
            batch, lane.pending = _take(lane.pending)
        outcome = _decide_batch(customer_id, profile, batch)
    except BaseException as exc:  # every waiter of the batch gets the failure
        if not batch:  # the read failed before the batch was taken
            with lane.lock:
                batch, lane.pending = _take(lane.pending)
        outcome = _Outcome({op: exc for op in batch})
    for op in batch:
        answer = outcome.answers[op]
        if isinstance(answer, BaseException):
            op.error = answer
        else:
            op.result = answer
        op.answered = True
        op.wake.set()
    with lane.lock:
        if lane.pending:
            lane.pending[0].wake.set()  # the next leader (still pending, so in its own batch)
        else:
            lane.leading = False
    _after_answers(customer_id, lane, outcome)


@dataclass
class _Outcome:
    answers: dict[_Op, AdmissionResult | BaseException] = field(default_factory=dict)
    due: list[alerts.Alert] = field(default_factory=list)
    concurrency_refused: bool = False


def _after_answers(customer_id: str, lane: _Lane, outcome: _Outcome) -> None:
    """Work that follows the answers, after the lane was handed on: only the call whose batch
    crossed a threshold (twice per customer and day) waits for the alert publish. It is
    already recorded in Firestore, so a failure here is made good by the sweeps (outbox drain,
    unpublished alerts republished, expired leases reclaimed)."""
    for alert in outcome.due:
        try:
            alerts.publish(alert)
        except Exception:
            logger.warning("alert publish failed; the sweep publishes it", exc_info=True)
    if outcome.concurrency_refused and time.monotonic() - lane.reclaimed_at >= RECLAIM_EVERY_S:
        lane.reclaimed_at = time.monotonic()
        try:
            reclaim(customer_id)
        except Exception:
            logger.warning("reclaim after a refusal failed; the sweep reclaims", exc_info=True)
    outbox.drain_soon()


# ---------------------------------------------------------------- the decision
def _decide_batch(customer_id: str, profile: dict[str, Any], batch: list[_Op]) -> _Outcome:
    now = _now()
    batch_ = _Batch(customer_id, profile, now)
    reason = batch_.standing()
    if reason is not None:
        store.retry_conflicts(lambda: batch_.refuse_all(batch, reason))
    else:
        claimed = store.retry_conflicts(
            lambda: batch_.claim([op for op in batch if op not in batch_.answers])
        )
        if claimed is not None:
            batch_.answer(*claimed)
    if logger.isEnabledFor(logging.INFO):  # the fields cost CPU per call even when dropped
        for answer in batch_.answers.values():
            if isinstance(answer, AdmissionResult):
                logger.info(
                    "admission",
                    extra={"fields": {"event": "quota_admission", **answer.to_json()}},
                )
    return _Outcome(batch_.answers, batch_.due, batch_.concurrency_refused)


class _Batch:
    """The starts one leader decides together."""

    def __init__(self, customer_id: str, profile: dict[str, Any], now: datetime) -> None:
        self.customer_id = customer_id
        self.profile = profile
        self.now = now
        self.day = now.date()
        self.daily_limit = _limit(profile, "daily_limit")
        self.concurrent_limit = _limit(profile, "concurrent_limit")
        self.answers: dict[_Op, AdmissionResult | BaseException] = {}
        self.due: list[alerts.Alert] = []
        self.concurrency_refused = False
        self.recorded_once = False

    def standing(self) -> str | None:
        reason = not_in_standing(self.profile, self.now)
        if reason is None and (self.daily_limit <= 0 or self.concurrent_limit <= 0):
            reason = "no_active_subscription"
        return reason

    def event(self, op: _Op, kind: str, *, key: str | None = None, **fields: Any) -> dict[str, Any]:
        return _event(
            self.customer_id,
            self.profile,
            self.now,
            kind,
            op.run_id,
            key=key,
            pipeline=op.pipeline,
            api_call=op.api_call,
            **fields,
        )

    def result(
        self,
        op: _Op,
        admitted: bool,
        reason: str,
        used: int | None,
        running: int | None,
        **extra: Any,
    ) -> AdmissionResult:
        return AdmissionResult(
            admitted,
            reason,
            self.customer_id,
            op.run_id,
            used=used,
            limit=self.daily_limit,
            running=running,
            concurrent_limit=self.concurrent_limit,
            **extra,
        )

    def repeat(self, op: _Op, data: dict[str, Any]) -> dict[str, Any]:
        """The answer to a start of a run already admitted (its duplicate event)."""
        self.answers[op] = self.result(
            op, True, "already_admitted", None, None, lease_expires_at=data.get("lease_expires_at")
        )
        return self.event(op, "duplicate")

    def refuse_all(self, batch: list[_Op], reason: str) -> None:
        """A customer not in standing: refuse every call, but answer a repeat of an admitted
        run as such (one read of their documents, no counter touched)."""
        snaps = store.read(store.run_ref(self.customer_id, op.run_id) for op in batch)
        events = []
        for op in batch:
            data = store.plain(snaps[store.run_ref(self.customer_id, op.run_id).path].to_dict())
            if data.get("answer") == "admitted":
                events.append(self.repeat(op, data))
            else:
                self.answers[op] = self.result(op, False, reason, None, None)
                events.append(self.event(op, "refused", reason=reason))
        store.commit_writes([_outbox_write(events)])

    def claim(self, ops: list[_Op]) -> tuple[list[_Op], list[Any]] | None:
        """Commit 1: create the runs' documents, take k tickets and k running slots. A run
        that exists already (a repeated run id) is answered from its document, and the others
        claimed again (:class:`store.Conflict` makes :func:`store.retry_conflicts` call again)."""
        from shared.quotas import wire

        if not ops:
            return None
        writes = [
            wire.create(
                store.name_of(store.run_ref(self.customer_id, op.run_id)),
                {
                    "customer_id": self.customer_id,
                    "run_id": op.run_id,
                    "pipeline": op.pipeline,
                    "day": self.day.isoformat(),
                    "pending_since": self.now,
                    store.TTL_FIELD: self.now + timedelta(days=RUN_RETENTION_DAYS),
                },
            )
            for op in ops
        ]
        writes.append(
            wire.increment(
                store.name_of(store.tickets_ref(self.customer_id, self.day)), {"tickets": len(ops)}
            )
        )
        writes.append(
            wire.increment(
                store.name_of(store.running_ref(self.customer_id)), {"running": len(ops)}
            )
        )
        try:
            return ops, list(store.commit_writes(writes))
        except store.Conflict:
            # a repeated run id (answered here), or contention: claim the rest again
            self.answer_existing(ops)
            raise

    def answer_existing(self, ops: list[_Op]) -> None:
        """Answer the calls whose run document exists (a stale pending one is abandoned and
        its call claimed again with the others)."""
        snaps = store.read(store.run_ref(self.customer_id, op.run_id) for op in ops)
        events = []
        for op in ops:
            snap = snaps[store.run_ref(self.customer_id, op.run_id).path]
            if not snap.exists:
                continue
            data = store.plain(snap.to_dict())
            if data.get("answer") == "admitted":
                events.append(self.repeat(op, data))
            elif not abandon_if_stale(self.customer_id, op.run_id):
                self.answers[op] = TransientError(
                    "quota_pending", f"run {op.run_id} is being decided; ask again"
                )
        if events:
            store.commit_writes([_outbox_write(events)])

    def answer(self, ops: list[_Op], results: list[Any]) -> None:
        """Commit 2: record each call's answer on its run's document (admitted: the lease;
        refused: the document deleted and both increments given back), the usage events and
        any alert markers; then the callers may be told."""
        k = len(ops)
        tickets = results[k].transform_results[0].integer_value
        running = results[k + 1].transform_results[0].integer_value
        claimed = {op: results[i].update_time for i, op in enumerate(ops)}
        first_ticket, first_slot = tickets - k + 1, running - k + 1
        admitted = 0
        decided: list[tuple[_Op, int, int | None]] = []  # (op, ticket, slot if admitted)
        for i, op in enumerate(ops):
            ticket = first_ticket + i
            slot = first_slot + admitted
            if ticket <= self.daily_limit and slot <= self.concurrent_limit:
                admitted += 1
                decided.append((op, ticket, slot))
            else:
                decided.append((op, ticket, None))
        store.retry_conflicts(lambda: self.record(decided, claimed, first_slot - 1 + admitted))

    def record(
        self,
        decided: list[tuple[_Op, int, int | None]],
        claimed: dict[_Op, Any],
        running_after: int,
    ) -> None:
        from shared.quotas import wire

        snaps = None
        retry = self.recorded_once
        if retry:  # a run may have been abandoned meanwhile, or an alert marker exist
            snaps = store.read(store.run_ref(self.customer_id, op.run_id) for op, _, _ in decided)
        self.recorded_once = True
        writes: list[Any] = []
        events: list[dict[str, Any]] = []
        answers: dict[_Op, AdmissionResult | BaseException] = {}
        due: list[alerts.Alert] = []
        refused = 0
        for op, ticket, slot in decided:
            ref = store.run_ref(self.customer_id, op.run_id)
            if snaps is not None and not _unchanged(snaps[ref.path], claimed[op]):
                # abandoned by a repeat or the sweep (its increments given back): not ours
                answers[op] = TransientError(
                    "quota_pending", f"run {op.run_id} timed out; ask again"
                )
                continue
            if slot is None:
                refused += 1
                reason = (
                    "daily_limit_reached"
                    if ticket > self.daily_limit
                    else "concurrency_limit_reached"
                )
                used = min(ticket - 1, self.daily_limit)
                writes.append(wire.delete(store.name_of(ref), claimed[op]))
                answers[op] = self.result(
                    op, False, reason, used, min(running_after, self.concurrent_limit)
                )
                events.append(
                    self.event(op, "refused", reason=reason, daily_used=used, running=running_after)
                )
                continue
            expires = self.now + timedelta(seconds=op.lease_seconds)
            writes.append(
                wire.update(
                    store.name_of(ref),
                    {
                        "answer": "admitted",
                        "started_at": self.now,
                        "lease_expires_at": expires,
                        "status": "RUNNING",
                    },
                    claimed[op],
                    ("pending_since",),
                )
            )
            answers[op] = self.result(op, True, "admitted", ticket, slot, lease_expires_at=expires)
            events.append(
                self.event(
                    op,
                    "admitted",
                    key=self.day.isoformat(),
                    started_at=self.now.isoformat(),
                    daily_used=ticket,
                    running=slot,
                )
            )
            due += alerts.crossed(
                self.customer_id,
                str(self.profile.get("plan") or ""),
                ticket - 1,
                ticket,
                self.daily_limit,
                self.day.isoformat(),
            )
        if refused:
            writes += _give_back(self.customer_id, self.day, refused)
        if retry:  # the first attempt creates the markers unread: one fails only if it exists
            due = self.not_yet_marked(due)
        writes += [
            wire.create(store.name_of(store.alert_ref(a.alert_id)), alerts.marker(a, self.now))
            for a in due
        ]
        if events:
            writes.append(_outbox_write(events))
        if writes:
            store.commit_writes(writes)
        self.answers.update(answers)
        self.due = due
        self.concurrency_refused = any(
            isinstance(a, AdmissionResult) and a.reason == "concurrency_limit_reached"
            for a in answers.values()
        )

    def not_yet_marked(self, due: list[alerts.Alert]) -> list[alerts.Alert]:
        """The due alerts whose marker does not exist yet (a ticket number given back and taken
        again, or a limit lowered mid-day, may cross a threshold twice: the marker keeps the
        alert at one, and a marker created meanwhile fails the commit, which decides again)."""
        if not due:
            return []
        unique = {a.alert_id: a for a in due}
        snaps = store.read(store.alert_ref(i) for i in unique)
        return [a for i, a in unique.items() if not snaps[store.alert_ref(i).path].exists]
