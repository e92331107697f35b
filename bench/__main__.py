"""Run the benchmarks, print one table, write ``bench/results/latest.json``.

Every module in ``bench/`` with a ``run()`` returning figures
``{"name", "value", "unit", "baseline", "ratio"}`` is a benchmark; pass module names to run
only some (``python -m bench coldstart``). Baselines are measured in the same run, side by side,
because this machine is small and noisy: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# Benchmarks measure the emulator itself, as their documented figures were: the strict layer
# (on by default for `make run` and `make test`) would add its own proxy hop to every request.
os.environ.setdefault("BIGQUERY_STRICT", "0")


def _modules(selected: list[str]) -> list[str]:
    names = [
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not info.name.startswith("_") and not info.ispkg
    ]
    return [n for n in sorted(names) if not selected or n in selected]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def main(argv: list[str]) -> int:
    figures: list[dict[str, Any]] = []
    failed = []
    for name in _modules(argv):
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        print(f"running bench.{name} ...", flush=True)
        started = time.monotonic()
        try:
            for figure in module.run():
                figures.append({"bench": name, **figure})
        except Exception:
            failed.append(name)
            traceback.print_exc()
        print(f"  done in {time.monotonic() - started:.0f}s", flush=True)
    header = ("bench", "name", "value", "unit", "baseline", "ratio")
    rows = [[_fmt(f.get(h)) for h in header] for f in figures]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    RESULTS.mkdir(exist_ok=True)
    keys = ("name", "value", "unit", "baseline", "ratio", "bench")
    payload = {"figures": [{k: f.get(k) for k in keys} for f in figures]}
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {RESULTS / 'latest.json'}")
    if failed:
        print(f"FAILED benches: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
