"""Routing, normalization and the never-crash property (no emulators)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import PermanentError
from shared.events import PubSubMessage
from shared.webhooks import normalize as n
from shared.webhooks import samples
from shared.webhooks.ingest import route
from shared.webhooks.rows import RAW
from shared.webhooks.signature import sign, verify

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def message(data: bytes, attributes: dict[str, str], message_id: str = "m1") -> PubSubMessage:
    return PubSubMessage("e1", message_id, "webhook-events", None, data, attributes, NOW, None)


@pytest.mark.parametrize("name", samples.names())
def test_every_sample_routes(name: str) -> None:
    body, attrs = samples.load(name)
    routed = route(message(body, attrs), NOW)
    assert RAW in routed.rows
    expected = "unknown_event_type" if "unknown" in name else "mapped"
    assert routed.mapping_status == expected


def test_event_key_ignores_message_id_and_key_order() -> None:
    body, attrs = samples.load("payments_charge_succeeded")
    first = route(message(body, attrs, "m1"), NOW)
    resent = json.dumps(dict(reversed(list(json.loads(body).items())))).encode()
    second = route(message(resent, attrs, "m2"), NOW)
    assert first.event_key == second.event_key
    assert first.rows["platform_events"][0][0] == second.rows["platform_events"][0][0]


def test_content_hash_when_no_event_id() -> None:
    body, attrs = samples.load("shop_order_created")
    attrs.pop("event_id")
    assert (
        route(message(body, attrs), NOW).event_key
        == route(message(body, attrs, "m9"), NOW).event_key
    )


def test_money_normalization() -> None:
    assert n.minor_units(1999, "USD", "x") == Decimal("19.99")
    assert n.minor_units(1500, "JPY", "x") == Decimal(1500)
    assert n.minor_units(1234, "KWD", "x") == Decimal("1.234")
    assert n.micros(152340000, "x") == Decimal("152.34")
    with pytest.raises(n.ValidationError):
        n.amount("NaN", "x")


def test_timestamps_are_utc_and_naive_refused() -> None:
    assert n.timestamp("2026-11-20T10:15:00-05:00", "t").isoformat() == "2026-11-20T15:15:00+00:00"
    with pytest.raises(n.ValidationError):
        n.timestamp("2026-11-20T10:15:00", "t")
    with pytest.raises(n.ValidationError):
        n.timestamp("1999-01-01T00:00:00Z", "t")


@pytest.mark.parametrize(
    ("data", "attrs", "reason"),
    [
        (b"\xff\xfe", {"source": "shop"}, "invalid_json"),
        (b"[1, 2]", {"source": "shop"}, "invalid_payload"),
        (b'{"a": NaN}', {"source": "shop"}, "invalid_json"),
        (b'{"a": 1e999999}', {"source": "shop"}, "invalid_json"),
        (b'{"a": "\\ud800"}', {"source": "shop"}, "invalid_json"),
        (b'{"a": 99999999999999999999999}', {"source": "shop"}, "invalid_json"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, {"source": "shop"}, "invalid_json"),
        (b"{}", {}, "invalid_attributes"),
        (b"{}", {"source": "Bad Source!"}, "invalid_attributes"),
        (b" " * (1024 * 1024 + 1), {"source": "shop"}, "oversize"),
        (b'{"id": 1}', {"source": "shop", "event_type": "orders/create"}, "invalid_payload"),
    ],
)
def test_permanent_errors(data: bytes, attrs: dict[str, str], reason: str) -> None:
    with pytest.raises(PermanentError) as info:
        route(message(data, attrs), NOW)
    assert info.value.reason == reason


def _lands(data: bytes, attrs: dict[str, str]) -> None:
    """The property: a message either routes (and has a raw row) or is a PermanentError."""
    try:
        routed = route(message(data, attrs), NOW)
    except PermanentError:
        return
    assert len(routed.rows[RAW]) == 1
    for rows in routed.rows.values():
        json.dumps([r for _, r in rows])  # every row serializes for insertAll


_attrs = st.fixed_dictionaries(
    {"source": st.sampled_from(["shop", "payments", "adplatform", "crm", "", "X!"])},
    optional={
        "event_type": st.sampled_from(
            [
                "orders/create",
                "refunds/create",
                "charge.succeeded",
                "campaign.metrics.daily",
                "audience.insights",
                "campaign.status_changed",
                "x" * 200,
                "",
            ]
        ),
        "event_id": st.text(max_size=50),
    },
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), _attrs)
def test_random_bytes_never_crash(data: bytes, attrs: dict[str, str]) -> None:
    _lands(data, attrs)


@settings(max_examples=200, deadline=None)
@given(_json, _attrs)
def test_random_json_never_crashes(value: Any, attrs: dict[str, str]) -> None:
    _lands(json.dumps(value).encode(), attrs)


def _mutate(value: Any, draw: Any) -> Any:
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        choice = draw(st.integers(0, 2))
        copy = dict(value)
        if choice == 0:
            del copy[key]
        elif choice == 1:
            copy[key] = draw(_json)
        else:
            copy[key] = _mutate(copy[key], draw)
        return copy
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        return [_mutate(v, draw) if i == index else v for i, v in enumerate(value)]
    return draw(_json)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(samples.names()), st.data())
def test_near_valid_payloads_never_crash(name: str, data: st.DataObject) -> None:
    body, attrs = samples.load(name)
    mutated = _mutate(json.loads(body), data.draw)
    _lands(json.dumps(mutated).encode(), attrs)


def test_signature_roundtrip_and_refusals() -> None:
    body = b'{"a": 1}'
    good = sign("s3cret", 1000, body)
    assert verify("s3cret", "1000", good, body, now=1100) is None
    assert verify("s3cret", "1000", f"v1=00,{good}", body, now=1100) is None
    assert verify("s3cret", "1000", good, body + b" ", now=1100) == "bad_signature"
    assert verify("other", "1000", good, body, now=1100) == "bad_signature"
    assert verify("s3cret", "1000", good, body, now=1000 + 301) == "stale_timestamp"
    assert verify("s3cret", None, good, body, now=1000) == "missing_signature"
    assert verify("s3cret", "abc", good, body, now=1000) == "bad_timestamp"
