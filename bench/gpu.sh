#!/usr/bin/env bash
# Everything this project measures on a GPU, in one run from the repository root on a machine with one
# NVIDIA GPU, python3 with torch/torchvision/OpenCV/safetensors/pytest, and no ROS (nothing here needs rclpy):
#
#   OUT=runs/gpu DAR_WORLD_COMMIT=$(git rev-parse --short HEAD) bash bench/gpu.sh
#
# On one H100 with 16 CPU cores everything up to the 20-per-class grid took ~9 minutes; the full-set grid
# (--per-class 0) and the default-model candidates need about 15 more.
#
# Parts run side by side (the CPUs render while the GPU tests and benchmarks), each writing into $OUT:
#   pytest.txt     the `cuda` tests and the engine/checkpoint tests on the GPU (CPU fallback after a CUDA fault)
#   engine.txt     bench/engine.py --device cuda: student vs r3d_18, fp32 / bf16 / channels_last_3d / CUDA graph
#   precision.txt  the shipped model, fp32 vs bf16 autocast, on the held-out subjects and the held-out view
#   tune.csv, grid.csv   the distillation experiment of training/README.md (same commands, --jobs side by side)
#   default.tar    default-model candidates (kd and mix) trained on streaming windows + clips, with metrics
#   log.txt, detail.log   what ran when, and every command's own output
# SMOKE=1 DEVICE=cpu runs every step at toy size (a few clips, one epoch) to check the script itself on a CPU,
# rendering into runs/smoke/gpu_data instead of data/ and training into runs/smoke/gpu_runs instead of runs/.
set -u
# Whatever way the script ends, its background jobs (renders, evaluations) end with it: they would keep the
# lent machine busy after the script has given up.
trap 'kill $(jobs -p) 2>/dev/null' EXIT
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# Folders are rendered by training/render.sh's render() (through draw() below), which keeps one that already
# holds the same rendering and refuses to overwrite another. Sourced first: this script's own settings follow.
. training/render.sh
P=${PYTHON:-python3}
DEV=${DEVICE:-cuda}
PREC=$([ "$DEV" = cuda ] && echo both || echo fp32)
NPROC=$(getconf _NPROCESSORS_ONLN)
RW=$(( NPROC > 8 ? NPROC * 5 / 8 : 1 ))   # rendering processes: clips, and streaming windows (RS)
RS=$(( NPROC > 8 ? NPROC * 3 / 8 : 1 ))
T=runs/r4_rgb20/teacher.safetensors        # the RGB teacher of the experiment (training/README.md)
if [ "${SMOKE:-0}" = 1 ]; then
    # a few clips of training and held-out subjects and views alike, so that every step has clips to evaluate
    D=runs/smoke/gpu_data; R=runs/smoke/gpu_runs; PC=3; PCV=2; PCS=3; PCSV=1; SUB4=1-2,31-32; VIEW4=0,4
    EP=1; EPF=1; EPT=1; EPD=1; SEEDS_T=(10); SEEDS=(0 1); JOBS=2; PERCLASS=(2 0); BATCHES=(1)
else
    D=data; R=runs; PC=200; PCV=30; PCS=150; PCSV=20; SUB4=1-40; VIEW4=0-4
    EP=15; EPF=15; EPT=4; EPD=12; SEEDS_T=(10 11); SEEDS=(0 1 2); JOBS=8; PERCLASS=(20 0); BATCHES=(1 8 32)
fi
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
draw() { J=$1 render "${@:2}" >>"$OUT/detail.log" 2>&1; }

log "start on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo 'no GPU'), $NPROC CPUs, world ${DAR_WORLD_COMMIT:-(git)}"
# Timings first, while nothing else runs: a launch-bound GPU workload depends on the CPU that feeds it.
$P bench/engine.py --device $DEV --batches "${BATCHES[@]}" >"$OUT/engine.txt" 2>&1
log "engine bench rc $?"
mkdir -p $D $R; rm -f $D/.clips_done $D/.clips_failed $D/.stream_done $D/.stream_failed $R/.tune_done $R/.tune_failed
# The experiment's world: the same commands and seeds as training/README.md (same seed, same clips), and the
# streaming windows for the default model, rendered on the CPUs while the GPU tests and benchmarks (validation
# windows in stream_val20, 20 per class: data/stream_val is make_stream_default.sh's 10 per class; the 150 per
# class of stream_train150 are not the model card's data/stream_train, 100 per class).
( ( draw $RW $D/synth4 $PC 0 $SUB4 $VIEW4 clips \
    && draw $RW $D/synth4_val $PCV 5 1-30 0-3 clips \
    && md5sum $D/synth4/manifest.jsonl $D/synth4_val/manifest.jsonl >>"$OUT/log.txt" ) \
  && touch $D/.clips_done || touch $D/.clips_failed ) &
