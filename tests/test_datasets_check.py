"""``cvgl-bench data check``: counts against the official ones, missing/unreadable files, exit codes."""

from __future__ import annotations

import json
import os
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cvgl_bench import DatasetSpec, SplitSpec, hookimpl
from cvgl_bench.cli import cli
from cvgl_bench.data.check import check_dataset

from .dataset_trees import act_ids, altitude_plugin, make_cvact, make_cvusa, make_u1652, make_vigor


@pytest.fixture(autouse=True)
def no_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv("CVGL_DATA_ROOT", raising=False)
    monkeypatch.setenv("CVGL_BENCH_CONFIG", str(tmp_path / "no-config.yaml"))


def run(*args):
    return CliRunner().invoke(cli, ["data", "check", *args])


def tiny_plugin(expected_counts: dict | None = None):
    """A third-party style dataset whose 'official' counts are those of the miniature CVUSA tree."""
    expected_counts = {"queries": 2, "references": 2} if expected_counts is None else expected_counts
    plugin = types.ModuleType("tiny_plugin")

    @hookimpl
    def cvgl_bench_register_datasets(register):
        register(DatasetSpec(name="tiny", loader=None, folder="Tiny"))

    @hookimpl
    def cvgl_bench_register_splits(register):
        register(SplitSpec(name="tiny_test", loader="cvgl_bench.data.formats.cvusa:load_test", dataset="tiny",
                           expected_counts=expected_counts))

    plugin.cvgl_bench_register_datasets = cvgl_bench_register_datasets
    plugin.cvgl_bench_register_splits = cvgl_bench_register_splits
    return plugin


def test_a_complete_tree_passes(make_host, tmp_path):
    make_host(tiny_plugin())
    make_cvusa(tmp_path / "data" / "Tiny")
    result = run("tiny", "--root", str(tmp_path / "data"))
    assert result.exit_code == 0, result.output
    assert "tiny_test" in result.output and "OK: the folder matches the official release" in result.output


def test_a_dataset_without_official_counts_does_not_claim_to_match_them(make_host, tmp_path):
    make_host(tiny_plugin(expected_counts={}))
    make_cvusa(tmp_path / "data" / "Tiny")
    result = run("tiny", "--data-root", str(tmp_path / "data"))
    assert result.exit_code == 0, result.output
    assert "official release" not in result.output and "no official counts are known" in result.output


