import pytest

from cvgl_bench import DatasetSpec, SplitSpec
from cvgl_bench.dataroot import resolve_root
from cvgl_bench.errors import DataNotFoundError

CVACT = DatasetSpec(name="cvact", loader=None, folder="CVACT", obtain="request it from the ANU authors")
SPLIT = SplitSpec(name="cvact_test", loader="x:y", dataset="cvact", twin="synth_cvact_test")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("CVGL_DATA_ROOT", raising=False)
    monkeypatch.setenv("CVGL_BENCH_CONFIG", str(tmp_path / "config.yaml"))


def test_missing_data_is_one_actionable_line():
    with pytest.raises(DataNotFoundError) as info:
        resolve_root(CVACT, None, SPLIT)
    message = str(info.value)
    assert "\n" not in message and "request it from the ANU authors" in message
    assert "--dataset synth_cvact_test" in message and "CVGL_DATA_ROOT" in message


def test_a_config_file_the_variable_names_but_that_does_not_exist_is_named(tmp_path):
    """CVGL_BENCH_CONFIG with a typo read as no config at all, and the message said only that no
    data_root was set (outside fuzzing of the environment)."""
    with pytest.raises(DataNotFoundError) as info:
        resolve_root(CVACT, None, SPLIT)
    assert f"CVGL_BENCH_CONFIG names {tmp_path / 'config.yaml'}, which does not exist" in str(info.value)
    (tmp_path / "config.yaml").write_text("{}\n")
    with pytest.raises(DataNotFoundError) as info:
        resolve_root(CVACT, None, SPLIT)
    assert "CVGL_BENCH_CONFIG" not in str(info.value)


def test_resolution_order(tmp_path, monkeypatch):
    (tmp_path / "flag" / "CVACT").mkdir(parents=True)
    (tmp_path / "env" / "CVACT").mkdir(parents=True)
    (tmp_path / "cfg" / "CVACT").mkdir(parents=True)
    (tmp_path / "config.yaml").write_text(f"data_root: {tmp_path / 'cfg'}\n")
    assert resolve_root(CVACT) == tmp_path / "cfg" / "CVACT"
    monkeypatch.setenv("CVGL_DATA_ROOT", str(tmp_path / "env"))
    assert resolve_root(CVACT) == tmp_path / "env" / "CVACT"
    assert resolve_root(CVACT, tmp_path / "flag") == tmp_path / "flag" / "CVACT"
    assert resolve_root(CVACT, tmp_path / "flag" / "CVACT") == tmp_path / "flag" / "CVACT"


def test_per_dataset_config_entry_and_error_names_places(tmp_path, monkeypatch):
    elsewhere = tmp_path / "my_act_copy"
    elsewhere.mkdir()
    (tmp_path / "config.yaml").write_text(f"datasets:\n  cvact: {elsewhere}\n")
    assert resolve_root(CVACT) == elsewhere
    (tmp_path / "config.yaml").write_text("")
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "nowhere" / "CVACT")):
        resolve_root(CVACT, tmp_path / "nowhere")


def test_a_case_variant_and_a_zip_unpacked_one_folder_too_deep_are_found(tmp_path):
    (tmp_path / "a" / "cvact").mkdir(parents=True)
    assert resolve_root(CVACT, tmp_path / "a") == tmp_path / "a" / "cvact"
    (tmp_path / "b" / "CVACT" / "CVACT").mkdir(parents=True)
    assert resolve_root(CVACT, tmp_path / "b") == tmp_path / "b" / "CVACT" / "CVACT"
    assert resolve_root(CVACT, tmp_path / "b" / "CVACT") == tmp_path / "b" / "CVACT" / "CVACT"
    (tmp_path / "b" / "CVACT" / "ACT_data.mat").write_bytes(b"")  # beside another file, the inner folder is data
    assert resolve_root(CVACT, tmp_path / "b") == tmp_path / "b" / "CVACT"


def test_a_folder_named_almost_like_the_dataset_is_named_in_the_error(tmp_path):
    u1652 = DatasetSpec(name="university1652", loader=None, folder="University-1652")
    (tmp_path / "University-Release").mkdir()
    with pytest.raises(DataNotFoundError, match=f"found {tmp_path / 'University-Release'}: if it is the dataset, "
                                                "rename it University-1652"):
        resolve_root(u1652, tmp_path)


def test_near_miss_names_a_case_twin_or_a_folder(tmp_path):
    from cvgl_bench.fsutil import near_miss, not_a_file

    (tmp_path / "0001.JPG").write_bytes(b"x")
    (tmp_path / "0002.jpg").mkdir()
    assert near_miss(tmp_path / "0001.jpg") == " (0001.JPG is there: the names differ in case)"
    assert near_miss(tmp_path / "0002.jpg") == " (it is a folder)"
    assert near_miss(tmp_path / "0003.jpg") == "" and near_miss(tmp_path / "no" / "0003.jpg") == ""
    assert not_a_file(tmp_path / "0001.jpg") == "does not exist (0001.JPG is there: the names differ in case)"


def test_bad_config_file_is_a_one_line_error(tmp_path):
    from cvgl_bench.errors import ConfigError

    (tmp_path / "config.yaml").write_text("data_root: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        resolve_root(CVACT)


@pytest.mark.parametrize("text,message", [
    ("datasets: 5\n", "'datasets' must map dataset names to folders"),
    ("datasets: [cvact]\n", "'datasets' must map dataset names to folders"),
    ("datasets: {1: /x}\n", "'datasets' must map dataset names to folders"),
    ("data_root: 5\n", "data_root must be a folder, not 5"),
    ("data_root: ' '\n", "data_root must be a folder, not ' '"),
    ("datasets: {cvact: [a]}\n", "datasets.cvact must be a folder, not \\['a'\\]"),
    ("dataroot: /data\n", "unknown key 'dataroot'; the config holds data_root and datasets"),
])
def test_a_config_of_the_wrong_shape_is_one_line_not_a_traceback_or_ignored(tmp_path, text, message):
    """'datasets: 5' ended in an AttributeError traceback, 'data_root: 5' in a TypeError, and a
    misspelt key such as 'dataroot' was ignored: the data was then 'not found' in no place."""
    from cvgl_bench.errors import ConfigError

    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve_root(CVACT)
