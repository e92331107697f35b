"""The quotas area's admission control for customer-scoped refreshes.

A customer-scoped table refreshed for one customer is admitted with
``shared.quotas.admission.start(customer_id, "refresh:<table>", "<run_id>:<table>")`` first; a
refusal marks the table ``skipped`` with the reason. When the table ends,
``finish("<run_id>:<table>", COMPLETED|FAILED)`` releases the quota lease. The runner only sees
the :class:`shared.refresh.ports.Admission` Protocol; tests inject their own.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("shared.refresh.admission")


class QuotasAdmission:
    """:class:`~shared.refresh.ports.Admission` backed by ``shared.quotas.admission``."""

    def start(self, customer_id: str, table: str, run_id: str) -> tuple[bool, str]:
        from shared.quotas import admission

        result = admission.start(customer_id, f"refresh:{table}", f"{run_id}:{table}")
        return result.admitted, result.reason

    def finish(self, customer_id: str, table: str, run_id: str, ok: bool) -> None:
        from shared.quotas import admission

        try:
            admission.finish(
                f"{run_id}:{table}", "COMPLETED" if ok else "FAILED", customer_id=customer_id
            )
        except Exception as exc:  # the quota lease expires on its own; never fail the refresh
            logger.warning("quota finish failed for %s/%s: %s", run_id, table, exc)
