"""Renderers: a :class:`~cvgl_bench.leaderboard.document.Document` as markdown, LaTeX or HTML;
tables as CSV.

Markdown tables are tabulate "pipe" tables; LaTeX tables use booktabs; the HTML page is
self-contained (inline CSS, figures as base64 data URIs) and every string passes through
``html.escape``. CSV files hold numbers, not display strings, so they can be analysed.

The page tables hold display strings ("36.83 ± 3.98", "a → b"), so their LaTeX is written here
rather than by tabulate's ``latex_booktabs`` (tried with tabulate 0.10: it escapes ``\\`` and
``$``, so the ``$\\pm$`` and ``$\\rightarrow$`` the symbols need cannot pass through it, and it
leaves the raw symbols, which pdflatex cannot typeset in every font) or by pandas' Styler (the
cells are not numbers to format). The numeric paper table uses Styler (``paper_table.py``); the
HTML page adds sorting, links and figures that Styler's ``to_html`` does not produce.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

from .document import Document, Figure, Heading, Links, Notes, Table, Text
from .tables import EFFICIENCY_KEYS, BenchmarkTable, Leaderboard

EXTENSIONS = {"md": "md", "csv": "csv", "latex": "tex", "html": "html"}


# -- markdown ---------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    """``text`` on one line, with ``|`` escaped, and ``<`` as ``&lt;`` where it could open raw HTML
    (a tag, comment or autolink: markdown renderers pass those through), so "p < 0.05" reads as written."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", str(text).replace("|", "\\|").replace("\n", " "))


def to_markdown(doc: Document, *, link_ext: str = "md", images: bool = True) -> str:
    """GitHub-flavoured markdown; figures are linked as ``plots/<name>``."""
    from tabulate import tabulate

    out = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            out.append("#" * block.level + " " + _md_cell(block.text))
        elif isinstance(block, Text):
            out.append(_md_cell(block.text))
        elif isinstance(block, Notes):
            out.append("\n".join(f"- {_md_cell(item)}" for item in block.items))
        elif isinstance(block, Table):
            align = ["right" if n else "left" for n in block.numeric] or None
            out.append(tabulate([[_md_cell(c) for c in row] for row in block.rows],
                                headers=[_md_cell(h) for h in block.headers], tablefmt="pipe",
                                disable_numparse=True, colalign=align))
        elif isinstance(block, Figure):
            if images:
                other = "".join(f" ([{fmt.upper()}](plots/{block.file_name(fmt)}))" for fmt in block.other_formats)
                out.append(f"![{_md_cell(block.caption)}](plots/{block.name})\n\n*{_md_cell(block.caption)}*{other}")
        elif isinstance(block, Links):
            out.append("\n".join(f"- [{_md_cell(text)}]({key}.{link_ext})" for text, key in block.items))
    return "\n\n".join(out) + "\n"


# -- LaTeX ------------------------------------------------------------------------------------
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}",
                  "\u00b1": r"$\pm$", "\u2020": r"\textdagger{}", "\u2021": r"\textdaggerdbl{}",
                  "\u0394": r"$\Delta$", "\u2212": "-", "\u2192": r"$\rightarrow$", "\u2014": "---",
                  "\u2013": "--"}


def latex_escape(text: Any) -> str:
    """Escape LaTeX specials and map the few non-ASCII symbols the tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(doc: Document) -> str:
    """A LaTeX fragment (needs ``booktabs`` and ``graphicx``), ``\\input`` by ``index.tex``."""
    out = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            command = {1: "section", 2: "subsection"}.get(block.level, "subsubsection")
            out.append(f"\\{command}*{{{latex_escape(block.text)}}}")
        elif isinstance(block, Text):
            out.append(latex_escape(block.text) + "\n")
        elif isinstance(block, Notes):
            out.append("{\\footnotesize\n" + "\n".join(f"{latex_escape(i)}\\par" for i in block.items) + "\n}")
        elif isinstance(block, Table):
            spec = "".join("r" if n else "l" for n in (block.numeric or [False] * len(block.headers)))
            lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
                     " & ".join(latex_escape(h) for h in block.headers) + r" \\", "\\midrule"]
            lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in block.rows]
            lines += ["\\bottomrule", "\\end{tabular}"]
            out.append("{\\small\\resizebox{\\linewidth}{!}{%\n" + "\n".join(lines) + "}}\n")
        elif isinstance(block, Figure):
            out.append("\\begin{center}\\includegraphics[width=\\linewidth]{plots/" + block.name + "}\\\\\n"
                       + "{\\footnotesize " + latex_escape(block.caption) + "}\\end{center}")
        elif isinstance(block, Links):
            out.append("\n".join(f"\\input{{{key}.tex}}\n\\clearpage" for _, key in block.items))
    return "\n\n".join(out) + "\n"


LATEX_PREAMBLE = ("\\documentclass[a4paper]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
                  "\\usepackage[margin=2cm]{geometry}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
                  "\\begin{document}\n")


# -- HTML -------------------------------------------------------------------------------------
def esc(text: Any) -> str:
    """``html.escape`` of any value shown on a page (quotes too: safe in attributes)."""
    return html.escape(str(text), quote=True)


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 1500px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; }
h3 { font-size: 1em; }
div.wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .6em 0; font-size: .85em; }
th, td { padding: .25em .6em; border-bottom: 1px solid #ddd; white-space: nowrap; }
thead th { border-top: 2px solid #333; border-bottom: 1px solid #333; text-align: left; background: #f6f6f6; }
tbody tr:last-child td { border-bottom: 2px solid #333; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #f3f7ff; }
ul.notes { font-size: .82em; color: #555; padding-left: 1.2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .82em; color: #555; }
p.skip { font-size: .85em; color: #8a6d3b; }
nav a { margin-right: 1em; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable thead th[aria-sort="descending"]::after { content: " \\25BC"; }
"""

