"""Benchmark: ``release-gate integrity verify`` against its peers, side by side in one run.

Generates a tree (default 20,000 files, about 500 MB, mixed sizes: many small
text files, some medium and a few large binary ones) in a temporary folder
under /tmp, deletes it afterwards, and times, each as the median of several
warm-cache rounds:

* the hashing limit: a bare single-threaded loop of ``hashlib.file_digest(f, "sha256")``
  over the same files in sorted order, doing nothing else;
* our verify (manifest load, closed-world listing, hashing, comparison) on one thread
  and with the default thread count;
* ``sha256sum -c`` over the same files (the companion file ``generate --format sha256sum`` writes);
* our verify again with the stat cache on an unchanged tree;
* the content rules over the same tree.

Usage: ``python benchmarks/integrity_verify.py [--quick] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_release_gates.gates.integrity import manifest as mf
from pytest_release_gates.gates.integrity import rules
from pytest_release_gates.gates.integrity.hashing import StatCache, default_jobs

TEXT_LINES = [
    "def handler_{n}(request, *, timeout=30):",
    "    result = compute(request.payload, retries={n})",
    "    if result is None:",
    "        raise ValueError('no result for {n}')",
    "    return {{'id': {n}, 'value': result}}",
    "",
    "# configuration block {n}",
    "SETTINGS_{n} = dict(name='svc-{n}', level='info')",
]


def make_tree(root: Path, files: int, total_mb: int, seed: int = 5) -> int:
    """Mixed sizes: 90% small text (0.2-8 KB), 9.5% medium binary (16-256 KB), 0.5% large binary (the rest)."""
    rng = random.Random(seed)
    n_small = int(files * 0.90)
    n_large = max(1, files // 200)
    n_medium = files - n_small - n_large
    written = 0
    dirs = [root / f"pkg{i // 20:02d}" / f"mod{i % 20:02d}" for i in range(200)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for i in range(n_small):
        target = rng.randint(200, 8000)
        parts: list[str] = []
        size = 0
        while size < target:
            line = TEXT_LINES[rng.randrange(len(TEXT_LINES))].format(n=rng.randrange(10**6))
            parts.append(line)
            size += len(line) + 1
        data = ("\n".join(parts) + "\n").encode()
        (dirs[i % len(dirs)] / f"small_{i:05d}.py").write_bytes(data)
        written += len(data)
    for i in range(n_medium):
        data = rng.randbytes(rng.randint(16_000, 256_000))
        (dirs[i % len(dirs)] / f"medium_{i:05d}.bin").write_bytes(data)
        written += len(data)
    remaining = max(total_mb * 1_000_000 - written, n_large * 1_000_000)
    per_large = remaining // n_large
    for i in range(n_large):
        data = rng.randbytes(per_large)
        (dirs[i % len(dirs)] / f"large_{i:03d}.bin").write_bytes(data)
        written += len(data)
    return written


def interleaved(variants: list[tuple[str, Callable[[], object]]], rounds: int) -> list[list[float]]:
    """Warm every variant, then time ``rounds`` rounds, each running every variant once, in turn."""
    for _name, fn in variants:
        fn()
    samples: list[list[float]] = [[] for _ in variants]
    for _ in range(rounds):
        for i, (_name, fn) in enumerate(variants):
            t = time.perf_counter()
            fn()
            samples[i].append(time.perf_counter() - t)
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small tree (2,000 files, 50 MB), 1 round")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--files", type=int, default=None)
    ap.add_argument("--mb", type=int, default=None)
    args = ap.parse_args()
    files = args.files or (2000 if args.quick else 20_000)
    mb = args.mb or (50 if args.quick else 500)
    rounds = args.rounds or (1 if args.quick else 7)
    tmp = Path(tempfile.mkdtemp(prefix="integrity-bench-", dir="/tmp"))
    try:
        root = tmp / "tree"
        root.mkdir()
        t0 = time.perf_counter()
        total = make_tree(root, files, mb)
        print(f"tree: {files} files, {total / 1e6:.0f} MB under {root} (made in {time.perf_counter() - t0:.1f} s)")
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, jobs default {default_jobs()}; "
              f"load average {os.getloadavg()[0]:.2f} at start")
        manifest_path = tmp / "integrity.json"
        built = mf.build(str(root), ["*"])
        mf.write(manifest_path, built.manifest, sha256sum=True)  # type: ignore[arg-type]
        paths = [os.path.join(root, p) for p in sorted(built.manifest.files)]  # type: ignore[union-attr]

        def bare() -> None:
            for p in paths:
                with open(p, "rb") as f:
                    hashlib.file_digest(f, "sha256")

        def ours(jobs: int | None) -> Callable[[], None]:
            def run() -> None:
                out = mf.verify(str(root), mf.load(manifest_path), jobs=jobs)
                assert not out.differences, out.differences[:3]
            return run

        def sha256sum() -> None:
            subprocess.run(["sha256sum", "-c", "--quiet", str(mf.companion_path(manifest_path))], cwd=root,
                           check=True)

        cache_path = tmp / "statcache.json"

        def cached() -> None:
            cache = StatCache.load(cache_path, str(root))
            out = mf.verify_cached(str(root), manifest_path, cache)
            cache.save()
            assert not out.differences

        cached()  # populate (entries younger than the racy margin are re-hashed until the next run)
        time.sleep(2.1)
        cached()

        def lstat_floor() -> None:
            for p in paths:
                os.lstat(p)

        def cli() -> None:
            subprocess.run([sys.executable, "-m", "pytest_release_gates", "integrity", "verify", "--root", str(root),
                            "--manifest", str(manifest_path)], check=True, stdout=subprocess.DEVNULL)

        def scan() -> None:
            rules.scan_tree(str(root), built.listing.files, ("duplicate-lines", "hardcoded-paths", "secrets",
                                                             "conflict-markers", "permissions"))

        variants: list[tuple[str, Callable[[], object]]] = [
            ("bare hashlib.file_digest loop, 1 thread", bare),
            ("our verify, 1 thread", ours(1)),
            (f"our verify, default ({default_jobs()} threads)", ours(None)),
            ("our verify CLI (process start included)", cli),
            ("sha256sum -c", sha256sum),
            ("our verify, stat cache, unchanged tree", cached),
            ("floor of any stat cache: bare os.lstat loop", lstat_floor),
            ("content rules scan (5 rules)", scan),
        ]
        samples = interleaved(variants, rounds)
        base_samples = samples[0]
        base = statistics.median(base_samples)
        print(f"{'measurement':<46} {'median s':>9} {'vs bare loop':>13}")
        results = []
        for (name, _fn), secs in zip(variants, samples, strict=True):
            # The ratio is the median of per-round ratios: each round runs every variant back to back,
            # so a load spike from other jobs hits both sides of a ratio alike.
            ratio = statistics.median(a / b for a, b in zip(secs, base_samples, strict=True))
            results.append((name, statistics.median(secs), ratio))
            print(f"{name:<46} {statistics.median(secs):>9.3f} {ratio:>12.2f}x")
        one, default = results[1], results[2]
        vs_one = statistics.median(a / b for a, b in zip(samples[1], samples[5], strict=True))
        vs_default = statistics.median(a / b for a, b in zip(samples[2], samples[5], strict=True))
        print(f"targets: 1 thread <= 1.10x bare: {one[2]:.2f}x; default beats bare: {default[2]:.2f}x; "
              f"stat cache re-verify faster than a full verify by {vs_one:.1f}x (1 thread) / {vs_default:.1f}x "
              f"(default); rules < 10 s: {results[7][1]:.1f} s; bare loop {base:.3f} s")
        print(f"load average {os.getloadavg()[0]:.2f} at end (machine shared: figures taken under load)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
