"""Property at the quota-api HTTP boundary (issue 13 item 3): >= 1,000 generated requests with
random methods, paths, content types, Authorization headers (missing, malformed, unknown,
expired, inactive, wrong scope, tenant A, tenant B), JSON and non-JSON bodies, oversize bodies
and unicode digits, sent with the machine loaded.

Every answer is checked against docs/quotas.md, exactly:

- 413 oversize (before anything else), 405 non-POST, 401 (one message) for a missing /
  malformed / unknown / expired / inactive key, 403 for a key without scope ``runs`` (or
  ``credentials`` on ``/credentials``) or a body naming another customer, 400 for bad input,
  404 for other routes: nothing changes;
- a decision (200 / 409 / 429) is visible in Firestore right after the answer (the day's
  ``runs``, the customer's leases), and its usage event reaches ``quota_usage_events`` after the
  documented flush (the outbox is drained ~1 s after a commit; the lease sweep is the
  backstop): exactly one event per call, of the kind the answer promised;
- tenants A and B share every run id: a key acts only on its own customer's runs, so each
  customer's leases and day document follow its own answers only;
- one call in ten goes to ``/credentials`` with the tenant's ``credentials`` key, both tenants
  choosing from the same few credential ids: 201 / 200 / 409 / 400 / 403 exactly as the
  body deserves, and every id answered 2xx is one row in BigQuery, sealed for its own
  customer, holding a secret that call (or its retry) sent.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.stack import LocalStack
from shared import api_keys
from shared.quotas import admission, credentials, customers, members
from shared.quotas.credentials_api import MAX_SECRET_BYTES
from tests.e2e.boundary import harness, http_harness

pytestmark = pytest.mark.stack
TOTALS: dict[str, int] = {}
RUN_IDS = [f"run-{i}" for i in range(24)] + ["A", "x" * 128, "a.b:c-d_e"]
VALID_PATHS = ["/runs/start", "/runs/heartbeat", "/runs/finish"]
OTHER_PATHS = [
    "/",
    "/runs",
    "/runs/stop",
    "/runs/START",
    "/runs/start/extra",
    "/status",
    "/credentials",
]
STATUSES = ["COMPLETED", "failed", "Cancelled", "done", "", "\uff23OMPLETED"]
DAILY_LIMIT = 40
CONCURRENT_LIMIT = 6
MARGIN = timedelta(seconds=5)
TENANTS = ("A", "B")
GOOD_CREDENTIAL_IDS = [f"c{i}" for i in range(12)] + ["x" * 128]
CREDENTIAL_IDS = [*GOOD_CREDENTIAL_IDS, "bad id", "", "c\u0661", "x" * 129]
PROVIDERS = ["aws", "aws", "aws", "gcp", "AWS", ""]
CONFIGURED = "aws"  # the one provider both tenants configured


@dataclass
class Keys:
    customers: dict[str, str]  # tenant -> customer id
    valid: dict[str, str]  # tenant -> key with scope runs
    no_scope: str  # tenant A's key without scope runs (refresh:read)
    expired: str
    inactive: str
    credentials: dict[str, str]  # tenant -> key with scope credentials only


@dataclass
class Tenant:
    """What the answers of one tenant's key say its Firestore state must be."""

    held: dict[str, datetime] = field(default_factory=dict)  # run id -> lease expires at
    free: set[str] = field(default_factory=set)  # run ids known to hold no lease
    admitted: dict[str, set[str]] = field(default_factory=dict)  # day -> run ids
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (run id, kind)


# ---------------------------------------------------------------- generation
@st.composite
def credentials_call(draw: st.DrawFn, keys: Keys) -> http_harness.Call:
    """A ``/credentials`` call with the tenant's credentials key: mostly well formed, both
    tenants on the same few ids, else a field missing, mistyped, oversize or not Unicode."""
    tenant = draw(st.sampled_from(TENANTS))
    headers: dict[str, str | bytes] = {"Authorization": f"Bearer {keys.credentials[tenant]}"}
    meta = {"who": f"{tenant}-credentials", "tenant": tenant, "credentials": True}
    if draw(st.booleans()):  # well formed: a configured provider, a good id, a secret
        good = {
            "provider": CONFIGURED,
            "credential_id": draw(st.sampled_from(GOOD_CREDENTIAL_IDS)),
            "secret": draw(st.text(min_size=1, max_size=40)),
        }
        return http_harness.Call("POST", "/credentials", headers, json.dumps(good).encode(), meta)
    body: dict[str, Any] = {
        "provider": draw(st.one_of(st.sampled_from(PROVIDERS), http_harness.json_scalar)),
        "credential_id": draw(st.sampled_from(CREDENTIAL_IDS)),
        "secret": draw(
            st.one_of(
                st.text(min_size=1, max_size=40),
                st.text(min_size=1, max_size=40),
                st.sampled_from(["", "\ud800", "x" * (MAX_SECRET_BYTES + 1)]),
                http_harness.json_scalar,
            )
        ),
    }
    if draw(st.integers(0, 9)) == 0:
        del body[draw(st.sampled_from(sorted(body)))]
    if draw(st.integers(0, 9)) == 0:
        own, other = (keys.customers[t] for t in (tenant, "B" if tenant == "A" else "A"))
        body["customer_id"] = draw(st.sampled_from([own, other]))
    # ASCII JSON: a lone surrogate travels as its escape
    return http_harness.Call("POST", "/credentials", headers, json.dumps(body).encode(), meta)