( ( draw $RS $D/stream_train150 $PCS 21 1-30 0-3 stream && draw $RS $D/stream_val20 $PCSV 22 1-30 0-3 stream ) \
  && touch $D/.stream_done || touch $D/.stream_failed ) &

log "tests on the GPU"
$P -m pytest -q -p no:cacheprovider -rs test/test_engine.py test/test_checkpoint.py test/test_distill_losses.py \
    >"$OUT/pytest.txt" 2>&1
log "pytest rc $?: $(tail -1 "$OUT/pytest.txt")"

while [ ! -f $D/.clips_done ]; do [ -f $D/.clips_failed ] && { log "rendering failed (detail.log)"; exit 1; }; sleep 2; done
log "clips rendered"
( rc=0
  for split in "--subjects 31-40 --views 0-3" "--subjects 1-30 --views 4"; do
      $P -m training.evaluate --model models/default.safetensors --data $D/synth4 $split --precision $PREC \
          --device $DEV >>"$OUT/precision.txt" 2>&1 || rc=$?
  done
  log "precision rc $rc" ) &

C=$R/cache/r4_synth4.safetensors
COMMON=(--data $D/synth4 --val-data $D/synth4_val --teacher-checkpoint $T --teacher-cache $C --device $DEV
        --epochs $EP --epochs-full $EPF --jobs $JOBS)
$P -m training.cache --data $D/synth4 --teacher-checkpoint $T --out $C --device $DEV --workers 4 >>"$OUT/detail.log" 2>&1 \
    || { log "teacher cache failed"; exit 1; }
log "cache done"
# The default model: the stream teacher (the experiment's teacher fine-tuned on stream windows, letterboxed
# like the student), then kd and mix candidates with the tuned knobs, beside the experiment on the same GPU.
(
    while [ ! -f $D/.stream_done ]; do [ -f $D/.stream_failed ] && { log "stream rendering failed (detail.log)"; exit 1; }; sleep 2; done
    log "stream rendered"
    $P -m training.train_teacher --data $D/stream_train150 $D/synth4 --teacher rgb_small --teacher-weights $T \
        --rgb-size 60x80 --fit pad --epochs $EPT --lr 1e-3 --batch-size 16 --device $DEV --workers 4 --out $R/stream_rgb \
        >>"$OUT/detail.log" 2>&1 || { log "stream teacher failed"; exit 1; }
    SC=$R/cache/stream.safetensors
    $P -m training.cache --data $D/stream_train150 $D/synth4 --teacher-checkpoint $R/stream_rgb/teacher.safetensors \
        --out $SC --device $DEV --workers 4 >>"$OUT/detail.log" 2>&1
    log "stream teacher and cache rc $?"
    while [ ! -f $R/.tune_done ]; do [ -f $R/.tune_failed ] && exit 1; sleep 2; done
    pids=()
    for m in kd mix; do
        FLAGS=$($P -m training.experiment flags --tuned "$OUT/tune.csv" --method $m) || { log "no tuned $m knobs"; exit 1; }
        $P -m training.distill --data $D/stream_train150 $D/synth4 --val-data $D/stream_val20 --method $m \
            $FLAGS --student tiny --epochs $EPD \
            --teacher-checkpoint $R/stream_rgb/teacher.safetensors --teacher-cache $SC --device $DEV \
            --name default --out $R/default_$m >>"$OUT/detail.log" 2>&1 &
        pids+=($!)
    done
    rcs=()
    for p in "${pids[@]}"; do wait $p; rcs+=($?); done      # each candidate's own status, not the last job's
    tar cf "$OUT/default.tar" $R/stream_rgb/teacher.safetensors $R/stream_rgb/metrics.json \
        $R/default_kd/{student.safetensors,metrics.json,config.yaml} $R/default_mix/{student.safetensors,metrics.json,config.yaml} \
        2>>"$OUT/detail.log"
    log "default candidates kd rc ${rcs[0]}, mix rc ${rcs[1]}; tar rc $?"
) &
$P -m training.experiment tune "${COMMON[@]}" --per-class 20 --seeds "${SEEDS_T[@]}" --out $R/tune \
    --csv "$OUT/tune.csv" >>"$OUT/detail.log" 2>&1
rc=$?
log "tune rc $rc"
if [ $rc = 0 ]; then touch $R/.tune_done; else touch $R/.tune_failed; fi

$P -m training.experiment grid "${COMMON[@]}" --tuned "$OUT/tune.csv" --students tiny small \
    --per-class "${PERCLASS[@]}" --seeds "${SEEDS[@]}" --out $R/grid --csv "$OUT/grid.csv" >>"$OUT/detail.log" 2>&1
log "grid rc $?"
wait
log "done"
