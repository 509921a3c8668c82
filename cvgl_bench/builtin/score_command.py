"""The ``cvgl-bench score`` command: the benchmark's evaluation for your own embeddings.

    cvgl-bench score --dataset cvusa_test --embeddings mine.npz [--data-root DIR]
                     [--protocol r1pct=vigor ...] [--metric recall@1 ...] [--json]

The split is loaded under its protocol (official defaults, changed with ``--protocol``), the
file's rows are matched to the split's ids, and every metric is reported with its convention
and a 95% bootstrap interval.
"""

from __future__ import annotations

from typing import Any

import click

from ..hookspecs import hookimpl


@hookimpl
def cvgl_bench_register_commands(cli):
    cli.add_command(score)


def _eval_split(split_name: str, protocol_items: tuple[str, ...], data_root: str | None, host: Any) -> Any:
    """The evaluation split to score, loaded under its protocol (:func:`cvgl_bench.data.splits.load_split`).

    Only the split files are needed: images are not checked (the embeddings exist already).
    """
    from ..data.splits import load_split
    from ..errors import ConfigError
    from ..run.overrides import parse_protocol

    spec = host.splits.get(split_name)
    if spec.role != "eval":
        raise ConfigError(f"split {split_name!r} is a training split; score an evaluation split "
                          f"(see 'cvgl-bench datasets')")
    return load_split(spec, data_root, dict(parse_protocol(protocol_items)), host, verify_files=False)


@click.command("score")
@click.option("--dataset", "split_name", required=True, metavar="SPLIT", help="Evaluation split, e.g. cvusa_test.")
@click.option("--embeddings", "embeddings_path", required=True, metavar="FILE.npz",
              help="Arrays query, reference (float, rows x D), query_ids, reference_ids (the split's own ids).")
@click.option("--data-root", default=None, metavar="DIR", help="Folder holding the dataset (else CVGL_DATA_ROOT).")
@click.option("--protocol", "protocol_items", multiple=True, metavar="KEY=VALUE",
              help="Change a convention, e.g. ties=loose, r1pct=vigor, distractors=removed (repeatable).")
@click.option("--metric", "metric_names", multiple=True, metavar="NAME",
              help="Metric to report (repeatable); default: the split's metrics.")
@click.option("--backend", default="torch", show_default=True, help="Exact search backend (see 'cvgl-bench backends').")
@click.option("--device", default=None, help="cpu, cuda or cuda:N (default: a GPU when there is one).")
@click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Bootstrap resamples for the 95% intervals (0: none).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def score(split_name: str, embeddings_path: str, data_root: str | None, protocol_items: tuple[str, ...],
          metric_names: tuple[str, ...], backend: str, device: str | None, n_boot: int, seed: int,
          as_json: bool) -> None:
    """Score precomputed embeddings under an evaluation split's protocol."""
    from ..console import command_host, echo_json, echo_table
    from ..evaluate.embeddings_file import align, read_embeddings
    from ..evaluate.scoring import score as run_score

    h = command_host()
    h.splits.get(split_name)  # an unknown split fails before the file is read
    emb = read_embeddings(embeddings_path)
    data = _eval_split(split_name, protocol_items, data_root, h)
    path = emb.path
    query, reference = align(emb, data)
    del emb  # rows that had to be reordered are copies: let the file's arrays go
    result = run_score(query, reference, data, metrics=list(metric_names) or None, backend=backend, device=device,
                       n_boot=n_boot, seed=seed, host=h, progress=not as_json)
    if as_json:
        echo_json({"split": data.split, "embeddings": str(path), "backend": backend,
                   "n_queries": result.n_queries, "n_references": result.n_references,
                   "protocol": result.protocol, "dataset_fingerprint": data.fingerprint,
                   "metrics": result.metrics})
        return
    options = ", ".join(f"{k}={v}" for k, v in sorted(result.protocol.items())) or "none"
    click.echo(f"{data.split}: {result.n_queries} queries, {result.n_references} references "
               f"(protocol: {options})")
    rows = []
    for name, m in result.metrics.items():
        ci = m["ci95"]
        rows.append({"metric": name, "value": f"{m['value']:.2f}",
                     "95% CI": f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-", "convention": m["convention"]})
    echo_table(rows, "no metrics")
