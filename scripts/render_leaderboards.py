"""Render the repository's leaderboards from their stored records and refresh the README overview.

    python scripts/render_leaderboards.py [--results leaderboards/synth/results] [--runs runs]

Writes ``leaderboards/synth/`` (markdown with plots), ``leaderboards/synth/html/`` (self-contained
HTML) and ``leaderboards/published/``, then copies the two overview tables of
``leaderboards/synth/index.md`` into README.md between the ``overview`` markers. Run it after
``cvgl-bench grid benchmarks/synth.yaml --results leaderboards/synth/results``; ``--runs`` is the
runs folder of that grid (the records name their checkpoints relative to it; CLNet's map plots
need them).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "cvgl_bench"]
REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- overview:start -->", "<!-- overview:end -->"
OVERVIEWS = ("In-domain, synthetic twins: recall@1 per benchmark", "Transfer, synthetic twins: recall@1 per benchmark")


def render(results: Path, runs: Path = Path("runs")) -> None:
    out = REPO / "leaderboards" / "synth"
    for stale in [*out.glob("*.md"), out / "plots", out / "html"]:
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    suite = str(REPO / "benchmarks" / "synth.yaml")
    common = ["leaderboard", "--results", str(results), "--suite", suite, "--runs", str(runs)]
    for command in (common + ["--out", str(out), "--format", "md"],
                    common + ["--out", str(out / "html"), "--format", "html", "--no-examples"],
                    ["leaderboard", "--published-only", "--out", str(REPO / "leaderboards" / "published")]):
        subprocess.run(CLI + command, check=True)


def overview_blocks(index: str) -> str:
    """The overview sections of an index page, one heading level down."""
    blocks = []
    for title in OVERVIEWS:
        start = index.index(f"## {title}")
        end = index.find("\n## ", start + 3)
        blocks.append("#" + index[start:end if end != -1 else None].strip())
    return "\n\n".join(blocks)


def fill_readme(readme: Path, overview: str) -> None:
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:start] + "\n" + overview + "\n" + text[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "leaderboards" / "synth" / "results")
    parser.add_argument("--runs", type=Path, default=Path("runs"),
                        help="the runs folder holding the records' checkpoints (default: %(default)s)")
    args = parser.parse_args(argv)
    render(args.results, args.runs)
    index = (REPO / "leaderboards" / "synth" / "index.md").read_text(encoding="utf-8")
    fill_readme(REPO / "README.md", overview_blocks(index))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
