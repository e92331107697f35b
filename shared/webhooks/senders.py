"""Build a request exactly as each provider sends it (headers + signature) for a sample body.

Used by the ``make run`` demo, the tests and the bench; also a reference for an internal
sender (Standard Webhooks). The receiver never imports this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from shared.webhooks import contract as c
from shared.webhooks import schemes


def _first_secret(secret_value: str) -> str:
    return secret_value.split(maxsplit=1)[0]


def default_message_id(body: bytes) -> str:
    """A stable Standard Webhooks ``webhook-id`` for a body: the body's ``id`` or its hash."""
    try:
        found = json.loads(body).get("id")
    except (ValueError, AttributeError, RecursionError):
        found = None
    if isinstance(found, str) and found:
        return found
    return "msg_" + hashlib.sha256(body).hexdigest()[:24]


def signed_headers(
    scheme: str,
    secret_value: str,
    body: bytes,
    attributes: Mapping[str, str] | None = None,
    *,
    now: int,
) -> dict[str, str]:
    """The headers the sender of ``scheme`` puts on ``body`` (first secret of the value)."""
    attrs = attributes or {}
    secret = _first_secret(secret_value)
    headers = {"Content-Type": "application/json"}
    if scheme == schemes.STANDARD_WEBHOOKS:
        msg_id = attrs.get(c.ATTR_EVENT_ID) or default_message_id(body)
        key = schemes.standard_webhooks_key(secret)
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = str(now)
        headers["webhook-signature"] = schemes.standard_webhooks_sign(key, msg_id, now, body)
    elif scheme == schemes.STRIPE:
        headers["Stripe-Signature"] = schemes.stripe_sign(secret.encode(), now, body)
    elif scheme == schemes.GITHUB:
        headers["X-Hub-Signature-256"] = schemes.github_sign(secret.encode(), body)
        headers["X-GitHub-Event"] = attrs.get(c.ATTR_EVENT_TYPE, "push")
        headers["X-GitHub-Delivery"] = (
            attrs.get(c.ATTR_DELIVERY_ID) or hashlib.sha256(body).hexdigest()[:32]
        )
        headers["User-Agent"] = "GitHub-Hookshot/local"
    elif scheme == schemes.SHOPIFY:
        delivery = attrs.get(c.ATTR_DELIVERY_ID) or hashlib.sha256(body).hexdigest()[:32]
        headers["X-Shopify-Hmac-Sha256"] = schemes.shopify_sign(secret.encode(), body)
        headers["X-Shopify-Topic"] = attrs.get(c.ATTR_EVENT_TYPE, "orders/create")
        headers["X-Shopify-Webhook-Id"] = delivery
        headers["X-Shopify-Event-Id"] = delivery
        headers["X-Shopify-Shop-Domain"] = "acme.myshopify.com"
        headers["X-Shopify-API-Version"] = "2025-10"
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return headers
