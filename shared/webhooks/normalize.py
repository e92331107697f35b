"""Normalization shared by the source mappings: money, currencies, timestamps, strings.

Every function raises :class:`ValidationError` with a field path so a mapping can report
what is wrong; the ingest turns it into a dead letter (reason ``invalid_payload``).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import PipelineError

# ISO 4217 currencies whose minor unit is not 2 digits (the rest use cents).
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip
_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")
MAX_AMOUNT = Decimal("1e15")
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=2)
MAX_TEXT = 1024


class ValidationError(PipelineError, ValueError):
    """One field of a payload is missing or malformed.

    Also a ``ValueError`` (as before the common root): parsers of payload values catch both.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


def get(obj: Any, path: str) -> Any:
    """``a.b.c`` lookup in nested dicts; None when any step is missing or not a dict."""
    current = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def text(value: Any, path: str, *, required: bool = False, max_len: int = MAX_TEXT) -> str | None:
    """A string (numbers are accepted as ids and converted), bounded in length."""
    if value is None or value == "":
        if required:
            raise ValidationError(path, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(path, "must be a string")
    result = str(value)
    if len(result) > max_len:
        raise ValidationError(path, f"is longer than {max_len} characters")
    try:
        result.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(path, "is not valid UTF-8 text") from None
    return result


def currency(value: Any, path: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _CURRENCY_RE.fullmatch(value):
        raise ValidationError(path, "must be a 3-letter ISO 4217 currency code")
    return value.upper()


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationError(path, "must be a number")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(path, "must be a number") from None
    if not result.is_finite() or abs(result) >= MAX_AMOUNT:
        raise ValidationError(path, "is not a finite amount below 1e15")
    return result


def amount(value: Any, path: str, *, required: bool = True) -> Decimal | None:
    """A decimal amount in major units ("19.99", 19.99), rounded to 9 places (NUMERIC)."""
    if value is None and not required:
        return None
    if value is None:
        raise ValidationError(path, "is required")
    return _decimal(value, path).quantize(Decimal("1e-9"))


def minor_units(value: Any, code: str, path: str, *, required: bool = True) -> Decimal | None:
    """An integer amount in minor units (cents; yen) converted to major units of ``code``."""
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(path, "must be an integer amount in minor units")
    exponent = _EXPONENTS.get(code, 2)
    return amount(Decimal(value).scaleb(-exponent), path)


def micros(value: Any, path: str, *, required: bool = False) -> Decimal | None:
    """An integer amount in millionths (ad platforms report spend in micros)."""
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(path, "must be an integer amount in micros")
    return amount(Decimal(value).scaleb(-6), path)


def count(value: Any, path: str, *, required: bool = False) -> int | None:
    """A non-negative integer count (numeric strings accepted)."""
    if value is None and not required:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValidationError(path, "must be a non-negative integer")
    return value


def ratio(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(path, "must be a number")
    result = float(value)
    if not math.isfinite(result) or result < 0:
        raise ValidationError(path, "must be a finite non-negative number")
    return result


def timestamp(value: Any, path: str, *, now: datetime | None = None) -> datetime:
    """RFC 3339 with offset, or epoch seconds, to an aware UTC datetime within sane bounds.

    Naive timestamps are refused: guessing a time zone silently shifts events across days.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValidationError(path, "is not a valid epoch time") from None
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(path, "is not an RFC 3339 timestamp") from None
        if parsed.tzinfo is None:
            raise ValidationError(path, "has no time zone offset")
        result = parsed.astimezone(UTC)
    else:
        raise ValidationError(path, "must be an RFC 3339 timestamp or epoch seconds")
    limit = (now or datetime.now(UTC)) + MAX_FUTURE
    if not MIN_TIME <= result <= limit:
        raise ValidationError(path, "is outside 2000-01-01 .. now + 2 days")
    return result


def day(value: Any, path: str) -> date:
    """A calendar day ``YYYY-MM-DD`` (report days are in the account's own time zone)."""
    if not isinstance(value, str) or len(value) != 10:
        raise ValidationError(path, "must be a date YYYY-MM-DD")
    try:
        result = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(path, "must be a date YYYY-MM-DD") from None
    if not MIN_TIME.date() <= result <= (datetime.now(UTC) + MAX_FUTURE).date():
        raise ValidationError(path, "is outside 2000-01-01 .. today + 2 days")
    return result


def zone(value: Any, path: str) -> ZoneInfo:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValidationError(path, "must be an IANA time zone name")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(path, "is not a known IANA time zone") from None


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# ---------------------------------------------------------------- source module defaults
def top_level_id(payload: dict[str, Any]) -> str | None:
    """A source's ``provider_event_id`` when the body carries it as ``id`` (Stripe-like)."""
    return text(payload.get("id"), "id", max_len=200)


def top_level_type(payload: dict[str, Any]) -> str | None:
    """A source's ``payload_event_type`` when the body carries it as a string ``type``."""
    value = payload.get("type")
    return value if isinstance(value, str) else None
