"""The HTML leaderboard in a real headless browser: the page renders, a column sorts, and a
screenshot is saved for a person to look at. Skipped where no Chromium is installed
(Debian: ``apt-get install chromium``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from .leaderboard_fakes import make_results

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (apt-get install chromium)")
SCREENSHOT_DIR = os.environ.get("CVGL_BENCH_SCREENSHOTS")
"""Where to keep the screenshot (default: the test's temporary folder)."""


def _browser(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--allow-file-access-from-files", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def board_page(tmp_path_factory):
    from cvgl_bench.leaderboard.render import render
    from .leaderboard_fakes import build

    root = tmp_path_factory.mktemp("board")
    tasks = [("synth_cvusa_train", "synth_cvusa_test", "synth_cvusa_train", 200, 400)]
    make_results(root / "results", tasks, methods=("sample4geo", "clnet", "safa"), seeds=(0, 1, 2))
    board = build(root / "results", n_boot=200)
    render(board, root / "html", "html", examples=False)
    (page,) = [p for p in (root / "html").glob("in-domain__*.html")]
    return page


def _first_table_methods(dom: str) -> list[str]:
    table = dom.split('<table class="sortable">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], flags=re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)[1] for row in rows]


def test_the_board_sorts_by_a_column_in_the_browser(board_page):
    default = _browser("--dump-dom", board_page.as_uri())
    assert default.returncode == 0, default.stderr[-1500:]
    ranked = _first_table_methods(default.stdout)
    assert len(ranked) == 3 and ranked != sorted(ranked)  # best first, as rendered: not alphabetical
    by_name = _browser("--dump-dom", board_page.as_uri() + "#sort=0:1:asc")
    names = _first_table_methods(by_name.stdout)
    assert names == sorted(names) and names != ranked
    assert 'aria-sort="ascending"' in by_name.stdout
    worst_first = _first_table_methods(_browser("--dump-dom", board_page.as_uri() + "#sort=0:5:asc").stdout)
    assert worst_first == ranked[::-1]  # R@1 ascending: the numeric sort, not a text sort


def test_a_screenshot_of_the_board(board_page, tmp_path):
    out = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "leaderboard_page.png"
    done = _browser(f"--screenshot={shot}", "--window-size=1300,1000", board_page.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-1500:]
    from PIL import Image

    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"))
    assert image.size == (1300, 1000) and pixels.std() > 10  # something was drawn, not a blank page
