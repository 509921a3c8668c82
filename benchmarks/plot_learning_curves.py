"""Plot learning curves written by ``learning_curves.py`` and ``synth_learnability.py --curve``:
R@1 against epochs (left) and against training wall time (right), one line per file.

    python benchmarks/plot_learning_curves.py curves/*.json --out docs/learning_curves.png \
        [--label FILE=LABEL ...] [--title TEXT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_curve(path: Path) -> tuple[str, list[float], list[float], list[float]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data["curve"]
    key = next(k for k in rows[-1] if k.startswith("recall@1"))
    name = data.get("method", path.stem)
    if data.get("overrides"):
        name += " [" + ", ".join(f"{k}={json.loads(v)}" for k, v in data["overrides"].items()) + "]"
    epochs = [r["epoch"] for r in rows if key in r]
    minutes = [r["train_s"] / 60 for r in rows if key in r]
    recall = [r[key] for r in rows if key in r]
    return name, epochs, minutes, recall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("curves", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--label", action="append", default=[], metavar="FILE=LABEL")
    ap.add_argument("--title", default="")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = dict(item.split("=", 1) for item in args.label)
    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for path in args.curves:
        name, epochs, minutes, recall = read_curve(path)
        name = labels.get(path.name, labels.get(str(path), name))
        # a file with a "source" holds points quoted from elsewhere, not a measured curve: dotted
        style = ":" if json.loads(path.read_text(encoding="utf-8")).get("source") else "-"
        line, = by_epoch.plot(epochs, recall, marker="o", ms=3, ls=style, label=name)
        by_time.plot(minutes, recall, marker="o", ms=3, ls=style, color=line.get_color())
    by_epoch.set_xlabel("epoch")
    by_time.set_xlabel("training wall time (min, 2-core CPU, evaluation excluded)")
    by_epoch.set_ylabel("R@1 (%)")
    for ax in (by_epoch, by_time):
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    by_time.axvline(6, color="grey", ls="--", lw=0.8)
    by_time.text(6, by_time.get_ylim()[1] * 0.97, " 6 min", color="grey", va="top", fontsize=8)
    fig.legend(loc="lower center", ncol=min(4, len(args.curves)), fontsize=8, frameon=False)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout(rect=(0, 0.1 + 0.04 * ((len(args.curves) - 1) // 4), 1, 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
