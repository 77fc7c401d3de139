"""``release-gate merge``: one verdict from the verdicts of CI shards, when they belong together.

The inputs must be runs of one project at one commit, each run once (``run_id``);
declared shards (``--gate-shard=I/N``) must be a whole set in every environment, so
three of four uploaded shards never merge into a deploy. A matrix (Python versions)
merges: shards are grouped by interpreter, Python minor version, OS and machine,
not by what varies between the CI runners of one job (kernel build, patch release).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from . import verdict_file
from .model import COUNT_FIELDS, GateResult, Level, UsageError


def check(docs: Sequence[Mapping[str, Any]], names: Sequence[str]) -> None:
    """Raise a one-line ``UsageError`` naming both files when the inputs are not shards of one run."""
    seen: dict[str, str] = {}
    for doc, name in zip(docs, names, strict=True):
        run_id = doc.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise UsageError(
                f"{name}: no run_id (written by an older pytest-release-gates?): it cannot be told apart from "
                "another input of the same run; run it again with this version"
            )
        if run_id in seen:
            raise UsageError(
                f"{seen[run_id]} and {name} are the same run (run_id {run_id}): its tests would count twice"
            )
        seen[run_id] = name
    first, first_name = docs[0], names[0]
    for doc, name in zip(docs[1:], names[1:], strict=True):
        a, b = _project_name(first), _project_name(doc)
        if a != b:
            raise UsageError(
                f"{first_name} is project {a!r} and {name} is project {b!r}: shards of one run are one project"
            )
        a, b = _commit(first), _commit(doc)
        if a != b:
            raise UsageError(
                f"{first_name} is commit {a or 'unknown (no git)'} and {name} is commit {b or 'unknown (no git)'}: "
                "shards of one run are one commit"
            )
    _check_shard_sets(docs, names)


def _check_shard_sets(docs: Sequence[Mapping[str, Any]], names: Sequence[str]) -> None:
    groups: dict[tuple[str, ...], list[tuple[int, int, str]]] = defaultdict(list)
    for doc, name in zip(docs, names, strict=True):
        if doc.get("shard") is None:
            continue
        index, count = _shard(doc, name)
        groups[_environment_key(doc.get("environment"))].append((index, count, name))
    for key, members in groups.items():
        where = _describe(key)
        first_index, first_count, first_name = members[0]
        for index, count, name in members[1:]:
            if count != first_count:
                raise UsageError(
                    f"{first_name} is shard {first_index}/{first_count} and {name} is shard {index}/{count} of one "
                    f"environment ({where}): one run is split one way"
                )
        by_index: dict[int, str] = {}
        for index, _, name in members:
            if index in by_index:
                raise UsageError(f"{by_index[index]} and {name} are both shard {index} of {first_count} ({where})")
            by_index[index] = name
        missing = [str(i) for i in range(1, first_count + 1) if i not in by_index]
        if missing:
            given = ", ".join(f"{name} ({i}/{first_count})" for i, name in sorted(by_index.items()))
            raise UsageError(
                f"shard {', '.join(missing)} of {first_count} missing ({where}): only {given} given; "
                "a merge of part of the shards would decide on part of the suite"
            )


def _shard(doc: Mapping[str, Any], name: str) -> tuple[int, int]:
    shard = doc.get("shard")
    index = shard.get("index") if isinstance(shard, Mapping) else None
    count = shard.get("count") if isinstance(shard, Mapping) else None
    if (
        not isinstance(index, int) or isinstance(index, bool)
        or not isinstance(count, int) or isinstance(count, bool)
        or not 1 <= index <= count
    ):
        raise UsageError(f"{name}: 'shard' must be {{\"index\": I, \"count\": N}} with 1 <= I <= N, got {shard!r}")
    return index, count


def _project_name(doc: Mapping[str, Any]) -> Any:
    project = doc.get("project")
    return project.get("name") if isinstance(project, Mapping) else None


def _commit(doc: Mapping[str, Any]) -> Any:
    git = doc.get("git")
    return git.get("commit") if isinstance(git, Mapping) else None


def _environment_key(env: Any) -> tuple[str, ...]:
    """What a CI matrix varies and the runners of one job share."""
    if not isinstance(env, Mapping):
        return ("unknown environment",)
    python = ".".join(str(env.get("python", "")).split(".")[:2])
    system = str(env.get("platform", "")).split("-", 1)[0]
    return (str(env.get("implementation", "")), python, system, str(env.get("machine", "")))


def _describe(key: tuple[str, ...]) -> str:
    if len(key) != 4:
        return key[0]
    implementation, python, system, machine = key
    return f"{implementation} {python} on {system} {machine}".strip()


def merge(docs: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None) -> dict[str, Any]:
    """Combine shard verdicts: worst level, all gates, test counts added (inputs checked by :func:`check`).

    An incomplete shard makes the merge incomplete (and so never deploy). Each gate
    keeps the position of its input in ``shards`` as ``shard``.
    """
    names = list(names) if names is not None else [f"input {i + 1}" for i in range(len(docs))]
    level = max(Level.parse(d["verdict"]) for d in docs)
    complete = all(d.get("complete", True) for d in docs)
    if not complete:
        level = max(level, Level.HOLD)
    reasons: list[str] = []
    gates: list[dict[str, Any]] = []
    for i, d in enumerate(docs):
        for r in d.get("reasons", []):
            if r not in reasons:
                reasons.append(r)
        for g in d.get("gates", []):
            GateResult.from_json(g)  # validated on load already; cheap re-check
            gates.append({**g, "shard": i})
    tests = {k: sum(int(d.get("tests", {}).get(k, 0)) for d in docs) for k in COUNT_FIELDS}
    first = docs[0]
    environments = [d.get("environment") for d in docs]
    out: dict[str, Any] = {
        "schema": verdict_file.SCHEMA,
        "verdict": str(level),
        "complete": complete,
        "run_id": verdict_file.new_run_id(),
        "reasons": reasons,
        "gates": gates,
        "tests": tests,
        "project": first.get("project"),
        "created": min((str(d["created"]) for d in docs if isinstance(d.get("created"), str)), default=None),
        "duration_s": round(max(float(d.get("duration_s") or 0) for d in docs), 3),
        "environment": environments[0] if all(e == environments[0] for e in environments) else None,
        "git": _merged_git(docs),
        "run": {"merged": names, "partial": _partial(docs, names)},
        "shards": [_input(d, name) for d, name in zip(docs, names, strict=True)],
        "merged_from": len(docs),
    }
    if not complete:
        out["reasons"] = reasons or ["a merged shard did not finish"]
    return out


def _merged_git(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    gits = [d.get("git") for d in docs]
    if not all(isinstance(g, Mapping) for g in gits):
        return None
    dirty = [g.get("dirty") for g in gits]  # type: ignore[union-attr]
    return {
        "commit": gits[0].get("commit"),  # type: ignore[union-attr]
        "dirty": True if True in dirty else (False if all(x is False for x in dirty) else None),
    }


def _partial(docs: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str | None:
    """Inputs narrowed beyond their shard (``-k`` on a shard, or a partial whole run), for the record."""
    out = []
    for doc, name in zip(docs, names, strict=True):
        run = doc.get("run")
        why = run.get("partial") if isinstance(run, Mapping) else None
        if not isinstance(why, str) or not why:
            continue
        shard = doc.get("shard")
        if isinstance(shard, Mapping):
            prefix = f"shard {shard.get('index')} of {shard.get('count')}"
            why = why.removeprefix(prefix).removeprefix(", ")
        if why:
            out.append(f"{name}: {why}")
    return "; ".join(out) or None


def _input(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    out = {"file": name, "run_id": doc.get("run_id"), "run": doc.get("run"), "environment": doc.get("environment")}
    if doc.get("shard") is not None:
        out["shard"] = doc["shard"]
    return out
