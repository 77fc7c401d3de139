"""``release-gate baseline show`` and ``release-gate baseline diff``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_release_gates.cli import main

SCHEMA = "pytest-release-gates/baseline/1"


def doc(**regression: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "meta": {
            "project_version": "1.2.0",
            "python": "3.11.7",
            "machines": {"abc": {"cpu": "Xeon", "cores": 2, "platform": "Linux-x86_64"}},
        },
        "regression": {
            k.replace("__", "::"): {"median": v, "count": 1, "unit": "s", "direction": "lower"}
            for k, v in regression.items()
        },
        "coverage": {"total": 90.0},
    }


def put(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_show_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = doc(t__a=0.0123, t__b=2.5)
    data["regression"]["t::a"].update(owner="alice", expires="2030-01-01")
    f = put(tmp_path / "b.json", data)
    assert main(["baseline", "show", str(f)]) == 0
    out = capsys.readouterr().out
    assert "project version 1.2.0" in out and "Xeon, 2 cores" in out
    assert "regression  (2 metrics)" in out
    assert any("t::a" in line and "12.3 ms" in line and "until 2030-01-01 (alice)" in line for line in out.splitlines())
    assert "total  90.00%" in out


def test_show_one_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = put(tmp_path / "b.json", doc(t__a=1.0))
    assert main(["baseline", "show", "--kind", "coverage", str(f)]) == 0
    out = capsys.readouterr().out
    assert "total  90.00%" in out and "regression" not in out


def test_show_defaults_to_the_file_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    put(tmp_path / "release-gates.baseline.json", doc(t__a=1.0))
    monkeypatch.chdir(tmp_path)
    assert main(["baseline", "show"]) == 0
    assert "t::a" in capsys.readouterr().out


def test_diff_exit_1_when_something_got_worse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = put(tmp_path / "old.json", doc(t__a=1.0, t__b=1.0, t__gone=3.0))
    new = put(tmp_path / "new.json", doc(t__a=1.5, t__b=0.5, t__new=2.0))
    assert main(["baseline", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "t::a: 1 s -> 1.5 s (1.50x)  WORSE" in out
    assert "t::b: 1 s -> 500 ms (0.50x)  better" in out
    assert "+ t::new" in out and "- t::gone (removed)" in out
    assert "1 worse" in out
    assert main(["baseline", "diff", str(new), str(old)]) == 1  # t::b got worse the other way
    assert main(["baseline", "diff", "--tolerance", "2.5", str(new), str(old)]) == 0


def test_diff_of_calibrated_entries_scales_by_machine_speed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1 s -> 1.5 s recorded while the reference took 1.5x as long: the same speed, not worse."""
    a, b = doc(t__a=1.0, t__c=1.0, t__d=1.0), doc(t__a=1.5, t__c=3.0, t__d=1.0)
    for d, seconds in ((a, 4e-05), (b, 6e-05)):
        for e in d["regression"].values():
            e["reference"] = {"id": "loop-index/1", "seconds": seconds}
    old, new = put(tmp_path / "old.json", a), put(tmp_path / "new.json", b)
    assert main(["baseline", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    # The figures shown are the ones compared: the old median scaled to the machine's speed now.
    assert ("t::a: 1.5 s -> 1.5 s (1.00x); calibrated: the old median 1 s scaled 1.50x, as the machine's "
            "reference took 1.50x the old time") in out
    assert "t::c: 1.5 s -> 3 s (2.00x)  WORSE; calibrated" in out
    assert "t::d: 1.5 s -> 1 s (0.67x)  better; calibrated" in out  # as fast on a slower machine: smaller
    assert "1 worse" in out
    assert main(["baseline", "diff", str(new), str(old)]) == 1
    assert "t::d: 667 ms -> 1 s (1.50x)  WORSE; calibrated" in capsys.readouterr().out


def test_diff_coverage_drop_and_accepted_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = doc(t__a=1.0)
    b = doc(t__a=1.0)
    b["coverage"]["total"] = 88.5
    b["new_error_type"] = {"KeyError": {"reason": "legacy"}}
    old, new = put(tmp_path / "old.json", a), put(tmp_path / "new.json", b)
    assert main(["baseline", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "coverage: total 90.00% -> 88.50% (-1.50 points)  WORSE" in out
    assert "new_error_type: + KeyError" in out and "2 worse" in out


def test_diff_identical_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = put(tmp_path / "b.json", doc(t__a=1.0))
    assert main(["baseline", "diff", str(f), str(f)]) == 0
    assert "no changes" in capsys.readouterr().out


@pytest.mark.parametrize("content", ["", "{", '{"schema": "pytest-release-gates/baseline/9"}', "[]"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = put(tmp_path / "good.json", doc(t__a=1.0))
    for argv in (["baseline", "show", str(bad)], ["baseline", "diff", str(good), str(bad)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "bad.json" in err and "Traceback" not in err
    assert bad.read_text() == content


def test_missing_file_and_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "show", str(tmp_path / "nope.json")]) == 2
    assert "no such baseline file" in capsys.readouterr().err
    assert main(["baseline", "show", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
