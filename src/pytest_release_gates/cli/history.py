"""``release-gate history import|export``, and the pipeline entry ``release-gate merge`` records.

The store is ``--history-url``, else ``RELEASE_GATES_HISTORY_URL``, else the
``history_url`` of the project at ``--root`` (the current folder): the same
store the plugin writes. Exit 0 done, 2 for any usage or input error (a
missing or unreadable file, a bad URL, a store that cannot be reached): one
line, the password never in it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .. import atomic, gates
from .. import config as config_mod
from ..history import ENV, Store, StoreError, StoreURL, open_store, parse
from ..history import url as history_url
from ..history.base import PIPELINE, Entry, dumps, failed_of
from ..history.identity import detect
from ..history.jsonl import JsonlStore, read
from ..history.run import MAX_FAILED_TESTS, entry_of, mask_entry
from ..model import UsageError
from ..project import project_facts

DEFAULT_TIMEOUT: Final = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="history_command", required=True)
    imp = sub.add_parser("import", help="move a history.jsonl into the configured store (runs already there skipped)")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--project", default=None, metavar="NAME",
                     help="project of entries that name none (default: [project] name at --root, else its folder)")
    imp.add_argument("--branch", default=None, metavar="NAME",
                     help="branch of entries that name none (default: the checkout's current branch)")
    _store_arguments(imp)
    imp.set_defaults(history_func=cmd_import)
    exp = sub.add_parser("export", help="write the store out as JSON lines (history.jsonl format)")
    exp.add_argument("-o", "--output", default=None, metavar="FILE", help="file to write (default: standard output)")
    _store_arguments(exp)
    exp.set_defaults(history_func=cmd_export)


def _store_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--history-url", default=None, metavar="URL",
                   help=f"the store (default: ${ENV}, else history_url in the config at --root)")
    p.add_argument("--root", default=".", metavar="DIR", help="the project's rootdir (default: the current folder)")


def run(args: argparse.Namespace) -> int:
    return int(args.history_func(args))


def _open(args: argparse.Namespace) -> Store:
    root = Path(args.root)
    if args.history_url:
        url = _parse(args.history_url, root, "--history-url")
        timeout = DEFAULT_TIMEOUT
    else:
        # RELEASE_GATES_HISTORY_URL wins over the config there
        settings = config_mod.load(root, registry=gates.installed())
        url = _parse(settings.history_url, root, "history_url")
        timeout = settings.history_timeout
    try:
        return open_store(url, timeout=timeout)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def _parse(value: str, root: Path, what: str) -> StoreURL:
    try:
        return parse(value, root)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


# ------------------------------------------------------------------- import


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such history file")
    hist = read(path)
    if hist.error:
        raise UsageError(hist.error)
    if hist.skipped and not len(hist):
        raise UsageError(f"{path}: no history entries ({hist.first_problem})")
    root = Path(args.root)
    project, branch = args.project, args.branch
    if project is None:
        project = project_facts(root)[0].get("name") or root.resolve().name
    if branch is None:
        branch = detect(root).branch

    def entries() -> Iterator[Entry]:
        for e in hist.entries:
            e = dict(e)
            e.setdefault("project", project)
            if branch:
                e.setdefault("branch", branch)
            yield mask_entry(e)

    store = _open(args)
    try:
        done = store.import_entries(entries())
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    for line in hist.warnings():
        print(f"release-gate: {line}", file=sys.stderr)
    print(f"imported {done.added} run{'s' if done.added != 1 else ''} from {path} into {store.label}"
          f" ({done.present} already there)")
    return 0


# ------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        lines = [dumps(mask_entry(e)) + "\n" for e in store.export()]
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    if args.output:
        out = Path(args.output)
        atomic.write_text(out, "".join(lines))
        print(f"exported {len(lines)} run{'s' if len(lines) != 1 else ''} from {store.label} to {out}",
              file=sys.stderr)
    else:
        sys.stdout.write("".join(lines))
        sys.stdout.flush()
    return 0


# ------------------------------------------------------------------- merge


def merge_url(given: str | None) -> StoreURL | None:
    """The store ``merge`` records into (``--history-url``, else the environment), or None. Relative to the
    current folder: merge runs without a checkout."""
    value = given or os.environ.get(ENV, "").strip()
    if not value:
        return None
    return _parse(value, Path.cwd(), "--history-url" if given else ENV)


def pipeline_entry(docs: Sequence[Mapping[str, Any]], merged: Mapping[str, Any], shard_rows: Sequence[Entry],
                   *, now: float | None = None) -> Entry:
    """The pipeline's one entry: the merged verdict, with the failures and metrics of its shards' rows.

    A shard whose row is not in the store adds the failing tests its verdict names.
    """
    ident = detect(Path.cwd())
    shard_ids = [str(d["run_id"]) for d in docs if isinstance(d.get("run_id"), str) and d.get("run_id")]
    git: Mapping[str, Any] = next((d["git"] for d in docs if isinstance(d.get("git"), dict)), {})
    failed: set[str] = set()
    metrics: dict[str, Any] = {}
    for row in shard_rows:
        failed.update(failed_of(row))
        if isinstance(row.get("metrics"), dict):
            metrics.update(row["metrics"])
    found = {row.get("run_id") for row in shard_rows}
    for d in docs:
        if d.get("run_id") not in found or not d.get("run_id"):
            failed.update(str(g.get("subject")) for g in d.get("gates", ())
                          if g.get("kind") in ("tests", "timeout") and g.get("status") != "pass" and g.get("subject"))
    project = merged.get("project")

    def from_rows(key: str) -> str:
        return next((str(r[key]) for r in shard_rows if r.get(key)), "")

    return entry_of(
        {**merged, "git": git},
        now=now,
        failed=sorted(failed)[:MAX_FAILED_TESTS],
        metrics=metrics,
        run_id=pipeline_key(shard_ids),
        project=(project.get("name") if isinstance(project, dict) else None) or from_rows("project"),
        branch=git.get("branch") or ident.branch or from_rows("branch"),
        role=PIPELINE,
        shards=shard_ids,
        job=ident.job,
        pipeline=ident.pipeline or from_rows("pipeline"),
    )


def pipeline_key(shard_ids: Sequence[str]) -> str:
    """The pipeline entry's run_id: from its shards, so merging the same shards again adds nothing."""
    if not shard_ids:
        return uuid.uuid4().hex
    return "pipeline:" + hashlib.sha256("\n".join(sorted(shard_ids)).encode("utf-8")).hexdigest()[:32]


