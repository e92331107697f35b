"""Input checks shared by the library, the function and the HTTP endpoint."""

from __future__ import annotations

import re

from shared.errors import PermanentError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
FINISH_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")
MIN_LEASE_S = 1
MAX_LEASE_S = 24 * 3600


class InvalidInputError(PermanentError):
    """Bad input to a quota call: nothing was changed. ``problems`` lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid_input", "; ".join(problems))
        self.problems = problems


def check_id(problems: list[str], label: str, value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):  # .match: "$" accepts "x\n"
        problems.append(
            f"{label} must be 1-128 characters of letters, digits, '_', '.', ':' or '-' "
            f"(got {str(value)[:60]!r})"
        )
        return ""
    return value


def check_lease(problems: list[str], value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"lease_seconds must be an integer (got {value!r})")
        return 0
    if not MIN_LEASE_S <= value <= MAX_LEASE_S:
        problems.append(f"lease_seconds must be between {MIN_LEASE_S} and {MAX_LEASE_S}")
    return value


def check_status(problems: list[str], value: object) -> str:
    status = value.upper() if isinstance(value, str) else ""
    if status not in FINISH_STATUSES:
        problems.append(f"status must be one of {', '.join(FINISH_STATUSES)} (got {value!r})")
    return status


def raise_if(problems: list[str]) -> None:
    if problems:
        raise InvalidInputError(problems)
