#!/usr/bin/env bash
# The shipped default model's recipe (models/MODEL_CARD.md, "How it was made") in one script: render its two
# training folders, then distil the `tiny` student from the round-4 RGB teacher with `mix` and the knobs tuned
# on the validation split (training/results/tune.csv, training/README.md), 40 epochs.
#
#   DEVICE=cuda JOBS=15 bash training/make_default.sh     # a GPU machine with 16 CPU cores
#   DEVICE=cpu JOBS=2 bash training/make_default.sh       # the 2-core CPU: about 2 hours
#
# Running it again continues where it stopped: rendered folders (those with their dataset.json) are kept and
# training resumes from $RUN/last_state.pt, written after every epoch. The teacher must exist
# (runs/r4_rgb20/teacher.safetensors, the model card's train_teacher command).
# SMOKE=1 renders 2 clips per class into $DATA and trains one epoch: a check of the script, not a model.
set -eu
P=${PYTHON:-python3}
DEV=${DEVICE:-auto}
J=${JOBS:-2}
DATA=${DATA:-data}
RUN=${RUN:-runs/default_mix}
T=${TEACHER:-runs/r4_rgb20/teacher.safetensors}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [ "${SMOKE:-0}" = 1 ]; then A=2; B=2; EPOCHS=1; else A=400; B=300; EPOCHS=40; fi
[ -f "$T" ] || { echo "make_default: teacher $T not found (see models/MODEL_CARD.md)" >&2; exit 2; }

render() {   # render OUT ARGS...: a folder without its dataset.json was cut short and is rendered again
    local out=$1; shift
    [ -f "$out/dataset.json" ] && return 0
    rm -rf "$out"
    $P -m depth_action_recognition.synthetic.dataset --out "$out" --workers "$J" "$@"
}
render "$DATA/synth4_400" --clips-per-class $A --seed 0
render "$DATA/synth4_train_b" --clips-per-class $B --subjects 1-30 --views 0-3 --seed 7
echo "make_default: data ready $(md5sum "$DATA/synth4_400/manifest.jsonl" "$DATA/synth4_train_b/manifest.jsonl" | cut -c1-12 | tr '\n' ' ')"

RESUME=()
[ -f "$RUN/last_state.pt" ] && RESUME=(--resume)
# --workers: processes that decode the clips into memory and read the RGB for the teacher cache, once
# (training itself then reads from memory)
$P -m training.distill --data "$DATA/synth4_400" "$DATA/synth4_train_b" --teacher-checkpoint "$T" \
    --method mix --stage stage2 --direction both --alpha 1.0 --temperature 4.0 --w-kd 2.0 --w-mix 1.0 \
    --student tiny --epochs $EPOCHS --name default --device "$DEV" --workers $(( J > 8 ? 8 : J )) --out "$RUN" \
    "${RESUME[@]}"
# Shipping is a separate, deliberate step once the model card's evaluations hold:
#   python -m training.export $RUN/student.safetensors --name default --force
