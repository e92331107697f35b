"""Quotas on the real emulators (Firestore for the state, BigQuery for the record, Pub/Sub)."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack.stack import LocalStack
from shared import api_keys
from shared.errors import TransientError
from shared.quotas import admission, alerts, customers, http_api, outbox, store, sweeps
from shared.quotas.validation import InvalidInputError
from tests.integration.quotas.helpers import run_watching_leases

pytestmark = pytest.mark.stack


def _customer(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _record(stack: LocalStack, customer: str) -> list[dict[str, Any]]:
    """customer_usage_quotas after a sweep rebuilt it from the usage events."""
    outbox.drain()
    sweeps.refresh_record()
    return stack.query(
        f"SELECT pipelines_run, ARRAY_LENGTH(running) AS running, api_calls, warning_sent, "
        f"exceeded FROM `{stack.project}.customers.customer_usage_quotas` WHERE customer_id = @c",
        {"c": customer},
    )


def _events(stack: LocalStack, customer: str) -> dict[str, int]:
    outbox.drain()
    rows = stack.query(
        f"SELECT kind, COUNT(DISTINCT event_id) AS n FROM "
        f"`{stack.project}.customers.quota_usage_events` WHERE customer_id = @c GROUP BY kind",
        {"c": customer},
    )
    return {r["kind"]: r["n"] for r in rows}


def test_daily_limit_six_admits_exactly_six_of_two_hundred_racing(stack: LocalStack) -> None:
    customer = _customer("daily")
    customers.upsert_customer(customer, "STARTER", concurrent_limit=100)
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        results = list(pool.map(lambda i: admission.start(customer, "p", f"r{i}"), range(200)))
    assert sum(r.admitted for r in results) == 6
    assert {r.reason for r in results if not r.admitted} == {"daily_limit_reached"}
    state = admission.usage(customer)
    assert state["admitted"] == 6 and len(state["leases"]) == 6
    assert _events(stack, customer) == {"admitted": 6, "refused": 194}
    assert _record(stack, customer) == [
        {"pipelines_run": 6, "running": 6, "api_calls": 0, "warning_sent": True, "exceeded": True}
    ]


def test_concurrency_three_never_four_leases(stack: LocalStack) -> None:
    customer = _customer("conc")
    customers.upsert_customer(customer, "SCALE")  # concurrency 3

    def worker(n: int) -> int:
        admitted = 0
        for i in range(4):
            run = f"w{n}-{i}"
            if admission.start(customer, "p", run).admitted:
                admitted += 1
                assert admission.finish(run, "COMPLETED", customer_id=customer)
        return admitted

    admitted, peak = run_watching_leases(customer, worker, 16)
    assert 1 <= peak <= 3
    assert admitted >= 3
    state = admission.usage(customer)
    assert state["leases"] == {} and state["admitted"] == admitted


def test_concurrency_limit_refuses_fourth_run(stack: LocalStack) -> None:
    customer = _customer("four")
    customers.upsert_customer(customer, "PROFESSIONAL")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: admission.start(customer, "p", f"r{i}"), range(8)))
    assert sum(r.admitted for r in results) == 3
    assert {r.reason for r in results if not r.admitted} == {"concurrency_limit_reached"}
    first = next(r.run_id for r in results if r.admitted)
    assert admission.finish(first, "FAILED", customer_id=customer)
    assert admission.start(customer, "p", "late").admitted


def test_repeated_start_and_finish_count_once(stack: LocalStack) -> None:
    customer = _customer("idem")
    customers.upsert_customer(customer, "STARTER")
    first = admission.start(customer, "p", "run")
    again = [admission.start(customer, "p", "run") for _ in range(3)]
    assert first.reason == "admitted"
    assert all(r.admitted and r.reason == "already_admitted" for r in again)
    assert [admission.finish("run", "COMPLETED", customer_id=customer) for _ in range(3)] == [
        True,
        False,
        False,
    ]
    assert admission.start(customer, "p", "run").reason == "already_admitted"
    assert _record(stack, customer)[0]["pipelines_run"] == 1
    assert _record(stack, customer)[0]["running"] == 0


def test_two_customers_with_the_same_run_id_never_touch_each_other(stack: LocalStack) -> None:
    a, b, c = _customer("ten-a"), _customer("ten-b"), _customer("ten-c")
    for customer in (a, b, c):
        customers.upsert_customer(customer, "STARTER")
    assert admission.start(a, "p", "shared-run").admitted
    assert admission.start(b, "p", "shared-run").admitted
    before_b = admission.usage(b)["leases"]["shared-run"]["expires_at"]
    assert admission.heartbeat(c, "shared-run") is False  # c holds no such run
    assert admission.finish("shared-run", "COMPLETED", customer_id=c) is False
    assert admission.finish("shared-run", "COMPLETED", customer_id=a) is True
    assert "shared-run" not in admission.usage(a)["leases"]
    assert admission.usage(b)["leases"]["shared-run"]["expires_at"] == before_b
    assert admission.heartbeat(b, "shared-run") is True
    assert admission.finish("shared-run", "FAILED", customer_id=b) is True


def test_expired_lease_is_reclaimed_and_late_finish_does_not_release(stack: LocalStack) -> None:
    customer = _customer("lease")
    customers.upsert_customer(customer, "STARTER")
    assert admission.start(customer, "p", "lost", lease_seconds=1).admitted
    assert admission.start(customer, "p", "kept", lease_seconds=3600).admitted
    time.sleep(1.5)
    assert customer in sweeps.sweep_leases()  # (any call of this customer would reclaim it too)
    assert admission.heartbeat(customer, "kept") is True
    assert set(admission.usage(customer)["leases"]) == {"kept"}
    assert admission.heartbeat(customer, "lost") is False  # a reclaimed lease stays lost
    assert admission.finish("lost", "COMPLETED", customer_id=customer) is False
    assert admission.start(customer, "p", "lost").reason == "already_admitted"
    assert _events(stack, customer)["lost"] == 1
    _record(stack, customer)
    rows = stack.query(
        f"SELECT run_id, status FROM `{stack.project}.customers.customer_pipeline_runs` "
        "WHERE customer_id = @c ORDER BY run_id",
        {"c": customer},
    )
    assert rows == [{"run_id": "kept", "status": "RUNNING"}, {"run_id": "lost", "status": "LOST"}]
    assert admission.finish("kept", "COMPLETED", customer_id=customer) is True


def test_running_leases_carry_over_midnight(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = _customer("midnight")
    customers.upsert_customer(customer, "STARTER", daily_limit=1, concurrent_limit=1)
    assert admission.start(customer, "p", "evening", lease_seconds=24 * 3600).admitted
    assert admission.start(customer, "p", "late").reason == "daily_limit_reached"
    tomorrow = datetime.now(UTC).replace(hour=0, minute=0, second=5) + timedelta(days=1)
    monkeypatch.setattr(admission, "_now", lambda: tomorrow)
    refused = admission.start(customer, "p", "morning")
    assert (refused.reason, refused.used, refused.running) == ("concurrency_limit_reached", 0, 1)
    assert admission.finish("evening", "COMPLETED", customer_id=customer)
    assert admission.start(customer, "p", "morning").admitted
    assert admission.usage(customer, tomorrow.date())["run_ids"] == ["morning"]


def test_limit_and_status_changes_reach_the_next_decision(stack: LocalStack) -> None:
    """An instance decides on the customer's limits as it last read them (for at most
    store.PROFILE_TTL_S); a change written here is seen at once."""
    customer = _customer("kept")
    customers.upsert_customer(customer, "STARTER", daily_limit=5, concurrent_limit=5)
    assert admission.start(customer, "p", "r1").admitted  # the customer is now known here
    assert customers.set_status(customer, "SUSPENDED")
    assert admission.start(customer, "p", "r2").reason == "customer_suspended"
    assert admission.start(customer, "p", "r1").reason == "already_admitted"
    customers.upsert_customer(customer, "STARTER", daily_limit=1, concurrent_limit=5)
    assert admission.start(customer, "p", "r3").reason == "daily_limit_reached"
    assert admission.finish("r1", "COMPLETED", customer_id=customer)
    customers.upsert_customer(customer, "STARTER", daily_limit=5, concurrent_limit=5)
    assert admission.start(customer, "p", "r4").admitted
    assert admission.usage(customer)["run_ids"] == ["r1", "r4"]


def test_a_start_is_two_commits_and_no_read_and_an_unknown_customer_gets_no_counters(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Admitted or refused, a start of a known customer alone in its lane claims in one commit
    and answers in a second, reading nothing; a refusal gives its increments back."""
    commits: list[int] = []
    real_commit = store.commit_writes

    def counted_commit(writes: list[Any]) -> Any:
        commits.append(len(writes))
        return real_commit(writes)

    customer = _customer("trips")
    customers.upsert_customer(customer, "STARTER", daily_limit=1, concurrent_limit=5)
    assert admission.start(customer, "p", "r1").admitted  # reads the customer once
    monkeypatch.setattr(store, "commit_writes", counted_commit)
    monkeypatch.setattr(store, "read", lambda refs: pytest.fail("no read on the hot path"))
    assert admission.start(customer, "p", "r2").reason == "daily_limit_reached"
    assert admission.start(customer, "p", "r3").reason == "daily_limit_reached"
    assert len(commits) == 4
    monkeypatch.undo()
    state = admission.usage(customer)
    assert (state["admitted"], state["run_ids"], list(state["leases"])) == (1, ["r1"], ["r1"])
    assert store.running_ref(customer).get().get("running") == 1
    assert _events(stack, customer) == {"admitted": 1, "refused": 2}

    unknown = _customer("nobody")
    for _ in range(2):
        assert admission.start(unknown, "p", "r1").reason == "unknown_customer"
    assert not store.running_ref(unknown).get().exists
    assert not store.tickets_ref(unknown, datetime.now(UTC).date()).get().exists


