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
customer are coalesced in a lane: the first caller leads, takes every start waiting for that
customer and claims them in one commit (``increment(k)``: k consecutive tickets). The commit
that answers a batch also claims the starts that arrived meanwhile (one write per counter
document: the next batch's claim and this one's refusals summed), and the first of them leads
the next turn, which answers them (group commit, pipelined). A busy lane so makes one commit
per batch, and a start waits for its claim and its answer behind at most the commit in flight.
A commit that fails on a precondition (a repeated run id, an alert marker that exists) is made
again as the two commits alone. Heartbeats and finishes touch only their run's document and
``running``, one commit each.

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
        counters = _Counters(self.customer_id)
        counters.add(date.fromisoformat(self.data["day"]), -1)
        self.writes += counters.writes()
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


# ---------------------------------------------------------------- group commit per customer
class _Lane:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[_Op] = []
        self.leading = False
        self.claimed: _Batch | None = None
        """the batch the last commit claimed: its first call leads next and answers it"""
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


def _take(pending: list[_Op], busy: set[str] | None = None) -> tuple[list[_Op], list[_Op]]:
    """The batch (the first call of each run id) and what stays pending: a repeat of a run id
    in the same batch, or of one claimed and not answered yet (``busy``), waits for the first
    one's answer."""
    batch: list[_Op] = []
    rest: list[_Op] = []
    seen = set(busy or ())
    for op in pending:
        (rest if op.run_id in seen else batch).append(op)
        seen.add(op.run_id)
    return batch, rest


def _lead_once(customer_id: str, lane: _Lane) -> None:
    """One turn of the lane: answer the batch the previous turn claimed (a cold lane claims
    its first batch alone), and claim the starts that arrived meanwhile IN THE SAME COMMIT;
    then hand the lane to the first of them, whose turn answers them. A busy lane so costs one
    commit per batch, and each start waits for two commits (its claim, its answer) behind at
    most the one in flight. A leader never serves later batches beyond that commit."""
    with lane.lock:
        carried, lane.claimed = lane.claimed, None
    turn = [carried] if carried is not None else []
    try:
        if carried is None:
            # a customer not known here is read BEFORE the batch is taken: the calls that
            # arrive during the read join this batch instead of waiting for the next one
            profile = store.profile(customer_id)
            with lane.lock:
                ops, lane.pending = _take(lane.pending)
            carried = _Batch(customer_id, profile, _now(), ops)
            turn.append(carried)
            carried.open()
        if carried.claimed:
            profile = store.profile(customer_id)
            with lane.lock:
                ops, lane.pending = _take(lane.pending, {op.run_id for op in carried.claimed})
            following = _Batch(customer_id, profile, _now(), ops)
            turn.append(following)
            carried.settle(following)
    except BaseException as exc:  # every waiter of the turn not answered yet gets the failure
        if not turn:  # the read failed before the batch was taken
            with lane.lock:
                ops, lane.pending = _take(lane.pending)
            turn.append(_Batch(customer_id, {}, _now(), ops))
        for batch in turn:
            batch.fail(exc)
    claimed = turn[-1] if turn[-1] is not carried and turn[-1].claimed else None
    for batch in turn:
        _answer_calls(batch)
    with lane.lock:
        if claimed is not None:
            lane.claimed = claimed
            next(iter(claimed.claimed)).wake.set()  # leads next: its turn answers its batch
        elif lane.pending:
            lane.pending[0].wake.set()  # the next leader (still pending, so in its own batch)
        else:
            lane.leading = False
    if carried is not None:
        _after_answers(customer_id, lane, carried)


def _answer_calls(batch: _Batch) -> None:
    for op, answer in batch.answers.items():
        if op.answered:
            continue
        if isinstance(answer, BaseException):
            op.error = answer
        else:
            op.result = answer
            if logger.isEnabledFor(logging.INFO):  # the fields cost CPU per call when dropped
                logger.info(
                    "admission", extra={"fields": {"event": "quota_admission", **answer.to_json()}}
                )
        op.answered = True
        op.wake.set()


def _after_answers(customer_id: str, lane: _Lane, batch: _Batch) -> None:
    """Work that follows the answers, after the lane was handed on: only the call whose batch
    crossed a threshold (twice per customer and day) waits for the alert publish. It is
    already recorded in Firestore, so a failure here is made good by the sweeps (outbox drain,
    unpublished alerts republished, expired leases reclaimed)."""
    for alert in batch.due:
        try:
            alerts.publish(alert)
        except Exception:
            logger.warning("alert publish failed; the sweep publishes it", exc_info=True)
    if batch.concurrency_refused and time.monotonic() - lane.reclaimed_at >= RECLAIM_EVERY_S:
        lane.reclaimed_at = time.monotonic()
        try:
            reclaim(customer_id)
        except Exception:
            logger.warning("reclaim after a refusal failed; the sweep reclaims", exc_info=True)
    outbox.drain_soon()


