"""Test function: appends every CloudEvent it receives to $RECORD_DIR/<K_SERVICE>.jsonl."""

import json
import os
import threading
from pathlib import Path
from typing import Any

import functions_framework

_lock = threading.Lock()


@functions_framework.cloud_event
def record(event: Any) -> None:
    entry = {"attributes": dict(event.get_attributes()), "data": event.data}
    path = Path(os.environ["RECORD_DIR"]) / f"{os.environ['K_SERVICE']}.jsonl"
    with _lock, path.open("a") as f:
        f.write(json.dumps(entry, default=str) + "\n")
