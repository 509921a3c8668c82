import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvgl_bench import results
from cvgl_bench.errors import DataError
from cvgl_bench.fsutil import atomic_open, write_json


def make_record(seed=0, method="m", r1=50.0):
    rec = results.new_record(
        method=method, profile="cpu", seed=seed, train_split="a_train", eval_split="a_test",
        config_hash="abc123", protocol={"r1pct": "floor"},
        provenance={"cvgl_bench_version": "0", "git": {}, "device": "cpu", "world_size": 1, "global_batch": 8,
                    "dataset_fingerprint": "f00", "seed": seed, "wall_time_s": {"train": 1.0}},
        in_domain_train_split="a_train",
    )
    rec.metrics["recall@1"] = results.MetricValue(value=r1, convention="strict ranks", ci95=[r1 - 5, r1 + 5],
                                                  higher_is_better=True)
    rec.n_queries = rec.n_references = 10
    return rec


def test_write_read_load_round_trip(tmp_path, host):
    for seed in range(3):
        rec = make_record(seed, r1=10.0 * seed)
        path = results.record_path(tmp_path, rec)
        results.write(rec, path, ranks={"rank_strict": np.arange(10)})
    path = results.record_path(tmp_path, make_record(1))
    assert path.name == "a_train__a_test__seed1.json" and path.parent.name == "cpu"
    back = results.read(path)
    assert back.cell.task == "in-domain" and back.metrics["recall@1"].value == 10.0
    assert back.to_dict() == json.loads(path.read_text())
    assert results.read_ranks(path, back)["rank_strict"].tolist() == list(range(10))
    frame = results.load(tmp_path)
    assert sorted(frame["seed"]) == [0, 1, 2] and set(frame["recall@1"]) == {0.0, 10.0, 20.0}
    assert frame["recall@1.convention"].iloc[0] == "strict ranks"


def test_how_the_intervals_were_drawn_round_trips_and_is_checked(tmp_path):
    rec = make_record()
    rec.intervals = results.IntervalInfo(places=4, resamples=1000, seed=7)
    path = results.record_path(tmp_path, rec)
    results.write(rec, path, ranks={"rank_strict": np.arange(10)})
    assert results.read(path).intervals == results.IntervalInfo(4, 1000, 7)
    assert json.loads(path.read_text())["intervals"] == {"places": 4, "resamples": 1000, "seed": 7}
    assert results.load(tmp_path)["n_places"].tolist() == [4]
    data = json.loads(path.read_text())
    del data["intervals"]  # a record made when intervals resampled queries
    assert results.Record.from_dict(data).intervals is None
    for bad in ("four", {"places": 4, "resamples": 1000}, {"places": -1, "resamples": 1000, "seed": 0},
                {"places": 4.5, "resamples": 1000, "seed": 0}):
        with pytest.raises(DataError, match="field 'intervals' must hold non-negative integers"):
            results.Record.from_dict({**data, "intervals": bad})


def test_transfer_task_is_recognised():
    rec = results.new_record(method="m", profile="cpu", seed=0, train_split="b_train", eval_split="a_test",
                             config_hash="x", protocol={}, provenance={}, in_domain_train_split="a_train")
    assert rec.cell.task == "transfer"


