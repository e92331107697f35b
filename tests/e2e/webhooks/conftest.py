"""The webhooks tests start only the webhook functions: other areas' work in progress can
not break them, and the stack starts faster on a busy machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import REPO, LocalStack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    state_dir = Path(os.environ.get("STACK_STATE_DIR", str(REPO / ".local" / "test")))
    with LocalStack(state_dir, functions=["webhooks", "webhook-receiver"]) as local:
        yield local
