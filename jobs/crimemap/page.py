"""The crime map page: HTML, CSS and JS inline (no tiles, no CDN). The script keeps one state (time bucket,
selected categories, selected cell) and derives everything shown from it, so the header, the category table,
the hexagons and the incident list always agree."""

from __future__ import annotations

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}}
h1{{font-size:20px;margin:0 0 4px}} .sub{{color:#555;margin-bottom:12px}}
#wrap{{display:flex;gap:16px;align-items:flex-start}}
svg{{background:#eef2f5;border:1px solid #ccd}}
.area{{fill:#fff;stroke:#8896a8;stroke-width:1}}
.road{{fill:none;stroke:#b9c0c8;stroke-width:1;pointer-events:none}} .road.arterial{{stroke:#9aa3ad;stroke-width:2.2}}
.outline{{fill:none;stroke:#334;stroke-width:1.2;stroke-dasharray:4 3;pointer-events:none}}
.label{{font-size:12px;font-weight:600;fill:#223;text-anchor:middle;pointer-events:none;
  paint-order:stroke;stroke:#fff;stroke-width:3px}}
.cell{{stroke:#444;stroke-width:.4;fill-opacity:.78;cursor:pointer}} .cell:hover{{stroke:#000;stroke-width:2}}
.cell.selected{{stroke:#1f4fd1;stroke-width:3}}
#tip{{position:fixed;pointer-events:none;background:#222;color:#fff;padding:4px 8px;border-radius:4px;
  display:none;font-size:12px}}
#legend td{{padding:1px 6px}} #legend .sw{{display:inline-block;width:28px;height:12px;border:1px solid #999}}
table{{border-collapse:collapse}} td,th{{padding:2px 8px;text-align:left}} td.n,th.n{{text-align:right}}
#cats tfoot td{{border-top:1px solid #999;font-weight:600}}
#controls{{margin:8px 0}} #bucket{{font-weight:bold}}
#items{{max-height:320px;overflow:auto;min-width:320px}} #items li{{margin:2px 0}} #items .t{{color:#555}}
.flag{{fill:none;stroke:#1f4fd1;stroke-width:2.2}} .flagnote{{color:#1f4fd1;font-weight:600}}
</style></head><body>
<h1>{title}</h1><div class="sub">{subtitle}</div>
<div id="controls"><label>time ({tz}): <input id="slider" type="range" min="0" max="{nbuckets}" value="0"
step="1"></label> <span id="bucket">all</span> · <span id="count">{total}</span> {layer} in
<span id="ncells">{ncells}</span> cells <button id="play" type="button">play</button></div>
<div id="wrap"><svg id="map" width="{width}" height="{height}" viewBox="0 0 {width} {height}">
<g id="areas">{areas}</g><g id="roads">{roads}</g><g id="cells">{cells}</g><g id="overlay">{overlay}</g>
<g id="forecast">{flagged}</g></svg>
<div><h3>{layer} per cell</h3><table id="legend">{legend}</table>
<p class="sub">fixed scale for every time step and filter</p>{flagged_note}
<h3>by category</h3><table id="cats"><thead><tr><th>show</th><th>category</th><th class="n">count</th></tr></thead>
<tbody>{cats}</tbody><tfoot><tr><td></td><td>total</td><td class="n" id="cat-total">{total}</td></tr></tfoot></table>
<h3 id="items-title">click a cell to list its {layer}</h3><ul id="items"></ul></div></div>
<div id="tip"></div>
<script id="map-data" type="application/json">{data}</script>
<script>
(function(){{
const D = JSON.parse(document.getElementById('map-data').textContent);
const cells = Array.from(document.querySelectorAll('#cells .cell'));
const slider = document.getElementById('slider'), tip = document.getElementById('tip');
const boxes = Array.from(document.querySelectorAll('#cats input[type=checkbox]'));
const perCell = cells.map(() => []);
D.counts.forEach(([c, b, k, n]) => perCell[c].push([b, k, n]));
const bucketCats = D.buckets.map(() => D.cats.map(() => 0));
D.bucketCats.forEach(([b, k, n]) => {{ bucketCats[b][k] = n; }});
let current = 0, picked = null;
function on(k){{ return boxes[k].checked; }}
function value(i){{
  let v = 0;
  for (const [b, k, n] of perCell[i]) if ((current === 0 || b === current - 1) && on(k)) v += n;
  return v;
}}
function catCount(k){{ return current === 0 ? D.catTotals[k] : bucketCats[current - 1][k]; }}
function colour(v){{
  for (let j = 0; j < D.breaks.length; j++) if (v <= D.breaks[j]) return D.colours[j];
  return D.colours[D.colours.length - 1];
}}
function fmt(n){{ return n.toLocaleString('en'); }}
function paint(){{
  let n = 0;
  cells.forEach((el, i) => {{
    const v = value(i);
    el.dataset.count = v;
    if (v <= 0) {{ el.setAttribute('fill', 'none'); el.style.display = 'none'; return; }}
    el.style.display = ''; n++;
    el.setAttribute('fill', colour(v));
  }});
  let sum = 0;
  D.cats.forEach((_, k) => {{
    const c = catCount(k);
    document.getElementById('cat-n-' + k).textContent = fmt(c);
    if (on(k)) sum += c;
  }});
  document.getElementById('bucket').textContent = current === 0 ? 'all' : D.buckets[current - 1];
  document.getElementById('count').textContent = fmt(sum);
  document.getElementById('cat-total').textContent = fmt(sum);
  document.getElementById('ncells').textContent = fmt(n);
  list();
}}
function list(){{
  const ul = document.getElementById('items'), title = document.getElementById('items-title');
  cells.forEach(el => el.classList.remove('selected'));
  ul.textContent = '';
  if (picked === null) return;
  cells[picked].classList.add('selected');
  const shown = (D.items[picked] || []).filter(([, k, b]) => on(k) && (current === 0 || b === current - 1));
  const total = value(picked);
  title.textContent = 'cell ' + D.cells[picked] + ': ' + fmt(total) + ' ' + D.layer +
    (current ? ' in ' + D.buckets[current - 1] : '') + (shown.length < total ? ' (newest ' + shown.length + ')' : '');
  for (const [id, k, , when, text] of shown) {{
    const li = document.createElement('li');
    li.dataset.id = id;
    const t = document.createElement('span'); t.className = 't'; t.textContent = when + ' ';
    li.append(t, D.cats[k] + ' · ' + id + (text ? ' · ' + text : ''));
    ul.append(li);
  }}
}}
slider.addEventListener('input', () => {{ current = +slider.value; paint(); }});
boxes.forEach(b => b.addEventListener('change', paint));
let timer = null;
document.getElementById('play').addEventListener('click', () => {{
  if (timer) {{ clearInterval(timer); timer = null; return; }}
  timer = setInterval(() => {{ current = (current % D.buckets.length) + 1; slider.value = current; paint(); }}, 800);
}});
cells.forEach((el, i) => {{
  el.addEventListener('mousemove', e => {{
    tip.style.display = 'block'; tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
    const when = current ? ' in ' + D.buckets[current - 1] : ' in all';
    tip.textContent = D.cells[i] + ': ' + value(i) + ' ' + D.layer + when + ' (click to list)';
  }});
  el.addEventListener('mouseleave', () => {{ tip.style.display = 'none'; }});
  el.addEventListener('click', () => {{ picked = i; list(); }});
}});
paint();
document.body.dataset.ready = '1';
}})();
</script></body></html>
"""
