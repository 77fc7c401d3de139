"""Which tests a run selected, and who selected them.

The project's own ``addopts`` (its ini file or pyproject) define its suite; the same
options on the command line or in ``PYTEST_ADDOPTS`` narrow it, and a narrowed run
cannot speak for the release. pytest folds both sources into one namespace, so each
source is parsed again here with pytest's own parser: every form pytest accepts
(``-kexpr``, ``--deselect=x``, ``-m=expr``) is read the way pytest read it.

The same parser answers a second question: did the value of one of our options,
written as a separate argument (``--gate-verdict PATH``), move the rootdir? pytest's
first parse runs before plugins add their options, so it takes such a value for a
test path when it looks for the rootdir and the project's config.
"""

from __future__ import annotations

import glob
import inspect
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, final

import pytest

from .model import UsageError

PARSER_KEY: Final = pytest.StashKey[pytest.Parser]()
_SELECTION_KEY: Final = pytest.StashKey["Selection"]()

#: pytest's selection options: (namespace dest, as shown). ``--ff``/``--nf`` only reorder.
_FLAGS: Final = (("lf", "--lf"), ("stepwise", "--sw"), ("stepwise_skip", "--sw-skip"))
_VALUES: Final = (("keyword", "-k"), ("markexpr", "-m"))
_LISTS: Final = (("deselect", "--deselect"), ("ignore", "--ignore"), ("ignore_glob", "--ignore-glob"))
#: Test-splitting plugins: (dest and option of the count, dest and option of the index).
_SPLITTERS: Final = (
    ("splits", "--splits", "group", "--group"),  # pytest-split
    ("num_shards", "--num-shards", "shard_id", "--shard-id"),  # pytest-shard
    ("test_group_count", "--test-group-count", "test_group", "--test-group"),  # pytest-test-groups
)
_SHARD_RE: Final = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def remember_parser(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Keep pytest's parser (from ``pytest_addoption``) to parse each option source alone."""
    config = pluginmanager.get_plugin("pytestconfig")
    if isinstance(config, pytest.Config):
        config.stash[PARSER_KEY] = parser


def parse_shard(value: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), whole numbers with 1 <= I <= N; else a one-line usage error."""
    m = _SHARD_RE.match(value)
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageError(f"--gate-shard={value}: expected I/N, whole numbers with 1 <= I <= N (e.g. --gate-shard=1/4)")
    return int(m.group(1)), int(m.group(2))


def check_shard_matches_splitter(config: pytest.Config, shard: tuple[int, int]) -> None:
    """pytest-split's ``--splits N --group I`` must be the shard it claims to be (a copied CI line
    with two group 1 runs labelled 1/2 and 2/2 would otherwise merge into a deploy)."""
    splits, group = config.getoption("splits", None), config.getoption("group", None)
    if isinstance(splits, int) and isinstance(group, int) and (group, splits) != shard:
        raise UsageError(
            f"--gate-shard={shard[0]}/{shard[1]} does not match --splits {splits} --group {group}: "
            f"give --gate-shard={group}/{splits}"
        )


def command_line(config: pytest.Config) -> list[str]:
    """The arguments a person or CI script gave: ``PYTEST_ADDOPTS``, then the invocation's."""
    env = os.environ.get("PYTEST_ADDOPTS", "")
    try:
        env_args = shlex.split(env)
    except ValueError:  # pytest refused it already; keep the text for the record
        env_args = [env] if env.strip() else []
    return [*env_args, *(str(a) for a in config.invocation_params.args)]


@final
@dataclass(frozen=True, slots=True)
class Selection:
    """The selection options in force from each source, and why the command line narrows the suite."""

    config: tuple[str, ...]
    command_line: tuple[str, ...]
    narrowed: tuple[str, ...]

    @property
    def partial(self) -> str | None:
        return ", ".join(self.narrowed) or None

    def to_json(self) -> dict[str, list[str]]:
        return {"config": list(self.config), "command_line": list(self.command_line)}


