"""What the timeout gate ships from the test's process: one observation per phase pytest-timeout stopped.

Plain JSON on the wire (``to_json``); ``from_json`` on the controller fails closed on a shape it
cannot use (``wire.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from ... import wire
from ...model import TIMEOUT

KIND: Final = TIMEOUT


@final
@dataclass(frozen=True, slots=True)
class TimeoutObservation:
    """A phase stopped by pytest-timeout at ``limit`` seconds.

    ``hang_factor`` and ``hang_budget``: set when the limit was the hang protection this plugin added
    (``hang_factor`` times the test's ``seconds`` budget), both or neither.
    """

    limit: float
    when: str  # setup, call, teardown
    duration: float | None
    hang_factor: float | None = None
    hang_budget: float | None = None

    @property
    def hang(self) -> bool:
        return self.hang_factor is not None and self.hang_budget is not None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"limit": self.limit, "when": self.when, "duration": self.duration}
        if self.hang:
            out["hang"] = {"factor": self.hang_factor, "budget": self.hang_budget}
        return out

    @classmethod
    def from_json(cls, data: object) -> TimeoutObservation:
        """``limit`` is required, and so are both numbers of a ``hang``."""
        d = wire.mapping(data, KIND)
        hang = d.get("hang")
        factor = budget = None
        if hang:
            h = wire.mapping(hang, KIND)
            factor, budget = wire.number(h, "factor", KIND), wire.number(h, "budget", KIND)
        duration = d.get("duration")
        return cls(
            limit=wire.number(d, "limit", KIND),
            when=str(d.get("when")),
            duration=float(duration) if wire.is_number(duration) else None,
            hang_factor=factor,
            hang_budget=budget,
        )
