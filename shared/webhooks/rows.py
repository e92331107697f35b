"""Typed rows for the webhook tables, built by the source mappings.

A mapping returns :class:`TypedRow` items; the ingest adds nothing but writes them, so every
column is decided here (and validated by :mod:`.normalize` before).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared.webhooks.contract import canonical_json, row_key
from shared.webhooks.normalize import iso

RAW = "integration_raw_data"
PLATFORM_EVENTS = "platform_events"
CAMPAIGN_METRICS = "campaign_metrics"
AUDIENCE_INSIGHTS = "audience_insights"
TYPED_TABLES = (PLATFORM_EVENTS, CAMPAIGN_METRICS, AUDIENCE_INSIGHTS)


@dataclass(frozen=True, slots=True)
class Context:
    """What every row of one message shares."""

    source: str
    event_type: str
    event_key: str
    message_id: str
    ingested_at: datetime
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TypedRow:
    table: str
    row_id: str
    row: Mapping[str, Any]


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _json(value: Mapping[str, Any] | None) -> str | None:
    """JSON columns are sent as JSON text (what insertAll documents for the JSON type)."""
    if not value:
        return None
    return canonical_json({k: v for k, v in value.items() if v is not None})


def platform_event(
    ctx: Context,
    *,
    occurred_at: datetime,
    account_id: str | None = None,
    event_type: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    entity_ids: Mapping[str, Any] | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> TypedRow:
    return TypedRow(
        PLATFORM_EVENTS,
        row_key(PLATFORM_EVENTS, ctx.event_key),
        {
            "event_key": ctx.event_key,
            "platform": ctx.source,
            "account_id": account_id,
            "event_type": event_type or ctx.event_type,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "entity_ids": _json(entity_ids),
            "amount": _num(amount),
            "currency": currency,
            "occurred_at": iso(occurred_at),
            "properties": _json(properties),
            "message_id": ctx.message_id,
            "ingested_at": iso(ctx.ingested_at),
        },
    )


def campaign_metric(
    ctx: Context,
    *,
    account_id: str,
    campaign_id: str,
    campaign_name: str | None,
    metric_date: date,
    reported_at: datetime,
    impressions: int | None,
    clicks: int | None,
    spend: Decimal | None,
    conversions: Decimal | None,
    revenue: Decimal | None,
    currency: str | None,
) -> TypedRow:
    key = row_key(ctx.source, account_id, campaign_id, metric_date.isoformat())
    return TypedRow(
        CAMPAIGN_METRICS,
        row_key(CAMPAIGN_METRICS, key, ctx.event_key),
        {
            "metric_key": key,
            "event_key": ctx.event_key,
            "platform": ctx.source,
            "account_id": account_id,
            "campaign_id": campaign_id,
            "campaign_name": campaign_name,
            "metric_date": metric_date.isoformat(),
            "impressions": impressions,
            "clicks": clicks,
            "spend": _num(spend),
            "conversions": _num(conversions),
            "revenue": _num(revenue),
            "currency": currency,
            "reported_at": iso(reported_at),
            "message_id": ctx.message_id,
            "ingested_at": iso(ctx.ingested_at),
        },
    )


def audience_insight(
    ctx: Context,
    *,
    account_id: str,
    segment: str,
    dimension: str,
    dimension_value: str,
    value: float,
    metric: str,
    insight_date: date,
    reported_at: datetime,
) -> TypedRow:
    key = row_key(ctx.source, account_id, segment, dimension, dimension_value, metric, insight_date)
    return TypedRow(
        AUDIENCE_INSIGHTS,
        row_key(AUDIENCE_INSIGHTS, key, ctx.event_key),
        {
            "insight_key": key,
            "event_key": ctx.event_key,
            "platform": ctx.source,
            "account_id": account_id,
            "audience_segment": segment,
            "dimension": dimension,
            "dimension_value": dimension_value,
            "value": value,
            "metric": metric,
            "insight_date": insight_date.isoformat(),
            "reported_at": iso(reported_at),
            "message_id": ctx.message_id,
            "ingested_at": iso(ctx.ingested_at),
        },
    )
