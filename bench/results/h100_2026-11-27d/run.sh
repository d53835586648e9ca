#!/usr/bin/env bash
# What ran on one H100 (16 CPU cores) on 2026-11-27 (fourth run), writing its outputs to DIR (README.md beside it):
#   bash bench/results/h100_2026-11-27d/run.sh DIR
# The CUDA tests; the engine on CUDA with the shipped model; then the stream table of the shipped model with the
# model on CUDA (all ten settings side by side), to set beside the same table on the 2-core CPU.
set -uo pipefail
cd "$(dirname "$0")/../../.."
D=${1:?output folder}
mkdir -p "$D"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
P=${PYTHON:-python3}
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 )) s] $*" >> "$D/log.txt"; }
{ nvidia-smi --query-gpu=name --format=csv,noheader; nproc; $P -c 'import torch; print(torch.__version__)'; } >> "$D/log.txt"
$P -m pytest -q -p no:cacheprovider -rs test/test_engine.py test/test_checkpoint.py test/test_distill_losses.py \
    > "$D/pytest.txt" 2>&1
say "pytest rc $?"
{ $P bench/engine.py --device cuda --batches 1 8 32
  $P bench/engine.py --device cuda --batches 1 8 32 --camera 240x424; } > "$D/engine.txt" 2>&1
say "engine rc $?"
$P bench/stream_accuracy.py --device cuda --minutes 2 --seeds 0 1 2 --jobs 10 --out "$D/reports" > "$D/stream.txt" 2>&1
say "stream rc $?"
tar czf "$D/reports.tgz" -C "$D" reports && rm -rf "$D/reports"
