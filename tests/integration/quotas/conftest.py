"""A stack with only the quotas functions, so these tests do not depend on other areas'
functions starting (the session ``stack`` serves every manifest function)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import REPO, LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    base = Path(os.environ.get("STACK_STATE_DIR", str(REPO / ".local" / "test")))
    with LocalStack(base / "quotas", functions=["quotas", "quota-api"]) as local:
        yield local
