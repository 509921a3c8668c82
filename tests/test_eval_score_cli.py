"""``cvgl-bench score`` on a tiny in-test dataset plugin: good files, every bad file, protocols."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cvgl_bench import hookimpl
from cvgl_bench.cli import cli
from cvgl_bench.data.structures import EvalData, GroundTruth, ImageSet
from cvgl_bench.specs import DatasetSpec, SplitSpec

REPO = Path(__file__).resolve().parents[1]
NQ, NR, DIM = 30, 40, 16


def load_tiny(root: Path, protocol: dict) -> EvalData:
    """Queries q000.., references r000..; query i: positive r(i), semi-positive r(i+1)."""
    qids = (root / "queries.txt").read_text().split()
    rids = (root / "references.txt").read_text().split()
    truth = GroundTruth.from_lists([[i] for i in range(len(qids))], len(rids),
                                   [[(i + 1) % len(rids)] for i in range(len(qids))])
    return EvalData("tiny_test", ImageSet("ground", qids, [root / f"{i}.jpg" for i in qids]),
                    ImageSet("satellite", rids, [root / f"{i}.jpg" for i in rids]), truth, dict(protocol))


tiny_plugin = types.ModuleType("tiny_eval_plugin")
tiny_plugin.cvgl_bench_register_datasets = hookimpl(lambda register: register(
    DatasetSpec(name="tiny", loader=None, folder="Tiny", obtain="it is made by the test")))
tiny_plugin.cvgl_bench_register_splits = hookimpl(lambda register: [
    register(SplitSpec(name="tiny_test", dataset="tiny", loader=load_tiny, role="eval", train_split="tiny_train",
                       protocol_options={"ties": ("strict", "loose"), "r1pct": ("floor", "vigor", "u1652")},
                       metrics=("recall@1", "recall@5", "recall@1%", "hit_rate", "ap"))),
    register(SplitSpec(name="tiny_train", dataset="tiny", loader=load_tiny, role="train")),
])


@pytest.fixture
def tiny(make_host, tmp_path):
    """A data root with the tiny split and a matching good embeddings file."""
    root = tmp_path / "data" / "Tiny"
    root.mkdir(parents=True)
    qids = [f"q{i:03d}" for i in range(NQ)]
    rids = [f"r{i:03d}" for i in range(NR)]
    (root / "queries.txt").write_text("\n".join(qids))
    (root / "references.txt").write_text("\n".join(rids))
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((NR, DIM)).astype(np.float32)
    query = reference[:NQ] + 0.9 * rng.standard_normal((NQ, DIM)).astype(np.float32)
    arrays = {"query": query, "reference": reference, "query_ids": np.asarray(qids), "reference_ids": np.asarray(rids)}
    np.savez(tmp_path / "good.npz", **arrays)
    make_host(tiny_plugin)
    return types.SimpleNamespace(root=tmp_path / "data", path=tmp_path, arrays=arrays)


def run(*args):
    return CliRunner().invoke(cli, ["score", *map(str, args)])


def write(tiny, name, **changes):
    arrays = {**tiny.arrays, **changes}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = tiny.path / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def test_score_prints_every_metric_with_convention_and_interval(tiny):
    result = run("--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root)
    assert result.exit_code == 0, result.output
    assert "tiny_test: 30 queries, 40 references" in result.stdout
    for name in ("recall@1", "recall@5", "recall@1%", "hit_rate", "ap"):
        assert name in result.stdout
    assert "strict ranks (ties favour the query)" in result.stdout


def test_score_json_is_one_object_and_row_order_does_not_matter(tiny):
    result = run("--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_queries"] == NQ and data["n_references"] == NR and data["split"] == "tiny_test"
    assert data["protocol"] == {"ties": "strict", "r1pct": "floor"}
    assert set(data["metrics"]) == {"recall@1", "recall@5", "recall@1%", "hit_rate", "ap"}
    for metric in data["metrics"].values():
        lo, hi = metric["ci95"]
        assert lo <= metric["value"] <= hi and metric["convention"] and metric["higher_is_better"]
    assert "floor(R/100) = 0" in data["metrics"]["recall@1%"]["convention"]
    assert data["intervals"] == {"places": data["n_places"], "resamples": 1000, "seed": 0}  # as a record says it
    documented = (Path(__file__).resolve().parents[1] / "docs" / "json.md").read_text()
    assert [key for key in data if f"`{key}`" not in documented] == []
    other = json.loads(run("--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root,
                           "--json", "--seed", "7", "--n-boot", "200").stdout)
    assert other["intervals"] == {"places": data["n_places"], "resamples": 200, "seed": 7}
    assert other["metrics"]["recall@1"]["ci95"] != data["metrics"]["recall@1"]["ci95"]
    perm_q, perm_r = np.random.default_rng(1).permutation(NQ), np.random.default_rng(2).permutation(NR)
    shuffled = write(tiny, "shuffled", **{k: tiny.arrays[k][perm_q] for k in ("query", "query_ids")},
                     **{k: tiny.arrays[k][perm_r] for k in ("reference", "reference_ids")})
    again = json.loads(run("--dataset", "tiny_test", "--embeddings", shuffled, "--data-root", tiny.root,
                           "--json").stdout)
    assert {k: v["value"] for k, v in again["metrics"].items()} == {k: v["value"] for k, v in data["metrics"].items()}


def test_protocol_options_change_the_convention(tiny):
    args = ["--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root, "--json"]
    data = json.loads(run(*args, "--protocol", "r1pct=vigor", "--protocol", "ties=loose", "--metric", "recall@1%").stdout)
    assert data["protocol"] == {"ties": "loose", "r1pct": "vigor"} and list(data["metrics"]) == ["recall@1%"]
    assert "int(0.01R)+1 = 1" in data["metrics"]["recall@1%"]["convention"]
    assert "loose ranks" in data["metrics"]["recall@1%"]["convention"]


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


BAD_FILES = {
    "missing_array": (dict(reference_ids=None), "no array 'reference_ids'"),
    "integer_dtype": (dict(query=np.ones((NQ, DIM), np.int64)), "must be floating point"),
    "one_dimensional": (dict(reference=np.ones(NR, np.float32)), "must be 2-D"),
    "nan": (dict(query=np.where(np.arange(NQ)[:, None] == 7, np.nan, 1.0).repeat(DIM, 1).astype(np.float32)),
            "NaN or inf (first in row 7)"),
    "inf": (dict(reference=np.full((NR, DIM), np.inf, np.float32)), "NaN or inf"),
    "dimension_mismatch": (dict(reference=np.ones((NR, DIM + 1), np.float32)), "D = 16 but reference"),
    "numeric_ids": (dict(query_ids=np.arange(NQ)), "ids must be strings"),
    "id_count": (dict(query_ids=np.asarray([f"q{i:03d}" for i in range(NQ - 1)])), "has 29 ids but 'query' has 30"),
    "duplicate_id": (dict(reference_ids=np.asarray(["r000"] + [f"r{i:03d}" for i in range(1, NR - 1)] + ["r000"])),
                     "duplicate reference id 'r000'"),
    "missing_id": (dict(query=np.ones((NQ - 1, DIM), np.float32),
                        query_ids=np.asarray([f"q{i:03d}" for i in range(1, NQ)])), "1 of the 30 query ids"),
    "unknown_id": (dict(query=np.ones((NQ + 1, DIM), np.float32),
                        query_ids=np.asarray([f"q{i:03d}" for i in range(NQ)] + ["zzz"])), "query id 'zzz' is not in"),
    "empty": (dict(query=np.ones((0, DIM), np.float32), query_ids=np.asarray([], dtype=str)), "is empty"),
    "one_wrong_id": (dict(query_ids=np.asarray([f"q{i:03d}" for i in range(NQ - 1)] + ["zzz"])),
                     "1 of the 30 query ids of tiny_test are missing (first: 'q029'); the file's query id 'zzz' "
                     "is not one of the split's"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_each_bad_embeddings_file_is_one_line_and_exit_2(tiny, case):
    changes, message = BAD_FILES[case]
    path = write(tiny, case, **changes)
    assert_one_line_error(run("--dataset", "tiny_test", "--embeddings", path, "--data-root", tiny.root), message)


def test_unreadable_files_are_one_line_errors(tiny):
    args = ("--dataset", "tiny_test", "--data-root", tiny.root, "--embeddings")
    assert_one_line_error(run(*args, tiny.path / "nothing.npz"), "does not exist")
    (tiny.path / "text.npz").write_text("not a zip")
    assert_one_line_error(run(*args, tiny.path / "text.npz"), "not a readable .npz")
    objects = write(tiny, "objects", query_ids=np.asarray([f"q{i:03d}" for i in range(NQ)], dtype=object))
    assert_one_line_error(run(*args, objects), "stored as Python objects")


def test_split_protocol_and_data_errors(tiny, monkeypatch):
    monkeypatch.delenv("CVGL_DATA_ROOT", raising=False)
    monkeypatch.setenv("CVGL_BENCH_CONFIG", str(tiny.path / "no-config.yaml"))
    good = tiny.path / "good.npz"
    assert_one_line_error(run("--dataset", "tiny_tset", "--embeddings", good), "did you mean 'tiny_test'")
    assert_one_line_error(run("--dataset", "tiny_train", "--embeddings", good, "--data-root", tiny.root),
                          "training split")
    assert_one_line_error(run("--dataset", "tiny_test", "--embeddings", good, "--data-root", tiny.root,
                              "--protocol", "ties"), "KEY=VALUE")
    assert_one_line_error(run("--dataset", "tiny_test", "--embeddings", good, "--data-root", tiny.root,
                              "--protocol", "r1pct=ceil"), "r1pct='ceil'")
    assert_one_line_error(run("--dataset", "tiny_test", "--embeddings", good, "--data-root", tiny.root,
                              "--metric", "recal@1"), "unknown metric")
    assert_one_line_error(run("--dataset", "tiny_test", "--embeddings", good, "--data-root", tiny.path / "elsewhere"),
                          "Tiny data not found")


SCRIPT = """
import sys
from cvgl_bench import plugins
from cvgl_bench.cli import main
from tests.test_eval_score_cli import tiny_plugin
host = plugins.PluginHost(entry_points=False)
host.add_plugin(tiny_plugin, "tiny_eval_plugin")
plugins.set_host(host)
sys.argv = ["cvgl-bench", *sys.argv[1:]]
main()
"""


def test_score_as_a_subprocess(tiny):
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(REPO)}
    common = ["--dataset", "tiny_test", "--data-root", str(tiny.root), "--embeddings"]
    bad = write(tiny, "nan_sub", reference=np.full((NR, DIM), np.nan, np.float32))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "score", *common, str(bad)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "NaN or inf" in proc.stderr
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "score", *common, str(tiny.path / "good.npz"), "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_queries"] == NQ


def _random_embeddings(data, path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, query=rng.standard_normal((len(data.queries), 8)).astype(np.float32),
             reference=rng.standard_normal((len(data.references), 8)).astype(np.float32),
             query_ids=data.queries.ids, reference_ids=data.references.ids)
    return path


@pytest.mark.parametrize("split, option, values, phrases", [
    ("cvact_test", "cvact_test", ("utm5m", "exact_id"), ("within 5 m UTM", "the query's id")),
    ("u1652_d2s", "distractors", ("kept", "removed"), ("kept in the gallery", "removed from every ranking")),
])
def test_score_on_builtin_splits(host, tmp_path, split, option, values, phrases):
    """Built-in loaders (U-1652 without images); each protocol value reaches the metrics."""
    from cvgl_bench.data.splits import load_split
    from tests.dataset_trees import make_cvact, make_u1652

    if split.startswith("cvact"):
        make_cvact(tmp_path / "CVACT")  # exact_id defines the split by the image files
    else:
        make_u1652(tmp_path / "University-1652", images=False)
    data = load_split(host.splits.get(split), str(tmp_path), None, host, verify_files=False)
    path = _random_embeddings(data, tmp_path / "emb.npz")
    recalls = []
    for value, phrase in zip(values, phrases):
        result = run("--dataset", split, "--embeddings", path, "--data-root", tmp_path, "--json",
                     "--protocol", f"{option}={value}")
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out["n_queries"] == len(data.queries) and out["protocol"][option] == value
        if split == "u1652_d2s":  # every drone view of a building is one place
            buildings = {int(r) for q in range(len(data.queries)) for r in data.truth.positives(q)}
            assert out["n_places"] == len(buildings) < out["n_queries"]
        else:  # one place per query under the exact id; panoramas within 5 m are one place
            assert out["n_places"] == out["n_queries"] if value == "exact_id" else out["n_places"] <= out["n_queries"]
        assert all(phrase in m["convention"] for m in out["metrics"].values())
        recalls.append(out["metrics"]["recall@1"]["value"])
    assert recalls[1] >= recalls[0] if option == "distractors" else recalls[0] >= recalls[1]


# -- similarity and records (issue: external embeddings on the leaderboard) ----------------------

def _scored(tiny, *args):
    done = run("--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root,
               "--n-boot", "0", "--json", *args)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_cosine_is_the_default_and_ignores_row_scale_while_dot_does_not(tiny):
    rng = np.random.default_rng(1)
    scaled = tiny.arrays["reference"] * rng.uniform(0.1, 10.0, (NR, 1)).astype(np.float32)
    write(tiny, "scaled", reference=scaled)
    plain = _scored(tiny)
    cosine = run("--dataset", "tiny_test", "--embeddings", tiny.path / "scaled.npz", "--data-root", tiny.root,
                 "--n-boot", "0", "--json")
    dot = run("--dataset", "tiny_test", "--embeddings", tiny.path / "scaled.npz", "--data-root", tiny.root,
              "--n-boot", "0", "--json", "--similarity", "dot")
    values = {name: json.loads(out.stdout)["metrics"]["recall@1"]["value"] for name, out in (("cos", cosine),
                                                                                            ("dot", dot))}
    assert plain["similarity"] == "cosine" and values["cos"] == plain["metrics"]["recall@1"]["value"]
    assert values["dot"] != values["cos"]  # raw products follow the row scale, as asked


def test_a_zero_row_is_refused_under_cosine_naming_its_id(tiny):
    """The file's rows come reversed, so the split's row 3 is the file's row 36: the id says which."""
    reference = tiny.arrays["reference"].copy()
    reference[3] = 0
    path = write(tiny, "zero", reference=reference[::-1], reference_ids=tiny.arrays["reference_ids"][::-1])
    done = run("--dataset", "tiny_test", "--embeddings", path, "--data-root", tiny.root)
    assert done.exit_code == 2 and "the reference embedding of id 'r003' has norm 0.0" in done.output
    assert str(path) in done.output and "--similarity dot" in done.output and len(done.output.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (("--n-boot", "1"), "1 is not 0 (no interval) or between 100 and 1,000,000 resamples"),
    (("--n-boot", "100000000000"), "100000000000 is not 0 (no interval) or between 100 and 1,000,000"),
    (("--seed", "99999999999999999999999"), "seeds are integers from 0 to 4294967295"),
    (("--seed", "-1"), "seeds are integers from 0 to 4294967295, not -1"),
])
def test_resamples_and_seed_out_of_range_are_one_line(tiny, args, message):
    done = run("--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root, *args)
    assert done.exit_code == 2 and message in done.output and len(done.output.strip().splitlines()) == 1


def test_the_record_keeps_how_its_intervals_were_drawn(tiny, tmp_path):
    from cvgl_bench import results

    done = run("--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root, "--json",
               "--n-boot", "300", "--seed", "5", "--record", "--method", "mynet", "--results", tmp_path / "results")
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    record = results.read(out["record"])
    assert record.intervals == results.IntervalInfo(places=30, resamples=300, seed=5)
    assert record.metrics["recall@1"].ci95 == out["metrics"]["recall@1"]["ci95"]


def test_record_writes_an_external_row_with_its_ranks(tiny, tmp_path):
    from cvgl_bench import results

    from .leaderboard_fakes import build

    out = _scored(tiny, "--record", "--method", "mynet", "--note", "mynet v2, epoch 40",
                  "--results", tmp_path / "results")
    record = results.read(out["record"])
    assert record.cell.method == "mynet" and record.cell.profile == "external"
    assert record.cell.train_split == "tiny_train" and record.cell.task == "in-domain"
    external = record.provenance["external"]
    assert external["note"] == "mynet v2, epoch 40" and external["similarity"] == "cosine"
    assert external["sha256"] == __import__("hashlib").sha256((tiny.path / "good.npz").read_bytes()).hexdigest()
    assert record.metrics["recall@1"].value == out["metrics"]["recall@1"]["value"]
    assert "data_info" in record.provenance  # what the reader said about the files it read
    assert results.read_ranks(out["record"], record)["topk"].shape[0] == NQ
    (table,) = build(tmp_path / "results", significance=False).tables
    assert table.rows[0].implementation == "external embeddings"


@pytest.mark.parametrize("args,needle", [(["--record"], "--record needs --method"),
                                         (["--record", "--method", "My Net"], "use a-z, 0-9 and _.@%+-"),
                                         (["--method", "mynet"], "--method describes a record; add --record"),
                                         (["--method", "", "--note", ""], "--method, --note describe a record"),
                                         (["--results", "elsewhere"], "--results describes a record; add --record"),
                                         (["--record", "--method", "m", "--train-on", "tiny_test"],
                                          "not a training split")])
def test_record_options_are_checked_first(tiny, args, needle):
    done = run("--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root, *args)
    assert done.exit_code == 2 and needle in done.output and "Traceback" not in done.output


def test_score_of_embeddings_without_the_pairs_whose_images_are_missing_is_refused_as_run_is(host, tmp_path):
    """A CVACT val panorama without its images: 'run' refuses the split (an evaluation split must be
    complete), and an embeddings file made by a loader that dropped the pair names the same cause."""
    from cvgl_bench.data.splits import load_split
    from tests.dataset_trees import act_ids, make_cvact

    missing = act_ids(12)[4]  # the first val row (5)
    make_cvact(tmp_path / "CVACT", skip_ids=(missing,))
    listed = load_split(host.splits.get("cvact_val"), str(tmp_path), None, host, verify_files=False)
    data = replace(listed, queries=listed.queries.subset([1]), references=listed.references.subset([1]),
                   truth=GroundTruth.one_to_one(np.array([0]), 1), fingerprint="")
    path = _random_embeddings(data, tmp_path / "emb.npz")
    result = run("--dataset", "cvact_val", "--embeddings", path, "--data-root", tmp_path, "--json", "--n-boot", "0")
    assert result.exit_code == 2, result.output
    assert f"{missing}_grdView.jpg: missing, and 0 more of the 2 CVACT val pairs" in result.output
    assert "an evaluation split must be complete" in result.output


def test_a_record_of_external_embeddings_says_which_vigor_labels_were_read(host, tmp_path):
    from cvgl_bench import results
    from cvgl_bench.data.splits import load_split
    from tests.dataset_trees import make_vigor

    make_vigor(tmp_path / "VIGOR", labels="original", images=False)
    data = load_split(host.splits.get("vigor_same_test"), str(tmp_path), None, host, verify_files=False)
    path = _random_embeddings(data, tmp_path / "emb.npz")
    done = run("--dataset", "vigor_same_test", "--embeddings", path, "--data-root", tmp_path, "--json", "--n-boot",
               "0", "--record", "--method", "mynet", "--results", tmp_path / "results")
    assert done.exit_code == 0, done.output
    info = results.read(json.loads(done.stdout)["record"]).provenance["data_info"]
    assert info["labels"] == "original" and info["split_file"].startswith("<data>/VIGOR/")


def _even_id_top1(ranks, data, protocol):
    """A metric that needs the split's ids, which stored ranks alone do not hold."""
    from cvgl_bench.errors import DataError

    if getattr(data, "references", None) is None:
        raise DataError("this metric needs the reference ids")
    return np.asarray([int(data.references.ids[i][1:]) % 2 == 0 for i in ranks.topk[:, 0]], dtype=np.float64)


def test_a_metric_that_needs_the_split_is_recomputed_on_it_by_the_leaderboard(make_host, tiny, tmp_path,
                                                                                monkeypatch):
    from cvgl_bench import MetricSpec

    monkeypatch.delenv("CVGL_DATA_ROOT", raising=False)
    monkeypatch.setenv("CVGL_BENCH_CONFIG", str(tmp_path / "no-config.yaml"))
    metric = types.ModuleType("even_ids")
    metric.cvgl_bench_register_metrics = hookimpl(lambda register: register(
        MetricSpec(name="even_top1", loader=_even_id_top1)))
    make_host(tiny_plugin, metric)
    out = _scored(tiny, "--metric", "recall@1", "--metric", "even_top1", "--record", "--method", "mynet",
                  "--results", tmp_path / "results")
    board = ["leaderboard", "--results", tmp_path / "results", "--format", "csv", "--no-significance"]
    blind = CliRunner().invoke(cli, list(map(str, board)))
    assert "left out: its ranks cannot be read: this metric needs the reference ids (the leaderboard recomputes " \
           "every number: give it the data with --data-root, where tiny_test is)" in blind.output
    seeing = CliRunner().invoke(cli, list(map(str, [*board, "--data-root", tiny.root])))
    assert seeing.exit_code == 0 and "left out" not in seeing.output, seeing.output
    assert str(out["metrics"]["even_top1"]["value"]) in seeing.stdout
    (tiny.root / "Tiny" / "queries.txt").write_text("\n".join(f"q{i:03d}" for i in range(NQ - 1)))
    other = CliRunner().invoke(cli, list(map(str, [*board, "--data-root", tiny.root])))
    assert "is not the one the record was made on" in other.output or "ground truth" in other.output, other.output


def test_a_record_folder_that_cannot_be_written_is_refused_before_the_search(tiny, monkeypatch):
    """It was refused when the record was written, after an exact search that can take minutes on
    a large gallery, as a line that did not name --results."""
    from cvgl_bench.evaluate import scoring

    def never(*args, **kwargs):
        raise AssertionError("the search ran")

    monkeypatch.setattr(scoring, "score", never)
    done = run("--dataset", "tiny_test", "--embeddings", tiny.path / "good.npz", "--data-root", tiny.root,
               "--record", "--method", "mine", "--results", tiny.path / "good.npz" / "results")
    assert_one_line_error(done, f"--results {tiny.path / 'good.npz' / 'results'}: cannot write there")
