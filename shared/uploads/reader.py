"""Ranged reads of the first bytes of one pinned object generation."""

from __future__ import annotations

from collections.abc import Callable

from shared import clients
from shared.errors import PermanentError, TransientError

HeadReader = Callable[[str, str, int, int], bytes | None]
"""(bucket, name, generation, n) -> the first n bytes, or None when that generation is gone."""


def read_head(bucket: str, name: str, generation: int, n: int) -> bytes | None:
    """The first ``n`` bytes of ``bucket/name#generation``; None on 404 (deleted/overwritten).

    The generation is pinned, so a newer upload of the same name is never read by mistake.
    Storage 5xx/429 and connection errors surface as transient (the platform retries).
    """
    from google.api_core import exceptions as api_exceptions

    blob = clients.storage().bucket(bucket).blob(name, generation=generation or None)
    try:
        data: bytes = blob.download_as_bytes(start=0, end=n - 1, checksum=None, timeout=30)
    except api_exceptions.NotFound:
        return None
    except api_exceptions.BadRequest as exc:
        raise PermanentError("storage_read_refused", str(exc)[:500]) from exc
    except (api_exceptions.ServerError, api_exceptions.TooManyRequests) as exc:
        raise TransientError(f"storage read of {bucket}/{name[:200]} failed: {exc}") from exc
    return data
