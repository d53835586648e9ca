# Sourced by the training scripts (make_default.sh, make_stream_default.sh) from the repository root: their
# settings from the environment (PYTHON, DEVICE, JOBS), and `render OUT PER_CLASS SEED SUBJECTS VIEWS [KIND]`,
# which renders a synthetic folder unless OUT already holds that rendering. A folder whose dataset.json (written last) says it holds the rendering asked for (kind,
# clips per class, seed, subjects, views) is kept; one without a dataset.json was cut short and is rendered again;
# one holding another rendering stops the script rather than being deleted.
P=${PYTHON:-python3}
DEV=${DEVICE:-auto}
J=${JOBS:-2}

render() {
    local out=$1 per_class=$2 seed=$3 subjects=$4 views=$5 kind=${6:-clips}
    if [ -f "$out/dataset.json" ]; then
        # 0: the rendering asked for; 3: another one; anything else: the check itself failed (said as such, so
        # that nobody moves good data away over an import error)
        local rc=0
        $P -c 'import json, sys
from depth_action_recognition.synthetic.dataset import parse_range
d, (per_class, seed, subjects, views, kind) = json.load(open(sys.argv[1])), sys.argv[2:]
sys.exit(0 if (d.get("kind", "clips"), d["count"], d["seed"], d["subjects"], d["views"]) == (
    kind, len(d["labels"]) * int(per_class), int(seed), parse_range(subjects), parse_range(views)) else 3)' \
            "$out/dataset.json" "$per_class" "$seed" "$subjects" "$views" "$kind" || rc=$?
        [ $rc = 0 ] && return 0
        if [ $rc = 3 ]; then
            echo "$(basename "$0"): $out holds another rendering than $kind, $per_class per class, seed $seed," \
                 "subjects $subjects, views $views: move it away or set DATA" >&2
        else
            echo "$(basename "$0"): could not check $out/dataset.json (above)" >&2
        fi
        exit 2
    fi
    rm -rf "$out"      # cut short before its dataset.json
    $P -m depth_action_recognition.synthetic.dataset --out "$out" --kind "$kind" --workers "$J" \
        --clips-per-class "$per_class" --seed "$seed" --subjects "$subjects" --views "$views"
}
