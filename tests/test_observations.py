"""The observation dataclasses: what a gate ships from the test's process and reads back on the controller.

Round trips (``from_json(to_json(x)) == x``, also through JSON text as xdist ships it), the wire format
pinned to what the gates wrote before they had dataclasses (the same JSON, key for key and in order), and
malformed input: a shape a gate cannot use raises ``ValueError`` (the gate then fails closed as a failing
``run`` gate), a field with a default reads as absent. End to end, a malformed observation holds the run.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release_gates.calibration import Calibration
from pytest_release_gates.gates.budgets.observation import BudgetCheck, BudgetObservation
from pytest_release_gates.gates.regression.observed import MarkerObservation
from pytest_release_gates.gates.timeouts.observation import TimeoutObservation
from pytest_release_gates.metrics import MetricObservation, UnmeasuredObservation

RunGate = Callable[..., Any]

finite = st.floats(allow_nan=False, allow_infinity=False)
words = st.text(max_size=12)
some_words = st.text(min_size=1, max_size=12)
maybe = st.none

metric_observations = st.builds(
    MetricObservation,
    name=words,
    values=st.lists(finite, max_size=20).map(tuple),
    sampled=st.booleans(),
    higher_is_better=st.booleans(),
    tolerance=maybe() | finite,
    unit=words,
    source=words,
    calibration=maybe() | st.builds(Calibration, st.floats(min_value=1e-9, max_value=1e3),
                                    st.floats(min_value=0, max_value=1)),
    traced=maybe() | some_words,
    count_env=maybe() | st.dictionaries(words, words, min_size=1, max_size=4),
)
unmeasured_observations = st.builds(UnmeasuredObservation, words, words, words)
budget_checks = st.builds(
    BudgetCheck,
    metric=st.sampled_from(["seconds", "memory_mb", "p50", "p95", "p99"]),
    value=maybe() | finite,
    limit=finite,
    source=words,
    subject=maybe() | words,
    note=words,
    measure=maybe() | words,
    traced=maybe() | some_words,
    method=maybe() | words,
)
limits = st.dictionaries(st.sampled_from(["seconds", "memory_mb", "p50", "p95", "p99"]), finite)
budget_observations = st.builds(BudgetObservation, checked=st.just(False), limits=limits, why=words) | st.builds(
    BudgetObservation,
    checked=st.just(True),
    limits=limits,
    checks=st.lists(budget_checks, max_size=5).map(tuple),
    overrides=st.lists(words, max_size=3).map(tuple),
)
timeout_observations = st.builds(TimeoutObservation, finite, st.sampled_from(["setup", "call", "teardown"]),
                                 maybe() | finite) | st.builds(
    TimeoutObservation, finite, st.sampled_from(["setup", "call", "teardown"]), maybe() | finite, finite, finite)
marker_observations = st.builds(MarkerObservation, maybe() | finite, maybe() | some_words)

ALL = {
    "metric": (MetricObservation, metric_observations),
    "unmeasured": (UnmeasuredObservation, unmeasured_observations),
    "budget check": (BudgetCheck, budget_checks),
    "budget": (BudgetObservation, budget_observations),
    "timeout": (TimeoutObservation, timeout_observations),
    "regression marker": (MarkerObservation, marker_observations),
}


@pytest.mark.parametrize("name", ALL)
@settings(deadline=None, max_examples=60)
@given(data=st.data())
def test_round_trip(name: str, data: st.DataObject) -> None:
    cls, strategy = ALL[name]
    obs = data.draw(strategy)
    wire = obs.to_json()
    assert cls.from_json(wire) == obs
    assert cls.from_json(json.loads(json.dumps(wire))) == obs  # as xdist ships it: JSON values only
    assert json.dumps(cls.from_json(wire).to_json()) == json.dumps(wire)  # read and written again: same bytes


# ------------------------------------------------------------------ the wire format, as before


def test_metric_wire_format_is_unchanged() -> None:
    obs = MetricObservation("squares", (1.0, 2.5), True, tolerance=0.2, unit="s", source="perf",
                            calibration=Calibration(0.001, 0.9), traced="coverage", count_env={"python": "3.11"})
    assert list(obs.to_json().items()) == [
        ("name", "squares"), ("values", [1.0, 2.5]), ("sampled", True), ("higher_is_better", False),
        ("tolerance", 0.2), ("unit", "s"), ("source", "perf"), ("calibration", {"reference": 0.001, "cpu": 0.9}),
        ("traced", "coverage"), ("count_env", {"python": "3.11"}),
    ]
    bare = MetricObservation("m", (), False, count_env={}).to_json()
    assert (bare["calibration"], bare["traced"], bare["count_env"]) == (None, None, None)
    assert UnmeasuredObservation("n", "no valgrind", "instructions").to_json() == {
        "name": "n", "why": "no valgrind", "unit": "instructions"}


def test_budget_wire_format_is_unchanged() -> None:
    seconds = BudgetCheck("seconds", 0.5, 1.0, "marker", traced="coverage")
    memory = BudgetCheck("memory_mb", 3.0, 10.0, "config", method="tracemalloc")
    unmeasured = BudgetCheck("p95", None, 0.1, "config", "t.py::test::benchmark", "no rounds")
    perf = BudgetCheck("p50", 0.01, 0.1, "perf.measure", "t.py::test::fast", measure="fast")
    obs = BudgetObservation(True, {"seconds": 1.0}, checks=(seconds, memory, unmeasured, perf),
                            overrides=("seconds: marker 1.00 s overrides config 2.00 s",))
    assert json.dumps(obs.to_json()) == json.dumps({
        "checked": True,
        "checks": [
            {"metric": "seconds", "value": 0.5, "limit": 1.0, "source": "marker", "traced": "coverage"},
            {"metric": "memory_mb", "value": 3.0, "limit": 10.0, "source": "config", "method": "tracemalloc"},
            {"metric": "p95", "value": None, "limit": 0.1, "source": "config", "subject": "t.py::test::benchmark",
             "note": "no rounds"},
            {"metric": "p50", "value": 0.01, "limit": 0.1, "source": "perf.measure", "subject": "t.py::test::fast",
             "measure": "fast"},
        ],
        "limits": {"seconds": 1.0},
        "overrides": ["seconds: marker 1.00 s overrides config 2.00 s"],
    })
    assert json.dumps(BudgetObservation(False, {"seconds": 1.0}, "skipped").to_json()) == json.dumps(
        {"checked": False, "why": "skipped", "limits": {"seconds": 1.0}})
    assert "overrides" not in BudgetObservation(True, {}).to_json()


def test_timeout_and_marker_wire_format_is_unchanged() -> None:
    assert json.dumps(TimeoutObservation(2.0, "call", 2.01).to_json()) == json.dumps(
        {"limit": 2.0, "when": "call", "duration": 2.01})
    assert json.dumps(TimeoutObservation(3.0, "call", 3.0, 3.0, 1.0).to_json()) == json.dumps(
        {"limit": 3.0, "when": "call", "duration": 3.0, "hang": {"factor": 3.0, "budget": 1.0}})
    assert json.dumps(MarkerObservation(0.1, None).to_json()) == json.dumps({"tolerance": 0.1, "traced": None})


# ------------------------------------------------------------------ malformed input


@pytest.mark.parametrize("cls", [MetricObservation, UnmeasuredObservation, BudgetCheck, BudgetObservation,
                                 TimeoutObservation])
@pytest.mark.parametrize("data", [None, "budget", 3, ["a"]])
def test_not_an_object_is_a_value_error(cls: Any, data: object) -> None:
    with pytest.raises(ValueError, match=r"malformed .* observation: expected an object"):
        cls.from_json(data)


@pytest.mark.parametrize(("cls", "data", "match"), [
    (MetricObservation, {"values": [1.0]}, "no 'name'"),
    (MetricObservation, {"name": "m", "values": 3}, "'values' is not a list"),
    (BudgetCheck, {"value": 1.0, "limit": 1.0}, "no 'metric'"),
    (BudgetCheck, {"metric": "seconds", "value": 1.0}, "no 'limit'"),
    (BudgetCheck, {"metric": "seconds", "value": "fast", "limit": 1.0}, "'value' is not a number"),
    (BudgetObservation, {"checked": True, "checks": [{"metric": "seconds"}]}, "no 'limit'"),
    (BudgetObservation, {"checked": True, "checks": {"metric": "seconds"}}, "must be lists"),
    (BudgetObservation, {"checked": False, "limits": {"seconds": "soon"}}, "'seconds' is not a number"),
    (BudgetObservation, {"checked": False, "limits": None}, "expected an object"),
    (TimeoutObservation, {"when": "call"}, "no 'limit'"),
    (TimeoutObservation, {"limit": 1.0, "hang": {"factor": 3.0}}, "no 'budget'"),
])
def test_a_missing_or_unusable_required_field_is_a_value_error(cls: Any, data: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cls.from_json(data)


def test_optional_fields_read_as_absent() -> None:
    """As the readers did before: defaults for what is missing, unusable samples dropped."""
    m = MetricObservation.from_json({"name": 7, "values": [1, 2.5, "x", float("nan"), float("inf")],
                                     "tolerance": "wide", "calibration": {"reference": -1}, "traced": "",
                                     "count_env": {}})
    assert m == MetricObservation("7", (1.0, 2.5), False)
    assert UnmeasuredObservation.from_json({}) == UnmeasuredObservation("None", "None", "")
    assert BudgetObservation.from_json({}) == BudgetObservation(False, {})
    assert BudgetCheck.from_json({"metric": "seconds", "limit": "2"}) == BudgetCheck("seconds", None, 2.0, "")
    t = TimeoutObservation.from_json({"limit": 2, "duration": "long", "hang": {}})
    assert t == TimeoutObservation(2.0, "None", None) and not t.hang


@pytest.mark.parametrize("data", [None, [], "x", {"tolerance": True, "traced": 3}, {"tolerance": "1"}])
def test_a_regression_marker_observation_never_fails(data: object) -> None:
    """It only carries options: unusable ones read as the config's tolerance, untraced."""
    assert MarkerObservation.from_json(data) == MarkerObservation()


