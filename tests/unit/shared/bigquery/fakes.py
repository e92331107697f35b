"""Fakes at the Storage Write API writer's boundary, shared by the tests of its users."""

from __future__ import annotations


class Done:
    """An append's future that is already answered: ``None`` for acknowledged, or the error."""

    def __init__(self, outcome: BaseException | None) -> None:
        self.outcome = outcome

    def result(self, timeout: float | None = None) -> str:
        if self.outcome is not None:
            raise self.outcome
        return "ok"
