"""Customer cloud credentials, stored as ciphertext only (envelope encryption).

Each record gets its own random 256-bit data key; the secret is sealed with AES-GCM under that
key, and the data key itself is wrapped by a key-encryption key: Cloud KMS in the cloud
(:class:`KmsKeyWrapper`, ``google-cloud-kms``, with CRC32C integrity checks), a local 256-bit
AES-GCM key on the stack (:class:`LocalCipher`, ``CREDENTIALS_LOCAL_KEY``) as its stand-in.
Both layers bind the same associated data, the customer AND the record id, so a ciphertext
copied to another customer or onto another record does not decrypt. Only the wrapped key,
the nonce, the ciphertext and the key reference are stored; nothing here is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.errors import ConfigurationError, PermanentError
from shared.quotas import db
from shared.quotas.settings import QuotasSettings
from shared.quotas.validation import check_id, raise_if
from shared.settings import area_settings, get_settings

ENV_KEY = "CREDENTIALS_LOCAL_KEY"
TABLE = "customer_cloud_credentials"
ENVELOPE_VERSION = 1


class CredentialError(PermanentError):
    """A credential could not be sealed or opened (wrong key, wrong record, tampered)."""

    def __init__(self, detail: str) -> None:
        super().__init__("credential_error", detail)


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys (the key-encryption key never leaves its owner)."""

    key_ref: str

    def wrap(self, data_key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes: ...


def _aesgcm_seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _aesgcm_open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], aad)
    except InvalidTag:
        raise CredentialError("ciphertext does not open for this customer and record") from None


class LocalCipher:
    """The local stand-in for Cloud KMS: a 256-bit AES-GCM key-encryption key."""

    def __init__(self, key_b64: str | None = None) -> None:
        key = key_b64 or area_settings(QuotasSettings).credentials_local_key
        raw = base64.b64decode(key, validate=True)
        if len(raw) != 32:
            raise ConfigurationError(f"{ENV_KEY} must be 32 bytes, base64-encoded")
        self._key = raw
        self.key_ref = "local:" + hashlib.sha256(raw).hexdigest()[:12]

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        return _aesgcm_seal(self._key, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return _aesgcm_open(self._key, wrapped, aad)


class KmsKeyWrapper:
    """Cloud KMS as the key-encryption key: ``encrypt``/``decrypt`` of the data key with the
    associated data, CRC32C checked both ways as Google recommends."""

    def __init__(self, key_name: str, client: Any | None = None) -> None:
        self.key_ref = key_name
        self._client = client

    def _kms(self) -> Any:
        if self._client is None:
            from google.cloud import kms

            self._client = kms.KeyManagementServiceClient()
        return self._client

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        response = self._kms().encrypt(
            request={
                "name": self.key_ref,
                "plaintext": data_key,
                "plaintext_crc32c": _crc32c(data_key),
                "additional_authenticated_data": aad,
                "additional_authenticated_data_crc32c": _crc32c(aad),
            }
        )
        if not (
            response.verified_plaintext_crc32c
            and response.verified_additional_authenticated_data_crc32c
            and int(response.ciphertext_crc32c) == _crc32c(response.ciphertext)
        ):
            raise CredentialError("Cloud KMS encrypt response failed its integrity checks")
        return bytes(response.ciphertext)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        response = self._kms().decrypt(
            request={
                "name": self.key_ref,
                "ciphertext": wrapped,
                "ciphertext_crc32c": _crc32c(wrapped),
                "additional_authenticated_data": aad,
                "additional_authenticated_data_crc32c": _crc32c(aad),
            }
        )
        if int(response.plaintext_crc32c) != _crc32c(response.plaintext):
            raise CredentialError("Cloud KMS decrypt response failed its integrity check")
        return bytes(response.plaintext)


def default_wrapper() -> KeyWrapper:
    """Cloud KMS (``CREDENTIALS_KMS_KEY``) in the cloud, the local key on the stack."""
    if get_settings().is_local:
        return LocalCipher()
    name = area_settings(QuotasSettings).credentials_kms_key
    if not name:
        raise ConfigurationError("CREDENTIALS_KMS_KEY (a Cloud KMS crypto key name) is not set")
    return KmsKeyWrapper(name)


def _crc32c(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


def associated_data(customer_id: str, record_id: str) -> bytes:
    """Binds a ciphertext to its customer and record (ids never contain '|')."""
    return f"{TABLE}|{customer_id}|{record_id}".encode()


def seal(wrapper: KeyWrapper, plaintext: bytes, customer_id: str, record_id: str) -> str:
    """Envelope-encrypt ``plaintext`` with a fresh data key; returns the stored text."""
    aad = associated_data(customer_id, record_id)
    data_key = secrets.token_bytes(32)
    envelope = {
        "v": ENVELOPE_VERSION,
        "key_ref": wrapper.key_ref,
        "wrapped_key": base64.b64encode(wrapper.wrap(data_key, aad)).decode(),
        "sealed": base64.b64encode(_aesgcm_seal(data_key, plaintext, aad)).decode(),
    }
    return json.dumps(envelope, sort_keys=True)


def open_sealed(wrapper: KeyWrapper, stored: str, customer_id: str, record_id: str) -> bytes:
    """The plaintext of :func:`seal`'s output for this customer and record."""
    try:
        envelope = json.loads(stored)
        wrapped = base64.b64decode(envelope["wrapped_key"], validate=True)
        sealed = base64.b64decode(envelope["sealed"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise CredentialError("not a credential envelope") from None
    if envelope.get("v") != ENVELOPE_VERSION:
        raise CredentialError(f"unknown envelope version {envelope.get('v')!r}")
    aad = associated_data(customer_id, record_id)
    return _aesgcm_open(wrapper.unwrap(wrapped, aad), sealed, aad)


_PUT = """
MERGE {table} AS T
USING (SELECT @c AS customer_id, @id AS credential_id) AS S
ON T.customer_id = S.customer_id AND T.credential_id = S.credential_id
WHEN NOT MATCHED THEN INSERT (customer_id, credential_id, provider, ciphertext, key_ref, created_at)
VALUES (@c, @id, @p, @ct, @ref, @now)
"""


def put(
    customer_id: str, credential_id: str, provider: str, secret: bytes, wrapper: KeyWrapper
) -> bool:
    """Encrypt and record one credential under the caller's id; True when recorded now, False
    when the customer already holds ``credential_id`` (a credential is never replaced: a
    retried call changes nothing, a new secret takes a new id). The secret is never logged."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "credential_id", credential_id)
    check_id(problems, "provider", provider)
    raise_if(problems)
    _, recorded = db.run(
        _PUT.format(table=db.table(TABLE)),
        {
            "c": customer_id,
            "id": credential_id,
            "p": provider,
            "ct": seal(wrapper, secret, customer_id, credential_id),
            "ref": wrapper.key_ref,
            "now": datetime.now(UTC),
        },
    )
    return recorded > 0


def store(customer_id: str, provider: str, secret: bytes, wrapper: KeyWrapper) -> str:
    """Encrypt and record one credential under a new random id; returns the id."""
    credential_id = secrets.token_hex(8)
    put(customer_id, credential_id, provider, secret, wrapper)
    return credential_id


def load(customer_id: str, credential_id: str, wrapper: KeyWrapper) -> bytes | None:
    rows, _ = db.run(
        f"SELECT ciphertext FROM {db.table(TABLE)} WHERE customer_id = @c AND credential_id = @id",
        {"c": customer_id, "id": credential_id},
    )
    if not rows:
        return None
    return open_sealed(wrapper, rows[0]["ciphertext"], customer_id, credential_id)
