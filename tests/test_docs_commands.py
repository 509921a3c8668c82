"""Every ``cvgl-bench`` command line in the README and docs/ names options the command has, a
value each choice option offers, and methods and splits that are registered (or that the page
itself registers or scaffolds, as the plugin guide does): a renamed option cannot leave a page behind."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("plugins/*/README.md"))]
COMMAND = re.compile(r"cvgl-bench(?: --debug)? ([a-z][a-z-]*(?: [^`\n|]*)?)")
NAMED = {"method": "methods", "datasets_": "splits", "split_name": "splits", "train_on": "splits"}


def _placeholder(value: str) -> bool:
    """``SPLIT``, ``<name>``, ``$NAME``, ``my_method...``: a value the reader fills in."""
    return value.isupper() or bool(re.search(r"[<$.{]", value))


def command_lines(page: Path) -> list[tuple[list[str], str]]:
    """Each ``cvgl-bench ...`` of ``page`` (continuation lines joined) as its tokens up to the
    first shell operator or comment, with the line it came from."""
    text = re.sub(r"\\\n\s*", " ", page.read_text(encoding="utf-8"))
    found = []
    for match in COMMAND.finditer(text):
        line = re.split(r"\s(?:&&|\|\||\||;|>|2>|#)\s?", match.group(1))[0]
        try:
            found.append((shlex.split(line), line))
        except ValueError:  # an unbalanced quote in prose
            continue
    return found


def problems_of(pages: list[Path], host) -> tuple[list[str], int]:
    """What the command lines of ``pages`` name that does not exist, and how many were checked."""
    from cvgl_bench.cli import cli

    ctx = click.Context(cli)
    problems, checked = [], 0
    for page in pages:
        text = page.read_text(encoding="utf-8")  # names the page itself registers or scaffolds
        registered_here = set(re.findall(r'name="([a-z0-9_]+)"|cvgl-bench new-plugin ([a-z0-9_]+)', text))
        registered_here = {name for pair in registered_here for name in pair if name}
        for tokens, line in command_lines(page):
            command, path = cli, []
            while isinstance(command, click.Group) and tokens and command.get_command(ctx, tokens[0]) is not None:
                path.append(tokens[0])
                command = command.get_command(ctx, tokens.pop(0))
            if isinstance(command, click.Group):
                continue  # prose such as "cvgl-bench is ..."
            checked += 1
            where = f"{page.name}: cvgl-bench {' '.join(path)}"
            options = {name: param for param in command.params for name in (*param.opts, *param.secondary_opts)}
            for i, token in enumerate(tokens):
                if not token.startswith("-") or re.match(r"-?\d", token) or token == "-":
                    continue
                name = token.split("=", 1)[0]
                if name not in options and name not in ("--help", "-h"):
                    problems.append(f"{where}: no option {name} [{line}]")
                    continue
                param, value = options.get(name), tokens[i + 1] if i + 1 < len(tokens) else ""
                if param is None or not value or _placeholder(value):
                    continue
                if isinstance(param.type, click.Choice) and value not in param.type.choices:
                    problems.append(f"{where}: {name} {value} is not one of {', '.join(param.type.choices)}")
                registry = getattr(host, NAMED.get(param.name or "", ""), None)
                if registry is not None and value not in registry and value not in registered_here:
                    problems.append(f"{where}: {name} {value} is not registered")
    return problems, checked


def test_every_documented_command_line_names_what_exists(make_host):
    problems, checked = problems_of(PAGES, make_host(entry_points=True))
    assert checked > 80, f"only {checked} command lines found: is the pattern still right?"
    assert not problems, "\n".join(problems)


def test_a_stale_option_a_wrong_choice_and_an_unknown_method_are_caught(tmp_path, make_host):
    page = tmp_path / "page.md"
    page.write_text("```bash\ncvgl-bench run --method clnet --datset synth_cvusa_test \\\n  --on-corrupt fail\n```\n"
                    "and `cvgl-bench leaderboard --format docx`, `cvgl-bench run -m clnett -d SPLIT && ls`\n",
                    encoding="utf-8")
    lines = [tokens for tokens, _ in command_lines(page)]
    assert lines == [["run", "--method", "clnet", "--datset", "synth_cvusa_test", "--on-corrupt", "fail"],
                     ["leaderboard", "--format", "docx"], ["run", "-m", "clnett", "-d", "SPLIT"]]
    problems, checked = problems_of([page], make_host(entry_points=True))
    assert checked == 3 and [p.split(" [")[0] for p in problems] == [
        "page.md: cvgl-bench run: no option --datset",
        "page.md: cvgl-bench leaderboard: --format docx is not one of md, csv, latex, html",
        "page.md: cvgl-bench run: -m clnett is not registered"]
