"""Hash many files fast, and notice the ones that change while being read.

Cost model: large files are bound by SHA-256 itself (OpenSSL behind
``hashlib``, which releases the GIL on buffers over 2 KiB, so threads scale
across cores); small files are bound by ``open``/``read``/``close``, so each
worker takes a batch of files rather than one task per file, and files are
opened with ``os.open`` (no Python file object, no buffering layer).

A file is reported as changed while hashed when its size or mtime moved
between the ``fstat`` before reading and the one after, or when the bytes read
do not add up to the size it had when opened.

The optional stat cache (never part of the committed manifest) remembers
(size, mtime_ns, ctime_ns, inode) -> sha256 per path. An entry is trusted only
if every stat field matches and its mtime and ctime are older than the moment
the cache's scan started minus a safety margin: git's "racily clean" rule, so
a file rewritten within the file system's timestamp granularity is re-hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, NamedTuple, final

from ... import atomic
from ...model import UsageError

SMALL: Final = 1 << 20  # read in one call up to this size
CHUNK: Final = 1 << 20  # buffer for larger files
BATCH: Final = 64  # files per worker task
BATCH_BYTES: Final = 4 << 20  # or this many bytes (expected sizes), whichever comes first
_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(
    os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
#: A cache entry whose mtime/ctime is this close to (or after) the start of the scan that wrote it
#: is "racily clean" and re-hashed (covers coarse file-system clocks, FAT's 2 s included).
RACY_MARGIN_NS: Final = 2_000_000_000
_READV: Final = getattr(os, "readv", None)
CACHE_SCHEMA: Final = "pytest-release-gates/integrity-statcache/3"
_PY: Final = f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}"


class FileState(NamedTuple):
    """What one selected path is now. ``sha256`` is None when not hashed (error, size mismatch).

    A NamedTuple: one is built per file, 20,000 per verify, so creation cost counts.
    """

    sha256: str | None
    size: int
    mode: int  # permission bits (S_IMODE), 0 for links
    link: str | None = None  # target of a symbolic link
    error: str | None = None  # unreadable: why
    changed: bool = False  # size or mtime moved while it was read
    mtime_ns: int = 0
    ctime_ns: int = 0
    ino: int = 0


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def hash_one(full: str, expected_size: int | None = None) -> FileState:
    """Hash one regular file (or read one link). ``expected_size``: skip reading when the size differs."""
    try:
        fd = os.open(full, _FLAGS)
    except OSError as exc:
        try:
            st = os.lstat(full)
        except OSError:
            return FileState(None, 0, 0, error=exc.strerror or str(exc))
        if stat.S_ISLNK(st.st_mode):
            try:
                return FileState(None, 0, 0, link=os.readlink(full))
            except OSError as exc2:
                return FileState(None, 0, 0, error=exc2.strerror or str(exc2))
        return FileState(None, st.st_size, stat.S_IMODE(st.st_mode), error=exc.strerror or str(exc))
    try:
        st = os.fstat(fd)
        size = st.st_size
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            return FileState(None, size, mode, error="no longer a regular file")
        if expected_size is not None and size != expected_size:
            return FileState(None, size, mode, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, ino=st.st_ino)
        h = hashlib.sha256()
        total = 0
        if size < SMALL:
            # One read of size+1 bytes: a short answer means end of file (a longer one, growth).
            data = os.read(fd, size + 1)
            total = len(data)
            h.update(data)
            while 0 < total < size:  # a short read before the end: keep going until EOF
                data = os.read(fd, CHUNK)
                if not data:
                    break
                total += len(data)
                h.update(data)
        elif _READV is not None:  # into one reused buffer: no allocation per chunk
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            readv = _READV
            update = h.update
            while True:
                n = readv(fd, [buf])
                if not n:
                    break
                total += n
                update(view[:n])
        else:  # pragma: no cover - Windows has no readv
            while True:
                data = os.read(fd, CHUNK)
                if not data:
                    break
                total += len(data)
                h.update(data)
        after = os.fstat(fd)
    except OSError as exc:
        return FileState(None, 0, 0, error=exc.strerror or str(exc))
    finally:
        os.close(fd)
    changed = total != size or after.st_size != size or after.st_mtime_ns != st.st_mtime_ns
    return FileState(h.hexdigest(), total, mode, None, None, changed, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _hash_batch(root: str, batch: Sequence[tuple[str, int | None]]) -> list[tuple[str, FileState]]:
    join = os.path.join
    return [(path, hash_one(join(root, path), size)) for path, size in batch]


def _batches(todo: list[tuple[str, int | None]]) -> list[list[tuple[str, int | None]]]:
    """Up to BATCH files or BATCH_BYTES (by expected size, when known) per task: small files share a task,
    large ones get their own, so two large files hash on two cores even in a tree of few files."""
    out: list[list[tuple[str, int | None]]] = []
    cur: list[tuple[str, int | None]] = []
    size = 0
    for item in todo:
        cur.append(item)
        size += item[1] or 0
        if len(cur) >= BATCH or size >= BATCH_BYTES:
            out.append(cur)
            cur, size = [], 0
    if cur:
        out.append(cur)
    return out


def hash_files(
    root: str,
    paths: Iterable[str],
    *,
    expected_sizes: Mapping[str, int] | None = None,
    jobs: int | None = None,
    cache: StatCache | None = None,
) -> dict[str, FileState]:
    """Hash every path (relative to ``root``). With ``jobs`` > 1, batches run on a thread pool."""
    sizes = expected_sizes or {}
    todo: list[tuple[str, int | None]] = []
    out: dict[str, FileState] = {}
    for path in paths:
        if cache is not None:
            hit = cache.lookup(root, path)
            if hit is not None:
                out[path] = hit
                continue
        todo.append((path, sizes.get(path)))
    n = jobs or default_jobs()
    batches = _batches(todo) if n > 1 else [todo]
    if len(batches) < 2:
        out.update(_hash_batch(root, todo))
    else:
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="integrity-hash") as pool:
            for result in pool.map(lambda b: _hash_batch(root, b), batches):
                out.update(result)
    if cache is not None:
        for path, state in out.items():
            cache.store(path, state)
    return out


def signature(st: os.stat_result) -> int:
    """The stat fields a cache entry must match (size, mtime, ctime, inode, type and mode), as one int.

    A tuple hash: cheap to compute and compare 20,000 times. Integer tuples hash the same in every
    process of one Python version; a cache from another version just misses and re-hashes.
    """
    return hash((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode))


def _signature_of(state: FileState) -> int:
    return hash((state.size, state.mtime_ns, state.ctime_ns, state.ino, stat.S_IFREG | state.mode))


@final
class StatCache:
    """A local, disposable map of path -> (stat signature, sha256) (see the module docstring).

    Entries are stored only when their mtime and ctime are older than the start
    of the scan that saw them minus :data:`RACY_MARGIN_NS`, so a stored entry
    whose signature still matches was not rewritten within one clock tick of
    being hashed. The cache also remembers the manifest's own signature and
    whether the last verify was clean: then an unchanged tree is verified from
    stat calls alone, without parsing the manifest or reading any file.
    """

    __slots__ = ("_dirty", "clean", "digests", "excludes", "hits", "manifest_sig", "path", "patterns", "root",
                 "sigs", "started_ns")

    def __init__(self, path: Path, root: str) -> None:
        self.path = path
        self.root = os.path.realpath(root)
        self.sigs: dict[str, int] = {}
        self.digests: dict[str, str] = {}  # sha256, or "link" for a symbolic link
        self.started_ns = time.time_ns()
        self.hits = 0
        self.manifest_sig: int | None = None
        self.patterns: list[str] | None = None
        self.excludes: list[str] = []
        self.clean = False
        self._dirty = False

    @classmethod
    def load(cls, path: Path, root: str) -> StatCache:
        """Load the cache; a missing, corrupt or foreign one just starts empty (it is only a cache)."""
        cache = cls(path, root)
        cache._dirty = True
        try:
            data = atomic.read_json(path, what="stat cache")
        except (FileNotFoundError, UsageError):
            return cache
        if not (isinstance(data, dict) and data.get("schema") == CACHE_SCHEMA and data.get("root") == cache.root
                and data.get("python") == _PY):
            return cache
        sigs, digests = data.get("sigs"), data.get("digests")
        pats, excl, msig = data.get("patterns"), data.get("excludes"), data.get("manifest")
        if not (isinstance(sigs, dict) and isinstance(digests, dict) and sigs.keys() == digests.keys()):
            return cache
        cache.sigs, cache.digests = sigs, digests
        if isinstance(pats, list) and isinstance(excl, list) and isinstance(msig, int):
            cache.patterns, cache.excludes, cache.manifest_sig = pats, excl, msig
            cache.clean = data.get("clean") is True
        cache._dirty = False
        return cache

    def lookup(self, root: str, path: str) -> FileState | None:
        sig = self.sigs.get(path)
        if sig is None:
            return None
        try:
            st = os.lstat(os.path.join(root, path))
        except OSError:
            return None
        digest = self.digests[path]
        if sig != signature(st) or len(digest) != 64:
            return None
        self.hits += 1
        return FileState(digest, st.st_size, stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns,
                         ctime_ns=st.st_ctime_ns, ino=st.st_ino)

    def matches(self, path: str, st: os.stat_result) -> bool:
        """Fast path: is this entry (file or link) exactly as cached?"""
        return self.sigs.get(path) == signature(st)

    def store(self, path: str, state: FileState, st: os.stat_result | None = None) -> None:
        limit = self.started_ns - RACY_MARGIN_NS
        if state.link is not None:
            if st is not None and st.st_mtime_ns < limit and st.st_ctime_ns < limit:
                self._put(path, signature(st), "link")
            return
        if state.sha256 is None or state.changed or state.error or state.mtime_ns >= limit or state.ctime_ns >= limit:
            if path in self.sigs:
                del self.sigs[path], self.digests[path]
                self._dirty = True
            return
        self._put(path, _signature_of(state), state.sha256)

    def _put(self, path: str, sig: int, digest: str) -> None:
        if self.sigs.get(path) != sig or self.digests.get(path) != digest:
            self.sigs[path] = sig
            self.digests[path] = digest
            self._dirty = True

    def record(self, manifest_sig: int | None, patterns: list[str], excludes: list[str], clean: bool,
               listed: Iterable[str]) -> None:
        """After a full verify: what it was checked against, and forget paths no longer listed."""
        keep = set(listed)
        for p in [p for p in self.sigs if p not in keep]:
            del self.sigs[p], self.digests[p]
            self._dirty = True
        if (self.manifest_sig, self.patterns, self.excludes, self.clean) != (manifest_sig, patterns, excludes, clean):
            self.manifest_sig, self.patterns, self.excludes, self.clean = manifest_sig, patterns, excludes, clean
            self._dirty = True

    def __len__(self) -> int:
        return len(self.sigs)

    def save(self) -> None:
        """Write the cache when something changed (a clean fast-path verify writes nothing)."""
        if not self._dirty:
            return
        atomic.write_text(self.path, json.dumps({
            "schema": CACHE_SCHEMA, "python": _PY, "root": self.root, "manifest": self.manifest_sig,
            "patterns": self.patterns, "excludes": self.excludes, "clean": self.clean, "sigs": self.sigs,
            "digests": self.digests,
        }, separators=(",", ":")) + "\n", durable=False)  # a cache: atomic for readers, no fsync needed
        self._dirty = False
