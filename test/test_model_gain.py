"""bench/model_gain.py: two models' stream reports paired by setting, and pairs of other streams refused."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def report(model, **over):
    r = {'model': model, 'windows': 20, 'windows_pure': 10, 'top1_pure': 0.8, 'accuracy_all': 0.7,
         'alarm_episodes': 3, 'alarms_raised': 2, 'false_alarms': [],
         'missed_episodes': [{'camera': '/camera1', 'label': 'kicking', 'start_s': 4.0, 'end_s': 6.0}],
         'per_class': {'waving': {'pure': 1.0, 'n_pure': 4}, 'kicking': {'pure': 0.5, 'n_pure': 6}},
         'world': 5, 'partners': 'any', 'params': {'cooldown_s': 4.0}, 'size': [120, 160]}
    return {**r, **over}


def write(folder, name, r):
    folder.mkdir(exist_ok=True)
    (folder / f'{r["model"].replace("@", "-")}_{name}.json').write_text(json.dumps(r))


def gain(a, b, *flags):
    r = subprocess.run([sys.executable, str(ROOT / 'bench' / 'model_gain.py'), str(a), str(b), *flags],
                       capture_output=True, text=True, cwd=ROOT)
    return r.returncode, r.stdout + r.stderr


def test_pairs_two_models_by_setting_and_says_what_each_class_and_episode_gains(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    write(a, '120x160_held-out_view_1min_s1', report('default@aaaaaaaa'))
    better = report('default@bbbbbbbb', top1_pure=0.9, missed_episodes=[
        {'camera': '/camera1', 'label': 'pushing', 'start_s': 9.0, 'end_s': 11.0}],
        per_class={'waving': {'pure': 1.0, 'n_pure': 4}, 'kicking': {'pure': 2 / 3, 'n_pure': 6}})
    write(b, '120x160_held-out_view_1min_s1', better)
    rc, out = gain(a, b)
    assert rc == 0, out
    assert '80.0% -> 90.0% (+1 windows) of 10' in out
    assert 'missed by B only: pushing 9 s on /camera1' in out and 'missed by A only: kicking 4 s on /camera1' in out
    words = ' '.join(out.split())
    assert 'kicking 50.0% -> 66.7% +16.7 (inside one action, of 6)' in words
    assert 'waving 100.0% -> 100.0% +0.0 (inside one action, of 4)' in words
    assert 'windows inside one action right 8 -> 9 of 10; alarm episodes caught 2 -> 2 of 3' in out
    # other streams (another world round, other parameters, other windows) are named and not compared
    for over in ({'world': 4}, {'params': {'cooldown_s': 10.0}}, {'windows_pure': 11}):
        write(b, '120x160_held-out_view_1min_s1', {**better, **over})
        rc, out = gain(a, b)
        assert rc == 1 and f'differs in {next(iter(over))}' in out and 'missed by' not in out
    # a setting B has no report of
    write(b, '120x160_held-out_view_1min_s1', better)
    write(a, '240x424_held-out_view_1min_s1', report('default@aaaaaaaa', size=[240, 424]))
    rc, out = gain(a, b)
    assert rc == 1 and '240x424_held-out_view_1min_s1: no report of this setting' in out and '1 pairs compared' in out


def test_one_folder_holding_both_models_is_read_by_model_id(tmp_path):
    d = tmp_path / 'both'
    write(d, 'x', report('default@aaaaaaaa'))
    write(d, 'x', report('default@bbbbbbbb', top1_pure=0.6))
    rc, out = gain(d, d)
    assert rc == 1 and 'name them with --model-a' in out
    rc, out = gain(d, d, '--model-a', 'default@aaaaaaaa', '--model-b', 'default@bbbbbbbb')
    assert rc == 0 and '80.0% -> 60.0% (-2 windows)' in out
