"""Training: loss math, teacher cache, a smoke run whose checkpoint the recognizer serves, resume, bad input."""
import json
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.recognizer_node import RecognizerNode
from depth_action_recognition.synthetic import LABELS
from depth_action_recognition.synthetic.dataset import write_dataset
from ros_helpers import RosHarness, depth_msg, reliable_qos
from training import distill, evaluate, export, train_teacher
from training.losses import FeatureKD, LogitKD, MixDistill, kd_loss
from training.teachers import TeacherError, build_teacher

SMALL = ['--frames', '8', '--height', '24', '--width', '32', '--batch-size', '8', '--device', 'cpu']


def test_kd_is_zero_for_identical_logits_and_positive_otherwise():
    logits = torch.randn(4, 6)
    assert kd_loss(logits, logits.clone(), 4.0).abs() < 1e-6
    assert kd_loss(logits, torch.randn(4, 6), 4.0) > 0
    assert LogitKD(2.0)(None, logits, None, logits, None)['kd'].abs() < 1e-6


def test_mix_with_lambda_one_is_the_student_path_and_teacher_gets_no_gradient():
    torch.manual_seed(0)
    head_t = torch.nn.Linear(10, 5)
    mix = MixDistill(dim_s=7, dim_t=10, head_t=head_t, alpha=1.0)
    feat_s = torch.randn(3, 7, requires_grad=True)
    feat_t = torch.randn(3, 10, requires_grad=True)
    y = torch.tensor([0, 1, 2])
    logits = torch.randn(3, 5)
    one = torch.ones(3)
    a = mix(feat_s, logits, feat_t, logits, y, lam=one)['mix']
    b = mix(feat_s, logits, feat_t * 100, logits, y, lam=one)['mix']          # teacher features drop out
    expected = torch.nn.functional.cross_entropy(mix.head_t(mix.proj(feat_s)), y)
    assert torch.allclose(a, b) and torch.allclose(a, expected)
    loss = mix(feat_s, logits, feat_t, logits, y, lam=torch.full((3,), 0.5))['mix']
    loss.backward()
    assert feat_t.grad is None                                                # detached: frozen teacher
    assert all(p.grad is None for p in mix.head_t.parameters())
    assert feat_s.grad is not None and mix.proj.weight.grad is not None
    assert torch.equal(mix.head_t.weight, head_t.weight)
    lam = mix.sample_lambda(1000, 'cpu')
    assert 0 <= lam.min() and lam.max() <= 1 and abs(lam.mean() - 0.5) < 0.05


def test_mix_at_a_feature_map_runs_the_frozen_teacher_stages_and_reduces_to_the_student_path():
    torch.manual_seed(0)
    net = build_teacher('rgb_small', num_classes=5).eval()
    trunk, rest = net.split(3)
    x = torch.randn(2, 3, 8, 24, 32)
    assert torch.allclose(net.head(rest(trunk(x))), net(x), atol=1e-5)   # the split is the teacher
    map_t = trunk(x).detach()
    mix = MixDistill(dim_s=64, dim_t=map_t.shape[1], head_t=net.head, rest_t=rest)
    mix.train()
    assert not mix.rest_t.training                                   # BN statistics of the teacher stay put
    map_s = torch.randn(2, 64, 16, map_t.shape[3], map_t.shape[4], requires_grad=True)   # twice the frames
    y, logits = torch.tensor([0, 3]), torch.randn(2, 5)
    one = torch.ones(2)
    a = mix(map_s, logits, map_t, logits, y, lam=one)['mix']
    b = mix(map_s, logits, map_t * 50, logits, y, lam=one)['mix']
    pooled = torch.nn.functional.adaptive_avg_pool3d(mix.proj(map_s), map_t.shape[2:])
    assert torch.allclose(a, b) and torch.allclose(a, F.cross_entropy(mix.head_t(mix.rest_t(pooled)), y))
    mix(map_s, logits, map_t, logits, y, lam=torch.full((2,), 0.5))['mix'].backward()
    assert map_s.grad is not None and mix.proj.weight.grad is not None
    assert all(p.grad is None for p in [*mix.rest_t.parameters(), *mix.head_t.parameters()])
    with pytest.raises(TeacherError, match='no residual stages'):
        build_teacher('s3d', num_classes=5).split(3)


def test_feature_kd_projects_into_teacher_space():
    f = FeatureKD(7, 10)
    out = f(torch.randn(2, 7), None, torch.randn(2, 10), None, None)['feat']
    assert out > 0 and out.requires_grad


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('data') / 'synth'
    write_dataset(root, clips_per_class=3, subjects=[1, 2, 3], views=[0, 1], frames=8, size=(30, 40), seed=1)
    return root


