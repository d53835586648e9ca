#!/usr/bin/env bash
# What ran on one H100 (16 CPU cores) on 2026-11-27, writing its outputs to DIR (README.md beside this file):
#   bash bench/results/h100_2026-11-27c/run.sh DIR
# The stage-3 fine-tune twice on the same folders and teacher cache, with fit 'extend' and letterboxed ('pad'),
# side by side on the one GPU; the CUDA tests while the folders render; the engine on CUDA at the end.
# Needs the teacher at runs/r4_rgb20/teacher.safetensors (models/MODEL_CARD.md).
set -uo pipefail
cd "$(dirname "$0")/../../.."
D=${1:?output folder}
mkdir -p "$D"
export PYTHONUNBUFFERED=1 DEVICE=${DEVICE:-cuda} JOBS=${JOBS:-15} WINDOWS=${WINDOWS:-400} CLIPS=${CLIPS:-150} EPOCHS=${EPOCHS:-8}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
S=training/make_stream_default.sh
RA=${RUN_A:-runs/stream_default} RB=${RUN_B:-runs/stream_pad}
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 )) s] $*" >> "$D/log.txt"; }
{ nvidia-smi --query-gpu=name --format=csv,noheader; nproc; python3 -c 'import torch; print(torch.__version__)'
  echo "WINDOWS=$WINDOWS CLIPS=$CLIPS EPOCHS=$EPOCHS"; } >> "$D/log.txt"
RUN=$RA bash $S > "$D/extend.txt" 2>&1 &
A=$!
( sleep 3; ${PYTHON:-python3} -m pytest -q -p no:cacheprovider -rs test/test_engine.py test/test_checkpoint.py \
      test/test_distill_losses.py > "$D/pytest.txt" 2>&1; say "pytest rc $?" ) &
while [ ! -f $RA/teacher_cache.safetensors ] && kill -0 $A 2>/dev/null; do sleep 2; done
say "teacher cache ready"
FIT=pad RUN=$RB TEACHER_CACHE=$RA/teacher_cache.safetensors bash $S > "$D/pad.txt" 2>&1 &
B=$!
wait $A; say "extend rc $?"
wait $B; say "pad rc $?"
tar czf "$D/runs.tgz" $RA/{student.safetensors,metrics.json,config.yaml} \
    $RB/{student.safetensors,metrics.json,config.yaml}
{ ${PYTHON:-python3} bench/engine.py --device $DEVICE --batches 1 8 32
  ${PYTHON:-python3} bench/engine.py --device $DEVICE --batches 1 8 32 --camera 240x424; } > "$D/engine.txt" 2>&1
say "engine rc $?"
wait
touch "$D/done"
