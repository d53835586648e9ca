#!/usr/bin/env bash
# after stage 9's training: its 36- and 12-scenario streams, one job at a time
set -uo pipefail
while pgrep -f "bash training/make_stream_default.sh" >/dev/null; do sleep 20; done
cd /tmp/snap9
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
M=/work/main/runs/stream_default9/student.safetensors
[ -f $M ] || { echo "no model"; exit 1; }
date
( time /work/main/.venv/bin/python bench/stream_accuracy.py --model $M --minutes 1 --seeds $(seq -s ' ' 12 47) --jobs 2 --sizes 120x160 240x424 --out /work/main/runs/s36_stage9 ) > /work/main/runs/stream_accuracy_stage9_36.txt 2>&1
date
( time /work/main/.venv/bin/python bench/stream_accuracy.py --model $M --minutes 1 --seeds 0 1 2 3 4 5 6 7 8 9 10 11 --jobs 2 --sizes 120x160 240x424 --out /work/main/runs/s12_stage9 ) > /work/main/runs/stream_accuracy_stage9_12.txt 2>&1
date
