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
from pytest_release_gates.gates.regression import make_entry
from pytest_release_gates.metrics import Metric
from pytest_release_gates.model import UsageError

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
    st.text(min_size=1, max_size=10).filter(lambda k: k not in ("schema", "meta", "regression", "coverage")),
    st.dictionaries(st.text(max_size=20), values, min_size=1, max_size=5),
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sections, st.dictionaries(st.text(max_size=8), values, max_size=3))
def test_round_trip_gives_identical_bytes(tmp_path: Path, secs: dict[str, Any], meta: dict[str, Any]) -> None:
    path, path2 = tmp_path / "b.json", tmp_path / "c.json"
    path.unlink(missing_ok=True)
    path2.unlink(missing_ok=True)
    bl.Baseline(path, sections=json.loads(json.dumps(secs)), meta=meta).save()
    written = path.read_bytes()
    loaded = bl.load(path)
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
    again = bl.load(path)
    assert not again.save()
    assert path.stat().st_mtime_ns == stamp and not (tmp_path / "b.json.bak").exists()
    again.section("coverage")["total"] = 80.0
    assert again.save()
    assert json.loads((tmp_path / "b.json.bak").read_text())["coverage"]["total"] == 81.5


def test_newer_schema_is_refused_naming_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"schema": "pytest-release-gates/baseline/7", "meta": {"plugin_version": "9.1"}}))
    with pytest.raises(UsageError, match=r"written by pytest-release-gates 9\.1.*upgrade"):
        bl.load(path)


def test_older_schema_migrates_on_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"schema": "pytest-release-gates/baseline/0", "metrics": {"k": 1.5}}))
    with pytest.raises(UsageError, match="too old to migrate"):
        bl.load(path)

    def zero_to_one(doc: dict[str, Any]) -> dict[str, Any]:
        doc["regression"] = {k: {"median": v, "count": 1} for k, v in doc.pop("metrics").items()}
        return doc

    monkeypatch.setitem(bl.MIGRATIONS, 0, zero_to_one)
    b = bl.load(path)
    assert b.migrated_from == 0
    assert b.get("regression") == {"k": {"median": 1.5, "count": 1}}
    assert '"schema": "pytest-release-gates/baseline/1"' in b.render()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"median": "12"}, r"regression entry 't::m': 'median' must be a number, got '12'"),
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
        bl.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_coverage_total_must_be_a_percentage(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"schema": bl.SCHEMA, "coverage": {"total": 140}}))
    with pytest.raises(UsageError, match="percentage"):
        bl.load(path)


def test_save_never_overwrites_a_file_that_became_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    b = bl.load(path)  # missing: empty baseline
    b.section("coverage")["total"] = 50.0
    path.write_text("{ not json")
    with pytest.raises(UsageError, match="not overwritten"):
        b.save()
    assert path.read_text() == "{ not json"


def test_machine_fingerprint_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bl.MACHINE_ENV, raising=False)
    fp = bl.machine_fingerprint()
    assert set(fp) == {"cpu", "cores", "platform"} and fp["cores"] >= 1
    assert bl.machine_id(fp) == bl.machine_id(dict(reversed(list(fp.items()))))
    monkeypatch.setenv(bl.MACHINE_ENV, "perf-runner")
    assert bl.machine_fingerprint() == {"name": "perf-runner"}


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
