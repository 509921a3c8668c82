"""The ``cvgl-bench score`` command: the benchmark's evaluation for your own embeddings.

    cvgl-bench score --dataset cvusa_test --embeddings mine.npz [--data-root DIR]
                     [--protocol r1pct=vigor ...] [--metric recall@1 ...] [--json]
                     [--similarity cosine|dot] [--record --method NAME [--note TEXT] [--results DIR]]

The split is loaded under its protocol (official defaults, changed with ``--protocol``), the
file's rows are matched to the split's ids, and every metric is reported with its convention
and a 95% bootstrap interval. References are ranked by cosine similarity (rows L2-normalised
first; a zero row is refused) unless ``--similarity dot`` asks for raw inner products.
``--record`` writes a result record (with the ranks) that the leaderboard shows as external.
"""

from __future__ import annotations

from typing import Any

import click

from ..console import PathName, check_resamples, check_seed
from ..evaluate.bootstrap import RESAMPLE_RANGE, RESAMPLES
from ..hookspecs import hookimpl


@hookimpl
def cvgl_bench_register_commands(cli):
    cli.add_command(score)


def _eval_split(split_name: str, protocol_items: tuple[str, ...], data_root: str | None, host: Any,
                verify_files: bool = False) -> Any:
    """The evaluation split to score, loaded under its protocol (:func:`cvgl_bench.data.splits.load_split`).

    Only the split files are needed: images are not checked (the embeddings exist already),
    unless ``verify_files``.
    """
    from ..data.splits import load_split
    from ..errors import ConfigError
    from ..run.overrides import parse_protocol

    spec = host.splits.get(split_name)
    if spec.role != "eval":
        raise ConfigError(f"split {split_name!r} is a training split; score an evaluation split "
                          f"(see 'cvgl-bench datasets')")
    return load_split(spec, data_root, dict(parse_protocol(protocol_items)), host, verify_files=verify_files)


def _aligned(emb: Any, data: Any, reload: Any) -> tuple[Any, Any, Any]:
    """``(query, reference, data)``: the file's rows in the split's order. When the file lacks ids,
    they may be pairs whose images are missing, which the reader that checks files leaves out and
    counts (as ``run`` loads the split): that split is used if the file matches it exactly."""
    from ..errors import DataError
    from ..evaluate.embeddings_file import align

    try:
        return (*align(emb, data), data)
    except DataError as exc:
        try:
            checked = reload()
        except DataError as missing:  # the data itself is incomplete (a CVACT test image): that is the cause
            raise missing from None
        try:
            query, reference = align(emb, checked)
        except DataError:
            raise exc from None
    left_out = len(data.queries) - len(checked.queries), len(data.references) - len(checked.references)
    click.echo(f"[cvgl-bench] {left_out[0]} queries and {left_out[1]} references of {data.split} whose images are "
               "missing under the data root are left out, as 'run' does; the file has none of them", err=True)
    return query, reference, checked


@click.command("score")
@click.option("--dataset", "split_name", required=True, metavar="SPLIT", help="Evaluation split, e.g. cvusa_test.")
@click.option("--embeddings", "embeddings_path", required=True, metavar="FILE.npz", type=PathName(),
              help="Arrays query, reference (float, rows x D), query_ids, reference_ids (the split's own ids).")
@click.option("--data-root", default=None, metavar="DIR", type=PathName(), help="Folder holding the dataset (else CVGL_DATA_ROOT).")
@click.option("--protocol", "protocol_items", multiple=True, metavar="KEY=VALUE",
              help="Change a convention, e.g. ties=loose, r1pct=vigor, distractors=removed (repeatable).")
@click.option("--metric", "metric_names", multiple=True, metavar="NAME",
              help="Metric to report (repeatable); default: the split's metrics.")
@click.option("--backend", default="torch", show_default=True, help="Exact search backend (see 'cvgl-bench backends').")
@click.option("--device", default=None, help="cpu, cuda or cuda:N (default: a GPU when there is one).")
@click.option("--n-boot", default=RESAMPLES, show_default=True, callback=lambda ctx, param, value: check_resamples(
    value, none_allowed=True), help=f"Bootstrap resamples for the 95% intervals, {RESAMPLE_RANGE[0]:,} to "
                                    f"{RESAMPLE_RANGE[1]:,} (0: none).", type=int)
