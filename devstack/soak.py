"""``make soak``: start and stop the whole local stack N times in a row, report every failure.

Outside ``make test`` (it takes minutes). Each round starts every emulator and function, checks
each function answers, stops everything and checks no process this round started is left; it
also counts gRPC fork-handler noise (``Bad file descriptor``) in the children's logs, the symptom
of the start-up failure of issue 13. Exit status 0 only when every round succeeded cleanly.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from devstack.processes import StackError
from devstack.stack import REPO, LocalStack

NOISE = ("Bad file descriptor", "epoll_wait error", "Kick failed")


def one_round(state_dir: Path) -> tuple[float, list[str]]:
    """Start + stop once; (start seconds, problems)."""
    problems: list[str] = []
    stack = LocalStack(state_dir)
    started = time.monotonic()
    pids: list[int] = []
    try:
        stack.start()
        elapsed = time.monotonic() - started
        pids = [p.pid for p in stack.processes.values() if p.pid is not None]
        for name, proc in stack.processes.items():
            if not proc.alive():
                problems.append(f"{name} died after start")
    except StackError as exc:
        elapsed = time.monotonic() - started
        problems.append(f"start failed: {str(exc).splitlines()[0]}")
    finally:
        logs = sorted(stack.log_dir.glob("*.log"))
        stack.stop()
    for log in logs:
        text = log.read_text(errors="replace")
        for needle in NOISE:
            if needle in text:
                problems.append(f"{log.name}: contains {needle!r}")
    time.sleep(0.5)
    left = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    if left:
        problems.append(f"processes left after stop: {left}")
    return elapsed, problems


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--state-dir", type=Path, default=REPO / ".local" / "soak")
    args = parser.parse_args()
    failures = 0
    times = []
    for n in range(1, args.runs + 1):
        elapsed, problems = one_round(args.state_dir)
        times.append(elapsed)
        status = "ok" if not problems else "FAILED"
        print(f"soak {n}/{args.runs}: {status} (started in {elapsed:.1f}s)", flush=True)
        for problem in problems:
            print(f"    {problem}", flush=True)
        failures += bool(problems)
    print(
        f"soak: {args.runs - failures}/{args.runs} clean starts, {failures} failures; "
        f"start time min {min(times):.1f}s max {max(times):.1f}s",
        flush=True,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
