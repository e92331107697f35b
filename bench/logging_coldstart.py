"""google-cloud-logging's structured logging vs our light path, as a function's cold start sees it.

Issue 14 item 8: use google-cloud-logging's structured-logging format in the functions only if
the cold-start bench allows. Each sample is a fresh interpreter that imports the logging setup,
installs it on the root logger and writes one structured line with labels and a trace (what a
function does on its first event): ``shared.log`` (``json`` + ``logging``) vs
``google.cloud.logging_v2.handlers.StructuredLogHandler`` (the library's JSON-on-stdout handler
for Cloud Run / Cloud Functions, no API client). Rounds alternate; medians compared.
Also the per-line cost, in process.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

from bench import figure
from devstack.stack import REPO

ROUNDS = 9
LINES = 5000

OURS = """
import time; t = time.perf_counter()
import logging
from shared import log
log.configure("p")
with log.context("0af7651916cd43dd8448eb211c80319c", function="bench", event_id="e1"):
    logging.getLogger("bench").info("hello", extra={"fields": {"event": "bench"}})
print(time.perf_counter() - t, file=__import__("sys").stderr)
"""
LIBRARY = """
import time; t = time.perf_counter()
import logging
from google.cloud.logging_v2.handlers import StructuredLogHandler
handler = StructuredLogHandler(project_id="p", labels={"function": "bench"})
root = logging.getLogger(); root.handlers[:] = [handler]; root.setLevel("INFO")
logging.getLogger("bench").info(
    "hello",
    extra={"json_fields": {"event": "bench"}, "labels": {"event_id": "e1"},
           "trace": "projects/p/traces/0af7651916cd43dd8448eb211c80319c"},
)
print(time.perf_counter() - t, file=__import__("sys").stderr)
"""


def _once(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    return float(out.stderr.strip().splitlines()[-1])


def _per_line_us(setup: str, emit: str) -> float:
    code = f"""
import io, logging, sys, time
sys.stdout = io.StringIO()
{setup}
log = logging.getLogger("bench")
t = time.perf_counter()
for i in range({LINES}):
    {emit}
print((time.perf_counter() - t) / {LINES} * 1e6, file=sys.stderr)
"""
    return _once(code)


def run() -> list[dict[str, Any]]:
    ours: list[float] = []
    library: list[float] = []
    for _ in range(ROUNDS):
        ours.append(_once(OURS))
        library.append(_once(LIBRARY))
    mine, base = statistics.median(library), statistics.median(ours)
    line_ours = _per_line_us(
        "from shared import log\nlog.configure('p')",
        "log.info('hello %s', i, extra={'fields': {'event': 'bench'}})",
    )
    line_lib = _per_line_us(
        "from google.cloud.logging_v2.handlers import StructuredLogHandler\n"
        "root = logging.getLogger(); root.handlers[:] = [StructuredLogHandler(project_id='p')]\n"
        "root.setLevel('INFO')",
        "log.info('hello %s', i, extra={'json_fields': {'event': 'bench'}})",
    )
    return [
        figure(
            "logging: google-cloud-logging StructuredLogHandler first line (cold)",
            mine * 1000,
            "ms",
            base * 1000,
        ),
        figure(
            "logging: google-cloud-logging StructuredLogHandler per line", line_lib, "us", line_ours
        ),
    ]


if __name__ == "__main__":
    started = time.perf_counter()
    for row in run():
        print(row)
    print(f"({time.perf_counter() - started:.1f}s)")
