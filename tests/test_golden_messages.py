"""Every message a user reads, rendered once and compared with committed golden files.

Each area (a gate kind, the run itself, the terminal summary, the ``release-gate`` command) drives
real ``pytest --release-gate -v`` runs through pytester where a message is practical to reach, and
unit calls where it is not (sampled timings, another machine, calibration, the same-job A/B). Every
line of the release-gate section (each gate as ``FAIL subject message -> level``, then the summary
lines), every command output and every unit-rendered message is normalised (paths, numbers,
dates, hashes, the machine's description), de-duplicated and sorted into
``tests/golden/messages/<area>.txt``, so a review sees each template once.

Two checks run on the raw text, before normalising: no doubled word (``partial partial run``) and
no bare unit (a number glued to its unit, ``1.42s``, or ``us`` for ``µs``).

Regenerate after changing a message, and review the diff:

    RELEASE_GATES_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -p no:cacheprovider -q tests/test_golden_messages.py -n 2
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import textwrap
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import NO_HYPOTHESIS

GOLDEN = Path(__file__).parent / "golden" / "messages"
UPDATE = os.environ.get("RELEASE_GATES_UPDATE_GOLDEN") == "1"

#: Doubled words that another change fixes (remove the entry when it lands).
PENDING_DOUBLED: frozenset[str] = frozenset()

_DOUBLED = re.compile(r"\b([A-Za-z_][\w-]*) \1\b")
_BARE_UNIT = re.compile(r"\d(?:s|ms|us|µs|ns|MB)\b|\d us\b")


# ------------------------------------------------------------------ collecting


class Messages:
    """Lines of one area, by section, with the raw text kept for the checks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sections: dict[str, set[str]] = {}
        self.raw: list[str] = []

    def add(self, section: str, lines: Iterable[str], *, numbers: bool = False) -> None:
        """``numbers``: keep the numbers (exit statuses)."""
        for line in lines:
            line = line.rstrip()
            if line.strip():
                self.raw.append(line)
                self.sections.setdefault(section, set()).add(normalise(line, self.root, numbers=numbers))

    def gate_section(self, stdout: str, label: str = "") -> None:
        """The release-gate section of a run: gate lines by kind, everything else as summary."""
        if "release gate: " not in stdout:
            return
        text = stdout[stdout.index("release gate: "):]
        kind = "summary"
        for i, line in enumerate(text.splitlines()):
            if i and not line.startswith("  "):  # the section is its head line and indented lines
                break
            m = re.fullmatch(r"  ([a-z_]+):", line)
            if m:
                kind = m.group(1)
                continue
            if line.startswith("    ") and kind != "summary":
                self.add(f"gate {kind}", [line.strip()])
            else:
                kind = "summary"
                self.add("summary" + label, [line.strip()])

    def render(self) -> str:
        out = []
        for section in sorted(self.sections):
            out.append(f"[{section}]")
            out.extend(sorted(self.sections[section]))
            out.append("")
        return "\n".join(out)


