"""The clnet and safa plugins: packaged and registered as a third party would, recipes, ablation
switches, SAFA's polar north against the synthetic world, measured costs."""

from __future__ import annotations

import configparser
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cvgl_bench.data.polar import polar_transform
from cvgl_bench.errors import ConfigError, UserError
from cvgl_bench.run.overrides import apply_overrides, parse_set
from cvgl_bench.train.pretrained import SYNTH_CONVNEXT_ATTO

from .train_helpers import train_split_spec

clnet_plugin = pytest.importorskip("cvgl_bench_clnet.plugin", reason="pip install -e plugins/clnet")
safa_plugin = pytest.importorskip("cvgl_bench_safa.plugin", reason="pip install -e plugins/safa")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name, package", [("clnet", "cvgl_bench_clnet"), ("safa", "cvgl_bench_safa")])
def test_each_plugin_is_its_own_distribution_with_an_entry_point(name, package):
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "plugins" / name / "setup.cfg")
    assert cfg["metadata"]["name"] == f"cvgl-bench-{name}"
    assert cfg["options.entry_points"]["cvgl_bench"].strip() == f"{name} = {package}.plugin"
    assert "cvgl-bench" in cfg["options"]["install_requires"]
    assert (ROOT / "plugins" / name / "pyproject.toml").is_file() and (ROOT / "plugins" / name / "README.md").is_file()


@pytest.mark.parametrize("module", ["cvgl_bench_clnet.plugin", "cvgl_bench_safa.plugin"])
def test_plugin_modules_only_implement_the_hook_and_import_nothing_heavy(module):
    import importlib
    import inspect

    plugin = importlib.import_module(module)
    hooks = [n for n, f in vars(plugin).items() if inspect.isfunction(f) and n.startswith("cvgl_bench_")]
    assert hooks == ["cvgl_bench_register_methods"]
    source = inspect.getsource(plugin)
    assert "import torch" not in source and "import timm" not in source


def test_clnet_says_it_is_unofficial_and_lists_its_guesses(make_host):
    spec = make_host(clnet_plugin).methods.get("clnet")
    assert spec.official is False and "2512.14560" in spec.paper and "CLNet" in spec.paper
    assert "UNOFFICIAL" in spec.notes and "guess" in spec.notes and "UNOFFICIAL" in spec.summary
    for guessed in ("NCM", "NEC", "GFR", "Sample4Geo", "no extra correspondence loss"):
        assert guessed in spec.notes
    readme = (ROOT / "plugins" / "clnet" / "README.md").read_text()
    assert "unofficial re-implementation" in readme.lower() and "## Guesses" in readme
    assert type(spec.load()).__name__ == "CLNet"


def test_safa_embeds_ground_and_satellite_only(make_host, host):
    spec = make_host(safa_plugin).methods.get("safa")
    assert spec.views == ("ground", "satellite") and "NeurIPS 2019" in spec.paper
    assert not spec.supports(host.splits.get("synth_u1652_d2s"))
    assert spec.supports(host.splits.get("synth_cvact_test"))
    with pytest.raises(ConfigError, match="SAFA embeds ground panoramas and satellite tiles only"):
        spec.load().hparams("cpu", train_split_spec("cvusa", "drone", "satellite"))


# -- CLNet -------------------------------------------------------------------------------------
@pytest.fixture
def clnet():
    from cvgl_bench_clnet.method import CLNet

    return CLNet()


@pytest.mark.parametrize("layout, views", [("cvusa", ("ground", "satellite")), ("cvact", ("ground", "satellite")),
                                           ("vigor", ("ground", "satellite")),
                                           ("university1652", ("drone", "satellite"))])
def test_clnet_paper_recipe_is_sample4geos_plus_the_modules(clnet, layout, views):
    s4g = pytest.importorskip("cvgl_bench_sample4geo.method")
    from cvgl_bench_clnet.method import MODULES

    split = train_split_spec(layout, *views)
    ours, theirs = clnet.hparams("paper", split), s4g.Sample4Geo().hparams("paper", split)
    assert {k: v for k, v in ours.items() if k not in MODULES} == theirs
    assert {k: ours[k] for k in MODULES} == MODULES
    assert ours["ncm"] == "warp" and ours["nec"] is True and ours["gfr"] is True


