#!/usr/bin/env bash
# Issue 7's whole device check in one command, for a machine with a CUDA GPU:
#
#   bash benchmarks/gpu_check.sh             # on the GPU machine, from the repository root
#   bash benchmarks/gpu_check.sh --dry-run   # here, without a GPU: checks the script itself
#
# It runs with that machine's own python3, which already holds CuPy, PyTorch, NumPy and pytest
# (nothing can be installed there); minidl is pure Python and runs from this tree. Steps, each
# with its own time limit so that a slow step cannot take the benchmark's time:
#   1. what the machine is (GPU, driver, Python, NumPy, CuPy, PyTorch);
#   2. the CuPy half of the test suite (the tests marked gpu: every op, layer, network,
#      trainnet and optimizer test, on CuPy, against NumPy to float32 tolerance);
#   3. benchmarks/gpu.py: training throughput beside PyTorch CUDA at mini-batch 128 and 1024.
# Logs and results go to $OUT (the device tool's folder), else ./gpu-check.
set -u
dry=""
[ "${1:-}" = "--dry-run" ] && dry="--dry-run"
out=${OUT:-gpu-check}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
    "$py" -c "import sys, numpy; print('python', sys.version.split()[0], 'numpy', numpy.__version__)"
    "$py" -c "import cupy; print('cupy', cupy.__version__)" 2>&1 | tail -1
    "$py" -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())" 2>&1 \
        | tail -1
    "$py" -c "import minidl; print('minidl canUseGPU', minidl.canUseGPU())"
} 2>&1 | tee "$out/env.txt"

echo "== CuPy tests (pytest -m gpu)" | tee "$out/tests.txt"
timeout 420 "$py" -m pytest -m gpu -p no:cacheprovider -q -rs --durations=5 \
    --junitxml="$out/tests.xml" 2>&1 | tail -n 60 | tee -a "$out/tests.txt"
echo "tests exit status: ${PIPESTATUS[0]}" | tee -a "$out/tests.txt"

echo "== benchmark" | tee "$out/bench.txt"
timeout 150 "$py" benchmarks/gpu.py $dry --json "$out/bench.json" 2>&1 | tee -a "$out/bench.txt"
echo "benchmark exit status: ${PIPESTATUS[0]}" | tee -a "$out/bench.txt"
