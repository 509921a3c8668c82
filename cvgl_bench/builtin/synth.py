"""Built-in plugin: the synthetic cross-view world (the benchmark's embedded default).

Registers the ``synth_*`` datasets and splits and the ``cvgl-bench synth`` command. Every
synthetic split is the twin of a real split: it generates its layout into the user cache on
first use (``CVGL_BENCH_SYNTH_SIZE``, default ``small``; ``CVGL_BENCH_SYNTH_SEED``, default 0)
and then reads it with the real split's reader. Protocol options, metrics and views are
declared identically to the real twins (a test checks they agree).

Nothing heavy is imported here: the generator loads only when a split or the command is used.
"""

from __future__ import annotations

import click

from ..data.protocols import (  # the real twins' conventions (first value = default)
    CVACT_TEST,
    GROUND_FOV_TRAIN_FIRST,
    R1PCT_FLOOR_FIRST,
    R1PCT_U1652_FIRST,
    R1PCT_VIGOR_FIRST,
    RECALL_METRICS,
    TIES,
    U1652_DISTRACTORS,
    U1652_METRICS,
    VIGOR_LABELS,
    VIGOR_METRICS,
)
from ..console import PathName, check_seed
from ..hookspecs import hookimpl
from ..specs import DatasetSpec, SplitSpec

SPLITS = "cvgl_bench.data.synth.splits"


GENERATED = "generated into the user cache on first use (cvgl-bench synth); no download"


@hookimpl
def cvgl_bench_register_datasets(register):
    for layout, real, what in (("cvusa", "cvusa", "suburb towns, CVUSA layout"),
                               ("cvact", "cvact", "downtown grids, CVACT layout"),
                               ("vigor", "vigor", "four cities with overlapping tiles, VIGOR layout"),
                               ("university1652", "university1652", "campus buildings from drones, "
                                                                    "University-1652 layout")):
        register(DatasetSpec(
            name=f"synth_{layout}", loader=None, folder=layout,
            summary=f"synthetic world: {what} (twin of {real})", obtain=GENERATED,
            homepage="", license="generated (same license as cvgl-bench)", synthetic=True,
        ))


def _split(register, name: str, **kw) -> None:
    register(SplitSpec(name=name, loader=f"{SPLITS}:{name}", synthetic=True, **kw))


