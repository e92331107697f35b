"""Delayed retries of failed tables, scheduled with Cloud Tasks; the policy lives here.

In-run retries (``attempt.py``) absorb short blips in seconds. A table that still fails on a
transient error (or finds its lease held) gets a *delayed* retry: a Cloud Task that, at its
``schedule_time``, publishes a ``run_type=retry`` request for that table (and its dependents)
under the same run id to ``refresh-requests``. Each delayed attempt schedules the next one
itself with its own ``schedule_time`` and number, so the policy (:data:`POLICY`: 3 attempts,
60 s doubling up to 3600 s) does not depend on the queue's retry config; the queue keeps the
same numbers as a backstop for the dispatch itself (terraform/tasks.tf).

The task is an HTTP task to the Pub/Sub REST ``topics.publish`` endpoint with an OAuth token
of the tasks service account (no endpoint of ours to expose or authenticate); locally its
URL is the Pub/Sub emulator's. Task names are derived from run, table and attempt, so Cloud
Tasks refuses a duplicate (``AlreadyExists`` = already scheduled). The local emulator does
not dedup names; a duplicate retry finds the table ``already_done`` or leased.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared.refresh.request import RefreshRequest
from shared.refresh.results import RunResult

if TYPE_CHECKING:
    from google.cloud import tasks_v2

logger = logging.getLogger("shared.refresh.retries")
QUEUE = "refresh-retries"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class DelayedRetryPolicy:
    attempts: int = 3
    min_backoff_s: float = 60.0
    max_backoff_s: float = 3600.0

    def delay_s(self, attempt: int) -> float:
        """Delay before delayed attempt ``attempt`` (1-based): 60, 120, 240 ... capped."""
        return float(min(self.max_backoff_s, self.min_backoff_s * 2.0 ** (attempt - 1)))


POLICY = DelayedRetryPolicy()


def task_id(run_id: str, table: str, attempt: int) -> str:
    """A Cloud Tasks task id (``[A-Za-z0-9_-]``, <= 500) unique per run, table and attempt."""
    digest = hashlib.sha256(f"{run_id}\0{table}".encode()).hexdigest()[:12]
    return f"{_UNSAFE.sub('_', run_id)[:100]}-{table[:300]}-{digest}-r{attempt}"


class RetryScheduler(Protocol):
    def schedule(self, request: RefreshRequest, delay_s: float, task: str) -> bool:
        """Schedule ``request`` in ``delay_s``; False if a task of that name exists."""
        ...


@dataclass(frozen=True)
class Scheduled:
    table: str
    attempt: int
    delay_s: float
    task: str
    created: bool


def schedule_retries(
    result: RunResult,
    request: RefreshRequest,
    scheduler: RetryScheduler,
    policy: DelayedRetryPolicy = POLICY,
    delay_scale: float = 1.0,
) -> list[Scheduled]:
    """One delayed retry per retryable failed table of a final invocation, within the policy."""
    attempt = request.delayed_attempt + 1
    if request.dry_run or attempt > policy.attempts:
        return []
    out = []
    for name, outcome in sorted(result.tables.items()):
        if not outcome.retryable:
            continue
        retry = replace(
            request,
            run_type="retry",
            tables=(name,),
            with_dependents=True,
            with_dependencies=False,
            schedule=None,
            invocation=0,
            delayed_attempt=attempt,
        )
        delay = policy.delay_s(attempt) * delay_scale
        task = task_id(request.run_id, name, attempt)
        created = scheduler.schedule(retry, delay, task)
        logger.info(
            "delayed retry %d/%d of %s in %.0fs (%s)",
            attempt,
            policy.attempts,
            name,
            delay,
            task,
            extra={"fields": {"event": "refresh_retry_scheduled", "table": name}},
        )
        out.append(Scheduled(name, attempt, delay, task, created))
    return out


class CloudTasksScheduler:
    """:class:`RetryScheduler` on a Cloud Tasks queue, publishing to a Pub/Sub topic."""

    def __init__(
        self,
        client: tasks_v2.CloudTasksClient,
        queue_path: str,
        publish_url: str,
        service_account: str | None,
    ) -> None:
        self.client = client
        self.queue_path = queue_path
        self.publish_url = publish_url
        self.service_account = service_account

    def schedule(self, request: RefreshRequest, delay_s: float, task: str) -> bool:
        from google.api_core import exceptions
        from google.cloud import tasks_v2
        from google.protobuf import timestamp_pb2

        data = json.dumps(request.to_json(), sort_keys=True).encode()
        message = {
            "data": base64.b64encode(data).decode(),
            "attributes": {"run_id": request.run_id, "origin": "cloud-tasks"},
        }
        when = timestamp_pb2.Timestamp()  # type: ignore[attr-defined]
        when.FromDatetime(datetime.now(UTC) + timedelta(seconds=delay_s))
        http = tasks_v2.HttpRequest(
            url=self.publish_url,
            http_method=tasks_v2.HttpMethod.POST,
            headers={"Content-Type": "application/json"},
            body=json.dumps({"messages": [message]}).encode(),
        )
        if self.service_account:
            http.oauth_token = tasks_v2.OAuthToken(service_account_email=self.service_account)
        item = tasks_v2.Task(
            name=f"{self.queue_path}/tasks/{task}", schedule_time=when, http_request=http
        )
        try:
            self.client.create_task(parent=self.queue_path, task=item)
        except exceptions.AlreadyExists:
            return False
        return True
