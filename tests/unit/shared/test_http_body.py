"""shared.http_body: 413 before reading, one helper used by every HTTP function."""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import http_body
from shared.resources import manifest

REPO = Path(__file__).resolve().parents[3]


class _Unreadable(io.BytesIO):
    def read(self, size: int | None = -1, /) -> bytes:
        raise AssertionError("the body was read although its declared length is too large")


class _Request:
    def __init__(self, body: bytes, declared: int | None, stream: io.BytesIO | None = None):
        self.content_length = declared
        self.stream = stream if stream is not None else io.BytesIO(body)


def test_declared_oversize_is_refused_without_reading() -> None:
    request = _Request(b"", 10_000, _Unreadable())
    with pytest.raises(http_body.BodyTooLarge) as caught:
        http_body.read_body(request, 100)
    assert (caught.value.limit, caught.value.declared) == (100, 10_000)
    body, status, headers = http_body.too_large(caught.value)
    assert status == 413 and json.loads(body) == {"error": "payload_too_large", "max_bytes": 100}
    assert headers["Connection"] == "close"


def test_chunked_oversize_reads_at_most_limit_plus_one() -> None:
    stream = io.BytesIO(b"x" * 10_000)
    with pytest.raises(http_body.BodyTooLarge):
        http_body.read_body(_Request(b"", None, stream), 100)
    assert stream.tell() == 101


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=300),
    limit=st.integers(min_value=0, max_value=300),
    declare=st.booleans(),
)
def test_body_within_limit_is_returned_whole_else_413(
    body: bytes, limit: int, declare: bool
) -> None:
    request = _Request(body, len(body) if declare else None)
    if len(body) <= limit:
        assert http_body.read_body(request, limit) == body
    else:
        with pytest.raises(http_body.BodyTooLarge):
            http_body.read_body(request, limit)


@given(st.binary(max_size=200))
def test_parse_json_never_raises(body: bytes) -> None:
    http_body.parse_json(body)


def test_parse_json() -> None:
    assert http_body.parse_json(b'{"a": 1}') == {"a": 1}
    assert http_body.parse_json(b"") is None
    assert http_body.parse_json(b"{not json") is None
    # 60 KB fits the APIs' limit but nests past the recursion limit (RecursionError was a 500)
    assert http_body.parse_json(b"[" * 30_000 + b"]" * 30_000) is None


# ------------------------------------------------------------------ every HTTP function
def _http_functions() -> list[dict[str, object]]:
    return [f for f in manifest()["functions"] if f.get("trigger", {}).get("type") == "http"]


def test_every_http_function_reads_its_body_through_the_helper() -> None:
    names = [f["name"] for f in _http_functions()]
    assert {"refresh-api", "quota-api", "webhook-receiver"} <= set(names)
    for fn in _http_functions():
        tree = ast.parse((REPO / str(fn["source"]) / "main.py").read_text())
        calls = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        attrs = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert "read_body" in calls, f"{fn['name']}: body not read through shared.http_body"
        unbounded = {"get_data", "get_json"} & calls | {"data", "json", "form"} & attrs
        assert not unbounded, f"{fn['name']}: reads the body unbounded via {unbounded}"
        assert "stream" not in attrs, f"{fn['name']}: reads request.stream itself"


@pytest.mark.parametrize(
    ("target", "source", "path"),
    [
        ("refresh_api", "functions/refresh_api/main.py", "/trigger"),
        ("quota_api", "functions/quota_api/main.py", "/runs/start"),
    ],
)
def test_api_answers_413_before_authenticating(target: str, source: str, path: str) -> None:
    from functions_framework import create_app

    client = create_app(target, str(REPO / source), "http").test_client()
    big = b"{" + b" " * http_body.API_MAX_BODY_BYTES + b"}"
    answer = client.post(path, data=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.get_json() == {
        "error": "payload_too_large",
        "max_bytes": http_body.API_MAX_BODY_BYTES,
    }