@hookimpl
def cvgl_bench_register_splits(register):
    cvusa = {"dataset": "synth_cvusa", "layout": "cvusa", "image_sizes": {"ground": (64, 256), "satellite": (128, 128)}}
    _split(register, "synth_cvusa_train", role="train", twin="cvusa_train",
           summary="synthetic suburbs: one panorama-satellite pair per place", **cvusa)
    _split(register, "synth_cvusa_test", role="eval", twin="cvusa_test", train_split="synth_cvusa_train",
           summary="synthetic suburbs (other towns than training): one positive satellite per panorama",
           protocol_options={"r1pct": R1PCT_FLOOR_FIRST, "ties": TIES}, metrics=RECALL_METRICS, **cvusa)
    full_sphere = {"ground": (128, 256), "satellite": (128, 128)}
    cvact = {"dataset": "synth_cvact", "layout": "cvact", "image_sizes": full_sphere}
    recall = {"r1pct": R1PCT_FLOOR_FIRST, "ties": TIES, "ground_fov": GROUND_FOV_TRAIN_FIRST}
    _split(register, "synth_cvact_train", role="train", twin="cvact_train",
           summary="synthetic downtowns: one panorama-satellite pair per place", **cvact)
    _split(register, "synth_cvact_val", role="eval", twin="cvact_val", train_split="synth_cvact_train",
           summary="synthetic downtowns (ACT_small val): one positive each", protocol_options=recall,
           metrics=RECALL_METRICS, **cvact)
    _split(register, "synth_cvact_test", role="eval", twin="cvact_test", train_split="synth_cvact_train",
           summary="synthetic downtowns (ACT_test): positives within 5 m UTM or the same id",
           protocol_options={**recall, "cvact_test": CVACT_TEST}, metrics=RECALL_METRICS, **cvact)
    vigor = {"dataset": "synth_vigor", "layout": "vigor", "image_sizes": full_sphere}
    labels = {"labels": VIGOR_LABELS}
    evaluation = {"r1pct": R1PCT_VIGOR_FIRST, "ties": TIES, **labels, "ground_fov": GROUND_FOV_TRAIN_FIRST}
    _split(register, "synth_vigor_same_train", role="train", twin="vigor_same_train", protocol_options=labels,
           summary="synthetic VIGOR same-area train (all four cities)", **vigor)
    _split(register, "synth_vigor_same_test", role="eval", twin="vigor_same_test", train_split="synth_vigor_same_train",
           summary="synthetic VIGOR same-area test: gallery = every tile of the four cities; 1 positive + 3 semi",
           protocol_options=evaluation, metrics=VIGOR_METRICS, **vigor)
    _split(register, "synth_vigor_cross_train", role="train", twin="vigor_cross_train", protocol_options=labels,
           summary="synthetic VIGOR cross-area train: NewYork + Seattle", **vigor)
    _split(register, "synth_vigor_cross_test", role="eval", twin="vigor_cross_test",
           train_split="synth_vigor_cross_train",
           summary="synthetic VIGOR cross-area test: Chicago + SanFrancisco", protocol_options=evaluation,
           metrics=VIGOR_METRICS, **vigor)
    u1652 = {"dataset": "synth_university1652", "layout": "university1652",
             "image_sizes": {"drone": (128, 128), "satellite": (128, 128)}}
    u_eval = {"r1pct": R1PCT_U1652_FIRST, "ties": TIES, "distractors": U1652_DISTRACTORS}
    _split(register, "synth_u1652_train", role="train", twin="u1652_train", query_view="drone",
           reference_view="satellite", summary="synthetic campuses: every training drone view with its satellite",
           **u1652)
    _split(register, "synth_u1652_d2s", role="eval", twin="u1652_d2s", train_split="synth_u1652_train",
           query_view="drone", reference_view="satellite",
           summary="synthetic drone -> satellite, distractor buildings in the gallery", protocol_options=u_eval,
           metrics=U1652_METRICS, **u1652)
    _split(register, "synth_u1652_s2d", role="eval", twin="u1652_s2d", train_split="synth_u1652_train",
           query_view="satellite", reference_view="drone",
           summary="synthetic satellite -> drone, distractor buildings in the gallery", protocol_options=u_eval,
           metrics=U1652_METRICS, **u1652)


def _pair(text: str | None, option: str) -> tuple[int, int] | None:
    if text is None:
        return None
    from ..errors import ConfigError

    import re

    from ..data.synth.config import MAX_SIDE_PX

    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    values = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else ()
    if len(values) != 2 or min(values) < 8 or max(values) > MAX_SIDE_PX:
        raise ConfigError(f"{option} takes HxW (for example 64x256) or one number for a square, each side 8 to "
                          f"{MAX_SIDE_PX} pixels, not {text!r}")
    return values  # type: ignore[return-value]