@st.composite
def body_for(draw: st.DrawFn, route: str, own: str, other: str) -> Any:
    body: dict[str, Any] = {}
    if draw(st.integers(0, 9)) or route == "finish":
        body["run_id"] = draw(
            st.one_of(
                st.sampled_from(RUN_IDS),
                st.sampled_from(RUN_IDS),
                st.sampled_from(["", "x y", "x" * 129, "-lead", "run\u0661", "run/1", "run-1\n"]),
                http_harness.json_scalar,
            )
        )
    if route == "start" and draw(st.integers(0, 9)):
        body["pipeline"] = draw(
            st.one_of(
                st.sampled_from(["orders_sync", "p"]), st.just("bad pipe"), http_harness.json_scalar
            )
        )
    if route in ("start", "heartbeat") and draw(st.booleans()):
        body["lease_seconds"] = draw(
            st.one_of(
                st.integers(120, 86400),
                st.integers(1, 3),
                st.sampled_from([0, -1, 86401, 2**64, True, 60.0, "60", "\uff16\uff10"]),
                http_harness.unicode_digits,
                http_harness.json_scalar,
            )
        )
    if route == "finish" and draw(st.integers(0, 9)):
        body["status"] = draw(st.one_of(st.sampled_from(STATUSES), http_harness.json_scalar))
    if draw(st.integers(0, 9)) == 0:
        body["customer_id"] = draw(st.sampled_from([own, other, own.upper(), ""]))
    if draw(st.integers(0, 19)) == 0:
        body[draw(st.text(max_size=8))] = draw(
            http_harness.json_scalar
        )  # an unknown field is ignored
    return body


@st.composite
def wellformed_body(draw: st.DrawFn, route: str) -> dict[str, Any]:
    """A body every check passes: the request reaches a decision."""
    body: dict[str, Any] = {"run_id": draw(st.sampled_from(RUN_IDS))}
    if route == "start":
        body["pipeline"] = draw(st.sampled_from(["orders_sync", "p"]))
    if route in ("start", "heartbeat") and draw(st.booleans()):
        body["lease_seconds"] = draw(st.one_of(st.integers(120, 86400), st.integers(1, 3)))
    if route == "finish":
        body["status"] = draw(st.sampled_from(STATUSES[:3]))
    return body


@st.composite
def call(draw: st.DrawFn, keys: Keys) -> http_harness.Call:
    if draw(st.integers(0, 9)) == 0:
        return draw(credentials_call(keys))
    if draw(st.integers(0, 9)) < 4:  # well-formed: a tenant's key, POST, a route, a good body
        tenant = draw(st.sampled_from(TENANTS))
        route = draw(st.sampled_from(["start", "start", "heartbeat", "finish"]))
        header = draw(st.sampled_from(["Authorization", "X-API-Key", "authorization"]))
        value = keys.valid[tenant] if header == "X-API-Key" else f"Bearer {keys.valid[tenant]}"
        headers: dict[str, str | bytes] = {header: value}
        ctype = draw(http_harness.content_types)
        if ctype:
            headers["Content-Type"] = ctype
        raw = json.dumps(draw(wellformed_body(route))).encode()
        return http_harness.Call(
            "POST", f"/runs/{route}", headers, raw, meta={"who": tenant, "tenant": tenant}
        )
    return draw(any_call(keys))


