"""docs/plugins.md cannot rot: every fenced code block in it is executed, in order.

In an empty temporary folder, with the tiny synthetic world:

- a block whose first line is ``# file: PATH`` is written to ``PATH`` (python, ini, toml);
- any other ``python`` block runs as a script (``python -c``) in the folder;
- a ``bash`` block runs in ``bash -euo pipefail``; ``pip install -e DIR`` is run as a real pip
  install of DIR into a folder on ``PYTHONPATH`` (``--target``), so that the test never changes
  the virtual environment it runs in, while entry points are discovered exactly as after an
  install. Where the environment has setuptools, the package is built with it
  (``--no-build-isolation``): an isolated build downloads setuptools from the index, the one
  step of the guide that needs the network (``scripts/ci_outside_plugin.sh`` keeps a real
  isolated install).

Entry points are on (as for a user), plugin failures are errors (``CVGL_BENCH_STRICT_PLUGINS``),
the user config file is out of the way, and every process uses one CPU thread. A block of any
other language fails the test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .synth_tiny import tiny_synth_dir  # noqa: F401 - fixture

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.M | re.S)
FILE_LINE = re.compile(r"^# file: (\S+)\n")
PIP_EDITABLE = re.compile(r"^pip install -e (\S+)\s*$", re.M)
LANGUAGES = {"python", "bash", "ini", "toml"}


@dataclass
class Block:
    language: str
    body: str
    line: int

    @property
    def file(self) -> str | None:
        match = FILE_LINE.match(self.body)
        return match.group(1) if match else None


def doc_blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the guide, in order, with the line it starts on."""
    text = DOC.read_text(encoding="utf-8") if text is None else text
    return [Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def test_the_fence_parser_finds_every_block():
    text = "intro\n```python\nprint(1)\n```\nmid\n```bash\necho\n```\n"
    blocks = doc_blocks(text)
    assert [(b.language, b.body, b.line) for b in blocks] == [("python", "print(1)\n", 2), ("bash", "echo\n", 6)]
    fences = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.lstrip().startswith("```")]
    assert len(fences) == 2 * len(doc_blocks()), "a fenced block of docs/plugins.md is not recognised"


def test_every_block_is_of_a_kind_the_test_executes():
    blocks = doc_blocks()
    assert len(blocks) >= 20
    for block in blocks:
        assert block.language in LANGUAGES, f"docs/plugins.md:{block.line}: block of language {block.language!r}"
        if block.language in ("ini", "toml"):
            assert block.file, f"docs/plugins.md:{block.line}: a config block must start with '# file: PATH'"
        if block.language == "python":
            compile(block.body, f"docs/plugins.md:{block.line}", "exec")


def _environment(tmp: Path, site: Path, cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CVGL_BENCH_NO_ENTRYPOINTS", "CVGL_DATA_ROOT", "CVGL_BENCH_SYNTH_SEED", "PYTHONPATH"):
        env.pop(name, None)
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(site),
        "CVGL_BENCH_SYNTH_SIZE": "tiny",
        "CVGL_BENCH_CACHE": str(cache),
        "CVGL_BENCH_CONFIG": str(tmp / "no-config.yaml"),
        "CVGL_BENCH_STRICT_PLUGINS": "1",
        # One CPU thread per process: on a busy shared machine two OpenMP threads can wait on each
        # other for seconds per step (measured 30x slower than one thread under load).
        "OMP_NUM_THREADS": "1",
        "CVGL_BENCH_THREADS": "1",
    })
    return env


def _bash(body: str, site: Path) -> str:
    isolation = "--no-build-isolation " if importlib.util.find_spec("setuptools") else ""
    pip = f"{sys.executable} -m pip install -q --disable-pip-version-check --no-deps {isolation}--target {site} \\1"
    return PIP_EDITABLE.sub(pip, body)


def _run(block: Block, work: Path, env: dict[str, str]) -> str:
    if block.language == "python":
        command = [sys.executable, "-c", block.body]
    else:
        command = ["bash", "-euo", "pipefail", "-c", _bash(block.body, Path(env["PYTHONPATH"]))]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=400)
    output = done.stdout + done.stderr
    assert done.returncode == 0, (f"docs/plugins.md:{block.line}: {block.language} block exited {done.returncode}:\n"
                                  f"{output[-3000:]}")
    return output


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_block_of_the_guide_runs_in_order(tmp_path, tiny_synth_dir):  # noqa: F811 - fixture
    work, site = tmp_path / "work", tmp_path / "site"
    work.mkdir()
    site.mkdir()
    env = _environment(tmp_path, site, tiny_synth_dir)
    outputs = []
    for block in doc_blocks():
        if block.file:
            path = work / block.file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(FILE_LINE.sub("", block.body, count=1), encoding="utf-8")
            continue
        outputs.append(_run(block, work, env))
    printed = "\n".join(outputs)

    # what the guide says happened, happened
    assert re.search(r"^my_method\s", printed, re.M), "new-plugin's method is not listed by 'cvgl-bench methods'"
    assert re.search(r"tutorial_net\s+cvgl-bench-tutorial-net 0\.1\.0\s+ok\s+method: tutorial_net", printed)
    assert re.search(r"^\|\s+1 \| tutorial_net ", printed, re.M), "no leaderboard row for tutorial_net"
    assert "all 9 checks passed for 'tutorial_net'" in printed
    assert "sues200_d2s" in printed and "loc@50m" in printed
    records = [json.loads(p.read_text()) for p in (work / "results").rglob("*.json")]
    cells = {(r["cell"]["method"], r["cell"]["eval_split"]) for r in records}
    assert {("tutorial_net", "synth_cvusa_test"), ("tutorial_net", "sues200_d2s")} <= cells
    sues = next(r for r in records if r["cell"]["eval_split"] == "sues200_d2s")
    assert sues["protocol"]["altitude"] == "300" and set(sues["metrics"]) == {"recall@1", "recall@5", "ap"}
    # nothing was installed into the environment running the tests
    assert not list(Path(sys.prefix).glob("lib/python*/site-packages/cvgl_bench_tutorial_net*"))
