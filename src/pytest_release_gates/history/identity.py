"""Where a run happened, for its history row: branch, default branch, CI job, pipeline and shard.

CI variables first (GitHub Actions when ``GITHUB_ACTIONS=true``, GitLab CI when
``GITLAB_CI=true``), then the checkout's own ``.git`` files (read, not a git
subprocess: this runs on every run). A CI checkout is often a detached HEAD;
the CI variables name its branch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

#: When nothing names the default branch (GitHub Actions does not), these are taken as the default.
FALLBACK_DEFAULTS: Final = ("main", "master")


@final
@dataclass(frozen=True, slots=True)
class Identity:
    branch: str = ""
    default_branches: tuple[str, ...] = FALLBACK_DEFAULTS
    job: str = ""
    pipeline: str = ""
    shard: tuple[int, int] | None = None  # (index, count) from CI variables, when the verdict has none


def detect(rootdir: Path, env: Mapping[str, str] | None = None) -> Identity:
    env = os.environ if env is None else env
    branch = job = pipeline = ""
    default = ""
    shard: tuple[int, int] | None = None
    if env.get("GITHUB_ACTIONS") == "true":
        ref = env.get("GITHUB_REF", "")
        branch = env.get("GITHUB_HEAD_REF") or (env.get("GITHUB_REF_NAME", "") if ref.startswith("refs/heads/") else "")
        job = env.get("GITHUB_JOB", "")
        pipeline = env.get("GITHUB_RUN_ID", "")
    elif env.get("GITLAB_CI") == "true":
        branch = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or env.get("CI_COMMIT_BRANCH", "")
        default = env.get("CI_DEFAULT_BRANCH", "")
        job = env.get("CI_JOB_NAME", "")
        pipeline = env.get("CI_PIPELINE_ID", "")
        index, total = env.get("CI_NODE_INDEX", ""), env.get("CI_NODE_TOTAL", "")
        if index.isdigit() and total.isdigit() and int(total) > 1:
            shard = (int(index), int(total))
    git = _git_dir(Path(rootdir))
    if git is not None:
        branch = branch or _head_branch(git[0])
        default = default or _origin_head(git[1])
    return Identity(branch, (default,) if default else FALLBACK_DEFAULTS, job, pipeline, shard)


def _git_dir(start: Path) -> tuple[Path, Path] | None:
    """(git dir, common dir) of the checkout holding ``start`` (a worktree's HEAD is in its own git dir)."""
    try:
        start = start.resolve()
    except OSError:
        return None
    for folder in (start, *start.parents):
        dot = folder / ".git"
        try:
            if dot.is_dir():
                return dot, dot
            if dot.is_file():
                text = dot.read_text(encoding="utf-8", errors="replace").strip()
                if not text.startswith("gitdir:"):
                    return None
                gitdir = (folder / text[len("gitdir:"):].strip()).resolve()
                common = gitdir
                commondir = gitdir / "commondir"
                if commondir.is_file():
                    common = (gitdir / commondir.read_text(encoding="utf-8").strip()).resolve()
                return gitdir, common
        except OSError:
            return None
    return None


def _ref(path: Path, prefix: str) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text[len(prefix):] if text.startswith(prefix) else ""


def _head_branch(gitdir: Path) -> str:
    return _ref(gitdir / "HEAD", "ref: refs/heads/")


def _origin_head(common: Path) -> str:
    return _ref(common / "refs" / "remotes" / "origin" / "HEAD", "ref: refs/remotes/origin/")