def _batch(customer: str, now: datetime, *runs: str) -> admission._Batch:
    return admission._Batch(
        customer, store.profile(customer), now, [admission._Op(r, "p") for r in runs]
    )


def test_one_commit_answers_a_batch_and_claims_the_next_across_midnight(
    stack: LocalStack,
) -> None:
    """A busy lane's commit gives a refused call's increments back to its day and claims the
    next batch on the next day: each counter document written once, each value right."""
    customer = _customer("pipe")
    customers.upsert_customer(customer, "STARTER", daily_limit=1, concurrent_limit=5)
    evening = datetime.now(UTC).replace(hour=23, minute=59, second=59)
    morning = evening + timedelta(seconds=2)
    first = _batch(customer, evening, "late", "later")
    first.claim()
    following = _batch(customer, morning, "early")
    first.settle(following)
    assert [(a.run_id, a.reason) for a in first.answers.values()] == [  # type: ignore[union-attr]
        ("late", "admitted"),
        ("later", "daily_limit_reached"),
    ]
    assert list(following.claimed) == following.ops and not following.answers
    assert [(op.run_id, ticket, slot) for op, ticket, slot in following.decided] == [
        ("early", 1, 2)
    ]
    following.settle(_batch(customer, morning))
    assert admission.usage(customer, evening.date())["admitted"] == 1
    assert admission.usage(customer, morning.date())["admitted"] == 1
    assert store.running_ref(customer).get().get("running") == 2
    assert not store.run_ref(customer, "later").get().exists
    for day in (evening.date(), morning.date()):  # Firestore's TTL policy removes it later
        expire_at = store.tickets_ref(customer, day).get().get(store.TTL_FIELD)
        assert expire_at == datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            days=admission.RUN_RETENTION_DAYS
        )


