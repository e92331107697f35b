"""HTTP-boundary property harness: send a batch of generated requests to a function at once,
then read BigQuery right after the answers and check every input ended one of four ways:

(a) a row, (b) a dead letter with a reason plus a 2xx, (c) a 4xx for a malformed request,
(d) a 5xx only for a transient failure: re-sent as the platform would, it ends (a)-(c).

Inputs are batched (``BATCH`` per hypothesis example, sent concurrently) so 1,000 inputs per
function stay within the CI budget; a CPU load runs beside them (:func:`machine_load`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

from devstack.stack import LocalStack

BATCH = 50
RESENDS = 3


@dataclass
class Sent:
    """One generated HTTP request and what became of it."""

    headers: dict[str, str]
    body: bytes
    event_id: str | None  # the id under which a row / dead letter would be found
    statuses: list[int] = field(default_factory=list)

    @property
    def final(self) -> int:
        return self.statuses[-1]


def post_all(url: str, batch: list[Sent], workers: int = 8) -> None:
    """POST every request concurrently; re-send 5xx answers (platform retry), sequentially."""

    def send(item: Sent) -> None:
        with requests.Session() as session:
            for _ in range(1 + RESENDS):
                try:
                    answer = session.post(url, data=item.body, headers=item.headers, timeout=120)
                    item.statuses.append(answer.status_code)
                except requests.ConnectionError:
                    item.statuses.append(599)
                if item.final < 500:
                    return

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, batch))


def check_outcomes(
    stack: LocalStack,
    batch: list[Sent],
    *,
    rows_for: Callable[[list[str]], set[str]],
    function: str,
) -> dict[str, int]:
    """Assert (a)-(d) for every request; return how many ended which way."""
    ids = [s.event_id for s in batch if s.event_id]
    with_rows = rows_for(ids) if ids else set()
    letters = (
        {
            r["event_id"]
            for r in stack.query(
                f"SELECT event_id FROM `{stack.project}.ops.dead_letters` "
                "WHERE function = @f AND event_id IN UNNEST(@ids) AND reason IS NOT NULL",
                {"f": function, "ids": ids},
            )
        }
        if ids
        else set()
    )
    tally = {"row": 0, "dead_letter": 0, "4xx": 0, "5xx_then_ok": 0}
    for item in batch:
        assert item.final < 500, f"5xx that a retry did not cure: {item.statuses} {item.headers}"
        if len(item.statuses) > 1:
            tally["5xx_then_ok"] += 1
        if 400 <= item.final < 500:
            tally["4xx"] += 1
            continue
        assert 200 <= item.final < 300, item.statuses
        assert item.event_id, f"a 2xx for a request without an event id: {item.headers}"
        if item.event_id in with_rows:
            tally["row"] += 1
        elif item.event_id in letters:
            tally["dead_letter"] += 1
        else:
            raise AssertionError(
                f"2xx with nothing written: event {item.event_id} headers={item.headers} "
                f"body={item.body[:300]!r}"
            )
    return tally


@contextlib.contextmanager
def machine_load(processes: int = 1) -> Iterator[None]:
    """Busy CPU beside the test (niced): the issue's losses showed only on a loaded machine."""
    burners = [
        subprocess.Popen(
            [sys.executable, "-c", "import os\nos.nice(5)\nwhile True: pass"],
            stdin=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    try:
        yield
    finally:
        for proc in burners:
            proc.kill()
            proc.wait(10)
