"""Detect the real type of an object from its first bytes and compare it with what it claims.

Only a prefix is ever read (:data:`SNIFF_BYTES`); the signatures below all fit in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.uploads import media_classes

SNIFF_BYTES = 64
EXECUTABLE = "executable"


@dataclass(frozen=True, slots=True)
class Detected:
    mime: str
    media_class: str  # audio | video | image | document | executable | unknown


def _riff(head: bytes) -> Detected | None:
    kind = head[8:12]
    return {
        b"WEBP": Detected("image/webp", "image"),
        b"WAVE": Detected("audio/wav", "audio"),
        b"AVI ": Detected("video/x-msvideo", "video"),
    }.get(kind)


def _ftyp(head: bytes) -> Detected:
    brand = head[8:12]
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return Detected("audio/mp4", "audio")
    if brand in (b"heic", b"heix", b"mif1", b"avif"):
        return Detected("image/heic" if brand != b"avif" else "image/avif", "image")
    if brand == b"qt  ":
        return Detected("video/quicktime", "video")
    return Detected("video/mp4", "video")


_PREFIXES: tuple[tuple[bytes, Detected], ...] = (
    (b"\xff\xd8\xff", Detected("image/jpeg", "image")),
    (b"\x89PNG\r\n\x1a\n", Detected("image/png", "image")),
    (b"GIF87a", Detected("image/gif", "image")),
    (b"GIF89a", Detected("image/gif", "image")),
    (b"II*\x00", Detected("image/tiff", "image")),
    (b"MM\x00*", Detected("image/tiff", "image")),
    (b"BM", Detected("image/bmp", "image")),
    (b"ID3", Detected("audio/mpeg", "audio")),
    (b"fLaC", Detected("audio/flac", "audio")),
    (b"OggS", Detected("audio/ogg", "audio")),
    (b"\x1aE\xdf\xa3", Detected("video/webm", "video")),
    (b"%PDF-", Detected("application/pdf", "document")),
    (b"PK\x03\x04", Detected("application/zip", "document")),
    (b"{\\rtf", Detected("application/rtf", "document")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", Detected("application/x-ole-storage", "document")),
    (b"MZ", Detected("application/x-msdownload", EXECUTABLE)),
    (b"\x7fELF", Detected("application/x-elf", EXECUTABLE)),
    (b"\xfe\xed\xfa\xce", Detected("application/x-mach-binary", EXECUTABLE)),
    (b"\xfe\xed\xfa\xcf", Detected("application/x-mach-binary", EXECUTABLE)),
    (b"\xce\xfa\xed\xfe", Detected("application/x-mach-binary", EXECUTABLE)),
    (b"\xcf\xfa\xed\xfe", Detected("application/x-mach-binary", EXECUTABLE)),
    (b"\xca\xfe\xba\xbe", Detected("application/x-mach-binary", EXECUTABLE)),
    (b"#!", Detected("text/x-shellscript", EXECUTABLE)),
)


def sniff(head: bytes) -> Detected:  # noqa: PLR0911 - one return per signature family
    """The type of content starting with ``head`` (``unknown`` when nothing matches)."""
    if head[:4] == b"RIFF" and len(head) >= 12:
        found = _riff(head)
        if found:
            return found
    if head[4:8] == b"ftyp":
        return _ftyp(head)
    for prefix, detected in _PREFIXES:
        if head.startswith(prefix):
            return detected
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return Detected("audio/mpeg", "audio")  # MPEG audio frame sync (MP3 without ID3)
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # a multibyte char cut at the end of the prefix is fine
                return Detected("application/octet-stream", "unknown")
        return Detected("text/plain", "document")
    return Detected("application/octet-stream", "unknown")


EXECUTABLE_EXTENSIONS = ("exe", "dll", "so", "sh", "bat", "cmd", "msi", "bin", "app")
EXTENSION_CLASSES: dict[str, str] = {
    **media_classes.extension_classes(),  # the uploads manifest's media classes
    **dict.fromkeys(EXECUTABLE_EXTENSIONS, EXECUTABLE),
}
EXTENSION_TYPES: dict[str, str] = media_classes.verified_types()
"""Extensions whose exact format we can check (a PNG named .jpg is flagged, not rejected)."""
_DOCUMENT_TYPES = ("application/pdf", "application/msword", "application/rtf", "application/json")


def content_type_class(content_type: str | None) -> str | None:
    """The media class a declared Content-Type claims; None when it claims nothing useful."""
    if not content_type:
        return None
    main = content_type.split(";", 1)[0].strip().lower()
    major = main.split("/", 1)[0]
    if major in ("audio", "video", "image"):
        return major
    if major == "text" or main in _DOCUMENT_TYPES or main.startswith("application/vnd."):
        return "document"
    if main in ("application/x-msdownload", "application/x-executable", "application/x-sh"):
        return EXECUTABLE
    return None  # application/octet-stream and friends say nothing


def compatible(detected: str, claimed: str) -> bool:
    """Containers that legitimately carry either class (an .ogg video, an .mp4 audio...)."""
    if detected == claimed:
        return True
    pairs = {("audio", "video"), ("video", "audio")}
    return (detected, claimed) in pairs