def test_budget_check_over_ignores_traced_and_unmeasured() -> None:
    assert BudgetCheck("seconds", 2.0, 1.0, "marker").over
    assert not BudgetCheck("seconds", 2.0, 1.0, "marker", traced="coverage").over
    assert not BudgetCheck("seconds", None, 1.0, "marker").over
    assert not BudgetCheck("seconds", 1.0, 1.0, "marker").over


# ------------------------------------------------------------------ end to end


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_a_malformed_observation_holds_the_run(pytester: pytest.Pytester, run_gate: RunGate, xdist: bool) -> None:
    """A worker of another version (here a conftest) ships a budget check with no limit: the budget gate
    fails closed as a failing ``run`` gate naming it, the run still ends with a verdict, and the other
    gates are still checked."""
    pytester.makeconftest(textwrap.dedent("""
        import pytest
        from pytest_release_gates import observe

        @pytest.hookimpl(trylast=True)
        def pytest_runtest_setup(item):
            observe(item, "budget", {"checked": True, "checks": [{"metric": "seconds", "value": 1.0}]})
    """))
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    run = run_gate(*(["-n", "2"] if xdist else []))
    assert run.level == "hold", run.result.stdout.str()
    crashed = [g for g in run.gates("run", "fail") if "crashed" in g["message"]]
    assert len(crashed) == 1, run.verdict["gates"]
    assert "ValueError: malformed 'budget' observation: no 'limit'" in crashed[0]["message"]
    assert run.gates("tests", "pass")


