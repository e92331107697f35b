"""Local credential encryption: AES-GCM bound to the customer id."""

from __future__ import annotations

import base64
import os

import pytest

from shared.quotas.credentials import LocalCipher


def test_round_trip_and_binding_to_customer() -> None:
    cipher = LocalCipher(base64.b64encode(os.urandom(32)).decode())
    sealed = cipher.encrypt(b"secret-json", "acme")
    assert b"secret-json" not in base64.b64decode(sealed)
    assert cipher.decrypt(sealed, "acme") == b"secret-json"
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        cipher.decrypt(sealed, "globex")
    assert cipher.key_ref.startswith("local:")


def test_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        LocalCipher(base64.b64encode(b"short").decode())
