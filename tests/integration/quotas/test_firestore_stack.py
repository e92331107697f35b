"""The local stack's Firestore emulator: reachable through shared.clients and from functions."""

from __future__ import annotations

import json
import uuid

import pytest

from devstack.stack import LocalStack
from shared import clients

pytestmark = pytest.mark.stack


def test_stack_publishes_firestore_endpoint(stack: LocalStack) -> None:
    endpoints = json.loads(stack.endpoints_file.read_text())
    host = endpoints["firestore_emulator_host"]
    assert host.startswith("127.0.0.1:")
    assert endpoints["env"]["FIRESTORE_EMULATOR_HOST"] == host
    assert "firestore-emulator" in endpoints["pids"]
    env_file = (stack.state_dir / "stack.env").read_text()
    assert f"export FIRESTORE_EMULATOR_HOST={host}\n" in env_file


def test_shared_client_and_stack_accessor_see_the_same_documents(stack: LocalStack) -> None:
    doc_id = uuid.uuid4().hex
    clients.firestore().collection("stack-probe").document(doc_id).set({"n": 1})
    snapshot = stack.firestore().collection("stack-probe").document(doc_id).get()
    assert snapshot.exists
    assert snapshot.to_dict() == {"n": 1}
