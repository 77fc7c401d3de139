"""The baseline store as a unit: deterministic bytes, migrations, validation, never overwriting a bad file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_release_gates import baseline as bl
from pytest_release_gates import baseline_merge as bm
from pytest_release_gates import machine
from pytest_release_gates.gates import BUILTIN
from pytest_release_gates.gates.regression.entries import make_entry
from pytest_release_gates.metrics import Metric
from pytest_release_gates.model import UsageError

BASELINE_SECTIONS = BUILTIN.sections()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)
sections = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in ("schema", "meta", *dict(BASELINE_SECTIONS))),
    st.dictionaries(st.text(max_size=20), values, min_size=1, max_size=5),
    max_size=4,
)
#: Keys of ``meta`` the core validates (strings, the machine table): left out of the free-form meta below.
META_KEYS = ("machines", "plugin_version", "project_version", "python")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sections, st.dictionaries(st.text(max_size=8).filter(lambda k: k not in META_KEYS), values, max_size=3))
def test_round_trip_gives_identical_bytes(tmp_path: Path, secs: dict[str, Any], meta: dict[str, Any]) -> None:
    path, path2 = tmp_path / "b.json", tmp_path / "c.json"
    path.unlink(missing_ok=True)
    path2.unlink(missing_ok=True)
    bl.Baseline(path, sections=json.loads(json.dumps(secs)), meta=meta).save()
    written = path.read_bytes()
    loaded = bl.load(path, validators=BASELINE_SECTIONS)
    assert not loaded.changed  # nothing to rewrite
    bl.Baseline(path2, sections=loaded.sections, meta=loaded.meta).save()
    assert path2.read_bytes() == written


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_rounding_is_idempotent(x: float) -> None:
    r = bl.round_float(x)
    assert r is not None and bl.round_float(r) == r
    assert json.loads(json.dumps(r)) == r


def test_layout_is_sorted_indented_and_keeps_samples_on_one_line(tmp_path: Path) -> None:
    b = bl.Baseline(
        tmp_path / "b.json",
        sections={
            "regression": {
                "t.py::test_b::x": {"median": 1.23456789, "samples": [1.0, 2.0, 3.0], "count": 3},
                "t.py::test_a::x": {"median": 2, "count": 1},
            }
        },
    )
    text = b.render()
    assert text.index("test_a") < text.index("test_b")
    assert '"samples": [1.0, 2.0, 3.0]' in text
    assert '"median": 1.23457' in text
    assert text.endswith("}\n") and text.startswith("{\n  ")


def test_unchanged_save_does_not_touch_the_file(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    b = bl.Baseline(path, sections={"coverage": {"total": 81.5}})
    assert b.save()
    stamp = path.stat().st_mtime_ns
    time.sleep(0.01)
    again = bl.load(path, validators=BASELINE_SECTIONS)
    assert not again.save()
    backup = tmp_path / ".release-gates" / "b.json.bak"  # machine files, beside the lock
    assert path.stat().st_mtime_ns == stamp and not backup.exists()
    again.section("coverage")["total"] = 80.0
    assert again.save()
    assert json.loads(backup.read_text())["coverage"]["total"] == 81.5
    assert not (tmp_path / "b.json.bak").exists()  # never beside the committed file


def test_newer_schema_is_refused_naming_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"schema": "pytest-release-gates/baseline/7", "meta": {"plugin_version": "9.1"}}))
    with pytest.raises(UsageError, match=r"written by pytest-release-gates 9\.1.*upgrade"):
        bl.load(path, validators=BASELINE_SECTIONS)


def test_older_schema_migrates_on_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"schema": "pytest-release-gates/baseline/0", "metrics": {"k": 1.5}}))
    with pytest.raises(UsageError, match="too old to migrate"):
        bl.load(path, validators=BASELINE_SECTIONS)

    def zero_to_one(doc: dict[str, Any]) -> dict[str, Any]:
        doc["regression"] = {k: {"median": v, "count": 1} for k, v in doc.pop("metrics").items()}
        return doc

    monkeypatch.setitem(bl.MIGRATIONS, 0, zero_to_one)
    b = bl.load(path, validators=BASELINE_SECTIONS)
    assert b.migrated_from == 0
    assert b.get("regression") == {"k": {"median": 1.5, "count": 1}}
    assert '"schema": "pytest-release-gates/baseline/1"' in b.render()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"median": "12"}, r"regression entry 't::m': 'median' must be a number, got \"12\""),
        ({"count": 3}, r"'median' is missing"),
        ({"median": 1, "samples": [1, "x"]}, r"'samples' must be a list of numbers"),
        ({"median": 1, "direction": "up"}, r"'direction' must be 'lower' or 'higher'"),
        ({"median": 1, "expires": "next week"}, r"'expires' must be a date \(YYYY-MM-DD\)"),
        ({"median": 1, "count": 0}, r"'count' must be a whole number"),
        ({"median": 1, "reference": 4e-05}, r"'reference' must be \{\"id\": <string>, \"seconds\": <positive nu"),
        ({"median": 1, "reference": {"id": "loop-index/1", "seconds": 0}}, r"'reference' must be"),
        ({"median": 1, "reference": {"seconds": 4e-05}}, r"'reference' must be"),
        ("fast", r"must be an object"),
    ],
)
def test_bad_entries_name_file_and_entry(tmp_path: Path, entry: Any, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"schema": bl.SCHEMA, "regression": {"t::m": entry}}))
    with pytest.raises(UsageError, match=message) as info:
        bl.load(path, validators=BASELINE_SECTIONS)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_coverage_total_must_be_a_percentage(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"schema": bl.SCHEMA, "coverage": {"total": 140}}))
    with pytest.raises(UsageError, match="percentage"):
        bl.load(path, validators=BASELINE_SECTIONS)


def test_save_never_overwrites_a_file_that_became_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    b = bl.load(path, validators=BASELINE_SECTIONS)  # missing: empty baseline
    b.section("coverage")["total"] = 50.0
    path.write_text("{ not json")
    with pytest.raises(UsageError, match="not overwritten"):
        b.save()
    assert path.read_text() == "{ not json"


def test_machine_fingerprint_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(machine.MACHINE_ENV, raising=False)
    fp = machine.machine_fingerprint()
    assert set(fp) == {"cpu", "cores", "platform"} and fp["cores"] >= 1
    assert machine.machine_id(fp) == machine.machine_id(dict(reversed(list(fp.items()))))
    monkeypatch.setenv(machine.MACHINE_ENV, "perf-runner")
    assert machine.machine_fingerprint() == {"name": "perf-runner"}


def test_a_thousand_metric_baseline_stays_under_a_megabyte(tmp_path: Path) -> None:
    import random

    rng = random.Random(0)
    b = bl.Baseline(tmp_path / "b.json")
    sec = b.section("regression")
    for i in range(1000):
        samples = tuple(0.001234 * rng.lognormvariate(0, 0.1) for _ in range(200))
        m = Metric(
            f"tests/perf/test_module_{i % 37}.py::test_function_number_{i}[param-{i % 5}]",
            "measure",
            samples,
            sampled=True,
            source="perf",
        )
        sec[m.key] = make_entry(m, "abcdef123456")
    assert b.save()
    size = (tmp_path / "b.json").stat().st_size
    assert size < 1_000_000, size


# ------------------------------------------------------------ merge by entry (concurrent updates)

keys = st.sampled_from(["a", "b", "c", "d", "e"])
entry_values = st.one_of(st.integers(0, 3), st.dictionaries(st.sampled_from(["median", "count"]), st.integers(1, 3),
                                                            max_size=2))
documents = st.fixed_dictionaries(
    {},
    optional={
        "regression": st.dictionaries(keys, entry_values, max_size=4),
        "error_types": st.dictionaries(keys, entry_values, max_size=4),
        "meta": st.fixed_dictionaries({}, optional={
            "python": st.sampled_from(["3.11.7", "3.12.1"]),
            "machines": st.dictionaries(keys, st.dictionaries(st.just("cores"), st.integers(1, 4)), max_size=3),
        }),
    },
)
#: A change set: entry path -> new value, or None to remove the entry.
changes = st.dictionaries(
    st.tuples(st.sampled_from(["regression", "error_types"]), keys)
    | st.tuples(st.just("meta"), st.just("machines"), keys)
    | st.tuples(st.just("meta"), st.just("python")),
    st.none() | entry_values,
    max_size=5,
)


def applied(doc: dict[str, Any], change: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    entries = bm.units(doc)
    for path, value in change.items():
        if value is None:
            entries.pop(path, None)
        else:
            entries[path] = value
    return bm.from_units(entries)


@settings(max_examples=300, deadline=None)
@given(documents, changes, changes)
def test_disjoint_changes_merge_the_same_in_either_order(base: dict[str, Any], mine: dict[tuple[str, ...], Any],
                                                         theirs: dict[tuple[str, ...], Any]) -> None:
    theirs = {k: v for k, v in theirs.items() if k not in mine}
    base = bm.from_units(bm.units(base))
    a, b = applied(base, mine), applied(base, theirs)
    a_then_b = bm.merge(base, b, bm.merge(base, a, base))
    b_then_a = bm.merge(base, a, bm.merge(base, b, base))
    assert bl.render(a_then_b) == bl.render(b_then_a)
    for path, value in {**mine, **theirs}.items():  # both runs' changes are in the file
        assert bm.units(a_then_b).get(path) == value


@settings(max_examples=300, deadline=None)
@given(documents, documents, documents)
def test_a_runs_own_changes_are_written_or_it_holds(base: dict[str, Any], mine: dict[str, Any],
                                                    now: dict[str, Any]) -> None:
    b, m, n = bm.units(base), bm.units(mine), bm.units(now)
    try:
        merged = bm.units(bm.merge(base, mine, now))
    except bm.MergeConflict as exc:
        # only an entry both changed, to different values
        assert b.get(exc.unit) != m.get(exc.unit) and n.get(exc.unit) not in (b.get(exc.unit), m.get(exc.unit))
        return
    for path in b.keys() | m.keys():
        if b.get(path) != m.get(path):
            assert merged.get(path) == m.get(path)  # this run's change is in the file
            assert n.get(path) in (b.get(path), m.get(path))  # and did not overwrite another run's
        else:
            assert merged.get(path) == n.get(path)  # everything else is the file as it is now
    for path in n.keys() - b.keys() - m.keys():
        assert merged[path] == n[path]  # what another run added is kept


def test_merge_tells_one_from_one_point_oh() -> None:
    with pytest.raises(bm.MergeConflict):
        bm.merge({"coverage": {"total": 80}}, {"coverage": {"total": 81}}, {"coverage": {"total": 80.0}})


def test_save_applies_this_runs_changes_onto_the_file_as_it_is_now(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    bl.Baseline(path, sections={"regression": {"t::a": {"median": 1.0, "count": 1}}}).save()
    first = bl.load(path, validators=BASELINE_SECTIONS)
    second = bl.load(path, validators=BASELINE_SECTIONS)
    first.section("regression")["t::b"] = {"median": 2.0, "count": 1}
    second.section("regression")["t::c"] = {"median": 3.0, "count": 1}
    del second.section("regression")["t::a"]
    assert first.save() and second.save()
    assert sorted(json.loads(path.read_text())["regression"]) == ["t::b", "t::c"]
    assert sorted(second.get("regression")) == ["t::b", "t::c"]  # the run now sees what it wrote


def test_save_holds_when_another_run_changed_the_same_entry(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    first = bl.load(path, validators=BASELINE_SECTIONS)  # no file yet: both runs start empty
    second = bl.load(path, validators=BASELINE_SECTIONS)
    first.section("coverage")["total"] = 80.0
    second.section("coverage")["total"] = 90.0
    assert first.save()
    written = path.read_bytes()
    with pytest.raises(bm.MergeConflict, match=r"b\.json: another run changed coverage entry 'total' differently"):
        second.save()
    assert path.read_bytes() == written


def test_save_waits_for_the_lock_then_gives_up_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from pytest_release_gates import locking

    path = tmp_path / "b.json"
    b = bl.load(path, validators=BASELINE_SECTIONS)
    b.section("coverage")["total"] = 80.0
    monkeypatch.setattr(locking, "TIMEOUT_S", 0.2)
    lock = tmp_path / ".release-gates" / "b.json.lock"
    with locking.locked(lock, what="test"):
        with pytest.raises(locking.LockTimeout, match=r"b\.json\.lock: could not lock the baseline .* within 0\.2 s"):
            b.save()
        assert not path.exists()
    assert b.save() and path.exists()
