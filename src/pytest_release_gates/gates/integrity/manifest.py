"""The integrity manifest: a reviewable, versioned record of selected files, and the closed-world diff.

Format (JSON, sorted keys, two-space indent, trailing newline, so a change
reviews well in a pull request)::

    {
      "algorithm": "sha256",
      "excludes": [],
      "files": {"src/app.py": {"mode": "0644", "sha256": "...", "size": 1234},
                "bin/tool": {"link": "../tools/tool"}},
      "patterns": ["*.py"],
      "schema": "pytest-release-gates/integrity/1"
    }

Verify is closed-world: the files the manifest's own patterns select *now*
are listed again, so a file that appeared is as visible as one that changed
or vanished. Paths in a manifest are never opened: only paths the walker
found under the root are read, and a manifest naming an absolute path or a
``..`` component is refused as a whole before anything is read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple, final

from ... import atomic
from ...model import UsageError
from .hashing import FileState, StatCache, hash_files, signature
from .patterns import Listing, PatternSet, walk

SCHEMA: Final = "pytest-release-gates/integrity/1"
_SCHEMA_RE: Final = re.compile(r"^pytest-release-gates/integrity/(\d+)$")
CURRENT_VERSION: Final = 1
ALGORITHM: Final = "sha256"
#: Committed beside the baseline (SPEC v3), so a fresh clone has it.
DEFAULT_MANIFEST: Final = "release-gates.integrity.json"
#: The default before SPEC v3, inside the git-ignored machine folder: still read, with a warning.
OLD_DEFAULT_MANIFEST: Final = ".release-gates/integrity.json"
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_HEX_ALL: Final = re.compile(r"[0-9a-f]*")
_MODE: Final = re.compile(r"^[0-7]{3,4}$")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE: Final = re.compile(r"[A-Za-z]:[\\/]")

#: Difference kinds, in report order.
MODIFIED: Final = "modified"
ADDED: Final = "added"
REMOVED: Final = "removed"
MODE_CHANGED: Final = "mode changed"
UNREADABLE: Final = "unreadable"
CHANGED_WHILE_HASHED: Final = "changed while hashed"
_ORDER: Final = {k: i for i, k in enumerate((MODIFIED, ADDED, REMOVED, MODE_CHANGED, UNREADABLE, CHANGED_WHILE_HASHED))}


def display(path: str) -> str:
    """A path for a one-line message: as is, or JSON-quoted when it holds a newline or control character."""
    return json.dumps(path, ensure_ascii=False) if _CONTROL.search(path) else path


def unsafe_reason(path: str) -> str | None:
    """Why a manifest path could escape or confuse the root, or None when it is a plain relative path."""
    if not path:
        return "empty path"
    if "\x00" in path:
        return "NUL in path"
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        return "absolute path"
    parts = path.split("/")
    if ".." in parts or ("\\" in path and ".." in re.split(r"[\\/]", path)):
        return "'..' leaves the root"
    if "" in parts or "." in parts:
        return "not a normalized relative path"
    return None


class Entry(NamedTuple):
    """One manifest entry (a NamedTuple: 20,000 of them are built per load, so creation cost counts)."""

    sha256: str | None
    size: int
    mode: int
    link: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.link is not None:
            return {"link": self.link}
        return {"sha256": self.sha256, "size": self.size, "mode": f"{self.mode:04o}"}


@final
@dataclass(slots=True)
class Manifest:
    patterns: tuple[str, ...]
    excludes: tuple[str, ...] = ()
    files: dict[str, Entry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "algorithm": ALGORITHM,
            "patterns": list(self.patterns),
            "excludes": list(self.excludes),
            "files": {p: self.files[p].to_json() for p in sorted(self.files)},
        }

    def dumps(self) -> str:
        return atomic.dumps(self.to_json())

    def sha256sum(self) -> str:
        """GNU ``sha256sum`` text: run ``sha256sum -c`` from the root. Links are left out (it would follow them)."""
        lines = []
        for path in sorted(self.files):
            e = self.files[path]
            if e.link is not None:
                continue
            if any(c in path for c in "\\\n\r"):
                esc = path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
                lines.append(f"\\{e.sha256}  {esc}\n")
            else:
                lines.append(f"{e.sha256}  {path}\n")
        return "".join(lines)


def load(path: Path) -> Manifest:
    """Read and validate a manifest; anything wrong is one ``UsageError`` naming the file."""
    try:
        data = atomic.read_json(path, what="integrity manifest")
    except FileNotFoundError:
        raise UsageError(f"{path}: no integrity manifest (create it with `release-gate integrity generate`)") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: integrity manifest must be a JSON object")
    schema = data.get("schema")
    m = _SCHEMA_RE.match(schema) if isinstance(schema, str) else None
    if m is None:
        raise UsageError(
            f"{path}: not a pytest-release-gates integrity manifest (schema {schema!r}, expected {SCHEMA!r})")
    if int(m.group(1)) > CURRENT_VERSION:
        raise UsageError(f"{path}: manifest schema {schema!r} is newer than this version reads ({SCHEMA!r}): "
                         "upgrade pytest-release-gates")
    if data.get("algorithm") != ALGORITHM:
        raise UsageError(f"{path}: unsupported algorithm {data.get('algorithm')!r} (only {ALGORITHM!r})")
    patterns = data.get("patterns")
    excludes = data.get("excludes", [])
    for key, value in (("patterns", patterns), ("excludes", excludes)):
        if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
            raise UsageError(f"{path}: {key!r} must be a list of non-empty strings")
    files = data.get("files")
    if not isinstance(files, dict):
        raise UsageError(f"{path}: 'files' must be an object of path -> entry")
    entries: dict[str, Entry] = {}
    digests: list[str] = []
    modes: dict[str, int] = {}  # mode strings are few ("0644", "0755"): parse each once
    for rel, e in files.items():
        # Cheap screen in C (`in` on str); the precise check names the problem.
        if (not rel or rel[0] in "/\\" or ".." in rel or "//" in rel or "./" in rel or "\x00" in rel
                or rel[-1] in "/." or rel[1:2] == ":"):
            why = unsafe_reason(rel)
            if why is not None:
                raise UsageError(f"{path}: unsafe path {display(rel)} in manifest ({why}); refusing the whole manifest")
        if type(e) is not dict:
            raise UsageError(f"{path}: entry {display(rel)} must be an object")
        digest = e.get("sha256")
        if digest is None and "link" in e:
            if not isinstance(e["link"], str):
                raise UsageError(f"{path}: entry {display(rel)}: 'link' must be a string")
            entries[rel] = Entry(None, 0, 0, e["link"])
            continue
        size, mode_text = e.get("size"), e.get("mode")
        mode = modes.get(mode_text) if type(mode_text) is str else None
        if mode is None:
            if not isinstance(mode_text, str) or not _MODE.match(mode_text):
                raise UsageError(f"{path}: entry {display(rel)}: 'mode' must be an octal string such as '0644'")
            mode = modes[mode_text] = int(mode_text, 8)
        if type(size) is not int or size < 0:
            raise UsageError(f"{path}: entry {display(rel)}: 'size' must be a whole number of bytes")
        if type(digest) is not str or len(digest) != 64:
            raise UsageError(f"{path}: entry {display(rel)}: 'sha256' must be 64 lowercase hex digits")
        digests.append(digest)
        entries[rel] = Entry(digest, size, mode)
    if digests and not _HEX_ALL.fullmatch("".join(digests)):  # one pass in C for all of them
        bad = next(rel for rel, e in entries.items() if e.sha256 is not None and not _HEX64.match(e.sha256))
        raise UsageError(f"{path}: entry {display(bad)}: 'sha256' must be 64 lowercase hex digits")
    try:
        PatternSet(patterns)  # type: ignore[arg-type]
        PatternSet(excludes)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return Manifest(tuple(patterns), tuple(excludes), entries)  # type: ignore[arg-type]


def write(path: Path, manifest: Manifest, *, sha256sum: bool = False) -> Path | None:
    """Write the manifest (and its ``.sha256`` companion when asked); return the companion's path."""
    atomic.write_text(path, manifest.dumps())
    if sha256sum:
        companion = companion_path(path)
        atomic.write_text(companion, manifest.sha256sum())
        return companion
    return None


