"""The uploads bucket layout: ``{customer_id}/{record_id}/{media_class}/{file name}``.

The path is authoritative for the customer and the record (bucket IAM and prefix listings see
the path, not metadata). Custom metadata ``customer-id`` / ``record-id`` may repeat the link;
when it disagrees with the path the object is rejected (``record_link_conflict``) rather than
silently linked to one of the two.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from shared.uploads import media_classes

MEDIA_CLASSES = media_classes.names()
"""Class folder names, from the uploads bucket's manifest entry (see media_classes)."""
CUSTOMER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_FILE_NAME_BYTES = 255
METADATA_CUSTOMER = "customer-id"
METADATA_RECORD = "record-id"


@dataclass(frozen=True, slots=True)
class ObjectPath:
    customer_id: str
    record_id: str
    media_class: str
    file_name: str

    @property
    def extension(self) -> str:
        stem, dot, ext = self.file_name.rpartition(".")
        return ext.lower() if dot and stem else ""


@dataclass(frozen=True, slots=True)
class NamingProblem:
    """Why a name breaks the convention; ``reason`` is a stable code."""

    reason: str
    detail: str
    customer_id: str | None = None
    record_id: str | None = None
    media_class: str | None = None


def _bad_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text)


def parse_name(  # noqa: PLR0911 - one return per rule, checked in order
    name: str, metadata: Mapping[str, str] | None = None
) -> ObjectPath | NamingProblem:
    """Parse an object name (and its custom metadata) into the business link."""
    parts = name.split("/")
    if _bad_chars(name):
        return NamingProblem("control_characters", "object name contains control characters")
    if any(p in (".", "..") for p in parts):
        return NamingProblem("path_traversal", "object name contains a '.' or '..' segment")
    if len(parts) != 4 or not all(parts):
        return NamingProblem(
            "path_convention",
            f"expected customer_id/record_id/media_class/file_name (got {len(parts)} segment(s))",
        )
    customer_id, record_id, media_class, file_name = parts
    if not CUSTOMER_ID.fullmatch(customer_id):
        return NamingProblem(
            "customer_id_format",
            f"customer id {customer_id[:64]!r} must match {CUSTOMER_ID.pattern}",
        )
    if not RECORD_ID.fullmatch(record_id):
        return NamingProblem(
            "record_id_format",
            f"record id {record_id[:64]!r} must match {RECORD_ID.pattern}",
            customer_id=customer_id,
        )
    if media_class not in MEDIA_CLASSES:
        return NamingProblem(
            "media_class_unknown",
            f"media class {media_class[:32]!r} is not one of {', '.join(MEDIA_CLASSES)}",
            customer_id=customer_id,
            record_id=record_id,
            media_class=media_classes.UNKNOWN,  # the row says so explicitly, never NULL
        )
    if len(file_name.encode()) > MAX_FILE_NAME_BYTES or file_name.strip() != file_name:
        return NamingProblem(
            "file_name_invalid",
            f"file name must be at most {MAX_FILE_NAME_BYTES} bytes without edge spaces",
            customer_id=customer_id,
            record_id=record_id,
            media_class=media_class,
        )
    meta = metadata or {}
    for key, value in ((METADATA_CUSTOMER, customer_id), (METADATA_RECORD, record_id)):
        if key in meta and meta[key] != value:
            return NamingProblem(
                "record_link_conflict",
                f"metadata {key}={meta[key][:64]!r} disagrees with the path ({value!r})",
                customer_id=customer_id,
                record_id=record_id,
                media_class=media_class,
            )
    return ObjectPath(customer_id, record_id, media_class, file_name)
