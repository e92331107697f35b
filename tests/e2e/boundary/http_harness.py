"""HTTP-API boundary harness (quota-api, refresh-api, webhook-receiver): any method, any path,
any headers, the answer kept, so a test can check what a 2xx promised against the stores.

:mod:`tests.e2e.boundary.harness` (owned by the event-function property tests) posts CloudEvents
to one URL; this module sends arbitrary requests. Same rules: a batch is sent concurrently, a
5xx is re-sent the way a client/platform retries (at most ``RESENDS`` times), and a 5xx that a
retry does not cure fails the test (outcome (d) is only for transient failures).
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import strategies as st

from devstack.stack import LocalStack
from tests.e2e.boundary.harness import send_concurrently

API_MAX_BODY_BYTES = 64 * 1024


@dataclass
class Call:
    """One generated HTTP request, what it was meant to test, and what became of it."""

    method: str
    path: str
    headers: dict[str, str | bytes]
    body: bytes
    meta: dict[str, Any] = field(default_factory=dict)
    chunked: bool = False
    statuses: list[int] = field(default_factory=list)
    answer: bytes = b""

    @property
    def final(self) -> int:
        return self.statuses[-1]

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.answer)
        except ValueError:
            return None

    def describe(self) -> str:
        return (
            f"{self.method} {self.path} -> {self.statuses} meta={self.meta} "
            f"headers={self.headers} body={self.body[:200]!r} answer={self.answer[:300]!r}"
        )


def _chunks(body: bytes) -> Iterator[bytes]:
    for i in range(0, len(body), 8192):
        yield body[i : i + 8192]


def send_all(base_url: str, calls: list[Call], workers: int = 8) -> None:
    """Send every call concurrently; re-send a 5xx (or a dropped connection) like a retrying
    client, at most RESENDS times; keep every status and the last answer."""

    def once(session: requests.Session, call: Call) -> int:
        answer = session.request(
            call.method,
            base_url + call.path,
            data=_chunks(call.body) if call.chunked else call.body,
            headers=call.headers,
            timeout=120,
            allow_redirects=False,
        )
        call.answer = answer.content
        return answer.status_code

    send_concurrently(calls, once, workers)


def assert_no_uncured_5xx(calls: Iterable[Call]) -> None:
    bad = [c.describe() for c in calls if c.final >= 500]
    assert not bad, "5xx that a retry did not cure:\n" + "\n".join(bad[:10])


def tally(calls: Iterable[Call], into: dict[str, int]) -> None:
    for call in calls:
        key = f"{call.final // 100}xx" if call.final != 599 else "dropped"
        into[key] = into.get(key, 0) + 1
        if len(call.statuses) > 1:
            into["5xx_then_ok"] = into.get("5xx_then_ok", 0) + 1


# ---------------------------------------------------------------- strategies shared by tests
UNICODE_DIGITS = ("\u0661\u0662", "\uff11\uff12", "\u00b2", "\u0967", "\u2463", "\U0001d7d9")
"""Arabic-Indic, fullwidth, superscript, Devanagari, circled, mathematical: str.isdigit() is
True for several of them, int() accepts some; a numeric field must still refuse all."""

unicode_digits = st.sampled_from(UNICODE_DIGITS)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    unicode_digits,
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/cloudevents+json",
        "application/octet-stream",
        "",
    ]
)
DEEP = b"[" * 30_000 + b"]" * 30_000
"""60 KB (under the APIs' 64 KiB limit) nested past Python's recursion limit: json.loads raises
RecursionError, which is not a ValueError."""
junk_bodies = st.one_of(
    st.binary(max_size=64),
    st.just(b"{"),
    st.just(b"null"),
    st.just(b"[]"),
    st.just(b'"text"'),
    st.just(b"\xff\xfe{}"),
    st.just(b"NaN"),
    st.just(b'{"a": 1e400}'),
    st.just(DEEP),
)
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "PATCH", "DELETE", "OPTIONS"])


def oversize(limit: int = API_MAX_BODY_BYTES) -> bytes:
    """A JSON object just over ``limit`` bytes."""
    return b'{"pad": "' + b"x" * (limit - 10) + b'"}'


def unknown_key() -> str:
    """Shaped like a real key (``pk_<id>_<secret>``) but never issued."""
    return f"pk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


def malformed_authorizations(valid: str) -> list[str | bytes]:
    """Authorization values that must all be 401: wrong scheme, empty, truncated, padded with
    unicode, a valid key in the wrong place."""
    return [
        "Bearer",
        "Bearer ",
        f"Basic {valid}",
        f"Token {valid}",
        f"Bearer {valid[:-1]}",
        f"Bearer {valid}x",
        f"Bearer pk_{'x' * 300}",
        f"Bearer {valid}\u00b2",
        f"Bearer {valid[:10]}\uff11{valid[11:]}".encode(),
        "Bearer pk__",
        valid,  # no scheme at all
    ]


@contextlib.contextmanager
def temporary_subscription(stack: LocalStack, topic: str, prefix: str) -> Iterator[str]:
    """A pull subscription of the test's own on ``topic`` (what the function published)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    path = f"projects/{stack.project}/subscriptions/{name}"
    topic_path = f"projects/{stack.project}/topics/{topic}"
    stack.subscriber().create_subscription(name=path, topic=topic_path)
    try:
        yield name
    finally:
        stack.subscriber().delete_subscription(subscription=path)
