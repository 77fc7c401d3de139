"""Accepted performance debt: a regression entry may carry ``reason``, ``owner`` and ``expires``; until
it expires a regression of that metric warns instead of holding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, final

from ...model import UsageError

#: Debt expiring within this many days is listed in the summary.
DEBT_WARN_DAYS: Final = 14


@final
@dataclass(frozen=True, slots=True)
class Debt:
    """An accepted regression or finding: who owns it, why, until when."""

    reason: str | None
    owner: str | None
    expires: dt.date | None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def days_left(self, today: dt.date) -> int | None:
        return None if self.expires is None else (self.expires - today).days

    def expires_soon(self, today: dt.date, days: int = DEBT_WARN_DAYS) -> bool:
        left = self.days_left(today)
        return left is not None and 0 <= left <= days

    def describe(self) -> str:
        parts = []
        if self.owner:
            parts.append(f"owner: {self.owner}")
        if self.reason:
            parts.append(f"reason: {self.reason}")
        return "; ".join(parts) if parts else "no owner named"


DEBT_KEYS: Final = ("reason", "owner", "expires")


def debt_of(entry: Mapping[str, Any], *, where: str = "entry") -> Debt | None:
    """The debt an entry carries, or None. Bad fields raise ``UsageError`` naming ``where``."""
    if not any(k in entry for k in DEBT_KEYS):
        return None
    for k in ("reason", "owner"):
        if k in entry and not isinstance(entry[k], str):
            raise UsageError(f"{where}: {k!r} must be a string, got {entry[k]!r}")
    expires = entry.get("expires")
    date = None
    if expires is not None:
        if not isinstance(expires, str):
            raise UsageError(f"{where}: 'expires' must be a date (YYYY-MM-DD), got {expires!r}")
        try:
            date = dt.date.fromisoformat(expires)
        except ValueError:
            raise UsageError(f"{where}: 'expires' must be a date (YYYY-MM-DD), got {expires!r}") from None
    return Debt(entry.get("reason"), entry.get("owner"), date)
