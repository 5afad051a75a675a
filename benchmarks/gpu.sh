#!/usr/bin/env bash
# jaxinv on a GPU against PyTorch on the same GPU (issue 18; docs/GPU.md).
#
#   bash benchmarks/gpu.sh --prepare          # here: copy ../shared's weights and pictures into .gpu-data/
#   bash benchmarks/gpu.sh --out DIR          # on the device, with .gpu-data/ carried: writes DIR/gpu.json
#   bash benchmarks/gpu.sh --out DIR --cpu    # the same program at a tiny size on the CPU
#
# Every other option goes to benchmarks/gpu.py (python benchmarks/gpu.py --help). The device
# has its own jax, flax, optax and torch and no package registry: the library runs from this
# checkout on PYTHONPATH against them (equivalent to pip install --no-deps -e ., and touching no
# environment).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}

out=""
args=()
prepare=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; args+=("$1" "$2"); shift 2 ;;
    --out=*) out="${1#--out=}"; args+=("$1"); shift ;;
    --prepare) prepare=1; args+=("$1"); shift ;;
    --cpu) export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}; args+=("$1"); shift ;;  # torch's threads, on shared cores
    *) args+=("$1"); shift ;;
  esac
done

if [ "$prepare" = 1 ]; then
  exec "$PYTHON" benchmarks/gpu.py "${args[@]}"
fi
if [ -z "$out" ]; then
  echo "gpu.sh: error: --out DIR is required (or --prepare)" >&2
  exit 2
fi
mkdir -p "$out"

# The library against the interpreter's own jax, flax, optax and torch: on PYTHONPATH, so that
# nothing is installed or fetched (gpu.json records the versions and where jaxinv came from).
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
fi

export PYTHONUNBUFFERED=1
set -o pipefail
"$PYTHON" benchmarks/gpu.py "${args[@]}" 2>&1 | tee "$out/gpu.log"
