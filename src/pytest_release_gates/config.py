"""One loader and validator for the per-project config.

Sources, strongest first: command-line options, then ``release-gates.toml``
at the rootdir (keys at top level) or ``[tool.release_gates]`` in the
rootdir's ``pyproject.toml``, then defaults. Both files configuring the
plugin at once is an error: silently preferring one would leave the other
looking authoritative in review.

Every problem is a ``UsageError`` whose message names the file and the key.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, final

from .history import url as history_url
from .model import KINDS, RUN, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["PYPROJECT", "STANDALONE", "Settings", "load", "parse", "tomllib"]

PYPROJECT: Final = "pyproject.toml"
STANDALONE: Final = "release-gates.toml"
POLICIES: Final = ("hold", "warn", "off")
LEVEL_NAMES: Final = ("hold", "rollback", "warn")
RULE_NAMES: Final = (
    "duplicate-lines",
    "hardcoded-paths",
    "secrets",
    "conflict-markers",
    "permissions",
    "gitignored",
)
BUDGET_KEYS: Final = ("seconds", "memory_mb", "p50", "p95", "p99")


class _Bad(Exception):
    """A value failed validation; the loader adds file and key."""


# ---------------------------------------------------------------- validators


def _number(*, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Bad(f"expected a number, got {v!r}")
        x = float(v)
        if not math.isfinite(x):
            raise _Bad(f"expected a finite number, got {v!r}")
        if gt is not None and not x > gt:
            raise _Bad(f"must be greater than {gt:g}, got {v!r}")
        if ge is not None and not x >= ge:
            raise _Bad(f"must be at least {ge:g}, got {v!r}")
        if le is not None and not x <= le:
            raise _Bad(f"must be at most {le:g}, got {v!r}")
        return x

    return check


def _integer(*, ge: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"expected a whole number, got {v!r}")
        if v < ge:
            raise _Bad(f"must be at least {ge}, got {v!r}")
        return v

    return check


def _string(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise _Bad(f"expected a non-empty string, got {v!r}")
    return v


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"expected true or false, got {v!r}")
    return v


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in options:
            raise _Bad(f"expected one of {', '.join(repr(o) for o in options)}, got {v!r}")
        return str(v)

    return check


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        raise _Bad(f"expected a list of non-empty strings, got {v!r}")
    return tuple(v)


@final
@dataclass(frozen=True, slots=True)
class AcceptedType:
    """A ``known_error_types`` entry: a type accepted suite-wide, maybe until a date."""

    name: str
    reason: str | None = None
    owner: str | None = None
    expires: dt.date | None = None


def _known_types(v: Any) -> tuple[AcceptedType, ...]:
    if not isinstance(v, list):
        raise _Bad(f"expected a list of type names or tables, got {v!r}")
    out = []
    for i, entry in enumerate(v):
        if isinstance(entry, str) and entry:
            out.append(AcceptedType(entry))
            continue
        if not isinstance(entry, dict):
            raise _Bad(f"entry {i}: expected a type name or a table, got {entry!r}")
        unknown = set(entry) - {"type", "reason", "owner", "expires"}
        if unknown:
            raise _Bad(f"entry {i}: unknown key {sorted(unknown)[0]!r} (type, reason, owner, expires)")
        if not isinstance(entry.get("type"), str) or not entry["type"]:
            raise _Bad(f"entry {i}: 'type' must be a non-empty string")
        expires = entry.get("expires")
        if expires is not None:
            if isinstance(expires, str):
                try:
                    expires = dt.date.fromisoformat(expires)
                except ValueError:
                    raise _Bad(f"entry {i}: 'expires' must be a date (YYYY-MM-DD), got {expires!r}") from None
            elif isinstance(expires, dt.datetime):
                expires = expires.date()
            elif not isinstance(expires, dt.date):
                raise _Bad(f"entry {i}: 'expires' must be a date (YYYY-MM-DD), got {expires!r}")
        for k in ("reason", "owner"):
            if k in entry and not isinstance(entry[k], str):
                raise _Bad(f"entry {i}: {k!r} must be a string")
        out.append(AcceptedType(entry["type"], entry.get("reason"), entry.get("owner"), expires))
    return tuple(out)


_positive = _number(gt=0)
BRANCH_CHOICES: Final = ("current+default", "all")


def _history_url(v: Any) -> str:
    """Empty (the local file), ``sqlite:///PATH`` or ``postgresql://...``; the message never shows a password."""
    if not isinstance(v, str):
        raise _Bad(f"expected a string (empty, sqlite:///PATH or postgresql://...), got {type(v).__name__}")
    try:
        history_url.parse(v, Path("."))
    except ValueError as exc:
        raise _Bad(str(exc)) from None
    return v


def _branches(v: Any) -> str | tuple[str, ...]:
    if isinstance(v, str) and v in BRANCH_CHOICES:
        return v
    if isinstance(v, list):
        return _str_list(v)
    raise _Bad(f"expected \"current+default\", \"all\" or a list of branch names, got {history_url.mask(repr(v))}")


