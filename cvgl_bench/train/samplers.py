"""Batch plans for contrastive training: which training pairs go together in each batch.

A *location* is a training pair's reference row (``TrainData.location``): pairs that share
it are the same place (VIGOR panoramas of one satellite tile, University-1652 drone photos of
one building). InfoNCE treats every other row of a batch as a negative, so **no batch ever
holds two pairs of the same location**; :class:`BatchPlanner` guarantees it.

The planner follows Sample4Geo's ``shuffle()``: pairs are drawn in a random order; each one
that fits becomes an *anchor* and pulls in hard neighbours of its location: the
``neighbour_select / 2`` nearest of its first ``neighbour_range`` neighbours plus as many drawn at
random from the rest of that range. Neighbours come from geography (:func:`gps_neighbours`)
at first and from the current model (:func:`similarity_neighbours`, Dynamic Similarity
Sampling) later. Without neighbours the plan is a random order with unique locations per batch
(Sample4Geo's University-1652 batching). A pair is used at most once per epoch; the last,
incomplete batch is dropped.

Plans are built for the *global* batch; under DDP every rank takes its slice of each global
batch (:func:`cvgl_bench.distributed.shard_batch`). A plan is a pure function of
(seed, epoch, neighbour table), so resuming needs only the table (``state_dict``).
"""

from __future__ import annotations

__all__ = ["BatchPlanner", "gps_neighbours", "similarity_neighbours"]
"""The toolkit API this module offers to method plugins (tests/test_toolkit_api.py); other names are internal."""

from collections import deque
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

SAMPLERS = ("random", "gps")
"""Initial batching: ``random`` (unique locations only) or ``gps`` (geographic neighbours);
Dynamic Similarity Sampling replaces the table every ``dss_every`` epochs in either case."""


def gps_neighbours(coords: np.ndarray, k: int, metric: str = "haversine", *, s4g_compat_degrees: bool = False,
                   chunk: int = 1024) -> np.ndarray:
    """The ``k`` nearest other points of every point, nearest first: an ``(N, k)`` index array.

    ``metric``:
      - ``haversine``: ``coords`` are (latitude, longitude) in **degrees**, converted to
        radians for the great-circle distance.
      - ``euclidean``: ``coords`` are planar (UTM easting, northing in metres; CVACT).

    ``s4g_compat_degrees=True`` reproduces Sample4Geo's CVUSA/VIGOR dictionaries: degrees are
    fed to the haversine formula as if they were radians (sklearn's ``haversine`` expects
    radians), which wraps every coordinate around the sphere many times: at continental scale
    the "neighbours" are nearly random, at city scale mildly distorted. (The formula stays
    finite for any real angles, since its argument is ``(1 - cos θ) / 2`` for the angle θ between
    two unit vectors; a NaN from rounding would rank last.)
    Ties are broken by the lower index, so the table is deterministic.
    Memory is ``O(chunk · N)``. Fewer than ``k`` other points pad the rows with ``-1``.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), not {coords.shape}")
    if metric not in ("haversine", "euclidean"):
        raise ConfigError(f"unknown neighbour metric {metric!r}; use 'haversine' or 'euclidean'")
    n = len(coords)
    points = torch.from_numpy(coords)
    if metric == "haversine" and not s4g_compat_degrees:
        points = torch.deg2rad(points)
    kk = min(k, max(n - 1, 0))
    out = np.full((n, k), -1, dtype=np.int64)
    if kk == 0:
        return out
    for lo in range(0, n, chunk):
        rows = points[lo:lo + chunk]
        if metric == "haversine":
            dist = _haversine(rows, points, clip=not s4g_compat_degrees)
        else:
            dist = torch.cdist(rows, points)
        dist = torch.nan_to_num(dist, nan=float("inf"))
        idx = torch.arange(lo, lo + len(rows))
        dist[idx - lo, idx] = float("inf")
        out[lo:lo + len(rows), :kk] = _smallest_k_stable(dist, kk, idx.numpy())
    return out


def _haversine(a: torch.Tensor, b: torch.Tensor, clip: bool) -> torch.Tensor:
    """Great-circle angle between (lat, lon) rows of ``a`` and ``b`` (radians), as sklearn computes it."""
    lat1, lon1 = a[:, :1], a[:, 1:]
    lat2, lon2 = b[:, 0][None], b[:, 1][None]
    h = torch.sin((lat2 - lat1) / 2) ** 2 + torch.cos(lat1) * torch.cos(lat2) * torch.sin((lon2 - lon1) / 2) ** 2
    if clip:
        h = h.clamp(0.0, 1.0)
    return 2 * torch.arcsin(torch.sqrt(h))


def _smallest_k_stable(dist: torch.Tensor, k: int, self_index: np.ndarray) -> np.ndarray:
    """Column indices of the ``k`` smallest values per row, ties broken by lower index; the
    row's own column (set to +inf by the caller) comes after every other column of equal value."""
    # topk's choice among equal values at the k-th place is not specified: take a margin of
    # candidates, order them exactly, and fall back to a full sort when ties run past it.
    margin = min(dist.shape[1], k + 8)
    values, idx = torch.topk(dist, margin, dim=1, largest=False)
    values, idx = values.numpy(), idx.numpy()
    out = np.empty((len(dist), k), dtype=np.int64)
    for r in range(len(dist)):
        if margin < dist.shape[1] and values[r, -1] == values[r, k - 1]:
            cols, vals = np.arange(dist.shape[1]), dist[r].numpy()
        else:
            cols, vals = idx[r], values[r]
        order = np.lexsort((cols, cols == self_index[r], vals))
        out[r] = cols[order[:k]]
    return out


