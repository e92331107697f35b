"""Native signature verification of each webhook sender, as the provider documents it.

===================  ======================================================================
scheme               what is signed, and where the event id / type come from
===================  ======================================================================
``standard_webhooks`` Standard Webhooks (what Svix sends; also our own internal senders):
                     ``webhook-signature: v1,<base64 HMAC-SHA256(key, id.timestamp.body)>``
                     (space-separated list), ``webhook-id`` and ``webhook-timestamp`` signed,
                     ``whsec_<base64 key>`` secrets. Type: the body's ``type`` (signed).
``stripe``           ``Stripe-Signature: t=<ts>,v1=<hex HMAC(secret, t.body)>[,v1=...]``;
                     id and type in the signed body.
``github``           ``X-Hub-Signature-256: sha256=<hex HMAC(secret, body)>``; type
                     ``X-GitHub-Event``, delivery ``X-GitHub-Delivery`` (both NOT signed).
``shopify``          ``X-Shopify-Hmac-Sha256: <base64 HMAC(secret, body)>``; topic
                     ``X-Shopify-Topic``, ids ``X-Shopify-Event-Id`` / ``X-Shopify-Webhook-Id``
                     (NOT signed).
===================  ======================================================================

The project's former ``X-Webhook-Signature: v1=`` scheme is replaced by Standard Webhooks:
it signed neither the event id nor the type, and a published spec with maintained libraries
in every language is easier for an internal sender to get right than a home-made one.

Why not the ``standardwebhooks`` package at run time: version 1.1.0 raises ``ValueError`` /
``binascii.Error`` / ``UnicodeDecodeError`` (HTTP 500) on a signature without a comma, bad
base64 or a non-UTF-8 body; it parses the timestamp with ``float()``, so full-width digits
(U+FF11...), ``"1e9"`` and fractions pass and the signed string differs from the header sent;
its tolerance is a fixed 5 minutes on the wall clock (untestable). The spec is 20 lines; the
unit tests check this module against the spec's published vector and against the package.

Every comparison is constant time (:func:`hmac.compare_digest`), every candidate signature is
compared with every key (rotation: several secrets valid at once), and every parse refuses
non-ASCII or malformed input with a :class:`Refused` reason instead of raising anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shared.errors import ConfigurationError, PipelineError

STANDARD_WEBHOOKS = "standard_webhooks"
STRIPE = "stripe"
GITHUB = "github"
SHOPIFY = "shopify"

MAX_CANDIDATES = 10
"""Signatures compared per request at most (a rotation needs two; a flood gets no more work)."""

_DIGITS = re.compile(r"[0-9]{1,12}")  # ASCII only: `\d` / str.isdigit() accept "²" (U+00B2)
_TOKEN = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII, no spaces
_HEX64 = re.compile(r"[0-9a-f]{64}")
_GITHUB_EVENT = re.compile(r"[a-z_]{1,64}")
_SHOPIFY_TOPIC = re.compile(r"[a-z_]{1,50}/[a-z_]{1,50}")


class Refused(PipelineError):  # noqa: N818 - reads as the outcome (HTTP 401 / 400)
    """The request is not authentic, not fresh or malformed; ``reason`` is logged and answered.

    ``status`` is 401 for authentication failures and 400 for a verified request whose
    routing headers are malformed. Never carries the secret or the body.
    """

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified request tells about its event.

    ``event_id`` only when the sender signs it (it may become the dedup key); ``delivery_id``
    when the sender sends an unsigned one (recorded, never trusted as a key).
    """

    event_id: str | None = None
    event_type: str | None = None
    delivery_id: str | None = None
    timestamp: int | None = None


Verifier = Callable[[Mapping[str, str], bytes, Sequence[bytes], float, int], Verified]
"""(lower-cased headers, body, keys, now, tolerance_s) -> Verified, or raise Refused."""


def _header(headers: Mapping[str, str], name: str, *, required: bool = True) -> str | None:
    value = headers.get(name)
    if value is None or value == "":
        if required:
            raise Refused("missing_signature")
        return None
    if not value.isascii():
        raise Refused("malformed_header")
    return value.strip()


