"""Properties of the one function that decides: order-free, monotonic, the maximum."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_release_gates import GateResult, Level, Status, reduce
from pytest_release_gates.cli import merge

gates = st.builds(
    GateResult,
    kind=st.sampled_from(["tests", "budget", "regression", "run", "custom"]),
    subject=st.text(max_size=8),
    status=st.sampled_from(list(Status)),
    level=st.sampled_from(list(Level)),
    message=st.text(max_size=8),
)


@given(st.lists(gates, max_size=30), st.randoms())
def test_order_does_not_matter(gs: list[GateResult], rnd) -> None:
    shuffled = gs[:]
    rnd.shuffle(shuffled)
    assert reduce(gs) == reduce(shuffled)


@given(st.lists(gates, max_size=30), gates)
def test_adding_a_failing_gate_never_improves(gs: list[GateResult], extra: GateResult) -> None:
    failing = GateResult(extra.kind, extra.subject, Status.FAIL, extra.level, extra.message)
    assert reduce([*gs, failing]).level >= reduce(gs).level


@given(st.lists(gates, max_size=30))
def test_verdict_is_max_level_of_failing_gates(gs: list[GateResult]) -> None:
    expected = max((g.level for g in gs if g.status is Status.FAIL), default=Level.DEPLOY)
    assert reduce(gs).level == expected
    if expected is Level.DEPLOY:
        assert reduce(gs).reasons == ()


@given(st.lists(gates, max_size=10))
def test_gate_json_round_trip(gs: list[GateResult]) -> None:
    for g in gs:
        assert GateResult.from_json(g.to_json()) == g


def _doc(level: Level, complete: bool) -> dict[str, object]:
    return {"verdict": str(level), "complete": complete, "reasons": [], "gates": [], "tests": {"passed": 1}}


@given(st.lists(st.tuples(st.sampled_from(list(Level)), st.booleans()), min_size=1, max_size=6))
def test_merge_is_worst_and_never_deploys_incomplete(shards: list[tuple[Level, bool]]) -> None:
    merged = merge([_doc(lv, c) for lv, c in shards])
    worst = max(lv for lv, _ in shards)
    if all(c for _, c in shards):
        assert merged["verdict"] == str(worst)
    else:
        assert merged["verdict"] == str(max(worst, Level.HOLD))
    assert merged["tests"]["passed"] == len(shards)
