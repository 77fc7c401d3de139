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
import difflib
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, final

from .history import url as history_url
from .levels import LEVEL_NAMES, SEVERITIES
from .model import RUN, UsageError
from .spec import ConfigKey, Registry, frozen, table_defaults

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["PYPROJECT", "STANDALONE", "ConfigError", "Settings", "load", "parse", "schema", "tomllib"]

PYPROJECT: Final = "pyproject.toml"
STANDALONE: Final = "release-gates.toml"


class ConfigError(ValueError):
    """A value failed validation; the loader adds file and key."""


_Bad = ConfigError  # short name inside this module


# ---------------------------------------------------------------- validators


def number(*, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"expected a number, got {v!r}")
        x = float(v)
        if not math.isfinite(x):
            raise ConfigError(f"expected a finite number, got {v!r}")
        if gt is not None and not x > gt:
            raise ConfigError(f"must be greater than {gt:g}, got {v!r}")
        if ge is not None and not x >= ge:
            raise ConfigError(f"must be at least {ge:g}, got {v!r}")
        if le is not None and not x <= le:
            raise ConfigError(f"must be at most {le:g}, got {v!r}")
        return x

    return check


def integer(*, ge: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"expected a whole number, got {v!r}")
        if v < ge:
            raise ConfigError(f"must be at least {ge}, got {v!r}")
        return v

    return check


def string(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"expected a non-empty string, got {v!r}")
    return v


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"expected true or false, got {v!r}")
    return v


def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in options:
            raise ConfigError(f"expected one of {', '.join(repr(o) for o in options)}, got {v!r}")
        return str(v)

    return check


def str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        raise ConfigError(f"expected a list of non-empty strings, got {v!r}")
    return tuple(v)


@final
@dataclass(frozen=True, slots=True)
class AcceptedType:
    """A ``known_error_types`` entry: a type accepted suite-wide, maybe until a date."""

    name: str
    reason: str | None = None
    owner: str | None = None
    expires: dt.date | None = None


BRANCH_CHOICES: Final = ("current+default", "all")


def _history_url(v: Any) -> str:
    """Empty (the local file), ``sqlite:///PATH`` or ``postgresql://...``; the message never shows a password."""
    if not isinstance(v, str):
        raise ConfigError(f"expected a string (empty, sqlite:///PATH or postgresql://...), got {type(v).__name__}")
    try:
        history_url.parse(v, Path("."))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return v


def _branches(v: Any) -> str | tuple[str, ...]:
    if isinstance(v, str) and v in BRANCH_CHOICES:
        return v
    if isinstance(v, list):
        return str_list(v)
    got = history_url.mask(repr(v))
    raise ConfigError(f"expected \"current+default\", \"all\" or a list of branch names, got {got}")


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


def table(schema: Mapping[str, Callable[[Any], Any]], cls: type[Any]) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if not isinstance(v, dict):
            raise ConfigError(f"expected a table, got {v!r}")
        values = {}
        for k, raw in v.items():
            if k not in schema:
                raise ConfigError(f"{k!r}: unknown key (one of {', '.join(schema)})")
            try:
                values[k] = schema[k](raw)
            except ConfigError as exc:
                raise ConfigError(f"{k}: {exc}") from None
        return cls(**values)

    return check


def _levels(registry: Registry) -> Callable[[Any], Mapping[str, str]]:
    allowed = [k for k in registry.levelled_kinds if k != RUN] + list(SEVERITIES)

    def check(v: Any) -> Mapping[str, str]:
        if not isinstance(v, dict):
            raise ConfigError(f"expected a table of gate kind = level, got {v!r}")
        out = {}
        for k, level in v.items():
            if k not in allowed:
                why = " (an incomplete run always holds)" if k == RUN else ""
                raise ConfigError(f"{k!r}: not a configurable gate{why}; one of {', '.join(allowed)}")
            out[k] = choice(LEVEL_NAMES)(level)
        return out

    return check


