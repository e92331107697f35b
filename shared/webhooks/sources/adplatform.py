"""Ad platform (Meta/Google Ads style) webhooks: daily campaign metrics, audience breakdowns,
campaign status changes.

Body: ``{"id", "type", "created_at", "account": {"id", "timezone", "currency"}, "data": {...}}``.
Money is in micros of the account currency; report days are in the account's time zone.
"""

from __future__ import annotations

from typing import Any

from shared.webhooks import normalize as n
from shared.webhooks.rows import (
    Context,
    TypedRow,
    audience_insight,
    campaign_metric,
    platform_event,
)

SOURCE = "adplatform"


provider_event_id = n.top_level_id
payload_event_type = n.top_level_type


def _account(payload: dict[str, Any]) -> tuple[str, str | None]:
    account_id = n.text(n.get(payload, "account.id"), "account.id", required=True) or ""
    currency = n.currency(n.get(payload, "account.currency"), "account.currency", required=False)
    tz = n.get(payload, "account.timezone")
    if tz is not None:
        n.zone(tz, "account.timezone")
    return account_id, currency


def _data(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise n.ValidationError("data", "must be an object")
    return data


def campaign_metrics_daily(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
    account_id, currency = _account(payload)
    data = _data(payload)
    reported_at = n.timestamp(payload.get("created_at"), "created_at")
    campaign_id = n.text(data.get("campaign_id"), "data.campaign_id", required=True) or ""
    spend = n.micros(data.get("spend_micros"), "data.spend_micros")
    revenue = n.micros(data.get("conversion_value_micros"), "data.conversion_value_micros")
    if (spend is not None or revenue is not None) and currency is None:
        raise n.ValidationError("account.currency", "is required when money is reported")
    conversions = n.amount(data.get("conversions"), "data.conversions", required=False)
    metric = campaign_metric(
        ctx,
        account_id=account_id,
        campaign_id=campaign_id,
        campaign_name=n.text(data.get("campaign_name"), "data.campaign_name"),
        metric_date=n.day(data.get("date"), "data.date"),
        reported_at=reported_at,
        impressions=n.count(data.get("impressions"), "data.impressions"),
        clicks=n.count(data.get("clicks"), "data.clicks"),
        spend=spend,
        conversions=conversions,
        revenue=revenue,
        currency=currency,
    )
    event = platform_event(
        ctx,
        occurred_at=reported_at,
        account_id=account_id,
        entity_type="campaign",
        entity_id=campaign_id,
        properties={"metric_date": metric.row["metric_date"]},
    )
    return [metric, event]


def audience_insights(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
    account_id, _ = _account(payload)
    data = _data(payload)
    reported_at = n.timestamp(payload.get("created_at"), "created_at")
    segment = n.text(data.get("segment"), "data.segment", required=True, max_len=200) or ""
    insight_date = n.day(data.get("date"), "data.date")
    metric = n.text(data.get("metric") or "share", "data.metric", max_len=20) or "share"
    if metric not in ("share", "reach"):
        raise n.ValidationError("data.metric", "must be share or reach")
    breakdowns = data.get("breakdowns")
    if not isinstance(breakdowns, list) or not 0 < len(breakdowns) <= 1000:
        raise n.ValidationError("data.breakdowns", "must be a list of 1..1000 items")
    rows: list[TypedRow] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(breakdowns):
        path = f"data.breakdowns[{i}]"
        if not isinstance(item, dict):
            raise n.ValidationError(path, "must be an object")
        dimension = n.text(item.get("dimension"), f"{path}.dimension", required=True, max_len=100)
        value = n.text(item.get("value"), f"{path}.value", required=True, max_len=200)
        assert dimension is not None and value is not None
        if (dimension, value) in seen:
            raise n.ValidationError(path, f"duplicate breakdown {dimension}={value}")
        seen.add((dimension, value))
        number = n.ratio(item.get(metric), f"{path}.{metric}")
        if metric == "share" and number > 1:
            raise n.ValidationError(f"{path}.share", "must be between 0 and 1")
        rows.append(
            audience_insight(
                ctx,
                account_id=account_id,
                segment=segment,
                dimension=dimension,
                dimension_value=value,
                value=number,
                metric=metric,
                insight_date=insight_date,
                reported_at=reported_at,
            )
        )
    rows.append(
        platform_event(
            ctx,
            occurred_at=reported_at,
            account_id=account_id,
            entity_type="audience",
            entity_id=segment,
            properties={"insight_date": insight_date.isoformat(), "breakdowns": len(breakdowns)},
        )
    )
    return rows


def campaign_status_changed(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
    account_id, _ = _account(payload)
    data = _data(payload)
    return [
        platform_event(
            ctx,
            occurred_at=n.timestamp(payload.get("created_at"), "created_at"),
            account_id=account_id,
            entity_type="campaign",
            entity_id=n.text(data.get("campaign_id"), "data.campaign_id", required=True),
            properties={
                "old_status": n.text(data.get("old_status"), "data.old_status", max_len=50),
                "new_status": n.text(data.get("new_status"), "data.new_status", required=True),
            },
        )
    ]


HANDLERS = {
    "campaign.metrics.daily": campaign_metrics_daily,
    "audience.insights": audience_insights,
    "campaign.status_changed": campaign_status_changed,
}