def test_clnet_cpu_recipe_is_sample4geos_cpu_recipe_plus_the_modules(clnet):
    s4g = pytest.importorskip("cvgl_bench_sample4geo.method")
    from cvgl_bench_clnet.method import MODULES

    split = train_split_spec("cvusa")
    ours, theirs = clnet.hparams("cpu", split), s4g.Sample4Geo().hparams("cpu", split)
    assert {k: v for k, v in ours.items() if k not in MODULES} == theirs


@pytest.mark.parametrize("item, check", [
    ("ncm=off", lambda m: len(m.ncm["ground"]) == 0 and len(m.ncm["satellite"]) == 0),
    ("ncm=false", lambda m: len(m.ncm["ground"]) == 0),
    ("ncm=spatial", lambda m: m.ncm["ground"]["2"].map.shape[1] == 1),  # the cpu backbone keeps 3 stages
    ("nec=false", lambda m: m.nec is None and m.gfr is not None),
    ("gfr=false", lambda m: m.gfr is None and m.nec is not None),
])
def test_each_clnet_module_switches_off_with_one_option(clnet, item, check):
    hp = clnet.hparams("cpu", train_split_spec())
    hp = apply_overrides(hp, parse_set([item]), method="clnet")
    clnet.validate_hparams(hp)
    torch.manual_seed(0)
    model = clnet.build_model(hp)
    assert check(model)
    q, r = model(torch.randn(2, 3, 64, 256), torch.randn(2, 3, 128, 128))
    assert q.shape == r.shape == (2, model.embedding_dim)


def test_clnet_all_modules_off_embeds_like_sample4geo(clnet):
    s4g = pytest.importorskip("cvgl_bench_sample4geo.method").Sample4Geo()
    split = train_split_spec()
    hp = apply_overrides(clnet.hparams("cpu", split), parse_set(["ncm=off", "nec=false", "gfr=false"]))
    torch.manual_seed(0)
    ours = clnet.build_model(hp).eval()
    torch.manual_seed(0)
    theirs = s4g.build_model(s4g.hparams("cpu", split)).eval()
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.allclose(ours.encode(x, "satellite"), theirs.encode(x, "satellite"), atol=1e-6)


@pytest.mark.parametrize("method", ["clnet", "sample4geo"])
@pytest.mark.parametrize("item, message", [
    ("backbone_kwargs.drop_rate=5", r"timm cannot build backbone 'convnext_atto' with backbone_kwargs "
                                    r"\{\"drop_rate\": 5\}: ValueError: dropout probability"),
    ("backbone_kwargs.no_such_argument=1", "unexpected keyword argument 'no_such_argument'"),
    ("backbone=convnext_atom", "unknown timm model 'convnext_atom'; did you mean 'convnext_atto'.*null in its recipe"),
    ("backbone_stages=9", "backbone_stages must be between 1 and 4"),
    ("backbone_stages=0", "backbone_stages must be an integer at least 1"),
    ("frozen_stages=-1", "frozen_stages must be an integer at least 0"),
])
def test_a_backbone_timm_cannot_build_is_refused_before_any_data_is_read(method, item, message):
    """Checked when the cell's hparams are (run, grid and --dry-run), on the meta device: no weights."""
    from cvgl_bench.method import check_hparams

    instance = pytest.importorskip(f"cvgl_bench_{method}.method").CLNet() if method == "clnet" else \
        pytest.importorskip("cvgl_bench_sample4geo.method").Sample4Geo()
    hp = apply_overrides(instance.hparams("cpu", train_split_spec()), parse_set([item]), method=method)
    with pytest.raises(UserError, match=message):
        check_hparams(instance, hp)


def _builtin(method):
    module = pytest.importorskip(f"cvgl_bench_{method}.method")
    return {"clnet": "CLNet", "sample4geo": "Sample4Geo", "safa": "SAFA"}[method], getattr(
        module, {"clnet": "CLNet", "sample4geo": "Sample4Geo", "safa": "SAFA"}[method])()


@pytest.mark.parametrize("method", ["clnet", "sample4geo", "safa"])
def test_an_image_size_the_model_cannot_take_is_refused_before_any_data_is_read(method):
    """Found by embedding one batch per view with the model built on the meta device (it used to be a
    traceback from the first training step)."""
    from cvgl_bench.method import check_hparams

    name, instance = _builtin(method)
    for profile in ("cpu", "paper"):
        good = instance.hparams(profile, train_split_spec())  # every recipe passes (hparams() checks it)
        bad = apply_overrides(good, parse_set(["image_size.ground=[2,2]"]), method=method)
        with pytest.raises(ConfigError, match=rf"^{name} cannot embed images of image_size ground \[2, 2\], "
                                              r"satellite \[\d+, \d+\] \(.*\), but can embed ground \[\d+, \d+\]"):
            check_hparams(instance, bad)