#: Run-wide keys (the core's); every other key is declared by the gate kind that reads it.
CORE_KEYS: Final = (
    ConfigKey("verdict_file", string, ".release-gates/verdict.json"),
    ConfigKey("baseline_file", string, "release-gates.baseline.json"),
    ConfigKey("perf_spread_seconds", number(ge=0, le=60), 1.0),
    ConfigKey("perf_calibration", boolean, True),
    ConfigKey("perf_counter", choice(("time", "instructions")), "time"),
    ConfigKey("history_max_runs", integer(ge=1), 200),
    ConfigKey("history_max_days", number(gt=0), 30.0),
    ConfigKey("history_url", _history_url, ""),
    ConfigKey("history_branches", _branches, "current+default"),
    ConfigKey("history_required", boolean, False),
    ConfigKey("history_timeout", number(gt=0, le=600), 5.0),
)


def schema(registry: Registry) -> dict[str, Callable[[Any], Any]]:
    """Key -> validator: the core's keys, ``levels``, each kind's keys, and each kind's own table."""
    out: dict[str, Callable[[Any], Any]] = {k.name: k.check for k in CORE_KEYS}
    out["levels"] = _levels(registry)
    for name, key in registry.keys().items():
        if name in out:
            raise UsageError(f"config key {name!r} is declared twice")
        out[name] = key.check
    for kind, keys in registry.tables().items():
        if kind in out:
            raise UsageError(f"config table [{kind}] is declared twice")
        out[kind] = _plugin_table(kind, keys)
    return out


def _plugin_table(kind: str, keys: tuple[ConfigKey, ...]) -> Callable[[Any], Mapping[str, Any]]:
    by_name = {k.name: k for k in keys}

    def check(v: Any) -> Mapping[str, Any]:
        if not isinstance(v, dict):
            raise ConfigError(f"expected a table, got {v!r}")
        values = table_defaults(keys)
        for k, raw in v.items():
            if k not in by_name:
                raise ConfigError(f"{k!r}: unknown key (one of {', '.join(by_name)})")
            try:
                values[k] = by_name[k].check(raw)
            except ValueError as exc:
                raise ConfigError(f"{k}: {exc}") from None
        return frozen(values)

    return check


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
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # plugin kinds' own tables
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

    def table(self, kind: str) -> Mapping[str, Any]:
        """A plugin kind's ``[tool.release_gates.<kind>]`` values, defaults filled in."""
        return self.tables.get(kind, {})

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


def load(rootdir: Path, *, registry: Registry, **cli: Any) -> Settings:
    """Load and validate the config under ``rootdir`` for the kinds of ``registry``, then apply CLI values."""
    rootdir = Path(rootdir)
    source, raw = find_raw(rootdir)
    values = parse(raw, registry=registry, where=_where(rootdir, source))
    env_url = os.environ.get(history_url.ENV, "").strip()
    if env_url:  # wins over the config: credentials stay in CI secrets
        try:
            values["history_url"] = _history_url(env_url)
        except ConfigError as exc:
            raise UsageError(f"{history_url.ENV}: {exc}") from None
    values.update({k: v for k, v in cli.items() if v is not None})
    return Settings(rootdir=rootdir, source=source, **values)


def _where(rootdir: Path, source: str | None) -> str:
    if source == PYPROJECT:
        return f"{rootdir / PYPROJECT}: [tool.release_gates]"
    if source:
        return f"{rootdir / source}:"
    return "config:"


def parse(raw: Mapping[str, Any], *, registry: Registry, where: str = "config:") -> dict[str, Any]:
    """Validate a raw config table into Settings keyword arguments (a plugin kind's table under ``tables``)."""
    checks = schema(registry)
    plugin_tables = registry.tables()
    values: dict[str, Any] = {}
    tables: dict[str, Mapping[str, Any]] = {}
    for key, value in raw.items():
        check = checks.get(key)
        if check is None:
            hint = _close(key, checks)
            raise UsageError(f"{where} unknown key {key!r}{hint}")
        try:
            (tables if key in plugin_tables else values)[key] = check(value)
        except ValueError as exc:
            raise UsageError(f"{where} {key}: {exc}") from None
    for kind, keys in plugin_tables.items():
        tables.setdefault(kind, frozen(table_defaults(keys)))
    if tables:
        values["tables"] = tables
    return values


def _close(key: str, checks: Mapping[str, Any]) -> str:
    match = difflib.get_close_matches(key, checks, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""
