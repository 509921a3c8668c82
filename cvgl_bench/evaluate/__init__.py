"""Evaluation: embedding extraction, exact ranks, metrics in every reference convention, bootstrap
intervals.

Heavy modules (torch, faiss) are imported only when ranks are computed or embeddings extracted;
metrics, bootstrap and re-scoring from stored ranks need numpy alone.
"""

from .bootstrap import bootstrap_ci, paired_bootstrap
from .ranks import RankTable, compute_ranks
from .scoring import Scored, rescore, score

__all__ = ["RankTable", "Scored", "bootstrap_ci", "compute_ranks", "paired_bootstrap", "rescore", "score"]