class _Strided(torch.nn.Module):
    """A model whose input sides must be multiples of 8, or whose output has the wrong shape."""

    def __init__(self, flat=True):
        super().__init__()
        self.embedding_dim, self.flat = 8, flat
        self.conv = torch.nn.Conv2d(3, 8, 8, stride=8)

    def encode(self, images, view):
        if images.shape[-1] % 8 or images.shape[-2] % 8:
            raise RuntimeError(f"sides must be multiples of 8, got {tuple(images.shape[-2:])}")
        out = torch.nn.functional.normalize(self.conv(images).mean((2, 3)), dim=-1)
        return out if self.flat else out[..., None]


def _own_model_method(**model_kwargs):
    from cvgl_bench_sample4geo.method import Sample4Geo

    class Own(Sample4Geo):
        def build_model(self, hparams):
            return _Strided(**model_kwargs)

    return Own()


@pytest.mark.parametrize("size", ["[36,128]", "[33,128]", "[30,128]"])
def test_a_size_the_strides_cannot_take_is_refused_with_a_size_that_works(size):
    from cvgl_bench.method import check_hparams

    method = _own_model_method()
    hp = apply_overrides(method.hparams("cpu", train_split_spec()), parse_set([f"image_size.ground={size}"]),
                         method="own")
    with pytest.raises(ConfigError, match=r"sides must be multiples of 8.*but can embed ground \[\d+, \d+\].*"
                                          r"divisible by its strides"):
        check_hparams(method, hp)
    check_hparams(method, apply_overrides(hp, parse_set(["image_size.ground=[32,128]"]), method="own"))


class _Cropping(torch.nn.Module):
    """Crops 4 pixels off each side, as a stem larger than its input does: an empty tensor on a
    small image, which the meta device of torch before 2.13 let through without an error."""

    def forward(self, images):
        return images[..., 4:, 4:]


