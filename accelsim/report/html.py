"""report.html: one self-contained page (inline CSS and script, plots as data URIs).

It opens from the file system with no network access: every per-layer table sorts by
any column when its header is clicked. The same tables (without plots) are what
`SimResult._repr_html_` shows in Jupyter.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelsim.report.markdown import (
    MARKDOWN_COLUMNS,
    bound_sentence,
    cells,
    hardware_rows,
    pe_utilization,
    summary_rows,
    with_pe,
)

if TYPE_CHECKING:
    from accelsim.sim.simulate import SimResult

__all__ = ["SORT_SCRIPT", "html_fragment", "html_page", "html_table"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f0f0f0; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th.asc::after { content: " \\25B2"; }
table.sortable th.desc::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.bound { font-weight: bold; }
"""

#: Click a header to sort by its column (numbers by the cell's data-v value); again to flip.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      rows.sort(function (a, b) {
        var x = a.cells[column], y = b.cells[column];
        var u = x.dataset.v, v = y.dataset.v;
        var order = (u !== undefined && v !== undefined) ? (parseFloat(u) - parseFloat(v))
          : x.textContent.localeCompare(y.textContent);
        return asc ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
               values: Sequence[Sequence[Any]] | None = None, sortable: bool = False) -> str:
    """A table; `values` (raw numbers, same shape as rows) make cells numeric and sortable."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = []
    for i, row in enumerate(rows):
        tds = []
        for j, text in enumerate(row):
            raw = values[i][j] if values is not None else None
            numeric = isinstance(raw, int | float) and not isinstance(raw, bool)
            attrs = f' class="num" data-v="{float(raw or 0)!r}"' if numeric else ""
            tds.append(f"<td{attrs}>{escape(str(text))}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    kind = ' class="sortable"' if sortable else ""
    return (f"<table{kind}>{thead}<tbody>"
            + "".join(body) + "</tbody></table>")


def html_fragment(result: SimResult, summary: dict[str, Any]) -> str:
    """Hardware, summary, the bound sentence and the sortable per-layer table."""
    columns = with_pe(MARKDOWN_COLUMNS, result)
    values = [[record[c[1]] for c in columns] for record in result.rows]
    return "\n".join([
        "<h2>Hardware</h2>", html_table(["", ""], hardware_rows(result)),
        "<h2>Summary</h2>",
        html_table(["quantity", "value"], summary_rows(summary, pe_utilization(result))),
        f'<p class="bound">{escape(bound_sentence(summary))}</p>',
        "<h2>Per layer</h2><p>Click a column header to sort.</p>",
        html_table([c[0] for c in columns], cells(result.rows, columns), values, sortable=True),
    ])


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{escape(path.stem)}" src="data:image/png;base64,{data}">'


def html_page(result: SimResult, summary: dict[str, Any], title: str,
              images: Sequence[tuple[str, Path]] = (), notes: Sequence[str] = ()) -> str:
    """The whole report.html: `images` are (title, PNG path) pairs embedded in the page."""
    plots = [f"<h3>{escape(name)}</h3>{_image(path)}" for name, path in images]
    extra = [f"<p>{escape(note)}</p>" for note in notes]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Model <code>{escape(str(summary['model']))}</code>: {summary['layers']} layers, "
        f"{summary['macs']:,} MACs (batch {summary['batch']}).</p>",
        html_fragment(result, summary),
        *(["<h2>Plots</h2>", *plots] if plots else []),
        *extra,
        f"<script>{SORT_SCRIPT}</script>", "</body></html>",
    ]) + "\n"
