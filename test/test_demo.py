"""CI smoke test of the README's main command: the shipped model, the simulated camera, a fall scenario."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.models import count_flops
from depth_action_recognition.resources import default_model_path

ROOT = Path(__file__).resolve().parents[1]


def test_default_model_ships_and_is_efficient():
    path = default_model_path()
    assert path.is_file(), f'{path} missing: the package must ship a default model'
    assert path.stat().st_size <= 25e6
    loaded = load_checkpoint(path)
    spec = loaded.meta.preprocess
    assert count_flops(loaded.model, (1, spec.frames, spec.height, spec.width)) <= 10e9
    assert {'falling_down', 'punching'} <= set(loaded.meta.alarm_labels)
    assert (ROOT / 'models' / 'MODEL_CARD.md').is_file()


def test_demo_fall_scenario_raises_an_alarm_and_exits_zero(tmp_path):
    doc = yaml.safe_load((ROOT / 'config' / 'monitor.yaml').read_text())
    doc['depth_action_camera_sim']['ros__parameters']['playlist'] = ['walking:3', 'falling_down:8', 'walking:4']
    doc['depth_action_camera_sim']['ros__parameters']['view'] = 2
    doc['depth_action_recognizer']['ros__parameters']['cooldown_s'] = 4.5     # not the default: read from here
    doc['depth_action_camera_sim']['ros__parameters']['seed'] = 3
    params = tmp_path / 'params.yaml'
    params.write_text(yaml.safe_dump(doc))
    report = tmp_path / 'report.json'
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    r = subprocess.run([sys.executable, '-m', 'depth_action_recognition.monitor', '--demo', '--duration', '16',
                        '--params-file', str(params), '--view', 'lines', '--device', 'cpu', '--evaluate',
                        '--report-json', str(report)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    events = [l for l in r.stdout.splitlines() if '/camera/depth/image_raw:' in l]
    assert len(events) >= 10, r.stdout[-2000:]
    assert 'ALARM RAISED  falling_down' in r.stdout, r.stdout[-3000:]
    rep = json.loads(report.read_text())
    assert rep['alarm_episodes'] == 1 and rep['alarm_recall'] == 1.0
    # the report says what it measured: the model served, the parameters in force, the camera and world round
    assert rep['model'] == load_checkpoint(default_model_path()).short_id
    sim = doc['depth_action_camera_sim']['ros__parameters']
    assert rep['params']['cooldown_s'] == 4.5
    assert (rep['camera']['playlist'], rep['camera']['view'], rep['camera']['seed']) == (sim['playlist'], 2, 3)
    assert (rep['camera']['width'], rep['camera']['height']) == (sim['width'], sim['height'])
    assert rep['world'] == rep['camera']['world'] == sim['world']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['params.yaml', 'report.json']   # no frames written
