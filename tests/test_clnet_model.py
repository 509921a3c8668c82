"""CLNetModel (plugins/clnet): Sample4Geo equivalence, zero-init identity, switches, factorisation."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "clnet"))

from cvgl_bench_clnet.model import CLNetModel  # noqa: E402
from cvgl_bench_clnet.modules import GFR, NEC, NCMGate, NCMWarp  # noqa: E402

from cvgl_bench.evaluate.efficiency import measure  # noqa: E402
from cvgl_bench.errors import ConfigError, UnknownNameError  # noqa: E402

BACKBONE = "convnext_atto"
SIZES = {"ground": (32, 128), "satellite": (64, 64)}
GRIDS = {"ground": [(8, 32), (4, 16), (2, 8), (1, 4)], "satellite": [(16, 16), (8, 8), (4, 4), (2, 2)]}
CHANNELS = [40, 80, 160, 320]
ALL_OFF = dict(ncm="off", nec=False, gfr=False)


def build(seed: int = 0, sizes=SIZES, views=("ground", "satellite"), **options) -> CLNetModel:
    torch.manual_seed(seed)
    return CLNetModel(sizes, *views, backbone=BACKBONE, **options).eval()


def images(view, n=2, seed=1, sizes=SIZES):
    return torch.randn(n, 3, *sizes[view], generator=torch.Generator().manual_seed(seed))


def sample4geo_encoder(model: CLNetModel):
    encoder = timm.create_model(BACKBONE, pretrained=False, num_classes=0).eval()
    encoder.load_state_dict(model.backbone.state_dict())
    return lambda x: F.normalize(encoder(x), dim=-1)


def module_params(model, name):
    module = getattr(model, name)
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def perturb(module, scale=0.3, seed=5):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))


def test_stage_grids_come_from_a_dry_forward():
    model = build()
    assert model.stage_grids == GRIDS and model.stage_channels == CHANNELS and model.embedding_dim == 320


def test_all_modules_off_is_exactly_the_sample4geo_encoder():
    model = build(**ALL_OFF)
    reference = sample4geo_encoder(model)
    # plus the InfoNCE logit scale, initialised like Sample4Geo's (and the toolkit's TwoViewEncoder)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in model.backbone.parameters()) + 1
    assert model.logit_scale.item() == pytest.approx(2.6592600)
    assert build(logit_scale_init=None, **ALL_OFF).logit_scale is None
    with torch.no_grad():
        for view in SIZES:
            assert torch.equal(model.encode(images(view), view), reference(images(view)))


@pytest.mark.parametrize(
    "options",
    [
        {},  # the default: full NCM + NEC + GFR(conv)
        dict(ncm="spatial", gfr_cue="ncm"),
        dict(ncm="full", ncm_stages=(0, 1, 2, 3), nec_shared=True, gfr_shared=False),
    ],
)
def test_freshly_built_clnet_embeds_exactly_like_its_backbone(options):
    model = build(**options)
    reference = sample4geo_encoder(model)
    with torch.no_grad():
        for view in SIZES:
            assert torch.equal(model.encode(images(view), view), reference(images(view)))


def test_warp_with_identity_init_and_equal_grids_is_close_to_the_backbone():
    sizes = {"drone": (64, 64), "satellite": (64, 64)}
    model = build(sizes=sizes, views=("drone", "satellite"), ncm="warp")
    assert all(isinstance(m, NCMWarp) for m in model.ncm["satellite"].values()) and not len(model.ncm["drone"])
    reference = sample4geo_encoder(model)
    with torch.no_grad():
        got = model.encode(images("satellite", sizes=sizes), "satellite")
        torch.testing.assert_close(got, reference(images("satellite", sizes=sizes)), atol=1e-5, rtol=0)


def test_warp_moves_the_reference_into_the_query_layout_with_a_polar_first_stage():
    model = build(ncm="warp", nec=False, gfr=False)
    maps = model.ncm_maps("satellite")
    assert set(maps) == {2, 3} and model.ncm_maps("ground") == {}
    assert maps[2].shape == (*GRIDS["ground"][2], 2) and maps[3].shape == (*GRIDS["ground"][3], 2)
    # stage 2: polar grid (rows far -> near), stage 3: already panorama-shaped, so identity
    radius = maps[2].norm(dim=-1)
    assert torch.all(radius[0] > radius[-1])
    expected_identity = NCMWarp.identity(GRIDS["ground"][3]).grid[0]
    torch.testing.assert_close(maps[3], expected_identity)
    x = images("satellite")
    feature = model.feature_map(x, "satellite")
    assert feature.shape[-2:] == GRIDS["ground"][3]


@pytest.mark.parametrize("ncm", ["spatial", "full", "warp"])
def test_ncm_parameter_count_follows_variant_and_grids(ncm):
    model = build(ncm=ncm, nec=False, gfr=False)
    stages = (2, 3)
    if ncm == "spatial":
        expected = sum(h * w for v in SIZES for s in stages for h, w in [GRIDS[v][s]])
    elif ncm == "full":
        expected = sum(CHANNELS[s] * h * w for v in SIZES for s in stages for h, w in [GRIDS[v][s]])
    else:
        expected = sum(2 * h * w for s in stages for h, w in [GRIDS["ground"][s]])
    assert module_params(model, "ncm") == expected
    total = sum(p.numel() for p in model.parameters())
    assert total == expected + sum(p.numel() for p in model.backbone.parameters()) + 1  # + logit scale


def test_nec_and_gfr_parameter_counts_follow_their_switches():
    d, hidden, c, r = 320, 640, 320, 320 // 16
    one_nec = 2 * d + (d * hidden + hidden) + (hidden * d + d)
    se = (c * r + r) + (r * c + c)
    assert module_params(build(ncm="off", gfr=False), "nec") == 2 * one_nec
    assert module_params(build(ncm="off", gfr=False, nec_shared=True), "nec") == one_nec
    assert module_params(build(ncm="off", nec=False), "gfr") == se + c + 1
    assert module_params(build(ncm="off", nec=False, gfr_shared=False), "gfr") == 2 * (se + c + 1)
    assert module_params(build(ncm="spatial", nec=False, gfr_cue="ncm"), "gfr") == se
    assert module_params(build(ncm="off", nec=False, gfr_reduction=4), "gfr") == (c * 80 + 80) + (80 * c + c) + c + 1
    assert build(**ALL_OFF).nec is None and build(**ALL_OFF).gfr is None


def test_shapes_norms_and_gradients_reach_every_module():
    model = build(ncm="full", gfr_shared=False).train()
    for name in ("ncm", "nec", "gfr"):
        perturb(getattr(model, name))  # move off the zero init so every gradient is non-trivial
    q, r = model.encode(images("ground"), "ground"), model.encode(images("satellite"), "satellite")
    assert q.shape == r.shape == (2, 320)
    torch.testing.assert_close(q.norm(dim=1), torch.ones(2))
    (q @ r.T).diag().sum().backward()
    for name, p in model.named_parameters():
        if not name.startswith("backbone.") and name != "logit_scale":  # the loss uses the scale
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("ncm", ["spatial", "warp"])
def test_gradients_reach_spatial_and_warp_maps(ncm):
    model = build(ncm=ncm, nec=False, gfr=False).train()
    perturb(model.ncm, scale=0.05)
    loss = sum(model.encode(images(view), view).pow(3).sum() for view in SIZES)
    loss.backward()
    for name, p in model.ncm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_reference_embeddings_do_not_depend_on_any_query():
    model = build(ncm="full", gfr_shared=False)
    for name in ("ncm", "nec", "gfr"):
        perturb(getattr(model, name), seed=7)
    refs = images("satellite", n=3, seed=4)
    with torch.no_grad():
        before = model.encode(refs, "satellite")
        model.encode(images("ground", n=5, seed=9), "ground")  # no state carried over
        assert torch.equal(model.encode(refs, "satellite"), before)
        one_by_one = torch.cat([model.encode(refs[i : i + 1], "satellite") for i in range(3)])
        torch.testing.assert_close(one_by_one, before, atol=1e-5, rtol=0)
        # query-side modules do not touch reference embeddings, and vice versa
        query_before = model.encode(images("ground"), "ground")
        for part in (model.ncm["ground"], model.nec["ground"], model.gfr["ground"]):
            perturb(part, seed=11)
        assert torch.equal(model.encode(refs, "satellite"), before)
        for part in (model.ncm["satellite"], model.nec["satellite"], model.gfr["satellite"]):
            perturb(part, seed=12)
        assert not torch.equal(model.encode(images("ground"), "ground"), query_before)  # query side changed
        changed_refs = model.encode(refs, "satellite")
    assert not torch.equal(changed_refs, before)


def test_ncm_maps_and_recorded_activations_for_plotting():
    model = build(ncm="full")
    maps = model.ncm_maps("satellite")
    assert {s: tuple(m.shape) for s, m in maps.items()} == {2: (160, 4, 4), 3: (320, 2, 2)}
    assert torch.equal(maps[2], torch.ones(160, 4, 4))  # zero-init gain
    assert model.ncm_maps("ground", channel_mean=True)[2].shape == GRIDS["ground"][2]
    assert build(ncm="spatial").ncm_maps("ground")[3].shape == (1, *GRIDS["ground"][3])
    assert build(**ALL_OFF).ncm_maps("ground") == {}
    model.record_activations = True
    with torch.no_grad():
        model.encode(images("ground", n=3), "ground")
    seen = model.last_activations["ground"]
    assert seen["stage2"].shape == (3, *GRIDS["ground"][2]) and seen["stage3"].shape == (3, *GRIDS["ground"][3])
    assert seen["gfr_attention"].shape == (3, *GRIDS["ground"][3])
    torch.testing.assert_close(seen["gfr_attention"].sum(dim=(1, 2)), torch.ones(3))
    assert seen["gfr_channel_weights"].shape == (3, 320)
    with pytest.raises(ConfigError, match="no view 'drone'"):
        model.ncm_maps("drone")


def test_same_seed_same_model_and_embeddings_other_seed_differs():
    a, b, c = build(seed=3), build(seed=3), build(seed=4)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    with torch.no_grad():
        assert torch.equal(a.encode(images("ground"), "ground"), b.encode(images("ground"), "ground"))
        assert not torch.equal(a.encode(images("ground"), "ground"), c.encode(images("ground"), "ground"))


def test_config_rebuilds_the_same_architecture():
    model = build(ncm="spatial", ncm_stages=[3], nec_shared=True, gfr_cue="ncm")
    rebuilt = CLNetModel(**model.config())
    rebuilt.load_state_dict(model.state_dict())  # strict: same parameter names and shapes
    # the toolkit's flat hparams: known options are taken, others (batch_size, ...) ignored
    hp = {"image_size": {"ground": [32, 128], "satellite": [64, 64]}, "views": ["ground", "satellite"],
          "backbone": BACKBONE, "pretrained": False, "shared_backbone": True, "batch_size": 128,
          "ncm": "spatial", "ncm_stages": [3], "gfr": False, "model": {"nec": False}}
    from_hp = CLNetModel.from_hparams(hp)
    assert (from_hp.ncm_kind, from_hp.ncm_stages, from_hp.gfr, from_hp.nec) == ("spatial", (3,), None, None)
    old_style = {"image_size": SIZES, "query_view": "ground", "reference_view": "satellite", "model": {"backbone": BACKBONE}}
    assert CLNetModel.from_hparams(old_style).ncm_kind == "full"
    with pytest.raises(ConfigError, match="shares one backbone"):
        CLNetModel.from_hparams({**hp, "shared_backbone": False})


def test_forward_takes_a_batch_of_pairs_like_the_toolkit_encoder():
    model = build()
    with torch.no_grad():
        q, r = model(images("ground"), images("satellite"))
        assert torch.equal(q, model.encode(images("ground"), "ground"))
        assert torch.equal(r, model.encode(images("satellite"), "satellite"))


def test_measure_counts_the_nec_flops_exactly_and_reports_the_model():
    with_nec = measure(build(ncm="full", gfr=False), SIZES, "ground", "satellite")
    without = measure(build(ncm="full", gfr=False, nec=False), SIZES, "ground", "satellite")
    assert with_nec["embedding_dim"] == 320
    # two linears 320 -> 640 -> 320 at 2 FLOPs per multiply-add; gating and LayerNorm are not counted
    assert (with_nec["gflops_query"] - without["gflops_query"]) * 1e9 == pytest.approx(2 * (320 * 640 + 640 * 320))
    assert with_nec["params"] - without["params"] == 2 * (2 * 320 + 320 * 640 + 640 + 640 * 320 + 320)
    assert with_nec["params_query"] < with_nec["params"]  # the reference's NCM and NEC are not reached


def test_wrong_input_size_unknown_view_and_bad_options_are_config_errors():
    model = build()
    with pytest.raises(ConfigError, match="built for ground images of 32x128"):
        model.encode(torch.zeros(1, 3, 64, 128), "ground")
    with pytest.raises(ConfigError, match="not 'drone'"):
        model.encode(torch.zeros(1, 3, 32, 128), "drone")
    for options, message in (
        (dict(ncm="fancy"), "ncm must be one of"),
        (dict(ncm="full", ncm_stages=(4,)), "ncm_stages must be"),
        (dict(ncm="off", gfr_cue="ncm"), "gfr_cue='ncm' needs"),
        (dict(ncm="full", ncm_stages=(2,), gfr_cue="ncm"), "gfr_cue='ncm' needs"),
        (dict(ncm_warp_init="random"), "ncm_warp_init must be"),
    ):
        with pytest.raises(ConfigError, match=message):
            build(**options)
    with pytest.raises(ConfigError, match="no size for view"):
        CLNetModel({"ground": (32, 128)}, "ground", "satellite", backbone=BACKBONE)
    with pytest.raises(UnknownNameError, match="unknown timm model 'no_such_net'"):
        CLNetModel(SIZES, "ground", "satellite", backbone="no_such_net")
    with pytest.raises(ConfigError, match="no stem/stages"):
        CLNetModel(SIZES, "ground", "satellite", backbone="vit_tiny_patch16_224")
    with pytest.raises(ConfigError, match="square"):
        build(sizes={"ground": (32, 128), "satellite": (64, 96)}, ncm="warp", ncm_warp_init="polar")
    # without NCM maps the encoder accepts any size, as Sample4Geo's does
    assert build(**ALL_OFF).encode(torch.zeros(1, 3, 64, 64), "ground").shape == (1, 320)


def test_resnet_backbones_work_through_the_stage_adapter():
    torch.manual_seed(0)
    model = CLNetModel(SIZES, "ground", "satellite", backbone="resnet18", ncm="spatial", gfr_cue="ncm").eval()
    assert model.stage_channels == [64, 128, 256, 512] and model.embedding_dim == 512
    encoder = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()
    encoder.load_state_dict(model.backbone.state_dict())
    with torch.no_grad():
        assert torch.equal(model.encode(images("satellite"), "satellite"), F.normalize(encoder(images("satellite")), dim=-1))


def test_module_units():
    gate = NCMGate(4, (2, 3), per_channel=False)
    x = torch.randn(2, 4, 2, 3)
    assert torch.equal(gate(x), x)
    with pytest.raises(ValueError, match="built for another input size"):
        gate(torch.randn(2, 4, 3, 3))
    nec = NEC(6)
    z = torch.randn(3, 6)
    assert torch.equal(nec(z), z)
    gfr = GFR(32, reduction=16, cue="ncm")
    feats = torch.randn(2, 32, 2, 3)
    weights = torch.zeros(2, 3)
    weights[1, 2] = 1.0  # all attention on one position: the squeeze is that position's features
    torch.testing.assert_close(gfr.attention(feats, weights)[0], weights)
    perturb(gfr)
    expected = 2 * torch.sigmoid(gfr.fc2(F.relu(gfr.fc1(feats[:, :, 1, 2]))))
    torch.testing.assert_close(gfr.channel_weights(feats, gfr.attention(feats, weights)), expected)
    with pytest.raises(ValueError, match="needs the NCM spatial weights"):
        gfr(feats)


@pytest.mark.parametrize("backbone", [BACKBONE, "resnet18"])
def test_deepcopy_and_pickle_give_an_independent_working_model(backbone):
    import copy
    import io

    torch.manual_seed(0)
    model = CLNetModel(SIZES, "ground", "satellite", backbone=backbone, ncm="spatial").eval()
    clone = copy.deepcopy(model)
    with torch.no_grad():
        expected = model.encode(images("ground"), "ground")
        assert torch.equal(clone.encode(images("ground"), "ground"), expected)
        for p in clone.backbone.parameters():
            p.add_(0.5)  # an EMA copy must not share weights with the original
        assert torch.equal(model.encode(images("ground"), "ground"), expected)
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        restored = torch.load(buffer, weights_only=False)
        assert torch.equal(restored.encode(images("ground"), "ground"), expected)


def test_unreachable_pretrained_weights_are_one_actionable_line(monkeypatch):
    from cvgl_bench.errors import UserError

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'\nmore detail")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(UserError, match=r"cannot load pretrained weights of 'convnext_atto' \(We couldn't connect.*HF_HOME"):
        CLNetModel(SIZES, "ground", "satellite", backbone=BACKBONE, pretrained=True)
