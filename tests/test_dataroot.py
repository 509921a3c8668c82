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


def test_bad_config_file_is_a_one_line_error(tmp_path):
    from cvgl_bench.errors import ConfigError

    (tmp_path / "config.yaml").write_text("data_root: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        resolve_root(CVACT)
