"""Helpers shared by the quotas integration and end-to-end tests."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from shared.quotas import store


def run_watching_leases(
    customer: str, worker: Callable[[int], int], callers: int
) -> tuple[int, int]:
    """Run ``worker(n)`` for every n < ``callers`` at once while a reader queries the
    customer's held leases all along (the state as any reader sees it: one query is one
    snapshot); returns the sum of the workers' results and the most leases one query saw."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    held = (
        store.run_ref("x", "x")
        .parent.where(filter=FieldFilter("customer_id", "==", customer))
        .where(filter=FieldFilter("lease_expires_at", ">", datetime(1970, 1, 1, tzinfo=UTC)))
    )
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, len(list(held.stream())))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(callers) as pool:
            total = sum(pool.map(worker, range(callers)))
    finally:
        stop.set()
        watcher.join()
    return total, peak
