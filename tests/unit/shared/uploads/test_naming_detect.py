"""Naming convention and type detection (no emulators)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.uploads import detect
from shared.uploads.naming import NamingProblem, ObjectPath, parse_name


def test_well_formed_name_with_unicode_and_spaces() -> None:
    path = parse_name("acme-1/REC_42/document/Résumé final v2.PDF")
    assert path == ObjectPath("acme-1", "REC_42", "document", "Résumé final v2.PDF")
    assert isinstance(path, ObjectPath) and path.extension == "pdf"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("acme/r/image/../x.jpg", "path_traversal"),
        ("acme/r/./image/x.jpg", "path_traversal"),
        ("acme/r/image/a\nb.jpg", "control_characters"),
        ("acme/r/image/a\u200eb.jpg", "control_characters"),
        ("acme/r/image", "path_convention"),
        ("acme/r/image/sub/x.jpg", "path_convention"),
        ("acme//image/x.jpg", "path_convention"),
        ("Acme Corp/r/image/x.jpg", "customer_id_format"),
        ("acme/r#1/image/x.jpg", "record_id_format"),
        ("acme/r/photos/x.jpg", "media_class_unknown"),
        ("acme/r/image/ x.jpg", "file_name_invalid"),
        ("acme/r/image/" + "x" * 300, "file_name_invalid"),
    ],
)
def test_names_breaking_the_convention(name: str, reason: str) -> None:
    problem = parse_name(name)
    assert isinstance(problem, NamingProblem)
    assert problem.reason == reason


def test_metadata_link_must_agree_with_the_path() -> None:
    assert isinstance(parse_name("acme/r1/image/x.jpg", {"record-id": "r1"}), ObjectPath)
    problem = parse_name("acme/r1/image/x.jpg", {"record-id": "r2"})
    assert isinstance(problem, NamingProblem) and problem.reason == "record_link_conflict"
    assert problem.customer_id == "acme" and problem.record_id == "r1"


@given(st.text(max_size=300), st.dictionaries(st.text(max_size=10), st.text(max_size=10)))
def test_parse_name_never_raises(name: str, meta: dict[str, str]) -> None:
    assert isinstance(parse_name(name, meta), ObjectPath | NamingProblem)


@pytest.mark.parametrize(
    ("head", "mime", "media_class"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg", "image"),
        (b"\x89PNG\r\n\x1a\n....", "image/png", "image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", "image"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav", "audio"),
        (b"ID3\x03\x00", "audio/mpeg", "audio"),
        (b"\xff\xfb\x90\x00", "audio/mpeg", "audio"),
        (b"\x00\x00\x00\x20ftypM4A \x00", "audio/mp4", "audio"),
        (b"\x00\x00\x00\x18ftypisom", "video/mp4", "video"),
        (b"\x1aE\xdf\xa3\x01", "video/webm", "video"),
        (b"%PDF-1.7", "application/pdf", "document"),
        (b"PK\x03\x04\x14\x00", "application/zip", "document"),
        (b"plain text, caf\xc3\xa9", "text/plain", "document"),
        (b"MZ\x90\x00", "application/x-msdownload", "executable"),
        (b"\x7fELF\x02\x01", "application/x-elf", "executable"),
        (b"#!/bin/sh\n", "text/x-shellscript", "executable"),
        (b"\x00\x01\x02\x03", "application/octet-stream", "unknown"),
        (b"", "application/octet-stream", "unknown"),
    ],
)
def test_sniff(head: bytes, mime: str, media_class: str) -> None:
    assert detect.sniff(head) == detect.Detected(mime, media_class)


@given(st.binary(max_size=64))
def test_sniff_never_raises(head: bytes) -> None:
    assert detect.sniff(head).media_class in (
        "audio",
        "video",
        "image",
        "document",
        "executable",
        "unknown",
    )


def test_content_type_class() -> None:
    assert detect.content_type_class("image/jpeg; q=1") == "image"
    assert detect.content_type_class("application/pdf") == "document"
    assert detect.content_type_class("application/octet-stream") is None
    assert detect.content_type_class(None) is None
