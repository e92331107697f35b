"""An HTTP server on 127.0.0.1 served by its own daemon thread while it is entered (``with``):
the local proxies (strict BigQuery layer, fault-injecting proxy) and test servers share it."""

from __future__ import annotations

import http.server
import threading
from typing import Self


class LocalHttpServer(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # bursts of concurrent function instances must not be refused
    daemon_threads = True


class ServedOnThread:
    """Base class: call :meth:`_listen` in ``__init__``; ``with`` serves, leaving stops."""

    _server: LocalHttpServer
    _thread: threading.Thread

    def _listen(self, handler: type[http.server.BaseHTTPRequestHandler], port: int = 0) -> None:
        self._server = LocalHttpServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
