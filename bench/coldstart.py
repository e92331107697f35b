"""Cold start and import time of every function, beside a baseline in the same run.

- import time: a fresh interpreter imports the function's ``main.py`` (what the platform does
  before serving), measured inside that interpreter;
- cold start: from spawning ``functions-framework`` to the first event answered. Event
  functions get a CloudEvent their handler rejects as bad input, so the answer includes the
  real work of a first event: settings, lazy client creation, a dead letter appended through
  the Storage Write API (stream opened).
  HTTP functions get an unauthenticated request (answered 401 by their auth check).
- baseline: ``bench/baseline/main.py`` serves the same function answering the same request, but
  imports functions-framework and all six Google client libraries (BigQuery, BigQuery Storage
  Write, Storage, Pub/Sub, Secret Manager, KMS) eagerly at start-up: the ratio isolates what lazy
  imports save.

Runs are interleaved (function, baseline, function, ...) and the median of ``ROUNDS`` is kept.
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devstack.processes import free_port
from devstack.stack import REPO, FunctionSpec, LocalStack
from shared.events import PUBSUB_PUBLISHED, STORAGE_FINALIZED

ROUNDS = 3
BASELINE_SOURCE = REPO / "bench" / "baseline"
_IMPORT_SNIPPET = """
import importlib.util, sys, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - t)
"""


def _env(stack: LocalStack, spec: FunctionSpec) -> dict[str, str]:
    return {**os.environ, **stack.env, **spec.env, "PYTHONPATH": str(REPO), "K_SERVICE": spec.name}


def import_seconds(stack: LocalStack, spec: FunctionSpec) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_SNIPPET, str(spec.source / "main.py")],
        env=_env(stack, spec),
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if out.returncode != 0:
        raise RuntimeError(f"importing {spec.name} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def _first_request(spec: FunctionSpec, port: int) -> urllib.request.Request:
    url = f"http://127.0.0.1:{port}/"
    if spec.signature == "http":
        return urllib.request.Request(url, method="GET")
    data: dict[str, Any] = {
        "message": {"data": base64.b64encode(b"not json {").decode(), "messageId": "bench-1"}
    }
    attributes = {
        "id": f"bench-{time.time_ns()}",
        "source": "//pubsub.googleapis.com/projects/demo-local/topics/bench",
        "type": PUBSUB_PUBLISHED,
        "datacontenttype": "application/json",
    }
    if spec.trigger.get("type") == "storage":
        attributes["type"] = STORAGE_FINALIZED
        attributes["source"] = "//storage.googleapis.com/projects/_/buckets/bench"
        data = {"bucket": "bench"}  # malformed object resource: dead-lettered
    headers, body = to_binary(CloudEvent(attributes, data))
    return urllib.request.Request(url, bytes(body), dict(headers), method="POST")


def cold_start_seconds(stack: LocalStack, spec: FunctionSpec) -> float:
    port = free_port()
    argv = spec.serve_argv(port)
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=_env(stack, spec), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{spec.name} exited during start-up")
            try:
                with urllib.request.urlopen(_first_request(spec, port), timeout=30):  # noqa: S310
                    pass
                break
            except urllib.error.HTTPError:
                break  # answered (401/4xx/5xx all count as answered)
            except OSError:
                time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(10)


def run() -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    with LocalStack(REPO / ".local" / "bench-coldstart", functions=[]) as stack:
        specs = [FunctionSpec.from_manifest(item) for item in stack.manifest["functions"]]
        for spec in specs:
            baseline = FunctionSpec(
                spec.name,
                BASELINE_SOURCE,
                spec.entry_point,
                signature=spec.signature,
                trigger=spec.trigger,
                env={
                    **spec.env,
                    "BENCH_FUNCTION_MAIN": str(spec.source / "main.py"),
                    "BENCH_ENTRY_POINT": spec.entry_point,
                },
            )
            imports: list[float] = []
            base_imports: list[float] = []
            colds: list[float] = []
            base_colds: list[float] = []
            for _ in range(ROUNDS):
                imports.append(import_seconds(stack, spec))
                base_imports.append(import_seconds(stack, baseline))
                colds.append(cold_start_seconds(stack, spec))
                base_colds.append(cold_start_seconds(stack, baseline))
            for label, mine, base in (
                ("import", imports, base_imports),
                ("cold start", colds, base_colds),
            ):
                value, reference = statistics.median(mine), statistics.median(base)
                figures.append(
                    {
                        "name": f"{spec.name} {label}",
                        "value": round(value * 1000, 1),
                        "unit": "ms",
                        "baseline": round(reference * 1000, 1),
                        "ratio": round(value / reference, 3),
                    }
                )
    return figures
