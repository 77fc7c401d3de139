"""What the budget gate ships from the test's process to the controller: one observation per budgeted test.

Plain JSON on the wire (``to_json``), compact because a suite may budget every test; the controller
reads it back with ``from_json``, which fails closed on a shape it cannot use (``wire.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, final

from ... import wire
from ...model import BUDGET

KIND: Final = BUDGET


@final
@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """One checked limit. ``value`` None: not measured, ``note`` says why.

    ``subject`` None: the test itself, else ``<node id>::<measure>``; ``traced``: the tracers (coverage)
    the value was measured under (an overrun then only warns); ``method``: how memory was measured.
    """

    metric: str
    value: float | None
    limit: float
    source: str
    subject: str | None = None
    note: str = ""
    measure: str | None = None
    traced: str | None = None
    method: str | None = None

    @property
    def over(self) -> bool:
        """Over its limit, measured without a tracer: this fails the test's report."""
        return self.value is not None and self.value > self.limit and not self.traced

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"metric": self.metric, "value": self.value, "limit": self.limit,
                                  "source": self.source}
        if self.subject is not None:
            out["subject"] = self.subject
        if self.note:
            out["note"] = self.note
        if self.measure is not None:
            out["measure"] = self.measure
        if self.traced:
            out["traced"] = self.traced
        if self.method is not None:
            out["method"] = self.method
        return out

    @classmethod
    def from_json(cls, data: object) -> BudgetCheck:
        """``metric`` and ``limit`` are required; a ``value`` that is not a number is ``ValueError``."""
        d = wire.mapping(data, KIND)
        if "metric" not in d:
            raise ValueError(f"malformed {KIND!r} observation: a check has no 'metric'")
        subject, measure, method = d.get("subject"), d.get("measure"), d.get("method")
        return cls(
            metric=str(d["metric"]),
            value=wire.optional_number(d, "value", KIND),
            limit=wire.number(d, "limit", KIND),
            source=str(d.get("source", "")),
            subject=str(subject) if subject is not None else None,
            note=str(d.get("note", "")),
            measure=str(measure) if measure is not None else None,
            traced=wire.text(d.get("traced")),
            method=str(method) if method is not None else None,
        )


@final
@dataclass(frozen=True, slots=True)
class BudgetObservation:
    """The budget of one test as its process saw it: checked (the test passed), or why not."""

    checked: bool
    limits: Mapping[str, float]
    why: str = ""  # not checked: "skipped", "xfailed", "failed", "errored in setup"
    checks: tuple[BudgetCheck, ...] = ()
    overrides: tuple[str, ...] = ()  # "<metric>: marker X overrides <source> Y" (limits.resolve)

    def to_json(self) -> dict[str, object]:
        if not self.checked:
            return {"checked": False, "why": self.why, "limits": dict(self.limits)}
        return self.checked_json(self.limits, self.checks, self.overrides)

    @staticmethod
    def checked_json(limits: Mapping[str, float], checks: Iterable[BudgetCheck],
                     overrides: tuple[str, ...]) -> dict[str, object]:
        """``to_json`` of a checked observation, without building one (once per budgeted test)."""
        out: dict[str, object] = {"checked": True, "checks": [c.to_json() for c in checks], "limits": dict(limits)}
        if overrides:
            out["overrides"] = list(overrides)
        return out

    @classmethod
    def from_json(cls, data: object) -> BudgetObservation:
        d = wire.mapping(data, KIND)
        limits = wire.mapping(d.get("limits", {}), KIND)
        checks, overrides = d.get("checks", ()), d.get("overrides", ())
        if not isinstance(checks, (list, tuple)) or not isinstance(overrides, (list, tuple)):
            raise ValueError(f"malformed {KIND!r} observation: 'checks' and 'overrides' must be lists")
        return cls(
            checked=bool(d.get("checked")),
            limits={str(k): wire.number(limits, k, KIND) for k in limits},
            why=str(d.get("why", "")),
            checks=tuple(BudgetCheck.from_json(c) for c in checks),
            overrides=tuple(str(o) for o in overrides),
        )
