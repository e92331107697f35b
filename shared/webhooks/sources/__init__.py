"""Per-source mappings. Adding a source = one module here + its entry in :data:`SOURCES`.

A source module defines:

- ``SOURCE``: the ``source`` attribute value it handles;
- ``provider_event_id(payload) -> str | None``: the provider's event id found in the body;
- ``payload_event_type(payload) -> str | None``: the event type found in the body, if any;
- ``HANDLERS``: ``{event_type: fn(ctx, payload) -> list[TypedRow]}``. An event type not
  listed lands in ``integration_raw_data`` only (``mapping_status = unknown_event_type``).

Handlers raise :class:`~shared.webhooks.normalize.ValidationError` on invalid input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Protocol, cast

from shared.webhooks.rows import Context, TypedRow

Handler = Callable[[Context, dict[str, Any]], list[TypedRow]]


class SourceModule(Protocol):
    SOURCE: str
    HANDLERS: Mapping[str, Handler]

    def provider_event_id(self, payload: dict[str, Any]) -> str | None: ...

    def payload_event_type(self, payload: dict[str, Any]) -> str | None: ...


ALIASES = {"payments": "stripe", "shop": "shopify"}
"""Source names of the first release, still accepted on direct publishes (same mappings)."""


def _load() -> dict[str, ModuleType]:
    from shared.webhooks.sources import adplatform, github, meta_ads, shopify, stripe

    modules = {m.SOURCE: m for m in (adplatform, github, meta_ads, shopify, stripe)}
    return {**modules, **{alias: modules[name] for alias, name in ALIASES.items()}}


SOURCES: dict[str, ModuleType] = _load()


def get(source: str) -> SourceModule | None:
    module = SOURCES.get(source)
    return cast(SourceModule | None, module)  # modules satisfy the protocol structurally
