"""scripts/render_leaderboards.py: the README overview is the committed leaderboard's, verbatim."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def script():
    spec = importlib.util.spec_from_file_location("render_leaderboards", REPO / "scripts" / "render_leaderboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INDEX = """# cvgl-bench leaderboard

3 records.

## In-domain, synthetic twins: recall@1 per benchmark

| a | b |

- note

## Transfer, synthetic twins: recall@1 per benchmark

| c |

## In-domain tables

- [x](x.md)
"""


def test_overview_blocks_take_both_overviews_one_level_down():
    text = script().overview_blocks(INDEX)
    assert text.startswith("### In-domain, synthetic twins") and "\n### Transfer, synthetic twins" in text
    assert "- note" in text and "| c |" in text and "In-domain tables" not in text


def test_fill_readme_replaces_only_between_the_markers(tmp_path):
    module = script()
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{module.START}\nold\n{module.END}\nafter\n", encoding="utf-8")
    module.fill_readme(readme, "new")
    assert readme.read_text(encoding="utf-8") == f"before\n{module.START}\nnew\n{module.END}\nafter\n"


def test_the_committed_readme_shows_the_committed_leaderboard():
    module = script()
    index = (REPO / "leaderboards" / "synth" / "index.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(module.START) + len(module.START), readme.index(module.END)
    assert readme[start:end].strip() == module.overview_blocks(index), \
        "README overview is stale: run python scripts/render_leaderboards.py"
