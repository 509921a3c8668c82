"""The exact engine ranks with true fp32 products however TF32 or bf16 matmuls were switched on.

torch >= 2.9 has two interfaces for this (``set_float32_matmul_precision`` / ``allow_tf32``, and
per-backend ``fp32_precision``); once the new one is used, the old getters raise. The engine
must rank under either, switch the low-precision modes off while it ranks, and restore them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvgl_bench.data.structures import GroundTruth
from cvgl_bench.evaluate import engine

NEW_API = all(hasattr(b, "fp32_precision") for b in (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul))
SETTINGS = {
    "legacy high": lambda: torch.set_float32_matmul_precision("high"),
    "legacy medium": lambda: torch.set_float32_matmul_precision("medium"),
    "legacy allow_tf32": lambda: setattr(torch.backends.cuda.matmul, "allow_tf32", True),
    "new cuda tf32": lambda: setattr(torch.backends.cuda.matmul, "fp32_precision", "tf32"),
    "new generic tf32": lambda: setattr(torch.backends, "fp32_precision", "tf32"),
    "new mkldnn bf16": lambda: setattr(torch.backends.mkldnn.matmul, "fp32_precision", "bf16"),
}


def _matmul_state() -> tuple:
    if NEW_API:
        return torch.backends.cuda.matmul.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision
    return torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32


@pytest.fixture
def restore_precision():
    """Put torch's matmul precision back as it was, through both interfaces."""
    legacy = torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32
    new = (torch.backends.fp32_precision, *_matmul_state()) if NEW_API else None
    yield
    if NEW_API:
        (torch.backends.fp32_precision, torch.backends.cuda.matmul.fp32_precision,
         torch.backends.mkldnn.matmul.fp32_precision) = new
    torch.set_float32_matmul_precision(legacy[0])
    torch.backends.cuda.matmul.allow_tf32 = legacy[1]
    assert (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32) == legacy


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_engine_ranks_exactly_and_restores_the_precision_setting(setting, restore_precision):
    if setting.startswith("new") and not NEW_API:
        pytest.skip("this torch has no per-backend fp32_precision")
    rng = np.random.default_rng(3)
    reference = rng.standard_normal((60, 24)).astype(np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    reference[7] = reference[3]  # an exact tie
    query = reference[:40] + 0.05 * rng.standard_normal((40, 24)).astype(np.float32)
    truth = GroundTruth.one_to_one(np.arange(40), 60)
    expected = engine.rank(query, reference, truth, device="cpu", screen="fp32")

    SETTINGS[setting]()
    state = _matmul_state()
    seen = []

    real_guard = engine._exact_fp32_matmul

    def spying_guard():
        guard = real_guard()

        class Spy:
            def __enter__(self):
                guard.__enter__()
                seen.append(_matmul_state())

            def __exit__(self, *exc):
                return guard.__exit__(*exc)

        return Spy()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "_exact_fp32_matmul", spying_guard)
        table = engine.rank(query, reference, truth, device="cpu", screen="fp32")

    np.testing.assert_array_equal(table.rank_strict, expected.rank_strict)
    np.testing.assert_array_equal(table.rank_loose, expected.rank_loose)
    np.testing.assert_array_equal(table.topk, expected.topk)
    assert seen == [("ieee", "ieee") if NEW_API else ("highest", False)]
    assert _matmul_state() == state
