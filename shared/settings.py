"""One typed settings object read from the environment, validated once at start."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.errors import ConfigurationError

ENVIRONMENTS = ("local", "dev", "staging", "prod")
_PROJECT_RE = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_HOST_RE = re.compile(r"^(https?://)?[A-Za-z0-9.\-]+:\d{1,5}$")


class SettingsError(ConfigurationError):
    """A required setting is missing or malformed; the message names every offending variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What every function needs to know about where it runs.

    Resource names (datasets, topics, tables) are not settings: they come from the one resource
    manifest (:mod:`shared.resources`) that Terraform reads too.
    """

    project_id: str
    environment: str
    bigquery_location: str
    log_level: str
    bigquery_emulator_host: str | None
    pubsub_emulator_host: str | None
    storage_emulator_host: str | None
    firestore_emulator_host: str | None

    @property
    def is_local(self) -> bool:
        return self.environment == "local"


# Every variable the settings read: Terraform must set the non-emulator ones (a test checks).
ENV_VARS: dict[str, str] = {
    "project_id": "PROJECT_ID",
    "environment": "APP_ENV",
    "bigquery_location": "BIGQUERY_LOCATION",
    "log_level": "LOG_LEVEL",
    "bigquery_emulator_host": "BIGQUERY_EMULATOR_HOST",
    "pubsub_emulator_host": "PUBSUB_EMULATOR_HOST",
    "storage_emulator_host": "STORAGE_EMULATOR_HOST",
    "firestore_emulator_host": "FIRESTORE_EMULATOR_HOST",
}
EMULATOR_VARS = (
    "BIGQUERY_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "STORAGE_EMULATOR_HOST",
    "FIRESTORE_EMULATOR_HOST",
)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; raise SettingsError listing every problem at once."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def get(var: str, default: str | None = None) -> str | None:
        value = env.get(var, default)
        return value.strip() if isinstance(value, str) and value.strip() else default

    project = get("PROJECT_ID") or ""
    if not project:
        problems.append("PROJECT_ID is required (the Google Cloud project id)")
    elif not _PROJECT_RE.match(project):
        problems.append(f"PROJECT_ID={project!r} is not a valid project id")
    environment = get("APP_ENV") or ""
    if environment not in ENVIRONMENTS:
        problems.append(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)} (got {environment!r})")
    log_level = (get("LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)} (got {log_level!r})")
    hosts: dict[str, str | None] = {}
    for var in EMULATOR_VARS:
        value = get(var)
        if value is not None and not _HOST_RE.match(value):
            problems.append(f"{var}={value!r} must look like host:port or http://host:port")
        if environment == "local" and value is None:
            problems.append(f"{var} is required when APP_ENV=local (never reach real Google Cloud)")
        if environment in ENVIRONMENTS[1:] and value is not None:
            problems.append(f"{var} must not be set when APP_ENV={environment}")
        hosts[var] = value
    if problems:
        raise SettingsError("invalid settings: " + "; ".join(problems))
    return Settings(
        project_id=project,
        environment=environment,
        bigquery_location=get("BIGQUERY_LOCATION", "US") or "US",
        log_level=log_level,
        bigquery_emulator_host=hosts["BIGQUERY_EMULATOR_HOST"],
        pubsub_emulator_host=hosts["PUBSUB_EMULATOR_HOST"],
        storage_emulator_host=hosts["STORAGE_EMULATOR_HOST"],
        firestore_emulator_host=hosts["FIRESTORE_EMULATOR_HOST"],
    )


@functools.cache
def get_settings() -> Settings:
    """The settings of this instance, read once."""
    return load_settings()
