"""Three-way merge of baseline documents, unit by unit: a concurrent writer's change is kept unless
both changed the same unit differently (``MergeConflict``). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from .model import UsageError

#: The baseline file's schema id (``baseline.SCHEMA``).
SCHEMA: Final = "pytest-release-gates/baseline/1"


class MergeConflict(UsageError):
    """Another run changed an entry this run changed too, to something else."""

    def __init__(self, message: str, unit: tuple[str, ...]) -> None:
        super().__init__(message)
        self.unit = unit


_MISSING: Final[Any] = object()


def units(doc: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
    """The entries of a document, each by its path: ``(section, key)``, and ``("meta", "machines", id)``
    for the machine table, whose machines are recorded by runs on different hosts independently."""
    out: dict[tuple[str, ...], Any] = {}
    for name, sec in doc.items():
        if name == "schema":
            continue
        if not isinstance(sec, Mapping):
            out[(name,)] = sec
            continue
        for key, value in sec.items():
            if name == "meta" and key == "machines" and isinstance(value, Mapping):
                for mid, desc in value.items():
                    out[(name, key, mid)] = desc
            else:
                out[(name, key)] = value
    return out


def from_units(entries: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """The document ``units`` took apart (sections with no entry left are dropped)."""
    out: dict[str, Any] = {"schema": SCHEMA}
    for path, value in entries.items():
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def _same(a: Any, b: Any) -> bool:
    """JSON equality (``1`` is not ``1.0``, nor ``True``)."""
    if a is _MISSING or b is _MISSING:
        return a is b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def merge(base: Mapping[str, Any], mine: Mapping[str, Any], now: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the changes from ``base`` (what a run loaded) to ``mine`` (what it would write) onto
    ``now`` (the file as it is at write time), entry by entry.

    An entry this run did not change is taken from ``now``; one it changed is
    taken from ``mine``, unless ``now`` has it changed to something else since
    ``base``: then nobody's change can be kept safely, and ``MergeConflict`` names it.
    """
    b, m, n = units(base), units(mine), units(now)
    out = dict(n)
    for unit in sorted(b.keys() | m.keys()):
        before, after = b.get(unit, _MISSING), m.get(unit, _MISSING)
        if _same(before, after):
            continue
        current = n.get(unit, _MISSING)
        if _same(current, after):
            continue
        if not _same(current, before):
            what = f"{unit[0]} entry {'/'.join(unit[1:])!r}" if len(unit) > 1 else f"section {unit[0]!r}"
            raise MergeConflict(f"another run changed {what} differently since this run read the file; run "
                                "again to record this run on top of it", unit)
        if after is _MISSING:
            del out[unit]
        else:
            out[unit] = after
    return from_units(out)
