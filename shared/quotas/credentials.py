"""Customer cloud credentials are stored as ciphertext only.

Locally a 256-bit key (``CREDENTIALS_LOCAL_KEY``, base64, a dev value from ``local_env``)
encrypts with AES-GCM; the customer id is bound as associated data so a ciphertext cannot be
moved to another customer. In production the same interface is served by Cloud KMS (key name
recorded in ``key_ref``); that adapter is not part of this module yet.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime

from shared.errors import ConfigurationError
from shared.quotas import db
from shared.quotas.settings import QuotasSettings
from shared.quotas.validation import check_id, raise_if
from shared.settings import area_settings

ENV_KEY = "CREDENTIALS_LOCAL_KEY"


class LocalCipher:
    def __init__(self, key_b64: str | None = None) -> None:
        key = key_b64 or area_settings(QuotasSettings).credentials_local_key
        raw = base64.b64decode(key, validate=True)
        if len(raw) != 32:
            raise ConfigurationError(f"{ENV_KEY} must be 32 bytes, base64-encoded")
        self._key = raw
        self.key_ref = "local:" + hashlib.sha256(raw).hexdigest()[:12]

    def encrypt(self, plaintext: bytes, context: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._key).encrypt(nonce, plaintext, context.encode())
        return base64.b64encode(nonce + sealed).decode()

    def decrypt(self, ciphertext: str, context: str) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        blob = base64.b64decode(ciphertext, validate=True)
        return AESGCM(self._key).decrypt(blob[:12], blob[12:], context.encode())


def store(customer_id: str, provider: str, secret: bytes, cipher: LocalCipher) -> str:
    """Encrypt and insert one credential (by DML); returns its id. The secret is never logged."""
    problems: list[str] = []
    check_id(problems, "customer_id", customer_id)
    check_id(problems, "provider", provider)
    raise_if(problems)
    credential_id = secrets.token_hex(8)
    db.run(
        f"INSERT INTO {db.table('customer_cloud_credentials')} (customer_id, credential_id, "
        "provider, ciphertext, key_ref, created_at) VALUES (@c, @id, @p, @ct, @ref, @now)",
        {
            "c": customer_id,
            "id": credential_id,
            "p": provider,
            "ct": cipher.encrypt(secret, customer_id),
            "ref": cipher.key_ref,
            "now": datetime.now(UTC),
        },
    )
    return credential_id


def load(customer_id: str, credential_id: str, cipher: LocalCipher) -> bytes | None:
    rows, _ = db.run(
        f"SELECT ciphertext FROM {db.table('customer_cloud_credentials')} "
        "WHERE customer_id = @c AND credential_id = @id",
        {"c": customer_id, "id": credential_id},
    )
    return cipher.decrypt(rows[0]["ciphertext"], customer_id) if rows else None
