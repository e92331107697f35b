"""Settings of the refresh orchestrator (read through :mod:`shared.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import at_least, env


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
