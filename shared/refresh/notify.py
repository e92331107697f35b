"""Run notifications: signed JSON webhooks (Slack-compatible ``text``) and ``refresh-events``.

Signature: header ``X-Refresh-Signature: sha256=<hex>`` = HMAC-SHA256(secret,
``<X-Refresh-Timestamp>.<raw body>``); receivers recompute it and compare in constant time.

Outbound rules (the URLs often carry tokens and come from Secret Manager): HTTPS only outside
``APP_ENV=local`` (local may also use ``http``), never another scheme, never a redirect (a 3xx
is the receiver's answer, not an invitation to send the signed body elsewhere), and never an
empty signing key. :func:`url_problem` is also checked at start-up (RefreshSettings).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from shared.errors import ConfigurationError, TransientError
from shared.retry import RetryPolicy, call_with_retry

logger = logging.getLogger("shared.refresh.notify")
NOTIFY_RETRY = RetryPolicy(attempts=4, initial_s=0.5, maximum_s=5.0, deadline_s=30.0)
TOPIC = "refresh-events"


def url_problem(url: str, *, local: bool) -> str | None:
    """Why ``url`` may not receive notifications (None when it may); never echoes the URL."""
    parts = urllib.parse.urlsplit(url)
    allowed = ("https", "http") if local else ("https",)
    if parts.scheme not in allowed:
        shown = parts.scheme or "no scheme"
        return f"notification URLs must use {' or '.join(allowed)} (got {shown})"
    if not parts.hostname:
        return "notification URL has no host"
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Answer 3xx as the final status instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    if not secret:
        raise ConfigurationError("REFRESH_NOTIFY_SECRET is empty: refusing to sign with no key")
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def message(summary: dict[str, Any]) -> dict[str, Any]:
    tables = summary.get("tables", {})
    counts: dict[str, int] = {}
    for item in tables.values():
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    failed = [n for n, t in tables.items() if t["status"] in ("failed", "locked")]
    text = f"Refresh {summary['run_id']} {summary['status']}: {parts or 'no tables'}"
    if failed:
        text += f". Failed: {', '.join(sorted(failed))}"
    return {"text": text, **summary}


def post(
    url: str, body: bytes, secret: str, timeout_s: float = 10.0, *, local: bool = False
) -> int:
    """POST the signed body once per attempt; the HTTP status (3xx included: not followed)."""
    problem = url_problem(url, local=local)
    if problem:
        raise ConfigurationError(problem)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - URLs come from configuration
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Refresh-Timestamp": timestamp,
            "X-Refresh-Signature": sign(secret, timestamp, body),
        },
    )

    def once() -> int:
        try:
            with _OPENER.open(request, timeout=timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise TransientError(f"webhook answered {exc.code}") from exc
            return int(exc.code)
        except (urllib.error.URLError, TimeoutError) as exc:
            raise TransientError(f"webhook unreachable: {exc}") from exc

    return call_with_retry(once, NOTIFY_RETRY)


def notify(
    summary: dict[str, Any],
    urls: Sequence[str],
    secret: str,
    publish: Callable[[bytes, dict[str, str]], None] | None,
    *,
    local: bool = False,
) -> dict[str, Any]:
    """Send to every URL (failures logged, never raised) and publish to refresh-events."""
    body = json.dumps(message(summary), sort_keys=True, default=str).encode()
    delivered: dict[str, Any] = {}
    for index, url in enumerate(urls):
        try:
            delivered[url] = post(url, body, secret, local=local)
        except Exception as exc:
            # the URL may carry a token: log its position, never the URL itself
            logger.warning("notification to webhook #%d failed: %s", index, exc)
            delivered[url] = str(exc)
            continue
        if 300 <= delivered[url] < 400:
            logger.warning("notification webhook #%d answered a redirect: not followed", index)
    if publish is not None:
        publish(body, {"run_id": str(summary["run_id"]), "status": str(summary["status"])})
    return delivered
