"""Write docs/reference/configuration.md and docs/reference/cli.md from the code.

    python docs/gen_reference.py          # rewrite both pages
    python docs/gen_reference.py --check  # exit 1 when a committed page differs (tests/test_docs_reference.py)

The names come from the code (config keys, pytest options, markers, fixtures,
`release-gate` subcommands), so a new one appears here by itself; its type and
meaning come from ``MEANINGS`` below, and a key without one stops the generator.
The config keys are read in ``config_entries()`` alone, from the gate specs (``ConfigKey``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIG_PAGE = HERE / "reference" / "configuration.md"
CLI_PAGE = HERE / "reference" / "cli.md"

#: key -> (type, meaning). Dotted keys are keys of a sub-table (``[integrity] patterns``).
MEANINGS: dict[str, tuple[str, str]] = {
    "verdict_file": ("str", "verdict file, relative to the rootdir; `--gate-verdict` overrides"),
    "baseline_file": ("str", "baseline file, relative to the rootdir; `--gate-baseline` overrides"),
    "regression_tolerance": ("float ≥ 0", "hold when a tracked metric is worse than its baseline by more than "
                             "this fraction ([regression](../gates/regression.md))"),
    "rollback_ratio": ("float > 1", "rollback when the worse-direction ratio reaches this (1.5: 50% worse)"),
    "coverage_min": ("float 0 to 100", "hold when total coverage is under this percent; needs pytest-cov "
                     "([coverage](../gates/coverage.md))"),
    "coverage_max_drop": ("float 0 to 100", "hold when coverage dropped more than these percentage points below "
                          "the baseline's"),
    "new_error_types": ('"hold", "warn", "off"', "what an exception type not in the baseline does "
                        "([new_error_type](../gates/new-error-type.md))"),
    "new_warning_types": ('"hold", "warn", "off"', "the same for warning categories"),
    "known_error_types": ("list of names or `{type, reason, owner, expires}` tables",
                          "error types accepted suite-wide"),
    "error_scope": ("list of package names", "Python 3.12+: also catch exceptions swallowed inside these packages"),
    "budgets": ("table: node id or glob → `{seconds, memory_mb, p50, p95, p99}`",
                "budgets kept in config rather than in markers ([budget](../gates/budget.md))"),
    "warn_fraction": ("float in (0, 1]", 'a budget used beyond this fraction warns "close to budget"'),
    "hang_factor": ("float > 1", "with pytest-timeout, a budgeted test is stopped at this multiple of its budget "
                    "([timeout](../gates/timeout.md))"),
    "perf_spread_seconds": ("float 0 to 60", "under `--release-gate`, `perf.measure` spreads its timed rounds over at "
                            "least this many seconds; 0: back to back"),
    "perf_calibration": ("bool", "`perf.measure` times a fixed reference beside its rounds, and the regression "
                         "gate corrects its samples for the machine's speed"),
    "perf_counter": ('"time" or "instructions"', "what `perf.measure` counts when its `counter=` is not given "
                     "(instructions: under Valgrind)"),
    "counter_tolerance": ("float ≥ 0", "the regression tolerance of counted (instruction) metrics; a per-metric "
                          "`tolerance` wins"),
    "strict_machine": ("bool", "keep regression failures as failures when the baseline came from another machine"),
    "integrity": ("table", "the file-integrity gate ([integrity](../gates/integrity.md))"),
    "integrity.patterns": ("list of globs", "files to verify against the manifest and scan with `rules` "
                           "(.gitignore-like)"),
    "integrity.excludes": ("list of globs", "files left out of `patterns`"),
    "integrity.manifest": ("str or `false`", "the manifest, relative to the rootdir and committed; `false`: "
                           "content rules only"),
    "integrity.rules": ("list of rule names", "rules for the selected files: `duplicate-lines`, `hardcoded-paths`, "
                        "`secrets`, `conflict-markers`, `permissions`, `gitignored`"),
    "integrity.must_be_ignored": ("list of globs or paths", "what the `gitignored` rule requires git to ignore"),
    "compare": ("table", "same-job A/B comparison against a git revision ([A/B compare](../gates/compare.md))"),
    "compare.ref": ("str", "the git revision to compare with (`--gate-compare-ref` overrides)"),
    "compare.paths": ("list of str", "what is taken from the revision (none: `src` when it exists, else the "
                      "package named after `[project] name`)"),
    "compare.rounds": ("int ≥ 1", "how many times each side runs, alternating"),
    "compare.tolerance": ("float ≥ 0", "the comparison's tolerance (none: `regression_tolerance`)"),
    "levels": ('table: kind → "hold", "rollback" or "warn"', "override the level of a gate kind "
               "(`run` is not configurable)"),
    "history_max_runs": ("int ≥ 1", "runs kept in the run history, per project"),
    "history_max_days": ("float > 0", "days kept in the run history"),
    "flaky_window": ("int ≥ 1", "the last runs the repeated-failure gate reads ([flaky](../gates/flaky.md))"),
    "flaky_min_failures": ("int ≥ 1", "failures within the window that flag a test"),
    "flaky_level": ('"hold", "warn", "off"', "what a flagged test does to the verdict"),
    "flaky_days": ("float > 0", "with a shared store: count failures over this many days across the fleet instead "
                   "of the last `flaky_window` runs"),
    "history_url": ("str", "where the run history is kept: empty = `.release-gates/history.jsonl`, "
                    "`sqlite:///PATH`, `postgresql://...`; `RELEASE_GATES_HISTORY_URL` wins "
                    "([history store](../history-store.md))"),
    "history_branches": ('"current+default", "all" or a list', "which branches' runs the flaky gate and trends "
                         "read from a shared store"),
    "history_required": ("bool", "a store that cannot be reached holds (`true`) or warns and keeps the entry "
                         "locally (`false`)"),
    "history_timeout": ("float 0 to 600", "seconds to wait for the history store"),
    "partial_run": ('"hold" or "warn"', "what a run narrowed on the command line does ([run](../gates/run.md))"),
}

#: Environment variables the plugin reads (no code registry to read them from).
ENVIRONMENT: dict[str, str] = {
    "RELEASE_GATES_HISTORY_URL": "overrides `history_url` (keep credentials in CI secrets)",
    "RELEASE_GATES_MACHINE": "names the machine for baseline comparisons (overrides CPU, cores, platform)",
    "RELEASE_GATES_MAX_FILE_MB": "size cap, in MiB, of every JSON file read (default 256)",
    "PYTEST_RELEASE_GATES_MEMORY": "memory method of the budget gate: `tracemalloc`, `rss-sampled` or `rss-hwm`",
}


#: Meanings of command-line arguments that the parser gives no help for: (command, argument) -> meaning.
ARGUMENTS: dict[tuple[str, str], str] = {
    ("release-gate status", "VERDICT"): "the verdict file (default: `.release-gates/verdict.json` here)",
    ("release-gate merge", "VERDICT"): "the shards' verdict files (one run, one project, one commit)",
    ("release-gate merge", "-o, --output"): "the merged verdict to write (parent folders are created)",
    ("release-gate baseline diff", "OLD"): "the baseline before (e.g. `git show main:release-gates.baseline.json`)",
    ("release-gate baseline diff", "NEW"): "the baseline after",
    ("release-gate history import", "FILE"): "a `history.jsonl` to move into the configured store",
}


def _default(value: Any) -> str:
    if value is None or value == () or value == {} or value == "":
        return "none" if value is None else "empty"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def config_entries() -> list[tuple[str, str]]:
    """Every config key with its default, as (key, default text): the generator's one input from the code.

    From the gate specs (``config.CORE_KEYS``, ``levels``, each built-in kind's keys and tables), in the order
    of ``MEANINGS`` so the page reads by topic, not by where a key is declared.
    """
    from pytest_release_gates import config
    from pytest_release_gates.gates import BUILTIN, ab, integrity

    keys = {k.name: k.default for k in config.CORE_KEYS} | {k.name: k.default for k in BUILTIN.keys().values()}
    keys["levels"] = {}
    tables = {"integrity": integrity.TABLE, "compare": ab.TABLE}
    order = {k: i for i, k in enumerate(MEANINGS)}
    out: list[tuple[str, str]] = []
    for key in sorted(keys, key=lambda k: order.get(k, len(order))):
        value = keys[key]
        out.append((key, "none" if key == "integrity" else "see below" if key == "compare" else _default(value)))
        for sub in tables.get(key, ()):
            out.append((f"{key}.{sub.name}", _default(sub.default)))
    return out


class _Options:
    """Stands in for pytest's parser to record what the plugin's ``pytest_addoption`` adds."""

    def __init__(self) -> None:
        self.options: list[tuple[str, dict[str, Any]]] = []

    def getgroup(self, *args: Any, **kwargs: Any) -> _Options:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.options.append((names[0], kwargs))

    def get_plugin(self, name: str) -> None:
        return None


def pytest_options() -> list[tuple[str, dict[str, Any]]]:
    from pytest_release_gates import plugin

    rec = _Options()
    plugin.pytest_addoption(rec, rec)  # type: ignore[arg-type]
    return rec.options


def markers() -> list[tuple[str, str]]:
    from pytest_release_gates.gates import BUILTIN

    order = ["budget", "regression", "gate", "expected_errors", "integrity_clean"]  # the page's order
    found = sorted(BUILTIN.markers(), key=lambda m: order.index(m.name) if m.name in order else len(order))
    return [(m.name, m.line) for m in found]


def fixtures() -> list[tuple[str, str]]:
    from _pytest.fixtures import getfixturemarker

    from pytest_release_gates import fixtures as mod

    out = []
    for name in sorted(dir(mod)):
        obj = getattr(mod, name)
        if getfixturemarker(obj) is not None:
            doc = getattr(obj, "__doc__", None) or getattr(getattr(obj, "_get_wrapped_function", lambda: None)(),
                                                           "__doc__", "")
            out.append((name, " ".join((doc or "").split()).replace("``", "`")))
    return out


def subcommands() -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    """(full command, its parser, its help) for every ``release-gate`` subcommand, nested ones included."""
    from pytest_release_gates.cli import build_parser

    def walk(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help or "" for a in action._choices_actions}
                for name, sub in action.choices.items():
                    yield f"{prefix} {name}", sub, helps.get(name, "")
                    yield from walk(sub, f"{prefix} {name}")

    yield from walk(build_parser(), "release-gate")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_page() -> str:
    entries = config_entries()
    missing = [k for k, _ in entries if not MEANINGS.get(k, ("", ""))[1]]
    if missing:
        raise SystemExit(f"gen_reference: no meaning for config key(s) {', '.join(missing)}: add them to MEANINGS")
    lines = [
        "# Configuration reference",
        "",
        "<!-- generated by docs/gen_reference.py: edit MEANINGS there, then run `python docs/gen_reference.py` -->",
        "",
        "The configuration lives in `[tool.release_gates]` of the rootdir's `pyproject.toml`, or at the top level",
        "of a `release-gates.toml` beside it (`release-gate init` writes either). Both at once is a usage error",
        "naming both files. An unknown key (with a \"did you mean\" hint), a wrong type or unparsable TOML is a",
        "usage error naming the file and key: exit status 4, no traceback, and the verdict file is replaced by a",
        "hold naming the error. Paths in the config are relative to the rootdir. Command-line options override",
        "the config.",
        "",
        "## Config keys",
        "",
        "A dotted key is a key of a sub-table: `integrity.patterns` is `patterns` in `[tool.release_gates.integrity]`",
        "(`[integrity]` in `release-gates.toml`).",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for key, default in entries:
        typ, meaning = MEANINGS[key]
        lines.append(f"| `{key}` | {_cell(typ)} | {default} | {_cell(meaning)} |")
    lines += [
        "",
        "## Command-line options (pytest)",
        "",
        "Write values with `=` (`--gate-verdict=PATH`): pytest looks for the rootdir before plugins add their",
        "options, so in `--gate-verdict \"$RUNNER_TEMP/verdict.json\"` it takes an existing file for a test path, and",
        "the rootdir can move to its folder. A separate value that names an existing path is a usage error (exit 4)",
        "unless pytest finds the same rootdir and config file without it. Command-line paths are relative to the",
        "current folder. `pytest --help` lists them in the group \"release gates\".",
        "",
        "| option | meaning |",
        "| --- | --- |",
    ]
    for name, kw in pytest_options():
        spelled = f"{name}={kw['metavar']}" if kw.get("metavar") else name
        lines.append(f"| `{spelled}` | {_cell(kw.get('help', ''))} |")
    lines += ["", "## Markers", "", "| marker | meaning |", "| --- | --- |"]
    for name, line in markers():
        signature, _, meaning = line.partition(": ")
        lines.append(f"| `{name}` | `{signature}`: {_cell(meaning)} |")
    lines += ["", "## Fixtures", "", "| fixture | meaning |", "| --- | --- |"]
    for name, doc in fixtures():
        lines.append(f"| `{name}` | {_cell(doc)} |")
    lines += ["", "## Environment variables", "", "| variable | meaning |", "| --- | --- |"]
    for name, meaning in ENVIRONMENT.items():
        lines.append(f"| `{name}` | {_cell(meaning)} |")
    lines += ["", "The `release-gate` command's subcommands and options are in the [CLI reference](cli.md)."]
    return "\n".join(lines) + "\n"


def cli_page() -> str:
    lines = [
        "# CLI reference: `release-gate`",
        "",
        "<!-- generated by docs/gen_reference.py from the command's own parser -->",
        "",
        "Relative paths on the command line are relative to the current folder. Every error is one line on",
        "stderr naming the file or key, with no traceback; what each exit status means is on",
        "[Exit statuses](../exit-statuses.md).",
        "",
        "| command | meaning |",
        "| --- | --- |",
    ]
    commands = list(subcommands())
    for full, _, help_text in commands:
        lines.append(f"| `{full}` | {_cell(help_text)} |")
    for full, parser, help_text in commands:
        usage = " ".join(parser.format_usage().split())
        usage = usage.removeprefix("usage: ")
        lines += ["", f"## `{full}`", "", _cell(help_text), "", "```text", usage, "```"]
        rows = []
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = ", ".join(action.option_strings) or (action.metavar or action.dest)
            meaning = action.help or ARGUMENTS.get((full, name), "")
            if not meaning:
                raise SystemExit(f"gen_reference: no meaning for {full} {name}: add it to ARGUMENTS")
            rows.append(f"| `{name}` | {_cell(meaning)} |")
        if rows:
            lines += ["", "| argument | meaning |", "| --- | --- |", *rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    pages = {CONFIG_PAGE: config_page(), CLI_PAGE: cli_page()}
    if "--check" in argv:
        stale = [p for p, text in pages.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
        for p in stale:
            print(f"{p}: out of date; run python docs/gen_reference.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
