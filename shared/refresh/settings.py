"""Settings of the refresh orchestrator (read through :mod:`shared.settings`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.settings import at_least, env


def region(value: str) -> str | None:
    return None if re.fullmatch(r"[a-z]+-[a-z]+\d+", value) else "must be a region"


def host_port(value: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9.\-]+:\d{1,5}", value) else "must be host:port"


@dataclass(frozen=True, slots=True)
class RefreshSettings:
    deadline_s: float = env("REFRESH_DEADLINE_S", 480.0, check=at_least(1))
    """Past it no new chunk or table starts; the run continues in a new invocation."""
    max_concurrency: int = env("REFRESH_MAX_CONCURRENCY", 4, check=at_least(1))
    lease_ttl_s: int = env("REFRESH_LEASE_TTL_S", 900, check=at_least(1))
    notify_urls: tuple[str, ...] = env("REFRESH_NOTIFY_URLS", ())
    """Comma-separated URLs that receive the signed run summary."""
    notify_secret: str = env("REFRESH_NOTIFY_SECRET", "", secret=True)
    """HMAC key of the notification signature (Secret Manager in the cloud)."""
    tasks_location: str = env("REFRESH_TASKS_LOCATION", "us-central1", check=region)
    """Region of the Cloud Tasks queue of delayed retries (Terraform: ``var.region``)."""
    tasks_service_account: str | None = env("REFRESH_TASKS_SERVICE_ACCOUNT", None)
    """Identity whose OAuth token the retry tasks carry to Pub/Sub (none locally)."""
    tasks_emulator_host: str | None = env("CLOUD_TASKS_EMULATOR_HOST", None, check=host_port)
    """The local Cloud Tasks emulator (set by the local stack only)."""
    cutover_min_clean_runs: int = env("REFRESH_CUTOVER_MIN_CLEAN_RUNS", 3, check=at_least(1))
    """Clean shadow runs a table needs before ``promote`` switches it to live."""
