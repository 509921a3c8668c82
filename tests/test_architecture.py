"""The import direction of docs/architecture.md holds in the code (tools/import_scan.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _scan() -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "import_scan.py"), "--json"], capture_output=True,
                          text=True, check=True, timeout=120)
    return json.loads(done.stdout)


def test_no_circle_no_wrong_way_arrow_and_every_package_has_a_layer():
    report = _scan()
    assert report["package_circles"] == [] and report["module_circles"] == []
    assert report["wrong_way"] == [], report["wrong_way"]
    assert report["unlayered"] == [], "add the new package to LAYERS in tools/import_scan.py and docs/architecture.md"


def test_the_architecture_page_names_every_package():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [p for p in _scan()["packages"] if p not in ("__init__", "__main__") and f"`{p}`" not in page]
    assert not missing, f"docs/architecture.md does not name {missing}"
