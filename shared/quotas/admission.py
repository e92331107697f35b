"""Admission, leases, heartbeats and releases on Firestore, keyed by (customer, run).

A customer's state is two small documents (see :mod:`shared.quotas.store`): the leases held
now and the runs admitted today. Each change reads them, decides, and commits one atomic batch
with preconditions; a conflict means another instance committed first, so we decide again.
A lane whose last commit left the documents known skips the read (:class:`_Kept`): the
commit's preconditions prove them current, or it decides again on a fresh read.

**One hot customer stays exact and answered.** Inside one instance, calls for the same
customer are coalesced: the first caller becomes the leader, takes every call waiting for that
customer, decides them all on one read and commits them in one batch; the others wait for
their answer (group commit). So 64 concurrent callers of one customer cost a handful of
commits instead of 64 contending ones, and instances contend only with each other, where the
precondition keeps the count exact. Different customers never share a document, a lane or a
lock.

Every change also writes its usage events (admitted, refused, duplicate, heartbeat, released,
lost) into the outbox in the same batch, so BigQuery's record can never miss a committed change
(:mod:`shared.quotas.outbox` drains it), and a daily threshold crossed by an admission creates
its alert marker in the same batch, so an alert is due exactly once
(:mod:`shared.quotas.alerts` publishes it).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.quotas import alerts, outbox, store
from shared.quotas.validation import check_id, check_lease, check_status, raise_if

logger = logging.getLogger("shared.quotas.admission")
DEFAULT_LEASE_S = 15 * 60
ACTIVE_STATUSES = ("ACTIVE", "TRIAL")


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


@dataclass
class _Op:
    kind: str  # start | heartbeat | finish | reclaim
    run_id: str = ""
    pipeline: str = ""
    lease_seconds: int = DEFAULT_LEASE_S
    status: str = ""
    api_call: bool = False
    wake: threading.Event = field(default_factory=threading.Event)
    """set when the call is answered, or when it is promoted to lead its lane"""
    answered: bool = False
    result: Any = None
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

    Idempotent per (customer, run id): a repeated call answers ``already_admitted``. Raises
    InvalidInputError for malformed arguments (nothing changes); refusals are results.
    """
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "pipeline", pipeline)
    check_id(problems, "run_id", run_id)
    check_lease(problems, lease_seconds)
    raise_if(problems)
    result: AdmissionResult = _submit(
        customer_id, _Op("start", run_id, pipeline, lease_seconds, api_call=api_call)
    )
    return result


def heartbeat(
    customer_id: str, run_id: str, *, lease_seconds: int = DEFAULT_LEASE_S, api_call: bool = False
) -> bool:
    """Extend the customer's lease of ``run_id``; False when it holds none (finished, lost)."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "run_id", run_id)
    check_lease(problems, lease_seconds)
    raise_if(problems)
    extended: bool = _submit(
        customer_id, _Op("heartbeat", run_id, lease_seconds=lease_seconds, api_call=api_call)
    )
    return extended


def finish(run_id: str, status: str, *, customer_id: str, api_call: bool = False) -> bool:
    """Release the customer's lease of ``run_id``; True only for the call that released it.

    A finish after the lease expired (the run is recorded LOST) releases nothing: False.
    """
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "run_id", run_id)
    final = check_status(problems, status)
    raise_if(problems)
    released: bool = _submit(customer_id, _Op("finish", run_id, status=final, api_call=api_call))
    return released


def reclaim(customer_id: str) -> int:
    """Drop the customer's expired leases (recorded LOST); returns how many."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    raise_if(problems)
    lost: int = _submit(customer_id, _Op("reclaim"))
    return lost


