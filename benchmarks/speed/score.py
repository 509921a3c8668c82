"""How fast is exact scoring? Wall time and peak memory of ranking N queries against N references.

    python benchmarks/speed/score.py                        # N = 10,000 and 25,000
    python benchmarks/speed/score.py --sizes 10000 25000 50000 92802 --methods torch full
    python benchmarks/speed/score.py --spectrum flat        # the hardest case for a screen

Every (N, method) runs in a fresh subprocess, so its peak RSS (``ru_maxrss``) is its own. In
that process the script first measures the machine's float32 matrix-product rate (the faster of
torch and numpy, best of several products), then times the method ``--repeats`` times and
prints the median, the ratio to the bare product ``2 N^2 D / rate`` measured in the same
process, the peak RSS and its excess over the inputs, and the recalls each method found (all
methods must agree: ranks are exact).

Methods:
  full    the way research code does it: one N x N float32 similarity matrix, then ranks
  torch   cvgl-bench's torch backend as ``score`` runs it (CPU: int8 screen + exact re-check)
  fp32    the torch backend with the screen off (float32 products + exact re-check of near-ties)
  faiss   cvgl-bench's faiss backend (faiss's exact flat index as the screen)

Data: N reference embeddings of dimension D with a power-law spectrum (eigenvalue k ~ 1/k) in a
random orthonormal basis, L2-normalised; query i is reference i plus noise of the same spectrum,
normalised. ``--noise`` sets the difficulty (the recalls are printed); ``--spectrum flat`` makes
isotropic embeddings, whose similarities crowd into a narrow band (a screen's worst case).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

METHODS = ("full", "torch", "fp32", "faiss")


def make_embeddings(n: int, dim: int, noise: float, spectrum: str, seed: int = 0, block: int = 8192):
    import torch

    gen = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen))
    scale = torch.arange(1, dim + 1, dtype=torch.float32) ** -0.5 if spectrum == "power" else torch.ones(dim)
    query, reference = torch.empty(n, dim), torch.empty(n, dim)
    for start in range(0, n, block):
        m = min(block, n - start)
        r = (torch.randn(m, dim, generator=gen) * scale) @ basis
        q = r + noise * (torch.randn(m, dim, generator=gen) * scale) @ basis
        reference[start:start + m] = r / r.norm(dim=1, keepdim=True)
        query[start:start + m] = q / q.norm(dim=1, keepdim=True)
    return query, reference


def sgemm_rate(n: int, dim: int) -> dict[str, float]:
    """Best float32 GFLOP/s of torch and numpy on (2048 x D) @ (D x min(n, 16384))."""
    import numpy as np
    import torch

    m, cols = 2048, min(n, 16384)
    a, b = torch.randn(m, dim), torch.randn(cols, dim)
    out = torch.empty(m, cols)
    rates = {}
    for name, run in (("torch", lambda: torch.mm(a, b.t(), out=out)),
                      ("numpy", lambda: np.matmul(a.numpy(), b.numpy().T, out=out.numpy()))):
        run()
        best = min(_timed(run) for _ in range(5))
        rates[name] = 2 * m * cols * dim / best / 1e9
    return rates


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bare_product(query, reference, rows: int = 2048, sample: int | None = None) -> tuple[float, float]:
    """(wall s, CPU s) of the bare float32 product query @ reference.T, chunked into one buffer.

    With ``sample``, only that many chunks are timed and the times are scaled to all rows.
    """
    import torch

    n = len(query)
    out = torch.empty(rows, len(reference))
    starts = list(range(0, n, rows))
    timed = starts if sample is None else starts[:: max(1, len(starts) // sample)][:sample]
    wall, cpu = time.perf_counter(), time.process_time()
    for start in timed:
        q = query[start:start + rows]
        torch.mm(q, reference.t(), out=out[:len(q)])
    scale = n / sum(min(rows, n - s) for s in timed)
    return (time.perf_counter() - wall) * scale, (time.process_time() - cpu) * scale


def child(method: str, n: int, dim: int, noise: float, spectrum: str, repeats: int, save: str | None) -> dict:
    import numpy as np
    import torch

    from cvgl_bench.data.structures import GroundTruth

    query, reference = make_embeddings(n, dim, noise, spectrum)
    truth = GroundTruth.one_to_one(np.arange(n), n)
    rates = sgemm_rate(n, dim)
    inputs_mb = _rss_mb()
    stats: dict = {}

    if method == "full":
        def run():
            sim = query @ reference.t()
            own = sim[torch.arange(n), torch.arange(n)]
            return (sim > own[:, None]).sum(dim=1).numpy()
    else:
        from cvgl_bench.evaluate.search import FaissSearch, TorchSearch

        backend = {"torch": TorchSearch(), "fp32": TorchSearch(screen="fp32"), "faiss": FaissSearch()}[method]

        def run():
            table = backend.rank(query, reference, truth, device="cpu", topk=10)
            stats.update(table.stats)
            return table.rank_strict

    runs, ranks = [], None
    sample = None if n <= 30_000 else 6
    for _ in range(repeats):
        bare_wall, bare_cpu = bare_product(query, reference, sample=sample)
        wall, cpu = time.perf_counter(), time.process_time()
        ranks = run()
        runs.append({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                     "bare_wall": bare_wall, "bare_cpu": bare_cpu})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ranks = np.asarray(ranks)
    if save:
        np.save(save, ranks)
    return {"method": method, "n": n, "dim": dim, "runs": runs,
            "median_s": statistics.median(r["wall"] for r in runs),
            "ratio_wall": statistics.median(r["wall"] / r["bare_wall"] for r in runs),
            "ratio_cpu": statistics.median(r["cpu"] / r["bare_cpu"] for r in runs),
            "bare_rate_s": 2 * n * n * dim / (max(rates.values()) * 1e9),
            "rates_gflops": rates, "peak_mb": peak_mb, "inputs_mb": inputs_mb,
            "recall": {k: float((ranks < k).mean() * 100) for k in (1, 5, 10, max(n // 100, 1))},
            "rank_sum": int(ranks.sum()), "stats": {k: v for k, v in stats.items() if isinstance(v, (int, float, str))}}


def _agreement(saved: dict[str, str]) -> str:
    """Exact methods must give identical ranks; the full fp32 matrix may differ at near-ties."""
    import numpy as np

    ranks = {m: np.load(p) for m, p in saved.items() if os.path.exists(p)}
    exact = [m for m in ranks if m != "full"]
    if not exact:
        return "(no exact method ran)"
    ref = ranks[exact[0]]
    parts = []
    for m in exact[1:]:
        parts.append(f"{m} {'==' if np.array_equal(ranks[m], ref) else '!= (BUG)'} {exact[0]}")
    if "full" in ranks:
        diff = int((ranks["full"] != ref).sum())
        parts.append(f"full fp32 matrix differs from the exact ranks for {diff} queries (near-ties within fp32 rounding)")
    return "; ".join(parts) or f"{exact[0]} only"


def available_mb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 25_000])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=["full", "torch", "fp32"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per (N, method); the median is shown")
    parser.add_argument("--noise", type=float, default=1.5)
    parser.add_argument("--spectrum", choices=("power", "flat"), default="power")
    parser.add_argument("--json", help="also write all results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n = args.sizes[0]
        print(json.dumps(child(args.child, n, args.dim, args.noise, args.spectrum, args.repeats, args.save)))
        return
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; data: {args.spectrum} spectrum, "
          f"noise {args.noise}, D = {args.dim}; median of {args.repeats} runs; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    header = (f"{'N':>7} {'method':<6} {'median s':>9} {'x bare':>7} {'x bare CPU':>10} {'bare@best s':>11} "
              f"{'sgemm':>6} {'peak MB':>8} {'+inputs':>8} {'R@1':>6} {'R@1%':>6}  notes")
    print(header)
    print("-" * len(header))
    results = []
    scratch = tempfile.mkdtemp(prefix="cvgl-score-bench-")
    for n in args.sizes:
        saved: dict[str, str] = {}
        for method in args.methods:
            need_mb = n * n * 5 / 2 ** 20 + 3 * n * args.dim * 4 / 2 ** 20
            if method == "full" and need_mb > 0.7 * available_mb():
                print(f"{n:>7} {method:<6} {'skipped: needs ' + format(need_mb / 1024, '.1f') + ' GiB':>40}",
                      flush=True)
                continue
            cmd = [sys.executable, __file__, "--child", method, "--sizes", str(n), "--dim", str(args.dim),
                   "--repeats", str(1 if method == "full" and n > 25_000 else args.repeats),
                   "--noise", str(args.noise), "--spectrum", args.spectrum,
                   "--save", os.path.join(scratch, f"{method}-{n}.npy")]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{n:>7} {method:<6} failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(r)
            saved[method] = os.path.join(scratch, f"{method}-{n}.npy")
            s = r["stats"]
            notes = ""
            if s.get("screen") == "int8":
                notes = f"int8 screen; {s.get('rows_fp32_recheck', 0)} queries re-run in fp32"
            elif method == "faiss":
                notes = f"{s.get('queries_range_searched', 0)} range-searched"
            k1 = max(n // 100, 1)
            print(f"{n:>7} {method:<6} {r['median_s']:>9.2f} {r['ratio_wall']:>7.2f} {r['ratio_cpu']:>10.2f} "
                  f"{r['bare_rate_s']:>11.2f} {max(r['rates_gflops'].values()):>6.0f} {r['peak_mb']:>8.0f} "
                  f"{r['peak_mb'] - r['inputs_mb']:>8.0f} {r['recall']['1']:>6.2f} {r['recall'][str(k1)]:>6.2f}  {notes}",
                  flush=True)
        print("  " + _agreement(saved), flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes share these cores)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
