"""The ``release-gate`` command: status, merge, and the subcommands of gate kinds.

Every bad input is one line on stderr naming the file, and a documented exit
status; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn

from .. import atomic, redact, verdict_file
from ..merge import check as check_shards
from ..merge import merge
from ..model import Level, UsageError

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
        asked = _resolve_commit(args.commit) if args.commit is not None else None
    except UsageError as exc:
        _err(str(exc))
        return EXIT_INVALID
    try:
        doc = verdict_file.load(path)
    except FileNotFoundError:
        _err(f"{path}: no verdict file (run `pytest --release-gate` first)")
        return EXIT_NO_VERDICT
    except UsageError as exc:
        _err(str(exc))
        return EXIT_INVALID
    level = Level.parse(doc["verdict"])
    stale = _stale(doc, asked, args.commit) if asked is not None else None
    if stale is not None:  # another commit's verdict, whatever it says, decides nothing for this one
        print(f"STALE  {path}: {stale}")
        print(f"  - it says {str(level).upper()} about other code: run `pytest --release-gate` on a clean checkout "
              "of the commit asked for")
        return int(Level.HOLD)
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
    run = doc.get("run")
    usage_error = isinstance(run, dict) and run.get("usage_error")  # a usage error says why itself
    if not complete and not usage_error and verdict_file.PROVISIONAL_REASON not in doc.get("reasons", []):
        print("  - incomplete: the run that wrote this verdict did not finish")
    for reason in doc.get("reasons", []):
        print(redact.text(f"  - {reason}"))  # a verdict written before masking existed is masked here
    return int(level)


_FULL_HASH: Final = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def _resolve_commit(rev: str) -> str:
    """A full commit id for ``--commit REV``: as given when it is one, else from git in the current folder."""
    if _FULL_HASH.fullmatch(rev):
        return rev.lower()
    if not rev or rev.startswith("-"):
        raise UsageError(f"--commit {rev!r}: not a revision")
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"--commit {rev!r}: cannot run git to resolve it ({exc}); pass the full commit id") from None
    commit = out.stdout.strip()
    if out.returncode != 0 or not _FULL_HASH.fullmatch(commit):
        raise UsageError(f"--commit {rev!r}: git cannot resolve it to a commit here ({Path.cwd()})")
    return commit.lower()


def _stale(doc: dict[str, Any], commit: str, asked: str) -> str | None:
    """Why the verdict does not speak for ``commit``, or None when it does."""
    ask = commit if asked.lower() == commit else f"{commit} ({asked})"
    git = doc.get("git")
    recorded = git.get("commit") if isinstance(git, dict) else None
    if not isinstance(git, dict) or not isinstance(recorded, str) or not recorded:
        return f"verdict records no git commit (written outside a git checkout?); asked for {ask}"
    if recorded.lower() != commit:
        return f"verdict is for commit {recorded}, not {ask}"
    if git.get("dirty") is True:
        return f"verdict for commit {recorded} was written from a working tree with uncommitted changes (git.dirty)"
    return None


# -------------------------------------------------------------------- merge


def cmd_merge(args: argparse.Namespace) -> int:
    from . import history as history_cli

    store_url = history_cli.merge_url(args.history_url)  # a bad URL: exit 2 before anything is written
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
        atomic.write_json(Path(args.output), redact.document(merged))  # inputs may predate masking
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    print(f"{merged['verdict']}: merged {len(docs)} verdicts into {args.output}")
    if store_url is not None:
        line, recorded = history_cli.record_pipeline(store_url, docs, merged)
        print(line, file=sys.stdout if recorded else sys.stderr)
    return 0


# --------------------------------------------------------------------- main

#: Subcommand registrations of gate kinds: (name, help, add_arguments, run).
SUBCOMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = []


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="release-gate", description="Read and combine pytest-release-gates verdicts.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    st = sub.add_parser(
        "status",
        help="print the verdict; exit 0 deploy, 1 hold, 2 rollback, 3 missing, 4 invalid",
        usage_status=EXIT_INVALID,
    )
    st.add_argument("verdict", nargs="?", default=str(DEFAULT_VERDICT), metavar="VERDICT")
    st.add_argument("--commit", metavar="REV", default=None,
                    help="exit 1 (stale) unless the verdict is for this commit, from a clean working tree")
    st.set_defaults(func=cmd_status)
    mg = sub.add_parser("merge", help="combine verdicts of CI shards into one")
    mg.add_argument("verdicts", nargs="+", metavar="VERDICT")
    mg.add_argument("-o", "--output", required=True, metavar="OUT")
    mg.add_argument("--history-url", default=None, metavar="URL",
                    help="also record the pipeline's entry in this history store (default: $RELEASE_GATES_HISTORY_URL)")
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
    from . import baseline as baseline_cli
    from . import history as history_cli
    from . import init as init_cli
    from . import integrity as integrity_cli

    SUBCOMMANDS.append(integrity_cli.SUBCOMMAND)
    SUBCOMMANDS.append(baseline_cli.SUBCOMMAND)
    SUBCOMMANDS.append(history_cli.SUBCOMMAND)
    SUBCOMMANDS.append(init_cli.SUBCOMMAND)


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
