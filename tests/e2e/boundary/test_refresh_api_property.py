"""Property at the refresh-api HTTP boundary (issue 13 item 3): >= 1,000 generated requests
(random methods, paths, query strings, content types, Authorization headers, JSON and non-JSON
bodies, oversize bodies, unicode digits) answered as shared/refresh/api.py and docs/refresh.md
say, with the machine loaded:

- 413 oversize; 404 an unknown route (before any key is looked at); 401 (one message) missing /
  malformed / unknown / expired / inactive key; 403 a key without the route's scope
  (``refresh:read`` for GET, ``refresh:write`` for changes; a quota ``runs`` key has neither);
  400 bad input; 404 an unknown table;
- GET /status, /configs, /history answer 200 with their documented shape;
- POST /trigger answers 202 only after the request is published: every 202's run id is found
  on ``refresh-requests`` (a subscription of the test's own) with the body the answer echoed,
  and no refused request's run id is ever published.

Valid triggers are dry runs of one table (no lease, no admission, excluded from status and the
cut-over guard), and valid PATCH / demote bodies are never generated with an operator key, so
the test leaves the refresh configuration as it found it for the rest of the suite.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.stack import REPO, LocalStack
from shared import api_keys
from tests.e2e.boundary import harness, http_harness

pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("refresh_retries_purged")]
TOTALS: dict[str, int] = {}
TABLES = sorted(p.stem for p in (REPO / "shared" / "refresh" / "definitions").glob("*.sql"))
WHO = ["viewer", "operator", "operator-b", "runs-only", "expired", "inactive", "unknown"]
WHO += ["missing", "malformed"]
TOPIC = "refresh-requests"


@dataclass
class Keys:
    valid: dict[str, str]  # who -> key
    tag: str  # the run-id prefix of this test's requests


def _is_object(body: bytes) -> bool:
    """What the API would read as a JSON object (an empty body is ``{}`` to it)."""
    try:
        return isinstance(json.loads(body or b"{}"), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


not_an_object = http_harness.junk_bodies.filter(lambda b: not _is_object(b))


# ---------------------------------------------------------------- generation
@st.composite
def bad_trigger(draw: st.DrawFn, run_id: str) -> dict[str, Any]:
    """A trigger body with at least one certain error (400, or 404 for an unknown table)."""
    body: dict[str, Any] = {"run_id": run_id}
    error = draw(
        st.sampled_from(
            [
                (
                    "dry_run",
                    draw(st.one_of(st.just("yes"), http_harness.unicode_digits, st.integers())),
                ),
                ("tables", ["no_such_table"]),
                ("tables", "uploads_by_customer"),
                ("concurrency", draw(st.sampled_from([0, 33, True, "4", "\uff14", 4.0]))),
                ("as_of", draw(st.sampled_from(["2026-13-01", "\u0662\u0660\u0662\u0666-01-01"]))),
                ("test", {}),
                ("unknown_field", 1),
                ("run_type", "nightly"),
                ("invocation", -1),
                ("run_id", draw(st.sampled_from(["", "x y", "r" * 101, "r\u0661", "r\n"]))),
            ]
        )
    )
    body[error[0]] = error[1]
    if error[0] == "run_id" and body["run_id"] == "":
        body["dry_run"] = "no"  # "" means "make one up": keep a certain error beside it
    for key in draw(st.sets(st.sampled_from(["dry_run", "full_refresh", "customer_id"]))):
        body.setdefault(key, draw(http_harness.json_scalar))
    return body


@st.composite
def good_trigger(draw: st.DrawFn, run_id: str) -> dict[str, Any]:
    """A valid, harmless trigger: a dry run of one table (no lease, no admission)."""
    body: dict[str, Any] = {"dry_run": True, "tables": [draw(st.sampled_from(TABLES))]}
    if draw(st.booleans()):
        body["run_id"] = run_id
    if draw(st.booleans()):
        body["run_type"] = draw(st.sampled_from(["manual", "backfill"]))
    if draw(st.booleans()):
        body["as_of"] = "2026-03-20"
    return body


@st.composite
def call(draw: st.DrawFn, keys: Keys) -> http_harness.Call:  # noqa: PLR0912 - one branch per route
    route = draw(
        st.sampled_from(
            [
                *("status", "configs", "history", "history", "trigger", "trigger", "trigger"),
                *("patch", "cutover", "cutover", "other"),
            ]
        )
    )
    # reads with a valid key each cost a BigQuery query: fewer of them; triggers: more writers
    readers = WHO[:3] if route in ("status", "configs", "history") else WHO[:3] * 3
    writers = ["operator", "operator-b"] * 3 if route == "trigger" else []
    who = draw(st.sampled_from(readers + WHO[3:] + writers))
    headers: dict[str, str | bytes] = {}
    if who in keys.valid:
        name = draw(st.sampled_from(["Authorization", "X-API-Key"]))
        key = keys.valid[who]
        headers[name] = f"Bearer {key}" if name == "Authorization" else key
    elif who == "unknown":
        headers["Authorization"] = f"Bearer {http_harness.unknown_key()}"
    elif who == "malformed":
        headers["Authorization"] = draw(
            st.sampled_from(http_harness.malformed_authorizations(keys.valid["viewer"]))
        )
    ctype = draw(http_harness.content_types)
    if ctype:
        headers["Content-Type"] = ctype
    run_id = f"{keys.tag}-{uuid.uuid4().hex[:12]}"
    table = draw(st.one_of(st.sampled_from(TABLES), st.sampled_from(["nope", "\u0661", "a b"])))
    query = ""
    body = b""
    method = {"status": "GET", "configs": "GET", "history": "GET", "patch": "PATCH"}.get(
        route, "POST"
    )
    path = f"/{route}"
    writer = who in ("operator", "operator-b")
    if route == "history":
        args: dict[str, str] = {}
        if draw(st.booleans()):
            args["table"] = table
        for name in ("limit", "page_token"):
            if draw(st.booleans()):
                args[name] = draw(
                    st.one_of(
                        st.sampled_from(["1", "200", "0", "201", "abc", "-1"]),
                        http_harness.unicode_digits,
                    )
                )
        if draw(st.booleans()):
            args["run_id"] = draw(st.sampled_from([run_id, "bad id", "r\u0661", "r\n"]))
        if draw(st.booleans()):
            args["status"] = draw(st.sampled_from(["success", "failed", "\u00e9"]))
        query = "?" + urlencode(args) if args else ""
    elif route == "trigger":
        # a valid trigger is a dry run the refresh function then really does (~1-2 s each,
        # queued ahead of the next refresh test's runs): ~15 per test, not more
        if draw(st.integers(0, 19)) < 2:
            data: Any = draw(good_trigger(run_id))
        elif draw(st.integers(0, 3)) == 0 and not writer:
            data = None  # an empty body: {} to the API (a full run), only for refused keys
        elif draw(st.integers(0, 3)) == 0:
            data = draw(not_an_object)
        else:
            data = draw(bad_trigger(run_id))
        body = (
            b"" if data is None else data if isinstance(data, bytes) else json.dumps(data).encode()
        )
    elif route == "patch":
        path = f"/configs/{table}"
        data = draw(
            st.one_of(
                st.just({}),
                st.fixed_dictionaries(
                    {"enabled": st.one_of(http_harness.json_scalar, http_harness.unicode_digits)}
                ).filter(lambda d: not isinstance(d["enabled"], bool) and d["enabled"] is not None),
                st.just({"priority": -1}),
                st.just({"priority": 1001}),
                st.just({"priority": True}),
                st.just({"priority": "\uff15"}),
                st.just({"shadow": True}),
                st.just({"priority": 5, "x": 1}),
            )
        )
        body = json.dumps(data).encode()
        if not writer and draw(st.booleans()):
            body = b'{"priority": 5}'  # valid, but this key may not change anything
    elif route == "cutover":
        action = draw(st.sampled_from(["promote", "promote", "demote", "explode"]))
        path = f"/configs/{table}/{action}"
        data = draw(
            st.one_of(
                st.just({"x": 1}),
                st.just({"reason": 5}),
                st.just({"reason": "r" * 1001}),
                st.just([]),
                st.just({"reason": "\u0661 boundary"}),
                st.just({}),
            )
        )
        if writer and action == "demote" and data in ({}, {"reason": "\u0661 boundary"}):
            data = {"reason": None}  # never demote for real: keep an error
        body = json.dumps(data).encode()
    else:
        path = draw(st.sampled_from(["/", "/trigger/now", "/configs", "/status/x", "/runs/start"]))
        method = draw(st.sampled_from(["POST", "PUT", "DELETE"]))
    if draw(st.integers(0, 4)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
    if draw(st.integers(0, 19)) == 0:
        body = http_harness.oversize()
    return http_harness.Call(
        method, path + query, headers, body, meta={"who": who, "run_id": run_id}
    )


# ---------------------------------------------------------------- the oracle
def _route(method: str, path: str) -> tuple[str, list[str]]:
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if method == "GET" and parts in (["status"], ["configs"], ["history"]):
        return parts[0], parts
    if method == "POST" and parts == ["trigger"]:
        return "trigger", parts
    if method == "PATCH" and len(parts) == 2 and parts[0] == "configs":
        return "patch", parts
    if method == "POST" and len(parts) == 3 and parts[0] == "configs":
        return "cutover", parts
    return "", parts


def expected(c: http_harness.Call) -> set[int]:  # noqa: PLR0911 - one per documented rule
    if len(c.body) > 64 * 1024:
        return {413}
    route, parts = _route(c.method, c.path)
    if not route:
        return {404}
    who = c.meta["who"]
    if who not in ("viewer", "operator", "operator-b", "runs-only"):
        return {401}
    write = route in ("trigger", "patch", "cutover")
    if who == "runs-only" or (write and who == "viewer"):
        return {403}
    if route in ("status", "configs"):
        return {200}
    if route == "history":
        return {200, 400, 404}  # checked below against the query
    if route == "trigger":
        data = json.loads(c.body or b"{}") if _is_object(c.body) else None
        if data is None or "test" in data:
            return {400}
        good = data.get("dry_run") is True and set(data) <= {"dry_run", "tables", "run_id"} | {
            "run_type",
            "as_of",
        }
        good = good and data.get("tables") in [[t] for t in TABLES]
        good = good and str(data.get("run_id", c.meta["run_id"])) == c.meta["run_id"]
        return {202} if good else {400, 404}
    if parts[1] not in TABLES or (route == "cutover" and parts[2] not in ("promote", "demote")):
        return {404}
    if route == "patch":
        return {400}  # a valid PATCH is only ever sent with a key that may not change
    data = json.loads(c.body) if _is_object(c.body) else None
    if not isinstance(data, dict) or set(data) - {"reason"}:
        return {400}
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 1000:
        return {400}
    return {409, 200} if parts[2] == "promote" else {200}


def history_expected(path: str) -> int:
    from urllib.parse import parse_qsl, urlsplit

    args = dict(parse_qsl(urlsplit(path).query))
    if "table" in args and args["table"] not in TABLES:
        return 404
    for name, high in (("limit", 200), ("page_token", 10_000_000)):
        raw = args.get(name)
        low = 1 if name == "limit" else 0
        if raw is not None and not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
            return 400
    run_id = args.get("run_id")
    if run_id is not None and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", run_id):
        return 400
    return 200


def check_answer(c: http_harness.Call) -> None:
    allowed = expected(c)
    route, _ = _route(c.method, c.path)
    if allowed == {200, 400, 404}:
        allowed = {history_expected(c.path)}
    assert c.final in allowed, f"expected {allowed}: {c.describe()}"
    answer = c.json()
    assert isinstance(answer, dict), c.describe()
    if c.final == 401:
        assert answer == {"error": api_keys.UNAUTHENTICATED}, c.describe()
    elif c.final == 200 and route == "history":
        assert isinstance(answer["runs"], list) and "next_page_token" in answer
    elif c.final == 200 and route in ("status", "configs"):
        assert isinstance(answer["tables" if route == "status" else "configs"], list)
    elif c.final == 202:
        assert answer["run_id"] == c.meta["run_id"] or "run_id" not in json.loads(c.body)
        assert answer["request"]["dry_run"] is True, c.describe()
    elif c.final == 200 and route == "cutover":
        assert answer["mode"] == ("live" if c.path.endswith("promote") else "shadow")


def published(stack: LocalStack, sub: str, want: set[str], seconds: float) -> dict[str, Any]:
    """Messages on the test's subscription by run id, until every wanted id came or time is up."""
    path = f"projects/{stack.project}/subscriptions/{sub}"
    found: dict[str, Any] = {}
    deadline = time.monotonic() + seconds
    while True:
        response = stack.subscriber().pull(subscription=path, max_messages=500, timeout=10)
        messages = response.received_messages
        if messages:
            stack.subscriber().acknowledge(subscription=path, ack_ids=[m.ack_id for m in messages])
        for m in messages:
            found.setdefault(m.message.attributes.get("run_id", ""), json.loads(m.message.data))
        if (want <= set(found) and not messages) or time.monotonic() > deadline:
            return found
        if not messages:
            time.sleep(0.5)


