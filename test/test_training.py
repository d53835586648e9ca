"""Training runs: every method end to end, the teacher cache, a checkpoint the recognizer serves, resume, bad input."""
import json
import os
import re
import time

import numpy as np
import pytest
import torch
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.recognizer_node import RecognizerNode
from depth_action_recognition.synthetic import LABELS
from depth_action_recognition.synthetic.dataset import write_dataset
from ros_helpers import RosHarness, depth_msg, reliable_qos
from training import distill, evaluate, export

SMALL = ['--frames', '8', '--height', '24', '--width', '32', '--batch-size', '8']


def run_distill(data, teacher, out, *extra):
    return distill.main(['--data', str(data), '--teacher-checkpoint', str(teacher), '--train-subjects', '1-2',
                         '--train-views', '0-1', '--test-subjects', '3', '--test-views', '1', '--out', str(out),
                         *SMALL, *extra])


@pytest.mark.parametrize('method', ['none', 'kd', 'feat', 'feat --stage embedding', 'mix --direction s2t --stage stage2',
                                    'mix --direction t2s', 'mix'])
def test_every_method_trains_and_writes_outputs(tiny_data, teacher, tmp_path, method, monkeypatch):
    method, *extra = method.split()
    evaluated = []                                     # datasets the run evaluates, in order
    real_evaluate = distill.evaluate
    monkeypatch.setattr(distill, 'evaluate', lambda model, ds, *a: evaluated.append(ds) or real_evaluate(model, ds, *a))
    assert run_distill(tiny_data, teacher, tmp_path, '--method', method, '--epochs', '1', *extra) == 0
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert m['method'] == method and m['cross_subject']['n'] > 0 and m['cross_view']['n'] > 0
    assert len(m['cross_subject']['confusion']) == len(LABELS)
    assert sum(map(sum, m['cross_subject']['confusion'])) == m['cross_subject']['n']
    expected_terms = {'none': {'ce'}, 'kd': {'ce', 'kd'}, 'feat': {'ce', 'feat'},
                      'mix': {'ce', 'kd', *({'s2t': ['mix_s2t'], 't2s': ['mix_t2s']}.get(
                          (extra[1:2] or ['both'])[0], ['mix_s2t', 'mix_t2s']))}}[method]
    history = torch.load(tmp_path / 'last_state.pt', weights_only=True)['history']
    epoch = json.loads(history)[0]
    assert expected_terms <= set(epoch) and all(epoch[k] > 0 for k in expected_terms)
    assert m['val']['top1'] == epoch['val_top1']        # the final model's validation is the last epoch's,
    assert len(evaluated) == 3 and len({id(d) for d in evaluated}) == 3     # not run again: val, then the two tests
    assert m['timings']['step_ms'] > 0
    ckpt = load_checkpoint(tmp_path / 'student.safetensors')
    assert ckpt.meta.provenance['method'] == method
    assert not any(k.startswith(('distill', 'proj', 'rest_t', 'head_t')) for k in ckpt.model.state_dict())