@pytest.fixture(scope='module')
def teacher(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp('teacher')
    rc = train_teacher.main(['--data', str(tiny_data), '--train-subjects', '1-3', '--train-views', '0-1',
                             '--rgb-size', '24x32', '--epochs', '1', '--batch-size', '8', '--device', 'cpu',
                             '--out', str(out)])
    assert rc == 0
    return out / 'teacher.safetensors'


def run_distill(data, teacher, out, *extra):
    return distill.main(['--data', str(data), '--teacher-checkpoint', str(teacher), '--train-subjects', '1-2',
                         '--train-views', '0-1', '--test-subjects', '3', '--test-views', '1', '--out', str(out),
                         *SMALL, *extra])


@pytest.mark.parametrize('method', ['none', 'kd', 'feat', 'mix', 'mix --mix-at stage2', 'mix --mix-at stage3'])
def test_every_method_trains_and_writes_outputs(tiny_data, teacher, tmp_path, method):
    method, *extra = method.split()
    assert run_distill(tiny_data, teacher, tmp_path, '--method', method, '--epochs', '1', *extra) == 0
    for name in ('student.safetensors', 'metrics.json', 'confusion.png', 'config.yaml', 'curves.png'):
        assert (tmp_path / name).is_file(), name
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert m['method'] == method and 0 <= m['cross_subject']['top1'] <= 1
    assert len(m['cross_subject']['confusion']) == len(LABELS)
    assert load_checkpoint(tmp_path / 'student.safetensors').meta.provenance['method'] == method


def test_teacher_cache_is_built_once_and_reused(tiny_data, teacher, tmp_path, capsys):
    cache = tmp_path / 'cache.safetensors'
    assert run_distill(tiny_data, teacher, tmp_path / 'a', '--method', 'kd', '--epochs', '1',
                       '--teacher-cache', str(cache)) == 0
    assert 'teacher cache:' in capsys.readouterr().out
    mtime = cache.stat().st_mtime_ns
    assert run_distill(tiny_data, teacher, tmp_path / 'b', '--method', 'mix', '--epochs', '1',
                       '--teacher-cache', str(cache)) == 0
    assert 'teacher cache:' not in capsys.readouterr().out and cache.stat().st_mtime_ns == mtime


def test_resume_continues_where_it_stopped(tiny_data, teacher, tmp_path, capsys):
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'mix', '--epochs', '1') == 0
    capsys.readouterr()
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'mix', '--epochs', '2', '--resume') == 0
    out = capsys.readouterr().out
    assert 'resumed from' in out and 'epoch 2/2' in out and 'epoch 1/2' not in out


def test_smoke_checkpoint_is_served_by_the_recognizer(tiny_data, teacher, tmp_path):
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'mix', '--epochs', '1') == 0
    model = tmp_path / 'student.safetensors'
    assert evaluate.main(['--model', str(model), '--data', str(tiny_data), '--device', 'cpu']) == 0
    assert export.main([str(model), '--name', 'smoke', '--models-dir', str(tmp_path / 'models')]) == 0
    assert (tmp_path / 'models' / 'smoke.md').read_text().startswith('# Model card: smoke')
    ros = RosHarness()
    try:
        ros.add(RecognizerNode(context=ros.context, parameter_overrides=[
            Parameter('model_path', value=str(tmp_path / 'models' / 'smoke.safetensors')),
            Parameter('device', value='cpu'), Parameter('depth_topics', value=['/cam/depth']), Parameter('stride', value=2)]))
        events = ros.collect(String, '/action_events')
        pub = ros.probe.create_publisher(Image, '/cam/depth', reliable_qos())
        ros.wait_matched(pub)
        from depth_action_recognition.synthetic import render_clip
        clip = render_clip('waving', 0, frames=40, size=(30, 40), fps=30.0, rgb=False)
        t0 = time.time()
        for i, f in enumerate(clip.depth):
            pub.publish(depth_msg(f, t0 + i / 30))
            time.sleep(1 / 30)
        assert ros.wait_for(lambda: len(events) >= 1, 10)
        assert json.loads(events[0].data)['label'] in LABELS
    finally:
        ros.close()