@click.option("--seed", default=0, show_default=True, type=int, callback=lambda ctx, param, value: check_seed(value),
              help="Seed of the bootstrap, 0 to 2**32 - 1; kept in the record.")
@click.option("--similarity", type=click.Choice(["cosine", "dot"]), default="cosine", show_default=True,
              help="cosine: rows are L2-normalised before ranking (a zero row is an error); dot: inner products "
                   "of the unnormalised rows. Rows are read as float32 either way.")
@click.option("--record", "write_record", is_flag=True,
              help="Also write a result record (with the ranks) under --results: a row marked external on the "
                   "leaderboard. Needs --method.")
@click.option("--method", "method_name", default=None, metavar="NAME",
              help="With --record: the name of the method that made the embeddings (its row's label).")
@click.option("--note", default="", metavar="TEXT",
              help="With --record: where the embeddings come from (code, checkpoint, paper), kept in the record.")
@click.option("--train-on", default=None, metavar="SPLIT",
              help="With --record: the training split of the model (default: the split's in-domain one).")
@click.option("--results", "results_dir", default="results", show_default=True, type=PathName(file_okay=False),
              help="With --record: the results folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def score(split_name: str, embeddings_path: str, data_root: str | None, protocol_items: tuple[str, ...],
          metric_names: tuple[str, ...], backend: str, device: str | None, n_boot: int, seed: int,
          similarity: str, write_record: bool, method_name: str | None, note: str, train_on: str | None,
          results_dir: str, as_json: bool) -> None:
    """Score precomputed embeddings under an evaluation split's protocol."""
    import time

    from ..console import command_host, echo_json, echo_table, note_unread_data_root
    from ..errors import ConfigError
    from ..evaluate.embeddings_file import align, read_embeddings
    from ..evaluate.scoring import score as run_score
    from ..fsutil import sha256_file

    h = command_host()
    spec = h.splits.get(split_name)  # an unknown split fails before the file is read
    if write_record:
        from ..fsutil import check_writable

        _check_record_options(method_name, train_on, spec, h)
        check_writable(results_dir, "--results")  # before the search, not when its record is written
    else:
        ctx = click.get_current_context()
        given = [option for name, option in (("method_name", "--method"), ("note", "--note"), ("train_on", "--train-on"),
                                             ("results_dir", "--results"))
                 if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
        if given:  # an empty value was given too
            raise ConfigError(f"{', '.join(given)} describe{'s' if len(given) == 1 else ''} a record; add --record "
                              "to write one")
    h.search_backends.get(backend)
    for name in metric_names:
        h.metrics.get(name)
    from ..distributed import resolve_device  # torch: not imported before the names are checked

    device = resolve_device(device)
    emb = read_embeddings(embeddings_path)
    data = _eval_split(split_name, protocol_items, data_root, h)
    path = emb.path
    query, reference, data = _aligned(emb, data, lambda: _eval_split(split_name, protocol_items, data_root, h, True))
    del emb  # rows that had to be reordered are copies: let the file's arrays go
    if similarity == "cosine":
        query = _unit_rows(query, "query", data.queries.ids, path)
        reference = _unit_rows(reference, "reference", data.references.ids, path)
    note_unread_data_root(h, data_root, [split_name])  # after the refusals of the file: a mistake is one line
    started = time.perf_counter()
    result = run_score(query, reference, data, metrics=list(metric_names) or None, backend=backend, device=device,
                       n_boot=n_boot, seed=seed, host=h, progress=not as_json)
    written = None
    if write_record:
        written = _write_record(result, data, spec, method_name or "", note, train_on, similarity, path,
                                sha256_file(path), results_dir, device, h,
                                time.perf_counter() - started, data_root)
    if as_json:
        echo_json({"split": data.split, "embeddings": str(path), "backend": backend, "similarity": similarity,
                   "n_queries": result.n_queries, "n_references": result.n_references,
                   "n_places": result.n_places, "protocol": result.protocol, "dataset_fingerprint": data.fingerprint,
                   "metrics": result.metrics, "record": str(written) if written else None,
                   "intervals": {"places": result.n_places, "resamples": result.n_boot, "seed": result.seed}})
        return
    options = ", ".join(f"{k}={v}" for k, v in sorted(result.protocol.items())) or "none"
    places = f" in {result.n_places} places" if result.n_places != result.n_queries else ""
    click.echo(f"{data.split}: {result.n_queries} queries{places}, {result.n_references} references "
               f"(protocol: {options}; similarity: {similarity})")
    if written:
        click.echo(f"wrote {written}")
    rows = []
    for name, m in result.metrics.items():
        ci = m["ci95"]
        rows.append({"metric": name, "value": f"{m['value']:.2f}",
                     "95% CI": f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-", "convention": m["convention"]})
    echo_table(rows, "no metrics")


def _unit_rows(rows: Any, name: str, ids: Any, path: Any) -> Any:
    """``rows`` (in the split's order, named by ``ids``) L2-normalised (float32); a zero or
    non-finite row is one actionable line naming its id, as the file's rows may come in any order."""
    import numpy as np

    from ..errors import DataError

    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows.astype(np.float64), axis=1)
    bad = np.flatnonzero(~np.isfinite(norms) | (norms == 0))
    if len(bad):
        raise DataError(f"{path}: the {name} embedding of id {str(ids[bad[0]])!r} has norm {norms[bad[0]]}: cosine "
                        f"similarity is undefined ({len(bad)} such rows); fix the embeddings or pass --similarity dot")
    return (rows / norms[:, None]).astype(np.float32)


def _check_record_options(method: str | None, train_on: str | None, spec: Any, host: Any) -> None:
    """Everything a record needs is given and names what exists, before any work."""
    from ..errors import ConfigError
    from ..specs import NAME_RULE, NAME_RULE_TEXT

    if not method:
        raise ConfigError("--record needs --method NAME: the method whose embeddings these are")
    if not NAME_RULE.fullmatch(method):
        raise ConfigError(f"--method {method!r}: use {NAME_RULE_TEXT}")
    if train_on is not None and host.splits.get(train_on).role != "train":
        raise ConfigError(f"--train-on {train_on!r} is not a training split")
    if train_on is None and not spec.train_split:
        raise ConfigError(f"{spec.name} names no in-domain training split; pass --train-on SPLIT")


def _write_record(result: Any, data: Any, spec: Any, method: str, note: str, train_on: str | None,
                  similarity: str, path: Any, sha: str, results_dir: str, device: str | None, host: Any,
                  seconds: float, data_root: str | None = None) -> Any:
    """A result record of external embeddings: identified by the file's SHA-256, marked external."""
    from .. import provenance, results
    from ..run.records import data_info, path_bases

    train_split = train_on or spec.train_split
    identity = results.config_hash(method, "external", "external", {"embeddings_sha256": sha,
                                                                      "similarity": similarity},
                                   train_split, f"external:{sha}", 0)
    base = provenance.collect(host, device or "cpu")
    record = results.new_record(
        method=method, profile="external", seed=0, train_split=train_split, eval_split=spec.name,
        config_hash=identity, configuration_id=identity, protocol=result.protocol, method_version="external",
        hparams={"similarity": similarity}, in_domain_train_split=spec.train_split,
        split=results.SplitInfo(synthetic=spec.synthetic, twin=spec.twin),
        provenance={**base, "seed": 0, "world_size": 1, "global_batch": 0, "dataset_fingerprint": data.fingerprint,
                    "train_fingerprint": f"external:{sha}", "started_at": provenance.now(),
                    "finished_at": provenance.now(), "wall_time_s": {"search_and_metrics": round(seconds, 3)},
                    "data_info": data_info(data, path_bases(spec, data_root, host)),
                    "search_backend": result.backend, "external": {"embeddings": path.name, "sha256": sha, "note": note, "similarity": similarity}})
    record.metrics = {name: results.MetricValue(**m) for name, m in result.metrics.items()}
    record.n_queries, record.n_references = result.n_queries, result.n_references
    record.intervals = results.IntervalInfo(result.n_places, result.n_boot, result.seed)
    target = results.record_path(results_dir, record, f"emb_{sha[:8]}")
    for warning in results.write(record, target, ranks=result.rank_arrays(), host=host):
        click.echo(f"warning: {warning}", err=True)
    return target