def test_teacher_cache_targets_are_of_the_flipped_view(tiny_data, teacher, tmp_path):
    """Flip 1 in the cache is the teacher run on the mirrored RGB clip, not the un-mirrored one."""
    from training import cache
    from training.data import PairedClips, open_source, split_from_flags
    from depth_action_recognition.preprocess import PreprocessSpec
    from training.train_teacher import load_teacher
    path = tmp_path / 'cache.safetensors'
    assert cache.main(['--data', str(tiny_data), '--teacher-checkpoint', str(teacher), '--train-subjects', '1-2',
                       '--train-views', '0-1', '--frames', '8', '--device', 'cpu', '--out', str(path)]) == 0
    net, meta = load_teacher(teacher)
    source = open_source(tiny_data)
    idx = split_from_flags('1-2', '0-1').select(source.records)
    stored = cache.load(path, cache.cache_key(teacher, source, idx, cache.MAP_STAGES))
    assert stored['indices'].tolist() == idx and stored['map3'].shape[1] == 2
    clip = PairedClips(source, [idx[3]], PreprocessSpec(frames=8), rgb_size=tuple(meta['rgb_size']),
                       modalities=('rgb',), rgb_frame_step=meta['rgb_frame_step'])[0]['rgb'][None]
    with torch.no_grad():
        plain, mirrored = net.outputs(clip, (2, 3)), net.outputs(clip.flip(-1), (2, 3))
    for k in ('logits', 'map2', 'map3'):
        assert torch.allclose(stored[k][3, 0].float(), plain[k][0], atol=2e-2, rtol=1e-2), k
        assert torch.allclose(stored[k][3, 1].float(), mirrored[k][0], atol=2e-2, rtol=1e-2), k
        assert not torch.allclose(stored[k][3, 1].float(), plain[k][0], atol=2e-2, rtol=1e-2), k
    # the student's view and the target row agree: flip_views mirrors exactly the clips whose flag is set
    from training.distill import flip_views
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).view(2, 1, 1, 4, 6)
    out, flips = flip_views(x, torch.Generator().manual_seed(3))
    for k in range(2):
        assert torch.equal(out[k], x[k].flip(-1) if flips[k] else x[k])
    # a changed clip file makes the cache stale
    f = source.files(idx[0])[0]
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1000))
    with pytest.raises(cache.CacheError, match='stale'):
        cache.load(path, cache.cache_key(teacher, open_source(tiny_data), idx, cache.MAP_STAGES))


def test_teacher_cache_is_built_once_and_reused(tiny_data, teacher, tmp_path, capsys):
    cache = tmp_path / 'cache.safetensors'
    assert run_distill(tiny_data, teacher, tmp_path / 'a', '--method', 'kd', '--epochs', '1',
                       '--teacher-cache', str(cache)) == 0
    assert 'teacher cache:' in capsys.readouterr().out
    mtime = cache.stat().st_mtime_ns
    assert run_distill(tiny_data, teacher, tmp_path / 'b', '--method', 'mix', '--epochs', '1', '--per-class', '2',
                       '--teacher-cache', str(cache)) == 0
    assert 'teacher cache:' not in capsys.readouterr().out and cache.stat().st_mtime_ns == mtime


def test_resume_continues_where_it_stopped_and_more_epochs_stretch_the_decay(tiny_data, teacher, tmp_path, capsys):
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'mix', '--epochs', '1') == 0
    capsys.readouterr()
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'mix', '--epochs', '3', '--resume') == 0
    out = capsys.readouterr().out
    assert 'resumed from' in out and 'epoch 2/3' in out and 'epoch 1/3' not in out
    history = json.loads(torch.load(tmp_path / 'last_state.pt', weights_only=True)['history'])
    m = json.loads((tmp_path / 'metrics.json').read_text())
    steps = m['train_clips'] // 8                                     # batch 8, last partial batch dropped
    plan = distill.OneCycle(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 3e-3, 3 * steps)
    assert [h['epoch'] for h in history] == [1, 2, 3]
    assert history[0]['lr'] == pytest.approx(3e-3 / 25e4)               # the 1-epoch plan ran to its end
    assert [h['lr'] for h in history[1:]] == pytest.approx([plan.lr_at(2 * steps), plan.lr_at(3 * steps)])
    assert history[1]['lr'] < 0.9 * 3e-3                                # stretched: never back at the peak


def test_a_run_stopped_while_saving_its_state_resumes_from_the_epoch_before(tiny_data, teacher, tmp_path,
                                                                             monkeypatch, capsys):
    real_save, saves = torch.save, []

    def dies_halfway_through_the_second(obj, path, *a, **kw):
        saves.append(obj['epoch'])
        if obj['epoch'] == 2:                      # a time limit or a kill in the middle of the write
            with open(path, 'wb') as f:
                f.write(b'PK\x03\x04 half a zip')
            raise KeyboardInterrupt
        return real_save(obj, path, *a, **kw)
    monkeypatch.setattr(distill.torch, 'save', dies_halfway_through_the_second)
    with pytest.raises(KeyboardInterrupt):
        run_distill(tiny_data, teacher, tmp_path, '--method', 'kd', '--epochs', '3')
    monkeypatch.setattr(distill.torch, 'save', real_save)
    assert saves == [1, 2]
    assert torch.load(tmp_path / 'last_state.pt', weights_only=True)['epoch'] == 1    # whole, and the last good one
    capsys.readouterr()
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'kd', '--epochs', '3', '--resume') == 0
    out = capsys.readouterr().out
    assert 'after epoch 1' in out and 'epoch 2/3' in out
    assert [h['epoch'] for h in json.loads(torch.load(tmp_path / 'last_state.pt', weights_only=True)['history'])] == [1, 2, 3]


