"""Where the code under test is, on each side of the A/B: the folders ``compare.paths`` names (or the
ones the project layout implies), the modules they hold, and how the base checkout's folders pair with
the working tree's. Apart from the gate: layout rules, no measuring.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from ...config import Settings
from ...project import project_facts
from . import git

_SKIP_NAMES: Final = frozenset({"conftest", "setup", "noxfile", "tests", "test"})


def code_paths(settings: Settings) -> list[str]:
    """``compare.paths``, else ``src`` when it exists, else the package folder named after ``[project] name``."""
    root = settings.rootdir
    if settings.compare.paths:
        for p in settings.compare.paths:
            if not (root / p).exists():
                raise git.CompareError(f"{settings.describe('compare.paths')}: {p!r} does not exist in {root}")
        return list(settings.compare.paths)
    if (root / "src").is_dir():
        return ["src"]
    name = project_facts(root)[0].get("name")
    if isinstance(name, str):
        module = name.lower().replace("-", "_").replace(".", "_")
        if (root / module).is_dir():
            return [module]
        if (root / f"{module}.py").is_file():
            return [f"{module}.py"]
    raise git.CompareError(
        "cannot tell which folder holds the code under test (no src/ folder, no folder named after "
        "[project] name): set paths in [tool.release_gates.compare], e.g. paths = [\"mypackage\"]")


def _module_name(p: Path) -> str | None:
    if p.is_dir():
        name = p.name
    elif p.suffix in (".py", ".so", ".pyd"):
        name = p.name.split(".", 1)[0]
    else:
        return None
    return name if name.isidentifier() and name not in _SKIP_NAMES else None


def layout(side_root: Path, paths: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(import roots, [(top-level module, its root)]) of ``paths`` under ``side_root``.

    A path that is itself a package or a module is imported from its parent
    (flat layout); any other folder is an import root (``src`` layout).
    """
    roots: list[str] = []
    modules: list[tuple[str, str]] = []
    for p in paths:
        loc = side_root / p
        if (loc.is_dir() and (loc / "__init__.py").is_file()) or (loc.is_file() and loc.suffix == ".py"):
            root, children = loc.parent, [loc]
        elif loc.is_dir():
            root, children = loc, sorted(loc.iterdir())
        else:
            continue
        if str(root) not in roots:
            roots.append(str(root))
        for child in children:
            name = _module_name(child)
            if name is None or any(m == name for m, _ in modules):
                continue
            if child.is_dir() and not (child / "__init__.py").is_file() and not any(child.rglob("*.py")):
                continue
            modules.append((name, str(root)))
    return roots, modules


def path_map(rootdir: Path, base_root: Path, cur_roots: Sequence[str], base_roots: Sequence[str],
             ) -> tuple[tuple[str, str], ...]:
    """Each working-tree import root paired with the same folder of the base revision, where it has one."""
    pairs = []
    for root in cur_roots:
        try:
            twin = str(base_root / Path(root).relative_to(rootdir))
        except ValueError:
            continue
        if twin in base_roots:
            pairs.append((root, twin))
    return tuple(pairs)
