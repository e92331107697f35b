"""The one converter from Python values to BigQuery query parameters.

Every statement in the product binds values through here (never string formatting), so a value
of a given Python type always becomes the same BigQuery type:

=================================  ============================
Python value                       parameter type
=================================  ============================
``bool``                           ``BOOL``
``int``                            ``INT64``
``float``                          ``FLOAT64``
``decimal.Decimal``                ``NUMERIC``
``str``                            ``STRING``
``bytes``                          ``BYTES``
``datetime.datetime``              ``TIMESTAMP`` (naive values are read as UTC)
``datetime.date``                  ``DATE``
``list`` / ``tuple``               ``ARRAY<element type>`` (ints -> INT64, mixed int/float ->
                                   FLOAT64; an empty list is ``ARRAY<STRING>``)
``None``                           ``STRING`` NULL
``typed(value, "TYPE")``           that type (typed NULLs, ``ARRAY<INT64>`` when empty, ...)
=================================  ============================

Anything else is a ``TypeError``: silently stringifying an unknown object would bind a value of
the wrong type. ``google.cloud.bigquery`` is imported only when a parameter is built.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.imports import BIGQUERY_IMPORTS

SCALAR_TYPES = frozenset(
    {
        "BOOL",
        "INT64",
        "FLOAT64",
        "NUMERIC",
        "BIGNUMERIC",
        "STRING",
        "BYTES",
        "TIMESTAMP",
        "DATETIME",
        "DATE",
        "TIME",
        "JSON",
        "GEOGRAPHY",
    }
)
_ALIASES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


@dataclass(frozen=True, slots=True)
class Typed:
    """A value with an explicit BigQuery type: ``"INT64"`` or ``"ARRAY<INT64>"``."""

    value: Any
    type: str


def typed(value: Any, type_: str) -> Typed:
    """Bind ``value`` as ``type_`` (``"TIMESTAMP"``, ``"ARRAY<INT64>"``...), e.g. a typed NULL."""
    return Typed(value, _normalize(type_))


def _normalize(type_: str) -> str:
    text = type_.strip().upper().replace(" ", "")
    if text.startswith("ARRAY<") and text.endswith(">"):
        inner = _ALIASES.get(text[6:-1], text[6:-1])
        if inner not in SCALAR_TYPES:
            raise ValueError(f"unsupported array element type {type_!r}")
        return f"ARRAY<{inner}>"
    text = _ALIASES.get(text, text)
    if text not in SCALAR_TYPES:
        raise ValueError(f"unsupported parameter type {type_!r}")
    return text


_BY_CLASS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    # order matters: bool is an int, datetime is a date
    (str, "STRING"),
    (bool, "BOOL"),
    (int, "INT64"),
    (float, "FLOAT64"),
    (decimal.Decimal, "NUMERIC"),
    ((bytes, bytearray), "BYTES"),
    (datetime.datetime, "TIMESTAMP"),
    (datetime.date, "DATE"),
)


def scalar_type(value: Any) -> str:
    """The BigQuery type of one Python scalar (see the module table)."""
    if value is None:
        return "STRING"
    for cls, kind in _BY_CLASS:
        if isinstance(value, cls):
            return kind
    raise TypeError(
        f"no BigQuery parameter type for {type(value).__name__}: convert it or use typed()"
    )


def element_type(values: Iterable[Any]) -> str:
    """The element type of an array value: every non-NULL element must agree."""
    kinds = {scalar_type(v) for v in values if v is not None}
    if not kinds:
        return "STRING"
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {"INT64", "FLOAT64"}:
        return "FLOAT64"
    raise TypeError(f"array elements of mixed types {sorted(kinds)}: use typed()")


def parameter_type(value: Any) -> str:
    """``"INT64"``, ``"ARRAY<STRING>"``...: the type :func:`to_parameter` binds ``value`` as."""
    if isinstance(value, Typed):
        return value.type
    if isinstance(value, list | tuple):
        return f"ARRAY<{element_type(value)}>"
    return scalar_type(value)


def to_parameter(name: str, value: Any) -> Any:
    """A ``ScalarQueryParameter`` or ``ArrayQueryParameter`` named ``name`` for ``value``."""
    with BIGQUERY_IMPORTS:
        from google.cloud import bigquery

    kind = parameter_type(value)
    raw = value.value if isinstance(value, Typed) else value
    if kind.startswith("ARRAY<"):
        items: Sequence[Any] = list(raw or [])
        inner = kind[6:-1]
        if inner == "FLOAT64":
            items = [float(v) if v is not None else None for v in items]
        return bigquery.ArrayQueryParameter(name, inner, items)
    if kind == "FLOAT64" and isinstance(raw, int) and not isinstance(raw, bool):
        raw = float(raw)
    if isinstance(raw, bytearray):
        raw = bytes(raw)
    return bigquery.ScalarQueryParameter(name, kind, raw)


def to_parameters(params: Mapping[str, Any] | None) -> list[Any]:
    """Every ``@name`` of a statement bound from a mapping (``None``: no parameters)."""
    return [to_parameter(name, value) for name, value in (params or {}).items()]
