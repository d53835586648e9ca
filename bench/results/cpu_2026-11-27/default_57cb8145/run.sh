#!/usr/bin/env bash
# The model card's evaluations of default@57cb8145 (default@400f3007's weights served with fit 'extend'); outputs
# to $R. The fresh test sets are rendered when missing (the model card's commands).
set -eu
cd "$(dirname "$0")/../../../.."
HERE=bench/results/cpu_2026-11-27/default_57cb8145
R=${OUT:-runs/eval_default}     # the outputs of 2026-11-27 are beside this script
mkdir -p $R
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=61
M=$(bash training/previous_default.sh 57cb8145)     # models/default.safetensors when this ran; from git since
P=.venv/bin/python
[ -f data/synth4_test_subjects/dataset.json ] || $P -m depth_action_recognition.synthetic.dataset \
    --out data/synth4_test_subjects --clips-per-class 80 --subjects 31-40 --views 0-3 --workers 2 --seed 11
[ -f data/synth4_test_view/dataset.json ] || $P -m depth_action_recognition.synthetic.dataset \
    --out data/synth4_test_view --clips-per-class 80 --subjects 1-30 --views 4 --workers 2 --seed 13
PREV=$(bash training/previous_default.sh 400f3007)
for d in synth4_test_subjects synth4_test_view; do
  for m in $M $PREV; do

    echo "=== python -m training.evaluate --model $m --data data/$d"
    $P -m training.evaluate --model $m --data data/$d --json $R/offline_${d}_$(basename $(dirname $m)).json
  done
done > $R/offline.txt 2>&1
for seed in 0 1; do
  echo "=== depth-action-monitor --demo --evaluate --scenario random --seed $seed --duration 240 --view quiet --report-json $R/online_eval_seed$seed.json"
  .venv/bin/depth-action-monitor --model $M --demo --evaluate --scenario random --seed $seed --duration 240 --view quiet --report-json $R/online_eval_seed$seed.json
done > $R/online.txt 2>&1
echo "=== depth-action-monitor --params-file $HERE/monitor_424x240.yaml --demo --evaluate --scenario random --seed 0 --duration 240 --view quiet" > $R/online_424x240.txt
.venv/bin/depth-action-monitor --model $M --params-file $HERE/monitor_424x240.yaml --demo --evaluate --scenario random --seed 0 \
    --duration 240 --view quiet --report-json $R/online_eval_424x240_seed0.json >> $R/online_424x240.txt 2>&1
echo "=== depth-action-monitor --demo --evaluate --duration 70 --view quiet" > $R/online_scripted.txt
.venv/bin/depth-action-monitor --model $M --demo --evaluate --duration 70 --view quiet --report-json $R/online_scripted.json >> $R/online_scripted.txt 2>&1
echo done
