"""The paper-shaped table across benchmarks: column groups, best in bold, empty where a method has
no row, and the CLI's one-line errors."""

from __future__ import annotations

from click.testing import CliRunner

from cvgl_bench.cli import cli
from cvgl_bench.leaderboard.paper_table import paper_latex, paper_markdown, paper_rows
from .leaderboard_fakes import build

from .leaderboard_fakes import make_results

TASKS = [("synth_cvusa_train", "synth_cvusa_test", "synth_cvusa_train", 120, 300),
         ("synth_cvact_train", "synth_cvact_val", "synth_cvact_train", 120, 300)]


def _board(tmp_path):
    make_results(tmp_path / "r", TASKS[:1], methods=("sample4geo", "clnet", "safa"), seeds=(0, 1))
    make_results(tmp_path / "r", TASKS[1:], methods=("sample4geo", "safa"), seeds=(0, 1))
    return build(tmp_path / "r", significance=False, ranks=False)


def test_rows_columns_best_and_gaps(tmp_path):
    board = _board(tmp_path)
    labels, values = paper_rows(board.tables)
    assert sorted(labels) == ["clnet", "safa", "sample4geo"] and all(len(v) == 8 for v in values)
    clnet = values[labels.index("clnet")]
    act = [t.eval_split for t in board.tables].index("synth_cvact_val")
    assert clnet[4 * act:4 * act + 4] == [None] * 4  # clnet has no row on synth_cvact_val: empty, not borrowed
    assert None not in clnet[4 * (1 - act):4 * (1 - act) + 4]
    table = next(t for t in board.tables if t.eval_split == "synth_cvusa_test")
    best_r1 = max(r.value("recall@1") for r in table.rows)
    md = paper_markdown(board.tables)
    assert md.count(f"**{best_r1:.2f}**") >= 1 and "synth_cvusa_test R@1" in md
    tex = paper_latex(board.tables)
    assert tex.startswith("\\begin{tabular}{lrrrrrrrr}") and "\\toprule" in tex and "\\bottomrule" in tex
    assert "\\multicolumn{4}{c}{synth\\_cvusa\\_test}" in tex
    assert "\\multicolumn{4}{c}{synth\\_cvact\\_val}" in tex and "\\cmidrule(lr){2-5}\\cmidrule(lr){6-9}" in tex
    assert f"\\textbf{{{best_r1:.2f}}}" in tex



def test_latex_and_markdown_show_the_same_cells(tmp_path):
    """The LaTeX table (pandas Styler) and the Markdown one print the same values, gaps and bold cells."""
    board = _board(tmp_path)
    md_rows = [line.strip("| ").split(" | ") for line in paper_markdown(board.tables).splitlines()[2:]]
    tex_lines = paper_latex(board.tables).splitlines()
    body = tex_lines[tex_lines.index("\\midrule") + 1:tex_lines.index("\\bottomrule")]
    tex_rows = [[c.strip() for c in line.removesuffix("\\\\").split("&")] for line in body]
    as_md = [[c.replace("\\textbf{", "**").replace("}", "**") if c.startswith("\\textbf") else c for c in row]
             for row in tex_rows]
    assert [r[0] for r in as_md] == [r[0] for r in md_rows]
    assert [r[1:] for r in as_md] == [[c.strip() for c in r[1:]] for r in md_rows]


def test_cli_paper_table_and_its_errors(tmp_path, make_host):
    make_host()
    _board(tmp_path)
    runner = CliRunner()
    done = runner.invoke(cli, ["leaderboard", "--results", str(tmp_path / "r"), "--paper-table", "--format", "latex",
                               "--tables", "in-domain__synth_cvact_val", "--no-significance"])
    assert done.exit_code == 0, done.output
    assert "synth\\_cvact\\_val" in done.output and "synth\\_cvusa\\_test" not in done.output
    bad = runner.invoke(cli, ["leaderboard", "--results", str(tmp_path / "r"), "--paper-table", "--tables", "nosuch"])
    assert bad.exit_code == 2 and "no table 'nosuch'" in bad.output
    html = runner.invoke(cli, ["leaderboard", "--results", str(tmp_path / "r"), "--paper-table", "--format", "html"])
    assert html.exit_code == 2 and "md or latex" in html.output


def test_paper_table_mistakes_are_refused_before_any_record_is_read(tmp_path, make_host):
    """The first two were refused only after the whole board was built (seconds per hundred
    records) and after its warnings, the third after a note on an option it does not read: two
    lines where one was due. An empty results folder shows the order."""
    make_host()
    (tmp_path / "empty").mkdir()
    runner = CliRunner()
    for args, needle in ((["--paper-table", "--format", "html"], "--paper-table writes md or latex"),
                         (["--tables", "in-domain__synth_cvact_val"],
                          "--tables chooses the benchmarks of --paper-table"),
                         (["--published-only", "--format", "csv"], "--published-only writes Markdown")):
        result = runner.invoke(cli, ["leaderboard", "--results", str(tmp_path / "empty"), *args])
        assert result.exit_code == 2 and needle in result.output and "no result records" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
