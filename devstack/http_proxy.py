"""A counting, fault-injecting HTTP proxy for local tests and benchmarks.

Put it between a function and the BigQuery emulator (``BIGQUERY_EMULATOR_HOST`` of that one
function) to count real insertAll calls, or to answer them with the 503 ``backendError`` that
BigQuery returns during an outage, while the official client and Pub/Sub redelivery behave as
in production. ``job_latency_s`` adds a fixed delay to every BigQuery job request (jobs.insert
and jobs.query), as real BigQuery spends job time on its own servers, not the caller's CPU.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time

import requests

from devstack.local_http import QuietHandler, ServedOnThread

_JOB_REQUEST = re.compile(r"/projects/[^/]+/(jobs|queries)(\?|$)")


class FaultyProxy(ServedOnThread):
    def __init__(
        self, upstream: str, match: str = "/insertAll", job_latency_s: float = 0.0
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.match = match
        self.job_latency_s = job_latency_s
        self.jobs = 0
        self.down = False
        self.matched = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._listen(self._handler())

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self
        session = requests.Session()

        class Handler(QuietHandler):
            def _forward(self) -> None:
                body = self.body()
                if proxy.match in self.path:
                    with proxy._lock:
                        proxy.matched += 1
                        failing = proxy.down
                        if failing:
                            proxy.failed += 1
                    if failing:
                        self.reply(
                            503,
                            json.dumps(
                                {
                                    "error": {
                                        "code": 503,
                                        "message": "backend unavailable (injected outage)",
                                        "errors": [{"reason": "backendError"}],
                                        "status": "UNAVAILABLE",
                                    }
                                }
                            ).encode(),
                        )
                        return
                if (
                    proxy.job_latency_s
                    and self.command == "POST"
                    and _JOB_REQUEST.search(self.path)
                ):
                    with proxy._lock:
                        proxy.jobs += 1
                    time.sleep(proxy.job_latency_s)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                answer = session.request(
                    self.command,
                    proxy.upstream + self.path,
                    data=body,
                    headers=headers,
                    timeout=120,
                )
                self.reply(answer.status_code, answer.content, answer.headers.get("Content-Type"))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815

        return Handler
