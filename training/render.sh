# Sourced by the training scripts (make_default.sh, make_stream_default.sh) from the repository root: their
# settings from the environment (PYTHON, DEVICE, JOBS), and `render OUT PER_CLASS SEED SUBJECTS VIEWS [KIND [DATASET OPTIONS...]]`,
# which renders a synthetic folder unless OUT already holds that rendering. A folder whose dataset.json (written
# last) says it holds the rendering asked for (classes, kind, clips per class, seed, subjects, views, frames, fps,
# size, or camera modes and model size, field-of-view range) is kept; one without a dataset.json was cut short and is rendered again;
# one holding another rendering stops the script rather than being deleted. Folders are rendered in world round
# WORLD_ROUND (default 4, the round every shipped model's folders were rendered in, so that the scripts remake
# them; WORLD_ROUND=5 renders the newest world, where furniture keeps out of the camera's way: give it other
# folders in DATA, as a folder of the other round stops the script).
P=${PYTHON:-python3}
WR=${WORLD_ROUND:-4}
DEV=${DEVICE:-auto}
J=${JOBS:-2}

render() {
    local out=$1 per_class=$2 seed=$3 subjects=$4 views=$5 kind=${6:-clips}
    shift $(( $# < 6 ? $# : 6 ))
    local args=(--out "$out" --kind "$kind" --clips-per-class "$per_class" --seed "$seed" --subjects "$subjects"
                --views "$views" --world "$WR" "$@")
    if [ -f "$out/dataset.json" ]; then
        # 0: the rendering asked for; 3: another one; anything else: the check itself failed (said as such, so
        # that nobody moves good data away over an import error). The dataset writer checks its own request
        # (synthetic.dataset --check), so every setting it records is compared, defaults included.
        local rc=0
        $P -m depth_action_recognition.synthetic.dataset --check "${args[@]}" || rc=$?
        [ $rc = 0 ] && return 0
        if [ $rc = 3 ]; then
            echo "$(basename "$0"): $out holds another rendering than ${args[*]:2}: move it away (the training" \
                 "scripts take another folder in DATA)" >&2
        else
            echo "$(basename "$0"): could not check $out/dataset.json (above)" >&2
        fi
        exit 2
    fi
    rm -rf "$out"      # cut short before its dataset.json
    $P -m depth_action_recognition.synthetic.dataset --workers "$J" "${args[@]}"
}
