"""Cold-start baseline: functions-framework plus all five Google client libraries at import."""

from typing import Any

import functions_framework
from google.cloud import bigquery, kms, pubsub_v1, secretmanager, storage

LOADED = (bigquery, kms, pubsub_v1, secretmanager, storage)


@functions_framework.cloud_event
def handle(event: Any) -> None:
    """Answers at once: the baseline measures only what importing everything costs."""


@functions_framework.http
def handle_http(request: Any) -> tuple[str, int]:
    return "", 204
