"""Meta Marketing API insights (ads platform): daily campaign metrics and audience breakdowns.

Meta does not push insights; a puller (ours or a partner's) reads the Insights API
(``GET /act_<id>/insights?level=campaign&time_increment=1[&breakdowns=age,gender]``) and sends
the response unchanged inside a Standard Webhooks payload (signed, ``webhook-id`` = the dedup
id): ``{"type": "insights.campaign_daily" | "insights.audience_daily", "timestamp": RFC 3339,
"data": <the Insights API response: {"data": [rows], "paging": {...}}>}``.

Insights rows as Meta documents them: numbers are decimal strings (``"impressions": "12000"``,
``"spend": "152.34"`` in the account currency, major units), ``date_start``/``date_stop`` are
account-local days (equal with ``time_increment=1``), conversions are in ``actions`` /
``action_values`` lists of ``{"action_type", "value"}`` (``purchase`` is counted).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.webhooks import normalize as n
from shared.webhooks.rows import Context, TypedRow, audience_insight, campaign_metric

SOURCE = "meta_ads"
CONVERSION_ACTION = "purchase"
BREAKDOWNS = ("age", "gender", "country", "region", "publisher_platform", "device_platform")
MAX_ROWS = 5000


def provider_event_id(payload: dict[str, Any]) -> str | None:
    return None  # the signed webhook-id (event_id attribute) is the id


payload_event_type = n.top_level_type


def _rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = n.get(payload, "data.data")
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        raise n.ValidationError("data.data", f"must be a list of at most {MAX_ROWS} rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise n.ValidationError(f"data.data[{i}]", "must be an object")
    return rows


def _day(row: dict[str, Any], path: str) -> Any:
    start = n.day(row.get("date_start"), f"{path}.date_start")
    if row.get("date_stop") not in (None, row.get("date_start")):
        raise n.ValidationError(f"{path}.date_stop", "must equal date_start (time_increment=1)")
    return start


def _action_value(row: dict[str, Any], key: str, path: str) -> Decimal | None:
    actions = row.get(key)
    if actions is None:
        return None
    if not isinstance(actions, list):
        raise n.ValidationError(f"{path}.{key}", "must be a list")
    for i, action in enumerate(actions):
        if isinstance(action, dict) and action.get("action_type") == CONVERSION_ACTION:
            return n.amount(action.get("value"), f"{path}.{key}[{i}].value")
    return None


def campaign_daily(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
    reported_at = n.timestamp(payload.get("timestamp"), "timestamp")
    result: list[TypedRow] = []
    for i, row in enumerate(_rows(payload)):
        path = f"data.data[{i}]"
        spend = n.amount(row.get("spend"), f"{path}.spend", required=False)
        revenue = _action_value(row, "action_values", path)
        currency = n.currency(
            row.get("account_currency"), f"{path}.account_currency", required=False
        )
        if (spend is not None or revenue is not None) and currency is None:
            raise n.ValidationError(f"{path}.account_currency", "is required with money")
        result.append(
            campaign_metric(
                ctx,
                account_id=n.text(row.get("account_id"), f"{path}.account_id", required=True) or "",
                campaign_id=n.text(row.get("campaign_id"), f"{path}.campaign_id", required=True)
                or "",
                campaign_name=n.text(row.get("campaign_name"), f"{path}.campaign_name"),
                metric_date=_day(row, path),
                reported_at=reported_at,
                impressions=n.count(row.get("impressions"), f"{path}.impressions"),
                clicks=n.count(row.get("clicks"), f"{path}.clicks"),
                spend=spend,
                conversions=_action_value(row, "actions", path),
                revenue=revenue,
                currency=currency,
            )
        )
    return result


def audience_daily(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
    """One row per breakdown combination (``age=25-34+gender=female``), metric ``reach``."""
    reported_at = n.timestamp(payload.get("timestamp"), "timestamp")
    result: list[TypedRow] = []
    seen: set[tuple[str, ...]] = set()
    for i, row in enumerate(_rows(payload)):
        path = f"data.data[{i}]"
        dims = [b for b in BREAKDOWNS if b in row]
        if not dims:
            raise n.ValidationError(path, f"has no breakdown ({', '.join(BREAKDOWNS)})")
        values = [n.text(row[b], f"{path}.{b}", required=True, max_len=100) or "" for b in dims]
        account_id = n.text(row.get("account_id"), f"{path}.account_id", required=True) or ""
        segment = n.text(row.get("campaign_id"), f"{path}.campaign_id") or account_id
        day = _day(row, path)
        key = (account_id, segment, *dims, *values, day.isoformat())
        if key in seen:
            raise n.ValidationError(path, "duplicate breakdown row")
        seen.add(key)
        reach = n.count(row.get("reach"), f"{path}.reach", required=True)
        result.append(
            audience_insight(
                ctx,
                account_id=account_id,
                segment=segment,
                dimension="+".join(dims),
                dimension_value="+".join(values),
                value=float(reach or 0),
                metric="reach",
                insight_date=day,
                reported_at=reported_at,
            )
        )
    return result


HANDLERS = {
    "insights.campaign_daily": campaign_daily,
    "insights.audience_daily": audience_daily,
}
