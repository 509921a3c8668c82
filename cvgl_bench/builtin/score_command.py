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


def parse_protocol(items: tuple[str, ...]) -> dict[str, str]:
    """``("ties=loose", "r1pct=vigor")`` -> dict; a malformed item is a one-line error."""
    from ..errors import ConfigError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--protocol expects KEY=VALUE (e.g. ties=loose), got {item!r}")
        out[key.strip()] = value.strip()
    return out


def load_split(split_name: str, protocol_items: tuple[str, ...], data_root: str | None, host: Any) -> Any:
    """Resolve an evaluation split, its data root and protocol, and load it (EvalData).

    Only the split files are needed: images are not checked (the embeddings exist already).
    Unknown protocol options are errors here, not silently ignored.
    """
    from ..data.splits import call_split_loader
    from ..dataroot import resolve_root
    from ..errors import ConfigError, DataError

    spec = host.splits.get(split_name)
    if spec.role != "eval":
        raise ConfigError(f"split {split_name!r} is a training split; score an evaluation split "
                          f"(see 'cvgl-bench datasets')")
    protocol = spec.resolve_protocol(parse_protocol(protocol_items))
    dataset = host.datasets.get(spec.dataset)
    root = resolve_root(dataset, data_root, spec)
    data = call_split_loader(spec, root, protocol, verify_files=False)
    if not len(data.queries) or not len(data.references):
        raise DataError(f"split {split_name!r} under {root} has no queries or no references")
    return data


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
    data = load_split(split_name, protocol_items, data_root, h)
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
