"""Hook to the quotas area's admission control for customer-scoped refreshes.

If ``shared.quotas.admission`` exists (owned by the quotas area), a customer-scoped table
refreshed for one customer is admitted with ``start(customer_id, "refresh:<table>",
"<run_id>:<table>")`` first; a refusal marks the table ``skipped`` with the reason. When the
table ends, ``finish("<run_id>:<table>", COMPLETED|FAILED)`` releases the quota lease.
Without that module every run is admitted.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("shared.refresh.admission")


@dataclass(frozen=True)
class Admission:
    module: Any

    def start(self, customer_id: str, table: str, run_id: str) -> tuple[bool, str]:
        result = self.module.start(customer_id, f"refresh:{table}", f"{run_id}:{table}")
        return bool(getattr(result, "admitted", False)), str(getattr(result, "reason", ""))

    def finish(self, customer_id: str, table: str, run_id: str, ok: bool) -> None:
        try:
            self.module.finish(
                f"{run_id}:{table}", "COMPLETED" if ok else "FAILED", customer_id=customer_id
            )
        except Exception as exc:  # the quota lease expires on its own; never fail the refresh
            logger.warning("quota finish failed for %s/%s: %s", run_id, table, exc)


def hook() -> Admission | None:
    try:
        module = importlib.import_module("shared.quotas.admission")
    except ImportError:
        return None
    if not hasattr(module, "start") or not hasattr(module, "finish"):
        return None
    return Admission(module)
