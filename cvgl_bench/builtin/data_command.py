"""Built-in plugin: the ``cvgl-bench data`` command group (``data check``)."""

from __future__ import annotations

import click

from ..console import PathName
from ..hookspecs import hookimpl


def _dataset_spec(host, name: str):
    """A dataset by name, folder name (any case) or by the name of one of its splits."""
    if name in host.datasets:
        return host.datasets.get(name)
    for spec in host.datasets:
        if spec.folder and spec.folder.lower() == name.lower():
            return spec
    if name in host.splits:
        return host.datasets.get(host.splits.get(name).dataset)
    return host.datasets.get(name)  # raises with a did-you-mean suggestion


def _dataset_folder(spec, root: str | None):
    from ..dataroot import folder_at, resolve_root

    return resolve_root(spec, None) if root is None else folder_at(root, spec)


def _note_if_run_would_not_find(spec, root: str | None, folder) -> None:
    """A folder checked here by its own path that ``run`` and ``score`` would not find through the
    same ``--data-root`` (they need a folder named like the dataset's) gets a note saying so."""
    from ..dataroot import resolve_root
    from ..errors import DataError

    if root is None or spec.synthetic:
        return
    try:
        found = resolve_root(spec, root)
    except DataError:
        found = None
    if found is None or found.resolve() != folder.resolve():
        name = spec.folder or spec.name
        click.echo(f"note: run and score will not find this folder with --data-root {root}: they look for "
                   f"{name}/ in the data root, or a data root named {name}; rename the folder or pass its parent",
                   err=True)


def _print_report(report: dict) -> None:
    from ..console import echo_table

    click.echo(f"{report['dataset']} at {report['root']}")
    rows = []
    for entry in report["splits"]:
        counts, expected = entry.get("counts", {}), entry.get("expected", {})
        row = {"split": entry["split"]}
        for key in ("queries", "references", "pairs"):
            found = counts.get(key)
            want = expected.get(key)
            row[key] = "-" if found is None else (f"{found}" if want is None or want == found else f"{found} (official {want})")
        row["missing"] = entry.get("missing", "-")
        row["unreadable"] = entry.get("unreadable", "-")
        row["status"] = "ERROR" if entry["status"] == "error" else entry["status"]
        rows.append(row)
    echo_table(rows)
    for entry in report["splits"]:
        if entry.get("error"):
            click.echo(f"{entry['split']}: {entry['error']}")
        for key in ("missing_examples", "unreadable_examples"):
            for example in entry.get(key, []):
                click.echo(f"{entry['split']}: {key.split('_')[0]}: {example}")
        if entry.get("note"):
            click.echo(f"{entry['split']}: note: {entry['note']}")
    own = report.get("dataset_check")
    if own is not None:
        for problem in own.get("problems", []):
            click.echo(f"{report['dataset']}: its plugin's check: {problem}")
        if not own.get("problems"):
            click.echo(f"{report['dataset']}: its plugin's check: ok")
    if not report["ok"]:
        click.echo("PROBLEMS found (see the status column and the lines above)")
    elif any(entry.get("expected") for entry in report["splits"]):
        click.echo("OK: the folder matches the official release")
    else:
        click.echo("OK: every split file parses and every image is readable (no official counts are known for "
                   "this dataset, so the counts were not compared)")


@hookimpl
def cvgl_bench_register_commands(cli):
    @cli.group("data")
    def data() -> None:
        """Inspect and validate dataset folders."""

    @data.command("check")
    @click.argument("dataset")
    @click.option("--data-root", "--root", "root", default=None, metavar="DIR", type=PathName(),
                  help="A data root holding the dataset's folder, or the dataset folder itself (default: "
                       "CVGL_DATA_ROOT, then the config file, as for 'run').")
    @click.option("--decode", is_flag=True, help="Decode every image fully (slow) instead of checking its header.")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    def check(dataset: str, root: str | None, decode: bool, as_json: bool) -> None:
        """Check DATASET's folder: split counts against the official ones, missing and
        unreadable image files.

        Exit status: 0 when everything matches, 1 when counts differ or files are missing or
        unreadable, 2 when the folder or a split file is missing or a split file cannot be parsed
        (the line names file and line).
        """
        from ..console import command_host, echo_json
        from ..data.check import check_dataset

        from ..console import note_unread_data_root

        h = command_host()
        spec = _dataset_spec(h, dataset)
        note_unread_data_root(h, root, [s.name for s in h.splits if s.dataset == spec.name])
        folder = _dataset_folder(spec, None if spec.synthetic else root)
        report = check_dataset(spec.name, folder, decode=decode, host=h)
        _note_if_run_would_not_find(spec, root, folder)
        if as_json:
            echo_json(report)
        else:
            _print_report(report)
        errors = [e for e in report["splits"] if e["status"] == "error"]
        if errors:  # the report is on stdout; the one line of the failure on stderr, as every command's
            click.echo(f"Error: {errors[0]['split']}: {errors[0]['error']}"
                       + (f" (and {len(errors) - 1} more split(s))" if len(errors) > 1 else ""), err=True)
            raise SystemExit(2)
        if not report["ok"]:
            raise SystemExit(1)

    @data.command("ids")
    @click.argument("split")
    @click.option("--side", type=click.Choice(["query", "reference"]), default="query", show_default=True,
                  help="Which side of the evaluation split (or of the training pairs) to list.")
    @click.option("--data-root", "--root", "root", default=None, metavar="DIR", type=PathName(),
                  help="Folder holding the dataset (default: CVGL_DATA_ROOT, then the config file).")
    @click.option("--protocol", "protocol_items", multiple=True, metavar="KEY=VALUE",
                  help="Protocol option that changes the split's members (e.g. cvact_test=exact_id).")
    def ids(split: str, side: str, root: str | None, protocol_items: tuple[str, ...]) -> None:
        """Print the ids of one side of SPLIT, one per line, in the split's order: the ids an
        embeddings file for 'cvgl-bench score' must carry (query_ids, reference_ids)."""
        from ..console import command_host, note_unread_data_root
        from ..data.splits import load_split, resolve_protocol
        from ..run.overrides import parse_protocol

        h = command_host()
        spec, protocol = h.splits.get(split), dict(parse_protocol(protocol_items))
        resolve_protocol(spec, protocol)  # refused before the note: a mistake is one line
        note_unread_data_root(h, root, [split])
        data = load_split(spec, root, protocol, h, verify_files=False)
        images = data.queries if side == "query" else data.references
        click.echo("\n".join(str(i) for i in images.ids))
