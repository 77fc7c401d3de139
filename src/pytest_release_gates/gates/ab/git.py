"""Resolve a git revision and write the code under test at that revision into a temporary folder.

Why not ``git worktree add``: a worktree is registered in ``.git/worktrees``;
a run killed outright (SIGKILL, a CI job cancelled) leaves that entry
behind, and it then blocks checking out the same branch elsewhere until
someone runs ``git worktree prune``. Reading blobs with ``git ls-tree`` and
``git cat-file --batch`` registers nothing anywhere: it only reads the object
store, so the user's working tree, index, stash, worktree list and refs are
never touched, and the worst a killed run can leave is a folder in the
system's temporary directory (swept by the next A/B run). It also writes only
the ``paths`` that hold the code under test, and bytes exactly as committed:
unlike ``git archive`` it ignores ``export-ignore``/``export-subst``
attributes and end-of-line conversion, which are for release tarballs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final, final

#: Temporary folders are named ``<PREFIX><pid>-<random>``, so a later run can sweep those of dead runs.
PREFIX: Final = "release-gates-compare-"
#: Files git ignores under ``paths`` that are copied from the working tree into the base checkout:
#: generated modules (setuptools-scm's ``_version.py``) and built extensions, which no commit holds.
GENERATED_SUFFIXES: Final = (".py", ".so", ".pyd")
_GIT_TIMEOUT: Final = 120.0


class CompareError(Exception):
    """The comparison cannot be made at all; the message is one line for the user."""


@final
@dataclass(frozen=True, slots=True)
class Revision:
    ref: str  # as the user gave it
    commit: str  # full id
    short: str
    toplevel: Path  # the repository's working tree root
    dirty: bool  # uncommitted changes in the working tree (they belong to the current side)


def _git(args: Sequence[str], cwd: Path, *, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, timeout=_GIT_TIMEOUT, check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
        )
    except FileNotFoundError:
        raise CompareError("git is not installed (or not on PATH): --gate-compare-ref needs it") from None
    except subprocess.TimeoutExpired:
        raise CompareError(f"git {args[0]} did not answer within {_GIT_TIMEOUT:g} s") from None
    except OSError as exc:
        raise CompareError(f"cannot run git: {exc.strerror or exc}") from None


def _err(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return text[-1].strip() if text else f"exit status {proc.returncode}"


def resolve(rootdir: Path, ref: str) -> Revision:
    """Find the commit REV names, with a message that says what to do when it cannot."""
    top = _git(["rev-parse", "--show-toplevel"], rootdir)
    if top.returncode != 0:
        raise CompareError(f"{rootdir} is not a git checkout ({_err(top)}): --gate-compare-ref={ref} needs the "
                           "project's git history; run without it to compare against the committed baseline")
    toplevel = Path(top.stdout.decode().strip())
    if not ref.strip() or ref.startswith("-"):
        raise CompareError(f"{ref!r} is not a git revision")
    found = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], toplevel)
    if found.returncode != 0:
        shallow = _git(["rev-parse", "--is-shallow-repository"], toplevel)
        if shallow.returncode == 0 and shallow.stdout.decode().strip() == "true":
            raise CompareError(
                f"revision {ref!r} is not in this shallow clone: fetch the history it needs, e.g. "
                f"`{_fetch_hint(ref)}` (or `git fetch --unshallow`); "
                "on GitHub Actions check out with `fetch-depth: 0` (actions/checkout)")
        hint = "" if "deepen" in _fetch_hint(ref) else \
            f" (a branch of the remote? fetch it first: `{_fetch_hint(ref).replace('--depth=1000 ', '')}`)"
        raise CompareError(f"unknown revision {ref!r}: git finds no commit by that name in {toplevel}{hint}")
    commit = found.stdout.decode().strip()
    short_proc = _git(["rev-parse", "--short", commit], toplevel)
    short = short_proc.stdout.decode().strip() if short_proc.returncode == 0 else commit[:10]
    status = _git(["status", "--porcelain", "--untracked-files=no"], toplevel)
    dirty = status.returncode == 0 and bool(status.stdout.strip())
    return Revision(ref, commit, short, toplevel, dirty)


def _fetch_hint(ref: str) -> str:
    """A ``git fetch`` command that brings REV into this clone."""
    if ref.startswith("HEAD") or any(c in ref for c in "~^@:"):
        return "git fetch --deepen=1000"
    return f"git fetch --depth=1000 origin {ref.split('/', 1)[1] if ref.startswith('origin/') else ref}"


def relative_paths(rootdir: Path, toplevel: Path, paths: Sequence[str]) -> list[str]:
    """``paths`` (relative to the rootdir) as POSIX paths relative to the repository root."""
    out = []
    top = toplevel.resolve()
    for p in paths:
        full = (rootdir / p).resolve()
        try:
            rel = full.relative_to(top)
        except ValueError:
            raise CompareError(f"compare path {p!r} is outside the git repository {top}") from None
        out.append(rel.as_posix() or ".")
    return out


def materialize(rev: Revision, rel_paths: Sequence[str], dest: Path) -> list[str]:
    """Write the files of ``rel_paths`` at ``rev`` under ``dest`` (same relative layout).

    Returns the paths that exist at the revision (a path added since then is
    missing: the caller blocks its modules on the base side).
    """
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", rev.commit, "--", *rel_paths], rev.toplevel)
    if listing.returncode != 0:
        raise CompareError(f"cannot list the files of {rev.ref} ({rev.short}): {_err(listing)}")
    entries: list[tuple[str, str, str]] = []  # (mode, sha, path)
    for raw in listing.stdout.split(b"\0"):
        if not raw:
            continue
        meta, _, raw_path = raw.partition(b"\t")
        mode, kind, sha = meta.decode().split(" ")
        if kind != "blob":  # a submodule (commit): its code is not in this repository's objects
            continue
        entries.append((mode, sha, raw_path.decode("utf-8", "surrogateescape")))
    blobs = _read_blobs(rev, [sha for _, sha, _ in entries])
    root = dest.resolve()
    for mode, sha, name in entries:
        target = Path(os.path.normpath(root / name))
        if not str(target).startswith(str(root) + os.sep):  # git forbids it; never write outside dest
            raise CompareError(f"{rev.ref} holds a path outside the checkout: {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            with contextlib.suppress(OSError):  # no symlinks allowed here: the base side just lacks that file
                os.symlink(blobs[sha].decode("utf-8", "surrogateescape"), target)
            continue
        target.write_bytes(blobs[sha])
        if mode == "100755":
            target.chmod(0o755)
    present = [p for p in rel_paths if p == "." or any(n == p or n.startswith(p + "/") for _, _, n in entries)]
    _copy_generated(rev, rel_paths, root)
    return present


def _read_blobs(rev: Revision, shas: Sequence[str]) -> dict[str, bytes]:
    unique = list(dict.fromkeys(shas))
    if not unique:
        return {}
    proc = _git(["cat-file", "--batch"], rev.toplevel, input=("\n".join(unique) + "\n").encode())
    if proc.returncode != 0:
        raise CompareError(f"cannot read the files of {rev.ref} ({rev.short}): {_err(proc)}")
    out: dict[str, bytes] = {}
    data = proc.stdout
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        header = data[pos:end].decode().split()
        pos = end + 1
        if len(header) < 3 or header[1] == "missing":
            raise CompareError(f"object {header[0]} of {rev.ref} is missing from this clone "
                               "(a partial or shallow clone?): fetch the revision's full history")
        size = int(header[2])
        out[header[0]] = data[pos:pos + size]
        pos += size + 1
    return out


def _copy_generated(rev: Revision, rel_paths: Sequence[str], root: Path) -> None:
    """Copy ignored generated modules and built extensions into folders the base side has."""
    proc = _git(["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--", *rel_paths], rev.toplevel)
    if proc.returncode != 0:
        return
    for raw_name in proc.stdout.split(b"\0"):
        name = raw_name.decode("utf-8", "surrogateescape")
        p = PurePosixPath(name)
        if not name or p.suffix not in GENERATED_SUFFIXES or "__pycache__" in p.parts:
            continue
        target = root / name
        if target.exists() or not target.parent.is_dir():
            continue
        with contextlib.suppress(OSError):
            shutil.copy2(rev.toplevel / name, target)


# ------------------------------------------------------------------ the temporary folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def sweep_stale(tmp: Path | None = None) -> int:
    """Remove folders left by A/B runs whose process is gone (killed outright). Returns how many."""
    base = tmp or Path(tempfile.gettempdir())
    removed = 0
    try:
        candidates = list(base.glob(f"{PREFIX}*"))
    except OSError:
        return 0
    uid = os.getuid() if hasattr(os, "getuid") else None
    for path in candidates:
        pid_text = path.name[len(PREFIX):].split("-", 1)[0]
        try:
            pid = int(pid_text)
            if uid is not None and path.stat().st_uid != uid:
                continue
        except (ValueError, OSError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A private temporary folder, removed whatever happens (interrupt included)."""
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
