"""One media-class list (the uploads bucket's manifest entry) read by naming and detect.

The third reader, Terraform's lifecycle rules, is checked in tests/unit/terraform."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import ConfigurationError
from shared.events import STORAGE_FINALIZED, StorageObjectEvent
from shared.resources import manifest
from shared.uploads import detect, media_classes, naming, rows

DECLARED = manifest().bucket("uploads")["media_classes"]


def test_naming_accepts_exactly_the_declared_classes() -> None:
    assert tuple(c["name"] for c in DECLARED) == naming.MEDIA_CLASSES
    for cls in naming.MEDIA_CLASSES:
        assert isinstance(naming.parse_name(f"acme/r1/{cls}/f.bin"), naming.ObjectPath)


def test_detect_maps_the_declared_extensions_and_types() -> None:
    declared = {e: c["name"] for c in DECLARED for e in c["extensions"]}
    media = {e: c for e, c in detect.EXTENSION_CLASSES.items() if c != detect.EXECUTABLE}
    assert media == declared
    assert {
        e: m for c in DECLARED for e, m in c.get("verified_types", {}).items()
    } == detect.EXTENSION_TYPES
    # the extensions that drifted out of Terraform's lifecycle list before
    for ext in ("flac", "aac", "opus", "avi", "tiff", "avif", "pptx"):
        assert ext in declared


def _heads() -> list[bytes]:
    pad = b"\x00" * 16
    heads = [prefix + pad for prefix, _ in detect._PREFIXES]
    heads += [b"RIFF\x00\x00\x00\x00" + kind + pad for kind in (b"WEBP", b"WAVE", b"AVI ")]
    heads += [
        b"\x00\x00\x00\x18ftyp" + brand + pad
        for brand in (b"M4A ", b"heic", b"avif", b"qt  ", b"isom")
    ]
    heads += [b"\xff\xfb\x90\x00" + pad, b"hello, plain text"]
    return heads


def test_every_sniffed_type_belongs_to_its_declared_class() -> None:
    mime_classes = media_classes.mime_classes()
    seen = set()
    for head in _heads():
        found = detect.sniff(head)
        if found.media_class in (detect.EXECUTABLE, "unknown"):
            continue
        seen.add(found.mime)
        assert mime_classes.get(found.mime) == found.media_class, found
    assert len(seen) >= 20


def test_unknown_class_folder_is_rejected_with_an_explicit_class() -> None:
    problem = naming.parse_name("acme/r1/pictures/cat.jpg")
    assert isinstance(problem, naming.NamingProblem)
    assert problem.reason == "media_class_unknown"
    event = StorageObjectEvent(
        event_id="e1",
        event_type=STORAGE_FINALIZED,
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        bucket="b",
        name="acme/r1/pictures/cat.jpg",
        generation=1,
        size=10,
        content_type="image/jpeg",
        md5_hash=None,
        crc32c=None,
        storage_class="STANDARD",
        time_created=None,
        updated=None,
    )
    verdict = rows.judge(event, problem, None, 100)
    _, row = rows.build_row(event, problem, verdict)
    assert (row["status"], row["media_class"]) == ("rejected", media_classes.UNKNOWN)
    assert row["reason"].startswith("media_class_unknown: media class 'pictures'")
    assert (row["customer_id"], row["record_id"]) == ("acme", "r1")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "a", "extensions": ["x"], "mime_types": ["a/x"]}] * 2, "declared twice"),
        ([{"name": "a", "extensions": ["x"]}], "malformed"),
        (
            [{"name": "a", "extensions": ["x"], "mime_types": [], "verified_types": {"y": "a"}}],
            "verified_types",
        ),
    ],
)
def test_malformed_declarations_fail_at_start(
    monkeypatch: pytest.MonkeyPatch, entries: list[dict[str, object]], message: str
) -> None:
    class _Manifest:
        def bucket(self, key: str) -> dict[str, object]:
            return {"media_classes": entries}

    monkeypatch.setattr(media_classes, "manifest", _Manifest)
    media_classes.classes.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match=message):
            media_classes.classes()
    finally:
        media_classes.classes.cache_clear()