@hookimpl
def cvgl_bench_register_commands(cli):
    from ..data.synth.config import LAYOUTS, MAX_WORKERS

    @cli.command("synth")
    @click.option("--layout", type=click.Choice(LAYOUTS), help="Real dataset layout to write.")
    @click.option("--out", type=PathName(file_okay=False), help="Folder to create (must be new or empty).")
    @click.option("--size", default="small", show_default=True,
                  help="tiny (tests, seconds), small (>= 2,000 train / 1,000 test pairs), medium, full, "
                       "or a number of training pairs.")
    @click.option("--seed", default=0, show_default=True, type=int,
                  callback=lambda ctx, param, value: check_seed(value), help="Same seed, same bytes; 0 to 2**32 - 1.")
    @click.option("--style", type=click.Choice(["suburb", "downtown", "campus"]),
                  help="Use this town style for every world instead of the layout's default.")
    @click.option("--orientation", type=click.Choice(["north", "unknown"]), default=None,
                  help="north-aligned panoramas (default) or random yaw (unknown orientation).")
    @click.option("--satellite-size", "satellite_size", help="Satellite image size HxW (square: one number).")
    @click.option("--ground-size", "ground_size", help="Panorama size HxW.")
    @click.option("--drone-size", "drone_size", help="Drone image size HxW (square: one number).")
    @click.option("--real-size", is_flag=True, help="Write images at the real datasets' sizes (slow).")
    @click.option("--vigor-layout", type=click.Choice(["official", "sample4geo"]), default=None,
                  help="VIGOR folders: City/panorama (official) or ground/City (Sample4Geo).")
    @click.option("--workers", type=click.IntRange(min=1, max=MAX_WORKERS), default=None,
                  help="Worker processes (default: min(4, CPUs); CVGL_BENCH_SYNTH_WORKERS).")
    @click.option("--preview", "preview", type=PathName(dir_okay=False),
                  help="Write a contact sheet, a .png file (satellite | panorama | drone views of the same places).")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    @click.option("--json", "as_json", is_flag=True,
                  help="Print one JSON object (what was written, counts, worlds, seconds) instead of a line.")
    def synth(layout, out, size, seed, style, orientation, satellite_size, ground_size, drone_size, real_size,
              vigor_layout, workers, preview, quiet, as_json):
        """Generate the synthetic cross-view world in a real dataset's layout, or a preview sheet."""
        from ..console import note_unused_options
        from ..data.synth.config import IMAGE_SIZES
        from ..errors import ConfigError

        if (layout is None) != (out is None):
            raise ConfigError("--layout and --out go together")
        if preview is None and layout is None:
            raise ConfigError("give --layout and --out to generate a dataset, or --preview OUT.png for a contact sheet")
        generation = ("size", "style", "orientation", "satellite_size", "ground_size", "drone_size", "real_size",
                      "vigor_layout", "workers")
        if layout is None:
            unused = dict.fromkeys(generation, "by --preview alone, whose sheet only --seed changes; add --layout "
                                               "and --out to generate a dataset")
        else:
            views = IMAGE_SIZES["default"][layout]
            unused = {name: f"for the {layout} layout, which has no {view} images" for name, view in
                      (("drone_size", "drone"), ("ground_size", "ground"), ("orientation", "ground"))
                      if view not in views}
            if layout != "vigor":
                unused["vigor_layout"] = f"for the {layout} layout (VIGOR's folders only)"
        if preview is not None:  # every refusal before the notes and before seconds of rendering: one line
            from pathlib import Path

            from ..fsutil import refuse_special_file

            refuse_special_file(preview)
            if Path(preview).suffix.lower() != ".png":
                raise ConfigError(f"--preview writes a PNG contact sheet; name the file with .png, not {preview!r}")
        if layout is not None:
            from ..data.synth.config import make_config
            from ..data.synth.generate import check_out

            config = make_config(layout, size, seed, style, real_sizes=real_size,
                                 satellite_px=_pair(satellite_size, "--satellite-size"),
                                 ground_px=_pair(ground_size, "--ground-size"),
                                 drone_px=_pair(drone_size, "--drone-size"),
                                 orientation=orientation, vigor_layout=vigor_layout)
            check_out(out)
        note_unused_options(click.get_current_context(), unused)
        if preview is not None:
            from ..data.synth.preview import write_contact_sheet

            path = write_contact_sheet(preview, seed=seed)
            if not as_json:
                click.echo(f"wrote {path}")
        if layout is not None:
            from ..data.synth.generate import generate_config

            summary = generate_config(config, out, workers=workers, progress=not quiet)
            counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items() if not isinstance(v, dict))
            if not as_json:
                click.echo(f"wrote {summary['path']}: {counts} ({summary['worlds']} worlds, "
                           f"{summary['seconds']:.1f} s)")
        if as_json:
            from ..console import echo_json

            echo_json({"preview": str(path) if preview is not None else None,
                       "dataset": {k: summary[k] for k in ("path", "counts", "worlds", "seconds") if k in summary}
                       if layout is not None else None})
