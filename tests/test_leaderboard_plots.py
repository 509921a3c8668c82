"""Leaderboard plots: attention overlays, recall curves, retrieval examples from a registered split."""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cvgl_bench import DatasetSpec, MethodSpec, SplitSpec, hookimpl
from cvgl_bench import leaderboard as lb
from cvgl_bench.data.structures import EvalData, GroundTruth, ImageSet
from cvgl_bench.method import CVGLModel, Method
from tests.leaderboard_fakes import build, rank_arrays, write_record


def png_image(payload):
    assert payload[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(payload)).convert("RGB"))


def jpeg_image(payload):
    """Photographic figures (examples, spatial maps) are JPEGs."""
    assert payload[:3] == b"\xff\xd8\xff"
    return np.asarray(Image.open(io.BytesIO(payload)).convert("RGB"))


def test_attention_overlay_draws_the_map_over_the_image(tmp_path):
    image = np.full((60, 240, 3), 128, dtype=np.uint8)
    bump = np.zeros((6, 24))
    bump[2:4, 18:22] = 1.0  # "attention" on the right part of the panorama
    out = tmp_path / "ncm.jpg"
    payload = lb.plot_attention_overlays([(image, bump), (image, np.zeros((6, 24)))], titles=["bump", "flat"],
                                         path=out)
    assert out.read_bytes() == payload
    pixels = jpeg_image(payload)
    assert pixels.shape[0] > 100 and pixels.std() > 10  # something was drawn, not a blank canvas
    with pytest.raises(ValueError, match="HxWx3"):
        lb.plot_attention_overlays([(np.zeros((4, 4)), np.zeros((4, 4)))])
    with pytest.raises(ValueError, match="2-D"):
        lb.plot_attention_overlays([(image, np.zeros(5))])
    with pytest.raises(ValueError):
        lb.plot_attention_overlays([])


def test_recall_curves_plot():
    curves = {"a": np.linspace(50, 100, 88), "b": np.linspace(30, 90, 88)}
    assert png_image(lb.plot_recall_curves(curves, title="t", k_marker=88)).shape[2] == 3


N_Q, N_R = 6, 8


def toy_world(root):
    """A registered toy split with real image files under ``root/ToyData``."""
    folder = root / "ToyData"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = {}
    for kind, n, size in (("q", N_Q, (40, 160)), ("r", N_R, (64, 64))):
        for i in range(n):
            path = folder / f"{kind}{i}.png"
            Image.fromarray(rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)).save(path)
            paths.setdefault(kind, []).append(path)

    def load(data_root, protocol):
        queries = ImageSet("ground", [f"q{i}" for i in range(N_Q)], [str(data_root / f"q{i}.png") for i in range(N_Q)])
        refs = ImageSet("satellite", [f"r{i}" for i in range(N_R)], [str(data_root / f"r{i}.png") for i in range(N_R)])
        truth = GroundTruth.one_to_one(np.arange(N_Q), N_R)
        return EvalData("toy_test", queries, refs, truth, dict(protocol))

    class ToyPlugin:
        @hookimpl
        def cvgl_bench_register_datasets(self, register):
            register(DatasetSpec(name="toy", loader=None, folder="ToyData"))

        @hookimpl
        def cvgl_bench_register_splits(self, register):
            register(SplitSpec(name="toy_test", loader=load, dataset="toy", train_split="toy_train",
                               protocol_options={"ties": ("strict", "loose")}))

    return ToyPlugin(), load(folder, {"ties": "strict"}).fingerprint


def toy_records(results_root, fingerprint):
    best = np.array([0, 3, 0, 6, 1, 0])
    arrays = rank_arrays(best, N_R, topk=5, rng=np.random.default_rng(1))
    arrays["gt_ref_index"] = np.arange(N_Q)  # the toy split's truth: query i <-> reference i
    top = arrays["topk"]
    for q in range(N_Q):  # keep the positive exactly where its rank says, others distinct
        others = [r for r in range(N_R) if r != q][: top.shape[1]]
        row = others[:]
        if best[q] < top.shape[1]:
            row.insert(int(best[q]), q)
        top[q] = row[: top.shape[1]]
    write_record(results_root, method="m", seed=0, arrays=arrays, eval_split="toy_test", train_split="toy_train",
                 in_domain_train="toy_train", fingerprint=fingerprint, protocol={"ties": "strict"})


