"""Settings of the refresh orchestrator (read through :mod:`shared.settings`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
    notify_urls: tuple[str, ...] = env("REFRESH_NOTIFY_URLS", (), secret=True)
    """Comma-separated URLs that receive the signed run summary (Secret Manager in the cloud:
    they often carry tokens; never logged)."""
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
    app_env: str = env("APP_ENV", "local")
    """The core APP_ENV, read here for the outbound rules below (http only when local)."""

    @staticmethod
    def cross_checks(values: dict[str, Any]) -> list[str]:
        """Fail the cold start rather than sign with an empty key or send tokens in clear."""
        from shared.refresh.notify import url_problem

        local = values.get("app_env", "local") == "local"
        problems: list[str] = []
        urls = values.get("notify_urls", ())
        if not values.get("notify_secret") and (urls or not local):
            problems.append(
                "REFRESH_NOTIFY_SECRET is required (Secret Manager secret refresh-notify-secret"
                " needs a version): notifications are never signed with an empty key"
            )
        for index, url in enumerate(urls):
            problem = url_problem(url, local=local)
            if problem:
                problems.append(f"REFRESH_NOTIFY_URLS #{index}: {problem}")
        return problems
