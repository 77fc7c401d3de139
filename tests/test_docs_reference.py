"""The generated reference pages are current, and name every key, option, marker, fixture and command."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_reference", module)
    spec.loader.exec_module(module)
    return module


def _rows(page: str) -> dict[str, str]:
    """First cell (without backticks) -> the row's last cell, for every table row of a page."""
    rows = {}
    for line in page.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) >= 2 and not set(cells[0]) <= {"-", " "}:
            rows[cells[0].strip("`")] = cells[-1]
    return rows


def test_committed_pages_equal_the_generators_output(gen: ModuleType) -> None:
    assert (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8") == gen.config_page(), (
        "docs/reference/configuration.md is out of date: run python docs/gen_reference.py"
    )
    assert (DOCS / "reference" / "cli.md").read_text(encoding="utf-8") == gen.cli_page(), (
        "docs/reference/cli.md is out of date: run python docs/gen_reference.py"
    )


def test_every_name_has_a_meaning_in_the_reference(gen: ModuleType) -> None:
    config_rows = _rows((DOCS / "reference" / "configuration.md").read_text(encoding="utf-8"))
    cli_rows = _rows((DOCS / "reference" / "cli.md").read_text(encoding="utf-8"))
    keys = [key for key, _ in gen.config_entries()]
    assert {"verdict_file", "levels", "regression_tolerance", "integrity.rules", "compare.ref"} <= set(keys)
    options = [name for name, _ in gen.pytest_options()]
    assert {"--release-gate", "--gate-report", "--gate-sarif", "--gate-dotenv", "--gate-shard"} <= set(options)
    options = [next(r for r in config_rows if r == o or r.startswith(o + "=")) for o in options]
    markers = [name for name, _ in gen.markers()]
    assert {"budget", "regression", "gate", "expected_errors"} <= set(markers)
    fixtures = [name for name, _ in gen.fixtures()]
    assert {"perf", "gate_metric", "integrity"} <= set(fixtures)
    for name in keys + options + markers + fixtures:
        assert len(config_rows.get(name, "")) > 10, f"{name}: missing or without a meaning in configuration.md"
    commands = [full for full, _, _ in gen.subcommands()]
    assert {"release-gate status", "release-gate merge", "release-gate init", "release-gate history import",
            "release-gate integrity verify", "release-gate baseline diff"} <= set(commands)
    for name in commands:
        assert len(cli_rows.get(name, "")) > 10, f"{name}: missing or without a meaning in cli.md"


def test_a_key_without_a_meaning_stops_the_generator(gen: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(gen.MEANINGS, "rollback_ratio")
    with pytest.raises(SystemExit, match=r"no meaning for config key.*rollback_ratio"):
        gen.config_page()
