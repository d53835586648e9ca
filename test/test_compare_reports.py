"""bench/compare_reports.py: stream reports paired by setting and device, and every way a pair can differ."""
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


def compare(a, b, *flags):
    r = subprocess.run([sys.executable, str(ROOT / 'bench' / 'compare_reports.py'), str(a), str(b), *flags],
                       capture_output=True, text=True, cwd=ROOT)
    return r.returncode, r.stdout + r.stderr


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
