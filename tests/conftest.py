"""Shared fixtures: one local stack per test session, started on first use.

Set STACK_STATE_DIR to run two test sessions side by side (default: .local/test).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import REPO, FunctionSpec, LocalStack

TEST_FUNCTIONS = REPO / "tests" / "test_functions"
TEST_BUCKET = "spine-test-bucket"


@pytest.fixture(scope="session")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="session")
def stack(record_dir: Path) -> Iterator[LocalStack]:
    """Every function of the manifest plus the spine's test functions, on real emulators."""
    state_dir = Path(os.environ.get("STACK_STATE_DIR", str(REPO / ".local" / "test")))
    env = {"RECORD_DIR": str(record_dir)}
    local = LocalStack(
        state_dir,
        extra_functions=[
            FunctionSpec(
                "recorder",
                TEST_FUNCTIONS / "recorder",
                "record",
                trigger={
                    "type": "storage",
                    "bucket": TEST_BUCKET,
                    "events": ["finalized", "deleted"],
                },
                env=env,
            ),
            FunctionSpec("recorder-pubsub", TEST_FUNCTIONS / "recorder", "record", env=env),
            FunctionSpec("probe", TEST_FUNCTIONS / "probe", "probe", env=env),
        ],
        extra_topics=["spine-recorder", "spine-probe", "spine-probe-dead-letter"],
        extra_subscriptions=[
            {
                "name": "spine-recorder-push",
                "topic": "spine-recorder",
                "push_function": "recorder-pubsub",
            },
            {
                "name": "spine-probe-push",
                "topic": "spine-probe",
                "push_function": "probe",
                "dead_letter_topic": "spine-probe-dead-letter",
                "max_delivery_attempts": 5,
            },
            {"name": "spine-probe-dead-letter-pull", "topic": "spine-probe-dead-letter"},
        ],
    )
    with local:
        local.storage().create_bucket(TEST_BUCKET)
        yield local


@pytest.fixture
def refresh_retries_purged(stack: LocalStack) -> Iterator[None]:
    """An empty refresh-retries queue before and after the test.

    A run that ends ``failed`` or ``locked`` schedules a delayed retry (60 s, then 120 s and
    240 s while it stays locked). Left on the queue, it fires into whichever test runs a
    minute later and holds that test's table lease: seen as a later test's last delayed
    attempt ending ``locked``. Tests that expect a retry assert it before this purge.
    """
    from shared.refresh.retries import QUEUE

    stack.tasks().purge_queue(name=stack.queue_path(QUEUE))
    yield
    stack.tasks().purge_queue(name=stack.queue_path(QUEUE))
