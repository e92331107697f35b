"""What a run reports: one outcome per table and the run's status."""

from __future__ import annotations

from dataclasses import dataclass, field

FINAL_DONE = ("success", "dry_run")


@dataclass
class TableOutcome:
    table: str
    status: str  # success | failed | skipped | locked | continued | dry_run | already_done
    attempts: int = 0
    rows_affected: int = 0
    bytes_processed: int = 0
    error: str | None = None
    # failed on a transient error (or locked): worth a delayed retry
    retryable: bool = False


type TableSummary = dict[str, str | int | bool | None]


@dataclass
class RunResult:
    run_id: str
    status: str  # success | failed | continued
    tables: dict[str, TableOutcome] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, str | list[str] | dict[str, TableSummary]]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "order": self.order,
            "tables": {
                name: {
                    "status": o.status,
                    "attempts": o.attempts,
                    "rows_affected": o.rows_affected,
                    "bytes_processed": o.bytes_processed,
                    "error": o.error,
                }
                for name, o in self.tables.items()
            },
        }

    def conclude(self, cut: bool) -> None:
        """The run's status from its tables (``cut``: the deadline left tables unstarted)."""
        outcomes = self.tables.values()
        if cut or any(o.status == "continued" for o in outcomes):
            self.status = "continued"
        elif any(
            o.status in ("failed", "locked", "skipped") and o.error != "disabled" for o in outcomes
        ):
            self.status = "failed"
        else:
            self.status = "success"
