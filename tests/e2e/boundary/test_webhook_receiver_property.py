"""Property at the webhook-receiver HTTP boundary (issue 13 item 3): >= 1,000 generated
requests to every configured source (Stripe, GitHub, Shopify, two Standard Webhooks senders),
signed as the provider signs, or tampered with (wrong secret, body changed after signing,
signature missing / garbled / of another scheme, stale, future or unicode-digit timestamps,
routing headers malformed or missing), plus unknown sources, other methods, oversize bodies and
random content types, sent with the machine loaded. Answers as shared/webhooks/receiver.py
documents them, exactly:

- 202 (the Pub/Sub message id) only for a correctly signed request, and then the message ends
  as a row in ``integration_raw_data`` or a dead letter with a reason (a signed body that is not
  JSON) once the pipeline delivered it (bounded wait, one query per poll);
- 401 a bad / missing signature or timestamp, 400 a malformed routing header, 404 an unknown
  source, 405 not POST, 413 oversize, 409 a GitHub replay (same signed body, new delivery id),
  200 ``duplicate_delivery`` a Shopify one: none of them publishes anything (checked on a
  subscription of the test's own to ``webhook-events``, by body hash).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.stack import LocalStack
from shared.webhooks import samples, senders
from tests.e2e.boundary import harness, http_harness

pytestmark = pytest.mark.stack
TOTALS: dict[str, int] = {}
TOPIC = "webhook-events"
MAX_BODY = 1024 * 1024
SIGNED_HEADER = {
    "stripe": "Stripe-Signature",
    "github": "X-Hub-Signature-256",
    "shopify": "X-Shopify-Hmac-Sha256",
    "standard_webhooks": "webhook-signature",
}
ROUTING = {"github": "X-GitHub-Event", "shopify": "X-Shopify-Topic"}
DELIVERY = {
    "github": ["X-GitHub-Delivery"],
    "shopify": ["X-Shopify-Event-Id", "X-Shopify-Webhook-Id"],
}
TAMPERS = {
    # name: (schemes it applies to, expected status)
    "none": (None, 202),
    "wrong_secret": (None, 401),
    "body_changed": (None, 401),
    "no_signature": (None, 401),
    "garbled_signature": (None, 401),
    "other_scheme": (None, 401),
    "unicode_in_signature": (None, 401),
    "stale": ({"stripe", "standard_webhooks"}, 401),
    "future": ({"stripe", "standard_webhooks"}, 401),
    "unicode_timestamp": ({"stripe", "standard_webhooks"}, 401),
    "msg_id_changed": ({"standard_webhooks"}, 401),
    "bad_routing": ({"github", "shopify"}, 400),
    "unicode_routing": ({"github", "shopify"}, 401),
    "no_delivery": ({"github", "shopify"}, 400),
}


@dataclass(frozen=True)
class Route:
    source: str
    scheme: str
    secret: str


def _routes(stack: LocalStack) -> list[Route]:
    fn = stack.manifest.function("webhook-receiver")
    env = fn["local_env"]
    return [Route(e["source"], e["scheme"], env[e["secrets"][0]]) for e in fn["webhook_sources"]]


SAMPLES: dict[str, list[str]] = defaultdict(list)
for _name in samples.names():
    _attrs = samples.load(_name)[1]
    SAMPLES[_attrs["source"]].append(_name)


# ---------------------------------------------------------------- generation
@st.composite
def call(draw: st.DrawFn, routes: list[Route]) -> http_harness.Call:  # noqa: PLR0912 - one per tamper
    marker = uuid.uuid4().hex
    route = draw(st.sampled_from(routes))
    scheme = route.scheme
    kind = draw(st.sampled_from(["sample"] * 6 + ["json", "junk", "deep"]))
    if kind == "sample" and SAMPLES.get(route.source):
        body, attrs = samples.unique(draw(st.sampled_from(SAMPLES[route.source])), marker)
    elif kind == "json":  # signed JSON no mapping knows: a raw row (mapping_status unknown)
        payload = draw(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8)))
        body, attrs = json.dumps({**payload, "marker": marker}).encode(), {}
    elif kind == "deep":  # JSON nested past the parser's recursion limit: a dead letter
        body, attrs = http_harness.DEEP[:-1] + b', "' + marker.encode() + b'"]', {}
    else:  # signed bytes that are not JSON: a dead letter with a reason
        body, attrs = draw(st.binary(max_size=40)) + b"\x00not json " + marker.encode(), {}
    attrs.setdefault("event_id", f"msg_{marker}")
    attrs.setdefault("delivery_id", marker)
    if scheme in ROUTING:
        attrs.setdefault("event_type", "push" if scheme == "github" else "orders/create")
    tamper = draw(
        st.sampled_from(
            ["none"] + [t for t, (only, _) in TAMPERS.items() if only is None or scheme in only] * 2
        )
    )
    now = int(time.time())
    secret = route.secret
    if tamper == "wrong_secret":
        secret = (
            "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB" if scheme == "standard_webhooks" else "x"
        )
    stamp = now - 600 if tamper == "stale" else now + 600 if tamper == "future" else now
    headers: dict[str, str | bytes] = dict(
        senders.signed_headers(scheme, secret, body, attrs, now=stamp)
    )
    ctype = draw(http_harness.content_types)
    if ctype:
        headers["Content-Type"] = ctype
    else:
        headers.pop("Content-Type", None)
    sig = SIGNED_HEADER[scheme]
    if tamper == "body_changed":
        body = body + draw(st.sampled_from([b" ", b"\n", b"0"]))
    elif tamper == "no_signature":
        del headers[sig]
    elif tamper == "garbled_signature":
        headers[sig] = draw(
            st.sampled_from(["v1,@@@", "t=1,v1=zz", "sha256=xyz", "AAAA", "v1=", ",", "=" * 5])
        )
    elif tamper == "other_scheme":
        other = draw(st.sampled_from(sorted(set(SIGNED_HEADER) - {scheme})))
        headers.pop(sig)
        wrong = senders.signed_headers(
            other,
            route.secret
            if other != "standard_webhooks"
            else "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB",
            body,
            attrs,
            now=now,
        )
        headers[SIGNED_HEADER[other]] = wrong[SIGNED_HEADER[other]]
    elif tamper == "unicode_in_signature":
        value = str(headers[sig])
        headers[sig] = (value[:-2] + draw(st.sampled_from(http_harness.UNICODE_DIGITS))).encode()
    elif tamper == "unicode_timestamp":
        digits = draw(st.sampled_from(["\uff11" * 10, "\u0661" * 10, "\u00b2" + str(now)[1:]]))
        if scheme == "stripe":
            value = str(headers[sig])
            headers[sig] = value.replace(f"t={now}", f"t={digits}").encode()
        else:
            headers["webhook-timestamp"] = digits.encode()
    elif tamper == "msg_id_changed":
        headers["webhook-id"] = draw(st.sampled_from([f"msg_other_{marker}", "a b", "\u0661"]))
        if not str(headers["webhook-id"]).isascii():
            headers["webhook-id"] = str(headers["webhook-id"]).encode()
    elif tamper == "bad_routing":
        headers[ROUTING[scheme]] = draw(st.sampled_from(["", "Push", "orders create", "a/b/c"]))
        if headers[ROUTING[scheme]] == "" and scheme == "github":
            headers[ROUTING[scheme]] = "PUSH"
    elif tamper == "unicode_routing":
        headers[ROUTING[scheme]] = (
            f"push{draw(st.sampled_from(http_harness.UNICODE_DIGITS))}".encode()
        )
    elif tamper == "no_delivery":
        for name in DELIVERY[scheme]:
            headers.pop(name, None)
    expected = TAMPERS[tamper][1]
    method, path = "POST", f"/{route.source}"
    shape = draw(st.integers(0, 39))
    if shape == 0:
        method, expected = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH"])), 405
    elif shape == 1:
        path, expected = draw(st.sampled_from(["/nosuch", "/", "/stripe/x", "/Stripe"])), 404
    elif shape == 2:
        body, expected = b'{"pad": "' + b"x" * MAX_BODY + b'"}', 413
    meta = {"source": route.source, "tamper": tamper, "expected": expected, "kind": kind}
    return http_harness.Call(method, path, headers, body, meta=meta)


# ---------------------------------------------------------------- checks
def _pull(stack: LocalStack, sub: str) -> list[Any]:
    path = f"projects/{stack.project}/subscriptions/{sub}"
    response = stack.subscriber().pull(subscription=path, max_messages=1000, timeout=5)
    messages = list(response.received_messages)
    if messages:
        stack.subscriber().acknowledge(subscription=path, ack_ids=[m.ack_id for m in messages])
    return [m.message for m in messages]


def landed(stack: LocalStack, ids: list[str]) -> set[str]:
    """Message ids that are a raw row or a dead letter with a reason (one query)."""
    rows = stack.query(
        f"SELECT message_id AS id FROM `{stack.project}.warehouse.integration_raw_data` "
        "WHERE message_id IN UNNEST(@ids) UNION ALL "
        f"SELECT event_id AS id FROM `{stack.project}.ops.dead_letters` "
        "WHERE function = 'webhooks' AND event_id IN UNNEST(@ids) AND reason IS NOT NULL",
        {"ids": ids},
    )
    return {r["id"] for r in rows}


@pytest.fixture(scope="module")
def subscription(stack: LocalStack) -> Iterator[str]:
    with http_harness.temporary_subscription(stack, TOPIC, "bhttp-webhook-events") as name:
        yield name


loaded = harness.loaded_fixture("webhook-receiver", TOTALS)


def test_webhook_receiver_every_request_is_answered_as_documented_and_ends_somewhere(
    stack: LocalStack, subscription: str, loaded: None
) -> None:
    routes = _routes(stack)
    assert {r.scheme for r in routes} == set(SIGNED_HEADER), "a configured scheme is untested"
    url = stack.function_url("webhook-receiver")
    accepted: dict[str, str] = {}  # message id -> body sha256
    described: dict[str, str] = {}  # message id -> the request, for a failure message
    refused: set[str] = set()  # body sha256 of every refused request
    sent = 0

    @harness.batches
    @given(st.lists(call(routes), min_size=harness.BATCH, max_size=harness.BATCH))
    def check(batch: list[http_harness.Call]) -> None:
        nonlocal sent
        http_harness.send_all(url, batch)
        http_harness.assert_no_uncured_5xx(batch)
        replays: list[http_harness.Call] = []
        for c in batch:
            assert c.final == c.meta["expected"], f"expected {c.meta['expected']}: {c.describe()}"
            sha = hashlib.sha256(c.body).hexdigest()
            if c.final == 202:
                accepted[c.answer.decode()] = sha
                described[c.answer.decode()] = c.describe()
            else:
                refused.add(sha)
            if c.final == 202 and c.meta["source"] in ("github", "shopify") and not replays:
                forged = {**c.headers}
                for name in DELIVERY["github" if c.meta["source"] == "github" else "shopify"]:
                    forged[name] = f"forged-{uuid.uuid4().hex}"
                expect = 409 if c.meta["source"] == "github" else 200
                replays.append(
                    http_harness.Call("POST", c.path, forged, c.body, meta={"expected": expect})
                )
        http_harness.send_all(url, replays)
        for r in replays:
            assert r.final == r.meta["expected"], r.describe()
            if r.final == 200:
                assert r.answer == b"duplicate_delivery", r.describe()
        http_harness.tally(batch + replays, TOTALS)
        sent += len(batch)

    check()
    assert sent >= 1000
    assert len(accepted) >= 25, f"too few accepted to mean anything: {TOTALS}"
    # every 202 ends as a raw row or a dead letter once the pipeline delivered it
    ids = list(accepted)
    missing = set(ids)
    deadline = time.monotonic() + 150
    while missing and time.monotonic() < deadline:
        missing -= landed(stack, sorted(missing))
        if missing:
            time.sleep(2)
    assert not missing, f"{len(missing)} accepted webhooks neither a row nor a dead letter: " + (
        "\n".join(described[m] for m in sorted(missing)[:5])
    )
    # nothing refused was published; each accepted body exactly once (by message id)
    published: dict[str, set[str]] = defaultdict(set)
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while True:  # a pull may return fewer than are there: until every 202 was seen, then empty
        messages = _pull(stack, subscription)
        for m in messages:
            published[hashlib.sha256(m.data).hexdigest()].add(m.message_id)
            seen.add(m.message_id)
        if (not messages and seen >= set(accepted)) or time.monotonic() > deadline:
            break
    leaked = (refused - set(accepted.values())) & set(published)
    assert not leaked, f"{len(leaked)} refused webhooks were published"
    for message_id, sha in accepted.items():
        assert message_id in published[sha], f"202 {message_id} not on {TOPIC}"
    per_body: dict[str, int] = defaultdict(int)
    for sha in accepted.values():
        per_body[sha] += 1
    extra = {sha: len(published[sha]) for sha, n in per_body.items() if len(published[sha]) != n}
    assert not extra, f"published more often than accepted (a replay leaked?): {extra}"
    TOTALS["landed"] = len(accepted)
