#!/usr/bin/env bash
# The GPU check (benchmarks/gpu/check.py): at most ~8 minutes on one GPU; --dry-run runs it tiny on a CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python
exec "$python" benchmarks/gpu/check.py "$@"
