#!/usr/bin/env bash
# The kd default of 2026-11-26 (default@5102b055: stage 1 of the shipped default, models/MODEL_CARD.md; the
# file is what training/previous_default.sh fetches) against its `mix` counterpart (training/make_default.sh),
# same recipe otherwise, on the same four held-out
# sets: the fresh test sets of models/MODEL_CARD.md (seeds 11 and 13) and the held-out splits of the training
# folder. Writes training/results/default_scale.csv (one row per model and split; training/README.md, "Its
# `mix` counterpart", is derived from it).
#
#   bash training/compare_defaults.sh [KD_MODEL] [MIX_MODEL]     # about 8 minutes on the 2-core CPU
#
# Relative paths are taken from the repository root, wherever it is called from.
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PYTHON:-python3}
KD=${1:-$(bash training/previous_default.sh)}     # by default the exact file, checked
MIX=${2:-runs/default_mix/student.safetensors}
OUT=${OUT:-runs/compare_defaults}
CSV=${CSV:-training/results/default_scale.csv}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# name, data folder, evaluation options: the one list of splits (the table below takes its names from it)
SPLITS=("fresh_subjects data/synth4_test_subjects" "fresh_view data/synth4_test_view"
        "cross_subject data/synth4_400 --subjects 31-40 --views 0-3" "cross_view data/synth4_400 --subjects 1-30 --views 4")
for f in "$KD" "$MIX" $(for s in "${SPLITS[@]}"; do set -- $s; echo "$2/dataset.json"; done); do
    [ -e "$f" ] || { echo "compare_defaults: $f not found (models/MODEL_CARD.md renders the test sets; training/make_default.sh" \
                          "makes the mix model)" >&2; exit 2; }
done
mkdir -p "$OUT"
for role in kd mix; do
    [ $role = kd ] && model=$KD || model=$MIX
    for s in "${SPLITS[@]}"; do
        set -- $s
        name=$1; shift
        $P -m training.evaluate --model "$model" --device cpu --json "$OUT/${role}_$name.json" \
            --data "$@" | sed -n 1p
    done
done
# The splits go to the table as they were evaluated: one list, above.
SPLIT_LIST=$(printf '%s\n' "${SPLITS[@]}") $P - "$KD" "$MIX" "$OUT" "$CSV" <<'EOF'
import csv, json, os, sys
from pathlib import Path
from depth_action_recognition.checkpoint import load_checkpoint
kd, mix, out, path = sys.argv[1:]
cols = ['method', 'student', 'paired_per_class', 'seed', 'split', 'top1', 'top5', 'n', 'train_clips', 'epochs',
        'model', 'model_id', 'data']
rows = []
for role, model in (('kd', kd), ('mix', mix)):
    loaded = load_checkpoint(model)
    prov = loaded.meta.provenance
    words = prov['command'].split()
    student = words[words.index('--student') + 1] if '--student' in words else loaded.meta.student.arch
    for split, data in (line.split()[:2] for line in os.environ['SPLIT_LIST'].splitlines()):
        m = json.loads((Path(out) / f'{role}_{split}.json').read_text())
        rows.append({'method': prov['method'], 'student': student,
                     'paired_per_class': 0, 'seed': prov['seed'], 'split': split, 'top1': round(m['top1'], 5),
                     'top5': round(m['top5'], 5), 'n': m['n'], 'train_clips': prov['train_clips'],
                     'epochs': prov['epochs'], 'model': model, 'model_id': loaded.short_id, 'data': data})
with open(path, 'w', newline='') as f:
    w = csv.DictWriter(f, cols)
    w.writeheader()
    w.writerows(rows)
print(f'wrote {path}: {len(rows)} rows')
EOF
