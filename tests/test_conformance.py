"""``cvgl-bench check-plugin``: every registered method passes; each way of being broken gets its sentence.

As timm tests every registered model, the quick checks run over every method the installed
plugins register (entry points: the first-party sample4geo, clnet and safa when installed); the
two-epoch learning check runs for one of them (slow).
"""

from __future__ import annotations

import importlib

import pytest
from click.testing import CliRunner

from cvgl_bench.conformance import CHECKS, run_checks
from cvgl_bench.errors import ConfigError
from cvgl_bench.plugins import PluginHost

from .fake_plugins import toy_methods
from .synth_tiny import tiny_synth_dir, tiny_world  # noqa: F401 - fixtures


def _installed_methods() -> list[str]:
    host = PluginHost(entry_points=True).load()
    return sorted(spec.name for spec in host.methods)


INSTALLED = _installed_methods()
QUICK = [name for name, _ in CHECKS if name != "learns in two epochs"]


@pytest.fixture
def installed_host(make_host):
    return make_host(entry_points=True)


@pytest.mark.parametrize("method", INSTALLED)
def test_every_registered_method_passes_the_quick_checks(installed_host, method):
    results = run_checks(method, installed_host, quick=True)
    assert [r.name for r in results] == QUICK
    failed = [f"{r.name}: {r.message}" for r in results if not r.ok]
    assert not failed, failed