def companion_path(path: Path) -> Path:
    return path.with_suffix(".sha256") if path.suffix == ".json" else path.with_name(path.name + ".sha256")


@final
@dataclass(frozen=True, slots=True)
class Difference:
    kind: str
    path: str
    detail: str = ""

    @property
    def line(self) -> str:
        return f"{self.kind}: {display(self.path)}" + (f" ({self.detail})" if self.detail else "")

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail}


def _mode_gain(old: int, new: int) -> str:
    """A mode change worth reporting: newly group/world-writable, executable or set-id. Other bits are umask noise."""
    gained = new & ~old
    what = []
    if gained & 0o020:
        what.append("group-writable")
    if gained & 0o002:
        what.append("world-writable")
    if gained & 0o111:
        what.append("executable bit added")
    if gained & 0o6000:
        what.append("set-id bit added")
    return f"{old:04o} -> {new:04o}: {', '.join(what)}" if what else ""


def compare(path: str, entry: Entry, state: FileState) -> list[Difference]:
    if state.error is not None:
        return [Difference(UNREADABLE, path, state.error)]
    if entry.link is not None or state.link is not None:
        if entry.link == state.link:
            return []
        if entry.link is None:
            return [Difference(MODIFIED, path, f"now a symbolic link to {display(state.link or '')}")]
        if state.link is None:
            return [Difference(MODIFIED, path, f"was a symbolic link to {display(entry.link)}, now a file")]
        return [Difference(MODIFIED, path, f"link target {display(entry.link)} -> {display(state.link)}")]
    if state.changed:
        return [Difference(CHANGED_WHILE_HASHED, path, "size or mtime moved while it was read; run again")]
    out = []
    if state.sha256 is None:
        out.append(Difference(MODIFIED, path, f"size {entry.size} -> {state.size} bytes"))
    elif state.sha256 != entry.sha256:
        detail = f"size {entry.size} -> {state.size} bytes" if state.size != entry.size else "content changed"
        out.append(Difference(MODIFIED, path, detail))
    gain = _mode_gain(entry.mode, state.mode)
    if gain:
        out.append(Difference(MODE_CHANGED, path, gain))
    return out