class _CropsThenPools(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding_dim, self.crop = 8, _Cropping()

    def encode(self, images, view):
        return self.crop(images).sum((1, 2, 3))[:, None].expand(-1, 8)


def test_an_empty_intermediate_output_is_a_size_the_model_cannot_take():
    """The meta device's kernels do not all check sizes (torch 2.3's convolution returned an empty
    tensor for a kernel larger than its input): an empty module output counts as a failure."""
    from cvgl_bench.method import check_hparams
    from cvgl_bench_sample4geo.method import Sample4Geo

    class Cropper(Sample4Geo):
        def build_model(self, hparams):
            return _CropsThenPools()

    method = Cropper()
    hp = apply_overrides(method.hparams("cpu", train_split_spec()), parse_set(["image_size.ground=[4,4]"]),
                         method="cropper")
    with pytest.raises(ConfigError, match=r"cannot embed images of image_size ground \[4, 4\].*_Cropping gave an "
                                          r"empty output \(2, 3, 0, 0\)"):
        check_hparams(method, hp)


def test_encode_output_of_the_wrong_shape_is_refused_before_any_data_is_read():
    from cvgl_bench.method import check_hparams

    method = _own_model_method(flat=False)
    with pytest.raises(ConfigError, match=r"encode returned \(2, 8, 1\) for a batch of 2 \w+ images; it must "
                                          r"return \(batch, embedding_dim\) = \(2, 8\)"):
        method.hparams("cpu", train_split_spec())  # the recipe itself is checked


@pytest.mark.parametrize("item", ["backbone=convnext_atto", "pretrained=false", "backbone_kwargs.drop_rate=0.1"])
def test_a_set_of_a_key_the_model_does_not_read_is_refused(item):
    """A model that is not timm's names the timm keys it ignores; a variant of one would only rename the run."""
    from cvgl_bench.run.cell import Cell
    from cvgl_bench.run.plan import resolve_hparams

    method = _own_model_method()
    method.unread_hparams = {"backbone": "the model is not timm's", "pretrained": "the model is not timm's",
                             "backbone_kwargs": "the model is not timm's"}
    spec = train_split_spec()
    resolve_hparams(method, Cell("own", ("t",), train_split=spec.name), spec)  # the recipe's own values pass
    key = item.split("=")[0]
    with pytest.raises(ConfigError, match=rf"--set {key}: own does not read {key.split('.')[0]} \(the model is not "
                                          r"timm's\), so a variant of it would change nothing"):
        resolve_hparams(method, Cell("own", ("t",), train_split=spec.name, overrides=parse_set([item])), spec)


def test_a_model_that_cannot_run_on_the_meta_device_is_not_refused_for_it():
    """Only a failure that larger images of the same shape do not have is the size's fault."""
    from cvgl_bench.method import check_hparams
    from cvgl_bench.train import base

    class CPUOnly(type(_builtin("sample4geo")[1])):
        def build_model(self, hparams):
            if torch.empty(0).device.type == "meta":
                raise RuntimeError("no meta kernel")
            return super().build_model(hparams)

    method = CPUOnly()
    hp = apply_overrides(method.hparams("cpu", train_split_spec()), parse_set(["image_size.ground=[2,2]"]),
                         method="sample4geo")
    check_hparams(method, hp)  # left to training, where the real error is raised
    assert base._meta_embed(method, hp) == "RuntimeError: no meta kernel"


def test_the_meta_device_check_leaves_the_random_generators_as_they_were():
    import random

    from cvgl_bench.train import base

    _, instance = _builtin("clnet")
    hp = instance.hparams("cpu", train_split_spec())
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    expected = (torch.rand(1).item(), np.random.rand(), random.random())
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    assert base._meta_embed(instance, hp) is None
    assert (torch.rand(1).item(), np.random.rand(), random.random()) == expected


def test_clnet_passes_backbone_kwargs_to_timm(clnet):
    hp = apply_overrides(clnet.hparams("cpu", train_split_spec()), parse_set(["backbone_kwargs.drop_path_rate=0.2"]))
    clnet.validate_hparams(hp)
    rates = [m.drop_prob for m in clnet.build_model(hp).backbone.modules() if type(m).__name__ == "DropPath"]
    assert rates and 0 < max(rates) < 0.2  # timm's linear ramp to 0.2 over the stages; the cpu profile keeps 3 of 4
    assert not [m for m in clnet.build_model(clnet.hparams("cpu", train_split_spec())).backbone.modules()
                if type(m).__name__ == "DropPath"]


@pytest.mark.parametrize("item", ["head_dim=64", "head=spatial", "head_reduce=8", "grad_checkpointing=true",
                                  "backbone_stages=2", "backbone_kwargs.drop_path_rate=0.1"])
def test_safa_refuses_the_toolkit_options_its_model_does_not_read(item):
    """A SAFA run with ``--set head_dim=64`` would train the same model under a new name."""
    from cvgl_bench_safa.method import SAFA

    from cvgl_bench.method import check_hparams

    safa = SAFA()
    hp = apply_overrides(safa.hparams("cpu", train_split_spec()), parse_set([item]), method="safa")
    with pytest.raises(ConfigError, match=f"SAFA does not read {item.split('=')[0].split('.')[0]} .*; leave it unset"):
        check_hparams(safa, hp)


def test_clnet_switches_must_be_booleans(clnet):
    hp = apply_overrides(clnet.hparams("cpu", train_split_spec()), parse_set(["nec=maybe"]))
    with pytest.raises(ConfigError, match="nec must be true or false"):
        clnet.validate_hparams(hp)


def test_clnet_module_learning_rate_gets_its_own_group(clnet):
    hp = apply_overrides(clnet.hparams("cpu", train_split_spec()), parse_set(["module_lr_mult=10"]))
    torch.manual_seed(0)
    model = clnet.build_model(hp)
    groups = clnet.param_groups(model, hp)
    assert groups[1]["lr"] == pytest.approx(10 * hp["lr"])
    module_params = {id(p) for n, p in model.named_parameters() if n.split(".")[0] in ("ncm", "nec", "gfr")}
    assert {id(p) for p in groups[1]["params"]} == module_params
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))
    assert clnet.param_groups(model, clnet.hparams("cpu", train_split_spec())) is None


