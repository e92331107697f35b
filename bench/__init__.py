"""Benchmarks: ``make bench`` runs every module here that defines ``run() -> list[Figure]``."""

from __future__ import annotations

from typing import Any


def figure(
    name: str, value: float, unit: str, baseline: float, *, digits: int = 1, ratio_digits: int = 2
) -> dict[str, Any]:
    """One figure: ``value`` measured beside ``baseline`` in the same run, and their ratio."""
    return {
        "name": name,
        "value": round(value, digits),
        "unit": unit,
        "baseline": round(baseline, digits),
        "ratio": round(value / baseline, ratio_digits),
    }