SORT_JS = """
function cvglSort(table, col, dir) {
  const body = table.tBodies[0], rows = Array.from(body.rows);
  const numeric = table.tHead.rows[0].cells[col].classList.contains("num");
  const key = r => {
    const t = r.cells[col] ? r.cells[col].textContent.trim() : "";
    if (!numeric) return t === "" ? null : t.toLowerCase();
    const v = parseFloat(t.replace(/,/g, ""));
    return isNaN(v) ? null : v;
  };
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    return (x < y ? -1 : x > y ? 1 : 0) * (dir === "desc" ? -1 : 1);
  });
  rows.forEach(r => body.appendChild(r));
  Array.from(table.tHead.rows[0].cells).forEach((c, i) =>
    c.setAttribute("aria-sort", i === col ? (dir === "desc" ? "descending" : "ascending") : "none"));
}
document.querySelectorAll("table.sortable").forEach(table => {
  Array.from(table.tHead.rows[0].cells).forEach((cell, col) => cell.addEventListener("click", () =>
    cvglSort(table, col, cell.getAttribute("aria-sort") === "ascending" ? "desc" : "asc")));
});
const cvglHash = location.hash.match(/^#sort=(\\d+):(\\d+):(asc|desc)$/);
if (cvglHash) {
  const table = document.querySelectorAll("table.sortable")[Number(cvglHash[1])];
  if (table) cvglSort(table, Number(cvglHash[2]), cvglHash[3]);
}
"""
"""Click a column header to sort by it (again to reverse); empty cells stay last. A page opened
as ``page.html#sort=T:C:asc|desc`` starts sorted by column C of its T-th table (a shareable view)."""


def to_html(doc: Document, *, link_ext: str = "html") -> str:
    """A self-contained HTML page: inline CSS, figures embedded, every string escaped."""
    body = []
    for block in doc.blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 4)
            body.append(f"<h{level}>{esc(block.text)}</h{level}>")
        elif isinstance(block, Text):
            css = ' class="skip"' if block.text.startswith("retrieval examples skipped") else ""
            body.append(f"<p{css}>{esc(block.text)}</p>")
        elif isinstance(block, Notes):
            body.append('<ul class="notes">' + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            numeric = block.numeric or [False] * len(block.headers)
            head = "".join(f'<th{" class=num" if n else ""}>{esc(h)}</th>' for h, n in zip(block.headers, numeric))
            rows = "".join("<tr>" + "".join(f'<td{" class=num" if n else ""}>{esc(c)}</td>'
                                            for c, n in zip(row, numeric)) + "</tr>" for row in block.rows)
            body.append(f'<div class="wrap"><table class="sortable"><thead><tr>{head}</tr></thead>'
                        f'<tbody>{rows}</tbody></table></div>')
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode("ascii")
            body.append(f'<figure><img alt="{esc(block.caption)}" src="data:{block.mime};base64,{data}">'
                        f"<figcaption>{esc(block.caption)}</figcaption></figure>")
        elif isinstance(block, Links):
            body.append("<ul>" + "".join(f'<li><a href="{esc(key)}.{link_ext}">{esc(text)}</a></li>'
                                         for text, key in block.items) + "</ul>")
    nav = "" if doc.key == "index" else f'<nav><a href="index.{link_ext}">&larr; leaderboard index</a></nav>'
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{esc(doc.title)}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n{nav}\n" + "\n".join(body)
            + f"\n<script>{SORT_JS}</script>\n</body>\n</html>\n")


