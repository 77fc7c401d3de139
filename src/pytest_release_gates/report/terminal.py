"""The release-gate section of pytest's terminal summary."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from ..gates import BUILTIN
from ..model import GateResult, Level, Status

_COLOURS = {
    "deploy": {"green": True, "bold": True},
    "hold": {"yellow": True, "bold": True},
    "rollback": {"red": True, "bold": True},
}


def lines_for(
    doc: dict[str, Any], *, verbosity: int, messages: list[str] | None = None, order: Mapping[str, int] | None = None
) -> list[tuple[str, dict[str, bool]]]:
    """(text, markup) lines of the summary; shared by terminal and tests. ``order``: kind -> position
    (``Registry.display_order``; the built-in kinds' by default); other kinds follow by name."""
    position = BUILTIN.display_order() if order is None else order
    out: list[tuple[str, dict[str, bool]]] = []
    verdict = doc["verdict"]
    counts = doc["tests"]
    head = f"release gate: {verdict.upper()}"
    if not doc.get("complete", True):
        head += " (incomplete run)"
    tail = (
        f"  ({counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['errors']} errors, {counts['skipped']} skipped)"
    )
    out.append((head + tail, _COLOURS.get(verdict, {})))
    gates = [GateResult.from_json(g) for g in doc["gates"]]
    if verbosity < 0:
        for reason in doc["reasons"]:
            out.append((f"  - {reason}", {}))
        for line in messages or ():
            out.append((f"  {line}", {}))
        return out
    shown = [g for g in gates if verbosity > 0 or g.status is not Status.PASS]
    by_kind: dict[str, list[GateResult]] = defaultdict(list)
    for g in shown:
        by_kind[g.kind].append(g)
    for kind in sorted(by_kind, key=lambda k: (position.get(k, len(position)), k)):
        group = sorted(by_kind[kind], key=_sort_key)
        out.append((f"  {kind}:", {"bold": True}))
        for g in group:
            mark = {Status.FAIL: "FAIL", Status.WARN: "warn", Status.PASS: "pass"}[g.status]
            level = f" -> {g.level}" if g.status is Status.FAIL else ""
            markup = (
                {"red": True}
                if g.status is Status.FAIL and g.level is Level.ROLLBACK
                else {"yellow": True}
                if g.status is Status.FAIL
                else {}
            )
            subject = f"{g.subject} " if g.subject else ""
            out.append((f"    {mark} {subject}{g.message}{level}", markup))
    for line in messages or ():
        out.append((f"  {line}", {}))
    return out


def _sort_key(g: GateResult) -> tuple[int, float, str]:
    rank = {Status.FAIL: 0, Status.WARN: 1, Status.PASS: 2}[g.status]
    ratio = g.ratio
    return (rank * 10 - int(g.level), -(ratio or 0.0), g.subject)
