"""What the history store costs per run, over a history of 100,000 runs: the local file, SQLite, PostgreSQL.

    python benchmarks/history_store.py                          # file and SQLite (PostgreSQL when
                                                                # RELEASE_GATES_TEST_PG_URL is set)
    bash .ci/postgres.sh python benchmarks/history_store.py     # with a throwaway PostgreSQL server
    python benchmarks/history_store.py --runs 10000 --repeat 5  # smoke

Each store is seeded with ``--runs`` runs of one project over 30 days (five branches, one run in five
with one to three failing tests out of 500, five tracked metrics each). Then, ``--repeat`` times:

- the flaky gate's read: failures per test over the last 9 runs of this branch and the default branch
  (``flaky_window = 10``), and over 7 days of every branch (``flaky_days = 7``, ``history_branches =
  "all"``). For the file, the read includes reading and checking the file, as each run does;
- the per-run write: one entry added (retention not due: it runs at most once a minute per project,
  timed separately as "retention pass");
- for the databases, the connection (open, check the schema, close) that every run also pays.

Targets: read < 100 ms, write < 20 ms. Medians and 95th percentiles.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _suite import machine

from pytest_release_gates.history import Scope, open_store, parse
from pytest_release_gates.history.base import PRUNE_EVERY, dumps
from pytest_release_gates.history.jsonl import JsonlStore

PROJECT = "bench"
BRANCHES = ("main", "feature-a", "feature-b", "feature-c", "feature-d")
TESTS = [f"tests/test_mod{i // 50}.py::test_case_{i}" for i in range(500)]
METRICS = [f"tests/test_perf.py::test_op{k}::op" for k in range(5)]


def make_entry(rng: random.Random, t: float, branch: str) -> dict[str, Any]:
    failed = sorted(rng.sample(TESTS, rng.randint(1, 3))) if rng.random() < 0.2 else []
    return {
        "v": 1, "time": round(t, 3), "verdict": "hold" if failed else "deploy", "complete": True,
        "tests": {"collected": 500, "passed": 500 - len(failed), "failed": len(failed)},
        "duration_s": 42.0, "commit": uuid.uuid4().hex + uuid.uuid4().hex[:8],
        "failing": [["tests", n, "hold"] for n in failed], "failed": failed,
        "metrics": {k: {"m": round(0.001 * (1 + j) * (1 + rng.random() * 0.05), 9)} for j, k in enumerate(METRICS)},
        "run_id": uuid.uuid4().hex, "project": PROJECT, "branch": branch, "role": "run", "job": "test",
    }


def seed(runs: int, now: float) -> list[dict[str, Any]]:
    rng = random.Random(7)
    span = 30 * 86400.0
    return [make_entry(rng, now - span + span * i / runs, BRANCHES[0] if i % 2 else rng.choice(BRANCHES))
            for i in range(runs)]


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


def bench(name: str, url: str, root: Path, entries: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {"store": name}
    now = time.time()
    window = Scope(PROJECT, ("main",))
    fleet = Scope(PROJECT, None)
    rng = random.Random(11)
    start = time.perf_counter()
    if name == "JSONL file":
        path = root / ".release-gates" / "history.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(dumps(e) + "\n" for e in entries), encoding="utf-8")
        out["seed_s"] = time.perf_counter() - start

        def read_window() -> object:
            return JsonlStore(path).failures(window, last_runs=9)

        def read_days() -> object:
            return JsonlStore(path).failures(fleet, since=now - 7 * 86400)

        def write() -> object:
            store = JsonlStore(path)
            store.history()  # each run reads the file first (the flaky gate), then appends
            store.append(make_entry(rng, time.time(), "main"), max_runs=10**9, max_days=3650)
            return None

        out["read_window"] = timed(read_window, repeat)
        out["read_days"] = timed(read_days, repeat)
        out["write"] = timed(write, repeat)
        return out
    store = open_store(parse(url, root), timeout=60)
    store.import_entries(entries)
    out["seed_s"] = time.perf_counter() - start
    store.close()
    # Retention over the whole history, as the first writer after a minute does it (nothing to delete).
    store = open_store(parse(url, root), timeout=60, prune_every=PRUNE_EVERY)
    out["prune"] = timed(lambda: store.prune(PROJECT, max_runs=10**9, max_days=3650, force=True), 3)  # type: ignore[attr-defined]
    out["read_window"] = timed(lambda: store.failures(window, last_runs=9), repeat)
    out["read_days"] = timed(lambda: store.failures(fleet, since=now - 7 * 86400), repeat)
    out["write"] = timed(lambda: store.append(make_entry(rng, time.time(), "main"), max_runs=10**9,
                                              max_days=3650), repeat)
    store.close()
    out["connect"] = timed(lambda: open_store(parse(url, root), timeout=60).close(), repeat)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--pg-url", default=os.environ.get("RELEASE_GATES_TEST_PG_URL", ""))
    args = ap.parse_args()
    if args.runs < 100 or args.repeat < 1:
        ap.error("--runs must be at least 100 and --repeat at least 1")
    now = time.time()
    entries = seed(args.runs, now)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stores = [("JSONL file", ""), ("SQLite", "sqlite:///history.db")]
        if args.pg_url:
            stores.append(("PostgreSQL", args.pg_url))
        else:
            print("PostgreSQL: skipped (set RELEASE_GATES_TEST_PG_URL or run through .ci/postgres.sh)")
        results = [bench(name, url, root, entries, args.repeat) for name, url in stores]
    print(f"\nhistory store, {args.runs:,} runs of one project, {args.repeat} repeats; {machine()}")
    print(f"command: python benchmarks/history_store.py --runs {args.runs} --repeat {args.repeat}\n")
    print("| store | flaky read, last 10 runs | flaky read, 7 days of every branch | write one run | "
          "connect | retention pass | seeding |")
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def cell(r: dict[str, Any], key: str) -> str:
        if key not in r:
            return "-"
        med, p95 = r[key]
        return f"{med:.1f} ms (p95 {p95:.1f})"

    for r in results:
        print(f"| {r['store']} | {cell(r, 'read_window')} | {cell(r, 'read_days')} | {cell(r, 'write')} | "
              f"{cell(r, 'connect')} | {cell(r, 'prune')} | {r['seed_s']:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
