"""Launcher of the PyPI ``gcloud-tasks-emulator`` (0.6.2) bound to 127.0.0.1 only.

The emulator ignores ``--host`` and listens on ``[::]:PORT`` (every interface). This launcher,
run by the emulator's own virtualenv (``.emulators/tasks``; it pins an older google-cloud-tasks
and protobuf than the project), rewrites that address to ``127.0.0.1`` before handing over to
the emulator's own ``main()``. Usage: ``python tasks_emulator.py start -p PORT -d QUEUE_PATH``.
Stdlib, grpc and the emulator only: it does not import the project.
"""

from __future__ import annotations

import sys
from typing import Any


def _bind_loopback_only() -> None:
    import grpc

    make_server = grpc.server

    def server(*args: Any, **kwargs: Any) -> Any:
        real = make_server(*args, **kwargs)
        add_port = real.add_insecure_port

        def add_insecure_port(address: str) -> int:
            host, _, port = address.rpartition(":")
            if host in ("[::]", "0.0.0.0", "", "localhost"):  # noqa: S104 - rewritten here
                address = f"127.0.0.1:{port}"
            bound: int = add_port(address)
            return bound

        real.add_insecure_port = add_insecure_port
        return real

    grpc.server = server


def main() -> None:
    _bind_loopback_only()
    from gcloud_tasks_emulator.__main__ import main as emulator_main  # type: ignore[import-not-found]

    sys.argv[0] = "gcloud-tasks-emulator"
    emulator_main()


if __name__ == "__main__":
    main()
