"""Run history: one line per --release-gate run, pruned, concurrent-safe, tolerant of garbage."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release_gates.history import jsonl as history

HISTORY = ".release-gates/history.jsonl"


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def lines(pytester: pytest.Pytester) -> list[dict]:
    return [json.loads(x) for x in (pytester.path / HISTORY).read_text(encoding="utf-8").splitlines()]


def entry(t: float, verdict: str = "deploy", **more: object) -> str:
    return json.dumps({"v": 1, "time": t, "verdict": verdict, **more}) + "\n"


def test_each_run_appends_one_compact_line(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile(
        """
        def test_ok(gate_metric):
            gate_metric("size", 42.0)
        def test_bad():
            assert 0
        """
    )
    run_gate()
    r = run_gate()
    assert r.level == "hold"
    runs = lines(pytester)
    assert len(runs) == 2
    last = runs[-1]
    assert last["verdict"] == "hold"
    assert last["complete"] is True
    assert last["tests"]["failed"] == 1 and last["tests"]["passed"] == 1
    assert last["failed"] == ["test_each_run_appends_one_compact_line.py::test_bad"]
    assert ["tests", "test_each_run_appends_one_compact_line.py::test_bad", "hold"] in last["failing"]
    assert last["metrics"]["test_each_run_appends_one_compact_line.py::test_ok::size"]["m"] == 42.0
    assert runs[0]["time"] <= last["time"] <= time.time()
    raw = (pytester.path / HISTORY).read_text(encoding="utf-8").splitlines()
    assert '", "' not in raw[-1] and '": ' not in raw[-1]  # compact separators
    assert "commit" not in last  # not a git checkout


def test_git_commit_is_recorded(pytester: pytest.Pytester, run_gate) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    pytester.makepyfile("def test_ok(): pass\n")
    env = ["-c", "user.email=t@example.com", "-c", "user.name=t"]
    for cmd in (["init", "-q"], ["add", "-A"], [*env, "commit", "-qm", "x"]):
        subprocess.run(["git", *cmd], cwd=pytester.path, check=True, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=pytester.path, capture_output=True, text=True).stdout
    run_gate()
    assert lines(pytester)[-1]["commit"] == head.strip()


def test_retention_by_count_and_age(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nhistory_max_runs = 3\nhistory_max_days = 2\n")
    pytester.makepyfile("def test_ok(): pass\n")
    now = time.time()
    old = [entry(now - 10 * 86400, "hold")]  # older than 2 days: pruned
    recent = [entry(now - 3600 * (10 - i), "deploy", n=i) for i in range(5)]
    (pytester.path / ".release-gates").mkdir()
    (pytester.path / HISTORY).write_text("".join(old + recent), encoding="utf-8")
    run_gate()
    runs = lines(pytester)
    assert len(runs) == 3
    assert [r.get("n") for r in runs] == [3, 4, None]  # the two newest old runs, then this one
    assert all(r["time"] > now - 86400 for r in runs)


def test_garbage_and_truncated_lines_are_skipped_with_a_warning(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    now = time.time()
    (pytester.path / ".release-gates").mkdir()
    (pytester.path / HISTORY).write_text(
        entry(now - 60) + "this is not json\n" + '["a list"]\n' + "\n" + entry(now - 30) + '{"v":1,"time":17',
        encoding="utf-8",
    )
    r = run_gate()
    assert r.ret == 0 and r.level == "deploy"
    assert "history: skipped 3 unreadable lines" in r.stdout
    assert "line 2: not JSON" in r.stdout
    assert "Traceback" not in r.stdout
    runs = lines(pytester)  # rewritten: valid entries kept, garbage dropped
    assert len(runs) == 3
    assert run_gate().stdout.count("history: skipped") == 0


def test_truncated_last_line_is_named(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text(entry(1.0) + '{"v":1,"ti', encoding="utf-8")
    h = history.read(p)
    assert len(h.entries) == 1 and h.skipped == 1
    assert "truncated last line" in h.warnings()[0]


def test_over_long_line_is_skipped_with_the_corrupt_ones(pytester: pytest.Pytester, run_gate) -> None:
    """Read line by line with a 1 MiB cap per line: a longer line is one more skipped line, never a crash."""
    pytester.makepyfile("def test_ok(): pass\n")
    now = time.time()
    (pytester.path / ".release-gates").mkdir()
    huge = '{"v":1,"time":%r,"verdict":"deploy","pad":"%s"}\n' % (now - 50, "x" * (2 << 20))  # noqa: UP031
    (pytester.path / HISTORY).write_text(entry(now - 60) + huge + entry(now - 30), encoding="utf-8")
    r = run_gate()
    assert r.ret == 0 and r.level == "deploy"
    assert "history: skipped 1 unreadable line in" in r.stdout and "(line 2: longer than 1 MiB)" in r.stdout
    assert len(lines(pytester)) == 3  # the two readable runs and this one


def test_over_long_line_is_never_held_in_memory(tmp_path: Path) -> None:
    import tracemalloc

    p = tmp_path / "h.jsonl"
    p.write_bytes(entry(1.0).encode() + b"x" * (8 << 20) + b"\n" + entry(2.0).encode() + b"y" * (3 << 20))
    tracemalloc.start()
    try:
        h = history.read(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [e["time"] for e in h.entries] == [1.0, 2.0] and h.skipped == 2
    assert h.first_problem == "line 2: longer than 1 MiB"
    assert peak < 4 << 20  # the 8 MiB line was read in chunks of at most 1 MiB and dropped


def test_unwritable_history_is_a_warning_not_a_crash(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    (pytester.path / HISTORY).mkdir(parents=True)  # a folder where the file should be
    r = run_gate()
    assert r.ret == 0 and r.level == "deploy"
    assert "run history not written" in r.stdout or "history: cannot read" in r.stdout
    assert "Traceback" not in r.stdout


def test_history_under_xdist_is_written_once_by_the_controller(pytester: pytest.Pytester, run_gate) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.parametrize("i", range(6))
        def test_many(i, gate_metric):
            gate_metric("value", float(i))
        """
    )
    r = run_gate("-n", "2")
    assert r.level == "deploy"
    (run,) = lines(pytester)
    assert run["tests"]["passed"] == 6
    assert len(run["metrics"]) == 6


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".release-gates" / "history.jsonl"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from pytest_release_gates.history import jsonl as history\n"
        "for i in range(25):\n"
        "    history.append(Path(sys.argv[1]),\n"
        "                   {'v': 1, 'time': time.time(), 'verdict': 'deploy', 'w': sys.argv[2], 'i': i},\n"
        "                   max_runs=1000, max_days=30)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(w)]) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    h = history.read(path)
    assert h.skipped == 0
    assert len(h.entries) == 100
    assert {(e["w"], e["i"]) for e in h.entries} == {(str(w), i) for w in range(4) for i in range(25)}
    assert [e["time"] for e in h.entries] == sorted(e["time"] for e in h.entries)


def test_prune_keeps_newest_in_order() -> None:
    entries = [{"time": float(t), "verdict": "deploy"} for t in range(10)]
    kept = history.prune(entries, max_runs=4, max_days=1, now=10.0)
    assert [e["time"] for e in kept] == [6.0, 7.0, 8.0, 9.0]
    assert history.prune(entries, max_runs=100, max_days=3 / 86400, now=10.0)[0]["time"] == 7.0


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_never_raises_and_counts_every_bad_line(text: str) -> None:
    h = history.parse(Path("h.jsonl"), text)
    non_blank = [line for line in text.split("\n") if line.strip()]
    assert len(h) + h.skipped == len(non_blank)
    assert len(h.entries) <= len(h)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "time": st.floats(min_value=0, max_value=4e9, allow_nan=False),
    "verdict": st.sampled_from(["deploy", "hold", "rollback"]),
    "failed": st.lists(st.text(max_size=30), max_size=3),
}), max_size=20))
def test_entries_round_trip(entries: list[dict]) -> None:
    text = "".join(history.dumps_entry(e) + "\n" for e in entries)
    h = history.parse(Path("h.jsonl"), text)
    assert h.entries == entries and h.skipped == 0 and len(h) == len(entries)
