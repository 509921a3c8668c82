"""A mistyped name is refused, and a grid's cells are listed, without importing torch: the import
was 2-4 s of each such line on 2 CPU cores, the commonest mistakes a user makes."""

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "torchvision", "timm")


def test_refused_names_and_listed_cells_never_import_torch(tmp_path):
    listed = tmp_path / "listed.yaml"
    listed.write_text("methods: [sample4geo, safa]\nsplits: [synth_cvusa_test, cvact_test]\n")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("methods: [nosuch]\nsplits: [cvact_test]\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("methods: [\n")
    refusals = [
        (["grid", str(unknown)], "unknown method 'nosuch'"),
        (["grid", str(broken)], "not valid YAML"),
        (["run", "--method", "clnet_", "--dataset", "synth_cvusa_test"], "unknown method 'clnet_'"),
        (["run", "--method", "clnet", "--dataset", "synth_cvusa_tset"], "unknown split 'synth_cvusa_tset'"),
        (["run", "--method", "safa", "--dataset", "synth_u1652_d2s"], "cannot embed drone -> satellite"),
        (["run", "--method", "clnet", "--dataset", "synth_cvusa_test", "--profile", "gpu"], "no profile 'gpu'"),
        (["run", "--method", "clnet_", "--dataset", "synth_cvusa_test", "--dry-run"], "unknown method 'clnet_'"),
        (["run", "--method", "safa", "--dataset", "synth_cvusa_tset", "--dry-run"], "unknown split 'synth_cvusa_tset'"),
        (["check-plugin", "sample4gep"], "unknown method 'sample4gep'"),
        (["score", "--dataset", "cvusa_tset", "--embeddings", str(tmp_path / "e.npz")], "unknown split 'cvusa_tset'"),
    ]
    script = ("import json, sys\nfrom click.testing import CliRunner\nfrom cvgl_bench.cli import cli\n"
              f"listed = CliRunner().invoke(cli, ['grid', '--dry-run', '--json', {str(listed)!r}])\n"
              "assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 4, listed.output\n"
              f"for args, line in {refusals!r}:\n"
              "    refused = CliRunner().invoke(cli, args)\n"
              "    assert refused.exit_code == 2 and line in refused.output, (args, refused.output)\n"
              f"print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "CVGL_BENCH_NO_ENTRYPOINTS": "0",
           "CVGL_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert not (tmp_path / "cache").exists()  # nothing was generated either