def of(config: pytest.Config) -> Selection:
    """The run's selection (computed once; the controller decides it from options alone, so
    it is the same with and without xdist)."""
    cached = config.stash.get(_SELECTION_KEY, None)
    if cached is None:
        cached = config.stash[_SELECTION_KEY] = _compute(config)
    return cached


def _compute(config: pytest.Config) -> Selection:
    parser = config.stash.get(PARSER_KEY, None)
    cmd_args = command_line(config)
    if parser is None:  # cannot happen with the plugin loaded normally; never guess a whole suite
        return Selection((), tuple(cmd_args), ("the command line could not be read",))
    try:
        cmd = parser.parse_known_args(cmd_args)
        overrides = [str(o) for o in (getattr(cmd, "override_ini", None) or ())]
        ini_addopts = next((o.split("=", 1)[1] for o in overrides if o.startswith("addopts=")), None)
        if ini_addopts is not None:  # `-o addopts=...` replaces the project's addopts: the command line's
            cmd_args = [*shlex.split(ini_addopts), *cmd_args]
            cmd = parser.parse_known_args(cmd_args)
            cfg_args: list[str] = []
        else:
            cfg_args = [str(a) for a in config.getini("addopts")]
        cfg = parser.parse_known_args(cfg_args)
    except (Exception, SystemExit) as exc:  # pytest accepted these args; fail closed all the same
        return Selection((), tuple(cmd_args), (f"the command line could not be read ({exc})",))
    cfg_items, cfg_paths = _options(cfg), _positionals(cfg)
    cmd_items, cmd_paths = _options(cmd), _positionals(cmd)
    retargeted = [f"-o {o}" for o in overrides if o.startswith("testpaths=")]  # the suite itself, overridden
    narrowed = cmd_items + retargeted
    node_ids = [a for a in cmd_paths if "::" in a]
    if node_ids:
        narrowed.append("node ids " + " ".join(node_ids[:3]) + (" ..." if len(node_ids) > 3 else ""))
    uncovered = _uncovered(config, cfg_paths, [a for a in cmd_paths if "::" not in a], bool(node_ids))
    if uncovered:
        narrowed.append(uncovered)
    if config.getoption("gate_shard", None) is None:  # a split run that does not say so is a subset
        narrowed += [f"{item} without --gate-shard" for item in _splits(cfg) + _splits(cmd)]
    return Selection(
        tuple(cfg_items + _splits(cfg) + cfg_paths),
        tuple(cmd_items + _splits(cmd) + retargeted + cmd_paths),
        tuple(narrowed),
    )


def _options(ns: Any) -> list[str]:
    items = [shown for dest, shown in _FLAGS if getattr(ns, dest, False)]
    items += [f"{shown} {value!r}" for dest, shown in _VALUES if (value := getattr(ns, dest, ""))]
    for dest, shown in _LISTS:
        items += [f"{shown} {v}" for v in getattr(ns, dest, None) or ()]
    return items


def _splits(ns: Any) -> list[str]:
    return [f"{count_opt} {getattr(ns, count)} {index_opt} {getattr(ns, index, None)}"
            for count, count_opt, index, index_opt in _SPLITTERS if getattr(ns, count, None)]


def _positionals(ns: Any) -> list[str]:
    return [str(a) for a in getattr(ns, "file_or_dir", None) or ()]


def _uncovered(config: pytest.Config, cfg_paths: list[str], cmd_paths: list[str], node_ids: bool) -> str | None:
    """Why the paths pytest collects from do not cover the suite, or None.

    The suite is the config's own path arguments, else every ``testpaths`` entry (globs
    expanded), else the rootdir. With no path on the command line pytest collects the
    suite when started in the rootdir, and the current folder otherwise.
    """
    here = Path(config.invocation_params.dir)
    root = Path(config.rootpath)
    pyargs = bool(config.getoption("pyargs", False))
    if cmd_paths:
        collected, shown = [*cfg_paths, *cmd_paths], " ".join(cmd_paths)
    elif cfg_paths or node_ids or _same(here, root):
        return None
    else:
        collected, shown = [str(here)], f"run in {_rel(here, root)}"
    if cfg_paths:
        suite, suite_shown = [_resolve(p, here, pyargs) for p in cfg_paths], "the paths in addopts"
    else:
        testpaths = [str(t) for t in config.getini("testpaths") or ()]
        suite = _testpaths(testpaths, root, pyargs)
        suite_shown = f"testpaths {' '.join(testpaths)}" if suite else "the rootdir"
        suite = suite or [root.resolve()]
    given = [_resolve(p, here, pyargs) for p in collected]
    if all(any(_covers(g, s) for g in given) for s in suite):
        return None
    return f"{shown}, not all of {suite_shown}"


