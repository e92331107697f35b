"""The refresh functions' own settings: read from the environment once, validated at start.

Beside :mod:`shared.settings` (project, environment, emulator hosts), these are the only
environment variables the refresh area reads; Terraform sets them from the manifest's
``functions[].env`` (``${project}``/``${region}`` substituted).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import SettingsError

_HOST = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$")
_LOCATION = re.compile(r"^[a-z]+-[a-z]+\d+$")


@dataclass(frozen=True)
class RefreshConfig:
    deadline_s: float = 480.0
    max_concurrency: int = 4
    lease_ttl_s: int = 900
    notify_urls: tuple[str, ...] = ()
    notify_secret: str = ""
    tasks_location: str = "us-central1"
    tasks_service_account: str | None = None
    tasks_emulator_host: str | None = None
    cutover_min_clean_runs: int = 3


def _number(  # noqa: PLR0917
    env: Mapping[str, str], var: str, default: float, low: float, high: float, p: list[str]
) -> float:
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        p.append(f"{var} must be a number in [{low:g}, {high:g}] (got {raw[:20]!r})")
        return default
    return value


def load(environ: Mapping[str, str] | None = None) -> RefreshConfig:
    """Read and validate; SettingsError lists every problem at once."""
    env = os.environ if environ is None else environ
    p: list[str] = []
    location = env.get("REFRESH_TASKS_LOCATION", "").strip() or "us-central1"
    if not _LOCATION.match(location):
        p.append(f"REFRESH_TASKS_LOCATION={location[:40]!r} is not a region")
    emulator = env.get("CLOUD_TASKS_EMULATOR_HOST", "").strip() or None
    if emulator is not None and not _HOST.match(emulator):
        p.append("CLOUD_TASKS_EMULATOR_HOST must look like host:port")
    config = RefreshConfig(
        deadline_s=_number(env, "REFRESH_DEADLINE_S", 480, 1, 3600, p),
        max_concurrency=int(_number(env, "REFRESH_MAX_CONCURRENCY", 4, 1, 32, p)),
        lease_ttl_s=int(_number(env, "REFRESH_LEASE_TTL_S", 900, 10, 86400, p)),
        notify_urls=tuple(
            u.strip() for u in env.get("REFRESH_NOTIFY_URLS", "").split(",") if u.strip()
        ),
        notify_secret=env.get("REFRESH_NOTIFY_SECRET", ""),
        tasks_location=location,
        tasks_service_account=env.get("REFRESH_TASKS_SERVICE_ACCOUNT", "").strip() or None,
        tasks_emulator_host=emulator,
        cutover_min_clean_runs=int(_number(env, "REFRESH_CUTOVER_MIN_CLEAN_RUNS", 3, 1, 100, p)),
    )
    if p:
        raise SettingsError("invalid refresh settings: " + "; ".join(p))
    return config


@functools.cache
def get() -> RefreshConfig:
    return load()
