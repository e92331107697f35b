"""A plain-text report the demo prints: sections, lines and small tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class Report:
    def __init__(self, width: int = 100) -> None:
        self.width = width

    def section(self, title: str) -> None:
        print(f"\n== {title} " + "=" * max(0, self.width - len(title) - 4), flush=True)

    def line(self, text: str = "") -> None:
        print(text, flush=True)

    def table(
        self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
    ) -> None:
        """Print rows as an aligned table (values cut at 40 characters)."""
        if not rows:
            print("  (no rows)", flush=True)
            return
        cols = list(columns or rows[0].keys())

        def cell(value: Any) -> str:
            text = "" if value is None else str(value)
            text = text.replace("\n", " ")
            return text if len(text) <= 40 else text[:37] + "..."

        widths = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in cols}
        print("  " + "  ".join(c.ljust(widths[c]) for c in cols), flush=True)
        print("  " + "  ".join("-" * widths[c] for c in cols), flush=True)
        for row in rows:
            print("  " + "  ".join(cell(row.get(c)).ljust(widths[c]) for c in cols), flush=True)