def test_clnet_exposes_its_ncm_maps_for_plots(clnet):
    torch.manual_seed(0)
    hp = clnet.hparams("cpu", train_split_spec())
    warp = clnet.build_model(hp)  # the default NCM: a sampling grid on the reference view only
    grids = warp.ncm_maps("satellite")
    assert sorted(grids) == sorted(hp["ncm_stages"]) and all(g.ndim == 3 and g.shape[-1] == 2 for g in grids.values())
    assert warp.ncm_maps("ground") == {}
    model = clnet.build_model({**hp, "ncm": "full"})  # the gating variant: a gain per position
    maps = model.ncm_maps("satellite", channel_mean=True)
    assert sorted(maps) == sorted(hp["ncm_stages"]) and all(m.ndim == 2 for m in maps.values())
    assert all(torch.allclose(m, torch.ones_like(m)) for m in maps.values())  # identity at initialisation


# -- SAFA --------------------------------------------------------------------------------------
@pytest.fixture
def safa():
    from cvgl_bench_safa.method import SAFA

    return SAFA()


@pytest.mark.parametrize("layout, epochs", [("cvusa", 10), ("cvact", 100)])
def test_safa_paper_recipe_follows_the_authors_code(safa, layout, epochs):
    from cvgl_bench.train.losses import SoftMarginTriplet

    hp = safa.hparams("paper", train_split_spec(layout))
    assert (hp["backbone"], hp["pretrained"], hp["shared_backbone"]) == ("vgg16", True, False)
    assert hp["image_size"]["ground"] == [112, 616] and hp["polar_size"] == [112, 616]
    assert (hp["spatial_embeddings"], hp["triplet_weight"], hp["batch_size"]) == (8, 10.0, 32)
    assert (hp["lr"], hp["lr_schedule"], hp["weight_decay"], hp["warmup_epochs"]) == (1e-5, "constant", 0.0, 0.0)
    assert hp["sampler"] == "random" and hp["augment"]["flip_p"] == 0 and hp["augment"]["rotate_p"] == 0
    assert hp["epochs"] == epochs and hp["dropout"] == 0.2
    loss = safa.build_loss(hp)
    assert isinstance(loss, SoftMarginTriplet) and loss.weight == 10.0


def test_safa_cpu_recipe_builds_a_small_model(safa):
    hp = safa.hparams("cpu", train_split_spec())
    assert hp["pretrained"] == SYNTH_CONVNEXT_ATTO and hp["threads"] == 2  # committed synthetic weights
    torch.manual_seed(0)
    model = safa.build_model(hp)
    assert model.logit_scale is None and model.polar is not None
    sizes = hp["image_size"]
    q, r = model(torch.randn(2, 3, *sizes["ground"]), torch.randn(2, 3, *sizes["satellite"]))
    assert q.shape == r.shape == (2, model.embedding_dim)


def test_safa_refuses_a_shared_backbone(safa):
    hp = apply_overrides(safa.hparams("cpu", train_split_spec()), parse_set(["shared_backbone=true"]))
    with pytest.raises(ConfigError, match="never share weights"):
        safa.validate_hparams(hp)


def _red_box_pair(azimuth: float, pano_width: int = 256, tile: int = 128):
    """Panorama wall columns and a satellite tile of one world with a tall red-roofed box at ``azimuth``."""
    from cvgl_bench.data.synth.cameras import panorama_angles, render_satellite
    from cvgl_bench.data.synth.capture import Light, build_capture
    from cvgl_bench.data.synth.render import WALL, cast, step_distances

    from .synth_helpers import flat_world

    light = Light(sun_az=math.pi, sun_el=math.radians(80), sun_rgb=np.ones(3, np.float32),
                  sky_rgb=np.full(3, 0.3, np.float32), zenith_rgb=np.array([0.2, 0.4, 0.8], np.float32),
                  horizon_rgb=np.full(3, 0.8, np.float32), haze_rgb=np.full(3, 0.8, np.float32),
                  visibility=5000.0, cloud_cover=0.0)
    cx, cy = 100 + 25 * math.sin(azimuth), 100 + 25 * math.cos(azimuth)
    world = flat_world(boxes=[(cx, cy, 3, 3, 25)])
    ground = build_capture(world, 1, "g", "ground", light=light, turnover=0.0)
    az, el = panorama_angles((32, pano_width), math.radians(40), math.radians(-30))
    walls = (cast(ground, np.array([100.0, 100.0, 2.0]), az, el, step_distances(0.3, 150.0)).cls == WALL).sum(axis=0)
    sat = render_satellite(build_capture(world, 1, "s", "satellite", light=light), (100.0, 100.0), 80.0, tile)
    red = ((sat[..., 0] > 2 * sat[..., 1]) & (sat[..., 0] > 0.3)).astype(np.float32)
    return walls, red