def _budgets(v: Any) -> Mapping[str, Mapping[str, float]]:
    if not isinstance(v, dict):
        raise _Bad(f"expected a table of test ids, got {v!r}")
    out: dict[str, dict[str, float]] = {}
    for test_id, limits in v.items():
        if not isinstance(limits, dict):
            raise _Bad(f"[{test_id!r}]: expected a table such as {{seconds = 1.0}}, got {limits!r}")
        entry: dict[str, float] = {}
        for key, value in limits.items():
            if key not in BUDGET_KEYS:
                raise _Bad(f"[{test_id!r}].{key}: unknown budget key (one of {', '.join(BUDGET_KEYS)})")
            try:
                entry[key] = _positive(value)
            except _Bad as exc:
                raise _Bad(f"[{test_id!r}].{key}: {exc}") from None
        if not entry:
            raise _Bad(f"[{test_id!r}]: empty budget (give at least one of {', '.join(BUDGET_KEYS)})")
        out[test_id] = entry
    return out


def _manifest(v: Any) -> str | None:
    if v is False:
        return None
    if isinstance(v, str) and v:
        return v
    raise _Bad(f"expected a path or false, got {v!r}")


def _rules(v: Any) -> tuple[str, ...]:
    names = _str_list(v)
    for n in names:
        if n not in RULE_NAMES:
            raise _Bad(f"unknown rule {n!r} (one of {', '.join(RULE_NAMES)})")
    return names


def _levels(v: Any) -> Mapping[str, str]:
    if not isinstance(v, dict):
        raise _Bad(f"expected a table of gate kind = level, got {v!r}")
    allowed = [k for k in KINDS if k != RUN] + ["critical", "minor"]
    out = {}
    for k, level in v.items():
        if k not in allowed:
            why = " (an incomplete run always holds)" if k == RUN else ""
            raise _Bad(f"{k!r}: not a configurable gate{why}; one of {', '.join(allowed)}")
        out[k] = _choice(LEVEL_NAMES)(level)
    return out


@final
@dataclass(frozen=True, slots=True)
class IntegritySettings:
    patterns: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    manifest: str | None = "release-gates.integrity.json"  # committed: never under .release-gates/
    rules: tuple[str, ...] = ()
    must_be_ignored: tuple[str, ...] = ()


@final
@dataclass(frozen=True, slots=True)
class CompareSettings:
    ref: str | None = None
    paths: tuple[str, ...] | None = None
    rounds: int = 3
    tolerance: float | None = None  # None: regression_tolerance


_INTEGRITY_SCHEMA: Final[Mapping[str, Callable[[Any], Any]]] = {
    "patterns": _str_list,
    "excludes": _str_list,
    "manifest": _manifest,
    "rules": _rules,
    "must_be_ignored": _str_list,
}
_COMPARE_SCHEMA: Final[Mapping[str, Callable[[Any], Any]]] = {
    "ref": _string,
    "paths": _str_list,
    "rounds": _integer(ge=1),
    "tolerance": _number(ge=0),
}


def _table(schema: Mapping[str, Callable[[Any], Any]], cls: type[Any]) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if not isinstance(v, dict):
            raise _Bad(f"expected a table, got {v!r}")
        values = {}
        for k, raw in v.items():
            if k not in schema:
                raise _Bad(f"{k!r}: unknown key (one of {', '.join(schema)})")
            try:
                values[k] = schema[k](raw)
            except _Bad as exc:
                raise _Bad(f"{k}: {exc}") from None
        return cls(**values)

    return check


# key -> validator; the Settings field of the same name holds the result.
SCHEMA: Final[Mapping[str, Callable[[Any], Any]]] = {
    "verdict_file": _string,
    "baseline_file": _string,
    "regression_tolerance": _number(ge=0),
    "rollback_ratio": _number(gt=1),
    "coverage_min": _number(ge=0, le=100),
    "coverage_max_drop": _number(ge=0, le=100),
    "new_error_types": _choice(POLICIES),
    "new_warning_types": _choice(POLICIES),
    "known_error_types": _known_types,
    "error_scope": _str_list,
    "budgets": _budgets,
    "warn_fraction": _number(gt=0, le=1),
    "hang_factor": _number(gt=1),
    "perf_spread_seconds": _number(ge=0, le=60),
    "perf_calibration": _boolean,
    "perf_counter": _choice(("time", "instructions")),
    "counter_tolerance": _number(ge=0),
    "strict_machine": _boolean,
    "integrity": _table(_INTEGRITY_SCHEMA, IntegritySettings),
    "compare": _table(_COMPARE_SCHEMA, CompareSettings),
    "levels": _levels,
    "history_max_runs": _integer(ge=1),
    "history_max_days": _number(gt=0),
    "flaky_window": _integer(ge=1),
    "flaky_min_failures": _integer(ge=1),
    "flaky_level": _choice(POLICIES),
    "flaky_days": _number(gt=0),
    "history_url": _history_url,
    "history_branches": _branches,
    "history_required": _boolean,
    "history_timeout": _number(gt=0, le=600),
    "partial_run": _choice(("hold", "warn")),
}


