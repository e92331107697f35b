"""The orchestrator's boundaries as Protocols, and the typed values that cross them.

The runner never sees a Google client: it talks to a :class:`Store` (BigQuery, see
``store.py``), an :class:`Admission` (the quotas area), a :class:`Faults` object (tests only;
production passes :data:`NO_FAULTS`) and, in the function glue, a :class:`Publisher` and a
:class:`RetryScheduler` (Cloud Tasks). Unit tests implement these with small fakes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from shared.bigquery import Typed

# A value bound as a query parameter by shared.bigquery.to_parameter (``typed(None, "INT64")``
# for typed NULLs; lists bind as arrays of their element type).
type ParamValue = str | int | float | bool | date | datetime | Sequence[str] | Typed | None
type Params = Mapping[str, ParamValue]
# One result row as the BigQuery client returns it (JSON-serialisable values or dates).
type Row = dict[str, object]


@dataclass(frozen=True)
class QueryStats:
    """What a statement cost and changed."""

    bytes_processed: int = 0
    rows_affected: int = 0


@dataclass(frozen=True)
class Override:
    """API overrides of one table's definition (``None`` = use the definition's value)."""

    enabled: bool | None = None
    priority: int | None = None
    shadow: bool | None = None


@dataclass(frozen=True)
class PriorAttempt:
    """An audit row of an earlier invocation of the same run (for resuming)."""

    table: str
    attempt: int
    status: str
    partitions_to: date | None = None


@dataclass(frozen=True)
class AuditRow:
    """One row of ``ops.refresh_runs``: one attempt (or decision) for one table in one run."""

    run_id: str
    table_name: str
    attempt: int
    status: str
    started_at: datetime
    finished_at: datetime
    run_type: str = "manual"
    invocation: int = 0
    dry_run: bool = False
    full_refresh: bool = False
    customer_id: str | None = None
    rows_affected: int = 0
    bytes_processed: int = 0
    partitions_from: date | None = None
    partitions_to: date | None = None
    shadow: bool = False
    shadow_diff: str | None = None
    delayed_attempt: int = 0
    error: str | None = None

    def insert_id(self) -> str:
        return f"{self.run_id}/{self.table_name}/{self.attempt}/{self.status}"

    def to_json(self) -> dict[str, str | int | bool | None]:
        out: dict[str, str | int | bool | None] = {}
        for key, value in self.__dict__.items():
            out[key] = value.isoformat() if isinstance(value, date) else value
        return out


class Store(Protocol):
    """BigQuery as the orchestrator uses it (implemented by ``store.Store``)."""

    @property
    def project(self) -> str: ...

    def query(
        self,
        sql: str,
        params: Params | None = None,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
    ) -> tuple[list[Row], QueryStats]: ...

    def overrides(self) -> dict[str, Override]: ...

    def run_rows(self, run_id: str) -> list[PriorAttempt]: ...

    def audit(self, rows: Sequence[AuditRow]) -> None: ...

    def acquire_lease(self, table: str, holder: str, run_id: str, ttl_s: int) -> bool: ...

    def release_lease(self, table: str, holder: str) -> None: ...

    def lease_holder(self, table: str) -> str | None: ...

    def checkpoint(self, table: str) -> date | None: ...

    def set_checkpoint(self, table: str, through: date, run_id: str) -> None: ...

    def ensure_copy(self, source_table: str, copy_table: str) -> None:
        """Create ``copy_table`` with the schema of ``source_table`` if it does not exist."""
        ...


class Admission(Protocol):
    """Quota admission for customer-scoped refreshes (the quotas area)."""

    def start(self, customer_id: str, table: str, run_id: str) -> tuple[bool, str]: ...

    def finish(self, customer_id: str, table: str, run_id: str, ok: bool) -> None: ...


class Faults(Protocol):
    """Called before every statement of a table; tests make it sleep or raise."""

    def before_statement(self, run_id: str, table: str) -> None: ...


class Publisher(Protocol):
    def __call__(self, topic: str, body: bytes, attributes: Mapping[str, str]) -> None: ...


class NoFaults:
    """Production: nothing injected."""

    def before_statement(self, run_id: str, table: str) -> None:
        return None


NO_FAULTS: Faults = NoFaults()
