"""Outbound notification rules: HTTPS only outside local, no redirects, never an empty key,
and a misconfiguration fails the cold start (RefreshSettings cross-checks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.errors import ConfigurationError
from shared.refresh import notify
from shared.refresh.settings import RefreshSettings
from shared.settings import SettingsError, load


class _Server:
    def __init__(self, status: int, location: str = "") -> None:
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                server.hits.append(self.path)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    target = _Server(200)
    redirecting = _Server(302, f"{target.url}/stolen")
    yield redirecting, target
    redirecting.close()
    target.close()


def test_redirects_are_never_followed(servers: tuple[_Server, _Server]) -> None:
    redirecting, target = servers
    status = notify.post(f"{redirecting.url}/hook", b"{}", "key", local=True)
    assert status == 302
    assert redirecting.hits == ["/hook"] and target.hits == []


def test_notify_records_the_redirect_and_publishes(servers: tuple[_Server, _Server]) -> None:
    redirecting, target = servers
    published: list[bytes] = []
    summary = {"run_id": "r1", "status": "succeeded", "tables": {}}
    delivered = notify.notify(
        summary, [redirecting.url], "key", lambda b, a: published.append(b), local=True
    )
    assert delivered == {redirecting.url: 302} and target.hits == [] and len(published) == 1


@pytest.mark.parametrize(
    ("url", "local", "problem"),
    [
        ("https://hooks.example.com/x?token=1", False, None),
        ("http://hooks.example.com/x", False, "must use https"),
        ("http://127.0.0.1:9/x", True, None),
        ("file:///etc/passwd", True, "must use https or http"),
        ("ftp://example.com/x", False, "must use https"),
        ("https:///nohost", False, "no host"),
        ("hooks.example.com/x", False, "no scheme"),
    ],
)
def test_url_rules(url: str, local: bool, problem: str | None) -> None:
    found = notify.url_problem(url, local=local)
    assert (found is None) if problem is None else (found is not None and problem in found)
    if problem is not None:
        assert "example.com" not in (found or "") and "token" not in (found or "")


def test_non_https_url_is_refused_before_any_request() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        notify.post("http://127.0.0.1:9/x", b"{}", "key", local=False)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        notify.sign("", "1", b"{}")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"APP_ENV": "prod"}, "REFRESH_NOTIFY_SECRET is required"),
        (
            {"APP_ENV": "local", "REFRESH_NOTIFY_URLS": "http://127.0.0.1:9/x"},
            "REFRESH_NOTIFY_SECRET is required",
        ),
        (
            {
                "APP_ENV": "prod",
                "REFRESH_NOTIFY_SECRET": "k",
                "REFRESH_NOTIFY_URLS": "https://a.example/x,http://b.example/y?token=s3cret",
            },
            "REFRESH_NOTIFY_URLS #1: notification URLs must use https",
        ),
    ],
)
def test_misconfiguration_fails_the_cold_start(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        load(RefreshSettings, environ)
    assert "s3cret" not in str(caught.value)


def test_valid_configurations_load() -> None:
    load(RefreshSettings, {"APP_ENV": "local"})
    load(RefreshSettings, {"APP_ENV": "local", "REFRESH_NOTIFY_SECRET": "k"})
    settings = load(
        RefreshSettings,
        {"APP_ENV": "prod", "REFRESH_NOTIFY_SECRET": "k", "REFRESH_NOTIFY_URLS": "https://a.b/c"},
    )
    assert settings.notify_urls == ("https://a.b/c",)
    assert "https://a.b/c" not in repr(settings)
