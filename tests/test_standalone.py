"""The repository stands alone: no file points outside it, no link dangles, and a newcomer who
copies the README's commands gets them to run.

Every text file of the checkout (tracked, or new and not ignored) is scanned for paths that only
exist on the machines this project was developed on: the shared folder beside the checkout,
its reference notes, and absolute home, work or temporary folders. Records are included: they
store checkpoints relative to their runs folder and data paths by label.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", ".cache", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist", "runs",
             "results"}

OUTSIDE = {
    "the shared folder beside the checkout": re.compile(r"\.\./shared\b|\bshared/(?:reference|real-splits)\b"),
    "the project's private reference notes": re.compile(
        r"\breference/(?:datasets|clnet|sample4geo|published_results|framework_anchors|cpu_performance|"
        r"synthetic_world_findings)\.(?:md|yaml)\b"),
    "an absolute folder of one machine": re.compile(
        r"(?<![\w.~$-])/(?:root|home|work|tmp|Users|private/var|var/folders)/"),
}

ALLOWED = {
    # CI runs the full-size loader tests on real split files kept beside the checkout; they are
    # skipped wherever CVGL_REAL_SPLITS is not set, so a user's run never needs the folder.
    ".ci/run": {"the shared folder beside the checkout"},
    # this file holds the patterns it looks for
    "tests/test_standalone.py": set(OUTSIDE),
}


def repository_files() -> list[Path]:
    """Tracked files plus new ones git does not ignore; every file but build output without git."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                                capture_output=True, check=True).stdout.decode()
        return sorted({REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()})
    except (OSError, subprocess.CalledProcessError):
        return sorted(p for p in REPO.rglob("*") if p.is_file()
                      and not SKIP_DIRS & set(p.relative_to(REPO).parts[:-1]) and p.suffix not in (".pyc",))


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary (PNG, npz)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    out = {}
    for path in repository_files():
        text = text_of(path)
        if text is not None:
            out[path.relative_to(REPO).as_posix()] = text
    return out


def test_the_scan_sees_every_kind_of_committed_text(texts):
    kinds = {Path(name).suffix for name in texts}
    assert {".py", ".md", ".yaml", ".json", ".toml", ".cfg", ".sh", ".html"} <= kinds
    assert any(name.startswith("leaderboards/synth/results/") and name.endswith(".json") for name in texts)


def test_no_file_points_outside_the_repository(texts):
    found = []
    for name, text in texts.items():
        for what, pattern in OUTSIDE.items():
            if what in ALLOWED.get(name, ()):
                continue
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {what}: {match.group(0)!r}")
    assert not found, "files point outside the repository:\n" + "\n".join(found[:40])


@pytest.mark.parametrize("what, text", [
    ("the shared folder beside the checkout", "see ../shared/reference/x"),
    ("the shared folder beside the checkout", 'default="$REPO/shared/real-splits"'),
    ("the project's private reference notes", "as in reference/datasets.md section 3.5"),
    ("an absolute folder of one machine", '"file": "/work/gridtime/runs/m/model.pt"'),
    ("an absolute folder of one machine", "cvgl-bench synth --out /tmp/CVUSA"),
    ("an absolute folder of one machine", "checkpoint /home/alice/runs/model.pt"),
])
def test_the_patterns_catch_what_they_are_for(what, text):
    assert OUTSIDE[what].search(text)


@pytest.mark.parametrize("text", [
    "https://github.com/layumi/University1652-Baseline/blob/master/State-of-the-art/README.md",
    "<cache>/synth/cvusa-small-seed0-v1/splits/val-19zl.csv", "~/.cache/cvgl-bench", "--out ~/cvgl-synth/CVUSA",
    "data_root: /data/cvgl", "clnet/cpu/synth_cvusa_train/seed0-fc26718fe6db1c07/model.pt",
])
def test_the_patterns_leave_portable_paths_alone(text):
    assert not any(pattern.search(text) for pattern in OUTSIDE.values())


def test_the_allow_list_is_still_needed(texts):
    for name, allowed in ALLOWED.items():
        assert name in texts, f"{name} is allow-listed but gone"
        for what in allowed:
            assert OUTSIDE[what].search(texts[name]), f"{name} no longer needs {what!r} allowed"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"^```.*?^```|`[^`\n]*`", re.M | re.S)


def test_every_relative_link_in_the_docs_leads_to_a_file_of_the_repository(texts):
    dangling = []
    for name, text in texts.items():
        if not name.endswith(".md"):
            continue
        for target in LINK.findall(CODE.sub("", text)):  # links, not code that looks like one
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor of the same page
            path = (REPO / name).parent / target.split("#")[0]
            inside = path.resolve().is_relative_to(REPO)
            if not inside or not path.exists():
                dangling.append(f"{name}: {target}")
    assert not dangling, "links that lead nowhere: " + ", ".join(dangling)


def test_the_readme_says_where_the_commands_live_before_using_them_bare(texts):
    readme = texts["README.md"]
    activate = readme.find("source .venv/bin/activate")
    assert activate != -1, "README.md must say how to get cvgl-bench on the PATH"
    bare = re.search(r"^(?:cvgl-bench|python) ", readme, re.M)
    assert bare is not None and activate < bare.start(), \
        f"README.md uses a bare command before saying to activate .venv: {readme[bare.start():bare.start() + 60]!r}"
