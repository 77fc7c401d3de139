"""docs/getting-started.md, run as written: its files, its commands and its CI recipe, in a fresh project.

The page is read top to bottom: a code block with ``title="PATH"`` writes that file; in a ``console``
block each ``$ `` line is run with bash and the lines after it are its expected output, compared
loosely (numbers, paths, rule widths and spacing may differ); ``$ echo $?`` checks the previous
command's exit status. Install commands are skipped (the plugin under test is installed). Last, the
CI recipe's ``run:`` lines for ``pytest`` and ``release-gate`` run with ``GITHUB_SHA`` set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "getting-started.md"
DOC_ROOT = "/home/me/shop"
BLOCK = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SKIP = ("pip install", "python3 -m venv")


def _pattern(line: str, root: str) -> re.Pattern[str]:
    """A regex for one expected output line: numbers, rules of '=' and runs of spaces are loose."""
    text = " ".join(line.replace(DOC_ROOT, root).split())
    parts = re.split(r"(\d+(?:\.\d+)?|={3,}| )", text)
    loose = {" ": r"\s+", "=": r"=+"}
    out = []
    for part in parts:
        if not part:
            continue
        if re.fullmatch(r"\d+(?:\.\d+)?", part):
            out.append(r"[\d.]+")
        elif part.startswith("==="):
            out.append(loose["="])
        elif part == " ":
            out.append(loose[" "])
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def _run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("git") is None, reason="the tutorial commits with git")
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(GIT_AUTHOR_NAME="me", GIT_AUTHOR_EMAIL="me@example.com", GIT_COMMITTER_NAME="me",
               GIT_COMMITTER_EMAIL="me@example.com", GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path),
               COLUMNS="80", PYTEST_ADDOPTS="-p no:cacheprovider")
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    verdicts: list[str] = []
    ran = 0
    last: subprocess.CompletedProcess[str] | None = None
    ci_lines: list[str] = []
    for lang, info, body in BLOCK.findall(PAGE.read_text(encoding="utf-8")):
        title = re.search(r'title="([^"]+)"', info)
        if title:
            path = root / title.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
            if lang == "yaml":
                ci_lines += [m.strip() for m in re.findall(r"^\s*- run: (.*)$", body, re.MULTILINE)]
            continue
        if lang != "console":
            continue
        steps: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
        for command, expected in steps:
            if any(s in command for s in SKIP):
                continue
            if command == "echo $?":
                assert last is not None
                assert str(last.returncode) == expected[0].strip(), (last.args, last.stdout, last.stderr)
                continue
            last = _run(command, root, env)
            ran += 1
            output = last.stdout + last.stderr
            lines = [" ".join(x.split()) for x in output.splitlines()]
            for want in expected:
                if not want.strip():
                    continue
                pattern = _pattern(want, str(root))
                assert any(pattern.fullmatch(got) for got in lines), (
                    f"$ {command}\nexpected a line like: {want}\ngot:\n{output}"
                )
            m = re.search(r"release gate: (DEPLOY|HOLD|ROLLBACK)", output)
            if m:
                verdicts.append(m.group(1))
    assert ran >= 8
    # The story the page tells: deploy, a hold from a real regression, a deploy again.
    assert verdicts[:3] == ["DEPLOY", "HOLD", "DEPLOY"], verdicts
    # The CI recipe, as the pipeline runs it: the gate, then the deploy guard for this commit.
    head = _run("git rev-parse HEAD", root, env).stdout.strip()
    gate = [line for line in ci_lines if line.startswith(("pytest", "release-gate"))]
    assert any("status --commit" in line for line in gate), ci_lines
    for line in gate:
        done = _run(line, root, {**env, "GITHUB_SHA": head})
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    stale = _run('release-gate status --commit "$GITHUB_SHA"', root, {**env, "GITHUB_SHA": "0" * 40})
    assert stale.returncode == 1 and "stale" in (stale.stdout + stale.stderr).lower()
