"""``run --checkpoint``: score a released checkpoint in the method's official layout, without training.

The official layout is Sample4Geo's ``TimmModel`` (Skyy93/Sample4Geo, ``sample4geo/model.py``): a
timm model created with ``num_classes=0`` under ``model.``, and ``logit_scale``. The test builds
that module with a small backbone, randomly initialised, saves its ``state_dict`` as the
official training script does, and checks that cvgl-bench embeds exactly as the official model
(``F.normalize(model(img))`` in the official eval loop) and scores it without training.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from cvgl_bench.errors import ConfigError
from cvgl_bench.fsutil import sha256_file
from cvgl_bench.run.overrides import parse_set
from cvgl_bench.run import Cell, RunOptions, resolve_hparams, run_cell

from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures

SMALL_PAPER = ["backbone=convnext_atto", "pretrained=false", "image_size.satellite=[64,64]",
               "image_size.ground=[32,128]"]


class OfficialTimmModel(nn.Module):
    """The shape of Sample4Geo's ``TimmModel``: what its released ``.pth`` files are the state of."""

    def __init__(self, model_name: str):
        super().__init__()
        import timm

        self.model = timm.create_model(model_name, pretrained=False, num_classes=0)
        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))

    def forward(self, img):
        return self.model(img)


def _official_checkpoint(path, model_name="convnext_atto", seed=3, data_parallel=False):
    torch.manual_seed(seed)
    official = OfficialTimmModel(model_name).eval()
    state = official.state_dict()
    if data_parallel:
        state = {f"module.{k}": v for k, v in state.items()}
    torch.save(state, path)
    return official


plugin = pytest.importorskip("cvgl_bench_sample4geo.plugin", reason="pip install -e plugins/sample4geo")


@pytest.fixture
def sample4geo(tiny_world, make_host):
    return make_host(plugin)


def _options(tmp_path, checkpoint, **kw):
    return RunOptions(results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", progress=False, n_boot=20,
                      log=lambda line: None, checkpoint=checkpoint, **kw)


@pytest.mark.parametrize("data_parallel", [False, True])
def test_official_layout_embeds_exactly_as_the_official_model(sample4geo, tmp_path, data_parallel):
    path = tmp_path / "official.pth"
    official = _official_checkpoint(path, data_parallel=data_parallel)
    method = sample4geo.methods.get("sample4geo").load()
    cell = Cell("sample4geo", ("synth_cvusa_test",), profile="paper", overrides=parse_set(SMALL_PAPER))
    hparams = resolve_hparams(method, cell, sample4geo.splits.get("synth_cvusa_train"))
    model = method.build_model(hparams).eval()
    state = method.import_checkpoint(torch.load(path, weights_only=True), hparams)
    model.load_state_dict(state, strict=True)
    images = torch.rand(3, 3, 32, 128)
    with torch.no_grad():
        ours = model.encode(images, "ground")
        theirs = F.normalize(official(images), dim=-1)
    assert torch.allclose(ours, theirs, atol=1e-6), (ours - theirs).abs().max()
    assert float(model.logit_scale.detach()) == pytest.approx(float(official.logit_scale.detach()))


