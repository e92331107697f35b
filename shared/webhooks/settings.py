"""Settings of the webhook receiver and the webhooks function (read through
:mod:`shared.settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import at_least, env, env_prefix
from shared.webhooks.contract import MAX_MESSAGE_BYTES


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    secrets: Mapping[str, str] = env_prefix("WEBHOOK_SECRET_", secret=True)
    """Signing secrets by variable: ``WEBHOOK_SECRET_META_ADS`` -> ``meta_ads``; the manifest's
    ``webhook_sources`` say which variables a source reads (whitespace-separated values:
    several secrets valid at once during a rotation)."""
    max_body_bytes: int = env("WEBHOOKS_MAX_BODY_BYTES", MAX_MESSAGE_BYTES, check=at_least(1))
    timestamp_tolerance_s: int = env("WEBHOOKS_TIMESTAMP_TOLERANCE_S", 300, check=at_least(1))
    """Default tolerance of timestamped schemes when a source's manifest entry sets none."""


@dataclass(frozen=True, slots=True)
class SinkSettings:
    group_commit: bool = env("WEBHOOKS_GROUP_COMMIT", True)
    batch_max_wait_ms: float = env("WEBHOOKS_BATCH_MAX_WAIT_MS", 10.0, check=at_least(0))
    batch_max_rows: int = env("WEBHOOKS_BATCH_MAX_ROWS", 500, check=at_least(1))
    insert_deadline_s: float = env("WEBHOOKS_INSERT_DEADLINE_S", 10.0, check=at_least(0.1))
    """Client-side retry budget of one insert before the push fails and Pub/Sub redelivers."""
