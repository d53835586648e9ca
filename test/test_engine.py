"""The inference engine and its worker: batching, latest-wins, device faults."""
import shutil
import threading
import time

import numpy as np
import pytest
import torch

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.clip_buffer import Clip
from depth_action_recognition.engine import EngineWorker, InferenceEngine, is_device_fault, resolve_device
from depth_action_recognition.preprocess import PreprocessSpec
from depth_action_recognition.errors import ConfigError, EngineError
from conftest import make_checkpoint
from fault_injection import CUDA_FAULT, FaultedModel


def wait(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while not predicate() and time.time() < deadline:
        time.sleep(0.01)
    return predicate()


def fail_then_serve(worker, first, errors, results, timeout=10.0):
    """Submit a clip that fails, wait for the error, then a good one, and wait for its result."""
    deadline = time.time() + timeout
    worker.submit('a', first)
    while not errors and time.time() < deadline:
        time.sleep(0.01)
    worker.submit('a', clip())
    while not results and time.time() < deadline:
        time.sleep(0.01)
    worker.stop()


def clip(value=0.5):
    return Clip(frames=np.full((8, 24, 32), value, np.float32), start_stamp=1.0, end_stamp=2.0)


def test_batch_equals_single_inference(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu', max_batch=2, flip_average=False)
    clips = np.random.default_rng(0).random((5, 8, 24, 32), dtype=np.float32)
    batch = engine.infer(clips)                                   # split into batches of 2
    single = np.concatenate([engine.infer(clips[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_allclose(batch.sum(1), 1, atol=1e-5)


def test_flip_average_is_the_mean_of_a_clip_and_its_mirror_image(checkpoint):
    plain = InferenceEngine(load_checkpoint(checkpoint), 'cpu', max_batch=2, flip_average=False)
    flipped = InferenceEngine(load_checkpoint(checkpoint), 'cpu', max_batch=2, flip_average=True)
    clips = np.random.default_rng(1).random((3, 8, 24, 32), dtype=np.float32)
    expect = (plain.infer(clips) + plain.infer(clips[..., ::-1].copy())) / 2
    seen = []
    flipped.model.register_forward_hook(lambda m, args, out: seen.append(len(args[0])))
    got = flipped.infer(clips)                    # max_batch 2 bounds the model's batch: one clip and its mirror
    assert seen == [2, 2, 2]
    np.testing.assert_allclose(got, expect, atol=1e-5)
    assert np.abs(got - plain.infer(clips)).max() > 1e-4          # the mirror image does change the scores
    # a clip that is its own mirror image scores as without the option
    sym = np.concatenate([clips[:, :, :, :16], clips[:, :, :, :16][..., ::-1]], axis=3)
    np.testing.assert_allclose(flipped.infer(sym), plain.infer(sym), atol=1e-5)


def test_wrong_shape_is_an_engine_error(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu', flip_average=False)
    with pytest.raises(EngineError, match='does not match'):
        engine.infer(np.zeros((1, 8, 10, 10), np.float32))


def test_extend_models_take_wider_clips_up_to_twice_their_width(tmp_path):
    loaded = load_checkpoint(make_checkpoint(tmp_path / 'wide.safetensors', spec=PreprocessSpec(
        height=24, width=32, frames=8, fps=10.0, crop='extend')))
    engine = InferenceEngine(loaded, 'cpu', flip_average=False)
    x = np.random.default_rng(0).random((2, 8, 24, 43), dtype=np.float32)       # a 16:9 camera's clips
    probs = engine.infer(x)
    assert probs.shape == (2, len(loaded.meta.labels)) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert not np.allclose(probs, engine.infer(x[:, :, :, :32]), atol=1e-4)  # the extra columns are seen
    assert engine.infer(np.zeros((1, 8, 24, 64), np.float32)).shape == (1, len(loaded.meta.labels))   # 2x: the limit
    for bad in [(1, 8, 24, 31), (1, 8, 24, 65), (1, 8, 23, 43), (1, 7, 24, 43)]:
        with pytest.raises(EngineError, match=r'\(N, 8, 24, 32\.\.64\)'):
            engine.infer(np.zeros(bad, np.float32))
    pad = InferenceEngine(load_checkpoint(make_checkpoint(tmp_path / 'pad.safetensors')), 'cpu', flip_average=False)
    with pytest.raises(EngineError, match=r'\(N, 8, 24, 32\)'):
        pad.infer(x)


def test_warm_up_runs_the_16_9_and_widest_inputs_of_an_extend_model_and_only_its_own_of_a_letterboxed_one(
        tmp_path, monkeypatch):
    seen = []
    real = InferenceEngine.infer
    monkeypatch.setattr(InferenceEngine, 'infer', lambda self, clips: seen.append(clips.shape) or real(self, clips))
    InferenceEngine(load_checkpoint(make_checkpoint(tmp_path / 'wide.safetensors', spec=PreprocessSpec(
        height=24, width=32, frames=8, fps=10.0, crop='extend'))), 'cpu', flip_average=False)
    # 848x480 and 1280x720 at height 24: 42 and 43 columns; 64 the widest; batches of one and of two
    assert sorted(set(seen)) == sorted((n, 8, 24, w) for n in (1, 2) for w in (32, 42, 43, 64))
    seen.clear()
    InferenceEngine(load_checkpoint(make_checkpoint(tmp_path / 'pad.safetensors')), 'cpu', flip_average=False)
    assert sorted(set(seen)) == [(1, 8, 24, 32), (2, 8, 24, 32)]


def test_worker_batches_clips_of_each_shape_apart_and_a_refused_one_fails_alone(tmp_path):
    """Cameras of two aspects under 'extend' give clips of two widths: one batch each, nobody's clip lost; a clip
    the model refuses fails by itself."""
    loaded = load_checkpoint(make_checkpoint(tmp_path / 'wide.safetensors', spec=PreprocessSpec(
        height=24, width=32, frames=8, fps=10.0, crop='extend')))
    engine = InferenceEngine(loaded, 'cpu', flip_average=False)
    gate = threading.Event()
    infer = engine.infer
    engine.infer = lambda x: (gate.wait(5), infer(x))[1]      # holds the worker busy, computes for real
    errors, results = [], []
    worker = EngineWorker(engine, results.append, errors.append).start()
    worker.submit('first', clip())
    assert wait(lambda: not worker._pending, 5)                 # taken: the worker now waits at the gate
    rng = np.random.default_rng(1)
    wide = {c: Clip(frames=rng.random((8, 24, 43), dtype=np.float32), start_stamp=1.0, end_stamp=2.0)
            for c in ('w1', 'w2')}
    for c, cl in wide.items():
        worker.submit(c, cl)
    worker.submit('n1', clip(0.3))
    worker.submit('bad', Clip(frames=np.zeros((8, 24, 99), np.float32), start_stamp=1.0, end_stamp=2.0))
    gate.set()
    assert wait(lambda: len(results) >= 4 and errors, 5)
    worker.stop()
    by_cam = {r.camera: r for r in results}
    assert set(by_cam) == {'first', 'w1', 'w2', 'n1'} and len(errors) == 1 and isinstance(errors[0], EngineError)
    assert by_cam['w1'].batch_size == by_cam['w2'].batch_size == 2 and by_cam['n1'].batch_size == 1
    np.testing.assert_allclose(by_cam['w2'].probs, infer(wide['w2'].frames[None])[0], atol=1e-5)


def test_device_validation():
    with pytest.raises(ConfigError):
        resolve_device('tpu')
    assert resolve_device('cpu').type == 'cpu'
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match='CUDA is not available'):
            resolve_device('cuda')


def test_worker_batches_latest_clip_per_camera_and_counts_skips(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu', flip_average=False)
    gate = threading.Event()
    infer = engine.infer
    engine.infer = lambda x: (gate.wait(5), infer(x))[1]      # holds the worker busy, computes for real
    results = []
    worker = EngineWorker(engine, results.append).start()
    assert not worker.submit('a', clip())       # taken immediately, blocks on the gate
    time.sleep(0.2)
    replaced = [worker.submit('a', clip(i)) for i in range(3)]
    assert not worker.submit('b', clip())
    gate.set()
    assert wait(lambda: len(results) >= 3, 5)
    worker.stop()
    assert replaced == [False, True, True]       # two replaced before the worker was free: skipped
    assert [r.camera for r in results] == ['a', 'a', 'b']
    assert results[1].batch_size == 2 and results[1].clip.frames[0, 0, 0] == 2


def test_worker_survives_inference_errors(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu', flip_average=False)
    errors, results = [], []
    worker = EngineWorker(engine, results.append, errors.append).start()
    fail_then_serve(worker, Clip(frames=np.zeros((3, 3, 3), np.float32), start_stamp=0, end_stamp=0), errors, results)
    assert isinstance(errors[0], EngineError) and len(results) == 1


def test_device_fault_reloads_the_model_on_the_cpu_from_its_file(checkpoint):
    """A lasting device fault below the engine: the worker serves again from a fresh CPU copy of the model."""
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu', flip_average=False)
    expected = engine.infer(clip().frames[None])
    faulted = engine.model = FaultedModel(engine.model)
    errors, results, fallbacks = [], [], []
    worker = EngineWorker(engine, results.append, errors.append, on_fallback=fallbacks.append).start()
    fail_then_serve(worker, clip(), errors, results)
    assert faulted.calls == 1 and is_device_fault(errors[0]) and fallbacks == errors
    assert worker.fell_back and worker.failure is None and engine.device.type == 'cpu'
    assert engine.model is not faulted and len(results) == 1
    np.testing.assert_allclose(results[0].probs, expected[0], atol=1e-6)     # the same model, reloaded


def test_worker_that_cannot_recover_stops_and_says_why(checkpoint, tmp_path):
    model = tmp_path / 'served.safetensors'
    shutil.copy(checkpoint, model)
    engine = InferenceEngine(load_checkpoint(model), 'cpu', flip_average=False)
    engine.model = FaultedModel(engine.model)
    model.unlink()                               # nothing left to reload from
    errors, results, stopped = [], [], []
    worker = EngineWorker(engine, results.append, errors.append, on_stopped=stopped.append).start()
    worker.submit('a', clip())
    assert wait(lambda: not worker.alive)
    assert len(stopped) == 1 and stopped[0] is worker.failure and isinstance(worker.failure, EngineError)
    assert 'illegal memory access' in str(worker.failure) and 'model file not found' in str(worker.failure)
    assert results == [] and not worker.fell_back


def test_without_cpu_fallback_faults_are_only_counted(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cpu', flip_average=False)
    engine.model = FaultedModel(engine.model)
    errors = []
    worker = EngineWorker(engine, lambda r: None, errors.append, cpu_fallback=False).start()
    for _ in range(3):
        worker.submit('a', clip())
        time.sleep(0.05)
    assert wait(lambda: len(errors) >= 2)
    worker.stop()
    assert not worker.fell_back and worker.failure is None and isinstance(engine.model, FaultedModel)


def test_device_fault_classification():
    assert is_device_fault(RuntimeError(CUDA_FAULT)) and is_device_fault(torch.cuda.OutOfMemoryError('oom'))
    assert not is_device_fault(EngineError('clip batch shape (1, 3) does not match'))
    assert not is_device_fault(ValueError('CUDA'))     # only runtime errors from the device count


@pytest.mark.cuda
@pytest.mark.parametrize('flip', [False, True])
def test_cuda_matches_cpu(checkpoint, flip):
    clips = np.random.default_rng(0).random((4, 8, 24, 32), dtype=np.float32)
    cpu = InferenceEngine(load_checkpoint(checkpoint), 'cpu', flip_average=flip).infer(clips)
    gpu = InferenceEngine(load_checkpoint(checkpoint), 'cuda', flip_average=flip).infer(clips)
    # fp32 on both devices; cuDNN convolutions on Ampere and later use TF32 by default (PyTorch), ~1e-3 relative
    np.testing.assert_allclose(cpu, gpu, atol=5e-3)
    assert (cpu.argmax(1) == gpu.argmax(1)).mean() >= 0.75


@pytest.mark.cuda
def test_cuda_fault_falls_back_to_a_cpu_copy(checkpoint):
    engine = InferenceEngine(load_checkpoint(checkpoint), 'cuda', flip_average=False)
    engine.model = FaultedModel(engine.model, 'CUDA error: out of memory (injected)')
    errors, results = [], []
    worker = EngineWorker(engine, results.append, errors.append).start()
    fail_then_serve(worker, clip(), errors, results)
    assert worker.fell_back and engine.device.type == 'cpu' and len(results) == 1
    assert next(engine.model.parameters()).device.type == 'cpu'