def _timestamp(raw: str, now: float, tolerance_s: int) -> int:
    if not _DIGITS.fullmatch(raw):
        raise Refused("bad_timestamp")
    value = int(raw)
    if value < now - tolerance_s:
        raise Refused("stale_timestamp")
    if value > now + tolerance_s:
        raise Refused("future_timestamp")
    return value


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _any_match(candidates: Sequence[bytes], keys: Sequence[bytes], message: bytes) -> bool:
    """Compare every candidate with every key's MAC (no early exit on a match)."""
    matched = False
    for key in keys:
        expected = _mac(key, message)
        for candidate in candidates[:MAX_CANDIDATES]:
            matched |= hmac.compare_digest(candidate, expected)
    return matched


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- Standard Webhooks -------------------------------------------------------------------


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64, prefix optional)."""
    raw = secret.removeprefix("whsec_")
    key = _b64(raw)
    if not key:
        raise ConfigurationError("a standard_webhooks secret must be whsec_<base64>")
    return key


def standard_webhooks_sign(key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` value a sender puts on ``body`` (one ``v1,`` entry)."""
    mac = _mac(key, f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(mac).decode()


def verify_standard_webhooks(
    headers: Mapping[str, str], body: bytes, keys: Sequence[bytes], now: float, tolerance_s: int
) -> Verified:
    msg_id = _header(headers, "webhook-id")
    raw_ts = _header(headers, "webhook-timestamp")
    signature = _header(headers, "webhook-signature")
    assert msg_id is not None and raw_ts is not None and signature is not None
    if not _TOKEN.fullmatch(msg_id):
        raise Refused("malformed_header")
    timestamp = _timestamp(raw_ts, now, tolerance_s)
    candidates = []
    for entry in signature.split(" ")[:MAX_CANDIDATES]:
        version, _, value = entry.partition(",")
        decoded = _b64(value) if version == "v1" else None
        if decoded is not None:
            candidates.append(decoded)
    if not candidates:
        raise Refused("bad_signature")
    if not _any_match(candidates, keys, f"{msg_id}.{raw_ts}.".encode() + body):
        raise Refused("bad_signature")
    return Verified(event_id=msg_id, timestamp=timestamp)


# --- Stripe --------------------------------------------------------------------------------


def stripe_sign(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """A ``Stripe-Signature`` value as Stripe builds it."""
    return f"t={timestamp},v1={_mac(secret, f'{timestamp}.'.encode() + body).hex()}"


def verify_stripe(
    headers: Mapping[str, str], body: bytes, keys: Sequence[bytes], now: float, tolerance_s: int
) -> Verified:
    header = _header(headers, "stripe-signature")
    assert header is not None
    stamps: list[str] = []
    candidates: list[bytes] = []
    for item in header.split(",")[: MAX_CANDIDATES * 2]:
        name, _, value = item.strip().partition("=")
        if name == "t":
            stamps.append(value)
        elif name == "v1" and _HEX64.fullmatch(value):
            candidates.append(bytes.fromhex(value))
    if len(stamps) != 1:
        raise Refused("bad_timestamp")
    timestamp = _timestamp(stamps[0], now, tolerance_s)
    if not candidates:
        raise Refused("bad_signature")
    if not _any_match(candidates, keys, f"{stamps[0]}.".encode() + body):
        raise Refused("bad_signature")
    return Verified(timestamp=timestamp)


# --- GitHub --------------------------------------------------------------------------------


def github_sign(secret: bytes, body: bytes) -> str:
    """An ``X-Hub-Signature-256`` value as GitHub builds it."""
    return "sha256=" + _mac(secret, body).hex()


def verify_github(
    headers: Mapping[str, str], body: bytes, keys: Sequence[bytes], now: float, tolerance_s: int
) -> Verified:
    header = _header(headers, "x-hub-signature-256")
    assert header is not None
    value = header.removeprefix("sha256=")
    if value == header or not _HEX64.fullmatch(value):
        raise Refused("bad_signature")
    if not _any_match([bytes.fromhex(value)], keys, body):
        raise Refused("bad_signature")
    event = _header(headers, "x-github-event", required=False)
    if event is None or not _GITHUB_EVENT.fullmatch(event):
        raise Refused("bad_event_type", 400)
    delivery = _header(headers, "x-github-delivery", required=False)
    if delivery is None or not _TOKEN.fullmatch(delivery):  # the replay guard needs it
        raise Refused("bad_delivery_id", 400)
    return Verified(event_type=event, delivery_id=delivery)


# --- Shopify -------------------------------------------------------------------------------


def shopify_sign(secret: bytes, body: bytes) -> str:
    """An ``X-Shopify-Hmac-Sha256`` value as Shopify builds it."""
    return base64.b64encode(_mac(secret, body)).decode()


def verify_shopify(
    headers: Mapping[str, str], body: bytes, keys: Sequence[bytes], now: float, tolerance_s: int
) -> Verified:
    header = _header(headers, "x-shopify-hmac-sha256")
    assert header is not None
    candidate = _b64(header)
    if candidate is None or len(candidate) != hashlib.sha256().digest_size:
        raise Refused("bad_signature")
    if not _any_match([candidate], keys, body):
        raise Refused("bad_signature")
    topic = _header(headers, "x-shopify-topic", required=False)
    if topic is None or not _SHOPIFY_TOPIC.fullmatch(topic):
        raise Refused("bad_event_type", 400)
    delivery = _header(headers, "x-shopify-event-id", required=False) or _header(
        headers, "x-shopify-webhook-id", required=False
    )
    if delivery is None or not _TOKEN.fullmatch(delivery):  # the replay guard needs it
        raise Refused("bad_delivery_id", 400)
    return Verified(event_type=topic, delivery_id=delivery)


VERIFIERS: dict[str, Verifier] = {
    STANDARD_WEBHOOKS: verify_standard_webhooks,
    STRIPE: verify_stripe,
    GITHUB: verify_github,
    SHOPIFY: verify_shopify,
}


def keys_for(scheme: str, secrets: Sequence[str]) -> tuple[bytes, ...]:
    """HMAC keys from secret values (Standard Webhooks decodes ``whsec_`` base64)."""
    if scheme not in VERIFIERS:
        raise ConfigurationError(f"unknown webhook signature scheme {scheme!r}")
    if scheme == STANDARD_WEBHOOKS:
        return tuple(standard_webhooks_key(s) for s in secrets)
    return tuple(s.encode() for s in secrets)


def verify(
    scheme: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[bytes],
    *,
    now: float,
    tolerance_s: int = 300,
) -> Verified:
    """Verify one request (``headers`` with lower-case names); raise :class:`Refused`."""
    if not keys:
        raise Refused("no_secret", 503)
    return VERIFIERS[scheme](headers, body, keys, now, tolerance_s)
