"""Start the console as one more stack process (stopped with the stack, by PID)."""

from __future__ import annotations

import sys

from devstack.processes import free_port, http_ok
from devstack.stack import LocalStack


def start_console(stack: LocalStack) -> str:
    """Serve the console for ``stack`` on a free 127.0.0.1 port; returns its URL (also written
    to stack.json as ``console``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = stack._spawn(
        "console",
        [
            sys.executable,
            "-m",
            "devstack.console",
            "--port",
            str(port),
            "--stack",
            str(stack.endpoints_file),
        ],
    )
    process.wait_ready(lambda: http_ok(f"{url}/healthz"))
    stack.extra_endpoints["console"] = url
    stack.write_endpoints()
    return url
