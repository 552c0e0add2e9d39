"""A self-contained HTML design report: layer graph, table and per-layer bar charts.

Seed 003 reads a network as a table of layers and points to Netscope for seeing it as a graph with
operations per layer. This page shows both for any model, offline: the CSS and the script are
inline, nothing is fetched. The table is written as HTML (one row per layer, readable without
script); the script draws the bar charts of params, MACs and activation memory and makes the table
sortable. Every name is escaped (`html.escape` for markup, `<` escaped inside the JSON), so a module
called `<script>` stays text.
"""
from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Report

_CSS = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}
table{border-collapse:collapse;font-size:12px}th,td{padding:2px 8px;border-bottom:1px solid #ddd;
text-align:right}td.l,th.l{text-align:left}th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
tr.group td{background:#eef3fb;font-weight:600;text-align:left}.charts{display:flex;gap:24px;flex-wrap:wrap}
.chart{width:360px}.bar{height:10px;background:#4a7bd0;margin:1px 0}.barrow{display:flex;gap:6px;
font-size:10px;align-items:center}.barrow span{width:140px;overflow:hidden;white-space:nowrap;
text-overflow:ellipsis}svg text{font-size:10px}.totals li{margin:2px 0}
"""

_JS = """
(function(){
  var errors = 0;
  window.addEventListener('error', function(){ errors += 1;
    document.body.setAttribute('data-js-errors', String(errors)); });
  var data = JSON.parse(document.getElementById('report-data').textContent);
  function bars(id, key, title){
    var box = document.getElementById(id), max = 0;
    data.rows.forEach(function(r){ max = Math.max(max, r[key]); });
    var h = document.createElement('h3'); h.textContent = title; box.appendChild(h);
    data.rows.forEach(function(r){
      if (!r[key]) return;
      var row = document.createElement('div'); row.className = 'barrow';
      var label = document.createElement('span'); label.textContent = r.name; label.title = r.name;
      var bar = document.createElement('div'); bar.className = 'bar';
      bar.style.width = Math.max(1, 200 * r[key] / (max || 1)) + 'px';
      var value = document.createElement('em'); value.textContent = r[key].toLocaleString();
      row.appendChild(label); row.appendChild(bar); row.appendChild(value); box.appendChild(row);
    });
  }
  bars('chart-params', 'params', 'Parameters');
  bars('chart-macs', 'macs', 'MACs');
  bars('chart-mem', 'output_bytes', 'Activation memory (bytes)');
  document.querySelectorAll('#layers th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = document.querySelector('#layers tbody');
      var rows = Array.prototype.slice.call(body.querySelectorAll('tr.layer'));
      var num = th.getAttribute('data-num') === '1', dir = th.getAttribute('data-dir') === 'a' ? -1 : 1;
      th.setAttribute('data-dir', dir === 1 ? 'a' : 'd');
      rows.sort(function(a, b){
        var x = a.children[col].getAttribute('data-v'), y = b.children[col].getAttribute('data-v');
        return num ? dir * (Number(y) - Number(x)) : dir * String(x).localeCompare(String(y));
      });
      body.querySelectorAll('tr.group').forEach(function(g){ g.remove(); });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
  document.body.setAttribute('data-ready', '1');
  document.body.setAttribute('data-js-errors', String(errors));
})();
"""

_COLUMNS = [("name", "Layer", False), ("type", "Type", False), ("input_shape", "Input", False),
            ("output_shape", "Output", False), ("kernel", "Kernel", False), ("stride", "Stride", False),
            ("params", "Params", True), ("macs", "MACs", True), ("adds", "Adds", True),
            ("cmps", "Cmps", True), ("exps", "Exps", True), ("output_bytes", "Out bytes", True),
            ("rf_size", "RF", False), ("uncounted", "Uncounted", False)]


def _graph(report: "Report", names: list[str]) -> str:
    """An SVG column of layer nodes; edges between non-neighbours drawn as arcs (skips, branches)."""
    index = {n: i for i, n in enumerate(names)}
    step, width = 18, 520
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{step * len(names) + 10}">']
    for src, dst in report.edges:
        if src in index and dst in index and index[dst] - index[src] > 1:
            y1, y2 = 9 + step * index[src], 9 + step * index[dst]
            bend = 300 + min(200, 6 * (index[dst] - index[src]))
            parts.append(f'<path d="M290 {y1} C{bend} {y1} {bend} {y2} 290 {y2}" fill="none" '
                         f'stroke="#d08a4a"/>')
    for i, name in enumerate(names):
        y = step * i
        parts.append(f'<rect x="10" y="{y + 1}" width="280" height="{step - 3}" rx="3" fill="#eef3fb" '
                     f'stroke="#4a7bd0"/><text x="14" y="{y + 12}">{html.escape(name)}</text>')
        if i:
            parts.append(f'<line x1="150" y1="{y - 2}" x2="150" y2="{y + 1}" stroke="#4a7bd0"/>')
    return "".join(parts) + "</svg>"


def render_html(report: "Report", *, depth: int | None = None) -> str:
    rows = report.csv_rows(depth)
    esc = html.escape
    body = []
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            body.append(f'<tr class="group"><td colspan="{len(_COLUMNS)}">{esc(group or "model")}</td></tr>')
        cells = "".join(
            f'<td class="{"" if num else "l"}" data-v="{esc(str(r[key]))}">'
            f'{f"{r[key]:,}" if num and isinstance(r[key], int) else esc(str(r[key]))}</td>'
            for key, _, num in _COLUMNS)
        body.append(f'<tr class="layer">{cells}</tr>')
    head = "".join(f'<th class="{"" if num else "l"}" data-num="{int(num)}">{esc(title)}</th>'
                   for _, title, num in _COLUMNS)
    data = json.dumps({"model": report.model, "rows": [
        {"name": r["name"], "params": r["params"], "macs": r["macs"], "output_bytes": r["output_bytes"]}
        for r in rows]}).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    totals = "".join(f"<li>{esc(line)}</li>" for line in report.summary_lines())
    title = f"{report.model} — {report.batch}x{'x'.join(map(str, report.input_size))}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{_CSS}</style></head>
<body data-ready="0" data-js-errors="0">
<h1>{esc(title)} <small>(convention {esc(report.convention)})</small></h1>
<ul class="totals">{totals}</ul>
<h2>Layer graph</h2>{_graph(report, [r["name"] for r in rows])}
<h2>Per-layer charts</h2><div class="charts"><div class="chart" id="chart-params"></div>
<div class="chart" id="chart-macs"></div><div class="chart" id="chart-mem"></div></div>
<h2>Layers</h2>
<table id="layers"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<script type="application/json" id="report-data">{data}</script>
<script>{_JS}</script>
</body></html>
"""