# ---------------------------------------------------------------- the test
@pytest.fixture(scope="module")
def keys(stack: LocalStack) -> Iterator[Keys]:
    later = datetime.now(UTC) + timedelta(days=1)
    valid = {
        "viewer": api_keys.create_key("bhttp-a", ["refresh:read"], expires_at=later)[1],
        "operator": api_keys.create_key("bhttp-a", ["refresh:read", "refresh:write"])[1],
        "operator-b": api_keys.create_key("bhttp-b", ["refresh:read", "refresh:write"])[1],
        "runs-only": api_keys.create_key("bhttp-a", ["runs"])[1],
        "expired": api_keys.create_key(
            "bhttp-a", ["refresh:read", "refresh:write"], expires_at=datetime.now(UTC)
        )[1],
    }
    inactive_id, valid["inactive"] = api_keys.create_key("bhttp-a", ["refresh:read"])
    api_keys.deactivate(inactive_id)
    yield Keys(valid, f"bh{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def subscription(stack: LocalStack) -> Iterator[str]:
    with http_harness.temporary_subscription(stack, TOPIC, "bhttp-refresh-requests") as name:
        yield name


loaded = harness.loaded_fixture("refresh-api", TOTALS)


def test_refresh_api_every_request_is_answered_as_documented_and_published(
    stack: LocalStack, keys: Keys, subscription: str, loaded: None
) -> None:
    url = stack.function_url("refresh-api")
    accepted: dict[str, dict[str, Any]] = {}
    refused: set[str] = set()
    sent = examples = 0

    @harness.batches
    @given(st.lists(call(keys), min_size=harness.BATCH, max_size=harness.BATCH))
    def check(batch: list[http_harness.Call]) -> None:
        nonlocal sent, examples
        examples += 1
        if examples % 2:  # every other batch one sure valid trigger (>= 10 in all)
            run_id = f"{keys.tag}-{uuid.uuid4().hex[:12]}"
            body = {"dry_run": True, "tables": [random.choice(TABLES)], "run_id": run_id}
            operator = keys.valid["operator"]
            batch = [
                *batch,
                http_harness.Call(
                    "POST",
                    "/trigger",
                    {"Authorization": f"Bearer {operator}"},
                    json.dumps(body).encode(),
                    meta={"who": "operator", "run_id": run_id},
                ),
            ]
        http_harness.send_all(url, batch)
        http_harness.assert_no_uncured_5xx(batch)
        for c in batch:
            check_answer(c)
            if c.final == 202:
                accepted[c.json()["run_id"]] = c.json()["request"]
            else:
                refused.add(c.meta["run_id"])
        http_harness.tally(batch, TOTALS)
        sent += len(batch)

    check()
    assert sent >= 1000
    assert len(accepted) >= 10, f"too few triggers accepted to mean anything: {TOTALS}"
    found = published(stack, subscription, set(accepted), 60)
    missing = set(accepted) - set(found)
    assert not missing, f"202 without a published request: {sorted(missing)[:5]}"
    for run_id, request in accepted.items():
        assert found[run_id] == request, (run_id, found[run_id], request)
    leaked = (refused - set(accepted)) & set(found)
    assert not leaked, f"refused requests published: {sorted(leaked)[:5]}"
    TOTALS["published"] = len(accepted)
