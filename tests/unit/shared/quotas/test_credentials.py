"""Envelope encryption of customer credentials: local stand-in and the Cloud KMS wrapper."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

import google_crc32c
import pytest

from shared.quotas.credentials import (
    CredentialError,
    KmsKeyWrapper,
    LocalCipher,
    associated_data,
    open_sealed,
    seal,
)


def _local() -> LocalCipher:
    return LocalCipher(base64.b64encode(os.urandom(32)).decode())


def test_round_trip_binds_customer_and_record() -> None:
    cipher = _local()
    stored = seal(cipher, b"secret-json", "acme", "cred-1")
    assert b"secret-json" not in stored.encode() and "secret" not in stored
    assert json.loads(stored)["key_ref"] == cipher.key_ref
    assert open_sealed(cipher, stored, "acme", "cred-1") == b"secret-json"
    for customer, record in (("globex", "cred-1"), ("acme", "cred-2")):
        with pytest.raises(CredentialError):
            open_sealed(cipher, stored, customer, record)


def test_each_record_gets_its_own_data_key() -> None:
    cipher = _local()
    a, b = (json.loads(seal(cipher, b"same", "acme", "r")) for _ in range(2))
    assert a["wrapped_key"] != b["wrapped_key"] and a["sealed"] != b["sealed"]


def test_tampered_or_foreign_envelopes_fail() -> None:
    cipher = _local()
    stored = json.loads(seal(cipher, b"x", "acme", "r"))
    sealed = bytearray(base64.b64decode(stored["sealed"]))
    sealed[-1] ^= 1
    stored["sealed"] = base64.b64encode(bytes(sealed)).decode()
    with pytest.raises(CredentialError):
        open_sealed(cipher, json.dumps(stored), "acme", "r")
    with pytest.raises(CredentialError):
        open_sealed(_local(), seal(cipher, b"x", "acme", "r"), "acme", "r")  # other key
    with pytest.raises(CredentialError):
        open_sealed(cipher, "not json", "acme", "r")


def test_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        LocalCipher(base64.b64encode(b"short").decode())


def _crc(data: bytes) -> int:
    return int(google_crc32c.value(data))


@dataclass
class _Encrypted:
    ciphertext: bytes
    ciphertext_crc32c: int
    verified_plaintext_crc32c: bool = True
    verified_additional_authenticated_data_crc32c: bool = True


@dataclass
class _Decrypted:
    plaintext: bytes
    plaintext_crc32c: int


class _FakeKms:
    """Stands in for KeyManagementServiceClient: XOR 'encryption' that honours the AAD."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def encrypt(self, request: dict[str, Any]) -> _Encrypted:
        self.requests.append(request)
        assert request["plaintext_crc32c"] == _crc(request["plaintext"])
        body = (
            bytes(b ^ 0x5A for b in request["plaintext"]) + request["additional_authenticated_data"]
        )
        return _Encrypted(body, _crc(body))

    def decrypt(self, request: dict[str, Any]) -> _Decrypted:
        self.requests.append(request)
        aad = request["additional_authenticated_data"]
        if not request["ciphertext"].endswith(aad):
            raise ValueError("aad mismatch")  # what KMS answers: InvalidArgument
        plain = bytes(b ^ 0x5A for b in request["ciphertext"][: -len(aad)])
        return _Decrypted(plain, _crc(plain))


def test_kms_wrapper_sends_key_name_aad_and_checksums() -> None:
    fake = _FakeKms()
    name = "projects/p/locations/eu/keyRings/r/cryptoKeys/customer-credentials"
    wrapper = KmsKeyWrapper(name, client=fake)
    stored = seal(wrapper, b"AKIA-secret", "acme", "cred-9")
    assert open_sealed(wrapper, stored, "acme", "cred-9") == b"AKIA-secret"
    assert json.loads(stored)["key_ref"] == name
    encrypt, decrypt = fake.requests
    assert encrypt["name"] == decrypt["name"] == name
    assert encrypt["additional_authenticated_data"] == associated_data("acme", "cred-9")
    assert len(encrypt["plaintext"]) == 32  # only the data key goes to KMS, never the secret
    with pytest.raises(ValueError, match="aad"):
        open_sealed(wrapper, stored, "globex", "cred-9")


def test_kms_wrapper_refuses_a_response_that_fails_integrity() -> None:
    class Corrupting(_FakeKms):
        def encrypt(self, request: dict[str, Any]) -> _Encrypted:
            good = super().encrypt(request)
            return _Encrypted(good.ciphertext + b"!", good.ciphertext_crc32c)

    with pytest.raises(CredentialError, match="integrity"):
        seal(KmsKeyWrapper("k", client=Corrupting()), b"x", "acme", "r")
