"""Refresh bench: wall time of one run with independent branches beside the same run forced
serial (concurrency=1), measured in the same run on the same emulators, twice:

- ``raw``: straight to the local BigQuery emulator. Every job runs on this machine's 2 shared
  cores, so concurrent statements mostly queue for the same CPU (not how BigQuery behaves);
- ``job latency``: through :class:`devstack.http_proxy.FaultyProxy` adding a fixed latency
  (each of ``JOB_LATENCIES_S``) to every BigQuery job request (jobs.insert / jobs.query), as
  real BigQuery spends a job's time on Google's servers (a MERGE or DML job takes seconds
  there). Every statement of the run pays it (refresh statements, leases, checkpoints, checks,
  resume lookups) in both modes. The emulator's own CPU time per job stays on top of it: on
  a loaded 2-core machine that part does not overlap, so the smaller the latency, the more the
  ratio measures the emulator rather than the orchestrator.

The run covers two independent branches: (campaign_performance_daily, platform_events_daily
-> campaign_roi_daily) and usage_by_customer_daily. Goal: ratio <= 0.6 with job latency.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

JOB_LATENCIES_S = (0.5, 1.5)
AS_OF = date(2026, 3, 20)
TABLES = ["campaign_roi_daily", "usage_by_customer_daily"]


def _run(endpoint: str, project: str, concurrency: int) -> float:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from shared.refresh import orchestrate
    from shared.refresh.request import parse
    from shared.refresh.runner import Runner
    from shared.refresh.store import Store

    client = bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )
    defs = orchestrate.load_definitions()
    store = Store(client, project)
    orchestrate.sync_once(store, defs)
    request = parse(
        {
            "run_id": f"bench-{uuid.uuid4().hex[:8]}",
            "tables": TABLES,
            "with_dependencies": True,
            "full_refresh": True,
            "as_of": AS_OF.isoformat(),
            "concurrency": concurrency,
        }
    )
    runner = Runner(store, defs, orchestrate.options())
    start = time.perf_counter()
    result = runner.run(request)
    elapsed = time.perf_counter() - start
    client.close()
    if result.status != "success":
        raise RuntimeError(f"bench run did not succeed: {result.summary()}")
    return elapsed


def _pair(endpoint: str, project: str, repeat: int = 2) -> tuple[float, float]:
    """(serial, parallel) wall seconds, interleaved ``repeat`` times; the faster of each."""
    serial, parallel = [], []
    for _ in range(repeat):
        serial.append(_run(endpoint, project, 1))
        parallel.append(_run(endpoint, project, 4))
    return min(serial), min(parallel)


def run() -> list[dict[str, Any]]:
    from devstack.http_proxy import FaultyProxy
    from devstack.stack import LocalStack
    from shared.refresh import seed

    with LocalStack(Path(".local/bench-refresh"), functions=[]) as stack:
        seed.load(stack.bigquery(), stack.project, AS_OF, days=14)
        endpoint = stack.env["BIGQUERY_EMULATOR_HOST"]
        _run(endpoint, stack.project, 4)  # warm-up: sync, first MERGEs
        raw_serial, raw_parallel = _pair(endpoint, stack.project)
        figures = [
            {
                "name": "refresh run, 2 independent branches, raw emulator (wall s)",
                "value": raw_parallel,
                "unit": "s",
                "baseline": raw_serial,
                "ratio": raw_parallel / raw_serial,
            }
        ]
        for latency in JOB_LATENCIES_S:
            with FaultyProxy(endpoint, match="/nothing", job_latency_s=latency) as proxy:
                serial, parallel = _pair(proxy.url, stack.project, repeat=1)
            figures.append(
                {
                    "name": f"refresh run, 2 independent branches, {latency}s job latency (wall s)",
                    "value": parallel,
                    "unit": "s",
                    "baseline": serial,
                    "ratio": parallel / serial,
                    "goal": "ratio <= 0.6",
                }
            )
    return figures


if __name__ == "__main__":
    print(run())
