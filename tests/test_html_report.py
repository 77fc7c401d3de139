"""--gate-report: a self-contained HTML page, escaped, bounded in size, rendered in a real Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release_gates.history import jsonl as history
from pytest_release_gates.report import html

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def find_chromium() -> str | None:
    explicit = os.environ.get("RELEASE_GATES_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def chromium(tmp_path: Path):
    """Load a file in headless Chromium; returns (rendered DOM, wall seconds). Skips loudly without Chromium."""
    exe = find_chromium()
    if exe is None:
        pytest.skip(
            "CHROMIUM NOT FOUND: the HTML report is not browser-tested. Install Debian's chromium "
            "(apt-get install -y chromium) or set RELEASE_GATES_CHROMIUM=/path/to/chrome"
        )

    def load(path: Path, *, fragment: str = "", screenshot: Path | None = None) -> tuple[str, float]:
        base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}"]
        url = path.resolve().as_uri() + fragment
        start = time.perf_counter()
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        elapsed = time.perf_counter() - start
        assert dom.returncode == 0, dom.stderr[-2000:]
        if screenshot is not None:
            shot = subprocess.run([*base, f"--screenshot={screenshot}", "--window-size=1280,900", url],
                                  capture_output=True, text=True, timeout=120)
            assert shot.returncode == 0, shot.stderr[-2000:]
            assert screenshot.stat().st_size > 10_000  # a real picture, not an empty page
        return dom.stdout, elapsed

    return load


class Tags(HTMLParser):
    """Every start tag and the text of <td> cells, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self._in_td = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "td":
            self._in_td += 1
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_td -= 1

    def handle_data(self, data: str) -> None:
        if self._in_td and self.cells:
            self.cells[-1] += data


def tags_of(page: str) -> Tags:
    p = Tags()
    p.feed(page)
    p.close()
    return p


EVIL = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>&amp;ünï"

TEST_FILE = f"""
import pytest

@pytest.mark.parametrize("name", ["plain", {EVIL!r}])
def test_named(name, gate_metric):
    gate_metric("latency", 0.01)
    assert name == "plain", {EVIL!r}

def test_ok():
    pass
"""


def assert_self_contained(page: str) -> None:
    """No fetch of anything: no external script, style, font, image or frame."""
    tags = tags_of(page).tags
    assert [t for t, _ in tags].count("script") == 1  # ours, inline
    for tag, attrs in tags:
        assert tag not in ("link", "iframe", "img", "object", "embed", "base"), tag
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    assert "@import" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_report_end_to_end(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile(test_evil=TEST_FILE)
    run_gate()
    r = run_gate("--gate-report=reports/new/folder/report.html")  # missing folders are created
    assert r.level == "hold"
    path = pytester.path / "reports/new/folder/report.html"
    page = path.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert f"HTML report written to {path}" in r.stdout
    assert 'data-verdict="hold"' in page and ">HOLD<" in page.replace(" <span", "<")
    # the evil test id and message show up only as text
    assert "<img" not in page and "alert('x')</script>" not in page
    cells = tags_of(page).cells
    assert any(EVIL in c for c in cells)
    for reason in r.verdict["reasons"]:
        assert html._e(reason) in page
    # one row per gate, with its kind and status for filtering
    rows = re.findall(r'<tr data-kind="([^"]+)" data-status="([^"]+)"', page)
    assert len(rows) == len(r.verdict["gates"])
    assert ("tests", "fail") in rows
    # one chart per tracked metric, over the two runs
    assert page.count('<div class="chart"') == 2
    assert "over 2 runs" in page


def test_report_with_xdist(pytester: pytest.Pytester, run_gate) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_evil=TEST_FILE)
    r = run_gate("-n", "2", "--gate-report=report.html")
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert r.level == "hold" and 'data-verdict="hold"' in page
    assert page.count('<div class="chart"') == 2


