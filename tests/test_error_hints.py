"""Every command an error message suggests is one the CLI accepts.

Two halves: the missing-data hint, followed for every real evaluation split (and a transfer)
through the CLI, its suggestion run again through the CLI; and a scan of every error message in
the package and the first-party plugins, whose ``--options`` and ``cvgl-bench`` commands must
exist.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cvgl_bench import run as run_package
from cvgl_bench.cli import cli

from .fake_plugins import toy_methods
from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[1]
HINT = re.compile(r"or run its synthetic twin: (cvgl-bench run .*)$")


@pytest.fixture
def toy_host(make_host, tiny_world, tmp_path, monkeypatch):
    """Built-ins plus the toy methods; no real data anywhere (an empty data root, no config)."""
    (tmp_path / "no-data").mkdir()
    monkeypatch.setenv("CVGL_DATA_ROOT", str(tmp_path / "no-data"))
    monkeypatch.setenv("CVGL_BENCH_CONFIG", str(tmp_path / "no-config.yaml"))
    return make_host(toy_methods)


def invoke(args, tmp_path):
    return CliRunner().invoke(cli, [*args, "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")])


def suggested(output: str) -> list[str]:
    """The arguments of the command the one-line error suggests (without ``cvgl-bench``)."""
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    match = HINT.search(lines[0])
    assert match, lines[0]
    words = shlex.split(match.group(1))
    assert words[0] == "cvgl-bench"
    return words[1:]


def plan_only(monkeypatch):
    """Let ``run`` parse and check a cell completely (every name, view and split) but not train it."""
    planned = []

    def fake_run_cell(cell, options, host):
        planned.append(run_package.plan(cell, host))
        return run_package.CellResult(cell)

    monkeypatch.setattr(run_package, "run_cell", fake_run_cell)
    return planned


def real_eval_splits():
    from cvgl_bench.plugins import PluginHost

    host = PluginHost(entry_points=False).load()
    return sorted(s.name for s in host.splits if s.role == "eval" and not s.synthetic)


@pytest.mark.parametrize("split", real_eval_splits())
def test_missing_data_suggests_the_synthetic_twin_and_the_cli_accepts_it(toy_host, tmp_path, monkeypatch, split):
    failed = invoke(["run", "--method", "tiny", "--dataset", split, "--profile", "cpu"], tmp_path)
    assert failed.exit_code == 2 and "data not found" in failed.output and "Traceback" not in failed.output
    args = suggested(failed.output)
    twin = toy_host.splits.get(split).twin
    assert args == ["run", "--method", "tiny", "--dataset", twin]
    planned = plan_only(monkeypatch)
    accepted = invoke(args, tmp_path)
    assert accepted.exit_code == 0, accepted.output
    (p,) = planned
    assert [s.name for s in p.eval_specs] == [twin] and p.train_spec.synthetic and p.cell.profile == "cpu"


def test_a_transfer_suggests_the_twin_transfer(toy_host, tmp_path, monkeypatch):
    failed = invoke(["run", "-m", "tiny", "--train-on", "cvusa_train", "-d", "cvact_val", "-d", "cvact_test",
                     "--profile", "cpu"], tmp_path)
    assert failed.exit_code == 2
    args = suggested(failed.output)
    assert args == ["run", "--method", "tiny", "--dataset", "synth_cvact_val", "--dataset", "synth_cvact_test",
                    "--train-on", "synth_cvusa_train"]
    planned = plan_only(monkeypatch)
    assert invoke(args, tmp_path).exit_code == 0
    assert planned[0].train_spec.name == "synth_cvusa_train"


def test_the_suggested_command_runs_end_to_end(toy_host, tmp_path):
    failed = invoke(["run", "--method", "tiny", "--dataset", "cvusa_test", "--profile", "cpu"], tmp_path)
    done = invoke(suggested(failed.output), tmp_path)
    assert done.exit_code == 0, done.output
    assert "recall@1" in done.output
    assert list((tmp_path / "results").rglob("synth_cvusa_train__synth_cvusa_test__seed0.json"))


def test_a_training_split_is_never_suggested_to_dataset(toy_host, tmp_path):
    from cvgl_bench.dataroot import resolve_root
    from cvgl_bench.errors import DataNotFoundError

    train = toy_host.splits.get("cvact_train")
    with pytest.raises(DataNotFoundError) as info:
        resolve_root(toy_host.datasets.get("cvact"), None, train)
    assert "--dataset" not in str(info.value) and "synth_cvact_train" not in str(info.value)


def test_score_suggests_a_split_that_score_accepts(toy_host, tmp_path):
    import numpy as np

    embeddings = tmp_path / "e.npz"  # readable, but of ids no split has: scoring gets as far as aligning
    np.savez(embeddings, query=np.eye(2, dtype=np.float32), reference=np.eye(2, dtype=np.float32),
             query_ids=np.array(["q0", "q1"]), reference_ids=np.array(["r0", "r1"]))
    failed = CliRunner().invoke(cli, ["score", "--dataset", "cvusa_test", "--embeddings", str(embeddings)])
    assert failed.exit_code == 2 and failed.output.strip().endswith("or use its synthetic twin: "
                                                                    "--dataset synth_cvusa_test"), failed.output
    again = CliRunner().invoke(cli, ["score", "--dataset", "synth_cvusa_test", "--embeddings", str(embeddings)])
    assert again.exit_code == 2 and "data not found" not in again.output and "ids" in again.output, again.output


# -- every error message ------------------------------------------------------------------------
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
COMMAND = re.compile(r"['`]cvgl-bench (?:--debug )?([a-z][a-z-]*)")  # quoted, as messages name commands


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def error_messages(path: Path) -> list[str]:
    """The string parts of every ``raise`` in a module, and of the variables a ``raise`` uses
    (``hint = f"... --train-on"`` then ``raise ConfigError(f"...{hint}")``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
        raises = [n for n in ast.walk(scope) if isinstance(n, ast.Raise) and n.exc is not None]
        names = {n.id for r in raises for n in ast.walk(r.exc) if isinstance(n, ast.Name)}
        for r in raises:
            found += _strings(r.exc)
        for node in ast.walk(scope):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id in names for t in targets):
                    found += _strings(node.value)
    return found


