"""Pipeline lifecycle events and sweep ticks on ``pipeline-events``, and what each one does.

Message data (JSON):
- ``{"type": "started", "customer_id", "pipeline", "run_id", "lease_seconds"?}``
- ``{"type": "heartbeat", "customer_id", "run_id", "lease_seconds"?}``
- ``{"type": "completed" | "failed", "customer_id", "run_id"}``
- ``{"type": "sweep", "sweep": "leases" | "maintenance"}`` (Cloud Scheduler)
"""

from __future__ import annotations

import logging
from typing import Any

from shared.errors import PermanentError
from shared.quotas import admission, sweeps
from shared.quotas.validation import check_id, check_lease, raise_if

logger = logging.getLogger("shared.quotas.lifecycle")
TYPES = ("started", "heartbeat", "completed", "failed", "sweep")
SWEEPS = ("leases", "maintenance")


def handle(body: Any) -> dict[str, Any]:
    """Apply one event; PermanentError (dead-lettered) for anything malformed."""
    if not isinstance(body, dict):
        raise PermanentError("malformed_event", "message data must be a JSON object")
    kind = body.get("type")
    if kind not in TYPES:
        raise PermanentError("malformed_event", f"type must be one of {', '.join(TYPES)}")
    if kind == "sweep":
        return _sweep(body.get("sweep"))
    problems: list[str] = []
    customer = check_id(problems, "customer_id", body.get("customer_id"))
    run_id = check_id(problems, "run_id", body.get("run_id"))
    lease = check_lease(problems, body.get("lease_seconds", admission.DEFAULT_LEASE_S))
    if kind == "started":
        pipeline = check_id(problems, "pipeline", body.get("pipeline"))
        raise_if(problems)
        result = admission.start(customer, pipeline, run_id, lease_seconds=lease)
        if not result.admitted:
            logger.warning("run refused", extra={"fields": result.to_json()})
        return result.to_json()
    raise_if(problems)
    if kind == "heartbeat":
        extended = admission.heartbeat(customer, run_id, lease_seconds=lease)
        return {"customer_id": customer, "run_id": run_id, "extended": extended}
    released = admission.finish(run_id, str(kind).upper(), customer_id=customer)
    return {"customer_id": customer, "run_id": run_id, "released": released}


def _sweep(name: object) -> dict[str, Any]:
    if name not in SWEEPS:
        raise PermanentError("malformed_event", f"sweep must be one of {', '.join(SWEEPS)}")
    if name == "maintenance":
        return sweeps.maintenance()
    return sweeps.leases()