def test_resume_refuses_the_state_of_a_run_on_other_clips_or_settings(tiny_data, teacher, tmp_path, capsys):
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'kd', '--epochs', '1') == 0
    saved = torch.load(tmp_path / 'last_state.pt', weights_only=True)['epoch']
    config = (tmp_path / 'config.yaml').read_text()
    cache_mtime = (tmp_path / 'teacher_cache.safetensors').stat().st_mtime_ns
    init = tmp_path / 'init.safetensors'
    init.write_bytes((tmp_path / 'student.safetensors').read_bytes())
    capsys.readouterr()
    for other in (['--train-views', '0'], ['--lr', '1e-2'], ['--method', 'none'],         # other clips, other settings,
                  ['--init', str(init)]):                                                 # other starting weights
        assert run_distill(tiny_data, teacher, tmp_path, '--method', 'kd', '--epochs', '2', '--resume', *other) == 2
        assert 'other clips or settings' in capsys.readouterr().err, other
    assert torch.load(tmp_path / 'last_state.pt', weights_only=True)['epoch'] == saved        # left as it was,
    assert (tmp_path / 'config.yaml').read_text() == config                                  # with what describes it
    assert (tmp_path / 'teacher_cache.safetensors').stat().st_mtime_ns == cache_mtime       # and its cache
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'kd', '--epochs', '2', '--resume') == 0
    assert 'after epoch 1' in capsys.readouterr().out
    assert run_distill(tiny_data, teacher, tmp_path / 'gone', '--init', str(tmp_path / 'missing.safetensors')) == 2
    assert '--init ' in (err := capsys.readouterr().err) and 'missing.safetensors: model file not found' in err
    assert run_distill(tiny_data, tmp_path / 'no_teacher.safetensors', tmp_path / 'gone', '--method', 'kd') == 2
    assert 'no_teacher.safetensors: model file not found' in capsys.readouterr().err
    assert not (tmp_path / 'gone').exists() or not any((tmp_path / 'gone').iterdir())


def test_smoke_checkpoint_is_served_by_the_recognizer(tiny_data, teacher, tmp_path):
    # --workers: the clips are decoded and the teacher cache read by loader processes, as make_default.sh runs
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'mix', '--epochs', '1', '--workers', '2') == 0
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
    # a folder of other people trains only when --train-subjects names them; until then a warning names it
    others = tmp_path / 'others'
    write_dataset(others, clips_per_class=1, subjects=[7], views=[0], frames=8, size=(30, 40), seed=6)
    flags = ['--data', str(tiny_data), str(others), '--train-views', '0', '--test-subjects', '3', '--test-views', '1',
             '--method', 'none', '--epochs', '1', *SMALL]
    capsys.readouterr()
    spelt = [str(others) + '/.' if a == str(others) else a for a in flags]          # named as one spelling
    assert distill.main([*spelt, '--train-subjects', '1-2', '--out', str(tmp_path / 'not7')]) == 0
    err = capsys.readouterr().err
    assert f'--data {others}: {len(LABELS)} of its {len(LABELS)} recordings are in neither' in err
    # every recording of tiny_data trains or tests, but for subject 3 in view 1: a held-out subject in the held-out
    # view, in no split by design, and not warned of
    assert f'--data {tiny_data}' not in err
    assert distill.main([*flags, '--train-subjects', '1-2,7', '--out', str(tmp_path / 'with7')]) == 0
    assert f'--data {others}' not in capsys.readouterr().err
    not7, with7 = (json.loads((tmp_path / d / 'metrics.json').read_text())['train_clips'] for d in ('not7', 'with7'))
    n = sum(1 for r in map(json.loads, (tiny_data / 'manifest.jsonl').read_text().splitlines())
            if r['subject'] in (1, 2) and r['view'] == 0)
    assert not7 == n - len(range(0, n, 10)) and with7 == n + len(LABELS) - len(range(0, n + len(LABELS), 10))
    # a folder with other labels is named, not mixed in
    info = json.loads((extra / 'dataset.json').read_text())
    info['labels'] = info['labels'][:-1] + ['dancing']
    (extra / 'dataset.json').write_text(json.dumps(info))
    capsys.readouterr()
    assert distill.main(['--data', str(tiny_data), str(extra), '--method', 'none', '--out', str(tmp_path / 'bad'),
                         *SMALL]) == 2
    assert f'--data {extra}: labels' in capsys.readouterr().err


