"""Facts about the project and the run's environment, for the verdict file."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from .config import PYPROJECT, tomllib
from .history.identity import detect


def project_facts(rootdir: Path) -> tuple[dict[str, Any], str | None]:
    """Return ({name, version, prerelease}, problem) from ``[project]``.

    A dynamic version is read from the installed distribution. ``problem``
    is a message for a warning gate (invalid version), never an exception.
    """
    name: str | None = None
    version: str | None = None
    problem: str | None = None
    try:
        with (rootdir / PYPROJECT).open("rb") as fh:
            project = tomllib.load(fh).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        project = {}
    if isinstance(project, dict):
        name = project.get("name") if isinstance(project.get("name"), str) else None
        version = project.get("version") if isinstance(project.get("version"), str) else None
        if version is None and name and "version" in (project.get("dynamic") or []):
            version = _installed_version(name)
    facts: dict[str, Any] = {"name": name, "version": version, "prerelease": None}
    if version is not None:
        try:
            parsed = Version(version)
        except InvalidVersion:
            problem = f"{version!r} is not a valid version (PEP 440)"  # shown after the subject project-version
        else:
            facts["prerelease"] = parsed.is_prerelease
    return facts, problem


def _installed_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_facts(rootdir: Path) -> dict[str, Any] | None:
    """Commit id and dirty flag, or None outside a git checkout or without git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=rootdir, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=rootdir,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {
        "commit": commit.stdout.strip(),
        "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None,
        "branch": detect(rootdir).branch or None,  # CI variables first: a CI checkout is a detached HEAD
    }


def environment_facts() -> dict[str, Any]:
    import pytest

    from . import __version__

    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "pytest": pytest.__version__,
        "plugin": __version__,
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
    }