def test_crash_mid_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    write_json(target, {"old": True})

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with atomic_open(target) as handle:
            handle.write('{"new": ')
            raise Boom()
    assert json.loads(target.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["r.json"]

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_json(target, {"newer": True})
    assert json.loads(target.read_text()) == {"old": True} and os.listdir(tmp_path) == ["r.json"]


def test_killed_writer_never_exposes_partial_json(tmp_path):
    """A real process killed with SIGKILL in the middle of a write leaves the old file intact."""
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "r.json"
    write_json(target, {"old": True})
    code = (
        "import sys, time; from cvgl_bench.fsutil import atomic_open\n"
        f"with atomic_open({str(target)!r}) as h:\n"
        "    h.write('{\"half\": '); h.flush(); print('ready', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.1)
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["r.json"]
    # the orphaned temp file is hidden and never read as a record; r.json itself is no record
    with pytest.warns(UserWarning, match="missing field 'schema'"):
        assert results.load(tmp_path).empty


def test_validation_errors_name_the_field(tmp_path):
    rec = make_record().to_dict()
    del rec["provenance"]["seed"]
    with pytest.raises(DataError, match="provenance.seed"):
        results.validate(rec)
    rec = make_record().to_dict()
    rec["metrics"]["recall@5"] = {"value": 1.0}
    with pytest.raises(DataError, match="convention"):
        results.validate(rec)
    rec = make_record().to_dict()
    rec["schema_version"] = 99
    with pytest.raises(DataError, match="upgrade cvgl-bench"):
        results.validate(rec)
    rec = make_record().to_dict()
    rec["cell"]["task"] = "sideways"
    with pytest.raises(DataError, match="cell.task"):
        results.validate(rec)
    rec = make_record()
    del rec.provenance["git"]
    with pytest.raises(DataError, match="provenance.git"):  # a record is checked before it is written
        results.write(rec, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("key,value", [("method", "../../x"), ("method", 5), ("method", "My Net"),
                                       ("profile", ".."), ("eval_split", None), ("train_split", "a/b")])
def test_a_record_whose_names_cvgl_bench_could_not_have_written_is_refused(tmp_path, key, value):
    """A record's method, profile and splits name files and rows; one that breaks the name rule
    (a '..' method put figures outside the board's folder) is refused, and the board skips it."""
    rec = make_record().to_dict()
    rec["cell"][key] = value
    with pytest.raises(DataError, match=f"cell.{key} {value!r} is not a name cvgl-bench writes"):
        results.validate(rec)
    (tmp_path / "r.json").write_text(json.dumps(rec))
    with pytest.warns(UserWarning, match=f"cell.{key}"):
        assert results.load(tmp_path).empty


def test_schema_1_records_are_read_and_upgraded(tmp_path):
    """Records written before schema 2 keep reading: the seed-free configuration is derived from the
    runner's hash of their own fields, the split facts from what the split reader said."""
    rec = make_record(seed=3).to_dict()
    del rec["split"], rec["cell"]["configuration_id"]
    rec["schema_version"] = 1
    rec["cell"]["hparams"] = {"lr": 0.001}
    rec["provenance"]["train_fingerprint"] = "tf"
    rec["provenance"]["data_info"] = {"synthetic": {"real_split": "cvusa_test", "size": "small"}}
    fields = ("m", "", "cpu", {"lr": 0.001}, "a_train", "tf")
    rec["cell"]["config_hash"] = results.config_hash(*fields, 3)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(rec))
    back = results.read(path)
    assert back.schema_version == results.SCHEMA_VERSION
    assert back.cell.configuration_id == results.configuration_id(*fields) == results.config_hash(*fields, -1)
    assert back.split == results.SplitInfo(synthetic=True, twin="cvusa_test")
    rec["cell"]["config_hash"] = "made-by-another-tool"
    path.write_text(json.dumps(rec))
    assert results.read(path).cell.configuration_id == "made-by-another-tool"


def test_committed_leaderboard_records_read_under_the_current_schema():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "leaderboards" / "synth" / "results"
    found = list(results.iter_records(root))
    assert found and all(r.schema_version == results.SCHEMA_VERSION and r.split.synthetic for _, r in found)
    # one trained model per (method, seed, training split): its records share the configuration over seeds
    by_model = {}
    for _, r in found:
        by_model.setdefault((r.cell.method, r.cell.profile, r.cell.variant, r.cell.train_split), set()).add(
            r.cell.configuration_id)
    assert all(len(ids) == 1 for ids in by_model.values())


def test_bad_files_are_skipped_with_a_warning_and_checksums_are_checked(tmp_path, host):
    rec = make_record()
    path = results.record_path(tmp_path, rec)
    results.write(rec, path, ranks={"rank_strict": np.arange(3)})
    (tmp_path / "m" / "junk.json").write_text("{not json")
    with pytest.warns(UserWarning, match="cannot read record"):
        frame = results.load(tmp_path)
    assert len(frame) == 1
    results.ranks_path(path).write_bytes(b"tampered")
    with pytest.raises(DataError, match="checksum"):
        results.read_ranks(path)
    with pytest.raises(DataError, match="does not exist"):
        results.load(tmp_path / "nope")


def test_results_sink_receives_each_record(tmp_path, make_host):
    import importlib

    good = importlib.import_module("tests.fake_plugins.good")
    good.SINK_CALLS.clear()
    host = make_host(good)
    rec = make_record()
    path = results.record_path(tmp_path, rec)
    results.write(rec, path, host=host)
    assert good.SINK_CALLS == [("m", path)]


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from cvgl_bench.fsutil import write_json

    path = tmp_path / "r.json"
    write_json(path, {"a": 1})
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


# -- records name no folder of the machine that wrote them ------------------------------------
def test_the_checkpoint_is_stored_relative_to_the_runs_folder(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    model = runs / "m" / "cpu" / "a_train" / "seed0-abc" / "model.pt"
    entry = results.checkpoint_entry(model, runs, "0" * 64)
    assert entry == {"file": "m/cpu/a_train/seed0-abc/model.pt", "sha256": "0" * 64}
    monkeypatch.chdir(tmp_path)  # the CLI's default runs folder is relative
    assert results.checkpoint_entry("runs/m/model.pt", "runs", "x")["file"] == "m/model.pt"
    with pytest.raises(ValueError, match="not under the runs folder"):
        results.checkpoint_entry(tmp_path / "elsewhere" / "model.pt", runs, "x")


def test_the_checkpoint_is_found_under_the_runs_folder_and_old_absolute_paths_still_read(tmp_path):
    record = make_record()
    assert results.checkpoint_file(record, tmp_path) is None  # no checkpoint named
    record.checkpoint = results.CheckpointRef("m/cpu/model.pt", "")
    assert results.checkpoint_file(record, tmp_path / "runs") == tmp_path / "runs" / "m" / "cpu" / "model.pt"
    assert results.checkpoint_file(record) == Path("runs") / "m" / "cpu" / "model.pt"
    assert results.checkpoint_file(record.to_dict()) == Path("runs") / "m" / "cpu" / "model.pt"  # the JSON form
    record.checkpoint = results.CheckpointRef(str(tmp_path / "old" / "model.pt"), "")  # written before
    assert results.checkpoint_file(record, tmp_path / "runs") == tmp_path / "old" / "model.pt"


def test_portable_paths_label_every_known_folder(tmp_path):
    cache, data, home = tmp_path / "home" / ".cache" / "cvgl-bench", tmp_path / "data", tmp_path / "home"
    info = {"split_file": f"{data}/CVUSA/splits/val-19zl.csv", "layout": "cvusa", "n": 3,
            "files": f"{cache}/synth/v/a.txt, {cache}/synth/v/b.txt",
            "synthetic": {"root": str(cache / "synth" / "v"), "seed": 0},
            "list": [f"{home}/notes.txt", f"{home}x/other"], "mat": f"{data}/CVACT/ACT_data.mat valSet.valInd",
            "folder": str(data)}
    out = results.portable_paths(info, [("<cache>", cache), ("~", home), ("<data>", data)])
    assert out == {"split_file": "<data>/CVUSA/splits/val-19zl.csv", "layout": "cvusa", "n": 3,
                   "files": "<cache>/synth/v/a.txt, <cache>/synth/v/b.txt",
                   "synthetic": {"root": "<cache>/synth/v", "seed": 0},
                   "list": ["~/notes.txt", f"{home}x/other"],  # only whole folder names are replaced
                   "mat": "<data>/CVACT/ACT_data.mat valSet.valInd", "folder": "<data>"}
    assert str(tmp_path) not in json.dumps({k: v for k, v in out.items() if k != "list"})


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_a_file_part_is_one_component_inside_its_folder(part):
    """Whatever a record or a hand-made cell names (``..``, ``a/b``, a NUL), a record's or a run's
    path stays one component below its folder."""
    name = results.file_part(part)
    assert len(name) == len(part) and "/" not in name and "\0" not in name
    assert not name.startswith(".") and (Path("/root") / name).parent == Path("/root") or not name


def test_a_variant_of_many_overrides_gets_a_record_name_a_file_system_takes(tmp_path):
    """A run with a dozen ``--set`` overrides trained and evaluated, then ended in 'File name too
    long' for its ranks file, on every rerun (outside audit): long names keep their start and a
    digest of the whole; every name that fitted is kept as it was."""
    rec = make_record(seed=3)
    long_variants = [",".join(f"augment.option_{k}={i}" for k in range(16)) for i in range(2)]
    paths = [results.record_path(tmp_path, rec, variant) for variant in long_variants]
    assert paths[0] != paths[1] and all(p.name.endswith("__seed3.json") for p in paths)
    assert all(len(results.ranks_path(p).name) == results.MAX_FILE_NAME for p in paths)
    assert paths[0].name.startswith("a_train__a_test__augment.option_0_0_augment.option_1_0")
    host_tag = "h" * 32  # the longest host name a temporary file beside it has room for
    assert len(f".{results.ranks_path(paths[0]).name}.{host_tag}-4194304.abcdefgh.tmp".encode()) <= 255
    results.write(rec, paths[0], ranks={"rank_strict": np.arange(10)})
    assert results.read(paths[0]).cell.seed == 3
    assert results.record_path(tmp_path, rec, "ncm=off").name == "a_train__a_test__ncm_off__seed3.json"


@given(st.text(alphabet="abc=,_.", max_size=300))
@settings(max_examples=200, deadline=None)
def test_fit_name_is_the_name_when_it_fits_and_a_fixed_length_digest_name_when_not(name):
    fitted = results.fit_name(name, 40)
    assert fitted == name if len(name) <= 40 else (len(fitted) == 40 and fitted.startswith(name[:27]))


def test_a_record_names_the_cpu_beyond_the_model_name_a_virtual_machine_shows():
    """Two 'AMD EPYC' machines (Zen 4 and Zen 5) train the same cell to different bits; the
    provenance said only 'AMD EPYC', so a checkpoint that did not reproduce could not be traced."""
    import torch  # noqa: F401 - device_info reads torch's kernels only once torch is imported

    from cvgl_bench.provenance import cpu_signature, device_info

    two = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n"
           "stepping\t: 1\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n")
    assert cpu_signature(two) == "AuthenticAMD family 26 model 2 stepping 1"
    assert cpu_signature("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n") is None  # arm64
    info = device_info("cpu")
    assert isinstance(info["cpu_capability"], str) and info["cpu_capability"]  # AVX512, AVX2, DEFAULT...
    assert info["cpu_id"] == cpu_signature()