def _circular_centre(mass: np.ndarray) -> float:
    angles = 2 * np.pi * (np.arange(len(mass)) + 0.5) / len(mass)
    mean = np.angle(np.sum(mass * np.exp(1j * angles)))
    return (mean % (2 * np.pi)) / (2 * np.pi) * len(mass) - 0.5


@pytest.mark.parametrize("azimuth_deg", [0.0, 60.0, 135.0, 250.0])
def test_safa_polar_satellite_lines_up_with_the_synthetic_panorama(safa, azimuth_deg):
    """The synthetic world puts north on the panorama's centre column; the SAFA recipes' polar_north
    must put the same azimuth in the same column of the polar satellite image, through the model."""
    walls, red = _red_box_pair(math.radians(azimuth_deg))
    for profile in ("cpu", "paper"):
        hp = safa.hparams(profile, train_split_spec())
        assert hp["polar_north"] == 0.5
    hp = apply_overrides(safa.hparams("cpu", train_split_spec()), parse_set(["polar_size=[32, 256]"]))
    torch.manual_seed(0)
    model = safa.build_model(hp)
    tile = torch.from_numpy(red)[None, None].repeat(1, 3, 1, 1)
    polar = model.branch_input(tile, "satellite")[0, 0].numpy()  # (32, 256)
    width = polar.shape[1]
    got, expected = _circular_centre(polar.sum(axis=0)), _circular_centre(walls.astype(np.float64))
    assert min(abs(got - expected), width - abs(got - expected)) <= 3.0, (got, expected)
    north_left = polar_transform(red[..., None], (32, width), north=0.0)[..., 0]
    wrong = _circular_centre(north_left.sum(axis=0))
    assert min(abs(wrong - expected), width - abs(wrong - expected)) > width / 4  # the other convention is off


@pytest.mark.parametrize("name", ["clnet", "safa"])
def test_costs_are_measured_from_the_cpu_model(name, clnet, safa):
    from cvgl_bench.evaluate.efficiency import measure

    method = {"clnet": clnet, "safa": safa}[name]
    hp = method.hparams("cpu", train_split_spec())
    torch.manual_seed(0)
    model = method.build_model(hp)
    cost = measure(model, {v: tuple(s) for v, s in hp["image_size"].items()}, "ground", "satellite")
    assert cost["params"] == sum(p.numel() for p in model.parameters())
    assert cost["embedding_dim"] == model.embedding_dim
    assert cost["gflops_query"] > 0 and cost["gflops_reference"] > 0
    if name == "safa":  # two branches: an image pays for one of them
        assert cost["params_query"] < cost["params"] and cost["params_reference"] < cost["params"]


def test_safa_channel_pool_is_a_recipe_switch(safa):
    from cvgl_bench_safa.model import SpatialAwareAggregation

    torch.manual_seed(0)
    features = torch.rand(2, 5, 3, 4)
    by_max, by_mean = SpatialAwareAggregation(12, k=2), SpatialAwareAggregation(12, k=2, channel_pool="mean")
    by_mean.load_state_dict(by_max.state_dict())
    assert not torch.allclose(by_max(features), by_mean(features))
    paper = safa.hparams("paper", train_split_spec())
    assert paper["channel_pool"] == "max"  # the first commit of the authors' code, as the paper's numbers
    hp = apply_overrides(paper, parse_set(["channel_pool=mean"]), method="safa")
    assert safa.build_model({**hp, "backbone": "vgg11", "pretrained": False}).heads["ground"].channel_pool == "mean"
    with pytest.raises(ConfigError, match="channel_pool must be one of max, mean"):
        SpatialAwareAggregation(12, k=2, channel_pool="sum")


def test_a_non_finite_number_in_a_recipe_is_named_by_its_key():
    from cvgl_bench.errors import PluginError
    from cvgl_bench.method import plain_json_problem

    method = _own_model_method()
    base = method.recipes()

    def with_nan():
        return {profile: {**table, "default": {**table.get("default", {}), "gem_p": float("nan")}}
                for profile, table in base.items()}

    method.recipes = with_nan
    with pytest.raises(PluginError, match=r"profile 'cpu': gem_p is nan, which JSON cannot hold"):
        method.hparams("cpu", train_split_spec())
    assert plain_json_problem({"head": {"p": [1.0, float("inf")]}}) == "head.p[1] is inf, which JSON cannot hold"