def test_worker_output_round_trips_and_a_malformed_one_is_ignored() -> None:
    """``workeroutput`` as a worker of another version might leave it: what is not the shape is skipped."""
    from pathlib import Path

    from pytest_release_gates.config import Settings
    from pytest_release_gates.session import WORKEROUTPUT_KEY, GateSession

    worker = GateSession(Settings(rootdir=Path(".")), is_worker=True)
    worker.session_observations["note"].append({"subject": "s", "message": "m"})
    worker.collected, worker.deselected = 3, 1
    controller = GateSession(Settings(rootdir=Path(".")), is_worker=False)
    controller.merge_worker_output({WORKEROUTPUT_KEY: json.loads(json.dumps(worker.worker_output()))})
    assert controller.session_observations["note"] == [{"subject": "s", "message": "m"}]
    assert (controller.collected, controller.deselected) == (3, 1)
    for bad in ({WORKEROUTPUT_KEY: {"session": ["note"], "collected": "many"}},
                {WORKEROUTPUT_KEY: {"session": {"note": 3}, "deselected": None}}, {WORKEROUTPUT_KEY: 7}, {}):
        controller.merge_worker_output(bad)
    assert controller.session_observations["note"] == [{"subject": "s", "message": "m"}]
    assert (controller.collected, controller.deselected) == (3, 1)
