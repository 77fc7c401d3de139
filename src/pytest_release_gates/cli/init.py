"""``release-gate init``: start a project's configuration in one command.

Writes a commented ``[tool.release_gates]`` table into ``pyproject.toml`` (or a
``release-gates.toml`` with ``--toml``, or when there is no pyproject), adds
``.release-gates/`` to ``.gitignore`` and prints the next three commands.
It only ever appends or creates: a table or a file it did not write is left
alone (exit 2, one line), and a second run finds its own work and does nothing,
so it is safe in a script. Every write is atomic (``atomic.py``).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, final

from .. import atomic, gates
from .. import config as config_mod
from ..config import PYPROJECT, STANDALONE, tomllib
from ..model import UsageError

EXIT_OK: Final = 0
#: The comment that marks text this command wrote; a second run recognises its own work by it.
MARK: Final = "# written by `release-gate init`"
IGNORE_LINE: Final = ".release-gates/"
_IGNORED = re.compile(r"^/?\.release-gates/?\**$")

_BODY: Final = f"""{MARK}; every key: docs/reference/configuration.md
# Verdict levels: deploy < hold < rollback. Commit this table, the baseline file
# (release-gates.baseline.json) and, with [integrity], its manifest; git-ignore .release-gates/.
regression_tolerance = 0.2    # hold when a tracked metric is more than 20% worse than the baseline
rollback_ratio = 1.5          # rollback when it is 1.5x worse or more
new_error_types = "hold"      # an exception type the baseline has not seen: "hold", "warn" or "off"
new_warning_types = "hold"    # the same for warning categories
# coverage_min = 80           # percent, with pytest-cov (pytest --cov)
# coverage_max_drop = 1.0     # percentage points below the baseline's coverage
"""

_BUDGETS: Final = """# Budgets kept here rather than in @pytest.mark.budget markers (node id or glob):
# [{prefix}budgets]
# "tests/test_api.py::test_status" = {{ seconds = 1.0 }}
"""

_INTEGRITY: Final = """# Files that must not change unnoticed; `release-gate integrity generate` writes their manifest:
# [{prefix}integrity]
# patterns = ["src/**/*.py"]
# rules = ["conflict-markers", "secrets"]
"""

NEXT: Final = (
    "pytest --release-gate --gate-update-baseline   # record the first baseline",
    "release-gate status                            # the verdict; exit 0 for deploy",
    "git add {config} .gitignore release-gates.baseline.json",
)


def table_text(standalone: bool) -> str:
    """The commented configuration: top level of ``release-gates.toml``, or the pyproject table."""
    prefix = "" if standalone else "tool.release_gates."
    head = "" if standalone else "[tool.release_gates]\n"
    return head + _BODY + "\n" + _BUDGETS.format(prefix=prefix) + "\n" + _INTEGRITY.format(prefix=prefix)


@final
@dataclass(slots=True)
class Plan:
    """What ``init`` would write: (path, new full text, one-line description) per file."""

    config: str = ""
    writes: list[tuple[Path, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def _has_table(path: Path, text: str) -> bool:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    tool = data.get("tool")
    return isinstance(tool, dict) and "release_gates" in tool


def plan(root: Path, *, standalone: bool) -> Plan:
    """Decide every write before making any, so a refusal leaves the folder as it was."""
    pyproject, toml = root / PYPROJECT, root / STANDALONE
    out = Plan()
    py_text = _read(pyproject) if pyproject.is_file() else None
    py_table = py_text is not None and _has_table(pyproject, py_text)
    ours = py_text is not None and MARK in py_text
    if toml.exists():
        if not _read(toml).startswith(MARK):
            raise UsageError(f"{toml}: exists and was not written by `release-gate init`; left as it is")
        if py_table:  # config.py refuses both at once; say so rather than leave a broken pair
            raise UsageError(f"{pyproject} [tool.release_gates] and {toml} both exist; keep one of them")
        out.config = STANDALONE
        out.notes.append(f"{STANDALONE} already written by `release-gate init`")
    elif py_table:
        if not ours:
            raise UsageError(f"{pyproject}: already has a [tool.release_gates] table; left as it is")
        if standalone:
            raise UsageError(f"{pyproject}: already has the [tool.release_gates] table; no {STANDALONE} needed")
        out.config = PYPROJECT
        out.notes.append(f"{PYPROJECT} [tool.release_gates] already written by `release-gate init`")
    elif standalone or py_text is None:
        out.config = STANDALONE
        out.writes.append((toml, table_text(standalone=True), f"write {STANDALONE}"))
    else:
        assert py_text is not None
        sep = "" if py_text.endswith("\n\n") or not py_text else ("\n" if py_text.endswith("\n") else "\n\n")
        out.config = PYPROJECT
        out.writes.append((pyproject, py_text + sep + table_text(standalone=False),
                           f"add a [tool.release_gates] table to {PYPROJECT}"))
    gitignore = root / ".gitignore"
    ignore_text = _read(gitignore) if gitignore.is_file() else ""
    if any(_IGNORED.match(line.strip()) for line in ignore_text.splitlines()):
        out.notes.append(".gitignore already ignores .release-gates/")
    else:
        sep = "" if not ignore_text or ignore_text.endswith("\n") else "\n"
        comment = "# pytest-release-gates: verdict, history, caches (machine files)\n"
        out.writes.append((gitignore, ignore_text + sep + comment + IGNORE_LINE + "\n",
                           "add .release-gates/ to .gitignore"))
    for path, text, _ in out.writes:  # what is written must load: check before touching anything
        if path.name in (PYPROJECT, STANDALONE):
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise UsageError(f"{path}: would not be valid TOML after the change ({exc}); left as it is") from None
            raw = data if path.name == STANDALONE else data["tool"]["release_gates"]
            config_mod.parse(raw, registry=gates.installed(), where=f"{path}:")
    return out


def cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.root)
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder")
    todo = plan(root, standalone=args.toml)
    for note in todo.notes:
        print(f"already done: {note}")
    for path, text, what in todo.writes:
        if args.dry_run:
            print(f"would {what}:")
            old = _read(path) if path.is_file() else ""
            print("".join(f"  + {line}".rstrip() + "\n" for line in text[len(old):].splitlines()), end="")
        else:
            atomic.write_text(path, text)
            print(f"{what}: done")
    if args.dry_run:
        print("dry run: nothing written")
        return EXIT_OK
    print("next:")
    for line in NEXT:
        print("  " + line.format(config=todo.config))
    return EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--toml", action="store_true",
                        help=f"write {STANDALONE} instead of a table in {PYPROJECT}")
    parser.add_argument("--dry-run", action="store_true", help="show what would be written, write nothing")
    parser.add_argument("--root", default=".", metavar="DIR", help="the project folder (default: the current one)")


SUBCOMMAND: Final = (
    "init",
    "write a commented [tool.release_gates] table and git-ignore .release-gates/; 2 when a file is not ours",
    add_arguments,
    cmd_init,
)
