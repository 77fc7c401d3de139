"""The one baseline file: load, validate, migrate, save atomically. Each gate kind owns a section.

The file is committed and reviewed in pull requests, so it is deterministic:
sorted keys, a stable indented layout (lists of plain values on one line, so
a metric's samples do not spread over fifty lines), floats rounded to six
significant digits and no timestamps, so an unchanged run rewrites an
identical file and two branches touching different tests rarely conflict.
It is never written over a file that could not be read: that file is the
user's to fix, byte for byte as they left it.

Layout::

    {
      "meta": {"machines": {ID: {"cores", "cpu", "platform"}}, "count_envs": {ID: {...}},
               "plugin_version", "project_version", "python"},
      "regression": {"<node id>::<metric>": {entry}},
      "coverage": {"total": 87.5},
      "schema": "pytest-release-gates/baseline/1",
      "<other kind>": {...}
    }
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, final

from . import atomic
from .model import UsageError

SCHEMA: Final = "pytest-release-gates/baseline/1"
_SCHEMA_RE: Final = re.compile(r"^pytest-release-gates/baseline/(\d+)$")
CURRENT_VERSION: Final = 1
#: Significant digits kept for every float: well below timing noise, stable across rewrites.
DIGITS: Final = 6
#: Debt expiring within this many days is listed in the summary.
DEBT_WARN_DAYS: Final = 14
#: Environment variable naming this machine for baseline comparisons (overrides CPU/cores/platform).
MACHINE_ENV: Final = "RELEASE_GATES_MACHINE"
_RESERVED: Final = ("schema", "meta")

#: Schema migrations: ``MIGRATIONS[n]`` turns a version-``n`` document into version ``n + 1``.
#: Schema 1 is the first published one; register a step here when schema 2 comes.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

#: Per-section validators run on load: ``fn(path, section)`` raises ``UsageError`` naming the entry.
#: A bad entry makes the whole file unreadable (and so never overwritten).
SECTION_VALIDATORS: dict[str, Callable[[Path, dict[str, Any]], None]] = {}


def register_validator(kind: str, check: Callable[[Path, dict[str, Any]], None]) -> None:
    """Let a gate kind validate its section whenever the baseline is read."""
    SECTION_VALIDATORS[kind] = check


@final
class Baseline:
    """The baseline file's content: ``sections[kind]`` is owned by that gate kind."""

    __slots__ = ("_original", "exists", "meta", "migrated_from", "path", "sections")

    def __init__(
        self,
        path: Path,
        *,
        exists: bool = False,
        meta: dict[str, Any] | None = None,
        sections: dict[str, Any] | None = None,
        migrated_from: int | None = None,
        original: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.exists = exists
        self.meta: dict[str, Any] = meta or {}
        self.sections: dict[str, Any] = sections or {}
        self.migrated_from = migrated_from
        # The text as read: what "unchanged" is measured against (gates edit sections in place).
        self._original = original if original is not None else (self.render() if exists else None)

    def section(self, kind: str) -> dict[str, Any]:
        """The section of one gate kind, created empty on first use."""
        if kind in _RESERVED:
            raise ValueError(f"{kind!r} is not a section name")
        sec = self.sections.setdefault(kind, {})
        if not isinstance(sec, dict):
            raise UsageError(f"{self.path}: section {kind!r} must be an object")
        return sec

    def get(self, kind: str) -> dict[str, Any]:
        """The section of one gate kind, or an empty dict (never creates it)."""
        sec = self.sections.get(kind, {})
        return sec if isinstance(sec, dict) else {}

    def to_json(self) -> dict[str, Any]:
        """The document as written: empty sections dropped, floats rounded."""
        out: dict[str, Any] = {"schema": SCHEMA}
        if self.meta:
            out["meta"] = self.meta
        for kind, sec in self.sections.items():
            if sec:
                out[kind] = sec
        return normalize(out)  # type: ignore[no-any-return]  # normalize copies every container

    def render(self) -> str:
        return render(self.to_json())

    @property
    def changed(self) -> bool:
        return self.render() != self._original

    @property
    def project_version(self) -> str | None:
        v = self.meta.get("project_version")
        return v if isinstance(v, str) else None

    def save(self) -> bool:
        """Write the file if its content changed; keep the previous one as ``.bak``.

        Re-reads the file on disk first: if it appeared or became unreadable
        since it was loaded, it is not ours to overwrite.
        """
        if not self.changed:
            return False
        if self.path.exists() or self.path.is_symlink():
            try:
                load(self.path)
            except FileNotFoundError:
                pass
            except UsageError as exc:
                raise UsageError(f"{exc} (not overwritten)") from None
            else:
                if not self.exists:
                    raise UsageError(f"{self.path}: appeared during the run; not overwritten")
        atomic.write_text(self.path, self.render(), backup=self.path.with_name(self.path.name + ".bak"))
        self._original = self.render()
        self.exists = True
        return True


# ------------------------------------------------------------------ loading


def load(path: Path) -> Baseline:
    """Load the baseline at ``path``; a missing file is an empty baseline.

    Anything unreadable (corrupt, empty, a directory, a newer schema, an
    entry of the wrong type) raises ``UsageError`` naming the file (and the
    entry), and the file is left untouched.
    """
    path = Path(path)
    try:
        data = atomic.read_json(path, what="baseline")
    except FileNotFoundError:
        if path.is_symlink():
            raise UsageError(f"{path}: baseline is a broken symbolic link") from None
        return Baseline(path, exists=False)
    try:
        original: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        original = None
    return from_json(data, path, original=original)


def from_json(data: Any, path: Path, *, original: str | None = None) -> Baseline:
    """Validate (and migrate) a parsed baseline document."""
    if not isinstance(data, dict):
        raise UsageError(f"{path}: baseline must be a JSON object")
    schema = data.get("schema")
    m = _SCHEMA_RE.match(schema) if isinstance(schema, str) else None
    if m is None:
        raise UsageError(f"{path}: not a pytest-release-gates baseline (schema {schema!r}, expected {SCHEMA!r})")
    version = int(m.group(1))
    if version > CURRENT_VERSION:
        meta = data.get("meta")
        writer = meta.get("plugin_version") if isinstance(meta, dict) else None
        by = f"pytest-release-gates {writer}" if isinstance(writer, str) else "a newer pytest-release-gates"
        raise UsageError(
            f"{path}: baseline schema {schema!r} was written by {by}; this version reads up to {SCHEMA!r}: "
            "upgrade pytest-release-gates"
        )
    migrated_from = version if version < CURRENT_VERSION else None
    while version < CURRENT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise UsageError(f"{path}: baseline schema {schema!r} is too old to migrate; record a new baseline")
        try:
            data = step(copy.deepcopy(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{path}: cannot migrate baseline schema {version}: {exc}") from None
        version += 1
        data["schema"] = f"pytest-release-gates/baseline/{version}"
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise UsageError(f"{path}: 'meta' must be an object")
    sections = {k: v for k, v in data.items() if k not in _RESERVED}
    for kind, sec in sections.items():
        if not isinstance(sec, dict):
            raise UsageError(f"{path}: section {kind!r} must be an object")
        check = SECTION_VALIDATORS.get(kind)
        if check is not None:
            check(path, sec)
    return Baseline(
        path,
        exists=True,
        meta=meta,
        sections=sections,
        migrated_from=migrated_from,
        original=original if migrated_from is None else None,
    )


# ------------------------------------------------------------ serialising


def round_float(x: float) -> float | None:
    """Six significant digits; non-finite values (which JSON cannot hold) become None."""
    if not math.isfinite(x):
        return None
    return float(f"{x:.{DIGITS}g}")


def normalize(value: Any) -> Any:
    """A copy with every float rounded and every key a string."""
    t = type(value)
    if t is float:
        return round_float(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, float):
        return round_float(float(value))
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in the baseline")


def render(data: Any) -> str:
    """Deterministic text: sorted keys, two-space indent, lists of plain values on one line."""
    return _render(normalize(data), 0) + "\n"


def _scalar(v: Any) -> str:
    t = type(v)
    if t is float:
        return float.__repr__(v)  # what json.dumps writes for a finite float
    if t is int:
        return int.__repr__(v)
    return json.dumps(v, ensure_ascii=False, allow_nan=False)


def _render(v: Any, depth: int) -> str:
    pad = "  " * (depth + 1)
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [f"{pad}{_scalar(k)}: {_render(v[k], depth + 1)}" for k in sorted(v)]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    if isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v):
            return "[" + ", ".join(_scalar(x) for x in v) + "]"
        return "[\n" + ",\n".join(pad + _render(x, depth + 1) for x in v) + "\n" + "  " * depth + "]"
    return _scalar(v)


# ------------------------------------------------------------- run facts


def machine_fingerprint() -> dict[str, Any]:
    """CPU model, core count and platform: what makes timings comparable.

    ``RELEASE_GATES_MACHINE=name`` replaces it by a name, for runner pools
    whose CPUs report different models but time alike.
    """
    named = os.environ.get(MACHINE_ENV, "").strip()
    if named:
        return {"name": named}
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "platform": f"{platform.system()}-{platform.machine()}",
    }


def machine_id(fingerprint: Mapping[str, Any]) -> str:
    """A short stable id of a fingerprint, stored in each entry."""
    text = json.dumps(dict(fingerprint), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def describe_machine(fingerprint: Mapping[str, Any] | None) -> str:
    if not fingerprint:
        return "an unknown machine"
    if "name" in fingerprint:
        return f"machine {fingerprint['name']!r}"
    return f"{fingerprint.get('cpu', '?')}, {fingerprint.get('cores', '?')} cores, {fingerprint.get('platform', '?')}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model", "Processor") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def run_meta(rootdir: Path) -> dict[str, Any]:
    """Project version, Python version and plugin version of this run (machines are kept by entries)."""
    from . import __version__
    from .project import project_facts

    facts, _problem = project_facts(rootdir)
    return {
        "plugin_version": __version__,
        "project_version": facts.get("version"),
        "python": platform.python_version(),
    }


# ------------------------------------------------------------------- debt


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


# ------------------------------------------------------ section validators


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _all_numbers(values: list[Any]) -> bool:
    """Fast path for long sample lists: plain ints/floats whose sum is finite are all finite."""
    if not all(type(v) is float or type(v) is int for v in values):
        return all(_is_number(v) for v in values)
    return math.isfinite(math.fsum(values)) or all(_is_number(v) for v in values)


def validate_regression(path: Path, section: dict[str, Any]) -> None:
    """Every ``regression`` entry: numbers where numbers belong, a known direction, valid debt."""
    for key, entry in section.items():
        where = f"{path}: regression entry {key!r}"
        if not isinstance(entry, dict):
            raise UsageError(f"{where} must be an object, got {entry!r}")
        if "median" not in entry:
            raise UsageError(f"{where}: 'median' is missing")
        if not _is_number(entry["median"]):
            raise UsageError(f"{where}: 'median' must be a number, got {entry['median']!r}")
        count = entry.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise UsageError(f"{where}: 'count' must be a whole number of at least 1, got {count!r}")
        if "spread" in entry and not _is_number(entry["spread"]):
            raise UsageError(f"{where}: 'spread' must be a number, got {entry['spread']!r}")
        samples = entry.get("samples", [])
        if not isinstance(samples, list) or not _all_numbers(samples):
            raise UsageError(f"{where}: 'samples' must be a list of numbers")
        if entry.get("direction", "lower") not in ("lower", "higher"):
            raise UsageError(f"{where}: 'direction' must be 'lower' or 'higher', got {entry['direction']!r}")
        for k in ("machine", "unit", "source", "count_env"):
            if k in entry and not isinstance(entry[k], str):
                raise UsageError(f"{where}: {k!r} must be a string, got {entry[k]!r}")
        if "reference" in entry:
            ref = entry["reference"]
            ok = (
                isinstance(ref, dict)
                and isinstance(ref.get("id"), str)
                and _is_number(ref.get("seconds"))
                and ref["seconds"] > 0
                and (_is_number(ref.get("cpu", 0)) and 0 <= ref.get("cpu", 0) <= 1)
            )
            if not ok:
                raise UsageError(
                    f"{where}: 'reference' must be {{\"id\": <string>, \"seconds\": <positive number>, "
                    f"\"cpu\": <0 to 1>}}, got {ref!r}"
                )
        debt_of(entry, where=where)


def validate_coverage(path: Path, section: dict[str, Any]) -> None:
    total = section.get("total")
    if total is not None and not (_is_number(total) and 0 <= total <= 100):
        raise UsageError(f"{path}: coverage 'total' must be a percentage (0 to 100), got {total!r}")


register_validator("regression", validate_regression)
register_validator("coverage", validate_coverage)
