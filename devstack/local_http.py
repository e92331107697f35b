"""An HTTP server on 127.0.0.1 served by its own daemon thread while it is entered (``with``):
the local proxies (strict BigQuery layer, fault-injecting proxy) and test servers share it."""

from __future__ import annotations

import contextlib
import http.server
import threading
from typing import Any, Self


class LocalHttpServer(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # bursts of concurrent function instances must not be refused
    daemon_threads = True


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A keep-alive request handler that logs nothing, reads the body, answers in one call."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, body: bytes, content_type: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # the client may have given up (its own timeout): nothing to answer then
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


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