def _decide_alone(customer_id: str, ops: list[_Op]) -> dict[_Op, AdmissionResult | BaseException]:
    """Claim and answer ``ops`` in two commits of their own, as an instance without a lane
    would (tests use it to race many deciders)."""
    batch = _Batch(customer_id, store.profile(customer_id), _now(), ops)
    batch.open()
    if batch.claimed:
        batch.settle(_Batch(customer_id, batch.profile, batch.now, []))
    return batch.answers


# ---------------------------------------------------------------- the decision
class _Batch:
    """The starts one lane claims together in one commit and answers together in the next."""

    def __init__(
        self, customer_id: str, profile: dict[str, Any], now: datetime, ops: list[_Op]
    ) -> None:
        self.customer_id = customer_id
        self.profile = profile
        self.now = now
        self.day = now.date()
        self.ops = ops
        self.daily_limit = _limit(profile, "daily_limit")
        self.concurrent_limit = _limit(profile, "concurrent_limit")
        self.answers: dict[_Op, AdmissionResult | BaseException] = {}
        self.claimed: dict[_Op, Any] = {}
        """claimed and not answered yet: each run document's update time after the claim"""
        self.decided: list[tuple[_Op, int, int | None]] = []  # (op, ticket, slot if admitted)
        self.running_after = 0
        self.due: list[alerts.Alert] = []
        self.concurrency_refused = False
        self.recorded_once = False

    # ------------------------------------------------------------ commit 1: the claim
    def open(self) -> None:
        """Refuse every call of a customer not in standing, or claim the batch alone."""
        reason = self.standing()
        if reason is not None:
            store.retry_conflicts(lambda: self.refuse_all(reason))
        else:
            store.retry_conflicts(self.claim)

    def standing(self) -> str | None:
        reason = not_in_standing(self.profile, self.now)
        if reason is None and (self.daily_limit <= 0 or self.concurrent_limit <= 0):
            reason = "no_active_subscription"
        return reason

    def unanswered(self) -> list[_Op]:
        return [op for op in self.ops if op not in self.answers]

    def claim(self) -> None:
        """Commit 1 alone: create the runs' documents, take k tickets and k running slots. A
        run that exists already (a repeated run id) is answered from its document, and the
        others claimed again (:class:`store.Conflict` makes :func:`store.retry_conflicts` call
        again)."""
        ops = self.unanswered()
        if not ops:
            return
        counters = _Counters(self.customer_id)
        counters.claim(self.day, len(ops))
        try:
            results = store.commit_writes(self.creates(ops) + counters.writes())
        except store.Conflict:
            # a repeated run id (answered here), or contention: claim the rest again
            self.answer_existing(ops)
            raise
        self.claimed_by(ops, results, counters.after(results, self.day))

    def creates(self, ops: list[_Op]) -> list[Any]:
        from shared.quotas import wire

        return [
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

    def claimed_by(self, ops: list[_Op], results: Any, after: tuple[int, int]) -> None:
        """Decide each claimed call from the counters' values after the claim (``after``):
        admitted when its ticket is within the daily limit and its slot within the concurrent
        limit."""
        k = len(ops)
        first_ticket, first_slot = after[0] - k + 1, after[1] - k + 1
        admitted = 0
        for i, op in enumerate(ops):
            self.claimed[op] = results[i].update_time
            ticket = first_ticket + i
            slot = first_slot + admitted
            if ticket <= self.daily_limit and slot <= self.concurrent_limit:
                admitted += 1
                self.decided.append((op, ticket, slot))
            else:
                self.decided.append((op, ticket, None))
        self.running_after = first_slot - 1 + admitted

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

    def refuse_all(self, reason: str) -> None:
        """A customer not in standing: refuse every call, but answer a repeat of an admitted
        run as such (one read of their documents, no counter touched)."""
        snaps = store.read(store.run_ref(self.customer_id, op.run_id) for op in self.ops)
        events = []
        for op in self.ops:
            data = store.plain(snaps[store.run_ref(self.customer_id, op.run_id).path].to_dict())
            if data.get("answer") == "admitted":
                events.append(self.repeat(op, data))
            else:
                self.answers[op] = self.result(op, False, reason, None, None)
                events.append(self.event(op, "refused", reason=reason))
        if events:
            store.commit_writes([_outbox_write(events)])

    # ------------------------------------------------------------ commit 2: the answer
    def settle(self, following: _Batch) -> None:
        """Commit the answers, with ``following``'s claim in the same commit when it can
        join (calls waiting, customer in standing). If that commit fails on a precondition
        (a repeated run id in ``following``, a run abandoned meanwhile, an alert marker that
        exists), each is committed again alone, the answers first."""
        if following.ops and following.standing() is None:
            try:
                self.record(following)
                return
            except store.Conflict:
                pass
        store.retry_conflicts(self.record)
        if following.ops:
            following.open()

    def record(self, following: _Batch | None = None) -> None:
        """Record each claimed call's answer on its run's document (admitted: the lease;
        refused: the document deleted and both increments given back), the usage events and
        any alert markers, and claim ``following``'s calls; then the callers may be told."""
        from shared.quotas import wire

        snaps = None
        retry = self.recorded_once
        if retry:  # a run may have been abandoned meanwhile, or an alert marker exist
            snaps = store.read(store.run_ref(self.customer_id, op.run_id) for op in self.claimed)
        self.recorded_once = True
        writes: list[Any] = []
        events: list[dict[str, Any]] = []
        answers: dict[_Op, AdmissionResult | BaseException] = {}
        due: list[alerts.Alert] = []
        counters = _Counters(self.customer_id)
        for op, ticket, slot in self.decided:
            ref = store.run_ref(self.customer_id, op.run_id)
            if snaps is not None and not _unchanged(snaps[ref.path], self.claimed[op]):
                # abandoned by a repeat or the sweep (its increments given back): not ours
                answers[op] = TransientError(
                    "quota_pending", f"run {op.run_id} timed out; ask again"
                )
                continue
            if slot is None:
                counters.add(self.day, -1)
                reason = (
                    "daily_limit_reached"
                    if ticket > self.daily_limit
                    else "concurrency_limit_reached"
                )
                used = min(ticket - 1, self.daily_limit)
                running = self.running_after
                writes.append(wire.delete(store.name_of(ref), self.claimed[op]))
                answers[op] = self.result(
                    op, False, reason, used, min(running, self.concurrent_limit)
                )
                events.append(
                    self.event(op, "refused", reason=reason, daily_used=used, running=running)
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
                    self.claimed[op],
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
        if retry:  # the first attempt creates the markers unread: one fails only if it exists
            due = self.not_yet_marked(due)
        writes += [
            wire.create(store.name_of(store.alert_ref(a.alert_id)), alerts.marker(a, self.now))
            for a in due
        ]
        if events:
            writes.append(_outbox_write(events))
        claiming = following.unanswered() if following is not None else []
        if following is not None and claiming:
            counters.claim(following.day, len(claiming))
            writes += following.creates(claiming)
        first_create = len(writes) - len(claiming)
        writes += counters.writes()
        results = store.commit_writes(writes) if writes else []
        if following is not None and claiming:
            created = results[first_create:]
            following.claimed_by(claiming, created, counters.after(results, following.day))
        self.answers.update(answers)
        self.claimed = {}
        self.due = due
        self.concurrency_refused = any(
            isinstance(a, AdmissionResult) and a.reason == "concurrency_limit_reached"
            for a in answers.values()
        )

    def fail(self, exc: BaseException) -> None:
        """Every call not answered yet gets ``exc`` (a claim left pending is abandoned later)."""
        for op in self.unanswered():
            self.answers[op] = exc
        self.claimed = {}

    # ------------------------------------------------------------ answers and events
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

    def not_yet_marked(self, due: list[alerts.Alert]) -> list[alerts.Alert]:
        """The due alerts whose marker does not exist yet (a ticket number given back and taken
        again, or a limit lowered mid-day, may cross a threshold twice: the marker keeps the
        alert at one, and a marker created meanwhile fails the commit, which decides again)."""
        if not due:
            return []
        unique = {a.alert_id: a for a in due}
        snaps = store.read(store.alert_ref(i) for i in unique)
        return [a for i, a in unique.items() if not snaps[store.alert_ref(i).path].exists]


def _day_expiry(day: date) -> datetime:
    """When a day's ``tickets`` document may go (Firestore's TTL policy): the record of that
    day is in BigQuery, and no decision reads a day this old."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=RUN_RETENTION_DAYS)


class _Counters:
    """The increments one commit makes to a customer's counters: the day's ``tickets`` and
    ``running``, each document written once (claims add, refusals give back). A claim's
    increments are written even when they sum to zero: their values come back to it."""

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        self.tickets: dict[date, int] = {}
        self.running = 0
        self.claim_days: set[date] = set()

    def add(self, day: date, n: int) -> None:
        self.tickets[day] = self.tickets.get(day, 0) + n
        self.running += n

    def claim(self, day: date, n: int) -> None:
        self.add(day, n)
        self.claim_days.add(day)

    def days(self) -> list[date]:
        return [d for d, n in self.tickets.items() if n or d in self.claim_days]

    def writes(self) -> list[Any]:
        from shared.quotas import wire

        writes = [
            wire.increment(
                store.name_of(store.tickets_ref(self.customer_id, d)),
                {"tickets": self.tickets[d]},
                {store.TTL_FIELD: _day_expiry(d)},
            )
            for d in self.days()
        ]
        if self.running or self.claim_days:
            writes.append(
                wire.increment(
                    store.name_of(store.running_ref(self.customer_id)), {"running": self.running}
                )
            )
        return writes

    def after(self, results: Any, day: date) -> tuple[int, int]:
        """The values of ``day``'s tickets and of running after the commit whose write results
        end with :meth:`writes`'."""
        days = self.days()
        first = len(results) - len(days) - 1
        tickets = results[first + days.index(day)].transform_results[0].integer_value
        running = results[-1].transform_results[0].integer_value
        return tickets, running
