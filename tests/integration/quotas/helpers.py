"""Helpers shared by the quotas integration and end-to-end tests."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable

from shared.quotas import store


def run_watching_leases(
    customer: str, worker: Callable[[int], int], callers: int
) -> tuple[int, int]:
    """Run ``worker(n)`` for every n < ``callers`` at once while a reader watches the
    customer's leases document all along (the state as any reader sees it); returns the sum of
    the workers' results and the most leases one read saw."""
    ref = store.leases_ref(customer)
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            held = (ref.get().to_dict() or {}).get("leases")
            peak = max(peak, len(store.unpack_leases(held)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(callers) as pool:
            total = sum(pool.map(worker, range(callers)))
    finally:
        stop.set()
        watcher.join()
    return total, peak
