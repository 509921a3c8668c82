"""The command line's output helpers: JSON that strict readers accept."""

import json
import math

import pytest

from cvgl_bench.console import echo_json


def test_echo_json_prints_strict_json(capsys):
    echo_json({"value": 1.5, "path": __import__("pathlib").Path("a/b"), "none": None})
    assert json.loads(capsys.readouterr().out) == {"value": 1.5, "path": "a/b", "none": None}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_echo_json_refuses_what_json_cannot_hold(bad, capsys):
    with pytest.raises(ValueError):
        echo_json({"metrics": {"recall@1": bad}})
    assert capsys.readouterr().out == ""  # nothing half-printed