def test_counts_missing_and_unreadable_files(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA")
    (root / "streetview/panos/0000002.jpg").unlink()
    (root / "bingmap/19/0000003.jpg").write_bytes(b"")
    (root / "bingmap/19/0000005.jpg").write_bytes(b"<html>not an image</html>")
    os.unlink(root / "bingmap/19/0000001.jpg")
    os.mkfifo(root / "bingmap/19/0000001.jpg")  # never read: it would wait for a writer
    result = run("cvusa", "--root", str(root), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    by_split = {e["split"]: e for e in report["splits"]}
    train, test = by_split["cvusa_train"], by_split["cvusa_test"]
    assert train["counts"] == {"queries": 4, "references": 4, "pairs": 4} and train["expected"] == {"pairs": 35532}
    assert train["missing"] == 1 and train["missing_examples"] == [str(root / "streetview/panos/0000002.jpg")]
    assert train["unreadable"] == 2 and any("empty file" in e for e in train["unreadable_examples"])
    assert any("not a regular file" in e for e in train["unreadable_examples"])
    assert test["unreadable"] == 1 and "not an image Pillow can read" in test["unreadable_examples"][0]
    assert "counts differ from the official pairs 35532" in train["status"]
    documented = (Path(__file__).resolve().parents[1] / "docs" / "json.md").read_text()
    assert [key for entry in (report, train, test) for key in entry if f"`{key}`" not in documented] == []
    text = run("cvusa", "--data-root", str(tmp_path)).output  # a data root holding CVUSA/ works too
    assert "4 (official 35532)" in text and "missing: " in text and "PROBLEMS found" in text


def test_unparsable_split_exits_2_with_the_line(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA", images=False)
    (root / "splits" / "val-19zl.csv").write_text("a,b\n")
    result = run("cvusa", "--root", str(root))
    assert result.exit_code == 2
    assert "val-19zl.csv line 1: expected 3 comma-separated paths" in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and errors[0].startswith("Error: cvusa_test: ") and "val-19zl.csv line 1" in errors[0]


def test_decode_option_finds_truncated_images(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA", train=(1,), test=(2,))
    path = root / "bingmap/19/0000002.jpg"
    path.write_bytes(path.read_bytes()[:200])
    def test_entry(**kwargs):
        return next(e for e in check_dataset("cvusa", root, host=host, **kwargs)["splits"] if e["split"] == "cvusa_test")

    assert test_entry()["unreadable"] == 0
    entry = test_entry(decode=True)
    assert entry["unreadable"] == 1 and "cannot decode" in entry["unreadable_examples"][0]


def test_cvact_checks_both_test_protocols_and_tolerates_the_known_missing_pair(host, tmp_path):
    root = make_cvact(tmp_path / "CVACT", skip_ids=(act_ids(12)[1],))
    report = check_dataset("cvact", root, host=host)
    by_split = {e["split"]: e for e in report["splits"]}
    assert set(by_split) == {"cvact_train", "cvact_val", "cvact_test", "cvact_test [cvact_test=exact_id]"}
    train = by_split["cvact_train"]
    assert train["missing"] == 2 and "as in the official release" in train["note"]
    assert "files missing" not in train["status"]
    assert by_split["cvact_test [cvact_test=exact_id]"]["counts"]["queries"] == 6


def test_vigor_and_u1652_trees(host, tmp_path):
    vigor = check_dataset("vigor", make_vigor(tmp_path / "VIGOR", layout="sample4geo"), host=host)
    # Sample4Geo's layout holds only the corrected labels: labels=original is shown as unavailable
    unavailable = [e for e in vigor["splits"] if e["status"].startswith("unavailable: ")]
    assert len(unavailable) == 4 and all("[labels=original]" in e["split"] for e in unavailable)
    vigor["splits"] = [e for e in vigor["splits"] if e not in unavailable]
    assert [e["missing"] for e in vigor["splits"]] == [0, 0, 0, 0]
    assert {e["split"]: e["counts"]["queries"] for e in vigor["splits"]}["vigor_same_test"] == 8
    u1652 = check_dataset("university1652", make_u1652(tmp_path / "University-1652"), host=host)
    assert all(e["unreadable"] == 0 and e["missing"] == 0 for e in u1652["splits"])
    result = run("university1652", "--root", str(tmp_path / "University-1652"))
    assert "u1652_d2s" in result.output and result.exit_code == 1  # counts differ from the official


def test_missing_data_is_one_line_with_how_to_obtain(host, tmp_path):
    result = run("cvact")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Liumouliu/OriCNN" in result.output
    result = run("vigor", "--root", str(tmp_path / "nothing"))
    assert result.exit_code == 2 and "dataset folder does not exist" in result.output
    result = run("cvsua")
    assert result.exit_code == 2 and "did you mean 'cvusa'" in result.output
    assert run("cvusa_test", "--root", str(tmp_path / "x")).exit_code == 2  # a split name picks its dataset


def test_a_folder_checked_by_its_own_path_that_run_would_not_find_gets_a_note(make_host, tmp_path):
    make_host(tiny_plugin())
    make_cvusa(tmp_path / "data" / "Tiny-release")  # checked by its own path, but not named 'Tiny'
    result = run("tiny", "--data-root", str(tmp_path / "data" / "Tiny-release"))
    assert result.exit_code == 0, result.output
    assert "note: run and score will not find this folder" in result.stderr
    make_cvusa(tmp_path / "data2" / "Tiny")
    for root in (tmp_path / "data2", tmp_path / "data2" / "Tiny"):  # a data root, or the folder by its name
        named = run("tiny", "--data-root", str(root))
        assert named.exit_code == 0 and "will not find" not in named.stderr, named.stderr
    # the folder in another case, and a zip's nested folder: found as run and score find them (outside audit)
    make_cvusa(tmp_path / "data3" / "tiny")
    make_cvusa(tmp_path / "data4" / "Tiny" / "Tiny")
    for root in (tmp_path / "data3", tmp_path / "data4", tmp_path / "data4" / "Tiny"):
        found = run("tiny", "--data-root", str(root), "--json")
        assert found.exit_code == 0 and "will not find" not in found.stderr, (root, found.output)
        assert json.loads(found.stdout)["root"] in (str(tmp_path / "data3" / "tiny"),
                                                    str(tmp_path / "data4" / "Tiny" / "Tiny"))


def test_evaluation_queries_that_are_training_images_are_reported(host, tmp_path):
    root = make_cvusa(tmp_path / "CVUSA")
    train_csv, test_csv = root / "splits" / "train-19zl.csv", root / "splits" / "val-19zl.csv"
    clean = check_dataset("cvusa", root, host=host)
    assert not any("leaked_queries" in e or "also training" in e["status"] for e in clean["splits"])
    train_csv.write_text(train_csv.read_text() + test_csv.read_text().splitlines()[0] + "\n")  # one test pair leaks
    leaked = check_dataset("cvusa", root, host=host)
    (entry,) = [e for e in leaked["splits"] if e["split"] == "cvusa_test"]
    assert entry["leaked_queries"] == 1 and "1 query images are also training images" in entry["status"]
    assert not any(key.startswith("_") for e in leaked["splits"] for key in e)


def test_a_synthetic_dataset_is_checked_where_it_was_generated_and_a_data_root_is_named_unread(
        make_host, tmp_path, monkeypatch):
    """It reported --data-root as the folder checked while checking the cache, and without it failed
    on a cache folder that never exists (outside audit)."""
    monkeypatch.setenv("CVGL_BENCH_SYNTH_SIZE", "tiny")
    monkeypatch.setenv("CVGL_BENCH_CACHE", str(tmp_path / "cache"))
    make_host(entry_points=True)
    done = run("synth_cvusa", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["ok"] and report["root"].startswith(str(tmp_path / "cache" / "synth" / "cvusa-tiny-seed0-v"))
    other = run("synth_cvusa", "--json", "--data-root", str(tmp_path / "elsewhere"))
    assert other.exit_code == 0 and json.loads(other.stdout)["root"] == report["root"]
    assert "--data-root " + str(tmp_path / "elsewhere") + " is not read: synthetic splits" in other.stderr
    ids = CliRunner().invoke(cli, ["data", "ids", "synth_cvusa_test", "--data-root", str(tmp_path / "elsewhere")])
    assert ids.exit_code == 0 and ids.stdout.split() and "Error" not in ids.stdout
    assert "--data-root " + str(tmp_path / "elsewhere") + " is not read: synthetic splits" in ids.stderr


def altitude_300_elsewhere():
    """The ``alt`` plugin whose altitude-300 satellite images are in another folder."""
    import dataclasses

    from cvgl_bench.data.formats.cvusa import load_test

    def reader(root, protocol):
        data = load_test(root, {"r1pct": "floor", "ties": "strict"})
        if protocol["altitude"] == "300":
            paths = [str(p).replace("bingmap", "bingmap300") for p in data.references.paths]
            data = dataclasses.replace(data, references=dataclasses.replace(data.references, paths=paths))
        return dataclasses.replace(data, protocol=dict(protocol), fingerprint="")

    return altitude_plugin(reader)


def test_every_value_of_a_plugins_option_that_reads_other_files_is_checked(make_host, tmp_path):
    import shutil

    make_host(altitude_300_elsewhere())
    root = make_cvusa(tmp_path / "Alt")
    shutil.copytree(root / "bingmap", root / "bingmap300")
    (root / "bingmap300/19/0000005.jpg").write_bytes(b"<html>not an image</html>")
    result = run("alt", "--data-root", str(tmp_path), "--json")
    assert result.exit_code == 1, result.output
    by_split = {e["split"]: e for e in json.loads(result.output)["splits"]}
    assert set(by_split) == {"alt_test", "alt_test [altitude=300]"}  # ties is a metric's convention: not reloaded
    assert by_split["alt_test"]["status"] == "ok" and by_split["alt_test [altitude=300]"]["unreadable"] == 1
    shutil.rmtree(root / "bingmap300")
    (root / "bingmap300").mkdir()  # the altitude-300 images are not here at all: listed as such
    missing = {e["split"]: e for e in json.loads(run("alt", "--data-root", str(tmp_path), "--json").output)["splits"]}
    assert missing["alt_test [altitude=300]"]["missing"] == 2


def test_data_check_reads_images_as_the_runs_do(host, tmp_path):
    from PIL import Image

    from cvgl_bench.data.check import file_problem
    from cvgl_bench.data.images import decode_resize

    grey16 = np.full((8, 8), 40000, dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    assert file_problem(str(tmp_path / "grey16.png"), decode=True) is None
    assert decode_resize(str(tmp_path / "grey16.png"), (8, 8)).max() == round(40000 / 257)  # not clipped to 255
    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "photo.tif")
    assert file_problem(str(tmp_path / "photo.tif")) is None  # a run decodes it, so it is readable
    assert decode_resize(str(tmp_path / "photo.tif"), (8, 8))[0, 0].tolist() == [10, 20, 30]
    Image.fromarray(np.full((8, 8), 3.5, dtype=np.float32)).save(tmp_path / "depth.tif")
    assert "no known range" in file_problem(str(tmp_path / "depth.tif"), decode=True)
    (tmp_path / "notes.jpg").write_text("hello")
    assert file_problem(str(tmp_path / "notes.jpg")) == "not an image Pillow can read"


@pytest.mark.parametrize("returned, code, line", [
    ({"sha256": "ab12", "problems": []}, 0, "tiny: its plugin's check: ok"),
    ({"problems": ["readme.txt is missing"]}, 1, "tiny: its plugin's check: readme.txt is missing"),
    (["readme.txt is missing"], 2, "its check(root) must return a dict whose optional 'problems' is a list of lines"),
    (RuntimeError("no checksum file"), 2, "Error: dataset 'tiny' of (in-process) (plugin 'checked'): its check(root) "
                                          "failed: RuntimeError: no checksum file"),
])
def test_a_datasets_own_check_runs_after_the_splits(make_host, tmp_path, returned, code, line):
    def check(root):
        assert Path(root) == tmp_path / "data" / "Tiny"
        if isinstance(returned, Exception):
            raise returned
        return returned

    plugin = tiny_plugin()
    plugin.cvgl_bench_register_datasets = hookimpl(lambda register: register(
        DatasetSpec(name="tiny", loader=check, folder="Tiny")))
    plugin.__name__ = "checked"
    make_host(plugin)
    make_cvusa(tmp_path / "data" / "Tiny")
    result = run("tiny", "--data-root", str(tmp_path / "data"))
    assert result.exit_code == code and line in result.output, result.output
    if code == 0:
        report = json.loads(run("tiny", "--data-root", str(tmp_path / "data"), "--json").output)
        assert report["dataset_check"] == {"sha256": "ab12", "problems": []}
