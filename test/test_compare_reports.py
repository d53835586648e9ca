"""bench/compare_reports.py: stream reports paired by setting and device, and every way a pair can differ;
bench/model_gain.py: two models' reports paired by setting, and pairs of other streams refused."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def report(**over):
    r = {'windows': 10, 'windows_pure': 8, 'top1_pure': 0.875, 'accuracy_all': 0.8, 'alarm_episodes': 2,
         'alarms_raised': 2, 'false_alarms': [], 'missed_episodes': [],
         'per_class': {'waving': {'pure': 1.0}, 'kicking': {'pure': 0.75}}}
    return {**r, **over}


def bench(script, a, b, *flags):
    """Run bench/``script`` on two folders of reports: (exit status, everything it printed)."""
    r = subprocess.run([sys.executable, str(ROOT / 'bench' / script), str(a), str(b), *flags],
                       capture_output=True, text=True, cwd=ROOT)
    return r.returncode, r.stdout + r.stderr


def compare(a, b, *flags):
    return bench('compare_reports.py', a, b, *flags)


def test_pairs_by_setting_and_device_and_names_what_differs(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    a.mkdir(), b.mkdir()
    (a / 'm_120x160_cuda.json').write_text(json.dumps(report(device='cuda')))
    (b / 'm_120x160.json').write_text(json.dumps(report(device='cpu')))
    # a CUDA report beside it in the CPU folder is not the partner, whatever it holds
    (b / 'm_120x160_cuda.json').write_text(json.dumps(report(top1_pure=0.1)))
    rc, out = compare(a, b)
    assert rc == 0 and 'same on cuda and cpu' in out and '1 pairs, 0 differ' in out
    # whom the scenes' second person was drawn from: a report that records none drew from any subject
    (b / 'm_120x160.json').write_text(json.dumps(report(device='cpu', partners='any')))
    assert compare(a, b)[0] == 0
    (b / 'm_120x160.json').write_text(json.dumps(report(device='cpu', partners='split')))
    rc, out = compare(a, b)
    assert rc == 1 and 'differs in partners' in out
    # the world round: recorded in both and equal, or named; recorded in one only, it cannot be compared
    (a / 'm_120x160_cuda.json').write_text(json.dumps(report(device='cuda', world=5)))
    (b / 'm_120x160.json').write_text(json.dumps(report(device='cpu', world=5)))
    assert compare(a, b)[0] == 0
    (b / 'm_120x160.json').write_text(json.dumps(report(device='cpu', world=4)))
    rc, out = compare(a, b)
    assert rc == 1 and 'differs in world' in out
    (b / 'm_120x160.json').write_text(json.dumps(report(device='cpu')))
    rc, out = compare(a, b)
    assert rc == 1 and 'world (recorded in one report only)' in out
    (a / 'm_120x160_cuda.json').write_text(json.dumps(report(device='cuda')))
    (b / 'm_120x160.json').write_text(json.dumps(report(per_class={'waving': {'pure': 1.0}, 'kicking': {'pure': 0.5},
                                                                   'pushing': {'pure': 1.0}})))
    rc, out = compare(a, b)
    assert rc == 1 and 'differs in per_class (classes kicking, pushing)' in out
    (b / 'm_120x160.json').write_text(json.dumps(report(device='cuda')))            # ran elsewhere than named
    rc, out = compare(a, b)
    assert rc == 1 and 'ran on cuda, named cpu' in out
    (a / 'm_240x424_cuda.json').write_text(json.dumps(report()))                  # no partner
    rc, out = compare(a, b)
    assert rc == 1 and 'm_240x424: no cpu report' in out
    rc, out = compare(b, a, '--a-device', 'auto')                                 # nothing of that device
    assert rc == 2 and 'no auto reports' in out


def test_a_report_is_reused_only_for_its_parameters_and_recorded_world_round(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / 'bench'))
    from stream_accuracy import reusable
    path = tmp_path / 'r.json'
    assert not reusable(path, {'stride': 5}, 5)                                  # none yet
    path.write_text('{"params": {"stride": 5}, "wor')                            # cut short
    assert not reusable(path, {'stride': 5}, 5)
    path.write_text(json.dumps({'params': {'stride': 5}, 'world': 5}))
    assert reusable(path, {'stride': 5}, 5)
    assert not reusable(path, {'stride': 5}, 4) and not reusable(path, {'stride': 3}, 5)
    path.write_text(json.dumps({'params': {'stride': 5}}))                       # no round recorded: run again
    assert not reusable(path, {'stride': 5}, 5) and not reusable(path, {'stride': 5}, 4)


def model_report(model, **over):
    r = {'model': model, 'windows': 20, 'windows_pure': 10, 'top1_pure': 0.8, 'accuracy_all': 0.7,
         'alarm_episodes': 3, 'alarms_raised': 2, 'false_alarms': [],
         'missed_episodes': [{'camera': '/camera1', 'label': 'kicking', 'start_s': 4.0, 'end_s': 6.0}],
         'per_class': {'waving': {'pure': 1.0, 'n_pure': 4}, 'kicking': {'pure': 0.5, 'n_pure': 6}},
         'world': 5, 'partners': 'any', 'params': {'cooldown_s': 4.0}, 'size': [120, 160],
         'runs': [{'seed': 1, 'subject': 31, 'view': 2, 'frames': 1800, 'top1_pure': 0.8}]}
    return {**r, **over}


def write(folder, name, r):
    folder.mkdir(exist_ok=True)
    (folder / f'{r["model"].replace("@", "-")}_{name}.json').write_text(json.dumps(r))


def gain(a, b, *flags):
    return bench('model_gain.py', a, b, *flags)


def test_pairs_two_models_by_setting_and_says_what_each_class_and_episode_gains(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    write(a, '120x160_held-out_view_1min_s1', model_report('default@aaaaaaaa'))
    better = model_report('default@bbbbbbbb', top1_pure=0.9, missed_episodes=[
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
    other_scenario = [{'seed': 1, 'subject': 33, 'view': 2, 'frames': 1800}]        # another performer
    for over in ({'world': 4}, {'params': {'cooldown_s': 10.0}}, {'windows_pure': 11}, {'runs': other_scenario}):
        write(b, '120x160_held-out_view_1min_s1', {**better, **over})
        rc, out = gain(a, b)
        key = next(iter(over)).replace('runs', 'streams')
        assert rc == 1 and f'not the same streams (differs in {key})' in out and 'missed by' not in out
    # a setting B has no report of
    write(b, '120x160_held-out_view_1min_s1', better)
    write(a, '240x424_held-out_view_1min_s1', model_report('default@aaaaaaaa', size=[240, 424]))
    rc, out = gain(a, b)
    assert rc == 1 and f'240x424_held-out_view_1min_s1: no report of this setting in {b}' in out
    assert '1 pairs compared' in out
    # and one A has none of; a setting without a window inside one action (top-1 None) still compares
    write(b, '480x640_held-out_view_1min_s1', model_report('default@bbbbbbbb'))
    write(a, '240x424_held-out_view_1min_s1', model_report('default@aaaaaaaa', size=[240, 424], top1_pure=None))
    write(b, '240x424_held-out_view_1min_s1', model_report('default@bbbbbbbb', size=[240, 424]))
    rc, out = gain(a, b)
    assert rc == 1 and f'480x640_held-out_view_1min_s1: no report of this setting in {a}' in out
    assert 'n/a -> 80.0% (+8 windows) of 10' in out and '2 pairs compared, 1 unpaired' in out


def test_one_folder_holding_both_models_is_read_by_model_id(tmp_path):
    d = tmp_path / 'both'
    write(d, 'x', model_report('default@aaaaaaaa'))
    write(d, 'x', model_report('default@bbbbbbbb', top1_pure=0.6))
    rc, out = gain(d, d)                               # which of the two is A cannot be guessed
    assert rc == 2 and 'holds reports of several models (default@aaaaaaaa, default@bbbbbbbb)' in out
    e = tmp_path / 'mixed'                             # two models, each of another setting: not pooled as one
    write(e, 'x', model_report('default@aaaaaaaa'))
    write(e, 'y', model_report('default@cccccccc'))
    rc, out = gain(e, d, '--model-b', 'default@bbbbbbbb')
    assert rc == 2 and 'holds reports of several models (default@aaaaaaaa, default@cccccccc)' in out
    rc, out = gain(e, d, '--model-a', 'default@aaaaaaaa', '--model-b', 'default@bbbbbbbb')
    assert rc == 0 and '1 pairs compared, 0 unpaired' in out
    # reports that list no scenarios cannot be shown to be of the same streams
    write(e, 'x', {k: v for k, v in model_report('default@aaaaaaaa').items() if k != 'runs'})
    rc, out = gain(e, d, '--model-a', 'default@aaaaaaaa', '--model-b', 'default@bbbbbbbb')
    assert rc == 1 and 'differs in streams (not recorded)' in out
    write(e, 'x', {k: v for k, v in model_report('default@aaaaaaaa').items() if k != 'world'})
    rc, out = gain(e, d, '--model-a', 'default@aaaaaaaa', '--model-b', 'default@bbbbbbbb')
    assert rc == 1 and 'differs in world (not recorded)' in out
    rc, out = gain(d, d, '--model-a', 'default@aaaaaaaa', '--model-b', 'default@aaaaaaaa')
    assert rc == 1 and 'name them with --model-a' in out
    rc, out = gain(d, d, '--model-a', 'default@aaaaaaaa', '--model-b', 'default@bbbbbbbb')
    assert rc == 0 and '80.0% -> 60.0% (-2 windows)' in out


def test_params_pairs_one_model_under_two_configurations(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    write(a, '120x160_held-out_view_1min_s1', model_report('default@aaaaaaaa'))
    flipped = model_report('default@aaaaaaaa', top1_pure=0.9, params={'cooldown_s': 4.0, 'flip_average': True})
    write(b, '120x160_held-out_view_1min_s1_p0123abcd', flipped)
    rc, out = gain(a, b)                               # as two models: the tagged setting has no partner
    assert rc == 1 and '0 pairs compared' in out
    rc, out = gain(a, b, '--params')
    assert rc == 0, out
    assert '(parameters: flip_average None -> True)' in out and '80.0% -> 90.0% (+1 windows) of 10' in out
    c = tmp_path / 'c'                                 # another model under the other parameters
    write(c, '120x160_held-out_view_1min_s1_p0123abcd', model_report('default@bbbbbbbb', params=flipped['params']))
    rc, out = gain(a, c, '--params')
    assert rc == 1 and 'not two models' in out
    write(b, '120x160_held-out_view_1min_s1_p0123abcd', model_report('default@aaaaaaaa'))
    rc, out = gain(a, b, '--params')
    assert rc == 1 and 'not the same parameters twice' in out
    write(b, '120x160_held-out_view_1min_s1_p0123abcd', {**flipped, 'windows_pure': 11})
    rc, out = gain(a, b, '--params')
    assert rc == 1 and 'not the same streams (differs in windows_pure)' in out


def test_params_refuses_a_folder_with_two_configurations_of_one_setting(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    write(a, '120x160_held-out_view_1min_s1', model_report('default@aaaaaaaa'))
    write(b, '120x160_held-out_view_1min_s1_p0123abcd', model_report('default@aaaaaaaa', params={'x': 1}))
    write(b, '120x160_held-out_view_1min_s1_p4567cdef', model_report('default@aaaaaaaa', params={'x': 2}))
    rc, out = gain(a, b, '--params')
    assert rc == 2 and 'two reports of 120x160_held-out_view_1min_s1 under other parameters' in out
