"""Time the split loaders on the real split files at full size (no images needed).

    CVGL_REAL_SPLITS=DIR python benchmarks/speed/split_files.py [--repeats 5]

Prints the median wall time of each parse over ``--repeats`` runs and the sizes found. ``DIR``
(or ``--real DIR``) holds real split files, no images, laid out as the datasets lay them out:
``cvusa/splits/val-19zl.csv`` and ``cvusa/split_locations/all.csv``,
``cvusa_partial/splits/train-19zl.csv`` (any CVUSA training split file),
``vigor/splits__corrected/<City>/`` (SliceMatch's corrected VIGOR labels) and
``university1652/University1652-Baseline/{drone2satellite,satellite2drone}/{query,gallery}_name.txt``
(the name lists of the University-1652 repository). The full-size tests of
``tests/test_datasets_real.py`` read the same folder, plus a few more files in it: a reduced
"CVUSA subset" split (``cvusa_subset/{train,val}-19zl.csv``), University-1652's
``new_name_list.txt`` and a UAVM 2023 workshop list
(``university1652/UAVM2023_University-160k/query_drone_name.txt``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, default=os.environ.get("CVGL_REAL_SPLITS"),
                        help="the real-splits folder (default: $CVGL_REAL_SPLITS)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.real or not Path(args.real).is_dir():
        print("set CVGL_REAL_SPLITS or --real to the real-splits folder", file=sys.stderr)
        return 2
    real = Path(args.real)
    from cvgl_bench.data.formats import cvusa, university1652, vigor

    u = real / "university1652/University1652-Baseline"

    def vigor_same_test_3_cities():
        proto = vigor.Protocol("same_area_balanced_test", ("Chicago", "NewYork", "Seattle"), vigor.CITIES)
        loaded = vigor.read_split(real / "vigor", "vigor_same_test", "corrected", verify_files=False, protocol=proto)
        vigor.vigor_truth(loaded.satellites, len(loaded.gallery))
        return f"{len(loaded.queries)} queries, {len(loaded.gallery)} satellites"

    def u1652(folder: str, name: str, distractors: str):
        def run():
            q = university1652.read_name_list(u / folder / "query_name.txt")
            g = university1652.read_name_list(u / folder / "gallery_name.txt")
            data = university1652.build_eval(name, Path("/data"), q, g, {"distractors": distractors})
            return f"{len(data.queries)} queries, {len(data.references)} gallery, {len(data.truth.ref_index)} labelled"
        return run

    jobs = {
        "cvusa_test (val-19zl.csv + all.csv GPS)":
            lambda: f"{len(cvusa.load_test(real / 'cvusa', {}, verify_files=False).queries)} queries",
        "cvusa_train (partial file, 1,024 rows)":
            lambda: f"{len(cvusa.load_train(real / 'cvusa_partial', {}, verify_files=False))} pairs",
        "vigor same-area test, 3 cities x 4-city gallery": vigor_same_test_3_cities,
        "u1652_d2s, distractors kept": u1652("drone2satellite", "u1652_d2s", "kept"),
        "u1652_d2s, distractors removed": u1652("drone2satellite", "u1652_d2s", "removed"),
        "u1652_s2d, distractors removed": u1652("satellite2drone", "u1652_s2d", "removed"),
    }
    for label, job in jobs.items():
        times, found = [], ""
        for _ in range(args.repeats):
            start = time.perf_counter()
            found = job()
            times.append(time.perf_counter() - start)
        print(f"{label:50s} {statistics.median(times):6.3f} s  ({found})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
