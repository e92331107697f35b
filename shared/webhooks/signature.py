"""HMAC-SHA256 request signatures of the receiver.

Headers: ``X-Webhook-Timestamp: <unix seconds>`` and
``X-Webhook-Signature: v1=<hex hmac_sha256(secret, timestamp + "." + raw body)>``.
Several ``v1=`` values separated by commas are accepted (secret rotation on the sender side).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"
SCHEME = "v1"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The header value a sender puts in ``X-Webhook-Signature``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: int = 300,
) -> str | None:
    """None when the request is authentic and fresh; else the reason it is refused."""
    if not timestamp_header or not signature_header:
        return "missing_signature"
    if not timestamp_header.isdigit() or len(timestamp_header) > 12:
        return "bad_timestamp"
    if abs(now - int(timestamp_header)) > tolerance_s:
        return "stale_timestamp"
    expected = sign(secret, timestamp_header, body)
    matched = False
    for candidate in signature_header.split(",")[:5]:
        # compare every candidate (constant time each) so timing does not reveal which matched
        matched |= hmac.compare_digest(candidate.strip().encode(), expected.encode())
    return None if matched else "bad_signature"