def test_a_later_folder_of_some_classes_adds_clips_of_those_classes_under_their_own_ids(tiny_data, tmp_path,
                                                                                        capsys):
    """More clips of the classes a model confuses: a later folder may hold some labels only, in another order;
    each clip keeps its class by name in the union, and a first folder that lacks a later one's class is named."""
    from training.data import DataError, open_sources
    some = tmp_path / 'some'
    write_dataset(some, clips_per_class=1, subjects=[1], views=[0], frames=8, size=(30, 40), seed=9,
                  labels=['pushing', 'drinking'])
    union = open_sources([tiny_data, some])
    assert union.labels == list(LABELS)
    added = union.records[-2:]
    assert [r['label'] for r in added] == ['pushing', 'drinking']
    assert [r['label_id'] for r in added] == [LABELS.index('pushing'), LABELS.index('drinking')]
    own = [json.loads(line)['label_id'] for line in (some / 'manifest.jsonl').read_text().splitlines()]
    assert own == [0, 1]                                   # within the folder itself, its own list's ids
    assert all(r['label_id'] == LABELS.index(r['label']) for r in union.records)
    with pytest.raises(DataError, match=f'--data {re.escape(str(tiny_data))}: labels .* not among those of '
                                        f'{re.escape(str(some))}'):
        open_sources([some, tiny_data])
    # and it trains: the run's model has the union's 14 classes
    assert distill.main(['--data', str(tiny_data), str(some), '--method', 'none', '--epochs', '1',
                         '--out', str(tmp_path / 'run'), *SMALL]) == 0
    assert load_checkpoint(tmp_path / 'run' / 'student.safetensors').meta.labels == list(LABELS)
    # a record whose id is none of its folder's labels is named, not an IndexError
    lines = (some / 'manifest.jsonl').read_text().splitlines()
    (some / 'manifest.jsonl').write_text('\n'.join([lines[0].replace('"label_id": 0', '"label_id": 5'), *lines[1:]]))
    with pytest.raises(DataError, match='has label id 5, not one of its 2 labels'):
        open_sources([tiny_data, some])


def test_a_folder_spelt_another_way_gives_the_same_records(tiny_data, monkeypatch):
    """Several --data folders: the records (hashed into the run's fingerprint for --resume) name each folder
    one way, so `./data/x/` resumes a run started with `data/x`."""
    from training.data import open_sources
    monkeypatch.chdir(tiny_data.parent)
    plain = open_sources([tiny_data.name, tiny_data.name]).records
    assert open_sources([f'./{tiny_data.name}/', f'{tiny_data.name}//']).records == plain
    assert plain[0]['path'].startswith(f'{tiny_data.name}/')


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


LEARN = ['walking', 'falling_down', 'pushing']


@pytest.fixture(scope='module')
def learnable(tmp_path_factory):
    """Three classes a depth network can tell apart at 30x40 (moving across, ending on the floor, two people
    shoving), 40 training clips each, and a separate validation rendering of the same subjects and views."""
    from training import train_teacher
    root = tmp_path_factory.mktemp('learn')
    for name, n, seed in (('data', 40, 3), ('val', 20, 4)):
        write_dataset(root / name, clips_per_class=n, subjects=[1, 2, 3, 4], views=[0, 1], frames=12, size=(60, 80),
                      seed=seed, labels=LEARN)
    assert train_teacher.main(['--data', str(root / 'data'), '--train-subjects', '1-4', '--train-views', '0-1',
                               '--rgb-size', '30x40', '--epochs', '8', '--batch-size', '8', '--device', 'cpu',
                               '--out', str(root / 'teacher')]) == 0
    return root


