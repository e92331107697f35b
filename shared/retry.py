"""One retry policy: exponential backoff with full jitter, bounded by attempts and a deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from shared.errors import is_transient


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.2
    multiplier: float = 2.0
    maximum_s: float = 10.0
    deadline_s: float = 60.0

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Sleep before each retry: uniform in [0, min(max, initial * multiplier**n)]."""
        rand = rng or random
        for n in range(self.attempts - 1):
            cap = min(self.maximum_s, self.initial_s * self.multiplier**n)
            yield rand.uniform(cap / 2, cap)


DEFAULT_RETRY = RetryPolicy()


def call_with_retry[T](
    fn: Callable[[], T],
    policy: RetryPolicy = DEFAULT_RETRY,
    *,
    retryable: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call ``fn``; on a retryable error sleep per ``policy`` and try again."""
    start = clock()
    delays = policy.delays()
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:
            delay = next(delays, None)
            if not retryable(exc) or delay is None or clock() - start + delay > policy.deadline_s:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
            attempt += 1
