"""The history store (``history_url``): SQLite and a real PostgreSQL, many checkouts and writers at once.

PostgreSQL tests are marked ``postgres`` and need ``RELEASE_GATES_TEST_PG_URL`` (``.ci/postgres.sh`` starts a
throwaway server and sets it). Without it they skip, except under ``CI=true``, where they fail. Each test gets
its own schema in that database, so tests never see each other's rows.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import NO_HYPOTHESIS
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release_gates.history import Scope, StoreError, open_store, parse
from pytest_release_gates.history.jsonl import JsonlStore

PG_ENV = "RELEASE_GATES_TEST_PG_URL"
#: Read when this module is imported: the suite's own autouse fixture removes CI from the environment.
UNDER_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TOKEN = "ghp_" + "Zq8Rw2Xt6Yv1Bn4Mk7Lp9Hj3Gf5Dc0Sa2Ee" + "Qx"  # what the secrets rule flags

FLIPPY = """
import pathlib

def test_flippy():
    assert not (pathlib.Path(__file__).parent / "FAIL").exists(), "told to fail"

def test_steady():
    pass
"""


def _connect_or_none(url: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        return " ".join(str(exc).split())
    return None


@pytest.fixture(scope="session")
def pg_base() -> str:
    url = os.environ.get(PG_ENV, "")
    problem = None if url else f"{PG_ENV} is not set (run through .ci/postgres.sh)"
    problem = problem or _connect_or_none(url)
    if problem:
        if UNDER_CI:
            pytest.fail(f"PostgreSQL tests cannot run under CI=true: {problem}")
        pytest.skip(f"no PostgreSQL server: {problem}")
    return url


@pytest.fixture
def pg_url(pg_base: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema: the plugin creates its tables there."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in pg_base else "?"
    yield f"{pg_base}{sep}options=-csearch_path%3D{name}"
    with psycopg.connect(pg_base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh shared store: an absolute SQLite path (four slashes), or a PostgreSQL schema."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'shared' / 'history.db'}"


@pytest.fixture(autouse=True)
def _no_ci_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITLAB_CI", "CI_COMMIT_BRANCH", "CI_DEFAULT_BRANCH", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
                 "CI_PIPELINE_ID", "CI_JOB_NAME", "CI_NODE_INDEX", "CI_NODE_TOTAL", "RELEASE_GATES_HISTORY_URL"):
        monkeypatch.delenv(name, raising=False)


def entry(t: float, *, project: str = "p", branch: str = "main", failed: tuple[str, ...] = (), **more: object) -> dict:
    return {"v": 1, "time": t, "verdict": "hold" if failed else "deploy", "project": project, "branch": branch,
            "failed": list(failed), "run_id": uuid.uuid4().hex, "role": "run", **more}


def opened(url: str, root: Path, **kw: float):  # type: ignore[no-untyped-def]
    return open_store(parse(url, root), timeout=10, **kw)


# ------------------------------------------------------------------ checkouts as CI runners


def checkout(root: Path, name: str, url: str, *, project: str = "fleet", config: str = "",
             files: dict[str, str] | None = None) -> Path:
    """A checkout of one project (as on one CI runner): its pyproject, config and tests."""
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "pyproject.toml").write_text(
        f'[project]\nname = "{project}"\nversion = "1.0"\n\n[tool.release_gates]\n'
        f'history_url = "{url}"\nhistory_max_runs = 1000\n{config}', encoding="utf-8")
    for fname, body in (files or {"test_x.py": FLIPPY}).items():
        (d / fname).write_text(textwrap.dedent(body), encoding="utf-8")
    return d


def ci_env(branch: str = "main", **more: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GITLAB_CI": "true", "CI_COMMIT_BRANCH": branch, "CI_DEFAULT_BRANCH": "main", **more})
    env.pop("PYTEST_ADDOPTS", None)
    return env


def gate(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A real ``pytest --release-gate`` session in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "pytest", "--release-gate", "-p", "no:cacheprovider",
                           *NO_HYPOTHESIS, *args], cwd=cwd, env=env or ci_env(), capture_output=True, text=True,
                          timeout=600)


def verdict(cwd: Path) -> dict:
    return json.loads((cwd / ".release-gates" / "verdict.json").read_text(encoding="utf-8"))


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_release_gates", *args], cwd=cwd, env=env or ci_env(),
                          capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------ the store's logic


@pytest.mark.parametrize("backend", BACKENDS)
def test_schema_is_created_once_and_a_newer_one_is_refused(backend: str, request: pytest.FixtureRequest,
                                                          tmp_path: Path) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgres" else "sqlite:///h.db"
    s = opened(url, tmp_path)
    s.append(entry(time.time()), max_runs=10, max_days=1)
    s.close()
    opened(url, tmp_path).close()  # the schema is there: nothing to migrate
    _sql(url, tmp_path, "INSERT INTO release_gates_schema (version, applied_at) VALUES (99, 0)")
    with pytest.raises(StoreError) as exc:
        opened(url, tmp_path)
    message = str(exc.value)
    assert "schema version 99, newer than this plugin knows (1)" in message and "left as it is" in message
    assert "\n" not in message
    assert _sql(url, tmp_path, "SELECT count(*) FROM release_gates_runs") == [(1,)]  # not overwritten


def _sql(url: str, root: Path, statement: str) -> list[tuple]:
    if url.startswith("sqlite"):
        import sqlite3

        path = parse(url, root).path
        conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            return list(conn.execute(statement).fetchall())
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement)
        return list(cur.fetchall()) if statement.startswith("SELECT") else []


def test_project_and_branch_scope(store_url: str, tmp_path: Path) -> None:
    s = opened(store_url, tmp_path)
    now = time.time()
    rows = [entry(now - 50, failed=("t::a",)), entry(now - 40, branch="feature", failed=("t::a",)),
            entry(now - 30, project="other", failed=("t::a",)), entry(now - 20, branch="", failed=("t::b",))]
    for r in rows:
        s.append(r, max_runs=100, max_days=30)
    assert s.failures(Scope("p", ("main",)), last_runs=10).counts == {"t::a": 1}
    both = s.failures(Scope("p", ("main", "feature")), last_runs=10)
    assert both.runs == 2 and both.counts == {"t::a": 2}
    every = s.failures(Scope("p", None), last_runs=10)
    assert every.runs == 3 and every.counts == {"t::a": 2, "t::b": 1}
    assert s.failures(Scope("p", None), last_runs=1).counts == {"t::b": 1}  # the newest run only
    assert s.failures(Scope("p", None), since=now - 45).counts == {"t::a": 1, "t::b": 1}
    assert [e["run_id"] for e in s.recent(Scope("p", None), 2)] == [rows[1]["run_id"], rows[3]["run_id"]]
    view = s.overview(Scope("p", None))
    assert view.total == 3 and view.verdict_counts == {"deploy": 0, "hold": 3, "rollback": 0}
    s.close()


def test_pipeline_row_stands_for_its_shards_in_either_order(store_url: str, tmp_path: Path) -> None:
    s = opened(store_url, tmp_path)
    now = time.time()
    shard1 = entry(now - 30, failed=("t::a",), role="shard", shard={"index": 1, "count": 2})
    shard2 = entry(now - 29, role="shard", shard={"index": 2, "count": 2})
    pipe = entry(now - 10, failed=("t::a",), role="pipeline", shards=[shard1["run_id"], shard2["run_id"]])
    s.append(shard1, max_runs=100, max_days=30)
    scope = Scope("p", None)
    assert s.failures(scope, last_runs=10).runs == 1  # a shard not (yet) merged counts as its own run
    s.append(pipe, max_runs=100, max_days=30)
    s.append(shard2, max_runs=100, max_days=30)  # arrives after its pipeline (an import, a slow job)
    counted = s.failures(scope, last_runs=10)
    assert counted.runs == 1 and counted.counts == {"t::a": 1}  # never shards and pipeline both
    assert s.failures(scope, since=now - 100).counts == {"t::a": 1}
    assert [e["role"] for e in s.recent(scope, 10)] == ["pipeline"]
    assert s.overview(scope).total == 1
    assert sorted(e["role"] for e in s.export()) == ["pipeline", "shard", "shard"]  # export keeps every row
    s.close()


def test_retention_per_project_by_count_and_age_when_due(store_url: str, tmp_path: Path) -> None:
    s = opened(store_url, tmp_path, prune_every=3600)
    now = time.time()
    old = entry(now - 10 * 86400, failed=("t::old",))
    s.append(old, max_runs=100, max_days=30)  # first write for the project: retention runs (keeps it)
    for i in range(5):
        s.append(entry(now - 100 + i), max_runs=3, max_days=2)  # not due again for an hour: all kept
    s.append(entry(now - 50, project="other"), max_runs=3, max_days=2)
    assert s.failures(Scope("p", None), last_runs=100).runs == 6
    assert s.prune("p", max_runs=3, max_days=2, force=True) == 3  # the old run and the two oldest recent ones
    assert s.failures(Scope("p", None), last_runs=100).runs == 3
    assert s.failures(Scope("p", None), since=0).counts == {}  # the old run's failures went with it
    assert s.failures(Scope("other", None), last_runs=100).runs == 1  # another project is not touched
    s.close()


def test_import_export_round_trip_and_import_twice_adds_nothing(store_url: str, tmp_path: Path) -> None:
    now = time.time()
    local = JsonlStore(tmp_path / "history.jsonl")
    legacy = {"v": 1, "time": now - 5, "verdict": "hold", "failed": ["t::a"]}  # an old line: no run_id
    for e in (entry(now - 9), legacy, entry(now - 1, failed=("t::b",))):
        local.append(e, max_runs=100, max_days=30)
    s = opened(store_url, tmp_path)
    lines = list(JsonlStore(local.path).export())
    assert s.import_entries(lines).added == 3
    again = s.import_entries(list(JsonlStore(local.path).export()))
    assert (again.added, again.present) == (0, 3)
    out = list(s.export())
    assert [e["time"] for e in out] == sorted(e["time"] for e in lines)
    assert all(list(e)[:3] == ["v", "time", "verdict"] for e in out)  # the local file's fast path reads it back
    assert s.import_entries(out).added == 0  # an export imports back as the same runs
    s.close()


# ------------------------------------------------------------------ many checkouts, many writers

WRITER = """
import sys, time, uuid
from pathlib import Path
from pytest_release_gates.history import open_store, parse
url, root, writer, runs = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
for i in range(runs):
    store = open_store(parse(url, root), timeout=300, prune_every=0)  # one connection per run, as a CI job
    failed = ["test_x.py::test_flippy"] if i % 7 == 0 else []
    store.append({"v": 1, "time": round(time.time(), 3), "verdict": "hold" if failed else "deploy",
                  "failed": failed, "run_id": f"{writer}-{i}-{uuid.uuid4().hex[:8]}", "project": "fleet",
                  "branch": "main", "role": "run", "job": writer},
                 max_runs=1000, max_days=30)  # retention above the total: every writer tries it, none may drop a run
    store.close()
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_ten_writers_from_four_checkouts_lose_nothing(backend: str, request: pytest.FixtureRequest,
                                                      tmp_path: Path) -> None:
    """Six writer processes and four checkouts' sessions append at once; not one row may go missing.

    Sized for a shared 2-core machine: a lost row comes from two writers overlapping (a lock or retention race),
    and ten processes appending in a tight loop overlap on every append, so more writers or rows (it was 16
    writers and 800 rows) only add time. The lock waits are generous (``history_timeout = 120`` for the sessions,
    300 s for the writers): a session that gave up would keep its entry locally and the count would be short
    for a reason that is not the one tested here.
    """
    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'fleet.db'}"
    runners = [checkout(tmp_path, f"runner{i}", url, config="history_timeout = 120\n") for i in range(4)]
    sessions_each, direct_writers, direct_runs = 2, 6, 24  # 6 * 24 = 144 direct rows + 8 sessions = 152
    total = direct_writers * direct_runs + 4 * sessions_each
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(runners[w % 4]), f"w{w}", str(direct_runs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(direct_writers)]
    results: list[subprocess.CompletedProcess[str]] = []

    def sessions(runner: Path) -> None:
        args = ("-n", "2") if runner == runners[0] else ()  # under xdist the controller alone writes
        for _ in range(sessions_each):
            results.append(gate(runner, *args))

    threads = [threading.Thread(target=sessions, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    outs = [p.communicate(timeout=900) for p in procs]
    for t in threads:
        t.join(timeout=900)
    assert [p.returncode for p in procs] == [0] * direct_writers, [o[1][-2000:] for o in outs]
    assert len(results) == 4 * sessions_each
    for r in results:
        assert r.returncode == 0, r.stdout[-3000:]
    s = opened(url, tmp_path)
    rows = list(s.export())
    s.close()
    assert len(rows) == total
    assert len({r["run_id"] for r in rows}) == total
    assert sum(1 for r in rows if r.get("job", "").startswith("w")) == direct_writers * direct_runs
    assert {r["project"] for r in rows} == {"fleet"}


# ------------------------------------------------------------------ the gates read the fleet


def test_a_test_failing_twice_on_one_runner_is_flagged_on_another(store_url: str, tmp_path: Path) -> None:
    a = checkout(tmp_path, "runner-a", store_url, config='flaky_level = "hold"\n')
    b = checkout(tmp_path, "runner-b", store_url, config='flaky_level = "hold"\n')
    (a / "FAIL").write_text("")
    assert gate(a).returncode == 1 and gate(a).returncode == 1  # failed twice on runner A
    r = gate(b, "--gate-report=report.html")  # passes on runner B, which never saw it fail
    assert r.returncode == 1, r.stdout[-3000:]
    (flaky,) = [g for g in verdict(b)["gates"] if g["kind"] == "flaky" and g["status"] == "fail"]
    assert flaky["subject"] == "test_x.py::test_flippy"
    assert "failed in 2 of the last 3 runs (passes now)" in flaky["message"]
    assert "Run history: 3 runs" in (b / "report.html").read_text(encoding="utf-8")  # the fleet's, this one in


def test_branches_read_this_and_the_default_branch_or_all(store_url: str, tmp_path: Path) -> None:
    cfg = 'flaky_level = "hold"\n'
    main = checkout(tmp_path, "main", store_url, config=cfg)
    (main / "FAIL").write_text("")
    gate(main, env=ci_env("feature-a"))  # one failure on feature-a
    gate(main, env=ci_env("feature-b"))  # one on feature-b
    (main / "FAIL").unlink()
    r = gate(main, env=ci_env("feature-a"))  # current+default: feature-a and main see one failure
    assert r.returncode == 0, r.stdout[-3000:]
    gate(checkout(tmp_path, "m2", store_url, config=cfg, files={"test_x.py": FLIPPY.replace("not (", "(")}),
         env=ci_env("main"))  # ...a failure on main (the default branch) is seen from every branch
    r = gate(main, env=ci_env("feature-a"))
    assert r.returncode == 1 and "failed in 2 of the last" in r.stdout
    fleet = checkout(tmp_path, "neon", store_url, config=cfg + 'history_branches = "all"\nflaky_days = 7\n')
    r = gate(fleet, env=ci_env("feature-c"))  # neon's rule: failed on any branch in the last 7 days
    assert r.returncode == 1, r.stdout[-3000:]
    (flaky,) = [g for g in verdict(fleet)["gates"] if g["kind"] == "flaky" and g["status"] == "fail"]
    assert "failed in 3 of 6 runs in the last 7 days (passes now)" in flaky["message"]


def test_a_shard_merge_is_one_pipeline_entry_counted_once(store_url: str, tmp_path: Path) -> None:
    cfg = 'flaky_level = "hold"\n'
    s1 = checkout(tmp_path, "shard1", store_url, config=cfg, files={"test_a.py": "def test_fails():\n    assert 0\n"})
    s2 = checkout(tmp_path, "shard2", store_url, config=cfg, files={"test_b.py": "def test_passes():\n    pass\n"})
    for i, d in enumerate((s1, s2), 1):
        gate(d, f"--gate-shard={i}/2", env=ci_env(CI_PIPELINE_ID="4711"))
    ids = [verdict(d)["run_id"] for d in (s1, s2)]
    assert all(isinstance(i, str) and i for i in ids) and ids[0] != ids[1]
    job = tmp_path / "merge-job"  # a later job: no checkout, only the downloaded verdicts
    job.mkdir()
    for i, d in enumerate((s1, s2), 1):
        (job / f"v{i}.json").write_text((d / ".release-gates/verdict.json").read_text())
    env = ci_env(CI_PIPELINE_ID="4711", RELEASE_GATES_HISTORY_URL=store_url)
    for _ in range(2):  # merging the same shards again adds nothing
        r = cli(job, "merge", "v1.json", "v2.json", "-o", "merged.json", env=env)
        assert r.returncode == 0, r.stderr
        assert "pipeline entry recorded" in r.stdout
    store = opened(store_url, tmp_path)
    rows = list(store.export())
    (pipe,) = [e for e in rows if e["role"] == "pipeline"]
    assert sorted(pipe["shards"]) == sorted(ids)
    assert pipe["failed"] == ["test_a.py::test_fails"] and pipe["project"] == "fleet" and pipe["branch"] == "main"
    assert pipe["pipeline"] == "4711" and pipe["tests"]["failed"] == 1 and pipe["tests"]["passed"] == 1
    counted = store.failures(Scope("fleet", None), since=0)
    store.close()
    assert counted.runs == 1 and counted.counts == {"test_a.py::test_fails": 1}
    (s1 / "test_a.py").write_text("def test_fails():\n    pass\n")
    r = gate(s1, env=ci_env(SHARD_RUN_ID=uuid.uuid4().hex, SHARD_INDEX="1"))
    assert r.returncode == 0, r.stdout[-3000:]  # one failure on record, not two: not flagged


# ------------------------------------------------------------------ a store that is down


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_store_warns_in_one_line_and_keeps_the_entry(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://ci:Sup3r-s3cret@127.0.0.1:{_closed_port()}/history"
    d = checkout(tmp_path, "runner", url, files={"test_x.py": "def test_ok():\n    pass\n"})
    r = gate(d)
    assert r.returncode == 0, r.stdout[-3000:]
    assert verdict(d)["verdict"] == "deploy"
    (line,) = [x for x in r.stdout.splitlines() if "history" in x and "127.0.0.1" in x]
    assert line.strip().startswith("warn history postgresql://ci:***@127.0.0.1")
    assert "kept in" in line and "release-gate history import" in line
    assert "Traceback" not in r.stdout + r.stderr
    for text in (r.stdout, r.stderr, (d / ".release-gates/verdict.json").read_text(),
                 (d / ".release-gates/history.jsonl").read_text()):
        assert "Sup3r-s3cret" not in text
    kept = [json.loads(x) for x in (d / ".release-gates/history.jsonl").read_text().splitlines()]
    assert len(kept) == 1 and kept[0]["project"] == "fleet" and kept[0]["verdict"] == "deploy"


def test_unreachable_store_holds_with_history_required(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://ci:pw@127.0.0.1:{_closed_port()}/history"
    d = checkout(tmp_path, "runner", url, config="history_required = true\n",
                 files={"test_x.py": "def test_ok():\n    pass\n"})
    r = gate(d)
    assert r.returncode == 1
    v = verdict(d)
    assert v["verdict"] == "hold"
    assert any("history_required" in reason or "kept in" in reason for reason in v["reasons"])
    assert (d / ".release-gates/history.jsonl").is_file()


LOCKING_CONFTEST = """
import sqlite3, pytest

@pytest.hookimpl(tryfirst=True)
def pytest_release_gates_report(verdict, context):
    # Another writer holds the database past history_timeout, after this run read it.
    global HOLDER
    HOLDER = sqlite3.connect(DB, isolation_level=None)
    HOLDER.execute("BEGIN EXCLUSIVE")
"""


@pytest.mark.parametrize("required", [False, True])
def test_a_write_that_cannot_get_the_lock_in_time_keeps_the_entry(tmp_path: Path, required: bool) -> None:
    db = tmp_path / "shared.db"
    d = checkout(tmp_path, "runner", f"sqlite:///{db}", config=f"history_timeout = 1\nhistory_required = "
                 f"{str(required).lower()}\n", files={"test_x.py": "def test_ok():\n    pass\n",
                                                     "conftest.py": f"DB = {str(db)!r}\n" + LOCKING_CONFTEST})
    r = gate(d)
    (line,) = [x for x in r.stdout.splitlines() if "writing this run failed" in x]  # one line
    assert "database is locked" in line and "this run's entry was kept in" in line
    assert (d / ".release-gates/history.jsonl").read_text().count("\n") == 1
    v = verdict(d)
    if required:  # the verdict written before the report hook is held, and the exit status follows it
        assert r.returncode == 1 and v["verdict"] == "hold"
        assert any("history_required = true" in reason for reason in v["reasons"])
    else:
        assert r.returncode == 0 and v["verdict"] == "deploy"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: libpq would wait forever."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield int(srv.getsockname()[1])
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_a_store_that_never_answers_is_given_up_after_history_timeout(tmp_path: Path, silent_server: int) -> None:
    pytest.importorskip("psycopg")
    d = checkout(tmp_path, "runner", f"postgresql://ci:pw@127.0.0.1:{silent_server}/history",
                 config="history_timeout = 2\n", files={"test_x.py": "def test_ok():\n    pass\n"})
    r = gate(d)  # without a connect timeout this would never return (the subprocess timeout would fail it)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "timeout" in r.stdout and "kept in" in r.stdout


def test_psycopg_missing_is_one_line_with_the_install_command(tmp_path: Path) -> None:
    d = checkout(tmp_path, "runner", "postgresql://ci:pw@127.0.0.1:5/history", files={
        "conftest.py": "import sys\nsys.modules['psycopg'] = None  # as if not installed\n",
        "test_x.py": "def test_ok():\n    pass\n"})
    r = gate(d)
    assert r.returncode == 0
    assert "psycopg is not installed: pip install 'pytest-release-gates[postgres]'" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.postgres
def test_a_wrong_password_never_shows(pg_base: str, tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(pg_base)
    real = parts.password or ""
    wrong = "Wr0ng-pa%24%24word"
    url = pg_base.replace(f":{real}@", f":{wrong}@") if real else pg_base.replace("@", f":{wrong}@", 1)
    d = checkout(tmp_path, "runner", "", files={"test_x.py": "def test_ok():\n    pass\n"})
    r = gate(d, env=ci_env(RELEASE_GATES_HISTORY_URL=url))
    assert r.returncode == 0
    assert "password authentication failed" in r.stdout
    for secret in (wrong, "Wr0ng-pa$$word", real):
        assert secret not in r.stdout + r.stderr + (d / ".release-gates/verdict.json").read_text()


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=4, max_size=30),
       st.booleans())
def test_a_url_password_never_survives_scrubbing(password: str, encoded: bool) -> None:
    from urllib.parse import quote

    from pytest_release_gates.history.url import mask

    given_pw = quote(password, safe="") if encoded else password.replace("/", "%2F").replace(" ", "%20")
    raw = f"postgresql://ci:{given_pw}@db.example.com:5432/gates?sslmode=require"
    try:
        url = parse(raw, Path("."))
    except ValueError as exc:  # not a URL at all (an unencoded "[" say): refused, still without the password
        assert password not in str(exc) and given_pw not in str(exc)
        return
    driver_text = f'connection to "{raw}" failed for password {password!r} ({quote(password, safe="")})'
    for text in (url.label, url.scrub(driver_text), mask(raw)):
        assert password not in text and given_pw not in text
    assert url.label == "postgresql://ci:***@db.example.com:5432/gates?sslmode=require"


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(("value", "message"), [
    ('"mysql://u:hunter2hunter2@h/db"', "expected empty (the local file), sqlite:///PATH or postgresql://"),
    ('"sqlite://relative.db"', "sqlite:///PATH (three slashes"),
    ("5", "expected a string"),
])
def test_bad_history_url_is_a_usage_error_naming_the_key(tmp_path: Path, value: str, message: str) -> None:
    d = checkout(tmp_path, "runner", "")
    text = (d / "pyproject.toml").read_text().replace('history_url = ""', f"history_url = {value}")
    (d / "pyproject.toml").write_text(text)
    r = gate(d)
    assert r.returncode == 4
    assert "history_url" in r.stderr + r.stdout and message in r.stderr + r.stdout
    assert "hunter2hunter2" not in r.stderr + r.stdout


def test_environment_url_wins_and_a_bad_one_names_the_variable(tmp_path: Path) -> None:
    d = checkout(tmp_path, "runner", "sqlite:///config.db", files={"test_x.py": "def test_ok():\n    pass\n"})
    assert gate(d, env=ci_env(RELEASE_GATES_HISTORY_URL="sqlite:///env.db")).returncode == 0
    assert (d / "env.db").is_file() and not (d / "config.db").exists()  # relative to the rootdir
    r = gate(d, env=ci_env(RELEASE_GATES_HISTORY_URL="redis://x:topsecret99@h"))
    assert r.returncode == 4 and "RELEASE_GATES_HISTORY_URL" in r.stdout + r.stderr
    assert "topsecret99" not in r.stdout + r.stderr


@pytest.mark.parametrize(("line", "word"), [
    ('history_branches = "some"', "history_branches"),
    ("flaky_days = 0", "flaky_days"),
    ('history_required = "yes"', "history_required"),
    ("history_timeout = -1", "history_timeout"),
])
def test_bad_store_keys_are_usage_errors(tmp_path: Path, line: str, word: str) -> None:
    d = checkout(tmp_path, "runner", "", config=line + "\n")
    r = gate(d)
    assert r.returncode == 4 and word in r.stdout + r.stderr


# ------------------------------------------------------------------ secrets


def test_secrets_never_reach_a_row_or_an_export(store_url: str, tmp_path: Path) -> None:
    d = checkout(tmp_path, "runner", store_url, files={"test_x.py": f"""
        import pytest
        @pytest.mark.parametrize("token", ["{TOKEN}"])
        def test_token(token):
            assert token == "expected"
        """})
    gate(d)
    store = opened(store_url, tmp_path)
    rows = list(store.export())
    store.close()
    assert len(rows) == 1 and rows[0]["failed"] and TOKEN not in json.dumps(rows)
    out = cli(d, "history", "export")
    assert out.returncode == 0 and TOKEN not in out.stdout and "gh******(" in out.stdout


# ------------------------------------------------------------------ release-gate history import / export


def test_history_import_moves_kept_entries_into_the_store(store_url: str, tmp_path: Path) -> None:
    d = checkout(tmp_path, "runner", "", files={"test_x.py": "def test_ok():\n    pass\n"})
    for _ in range(2):
        gate(d)  # the local file, as a store that was down leaves it
    local = d / ".release-gates/history.jsonl"
    with local.open("a", encoding="utf-8") as fh:
        fh.write('{"v":1,"time":1.5,"verdict":"hold","failed":["t::legacy"]}\nnot json\n')
    env = ci_env(RELEASE_GATES_HISTORY_URL=store_url)
    r = cli(d, "history", "import", ".release-gates/history.jsonl", env=env)
    assert r.returncode == 0, r.stderr
    assert "imported 3 runs" in r.stdout and "(0 already there)" in r.stdout
    assert "skipped 1 unreadable line" in r.stderr
    r = cli(d, "history", "import", ".release-gates/history.jsonl", env=env)
    assert "imported 0 runs" in r.stdout and "(3 already there)" in r.stdout
    r = cli(d, "history", "export", "-o", "out/all.jsonl", env=env)
    assert r.returncode == 0 and "exported 3 runs" in r.stderr
    out = [json.loads(x) for x in (d / "out/all.jsonl").read_text().splitlines()]
    assert len(out) == 3 and {e["project"] for e in out} == {"fleet"}  # the legacy line got the project


def test_history_commands_answer_bad_input_with_exit_2(tmp_path: Path) -> None:
    d = checkout(tmp_path, "runner", "")
    (d / "garbage.jsonl").write_text("nope\n")
    cases = [
        (["history", "import", "missing.jsonl"], "missing.jsonl: no such history file"),
        (["history", "import", "garbage.jsonl"], "garbage.jsonl: no history entries (line 1: not JSON)"),
        (["history", "export", "--history-url", "ftp://u:pw1234567@h"], "--history-url:"),
        (["history", "export", "--history-url", f"postgresql://u:pw1234567@127.0.0.1:{_closed_port()}/x"],
         "postgresql://u:***@127.0.0.1"),
        (["history"], "history"),
    ]
    for args, message in cases:
        r = cli(d, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and "pw1234567" not in r.stderr + r.stdout


def test_merge_with_a_store_down_keeps_the_pipeline_entry_locally(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    d = checkout(tmp_path, "runner", "", files={"test_x.py": "def test_ok():\n    pass\n"})
    gate(d)
    job = tmp_path / "job"
    job.mkdir()
    (job / "v.json").write_text((d / ".release-gates/verdict.json").read_text())
    url = f"postgresql://u:pw1234567@127.0.0.1:{_closed_port()}/x"
    r = cli(job, "merge", "v.json", "-o", "m.json", "--history-url", url)
    assert r.returncode == 0 and (job / "m.json").is_file()
    assert "pipeline entry was kept in" in r.stderr and "pw1234567" not in r.stderr + r.stdout
    (kept,) = [json.loads(x) for x in (job / ".release-gates/history.jsonl").read_text().splitlines()]
    assert kept["role"] == "pipeline" and kept["project"] == "fleet"
    r = cli(job, "merge", "v.json", "-o", "m.json", "--history-url", "bogus://x")
    assert r.returncode == 2 and "--history-url" in r.stderr


def test_local_file_is_unchanged_without_a_url(tmp_path: Path) -> None:
    """Empty history_url: today's file, one line per run, no database and no store gate."""
    d = checkout(tmp_path, "runner", "", files={"test_x.py": "def test_ok():\n    pass\n"})
    r = gate(d, "-v")
    assert r.returncode == 0
    assert not any(g["subject"] == "history" for g in verdict(d)["gates"])
    (line,) = (d / ".release-gates/history.jsonl").read_text().splitlines()
    e = json.loads(line)
    assert line.startswith('{"v":1,"time":') and e["project"] == "fleet" and e["role"] == "run"
    assert e["branch"] == "main" and len(e["run_id"]) == 32