def entry_of(state: FileState) -> Entry:
    if state.link is not None:
        return Entry(None, 0, 0, state.link)
    return Entry(state.sha256, state.size, state.mode)


@final
@dataclass(slots=True)
class Outcome:
    """The result of a generate or verify: what was listed, hashed and found."""

    listing: Listing
    differences: list[Difference] = field(default_factory=list)
    manifest: Manifest | None = None
    states: dict[str, FileState] = field(default_factory=dict)

    @property
    def checked(self) -> int:
        return len(self.listing.files)


def _patterns(patterns: Sequence[str], excludes: Sequence[str]) -> tuple[PatternSet, PatternSet]:
    return PatternSet(patterns), PatternSet(excludes)


def build(root: str, patterns: Sequence[str], excludes: Sequence[str] = (), *, exclude_paths: Iterable[str] = (),
          jobs: int | None = None) -> Outcome:
    """List and hash the selected files into a new manifest; unreadable or moving files are differences."""
    include, exclude = _patterns(patterns, excludes)
    listing = walk(root, include, exclude, exclude_paths=exclude_paths)
    states = hash_files(root, listing.files, jobs=jobs)
    manifest = Manifest(tuple(patterns), tuple(excludes))
    out = Outcome(listing, manifest=manifest, states=states)
    for path in listing.files:
        st = states[path]
        if st.error is not None:
            out.differences.append(Difference(UNREADABLE, path, st.error))
        elif st.changed:
            out.differences.append(Difference(CHANGED_WHILE_HASHED, path, "size or mtime moved while it was read"))
        else:
            manifest.files[path] = entry_of(st)
    return out