def usage(customer_id: str, day: date | None = None) -> dict[str, Any]:
    """The customer's state now: runs admitted on ``day`` and leases held (for reports, tests)."""
    day = day or _now().date()
    snaps = store.read([store.leases_ref(customer_id), store.day_ref(customer_id, day)])
    held = store.plain(snaps[store.leases_ref(customer_id).path].to_dict()).get("leases")
    today = store.plain(snaps[store.day_ref(customer_id, day).path].to_dict())
    return {
        "customer_id": customer_id,
        "day": day.isoformat(),
        "admitted": int(today.get("admitted", 0)),
        "run_ids": sorted(store.unpack_runs(today.get("runs"))),
        "leases": store.unpack_leases(held),
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


# ---------------------------------------------------------------- group commit per customer
class _Lane:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[_Op] = []
        self.leading = False
        self.kept: _Kept | None = None
        """the documents as the lane's last commit left them (only its leader touches it)"""
        self.packers = (store.leases_packer(), store.runs_packer())
        """the lane's packed leases and runs, encoded again only where they changed"""


_lanes: dict[str, _Lane] = {}
_lanes_lock = threading.Lock()


def _lane(customer_id: str) -> _Lane:
    with _lanes_lock:
        lane = _lanes.get(customer_id)
        if lane is None:
            lane = _lanes[customer_id] = _Lane()
        return lane


def _submit(customer_id: str, op: _Op) -> Any:
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
    return op.result


def _lead_once(customer_id: str, lane: _Lane) -> None:
    """Decide and commit every call waiting in the lane (the leader's own among them), answer
    them, then hand the lane to the oldest call that arrived meanwhile: a leader never serves
    later batches, so its own latency is one batch, not the length of a burst."""
    batch: list[_Op] = []
    due: list[alerts.Alert] = []
    try:
        if lane.kept is None:
            # a cold lane reads BEFORE it takes its batch: the calls that arrive during the
            # read join this batch instead of waiting a whole commit for the next one
            lane.kept = _read_kept(customer_id, lane)
        with lane.lock:
            batch, lane.pending = lane.pending, []
        due, results, state, plan = store.decide_and_commit(
            functools.partial(_decide, customer_id, batch, lane)
        )
        lane.kept = state.kept_after(plan)
    except BaseException as exc:  # every waiter of the batch gets the failure
        if not batch:  # the read failed before the batch was taken
            with lane.lock:
                batch, lane.pending = lane.pending, []
        for op in batch:
            op.error = exc
            op.answered = True
            op.wake.set()
    else:
        for op, result in zip(batch, results, strict=True):
            op.result = result
            op.answered = True
            op.wake.set()
    with lane.lock:
        if lane.pending:
            lane.pending[0].wake.set()  # the next leader (still pending, so in its own batch)
        else:
            lane.leading = False
    _after_commit(due)


def _after_commit(due: list[alerts.Alert]) -> None:
    """Work that follows the commit, after every caller of the batch was answered and the lane
    handed on: only the call whose batch crossed a threshold (twice per customer and day) waits
    for the alert publish. It is already recorded in Firestore, so a failure here is made good
    by the sweeps (outbox drain, unpublished alerts republished)."""
    for alert in due:
        try:
            alerts.publish(alert)
        except Exception:
            logger.warning("alert publish failed; the sweep publishes it", exc_info=True)
    outbox.drain_soon()


# ---------------------------------------------------------------- the decision
class _State:
    """A working copy of one customer's documents while a batch of calls is decided."""

    def __init__(
        self,
        customer_id: str,
        now: datetime,
        packers: tuple[store.Packer, store.Packer],
        kept: _Kept | None = None,
    ) -> None:
        self.customer_id = customer_id
        self.packers = packers  # the lane's: one per customer, used by its leader only
        self.now = now
        self.day = now.date()
        self.refs = {
            "customer": store.customer_ref(customer_id),
            "leases": store.leases_ref(customer_id),
            "day": store.day_ref(customer_id, self.day),
        }
        kept = kept if kept is not None and kept.day == self.day else None
        self.from_kept = kept is not None
        if kept is not None:
            self.snaps = dict(kept.snaps)
        else:
            snaps = store.read(self.refs.values())
            self.snaps = {name: snaps[ref.path] for name, ref in self.refs.items()}
        known = kept.markers if kept is not None else None
        if known is None and not self.snaps["day"].exists:
            known = frozenset()  # a daily marker is only ever created with its day's document
        self._markers_present: set[str] | None = None if known is None else set(known)
        """the day's alert markers that exist; None until read (only when a threshold is
        crossed, and only by a lane that does not know them yet)"""
        self.profile = store.plain(self.snaps["customer"].to_dict())
        today = store.plain(self.snaps["day"].to_dict())
        self.admitted = int(today.get("admitted", 0))
        if kept is not None:  # decoded by the last batch: copies, not a parse of packed JSON
            self.leases = {run_id: dict(lease) for run_id, lease in kept.leases.items()}
            self.runs = dict(kept.runs)
        else:
            held = store.plain(self.snaps["leases"].to_dict()).get("leases")
            self.leases = store.unpack_leases(held)
            self.runs = store.unpack_runs(today.get("runs"))
        self.leases_changed = False
        self.day_changed = False
        self.events: list[dict[str, Any]] = []
        self.due: list[alerts.Alert] = []

    @property
    def daily_limit(self) -> int:
        return int(self.profile.get("daily_limit", 0))

    @property
    def concurrent_limit(self) -> int:
        return int(self.profile.get("concurrent_limit", 0))

    def event(self, kind: str, run_id: str, *, key: str | None = None, **fields: Any) -> None:
        """One usage event row; ``key`` makes its id deterministic (a state change), else it is
        unique per call (a refusal or a duplicate call: each call counts)."""
        basis = f"{self.customer_id}|{run_id}|{kind}|{key}" if key else uuid.uuid4().hex
        self.events.append(
            {
                "event_id": hashlib.sha256(basis.encode()).hexdigest()[:32],
                "customer_id": self.customer_id,
                "run_id": run_id or None,
                "kind": kind,
                "usage_date": self.day.isoformat(),
                "occurred_at": self.now.isoformat(),
                "daily_used": self.admitted,
                "daily_limit": self.daily_limit,
                "running": len(self.leases),
                "concurrent_limit": self.concurrent_limit,
                **fields,
            }
        )

    def expire_leases(self) -> int:
        lost = [r for r, lease in self.leases.items() if lease["expires_at"] <= self.now]
        for run_id in lost:
            lease = self.leases.pop(run_id)
            self.leases_changed = True
            self.event(
                "lost",
                run_id,
                key=lease["started_at"].isoformat(),
                pipeline=lease.get("pipeline"),
                status="LOST",
                started_at=lease["started_at"].isoformat(),
            )
            logger.warning(
                "lease expired, run recorded LOST",
                extra={"fields": {"customer_id": self.customer_id, "run_id": run_id}},
            )
        return len(lost)

    def refusal(self) -> str | None:
        standing = not_in_standing(self.profile, self.now)
        if standing is not None:
            return standing
        if self.daily_limit <= 0 or self.concurrent_limit <= 0:
            return "no_active_subscription"
        if self.admitted >= self.daily_limit:
            return "daily_limit_reached"
        if len(self.leases) >= self.concurrent_limit:
            return "concurrency_limit_reached"
        return None

    def result(self, admitted: bool, reason: str, run_id: str, **extra: Any) -> AdmissionResult:
        return AdmissionResult(
            admitted,
            reason,
            self.customer_id,
            run_id,
            used=self.admitted,
            limit=self.daily_limit,
            running=len(self.leases),
            concurrent_limit=self.concurrent_limit,
            **extra,
        )

    def start(self, op: _Op) -> AdmissionResult:
        if op.run_id in self.runs or op.run_id in self.leases:
            self.event("duplicate", op.run_id, pipeline=op.pipeline, api_call=op.api_call)
            lease = self.leases.get(op.run_id)
            return self.result(
                True,
                "already_admitted",
                op.run_id,
                lease_expires_at=lease["expires_at"] if lease else None,
            )
        reason = self.refusal()
        if reason is not None:
            self.event(
                "refused", op.run_id, pipeline=op.pipeline, reason=reason, api_call=op.api_call
            )
            return self.result(False, reason, op.run_id)
        expires = self.now + timedelta(seconds=op.lease_seconds)
        before = self.admitted
        self.admitted += 1
        self.runs[op.run_id] = self.now
        self.leases[op.run_id] = {
            "pipeline": op.pipeline,
            "started_at": self.now,
            "expires_at": expires,
        }
        self.leases_changed = self.day_changed = True
        self.event(
            "admitted",
            op.run_id,
            key=self.day.isoformat(),
            pipeline=op.pipeline,
            api_call=op.api_call,
            started_at=self.now.isoformat(),
        )
        self.crossed(before)
        return self.result(True, "admitted", op.run_id, lease_expires_at=expires)

    def marker_ref(self, threshold: str) -> Any:
        return store.alert_ref(
            alerts.alert_id(self.customer_id, self.day.isoformat(), alerts.DAILY, threshold)
        )

    def markers_present(self) -> set[str]:
        """Daily markers that exist already (a limit lowered mid-day may cross a threshold
        twice: the marker read keeps the alert at one)."""
        if self._markers_present is None:
            refs = {t: self.marker_ref(t) for t in alerts.DAILY_THRESHOLDS}
            snaps = store.read(refs.values())
            self._markers_present = {t for t, ref in refs.items() if snaps[ref.path].exists}
        return self._markers_present

    def crossed(self, before: int) -> None:
        for alert in alerts.crossed(
            self.customer_id,
            str(self.profile.get("plan") or ""),
            before,
            self.admitted,
            self.daily_limit,
            self.day.isoformat(),
        ):
            present = self.markers_present()
            if alert.threshold not in present:
                present.add(alert.threshold)
                self.due.append(alert)

    def heartbeat(self, op: _Op) -> bool:
        lease = self.leases.get(op.run_id)
        if lease is None:
            self.event("heartbeat", op.run_id, reason="no_lease", api_call=op.api_call)
            return False
        lease["expires_at"] = self.now + timedelta(seconds=op.lease_seconds)
        self.leases_changed = True
        # every heartbeat has its event, from the API or pipeline-events alike (no input is
        # answered with nothing written to the record)
        self.event(
            "heartbeat",
            op.run_id,
            pipeline=lease.get("pipeline"),
            api_call=op.api_call,
        )
        return True

    def finish(self, op: _Op) -> bool:
        lease = self.leases.pop(op.run_id, None)
        if lease is None:
            self.event(
                "finish", op.run_id, status=op.status, reason="no_lease", api_call=op.api_call
            )
            return False
        self.leases_changed = True
        self.event(
            "released",
            op.run_id,
            key=lease["started_at"].isoformat(),
            pipeline=lease.get("pipeline"),
            status=op.status,
            api_call=op.api_call,
            started_at=lease["started_at"].isoformat(),
        )
        return True

    def plan(self) -> store.Plan:
        plan = store.Plan()
        if self.leases_changed:
            expiries = [lease["expires_at"] for lease in self.leases.values()]
            plan.write(
                self.refs["leases"],
                self.snaps["leases"],
                {
                    "customer_id": self.customer_id,
                    "leases": store.pack_leases(self.leases, self.packers[0]),
                    "next_expiry": min(expiries) if expiries else None,
                    "updated_at": self.now,
                },
            )
        if self.day_changed:
            plan.write(
                self.refs["day"],
                self.snaps["day"],
                {
                    "customer_id": self.customer_id,
                    "day": self.day.isoformat(),
                    "admitted": self.admitted,
                    "runs": store.pack_runs(self.runs, self.packers[1]),
                    "updated_at": self.now,
                },
            )
        for alert in self.due:
            plan.create(self.marker_ref(alert.threshold), alerts.marker(alert, self.now))
        if self.events:
            ref = store.outbox_ref(outbox.entry_id(self.events, "event_id"))
            plan.create(ref, outbox.entry(outbox.EVENTS, self.events))
        return plan

    def run(self, batch: list[_Op]) -> list[Any]:
        lost = self.expire_leases()
        results: list[Any] = []
        for op in batch:
            if op.kind == "start":
                results.append(self.start(op))
            elif op.kind == "heartbeat":
                results.append(self.heartbeat(op))
            elif op.kind == "finish":
                results.append(self.finish(op))
            else:
                results.append(lost)
        return results

    def as_read(self) -> _Kept:
        """The documents as read, for a lane's next decision (its commit proves them)."""
        snaps = {name: store.Kept.of(snapshot) for name, snapshot in self.snaps.items()}
        markers = None if self._markers_present is None else frozenset(self._markers_present)
        return _Kept(self.day, snaps, markers, self.leases, self.runs)

    def kept_after(self, plan: store.Plan) -> _Kept:
        """The documents as ``plan``'s commit left them, for the lane's next decision."""
        written = {ref.path: fields for ref, _, fields in plan.updates}
        snaps: dict[str, store.Kept] = {}
        for name, snapshot in self.snaps.items():
            path = self.refs[name].path
            if path in written:
                data = {**store.plain(snapshot.to_dict()), **written[path]}
                snaps[name] = store.Kept(self.refs[name], data, plan.committed[path])
            else:
                snaps[name] = store.Kept.of(snapshot)
        markers = None if self._markers_present is None else frozenset(self._markers_present)
        return _Kept(self.day, snaps, markers, self.leases, self.runs)

    def prove_kept(self, plan: store.Plan) -> bool:
        """Make ``plan``'s commit prove the documents it was decided on current; False when it
        cannot (then decide on a fresh read).

        A decision on a fresh read needs nothing. One on kept documents is proved when the
        commit writes the leases document with its precondition; when it would not (only
        refusals and duplicates), the leases document is touched with the same precondition,
        so a stale copy fails the commit and is decided again on a fresh read: one round trip,
        not the read every such batch would otherwise cost. A customer without a leases
        document has nothing to touch (no document is created for an unknown customer)."""
        leases = self.refs["leases"]
        if not self.from_kept or any(ref.path == leases.path for ref, _, _ in plan.updates):
            return True
        if not self.snaps["leases"].exists:
            return False
        plan.write(leases, self.snaps["leases"], {"updated_at": self.now})
        return True


@dataclass(frozen=True, slots=True)
class _Kept:
    """A lane's documents as its last commit left them (limits as last read). The next batch
    decides on them without a read; its commit's precondition on the leases document proves
    them current (every other writer of the customer's state touches that document, limit
    and status changes included: :func:`store.write_customer`), else it decides again on a
    fresh read."""

    day: date
    snaps: dict[str, store.Kept]
    markers: frozenset[str] | None
    """the day's alert markers known to exist (proved current the same way), None if unknown"""
    leases: dict[str, dict[str, Any]]
    runs: dict[str, datetime]
    """the packed leases and runs as decoded (the next batch copies them, never parses)"""


def _read_kept(customer_id: str, lane: _Lane) -> _Kept:
    """A cold lane's documents, read afresh (one round trip)."""
    return _State(customer_id, _now(), lane.packers).as_read()


def _decide(
    customer_id: str, batch: list[_Op], lane: _Lane
) -> tuple[store.Plan, tuple[list[alerts.Alert], list[Any], _State, store.Plan]]:
    kept, lane.kept = lane.kept, None  # used once: a retry after a conflict reads afresh
    now = _now()
    state = _State(customer_id, now, lane.packers, kept)
    results = state.run(batch)
    plan = state.plan()
    if not state.prove_kept(plan):
        state = _State(customer_id, now, lane.packers)
        results = state.run(batch)
        plan = state.plan()
    if logger.isEnabledFor(logging.INFO):  # the fields cost CPU per call even when dropped
        for result in results:
            if isinstance(result, AdmissionResult):
                logger.info(
                    "admission",
                    extra={"fields": {"event": "quota_admission", **result.to_json()}},
                )
    return plan, (state.due, results, state, plan)
