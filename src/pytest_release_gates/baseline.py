"""The one baseline file: load, validate, migrate, save atomically. Each gate kind owns a section.

The file is committed and reviewed in pull requests, so it is deterministic:
sorted keys, a stable indented layout (lists of plain values on one line, so
a metric's samples do not spread over fifty lines), floats rounded to six
significant digits and no timestamps, so an unchanged run rewrites an
identical file and two branches touching different tests rarely conflict.
It is never written over a file that could not be read: that file is the
user's to fix, byte for byte as they left it.

Each section is validated on every read by the validator its gate kind
provides (``load(path, validators=...)``: the list lives in ``gates``, this
module imports no gate). Saving is a locked read-modify-write that merges by
entry, so two runs accepting different entries at once both land.

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
import json
import math
import platform
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final, final

from . import __version__, atomic, locking
from .baseline_merge import SCHEMA as SCHEMA
from .baseline_merge import MergeConflict, merge
from .model import UsageError
from .project import project_facts

_SCHEMA_RE: Final = re.compile(r"^pytest-release-gates/baseline/(\d+)$")
CURRENT_VERSION: Final = 1
#: Significant digits kept for every float: well below timing noise, stable across rewrites.
DIGITS: Final = 6
#: Environment variable naming this machine for baseline comparisons (overrides CPU/cores/platform).
_RESERVED: Final = ("schema", "meta")
#: The project's folder of machine files (git-ignored): the lock and the backup of the baseline go there.
MACHINE_DIR: Final = ".release-gates"

#: Validates one section on read: ``fn(path, section)`` raises ``UsageError`` naming the file, the
#: section and the entry. A bad entry makes the whole file unreadable, and so never overwritten.
Validator = Callable[[Path, dict[str, Any]], None]
#: What ``load`` is given: (section name, validator) pairs, or a mapping of them.
Validators = Mapping[str, Validator] | Iterable[tuple[str, Validator]]

#: Schema migrations: ``MIGRATIONS[n]`` turns a version-``n`` document into version ``n + 1``.
#: Schema 1 is the first published one; register a step here when schema 2 comes.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


@final
class Baseline:
    """The baseline file's content: ``sections[kind]`` is owned by that gate kind."""

    __slots__ = ("_original", "_source", "_validators", "exists", "meta", "migrated_from", "path", "sections",
                 "unchecked")

    def __init__(
        self,
        path: Path,
        *,
        exists: bool = False,
        meta: dict[str, Any] | None = None,
        sections: dict[str, Any] | None = None,
        migrated_from: int | None = None,
        original: str | None = None,
        validators: Validators = (),
        source: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.exists = exists
        self.meta: dict[str, Any] = meta or {}
        self.sections: dict[str, Any] = sections or {}
        self.migrated_from = migrated_from
        self._validators: dict[str, Validator] = dict(validators)
        #: Sections no validator covers: kept as they are, and named so the run can say so.
        self.unchecked: tuple[str, ...] = tuple(sorted(k for k in self.sections if k not in self._validators))
        # The text as read: what "unchanged" is measured against (gates edit sections in place).
        self._original = original if original is not None else (self.render() if exists else None)
        # The JSON text the document was read from: what this run's own changes are measured against
        # when saving (parsed again then, so a run that does not save pays nothing for it).
        self._source = source

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

    def save(self, *, machine_dir: Path | None = None) -> bool:
        """Write this run's changes into the file; True when the file changed.

        Under a lock on ``<machine_dir>/<name>.lock`` (``machine_dir`` defaults to
        ``.release-gates`` beside the file), the file is read again and this run's
        changes since it loaded it (entries added, changed, removed) are applied
        onto the file as it is now, so another run's entries written meanwhile
        are kept. Raises ``UsageError`` and writes nothing when the file became
        unreadable, or another run changed one of the same entries differently
        (``MergeConflict``). The previous file is kept in ``<machine_dir>/<name>.bak``.
        """
        if not self.changed:
            return False
        folder = Path(machine_dir) if machine_dir is not None else self.path.parent / MACHINE_DIR
        mine = self.to_json()
        loaded = from_json(json.loads(self._source), self.path, original=self._source).to_json() \
            if self._source is not None else {}
        with locking.locked(folder / f"{self.path.name}.lock", what=f"the baseline {self.path}"):
            try:
                now = load(self.path, validators=self._validators)
            except UsageError as exc:
                raise UsageError(f"{exc} (changed during the run; not overwritten)") from None
            try:
                merged = merge(loaded, mine, now.to_json() if now.exists else {})
            except MergeConflict as exc:
                raise MergeConflict(f"{self.path}: {exc}", exc.unit) from None
            text = render(merged)
            written = text != now._original
            if written:
                atomic.write_text(self.path, text, backup=folder / f"{self.path.name}.bak")
        self.meta = merged.get("meta", {})
        self.sections = {k: v for k, v in merged.items() if k not in _RESERVED}
        self._original = self._source = text
        self.exists = True
        return written


# ------------------------------------------------------------------ loading


def load(path: Path, *, validators: Validators) -> Baseline:
    """Load the baseline at ``path``; a missing file is an empty baseline.

    ``validators`` check their sections (``Registry.validators()`` for the
    built-in gate kinds). Anything unreadable (corrupt, empty, a directory, a
    newer schema, an entry of the wrong shape) raises ``UsageError`` naming
    the file (and the section and entry), and the file is left untouched.
    """
    path = Path(path)
    try:
        data = atomic.read_json(path, what="baseline")
    except FileNotFoundError:
        if path.is_symlink():
            raise UsageError(f"{path}: baseline is a broken symbolic link") from None
        return Baseline(path, exists=False, validators=validators)
    try:
        original: str | None = atomic.read_capped(path, what="baseline").decode("utf-8")
    except (OSError, UnicodeDecodeError, UsageError):
        original = None
    return from_json(data, path, original=original, validators=validators)


def from_json(data: Any, path: Path, *, original: str | None = None, validators: Validators = ()) -> Baseline:
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
    validate_meta(path, meta)
    checks = dict(validators)
    source = original if migrated_from is None and original is not None else json.dumps(data)
    sections = {k: v for k, v in data.items() if k not in _RESERVED}
    for kind, sec in sections.items():
        if not isinstance(sec, dict):
            raise UsageError(f"{path}: section {kind!r} must be an object, got {short(sec)}")
        check = checks.get(kind)
        if check is not None:
            check(path, sec)
    return Baseline(
        path,
        exists=True,
        meta=meta,
        sections=sections,
        migrated_from=migrated_from,
        original=original if migrated_from is None else None,
        validators=checks,
        source=source,
    )


def validate_meta(path: Path, meta: Any) -> None:
    """The core's own section: run facts and the machine table the regression entries point to."""
    if not isinstance(meta, dict):
        raise UsageError(f"{path}: 'meta' must be an object, got {short(meta)}")
    for key in ("plugin_version", "project_version", "python"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise UsageError(f"{path}: meta {key!r} must be a string, got {short(meta[key])}")
    machines = meta.get("machines", {})
    if not isinstance(machines, dict):
        raise UsageError(f"{path}: meta 'machines' must be an object of machine id -> description, "
                         f"got {short(machines)}")
    for mid, desc in machines.items():
        if not isinstance(desc, dict):
            raise UsageError(f"{path}: meta machine {mid!r} must be an object, got {short(desc)}")
    envs = meta.get("count_envs", {})  # where counted entries were counted (measure/instructions.py)
    if not isinstance(envs, dict) or not all(isinstance(d, dict) for d in envs.values()):
        raise UsageError(f"{path}: meta 'count_envs' must be an object of environment id -> description, "
                         f"got {short(envs)}")


def short(value: Any) -> str:
    """A value for a one-line message: its JSON, cut at 60 characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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


def run_meta(rootdir: Path) -> dict[str, Any]:
    """Project version, Python version and plugin version of this run (machines are kept by entries)."""
    facts, _problem = project_facts(rootdir)
    return {
        "plugin_version": __version__,
        "project_version": facts.get("version"),
        "python": platform.python_version(),
    }


# ------------------------------------------------- helpers for validators


def is_number(v: Any) -> bool:
    """A finite JSON number (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def all_numbers(values: list[Any]) -> bool:
    """Fast path for long sample lists: plain ints/floats whose sum is finite are all finite."""
    if not all(type(v) is float or type(v) is int for v in values):
        return all(is_number(v) for v in values)
    return math.isfinite(math.fsum(values)) or all(is_number(v) for v in values)
