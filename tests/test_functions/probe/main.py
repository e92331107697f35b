"""Test function behind the shared error taxonomy.

Message data: ``{"key": "...", "mode": "ok" | "permanent" | "transient", "fail_times": n}``.
``transient`` fails ``fail_times`` deliveries with a TransientError, then succeeds; every
attempt and every success is appended to files under $RECORD_DIR.
"""

import json
import os
import threading
from pathlib import Path
from typing import Any

import functions_framework

from shared.errors import PermanentError, TransientError
from shared.events import pubsub_message_from_event
from shared.handler import cloud_event_handler

_lock = threading.Lock()


def _append(name: str, entry: dict[str, Any]) -> int:
    path = Path(os.environ["RECORD_DIR"]) / name
    with _lock:
        with path.open("a") as f:
            f.write(json.dumps(entry) + "\n")
        return sum(1 for line in path.read_text().splitlines() if json.loads(line) == entry)


@functions_framework.cloud_event
@cloud_event_handler("probe")
def probe(event: Any) -> None:
    message = pubsub_message_from_event(event)
    body = message.json()
    key = str(body.get("key"))
    attempts = _append("probe-attempts.jsonl", {"key": key})
    if body.get("mode") == "permanent":
        raise PermanentError("probe_rejected", f"key {key} is refused on purpose")
    if body.get("mode") == "transient" and attempts <= int(body.get("fail_times", 1)):
        raise TransientError(f"attempt {attempts} of {key} fails on purpose")
    _append("probe-done.jsonl", {"key": key, "message_id": message.message_id})
