import random

import pytest

from shared.errors import PermanentError, TransientError
from shared.retry import RetryPolicy, call_with_retry


def test_delays_grow_exponentially_with_jitter_and_cap() -> None:
    policy = RetryPolicy(attempts=6, initial_s=1, multiplier=2, maximum_s=5)
    delays = list(policy.delays(random.Random(7)))
    assert len(delays) == 5
    caps = [1, 2, 4, 5, 5]
    for delay, cap in zip(delays, caps, strict=True):
        assert cap / 2 <= delay <= cap


def test_transient_errors_are_retried_until_success() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("again")
        return "ok"

    assert call_with_retry(flaky, RetryPolicy(attempts=5), sleep=slept.append) == "ok"
    assert len(calls) == 3
    assert len(slept) == 2


def test_permanent_errors_are_not_retried() -> None:
    calls: list[int] = []

    def bad() -> None:
        calls.append(1)
        raise PermanentError("bad")

    with pytest.raises(PermanentError):
        call_with_retry(bad, sleep=lambda _: None)
    assert calls == [1]


def test_attempts_are_bounded() -> None:
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise TransientError("down")

    with pytest.raises(TransientError):
        call_with_retry(down, RetryPolicy(attempts=3), sleep=lambda _: None)
    assert len(calls) == 3


def test_deadline_stops_retries() -> None:
    now = [0.0]

    def down() -> None:
        now[0] += 10
        raise TransientError("down")

    with pytest.raises(TransientError):
        call_with_retry(
            down,
            RetryPolicy(attempts=10, deadline_s=15, initial_s=1),
            sleep=lambda s: None,
            clock=lambda: now[0],
        )
    assert now[0] == 20