def test_unwritable_report_path_is_a_warning(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    (pytester.path / "blocked").write_text("a file, not a folder")
    r = run_gate("--gate-report=blocked/report.html")
    assert r.ret == 0 and r.level == "deploy"  # an adapter cannot change the verdict
    assert "WARNING: HTML report not written: " in r.stdout
    assert "blocked" in r.stdout and "Traceback" not in r.stdout


def test_read_only_folder_is_a_warning(pytester: pytest.Pytester, run_gate) -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root ignores folder permissions (covered by the file-as-folder test)")
    pytester.makepyfile("def test_ok(): pass\n")
    ro = pytester.path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = run_gate("--gate-report=ro/report.html")
    finally:
        ro.chmod(0o700)
    assert r.ret == 0 and "WARNING: HTML report not written" in r.stdout


# ------------------------------------------------------------------ unit: render


def verdict_doc(gates: list[dict[str, Any]], verdict: str = "hold") -> dict[str, Any]:
    return {
        "schema": "pytest-release-gates/verdict/1", "verdict": verdict, "complete": True,
        "reasons": [f"{g['subject']} {g['message']}" for g in gates if g["status"] == "fail"],
        "gates": gates, "tests": {"collected": 1, "passed": 1, "failed": 0, "errors": 0, "skipped": 0},
        "project": {"name": "demo", "version": "1.0"}, "created": "2026-01-01T00:00:00Z", "duration_s": 1.0,
        "git": {"commit": "abc123", "dirty": False}, "environment": {"plugin": "0.1.0"},
    }


def runs_of(key: str, values: list[float], start: float = 1.7e9) -> list[dict[str, Any]]:
    return [{"v": 1, "time": start + i * 60, "verdict": "deploy", "metrics": {key: {"m": v}}}
            for i, v in enumerate(values)]


def test_chart_draws_budget_and_baseline_lines() -> None:
    key = "tests/test_api.py::test_list::list_users"
    gates = [
        {"kind": "budget", "subject": "tests/test_api.py::test_list", "status": "fail", "level": "hold",
         "metric": "p50", "value": 0.013, "limit": 0.012, "message": "p50 13 ms, budget 12 ms", "name": "list_users"},
        {"kind": "regression", "subject": key, "status": "pass", "level": "hold", "metric": "ratio",
         "value": 1.1, "limit": 1.2, "message": "1.10x baseline", "baseline": 0.0105},
    ]
    page = html.render(verdict_doc(gates), runs_of(key, [0.010, 0.011, 0.0105, 0.013]))
    chart = page[page.index(f'data-metric="{key}"'):]
    assert 'class="budget"' in chart and "budget p50 12 ms" in chart
    assert 'class="baseline"' in chart and "baseline 10.5 ms" in chart
    assert "<polyline" in chart
    assert '<div class="chart"' in page and "median per run" in page


def test_far_budget_is_labelled_off_scale() -> None:
    key = "t.py::test_x::op"
    gates = [{"kind": "budget", "subject": "t.py::test_x", "status": "pass", "level": "hold", "metric": "seconds",
              "value": 0.001, "limit": 5.0, "message": "ok"}]
    page = html.render(verdict_doc(gates, "deploy"), runs_of(key, [0.001, 0.0012, 0.0011]))
    assert "budget 5 s ↑ off scale" in page


def test_no_metrics_explains_how_to_get_trends() -> None:
    page = html.render(verdict_doc([], "deploy"), [])
    assert "No tracked metrics yet" in page and "Every gate passed." in page


@settings(max_examples=150, deadline=None)
@given(subject=st.text(min_size=1, max_size=60), message=st.text(max_size=80), kind=st.text(min_size=1, max_size=12))
def test_any_text_is_escaped(subject: str, message: str, kind: str) -> None:
    gates = [{"kind": kind, "subject": subject, "status": "fail", "level": "hold", "message": message}]
    entries = [{"v": 1, "time": 1.7e9, "verdict": "hold", "metrics": {subject: {"m": 1.0}}}]
    page = html.render(verdict_doc(gates), entries)
    parsed = tags_of(page)
    assert [t for t, _ in parsed.tags].count("script") == 1
    assert {t for t, _ in parsed.tags} <= {
        "html", "head", "meta", "title", "style", "body", "header", "div", "span", "main", "section", "h2", "h3",
        "ul", "li", "p", "label", "select", "option", "input", "b", "table", "colgroup", "col", "thead", "tr",
        "th", "button", "tbody", "td", "svg", "text", "line", "polygon", "polyline", "circle", "i",
        "footer", "code", "script",
    }
    clean = lambda s: s.replace("\r\n", "\n").replace("\r", "\n")  # noqa: E731  (HTML normalises newlines)
    assert clean(subject) in [clean(c) for c in parsed.cells]


@pytest.mark.timing
def test_huge_history_renders_fast_and_small(tmp_path: Path) -> None:
    """100,000 runs: read + sample + render under 5 s (wide: the timing tier), page under 5 MB."""
    path = tmp_path / "history.jsonl"
    now = time.time()
    keys = [f"tests/test_perf.py::test_m{k}::op" for k in range(5)]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(100_000):
            fh.write(history.dumps_entry({
                "v": 1, "time": now - (100_000 - i), "verdict": "hold" if i % 9 == 0 else "deploy",
                "tests": {"passed": 50, "failed": i % 9 == 0},
                "failed": ["tests/test_a.py::test_x"] if i % 9 == 0 else [],
                "metrics": {k: {"m": 0.001 * (1 + j) + (i % 97) * 1e-6} for j, k in enumerate(keys)},
            }) + "\n")
    gates = [{"kind": "tests", "subject": "", "status": "pass", "level": "hold", "message": "ok"}]
    start = time.perf_counter()
    hist = history.read(path)
    page = html.render(verdict_doc(gates, "deploy"), hist.sampled(), total_runs=len(hist),
                       verdict_counts=hist.verdict_counts())
    elapsed = time.perf_counter() - start
    assert len(hist) == 100_000
    assert "Run history: 100,000 runs" in page and "over 100,000 runs" in page
    assert page.count('<div class="chart"') == 5 and "sampled to" in page
    assert len(page.encode()) < 5_000_000
    assert elapsed < 5.0, f"took {elapsed:.2f} s"


def test_huge_history_end_to_end(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyprojecttoml("[tool.release_gates]\nhistory_max_runs = 200000\nhistory_max_days = 3650\n")
    pytester.makepyfile("def test_ok(gate_metric):\n    gate_metric('size', 3.0)\n")
    now = time.time()
    (pytester.path / ".release-gates").mkdir()
    with (pytester.path / ".release-gates/history.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(100_000):
            fh.write(history.dumps_entry({"v": 1, "time": now - 100_000 + i, "verdict": "deploy",
                                          "metrics": {"test_huge_history_end_to_end.py::test_ok::size": {"m": i % 7}}})
                     + "\n")
    r = run_gate("--gate-report=report.html", "-v")
    assert r.level == "deploy"
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert len(page.encode()) < 5_000_000 and "100,001 runs" in page
    assert "trend test_huge_history_end_to_end.py::test_ok::size:" in r.stdout


# ------------------------------------------------------------------ in a real browser


def test_report_renders_in_chromium(pytester: pytest.Pytester, run_gate, chromium, tmp_path: Path) -> None:
    pytester.makepyfile(test_evil=TEST_FILE)
    run_gate()
    r = run_gate("--gate-report=report.html")
    report = pytester.path / "report.html"
    shot = tmp_path / "report.png"
    dom, _ = chromium(report, screenshot=shot)
    assert 'class="js"' in dom  # our script ran (allowed by its CSP hash)...
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in dom  # ...the evil test id is text...
    assert "<img" not in dom  # ...and nothing injected became an element
    assert 'data-verdict="hold"' in dom and "HOLD" in dom
    rows = re.findall(r'<tr data-kind="([^"]+)" data-status="([^"]+)"', dom)
    assert len(rows) == len(r.verdict["gates"]) and ("tests", "fail") in rows
    assert re.search(r'id="shown">\d+<', dom)
    assert shot.is_file()


def test_filter_and_sort_in_chromium(tmp_path: Path, chromium) -> None:
    gates = [
        {"kind": "budget", "subject": f"t.py::test_{i}", "status": "fail" if i % 3 == 0 else "pass",
         "level": "hold", "metric": "seconds", "value": float(i), "limit": 10.0, "message": f"took {i} s"}
        for i in range(1, 10)
    ] + [{"kind": "tests", "subject": "", "status": "pass", "level": "hold", "message": "9 passed"}]
    path = tmp_path / "r.html"
    path.write_text(html.render(verdict_doc(gates), []), encoding="utf-8")
    dom, _ = chromium(path, fragment="#status=fail&kind=budget")
    visible = re.findall(r'<tr data-kind="budget" data-status="fail" data-ratio="[^"]*">', dom)
    hidden = re.findall(r'<tr data-kind="[^"]+" data-status="pass" data-ratio="[^"]*" hidden="">', dom)
    assert len(visible) == 3 and len(hidden) == 7
    assert 'id="shown">3<' in dom
    dom, _ = chromium(path, fragment="#sort=ratio")
    ratios = [float(x) for x in re.findall(r'data-ratio="([0-9.]+)"', dom)]
    assert ratios == sorted(ratios, reverse=True) and len(ratios) == 9
    assert 'data-sorted="ratio-desc"' in dom


@pytest.mark.timing
def test_big_report_renders_in_chromium(tmp_path: Path, chromium) -> None:
    """5,000 gates and 200 runs of history: rendered (the timing itself is in benchmarks/)."""
    gates = [{"kind": "budget", "subject": f"tests/test_m{i // 50}.py::test_{i}",
              "status": "pass" if i % 10 else "fail", "level": "hold", "metric": "seconds",
              "value": 0.01 * (i % 13), "limit": 0.1, "message": "ok"}
             for i in range(5000)]
    entries = [{"v": 1, "time": 1.7e9 + i * 60, "verdict": "deploy",
                "metrics": {f"tests/test_m{k}.py::test_{k}::op": {"m": 0.001 * (1 + k) + i * 1e-6} for k in range(40)}}
               for i in range(200)]
    path = tmp_path / "big.html"
    path.write_text(html.render(verdict_doc(gates), entries), encoding="utf-8")
    dom, elapsed = chromium(path)
    assert dom.count("<tr data-kind=") == 5000
    ready = int(re.search(r'data-ready-ms="(\d+)"', dom).group(1))  # type: ignore[union-attr]
    print(f"5,000 gates: script done {ready} ms after navigation; chromium wall {elapsed:.2f} s")
    assert ready < 10_000