def test_a_released_checkpoint_scores_without_fetching_the_recipes_initial_weights(sample4geo, tmp_path,
                                                                                   monkeypatch):
    """The recipe's pretrained weights (ImageNet, a download) would be overwritten: never fetched."""
    import timm

    path = tmp_path / "cvusa_official.pth"
    _official_checkpoint(path)
    built = []
    real = timm.create_model

    def create_model(name, pretrained=False, **kwargs):
        built.append((name, pretrained))
        return real(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", create_model)
    with_pretrained = [item for item in SMALL_PAPER if not item.startswith("pretrained")]
    cell = Cell("sample4geo", ("synth_cvusa_test",), profile="paper", overrides=parse_set(with_pretrained))
    out = run_cell(cell, _options(tmp_path, path), sample4geo)
    assert out.written and built and not any(pretrained for _, pretrained in built), built


def test_run_scores_the_checkpoint_without_training_and_marks_the_record(sample4geo, tmp_path):
    path = tmp_path / "cvusa_official.pth"
    _official_checkpoint(path)
    cell = Cell("sample4geo", ("synth_cvusa_test",), profile="paper", overrides=parse_set(SMALL_PAPER))
    out = run_cell(cell, _options(tmp_path, path), sample4geo)
    assert not out.trained and not (tmp_path / "runs").exists()  # nothing trained, no run folder
    (record_path,) = out.written
    record = json.loads(record_path.read_text())
    sha = sha256_file(path)
    assert record["checkpoint"] == {"file": str(path.resolve()), "sha256": sha, "imported": True}
    assert record["cell"]["variant"].endswith(f"checkpoint={sha[:8]}")
    assert f"checkpoint_{sha[:8]}" in record_path.name
    assert record["provenance"]["trained_with"] == {"imported_checkpoint": path.name, "sha256": sha}
    assert 0.0 <= record["metrics"]["recall@1"]["value"] <= 100.0
    again = run_cell(cell, _options(tmp_path, path), sample4geo)
    assert again.kept == [record_path] and not again.written

    from cvgl_bench.leaderboard.tables import build

    (table,) = [t for t in build(tmp_path / "results", host=sample4geo).tables if t.eval_split == "synth_cvusa_test"]
    assert any(f"checkpoint={sha[:8]}" in row.variant for row in table.rows)
    assert [row.implementation for row in table.rows] == ["imported weights"]


def test_another_runs_model_is_not_called_imported_weights(sample4geo, tmp_path):
    """``run --checkpoint runs/.../model.pt`` scores cvgl-bench's own training (its folder's
    source.json says so): the leaderboard shows the method's code, not weights from outside."""
    from cvgl_bench.leaderboard.tables import build
    from cvgl_bench.run.model import SOURCE_INFO

    method = sample4geo.methods.get("sample4geo").load()
    cell = Cell("sample4geo", ("synth_cvusa_test",), profile="paper", overrides=parse_set(SMALL_PAPER))
    hparams = resolve_hparams(method, cell, sample4geo.splits.get("synth_cvusa_train"))
    workdir = tmp_path / "elsewhere" / "run"
    workdir.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(method.build_model(hparams).state_dict(), workdir / "model.pt")
    (workdir / SOURCE_INFO).write_text(json.dumps({"method_source_sha256": "ab" * 32, "train_data_version": None,
                                                   "cpu_threads": 2}))
    (record_path,) = run_cell(cell, _options(tmp_path, workdir / "model.pt"), sample4geo).written
    record = json.loads(record_path.read_text())
    assert record["checkpoint"]["imported"] is True
    assert record["provenance"]["trained_with"]["trained_by_cvgl_bench"]["method_source_sha256"] == "ab" * 32
    (table,) = build(tmp_path / "results", host=sample4geo).tables
    assert [row.implementation for row in table.rows] == ["re-implementation"]


def test_a_checkpoint_of_another_architecture_is_one_line(sample4geo, tmp_path):
    path = tmp_path / "femto.pth"
    _official_checkpoint(path, model_name="convnext_femto")
    cell = Cell("sample4geo", ("synth_cvusa_test",), profile="paper", overrides=parse_set(SMALL_PAPER))
    with pytest.raises(ConfigError) as caught:
        run_cell(cell, _options(tmp_path, path), sample4geo)
    message = str(caught.value)
    assert "\n" not in message and "does not fit this model" in message and "another shape" in message
    assert "profile" in message and str(path) in message
    assert not (tmp_path / "results").exists()


def test_the_cli_refuses_a_missing_checkpoint_and_restart_with_a_checkpoint(sample4geo, tmp_path):
    from cvgl_bench.cli import cli

    common = ["run", "--method", "sample4geo", "--dataset", "synth_cvusa_test", "--profile", "paper",
              "--results", str(tmp_path / "r"), "--runs", str(tmp_path / "runs")]
    missing = CliRunner().invoke(cli, [*common, "--checkpoint", str(tmp_path / "nope.pth")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    torch.save({}, tmp_path / "x.pth")
    both = CliRunner().invoke(cli, [*common, "--checkpoint", str(tmp_path / "x.pth"), "--restart"])
    assert both.exit_code == 2 and "pass one" in both.output
    dry = CliRunner().invoke(cli, [*common, "--checkpoint", str(tmp_path / "nope.pth"), "--dry-run"])
    assert dry.exit_code == 2 and "does not exist" in dry.output
    planned = CliRunner().invoke(cli, [*common, "--checkpoint", str(tmp_path / "x.pth"), "--set", "epochs=1",
                                       "--dry-run", "--json"])
    assert planned.exit_code == 0, planned.output  # the variant its records will have
    assert json.loads(planned.stdout)["variant"] == f"epochs=1,checkpoint={sha256_file(tmp_path / 'x.pth')[:8]}"
