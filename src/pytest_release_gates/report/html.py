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

_SCRIPT_TEMPLATE: Final = """(function () {
  // Rows live in chunks of CHUNK rows, each skipped by layout while off screen (content-visibility).
  var table = document.getElementById("gate-table");
  if (!table) return;
  var bodies = Array.prototype.slice.call(table.querySelectorAll("tbody"));
  var rows = Array.prototype.slice.call(table.querySelectorAll("tr[data-kind]"));
  var CHUNK = bodies.length ? bodies[0].rows.length : 1;
  var ROW_PX = ROW_HEIGHT;
  var kind = document.getElementById("f-kind");
  var status = document.getElementById("f-status");
  var text = document.getElementById("f-text");
  var shown = document.getElementById("shown");
  var sortButton = document.getElementById("sort-ratio");
  var texts = null, direction = 0;
  function apply() {
    var k = kind.value, s = status.value, q = text.value.toLowerCase(), n = 0;
    if (q && texts === null) texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var ok = (!k || r.dataset.kind === k) && (!s || r.dataset.status === s) &&
        (!q || texts[i].indexOf(q) !== -1);
      r.hidden = !ok;
      if (ok) n++;
    }
    shown.textContent = String(n);
    resize();
  }
  function resize() {
    bodies.forEach(function (tb) {
      var n = 0;
      for (var r = tb.firstElementChild; r; r = r.nextElementSibling) if (!r.hidden) n++;
      var box = tb.parentNode.parentNode;
      box.hidden = n === 0;
      box.style.containIntrinsicSize = "auto " + (n * ROW_PX) + "px";
    });
  }
  function ratio(r) { var x = parseFloat(r.dataset.ratio); return isNaN(x) ? null : x; }
  function sortRows(dir) {
    direction = dir || (direction === -1 ? 1 : -1);
    var order = rows.map(function (r, i) { return [ratio(r), i, r]; });
    order.sort(function (a, b) {
      if (a[0] === null && b[0] === null) return a[1] - b[1];
      if (a[0] === null) return 1;
      if (b[0] === null) return -1;
      return direction * (a[0] - b[0]) || a[1] - b[1];
    });
    rows = order.map(function (o) { return o[2]; });
    bodies.forEach(function (tb, b) {
      var frag = document.createDocumentFragment();
      rows.slice(b * CHUNK, (b + 1) * CHUNK).forEach(function (r) { frag.appendChild(r); });
      tb.appendChild(frag);
    });
    texts = null;
    resize();
    table.dataset.sorted = direction === -1 ? "ratio-desc" : "ratio-asc";
    sortButton.textContent = direction === -1 ? "ratio \\u25BC" : "ratio \\u25B2";
  }
  // A link can preselect the view: report.html#status=fail&kind=budget&q=login&sort=ratio
  location.hash.replace(/^#/, "").split("&").forEach(function (part) {
    var kv = part.split("="), key, value;
    try { key = decodeURIComponent(kv[0] || ""); value = decodeURIComponent(kv[1] || ""); } catch (e) { return; }
    if (key === "kind") kind.value = value;
    else if (key === "status") status.value = value;
    else if (key === "q") text.value = value;
    else if (key === "sort") sortRows(value === "ratio-asc" ? 1 : -1);
  });
  kind.addEventListener("change", apply);
  status.addEventListener("change", apply);
  text.addEventListener("input", apply);
  sortButton.addEventListener("click", function () { sortRows(0); });
  document.documentElement.classList.add("js");
  apply();
  document.documentElement.setAttribute("data-ready-ms", String(Math.round(performance.now())));
})();
"""
_SCRIPT: Final = _SCRIPT_TEMPLATE.replace("ROW_HEIGHT", str(ROW_HEIGHT))
_SCRIPT_HASH: Final = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()

