"""Retrieval examples of a table's best row: queries, their top references, the true match.

The images come from the evaluation split itself, loaded exactly as the runner loads it
(:func:`cvgl_bench.data.splits.load_split`), and only when the split on disk is the one the
records were computed on (same dataset fingerprint). When the data is not available the examples
are skipped with a one-line reason, never faked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import results
from ..data.images import as_rgb
from ..data.structures import JUNK, POSITIVE, ROLE_NAMES
from ..errors import UserError
from ..fsutil import open_regular
from .plots import Example
from .tables import BenchmarkTable, RankSummary

THUMBNAIL = 320


def _image(path: str) -> np.ndarray:
    from PIL import Image

    with open_regular(path) as handle, Image.open(handle) as image:
        image = as_rgb(image)
        image.thumbnail((THUMBNAIL * 2, THUMBNAIL))
        return np.asarray(image)


def _eval_data(table: BenchmarkTable, protocol: dict[str, str], host: Any, data_root: Any) -> Any:
    from ..data.splits import load_split

    return load_split(host.splits.get(table.eval_split), data_root, protocol, host)


def retrieval_examples(table: BenchmarkTable, summaries: dict[Any, RankSummary], *, host: Any,
                       data_root: Any = None, n_examples: int = 4, top: int = 5,
                       seed: int = 0) -> tuple[list[Example], str]:
    """Up to ``n_examples`` examples (half hits at rank 1, half misses) and a caption or skip reason."""
    best = table.best
    if best is None:
        return [], "no ranked row"
    run = best.runs[0]
    summary = summaries.get(run.path)
    if summary is None or summary.best_rank is None:
        return [], f"ranks of {best.label} not available" + (f" ({summary.error})" if summary else "")
    try:
        data = _eval_data(table, best.protocol, host, data_root)
        arrays = results.read_ranks(run.path, run.record)
        if "topk" not in arrays:
            return [], "the ranks file stores no top-k lists"
    except UserError as exc:
        return [], f"retrieval examples skipped: {exc}"
    if data.fingerprint != best.fingerprint:
        return [], (f"retrieval examples skipped: the {table.eval_split} data found here (fingerprint "
                    f"{data.fingerprint}) is not the one the records were computed on ({best.fingerprint})")
    topk = np.asarray(arrays["topk"])[:, :top]
    rng = np.random.default_rng(seed)
    hits = np.flatnonzero(summary.best_rank == 0)
    misses = np.flatnonzero(summary.best_rank > 0)
    n_miss = min(len(misses), n_examples // 2)
    chosen = list(rng.choice(misses, n_miss, replace=False)) if n_miss else []
    n_hit = min(len(hits), n_examples - len(chosen))
    chosen = sorted(chosen + (list(rng.choice(hits, n_hit, replace=False)) if n_hit else []))
    truth = data.truth
    examples = []
    try:
        for q in chosen:
            refs, roles = truth.entries(int(q))
            role_of = {int(r): ROLE_NAMES[int(role)] for r, role in zip(refs, roles)}
            retrieved = []
            for rank, ref in enumerate(topk[q]):
                role = role_of.get(int(ref), "negative")
                mark = " (junk)" if role == ROLE_NAMES[JUNK] else ""
                caption = f"#{rank + 1}{mark}\n{data.references.ids[int(ref)]}"
                retrieved.append((_image(data.references.paths[int(ref)]), role, caption))
            positives = [int(r) for r, role in zip(refs, roles) if role == POSITIVE]
            true_match = None
            if positives and not any(int(ref) in positives for ref in topk[q]):
                p = positives[0]
                true_match = (_image(data.references.paths[p]),
                              f"true match, rank {int(summary.best_rank[q]) + 1}\n{data.references.ids[p]}")
            examples.append(Example(_image(data.queries.paths[int(q)]), f"query\n{data.queries.ids[int(q)]}",
                                    retrieved, true_match))
    except OSError as exc:
        return [], f"retrieval examples skipped: cannot read an image ({exc})"
    caption = (f"{best.label}, seed {run.seed}: {len(chosen)} queries drawn at random "
               f"({n_miss} missed at rank 1, {len(chosen) - n_miss} hit); their top-{top} references")
    return examples, caption
