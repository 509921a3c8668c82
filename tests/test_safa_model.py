"""SAFAModel (plugins/safa): polar reference branch, separate trunks, spatial-aware aggregation."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "safa"))

from cvgl_bench_safa.model import SAFAModel, SpatialAwareAggregation, build_trunk  # noqa: E402

from cvgl_bench.data.polar import polar_transform_torch  # noqa: E402
from cvgl_bench.evaluate.efficiency import measure  # noqa: E402
from cvgl_bench.errors import ConfigError  # noqa: E402

BACKBONE = "resnet18"
SIZES = {"ground": (64, 128), "satellite": (64, 64)}  # polar image 64x128 -> 2x4 feature map


def build(seed: int = 0, sizes=SIZES, **options) -> SAFAModel:
    torch.manual_seed(seed)
    return SAFAModel(sizes, "ground", "satellite", backbone=BACKBONE, **options).eval()


def images(view, n=2, seed=1, sizes=SIZES):
    return torch.randn(n, 3, *sizes[view], generator=torch.Generator().manual_seed(seed))


def head_params(positions, k):
    hidden = positions // 2
    return k * (positions * hidden + hidden + hidden * positions + positions)


def test_shapes_norm_and_embedding_dim():
    model = build()
    assert model.feature_grids == {"ground": (2, 4), "satellite": (2, 4)}
    assert model.embedding_dim == 8 * 512
    for view in SIZES:
        out = model.encode(images(view), view)
        assert out.shape == (2, 4096)
        torch.testing.assert_close(out.norm(dim=1), torch.ones(2))


def test_reference_branch_sees_the_polar_transform_of_the_square_tile():
    model = build()
    tiles = images("satellite")
    torch.testing.assert_close(model.branch_input(tiles, "satellite"), polar_transform_torch(tiles, SIZES["ground"]))
    assert torch.equal(model.branch_input(images("ground"), "ground"), images("ground"))
    # the paired rotation augmentation: tile rotated by 90 deg ccw == polar image rolled left by W/4
    rotated = model.branch_input(torch.rot90(tiles, 1, dims=(-2, -1)), "satellite")
    torch.testing.assert_close(rotated, torch.roll(model.branch_input(tiles, "satellite"), -32, dims=-1), atol=1e-4, rtol=0)


def test_polar_size_and_north_are_options_and_polar_can_be_off():
    model = build(polar_size=(32, 128), polar_north=0.5)
    assert model.branch_input(images("satellite"), "satellite").shape[-2:] == (32, 128)
    assert model.feature_grids["satellite"] == (1, 4) and model.polar.north == 0.5
    torch.manual_seed(0)
    no_polar = SAFAModel({"drone": (64, 64), "satellite": (64, 96)}, "drone", "satellite", backbone=BACKBONE, polar=False)
    assert no_polar.polar is None and no_polar.feature_grids == {"drone": (2, 2), "satellite": (2, 3)}
    assert no_polar.encode(torch.zeros(1, 3, 64, 96), "satellite").shape == (1, 4096)


def test_branches_are_separate_and_each_view_reaches_half_the_parameters():
    model = build()
    trunk = sum(p.numel() for p in model.trunks["ground"].parameters())
    assert sum(p.numel() for p in model.parameters()) == 2 * (trunk + head_params(8, 8))
    report = measure(model, SIZES, "ground", "satellite")
    assert report["params_query"] == report["params_reference"] == trunk + head_params(8, 8)
    assert report["gflops_query"] == pytest.approx(report["gflops_reference"])  # same branch input size
    assert report["embedding_dim"] == 4096
    with torch.no_grad():
        refs = model.encode(images("satellite"), "satellite")
        for p in model.trunks["ground"].parameters():
            p.add_(0.1)
        for p in model.heads["ground"].parameters():
            p.add_(0.1)
        assert torch.equal(model.encode(images("satellite"), "satellite"), refs)


@pytest.mark.parametrize("k", [1, 4, 8])
def test_k_sets_descriptor_size_and_head_parameters(k):
    model = build(spatial_embeddings=k)
    assert model.embedding_dim == 512 * k
    assert sum(p.numel() for p in model.heads.parameters()) == 2 * head_params(8, k)
    assert model.encode(images("ground"), "ground").shape == (2, 512 * k)


def test_spatial_aware_aggregation_matches_the_written_out_formula():
    torch.manual_seed(0)
    head = SpatialAwareAggregation(positions=6, k=3)
    features = torch.rand(2, 5, 2, 3)
    got = head(features)
    for b in range(2):
        pooled = features[b].amax(dim=0).flatten()  # max over channels
        parts = []
        for k in range(3):
            weights = (pooled @ head.weight1[k] + head.bias1[k]) @ head.weight2[k] + head.bias2[k]
            parts.append(features[b].flatten(1) @ weights)  # (C,)
        torch.testing.assert_close(got[b], torch.cat(parts))
    assert head.bias1.eq(0.1).all() and head.weight1.abs().max() <= 0.01
    with pytest.raises(ValueError, match="built for 6 positions"):
        head(torch.rand(1, 5, 3, 3))


def test_backward_reaches_every_parameter():
    model = build().train()
    q, r = model.encode(images("ground"), "ground"), model.encode(images("satellite"), "satellite")
    (q @ r.T).sum().backward()
    # every parameter is in the graph; timm's ResNet zero-inits each block's last BN gamma, so
    # the block's inner convs get exactly zero gradients at init: demand non-zero only per module
    assert all(p.grad is not None for p in model.parameters())
    for name, p in model.heads.named_parameters():
        assert p.grad.abs().sum() > 0, name
    for view in SIZES:
        assert model.trunks[view].model.conv1.weight.grad.abs().sum() > 0


def test_same_seed_same_model_other_seed_differs():
    a, b, c = build(seed=2), build(seed=2), build(seed=3)
    with torch.no_grad():
        assert torch.equal(a.encode(images("satellite"), "satellite"), b.encode(images("satellite"), "satellite"))
        assert not torch.equal(a.encode(images("satellite"), "satellite"), c.encode(images("satellite"), "satellite"))


def test_recorded_spatial_weights_and_config_round_trip():
    model = build(spatial_embeddings=4)
    model.record_activations = True
    with torch.no_grad():
        model.encode(images("ground", n=3), "ground")
    assert model.last_activations["ground"]["spatial_weights"].shape == (3, 4, 2, 4)
    rebuilt = SAFAModel(**model.config())
    rebuilt.load_state_dict(model.state_dict())
    hp = {"image_size": {"ground": [64, 128], "satellite": [64, 64]}, "views": ["ground", "satellite"],
          "backbone": BACKBONE, "pretrained": False, "shared_backbone": True, "batch_size": 32,
          "spatial_embeddings": 2, "model": {"polar_north": 0.5}}
    from_hp = SAFAModel.from_hparams(hp)
    assert from_hp.embedding_dim == 1024 and from_hp.polar.north == 0.5 and from_hp.logit_scale is None


def test_forward_takes_a_batch_of_pairs_like_the_toolkit_encoder():
    model = build()
    with torch.no_grad():
        q, r = model(images("ground"), images("satellite"))
        assert torch.equal(q, model.encode(images("ground"), "ground"))
        assert torch.equal(r, model.encode(images("satellite"), "satellite"))


def test_paper_vgg16_trunk_gives_4x20x512_at_112x616_with_same_pooling_and_dropout():
    trunk = build_trunk("vgg16", pretrained=False, dropout=0.2)
    pools = [m for m in trunk if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 5 and all(p.ceil_mode for p in pools)
    assert sum(isinstance(m, nn.Dropout) for m in trunk) == 6  # after conv4_1..conv5_3
    trunk = trunk.to("meta")  # shapes only, no arithmetic
    assert trunk(torch.empty(1, 3, 112, 616, device="meta")).shape == (1, 512, 4, 20)
    assert sum(isinstance(m, nn.Dropout) for m in build_trunk("vgg11", dropout=0.0)) == 0


def test_errors_are_config_errors():
    with pytest.raises(ConfigError, match="square"):
        build(sizes={"ground": (64, 128), "satellite": (64, 96)})
    model = build()
    with pytest.raises(ConfigError, match="built for satellite images of 64x64"):
        model.encode(torch.zeros(1, 3, 32, 32), "satellite")
    with pytest.raises(ConfigError, match="not 'drone'"):
        model.encode(torch.zeros(1, 3, 64, 64), "drone")
    with pytest.raises(ConfigError, match="too small"):
        build(sizes={"ground": (32, 32), "satellite": (32, 32)})
    with pytest.raises(ConfigError, match="no size for view"):
        SAFAModel({"ground": (64, 128)}, "ground", "satellite", backbone=BACKBONE)
    with pytest.raises(ConfigError, match="not usable"):
        SAFAModel(SIZES, "ground", "satellite", backbone="no_such_net")


def test_unreachable_pretrained_weights_are_one_actionable_line(monkeypatch):
    import timm

    from cvgl_bench.errors import UserError

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(UserError, match=r"cannot load pretrained weights of 'vgg16'.*HF_HOME"):
        SAFAModel(SIZES, "ground", "satellite", backbone="vgg16", pretrained=True)


def test_embedding_norm_and_trunk_stage_options():
    torch.manual_seed(0)
    model = SAFAModel(SIZES, "ground", "satellite", backbone="resnet18", trunk_stage=2, embedding_norm="batch").eval()
    assert model.config()["embedding_norm"] == "batch" and model.config()["trunk_stage"] == 2
    for view in SIZES:
        emb = model.encode(images(view), view)
        assert emb.shape == (2, model.embedding_dim)
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))
    with pytest.raises(ConfigError, match="embedding_norm must be one of"):
        build(embedding_norm="layer")
    with pytest.raises(ConfigError, match="trunk_stage 9 is not a feature stage"):
        SAFAModel(SIZES, "ground", "satellite", backbone="resnet18", trunk_stage=9)


def test_spatial_maps_only_over_images_they_describe():
    model = build()
    maps = model.spatial_maps(images("ground"), "ground")
    assert set(maps) == {"spatial embedding 1", "mean of the 8 spatial embeddings"}
    assert all(m.shape == (2, 2, 4) for m in maps.values())
    assert model.spatial_maps(images("satellite"), "satellite") == {}  # polar maps would mislead over the tile
