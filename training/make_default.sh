#!/usr/bin/env bash
# Stage 1 of the shipped default's recipe (models/MODEL_CARD.md, "How it was made") with the experiment's winner,
# `mix`, in place of logit KD, in one script: render its two training folders, then distil the `tiny` student
# from the round-4 RGB teacher with `mix` and the knobs tuned on the validation split (training/results/tune.csv,
# training/README.md), 40 epochs. Its result (default@3b3eaa30) was behind the kd stage 1 and was not shipped.
#
#   DEVICE=cuda JOBS=15 bash training/make_default.sh     # one H100, 16 CPU cores: about 20 minutes (estimated from its parts; training/README.md)
#   DEVICE=cpu JOBS=2 bash training/make_default.sh       # the 2-core CPU: 4.5-6.5 hours (40 epochs at 358-550 s and about 20 minutes of rendering and caching; training/README.md)
#
# Running it again continues where it stopped: a folder that holds the rendering asked for is kept
# (training/render.sh); training resumes from $RUN/last_state.pt, written
# after every epoch. The teacher must exist (runs/r4_rgb20/teacher.safetensors, the model card's train_teacher
# command). SMOKE=1 renders 2 clips per class and trains one epoch, in folders of its own: a check of the
# script, not a model. It runs from the repository root wherever it is called from: relative DATA, RUN,
# TEACHER and PYTHON paths are taken from there.
set -euo pipefail
cd "$(dirname "$0")/.."
. training/render.sh          # P (python), DEV (device), J (processes) and render()
if [ "${SMOKE:-0}" = 1 ]; then
    A=2; B=2; EPOCHS=1; DATA=${DATA:-runs/smoke/data}; RUN=${RUN:-runs/smoke/default_mix}
else
    A=400; B=300; EPOCHS=40; DATA=${DATA:-data}; RUN=${RUN:-runs/default_mix}
fi
T=${TEACHER:-runs/r4_rgb20/teacher.safetensors}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
[ -f "$T" ] || { echo "make_default: teacher $T not found (see models/MODEL_CARD.md)" >&2; exit 2; }

render "$DATA/synth4_400" $A 0 1-40 0-4
render "$DATA/synth4_train_b" $B 7 1-30 0-3
echo "make_default: data ready (world round $WR: render() checked each dataset.json) $(md5sum "$DATA/synth4_400/manifest.jsonl" "$DATA/synth4_train_b/manifest.jsonl" | cut -c1-12 | tr '\n' ' ')"

RESUME=
[ -f "$RUN/last_state.pt" ] && RESUME=--resume
# --workers: processes that decode the clips into memory and read the RGB for the teacher cache, once
# (training itself then reads from memory)
$P -m training.distill --data "$DATA/synth4_400" "$DATA/synth4_train_b" --teacher-checkpoint "$T" \
    --method mix --stage stage2 --direction both --alpha 1.0 --temperature 4.0 --w-kd 2.0 --w-mix 1.0 \
    --student tiny --epochs $EPOCHS --name default --device "$DEV" --workers $(( J > 8 ? 8 : J )) --out "$RUN" \
    $RESUME
# Shipping is a separate, deliberate step once the model card's evaluations hold (without --force, export keeps
# the hand-written models/MODEL_CARD.md; --force would replace it with a stub):
#   python -m training.export $RUN/student.safetensors --name default
