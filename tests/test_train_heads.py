"""Toolkit heads: the spatial head keeps layout, EmbeddingNorm centres per view, options reach the models."""

from __future__ import annotations

import pytest
import torch

from cvgl_bench.errors import ConfigError
from cvgl_bench.train.encoders import EmbeddingNorm, TwoViewEncoder
from cvgl_bench.train.heads import SpatialHead

SIZES = {"ground": (32, 128), "satellite": (64, 64)}


def test_spatial_head_depends_on_where_features_are():
    torch.manual_seed(0)
    head = SpatialHead(8, {"ground": (2, 4)}, reduce=4, dim=16).eval()
    x = torch.randn(3, 8, 2, 4)
    moved = torch.roll(x, shifts=1, dims=-1)  # same features, other places
    assert head(x, "ground").shape == (3, 16)
    assert not torch.allclose(head(x, "ground"), head(moved, "ground"))


def test_spatial_head_refuses_other_grids_and_views():
    head = SpatialHead(8, {"ground": (2, 4)})
    with pytest.raises(ConfigError, match="expects a 2x4 feature map"):
        head(torch.randn(1, 8, 2, 5), "ground")
    with pytest.raises(ConfigError, match="not 'drone'"):
        head(torch.randn(1, 8, 2, 4), "drone")


def test_embedding_norm_centres_a_shared_direction():
    norm = EmbeddingNorm("batch", 4, ["ground", "satellite"]).train()
    z = torch.tensor([[5.0, 5.0, 5.0, 5.0]]) + 0.01 * torch.randn(16, 4)
    out = norm(z, "ground")
    assert out.mean(dim=0).abs().max() < 1e-4
    assert torch.equal(EmbeddingNorm("none", 4, ["ground"])(z, "ground"), z)
    with pytest.raises(ConfigError, match="embedding_norm must be one of"):
        EmbeddingNorm("layer", 4, ["ground"])
    with pytest.raises(ConfigError, match="not 'drone'"):
        norm(z, "drone")


def test_two_view_encoder_with_spatial_head_and_batch_norm():
    torch.manual_seed(0)
    model = TwoViewEncoder("convnext_atto", ("ground", "satellite"), head="spatial", image_size=SIZES,
                           head_dim=64, embedding_norm="batch").eval()
    assert model.embedding_dim == 64
    for view, (h, w) in SIZES.items():
        emb = model.encode(torch.randn(2, 3, h, w), view)
        assert emb.shape == (2, 64)
        assert torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)
    with pytest.raises(ConfigError, match="needs image_size"):
        TwoViewEncoder("convnext_atto", head="spatial")
    with pytest.raises(ConfigError, match="head must be one of"):
        TwoViewEncoder("convnext_atto", head="max")


def test_clnet_with_spatial_head_keeps_its_modules():
    CLNetModel = pytest.importorskip("cvgl_bench_clnet.model").CLNetModel

    torch.manual_seed(0)
    model = CLNetModel(SIZES, "ground", "satellite", backbone="convnext_atto", head="spatial", head_dim=32,
                       embedding_norm="batch").eval()
    assert model.embedding_dim == 32 and model.config()["head"] == "spatial"
    emb = model.encode(torch.randn(2, 3, *SIZES["satellite"]), "satellite")
    assert emb.shape == (2, 32)
    rebuilt = CLNetModel(**model.config())
    assert rebuilt.embedding_dim == 32


def test_clnet_spatial_maps_cover_every_gate_and_gfr():
    CLNetModel = pytest.importorskip("cvgl_bench_clnet.model").CLNetModel
    torch.manual_seed(0)
    model = CLNetModel(SIZES, "ground", "satellite", backbone="convnext_atto").eval()
    maps = model.spatial_maps(torch.randn(2, 3, *SIZES["ground"]), "ground")
    assert set(maps) == {"NCM gain, stage 2", "NCM gain, stage 3", "GFR attention"}
    assert all(m.ndim == 3 and m.shape[0] == 2 for m in maps.values())
    assert not model.record_activations  # switched back
    warp = CLNetModel(SIZES, "ground", "satellite", backbone="convnext_atto", ncm="warp", gfr=False).eval()
    assert warp.spatial_maps(torch.randn(1, 3, *SIZES["satellite"]), "satellite") == {}
