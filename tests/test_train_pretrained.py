"""Synthetic-pretrained backbone weights: naming, integrity checks, loading into every method."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import torch

from cvgl_bench.errors import ConfigError
from cvgl_bench.train import pretrained
from cvgl_bench.train.encoders import create_backbone


def _install(folder, backbone="convnext_atto", seed=0, corrupt=False):
    torch.manual_seed(seed)
    model = create_backbone(backbone, pretrained=False)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    name = pretrained.weights_name(backbone, digest)
    (folder / f"{name}.pt").write_bytes(payload + (b"x" if corrupt else b""))
    (folder / f"{name}.json").write_text(json.dumps({"name": name, "backbone": backbone, "sha256": digest}))
    return name, state


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    return tmp_path


def test_named_weights_load_exactly(weights_dir):
    name, state = _install(weights_dir)
    model = create_backbone("convnext_atto", pretrained=name)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key].float()), key


def test_integrity_and_architecture_are_checked(weights_dir):
    name, _ = _install(weights_dir, corrupt=True)
    with pytest.raises(ConfigError, match="does not match its name"):
        create_backbone("convnext_atto", pretrained=name)
    with pytest.raises(ConfigError, match="are for backbone 'convnext_atto', not 'resnet18'"):
        create_backbone("resnet18", pretrained=name)
    with pytest.raises(ConfigError, match="not installed .*known: "):
        create_backbone("convnext_atto", pretrained="synth-convnext_atto-deadbeef")
    with pytest.raises(ConfigError, match="pretrained must be true, false or the name"):
        create_backbone("convnext_atto", pretrained="imagenet")


def test_every_method_builds_from_the_same_weights(weights_dir):
    """Sample4Geo, CLNet (shared backbone) and SAFA (a trunk per view) all start from the file."""
    from cvgl_bench_clnet.model import CLNetModel
    from cvgl_bench_safa.model import SAFAModel

    from cvgl_bench.train.encoders import TwoViewEncoder

    name, state = _install(weights_dir)
    sizes = {"ground": (32, 128), "satellite": (64, 64)}
    s4g = TwoViewEncoder("convnext_atto", ("ground", "satellite"), pretrained=name, head="spatial", image_size=sizes)
    clnet = CLNetModel(sizes, "ground", "satellite", backbone="convnext_atto", pretrained=name, head="spatial")
    safa = SAFAModel(sizes, "ground", "satellite", backbone="convnext_atto", pretrained=name, polar_size=(32, 128))
    key = "stages.3.blocks.1.conv_dw.weight"
    assert torch.equal(s4g.backbone("ground").state_dict()[key], state[key].float())
    assert torch.equal(clnet.backbone.state_dict()[key], state[key].float())
    for trunk in safa.trunks.values():
        weights = {k.replace("model.", "", 1).replace("stages_", "stages."): v for k, v in trunk.state_dict().items()}
        assert torch.equal(weights[key], state[key].float())


def test_committed_weights_are_intact_and_used_by_the_cpu_recipes():
    """Every ``pretrained`` name in a registered method's recipes that names synthetic weights
    exists in the package and matches its hash."""
    from cvgl_bench.plugins import get_host

    host = get_host()
    named = set()
    for spec in host.methods:
        method = spec.load()
        recipes = method.recipes() if hasattr(method, "recipes") else {}
        for table in recipes.values():
            for entry in table.values():
                if pretrained.is_synth_weights(entry.get("pretrained")):
                    named.add((entry["pretrained"], entry.get("backbone", "")))
    for name, backbone in named:
        state = pretrained.load_state(name, backbone or pretrained.describe(name)["backbone"])
        assert state


def test_backbone_stages_cut_the_backbone_and_keep_its_pooling():
    from cvgl_bench.train.encoders import TwoViewEncoder

    sizes = {"ground": (32, 128), "satellite": (64, 64)}
    model = TwoViewEncoder("convnext_atto", ("ground", "satellite"), backbone_stages=3, head="spatial",
                           image_size=sizes)
    assert model.spatial_head.grids == {"ground": (2, 8), "satellite": (4, 4)}  # stride 16, not 32
    assert len(model.backbone("ground").stages) == 3
    pooled = TwoViewEncoder("convnext_atto", ("ground", "satellite"), backbone_stages=3)
    assert pooled.encode(torch.randn(2, 3, 64, 64), "satellite").shape == (2, 160)
    with pytest.raises(ConfigError, match="backbone_stages must be between 1 and 4"):
        create_backbone("convnext_atto", stages=5)


def test_frozen_stages_stop_training_the_stem_and_first_stages():
    from cvgl_bench.train.encoders import TwoViewEncoder

    model = TwoViewEncoder("convnext_atto", ("ground", "satellite"), frozen_stages=1)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(("backbones.shared.stem.", "backbones.shared.stages.0.")) for n in frozen)
    assert any(n.startswith("backbones.shared.stem.") for n in frozen)
    model.encode(torch.randn(2, 3, 64, 64), "satellite").sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n in frozen)
    assert model.backbone("ground").stages[1].downsample[1].weight.grad is not None
    with pytest.raises(ConfigError, match="frozen_stages must be at most 4"):
        TwoViewEncoder("convnext_atto", ("ground", "satellite"), frozen_stages=5)


def test_backbone_stages_cut_the_head_norm_that_older_timm_keeps(monkeypatch):
    """timm before 1.0.31 cuts the stages but keeps the uncut model's head norm (320 wide for
    convnext_atto); the cut backbone must still pool its 160 channels, as with newer timm."""
    import timm

    real = timm.models.convnext.ConvNeXt.prune_intermediate_layers

    def older_timm(self, indices=1, prune_norm=False, prune_head=True):
        norm = getattr(self.head, "norm", None)
        kept = real(self, indices, prune_norm=prune_norm, prune_head=prune_head)
        if norm is not None:
            self.head.norm = norm
        return kept

    monkeypatch.setattr(timm.models.convnext.ConvNeXt, "prune_intermediate_layers", older_timm)
    model = create_backbone("convnext_atto", stages=3)
    assert model.num_features == 160
    assert model.forward_head(model.forward_features(torch.randn(2, 3, 64, 64)), pre_logits=True).shape == (2, 160)
