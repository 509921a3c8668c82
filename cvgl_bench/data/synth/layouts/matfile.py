"""MATLAB v5 files written byte-deterministically (scipy stamps a creation time in the header)."""

from __future__ import annotations

import io
from pathlib import Path

HEADER_TEXT = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: cvgl_bench.data.synth"


def savemat_deterministic(path: Path, data: dict) -> None:
    """``scipy.io.savemat`` (format 5, no compression) with a fixed 116-byte header text."""
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, data, format="5", do_compression=False, oned_as="column")
    raw = bytearray(buf.getvalue())
    raw[:116] = HEADER_TEXT.ljust(116, b" ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(raw))