def normalise(line: str, root: Path, *, numbers: bool = False) -> str:
    """Stable text: paths, hashes, dates, numbers, sparklines and the machine's description replaced.

    Every number is ``N`` (``1.42x`` and ``0.85x`` read ``Nx``) and a time below a second ``N <s/1000^k>``
    (the same code measures in ns or µs from run to run): which values a run measures is not the point,
    how they read is; the unit spellings are checked on the raw text (:func:`check`)."""
    for base in {str(root), str(root.resolve())}:
        line = line.replace(base, "<root>")
    line = re.sub(r"/tmp/\S+", "<tmp>", line)
    line = re.sub(r"this one: [^;)]*", "this one: <machine>", line)
    line = re.sub(r"\b[0-9a-f]{12,64}\b", "<hash>", line)
    line = re.sub(r"\d{4}-\d{2}-\d{2}", "<date>", line)
    line = re.sub(r"0x[0-9a-f]+", "<addr>", line)
    line = re.sub(r"[▁▂▃▅▇]+", "<sparkline>", line)
    if not numbers:
        line = re.sub(r"[+-](?=\d+(?:\.\d+)?% vs previous run)", "±", line)  # a timing's trend goes either way
        line = re.sub(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", "N", line)
        line = re.sub(r"\bN (?:ms|µs|ns)\b", "N <s/1000^k>", line)  # a timing below 1 s: ms, µs or ns by run
    return line


def check(messages: Messages) -> list[str]:
    """Doubled words and bare units in the raw lines (pending fixes elsewhere excepted)."""
    problems = []
    for line in messages.raw:
        for m in _DOUBLED.finditer(line):
            if m.group(0) not in PENDING_DOUBLED and not m.group(1).isdigit():
                problems.append(f"doubled word {m.group(0)!r}: {line}")
        for m in _BARE_UNIT.finditer(line):
            problems.append(f"bare unit {m.group(0)!r}: {line}")
    return problems


# ------------------------------------------------------------------ running


class Project:
    """One scenario folder inside pytester, run with ``pytest --release-gate -v``."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.pytester = pytester
        self.path = pytester.mkdir(name)
        self.monkeypatch = monkeypatch

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            p = self.path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    def config(self, body: str, *, project: str = 'name = "demo"\nversion = "1.0"') -> None:
        self.write({"pyproject.toml": f"[project]\n{project}\n\n[tool.release_gates]\n{textwrap.dedent(body)}"})

    def run(self, *args: str, env: dict[str, str] | None = None) -> pytest.RunResult:
        self.monkeypatch.chdir(self.path)
        with self.monkeypatch.context() as mp:
            for k, v in (env or {}).items():
                mp.setenv(k, v)
            plugins = NO_HYPOTHESIS
            return self.pytester.runpytest_subprocess("--release-gate", "-p", "no:cacheprovider", *plugins, "-v",
                                                      *args)

    def cli(self, *args: str) -> pytest.RunResult:
        self.monkeypatch.chdir(self.path)
        return self.pytester.run(sys.executable, "-m", "pytest_release_gates", *args)

    @property
    def baseline(self) -> dict[str, Any]:
        return json.loads((self.path / "release-gates.baseline.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def save_baseline(self, doc: dict[str, Any]) -> None:
        (self.path / "release-gates.baseline.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")


def gate_lines(results: Iterable[Any]) -> list[str]:
    """Unit-rendered gate results, as the terminal shows them."""
    out = []
    for g in results:
        mark = {"fail": "FAIL", "warn": "warn", "pass": "pass"}[str(g.status)]
        level = f" -> {g.level}" if str(g.status) == "fail" else ""
        out.append(f"{mark} {g.subject + ' ' if g.subject else ''}{g.message}{level}")
    return out


# ------------------------------------------------------------------ areas


def area_tests_and_run(p: Project, m: Messages) -> None:
    p.config('flaky_level = "warn"\n')
    p.write({"test_t.py": """
        import pytest

        def test_pass():
            pass

        def test_fail():
            assert 1 == 2

        @pytest.mark.gate(severity="critical")
        def test_critical():
            assert False, "boom"

        @pytest.mark.gate(severity="minor")
        def test_minor():
            assert False

        @pytest.fixture
        def broken():
            raise RuntimeError("setup broke")

        def test_setup_error(broken):
            pass

        def test_skip():
            pytest.skip("no")

        @pytest.mark.xfail(strict=True)
        def test_xpass():
            pass
    """})
    m.gate_section(p.run().stdout.str())
    r = p.run()  # the same failures again: repeated failures
    m.gate_section(r.stdout.str())
    m.gate_section(p.run("-q", "-q").stdout.str(), " -q")
    m.gate_section(p.run("-x").stdout.str())  # stopped early
    m.gate_section(p.run("-k", "nomatch").stdout.str())  # partial, nothing selected
    p.write({"test_t.py": "import pytest\ndef test_skip():\n    pytest.skip('no')\n"})
    m.gate_section(p.run().stdout.str())  # all skipped
    p.write({"test_t.py": "def test_ok():\n    pass\n", "test_bad.py": "import no_such_module\n"})
    m.gate_section(p.run().stdout.str())  # collection error
    p.write({"test_bad.py": "def test_stop():\n    raise KeyboardInterrupt\n"})
    m.gate_section(p.run().stdout.str())  # interrupted
    (p.path / "test_bad.py").unlink()
    p.write({"conftest.py": """
        def pytest_release_gates_collect(context):
            raise ValueError("a third-party gate broke")

        def pytest_release_gates_verdict(gates, context):
            raise RuntimeError("a policy broke")
    """})
    m.gate_section(p.run().stdout.str())
    # Paths hard to reach in a run: an internal error, a crashed xdist worker, status 1 without a failure.
    from pytest_release_gates.config import Settings
    from pytest_release_gates.gates.run import gate as run_gate
    from pytest_release_gates.model import TestCounts

    for status, crashed in ((3, []), (1, ["gw1"])):
        session = types.SimpleNamespace(collection_errors=[], crashed_workers=crashed, stopped=None)
        context = types.SimpleNamespace(session=session, exitstatus=status, partial=None, settings=Settings(),
                                        counts=lambda: TestCounts(collected=1, passed=1))
        m.add("gate run", gate_lines(run_gate.Gate(Settings()).pytest_release_gates_collect(context)))  # type: ignore[arg-type]


def area_budgets(p: Project, m: Messages) -> None:
    p.config("""
        warn_fraction = 0.8

        [tool.release_gates.budgets]
        "test_b.py::test_under" = { seconds = 60 }
        "nothing/*" = { seconds = 1 }
    """)
    p.write({"test_b.py": """
        import time
        import pytest

        @pytest.mark.budget(0.05)
        def test_over():
            time.sleep(0.2)

        @pytest.mark.budget(30)
        def test_under():
            pass

        @pytest.mark.budget(seconds=30, memory_mb=500)
        def test_memory():
            bytearray(1000)

        @pytest.mark.budget(p50=10, p95=10)
        def test_perf(perf):
            perf.measure(lambda: None, rounds=5, warmup=0, name="noop", p99=10)

        @pytest.mark.budget(p95=10)
        def test_no_samples():
            pass

        @pytest.mark.budget(30)
        def test_skipped():
            pytest.skip("later")

        @pytest.mark.budget(30)
        def test_fails():
            assert False

        @pytest.mark.budget(0.05)
        def test_hangs():
            time.sleep(5)

        @pytest.mark.timeout(0.3)
        def test_times_out():
            time.sleep(3)

        @pytest.mark.budget(p50=10)
        def test_bench(benchmark):
            benchmark(lambda: None)
    """})
    m.gate_section(p.run().stdout.str())
    p.config("warn_fraction = 0.000001\n")
    p.write({"test_b.py": """
        import pytest

        @pytest.mark.budget(seconds=30, memory_mb=500)
        def test_close(perf):
            held = b"x" * (20 * 1024 * 1024)  # a peak well above 0, so "close to budget" whatever ran before
            perf.measure(lambda: None, rounds=5, warmup=0, name="noop", p50=10)
            assert len(held) > 0

        @pytest.mark.parametrize("i", range(101))
        @pytest.mark.budget(30)
        def test_many(i):
            pass
    """})
    m.gate_section(p.run().stdout.str())  # close to budget, and more passes than are listed
    m.gate_section(p.run("-p", "no:timeout").stdout.str())  # hang protection needs pytest-timeout


def area_error_types(p: Project, m: Messages) -> None:
    p.config("")
    p.write({"test_e.py": """
        import logging, os, warnings
        import pytest

        def test_log():
            for _ in range(int(os.environ.get("LOGS", "1"))):
                logging.getLogger("app").error("x")

        def test_raise():
            raise KeyError("k")

        def test_warn():
            if not os.environ.get("QUIET"):
                warnings.warn("old", DeprecationWarning)

        @pytest.mark.expected_errors("no_such_module.Error")
        def test_expected():
            pass
    """})
    m.gate_section(p.run().stdout.str())  # no baseline: every type is new
    m.gate_section(p.run("--gate-update-baseline").stdout.str())
    p.write({"test_more.py": """
        def test_value():
            raise ValueError("v")

        def test_type():
            raise TypeError("t")

        def test_lookup():
            raise LookupError("l")
    """})
    p.config("""
        known_error_types = [
          "TypeError",
          { type = "ValueError", reason = "vendor bug #1", owner = "ann", expires = "2000-01-01" },
        ]
        new_warning_types = "warn"
    """)
    m.gate_section(p.run(env={"LOGS": "3", "QUIET": "1"}).stdout.str())  # rose, resolved, known, expired
    m.gate_section(p.run("--gate-update-baseline", env={"QUIET": "1"}).stdout.str())
    p.config('new_error_types = "off"\nnew_warning_types = "off"\n')
    m.gate_section(p.run().stdout.str())


def area_regression(p: Project, m: Messages) -> None:
    p.config("", project='name = "demo"\nversion = "2.0"')
    p.write({"test_m.py": """
        import os
        import pytest

        def value(name, default):
            return float(os.environ.get(name, default))

        def test_size(gate_metric):
            gate_metric("size", value("SIZE", "100"))

        def test_accuracy(gate_metric):
            gate_metric("accuracy", value("ACC", "0.9"), higher_is_better=True)

        def test_count(gate_metric):
            gate_metric("count", value("COUNT", "10"), higher_is_better=bool(os.environ.get("FLIP")))

        def test_loose(gate_metric):
            gate_metric("loose", value("LOOSE", "10"), tolerance=0.5)
    """, "test_timed.py": """
        import pytest

        @pytest.mark.regression
        def test_timed():
            pass
    """})
    m.gate_section(p.run().stdout.str())  # new metrics, no baseline yet
    (p.path / "test_timed.py").unlink()  # a duration compares by its timing: not the same from run to run
    m.gate_section(p.run("--gate-update-baseline").stdout.str())
    changed = {"SIZE": "130", "ACC": "0.5", "COUNT": "5", "LOOSE": "12"}
    m.gate_section(p.run(env=changed).stdout.str())  # regressed, rollback, better (stale), within tolerance
    m.gate_section(p.run("--gate-update-baseline", "-k", "not loose", env={**changed, "CI": "1"}).stdout.str())
    (p.path / "test_m.py").write_text((p.path / "test_m.py").read_text().replace("def test_loose", "def _loose"))
    m.gate_section(p.run("--gate-update-baseline", env=changed).stdout.str())  # removed
    doc = p.baseline
    soon = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    doc["regression"]["test_m.py::test_size::size"].update(reason="big fonts", owner="ann", expires=soon)
    doc["regression"]["test_m.py::test_accuracy::accuracy"].update(reason="new model", owner="bob",
                                                                    expires="2000-01-01")
    p.save_baseline(doc)
    p.config("", project='name = "demo"\nversion = "1.0"')
    m.gate_section(p.run(env={**changed, "FLIP": "1"}).stdout.str())  # debt, direction, older version
    m.gate_section(p.run("--gate-update-baseline", env={"SIZE": "100", "ACC": "0.9"}).stdout.str())

    # Sampled timings, another machine and calibration: decided on numbers a run cannot promise.
    from pytest_release_gates import calibration
    from pytest_release_gates.config import Settings
    from pytest_release_gates.gates.regression.entries import make_entry
    from pytest_release_gates.gates.regression.gate import Gate
    from pytest_release_gates.metrics import Metric

    gate = Gate(Settings())
    today = dt.date.today()

    def one(values: list[float], base: list[float], *, machine: str = "here", strict: bool = False,
              cal: tuple[float, float] | None = None, sampled: bool = True, unit: str = "s") -> Any:
        ref = calibration.Calibration(*cal) if cal else None
        entry = make_entry(Metric("t.py::t", "m", tuple(base), sampled=sampled, unit=unit,
                                  calibration=calibration.Calibration(1e-5, 1.0) if cal else None), machine)
        metric = Metric("t.py::t", "m", tuple(values), sampled=sampled, unit=unit, calibration=ref)
        return gate._check("t.py::t::m", metric, entry, "here", today, strict, {})

    spread = [1.0 + i / 100 for i in range(30)]
    results = [
        one([x * 1.3 for x in spread], spread),  # regressed, significant
        one([x * 2 for x in spread], spread),  # rollback
        one([x + 5.0 for x in range(1, 31)], [float(x) for x in range(1, 31)]),  # beyond tolerance, not significant
        one([2e-4, 2.1e-4], [1e-4, 1.1e-4]),  # too few samples for the test
        one([x * 2 for x in spread], spread, machine="laptop"),  # another machine: warning first
        one([x * 2 for x in spread], spread, machine="laptop", strict=True),
        one([2.69e-4] * 30, [1.69e-4] * 30, cal=(1.9e-5, 1.0)),  # calibrated: better
        one([3e-4] * 30, [1e-4] * 30, cal=(1.2e-5, 1.0)),  # calibrated: slower
        one([1e-3] * 30, [1e-4] * 30, cal=(1e-3, 1.0)),  # calibration not trusted
    ]
    entry_no_samples = make_entry(Metric("t.py::t", "m", (1.0,), sampled=False), "here")
    results.append(gate._check("t.py::t::m", Metric("t.py::t", "m", tuple(spread), sampled=True), entry_no_samples,
                               "here", today, False, {}))
    m.add("gate regression (unit)", gate_lines(results))


def area_compare(p: Project, m: Messages) -> None:
    """The same-job A/B (``--gate-compare-ref``): its decisions on given rounds (a real A/B is test_compare's)."""
    from pytest_release_gates.config import Settings
    from pytest_release_gates.gates.ab import gate as ab
    from pytest_release_gates.gates.ab import git, runner
    from pytest_release_gates.metrics import Metric

    g = ab.Gate(Settings())
    where = "main (abc1234)"

    def side(rounds: list[list[float]] | None, **kw: Any) -> runner.SideResult:
        res = runner.SideResult(collected={"t.py::t"}, **kw)
        for values in rounds or []:
            res.rounds.append({"t.py::t": {"outcome": "passed", "metrics": {"m": {"values": values}}}})
        return res

    metric = Metric("t.py::t", "m", (1.0,), sampled=True, source="perf")
    base = [[1.0 + i / 100 for i in range(20)] for _ in range(3)]
    slower = [[x * 1.3 for x in r] for r in base]
    cases = [
        (side(base), side(slower)),
        (side(base), side([[x * 2 for x in r] for r in base])),
        (side(base), side([slower[0], base[1], slower[2]])),  # slower in only some rounds
        (side(base), side([[x * 0.5 for x in r] for r in base])),
        (side(base), side([[x * 1.05 for x in r] for r in base])),
        (side(base), side([r[:2] for r in slower])),
        (side(None, failure="the base side hung"), side(slower)),
        (side(base), side(None, failure="the current side hung")),
        (runner.SideResult(collected=set(), collection_errors={"t.py": "ImportError: x"}), side(slower)),
    ]
    results = [g._decide("t.py::t::m", metric, b, c, where, {}) for b, c in cases]
    m.add("gate regression (A/B)", gate_lines(results))
    rev = git.Revision("main", "abc1234" * 5 + "abcd", "abc1234", p.path, dirty=True)
    ctx = types.SimpleNamespace(session=types.SimpleNamespace(), messages=[])
    fatal = [
        {runner.BASE: side(base), runner.CURRENT: side(None, import_error="ModuleNotFoundError: No module named 'x'")},
        {runner.BASE: side(None, import_error="ModuleNotFoundError: No module named 'y'"), runner.CURRENT: side(base)},
        {runner.BASE: side(None, failure="pytest on main did not finish within 60 s"), runner.CURRENT: side(base)},
        {runner.BASE: side(base), runner.CURRENT: side(slower)},
    ]
    for results_by_side in fatal:
        m.add("gate regression (A/B)", gate_lines(g._results(ctx, rev, results_by_side, {"t.py::t::m": metric},  # type: ignore[arg-type]
                                                            ["a note"], 12.3)))


def area_coverage(p: Project, m: Messages) -> None:
    p.config("coverage_min = 100\ncoverage_max_drop = 1\n")
    p.write({
        "mypkg/__init__.py": "def one():\n    return 1\n\n\ndef two():\n    return 2\n",
        "test_c.py": "import mypkg\n\ndef test_one():\n    assert mypkg.one() == 1\n\ndef test_two():\n"
                     "    assert mypkg.two() == 2\n",
    })
    m.gate_section(p.run("--cov=mypkg").stdout.str())  # under the minimum, nothing recorded to compare
    m.gate_section(p.run("--cov=mypkg", "--gate-update-baseline").stdout.str())
    p.write({"test_c.py": "import mypkg\n\ndef test_one():\n    assert mypkg.one() == 1\n"})
    p.config("coverage_min = 10\ncoverage_max_drop = 1\n")
    m.gate_section(p.run("--cov=mypkg").stdout.str())  # a drop, and the minimum met
    m.gate_section(p.run("--cov=mypkg", "--gate-update-baseline").stdout.str())
    m.gate_section(p.run("--cov=mypkg").stdout.str())  # unchanged
    m.gate_section(p.run("--cov=mypkg", "-k", "one").stdout.str())  # partial
    m.gate_section(p.run().stdout.str())  # not measured


def area_integrity(p: Project, m: Messages) -> None:
    p.config("""
        [tool.release_gates.integrity]
        patterns = ["data/*.txt"]
        rules = ["conflict-markers", "secrets", "hardcoded-paths", "duplicate-lines"]
    """)
    token = "Zx81kQp0" + "aLm3Vn7TyR2wEe9s"
    p.write({
        "data/a.txt": "alpha\n",
        "data/b.txt": "beta\n",
        "data/findings.txt": f'<<<<<<< HEAD\napi_token = "{token}"\nsee /home/alice/notes\n'
                             "x\ny\nz\nx\ny\nz\n",
        "test_i.py": """
            def test_ok():
                pass

            def test_watch(integrity, tmp_path):
                (tmp_path / "x.txt").write_text("a")
                with integrity.watch(tmp_path, patterns=["*.txt"], require_clean=True):
                    (tmp_path / "x.txt").write_text("b")
                    (tmp_path / "y.txt").write_text("c")
        """,
    })
    m.gate_section(p.run().stdout.str())  # no manifest yet, new findings
    m.gate_section(p.run("--gate-update-baseline").stdout.str())  # manifest created, findings accepted
    m.gate_section(p.run().stdout.str())  # all match
    p.write({"data/a.txt": "changed\n", "data/c.txt": "new\n",
             "data/findings.txt": "see /home/alice/notes\nsee /home/alice/notes\n"})
    (p.path / "data" / "b.txt").unlink()
    m.gate_section(p.run().stdout.str())  # modified, added, removed, stale and recounted findings
    m.gate_section(p.run("--gate-update-baseline").stdout.str())
    p.config('[tool.release_gates.integrity]\npatterns = ["data/*.md"]\n')
    m.gate_section(p.run().stdout.str())  # the manifest was built from other patterns
    p.config("[tool.release_gates.integrity]\npatterns = []\n")
    m.gate_section(p.run().stdout.str())


def area_cli(p: Project, m: Messages) -> None:
    p.config("")
    p.write({"test_ok.py": "def test_ok():\n    pass\n"})
    p.run()
    (p.path / "deploy.json").write_bytes((p.path / ".release-gates" / "verdict.json").read_bytes())
    p.write({"test_ok.py": "import pytest\n\n@pytest.mark.gate(severity='critical')\ndef test_bad():\n"
                           "    assert False\n\ndef test_fail():\n    assert False\n"})
    p.run()
    (p.path / "rollback.json").write_bytes((p.path / ".release-gates" / "verdict.json").read_bytes())
    provisional = json.loads((p.path / "deploy.json").read_text())
    provisional.update(verdict="hold", complete=False,
                       reasons=["the run did not finish: this is the provisional verdict written when it started"])
    (p.path / "provisional.json").write_text(json.dumps(provisional))
    (p.path / "broken.json").write_text("{not json")

    def cli(*args: str) -> None:
        r = p.cli(*args)
        m.add("release-gate " + args[0], [f"{' '.join(args)}: exit {r.ret}"], numbers=True)
        m.add("release-gate " + args[0], [*r.stdout.lines, *r.stderr.lines])

    for name in ("deploy.json", "rollback.json", "provisional.json", "broken.json", "missing.json"):
        cli("status", name)
    cli("merge", "deploy.json", "rollback.json", "-o", "merged.json")
    cli("status", "merged.json")
    cli("merge", "deploy.json", "missing.json", "-o", "merged.json")
    # A usage error in the config: one line, before anything runs.
    p.write({"pyproject.toml": "[tool.release_gates]\nregresion_tolerance = 0.3\n"})
    r = p.run()
    m.add("usage error", [line for line in r.stderr.lines + r.stdout.lines if "ERROR" in line or "error:" in line])


AREAS: dict[str, Callable[[Project, Messages], None]] = {
    "tests-and-run": area_tests_and_run,
    "budgets": area_budgets,
    "error-types": area_error_types,
    "regression": area_regression,
    "compare": area_compare,
    "coverage": area_coverage,
    "integrity": area_integrity,
    "cli": area_cli,
}


@pytest.mark.parametrize("area", sorted(AREAS))
def test_messages(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, area: str) -> None:
    for name in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "RELEASE_GATES_MACHINE",
                 "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    project = Project(pytester, monkeypatch, area)
    messages = Messages(project.path)
    AREAS[area](project, messages)
    rendered = messages.render()
    golden = GOLDEN / f"{area}.txt"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered, encoding="utf-8")
    problems = check(messages)
    assert not problems, "\n".join(problems)
    assert golden.exists(), f"{golden} is missing: create it with RELEASE_GATES_UPDATE_GOLDEN=1"
    assert rendered == golden.read_text(encoding="utf-8"), (
        f"messages of {area!r} changed: review, then regenerate with RELEASE_GATES_UPDATE_GOLDEN=1 "
        f"(see this file's docstring)"
    )


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    m = Messages(tmp_path)
    m.add("x", ["total total coverage 80%", "took 1.42s", "median 269 us vs 169 µs", "partial partial run",
                "1 1 passed", "took 1.42 s (1.42x)"])
    assert [p.split(":")[0] for p in check(m)] == ["doubled word 'total total'", "bare unit '2s'",
                                                   "bare unit '9 us'", "doubled word 'partial partial'"]
    assert normalise(f"{tmp_path}/a took 269 µs (1.42x) on 2026-01-02", tmp_path) == \
        "<root>/a took N <s/1000^k> (Nx) on <date>"
