"""``POST /credentials`` through functions-framework: sealed for its own customer only, once
per id, behind its own scope, a customer in standing and a configured provider; the secret
never echoed nor logged."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
import requests

from devstack.stack import LocalStack
from shared import api_keys
from shared.quotas import credentials, customers, members
from shared.quotas.credentials_api import MAX_SECRET_BYTES

pytestmark = pytest.mark.stack


def _tenant(prefix: str, scopes: list[str], provider: str | None = "aws") -> tuple[str, str]:
    customer = f"{prefix}-{uuid.uuid4().hex[:8]}"
    customers.upsert_customer(customer, "STARTER")
    if provider:
        assert members.add_provider(customer, provider)
    return customer, api_keys.create_key(customer, scopes)[1]


def _post(stack: LocalStack, path: str, key: str, body: Any) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        f"{stack.function_url('quota-api')}{path}",
        data=raw,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=60,
    )


def _stored(stack: LocalStack, customer: str) -> list[dict[str, Any]]:
    return stack.query(
        f"SELECT credential_id, provider, ciphertext FROM `{stack.project}.customers."
        "customer_cloud_credentials` WHERE customer_id = @c ORDER BY credential_id",
        {"c": customer},
    )


def test_a_credential_is_sealed_once_for_its_own_customer(stack: LocalStack) -> None:
    a, key_a = _tenant("cred-a", ["credentials"])
    b, key_b = _tenant("cred-b", ["credentials"])
    secret_a, secret_b = f"AKIA-a-{uuid.uuid4().hex}", f"AKIA-b-{uuid.uuid4().hex}"
    body = {"provider": "aws", "credential_id": "main"}
    first = _post(stack, "/credentials", key_a, {**body, "secret": secret_a})
    assert first.status_code == 201, first.text
    assert first.json() == {"customer_id": a, "credential_id": "main", "created": True}
    # b chooses the same id: its own credential, a's is untouched
    assert _post(stack, "/credentials", key_b, {**body, "secret": secret_b}).status_code == 201
    # a retry, and another secret under the same id: recorded once, never replaced
    for again in (secret_a, "another-secret"):
        repeat = _post(stack, "/credentials", key_a, {**body, "secret": again})
        assert repeat.status_code == 200 and repeat.json()["created"] is False
    # a's key naming b is refused, nothing written for b
    naming_b = {**body, "credential_id": "other", "secret": "x", "customer_id": b}
    assert _post(stack, "/credentials", key_a, naming_b).status_code == 403

    cipher = credentials.LocalCipher(os.environ[credentials.ENV_KEY])  # the functions' key
    assert credentials.load(a, "main", cipher) == secret_a.encode()
    assert credentials.load(b, "main", cipher) == secret_b.encode()
    assert credentials.load(b, "other", cipher) is None
    rows_a, rows_b = _stored(stack, a), _stored(stack, b)
    assert [(r["credential_id"], r["provider"]) for r in rows_a] == [("main", "aws")]
    assert [r["credential_id"] for r in rows_b] == ["main"]
    # sealed for its customer: b's ciphertext does not open as a's
    with pytest.raises(credentials.CredentialError):
        credentials.open_sealed(cipher, rows_b[0]["ciphertext"], a, "main")
    log = (stack.log_dir / "function-quota-api.log").read_text(errors="replace")
    for secret in (secret_a, secret_b):
        assert secret not in rows_a[0]["ciphertext"] + rows_b[0]["ciphertext"]
        assert secret not in log


def test_credentials_need_their_scope_a_configured_provider_and_good_input(
    stack: LocalStack,
) -> None:
    customer, key = _tenant("cred-in", ["credentials"])
    _, runs_key = _tenant("cred-runs", ["runs"])
    good = {"provider": "aws", "credential_id": "c1", "secret": "s"}
    assert _post(stack, "/credentials", runs_key, good).status_code == 403
    assert _post(stack, "/runs/start", key, {"pipeline": "p", "run_id": "r"}).status_code == 403
    unconfigured = _post(stack, "/credentials", key, {**good, "provider": "gcp"})
    assert unconfigured.status_code == 409
    assert unconfigured.json()["error"] == "provider_not_configured"
    lone_surrogate = b'{"provider": "aws", "credential_id": "c1", "secret": "\\ud800"}'
    for bad in (
        {**good, "secret": ""},
        {**good, "secret": 7},
        {**good, "secret": "x" * (MAX_SECRET_BYTES + 1)},
        {**good, "credential_id": "no spaces"},
        {"provider": "aws", "credential_id": "c1"},
        lone_surrogate,
    ):
        answer = _post(stack, "/credentials", key, bad)
        assert answer.status_code == 400, answer.text[:200]
        assert "x" * 64 not in answer.text  # a secret is never echoed
    assert _stored(stack, customer) == []
    # the largest secret allowed is stored
    largest = {**good, "secret": "é" * (MAX_SECRET_BYTES // 2)}
    assert _post(stack, "/credentials", key, largest).status_code == 201
    # a suspended customer stores nothing (the reason admission gives)
    customers.set_status(customer, "SUSPENDED")
    suspended = _post(stack, "/credentials", key, {**good, "credential_id": "c2"})
    assert suspended.status_code == 409 and suspended.json()["error"] == "customer_suspended"
    assert [r["credential_id"] for r in _stored(stack, customer)] == ["c1"]
