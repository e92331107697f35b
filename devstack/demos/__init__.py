"""Demo steps played by ``make run``, one module per product area.

Each module defines ``ORDER: int`` (lower runs first), ``TITLE: str`` and
``run(stack: LocalStack, report: Report) -> None``, which sends events through the real
triggers (bucket uploads, Pub/Sub publishes, scheduler ticks, HTTP calls) and prints what
landed in BigQuery. A step must raise when what it expected did not happen.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover() -> list[ModuleType]:
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