@pytest.mark.parametrize('method', ['kd', 'mix'])
def test_a_short_run_learns_well_above_chance(learnable, tmp_path, method):
    """Chance is 1/3; a short run must reach 0.55 on clips it never saw (0.68-0.73 measured on the 2-core
    machine). A step that does not train the student, or labels that do not belong to their clips, stay
    near chance."""
    assert distill.main(['--data', str(learnable / 'data'), '--val-data', str(learnable / 'val'), '--method', method,
                         '--teacher-checkpoint', str(learnable / 'teacher' / 'teacher.safetensors'),
                         '--train-subjects', '1-4', '--train-views', '0-1', '--test-subjects', '9', '--test-views', '4',
                         '--frames', '12', '--height', '30', '--width', '40', '--batch-size', '8', '--epochs', '12',
                         '--device', 'cpu', '--out', str(tmp_path)]) == 0
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert m['val']['n'] == 60 and m['val']['top1'] >= 0.55, m['val']['confusion']


def test_init_starts_from_a_checkpoint_and_refuses_one_that_does_not_fit(tiny_data, teacher, tmp_path, capsys):
    assert run_distill(tiny_data, teacher, tmp_path / 'a', '--method', 'none', '--epochs', '1') == 0
    first = load_checkpoint(tmp_path / 'a' / 'student.safetensors')
    # a learning rate too small to move anything: the result is the starting point
    assert run_distill(tiny_data, teacher, tmp_path / 'b', '--method', 'kd', '--epochs', '1', '--lr', '1e-12',
                       '--init', str(tmp_path / 'a' / 'student.safetensors')) == 0
    second = load_checkpoint(tmp_path / 'b' / 'student.safetensors')
    a, b = first.model.state_dict(), second.model.state_dict()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a if 'running' not in k and 'num_batches' not in k)
    assert second.meta.provenance['init'] == first.short_id
    capsys.readouterr()
    assert run_distill(tiny_data, teacher, tmp_path / 'c', '--method', 'none', '--epochs', '1', '--student', 'small',
                       '--init', str(tmp_path / 'a' / 'student.safetensors')) == 2
    assert '--init' in capsys.readouterr().err


