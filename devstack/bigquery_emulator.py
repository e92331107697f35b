"""Launcher of local-bigquery (0.4.0) with a Storage Write API server that does not starve.

local-bigquery serves gRPC from ``grpc.server(ThreadPoolExecutor(max_workers=16))``. Every open
``AppendRows`` bidi stream holds one of those threads for its whole life, and the writer keeps
one default stream per table per process (as it should on BigQuery, which serves thousands of
connections per project). With every function of the stack, the tests and the demo writing,
more than 16 streams are open at once, so the 17th stream's open waits until another stream
closes: writes time out and later tests fail for no reason of their own. This launcher, run by
the emulator's own virtualenv (``.emulators/bigquery``), gives that server a pool large enough
for the stack before handing over to local-bigquery's own ``main()``. Usage: the same arguments
as ``local-bigquery``. Stdlib, grpc and the emulator only: it does not import the project.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

WRITE_API_THREADS = 512


def _roomy_grpc_server() -> None:
    import grpc

    make_server = grpc.server

    def server(executor: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            executor.shutdown(wait=False)  # never used: no thread was started yet
            executor = concurrent.futures.ThreadPoolExecutor(max_workers=WRITE_API_THREADS)
        return make_server(executor, *args, **kwargs)

    grpc.server = server


def main() -> None:
    _roomy_grpc_server()
    from local_bigquery.cli import main as emulator_main  # type: ignore[import-not-found]

    emulator_main()


if __name__ == "__main__":
    main()