def _testpaths(entries: list[str], root: Path, pyargs: bool) -> list[Path | str]:
    if pyargs:
        return list(entries)
    out: list[Path | str] = []
    for entry in entries:
        out += [(root / m).resolve() for m in sorted(glob.glob(entry, root_dir=root, recursive=True))]
    return out


def _resolve(arg: str, here: Path, pyargs: bool) -> Path | str:
    path = here / arg
    if pyargs and not path.exists():
        return arg  # a module name
    return path.resolve()


def _covers(given: Path | str, suite: Path | str) -> bool:
    if isinstance(given, Path) and isinstance(suite, Path):
        return given == suite or given in suite.parents
    if isinstance(given, str) and isinstance(suite, str):
        return suite == given or suite.startswith(given + ".")
    return False


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() + "/"
    except ValueError:
        return str(path)


# ------------------------------------------------------------- rootdir guard


def check_rootdir(config: pytest.Config) -> None:
    """Refuse a ``--gate-* VALUE`` (separate argument) whose value may have moved the rootdir.

    A value that names no existing path cannot have; one that does is accepted only
    when pytest's own rootdir search, repeated without our values, finds the same
    rootdir and config file that this run has.
    """
    parser = config.stash.get(PARSER_KEY, None)
    if parser is None:
        return
    args = command_line(config)
    here = Path(config.invocation_params.dir)
    separate = [(i, opt, val) for i, opt, val in _separate_values(parser, args)
                if (here / val.split("::")[0]).exists()]
    if not separate:
        return
    _, option, value = separate[0]
    found = _rootdir_without(config, parser, args)
    actual = (Path(config.rootpath), config.inipath)
    if found is not None and found == actual:
        return
    moved = f" (the rootdir became {actual[0]}, not {found[0]})" if found is not None and found[0] != actual[0] else ""
    raise UsageError(
        f"{option} {value}: pytest reads a separate value of a --gate-* option as a test path when it looks "
        f"for the rootdir and the project's config{moved}; write it as {option}={value}"
    )


def _separate_values(parser: pytest.Parser, args: Sequence[str]) -> list[tuple[int, str, str]]:
    """(index, option, value) of every ``--gate-*`` option whose value is the next argument."""
    out = []
    for i, arg in enumerate(args[:-1]):
        if not arg.startswith("--gate-") or "=" in arg:
            continue
        value = args[i + 1]
        try:
            ns, unknown = parser.parse_known_and_unknown_args([arg, value])
        except (Exception, SystemExit):
            continue
        if value not in _positionals(ns) and value not in unknown:
            out.append((i, arg, value))
    return out


def _rootdir_without(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> tuple[Path, Any] | None:
    """(rootdir, inifile) pytest finds for these args parsed with our options known, or None
    when that cannot be repeated here (a pytest whose rootdir search this code does not know)."""
    try:
        from _pytest.config.findpaths import determine_setup

        ns = parser.parse_known_args(args)
        known: dict[str, Any] = {
            "inifile": getattr(ns, "inifilename", None),
            "override_ini": getattr(ns, "override_ini", None),
            "args": _positionals(ns),
            "rootdir_cmd_arg": getattr(ns, "rootdir", None) or None,
            "invocation_dir": Path(config.invocation_params.dir),
            "config": config,  # pytest 7.4 reads the invocation folder from it
        }
        params = inspect.signature(determine_setup).parameters
        if any(p not in known for p, v in params.items() if v.default is inspect.Parameter.empty):
            return None
        found = determine_setup(**{k: v for k, v in known.items() if k in params})
        return Path(found[0]), found[1]
    except Exception:
        return None
