"""The one reading of the flag and number environment variables (:mod:`cvgl_bench.envvars`):
unset or blank is the default, a value of the right kind in range is read, and anything else is
refused in one line naming the variable and the value, never read as something else."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cvgl_bench import envvars
from cvgl_bench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
NAME = "CVGL_BENCH_TEST_VARIABLE"


@pytest.mark.parametrize("text,expected", [
    (None, False), ("", False), ("  ", False), ("0", False), ("false", False), ("No", False), ("OFF", False),
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), (" on ", True)])
def test_a_flag_reads_the_usual_spellings_of_on_and_off(monkeypatch, text, expected):
    if text is None:
        monkeypatch.delenv(NAME, raising=False)
    else:
        monkeypatch.setenv(NAME, text)
    assert envvars.flag(NAME) is expected


@pytest.mark.parametrize("text", ["ture", "2", "-1", "y", "enabled", "1.0", "truee"])
def test_a_flag_that_is_no_switch_is_refused_not_read_as_off(monkeypatch, text):
    monkeypatch.setenv(NAME, text)
    with pytest.raises(ConfigError, match=f"^{NAME} must be 1 or 0 .*, not '{text}'$"):
        envvars.flag(NAME)


@pytest.mark.parametrize("text,expected", [("", 7), (" ", 7), ("1", 1), ("64", 64), (" 12 ", 12), ("+3", 3)])
def test_an_integer_in_range_is_read_and_blank_is_the_default(monkeypatch, text, expected):
    monkeypatch.setenv(NAME, text)
    assert envvars.integer(NAME, 7, 1, 64) == expected


@pytest.mark.parametrize("text", ["0", "65", "-1", "2.5", "1e3", "two", "1_0", "٣", "9" * 5000, "0x10", "nan"])
def test_an_integer_out_of_range_or_of_another_kind_is_refused(monkeypatch, text):
    monkeypatch.setenv(NAME, text)
    with pytest.raises(ConfigError) as caught:
        envvars.integer(NAME, 7, 1, 64)
    assert str(caught.value) == f"{NAME} must be an integer from 1 to 64, not {text!r}"


def test_an_unbounded_integer_takes_any_sign_and_size(monkeypatch):
    for text, expected in (("-5", -5), ("10" * 10, int("10" * 10))):
        monkeypatch.setenv(NAME, text)
        assert envvars.integer(NAME, 0) == expected
    monkeypatch.setenv(NAME, "1.5")
    with pytest.raises(ConfigError, match=f"^{NAME} must be an integer, not '1.5'$"):
        envvars.integer(NAME, 0)


@pytest.mark.parametrize("text,expected", [("", 30.0), ("0", 0.0), ("2.5", 2.5), ("1e8", 1e8), (" 7 ", 7.0)])
def test_a_number_in_range_is_read(monkeypatch, text, expected):
    monkeypatch.setenv(NAME, text)
    assert envvars.number(NAME, 30.0, 0, 1e8, "a number of seconds") == expected


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "-inf", "1e400", "1e9", "abc", "1_000", "10s"])
def test_a_number_out_of_range_or_of_another_kind_is_refused(monkeypatch, text):
    monkeypatch.setenv(NAME, text)
    with pytest.raises(ConfigError) as caught:
        envvars.number(NAME, 30.0, 0, 1e8, "a number of seconds")
    assert str(caught.value) == f"{NAME} must be a number of seconds from 0 to 1e+08, not {text!r}"


def test_infinity_is_read_only_where_it_is_the_upper_bound(monkeypatch):
    monkeypatch.setenv(NAME, "inf")
    assert envvars.number(NAME, 30.0, 0, math.inf) == math.inf
    monkeypatch.setenv(NAME, "nan")
    with pytest.raises(ConfigError, match=f"^{NAME} must be a number >= 0, not 'nan'$"):
        envvars.number(NAME, 30.0, 0, math.inf)


@pytest.mark.parametrize("name", ["CVGL_BENCH_STRICT_PLUGINS", "CVGL_BENCH_NO_ENTRYPOINTS", "CVGL_BENCH_DEBUG"])
def test_a_mistyped_switch_ends_the_command_in_one_line(tmp_path, name):
    """These three were read as off for any value but 1, true or yes: ``CVGL_BENCH_STRICT_PLUGINS=ture``
    let a broken plugin through without a word."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "CVGL_BENCH_NO_ENTRYPOINTS": "0",
           "CVGL_BENCH_CACHE": str(tmp_path / "cache"), name: "ture"}
    proc = subprocess.run([sys.executable, "-m", "cvgl_bench", "plugins"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"Error: {name} must be 1 or 0 (or true/false, yes/no, on/off), not 'ture'"]
    assert proc.stdout == ""
