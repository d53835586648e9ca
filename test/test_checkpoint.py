import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from conftest import LABELS, make_checkpoint
from depth_action_recognition.checkpoint import META_KEY, load_checkpoint, read_meta
from depth_action_recognition.errors import CheckpointError
from depth_action_recognition.models import build_student, count_flops, preset


def test_round_trip_keeps_weights_and_metadata(checkpoint):
    loaded = load_checkpoint(checkpoint)
    assert loaded.meta.labels == LABELS and loaded.meta.alarm_labels == ['falling_down', 'punching']
    assert loaded.meta.provenance == {'made_by': 'test'}
    again = make_checkpoint(checkpoint.parent / 'again.safetensors')
    x = torch.randn(2, 1, 8, 24, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), load_checkpoint(again).model(x))
    assert loaded.short_id == f'test-student@{loaded.sha256[:8]}'


@pytest.mark.parametrize('writer', ['student', 'teacher'])
def test_a_saved_checkpoint_is_readable_as_any_new_file_is(tmp_path, writer):
    """0666 less the umask, as open() gives, not safetensors' 0600: a model trained by one account is installed and
    served by another, and a teacher trained by one account distils students in another's runs."""
    import os
    import stat
    from training.teachers import build_teacher
    from training.train_teacher import save_teacher

    def write(path):
        if writer == 'student':
            return make_checkpoint(path)
        save_teacher(path, build_teacher('rgb_small', num_classes=3), {'labels': ['a', 'b', 'c']})
        return path
    modes = {}
    for umask in (0o022, 0o077, 0o002):
        old = os.umask(umask)
        try:
            modes[umask] = stat.S_IMODE(write(tmp_path / f'{umask:o}.safetensors').stat().st_mode)
        finally:
            os.umask(old)
    assert modes == {0o022: 0o644, 0o077: 0o600, 0o002: 0o664}, {oct(k): oct(v) for k, v in modes.items()}


def test_missing_file_names_it(tmp_path):
    with pytest.raises(CheckpointError, match='nope.safetensors: model file not found'):
        load_checkpoint(tmp_path / 'nope.safetensors')


def test_truncated_file_is_corrupt(checkpoint):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=str(checkpoint)):
        load_checkpoint(checkpoint)


def test_garbage_file(tmp_path):
    p = tmp_path / 'garbage.safetensors'
    p.write_bytes(b'{"this is": not safetensors' * 10)
    with pytest.raises(CheckpointError, match='garbage.safetensors'):
        load_checkpoint(p)


def test_pickle_is_refused_before_unpickling(tmp_path):
    p = tmp_path / 'model.pt'
    torch.save({'w': torch.zeros(1)}, p)
    with pytest.raises(CheckpointError, match='pickle'):
        load_checkpoint(p)
    p.write_bytes(pickle.dumps({'w': 1}))
    with pytest.raises(CheckpointError, match='pickle'):
        load_checkpoint(p)


def _rewrite_meta(path, mutate):
    from safetensors import safe_open
    with safe_open(str(path), framework='pt') as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = json.loads(f.metadata()[META_KEY])
    mutate(meta, tensors)
    save_file(tensors, str(path), metadata={META_KEY: json.dumps(meta)})


@pytest.mark.parametrize('mutate,match', [
    (lambda m, t: m['labels'].pop(), 'labels but the head has'),
    (lambda m, t: m.update(alarm_labels=['dancing']), "alarm labels \\['dancing'\\]"),
    (lambda m, t: m.update(format='other/1'), 'format'),
    (lambda m, t: m.pop('preprocess'), "'preprocess'"),
    (lambda m, t: m['student'].update(arch='vit'), 'unknown student arch'),
    (lambda m, t: t.pop('head.weight'), 'weights do not match'),
    (lambda m, t: m['student'].update(widths=[8, 8, 16, 32]), 'weights do not match'),
])
def test_inconsistent_checkpoints_are_refused(checkpoint, mutate, match):
    _rewrite_meta(checkpoint, mutate)
    with pytest.raises(CheckpointError, match=match) as e:
        load_checkpoint(checkpoint)
    assert str(checkpoint) in str(e.value)


def test_foreign_safetensors_without_metadata(tmp_path):
    p = tmp_path / 'foreign.safetensors'
    save_file({'w': torch.zeros(2)}, str(p))
    with pytest.raises(CheckpointError, match='not a model of this package'):
        read_meta(p)


def test_students_sizes():
    tiny = build_student(preset('tiny', num_classes=14))
    assert count_flops(tiny, (1, 16, 112, 112)) < 10e9
    big = build_student(preset('r3d18', num_classes=14))
    assert count_flops(big, (1, 16, 112, 112)) > 10 * count_flops(tiny, (1, 16, 112, 112))