@st.composite
def any_call(draw: st.DrawFn, keys: Keys) -> http_harness.Call:
    who = draw(
        st.sampled_from(
            [*TENANTS] * 6
            + ["A-x-api-key", "B-x-api-key", "no-scope", "expired", "inactive", "unknown"]
            + ["missing", "malformed", "malformed", "both"]
        )
    )
    tenant = who[0] if who in (*TENANTS, "A-x-api-key", "B-x-api-key") else ""
    headers: dict[str, str | bytes] = {}
    ctype = draw(http_harness.content_types)
    if ctype:
        headers["Content-Type"] = ctype
    if who in TENANTS:
        headers["Authorization"] = f"Bearer {keys.valid[who]}"
    elif who.endswith("x-api-key"):
        headers["X-API-Key"] = keys.valid[who[0]]
    elif who == "no-scope":
        headers["Authorization"] = f"Bearer {keys.no_scope}"
    elif who == "expired":
        headers["Authorization"] = f"Bearer {keys.expired}"
    elif who == "inactive":
        headers["X-API-Key"] = keys.inactive
    elif who == "unknown":
        headers["Authorization"] = f"Bearer {http_harness.unknown_key()}"
    elif who == "malformed":
        headers["Authorization"] = draw(
            st.sampled_from(http_harness.malformed_authorizations(keys.valid["A"]))
        )
    elif who == "both":  # Authorization wins over X-API-Key: a bad one is a 401
        headers["Authorization"] = "Bearer pk_nope"
        headers["X-API-Key"] = keys.valid["A"]
    method = draw(http_harness.methods)
    path = draw(st.sampled_from(VALID_PATHS * 4 + OTHER_PATHS))
    route = path.rsplit("/", 1)[-1] if path in VALID_PATHS else "start"
    own = keys.customers.get(tenant or "A", "")
    other = keys.customers["B" if tenant == "A" else "A"]
    shape = draw(st.sampled_from(["object"] * 8 + ["junk", "oversize", "chunked-oversize"]))
    chunked = False
    if shape == "object":
        body = json.dumps(draw(body_for(route, own, other)), ensure_ascii=draw(st.booleans()))
        raw = body.encode()
    elif shape == "junk":
        raw = draw(http_harness.junk_bodies)
    else:
        raw = http_harness.oversize()
        chunked = shape == "chunked-oversize"
    return http_harness.Call(
        method, path, headers, raw, meta={"who": who, "tenant": tenant}, chunked=chunked
    )


# ---------------------------------------------------------------- the oracle
def _valid_id(value: Any) -> bool:
    import re

    return (
        isinstance(value, str)
        and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", value) is not None
    )


