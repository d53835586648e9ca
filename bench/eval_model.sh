#!/usr/bin/env bash
# The model card's offline and online evaluations of a student, beside the models it is compared with:
#   bash bench/eval_model.sh MODEL [OTHER_MODEL ...]        # outputs to $OUT (default runs/eval/<file's 8 hex>)
# Offline: training.evaluate of every model on the two fresh held-out sets (rendered by the model card's commands
# when missing), and MODEL with --flip-average too when config/monitor.yaml serves it so. Online, MODEL only: two
# 4-minute random scenarios at 160x120, one at 424x240 (16:9) and the scripted demo, through depth-action-monitor
# --demo --evaluate (real nodes on loopback DDS, in real time).
# The stream table is bench/stream_accuracy.py --model MODEL.
set -eu
cd "$(dirname "$0")/.."
M=${1:?model file}
for m in "$@"; do [ -f "$m" ] || { echo "eval_model: $m: no such model file" >&2; exit 2; }; done
P=${PYTHON:-.venv/bin/python}
MON=${MONITOR:-.venv/bin/depth-action-monitor}
R=${OUT:-runs/eval/$(sha256sum "$M" | cut -c1-8)}
mkdir -p "$R"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-61}
# The held-out sets of world round 5 (the newest world; the figures before it used round 4's synth4_test_*).
[ -f data/synth5_test_subjects/dataset.json ] || $P -m depth_action_recognition.synthetic.dataset --world 5 \
    --out data/synth5_test_subjects --clips-per-class 80 --subjects 31-40 --views 0-3 --workers 2 --seed 11
[ -f data/synth5_test_view/dataset.json ] || $P -m depth_action_recognition.synthetic.dataset --world 5 \
    --out data/synth5_test_view --clips-per-class 80 --subjects 1-30 --views 4 --workers 2 --seed 13
# Each model as it is (the checkpoint's own top-1), then MODEL as the packaged recognizer serves it when its
# config/monitor.yaml says flip_average: true (each clip and its mirror image).
FLIP=$($P -c 'from depth_action_recognition.resources import default_params_file as f
from depth_action_recognition.stream_eval import recognizer_params as r, with_defaults as d
print(1 if d(r(f()))["flip_average"] else "")')
for d in synth5_test_subjects synth5_test_view; do
    for m in "$@"; do
        echo "=== python -m training.evaluate --model $m --data data/$d"
        $P -m training.evaluate --model "$m" --data "data/$d" --json "$R/offline_${d}_$(sha256sum "$m" | cut -c1-8).json" \
            || { echo "eval_model: evaluating $m on data/$d failed: see $R/offline.txt" >&3; exit 1; }
    done
    if [ -n "$FLIP" ]; then
        echo "=== python -m training.evaluate --model $M --data data/$d --flip-average"
        $P -m training.evaluate --model "$M" --data "data/$d" --flip-average \
            --json "$R/offline_${d}_$(sha256sum "$M" | cut -c1-8)_flip.json" \
            || { echo "eval_model: evaluating $M on data/$d failed: see $R/offline.txt" >&3; exit 1; }
    fi
done 3>&2 > "$R/offline.txt" 2>&1
online() {     # online NAME ARGS...: one monitor run, its command first in NAME.txt
    local name=$1; shift
    echo "=== depth-action-monitor --model $M $* --demo --evaluate --view quiet" > "$R/$name.txt"
    $MON --model "$M" "$@" --demo --evaluate --view quiet --report-json "$R/$name.json" >> "$R/$name.txt" 2>&1
}
online online_seed0 --scenario random --seed 0 --duration 240
online online_seed1 --scenario random --seed 1 --duration 240
sed -e 's/^    width: 160$/    width: 424/' -e 's/^    height: 120$/    height: 240/' config/monitor.yaml > "$R/monitor_424x240.yaml"
grep -q '^    width: 424$' "$R/monitor_424x240.yaml" && grep -q '^    height: 240$' "$R/monitor_424x240.yaml" \
    || { echo "eval_model: config/monitor.yaml has no camera width 160 and height 120 to change" >&2; exit 1; }
online online_424x240_seed0 --params-file "$R/monitor_424x240.yaml" --scenario random --seed 0 --duration 240
online online_scripted --duration 70
echo "eval_model: outputs in $R"
