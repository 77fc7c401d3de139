"""The ``release-gate`` command: status, merge, and the subcommands of gate kinds.

Every bad input is one line on stderr naming the file, and a documented exit
status; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn

from . import atomic
from .merge import check as check_shards
from .merge import merge
from .model import Level, UsageError
from .report import verdict_file

DEFAULT_VERDICT: Final = Path(".release-gates") / "verdict.json"
EXIT_NO_VERDICT: Final = 3
EXIT_INVALID: Final = 4
EXIT_USAGE: Final = 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our usage status and one line."""

    def __init__(self, *args: Any, usage_status: int = EXIT_USAGE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.usage_status = usage_status

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(self.usage_status)


def _err(message: str) -> None:
    print(f"release-gate: {message}", file=sys.stderr)


# ------------------------------------------------------------------- status


def cmd_status(args: argparse.Namespace) -> int:
    path = Path(args.verdict)
    try:
        doc = verdict_file.load(path)
    except FileNotFoundError:
        _err(f"{path}: no verdict file (run `pytest --release-gate` first)")
        return EXIT_NO_VERDICT
    except UsageError as exc:
        _err(str(exc))
        return EXIT_INVALID
    level = Level.parse(doc["verdict"])
    complete = doc.get("complete", True)
    if not complete:
        level = max(level, Level.HOLD)
    line = f"{str(level).upper()}"
    project = doc.get("project") or {}
    if project.get("name"):
        line += f"  {project['name']} {project.get('version') or ''}".rstrip()
    counts = doc.get("tests", {})
    line += f"  ({counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed)"
    print(line)
    if not complete:
        print("  - the run did not finish: this is the provisional verdict written when it started")
    for reason in doc.get("reasons", []):
        print(f"  - {reason}")
    return int(level)


# -------------------------------------------------------------------- merge


def cmd_merge(args: argparse.Namespace) -> int:
    docs = []
    for name in args.verdicts:
        path = Path(name)
        try:
            docs.append(verdict_file.load(path))
        except FileNotFoundError:
            _err(f"{path}: no such verdict file")
            return EXIT_USAGE
        except UsageError as exc:
            _err(str(exc))
            return EXIT_USAGE
    try:
        check_shards(docs, args.verdicts)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    merged = merge(docs, args.verdicts)
    try:
        atomic.write_json(Path(args.output), merged)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    print(f"{merged['verdict']}: merged {len(docs)} verdicts into {args.output}")
    return 0


# --------------------------------------------------------------------- main

#: Subcommand registrations of gate kinds: (name, help, add_arguments, run).
SUBCOMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = []


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="release-gate", description="Read and combine pytest-release-gates verdicts.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    st = sub.add_parser(
        "status",
        help="print the verdict; exit 0 deploy, 1 hold, 2 rollback, 3 missing, 4 invalid",
        usage_status=EXIT_INVALID,
    )
    st.add_argument("verdict", nargs="?", default=str(DEFAULT_VERDICT), metavar="VERDICT")
    st.set_defaults(func=cmd_status)
    mg = sub.add_parser("merge", help="combine verdicts of CI shards into one")
    mg.add_argument("verdicts", nargs="+", metavar="VERDICT")
    mg.add_argument("-o", "--output", required=True, metavar="OUT")
    mg.set_defaults(func=cmd_merge)
    _load_subcommands()
    for name, help_text, add_arguments, run in SUBCOMMANDS:
        p = sub.add_parser(name, help=help_text)
        add_arguments(p)
        p.set_defaults(func=run)
    return parser


def _load_subcommands() -> None:
    if SUBCOMMANDS:
        return
    from . import baseline_cli
    from .integrity import cli as integrity_cli

    SUBCOMMANDS.append(integrity_cli.SUBCOMMAND)
    SUBCOMMANDS.append(baseline_cli.SUBCOMMAND)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["status"]:  # SPEC: any bad input to status exits 4
        parser.usage_status = EXIT_INVALID  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        _err(str(exc))
        return EXIT_INVALID if args.command == "status" else EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