def _valid_lease(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 86400


def expected_credentials(c: http_harness.Call, keys: Keys) -> set[int]:
    """The statuses a ``/credentials`` call with a credentials key deserves (docs/quotas.md)."""
    body = json.loads(c.body)
    if body.get("customer_id") not in (None, keys.customers[c.meta["tenant"]]):
        return {403}
    secret = body.get("secret")
    try:
        secret_ok = isinstance(secret, str) and 0 < len(secret.encode()) <= MAX_SECRET_BYTES
    except UnicodeEncodeError:
        secret_ok = False
    if not (_valid_id(body.get("provider")) and _valid_id(body.get("credential_id")) and secret_ok):
        return {400}
    return {200, 201} if body["provider"] == CONFIGURED else {409}


def expected(c: http_harness.Call, keys: Keys) -> tuple[set[int], str]:  # noqa: PLR0911 - one per rule
    """The statuses docs/quotas.md allows for this request, and the route it reaches (or "")."""
    if c.meta.get("credentials"):
        return expected_credentials(c, keys), ""
    if len(c.body) > 64 * 1024:
        return {413}, ""
    if c.method != "POST":
        return {405}, ""
    who = c.meta["who"]
    if who == "no-scope":
        return {403}, ""
    if not c.meta["tenant"]:
        return {401}, ""
    route = c.path.rstrip("/").rsplit("/", 1)[-1]
    if route == "credentials":  # the tenants' keys carry scope runs only
        return {403}, ""
    try:
        body = json.loads(c.body) if c.body.strip() else None
    except (ValueError, RecursionError):  # too deep to parse is not JSON either: 400
        body = None
    if not isinstance(body, dict):
        return {400}, ""
    if route not in ("start", "heartbeat", "finish"):
        return {404}, ""
    customer = keys.customers[c.meta["tenant"]]
    if body.get("customer_id") is not None and body["customer_id"] != customer:
        return {403}, ""
    lease = body.get("lease_seconds", 900)
    if route == "start":
        ok = (
            _valid_id(body.get("pipeline"))
            and _valid_id(body.get("run_id"))
            and _valid_lease(lease)
        )
        return ({200, 429}, route) if ok else ({400}, "")
    if route == "heartbeat":
        ok = _valid_id(body.get("run_id")) and _valid_lease(lease)
        return ({200, 409}, route) if ok else ({400}, "")
    status = body.get("status")
    final = status.upper() if isinstance(status, str) else ""
    ok = _valid_id(body.get("run_id")) and final in ("COMPLETED", "FAILED", "CANCELLED")
    return ({200}, route) if ok else ({400}, "")


def apply(  # noqa: PLR0912 - one branch per answer kind
    calls: list[http_harness.Call], tenants: dict[str, Tenant], day: str, sent_at: datetime
) -> None:
    """Fold the answers of one batch into each tenant's expected state and events."""
    touched: Counter[tuple[str, str]] = Counter()
    for c in calls:
        if c.meta.get("route"):
            touched[(c.meta["tenant"], json.loads(c.body)["run_id"])] += 1
    for c in calls:
        route = c.meta.get("route")
        if not route:
            continue
        t = tenants[c.meta["tenant"]]
        body = json.loads(c.body)
        run = body["run_id"]
        answer = c.json()
        lease = timedelta(seconds=body.get("lease_seconds", 900))
        single = touched[(c.meta["tenant"], run)] == 1
        if route == "start":
            if c.final == 429:
                kind = "refused"
                assert answer["admitted"] is False, c.describe()
                assert answer["reason"] in ("daily_limit_reached", "concurrency_limit_reached")
            elif answer["reason"] == "admitted":
                kind = "admitted"
                t.admitted.setdefault(day, set()).add(run)
                if single:
                    t.held[run] = sent_at + lease
                    t.free.discard(run)
            else:
                kind = "duplicate"
                assert answer["reason"] == "already_admitted", c.describe()
            assert answer["run_id"] == run and answer["customer_id"] == c.meta["customer"]
        elif route == "heartbeat":
            kind = "heartbeat"
            assert answer["extended"] is (c.final == 200), c.describe()
            if single and c.final == 200:
                t.held[run] = sent_at + lease
                t.free.discard(run)
            elif single:
                t.held.pop(run, None)
                t.free.add(run)
        else:
            kind = "released" if answer["released"] else "finish"
            if single:
                t.held.pop(run, None)
                t.free.add(run)
        t.events[(run, kind)] += 1
        if not single:  # order inside the batch unknown: forget what we knew of this run
            t.held.pop(run, None)
            t.free.discard(run)


def check_firestore(keys: Keys, tenants: dict[str, Tenant], days: set[str]) -> None:
    """Right after the answers: leases and the day's runs follow each tenant's own answers."""
    now = datetime.now(UTC)
    for name in TENANTS:
        customer, t = keys.customers[name], tenants[name]
        leases = admission.usage(customer)["leases"]
        for run, expires in t.held.items():
            if expires > now + MARGIN:
                assert run in leases, f"{name}: lease of {run} answered but not in Firestore"
        for run in t.free:
            assert run not in leases, f"{name}: {run} holds a lease its key released/never held"
        for d in days:
            state = admission.usage(customer, date.fromisoformat(d))
            runs = set(state["run_ids"])
            assert runs == t.admitted.get(d, set()), f"{name} {d}: runs {runs} != answers"
            assert state["admitted"] == len(runs)


def check_events(stack: LocalStack, keys: Keys, tenants: dict[str, Tenant]) -> None:
    """Exactly one usage event per decided call, of the promised kind, in BigQuery after the
    documented flush (outbox drained ~1 s after the commit; the lease sweep as backstop)."""
    by_customer = {keys.customers[n]: n for n in TENANTS}

    def found() -> dict[str, Counter[tuple[str, str]]]:
        rows = stack.query(
            "SELECT customer_id, run_id, kind, COUNT(*) AS n FROM ("
            f"SELECT * FROM `{stack.project}.customers.quota_usage_events` "
            "WHERE customer_id IN UNNEST(@c) AND api_call "
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY occurred_at) = 1) "
            "GROUP BY customer_id, run_id, kind",
            {"c": list(by_customer)},
        )
        out: dict[str, Counter[tuple[str, str]]] = {n: Counter() for n in TENANTS}
        for r in rows:
            out[by_customer[r["customer_id"]]][(r["run_id"], r["kind"])] = int(r["n"])
        return out

    def complete() -> bool:
        got = found()
        return all(got[n] == tenants[n].events for n in TENANTS)

    deadline = time.monotonic() + 30
    while not complete():
        if time.monotonic() > deadline:
            stack.tick("quota-lease-sweep")  # the documented backstop, once
            time.sleep(15)
            break
        time.sleep(1)
    got = found()
    for n in TENANTS:
        missing = tenants[n].events - got[n]
        extra = got[n] - tenants[n].events
        assert not missing and not extra, f"tenant {n}: missing {missing} extra {extra}"


