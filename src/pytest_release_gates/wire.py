"""Shape checks for observations read back on the controller.

An observation crosses a process boundary (xdist ships it with a test report), so what arrives
may come from a worker running another version of a gate. Each gate's observation dataclass reads
its ``from_json`` through these helpers: a value the gate cannot do without raises ``ValueError``
naming the observation kind and the field, and the gate then fails closed (a crashing gate is a
failing ``run`` gate, never a pass). Core: imports nothing of the package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeGuard


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or float, not a bool (JSON has no other numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: object) -> TypeGuard[int | float]:
    return is_number(value) and math.isfinite(value)


def mapping(data: object, kind: str) -> Mapping[str, object]:
    """``data`` as a JSON object, or ``ValueError``."""
    if not isinstance(data, Mapping):
        raise ValueError(f"malformed {kind!r} observation: expected an object, got {type(data).__name__}")
    return data


def number(data: Mapping[str, object], key: str, kind: str) -> float:
    """The required number ``data[key]`` (bools and numeric strings as ``float()`` takes them)."""
    if key not in data:
        raise ValueError(f"malformed {kind!r} observation: no {key!r}")
    value = data[key]
    if isinstance(value, (int, float, str)):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"malformed {kind!r} observation: {key!r} is not a number: {value!r}")


def optional_number(data: Mapping[str, object], key: str, kind: str) -> float | None:
    """``data[key]`` as a number, None when absent or null; anything else is ``ValueError``."""
    return None if data.get(key) is None else number(data, key, kind)


def text(value: object) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def strings(data: object) -> dict[str, str] | None:
    """A JSON object of strings (values ``str()``-ed); None when absent or empty."""
    if not isinstance(data, Mapping) or not data:
        return None
    return {str(k): str(v) for k, v in data.items()}
