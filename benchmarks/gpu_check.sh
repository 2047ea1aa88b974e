#!/usr/bin/env bash
# The GPU check of issue 23 on a lent GPU, in <= 10 minutes: device facts, steps/s and peak memory of every
# paper-size network in fp32 and bf16, sampler throughput, a 2-process DDP run when >= 2 GPUs are visible.
#
#   benchmarks/gpu_check.sh [OUT_DIR] [extra gpu_check options, e.g. --steps 5]
#
# Writes OUT_DIR/gpu_check.json, OUT_DIR/gpu_check.log and OUT_DIR/nvidia-smi.txt (OUT_DIR default: $OUT when
# set, else build/gpu_check).  On a CPU: benchmarks/gpu_check.sh build/gpu_check --tiny
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
OUT_DIR=${1:-${OUT:-build/gpu_check}}
shift || true
mkdir -p "$OUT_DIR"
(nvidia-smi || echo "nvidia-smi: not available") > "$OUT_DIR/nvidia-smi.txt" 2>&1
# 570 s hard stop; the script itself starts no new row after --budget-s (540 s by default)
timeout 570 "$PY" -m benchmarks.gpu_check --out "$OUT_DIR/gpu_check.json" "$@" 2>&1 | tee "$OUT_DIR/gpu_check.log"
