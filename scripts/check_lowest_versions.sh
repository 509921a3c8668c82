#!/usr/bin/env bash
# Install cvgl-bench and its method plugins with the lowest dependency versions setup.cfg allows
# (scripts/lowest-versions.txt) into their own environment, then run the test suite there.
#
# Expected: every test passes but the two that pin this machine's bits (tests/test_golden.py and
# the synthetic generator's appearance in tests/test_synth_layouts.py): older numpy and scipy
# compute sin, exp, log... with other last bits, so the synthetic worlds and every trained
# weight differ slightly from the pinned install's (docs/reproducibility.md). torch 2.3 has no
# CPU torch._int_mm, so the int8-screen tests are skipped there.
# Usage: bash scripts/check_lowest_versions.sh [pytest arguments]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CVGL_BENCH_LOWEST_VENV:-$here/.venv-lowest}"
# The constraints replace pip's configured ones (a machine's torch cap): they pin torch too.
export PIP_CONSTRAINT="$here/scripts/lowest-versions.txt"
CVGL_BENCH_TORCH="$(grep -E '^(torch|torchvision)==' "$PIP_CONSTRAINT" | tr '\n' ' ')"
export CVGL_BENCH_TORCH  # install.sh's torch pair, here the floors (test.sh reinstalls nothing then)
CVGL_BENCH_VENV="$venv" bash "$here/scripts/install.sh"
unset PIP_CONSTRAINT
CVGL_BENCH_VENV="$venv" CVGL_BENCH_CACHE="${CVGL_BENCH_CACHE:-$here/.cache/test-lowest}" \
  bash "$here/scripts/test.sh" "$@"
