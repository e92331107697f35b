"""A TCP proxy that can be cut: BigQuery's gRPC port (Storage Write API) made unreachable.

:class:`devstack.http_proxy.FaultyProxy` fails HTTP requests; the Write API is a long-lived
gRPC stream (HTTP/2 over one TCP connection), so an honest outage for it is at the TCP level:
``down = True`` closes every live connection at once (the stream breaks mid-flight, as when a
server or load balancer goes away) and accepts-then-closes every new one until ``down = False``.
Bound to 127.0.0.1; threads are daemons and :meth:`close` ends them.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.split("://", 1)[-1].rpartition(":")
        self.upstream = (host or "127.0.0.1", int(port))
        self._down = False
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self.refused = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="tcp-proxy").start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        with self._lock:
            self._down = value
            live = list(self._live) if value else []
        for sock in live:
            _close(sock)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
                if down:
                    self.refused += 1
            if down:
                _close(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if self._down:
                _close(client)
                _close(upstream)
                return
            self._live.update((client, upstream))
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with self._lock:
            self._live.discard(src)
            self._live.discard(dst)
        _close(src)
        _close(dst)

    def close(self) -> None:
        self._closed = True
        self.down = True
        _close(self._server)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
