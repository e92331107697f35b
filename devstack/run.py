"""``make run``: start the local stack, play the demo through real triggers, report, stay up.

``--demo stay`` (default) keeps the stack up until Ctrl-C; ``--demo once`` exits 0 after the
report; ``--demo none`` starts the stack without playing the demo.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from devstack.console.serve import start_console
from devstack.demos import discover
from devstack.processes import StackError
from devstack.report import Report
from devstack.stack import REPO, LocalStack

STATE_DIR = REPO / ".local" / "run"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def how_to(stack: LocalStack, report: Report) -> None:
    report.section("Send your own events")
    if stack.extra_endpoints.get("console"):
        report.line(f"Console: {stack.extra_endpoints['console']}   (read-only, reloads itself)")
    report.line("CLI: .venv/bin/plumb --help   (finds this stack through its stack.json)")
    report.line(f"Endpoints: {stack.endpoints_file}   (shell: source {stack.state_dir}/stack.env)")
    report.line(json.dumps({k: v for k, v in stack.endpoints().items() if k != "pids"}, indent=2))
    report.line("Examples (after sourcing stack.env, with .venv/bin/python):")
    report.line("  from google.cloud import pubsub_v1")
    report.line(
        "  pubsub_v1.PublisherClient().publish('projects/demo-local/topics/<topic>', b'{...}')"
    )
    report.line(
        "  from google.cloud import storage"
        "; from google.auth.credentials import AnonymousCredentials"
    )
    report.line(
        "  storage.Client('demo-local', AnonymousCredentials()).bucket('<bucket>')"
        ".blob('<name>').upload_from_string(b'...')"
    )
    report.line(f"Logs of every process: {stack.log_dir}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", choices=("stay", "once", "none"), default="stay")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="logs, data, stack.json")
    parser.add_argument(
        "--functions", help="comma-separated function names to serve (default: all)", default=None
    )
    parser.add_argument(
        "--conflict-rate",
        type=float,
        default=0.1,
        help="share of mutating DML the strict BigQuery layer aborts at random",
    )
    args = parser.parse_args()
    only = None if args.functions is None else [f for f in args.functions.split(",") if f]
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # Ctrl-C stops the stack even when we were started with SIGINT ignored (a background job of
    # a non-interactive shell inherits SIG_IGN, and Python then leaves it ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    report = Report()
    # make run: besides the deterministic rules, abort a share of mutating DML at random so the
    # retry paths run in the demo (BIGQUERY_STRICT=0 turns the layer off)
    stack = LocalStack(
        args.state_dir,
        functions=only,
        ticker=True,
        strict_config={"conflict_rate": args.conflict_rate},
    )
    failed = False
    try:
        stack.start()
        console = start_console(stack)
        report.line(f"Console (read-only, reloads itself): {console}")
        if args.demo != "none":
            for module in discover():
                try:
                    module.run(stack, report)
                except Exception:
                    failed = True
                    report.line(f"!! demo step {module.__name__} failed:")
                    report.line(traceback.format_exc())
        how_to(stack, report)
        if stack.strict is not None:
            report.section("Strict BigQuery")
            report.line(stack.strict.summary())
        if args.demo == "once":
            return 1 if failed else 0
        report.line("\nStack is up. Press Ctrl-C to stop.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        report.line("\nStopping...")
        return 130 if args.demo == "once" else 0
    except StackError as exc:
        report.line(f"local stack failed: {exc}")
        return 2
    finally:
        stack.stop()
        report.line("All stack processes stopped.")


if __name__ == "__main__":
    sys.exit(main())