def test_a_device_that_cannot_be_had_is_one_line_and_status_2(tiny_data, teacher, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip('CUDA is available here')
    with pytest.raises(SystemExit) as e:
        run_distill(tiny_data, teacher, tmp_path, '--method', 'none', '--device', 'cuda')
    assert e.value.code == 2 and 'CUDA is not available' in capsys.readouterr().err


def test_export_fit_extend_serves_the_same_weights_and_evaluate_batches_clips_by_width(tmp_path, monkeypatch):
    """A letterbox-trained student exported with --fit extend: same weights, a new model id, the fit it was trained
    with kept in its provenance; training.evaluate reads a folder of 4:3 and 16:9 windows (two input widths)."""
    from conftest import make_checkpoint
    from depth_action_recognition.preprocess import PreprocessSpec
    from training.utils import same_shape_batches
    labels = ['waving', 'falling_down']
    root = write_dataset(tmp_path / 's', clips_per_class=3, subjects=[1], views=[0], frames=8, seed=4, kind='stream',
                         modes=['sim160', 'd4xx-424'], labels=labels)
    trained = make_checkpoint(tmp_path / 'pad.safetensors', labels=labels, alarms=['falling_down'],
                              spec=PreprocessSpec(height=60, width=80, frames=8, fps=10.0, crop='pad'))
    assert export.main([str(trained), '--name', 'wide', '--models-dir', str(tmp_path / 'models'), '--fit', 'extend']) == 0
    pad, wide = load_checkpoint(trained), load_checkpoint(tmp_path / 'models' / 'wide.safetensors')
    assert wide.meta.preprocess.crop == 'extend' and wide.short_id != pad.short_id
    assert wide.meta.provenance['trained_fit'] == 'pad' and wide.meta.provenance['served_from'] == pad.short_id
    for k, v in pad.model.state_dict().items():
        assert torch.equal(v, wide.model.state_dict()[k]), k
    # Only pad and extend share a geometry: a stretched (or cropped) model is not letterboxed behind its back.
    stretched = make_checkpoint(tmp_path / 'none.safetensors', labels=labels, alarms=['falling_down'],
                                spec=PreprocessSpec(height=60, width=80, frames=8, fps=10.0, crop='none'))
    assert export.main([str(stretched), '--name', 'bad', '--models-dir', str(tmp_path / 'models'), '--fit', 'extend']) == 2
    assert not (tmp_path / 'models' / 'bad.safetensors').exists()
    # a --config value outside a flag's choices is refused, naming it
    cfg = tmp_path / 'method.yaml'
    cfg.write_text('method: distil\n')
    with pytest.raises(SystemExit, match="method: 'distil' is not one of"):
        distill.main(['--config', str(cfg), '--data', str(root), '--out', str(tmp_path / 'never')])

    from training.data import InMemory, PairedClips, open_source
    ds = InMemory(PairedClips(open_source(str(root)), range(6), wide.meta.preprocess, modalities=('depth',)))
    widths = [ds[i]['depth'].shape[-1] for i in range(len(ds))]
    assert set(widths) == {80, 106}
    batches = same_shape_batches(ds, 2, 'depth')
    assert sorted(i for b in batches for i in b) == list(range(6)) and all(len(b) <= 2 for b in batches)
    assert all(len({widths[i] for i in b}) == 1 for b in batches)
    out = tmp_path / 'metrics.json'
    assert evaluate.main(['--model', str(tmp_path / 'models' / 'wide.safetensors'), '--data', str(root),
                          '--device', 'cpu', '--json', str(out)]) == 0
    assert json.loads(out.read_text())['n'] == 6
    # --flip-average scores as the node's flip_average does (the engine, clip by clip), through the shared function
    from depth_action_recognition.engine import InferenceEngine
    calls = []
    real = evaluate.mirror_mean_probs
    monkeypatch.setattr(evaluate, 'mirror_mean_probs', lambda m, x: calls.append(len(x)) or real(m, x))
    assert evaluate.main(['--model', str(tmp_path / 'models' / 'wide.safetensors'), '--data', str(root),
                          '--device', 'cpu', '--flip-average', '--json', str(out)]) == 0
    conf = np.zeros((2, 2), int)                                  # the flip engine's confusion, clip by clip
    engine = InferenceEngine(wide, 'cpu', flip_average=True)
    for i in range(6):
        conf[int(ds[i]['label']), engine.infer(ds[i]['depth'].numpy())[0].argmax()] += 1
    m = json.loads(out.read_text())
    assert m['flip_average'] is True and m['confusion'] == conf.tolist() and sum(calls) == 6


def test_a_runs_own_config_is_accepted_back(tmp_path):
    """config.yaml holds every flag, `benchmark: null` among them: the choices check of --config passes a flag's own
    default and the values a run wrote, and still refuses a value outside the choices."""
    from training.utils import apply_yaml_defaults, save_config
    args = distill.get_args_parser().parse_args(['--data', 'd', '--out', str(tmp_path), '--fit', 'center'])
    save_config(args, tmp_path)
    parser = distill.get_args_parser()
    argv = ['--config', str(tmp_path / 'config.yaml'), '--data', 'd', '--out', str(tmp_path)]
    apply_yaml_defaults(parser, argv)                # as distill.main does
    again = parser.parse_args(argv)
    assert again.fit == 'center' and again.benchmark is None and again.method == args.method


def test_width_batches_keep_one_width_per_batch_and_share_the_batches_between_ranks():
    """Fit 'extend' trains 4:3 and 16:9 clips at two input widths: every batch is of one width, the ranks of a DDP
    run take disjoint batches, as many each, from one order, and a width's remainder sits the epoch out."""
    widths = torch.tensor([80] * 11 + [106] * 7 + [160] * 2)
    ranks = [distill.WidthBatches(widths, 3, seed=5, rank=r, world=2) for r in range(2)]
    orders = []
    for epoch in range(3):
        got = []
        for s in ranks:
            s.set_epoch(epoch)
            got.append(list(s))
            assert len(got[-1]) == len(s) == (3 + 2 + 0) // 2
            assert all(len(b) == 3 and len({int(widths[i]) for i in b}) == 1 for b in got[-1])
        seen = [i for r in got for b in r for i in b]
        assert len(seen) == len(set(seen))                              # no clip twice in an epoch
        orders.append(got)
    assert orders[0] != orders[1]                                        # reshuffled every epoch
    again = distill.WidthBatches(widths, 3, seed=5, rank=0, world=2)
    again.set_epoch(1)
    assert list(again) == orders[1][0]                                   # a function of seed and epoch only
    one = distill.WidthBatches(widths, 3, seed=5)                        # one process takes every full batch
    assert len(one) == len(list(one)) == 5 and sorted(len(b) for b in one) == [3] * 5
    seen = set()                                   # a width's remainder is not always the same clips
    for epoch in range(4):
        one.set_epoch(epoch)
        seen |= {i for b in one for i in b}
    assert seen == set(range(18))                  # all 11 + 7 of widths 80 and 106 (the two 160s never fill a batch)


def test_fit_extend_trains_16_9_windows_at_their_own_width(teacher, tmp_path, monkeypatch, capsys):
    """--fit extend: 16:9 windows train as wide inputs (not letterboxed), each batch of one width, each clip its own
    columns of the padded store; the checkpoint is served with 'extend'. Feature-map methods are refused."""
    from depth_action_recognition.preprocess import PreprocessSpec
    from training.data import PairedClips, open_source
    root = write_dataset(tmp_path / 's', clips_per_class=1, subjects=[1, 2], views=[0, 1], frames=8, seed=6,
                         kind='stream', modes=['sim160', 'd4xx-424'])
    spec = PreprocessSpec(height=24, width=32, frames=8, fps=10.0, crop='extend')
    source = open_source(str(root))
    x, y, kept, skipped, widths = distill.loaded_windows(source, range(len(source.records)), spec, 'extend-test', 1)
    assert skipped == 0 and set(widths.tolist()) == {32, 42} and x.shape[-1] == 42
    draws = distill.WindowDraws(x, y, 0, widths)
    clips = PairedClips(source, kept, spec, modalities=('depth',))
    for j in range(len(kept)):
        clip = draws[j][0]
        assert clip.shape[-1] == widths[j]
        assert torch.allclose(clip.float(), clips[j]['depth'], atol=1e-3)   # the clip as served, not letterboxed
        assert (x[j, 0, ..., int(widths[j]):] == 0).all()

    shapes = []
    real_step = distill.train_step
    monkeypatch.setattr(distill, 'train_step', lambda model, batch, *a: shapes.append(tuple(batch[0].shape))
                        or real_step(model, batch, *a))
    out = tmp_path / 'run'
    args = ['--data', str(root), '--teacher-checkpoint', str(teacher), '--train-subjects', '1-2', '--train-views',
            '0-1', '--method', 'kd', '--fit', 'extend', '--frames', '8', '--height', '24', '--width', '32',
            '--device', 'cpu']
    # validated on every window of the folder, both widths: evaluation batches by width too
    assert distill.main([*args, '--epochs', '2', '--batch-size', '2', '--val-data', str(root), '--out', str(out)]) == 0
    assert {s[-1] for s in shapes} == {32, 42} and all(s[0] == 2 for s in shapes)
    ckpt = load_checkpoint(out / 'student.safetensors')
    assert ckpt.meta.preprocess.crop == 'extend'
    m = json.loads((out / 'metrics.json').read_text())
    assert m['val']['n'] == len(source.records)
    # the widest input served (twice the width) costs about twice the model's own clip: convolutions scale with it
    widest = m['gflops_per_clip_widest_input']
    assert widest['width'] == 64 and 1.8 < widest['gflops'] / m['gflops_per_clip'] < 2.2
    capsys.readouterr()
    # no width with a full batch: said, not a division by zero mid-epoch
    assert distill.main([*args, '--epochs', '1', '--batch-size', '64', '--out', str(tmp_path / 'none')]) == 2
    assert 'no full batch of --batch-size 64' in capsys.readouterr().err
    # ... before the teacher's cache is built or a config is written: the refused run leaves its folder empty
    assert list((tmp_path / 'none').iterdir()) == []
    with pytest.raises(SystemExit) as e:
        distill.main(['--data', str(root), '--teacher-checkpoint', str(teacher), '--method', 'mix', '--fit', 'extend',
                      '--out', str(tmp_path / 'never')])
    assert e.value.code == 2 and '--fit extend with --method mix' in capsys.readouterr().err


def test_zoom_scales_each_clip_about_its_centre_each_axis_apart_and_makes_up_no_depth():
    x = torch.zeros(64, 1, 4, 40, 60)
    x[:, :, :, 10:30, 20:40] = 0.6                 # a 20x20 box in the middle, every frame
    x[:, :, :, 18:22, 28:32] = 0.9                 # its nearer core
    assert torch.equal(distill.zoom_views(x, torch.Generator().manual_seed(0), 0.0), x)
    y = distill.zoom_views(x, torch.Generator().manual_seed(0), 0.25)
    # nearest-neighbour: only depths that were there, none made up between the box and its core
    assert all(min(abs(v - d) for d in (0.0, 0.6, 0.9)) < 1e-6 for v in torch.unique(y).tolist())
    assert all(torch.equal(y[i, 0, 0], y[i, 0, k]) for i in range(64) for k in range(1, 4))  # frames alike
    rows = (y[:, 0, 0] > 0).any(2).sum(1).float()             # the box's height and width in each clip
    cols = (y[:, 0, 0] > 0).any(1).sum(1).float()
    for size in (rows, cols):
        assert size.min() >= 20 / 1.25 - 1 and size.max() <= 20 * 1.25 + 1     # within the zoom
        assert size.max() - size.min() >= 6                                    # and spread over it
    assert (rows - cols).abs().max() >= 4                                      # axes drawn apart
    centre = torch.tensor([[(i * m).sum() / m.sum() for i, m in zip((torch.arange(40).view(40, 1),
                                                                        torch.arange(60).view(1, 60)), (c, c))]
                           for c in (y[:, 0, 0] > 0).float()])
    assert torch.allclose(centre, torch.tensor([19.5, 29.5]), atol=1.0)         # about the centre


def test_zoom_trains_logit_methods_and_is_refused_with_feature_maps(tiny_data, teacher, tmp_path, monkeypatch, capsys):
    zooms = []
    real = distill.zoom_views
    monkeypatch.setattr(distill, 'zoom_views', lambda x, gen, zoom: zooms.append(zoom) or real(x, gen, zoom))
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'kd', '--epochs', '1', '--zoom', '0.15') == 0
    assert zooms and set(zooms) == {0.15}
    capsys.readouterr()
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'kd', '--epochs', '2', '--resume') == 2   # another run
    assert 'other clips or settings' in capsys.readouterr().err
    assert run_distill(tiny_data, teacher, tmp_path, '--method', 'kd', '--epochs', '2', '--resume',
                       '--zoom', '0.15') == 0                                                      # the same one
    assert 'after epoch 1' in capsys.readouterr().out
    for bad in (['--method', 'mix', '--zoom', '0.15'], ['--method', 'kd', '--zoom', '1.5'],
                ['--method', 'kd', '--zoom', '-0.1']):
        with pytest.raises(SystemExit) as e:
            run_distill(tiny_data, teacher, tmp_path / 'never', *bad)
        assert e.value.code == 2 and '--zoom' in capsys.readouterr().err


def test_a_resumed_rank_goes_on_with_its_own_generator_or_starts_one_of_its_own():
    g = [torch.Generator().manual_seed(s).get_state() for s in (1, 2)]
    for state, rank, want in (({'generator': g[0], 'generators': g}, 1, g[1]),   # every rank's kept
                              ({'generator': g[0]}, 0, g[0])):                   # a state of rank 0's alone
        gen = torch.Generator()
        distill.restore_generator(gen, state, rank, seed=5, epoch=3)
        assert torch.equal(gen.get_state(), want)
    drawn = []
    for state, rank in (({'generator': g[0]}, 1), ({'generator': g[0], 'generators': g}, 2)):
        gen = torch.Generator()                             # a rank the state has none of: a stream of its own
        distill.restore_generator(gen, state, rank, seed=5, epoch=3)
        assert not any(torch.equal(gen.get_state(), x) for x in g)
        drawn.append(gen.get_state())
    assert not torch.equal(*drawn)                          # ranks 1 and 2 differ from each other too
    again = torch.Generator()
    distill.restore_generator(again, {'generator': g[0]}, 1, seed=5, epoch=3)
    assert torch.equal(again.get_state(), drawn[0])         # and the same on every resume