# -- CSV --------------------------------------------------------------------------------------
def table_frame(table: BenchmarkTable) -> Any:
    """The numbers of a table (one row per table row), for analysis."""
    import pandas as pd

    records = []
    for rank, row in enumerate(table.rows, 1):
        data: dict[str, Any] = {
            "rank": rank if row.value(table.primary_metric) is not None else None,
            "task": table.task, "train_split": table.train_split, "eval_split": table.eval_split,
            "listing": ";".join(f"{k}={v}" for k, v in sorted(table.listing.items())),
            "method": row.method, "variant": row.variant, "label": row.label, "profile": row.profile,
            "implementation": row.implementation,
            "config_hash": row.config_hash,
            "dataset_fingerprint": row.fingerprint,
            "protocol": ";".join(f"{k}={v}" for k, v in sorted(row.protocol.items())),
            "n_seeds": len(row.runs), "seeds": ";".join(map(str, row.seeds)),
            "expected_seeds": None if row.expected_seeds is None else ";".join(map(str, row.expected_seeds)),
        }
        for metric in table.metrics:
            stat = row.stats.get(metric)
            data[metric] = stat.mean if stat else None
            data[f"{metric}.lo"] = stat.lo if stat else None
            data[f"{metric}.hi"] = stat.hi if stat else None
            data[f"{metric}.interval"] = stat.interval if stat else None
            if not table.synthetic:
                number = row.published.number(metric) if row.published else None
                data[f"published.{metric}"] = number["value"] if number else None
                data[f"published.{metric}.confidence"] = number["confidence"] if number else None
                data[f"published.{metric}.verified"] = number["verified"] if number else None
                data[f"delta.{metric}"] = row.deltas.get(metric)
        if not table.synthetic:
            data["protocol_differs_from_published"] = ";".join(sorted(row.protocol_mismatch)) or None
        sig = row.significance
        data["vs_best.status"] = sig.get("status")
        data["vs_best.p_value"] = sig.get("p_value")
        data["vs_best.delta"] = sig.get("delta")
        data["vs_best.significant"] = sig.get("significant")
        for key in EFFICIENCY_KEYS:
            data[key] = row.efficiency.get(key)
        data["devices"] = ";".join(row.devices)
        records.append(data)
    return pd.DataFrame(records)


def published_frame(table: BenchmarkTable) -> Any:
    """Every published number on this task, long format, with our reproduced mean where we have one."""
    import pandas as pd

    ours = {row.method: row for row in table.rows if not row.variant}
    records = []
    for entry in table.published_entries:
        row = ours.get(entry.method) if entry.primary else None
        for metric, number in entry.metrics.items():
            mine = row.value(metric) if row is not None else None
            records.append({"method": entry.method, "paper_method": entry.paper_method, "variant": entry.variant,
                            "primary": entry.primary, "metric": metric, "value": number["value"],
                            "confidence": number["confidence"], "verified": number["verified"],
                            "reproduced": mine, "delta": None if mine is None else mine - number["value"],
                            "source": entry.source.get("ref"), "source_url": entry.source.get("url"),
                            "source_kind": entry.source.get("kind"),
                            "protocol": ";".join(f"{k}={v}" for k, v in sorted(entry.protocol.items())),
                            "flags": ";".join(entry.flags)})
    return pd.DataFrame(records)


def stdout_frame(board: Leaderboard) -> Any:
    """Every table's rows as one CSV table with one header, each row named by its ``benchmark``
    (the file key ``--out`` would give its table); a metric column is empty on a table without it.
    The overview is left out: it is a view of these rows (``index.csv`` with ``--out``)."""
    import pandas as pd

    frames = [table_frame(t).assign(benchmark=t.key) for t in board.tables]
    if not frames:
        return pd.DataFrame(columns=["benchmark"])
    merged = pd.concat(frames, ignore_index=True, sort=False)
    return merged[["benchmark", *(c for c in merged.columns if c != "benchmark")]]


def overview_frame(board: Leaderboard) -> Any:
    """The overview tables in long format (mean is empty for incomplete rows)."""
    import pandas as pd

    records = []
    for overview in board.overviews:
        for label, values, mean in overview.rows:
            for column, value in zip(overview.columns, values):
                records.append({"group": overview.title, "method": label, "benchmark": column, "value": value,
                                "mean_if_complete": mean})
    return pd.DataFrame(records, columns=["group", "method", "benchmark", "value", "mean_if_complete"])
