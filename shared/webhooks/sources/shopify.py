"""Shopify webhooks (Admin API payloads as Shopify documents them): orders and refunds.

The event type comes from the ``event_type`` attribute (the receiver takes it from the
``X-Shopify-Topic`` header, e.g. ``orders/create``); the body has no type and no event id, so
the dedup key is the content hash with the topic (two topics of one order stay two events).
``X-Shopify-Topic`` is not signed by Shopify: each handler requires the fields its topic
implies (``cancelled_at`` for orders/cancelled, ``order_id`` and transactions for refunds), so
a replay with a changed topic is dead-lettered rather than typed. Prices are decimal strings
in the shop currency; times carry the shop's UTC offset.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.webhooks import normalize as n
from shared.webhooks.rows import Context, TypedRow, platform_event

SOURCE = "shopify"


def provider_event_id(payload: dict[str, Any]) -> str | None:
    return None


def payload_event_type(payload: dict[str, Any]) -> str | None:
    return None


def _customer_id(payload: dict[str, Any]) -> str | None:
    return n.text(n.get(payload, "customer.id"), "customer.id")


def _order(kind: str, time_field: str) -> Any:
    def handle(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
        order_id = n.text(payload.get("id"), "id", required=True)
        currency = n.currency(payload.get("currency"), "currency")
        items = payload.get("line_items") or []
        if not isinstance(items, list) or len(items) > 1000:
            raise n.ValidationError("line_items", "must be a list of at most 1000 items")
        quantity = 0
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise n.ValidationError(f"line_items[{i}]", "must be an object")
            quantity += n.count(item.get("quantity"), f"line_items[{i}].quantity") or 0
        return [
            platform_event(
                ctx,
                occurred_at=n.timestamp(payload.get(time_field), time_field),
                account_id=n.text(payload.get("shop_domain"), "shop_domain"),
                event_type=kind,
                entity_type="order",
                entity_id=order_id,
                entity_ids={"customer_id": _customer_id(payload)},
                amount=n.amount(payload.get("total_price"), "total_price"),
                currency=currency,
                properties={
                    "financial_status": n.text(payload.get("financial_status"), "financial_status"),
                    "line_items": len(items),
                    "quantity": quantity,
                },
            )
        ]

    return handle


def refund_created(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
    transactions = payload.get("transactions")
    if not isinstance(transactions, list) or not 0 < len(transactions) <= 100:
        raise n.ValidationError("transactions", "must be a list of 1..100 transactions")
    total = Decimal(0)
    currencies: set[str] = set()
    for i, tx in enumerate(transactions):
        if not isinstance(tx, dict):
            raise n.ValidationError(f"transactions[{i}]", "must be an object")
        total += n.amount(tx.get("amount"), f"transactions[{i}].amount") or Decimal(0)
        currencies.add(n.currency(tx.get("currency"), f"transactions[{i}].currency") or "")
    if len(currencies) != 1:
        raise n.ValidationError("transactions", "mix several currencies")
    return [
        platform_event(
            ctx,
            occurred_at=n.timestamp(payload.get("created_at"), "created_at"),
            account_id=n.text(payload.get("shop_domain"), "shop_domain"),
            event_type="refund.created",
            entity_type="refund",
            entity_id=n.text(payload.get("id"), "id", required=True),
            entity_ids={"order_id": n.text(payload.get("order_id"), "order_id", required=True)},
            amount=-total,
            currency=currencies.pop(),
        )
    ]


HANDLERS = {
    "orders/create": _order("order.created", "created_at"),
    "orders/paid": _order("order.paid", "updated_at"),
    "orders/cancelled": _order("order.cancelled", "cancelled_at"),
    "refunds/create": refund_created,
}
