"""The media classes, read once from the uploads bucket's manifest entry.

``shared/resources/uploads.json`` declares each class (folder name, file extensions, MIME types,
extensions whose exact format is checked, storage-class lifecycle). :mod:`naming` accepts these
folder names, :mod:`detect` maps extensions and sniffed types to these classes, and Terraform
builds the bucket's lifecycle rules from the same entry; tests prove the three agree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from shared.errors import ConfigurationError
from shared.resources import manifest

BUCKET_KEY = "uploads"
UNKNOWN = "unknown"
"""``media_class`` of a row whose class folder names no class (rejected, never NULL)."""


@dataclass(frozen=True, slots=True)
class MediaClass:
    name: str
    extensions: tuple[str, ...]
    mime_types: tuple[str, ...]
    verified_types: dict[str, str]
    lifecycle: dict[str, int]


def _parse(entry: dict[str, Any]) -> MediaClass:
    try:
        media = MediaClass(
            name=str(entry["name"]),
            extensions=tuple(str(e).lower() for e in entry["extensions"]),
            mime_types=tuple(str(m).lower() for m in entry["mime_types"]),
            verified_types={str(k): str(v) for k, v in entry.get("verified_types", {}).items()},
            lifecycle={k: int(v) for k, v in entry.get("lifecycle", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"media class entry {entry!r} is malformed: {exc}") from exc
    unknown = set(media.verified_types) - set(media.extensions)
    if unknown:
        raise ConfigurationError(f"media class {media.name}: verified_types for {sorted(unknown)}")
    return media


@functools.cache
def classes() -> tuple[MediaClass, ...]:
    """Every media class, in manifest order (validated: no extension or MIME type twice)."""
    found = tuple(_parse(e) for e in manifest().bucket(BUCKET_KEY).get("media_classes", []))
    if not found:
        raise ConfigurationError(f"bucket {BUCKET_KEY!r} declares no media_classes")
    for attr in ("name", "extensions", "mime_types"):
        values = [
            v for c in found for v in ((getattr(c, attr),) if attr == "name" else getattr(c, attr))
        ]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ConfigurationError(f"media classes: {attr} declared twice: {twice}")
    return found


def names() -> tuple[str, ...]:
    return tuple(c.name for c in classes())


def extension_classes() -> dict[str, str]:
    """Extension (lower case, no dot) => class name."""
    return {ext: c.name for c in classes() for ext in c.extensions}


def mime_classes() -> dict[str, str]:
    """MIME type => class name."""
    return {mime: c.name for c in classes() for mime in c.mime_types}


def verified_types() -> dict[str, str]:
    """Extension => the one MIME type its content must have (others: same class, flagged)."""
    return {ext: mime for c in classes() for ext, mime in c.verified_types.items()}
