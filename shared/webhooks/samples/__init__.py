"""Sample webhooks, one JSON file per case: ``{"attributes": {...}, "body": {...}}``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent


def load(name: str) -> tuple[bytes, dict[str, str]]:
    """The sample's body as bytes (what the provider sends) and its message attributes."""
    sample: dict[str, Any] = json.loads((ROOT / f"{name}.json").read_text())
    return json.dumps(sample["body"]).encode(), dict(sample["attributes"])


def names() -> list[str]:
    return sorted(p.stem for p in ROOT.glob("*.json"))


def unique(name: str, marker: str) -> tuple[bytes, dict[str, str]]:
    """The sample with its ids made unique by ``marker`` (body id, event and delivery ids, and a
    ``test_marker`` field), so its hash and dedup keys belong to this send alone."""
    body, attrs = load(name)
    payload = json.loads(body)
    if isinstance(payload.get("id"), str):
        payload["id"] = f"{payload['id']}_{marker}"
    elif isinstance(payload.get("id"), int):
        payload["id"] = int(hashlib.sha256(marker.encode()).hexdigest()[:12], 16)
    payload["test_marker"] = marker
    for key in ("event_id", "delivery_id"):
        if key in attrs:
            attrs[key] = f"{attrs[key][:20]}-{marker}"
    return json.dumps(payload).encode(), attrs
