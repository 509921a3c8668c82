"""Hostile embeddings files are refused in one line before anything large is read (issue: reliability)."""

from __future__ import annotations

import io
import warnings
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy_format

from cvgl_bench.errors import ConfigError, DataError
from cvgl_bench.evaluate.embeddings_file import read_embeddings


def _good_arrays(n: int = 4, d: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"query": rng.normal(size=(n, d)).astype(np.float32), "reference": rng.normal(size=(n, d)).astype(np.float32),
            "query_ids": np.asarray([f"q{i}" for i in range(n)]), "reference_ids": np.asarray([f"r{i}" for i in range(n)])}


def _header_only(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_a_good_file_still_reads(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(path, **_good_arrays())
    assert read_embeddings(path).query.shape == (4, 8)


def test_an_npy_renamed_to_npz_is_named_as_such(tmp_path):
    path = tmp_path / "emb.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(DataError, match="single .npy array, not an .npz"):
        read_embeddings(path)


def test_a_tiny_file_declaring_a_huge_shape_is_refused_without_allocating(tmp_path):
    path = tmp_path / "liar.npz"
    arrays = _good_arrays()
    np.savez(path, **{k: v for k, v in arrays.items() if k != "query"})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("query.npy", _header_only((10**9, 512)))
    with pytest.raises(DataError, match=r"declares shape \(1000000000, 512\).*damaged"):
        read_embeddings(path)


def test_a_zip_bomb_is_refused_before_it_is_decompressed(tmp_path):
    path = tmp_path / "bomb.npz"
    arrays = _good_arrays()
    np.savez(path, **{k: v for k, v in arrays.items() if k != "query"})
    rows, dim = 81920, 256  # 80 MiB of zeros
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("query.npy", "w", force_zip64=True) as member:
            member.write(_header_only((rows, dim)))
            block = bytes(1 << 20)
            for _ in range(rows * dim * 4 // len(block)):
                member.write(block)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(DataError, match="do not compress like that"):
        read_embeddings(path)


def test_a_file_larger_than_the_allowed_bytes_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    np.savez(path, **_good_arrays(n=64, d=64))
    monkeypatch.setenv("CVGL_BENCH_MAX_EMBEDDING_BYTES", "1000")
    with pytest.raises(DataError, match="CVGL_BENCH_MAX_EMBEDDING_BYTES"):
        read_embeddings(path)


@pytest.mark.parametrize("value", ["-1", "0", "abc", "nan", "inf"])
def test_a_limit_that_is_not_a_positive_number_of_bytes_is_refused(tmp_path, monkeypatch, value):
    path = tmp_path / "e.npz"
    np.savez(path, **_good_arrays(n=4, d=4))
    monkeypatch.setenv("CVGL_BENCH_MAX_EMBEDDING_BYTES", value)
    with pytest.raises(ConfigError, match=f"must be a number of bytes from 1 to 1e\\+18, not '{value}'"):
        read_embeddings(path)


def test_float64_beyond_float32_range_is_one_error_without_a_warning(tmp_path):
    path = tmp_path / "overflow.npz"
    arrays = _good_arrays()
    arrays["query"] = arrays["query"].astype(np.float64)
    arrays["query"][2, 3] = 1e300
    np.savez(path, **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="beyond float32 range"):
            read_embeddings(path)


def test_random_bytes_are_not_a_readable_npz(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match="not a readable .npz"):
        read_embeddings(path)
