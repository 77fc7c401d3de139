"""The gate model: what every gate kind produces and the verdict reduces.

Everything here is plain data (frozen dataclasses of str/float/int), so a
result can be serialised to the verdict file, shipped from an xdist worker
and compared in tests without any pytest object attached.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, final


class Level(enum.IntEnum):
    """Verdict levels, ordered: the verdict is the maximum any gate asks for."""

    DEPLOY = 0
    HOLD = 1
    ROLLBACK = 2

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown verdict level {text!r} (deploy, hold or rollback)") from None


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    def __str__(self) -> str:
        return self.value


# SPEC's gate kinds. Third-party gates may use other kinds (each declared by a GateSpec); these are ours.
TESTS: Final = "tests"
BUDGET: Final = "budget"
TIMEOUT: Final = "timeout"
REGRESSION: Final = "regression"
NEW_ERROR_TYPE: Final = "new_error_type"
INTEGRITY: Final = "integrity"
COVERAGE: Final = "coverage"
RUN: Final = "run"


class UsageError(Exception):
    """Bad input from the user: reported as one line, never a traceback."""


@final
@dataclass(frozen=True, slots=True)
class GateResult:
    """One checked gate.

    ``level`` is what the gate asks for when it fails; a gate that passes or
    warns never raises the verdict above deploy, whatever its ``level``.
    """

    kind: str
    subject: str
    status: Status
    level: Level = Level.HOLD
    message: str = ""
    metric: str | None = None
    value: float | None = None
    limit: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def effective_level(self) -> Level:
        return self.level if self.status is Status.FAIL else Level.DEPLOY

    @property
    def ratio(self) -> float | None:
        """value/limit, for sorting "how far over" (None when not numeric)."""
        if self.value is None or self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    @property
    def reason(self) -> str:
        return f"{self.subject} {self.message}".strip() if self.subject else self.message

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind,
            "subject": self.subject,
            "status": self.status.value,
            "level": str(self.level),
        }
        if self.metric is not None:
            out["metric"] = self.metric
        if self.value is not None:
            out["value"] = _finite(self.value)
        if self.limit is not None:
            out["limit"] = _finite(self.limit)
        out["message"] = self.message
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> GateResult:
        known = {"kind", "subject", "status", "level", "metric", "value", "limit", "message"}
        return cls(
            kind=str(data["kind"]),
            subject=str(data.get("subject", "")),
            status=Status(data["status"]),
            level=Level.parse(str(data.get("level", "hold"))),
            message=str(data.get("message", "")),
            metric=_text(data.get("metric")),
            value=_num(data.get("value")),
            limit=_num(data.get("limit")),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _finite(x: float) -> float | None:
    return round(x, 6) if math.isfinite(x) else None


def _text(x: object) -> str | None:
    if x is None or isinstance(x, str):
        return x
    raise ValueError(f"expected a string, got {x!r}")


def _num(x: object) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"expected a number, got {x!r}")
    return float(x)


COUNT_FIELDS: Final = ("collected", "passed", "failed", "errors", "skipped", "xfailed", "xpassed")


@final
@dataclass(slots=True)
class TestCounts:
    __test__ = False  # not a pytest test class

    collected: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0

    @property
    def executed(self) -> int:
        return self.passed + self.failed + self.errors + self.xfailed + self.xpassed

    def to_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_FIELDS}



@final
@dataclass(frozen=True, slots=True)
class Decision:
    """What the verdict policy returns: the level and the reasons for it."""

    level: Level
    reasons: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class RunFacts:
    """Computed once per run (git is a subprocess): the provisional and final verdict share them."""

    run_id: str
    project: dict[str, Any]
    environment: dict[str, Any]
    git: dict[str, Any] | None
    problem: str | None = None  # why the project version could not be read, for a warning gate
