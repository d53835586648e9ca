#!/usr/bin/env bash
# What ran on one H200 (16 CPU cores) on 2026-11-28, writing its outputs to DIR (README.md beside it):
#   bash bench/results/h200_2026-11-28/run.sh DIR
# The CUDA tests; the engine on CUDA with the shipped model (default@bf467e30); a training step on CUDA at 72 and
# 90 rows; then the shipped model's three-scenario stream table (five sizes, two splits) with the model on CUDA,
# compared report by report with the same table on the 2-core CPU.
set -uo pipefail
cd "$(dirname "$0")/../../.."
D=${1:?output folder}
mkdir -p "$D"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
P=${PYTHON:-python3}
J=${JOBS:-14}
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 )) s] $*" >> "$D/log.txt"; }
{ nvidia-smi --query-gpu=name --format=csv,noheader; nproc; $P -c 'import torch; print(torch.__version__)'; git log -1 --format=%h 2>/dev/null; } >> "$D/log.txt"
$P -m pytest -q -p no:cacheprovider -rs test/test_engine.py test/test_checkpoint.py test/test_distill_losses.py \
    > "$D/pytest.txt" 2>&1
say "pytest rc $?"
{ $P bench/engine.py --device cuda --batches 1 8 32
  $P bench/engine.py --device cuda --batches 1 8 32 --camera 240x424; } > "$D/engine.txt" 2>&1
say "engine rc $?"
$P bench/results/h200_2026-11-28/train_step_cuda.py > "$D/train_step.txt" 2>&1
say "train_step rc $?"
$P bench/stream_accuracy.py --device cuda --minutes 2 --seeds 0 1 2 --jobs "$J" --out "$D/s3" > "$D/stream_s3.txt" 2>&1
say "stream s3 rc $?"
$P bench/compare_reports.py "$D/s3" bench/results/cpu_2026-11-28f/s3 > "$D/compare_s3.txt" 2>&1
say "compare s3 rc $?"
tar czf "$D/reports.tgz" -C "$D" s3 && rm -rf "$D/s3"
say done
