#!/usr/bin/env bash
# Install (if needed) and run the whole test suite on CPU with a fixed thread count.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CVGL_BENCH_VENV:-$here/.venv}"
bash "$here/scripts/install.sh" || exit 1
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" CVGL_BENCH_CACHE="${CVGL_BENCH_CACHE:-$here/.cache/test}"
cd "$here" && exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
