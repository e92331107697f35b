"""Settings of the quota functions (read through :mod:`shared.settings`)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from shared.settings import env


def _aes_256_key(value: str) -> str | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "must be base64"
    return None if len(raw) == 32 else "must be 32 bytes, base64-encoded"


@dataclass(frozen=True, slots=True)
class QuotasSettings:
    credentials_local_key: str = env("CREDENTIALS_LOCAL_KEY", "", check=_aes_256_key, secret=True)
    """AES-256 key (base64) that encrypts customer credentials locally (KMS in the cloud)."""
    credentials_kms_key: str = env("CREDENTIALS_KMS_KEY", "")
    """Cloud KMS key (projects/.../cryptoKeys/...) wrapping credential data keys in the cloud."""
