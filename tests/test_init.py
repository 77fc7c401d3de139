"""`release-gate init`: a first configuration in one command, never at the cost of a file the user wrote."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import GateRun

from pytest_release_gates.config import tomllib

Cli = Callable[..., pytest.RunResult]

PYPROJECT = '[project]\nname = "shop"\nversion = "1.0"\n\n[tool.ruff]\nline-length = 100\n'


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the project (pytester.run keeps the command's output in ``stdout``/``stderr``)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("stdout", "stderr")
    }


def test_empty_folder_gets_release_gates_toml_and_gitignore(pytester: pytest.Pytester, run_cli: Cli) -> None:
    result = run_cli("init")
    assert result.ret == 0, result.stderr.str()
    toml = pytester.path / "release-gates.toml"
    data = tomllib.loads(toml.read_text())
    assert data["regression_tolerance"] == 0.2 and data["new_error_types"] == "hold"
    assert (pytester.path / ".gitignore").read_text().splitlines()[-1] == ".release-gates/"
    out = result.stdout.str()
    assert "write release-gates.toml: done" in out
    next_lines = out.split("next:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in next_lines] == ["pytest", "release-gate", "git"]
    assert "git add release-gates.toml .gitignore release-gates.baseline.json" in next_lines[2]
    assert not list(pytester.path.glob(".*.tmp")), "atomic writes leave no temp file"


def test_pyproject_gets_a_table_and_keeps_everything_else(pytester: pytest.Pytester, run_cli: Cli) -> None:
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    (pytester.path / ".gitignore").write_text("build/")  # no final newline
    result = run_cli("init")
    assert result.ret == 0, result.stderr.str()
    text = (pytester.path / "pyproject.toml").read_text()
    assert text.startswith(PYPROJECT)
    data = tomllib.loads(text)
    assert data["tool"]["ruff"] == {"line-length": 100}
    assert data["tool"]["release_gates"]["rollback_ratio"] == 1.5
    assert "# [tool.release_gates.budgets]" in text  # commented examples use the pyproject spelling
    assert not (pytester.path / "release-gates.toml").exists()
    assert (pytester.path / ".gitignore").read_text().splitlines()[0] == "build/"
    assert ".release-gates/" in (pytester.path / ".gitignore").read_text().splitlines()
    assert "git add pyproject.toml .gitignore" in result.stdout.str()


def test_toml_flag_writes_the_standalone_file_beside_a_pyproject(pytester: pytest.Pytester, run_cli: Cli) -> None:
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    assert run_cli("init", "--toml").ret == 0
    assert (pytester.path / "pyproject.toml").read_text() == PYPROJECT
    assert tomllib.loads((pytester.path / "release-gates.toml").read_text())["rollback_ratio"] == 1.5


@pytest.mark.parametrize("files", [{}, {"pyproject.toml": PYPROJECT}], ids=["empty", "pyproject"])
def test_twice_in_a_row_changes_nothing_the_second_time(
    pytester: pytest.Pytester, run_cli: Cli, files: dict[str, str]
) -> None:
    for name, text in files.items():
        (pytester.path / name).write_text(text)
    assert run_cli("init").ret == 0
    before = _snapshot(pytester.path)
    again = run_cli("init")
    assert again.ret == 0, again.stderr.str()
    assert _snapshot(pytester.path) == before
    assert again.stdout.str().count("already done:") == 2
    assert "next:" in again.stdout.str()


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"pyproject.toml": PYPROJECT + "\n[tool.release_gates]\nrollback_ratio = 2.0\n"}, (),
         "pyproject.toml: already has a [tool.release_gates] table; left as it is"),
        ({"release-gates.toml": "rollback_ratio = 2.0\n"}, (),
         "release-gates.toml: exists and was not written by `release-gate init`; left as it is"),
        ({"pyproject.toml": "[project\n"}, (), "pyproject.toml: not valid TOML"),
    ],
    ids=["foreign-table", "foreign-file", "broken-pyproject"],
)
def test_a_file_it_did_not_write_is_left_alone(
    pytester: pytest.Pytester, run_cli: Cli, files: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    for name, text in files.items():
        (pytester.path / name).write_text(text)
    before = _snapshot(pytester.path)
    result = run_cli("init", *args)
    assert result.ret == 2
    err = result.stderr.str().strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert "Traceback" not in result.stderr.str()
    assert _snapshot(pytester.path) == before  # .gitignore not written either: all or nothing


def test_dry_run_shows_the_text_and_writes_nothing(pytester: pytest.Pytester, run_cli: Cli) -> None:
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    before = _snapshot(pytester.path)
    result = run_cli("init", "--dry-run")
    assert result.ret == 0
    out = result.stdout.str()
    assert "would add a [tool.release_gates] table to pyproject.toml:" in out
    assert "  + [tool.release_gates]" in out
    assert "would add .release-gates/ to .gitignore:" in out
    assert out.rstrip().endswith("dry run: nothing written")
    assert _snapshot(pytester.path) == before


@pytest.mark.parametrize("args", [(), ("--toml",)], ids=["pyproject", "standalone"])
def test_written_config_loads_in_a_real_release_gate_run(
    pytester: pytest.Pytester, run_cli: Cli, run_gate: Callable[..., GateRun], args: tuple[str, ...]
) -> None:
    (pytester.path / "pyproject.toml").write_text(PYPROJECT)
    pytester.makepyfile(test_shop="def test_total():\n    assert 1 + 1 == 2\n")
    assert run_cli("init", *args).ret == 0
    run = run_gate()
    assert run.ret == 0, run.stdout
    assert run.level == "deploy"
    assert run.verdict["complete"] is True
    # ...and it is the file pytest read: break one value in it and the run stops naming that file.
    written = pytester.path / ("release-gates.toml" if args else "pyproject.toml")
    written.write_text(written.read_text().replace("rollback_ratio = 1.5", "rollback_ratio = 0.5"))
    broken = run_gate()
    assert broken.ret == 4
    assert f"{written.name}" in broken.result.stderr.str() and "rollback_ratio" in broken.result.stderr.str()
