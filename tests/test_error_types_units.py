"""Unit level: naming, matching and the pure comparison behind the ``new_error_type`` gate."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_release_gates.config import AcceptedType
from pytest_release_gates.gates.error_types.capture import (
    Expected,
    MarkerError,
    Project,
    name_matches,
    qualname,
    signature_key,
    type_from_traceback_text,
)
from pytest_release_gates.gates.error_types.decide import (
    aggregate,
    compare,
)
from pytest_release_gates.gates.error_types.watch import (
    SwallowWatcher,
)


class Timeout(Exception):
    pass


class ReadTimeout(Timeout):
    pass


def test_qualified_names() -> None:
    assert qualname(KeyError) == "builtins.KeyError"
    assert qualname(json.JSONDecodeError) == "json.decoder.JSONDecodeError"
    assert qualname(DeprecationWarning) == "DeprecationWarning"
    assert qualname(Timeout) == f"{__name__}.Timeout"


@pytest.mark.parametrize(("name", "type_name", "mro", "expected"), [
    ("KeyError", "builtins.KeyError", ["builtins.KeyError", "builtins.LookupError"], True),
    ("builtins.KeyError", "builtins.KeyError", ["builtins.KeyError"], True),
    ("LookupError", "builtins.KeyError", ["builtins.KeyError", "builtins.LookupError"], True),
    ("IndexError", "builtins.KeyError", ["builtins.KeyError", "builtins.LookupError"], False),
    ("Timeout", "myapp.errors.Timeout", ["myapp.errors.Timeout"], True),
    ("myapp.errors.Timeout", "myapp.errors.Timeout", ["myapp.errors.Timeout"], True),
    ("other.Timeout", "myapp.errors.Timeout", ["myapp.errors.Timeout"], False),
    ("logging:myapp", "logging:myapp.db", ["logging:myapp.db"], True),
    ("logging:myapp.db", "logging:myapp.db", ["logging:myapp.db"], True),
    ("logging:myap", "logging:myapp.db", ["logging:myapp.db"], False),
    ("DeprecationWarning", "DeprecationWarning", ["DeprecationWarning", "Warning"], True),
])
def test_name_matches(name: str, type_name: str, mro: list[str], expected: bool) -> None:
    assert name_matches(name, type_name, mro) is expected


def test_expected_classes_cover_subclasses_and_names_import() -> None:
    exp = Expected([Timeout, "json.decoder.JSONDecodeError", "OSError"])
    mro = [qualname(c) for c in ReadTimeout.__mro__ if c is not object]
    assert exp.covers(qualname(ReadTimeout), mro)
    assert exp.covers("json.decoder.JSONDecodeError", ["json.decoder.JSONDecodeError", "builtins.ValueError"])
    assert exp.covers("builtins.FileNotFoundError", ["builtins.FileNotFoundError", "builtins.OSError"])
    assert not exp.covers("builtins.KeyError", ["builtins.KeyError", "builtins.LookupError"])
    assert exp.notes == []


def test_expected_dotted_name_that_does_not_import_is_a_note_and_matches_by_class_name() -> None:
    exp = Expected(["nosuch.module.Timeout"])
    assert exp.notes == ["nosuch.module.Timeout"]
    assert exp.covers("app.Timeout", ["app.Timeout"])


@pytest.mark.parametrize("bad", [42, None, "", object(), int])
def test_expected_rejects_what_is_neither_class_nor_name(bad: object) -> None:
    with pytest.raises(MarkerError, match="argument 2"):
        Expected(["KeyError", bad])


def test_traceback_text_parsing() -> None:
    text = (
        "Exception ignored in: <function f at 0x1>\n\nTraceback (most recent call last):\n"
        '  File "/x/app.py", line 3, in f\n    raise KeyError(1)\nKeyError: 1\n\n'
        "Enable tracemalloc to get traceback where the object was allocated.\n"
    )
    assert type_from_traceback_text(text) == "builtins.KeyError"
    chained = text.replace("KeyError: 1", "KeyError: 1\n\nDuring handling of the above exception, another "
                           "exception occurred:\n\nTraceback (most recent call last):\n"
                           '  File "/x/app.py", line 5, in f\nmyapp.errors.Timeout: slow')
    assert type_from_traceback_text(chained) == "myapp.errors.Timeout"
    assert type_from_traceback_text("no traceback here") is None


def test_project_is_the_rootdir_without_installed_packages(tmp_path: Path) -> None:
    project = Project(tmp_path)
    assert project.contains(str(tmp_path / "app" / "db.py"))
    assert not project.contains(str(tmp_path / ".venv" / "lib" / "site-packages" / "requests" / "api.py"))
    assert not project.contains(json.__file__)
    assert not project.contains("<string>")
    assert project.module_of(str(tmp_path / "src" / "app" / "db.py")) == "app.db"
    assert project.module_of(str(tmp_path / "app" / "__init__.py")) == "app"


def _occ(type_name: str, origin: str, count: int = 1) -> dict[str, Any]:
    return {"kind": "error", "type": type_name, "origin": origin, "where": f"{origin}:1", "count": count,
            "mro": [type_name]}


def test_compare_classifies() -> None:
    seen = aggregate([
        ("t::a", _occ("builtins.KeyError", "app")),
        ("t::b", _occ("builtins.KeyError", "app")),
        ("t::a", _occ("builtins.OSError", "app", 3)),
        ("t::c", _occ("app.Flaky", "app")),
        ("t::c", _occ("app.Old", "app")),
        ("t::d", _occ("builtins.ValueError", "app")),
    ])
    assert seen["builtins.KeyError @ app"].count == 2
    assert seen["builtins.KeyError @ app"].first_test == "t::a"
    base = {
        "builtins.KeyError @ app": {"count": 2},
        "builtins.OSError @ app": {"count": 1},
        "builtins.TypeError @ app": {"count": 1},
    }
    known = (AcceptedType("Flaky"), AcceptedType("app.Old", owner="ops", expires=dt.date(2020, 1, 1)))
    result = compare(seen, base, known, today=dt.date(2024, 1, 1))
    assert result.new == ("builtins.ValueError @ app",)
    assert result.increased == ("builtins.OSError @ app",)
    assert result.unchanged == ("builtins.KeyError @ app",)
    assert [k for k, _ in result.known] == ["app.Flaky @ app"]
    assert [(k, a.owner) for k, a in result.expired] == [("app.Old @ app", "ops")]
    assert result.resolved == ("builtins.TypeError @ app",)


TYPES = st.sampled_from(["builtins.KeyError", "builtins.ValueError", "json.decoder.JSONDecodeError",
                         "DeprecationWarning", "logging:app", "app.Timeout"])
ORIGINS = st.sampled_from(["", "app", "app.db", "tests.test_x"])
OCCURRENCES = st.lists(
    st.tuples(st.sampled_from(["t::a", "t::b", "t::c", ""]), TYPES, ORIGINS, st.integers(1, 5)), max_size=40,
)


@given(occurrences=OCCURRENCES, baseline_keys=st.sets(st.tuples(TYPES, ORIGINS), max_size=10), data=st.data())
def test_new_types_are_seen_minus_baseline_in_any_order(
    occurrences: list[tuple[str, str, str, int]], baseline_keys: set[tuple[str, str]], data: st.DataObject,
) -> None:
    pairs = [(test, _occ(t, o, n)) for test, t, o, n in occurrences]
    shuffled = data.draw(st.permutations(pairs))
    base = {signature_key(t, o): {"count": 1} for t, o in baseline_keys}
    first = compare(aggregate(pairs), base)
    again = compare(aggregate(shuffled), base)
    seen_keys = {signature_key(t, o) for _test, t, o, _n in occurrences}
    assert set(first.new) == set(again.new) == seen_keys - set(base)
    assert set(first.resolved) == set(again.resolved) == set(base) - seen_keys
    assert set(first.increased) == set(again.increased)
    counts = {k: s.count for k, s in aggregate(shuffled).items()}
    assert counts == {k: s.count for k, s in aggregate(pairs).items()}
    assert sum(counts.values()) == sum(n for *_rest, n in occurrences)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is Python 3.12+")
def test_swallow_watcher_sees_only_handlers_in_scope(tmp_path: Path) -> None:
    pkg = tmp_path / "scoped_pkg_for_watcher"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "def swallow():\n    try:\n        {}['k']\n    except KeyError:\n        return None\n"
        "def leak():\n    {}['k']\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import scoped_pkg_for_watcher as mod

        got: list[BaseException] = []
        watcher = SwallowWatcher({str(pkg) + "/": "scoped_pkg_for_watcher"}, got.append)
        assert watcher.start() is None
        watcher.active = True
        try:
            mod.swallow()
            with pytest.raises(KeyError):  # handled outside the scope: not swallowed there
                mod.leak()
        finally:
            watcher.stop()
        assert [type(e) for e in got] == [KeyError]
        assert watcher.origin(got[0])[0] == "scoped_pkg_for_watcher"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("scoped_pkg_for_watcher", None)
