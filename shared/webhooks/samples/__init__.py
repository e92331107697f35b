"""Sample webhooks, one JSON file per case: ``{"attributes": {...}, "body": {...}}``."""

from __future__ import annotations

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