def test_a_plugin_whose_registration_imports_torch_fails_the_light_registration_check(make_host, tmp_path,
                                                                                     monkeypatch):
    info = tmp_path / "heavy_registration-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: heavy-registration\nVersion: 1.0\n")
    # toy_methods imports torch at the top of the module its entry point names
    (info / "entry_points.txt").write_text("[cvgl_bench]\nheavy = tests.fake_plugins.toy_methods\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    results = {r.name: r for r in run_checks("tiny", make_host(entry_points=True), quick=True)}
    light = results["light registration"]
    assert not light.ok and "registering the plugin (tests.fake_plugins.toy_methods) imports torch" in light.message
    assert results["recipes"].ok


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_first_party_method_learns_in_two_epochs(installed_host, tiny_world):
    method = next((m for m in ("clnet", "sample4geo", "safa") if m in INSTALLED), None)
    if method is None:
        pytest.skip("no first-party method plugin installed (scripts/install.sh installs them)")
    results = run_checks(method, installed_host)
    learned = results[-1]
    assert learned.name == "learns in two epochs" and learned.ok, learned.message
    assert "mean rank of the positive" in learned.message


def test_the_toy_method_passes(make_host):
    results = run_checks("tiny", make_host(toy_methods), quick=True)
    assert all(r.ok for r in results), [r.message for r in results if not r.ok]


def test_a_model_without_trainable_parameters_is_told_so_not_sent_after_no_grad(make_host, tiny_world):
    results = {r.name: r for r in run_checks("toy_frozen", make_host(toy_methods))}
    for check in ("backward", "learns in two epochs"):
        assert not results[check].ok and results[check].message.startswith("the model has no trainable parameters")
    assert "no_grad" not in results["backward"].message


def test_nan_embeddings_fail_the_forward_check_not_the_determinism_check(make_host):
    results = {r.name: r for r in run_checks("toy_nan", make_host(toy_methods), quick=True)}
    assert not results["forward shapes"].ok and "NaN or inf" in results["forward shapes"].message
    assert results["determinism under a seed"].ok, results["determinism under a seed"].message


@pytest.mark.parametrize("method, check, sentence", [
    ("toy_bad_recipe", "recipes", "has no image_size for satellite; give image_size = {view: [H, W]}"),
    ("toy_numpy_recipe", "recipes", "is not plain JSON data (Object of type float32 is not JSON serializable)"),
    ("toy_inf_drone_recipe", "recipes", "hparams('cpu', synth_u1652_train) is not plain JSON data (lr is inf"),
    # found as the recipe is checked: the model, built on the meta device, embeds at the recipe's sizes
    ("toy_wrong_shape", "recipes", "encode returned (2, 8) for a batch of 2 ground images; it must return "
                                   "(batch, embedding_dim) = (2, 16)"),
    ("toy_unnormalised", "L2-normalised embeddings", "not 1: end encode() with torch.nn.functional.normalize(x, dim=-1)"),
    ("toy_batch_dependent", "independent of the batch", "embeds differently alone than in a batch of 4"),
    ("toy_no_gradient", "backward", "embeddings have no gradient: encode() or forward() runs under torch.no_grad()"),
    ("toy_unused_parameter", "backward", "receive no gradient from the method's InfoNCE: forgotten.weight, "
                                         "forgotten.bias; distributed training (torchrun) stops on them"),
    ("toy_nondeterministic", "determinism under a seed", "differ in conv1.weight; draw every random initialisation"),
    ("toy_no_round_trip", "checkpoint round trip", "register every learned tensor as an nn.Parameter or a "
                                                   "persistent buffer"),
])
def test_each_broken_toy_fails_its_check_with_an_actionable_sentence(make_host, method, check, sentence):
    results = {r.name: r for r in run_checks(method, make_host(toy_methods), quick=True)}
    assert not results[check].ok
    assert sentence in results[check].message, results[check].message
    if check == "recipes":
        assert all(not r.ok and r.message.startswith("not run") for name, r in results.items()
                   if name not in ("recipes", "light registration"))


def test_a_method_that_does_not_learn_fails_the_training_check(make_host, tiny_world):
    results = run_checks("toy_does_not_learn", make_host(toy_methods))
    learned = results[-1]
    assert learned.name == "learns in two epochs" and not learned.ok
    assert "no better than the untrained model's" in learned.message
    assert "check that fit() trains the model object it is given" in learned.message
    assert all(r.ok for r in results[:-1])


def test_a_learning_rate_too_small_to_train_fails_the_training_check(make_host, tiny_world):
    learned = run_checks("toy_tiny_lr", make_host(toy_methods))[-1]
    assert learned.name == "learns in two epochs" and not learned.ok
    assert "no better than" in learned.message or "the optimiser barely updates them" in learned.message


def test_weights_that_barely_move_are_measured_relative_to_their_norm():
    import torch

    from cvgl_bench.conformance import MIN_RELATIVE_CHANGE, _relative_change

    before = {"w": torch.ones(10, 10), "b": torch.ones(10)}
    assert _relative_change(before, {"w": torch.ones(10, 10) * (1 + 1e-12), "b": torch.ones(10)}) < MIN_RELATIVE_CHANGE
    moved = _relative_change(before, {"w": torch.ones(10, 10) * 1.01, "b": torch.ones(10)})
    assert moved == pytest.approx(0.01 * 10 / (110 ** 0.5), rel=1e-4) and moved > MIN_RELATIVE_CHANGE


def test_a_crash_in_plugin_code_is_a_failed_check_naming_where(make_host, monkeypatch):
    def boom(self, hparams):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(toy_methods.TinyMethod, "build_model", boom)
    results = {r.name: r for r in run_checks("tiny", make_host(toy_methods), quick=True)}
    assert not results["forward shapes"].ok
    assert "raised RuntimeError: kaboom (at test_conformance.py:" in results["forward shapes"].message
    assert "--debug" in results["forward shapes"].message
    with pytest.raises(RuntimeError, match="kaboom"):
        run_checks("tiny", make_host(toy_methods), quick=True, debug=True)


def test_a_method_without_ground_or_drone_views_is_refused(make_host):
    from cvgl_bench import MethodSpec, hookimpl

    class SatOnly:
        @hookimpl
        def cvgl_bench_register_methods(register):
            register(MethodSpec(name="satonly", loader="x:y", views=("satellite",)))

    with pytest.raises(ConfigError, match="supports none of the synthetic check splits"):
        run_checks("satonly", make_host(SatOnly))


def test_cli_prints_one_line_per_check_and_fails_with_the_first_sentence(make_host):
    from cvgl_bench.cli import cli

    make_host(toy_methods)
    good = CliRunner().invoke(cli, ["check-plugin", "tiny", "--quick"])
    assert good.exit_code == 0, good.output
    assert good.output.count("PASS") == len(QUICK) and "all 8 checks passed for 'tiny'" in good.output
    make_host(toy_methods)
    bad = CliRunner().invoke(cli, ["check-plugin", "toy_unnormalised", "--quick"])
    assert bad.exit_code == 2
    assert "FAIL  L2-normalised embeddings" in bad.output
    assert "1 of 8 checks failed for 'toy_unnormalised'; first: L2-normalised embeddings" in bad.output


def test_a_plain_method_is_not_failed_for_a_parameter_only_its_own_loss_trains(make_host):
    """The check trains a plain Method's model with a stand-in InfoNCE: it cannot see the method's loss."""
    results = {r.name: r for r in run_checks("toy_plain_own_loss", make_host(toy_methods), quick=True)}
    assert results["backward"].ok, results["backward"].message
    assert "not logit_scale, margin, which only the method's own loss can train" in results["backward"].message
