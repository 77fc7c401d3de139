"""Price quotes: the hot path the release plan puts a p95 budget on."""

from __future__ import annotations

from dataclasses import dataclass

TAX_RATES = {"DE": 0.19, "FR": 0.20, "US": 0.0}


@dataclass(frozen=True)
class Line:
    sku: str
    unit_cents: int
    quantity: int


def quote(lines: list[Line], country: str, discount: float = 0.0) -> int:
    """Total in cents, tax included, rounded half up per line."""
    rate = TAX_RATES[country]
    total = 0
    for line in lines:
        net = line.unit_cents * line.quantity * (1 - discount)
        total += int(net * (1 + rate) + 0.5)
    return total
