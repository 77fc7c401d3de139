"""``--gate-report=PATH``: one self-contained HTML page that says why a release was held.

No network: inline CSS, inline SVG charts, one small inline script (filter and
sort the gate table), pinned by a Content-Security-Policy hash so nothing
else can run or load, even if escaping ever failed. Every piece of text from
the run (test ids, messages, metric names) goes through ``html.escape``.

Size stays bounded whatever the history: each chart gets a share of a fixed
point budget (min/max sampling keeps spikes), at most ``MAX_CHARTS`` charts,
the recent-runs strip shows the last ``MAX_STRIP`` runs.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Final

from ..history.run import all_series, when
from . import trend

MAX_CHARTS: Final = 300
#: Points over all charts; per chart between MIN and MAX. Keeps a 100,000-run history under 5 MB.
POINT_BUDGET: Final = 60_000
MIN_POINTS: Final = 24
MAX_POINTS: Final = 240
MAX_STRIP: Final = 120
#: Circles with a tooltip per point only for short series (size).
DOT_LIMIT: Final = 40

#: Gate rows per chunk; an off-screen chunk is skipped by layout (5,000 rows render in ~0.2 s, not ~1.5 s).
CHUNK: Final = 100
#: Estimated row height (px) for a chunk not laid out yet.
ROW_HEIGHT: Final = 34
_COLS: Final = (
    "<colgroup><col style=\"width:70px\"><col style=\"width:80px\"><col style=\"width:120px\">"
    "<col style=\"width:32%\"><col><col style=\"width:80px\"><col style=\"width:80px\"><col style=\"width:92px\">"
    "</colgroup>"
)

_STATUS_RANK: Final = {"fail": 0, "warn": 1, "pass": 2}
_LEVEL_RANK: Final = {"rollback": 0, "hold": 1, "deploy": 2}

#: The page's script and style sheet, package data (``report/assets/``); the script is inlined under a
#: CSP hash, so it is read once and hashed once.
_ASSETS: Final = resources.files(__package__).joinpath("assets")
_SCRIPT_TEMPLATE: Final = _ASSETS.joinpath("report.js").read_text(encoding="utf-8")
_SCRIPT: Final = _SCRIPT_TEMPLATE.replace("ROW_HEIGHT", str(ROW_HEIGHT))
_SCRIPT_HASH: Final = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()

_CSS: Final = _ASSETS.joinpath("report.css").read_text(encoding="utf-8")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render(verdict: Mapping[str, Any], entries: Sequence[Mapping[str, Any]],
           units: Mapping[str, str] | None = None, *, title: str | None = None,
           total_runs: int | None = None, verdict_counts: Mapping[str, int] | None = None) -> str:
    """The whole page.

    ``entries``: the run history (or an even sample of it), oldest first, this run last;
    ``total_runs`` and ``verdict_counts`` describe the whole history when ``entries`` is a sample.
    """
    level = str(verdict.get("verdict", "hold"))
    if level not in _LEVEL_RANK:
        level = "hold"
    project = verdict.get("project") or {}
    name = project.get("name") if isinstance(project, dict) else None
    page_title = title or f"Release gate: {level}" + (f" - {name}" if name else "")
    gates = [g for g in verdict.get("gates", ()) if isinstance(g, Mapping)]
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{_SCRIPT_HASH}'; img-src data:\">",
        f"<title>{_e(page_title)}</title><style>{_CSS}</style></head><body>",
        _banner(verdict, level, project if isinstance(project, dict) else {}),
        "<main>",
        _reasons(verdict, level),
        _runs(entries, total_runs, verdict_counts),
        _gate_table(gates),
        _trends(gates, entries, units or {}, max(total_runs or 0, len(entries))),
        "</main>",
        f"<footer>pytest-release-gates {_e(_env(verdict, 'plugin'))} · self-contained report, "
        "no network access</footer>",
        f"<script>{_SCRIPT}</script></body></html>\n",
    ]
    return "".join(parts)


def _env(verdict: Mapping[str, Any], key: str) -> str:
    env = verdict.get("environment")
    return str(env.get(key, "")) if isinstance(env, dict) else ""


def _banner(verdict: Mapping[str, Any], level: str, project: Mapping[str, Any]) -> str:
    c = verdict.get("tests") or {}
    meta = []
    if project.get("name"):
        meta.append(f"<span>{_e(project['name'])} {_e(project.get('version') or '')}</span>")
    git = verdict.get("git")
    if isinstance(git, dict) and git.get("commit"):
        dirty = " (dirty)" if git.get("dirty") else ""
        meta.append(f"<span class=\"mono\">commit {_e(str(git['commit'])[:12])}{dirty}</span>")
    if verdict.get("created"):
        meta.append(f"<span>{_e(verdict['created'])}</span>")
    if isinstance(verdict.get("duration_s"), (int, float)):
        meta.append(f"<span>{float(verdict['duration_s']):.1f} s</span>")
    if isinstance(c, dict):
        meta.append(f"<span>{_e(c.get('passed', 0))} passed · {_e(c.get('failed', 0))} failed · "
                    f"{_e(c.get('errors', 0))} errors · {_e(c.get('skipped', 0))} skipped</span>")
    incomplete = "" if verdict.get("complete", True) else " <span class=\"badge\">incomplete run</span>"
    return (f"<header class=\"banner v-{level}\" id=\"verdict\" data-verdict=\"{level}\">"
            f"<div class=\"label\">release gate verdict</div>"
            f"<div class=\"verdict\">{level.upper()}{incomplete}</div>"
            f"<div class=\"meta\">{''.join(meta)}</div></header>")


def _reasons(verdict: Mapping[str, Any], level: str) -> str:
    reasons = [r for r in verdict.get("reasons", ()) if isinstance(r, str)]
    if not reasons:
        text = "Every gate passed." if level == "deploy" else "No reason recorded."
        return f"<section id=\"reasons\"><h2>Why</h2><p class=\"muted\">{text}</p></section>"
    items = "".join(f"<li>{_e(r)}</li>" for r in reasons)
    return f"<section id=\"reasons\"><h2>Why: {len(reasons)} reason{'s' if len(reasons) != 1 else ''}" \
           f"</h2><ul class=\"reasons\">{items}</ul></section>"


def _runs(entries: Sequence[Mapping[str, Any]], total: int | None, counts: Mapping[str, int] | None) -> str:
    if not entries:
        return ""
    total = max(total or 0, len(entries))
    recent = entries[-MAX_STRIP:]
    if counts is None:
        counts = {"deploy": 0, "hold": 0, "rollback": 0}
        for e in entries:
            v = e.get("verdict")
            if v in counts:
                counts[str(v)] += 1
    cells = []
    for e in recent:
        v = str(e.get("verdict"))
        cls = f"s-{v}" if v in _LEVEL_RANK else "s-hold"
        if not e.get("complete", True):
            cls += " s-incomplete"
        commit = str(e.get("commit") or "")[:10]
        tip = f"{_when(e)} {v}" + (f" {commit}" if commit else "")
        cells.append(f"<span class=\"{cls}\" title=\"{_e(tip)}\"></span>")
    tiles = "".join(f"<div class=\"tile\"><b>{int(n):,}</b>{_e(k)}</div>" for k, n in counts.items())
    return (f"<section id=\"runs\"><h2>Run history: {total:,} run{'s' if total != 1 else ''}</h2>"
            f"<div class=\"tiles\">{tiles}</div>"
            f"<div class=\"muted\" style=\"margin-top:10px\">last {len(recent)} runs, oldest left</div>"
            f"<div class=\"strip\">{''.join(cells)}</div></section>")


def _when(entry: Mapping[str, Any]) -> str:
    try:
        return when(entry)
    except (KeyError, ValueError, OverflowError, OSError, TypeError):
        return ""


def _ratio(g: Mapping[str, Any]) -> float | None:
    value, limit = g.get("value"), g.get("limit")
    if not isinstance(value, (int, float)) or not isinstance(limit, (int, float)) or not limit:
        return None
    r = float(value) / float(limit)
    return r if math.isfinite(r) else None


def _num(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return ""
    return f"{x:.4g}"


def _gate_table(gates: Sequence[Mapping[str, Any]]) -> str:
    # One pass per gate, escaping only what varies: 5,000 rows in a few tens of ms.
    cache: dict[Any, str] = {}

    def e(value: Any) -> str:
        if not isinstance(value, str):
            return _e(value)
        out = cache.get(value)
        if out is None:
            out = cache[value] = _e(value)
        return out

    keyed = []
    for g in gates:
        ratio = _ratio(g)
        status = str(g.get("status"))
        keyed.append(((_STATUS_RANK.get(status, 3), _LEVEL_RANK.get(str(g.get("level")), 3), -(ratio or 0.0),
                       str(g.get("kind")), str(g.get("subject"))), ratio, status, g))
    keyed.sort(key=lambda k: k[0])
    rows = []
    dash = "<span class=\"muted\">&ndash;</span>"
    for _, ratio, status, g in keyed:
        status_cls = status if status in _STATUS_RANK else "warn"
        metric = g.get("metric")
        kind = e(g.get("kind"))
        rows.append(
            f"<tr data-kind=\"{kind}\" data-status=\"{e(status)}\" "
            f"data-ratio=\"{'' if ratio is None else f'{ratio:.6g}'}\">"
            f"<td><span class=\"pill p-{status_cls}\">{e(status)}</span></td>"
            f"<td>{e(g.get('level')) if status == 'fail' else dash}</td><td>{kind}</td>"
            f"<td class=\"subject mono\">{_e(g.get('subject', ''))}</td>"
            f"<td class=\"message\">{_e(g.get('message', ''))}"
            f"{f' <span class=muted>({e(metric)})</span>' if metric else ''}</td>"
            f"<td class=\"num\">{_num(g.get('value'))}</td><td class=\"num\">{_num(g.get('limit'))}</td>"
            f"<td class=\"num\">{'' if ratio is None else f'{ratio:.2f}&times;'}</td></tr>"
        )
    kinds = sorted({str(g.get("kind")) for g in gates})
    chunks = [
        f"<div class=\"chunk\" style=\"contain-intrinsic-size:auto {min(CHUNK, len(rows) - i) * ROW_HEIGHT}px\">"
        f"<table class=\"gates\">{_COLS}<tbody>{''.join(rows[i:i + CHUNK])}</tbody></table></div>"
        for i in range(0, len(rows), CHUNK)
    ]
    kind_options = "".join(f"<option value=\"{_e(k)}\">{_e(k)}</option>" for k in kinds)
    n_fail = sum(1 for g in gates if g.get("status") == "fail")
    n_warn = sum(1 for g in gates if g.get("status") == "warn")
    return (
        "<section id=\"gates\">"
        f"<h2>Gates: {len(gates)} checked, {n_fail} failing, {n_warn} warning</h2>"
        "<div class=\"controls\">"
        f"<label>kind <select id=\"f-kind\"><option value=\"\">all</option>{kind_options}</select></label>"
        "<label>status <select id=\"f-status\"><option value=\"\">all</option><option value=\"fail\">fail</option>"
        "<option value=\"warn\">warn</option><option value=\"pass\">pass</option></select></label>"
        "<input id=\"f-text\" type=\"search\" placeholder=\"filter by test, file, message\" aria-label=\"filter\">"
        f"<span class=\"muted\">showing <b id=\"shown\">{len(gates)}</b> of {len(gates)}</span>"
        "</div>"
        f"<table class=\"gates\">{_COLS}<thead><tr><th>status</th><th>level</th><th>kind</th><th>subject</th>"
        "<th>message</th><th class=\"num\">value</th><th class=\"num\">limit</th>"
        "<th class=\"num\"><button id=\"sort-ratio\" type=\"button\" title=\"sort by value/limit\">ratio ⇅</button>"
        "</th></tr></thead></table>"
        f"<div id=\"gate-table\">{''.join(chunks)}</div></section>"
    )


def _trends(gates: Sequence[Mapping[str, Any]], entries: Sequence[Mapping[str, Any]],
            units: Mapping[str, str], total_runs: int) -> str:
    series = all_series(entries)
    current = entries[-1].get("metrics") if entries else None
    keys = [k for k in current if k in series] if isinstance(current, dict) and current else list(series)
    if not keys:
        return ("<section id=\"trends\"><h2>Trends</h2><p class=\"muted\">No tracked metrics yet: "
                "<code>perf.measure</code>, <code>gate_metric</code> and <code>@pytest.mark.regression</code> "
                "record them; each run adds a point.</p></section>")
    refs = trend.references(gates, keys)
    failing_subjects = {str(g.get("subject")) for g in gates if g.get("status") != "pass"}

    def relevance(key: str) -> tuple[int, float, str]:
        pts = series[key]
        moved = abs(pts[-1][1] - pts[-2][1]) / abs(pts[-2][1]) if len(pts) > 1 and pts[-2][1] else 0.0
        node = key.rpartition("::")[0]
        return (0 if key in failing_subjects or node in failing_subjects else 1, -moved, key)

    keys.sort(key=relevance)
    shown = keys[:MAX_CHARTS]
    per_chart = max(MIN_POINTS, min(MAX_POINTS, POINT_BUDGET // max(1, len(shown))))
    cards = []
    for key in shown:
        unit = units.get(key) or _unit_from(current, key)
        cards.append(_chart(key, series[key], refs.get(key), unit, per_chart))
    more = (f"<p class=\"muted\">{len(keys) - len(shown)} more metrics not charted "
            f"(the {len(shown)} most relevant are shown).</p>") if len(keys) > len(shown) else ""
    legend = ("<div class=\"legend\"><span><i style=\"border-top-style:solid;border-color:var(--accent)\"></i>"
              "median per run</span>"
              + ("<span><i class=\"l-budget\"></i>budget</span>" if any(r.budget for r in refs.values()) else "")
              + ("<span><i class=\"l-baseline\"></i>baseline</span>" if any(r.baseline for r in refs.values())
                 else "") + "</div>")
    return (f"<section id=\"trends\"><h2>Trends: {len(keys)} tracked metric{'s' if len(keys) != 1 else ''} over "
            f"{total_runs:,} run{'s' if total_runs != 1 else ''}</h2>{legend}"
            f"<div class=\"charts\" style=\"margin-top:10px\">{''.join(cards)}</div>{more}</section>")


def _unit_from(current: Any, key: str) -> str:
    if isinstance(current, dict) and isinstance(current.get(key), dict):
        return str(current[key].get("u", "s"))
    return "s"


_W: Final = 340
_H: Final = 130
_PAD_L: Final = 52
_PAD_R: Final = 10
_PAD_T: Final = 10
_PAD_B: Final = 20


def _chart(key: str, points: Sequence[tuple[float, float]], ref: trend.Reference | None, unit: str,
           max_points: int) -> str:
    pts = trend.sample(points, max_points)
    values = [v for _, v in pts]
    lo, hi = min(values), max(values)
    budget = ref.budget if ref else None
    baseline = ref.baseline if ref else None
    # Reference lines widen the scale unless they are far off (then an edge label says where they are).
    for line in (baseline, budget):
        if line is not None and (hi - lo == 0 or (lo / 3 <= line <= hi * 3 if lo > 0 else True)):
            lo, hi = min(lo, line), max(hi, line)
    if hi - lo <= abs(hi) * 1e-12:
        span = abs(hi) * 0.1 or 1.0
        lo, hi = lo - span, hi + span
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    if min(values) >= 0 and lo < 0:
        lo = 0.0
    n = len(points)
    plot_w, plot_h = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def x(i: int) -> float:
        return _PAD_L + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return _PAD_T + plot_h * (1 - (v - lo) / (hi - lo))

    coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in pts)
    base_y = _PAD_T + plot_h
    area = f"{x(pts[0][0]):.1f},{base_y:.1f} {coords} {x(pts[-1][0]):.1f},{base_y:.1f}"
    svg = [f"<svg viewBox=\"0 0 {_W} {_H}\" role=\"img\" aria-label=\"{_e(key)} trend\">",
           f"<text x=\"{_PAD_L - 4}\" y=\"{y(max(values)) + 3:.1f}\" text-anchor=\"end\">"
           f"{_e(trend.fmt(max(values), unit))}</text>",
           f"<text x=\"{_PAD_L - 4}\" y=\"{y(min(values)) + 3:.1f}\" text-anchor=\"end\">"
           f"{_e(trend.fmt(min(values), unit))}</text>" if max(values) != min(values) else "",
           f"<line x1=\"{_PAD_L}\" y1=\"{base_y}\" x2=\"{_W - _PAD_R}\" y2=\"{base_y}\" stroke=\"currentColor\" "
           "stroke-opacity=\".2\"/>",
           f"<polygon class=\"area\" points=\"{area}\"/>",
           f"<polyline class=\"series\" points=\"{coords}\"/>"]
    for cls, value, label in (("budget", budget, ref.budget_label if ref else "budget"),
                              ("baseline", baseline, "baseline")):
        if value is None:
            continue
        text = f"{label} {trend.fmt(value, unit)}"
        if lo <= value <= hi:
            yy = y(value)
            svg.append(f"<line class=\"{cls}\" x1=\"{_PAD_L}\" y1=\"{yy:.1f}\" x2=\"{_W - _PAD_R}\" y2=\"{yy:.1f}\">"
                       f"<title>{_e(text)}</title></line>")
            svg.append(f"<text class=\"t-{cls}\" x=\"{_W - _PAD_R}\" y=\"{yy - 3:.1f}\" text-anchor=\"end\">"
                       f"{_e(text)}</text>")
        else:
            arrow = "↑" if value > hi else "↓"
            yy = _PAD_T + 8 if value > hi else base_y - 3
            svg.append(f"<text class=\"t-{cls}\" x=\"{_W - _PAD_R}\" y=\"{yy:.1f}\" text-anchor=\"end\">"
                       f"{_e(text)} {arrow} off scale</text>")
    if len(pts) <= DOT_LIMIT:
        for i, v in pts:
            when = _when_t(points[i][0])
            svg.append(f"<circle class=\"dot\" cx=\"{x(i):.1f}\" cy=\"{y(v):.1f}\" r=\"2.5\">"
                       f"<title>{_e(when)} {_e(trend.fmt(v, unit))}</title></circle>")
    else:
        i, v = pts[-1]
        svg.append(f"<circle class=\"dot\" cx=\"{x(i):.1f}\" cy=\"{y(v):.1f}\" r=\"3\">"
                   f"<title>latest {_e(trend.fmt(v, unit))}</title></circle>")
    svg.append(f"<text x=\"{_PAD_L}\" y=\"{_H - 4}\">{_e(_when_t(points[0][0]))}</text>")
    svg.append(f"<text x=\"{_W - _PAD_R}\" y=\"{_H - 4}\" text-anchor=\"end\">{_e(_when_t(points[-1][0]))}</text>")
    svg.append("</svg>")
    latest = values[-1]
    change = ""
    if len(points) > 1 and points[-2][1]:
        delta = (points[-1][1] - points[-2][1]) / abs(points[-2][1])
        change = f" <span class=\"muted\">{delta:+.1%} vs previous run</span>"
    sampled = f" · sampled to {len(pts)} points" if len(pts) < n else ""
    return (f"<div class=\"chart\" data-metric=\"{_e(key)}\"><h3 class=\"mono\">{_e(key)}</h3>"
            f"<div class=\"now\"><b>{_e(trend.fmt(latest, unit))}</b>{change}</div>{''.join(svg)}"
            f"<div class=\"muted\" style=\"font-size:11.5px\">{n} run{'s' if n != 1 else ''}{sampled}</div></div>")


def _when_t(t: float) -> str:
    return _when({"time": t})
