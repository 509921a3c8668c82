"""The published numbers alone, one Markdown table per benchmark task: what the literature
reports for CVUSA, CVACT, VIGOR and University-1652, with source and confidence, before anyone
has run anything here. Never ranked: rows keep the curated file's order.
"""

from __future__ import annotations

import re

from .published import UNVERIFIED_MARK, Published, format_number

METRICS = (("recall@1", "R@1"), ("recall@5", "R@5"), ("recall@10", "R@10"), ("recall@1%", "R@1%"),
           ("hit_rate", "Hit rate"), ("ap", "AP"))


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def task_key(eval_split: str, train_split: str) -> str:
    """File stem of a task's table: ``published__<eval>__<train>``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"published__{eval_split}__{train_split}")


def published_markdown(published: Published) -> dict[str, str]:
    """``{file name: Markdown}``: one table per (evaluation split, training split) and ``published.md``."""
    files: dict[str, str] = {}
    links = []
    for eval_split, train_split in published.tasks():
        entries = published.entries(eval_split, train_split)
        used = [(m, h) for m, h in METRICS if any(e.number(m) for e in entries)]
        slot = (published.document.get("benchmarks") or {}).get(eval_split, {}).get(train_split) or {}
        task = slot.get("task") or "in-domain"
        title = f"{eval_split} ({task}, trained on {train_split})"
        lines = [f"# Published numbers: {title}", "",
                 f"{len(entries)} entries, in the curated file's order (never ranked). {UNVERIFIED_MARK}: not "
                 "verified in a primary source; Conf.: confidence code (legend in published.md).", "",
                 "| Method | " + " | ".join(h for _, h in used) + " | Conf. | Protocol | Source |",
                 "|---|" + "---:|" * len(used) + "---|---|---|"]
        for entry in entries:
            protocol = ", ".join(f"{k}={v}" for k, v in sorted(entry.protocol.items())) or "unknown"
            if not entry.standard_protocol:
                protocol += " (non-standard)"
            flags = f" ({', '.join(entry.flags)})" if entry.flags else ""
            numbers = [format_number(entry.number(m), code=False) for m, _ in used]
            lines.append("| " + " | ".join(_cell(x) for x in [entry.label + flags, *numbers, entry.confidence,
                                                               protocol, entry.source_link]) + " |")
        name = f"{task_key(eval_split, train_split)}.md"
        files[name] = "\n".join(lines) + "\n"
        links.append(f"- [{title}]({name}): {len(entries)} entries")
    legend = [f"- `{code}`: {text}" for code, text in sorted(published.confidence_codes.items())]
    source = f" from `{published.path.name}`" if published.path else ""
    files["published.md"] = "\n".join(
        ["# Published numbers", "", f"What papers report on the real benchmarks{source}, one table per task. "
         "Numbers measured on real data are never compared with synthetic splits.", "", *links, "",
         "Confidence codes:", "", *legend]) + "\n"
    return files