_CSS: Final = """
:root { color-scheme: light dark; --bg:#f6f8fa; --card:#fff; --fg:#1f2328; --muted:#656d76; --line:#d0d7de;
  --deploy:#1a7f37; --hold:#9a6700; --rollback:#cf222e; --fail:#cf222e; --warn:#9a6700; --pass:#1a7f37;
  --accent:#0969da; --budget:#cf222e; --baseline:#8250df; --area:rgba(9,105,218,.10); --row:#f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --card:#161b22; --fg:#e6edf3; --muted:#8d96a0;
  --line:#30363d; --deploy:#3fb950; --hold:#d29922; --rollback:#f85149; --fail:#f85149; --warn:#d29922;
  --pass:#3fb950; --accent:#4493f8; --budget:#f85149; --baseline:#a371f7; --area:rgba(68,147,248,.14);
  --row:#1c2128; } }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
code, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace; font-size:12.5px; }
header.banner { padding:28px 32px 22px; color:#fff; }
header.v-deploy { background:linear-gradient(135deg,#1a7f37,#2da44e); }
header.v-hold { background:linear-gradient(135deg,#9a6700,#d4a72c); }
header.v-rollback { background:linear-gradient(135deg,#a40e26,#cf222e); }
.banner .label { font-size:13px; letter-spacing:.08em; text-transform:uppercase; opacity:.85; }
.banner .verdict { font-size:44px; font-weight:800; letter-spacing:.02em; line-height:1.1; margin:2px 0 8px; }
.banner .meta { display:flex; flex-wrap:wrap; gap:6px 18px; opacity:.95; }
.banner .badge { background:rgba(0,0,0,.28); border-radius:999px; padding:2px 10px; font-weight:600; }
main { max-width:1280px; margin:0 auto; padding:20px 24px 40px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px 20px; margin:16px 0; }
h2 { font-size:16px; margin:0 0 12px; }
.muted { color:var(--muted); }
ul.reasons { margin:0; padding-left:20px; }
ul.reasons li { margin:3px 0; overflow-wrap:anywhere; }
.tiles { display:flex; flex-wrap:wrap; gap:10px; }
.tile { border:1px solid var(--line); border-radius:8px; padding:8px 14px; min-width:92px; }
.tile b { display:block; font-size:20px; }
.strip { display:flex; gap:2px; flex-wrap:wrap; margin-top:6px; }
.strip span { width:10px; height:22px; border-radius:2px; display:inline-block; }
.s-deploy { background:var(--deploy); } .s-hold { background:var(--hold); } .s-rollback { background:var(--rollback); }
.s-incomplete { opacity:.45; }
.controls { display:flex; flex-wrap:wrap; gap:10px; align-items:center; margin-bottom:10px; }
.controls select, .controls input, button { background:var(--card); color:var(--fg); border:1px solid var(--line);
  border-radius:6px; padding:5px 8px; font:inherit; }
button { cursor:pointer; }
.controls input { min-width:220px; }
.nojs-hint { display:inline; } .js .nojs-hint { display:none; }
table { width:100%; border-collapse:collapse; table-layout:fixed; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
td.subject, td.message { overflow-wrap:anywhere; }
tbody tr:nth-child(even) { background:var(--row); }
.chunk { content-visibility:auto; }
tr[hidden] { display:none; }
.pill { display:inline-block; border-radius:999px; padding:1px 8px; font-size:12px; font-weight:700; color:#fff; }
.p-fail { background:var(--fail); } .p-warn { background:var(--warn); } .p-pass { background:var(--pass); }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
.charts { display:grid; grid-template-columns:repeat(auto-fill,minmax(340px,1fr)); gap:14px; }
.chart { border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.chart h3 { font-size:12.5px; margin:0 0 4px; font-weight:600; overflow-wrap:anywhere; }
.chart .now { font-size:13px; }
.chart svg { width:100%; height:auto; display:block; }
svg .series { fill:none; stroke:var(--accent); stroke-width:2; stroke-linejoin:round; }
svg .area { fill:var(--area); stroke:none; }
svg .dot { fill:var(--accent); }
svg .budget { stroke:var(--budget); stroke-width:1.5; stroke-dasharray:6 4; }
svg .baseline { stroke:var(--baseline); stroke-width:1.5; stroke-dasharray:2 3; }
svg text { fill:var(--muted); font-size:10px; }
svg text.t-budget { fill:var(--budget); } svg text.t-baseline { fill:var(--baseline); }
.legend { display:flex; gap:12px; font-size:12px; color:var(--muted); }
.legend i { display:inline-block; width:16px; height:0; border-top:2px dashed; vertical-align:middle;
  margin-right:4px; }
.legend .l-budget { border-color:var(--budget); }
.legend .l-baseline { border-color:var(--baseline); border-top-style:dotted; }
footer { text-align:center; color:var(--muted); font-size:12px; padding:8px 0 24px; }
"""


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
