"""Property tests of the conventions that are easy to get subtly wrong."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cvgl_bench.data.formats.cvact import utm_truth
from cvgl_bench.data.formats.text import read_lines
from cvgl_bench.data.formats.university1652 import u1652_truth
from cvgl_bench.data.structures import JUNK, POSITIVE

coords = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(queries=coords, references=coords)
def test_utm_truth_is_every_reference_within_5m(queries, references):
    q = np.asarray(queries, dtype=np.float64)
    r = np.asarray(references, dtype=np.float64)
    truth = utm_truth(q, r)
    dist = np.sqrt(((q[:, None, :] - r[None, :, :]) ** 2).sum(-1))
    for i in range(len(q)):
        assert sorted(truth.positives(i).tolist()) == np.flatnonzero(dist[i] <= 5.0).tolist()
    assert (truth.role == POSITIVE).all()


labels = st.lists(st.integers(0, 6), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(query_labels=labels, gallery_labels=labels, removed=st.booleans())
def test_u1652_truth_matches_sample4geo_labels(query_labels, gallery_labels, removed):
    q, g = np.asarray(query_labels), np.asarray(gallery_labels)
    truth, info = u1652_truth(q, g, "removed" if removed else "kept")
    # Sample4Geo: a gallery label not among the query labels becomes -1 (junk, out of the ranking)
    s4g = np.where(np.isin(g, q), g, -1)
    for i, label in enumerate(q):
        refs, roles = truth.entries(i)
        assert sorted(refs[roles == POSITIVE].tolist()) == np.flatnonzero(g == label).tolist()
        expected_junk = np.flatnonzero(s4g == -1).tolist() if removed else []
        assert sorted(refs[roles == JUNK].tolist()) == expected_junk
    assert info["distractor_images"] == int((s4g == -1).sum())


line_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0\ufeff"),
                    max_size=12)


@settings(max_examples=80, deadline=None)
@given(lines=st.lists(line_text, max_size=8), crlf=st.booleans(), final_newline=st.booleans())
def test_read_lines_numbers_lines_like_an_editor(tmp_path_factory, lines, crlf, final_newline):
    path = tmp_path_factory.mktemp("lines") / "f.txt"
    eol = "\r\n" if crlf else "\n"
    path.write_bytes((eol.join(lines) + (eol if final_newline and lines else "")).encode())
    expected = [(n, text) for n, text in enumerate(lines, start=1) if text.strip()]
    assert read_lines(path) == expected