def test_several_data_folders_train_as_one(tiny_data, teacher, tmp_path, capsys):
    """A second rendering holding only training subjects adds training clips and leaves the test splits alone."""
    extra = tmp_path / 'extra'
    write_dataset(extra, clips_per_class=2, subjects=[1, 2], views=[0], frames=8, size=(30, 40), seed=5)
    assert run_distill(tiny_data, teacher, tmp_path / 'one', '--method', 'kd', '--epochs', '1') == 0
    assert distill.main(['--data', str(tiny_data), str(extra), '--teacher-checkpoint', str(teacher),
                         '--train-subjects', '1-2', '--train-views', '0-1', '--test-subjects', '3', '--test-views', '1',
                         '--out', str(tmp_path / 'two'), '--method', 'kd', '--epochs', '1', *SMALL]) == 0
    one = json.loads((tmp_path / 'one' / 'metrics.json').read_text())
    two = json.loads((tmp_path / 'two' / 'metrics.json').read_text())
    pooled = 2 * len(LABELS) + sum(1 for line in (tiny_data / 'manifest.jsonl').read_text().splitlines()
                                   if json.loads(line)['subject'] in (1, 2))
    assert two['train_clips'] == pooled - len(range(0, pooled, 10))        # every tenth clip validates
    assert two['train_clips'] > one['train_clips']
    assert two['cross_subject']['n'] == one['cross_subject']['n'] and two['cross_view']['n'] == one['cross_view']['n']
    assert load_checkpoint(tmp_path / 'two' / 'student.safetensors').meta.provenance['data'] == f'{tiny_data} {extra}'
    # a folder with other labels is named, not mixed in
    info = json.loads((extra / 'dataset.json').read_text())
    info['labels'] = info['labels'][:-1] + ['dancing']
    (extra / 'dataset.json').write_text(json.dumps(info))
    capsys.readouterr()
    assert distill.main(['--data', str(tiny_data), str(extra), '--method', 'none', '--out', str(tmp_path / 'bad'),
                         *SMALL]) == 2
    assert f'--data {extra}: labels' in capsys.readouterr().err


def test_bad_input_names_the_flag_or_file(tiny_data, teacher, tmp_path, capsys):
    assert distill.main(['--data', str(tmp_path / 'nowhere'), '--method', 'none', '--out', str(tmp_path / 'o'), *SMALL]) == 2
    assert 'nowhere' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        distill.main(['--data', str(tiny_data), '--method', 'mix', '--out', str(tmp_path / 'o'), *SMALL])
    assert '--teacher-checkpoint' in capsys.readouterr().err
    # a teacher trained on other classes
    other = tmp_path / 'other'
    write_dataset(other, clips_per_class=1, subjects=[1], views=[0], frames=8, size=(30, 40))
    info = json.loads((other / 'dataset.json').read_text())
    info['labels'] = info['labels'][:-1] + ['dancing']
    (other / 'dataset.json').write_text(json.dumps(info))
    assert run_distill(other, teacher, tmp_path / 'o2', '--method', 'kd', '--epochs', '1', '--train-subjects', '1',
                       '--train-views', '0') == 2
    assert 'classes' in capsys.readouterr().err
    # a corrupt clip and a clip whose RGB is shorter than its depth
    broken = tmp_path / 'broken'
    write_dataset(broken, clips_per_class=1, subjects=[1], views=[0], frames=8, size=(30, 40))
    lines = (broken / 'manifest.jsonl').read_text().splitlines()
    first = json.loads(lines[0])['path']
    (broken / first).write_bytes(b'garbage')
    assert distill.main(['--data', str(broken), '--method', 'none', '--train-subjects', '1', '--train-views', '0',
                         '--out', str(tmp_path / 'o3'), *SMALL]) == 2
    assert first in capsys.readouterr().err
    second = json.loads(lines[1])['path']
    with np.load(broken / second) as z:
        depth, rgb = z['depth'], z['rgb']
    np.savez(broken / first, depth=depth, rgb=rgb[:-2])
    assert distill.main(['--data', str(broken), '--method', 'none', '--train-subjects', '1', '--train-views', '0',
                         '--out', str(tmp_path / 'o4'), *SMALL]) == 2
    assert 'paired' in capsys.readouterr().err


def test_torchrun_ddp_two_cpu_processes(tiny_data, teacher, tmp_path):
    """torchrun --nproc_per_node 2 on gloo: both ranks train, rank 0 writes one checkpoint."""
    import os
    import subprocess
    import sys
    import socket
    # A free port from the kernel rather than a fixed range: two suites at once never share one.
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr',
                        '127.0.0.1', '--master_port', str(port), '-m', 'training.distill', '--data', str(tiny_data),
                        '--teacher-checkpoint', str(teacher), '--method', 'mix', '--train-subjects', '1-2',
                        '--train-views', '0-1', '--test-subjects', '3', '--test-views', '1', '--epochs', '1',
                        '--out', str(tmp_path), *SMALL], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert m['timings']['world_size'] == 2
    load_checkpoint(tmp_path / 'student.safetensors')
