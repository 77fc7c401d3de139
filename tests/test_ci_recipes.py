"""docs/ci.md's recipes, taken from the page: the plain-shell one runs for real, the YAML ones are read.

The shell recipe runs in a small git project made with pytester, with the ``pytest`` and ``release-gate``
of this interpreter's environment first on ``PATH`` and stub ``deploy.sh``/``rollback.sh``: a passing suite
deploys, a failing test holds, a failing critical test rolls back, and uncommitted changes hold (the
verdict is stale for ``HEAD``). The YAML recipes are parsed with PyYAML and checked against SPEC: every
``pytest --release-gate`` job keeps the verdict file it writes (hidden folders included, also when the job
fails), every job that deploys first runs ``release-gate status --commit`` on the pipeline's commit over
a verdict it downloaded or merged (or reads the verdict output of a job that ran the gate), shards
declare ``--gate-shard=I/N`` and ``merge`` reads the files they wrote, and GitLab reports name the
files the script writes.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGE = DOCS / "ci.md"
TUTORIAL = DOCS / "getting-started.md"  # its CI step is a GitHub workflow too
BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
DEFAULT_VERDICT = ".release-gates/verdict.json"  # SPEC: --gate-verdict default, release-gate status default
GATE = re.compile(r"(?:^|\s)pytest\s+(?:.*\s)?--release-gate(?:\s|$)", re.S)
STATUS = re.compile(r"release-gate status(?P<path>\s+[^-\s]\S*)?\s+--commit\s+(?P<rev>\S+)")


def recipes(lang: str, pages: tuple[Path, ...] = (PAGE,)) -> list[tuple[str, str]]:
    """(page and heading, body) of every ``lang`` code block of the pages."""
    out = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            if m.group(1) == lang:
                heading = re.findall(r"^## (.*)$", text[:m.start()], re.MULTILINE)[-1]
                out.append((f"{page.name}: {heading}", m.group(2)))
    return out


# ------------------------------------------------------------------ plain shell


def _git(root: Path, *args: str) -> None:
    who = ["-c", "user.name=me", "-c", "user.email=me@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *who, *args], cwd=root, check=True, capture_output=True, text=True, timeout=60)


@pytest.fixture
def shell_project(pytester: pytest.Pytester) -> Path:
    """A small committed project with the shell recipe as ``release.sh`` and deploy/rollback stubs."""
    [(_, script)] = recipes("bash")
    root = pytester.path
    pytester.makepyprojecttoml('[project]\nname = "shop"\nversion = "1.0"\n\n[tool.release_gates]\n')
    pytester.makepyfile(test_shop="def test_total():\n    assert 1 + 1 == 2\n")
    (root / ".gitignore").write_text(".release-gates/\n__pycache__/\nran.txt\n")
    (root / "release.sh").write_text(script)
    for name in ("deploy", "rollback"):
        stub = root / f"{name}.sh"
        stub.write_text(f"#!/bin/sh\necho {name} >> ran.txt\n")
        stub.chmod(0o755)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "shop")
    return root


def _release(root: Path) -> tuple[int, str, list[str]]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "GITHUB_", "GITLAB_", "CI_", "RELEASE_GATES_")) and k != "CI"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(GIT_AUTHOR_NAME="me", GIT_AUTHOR_EMAIL="me@example.com", GIT_COMMITTER_NAME="me",
               GIT_COMMITTER_EMAIL="me@example.com", GIT_CONFIG_NOSYSTEM="1", HOME=str(root))
    ran = root / "ran.txt"
    ran.unlink(missing_ok=True)
    proc = subprocess.run(["bash", "release.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    done = ran.read_text().split() if ran.exists() else []
    return proc.returncode, proc.stdout + proc.stderr, done


def _commit(root: Path, message: str) -> None:
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)


@pytest.mark.skipif(shutil.which("git") is None, reason="the recipe resolves HEAD with git")
def test_shell_recipe_deploys_holds_and_rolls_back(shell_project: Path, pytester: pytest.Pytester) -> None:
    root = shell_project
    code, out, done = _release(root)
    assert (code, done) == (0, ["deploy"]), out
    assert "DEPLOY  shop 1.0" in out

    pytester.makepyfile(test_shop="def test_total():\n    assert 1 + 1 == 3\n")
    _commit(root, "a regression")
    code, out, done = _release(root)
    assert (code, done) == (1, []), out
    assert "HOLD  shop 1.0" in out and "release held" in out

    pytester.makepyfile(test_shop=(
        "import pytest\n\n@pytest.mark.gate(severity='critical')\ndef test_total():\n    assert 1 + 1 == 3\n"))
    _commit(root, "a critical failure")
    code, out, done = _release(root)
    assert done == ["rollback"], out
    assert "ROLLBACK  shop 1.0" in out

    pytester.makepyfile(test_shop="def test_total():\n    assert 1 + 1 == 2\n")  # fixed, not committed
    code, out, done = _release(root)
    assert (code, done) == (1, []), out
    assert "STALE" in out and "uncommitted changes" in out


# ------------------------------------------------------------------ YAML


def _runs(steps: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(i, " ".join(str(s["run"]).split())) for i, s in enumerate(steps) if "run" in s]


def _verdict_written(command: str) -> str:
    m = re.search(r"--gate-verdict[= ](\S+)", command)
    return m.group(1) if m else DEFAULT_VERDICT


def _always(cond: Any) -> bool:
    return isinstance(cond, str) and "always()" in cond


def _github_jobs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for heading, body in recipes("yaml", (PAGE, TUTORIAL)):
        # an expression is one word: ${{ matrix.group }} -> ${{matrix.group}}
        body = re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: "${{" + m.group(1).replace(" ", "") + "}}", body)
        doc = yaml.safe_load(body)
        if isinstance(doc, dict) and "jobs" in doc and any("steps" in j for j in doc["jobs"].values()):
            out.append((heading, doc))
    return out


def _gitlab_docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for heading, body in recipes("yaml"):
        doc = yaml.safe_load(body)
        if isinstance(doc, dict) and "jobs" not in doc:
            out.append((heading, doc))
    return out


def test_recipes_are_found() -> None:
    assert len(recipes("bash")) == 1
    assert len(_github_jobs()) == 4, "a GitHub recipe was added or removed: update test_github_recipe's range"
    assert len(_gitlab_docs()) >= 2
    # YAML 1.1 reads a bare `on` as true
    on = [v for _, doc in _github_jobs() for k, v in doc.items() if k in ("on", True)]
    assert any(isinstance(o, dict) and "merge_group" in o for o in on), "no recipe gates the merge queue"


def _check_github(doc: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    jobs: dict[str, dict[str, Any]] = doc["jobs"]
    uploads: dict[str, list[str]] = {}  # artifact name -> its files, as a download lays them out
    for name, job in jobs.items():
        steps = job.get("steps", [])
        for i, command in _runs(steps):
            if not GATE.search(command):
                continue
            verdict = _verdict_written(command)
            up = [s for s in steps[i + 1:] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
            kept = [s for s in up if verdict in str(s.get("with", {}).get("path", "")).split()]
            if not kept:
                problems.append(f"{name}: {verdict} is never uploaded")
                continue
            for s in kept:
                w = s.get("with", {})
                if not _always(s.get("if")):
                    problems.append(f"{name}: the verdict upload lacks `if: always()` (a hold is not uploaded)")
                if "/." in f"/{verdict}" and w.get("include-hidden-files") is not True:
                    problems.append(f"{name}: {verdict} is hidden: upload-artifact@v4 needs include-hidden-files")
                files = str(w.get("path", "")).split()  # one path a line; expressions have no spaces now
                # upload-artifact stores paths relative to the files' common folder: one file is its name alone
                uploads[str(w.get("name", ""))] = [Path(f).name for f in files] if len(files) == 1 else files
            if "--gate-shard" in command:
                matrix = job.get("strategy", {}).get("matrix", {})
                groups = next(iter(matrix.values())) if matrix else []
                shard = re.search(r"--gate-shard=(.+?)/(\d+)", command)
                if not shard or int(shard.group(2)) != len(groups):
                    problems.append(f"{name}: --gate-shard count is not the matrix size {len(groups)}")
    for name, job in jobs.items():
        steps = job.get("steps", [])
        uses = [str(st.get("uses", "")) for st in steps]
        checkout = next((i for i, u in enumerate(uses) if u.startswith("actions/checkout")), len(steps))
        for i, command in _runs(steps):
            if i < checkout and re.search(r"(?:^|\s)\./|pip install (?:-e )?\.(?:\s|$)", command):
                problems.append(f"{name}: `{command}` needs the repository, but the job has not checked it out")
        if any(u.startswith("actions/download-artifact") for u in uses[:checkout]) and checkout < len(steps):
            problems.append(f"{name}: actions/checkout after download-artifact cleans the downloaded verdict away")
    for name, job in jobs.items():
        steps = job.get("steps", [])
        runs = _runs(steps)
        deploy_at = [i for i, c in runs if "deploy.sh" in c]
        statuses = [(i, m) for i, c in runs if (m := STATUS.search(c))]
        if deploy_at and not any(i < deploy_at[0] for i, _ in statuses) and not _deploy_on_output(jobs, job):
            problems.append(f"{name}: deploys without `release-gate status --commit` or the gate's verdict output")
        if any("release-gate status" in c for _, c in runs) and not statuses:
            problems.append(f"{name}: `release-gate status` without --commit")
        if not statuses:
            continue
        i, m = statuses[0]
        if m.group("rev").strip('"') not in ("$GITHUB_SHA", "${{github.sha}}"):
            problems.append(f"{name}: status --commit {m.group('rev')} is not the pipeline's commit")
        path = (m.group("path") or "").strip() or DEFAULT_VERDICT
        landed: list[str] = []
        for s in steps[:i]:
            if not str(s.get("uses", "")).startswith("actions/download-artifact"):
                continue
            w = s.get("with", {})
            for artifact, files in uploads.items():
                sample = re.sub(r"\$\{\{[^}]*\}\}", "1", artifact)
                if w.get("name") == artifact or ("pattern" in w and fnmatch.fnmatch(sample, str(w["pattern"]))):
                    landed += [os.path.normpath(os.path.join(str(w.get("path", ".")), f)) for f in files]
        landed = [re.sub(r"\$\{\{[^}]*\}\}", "1", f) for f in landed]
        for j, c in runs:
            merge = re.search(r"release-gate merge (.*) -o (\S+)", c)
            if j < i and merge:
                inputs = shlex.split(merge.group(1))
                if not all(any(fnmatch.fnmatch(f, pat) for f in landed) for pat in inputs):
                    problems.append(f"{name}: merge reads {inputs}, but the downloads give {landed}")
                landed.append(os.path.normpath(merge.group(2)))
        if os.path.normpath(path) not in landed:
            problems.append(f"{name}: status reads {path}, which no download or merge puts there ({landed})")
    return problems


def _deploy_on_output(jobs: dict[str, dict[str, Any]], job: dict[str, Any]) -> bool:
    """The job runs only when a job it needs set ``verdict=deploy`` from its ``pytest --release-gate`` step."""
    needs = job.get("needs", [])
    for need in [needs] if isinstance(needs, str) else needs:
        out = str(jobs.get(need, {}).get("outputs", {}).get("verdict", ""))
        step = re.search(r"steps\.([\w-]+)\.outputs\.verdict", out)
        gated = step and any(s.get("id") == step.group(1) and GATE.search(str(s.get("run", "")))
                             for s in jobs[need].get("steps", []))
        if gated and f"needs.{need}.outputs.verdict == 'deploy'" in str(job.get("if", "")):
            return True
    return False


@pytest.mark.parametrize("index", range(4))
def test_github_recipe(index: int) -> None:
    heading, doc = _github_jobs()[index]
    assert not _check_github(doc), heading


def _check_gitlab(doc: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}
    gate_jobs = []
    for name, job in jobs.items():
        script = job["script"] if isinstance(job["script"], list) else [job["script"]]
        lines = [" ".join(str(s).split()) for s in script]
        art = job.get("artifacts", {})
        reports = art.get("reports", {})
        for line in lines:
            if not GATE.search(line):
                continue
            gate_jobs.append(name)
            if art.get("when") != "always":
                problems.append(f"{name}: artifacts need `when: always` (a hold is kept too)")
            if _verdict_written(line) not in art.get("paths", []):
                problems.append(f"{name}: the verdict file is not in artifacts.paths")
            dotenv = re.search(r"--gate-dotenv[= ](\S+)", line)
            if dotenv and reports.get("dotenv") != dotenv.group(1):
                problems.append(f"{name}: reports.dotenv is not {dotenv.group(1)}")
        if "junit" in reports and not any(f"--junitxml={reports['junit']}" in line for line in lines):
            problems.append(f"{name}: reports.junit {reports['junit']} is never written (no --junitxml)")
        if "dotenv" in reports and not any(f"--gate-dotenv={reports['dotenv']}" in line for line in lines):
            problems.append(f"{name}: reports.dotenv {reports['dotenv']} is never written")
    for name, job in jobs.items():
        script = job["script"] if isinstance(job["script"], list) else [job["script"]]
        lines = [" ".join(str(s).split()) for s in script]
        deploy_at = [i for i, c in enumerate(lines) if "deploy.sh" in c]
        if not deploy_at:
            continue
        if not set(job.get("needs", [])) & set(gate_jobs):
            problems.append(f"{name}: deploys without needing the gate job (its artifacts and variables)")
        guard = [c for c in lines[:deploy_at[0]]
                 if ((m := STATUS.search(c)) and m.group("rev").strip('"') == "$CI_COMMIT_SHA")
                 or re.fullmatch(r'test "\$RELEASE_GATE_VERDICT" = deploy', c)]
        if not guard:
            problems.append(f"{name}: deploys without `release-gate status --commit \"$CI_COMMIT_SHA\"`")
    if not gate_jobs:
        problems.append("no job runs pytest --release-gate")
    return problems


@pytest.mark.parametrize("index", range(2))
def test_gitlab_recipe(index: int) -> None:
    heading, doc = _gitlab_docs()[index]
    assert not _check_gitlab(doc), heading


def test_the_checks_catch_a_broken_recipe() -> None:
    """Each check can fail: the recipes with one thing removed are refused."""
    _, doc = _github_jobs()[0]
    job = doc["jobs"]["quality-gate"]
    upload = next(s for s in job["steps"] if "upload-artifact" in str(s.get("uses")))
    del upload["with"]["include-hidden-files"]
    assert any("include-hidden-files" in p for p in _check_github(doc))
    _, doc = _github_jobs()[0]
    deploy = doc["jobs"]["deploy"]["steps"]
    deploy[:] = [s for s in deploy if "release-gate status" not in str(s.get("run", ""))]
    assert any("deploys without" in p for p in _check_github(doc))
    _, doc = _github_jobs()[0]
    steps = doc["jobs"]["deploy"]["steps"]
    steps.append(steps.pop(0))  # checkout last: deploy.sh missing, the download cleaned away
    problems = _check_github(doc)
    assert any("not checked it out" in p for p in problems) and any("cleans" in p for p in problems)
    _, doc = _github_jobs()[1]
    for step in doc["jobs"]["quality-gate"]["steps"]:
        if "release-gate merge" in str(step.get("run", "")):
            step["run"] = step["run"].replace("verdict-*.json", "shard-*.json")
    assert any("merge reads" in p for p in _check_github(doc))
    _, doc = _gitlab_docs()[0]
    doc["release-gate"]["artifacts"]["when"] = "on_success"
    doc["deploy"]["script"] = ["./deploy.sh"]
    problems = _check_gitlab(doc)
    assert any("when: always" in p for p in problems) and any("deploys without" in p for p in problems)
