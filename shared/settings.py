"""Typed settings read from the environment, validated once at start: the only module that
reads ``os.environ`` in ``shared/`` and ``functions/`` (a unit test enforces it).

- :class:`Settings` (:func:`get_settings`): what every function needs (project, environment,
  emulator hosts).
- Area settings: each area declares a frozen dataclass whose fields are :func:`env` (one
  variable, typed by the field annotation, with a default and an optional check) or
  :func:`env_prefix` (every variable with a prefix, e.g. one secret per webhook source), and
  reads it with :func:`area_settings` (cached per instance) or :func:`load` (fresh, for tests).
  Every malformed variable is reported at once in one :class:`SettingsError`.

This module imports only the standard library (cold start).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

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


# --- Area settings -------------------------------------------------------------------------

Check = Callable[[Any], str | None]
"""A validation of a parsed value: None when fine, else the problem (``must be >= 1``)."""

_SPEC = "shared.settings.env"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_cache: dict[type[Any], Any] = {}


@dataclass(frozen=True, slots=True)
class EnvVar:
    """How one settings field is read: variable (or prefix), check, whether it is a secret."""

    name: str
    check: Check | None = None
    secret: bool = False
    prefix: bool = False


def env(name: str, default: Any, *, check: Check | None = None, secret: bool = False) -> Any:
    """A settings field read from the variable ``name``; unset or blank means ``default``.

    The field's annotation gives the type: ``str``, ``int``, ``float``, ``bool``
    (1/0/true/false/yes/no/on/off), ``tuple[str, ...]`` (comma-separated) or ``X | None``.
    A ``secret`` is left out of the settings' repr and of error messages.
    """
    spec = EnvVar(name, check, secret)
    return dataclasses.field(default=default, repr=not secret, metadata={_SPEC: spec})


def env_prefix(prefix: str, *, secret: bool = False) -> Any:
    """A ``Mapping[str, str]`` field: every non-blank variable ``<prefix><KEY>`` as ``key``."""
    spec = EnvVar(prefix, None, secret, prefix=True)
    return dataclasses.field(default_factory=dict, repr=not secret, metadata={_SPEC: spec})


def at_least(low: float) -> Check:
    return lambda value: None if value >= low else f"must be >= {low}"


def one_of(*choices: str) -> Check:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def env_vars(cls: type[Any]) -> list[EnvVar]:
    """The variables (and prefixes) a settings class declares, in field order."""
    return [field.metadata[_SPEC] for field in dataclasses.fields(cls)]


def _parse(raw: str, kind: Any) -> Any:
    """``raw`` as ``kind``; ValueError says what was expected."""
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) and type(None) in args:
        (kind,) = (arg for arg in args if arg is not type(None))
        args = typing.get_args(kind)
    if kind is str:
        return raw
    if kind is bool:
        if raw.lower() in _TRUE + _FALSE:
            return raw.lower() in _TRUE
        raise ValueError("must be true or false")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be an integer") from None
    if kind is float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    if typing.get_origin(kind) is tuple and args == (str, ...):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    raise TypeError(f"settings fields cannot be of type {kind!r}")


def load[T](cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Read and validate the settings dataclass ``cls``; SettingsError names every problem."""
    env_map = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field in dataclasses.fields(cast(Any, cls)):
        spec: EnvVar = field.metadata[_SPEC]
        if spec.prefix:
            values[field.name] = {
                key[len(spec.name) :].lower(): value.strip()
                for key, value in env_map.items()
                if key.startswith(spec.name) and len(key) > len(spec.name) and value.strip()
            }
            continue
        raw = env_map.get(spec.name, "").strip()
        if not raw:
            continue
        shown = spec.name if spec.secret else f"{spec.name}={raw[:100]!r}"
        try:
            value = _parse(raw, hints[field.name])
        except ValueError as exc:
            problems.append(f"{shown} {exc}")
            continue
        problem = spec.check(value) if spec.check is not None else None
        if problem:
            problems.append(f"{shown} {problem}")
            continue
        values[field.name] = value
    if problems:
        raise SettingsError(f"invalid {cls.__name__}: " + "; ".join(problems))
    return cls(**values)


def area_settings[T](cls: type[T]) -> T:
    """The settings ``cls`` of this instance, read and validated once (then cached)."""
    found = _cache.get(cls)
    if found is None:
        found = _cache.setdefault(cls, load(cls))
    return cast(T, found)


def reset_cache() -> None:
    """Forget every cached settings object (tests that change the environment call this)."""
    _cache.clear()
    get_settings.cache_clear()
