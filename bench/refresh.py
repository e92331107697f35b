"""Refresh bench: wall time of one run with independent branches, beside the same run forced
serial (concurrency=1), measured in the same run on the same emulators.

The run covers two independent branches: (campaign_performance_daily, platform_events_daily
-> campaign_roi_daily) and usage_by_customer_daily. The local BigQuery emulator executes on
the machine's 2 shared cores, while real BigQuery runs statements server-side; so every
statement is padded with the same simulated server time (``STATEMENT_S``, the local-only
``sleep_s`` fault at the orchestrator's statement boundary) in both modes. The ratio therefore
measures what the orchestrator's scheduling changes, not the emulator's CPU.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

STATEMENT_S = 0.5
AS_OF = date(2026, 3, 20)
TABLES = ["campaign_roi_daily", "usage_by_customer_daily"]


def _run(concurrency: int) -> float:
    from shared.refresh import orchestrate
    from shared.refresh.request import parse
    from shared.refresh.runner import Runner

    defs = orchestrate.load_definitions()
    store = orchestrate.store()
    orchestrate.sync_once(store, defs)
    slow = {name: {"sleep_s": STATEMENT_S} for name in defs}
    request = parse(
        {
            "run_id": f"bench-{uuid.uuid4().hex[:8]}",
            "tables": TABLES,
            "with_dependencies": True,
            "full_refresh": True,
            "as_of": AS_OF.isoformat(),
            "concurrency": concurrency,
            "test": {"faults": slow},
        }
    )
    runner = Runner(store, defs, orchestrate.options_from_env(), local=True)
    start = time.perf_counter()
    result = runner.run(request)
    elapsed = time.perf_counter() - start
    if result.status != "success":
        raise RuntimeError(f"bench run did not succeed: {result.summary()}")
    return elapsed


def run() -> list[dict[str, Any]]:
    from devstack.stack import LocalStack
    from shared.refresh import seed

    with LocalStack(Path(".local/bench-refresh"), functions=[]) as stack:
        seed.load(stack.bigquery(), stack.project, AS_OF, days=14)
        _run(4)  # warm-up: sync, first MERGEs
        serial = _run(1)
        parallel = _run(4)
    return [
        {
            "name": "refresh run, 2 independent branches (wall s)",
            "value": parallel,
            "unit": "s",
            "baseline": serial,
            "ratio": parallel / serial,
        }
    ]


if __name__ == "__main__":
    print(run())