def test_a_repeat_in_the_next_batch_makes_each_commit_again_alone(stack: LocalStack) -> None:
    """The claim of a run id admitted earlier fails the commit that would answer one batch and
    claim the next: the answers are committed alone, then the next batch is claimed alone,
    where the repeat is answered from its document."""
    customer = _customer("pipe-repeat")
    customers.upsert_customer(customer, "STARTER", daily_limit=10, concurrent_limit=10)
    now = datetime.now(UTC)
    assert admission.start(customer, "p", "seen").admitted
    first = _batch(customer, now, "a")
    first.claim()
    following = _batch(customer, now, "seen", "b")
    first.settle(following)
    assert [a.reason for a in first.answers.values()] == ["admitted"]  # type: ignore[union-attr]
    assert [a.reason for a in following.answers.values()] == ["already_admitted"]  # type: ignore[union-attr]
    assert [op.run_id for op in following.claimed] == ["b"]
    following.settle(_batch(customer, now))
    state = admission.usage(customer)
    assert (state["admitted"], state["run_ids"]) == (3, ["a", "b", "seen"])
    assert store.running_ref(customer).get().get("running") == 3
    assert _events(stack, customer) == {"admitted": 3, "duplicate": 1}


def test_instances_that_never_coalesce_stay_exact(stack: LocalStack) -> None:
    """Every start decided alone, as 64 instances would (no lane to batch them): the counters
    alone keep both limits, and every refusal gives its increments back."""
    daily, conc = _customer("tick-daily"), _customer("tick-conc")
    customers.upsert_customer(daily, "STARTER", daily_limit=6, concurrent_limit=100)
    customers.upsert_customer(conc, "STARTER", daily_limit=100, concurrent_limit=3)

    def alone(customer: str, run_id: str) -> admission.AdmissionResult:
        op = admission._Op(run_id, "p")
        answer = admission._decide_alone(customer, [op])[op]
        assert isinstance(answer, admission.AdmissionResult)
        return answer

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        by_day = list(pool.map(lambda i: alone(daily, f"r{i}"), range(200)))
        by_conc = list(pool.map(lambda i: alone(conc, f"r{i}"), range(64)))
    assert sum(r.admitted for r in by_day) == 6
    assert sum(r.admitted for r in by_conc) == 3
    assert {r.reason for r in by_conc if not r.admitted} == {"concurrency_limit_reached"}
    for customer, admitted in ((daily, 6), (conc, 3)):
        state = admission.usage(customer)
        assert (state["admitted"], len(state["leases"])) == (admitted, admitted)
        assert store.running_ref(customer).get().get("running") == admitted


