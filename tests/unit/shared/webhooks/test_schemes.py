"""Each sender's signature scheme against published vectors and the usual attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from shared.errors import ConfigurationError
from shared.webhooks import schemes
from shared.webhooks.schemes import Refused, verify

NOW = 1_763_630_000
BODY = b'{"id":"evt_1","type":"charge.succeeded"}'

# The Standard Webhooks spec's published example (spec.md "Signature scheme"), also used by
# every official library's tests.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# GitHub's published example (docs "Validating webhook deliveries", "Testing the webhook
# payload validation").
GITHUB_SECRET = b"It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def refused(fn: Callable[[], object]) -> str:
    with pytest.raises(Refused) as info:
        fn()
    return info.value.reason


# --- Standard Webhooks ----------------------------------------------------------------------

SW_KEY = schemes.standard_webhooks_key(SPEC_SECRET)
SW_OTHER = schemes.standard_webhooks_key("whsec_" + base64.b64encode(b"o" * 24).decode())


def sw_headers(
    msg_id: str = "msg_1", ts: int | str = NOW, body: bytes = BODY, key: bytes = SW_KEY
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": schemes.standard_webhooks_sign(key, msg_id, ts, body),
    }


def sw(headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> schemes.Verified:
    return verify(schemes.STANDARD_WEBHOOKS, headers, body, [SW_KEY], now=now, tolerance_s=300)


def test_standard_webhooks_spec_vector() -> None:
    assert schemes.standard_webhooks_sign(SW_KEY, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIGNATURE,
    }
    result = sw(headers, SPEC_BODY, now=SPEC_TS + 10)
    assert result.event_id == SPEC_ID and result.timestamp == SPEC_TS


def test_standard_webhooks_agrees_with_the_maintained_package() -> None:
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    theirs = Webhook(SPEC_SECRET).sign(SPEC_ID, datetime.fromtimestamp(SPEC_TS, UTC), "x.y")
    assert theirs == schemes.standard_webhooks_sign(SW_KEY, SPEC_ID, SPEC_TS, b"x.y")


def test_standard_webhooks_rotation_list_and_other_versions() -> None:
    good = sw_headers()["webhook-signature"]
    other = sw_headers(key=SW_OTHER)["webhook-signature"]
    headers = {**sw_headers(), "webhook-signature": f"v1a,AAAA {other} {good}"}
    assert sw(headers).event_id == "msg_1"
    # two keys configured (rotation): a sender still on the old key is accepted
    rotated = verify(
        schemes.STANDARD_WEBHOOKS, sw_headers(key=SW_OTHER), BODY, [SW_KEY, SW_OTHER], now=NOW
    )
    assert rotated.event_id == "msg_1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-id": "msg_2"}, "bad_signature"),  # replayed with a new id
        ({"webhook-timestamp": str(NOW - 1)}, "bad_signature"),  # ts changed, sig not
        ({"webhook-signature": "v1,not-base64!"}, "bad_signature"),
        ({"webhook-signature": "v1"}, "bad_signature"),
        ({"webhook-signature": "v2,AAAA"}, "bad_signature"),
        ({"webhook-signature": ""}, "missing_signature"),
        ({"webhook-id": "msg é"}, "malformed_header"),
        ({"webhook-id": "msg 1"}, "malformed_header"),
        ({"webhook-timestamp": "\u00b2"}, "malformed_header"),
        ({"webhook-timestamp": "\uff11\uff17\uff16\uff13"}, "malformed_header"),
        ({"webhook-timestamp": "1e9"}, "bad_timestamp"),
        ({"webhook-timestamp": "1763630000.5"}, "bad_timestamp"),
        ({"webhook-timestamp": "-1"}, "bad_timestamp"),
        ({"webhook-timestamp": "9" * 40}, "bad_timestamp"),
    ],
)
def test_standard_webhooks_refusals(change: dict[str, str], reason: str) -> None:
    assert refused(lambda: sw({**sw_headers(), **change})) == reason


def test_standard_webhooks_unicode_digits_are_refused_even_if_signed() -> None:
    ts = "\uff11\uff17\uff16\uff13\uff16\uff13\uff10\uff10\uff10\uff10"  # full-width NOW
    assert int(ts) == NOW  # what int()/float() would accept
    headers = sw_headers(ts=NOW)
    headers["webhook-timestamp"] = ts
    assert refused(lambda: sw(headers)) == "malformed_header"
    sup = sw_headers()
    sup["webhook-timestamp"] = "\u00b2"  # isdigit() is True, int() raises
    assert refused(lambda: sw(sup)) == "malformed_header"


def test_standard_webhooks_stale_future_tampered_and_missing() -> None:
    assert refused(lambda: sw(sw_headers(ts=NOW - 301))) == "stale_timestamp"
    assert refused(lambda: sw(sw_headers(ts=NOW + 301))) == "future_timestamp"
    assert sw(sw_headers(ts=NOW - 300)).timestamp == NOW - 300
    assert refused(lambda: sw(sw_headers(), BODY + b" ")) == "bad_signature"
    assert refused(lambda: sw(sw_headers(key=SW_OTHER))) == "bad_signature"
    assert refused(lambda: sw({})) == "missing_signature"
    assert refused(lambda: sw(sw_headers(), b"\xff\xfe not utf-8")) == "bad_signature"


def test_standard_webhooks_secret_must_be_base64() -> None:
    with pytest.raises(ConfigurationError):
        schemes.keys_for(schemes.STANDARD_WEBHOOKS, ["whsec_not base64!"])


# --- Stripe ---------------------------------------------------------------------------------

STRIPE_SECRET = b"whsec_test_stripe"


def st_verify(header: str, body: bytes = BODY, now: float = NOW) -> schemes.Verified:
    return verify(
        schemes.STRIPE,
        {"stripe-signature": header},
        body,
        [STRIPE_SECRET],
        now=now,
        tolerance_s=300,
    )


def test_stripe_signature_as_stripe_documents_it() -> None:
    # t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>." + body)> (Stripe docs, "verify manually")
    expected = hmac.new(STRIPE_SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert schemes.stripe_sign(STRIPE_SECRET, NOW, BODY) == f"t={NOW},v1={expected}"
    assert st_verify(f"t={NOW},v1={expected}").timestamp == NOW


def test_stripe_rotation_several_v1_and_v0_ignored() -> None:
    good = schemes.stripe_sign(STRIPE_SECRET, NOW, BODY).split(",")[1]
    old = schemes.stripe_sign(b"whsec_old", NOW, BODY).split(",")[1]
    assert st_verify(f"t={NOW},{old},{good},v0=abcd").timestamp == NOW
    both = verify(
        schemes.STRIPE,
        {"stripe-signature": f"t={NOW},{old}"},
        BODY,
        [STRIPE_SECRET, b"whsec_old"],
        now=NOW,
    )
    assert both.timestamp == NOW


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f"t={NOW},v1=" + "0" * 64, "bad_signature"),
        (f"t={NOW}", "bad_signature"),
        (f"t={NOW},v1=ZZ", "bad_signature"),
        ("v1=" + "0" * 64, "bad_timestamp"),
        (f"t={NOW},t={NOW},v1=" + "0" * 64, "bad_timestamp"),
        ("t=\u00b2,v1=" + "0" * 64, "malformed_header"),
        ("t=abc,v1=" + "0" * 64, "bad_timestamp"),
        ("garbage", "bad_timestamp"),
        ("", "missing_signature"),
    ],
)
def test_stripe_refusals(header: str, reason: str) -> None:
    assert refused(lambda: st_verify(header)) == reason


def test_stripe_stale_future_and_tampered() -> None:
    old = schemes.stripe_sign(STRIPE_SECRET, NOW - 301, BODY)
    assert refused(lambda: st_verify(old)) == "stale_timestamp"
    future = schemes.stripe_sign(STRIPE_SECRET, NOW + 301, BODY)
    assert refused(lambda: st_verify(future)) == "future_timestamp"
    good = schemes.stripe_sign(STRIPE_SECRET, NOW, BODY)
    assert refused(lambda: st_verify(good, BODY.replace(b"evt_1", b"evt_2"))) == "bad_signature"
    # the timestamp is part of the signed string: moving it forward breaks the signature
    moved = good.replace(f"t={NOW}", f"t={NOW + 1}")
    assert refused(lambda: st_verify(moved)) == "bad_signature"


# --- GitHub ---------------------------------------------------------------------------------


def gh_headers(signature: str, event: str = "push", delivery: str = "d-1") -> dict[str, str]:
    return {
        "x-hub-signature-256": signature,
        "x-github-event": event,
        "x-github-delivery": delivery,
    }


def gh(headers: dict[str, str], body: bytes = GITHUB_BODY) -> schemes.Verified:
    return verify(schemes.GITHUB, headers, body, [GITHUB_SECRET], now=NOW)


def test_github_published_vector() -> None:
    assert schemes.github_sign(GITHUB_SECRET, GITHUB_BODY) == GITHUB_SIGNATURE
    result = gh(gh_headers(GITHUB_SIGNATURE))
    assert result.event_type == "push" and result.delivery_id == "d-1"
    assert result.event_id is None  # the delivery id is not signed: never a dedup key


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (gh_headers(GITHUB_SIGNATURE), b"Hello, World?", "bad_signature"),
        (gh_headers(GITHUB_SIGNATURE.upper()), GITHUB_BODY, "bad_signature"),
        (gh_headers(GITHUB_SIGNATURE[7:]), GITHUB_BODY, "bad_signature"),  # no sha256= prefix
        (gh_headers("sha1=" + "0" * 40), GITHUB_BODY, "bad_signature"),
        (gh_headers(GITHUB_SIGNATURE + "é"), GITHUB_BODY, "malformed_header"),
        ({}, GITHUB_BODY, "missing_signature"),
        (gh_headers(GITHUB_SIGNATURE, event="Push!"), GITHUB_BODY, "bad_event_type"),
        (gh_headers(GITHUB_SIGNATURE, event=""), GITHUB_BODY, "bad_event_type"),
        (gh_headers(GITHUB_SIGNATURE, delivery="a b"), GITHUB_BODY, "bad_delivery_id"),
        (gh_headers(GITHUB_SIGNATURE, delivery=""), GITHUB_BODY, "bad_delivery_id"),
    ],
)
def test_github_refusals(headers: dict[str, str], body: bytes, reason: str) -> None:
    assert refused(lambda: gh(headers, body)) == reason


def test_github_rotation() -> None:
    signature = schemes.github_sign(b"new secret", GITHUB_BODY)
    result = verify(
        schemes.GITHUB, gh_headers(signature), GITHUB_BODY, [GITHUB_SECRET, b"new secret"], now=NOW
    )
    assert result.event_type == "push"


# --- Shopify --------------------------------------------------------------------------------

SHOPIFY_SECRET = b"shpss_local"


def sh_headers(body: bytes = BODY, secret: bytes = SHOPIFY_SECRET) -> dict[str, str]:
    return {
        "x-shopify-hmac-sha256": schemes.shopify_sign(secret, body),
        "x-shopify-topic": "orders/create",
        "x-shopify-webhook-id": "w-1",
        "x-shopify-event-id": "e-1",
    }


def sh(headers: dict[str, str], body: bytes = BODY) -> schemes.Verified:
    return verify(schemes.SHOPIFY, headers, body, [SHOPIFY_SECRET], now=NOW)


def test_shopify_base64_hmac_of_the_body() -> None:
    expected = base64.b64encode(hmac.new(SHOPIFY_SECRET, BODY, hashlib.sha256).digest()).decode()
    assert schemes.shopify_sign(SHOPIFY_SECRET, BODY) == expected
    result = sh(sh_headers())
    assert result.event_type == "orders/create" and result.delivery_id == "e-1"


@pytest.mark.parametrize(
    ("change", "body", "reason"),
    [
        ({}, BODY + b"\n", "bad_signature"),
        ({"x-shopify-hmac-sha256": "not base64"}, BODY, "bad_signature"),
        ({"x-shopify-hmac-sha256": base64.b64encode(b"short").decode()}, BODY, "bad_signature"),
        (  # hex instead of base64 (a common sender mistake)
            {"x-shopify-hmac-sha256": hmac.new(SHOPIFY_SECRET, BODY, hashlib.sha256).hexdigest()},
            BODY,
            "bad_signature",
        ),
        ({"x-shopify-topic": "orders"}, BODY, "bad_event_type"),
        ({"x-shopify-topic": "ördérs/create"}, BODY, "malformed_header"),
        ({"x-shopify-hmac-sha256": ""}, BODY, "missing_signature"),
        ({"x-shopify-webhook-id": "", "x-shopify-event-id": ""}, BODY, "bad_delivery_id"),
    ],
)
def test_shopify_refusals(change: dict[str, str], body: bytes, reason: str) -> None:
    assert refused(lambda: sh({**sh_headers(), **change}, body)) == reason


def test_no_secret_is_503_and_unknown_scheme_is_configuration_error() -> None:
    with pytest.raises(Refused) as info:
        verify(schemes.GITHUB, gh_headers(GITHUB_SIGNATURE), GITHUB_BODY, [], now=NOW)
    assert info.value.status == 503
    with pytest.raises(ConfigurationError):
        schemes.keys_for("internal_v0", ["x"])
