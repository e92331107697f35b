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
from shared.webhooks.rows import PLATFORM_EVENTS, RAW
from shared.webhooks.sources import SOURCES

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
    body, attrs = samples.load("stripe_charge_succeeded")
    first = route(message(body, attrs, "m1"), NOW)
    resent = json.dumps(dict(reversed(list(json.loads(body).items())))).encode()
    second = route(message(resent, attrs, "m2"), NOW)
    assert first.event_key == second.event_key
    assert first.rows["platform_events"][0][0] == second.rows["platform_events"][0][0]


def test_content_hash_when_no_event_id() -> None:
    body, attrs = samples.load("shopify_order_created")
    attrs.pop("delivery_id")
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
    {"source": st.sampled_from([*sorted(SOURCES), "crm", "", "X!"])},
    optional={
        "event_type": st.sampled_from(
            [
                "orders/create",
                "refunds/create",
                "charge.succeeded",
                "campaign.metrics.daily",
                "audience.insights",
                "campaign.status_changed",
                "push",
                "pull_request",
                "issues",
                "insights.campaign_daily",
                "insights.audience_daily",
                "x" * 200,
                "",
            ]
        ),
        "event_id": st.text(max_size=50),
        "delivery_id": st.text(max_size=50),
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


def test_same_body_different_topic_are_two_events() -> None:
    """Shopify orders/create and orders/paid of one order, same body, no id: both kept."""
    created_body, created = samples.load("shopify_order_created")
    paid_body, paid = samples.load("shopify_orders_paid_same_body")
    assert created_body == paid_body
    created.pop("delivery_id")
    paid.pop("delivery_id")
    first = route(message(created_body, created), NOW)
    second = route(message(paid_body, paid), NOW)
    assert first.event_key != second.event_key
    assert first.rows[PLATFORM_EVENTS][0][0] != second.rows[PLATFORM_EVENTS][0][0]


def test_unsigned_delivery_id_is_recorded_but_never_the_key() -> None:
    """A captured GitHub request replayed with a new X-GitHub-Delivery is the same event."""
    body, attrs = samples.load("github_push")
    first = route(message(body, attrs), NOW)
    replayed = route(message(body, {**attrs, "delivery_id": "forged-1"}, "m2"), NOW)
    assert first.event_key == replayed.event_key
    assert first.rows[RAW][0][1]["provider_event_id"] == attrs["delivery_id"]


def test_signed_event_id_is_the_key() -> None:
    body, attrs = samples.load("meta_ads_campaign_daily")
    first = route(message(body, attrs), NOW)
    other = route(message(body, {**attrs, "event_id": "msg_other"}), NOW)
    assert first.event_key != other.event_key  # a new signed id is a new delivery of record


@pytest.mark.parametrize(
    ("name", "event_type"),
    [
        ("github_push", "pull_request"),
        ("github_pull_request_opened", "issues"),
        ("github_pull_request_opened", "push"),
        ("shopify_refund_created", "orders/create"),
        ("shopify_order_created", "refunds/create"),
    ],
)
def test_unsigned_type_header_changed_is_dead_lettered(name: str, event_type: str) -> None:
    body, attrs = samples.load(name)
    with pytest.raises(PermanentError) as info:
        route(message(body, {**attrs, "event_type": event_type}), NOW)
    assert info.value.reason == "invalid_payload"


def test_typed_rows_of_each_sender() -> None:
    rows = route(message(*samples.load("github_pull_request_opened")), NOW).rows
    event = rows[PLATFORM_EVENTS][0][1]
    assert event["event_type"] == "pull_request.opened" and event["account_id"] == "octo-org"
    rows = route(message(*samples.load("meta_ads_campaign_daily")), NOW).rows
    metrics = sorted((r for _, r in rows["campaign_metrics"]), key=lambda r: r["campaign_id"])
    assert [m["spend"] for m in metrics] == ["152.34", "41.1"]
    assert metrics[0]["conversions"] == "12" and metrics[0]["revenue"] == "980"
    rows = route(message(*samples.load("meta_ads_audience_daily")), NOW).rows
    dims = {r["dimension_value"]: r["value"] for _, r in rows["audience_insights"]}
    assert dims == {"25-34+female": 5200.0, "25-34+male": 3900.0}
    rows = route(message(*samples.load("stripe_checkout_session_completed")), NOW).rows
    assert rows[PLATFORM_EVENTS][0][1]["amount"] == "45"


def test_legacy_source_names_route_like_the_new_ones() -> None:
    body, attrs = samples.load("stripe_charge_succeeded")
    legacy = route(message(body, {**attrs, "source": "payments"}), NOW)
    assert legacy.mapping_status == "mapped"


class _FailingSink:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def write(self, rows: Any) -> None:
        raise self.exc


@pytest.mark.parametrize(
    ("dead_lettered", "exc", "expected"),
    [
        (False, RuntimeError("bug"), RuntimeError),  # retried until the dead-letter topic
        (True, RuntimeError("bug"), PermanentError),  # then recorded, never dropped
        (True, ConnectionError("BigQuery down"), ConnectionError),  # transient: retried
    ],
)
def test_messages_forwarded_by_the_dead_letter_policy_become_dead_letters(
    dead_lettered: bool, exc: Exception, expected: type[Exception]
) -> None:
    from shared.webhooks.ingest import DEAD_LETTER_SOURCE, ingest

    body, attrs = samples.load("stripe_charge_succeeded")
    if dead_lettered:
        attrs[DEAD_LETTER_SOURCE] = "projects/p/subscriptions/webhook-events-ingest"
    with pytest.raises(expected) as info:
        ingest(message(body, attrs), _FailingSink(exc), NOW)  # type: ignore[arg-type]
    if expected is PermanentError:
        assert info.value.reason == "delivery_attempts_exhausted"  # type: ignore[attr-defined]


def test_unicode_digit_counts_are_validation_errors() -> None:
    with pytest.raises(n.ValidationError):
        n.count("\u00b2", "clicks")  # isdigit() is True, int() would raise
    assert n.count("42", "clicks") == 42
