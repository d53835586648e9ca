"""depth-action-monitor as a user runs it: a real process, real exit codes and messages."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import make_checkpoint
from depth_action_recognition.preprocess import PreprocessSpec
from depth_action_recognition.synthetic import ALARM_LABELS, LABELS

ROOT = Path(__file__).resolve().parents[1]


def monitor(*args, timeout=120, cwd=None):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run([sys.executable, '-m', 'depth_action_recognition.monitor', *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def params_with(tmp_path, **recognizer):
    doc = yaml.safe_load((ROOT / 'config' / 'monitor.yaml').read_text())
    doc['depth_action_recognizer']['ros__parameters'].update(recognizer)
    path = tmp_path / 'params.yaml'
    path.write_text(yaml.safe_dump(doc))
    return path


def test_missing_params_file_is_named(tmp_path):
    r = monitor('--params-file', tmp_path / 'nope.yaml', '--duration', 1)
    assert r.returncode == 2 and 'nope.yaml not found' in r.stderr


def test_missing_model_is_named(tmp_path):
    r = monitor('--model', tmp_path / 'missing.safetensors', '--duration', 1)
    assert r.returncode == 2 and 'missing.safetensors: model file not found' in r.stderr


def test_unknown_executor_is_named(tmp_path):
    env = dict(os.environ, DEPTH_ACTION_EXECUTOR='fast')
    # All six at once: each is an interpreter start and an import, and they share nothing.
    procs = {(module, expected): subprocess.Popen([sys.executable, '-m', f'depth_action_recognition.{module}', *args],
                                                  env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for module in ('monitor', 'recognizer_node', 'camera_sim_node')
             for args, e, expected in ((['--executor', 'bogus'], None, 'bogus'), ([], env, "got 'fast'"))}
    try:
        for (module, expected), p in procs.items():
            _, err = p.communicate(timeout=60)
            assert p.returncode == 2 and expected in err, (module, err)
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_rcl_init_errors_are_one_line_and_status_2(tmp_path):
    """Unknown ROS arguments and an SROS2 enclave missing under Enforce fail inside rcl's init: one line naming
    the problem, status 2, no traceback."""
    secure = dict(os.environ, ROS_SECURITY_ENABLE='true', ROS_SECURITY_STRATEGY='Enforce',
                  ROS_SECURITY_KEYSTORE=str(tmp_path / 'keystore'))
    for env, args, expected in ((None, ['--ros-args', '--no-such-flag'], 'unknown ROS arguments'),
                                (secure, [], str(tmp_path / 'keystore'))):
        r = subprocess.run([sys.executable, '-m', 'depth_action_recognition.events_node', *args], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and expected in r.stderr and 'Traceback' not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_simulator_flags_need_demo():
    for flag in (['--evaluate'], ['--scenario', 'random'], ['--seed', '3']):
        r = monitor(*flag, '--duration', 1)
        assert r.returncode == 2 and 'need --demo' in r.stderr, (flag, r.stderr)


def test_bad_parameter_is_named(tmp_path):
    model = make_checkpoint(tmp_path / 'm.safetensors')
    r = monitor('--params-file', params_with(tmp_path, stride=0), '--model', model, '--duration', 1)
    assert r.returncode == 2 and "parameter 'stride'" in r.stderr
    r = monitor('--params-file', params_with(tmp_path, device='tpu'), '--model', model, '--duration', 1)
    assert r.returncode == 2 and "parameter 'device'" in r.stderr


@pytest.mark.parametrize('executor', ['events', 'single'])
def test_demo_runs_and_exits_zero_at_duration(tmp_path, executor):
    model = make_checkpoint(tmp_path / 'm.safetensors', labels=LABELS, alarms=ALARM_LABELS,
                            spec=PreprocessSpec(height=30, width=40, frames=8, fps=10.0))
    r = monitor('--demo', '--duration', 5, '--model', model, '--view', 'lines', '--device', 'cpu',
                '--executor', executor, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if '/camera/depth/image_raw:' in l]
    assert len(lines) >= 3, r.stdout
    assert list(tmp_path.iterdir()) == [model]          # nothing written next to it: no frames on disk


@pytest.mark.parametrize('sig', ['SIGINT', 'SIGTERM'])
def test_node_executables_stop_cleanly_on_a_signal(tmp_path, sig):
    """ros2 launch stops nodes with SIGINT, then SIGTERM: either must end the spin loop with exit 0, and
    quietly — the camera simulator renders 640x480 at 30 fps so the signal most likely lands inside its
    timer callback, where rclpy's own handlers made the executor log a FATAL traceback."""
    import signal
    import time
    model = make_checkpoint(tmp_path / 'm.safetensors')
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    for module, args in (('camera_sim_node', ['--ros-args', '-p', 'width:=640', '-p', 'height:=480']),
                         ('recognizer_node', ['--ros-args', '-p', f'model_path:={model}'])):
        proc = subprocess.Popen([sys.executable, '-m', f'depth_action_recognition.{module}', *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            line = proc.stdout.readline()          # the node's first log line: it is up and spinning
            assert 'simulating' in line or 'loaded' in line, line
            time.sleep(1.0)
            proc.send_signal(getattr(signal, sig))
            assert proc.wait(timeout=15) == 0, (module, proc.stdout.read())
            rest = proc.stdout.read()
            assert 'Traceback' not in rest and 'FATAL' not in rest, (module, rest)
        finally:
            proc.kill()
            proc.wait()
