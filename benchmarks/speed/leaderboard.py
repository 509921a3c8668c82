"""How long does the leaderboard take to render 100 records? (target: under 5 s)

Writes 100 simulated records (3 methods x 7 tasks x up to 5 seeds, rank arrays of 1,000 to
8,884 queries; see tests/leaderboard_fakes.py) to a temporary folder, then times

* ``cold``: the whole CLI in a fresh interpreter (imports included), as a user runs it;
* ``warm``: ``build`` + ``render`` in this process, split into the two phases;

for the markdown and the HTML format, with plots (recall@K curves; retrieval examples are
attempted and skipped, since the simulated splits have no images). Prints medians of
``--repeats`` runs. Timings on a shared machine vary: compare numbers of one run only.

    python benchmarks/speed/leaderboard.py [--records 100] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.leaderboard_fakes import make_results  # noqa: E402

from cvgl_bench import leaderboard as lb  # noqa: E402
from cvgl_bench.plugins import get_host  # noqa: E402

TASKS = [  # (train split, eval split, in-domain train split, queries, references)
    ("cvusa_train", "cvusa_test", "cvusa_train", 8884, 8884),
    ("cvact_train", "cvact_val", "cvact_train", 8884, 8884),
    ("vigor_cross_train", "vigor_cross_test", "vigor_cross_train", 5000, 8000),
    ("u1652_train", "u1652_s2d", "u1652_train", 1000, 51355),
    ("synth_cvusa_train", "synth_cvusa_test", "synth_cvusa_train", 1000, 1000),
    ("cvusa_train", "cvact_val", "cvact_train", 8884, 8884),
    ("cvact_train", "cvusa_test", "cvusa_train", 8884, 8884),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", default=None, help="write records and output here instead of a temp folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        results = base / "results"
        start = time.perf_counter()
        paths = make_results(results, TASKS, seeds=range(5), limit=args.records, semi=3, profile="paper")
        print(f"wrote {len(paths)} records in {time.perf_counter() - start:.1f} s to {results}")
        published = lb.Published.load(REPO / "leaderboards" / "published.yaml")
        for fmt in ("md", "html"):
            cold, build_s, render_s = [], [], []
            for i in range(args.repeats):
                out = base / f"out_{fmt}_{i}"
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "cvgl_bench", "leaderboard", "--results", str(results),
                                "--format", fmt, "--out", str(out)], check=True, capture_output=True)
                cold.append(time.perf_counter() - start)
                start = time.perf_counter()
                board = lb.build(results, published=published, host=get_host())
                build_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                lb.render(board, base / f"warm_{fmt}_{i}", fmt)
                render_s.append(time.perf_counter() - start)
            med = statistics.median
            print(f"{fmt:4s}: cold CLI {med(cold):.2f} s (runs {', '.join(f'{t:.2f}' for t in cold)}); "
                  f"warm build {med(build_s):.2f} s + render {med(render_s):.2f} s "
                  f"= {med(build_s) + med(render_s):.2f} s; {len(board.tables)} tables, {board.n_records} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
