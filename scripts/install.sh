#!/usr/bin/env bash
# Install cvgl-bench, its first-party method plugins and the test tools into a virtual
# environment (default: .venv in the checkout; override with CVGL_BENCH_VENV).
#
# Torch: the pinned pair below is the one that works on a CPU-only machine with pip's caches
# of this project's machines (see README, "Why this torch"); set CVGL_BENCH_TORCH to change it,
# e.g. CVGL_BENCH_TORCH="torch torchvision" on a machine with its own CUDA or CPU index.
# Idempotent: a second run only re-installs the project itself when its setup files changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CVGL_BENCH_VENV:-$here/.venv}"
torch_spec="${CVGL_BENCH_TORCH:-torch==2.14.1 torchvision==0.29.1}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "creating virtual environment $venv" >&2
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)

stamp="$venv/.cvgl-bench-installed"
want="$(cat "$here/setup.cfg" "$here"/plugins/*/setup.cfg 2>/dev/null | sha256sum | cut -c1-16) $torch_spec"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

# shellcheck disable=SC2086
"${pip[@]}" $torch_spec 2>&1 | grep -v "^WARNING: Location" || true
plugins=()
for p in "$here"/plugins/*/; do
  [ -f "$p/setup.cfg" ] && plugins+=(-e "$p")
done
"${pip[@]}" -e "$here[dev]" "${plugins[@]}" 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -c "import torch, torchvision, timm, cvgl_bench" \
  || { echo "install.sh: the installed packages do not import; see the messages above" >&2; exit 2; }
echo "$want" > "$stamp"
