"""A tiny synthetic world shared by the tests of one session (generated once, about 10 s)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_synth_dir(tmp_path_factory) -> Path:
    """A cache folder in which the tiny synthetic datasets are generated on first use."""
    return tmp_path_factory.mktemp("tiny-synth-cache")


@pytest.fixture
def tiny_world(tiny_synth_dir, monkeypatch) -> Path:
    """Synthetic splits read the tiny world, and every cache (images, embeddings) lives in tmp."""
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tiny_synth_dir))
    monkeypatch.setenv("CVGL_BENCH_SYNTH_SIZE", "tiny")
    monkeypatch.delenv("CVGL_BENCH_SYNTH_SEED", raising=False)
    return tiny_synth_dir