def test_a_claim_never_answered_is_refused_by_a_repeat_or_the_sweep_after_the_grace(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance that stops between its two commits answered nobody: a repeat within the
    grace is told to ask again (the first call may still answer), after it the claim is
    refused and its increments given back once, by a repeat or by the sweep."""
    customer = _customer("orphan")
    customers.upsert_customer(customer, "STARTER", daily_limit=2, concurrent_limit=2)
    now = datetime.now(UTC)
    for run in ("repeated", "swept"):  # commit 1 only, then the instance stops
        batch = admission._Batch(customer, store.profile(customer), now, [admission._Op(run, "p")])
        batch.claim()
        assert batch.claimed
    assert admission.usage(customer)["admitted"] == 2
    with pytest.raises(TransientError) as info:
        admission.start(customer, "p", "repeated")
    assert info.value.args[0] == "quota_pending"
    key = api_keys.create_key(customer, ["runs"])[1]
    answer = http_api.dispatch(
        "POST", "/runs/start", {"X-API-Key": key}, {"pipeline": "p", "run_id": "repeated"}
    )
    assert answer == ({"error": "unavailable", "reason": "quota_pending"}, 503)
    assert admission.start(customer, "p", "other").reason == "daily_limit_reached"
    later = now + timedelta(seconds=admission.PENDING_GRACE_S + 1)
    monkeypatch.setattr(admission, "_now", lambda: later)
    assert admission.start(customer, "p", "repeated").reason == "admitted"
    assert sweeps.sweep_leases(later) == []
    assert not store.run_ref(customer, "swept").get().exists
    assert admission.abandon_if_stale(customer, "swept") is False  # once only
    assert admission.start(customer, "p", "other").reason == "admitted"
    state = admission.usage(customer, later.date())
    assert state["admitted"] == 2 and sorted(state["leases"]) == ["other", "repeated"]
    assert store.running_ref(customer).get().get("running") == 2
    assert _events(stack, customer)["refused"] == 3  # the refusal above and the two claims


def test_suspended_unknown_and_expired_trial_are_refused(stack: LocalStack) -> None:
    customer = _customer("susp")
    customers.upsert_customer(customer, "SCALE", status="SUSPENDED")
    result = admission.start(customer, "p", "r")
    assert (result.admitted, result.reason) == (False, "customer_suspended")
    assert admission.start(_customer("ghost"), "p", "r").reason == "unknown_customer"
    expired = _customer("trial")
    customers.upsert_customer(
        expired, "STARTER", status="TRIAL", trial_ends_at=datetime.now(UTC) - timedelta(days=1)
    )
    assert admission.start(expired, "p", "r").reason == "trial_expired"
    active = _customer("reactivated")
    customers.upsert_customer(active, "STARTER")
    assert customers.set_status(active, "SUSPENDED")
    assert admission.start(active, "p", "r").reason == "customer_suspended"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("", "p", "r"), {}),
        (("c", "p", "r" * 500), {}),
        (("c", "p; DROP TABLE x", "r"), {}),
        (("c", "p", "r"), {"lease_seconds": -5}),
        (("c", "p", "r"), {"lease_seconds": 10**9}),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(
    stack: LocalStack, args: tuple[str, str, str], kwargs: dict[str, Any]
) -> None:
    customer = _customer("bad")
    customers.upsert_customer(customer, "STARTER")
    args = (customer if args[0] == "c" else args[0], *args[1:])
    with pytest.raises(InvalidInputError) as info:
        admission.start(*args, **kwargs)
    assert info.value.reason == "invalid_input" and info.value.problems
    with pytest.raises(InvalidInputError):
        admission.finish("r", "EXPLODED", customer_id=customer)
    assert admission.usage(customer)["admitted"] == 0


def _pull_all(stack: LocalStack, subscription: str, seconds: float) -> list[Any]:
    subscriber = stack.subscriber()
    path = f"projects/{stack.project}/subscriptions/{subscription}"
    messages: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = subscriber.pull(subscription=path, max_messages=100, timeout=5)
        if response.received_messages:
            subscriber.acknowledge(
                subscription=path, ack_ids=[m.ack_id for m in response.received_messages]
            )
            messages.extend(m.message for m in response.received_messages)
        else:
            time.sleep(0.5)
    return messages


def test_alerts_published_once_under_redelivery(stack: LocalStack) -> None:
    customer = _customer("alert")
    customers.upsert_customer(customer, "STARTER", daily_limit=5, concurrent_limit=10)
    sub = f"quota-alerts-test-{uuid.uuid4().hex[:6]}"
    stack.subscriber().create_subscription(
        name=f"projects/{stack.project}/subscriptions/{sub}",
        topic=f"projects/{stack.project}/topics/quota-alerts",
    )
    for i in range(5):
        body = json.dumps(
            {"type": "started", "customer_id": customer, "pipeline": "p", "run_id": f"r{i}"}
        ).encode()
        for _ in range(2):  # every event delivered twice
            stack.publish("pipeline-events", body)
    stack.wait_until(
        lambda: admission.usage(customer)["admitted"] == 5, timeout=120, what="five admitted"
    )
    stack.tick("quota-lease-sweep")  # the sweep republishes only unpublished alerts: none
    messages = [m for m in _pull_all(stack, sub, 15) if m.attributes.get("customer") == customer]
    received = [json.loads(m.data) for m in messages]
    assert sorted(a["threshold"] for a in received) == ["exceeded", "warning"]
    warning = next(a for a in received if a["threshold"] == "warning")
    assert warning["used"] == 4 and warning["limit"] == 5 and warning["percent"] == 80.0
    assert warning["metric"] == "daily_pipelines" and warning["plan"] == "STARTER"
    log = (stack.log_dir / "function-quotas.log").read_text()
    logged = [
        json.loads(line)
        for line in log.splitlines()
        if line.startswith("{") and '"quota_alert"' in line and customer in line
    ]
    assert sorted(e["threshold"] for e in logged) == ["exceeded", "warning"]
    assert all(e["event"] == "quota_alert" for e in logged)
    record = stack.wait_until(
        lambda: [r for r in _record(stack, customer) if r["pipelines_run"] == 5],
        timeout=60,
        what="record rebuilt",
    )
    assert record[0]["warning_sent"] is True and record[0]["exceeded"] is True


def test_a_threshold_crossed_again_after_a_limit_change_alerts_once(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warning crossed a second time (8 of 10, then 16 of 20 after the limit was raised)
    finds its marker, so it is not due twice."""
    customer = _customer("again")
    published: list[str] = []
    real_publish = alerts.publish

    def counted(alert: alerts.Alert) -> None:
        if alert.customer == customer:
            published.append(alert.threshold)
        real_publish(alert)

    monkeypatch.setattr(alerts, "publish", counted)
    customers.upsert_customer(customer, "STARTER", daily_limit=10, concurrent_limit=100)
    for i in range(8):
        assert admission.start(customer, "p", f"r{i}").admitted
    assert published == ["warning"]
    customers.upsert_customer(customer, "STARTER", daily_limit=20, concurrent_limit=100)
    for i in range(8, 20):
        assert admission.start(customer, "p", f"r{i}").admitted
    assert published == ["warning", "exceeded"]
    day = datetime.now(UTC).date().isoformat()
    for threshold in alerts.DAILY_THRESHOLDS:
        marker = store.alert_ref(alerts.alert_id(customer, day, alerts.DAILY, threshold)).get()
        assert marker.exists and (marker.to_dict() or {})["published"] is True


def test_unpublished_alert_is_published_by_the_sweep(stack: LocalStack) -> None:
    customer = _customer("crash")
    alert = alerts.Alert(
        customer, "STARTER", "daily_pipelines", 5, 6, 83.3, "warning", "2026-01-01"
    )
    assert alerts.claim(alert) and not alerts.claim(alert)  # a publisher that died here
    store.alert_ref(alert.alert_id).update({"created_at": datetime.now(UTC) - timedelta(hours=1)})
    assert alerts.republish_unpublished() >= 1
    assert (store.alert_ref(alert.alert_id).get().to_dict() or {})["published"] is True
    outbox.drain()
    rows = stack.query(
        f"SELECT COUNT(*) AS n FROM `{stack.project}.customers.quota_alert_log` "
        "WHERE alert_id = @a",
        {"a": alert.alert_id},
    )
    assert rows[0]["n"] >= 1


def test_malformed_event_is_dead_lettered(stack: LocalStack) -> None:
    marker = uuid.uuid4().hex
    body = json.dumps({"type": "started", "run_id": marker}).encode()  # no customer, no pipeline
    stack.publish("pipeline-events", body)
    rows = stack.wait_until(
        lambda: stack.query(
            f"SELECT reason FROM `{stack.project}.ops.dead_letters` "
            "WHERE function = 'quotas' AND TO_BASE64(payload) = @p",
            {"p": base64.b64encode(body).decode()},
        ),
        timeout=60,
        what="dead letter",
    )
    assert rows[0]["reason"] == "invalid_input"


def test_members_and_providers_limited_by_plan(stack: LocalStack) -> None:
    from shared.quotas import members

    customer = _customer("team")
    customers.upsert_customer(customer, "STARTER")
    added = [members.add_member(customer, f"m{i}", f"m{i}@example.com") for i in range(3)]
    assert added == [True, True, False]
    assert members.add_member(customer, "m0", "m0@example.com") is False
    assert [members.add_provider(customer, p) for p in ("a", "b", "c", "d")] == [
        True,
        True,
        True,
        False,
    ]
    rows = stack.query(
        f"SELECT member_id FROM `{stack.project}.customers.customer_team_members` "
        "WHERE customer_id = @c ORDER BY member_id",
        {"c": customer},
    )
    assert rows == [{"member_id": "m0"}, {"member_id": "m1"}]


def test_concurrent_adds_never_pass_the_member_limit(stack: LocalStack) -> None:
    from shared.quotas import members

    customer = _customer("seats")
    customers.upsert_customer(customer, "PROFESSIONAL")  # 6 members, 6 providers
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        added = list(
            pool.map(lambda i: members.add_member(customer, f"m{i}", f"m{i}@x.io"), range(20))
        )
        providers = list(pool.map(lambda i: members.add_provider(customer, f"p{i}"), range(20)))
    assert sum(added) == 6 and sum(providers) == 6
    rows = stack.query(
        f"SELECT COUNT(*) AS n FROM `{stack.project}.customers.customer_team_members` "
        "WHERE customer_id = @c",
        {"c": customer},
    )
    assert rows == [{"n": 6}]


def test_credentials_stored_as_ciphertext(stack: LocalStack) -> None:
    import os

    from shared.quotas import credentials

    customer = _customer("cred")
    cipher = credentials.LocalCipher(base64.b64encode(os.urandom(32)).decode())
    credential_id = credentials.store(customer, "aws", b"AKIA-very-secret", cipher)
    rows = stack.query(
        f"SELECT ciphertext, key_ref FROM `{stack.project}.customers.customer_cloud_credentials` "
        "WHERE credential_id = @id",
        {"id": credential_id},
    )
    assert "AKIA" not in str(rows) and rows[0]["key_ref"] == cipher.key_ref
    assert credentials.load(customer, credential_id, cipher) == b"AKIA-very-secret"
