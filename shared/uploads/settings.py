"""Settings of the uploads function (read through :mod:`shared.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.settings import at_least, env, one_of

DEFAULT_MAX_BYTES = 5 * 1024**3


@dataclass(frozen=True, slots=True)
class UploadsSettings:
    max_bytes: int = env("UPLOADS_MAX_BYTES", DEFAULT_MAX_BYTES, check=at_least(0))
    """Larger objects are rejected as ``oversize`` without being read."""
    writer: str = env("UPLOADS_WRITER", "batch", check=one_of("batch", "single"))
    """``batch``: group commit shared by concurrent events; ``single``: one insert per event."""
    insert_deadline_s: float = env("UPLOADS_INSERT_DEADLINE_S", 20.0, check=at_least(0.5))
    """Client-side retry budget of one insert before the event fails back to the platform."""
