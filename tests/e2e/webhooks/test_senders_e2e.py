"""Real senders end to end: each provider's signed request -> receiver -> Pub/Sub -> typed row;
refused requests land nothing; every accepted message is accounted for under concurrency."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack
from shared.webhooks import samples, senders
from shared.webhooks.ingest import DEAD_LETTER_SOURCE

pytestmark = pytest.mark.stack
TOPIC = "webhook-events"
DEAD_LETTER_TOPIC = "webhook-events-dead-letter"
TYPED = {
    "stripe_charge_succeeded": "platform_events_current",
    "github_push": "platform_events_current",
    "shopify_order_created": "platform_events_current",
    "adplatform_campaign_metrics": "campaign_metrics_current",
    "meta_ads_campaign_daily": "campaign_metrics_current",
}


def _routes(stack: LocalStack) -> tuple[dict[str, Any], dict[str, str]]:
    fn = stack.manifest.function("webhook-receiver")
    return {e["source"]: e for e in fn["webhook_sources"]}, fn["local_env"]


def signed_post(
    stack: LocalStack, body: bytes, attrs: dict[str, str], now: int | None = None
) -> requests.Response:
    routes, secrets = _routes(stack)
    route = routes[attrs["source"]]
    headers = senders.signed_headers(
        route["scheme"],
        secrets[route["secrets"][0]],
        body,
        attrs,
        now=int(time.time()) if now is None else now,
    )
    url = f"{stack.function_url('webhook-receiver')}/{attrs['source']}"
    return requests.post(url, data=body, headers=headers, timeout=30)


def _raw_by_sha(stack: LocalStack, shas: list[str]) -> dict[str, dict[str, Any]]:
    rows = stack.query(
        "SELECT payload_sha256, event_key, mapping_status "
        "FROM `demo-local.warehouse.integration_raw_data` WHERE payload_sha256 IN UNNEST(@shas)",
        {"shas": shas},
    )
    return {r["payload_sha256"]: r for r in rows}


def test_each_sender_signed_as_documented_lands_a_typed_row(stack: LocalStack) -> None:
    run = uuid.uuid4().hex[:8]
    sent: dict[str, str] = {}
    for name in TYPED:
        body, attrs = samples.unique(name, run)
        answer = signed_post(stack, body, attrs)
        assert answer.status_code == 202, (name, answer.status_code, answer.text)
        sent[name] = hashlib.sha256(body).hexdigest()
    raw = stack.wait_until(
        lambda: (
            found if len(found := _raw_by_sha(stack, list(sent.values()))) == len(sent) else None
        ),
        timeout=90,
        what="every sender's webhook in the raw lake",
    )
    for name, sha in sent.items():
        row = raw[sha]
        assert row["mapping_status"] == "mapped", name
        # the base table, not the *_current view: a later report of the same campaign and day
        # (e.g. another test's sample) rightly supersedes this one in campaign_metrics_current
        table = TYPED[name].removesuffix("_current")
        typed = stack.query(
            f"SELECT COUNT(*) AS n FROM `demo-local.warehouse.{table}` WHERE event_key = @key",
            {"key": row["event_key"]},
        )
        assert int(typed[0]["n"]) >= 1, f"{name}: no typed row in {table}"


def test_forged_stale_replayed_and_malformed_get_4xx_and_land_nothing(stack: LocalStack) -> None:
    run = uuid.uuid4().hex[:8]
    routes, secrets = _routes(stack)
    url = stack.function_url("webhook-receiver")
    now = int(time.time())
    bodies: list[bytes] = []

    def post(source: str, body: bytes, headers: dict[str, str]) -> int:
        bodies.append(body)
        return requests.post(f"{url}/{source}", data=body, headers=headers, timeout=30).status_code

    body, attrs = samples.unique("stripe_charge_succeeded", f"forged{run}")
    assert (
        post("stripe", body, senders.signed_headers("stripe", "whsec_guess", body, now=now)) == 401
    )
    body, attrs = samples.unique("stripe_charge_succeeded", f"stale{run}")
    secret = secrets["WEBHOOK_SECRET_STRIPE"]
    stale = senders.signed_headers("stripe", secret, body, now=now - 600)
    assert post("stripe", body, stale) == 401
    body, attrs = samples.unique("meta_ads_campaign_daily", f"replay{run}")
    replayed = senders.signed_headers(
        "standard_webhooks", secrets["WEBHOOK_SECRET_META_ADS"], body, attrs, now=now
    )
    replayed["webhook-id"] = f"msg_new_{run}"
    assert post("meta_ads", body, replayed) == 401
    body, attrs = samples.unique("github_push", f"tamper{run}")
    good = senders.signed_headers("github", secrets["WEBHOOK_SECRET_GITHUB"], body, attrs, now=now)
    assert post("github", body + b" ", good) == 401
    # GitHub signs no delivery id: the same signed content under a new id is a replay (409),
    # under the same id the sender's own redelivery (202); checked in Firestore
    body, attrs = samples.unique("github_push", f"guard{run}")
    first = senders.signed_headers("github", secrets["WEBHOOK_SECRET_GITHUB"], body, attrs, now=now)
    ok_url = f"{url}/github"
    assert requests.post(ok_url, data=body, headers=first, timeout=30).status_code == 202
    replay = {**first, "X-GitHub-Delivery": f"forged-{run}"}
    assert requests.post(ok_url, data=body, headers=replay, timeout=30).status_code == 409
    assert requests.post(ok_url, data=body, headers=first, timeout=30).status_code == 202
    body, attrs = samples.unique("shopify_order_created", f"malformed{run}")
    good = senders.signed_headers(
        "shopify", secrets["WEBHOOK_SECRET_SHOPIFY"], body, attrs, now=now
    )
    assert post("shopify", body, {**good, "X-Shopify-Hmac-Sha256": "\u00e9\u00e9"}) == 401
    assert post("shopify", body, {**good, "X-Shopify-Topic": "bad topic"}) == 400
    body, attrs = samples.unique("adplatform_campaign_metrics", f"digits{run}")
    sw = senders.signed_headers(
        "standard_webhooks", secrets["WEBHOOK_SECRET_ADPLATFORM"], body, attrs, now=now
    )
    assert post("adplatform", body, {**sw, "webhook-timestamp": "\u00b2"}) == 401
    # bodies unique to this run, so another test's identical body can't look like a leak
    big = b'{"run": "' + run.encode() + b'", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert post("stripe", big, {}) == 413
    nosuch = json.dumps({"run": run}).encode()
    assert "github" in routes and post("nosuchsource", nosuch, {}) == 404
    # a valid request sent last: once it is in raw, the refused ones had their chance to leak
    ok, ok_attrs = samples.unique("stripe_charge_succeeded", f"ok{run}")
    assert signed_post(stack, ok, ok_attrs).status_code == 202
    ok_sha = hashlib.sha256(ok).hexdigest()
    stack.wait_until(lambda: _raw_by_sha(stack, [ok_sha]) or None, timeout=60, what="valid one")
    time.sleep(1)
    leaked = _raw_by_sha(stack, [hashlib.sha256(b).hexdigest() for b in bodies])
    assert leaked == {}


def test_every_accepted_message_is_in_raw_or_dead_letters(stack: LocalStack) -> None:
    """Issue 10 item 3: many concurrent signed posts + direct publishes (valid and invalid) +
    messages forwarded by the dead-letter policy; every message id that was acknowledged to
    its sender (202 / publish result) must end as a raw row or a dead letter."""
    run = uuid.uuid4().hex[:8]
    names = [*TYPED, "github_ping_unknown_type", "shopify_refund_created"]
    posts = [samples.unique(names[i % len(names)], f"{run}p{i}") for i in range(48)]
    publishes: list[tuple[bytes, dict[str, str]]] = []
    for i in range(48):
        body, attrs = samples.unique("stripe_charge_succeeded", f"{run}d{i}")
        if i % 6 == 0:
            body = b"{not json " + f"{run}d{i}".encode()  # dead letter: invalid_json
        elif i % 6 == 1:
            attrs = {"source": "crm"}  # unknown source: raw only
        publishes.append((body, attrs))
    forwarded = []  # what Pub/Sub forwards to the dead-letter topic after max attempts
    for i in range(4):
        body, attrs = samples.unique("stripe_charge_succeeded", f"{run}x{i}")
        attrs[DEAD_LETTER_SOURCE] = "projects/demo-local/subscriptions/webhook-events-ingest"
        forwarded.append((body, attrs))

    def post(item: tuple[bytes, dict[str, str]]) -> str:
        answer = signed_post(stack, *item)
        assert answer.status_code == 202, answer.text
        return answer.text

    def publish(item: tuple[bytes, dict[str, str]], topic: str = TOPIC) -> str:
        return stack.publish(topic, item[0], **item[1])

    with ThreadPoolExecutor(16) as pool:
        accepted = list(pool.map(post, posts)) + list(pool.map(publish, publishes))
        accepted += [publish(item, DEAD_LETTER_TOPIC) for item in forwarded]
    assert len(set(accepted)) == len(posts) + len(publishes) + len(forwarded)

    def missing() -> set[str]:
        rows = stack.query(
            "SELECT message_id AS id FROM `demo-local.warehouse.integration_raw_data` "
            "WHERE message_id IN UNNEST(@ids) UNION ALL "
            "SELECT event_id AS id FROM `demo-local.ops.dead_letters` "
            "WHERE function = 'webhooks' AND event_id IN UNNEST(@ids)",
            {"ids": accepted},
        )
        return set(accepted) - {r["id"] for r in rows}

    stack.wait_until(lambda: not missing(), timeout=180, what="every accepted message accounted")
    assert missing() == set()
