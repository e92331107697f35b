"""Typed settings read from the environment, validated once at start: the only module that
reads ``os.environ`` in ``shared/`` and ``functions/`` (a unit test enforces it).

One mechanism: a settings object is a frozen dataclass whose fields are :func:`env` (one
variable, typed by the field annotation, with a default or :data:`REQUIRED` and an optional
check) or :func:`env_prefix` (every variable with a prefix, e.g. one secret per webhook
source); :func:`load` reads and validates it, reporting every malformed variable at once in one
:class:`SettingsError`.

- :class:`Settings` (:func:`get_settings`): what every function needs (project, environment,
  emulator hosts).
- Area settings: ``shared/<area>/settings.py`` declares the area's dataclasses; code reads them
  with :func:`area_settings` (read once per instance, cached).

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
_HOST_RE = re.compile(r"^(https?://)?[A-Za-z0-9.\-]+:\d{1,5}$", re.ASCII)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ConfigurationError):
    """A required setting is missing or malformed; the message names every offending variable."""


# --- The mechanism: declare fields with env(), read them with load() ---------------------------

Check = Callable[[Any], str | None]
"""A validation of a parsed value: None when fine, else the problem (``must be >= 1``)."""

_SPEC = "shared.settings.env"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_cache: dict[type[Any], Any] = {}


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a variable that must be set."""


@dataclass(frozen=True, slots=True)
class EnvVar:
    """How one settings field is read: variable (or prefix), check, whether it is a secret."""

    name: str
    check: Check | None = None
    secret: bool = False
    prefix: bool = False
    normalize: Callable[[str], str] | None = None
    hint: str = ""


def env(
    name: str,
    default: Any,
    *,
    check: Check | None = None,
    secret: bool = False,
    normalize: Callable[[str], str] | None = None,
    hint: str = "",
) -> Any:
    """A settings field read from the variable ``name``; unset or blank means ``default``
    (:data:`REQUIRED`: must be set; ``hint`` is added to the "is required" message).

    The field's annotation gives the type: ``str``, ``int``, ``float``, ``bool``
    (1/0/true/false/yes/no/on/off), ``tuple[str, ...]`` (comma-separated) or ``X | None``.
    ``normalize`` rewrites the raw text first (e.g. ``str.upper``). A ``secret`` is left out of
    the settings' repr and of error messages.
    """
    spec = EnvVar(name, check, secret, normalize=normalize, hint=hint)
    if default is REQUIRED:
        return dataclasses.field(repr=not secret, metadata={_SPEC: spec})
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


_UNSET: Any = object()


def _read(spec: EnvVar, kind: Any, env_map: Mapping[str, str]) -> tuple[Any, str | None]:
    """One field's value (``_UNSET`` when the variable is unset or blank) or its problem."""
    if spec.prefix:
        return {
            key[len(spec.name) :].lower(): value.strip()
            for key, value in env_map.items()
            if key.startswith(spec.name) and len(key) > len(spec.name) and value.strip()
        }, None
    raw = env_map.get(spec.name, "").strip()
    if not raw:
        return _UNSET, None
    if spec.normalize is not None:
        raw = spec.normalize(raw)
    shown = spec.name if spec.secret else f"{spec.name}={raw[:100]!r}"
    try:
        value = _parse(raw, kind)
    except ValueError as exc:
        return _UNSET, f"{shown} {exc}"
    problem = spec.check(value) if spec.check is not None else None
    return (_UNSET, f"{shown} {problem}") if problem else (value, None)


def load[T](cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Read and validate the settings dataclass ``cls``; SettingsError names every problem.

    A class may define ``cross_checks(values) -> list[str]`` (a staticmethod) for rules between
    variables; it gets every field that is valid (set or defaulted), by field name.
    """
    env_map = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    effective: dict[str, Any] = {}
    problems: list[str] = []
    for field in dataclasses.fields(cast(Any, cls)):
        spec: EnvVar = field.metadata[_SPEC]
        value, problem = _read(spec, hints[field.name], env_map)
        if problem:
            problems.append(problem)
        elif value is not _UNSET:
            values[field.name] = effective[field.name] = value
        elif field.default is not dataclasses.MISSING:
            effective[field.name] = field.default
        else:
            problems.append(f"{spec.name} is required" + (f" ({spec.hint})" if spec.hint else ""))
    cross_checks = getattr(cls, "cross_checks", None)
    if cross_checks is not None:
        problems += cross_checks(effective)
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


# --- What every function needs ----------------------------------------------------------------


def _host(value: str) -> str | None:
    return None if _HOST_RE.fullmatch(value) else "must look like host:port or http://host:port"


def _project(value: str) -> str | None:
    return None if _PROJECT_RE.fullmatch(value) else "is not a valid project id"


@dataclass(frozen=True, slots=True)
class Settings:
    """What every function needs to know about where it runs.

    Resource names (datasets, topics, tables) are not settings: they come from the one resource
    manifest (:mod:`shared.resources`) that Terraform reads too. The emulator hosts are required
    when ``APP_ENV=local`` (a local run never reaches real Google Cloud) and refused elsewhere.
    """

    project_id: str = env(
        "PROJECT_ID", REQUIRED, check=_project, hint="the Google Cloud project id"
    )
    environment: str = env("APP_ENV", REQUIRED, check=one_of(*ENVIRONMENTS))
    bigquery_location: str = env("BIGQUERY_LOCATION", "US")
    log_level: str = env("LOG_LEVEL", "INFO", check=one_of(*_LOG_LEVELS), normalize=str.upper)
    bigquery_emulator_host: str | None = env("BIGQUERY_EMULATOR_HOST", None, check=_host)
    # the local BigQuery's gRPC port (Storage Write API), host:port
    bigquery_write_emulator_host: str | None = env(
        "BIGQUERY_WRITE_EMULATOR_HOST", None, check=_host
    )
    pubsub_emulator_host: str | None = env("PUBSUB_EMULATOR_HOST", None, check=_host)
    storage_emulator_host: str | None = env("STORAGE_EMULATOR_HOST", None, check=_host)
    firestore_emulator_host: str | None = env("FIRESTORE_EMULATOR_HOST", None, check=_host)

    @property
    def is_local(self) -> bool:
        return self.environment == "local"

    @staticmethod
    def cross_checks(values: Mapping[str, Any]) -> list[str]:
        """Rules between variables, given the fields that parsed (see :func:`load`)."""
        environment = values.get("environment")
        problems = []
        for name, var in ENV_VARS.items():
            if var not in EMULATOR_VARS or name not in values:
                continue  # not a host, or malformed (already reported)
            if environment == "local" and values.get(name) is None:
                problems.append(
                    f"{var} is required when APP_ENV=local (never reach real Google Cloud)"
                )
            if environment in ENVIRONMENTS[1:] and values.get(name) is not None:
                problems.append(f"{var} must not be set when APP_ENV={environment}")
        return problems


# Every variable the settings read: Terraform must set the non-emulator ones (a test checks).
ENV_VARS: dict[str, str] = {
    field.name: field.metadata[_SPEC].name for field in dataclasses.fields(Settings)
}
EMULATOR_VARS = tuple(var for var in ENV_VARS.values() if var.endswith("_EMULATOR_HOST"))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; raise SettingsError listing every problem at once."""
    return load(Settings, environ)


@functools.cache
def get_settings() -> Settings:
    """The settings of this instance, read once."""
    return load_settings()