def check_credentials(stack: LocalStack, keys: Keys, calls: list[http_harness.Call]) -> None:
    """Every credential id answered 2xx is one row of its own customer, sealed for it, holding
    the secret of its 201 (or of one of its 2xx calls: a 5xx resent can end as a 200); no row
    for any other id; at most one 201 per (customer, id)."""
    sent: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for c in calls:
        if c.final in (200, 201):
            body = json.loads(c.body)
            customer = keys.customers[c.meta["tenant"]]
            sent.setdefault((customer, body["credential_id"]), []).append((c.final, body["secret"]))
    rows = stack.query(
        "SELECT customer_id, credential_id, COUNT(*) AS n FROM "
        f"`{stack.project}.customers.customer_cloud_credentials` "
        "WHERE customer_id IN UNNEST(@c) GROUP BY customer_id, credential_id",
        {"c": list(keys.customers.values())},
    )
    assert {(r["customer_id"], r["credential_id"]): r["n"] for r in rows} == dict.fromkeys(sent, 1)
    cipher = credentials.LocalCipher(os.environ[credentials.ENV_KEY])
    for (customer, credential_id), answers in sent.items():
        created = [secret for status, secret in answers if status == 201]
        assert len(created) <= 1, f"{customer} {credential_id}: created twice"
        stored = credentials.load(customer, credential_id, cipher)
        assert stored is not None
        assert stored.decode() in (created or [secret for _, secret in answers])


# ---------------------------------------------------------------- the test
@pytest.fixture(scope="module")
def keys(stack: LocalStack) -> Keys:
    tag = uuid.uuid4().hex[:8]
    ids = {t: f"bhttp-{t.lower()}-{tag}" for t in TENANTS}
    for customer in ids.values():
        customers.upsert_customer(
            customer, "SCALE", daily_limit=DAILY_LIMIT, concurrent_limit=CONCURRENT_LIMIT
        )
    valid = {t: api_keys.create_key(c, ["runs"])[1] for t, c in ids.items()}
    no_scope = api_keys.create_key(ids["A"], ["refresh:read"])[1]
    expired = api_keys.create_key(
        ids["A"], ["runs"], expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )[1]
    inactive_id, inactive = api_keys.create_key(ids["B"], ["runs"])
    api_keys.deactivate(inactive_id)
    for customer in ids.values():
        assert members.add_provider(customer, CONFIGURED)
    sealing = {t: api_keys.create_key(c, ["credentials"])[1] for t, c in ids.items()}
    return Keys(ids, valid, no_scope, expired, inactive, sealing)


loaded = harness.loaded_fixture("quota-api", TOTALS)


def test_quota_api_every_request_is_answered_as_documented_and_recorded(
    stack: LocalStack, keys: Keys, loaded: None
) -> None:
    url = stack.function_url("quota-api")
    tenants = {n: Tenant() for n in TENANTS}
    days: set[str] = set()
    sent = 0
    sealing: list[http_harness.Call] = []

    @harness.batches
    @given(st.lists(call(keys), min_size=harness.BATCH, max_size=harness.BATCH))
    def check(batch: list[http_harness.Call]) -> None:
        nonlocal sent
        sent_at = datetime.now(UTC)
        day = sent_at.date().isoformat()
        days.add(day)
        http_harness.send_all(url, batch)
        http_harness.assert_no_uncured_5xx(batch)
        for c in batch:
            allowed, route = expected(c, keys)
            assert c.final in allowed, f"expected {allowed}: {c.describe()}"
            if c.final == 401:
                assert c.json()["detail"] == api_keys.UNAUTHENTICATED, c.describe()
            if route:
                c.meta |= {"route": route, "customer": keys.customers[c.meta["tenant"]]}
            if c.meta.get("credentials"):
                sealing.append(c)
        apply(batch, tenants, day, sent_at)
        check_firestore(keys, tenants, days)
        http_harness.tally(batch, TOTALS)
        sent += len(batch)

    check()
    assert sent >= 1000
    check_events(stack, keys, tenants)
    check_credentials(stack, keys, sealing)
    TOTALS["credentials_calls"] = len(sealing)
    assert sum(c.final == 201 for c in sealing) >= 4, "too few credentials stored to mean much"
    decided = sum(sum(t.events.values()) for t in tenants.values())
    TOTALS["decided_events"] = decided
    assert decided >= 100, "too few requests reached a decision to mean anything"
