#!/usr/bin/env bash
# The model card's evaluations of the shipped default (run after `python -m training.export ... --name default`); outputs to $R
set -eu
cd "$(dirname "$0")/../../../.."
R=${OUT:-runs/eval_default}     # the outputs of 2026-11-27 are beside this script
mkdir -p $R
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=61
M=$(bash training/previous_default.sh 400f3007)     # models/default.safetensors when this ran; from git since
P=.venv/bin/python
for spec in "synth4_test_subjects::" "synth4_test_view::" "synth4_400:31-40:0-3" "synth4_400:1-30:4" "synth4:31-40:0-3" "synth4:1-30:4"; do
  IFS=: read d s v <<< "$spec"
  extra=(); [ -n "$s" ] && extra=(--subjects $s --views $v)
  tag=$d${s:+_s$s}${v:+_v$v}
  echo "=== python -m training.evaluate --model $M --data data/$d ${extra[*]}" 
  $P -m training.evaluate --model $M --data data/$d "${extra[@]}" --json $R/offline_$tag.json
done > $R/offline.txt 2>&1
for seed in 0 1; do
  echo "=== depth-action-monitor --demo --evaluate --scenario random --seed $seed --duration 240 --view quiet --report-json $R/online_eval_seed$seed.json"
  .venv/bin/depth-action-monitor --model $M --demo --evaluate --scenario random --seed $seed --duration 240 --view quiet --report-json $R/online_eval_seed$seed.json
done > $R/online.txt 2>&1
echo "=== depth-action-monitor --demo --evaluate --duration 70 --view quiet" > $R/online_scripted.txt
.venv/bin/depth-action-monitor --model $M --demo --evaluate --duration 70 --view quiet --report-json $R/online_scripted.json >> $R/online_scripted.txt 2>&1
echo "=== bench/engine.py --student $M --batches 1 8" > $R/engine.txt
$P bench/engine.py --student $M --batches 1 8 >> $R/engine.txt 2>&1
echo done