def record_pipeline(url: StoreURL, docs: Sequence[Mapping[str, Any]], merged: Mapping[str, Any]) -> tuple[str, bool]:
    """Record the pipeline entry of a merge: (line to print, recorded). Never raises for a store problem:
    the entry is then kept in ``.release-gates/history.jsonl`` here for ``history import``."""
    store: Store | None = None
    try:
        store = open_store(url, timeout=DEFAULT_TIMEOUT)
        shard_ids = [str(d["run_id"]) for d in docs if isinstance(d.get("run_id"), str) and d.get("run_id")]
        entry = pipeline_entry(docs, merged, store.entries(shard_ids))
        # A pipeline row is never pruned by the merge job: retention is the test runs' business.
        store.import_entries([entry])
        return (f"history: pipeline entry recorded in {store.label} ({len(docs)} shard"
                f"{'s' if len(docs) != 1 else ''})", True)
    except StoreError as exc:
        problem = str(exc)
    finally:
        if store is not None:
            store.close()
    local = Path.cwd() / history_url.LOCAL_FILE
    try:
        JsonlStore(local).import_entries([pipeline_entry(docs, merged, [])])
    except StoreError as exc:
        return f"WARNING: {problem}; the pipeline entry was not kept locally either: {exc}", False
    return (f"WARNING: {problem}; the pipeline entry was kept in {local} "
            "(`release-gate history import` moves it to the store)", False)


SUBCOMMAND: Final = (
    "history",
    "move a history.jsonl into the configured store, or export the store as JSON lines",
    add_arguments,
    run,
)