def cli_vocabulary(host) -> tuple[set[str], set[str]]:
    """Every option of every command (and group) of the CLI, and every command name."""
    options: set[str] = set()
    commands: set[str] = set()
    ctx = click.Context(cli)

    def visit(command: click.Command, name: str | None) -> None:
        if name:
            commands.add(name)
        for param in command.params:
            if isinstance(param, click.Option):
                options.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("--"))
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                visit(command.get_command(ctx, sub), sub)

    visit(cli, None)
    options.update(ctx.help_option_names)
    return options, commands


def test_every_option_and_command_an_error_names_exists(host):
    options, commands = cli_vocabulary(host)
    sources = sorted([*(REPO / "cvgl_bench").rglob("*.py"), *(REPO / "plugins").glob("*/cvgl_bench_*/*.py")])
    named_options: dict[str, str] = {}
    named_commands: dict[str, str] = {}
    for path in sources:
        for message in error_messages(path):
            for option in OPTION.findall(message):
                named_options.setdefault(option, f"{path.relative_to(REPO)}: {message!r}")
            for command in COMMAND.findall(message):
                named_commands.setdefault(command, f"{path.relative_to(REPO)}: {message!r}")
    assert {"--dataset", "--train-on", "--protocol", "--results", "--set"} <= set(named_options)  # the scan sees
    assert {"run", "datasets"} <= set(named_commands)
    unknown = {o: where for o, where in named_options.items() if o not in options}
    assert not unknown, f"error messages name options no command has: {unknown}"
    missing = {c: where for c, where in named_commands.items() if c not in commands}
    assert not missing, f"error messages name commands that do not exist: {missing}"