def similarity_neighbours(query: torch.Tensor, reference: torch.Tensor, k: int, *, chunk: int = 1024) -> np.ndarray:
    """Dynamic Similarity Sampling: per location, the ``k`` most similar *wrong* references.

    ``query[l]`` and ``reference[l]`` are embeddings of location ``l``'s query (Sample4Geo
    keeps the last training query of a location) and reference. Returns ``(L, k)`` location
    indices, most similar first, never ``l`` itself; memory ``O(chunk · L)``.
    """
    n = len(reference)
    kk = min(k, max(n - 1, 0))
    out = np.full((n, k), -1, dtype=np.int64)
    if kk == 0:
        return out
    reference = reference.float()
    for lo in range(0, n, chunk):
        sim = query[lo:lo + chunk].float() @ reference.T
        rows = torch.arange(lo, lo + len(sim))
        sim[rows - lo, rows] = -float("inf")
        out[lo:lo + len(sim), :kk] = torch.topk(sim, kk, dim=1).indices.cpu().numpy()
    return out


class BatchPlanner:
    """Builds each epoch's batches of pair indices; never two pairs of one location in a batch.

    ``locations[i]`` is the location of pair ``i`` (any integer key). ``neighbours`` (optional)
    is an ``(L, K)`` table over the *compact* location indices ``0 .. L-1`` in sorted key order
    (:attr:`location_keys`), nearest or most similar first, ``-1`` padded.
    """

    def __init__(self, locations: np.ndarray, batch_size: int, seed: int, *, neighbours: np.ndarray | None = None,
                 neighbour_select: int = 64, neighbour_range: int = 128, max_fails: int = 1024,
                 neighbour_source: str = "gps"):
        locations = np.asarray(locations)
        self.location_keys, self.location_of_pair = np.unique(locations, return_inverse=True)
        self.location_of_pair = self.location_of_pair.astype(np.int64)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.neighbour_select = int(neighbour_select)
        self.neighbour_range = int(neighbour_range)
        self.max_fails = int(max_fails)
        if self.batch_size < 2:
            raise ConfigError(f"batch size must be at least 2 for a contrastive loss, not {batch_size}")
        if self.n_locations < self.batch_size:
            raise ConfigError(f"batch size {self.batch_size} exceeds the {self.n_locations} distinct locations of "
                              f"the training split; no batch can hold each location once; lower batch_size")
        order = np.argsort(self.location_of_pair, kind="stable")
        bounds = np.searchsorted(self.location_of_pair[order], np.arange(self.n_locations + 1))
        self._pairs_of_location = [order[bounds[i]:bounds[i + 1]].tolist() for i in range(self.n_locations)]
        self.neighbours: np.ndarray | None = None
        self.neighbour_source = "none"
        self.updated_at_epoch = 0
        if neighbours is not None:
            self.set_neighbours(neighbours, neighbour_source, epoch=0)

    @property
    def n_locations(self) -> int:
        return len(self.location_keys)

    @property
    def n_pairs(self) -> int:
        return len(self.location_of_pair)

    def max_batches(self) -> int:
        """An upper bound of the batches per epoch: ``ceil(pairs / batch)`` (what Sample4Geo's
        ``len(dataloader)`` reports, and sizes its schedule with)."""
        return -(-self.n_pairs // self.batch_size)

    def set_neighbours(self, neighbours: np.ndarray, source: str, epoch: int) -> None:
        """Replace the neighbour table (after GPS computation or a DSS mining pass)."""
        neighbours = np.asarray(neighbours, dtype=np.int64)
        if neighbours.ndim != 2 or len(neighbours) != self.n_locations:
            raise ValueError(f"neighbour table must have {self.n_locations} rows, has shape {neighbours.shape}")
        if neighbours.size and (neighbours.max() >= self.n_locations or neighbours.min() < -1):
            raise ValueError("neighbour table holds an index outside the locations")
        self.neighbours = neighbours
        self.neighbour_source = source
        self.updated_at_epoch = int(epoch)

    def plan(self, epoch: int) -> np.ndarray:
        """The batches of ``epoch`` as an ``(n_batches, batch_size)`` array of pair indices."""
        rng = np.random.default_rng([self.seed, int(epoch), 0x5B47])
        loc = self.location_of_pair
        batch_size = self.batch_size
        half = self.neighbour_select // 2
        pool = deque(rng.permutation(self.n_pairs).tolist())
        unused = [list(p) for p in self._pairs_of_location]
        used = np.zeros(self.n_pairs, dtype=bool)
        removed: dict[int, set[int]] = {}
        batches: list[list[int]] = []
        current: list[int] = []
        in_batch: set[int] = set()
        fails = 0

        def add(pair: int) -> None:
            used[pair] = True
            current.append(pair)
            in_batch.add(int(loc[pair]))
            unused[loc[pair]].remove(pair)

        while pool:
            anchor = pool.popleft()
            anchor_loc = int(loc[anchor])
            if not used[anchor] and anchor_loc not in in_batch and len(current) < batch_size:
                add(anchor)
                fails = 0
                if self.neighbours is not None and len(current) < batch_size:
                    gone = removed.setdefault(anchor_loc, set())
                    near = [int(c) for c in self.neighbours[anchor_loc] if c >= 0 and int(c) not in gone]
                    near = near[:self.neighbour_range]
                    rest = near[half:]
                    picks = near[:half] + [rest[i] for i in rng.permutation(len(rest))[:half]]
                    for c in picks:
                        if len(current) >= batch_size:
                            break
                        if c not in in_batch and unused[c]:
                            add(unused[c][int(rng.integers(len(unused[c])))])
                            gone.add(c)
            else:
                if not used[anchor]:
                    pool.append(anchor)
                fails += 1
                if fails >= self.max_fails:
                    break
            if len(current) == batch_size:
                batches.append(current)
                current, in_batch = [], set()
        return np.asarray(batches, dtype=np.int64).reshape(-1, batch_size)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild the same plans (torch tensors and plain values)."""
        return {
            "neighbours": None if self.neighbours is None else torch.from_numpy(self.neighbours.copy()),
            "neighbour_source": self.neighbour_source,
            "updated_at_epoch": self.updated_at_epoch,
            "n_locations": self.n_locations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["n_locations"]) != self.n_locations:
            raise ConfigError(f"checkpoint was made for {state['n_locations']} training locations, this split has "
                              f"{self.n_locations}; resume with the same training split or start a new run")
        neighbours = state.get("neighbours")
        if neighbours is None:
            self.neighbours, self.neighbour_source = None, "none"
            self.updated_at_epoch = int(state.get("updated_at_epoch", 0))
        else:
            self.set_neighbours(np.asarray(neighbours), state["neighbour_source"], state["updated_at_epoch"])
