"""The sample4geo plugin: registration through the hook, per-dataset recipes, a cpu-profile step."""

from __future__ import annotations

import pytest
import torch

from cvgl_bench.errors import ConfigError
from cvgl_bench.train.pretrained import SYNTH_CONVNEXT_ATTO, describe

from .train_helpers import train_split_spec

plugin = pytest.importorskip("cvgl_bench_sample4geo.plugin", reason="pip install -e plugins/sample4geo")


def test_registers_through_the_hook_only(make_host):
    host = make_host(plugin)
    spec = host.methods.get("sample4geo")
    assert spec.loader == "cvgl_bench_sample4geo.method:Sample4Geo"
    assert set(spec.profiles) == {"paper", "cpu"} and "Sample4Geo" in spec.paper
    method = spec.load()
    assert type(method).__name__ == "Sample4Geo"


@pytest.fixture
def method():
    from cvgl_bench_sample4geo.method import Sample4Geo

    return Sample4Geo()


@pytest.mark.parametrize("layout, views, sizes", [
    ("cvusa", ("ground", "satellite"), {"ground": [140, 768], "satellite": [384, 384]}),
    ("cvact", ("ground", "satellite"), {"ground": [140, 768], "satellite": [384, 384]}),
    ("vigor", ("ground", "satellite"), {"ground": [384, 768], "satellite": [384, 384]}),
    ("university1652", ("drone", "satellite"), {"drone": [384, 384], "satellite": [384, 384]}),
])
def test_paper_recipe_per_dataset(method, layout, views, sizes):
    hp = method.hparams("paper", train_split_spec(layout, *views))
    assert hp["image_size"] == sizes and hp["views"] == list(views)
    assert hp["backbone"] == "convnext_base.fb_in22k_ft_in1k_384" and hp["pretrained"] is True
    assert (hp["batch_size"], hp["lr"], hp["label_smoothing"], hp["grad_clip_value"]) == (128, 1e-3, 0.1, 100.0)
    if layout == "university1652":
        assert (hp["epochs"], hp["warmup_epochs"], hp["sampler"], hp["dss_every"]) == (1, 0.1, "random", 0)
        assert hp["augment"]["rotate_mode"] == "reference"
    else:
        assert (hp["epochs"], hp["warmup_epochs"], hp["sampler"], hp["dss_every"]) == (40, 1.0, "gps", 4)
        assert (hp["neighbour_select"], hp["neighbour_range"]) == (64, 128)
        assert (hp["augment"]["flip_p"], hp["augment"]["rotate_p"]) == (0.5, 0.75)
    assert hp["s4g_compat_degrees"] is False


def test_cpu_recipe_is_small(method):
    hp = method.hparams("cpu", train_split_spec("cvusa"))
    assert hp["backbone"] == "convnext_atto" and hp["pretrained"] == SYNTH_CONVNEXT_ATTO
    assert describe(hp["pretrained"])["backbone"] == "convnext_atto"  # the weights ship with the package
    assert hp["image_size"] == {"ground": [64, 256], "satellite": [128, 128]}
    assert hp["threads"] == 2 and hp["epochs"] <= 8
    drone = method.hparams("cpu", train_split_spec("university1652", "drone", "satellite"))
    assert drone["image_size"] == {"drone": [128, 128], "satellite": [128, 128]} and drone["epochs"] == 1


def test_unknown_profile_is_one_line(method):
    with pytest.raises(ConfigError, match="no profile 'gpu'"):
        method.hparams("gpu", train_split_spec())


def test_cpu_model_trains_one_step_at_small_size(method):
    hp = method.hparams("cpu", train_split_spec())
    torch.manual_seed(0)
    model = method.build_model(hp)
    assert model.embedding_dim == hp["head_dim"] == 512 and torch.exp(model.logit_scale).item() == pytest.approx(1 / 0.07)
    loss_fn = method.build_loss(hp)
    norm = method.normalizer(hp, "ground")
    ground, satellite = hp["image_size"]["ground"], hp["image_size"]["satellite"]
    q, r = model(norm(torch.rand(4, 3, *ground)), norm(torch.rand(4, 3, *satellite)))
    loss = loss_fn(q, r, model.logit_scale)
    loss.backward()
    assert torch.isfinite(loss) and model.logit_scale.grad is not None
