"""Hook to the quotas area's admission control for customer-scoped refreshes.

If ``shared.quotas.admission`` exists (owned by the quotas area), ``start(customer_id,
pipeline, run_id)`` is called before a customer-scoped table refreshes for one customer; a
refusal marks the table ``skipped`` with the reason. Otherwise every run is admitted.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def hook() -> Callable[[str, str, str], tuple[bool, str]] | None:
    try:
        module = importlib.import_module("shared.quotas.admission")
    except ImportError:
        return None
    start = getattr(module, "start", None)
    if start is None:
        return None

    def admit(customer_id: str, pipeline: str, run_id: str) -> tuple[bool, str]:
        result = start(customer_id, f"refresh:{pipeline}", run_id)
        return bool(getattr(result, "admitted", False)), str(getattr(result, "reason", ""))

    return admit
