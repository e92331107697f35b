"""``POST /credentials`` on quota-api: a customer hands over a cloud credential for one of
its configured providers.

The secret is sealed before it is stored (envelope encryption, :mod:`shared.quotas.credentials`:
Cloud KMS in the cloud, the stack's local key here) and no route returns it: the API can
write credentials, nothing reads them back through it, so quota-api only ever encrypts with
the key (Terraform grants it ``roles/cloudkms.cryptoKeyEncrypter``, not decrypt). A
credential is recorded under the caller's ``credential_id``, once: a retried call changes
nothing and answers ``created: false``; a new secret takes a new id. The secret is never
logged, echoed or put in an error message.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from shared.quotas import admission, credentials, members, store
from shared.quotas.validation import check_id, raise_if

MAX_SECRET_BYTES = 8 * 1024
Response = tuple[dict[str, Any], int]


@functools.cache
def _wrapper() -> credentials.KeyWrapper:
    """One key wrapper per instance: in the cloud it holds the KMS client and its channel."""
    return credentials.default_wrapper()


def _secret(problems: list[str], value: object) -> bytes:
    if not isinstance(value, str) or not value:
        problems.append("secret must be a non-empty string")
        return b""
    try:
        raw = value.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") in the JSON string
        problems.append("secret must be valid Unicode text")
        return b""
    if len(raw) > MAX_SECRET_BYTES:
        problems.append(f"secret must be at most {MAX_SECRET_BYTES} bytes (UTF-8)")
    return raw


def submit(customer_id: str, body: dict[str, Any]) -> Response:
    """Seal and record ``body["secret"]`` for the key's customer: 201 recorded now, 200
    already recorded under that id, 409 for a customer not in standing (suspended, cancelled,
    trial over: the reason admission gives) or a provider it has not configured;
    :class:`~shared.quotas.validation.InvalidInputError` (400) for bad input."""
    problems: list[str] = []
    provider = check_id(problems, "provider", body.get("provider"))
    credential_id = check_id(problems, "credential_id", body.get("credential_id"))
    secret = _secret(problems, body.get("secret"))
    raise_if(problems)
    profile = store.plain(store.customer_ref(customer_id).get().to_dict())
    standing = admission.not_in_standing(profile, datetime.now(UTC))
    if standing is not None:
        return {"error": standing, "detail": "this customer may not store credentials now"}, 409
    if not members.has_provider(customer_id, provider):
        return {
            "error": "provider_not_configured",
            "detail": f"add provider {provider!r} to this customer first",
        }, 409
    created = credentials.put(customer_id, credential_id, provider, secret, _wrapper())
    return {"customer_id": customer_id, "credential_id": credential_id, "created": created}, (
        201 if created else 200
    )