def test_retrieval_examples_come_from_the_registered_split(tmp_path, make_host):
    plugin, fingerprint = toy_world(tmp_path / "data")
    host = make_host(plugin)
    toy_records(tmp_path / "results", fingerprint)
    board = build(tmp_path / "results")
    files = lb.render(board, tmp_path / "out", "md", host=host, data_root=tmp_path / "data")
    example = tmp_path / "out" / "plots" / "in-domain__toy_test.examples.jpg"
    assert example in files
    assert jpeg_image(example.read_bytes()).shape[1] > 800
    text = (tmp_path / "out" / "in-domain__toy_test.md").read_text()
    assert "queries drawn at random" in text and "skipped" not in text


def test_retrieval_examples_are_skipped_with_a_reason(tmp_path, make_host):
    plugin, fingerprint = toy_world(tmp_path / "data")
    host = make_host(plugin)
    toy_records(tmp_path / "results", "another-fingerprint")
    board = build(tmp_path / "results")
    lb.render(board, tmp_path / "out", "md", host=host, data_root=tmp_path / "data")
    text = (tmp_path / "out" / "in-domain__toy_test.md").read_text()
    assert "retrieval examples skipped: the toy_test data found here" in text
    lb.render(board, tmp_path / "out2", "md", host=host, data_root=tmp_path / "nowhere")
    text = (tmp_path / "out2" / "in-domain__toy_test.md").read_text()
    assert "retrieval examples skipped: ToyData data not found" in text


class MappedModel(torch.nn.Module, CVGLModel):
    """A model with ``spatial_maps``: its map is the image's brightness, so the plot is checkable."""

    embedding_dim = 3

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def encode(self, images, view):
        return torch.nn.functional.normalize(images.mean(dim=(2, 3)), dim=1)

    def spatial_maps(self, images, view):
        return {"brightness": images.mean(dim=1) * self.scale}


class QueryMappedModel(MappedModel):
    """Maps of the query view only, as a model whose reference is polar-transformed may have."""

    def spatial_maps(self, images, view):
        return super().spatial_maps(images, view) if view == "ground" else {}


class MappedMethod(Method):
    def hparams(self, profile, train_split):
        return {"views": ["ground", "satellite"], "image_size": {"ground": [20, 80], "satellite": [32, 32]}}

    def build_model(self, hparams):
        return MappedModel()

    def fit(self, model, train, hparams, run):
        raise AssertionError("the leaderboard never trains")

    def eval_transform(self, hparams, view):
        return lambda x: x.permute(0, 3, 1, 2).float() / 255.0


def _with_checkpoint(record_path, checkpoint):
    record = json.loads(record_path.read_text())
    record["checkpoint"] = {"file": str(checkpoint), "sha256": ""}
    record["cell"]["hparams"] = {"views": ["ground", "satellite"],
                                 "image_size": {"ground": [20, 80], "satellite": [32, 32]}}
    record_path.write_text(json.dumps(record))


def _mapped_board(tmp_path, make_host, method_cls, name):
    """A toy world with one record of a method ``m`` (``method_cls``) whose checkpoint is
    ``tmp_path/<name>.pt``; returns the host, the record path and the checkpoint."""
    plugin, fingerprint = toy_world(tmp_path / "data")

    class MethodPlugin:
        @hookimpl
        def cvgl_bench_register_methods(self, register):
            register(MethodSpec(name="m", loader=f"{__name__}:{method_cls.__name__}", summary="mapped"))

    host = make_host(plugin, MethodPlugin())
    toy_records(tmp_path / name, fingerprint)
    (record_path,) = (tmp_path / name).rglob("*.json")
    checkpoint = tmp_path / f"{name}.pt"
    torch.save(method_cls().build_model({}).state_dict(), checkpoint)
    _with_checkpoint(record_path, checkpoint)
    return host, record_path, checkpoint