@final
@dataclass(frozen=True, slots=True)
class Settings:
    """Validated settings. Plain values only, so they can cross to xdist workers."""

    rootdir: Path = Path(".")
    source: str | None = None  # file the settings came from, for messages
    verdict_file: str = ".release-gates/verdict.json"
    baseline_file: str = "release-gates.baseline.json"
    regression_tolerance: float = 0.2
    rollback_ratio: float = 1.5
    coverage_min: float | None = None
    coverage_max_drop: float | None = None
    new_error_types: str = "hold"
    new_warning_types: str = "hold"
    known_error_types: tuple[AcceptedType, ...] = ()
    error_scope: tuple[str, ...] = ()
    budgets: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    warn_fraction: float = 0.8
    hang_factor: float = 10.0
    perf_spread_seconds: float = 1.0
    perf_calibration: bool = True
    perf_counter: str = "time"  # perf.measure's default counter: "time" or "instructions"
    counter_tolerance: float = 0.01  # regression tolerance of counted (instruction) metrics
    strict_machine: bool = False
    integrity: IntegritySettings | None = None
    compare: CompareSettings = CompareSettings()
    levels: Mapping[str, str] = field(default_factory=dict)
    history_max_runs: int = 200
    history_max_days: float = 30.0
    flaky_window: int = 10
    flaky_min_failures: int = 2
    flaky_level: str = "warn"
    flaky_days: float | None = None
    history_url: str = ""  # may hold a password: never print it (history.url.StoreURL.label)
    history_branches: str | tuple[str, ...] = "current+default"
    history_required: bool = False
    history_timeout: float = 5.0
    partial_run: str = "hold"
    # From the command line (not config keys):
    update_baseline: bool = False
    compare_ref: str | None = None
    verdict_override: str | None = None
    baseline_override: str | None = None
    shard: tuple[int, int] | None = None  # --gate-shard=I/N: (I, N)

    @property
    def verdict_path(self) -> Path:
        return _under(self.rootdir, self.verdict_override or self.verdict_file, self.verdict_override is not None)

    @property
    def baseline_path(self) -> Path:
        return _under(self.rootdir, self.baseline_override or self.baseline_file, self.baseline_override is not None)

    def describe(self, key: str) -> str:
        """Where a key is set, for messages: ``pyproject.toml [tool.release_gates] key``."""
        if self.source == PYPROJECT:
            return f"{PYPROJECT} [tool.release_gates] {key}"
        if self.source:
            return f"{self.source} {key}"
        return key


def _under(root: Path, value: str, from_cli: bool) -> Path:
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    # Command-line paths are relative to the current folder, config paths to the rootdir.
    return (Path.cwd() / p) if from_cli else (root / p)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def find_raw(rootdir: Path) -> tuple[str | None, dict[str, Any]]:
    """Return (file name, raw table) of the project's config, or (None, {})."""
    pyproject = rootdir / PYPROJECT
    standalone = rootdir / STANDALONE
    table: Any = None
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("release_gates")
    if standalone.exists():
        if table is not None:
            raise UsageError(
                f"{standalone} and {pyproject} [tool.release_gates] both configure pytest-release-gates; "
                "keep one of them"
            )
        return STANDALONE, _read_toml(standalone)
    if table is None:
        return None, {}
    if not isinstance(table, dict):
        raise UsageError(f"{pyproject}: [tool.release_gates] must be a table")
    return PYPROJECT, table


def load(rootdir: Path, **cli: Any) -> Settings:
    """Load and validate the config under ``rootdir``, then apply CLI values."""
    rootdir = Path(rootdir)
    source, raw = find_raw(rootdir)
    values = parse(raw, where=_where(rootdir, source))
    env_url = os.environ.get(history_url.ENV, "").strip()
    if env_url:  # wins over the config: credentials stay in CI secrets
        try:
            values["history_url"] = _history_url(env_url)
        except _Bad as exc:
            raise UsageError(f"{history_url.ENV}: {exc}") from None
    values.update({k: v for k, v in cli.items() if v is not None})
    return Settings(rootdir=rootdir, source=source, **values)


def _where(rootdir: Path, source: str | None) -> str:
    if source == PYPROJECT:
        return f"{rootdir / PYPROJECT}: [tool.release_gates]"
    if source:
        return f"{rootdir / source}:"
    return "config:"


def parse(raw: Mapping[str, Any], *, where: str = "config:") -> dict[str, Any]:
    """Validate a raw config table into Settings keyword arguments."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        check = SCHEMA.get(key)
        if check is None:
            hint = _close(key)
            raise UsageError(f"{where} unknown key {key!r}{hint}")
        try:
            values[key] = check(value)
        except _Bad as exc:
            raise UsageError(f"{where} {key}: {exc}") from None
    return values


def _close(key: str) -> str:
    import difflib

    match = difflib.get_close_matches(key, SCHEMA, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""
