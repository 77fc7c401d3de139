"""The controller side of the ``new_error_type`` gate, pure and order-independent: the set of new
types is the set seen minus the baseline (and the accepted types), whatever order the workers report in.
The baseline section's format lives here too: what an entry keeps, and its validator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, final

from ... import baseline as baseline_mod
from ...config import AcceptedType
from ...model import UsageError
from .capture import ERROR, WARNING, name_matches, signature_key


@final
@dataclass(slots=True)
class Seen:
    """One signature over the whole run."""

    key: str
    kind: str
    type: str
    origin: str
    first_test: str
    first_where: str
    mro: list[str]
    count: int = 0
    tests: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)


def aggregate(occurrences: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Seen]:
    """Merge (test node id, occurrence JSON) pairs, in report order, into one entry per signature."""
    out: dict[str, Seen] = {}
    for test, data in occurrences:
        try:
            type_name = str(data["type"])
            origin = str(data.get("origin") or "")
            count = int(data.get("count", 1))
        except (KeyError, TypeError, ValueError):
            continue
        key = signature_key(type_name, origin)
        seen = out.get(key)
        if seen is None:
            mro = data.get("mro")
            seen = out[key] = Seen(
                key, str(data.get("kind") or ERROR), type_name, origin, test, str(data.get("where") or ""),
                [str(m) for m in mro] if isinstance(mro, list) else [type_name],
            )
        seen.count += count
        if test:
            seen.tests.add(test)
        seen.sources.add(str(data.get("source") or ""))
    return out


def known_match(seen: Seen, known: Sequence[AcceptedType]) -> AcceptedType | None:
    for entry in known:
        if name_matches(entry.name, seen.type, seen.mro):
            return entry
    return None


@final
@dataclass(frozen=True, slots=True)
class Comparison:
    new: tuple[str, ...]  # keys, in first-seen order
    increased: tuple[str, ...]
    unchanged: tuple[str, ...]
    known: tuple[tuple[str, AcceptedType], ...]
    expired: tuple[tuple[str, AcceptedType], ...]
    resolved: tuple[str, ...]


def compare(seen: Mapping[str, Seen], baseline: Mapping[str, Any], known: Sequence[AcceptedType] = (),
            today: dt.date | None = None) -> Comparison:
    """Seen signatures against the baseline section: new = seen minus baseline (minus known types)."""
    today = today or dt.date.today()
    new, increased, unchanged, resolved = [], [], [], []
    known_hits: list[tuple[str, AcceptedType]] = []
    expired: list[tuple[str, AcceptedType]] = []
    for key, s in seen.items():
        if key in baseline:
            entry = baseline[key]
            before = entry.get("count") if isinstance(entry, Mapping) else None
            if isinstance(before, int) and not isinstance(before, bool) and s.count > before:
                increased.append(key)
            else:
                unchanged.append(key)
            continue
        accepted = known_match(s, known)
        if accepted is None:
            new.append(key)
        elif accepted.expires is not None and accepted.expires < today:
            expired.append((key, accepted))
        else:
            known_hits.append((key, accepted))
    for key in baseline:
        if key not in seen:
            resolved.append(key)
    return Comparison(tuple(new), tuple(increased), tuple(unchanged), tuple(known_hits), tuple(expired),
                      tuple(sorted(resolved)))


def baseline_entry(s: Seen) -> dict[str, Any]:
    """What the baseline keeps of a signature: content only (no test names, no line numbers)."""
    return {"kind": s.kind, "type": s.type, "origin": s.origin, "count": s.count}


def validate_section(path: Path, section: dict[str, Any]) -> None:
    """Baseline validator of the ``error_types`` section: each entry says what it accepts (kind, type,
    origin) and how often, under the key its type and origin give; anything else would accept types
    nobody reviewed."""
    short = baseline_mod.short
    for key, entry in section.items():
        where = f"{path}: error_types entry {key!r}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where} must be an object such as {{\"count\": 1, \"kind\": \"error\", "
                             f"\"origin\": \"\", \"type\": \"builtins.KeyError\"}}, got {short(entry)}")
        missing = [k for k in ("count", "kind", "type") if k not in entry]
        if missing:
            raise UsageError(f"{where}: {', '.join(map(repr, missing))} missing")
        type_name, origin = entry["type"], entry.get("origin", "")
        if not isinstance(type_name, str) or not type_name:
            raise UsageError(f"{where}: 'type' must be the type's name, got {short(type_name)}")
        if not isinstance(origin, str):
            raise UsageError(f"{where}: 'origin' must be a module name or \"\", got {short(origin)}")
        if entry["kind"] not in (ERROR, WARNING):
            raise UsageError(f"{where}: 'kind' must be {ERROR!r} or {WARNING!r}, got {short(entry['kind'])}")
        count = entry["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise UsageError(f"{where}: 'count' must be a whole number of at least 1, got {short(count)}")
        expected = signature_key(type_name, origin)
        if key != expected:
            raise UsageError(f"{where}: the key must be {expected!r} (its type and origin)")
