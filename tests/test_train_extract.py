"""Embedding extraction: batched, normalised, cached by checkpoint, images and transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvgl_bench.data.structures import ImageSet
from cvgl_bench.errors import PluginError
from cvgl_bench.evaluate.extract import embed, embed_array, model_fingerprint

from .train_helpers import TinyMethod, TinyPairModel, toy_images, train_split_spec


@pytest.fixture
def setup(monkeypatch, tmp_path):
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))
    method = TinyMethod()
    hp = method.hparams("cpu", train_split_spec())
    torch.manual_seed(0)
    model = TinyPairModel()
    images = ImageSet("satellite", [f"s{i}" for i in range(10)], [str(tmp_path / f"s{i}.png") for i in range(10)])
    arrays = toy_images(10, hp["image_size"]["satellite"], seed=3)
    return method, hp, model, images, arrays


def test_second_call_is_a_cache_hit_without_forward_pass(setup, tmp_path):
    method, hp, model, images, arrays = setup
    first = embed(model, images, "satellite", hp, method, batch_size=4, arrays=arrays, progress=False)
    calls = model.forward_calls
    assert calls == 4  # ceil(10 / 4) batches, and the first two images again (batch independence)
    second = embed(model, images, "satellite", hp, method, batch_size=4, arrays=arrays, progress=False)
    assert model.forward_calls == calls
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32 and first.shape == (10, 16)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert len(list((tmp_path / "cache" / "embeddings").glob("*.npy"))) == 1


def test_cache_is_keyed_by_weights_and_transform(setup):
    method, hp, model, images, arrays = setup
    a = embed(model, images, "satellite", hp, method, arrays=arrays, progress=False)
    with torch.no_grad():
        model.conv1.weight.add_(0.1)
    calls = model.forward_calls
    b = embed(model, images, "satellite", hp, method, arrays=arrays, progress=False)
    assert model.forward_calls > calls and not np.array_equal(a, b)
    calls = model.forward_calls
    embed(model, images, "satellite", {**hp, "mean": [0.5, 0.5, 0.5]}, method, arrays=arrays, progress=False)
    assert model.forward_calls > calls
    calls = model.forward_calls
    embed(model, images, "satellite", hp, method, arrays=arrays, progress=False, checkpoint_hash="abc")
    assert model.forward_calls > calls, "an explicit checkpoint hash is another key"


def test_no_cache_always_runs_the_model(setup):
    method, hp, model, images, arrays = setup
    embed(model, images, "satellite", hp, method, arrays=arrays, cache=False, progress=False)
    calls = model.forward_calls
    embed(model, images, "satellite", hp, method, arrays=arrays, cache=False, progress=False)
    assert model.forward_calls == 2 * calls


def test_unnormalised_embeddings_are_refused(setup):
    method, hp, model, images, arrays = setup
    model.encode = lambda x, view: torch.ones(len(x), 4)  # type: ignore[method-assign]
    with pytest.raises(PluginError, match="L2-normalised"):
        embed(model, images, "satellite", hp, method, arrays=arrays, cache=False, progress=False)


def test_embed_array_follows_rows_and_restores_train_mode(setup):
    method, hp, model, images, arrays = setup
    model.train()
    transform = method.eval_transform(hp, "satellite")
    full = embed_array(model, arrays, "satellite", transform, batch_size=3)
    part = embed_array(model, arrays, "satellite", transform, rows=np.array([7, 2, 2]), batch_size=2)
    torch.testing.assert_close(part, full[[7, 2, 2]])
    assert model.training


def test_model_fingerprint_tracks_weights():
    torch.manual_seed(0)
    a = TinyPairModel()
    torch.manual_seed(0)
    b = TinyPairModel()
    assert model_fingerprint(a) == model_fingerprint(b)
    with torch.no_grad():
        b.norm.bias.add_(1e-6)
    assert model_fingerprint(a) != model_fingerprint(b)


def test_eval_transform_normalises_and_lays_out_channels_first():
    method = TinyMethod()
    hp = method.hparams("cpu", train_split_spec())
    images = torch.full((2, 4, 6, 3), 255, dtype=torch.uint8)
    out = method.eval_transform(hp, "ground")(images)
    assert out.shape == (2, 3, 4, 6) and out.dtype == torch.float32
    expected = (1 - torch.tensor(hp["mean"])) / torch.tensor(hp["std"])
    torch.testing.assert_close(out[0, :, 0, 0], expected)
    channels_last = method.eval_transform({**hp, "channels_last": True}, "ground")(images)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)


def test_a_model_whose_embeddings_depend_on_the_batch_is_refused(setup):
    """Its score would depend on the batch size and on the order of the split."""
    from cvgl_bench.errors import PluginError

    method, hp, model, images, arrays = setup
    encode = model.encode

    def centred(batch, view):  # a batch statistic
        out = encode(batch, view)
        return torch.nn.functional.normalize(out - out.mean(0, keepdim=True), dim=-1)

    model.encode = centred
    with pytest.raises(PluginError, match=r"embeds satellite images differently in a batch of 2 than in a batch of 4 "
                                          r"\(cosine -?\d\.\d+ for one of the first two\)"):
        embed(model, images, "satellite", hp, method, batch_size=4, arrays=arrays, progress=False, cache=False)