def test_models_with_spatial_maps_get_a_figure_and_missing_checkpoints_a_reason(tmp_path, make_host, monkeypatch):
    host, record_path, checkpoint = _mapped_board(tmp_path, make_host, MappedMethod, "results")
    board = build(tmp_path / "results")
    files = lb.render(board, tmp_path / "out", "md", host=host, data_root=tmp_path / "data")
    maps = tmp_path / "out" / "plots" / "in-domain__toy_test.m.maps.jpg"
    assert maps in files and jpeg_image(maps.read_bytes()).std() > 10
    assert "spatial maps over 2 query and 2 reference images" in (tmp_path / "out" / "in-domain__toy_test.md").read_text()

    # a record names its checkpoint relative to the runs folder, found through runs_dir (--runs)
    runs = tmp_path / "elsewhere" / "runs"
    (runs / "m").mkdir(parents=True)
    checkpoint.rename(runs / "m" / "model.pt")
    _with_checkpoint(record_path, "m/model.pt")
    files = lb.render(build(tmp_path / "results"), tmp_path / "out3", "md", host=host,
                      data_root=tmp_path / "data", runs_dir=runs)
    assert tmp_path / "out3" / "plots" / "in-domain__toy_test.m.maps.jpg" in files

    lb.render(build(tmp_path / "results"), tmp_path / "out2", "md", host=host, data_root=tmp_path / "data")
    text = (tmp_path / "out2" / "in-domain__toy_test.md").read_text()
    assert "skipped for m: their checkpoints are not under runs on this machine (--runs)" in text


def test_a_records_variant_cannot_put_a_map_figure_outside_plots(tmp_path, make_host):
    """The figure's name held the record's variant as it was: a record in a shared results folder
    whose variant holds '/../' had its figure written wherever that led, and a long variant's
    name was too long for a file (outside audit)."""
    host, record_path, _ = _mapped_board(tmp_path, make_host, MappedMethod, "results")
    record = json.loads(record_path.read_text())
    record["cell"]["variant"] = "x=1/../../../../escaped"
    record_path.write_text(json.dumps(record))
    board = build(tmp_path / "results")
    assert [row.variant for table in board.tables for row in table.rows] == ["x=1/../../../../escaped"]
    files = lb.render(board, tmp_path / "deep" / "er" / "out", "md", host=host, data_root=tmp_path / "data")
    (figure,) = [path for path in files if path.name.endswith(".maps.jpg")]
    assert figure.parent == tmp_path / "deep" / "er" / "out" / "plots"
    assert figure.name == "in-domain__toy_test.m.x-1_.._.._.._.._escaped.maps.jpg"
    assert list(tmp_path.rglob("*escaped*.jpg")) == [figure]  # the old name wrote deep/escaped.maps.jpg

    record["cell"]["variant"] = ",".join(f"augment.option_{k}=0.5" for k in range(20))  # 'File name too long'
    record_path.write_text(json.dumps(record))
    files = lb.render(build(tmp_path / "results"), tmp_path / "long", "md", host=host, data_root=tmp_path / "data")
    (figure,) = [path for path in files if path.name.endswith(".maps.jpg")]
    assert len(figure.name) == 200 and figure.name.startswith("in-domain__toy_test.m.augment.option_0-0.5_")


class QueryMappedMethod(MappedMethod):
    def build_model(self, hparams):
        return QueryMappedModel()


def test_a_model_with_maps_of_one_view_gets_only_that_view_drawn_and_named(tmp_path, make_host):
    widths = {}
    for method_cls in (MappedMethod, QueryMappedMethod):
        name = method_cls.__name__
        host, _, _ = _mapped_board(tmp_path / name, make_host, method_cls, "results")
        lb.render(build(tmp_path / name / "results"), tmp_path / name / "out", "md", host=host,
                  data_root=tmp_path / name / "data")
        widths[name] = jpeg_image((tmp_path / name / "out" / "plots" / "in-domain__toy_test.m.maps.jpg")
                                  .read_bytes()).shape[1]
    text = (tmp_path / "QueryMappedMethod" / "out" / "in-domain__toy_test.md").read_text()
    assert "spatial maps over 2 query images of toy_test (it has none of the other view)" in text
    assert "reference images" not in text
    assert widths["QueryMappedMethod"] < widths["MappedMethod"]  # no empty reference columns


THREADS_SEEN: list[int] = []


class ThreadCountingModel(MappedModel):
    def spatial_maps(self, images, view):
        THREADS_SEEN.append(torch.get_num_threads())
        return super().spatial_maps(images, view)


class ThreadCountingMethod(MappedMethod):
    def build_model(self, hparams):
        return ThreadCountingModel()


def test_maps_are_computed_on_one_thread_so_a_committed_plot_does_not_change_with_the_machine(tmp_path, make_host):
    """CLNet's maps differed in the last bits between 1 and 2 threads, and so did the committed JPEGs."""
    host, _, _ = _mapped_board(tmp_path, make_host, ThreadCountingMethod, "results")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        THREADS_SEEN.clear()
        lb.render(build(tmp_path / "results"), tmp_path / "out", "md", host=host, data_root=tmp_path / "data")
        assert THREADS_SEEN == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
