"""The synth plugin: specs, the cache, delegation to the real loaders, the command line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from cvgl_bench import SplitSpec, hookimpl
from cvgl_bench.data.synth import cache
from cvgl_bench.data.synth.splits import SYNTH_SPLITS

REAL_OF = {name: real for name, (_, real) in SYNTH_SPLITS.items()}


def test_specs_registered(host):
    for name, real in REAL_OF.items():
        spec = host.splits.get(name)
        assert spec.synthetic and spec.twin == real and spec.dataset.startswith("synth_")
        if spec.role == "eval":
            assert spec.train_split in host.splits and host.splits.get(spec.train_split).role == "train"
            assert spec.metrics and spec.protocol_options
    for name in ("synth_cvusa", "synth_cvact", "synth_vigor", "synth_university1652"):
        assert host.datasets.get(name).synthetic


def test_specs_mirror_their_real_twins(host):
    present = [n for n, real in REAL_OF.items() if real in host.splits]
    if not present:
        pytest.skip("the real dataset plugins are not installed here")
    for name in present:
        ours, real = host.splits.get(name), host.splits.get(REAL_OF[name])
        for field in ("role", "layout", "query_view", "reference_view", "metrics"):
            assert getattr(ours, field) == getattr(real, field), (name, field)
        options, real_options = dict(ours.protocol_options), dict(real.protocol_options)
        if real_options.get("labels", ())[:1] == ("present",):
            # the real VIGOR splits default to the labels a release has; the synthetic twin always
            # has corrected labels, so it keeps the same two choices without "present"
            real_options["labels"] = real_options["labels"][1:]
        if "ground_fov" in real_options:
            # the same two choices; the twins' default aligns the field of view, the real splits'
            # keeps the published transfer protocol (cvgl_bench.data.protocols)
            assert options["ground_fov"] == ("train", "full") and real_options["ground_fov"] == ("full", "train")
            real_options["ground_fov"] = options["ground_fov"]
        assert options == real_options, name
        assert real.twin == name


class RecordingReal:
    """A stand-in for the real CVUSA plugin that records what it was asked to read."""

    calls: list = []

    @hookimpl
    def cvgl_bench_register_splits(register):
        def load(root, protocol):
            from types import SimpleNamespace

            RecordingReal.calls.append((Path(root), dict(protocol)))
            lines = (Path(root) / "splits" / "val-19zl.csv").read_text().splitlines()
            return SimpleNamespace(split="cvusa_test", info={}, lines=lines)

        register(SplitSpec(name="cvusa_test", loader=load, dataset="cvusa", role="eval", layout="cvusa",
                           protocol_options={"r1pct": ("floor", "vigor", "u1652"), "ties": ("strict", "loose")}))


@pytest.fixture
def tiny_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CVGL_BENCH_SYNTH_SIZE", "tiny")
    monkeypatch.setenv("CVGL_BENCH_SYNTH_SEED", "7")
    monkeypatch.setenv("CVGL_BENCH_SYNTH_WORKERS", "2")
    return tmp_path / "cache"


def test_split_generates_once_then_reads_with_the_real_loader(make_host, tiny_cache, monkeypatch):
    from cvgl_bench.data.synth import generate as gen_module

    host = make_host(RecordingReal)
    if host.splits.origin("cvusa_test").name != "RecordingReal":
        pytest.skip("a real cvusa plugin is installed; covered by the end-to-end test")
    RecordingReal.calls.clear()
    runs = []
    real_generate = gen_module.generate_config
    monkeypatch.setattr(gen_module, "generate_config", lambda *a, **k: runs.append(1) or real_generate(*a, **k))
    spec = host.splits.get("synth_cvusa_test")
    data = spec.load()(None, spec.protocol_defaults(), host=host)
    expected = tiny_cache / "synth" / f"cvusa-tiny-seed7-v{cache.dataset_version('cvusa')}"
    assert RecordingReal.calls == [(expected, {"r1pct": "floor", "ties": "strict"})]
    assert data.split == "synth_cvusa_test" and len(data.lines) == 24
    assert data.info["synthetic"] == {"layout": "cvusa", "size": "tiny", "seed": 7, "root": str(expected),
                                      "real_split": "cvusa_test"}
    spec.load()(None, spec.protocol_defaults(), host=host)
    assert runs == [1]  # the second load reuses the cache
    assert not list((tiny_cache / "synth").glob(".*tmp*"))


def test_new_generator_version_means_new_folder(tiny_cache, monkeypatch):
    from cvgl_bench.data import synth

    first = cache.dataset_dir("cvact")
    monkeypatch.setattr(synth, "GENERATOR_VERSION", "999")
    assert cache.dataset_dir("cvact") != first and "-v999" in cache.dataset_dir("cvact").name
    monkeypatch.setattr(synth, "LAYOUT_REVISIONS", {"cvact": 4})
    assert cache.dataset_dir("cvact", "small", 3).name == "cvact-small-seed3-v999.4"
    assert cache.dataset_dir("vigor").name.endswith("-v999")  # a layout revision moves only its layout


def test_missing_real_loader_is_one_actionable_line(make_host, tiny_cache, monkeypatch):
    from cvgl_bench.errors import UnknownNameError

    host = make_host()
    if "vigor_same_test" in host.splits:
        pytest.skip("the real VIGOR plugin is installed")
    monkeypatch.setattr(cache, "ensure_generated", lambda *a, **k: tiny_cache)
    from cvgl_bench.data.synth import splits

    monkeypatch.setattr(splits, "ensure_generated", lambda *a, **k: tiny_cache)
    with pytest.raises(UnknownNameError, match="vigor_same_test"):
        host.splits.get("synth_vigor_same_test").load()(None, {}, host=host)


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    from cvgl_bench.data.synth.generate import generate
    from cvgl_bench.data.synth.layouts import cvusa

    def boom(*a, **k):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(cvusa, "run", boom)
    with pytest.raises(RuntimeError, match="crashed"):
        generate("cvusa", tmp_path / "out", size="tiny", progress=False, workers=1)
    assert list(tmp_path.iterdir()) == []


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_cli_generates_byte_identical_files(host, tmp_path):
    """Same seed, same bytes: the command (two workers) and the API (one worker) agree."""
    from cvgl_bench.cli import cli
    from cvgl_bench.data.synth.generate import generate

    result = CliRunner().invoke(cli, ["synth", "--layout", "cvact", "--out", str(tmp_path / "a"), "--size", "tiny",
                                      "--seed", "11", "--quiet", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "train 40, val 16, test 24" in result.output
    generate("cvact", tmp_path / "b", size="tiny", seed=11, progress=False, workers=1)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b and len(a) > 150


@pytest.mark.parametrize("layout", ["cvusa", "vigor", "university1652"])
def test_generation_does_not_depend_on_the_worker_count(layout, tmp_path):
    """The other three layouts too (CVACT above): two workers and one write the same bytes."""
    from cvgl_bench.data.synth.generate import generate

    generate(layout, tmp_path / "a", size="tiny", seed=11, progress=False, workers=2)
    generate(layout, tmp_path / "b", size="tiny", seed=11, progress=False, workers=1)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b and len(a) > 50


@pytest.mark.parametrize("args, message", [
    ([], "give --layout and --out"),
    (["--layout", "cvusa"], "--layout and --out go together"),
    (["--layout", "cvusa", "--out", "X", "--size", "huge"], "--size must be"),
    (["--layout", "cvusa", "--out", "X", "--ground-size", "64x"], "--ground-size takes HxW"),
    (["--layout", "cvusa", "--out", "X", "--satellite-size", "64x128"], "square"),
    (["--layout", "cvusa", "--out", "X", "--satellite-size", "99999999999999999999999"], "8 to 4096 pixels"),
    (["--layout", "cvusa", "--out", "X", "--size", "99999999999999999999999"], "8 to 1,000,000 training pairs"),
])
def test_cli_errors_are_one_line(host, tmp_path, monkeypatch, args, message):
    from cvgl_bench.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["synth", *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args, notes", [
    (["--layout", "cvusa", "--drone-size", "64", "--vigor-layout", "sample4geo"],
     ["--drone-size is not read for the cvusa layout, which has no drone images",
      "--vigor-layout is not read for the cvusa layout"]),
    (["--layout", "university1652", "--ground-size", "64x256", "--orientation", "unknown"],
     ["--ground-size is not read for the university1652 layout", "--orientation is not read for the university1652"]),
    (["--preview", "sheet.png", "--size", "medium", "--style", "downtown"],
     ["--size is not read by --preview alone", "--style is not read by --preview alone"]),
])
def test_an_option_the_layout_or_the_preview_does_not_read_is_named(host, tmp_path, monkeypatch, args, notes):
    """They were ignored without a word (outside fuzzing)."""
    from cvgl_bench.cli import cli
    from cvgl_bench.data.synth import generate, preview

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(generate, "generate_config",
                        lambda *a, **k: {"path": "X", "counts": {}, "seconds": 0, "worlds": 0})
    monkeypatch.setattr(preview, "write_contact_sheet", lambda path, seed: path)
    if "--layout" in args:
        args = [*args, "--out", "X"]
    result = CliRunner().invoke(cli, ["synth", *args])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "is not read" in line]
    assert len(lines) == len(notes) and all(note in line for note, line in zip(notes, lines)), result.stderr


def test_cli_refuses_a_full_folder(host, tmp_path):
    from cvgl_bench.cli import cli

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    result = CliRunner().invoke(cli, ["synth", "--layout", "cvusa", "--out", str(tmp_path / "busy"), "--size", "tiny"])
    assert result.exit_code == 2 and "not empty" in result.output


def test_the_host_is_passed_down_not_looked_up(make_host, tiny_cache, monkeypatch):
    """A synthetic split reads its twin through the host it is given (load_split passes it to readers
    with a ``host`` parameter); without one it is a TypeError, never a lookup of a process-wide host."""
    from cvgl_bench.data import splits as split_loading
    from cvgl_bench.data.synth import splits

    host = make_host()
    spec = host.splits.get("synth_cvusa_test")
    with pytest.raises(TypeError, match="host"):
        spec.load()(None, spec.protocol_defaults())

    class Seen(Exception):
        pass

    def real_spec(given, kind, name):
        raise Seen(given)

    monkeypatch.setattr(splits, "ensure_generated", lambda *a, **k: tiny_cache)
    monkeypatch.setattr(splits, "_real_spec", real_spec)
    with pytest.raises(Seen) as seen:
        split_loading.load_split(spec, host=host, root=tiny_cache)
    assert seen.value.args[0] is host


def test_readers_without_a_host_parameter_do_not_get_one():
    from cvgl_bench.data.splits import _accepts

    assert _accepts(lambda root, protocol, *, host=None: None, "host", through_kwargs=False)
    assert not _accepts(lambda root, protocol, **kwargs: None, "host", through_kwargs=False)
