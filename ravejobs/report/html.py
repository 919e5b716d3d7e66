"""One HTML page: plots as embedded PNGs, audio players, a sortable run table, config diffs.

Self-contained but for the audio clips, copied next to it into `audio/` (embedding seconds of
48 kHz audio per run would make the page megabytes per run): the folder is copied off the
cluster as one. The small script sorts the table and, once the page has loaded, records on
<body> whether every image decoded (`data-images="ok"`), how many runs the table holds
(`data-rows`) and whether every audio player loaded its file (`data-audio="ok"`,
`data-audio-count`); the browser test reads these from the DOM.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import quote

from ravejobs.listening import KINDS
from ravejobs.report.collect import RunRecord
from ravejobs.report.plots import Plot
from ravejobs.report.table import COLUMNS, config_diff, rows

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.8em; }
.scroll { overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.4em; text-align: left; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; user-select: none; white-space: normal;
     vertical-align: bottom; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0 0 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption, .meta { color: #555; font-size: 0.85em; }
"""

_SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const col = Array.from(th.parentNode.children).indexOf(th);
  const asc = th.getAttribute('aria-sort') !== 'ascending';
  table.querySelectorAll('th').forEach(h => h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
  const key = tr => {
    const v = tr.children[col].dataset.v;
    const n = Number(v);
    return v === '' ? null : (isNaN(n) ? v : n);
  };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null) return 1; if (y === null) return -1;
    const c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0)
                                      : (typeof x < typeof y ? -1 : 1);
    return asc ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
}
document.querySelectorAll('table.sortable th').forEach(
  th => th.addEventListener('click', () => sortTable(th)));
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  document.body.dataset.images = broken ? 'broken:' + broken : 'ok';
  document.body.dataset.imageCount = imgs.length;
  document.body.dataset.rows = document.querySelectorAll('#runs tbody tr').length;
});
const players = Array.from(document.querySelectorAll('audio'));
document.body.dataset.audioCount = players.length;
Promise.all(players.map(a => new Promise(done => {
  if (a.readyState >= 1) return done(a.duration > 0);
  a.addEventListener('loadedmetadata', () => done(a.duration > 0));
  a.addEventListener('error', () => done(false));
  a.load();
}))).then(ok => {
  const broken = ok.filter(x => !x).length;
  document.body.dataset.audio = broken ? 'broken:' + broken : 'ok';
});
"""


def _cell(value: Any, text: str) -> str:
    raw = "" if value is None else str(value)
    cls = ' class="num"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
    return f'<td{cls} data-v="{escape(raw)}">{escape(text)}</td>'


def runs_table(records: list[RunRecord]) -> str:
    head = "".join(f'<th title="{escape(c.help)}">{escape(c.header)}</th>' for c in COLUMNS)
    body = []
    for record, row in zip(records, rows(records), strict=True):
        cells = "".join(_cell(v, c.text(v)) for c, v in zip(COLUMNS, row, strict=True))
        body.append(f'<tr data-run="{escape(record.label)}">{cells}</tr>')
    return (f'<div class="scroll"><table id="runs" class="sortable"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>')


def diff_table(records: list[RunRecord]) -> str:
    keys, values = config_diff(records)
    if not keys:
        return '<p class="meta">All runs share the same settings.</p>'
    head = "<th>run</th>" + "".join(f"<th>{escape(k)}</th>" for k in keys)
    body = []
    for record, row in zip(records, values, strict=True):
        cells = "".join(_cell(v, "—" if v is None else str(v)) for v in row)
        body.append(f'<tr><td data-v="{escape(record.label)}">{escape(record.label)}</td>'
                    f"{cells}</tr>")
    return (f'<div class="scroll"><table id="diff" class="sortable"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>')


def listen_table(audio: dict[str, tuple[int, dict[str, str]]]) -> str:
    """One row per run with audio: the newest validation's clips as players (relative files)."""
    if not audio:
        return ('<p class="meta">No audio yet: runs write clips at each validation '
                '(<code>audio/step-N-input.wav</code>, <code>-recon</code>, '
                '<code>-prior</code>).</p>')
    kinds = [k for k in KINDS if any(k in clips for _, clips in audio.values())]
    head = "<th>run</th><th>step</th>" + "".join(f"<th>{escape(k)}</th>" for k in kinds)
    body = []
    for label, (step, clips) in audio.items():
        cells = "".join(
            f'<td><audio controls preload="metadata" src="{escape(quote(clips[k]))}">'
            "</audio></td>"
            if k in clips else "<td></td>" for k in kinds)
        body.append(f'<tr data-audio-run="{escape(label)}"><td>{escape(label)}</td>'
                    f'<td class="num">{step}</td>{cells}</tr>')
    return (f'<div class="scroll"><table id="listen"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def render(records: list[RunRecord], plots: list[Plot], sweeps: list[str], group_by: str,
           audio: dict[str, tuple[int, dict[str, str]]] | None = None) -> str:
    title = "ravejobs report: " + ", ".join(sweeps)
    figures = "".join(
        f'<figure id="plot-{p.key}"><h2>{escape(p.title)}</h2>'
        f'<img alt="{escape(p.title)}" src="{p.data_uri}">'
        f"<figcaption>{escape(p.caption)}</figcaption></figure>" for p in plots)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="meta">{len(records)} runs, coloured by <b>{escape(group_by)}</b>; generated {when}.
Click a column header to sort.</p>
{figures}
<h2>Listen</h2>
<p class="meta">The newest validation's clips per run: input, its reconstruction, and a prior
sample decoded (files next to this page, in <code>audio/</code>).</p>
{listen_table(audio or {})}
<h2>Runs</h2>
{runs_table(records)}
<h2>What the runs vary</h2>
<p class="meta">Settings that decide what is trained (as in the run signature) and differ
between runs; all other settings are the same everywhere.</p>
{diff_table(records)}
<script>{_SCRIPT}</script>
</body></html>
"""
