(function () {
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
    sortButton.textContent = direction === -1 ? "ratio \u25BC" : "ratio \u25B2";
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