def verify(root: str, manifest: Manifest, *, exclude_paths: Iterable[str] = (), jobs: int | None = None,
           cache: StatCache | None = None) -> Outcome:
    """Closed-world diff of the tree against ``manifest`` (reads files, never writes)."""
    include, exclude = _patterns(manifest.patterns, manifest.excludes)
    listing = walk(root, include, exclude, exclude_paths=exclude_paths)
    files = manifest.files
    known = [p for p in listing.files if p in files]
    sizes = {p: e.size for p, e in files.items() if e.link is None}
    states = hash_files(root, known, expected_sizes=sizes, jobs=jobs, cache=cache)
    out = Outcome(listing, manifest=manifest, states=states)
    diffs = out.differences
    present = set(listing.files)
    for path in listing.files:
        entry = files.get(path)
        if entry is None:
            diffs.append(Difference(ADDED, path, "symbolic link" if path in listing.links else ""))
        else:
            diffs.extend(compare(path, entry, states[path]))
    diffs.extend(Difference(REMOVED, p) for p in files if p not in present)
    diffs.sort(key=lambda d: (d.path, _ORDER.get(d.kind, 99)))
    return out


def verify_cached(root: str, manifest_path: Path, cache: StatCache, *, exclude_paths: Iterable[str] = (),
                  jobs: int | None = None) -> Outcome:
    """Verify with the stat cache: when the manifest and every listed entry are exactly as the last clean
    verify saw them, answer from stat calls alone; otherwise a full verify that trusts matching entries."""
    excluded = tuple(exclude_paths)
    try:
        msig: int | None = signature(os.stat(manifest_path))
    except OSError:
        msig = None
    if cache.clean and cache.patterns is not None and msig is not None and msig == cache.manifest_sig:
        stats: dict[str, os.stat_result] = {}
        include, exclude = _patterns(cache.patterns, cache.excludes)
        listing = walk(root, include, exclude, exclude_paths=excluded, stats=stats)
        matches = cache.matches
        if len(listing.files) == len(cache) and all(matches(p, stats[p]) for p in listing.files):
            cache.hits = len(listing.files)
            return Outcome(listing)
    manifest = load(manifest_path)
    out = verify(root, manifest, exclude_paths=excluded, jobs=jobs, cache=cache)
    for path in out.listing.links:
        state = out.states.get(path)
        if state is not None:
            with contextlib.suppress(OSError):
                cache.store(path, state, os.lstat(os.path.join(root, path)))
    cache.record(msig, list(manifest.patterns), list(manifest.excludes), not out.differences and
                 not out.listing.skipped, out.listing.files)
    return out


def diff_manifests(old: Manifest, new: Manifest) -> list[Difference]:
    """What replacing ``old`` by ``new`` accepts (for ``generate`` over an existing manifest)."""
    out: list[Difference] = []
    for path, entry in new.files.items():
        before = old.files.get(path)
        if before is None:
            out.append(Difference(ADDED, path))
        elif before != entry:
            if before.link is None and entry.link is None and before.sha256 == entry.sha256:
                out.append(Difference(MODE_CHANGED, path, f"{before.mode:04o} -> {entry.mode:04o}"))
            else:
                out.append(Difference(MODIFIED, path))
    out.extend(Difference(REMOVED, p) for p in old.files if p not in new.files)
    out.sort(key=lambda d: (d.path, _ORDER.get(d.kind, 99)))
    return out


def relative_inside(root: Path, path: Path) -> str | None:
    """``path`` relative to ``root`` with ``/``, or None when it is outside (for automatic excludes)."""
    try:
        rel = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    except ValueError:  # pragma: no cover - other drive on Windows
        return None
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    return rel.replace(os.sep, "/")


def summarize(diffs: Sequence[Difference]) -> str:
    counts: dict[str, int] = {}
    for d in diffs:
        counts[d.kind] = counts.get(d.kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 99)))
