"""Test-only knobs of a refresh request (honoured only when APP_ENV=local).

A request's ``test`` object is read ONCE, by the function glue (``orchestrate``), into a
:class:`TestKnobs`; production code only ever sees the resulting :class:`~ports.Faults`
object (``NO_FAULTS`` unless local) and plain numbers. Fault specs per table:
``{"transient": n}`` makes the first n statements of that table in the run raise what the
BigQuery client raises for a ``backendError`` (503); ``{"permanent": "text"}`` raises a 400;
``{"sleep_s": x}`` delays each statement (simulated server time).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from shared.refresh.ports import NO_FAULTS, Faults


@dataclass(frozen=True)
class TableFault:
    transient: int = 0
    permanent: str = ""
    sleep_s: float = 0.0


class InjectedFaults:
    """Faults injected at the orchestrator's statement boundary (per run and table)."""

    def __init__(self, specs: Mapping[str, TableFault]) -> None:
        self.specs = dict(specs)
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def before_statement(self, run_id: str, table: str) -> None:
        spec = self.specs.get(table)
        if spec is None:
            return
        from google.api_core import exceptions

        if spec.sleep_s:
            time.sleep(spec.sleep_s)
        if spec.permanent:
            raise exceptions.BadRequest(f"injected permanent failure: {spec.permanent}")
        if spec.transient:
            with self._lock:
                self._counts[(run_id, table)] += 1
                n = self._counts[(run_id, table)]
            if n <= spec.transient:
                raise exceptions.ServiceUnavailable(f"injected backendError {n}/{spec.transient}")


# Counters survive across invocations of one function instance, so a fault such as
# {"transient": 5} spans continuations and delayed retries of the same run.
_shared: dict[tuple[tuple[str, TableFault], ...], InjectedFaults] = {}
_shared_lock = threading.Lock()


def _number(value: object, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if low < value <= high else None


def _table_fault(spec: object) -> TableFault | None:
    if not isinstance(spec, dict):
        return None
    transient = spec.get("transient")
    return TableFault(
        transient=int(transient) if isinstance(transient, int) and transient > 0 else 0,
        permanent=str(spec.get("permanent") or ""),
        sleep_s=_number(spec.get("sleep_s"), 0, 60) or 0.0,
    )


@dataclass(frozen=True)
class TestKnobs:
    """What a local request's ``test`` object may change."""

    __test__ = False  # not a pytest class

    faults: Faults = NO_FAULTS
    deadline_s: float | None = None
    notify_urls: tuple[str, ...] = ()
    retry_delay_scale: float = 1.0

    @classmethod
    def parse(cls, test: Mapping[str, object]) -> TestKnobs:
        raw = test.get("faults")
        specs = {
            str(name): fault
            for name, spec in (raw.items() if isinstance(raw, dict) else [])
            if (fault := _table_fault(spec)) is not None
        }
        urls = test.get("notify_urls")
        return cls(
            faults=_faults(specs) if specs else NO_FAULTS,
            deadline_s=_number(test.get("deadline_s"), 0, 3600),
            notify_urls=tuple(str(u) for u in urls) if isinstance(urls, list) else (),
            retry_delay_scale=_number(test.get("retry_delay_scale"), 0, 1) or 1.0,
        )


def _faults(specs: dict[str, TableFault]) -> InjectedFaults:
    key = tuple(sorted(specs.items()))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = InjectedFaults(specs)
        return _shared[key]
