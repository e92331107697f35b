"""Stripe webhooks (Event objects as Stripe documents them): charges, refunds, disputes,
payment intents, checkout sessions, invoices, subscriptions.

Body: ``{"id": "evt_...", "object": "event", "type": "charge.succeeded", "created": <epoch s>,
"account": "acct_..." (Connect only), "data": {"object": {...}}}``. Amounts are integers in
minor units of ``currency`` (cents, yen). The id and type are in the signed body.
"""

from __future__ import annotations

from typing import Any

from shared.webhooks import normalize as n
from shared.webhooks.rows import Context, TypedRow, platform_event

SOURCE = "stripe"


provider_event_id = n.top_level_id
payload_event_type = n.top_level_type


def _object(payload: dict[str, Any]) -> dict[str, Any]:
    obj = n.get(payload, "data.object")
    if not isinstance(obj, dict):
        raise n.ValidationError("data.object", "must be an object")
    return obj


def _handler(amount_field: str | None, sign: int = 1) -> Any:
    def handle(ctx: Context, payload: dict[str, Any]) -> list[TypedRow]:
        obj = _object(payload)
        currency = n.currency(obj.get("currency"), "data.object.currency", required=False)
        amount = None
        if amount_field is not None:
            if currency is None:
                raise n.ValidationError("data.object.currency", "is required with an amount")
            amount = n.minor_units(obj.get(amount_field), currency, f"data.object.{amount_field}")
            assert amount is not None
            amount *= sign
        return [
            platform_event(
                ctx,
                occurred_at=n.timestamp(payload.get("created"), "created"),
                account_id=n.text(payload.get("account"), "account"),
                entity_type=n.text(obj.get("object"), "data.object.object", max_len=50),
                entity_id=n.text(obj.get("id"), "data.object.id", required=True),
                entity_ids={
                    "customer_id": n.text(obj.get("customer"), "data.object.customer"),
                    "payment_intent_id": n.text(
                        obj.get("payment_intent"), "data.object.payment_intent"
                    ),
                    "charge_id": n.text(obj.get("charge"), "data.object.charge"),
                },
                amount=amount,
                currency=currency,
                properties={
                    "status": n.text(obj.get("status"), "data.object.status", max_len=50),
                    "failure_code": n.text(obj.get("failure_code"), "data.object.failure_code"),
                    "livemode": payload.get("livemode")
                    if isinstance(payload.get("livemode"), bool)
                    else None,
                },
            )
        ]

    return handle


HANDLERS = {
    "charge.succeeded": _handler("amount"),
    "charge.refunded": _handler("amount_refunded", -1),
    "charge.dispute.created": _handler("amount", -1),
    "payment_intent.succeeded": _handler("amount_received"),
    "payment_intent.payment_failed": _handler("amount"),
    "checkout.session.completed": _handler("amount_total"),
    "invoice.paid": _handler("amount_paid"),
    "invoice.payment_failed": _handler("amount_due"),
    "customer.subscription.created": _handler(None),
    "customer.subscription.updated": _handler(None),
    "customer.subscription.deleted": _handler(None),
}
