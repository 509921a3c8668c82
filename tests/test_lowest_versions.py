"""scripts/lowest-versions.txt is setup.cfg's floors, so scripts/check_lowest_versions.sh tests them."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
UNTESTED: set[str] = set()  # every floor is tested, torch's too


def _floors(setup_cfg: Path) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    floors = {}
    for line in parser["options"]["install_requires"].split("\n"):
        found = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][0-9A-Za-z.]*))?\s*", line)
        if line.strip():
            assert found, f"{setup_cfg}: cannot read requirement {line!r}"
            floors[found.group(1).lower()] = found.group(2) or ""
    return floors


def test_the_lowest_versions_are_the_floors_of_setup_cfg():
    pins = dict(line.split("==") for line in (REPO / "scripts/lowest-versions.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    core = _floors(REPO / "setup.cfg")
    assert {name for name in core if name not in UNTESTED} == set(pins) - UNTESTED
    assert all(core[name] and Version(pins[name]) == Version(core[name]) for name in set(pins) - UNTESTED), \
        (core, pins)
    for plugin in sorted((REPO / "plugins").glob("*/setup.cfg")):
        own = _floors(plugin)
        assert {name: own[name] for name in own if name in core} == {name: core[name] for name in own if name in core}, \
            f"{plugin} declares other floors than cvgl-bench's"
